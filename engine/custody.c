/*
 * engine/custody.c: key custody, splitting the key file's secret material
 * among custodians and recombining it (sv_keys_split / sv_keys_combine).
 *
 * The secret is the root and the seed of every key-wrapping generation
 * kept (engine/keys_int.h: sv_keys_secret_export). A share file (INI,
 * inih, mode 0600) reads:
 *
 *   [shardvault-share]
 *   version = 1
 *   vault = <32 hex>       split = <32 hex>   (random per split)
 *   index = 2              threshold = 3      shares = 5
 *   oldest = 1             current = 2        (generations in the secret)
 *   check = <32 hex>       (BLAKE2b keyed by the root over the rest)
 *   share.0 = <64 hex>     share.1 = ...      (32 bytes of share each)
 *
 * Combining refuses shares of another vault or another split, duplicate
 * indexes and too few shares before interpolating, and refuses the result
 * (SV_AUTH) unless it reproduces the check value: a damaged or forged share
 * is reported, never silently used.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "engine/keys.h"
#include "engine/keys_int.h"
#include "engine/shamir.h"

#define SPLIT_ID_LEN 16
#define CHECK_LEN    16
#define PIECE        32 /* share bytes per share.N line */

struct share {
    struct sv_ini ini; /* first: share_piece finds the rest */
    const char *path;
    uint32_t version, index, threshold, shares, oldest, current;
    uint8_t vault[SV_VAULT_ID_LEN], split[SPLIT_ID_LEN], check[CHECK_LEN];
    uint8_t *data; /* sodium_malloc'd, cap pieces of PIECE bytes */
    uint8_t *have; /* which pieces were read */
    size_t cap;    /* pieces room */
    size_t npieces;
};

#define F(f) 0, offsetof(struct share, f)
static const struct sv_ini_field share_fields[] = {
    {"version", SV_INI_UINT, F(version), 0, 0, SV_KEYS_MAX_GEN},
    {"vault", SV_INI_HEX, F(vault), SV_VAULT_ID_LEN, 0, 0},
    {"split", SV_INI_HEX, F(split), SPLIT_ID_LEN, 0, 0},
    {"index", SV_INI_UINT, F(index), 0, 1, SV_SHAMIR_MAX_SHARES},
    {"threshold", SV_INI_UINT, F(threshold), 0, 2, SV_SHAMIR_MAX_SHARES},
    {"shares", SV_INI_UINT, F(shares), 0, 2, SV_SHAMIR_MAX_SHARES},
    {"oldest", SV_INI_UINT, F(oldest), 0, 1, SV_KEYS_MAX_GEN},
    {"current", SV_INI_UINT, F(current), 0, 1, SV_KEYS_MAX_GEN},
    {"check", SV_INI_HEX, F(check), CHECK_LEN, 0, 0},
};
#define NSHARE_FIELDS (sizeof(share_fields) / sizeof(share_fields[0]))

static void check_value(const uint8_t vault[SV_VAULT_ID_LEN], uint32_t oldest,
                        uint32_t current, const uint8_t *secret, size_t len,
                        uint8_t out[CHECK_LEN])
{
    crypto_generichash_state st;
    uint8_t g[8];

    g[0] = (uint8_t)oldest;
    g[1] = (uint8_t)(oldest >> 8);
    g[2] = (uint8_t)(oldest >> 16);
    g[3] = (uint8_t)(oldest >> 24);
    g[4] = (uint8_t)current;
    g[5] = (uint8_t)(current >> 8);
    g[6] = (uint8_t)(current >> 16);
    g[7] = (uint8_t)(current >> 24);
    crypto_generichash_init(&st, secret, SV_KEY_LEN, CHECK_LEN);
    crypto_generichash_update(&st, (const uint8_t *)"shardvault share check",
                              22);
    crypto_generichash_update(&st, vault, SV_VAULT_ID_LEN);
    crypto_generichash_update(&st, g, sizeof(g));
    crypto_generichash_update(&st, secret + SV_KEY_LEN, len - SV_KEY_LEN);
    crypto_generichash_final(&st, out, CHECK_LEN);
    sodium_memzero(&st, sizeof(st));
}

/* ---- share files ----------------------------------------------------------
 */

/* share.N = <piece N of this share> */
static int share_piece(struct sv_ini *ini, const char *name, const char *suffix,
                       const char *value)
{
    struct share *sh = (struct share *)ini;
    uint32_t i;

    if (sv_ini_uint(suffix, 0, SV_KEYS_MAX_GEN, &i) || i >= sh->cap)
        return sv_ini_fail(ini, SV_CORRUPT, "`%s`: not a share piece", name);
    if (sh->have[i])
        return sv_ini_fail(ini, SV_CORRUPT, "`%s` appears twice", name);
    if (sv_ini_hex(value, sh->data + (size_t)i * PIECE, PIECE))
        return sv_ini_fail(ini, SV_CORRUPT, "%s must be %d hex digits", name,
                           2 * PIECE);
    sh->have[i] = 1;
    sh->npieces++;
    return 1;
}

static void share_release(struct share *sh)
{
    if (sh->data)
        sodium_free(sh->data);
    free(sh->have);
    memset(sh, 0, sizeof(*sh));
}

/* Parse share text (name for messages) into sh; on failure sh is
 * released. */
static enum sv_err share_parse(const char *text, size_t len, const char *name,
                               struct share *sh)
{
    const char *missing;
    size_t want, i;
    enum sv_err rc;

    memset(sh, 0, sizeof(*sh));
    sh->path = name;
    sh->cap = len / (8 + 2 * PIECE) + 1;
    sh->data = sodium_malloc(sh->cap * PIECE);
    sh->have = calloc(sh->cap, 1);
    if (!sh->data || !sh->have) {
        rc = sv_err_set(SV_NOMEM, "key share %s: out of memory", name);
        goto out;
    }
    sh->ini.name = name;
    sh->ini.text = text;
    sh->ini.len = len;
    sh->ini.section = "shardvault-share";
    sh->ini.fields = share_fields;
    sh->ini.nfields = NSHARE_FIELDS;
    sh->ini.base = sh;
    sh->ini.prefix = "share.";
    sh->ini.numbered = share_piece;
    rc = sv_ini_run(&sh->ini);
    if (rc)
        goto out;
    missing = sv_ini_missing(&sh->ini, (1u << NSHARE_FIELDS) - 1);
    if (missing) {
        rc =
            sv_err_set(SV_CORRUPT, "key share %s: no `%s` line", name, missing);
        goto out;
    }
    if (sh->version != 1) {
        rc = sv_err_set(SV_VERSION,
                        "key share %s: format version %u; this build reads "
                        "version 1",
                        name, sh->version);
        goto out;
    }
    if (sh->threshold > sh->shares || sh->index > sh->shares ||
        sh->oldest > sh->current) {
        rc = sv_err_set(SV_CORRUPT,
                        "key share %s: index %u, threshold %u of %u shares, "
                        "generations %u..%u do not add up",
                        name, sh->index, sh->threshold, sh->shares, sh->oldest,
                        sh->current);
        goto out;
    }
    want = sv_keys_secret_len(sh->oldest, sh->current) / PIECE;
    for (i = 0; i < want && i < sh->cap && sh->have[i]; i++)
        ;
    if (i < want || sh->npieces != want)
        rc = sv_err_set(SV_CORRUPT,
                        "key share %s: generations %u..%u need share.0 .. "
                        "share.%zu, and %s",
                        name, sh->oldest, sh->current, want - 1,
                        i < want ? "one is missing" : "there are more");
out:
    if (rc)
        share_release(sh);
    return rc;
}

enum sv_err sv_keys_share_check(const char *text, size_t len)
{
    struct share sh;
    enum sv_err rc;

    if (!text)
        return sv_err_set(SV_INVAL, "key share: no text");
    if (len > SV_KEYFILE_MAX)
        return sv_err_set(SV_CORRUPT, "key share text: longer than %d bytes",
                          SV_KEYFILE_MAX);
    rc = sv_keys_init();
    if (!rc)
        rc = share_parse(text, len, "key share text", &sh);
    if (!rc)
        share_release(&sh);
    return rc;
}

static enum sv_err share_load(const char *path, struct share *sh)
{
    char *text = NULL;
    size_t len = 0;
    enum sv_err rc;

    rc = sv_keys_read_file(path, "key share", &text, &len);
    if (rc)
        return rc;
    rc = share_parse(text, len, path, sh);
    sodium_free(text);
    return rc;
}

static enum sv_err share_write(const char *path, const struct share *sh,
                               const uint8_t *data, size_t len)
{
    struct sv_sbuf b;
    char name[32];
    size_t i;
    enum sv_err rc;

    b.cap = 1024 + (len / PIECE) * (16 + 2 * PIECE);
    b.len = 0;
    b.p = sodium_malloc(b.cap);
    if (!b.p)
        return sv_err_set(SV_NOMEM, "key share %s: out of memory", path);
    b.p[0] = '\0';
    sv_sbuf_printf(&b,
                   "# shardvault key share %u of %u: any %u shares "
                   "recombine the key file\n"
                   "# (`shardvault key combine`). Keep it apart from the "
                   "other shares.\n"
                   "[shardvault-share]\nversion = 1\n",
                   sh->index, sh->shares, sh->threshold);
    sv_sbuf_hex(&b, "vault", sh->vault, SV_VAULT_ID_LEN);
    sv_sbuf_hex(&b, "split", sh->split, SPLIT_ID_LEN);
    sv_sbuf_printf(&b,
                   "index = %u\nthreshold = %u\nshares = %u\noldest = %u\n"
                   "current = %u\n",
                   sh->index, sh->threshold, sh->shares, sh->oldest,
                   sh->current);
    sv_sbuf_hex(&b, "check", sh->check, CHECK_LEN);
    for (i = 0; i < len / PIECE; i++) {
        snprintf(name, sizeof(name), "share.%zu", i);
        sv_sbuf_hex(&b, name, data + i * PIECE, PIECE);
    }
    rc = sv_keys_write_file(path, "key share", b.p, b.len, 0);
    sodium_free(b.p);
    return rc;
}

/* ---- split and combine ------------------------------------------------------
 */

enum sv_err sv_keys_split(const char *key_path, unsigned n, unsigned t,
                          const char *const *share_paths)
{
    struct sv_keyring *kr = NULL;
    uint8_t *secret = NULL, *buf = NULL, *ptrs[SV_SHAMIR_MAX_SHARES];
    struct share sh;
    size_t len = 0;
    unsigned i, written = 0;
    enum sv_err rc;

    if (!key_path || !share_paths || t < 2 || t > n || n > SV_SHAMIR_MAX_SHARES)
        return sv_err_set(SV_INVAL,
                          "key split: %u of %u shares is not a valid "
                          "threshold (2 <= threshold <= shares <= %d)",
                          t, n, SV_SHAMIR_MAX_SHARES);
    for (i = 0; i < n; i++)
        if (!share_paths[i])
            return sv_err_set(SV_INVAL, "key split: no path for share %u",
                              i + 1);
    rc = sv_keys_load(key_path, &kr);
    if (rc)
        return rc;
    memset(&sh, 0, sizeof(sh));
    rc = sv_keys_secret_export(kr, &secret, &len, &sh.oldest, &sh.current);
    if (rc)
        goto out;
    buf = sodium_malloc((size_t)n * len);
    if (!buf) {
        rc = sv_err_set(SV_NOMEM, "key split: out of memory");
        goto out;
    }
    for (i = 0; i < n; i++)
        ptrs[i] = buf + (size_t)i * len;
    rc = sv_shamir_split(secret, len, n, t, ptrs);
    if (rc)
        goto out;
    sv_keys_vault_id(kr, sh.vault);
    randombytes_buf(sh.split, sizeof(sh.split));
    check_value(sh.vault, sh.oldest, sh.current, secret, len, sh.check);
    sh.threshold = t;
    sh.shares = n;
    for (i = 0; i < n && !rc; i++) {
        sh.index = i + 1;
        rc = share_write(share_paths[i], &sh, ptrs[i], len);
        if (!rc)
            written++;
    }
    if (rc) /* leave no partial set behind: a retry starts clean */
        for (i = 0; i < written; i++)
            unlink(share_paths[i]);
out:
    if (buf)
        sodium_free(buf);
    if (secret)
        sodium_free(secret);
    sv_keys_free(kr);
    return rc;
}

/* Shares must come from one split of one vault, with distinct indexes and
 * enough of them. */
static enum sv_err shares_agree(const struct share *sh, unsigned count)
{
    unsigned i, j;

    for (i = 1; i < count; i++) {
        if (memcmp(sh[i].vault, sh[0].vault, SV_VAULT_ID_LEN))
            return sv_err_set(SV_AUTH,
                              "key shares %s and %s belong to different "
                              "vaults",
                              sh[0].path, sh[i].path);
        if (memcmp(sh[i].split, sh[0].split, SPLIT_ID_LEN) ||
            sh[i].threshold != sh[0].threshold ||
            sh[i].shares != sh[0].shares || sh[i].oldest != sh[0].oldest ||
            sh[i].current != sh[0].current ||
            memcmp(sh[i].check, sh[0].check, CHECK_LEN))
            return sv_err_set(SV_AUTH,
                              "key shares %s and %s come from different "
                              "splits; use shares of one split only",
                              sh[0].path, sh[i].path);
        for (j = 0; j < i; j++)
            if (sh[j].index == sh[i].index)
                return sv_err_set(SV_INVAL,
                                  "key shares %s and %s are the same share "
                                  "(index %u)",
                                  sh[j].path, sh[i].path, sh[i].index);
    }
    if (count < sh[0].threshold)
        return sv_err_set(SV_INVAL,
                          "key combine: %u shares are needed, %u given",
                          sh[0].threshold, count);
    return SV_OK;
}

enum sv_err sv_keys_combine(const char *const *share_paths, unsigned count,
                            const char *out_key_path)
{
    struct share sh[SV_SHAMIR_MAX_SHARES];
    const uint8_t *ptrs[SV_SHAMIR_MAX_SHARES];
    uint8_t xs[SV_SHAMIR_MAX_SHARES], check[CHECK_LEN];
    struct sv_keyring *kr = NULL;
    uint8_t *secret = NULL;
    unsigned i, loaded = 0;
    size_t len;
    enum sv_err rc;
    char *text = NULL;
    size_t tlen;

    if (!share_paths || !out_key_path || count == 0 ||
        count > SV_SHAMIR_MAX_SHARES)
        return sv_err_set(SV_INVAL, "key combine: %u shares given", count);
    for (i = 0; i < count; i++) {
        if (!share_paths[i])
            return sv_err_set(SV_INVAL, "key combine: no path for share %u",
                              i + 1);
    }
    rc = sv_keys_init();
    for (i = 0; i < count && !rc; i++) {
        rc = share_load(share_paths[i], &sh[i]);
        if (!rc)
            loaded++;
    }
    if (rc)
        goto out;
    rc = shares_agree(sh, count);
    if (rc)
        goto out;
    len = sv_keys_secret_len(sh[0].oldest, sh[0].current);
    secret = sodium_malloc(len);
    if (!secret) {
        rc = sv_err_set(SV_NOMEM, "key combine: out of memory");
        goto out;
    }
    for (i = 0; i < count; i++) {
        ptrs[i] = sh[i].data;
        xs[i] = (uint8_t)sh[i].index;
    }
    rc = sv_shamir_combine(ptrs, xs, count, len, secret);
    if (rc)
        goto out;
    check_value(sh[0].vault, sh[0].oldest, sh[0].current, secret, len, check);
    if (crypto_verify_16(check, sh[0].check) != 0) {
        rc = sv_err_set(SV_AUTH,
                        "key combine: the recombined key fails its check "
                        "value: a share is damaged, forged or from another "
                        "split");
        goto out;
    }
    rc = sv_keys_secret_import(sh[0].vault, sh[0].oldest, sh[0].current, secret,
                               len, &kr);
    if (rc)
        goto out;
    rc = sv_keys_render(kr, 0, &text, &tlen);
    if (!rc)
        rc = sv_keys_write_file(out_key_path, "key file", text, tlen, 0);
out:
    if (text)
        sodium_free(text);
    sv_keys_free(kr);
    if (secret)
        sodium_free(secret);
    for (i = 0; i < loaded; i++)
        share_release(&sh[i]);
    sodium_memzero(check, sizeof(check));
    return rc;
}
