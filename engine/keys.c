/*
 * engine/keys.c: the keyring: key files, subkeys, wrapped data keys and
 * sealed object records.
 *
 * Key file (INI, parsed with inih):
 *
 *   [shardvault-key]
 *   version = 1
 *   kind = full                  ; or "maintenance"
 *   vault = <32 hex>
 *   root = <64 hex>              ; full only
 *   oldest = 1                   ; full only, oldest generation kept
 *   current = 2                  ; full only, generation that wraps
 *   kwk.2 = <64 hex>             ; full only, one seed per generation >= 2
 *   maint = <64 hex>             ; maintenance only
 *   naming = <64 hex>            ; maintenance only
 *
 * Subkeys come from the root with crypto_kdf (context "shardvlt"): id 1 the
 * generation-1 key-wrapping key, 2 the metadata key, 3 the maintenance key,
 * 4 the naming key. Generation g >= 2 wraps with BLAKE2b keyed by the root
 * over "shardvault kwk" | g | the generation's random seed, so a leaked
 * wrapping key of one generation says nothing about the next.
 *
 * The check value is a keyed hash (maintenance key) of the vault id, so a
 * full keyring and the maintenance keyring exported from it give the same
 * value: both pass the catalog's check at vault open.
 *
 * All key bytes live in one sodium_malloc'd block (guard pages, mlocked,
 * read-only once filled, wiped by sodium_free); text that holds key bytes
 * is in sodium_malloc'd buffers too, and the stack inih parsed on is wiped.
 */
#include "engine/keys.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <sodium.h>

#include "engine/keys_int.h"
#include "engine/shard.h"

#define KDF_CTX "shardvlt"
enum { SUB_KWK1 = 1, SUB_META = 2, SUB_MAINT = 3, SUB_NAMING = 4 };

struct sv_kwk {
    uint32_t gen;
    uint8_t seed[SV_KEY_LEN]; /* zero for generation 1 (from the root) */
    uint8_t key[SV_KEY_LEN];
};

/* sodium_malloc'd; read-only once filled. */
struct sv_keysec {
    uint8_t root[SV_KEY_LEN];
    uint8_t meta[SV_KEY_LEN];
    uint8_t maint[SV_KEY_LEN];
    uint8_t naming[SV_KEY_LEN];
    uint32_t ngen;
    struct sv_kwk gen[]; /* oldest..current */
};

struct sv_keyring {
    int full;
    uint8_t vault_id[SV_VAULT_ID_LEN];
    uint32_t oldest, current; /* 0 for a maintenance keyring */
    struct sv_keysec *sec;
};

enum sv_err sv_keys_init(void)
{
    if (sodium_init() < 0)
        return sv_err_set(SV_UNSUPP, "libsodium could not be initialised");
    return SV_OK;
}

static void le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---- keyring construction ------------------------------------------------ */

static struct sv_keysec *sec_alloc(uint32_t ngen)
{
    size_t sz = sizeof(struct sv_keysec) + (size_t)ngen * sizeof(struct sv_kwk);
    struct sv_keysec *s = sodium_malloc(sz);

    if (s) {
        sodium_memzero(s, sz);
        s->ngen = ngen;
    }
    return s;
}

static void derive_kwk(const uint8_t root[SV_KEY_LEN], struct sv_kwk *g)
{
    crypto_generichash_state st;
    uint8_t gb[4];

    if (g->gen == 1) {
        crypto_kdf_derive_from_key(g->key, SV_KEY_LEN, SUB_KWK1, KDF_CTX, root);
        return;
    }
    le32(gb, g->gen);
    crypto_generichash_init(&st, root, SV_KEY_LEN, SV_KEY_LEN);
    crypto_generichash_update(&st, (const uint8_t *)"shardvault kwk", 14);
    crypto_generichash_update(&st, gb, sizeof(gb));
    crypto_generichash_update(&st, g->seed, SV_KEY_LEN);
    crypto_generichash_final(&st, g->key, SV_KEY_LEN);
    sodium_memzero(&st, sizeof(st));
}

static void derive_subkeys(struct sv_keysec *s)
{
    crypto_kdf_derive_from_key(s->meta, SV_KEY_LEN, SUB_META, KDF_CTX, s->root);
    crypto_kdf_derive_from_key(s->maint, SV_KEY_LEN, SUB_MAINT, KDF_CTX,
                               s->root);
    crypto_kdf_derive_from_key(s->naming, SV_KEY_LEN, SUB_NAMING, KDF_CTX,
                               s->root);
}

static struct sv_keyring *ring_new(int full, const uint8_t *vault_id,
                                   uint32_t oldest, uint32_t current,
                                   struct sv_keysec *sec)
{
    struct sv_keyring *kr = calloc(1, sizeof(*kr));

    if (!kr) {
        sv_err_set(SV_NOMEM, "keyring: out of memory");
        return NULL;
    }
    kr->full = full;
    memcpy(kr->vault_id, vault_id, SV_VAULT_ID_LEN);
    kr->oldest = oldest;
    kr->current = current;
    sodium_mprotect_readonly(sec);
    kr->sec = sec;
    return kr;
}

void sv_keys_free(struct sv_keyring *kr)
{
    if (!kr)
        return;
    if (kr->sec)
        sodium_free(kr->sec);
    sodium_memzero(kr, sizeof(*kr));
    free(kr);
}

size_t sv_keys_secret_len(uint32_t oldest, uint32_t current)
{
    uint32_t first = oldest < 2 ? 2 : oldest;
    size_t n = current >= first ? (size_t)(current - first) + 1 : 0;

    return SV_KEY_LEN + n * SV_KEY_LEN;
}

enum sv_err sv_keys_secret_import(const uint8_t vault_id[SV_VAULT_ID_LEN],
                                  uint32_t oldest, uint32_t current,
                                  const uint8_t *secret, size_t len,
                                  struct sv_keyring **out)
{
    struct sv_keysec *s;
    const uint8_t *seed;
    uint32_t i;

    if (oldest < 1 || oldest > current || current > SV_KEYS_MAX_GEN ||
        len != sv_keys_secret_len(oldest, current))
        return sv_err_set(SV_CORRUPT,
                          "key material for generations %u..%u does not "
                          "add up",
                          oldest, current);
    s = sec_alloc(current - oldest + 1);
    if (!s)
        return sv_err_set(SV_NOMEM, "keyring: out of memory");
    memcpy(s->root, secret, SV_KEY_LEN);
    derive_subkeys(s);
    seed = secret + SV_KEY_LEN;
    for (i = 0; i < s->ngen; i++) {
        s->gen[i].gen = oldest + i;
        if (s->gen[i].gen >= 2) {
            memcpy(s->gen[i].seed, seed, SV_KEY_LEN);
            seed += SV_KEY_LEN;
        }
        derive_kwk(s->root, &s->gen[i]);
    }
    *out = ring_new(1, vault_id, oldest, current, s);
    if (!*out) {
        sodium_free(s);
        return SV_NOMEM;
    }
    return SV_OK;
}

enum sv_err sv_keys_secret_export(const struct sv_keyring *kr, uint8_t **secret,
                                  size_t *len, uint32_t *oldest,
                                  uint32_t *current)
{
    size_t n;
    uint8_t *b, *p;
    uint32_t i;

    if (!kr->full)
        return sv_err_set(SV_NOKEY, "the maintenance keyring holds no root "
                                    "secret to split");
    n = sv_keys_secret_len(kr->oldest, kr->current);
    b = sodium_malloc(n);
    if (!b)
        return sv_err_set(SV_NOMEM, "keyring: out of memory");
    memcpy(b, kr->sec->root, SV_KEY_LEN);
    p = b + SV_KEY_LEN;
    for (i = 0; i < kr->sec->ngen; i++) {
        if (kr->sec->gen[i].gen >= 2) {
            memcpy(p, kr->sec->gen[i].seed, SV_KEY_LEN);
            p += SV_KEY_LEN;
        }
    }
    *secret = b;
    *len = n;
    *oldest = kr->oldest;
    *current = kr->current;
    return SV_OK;
}

/* ---- key file text ------------------------------------------------------- */

enum sv_err sv_keys_render(const struct sv_keyring *kr, int maintenance,
                           char **text, size_t *len)
{
    struct sv_sbuf b;
    char name[32];
    uint32_t i;

    b.cap = 640 + (size_t)kr->sec->ngen * 96;
    b.len = 0;
    b.p = sodium_malloc(b.cap);
    if (!b.p)
        return sv_err_set(SV_NOMEM, "keyring: out of memory");
    b.p[0] = '\0';
    sv_sbuf_printf(&b,
                   "# shardvault %s: keep it secret, keep it away from every "
                   "provider.\n[shardvault-key]\nversion = 1\nkind = %s\n",
                   maintenance ? "maintenance keyring" : "key file",
                   maintenance ? "maintenance" : "full");
    sv_sbuf_hex(&b, "vault", kr->vault_id, SV_VAULT_ID_LEN);
    if (maintenance) {
        sv_sbuf_hex(&b, "maint", kr->sec->maint, SV_KEY_LEN);
        sv_sbuf_hex(&b, "naming", kr->sec->naming, SV_KEY_LEN);
    } else {
        sv_sbuf_hex(&b, "root", kr->sec->root, SV_KEY_LEN);
        sv_sbuf_printf(&b, "oldest = %u\ncurrent = %u\n", kr->oldest,
                       kr->current);
        for (i = 0; i < kr->sec->ngen; i++) {
            if (kr->sec->gen[i].gen < 2)
                continue;
            snprintf(name, sizeof(name), "kwk.%u", kr->sec->gen[i].gen);
            sv_sbuf_hex(&b, name, kr->sec->gen[i].seed, SV_KEY_LEN);
        }
    }
    *text = b.p;
    *len = b.len;
    return SV_OK;
}

/* ---- key file parsing ---------------------------------------------------- */

struct kf_seed {
    uint32_t gen;
    uint8_t seed[SV_KEY_LEN];
};

/* sodium_malloc'd: what the text holds before it becomes a keyring. */
struct kf_secret {
    uint8_t root[SV_KEY_LEN], maint[SV_KEY_LEN], naming[SV_KEY_LEN];
    struct kf_seed seeds[];
};

struct kf_parse {
    struct sv_ini ini; /* first: kf_seed_line finds the rest */
    uint32_t version, oldest, current;
    char kind[16];
    uint8_t vault[SV_VAULT_ID_LEN];
    struct kf_secret *s;
    size_t nseeds, capseeds;
};

/* Field i sets bit i of ini.seen. */
enum {
    K_VERSION,
    K_KIND,
    K_VAULT,
    K_ROOT,
    K_OLDEST,
    K_CURRENT,
    K_MAINT,
    K_NAMING,
    K_NFIELDS
};
#define BIT(f) (1u << (f))
#define PUB(f) 0, offsetof(struct kf_parse, f)
#define SEC(f) 1, offsetof(struct kf_secret, f)

static const struct sv_ini_field kf_fields[K_NFIELDS] = {
    [K_VERSION] = {"version", SV_INI_UINT, PUB(version), 0, 0, SV_KEYS_MAX_GEN},
    [K_KIND] = {"kind", SV_INI_WORD, PUB(kind), 16, 0, 0},
    [K_VAULT] = {"vault", SV_INI_HEX, PUB(vault), SV_VAULT_ID_LEN, 0, 0},
    [K_ROOT] = {"root", SV_INI_HEX, SEC(root), SV_KEY_LEN, 0, 0},
    [K_OLDEST] = {"oldest", SV_INI_UINT, PUB(oldest), 0, 1, SV_KEYS_MAX_GEN},
    [K_CURRENT] = {"current", SV_INI_UINT, PUB(current), 0, 1, SV_KEYS_MAX_GEN},
    [K_MAINT] = {"maint", SV_INI_HEX, SEC(maint), SV_KEY_LEN, 0, 0},
    [K_NAMING] = {"naming", SV_INI_HEX, SEC(naming), SV_KEY_LEN, 0, 0},
};

/* kwk.N = <seed of generation N> */
static int kf_seed_line(struct sv_ini *ini, const char *name,
                        const char *suffix, const char *value)
{
    struct kf_parse *p = (struct kf_parse *)ini;
    uint32_t g;
    size_t i;

    if (sv_ini_uint(suffix, 2, SV_KEYS_MAX_GEN, &g))
        return sv_ini_fail(ini, SV_CORRUPT,
                           "`%s`: a generation number from 2 up was expected",
                           name);
    for (i = 0; i < p->nseeds; i++)
        if (p->s->seeds[i].gen == g)
            return sv_ini_fail(ini, SV_CORRUPT, "kwk.%u appears twice", g);
    if (p->nseeds == p->capseeds)
        return sv_ini_fail(ini, SV_CORRUPT, "too many generations");
    p->s->seeds[p->nseeds].gen = g;
    if (sv_ini_hex(value, p->s->seeds[p->nseeds].seed, SV_KEY_LEN))
        return sv_ini_fail(ini, SV_CORRUPT, "kwk.%u must be %d hex digits", g,
                           2 * SV_KEY_LEN);
    p->nseeds++;
    return 1;
}

static enum sv_err kf_maint_ring(struct kf_parse *p, struct sv_keyring **out)
{
    struct sv_keysec *s = sec_alloc(0);

    if (!s)
        return sv_err_set(SV_NOMEM, "keyring: out of memory");
    memcpy(s->maint, p->s->maint, SV_KEY_LEN);
    memcpy(s->naming, p->s->naming, SV_KEY_LEN);
    *out = ring_new(0, p->vault, 0, 0, s);
    if (!*out) {
        sodium_free(s);
        return SV_NOMEM;
    }
    return SV_OK;
}

static enum sv_err kf_full_ring(struct kf_parse *p, struct sv_keyring **out)
{
    const char *name = p->ini.name;
    uint32_t first = p->oldest < 2 ? 2 : p->oldest, g;
    uint8_t *flat;
    size_t i, n, want;
    enum sv_err rc;

    if (p->oldest > p->current)
        return sv_err_set(SV_CORRUPT, "%s: oldest = %u is after current = %u",
                          name, p->oldest, p->current);
    for (i = 0; i < p->nseeds; i++) {
        g = p->s->seeds[i].gen;
        if (g < first || g > p->current)
            return sv_err_set(SV_CORRUPT,
                              "%s: kwk.%u is outside the generations kept "
                              "(%u..%u)",
                              name, g, p->oldest, p->current);
    }
    want = p->current >= first ? (size_t)(p->current - first) + 1 : 0;
    if (p->nseeds != want) {
        /* No duplicates and all in range: some generation is missing. */
        for (g = first; g <= p->current; g++) {
            for (i = 0; i < p->nseeds && p->s->seeds[i].gen != g; i++)
                ;
            if (i == p->nseeds)
                break;
        }
        return sv_err_set(SV_CORRUPT, "%s: no kwk.%u line for generation %u",
                          name, g, g);
    }
    n = sv_keys_secret_len(p->oldest, p->current);
    flat = sodium_malloc(n);
    if (!flat)
        return sv_err_set(SV_NOMEM, "keyring: out of memory");
    memcpy(flat, p->s->root, SV_KEY_LEN);
    for (i = 0; i < p->nseeds; i++)
        memcpy(flat + SV_KEY_LEN +
                   (size_t)(p->s->seeds[i].gen - first) * SV_KEY_LEN,
               p->s->seeds[i].seed, SV_KEY_LEN);
    rc = sv_keys_secret_import(p->vault, p->oldest, p->current, flat, n, out);
    sodium_free(flat);
    return rc;
}

/* Which kind of key file the text is, once parsed: what it must and must
 * not hold. */
static enum sv_err kf_check_kind(struct kf_parse *p, int *maintenance)
{
    const unsigned full = BIT(K_ROOT) | BIT(K_OLDEST) | BIT(K_CURRENT);
    const unsigned maint = BIT(K_MAINT) | BIT(K_NAMING);
    const char *missing, *extra = NULL;
    unsigned forbid, i;

    if (!(p->ini.seen & BIT(K_VERSION)) || p->version != 1)
        return sv_err_set(SV_CORRUPT,
                          "%s: no `version = 1` line; not a "
                          "shardvault key file",
                          p->ini.name);
    *maintenance = !strcmp(p->kind, "maintenance");
    if ((p->ini.seen & BIT(K_KIND)) && !*maintenance && strcmp(p->kind, "full"))
        return sv_err_set(SV_CORRUPT,
                          "%s: kind must be `full` or `maintenance`",
                          p->ini.name);
    missing = sv_ini_missing(
        &p->ini,
        BIT(K_VAULT) | (*maintenance ? maint : BIT(K_ROOT) | BIT(K_CURRENT)));
    forbid = p->ini.seen & (*maintenance ? full : maint);
    for (i = 0; i < K_NFIELDS && !extra; i++)
        if (forbid & BIT(i))
            extra = kf_fields[i].name;
    if (!extra && *maintenance && p->nseeds)
        extra = "kwk.N";
    if (missing || extra)
        return sv_err_set(SV_CORRUPT, "%s: a %s key file %s `%s`", p->ini.name,
                          *maintenance ? "maintenance" : "full",
                          missing ? "needs" : "cannot have",
                          missing ? missing : extra);
    return SV_OK;
}

static enum sv_err parse_named(const char *text, size_t len, const char *name,
                               struct sv_keyring **out)
{
    struct kf_parse p;
    enum sv_err rc;
    int maintenance = 0;

    if (!text || !out)
        return sv_err_set(SV_INVAL, "%s: no text or no result pointer", name);
    if (len > SV_KEYFILE_MAX)
        return sv_err_set(SV_CORRUPT,
                          "%s: longer than %d bytes; not a shardvault key "
                          "file",
                          name, SV_KEYFILE_MAX);
    rc = sv_keys_init();
    if (rc)
        return rc;
    memset(&p, 0, sizeof(p));
    p.oldest = 1;
    p.capseeds = len / (4 + 2 * SV_KEY_LEN) + 1;
    p.s = sodium_malloc(sizeof(*p.s) + p.capseeds * sizeof(struct kf_seed));
    if (!p.s)
        return sv_err_set(SV_NOMEM, "%s: out of memory", name);
    p.ini.name = name;
    p.ini.text = text;
    p.ini.len = len;
    p.ini.section = "shardvault-key";
    p.ini.fields = kf_fields;
    p.ini.nfields = K_NFIELDS;
    p.ini.base = &p;
    p.ini.secret = p.s;
    p.ini.prefix = "kwk.";
    p.ini.numbered = kf_seed_line;
    rc = sv_ini_run(&p.ini);
    if ((p.ini.seen & BIT(K_VERSION)) && p.version > 1)
        rc = sv_err_set(SV_VERSION,
                        "%s: key file format version %u; this build reads "
                        "version 1",
                        name, p.version);
    if (!rc)
        rc = kf_check_kind(&p, &maintenance);
    if (!rc)
        rc = maintenance ? kf_maint_ring(&p, out) : kf_full_ring(&p, out);
    sodium_free(p.s);
    return rc;
}

enum sv_err sv_keys_parse(const char *text, size_t len, struct sv_keyring **out)
{
    return parse_named(text, len, "key text", out);
}

enum sv_err sv_keys_load(const char *path, struct sv_keyring **out)
{
    char *text = NULL;
    size_t len = 0;
    enum sv_err rc;

    if (!path || !out)
        return sv_err_set(SV_INVAL, "load key file: no path");
    rc = sv_keys_init();
    if (rc)
        return rc;
    rc = sv_keys_read_file(path, "key file", &text, &len);
    if (rc)
        return rc;
    rc = parse_named(text, len, path, out);
    sodium_free(text);
    return rc;
}

enum sv_err sv_keys_load_command(const char *command, struct sv_keyring **out)
{
    char *text = NULL;
    size_t len = 0;
    enum sv_err rc;
    FILE *f;
    int st;

    if (!command || !*command || !out)
        return sv_err_set(SV_INVAL, "key_command is empty");
    rc = sv_keys_init();
    if (rc)
        return rc;
    fflush(NULL);
    f = popen(command, "re");
    if (!f)
        return sv_err_set(SV_IO, "key_command `%s`: cannot run: %s", command,
                          strerror(errno));
    rc = sv_keys_read_stream(f, "key_command output", &text, &len);
    st = pclose(f);
    if (!rc && st == -1)
        rc =
            sv_err_set(SV_IO, "key_command `%s`: %s", command, strerror(errno));
    else if (!rc && WIFSIGNALED(st))
        rc = sv_err_set(SV_IO, "key_command `%s` was killed by signal %d",
                        command, WTERMSIG(st));
    else if (!rc && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
        rc = sv_err_set(SV_IO, "key_command `%s` exited with status %d",
                        command, WEXITSTATUS(st));
    if (!rc)
        rc = parse_named(text, len, "key_command output", out);
    if (text)
        sodium_free(text);
    return rc;
}

/* ---- creation, export, rotation ----------------------------------------- */

static enum sv_err write_ring(const struct sv_keyring *kr, int maintenance,
                              const char *path, int replace)
{
    char *text;
    size_t len;
    enum sv_err rc;

    rc = sv_keys_render(kr, maintenance, &text, &len);
    if (rc)
        return rc;
    rc = sv_keys_write_file(path,
                            maintenance ? "maintenance keyring" : "key file",
                            text, len, replace);
    sodium_free(text);
    return rc;
}

enum sv_err sv_keys_create(const char *path,
                           const uint8_t vault_id[SV_VAULT_ID_LEN])
{
    struct sv_keyring *kr = NULL;
    uint8_t root[SV_KEY_LEN];
    enum sv_err rc;

    if (!path || !vault_id)
        return sv_err_set(SV_INVAL, "create key file: no path or vault id");
    rc = sv_keys_init();
    if (rc)
        return rc;
    randombytes_buf(root, sizeof(root));
    rc = sv_keys_secret_import(vault_id, 1, 1, root, sizeof(root), &kr);
    sodium_memzero(root, sizeof(root));
    if (!rc)
        rc = write_ring(kr, 0, path, 0);
    sv_keys_free(kr);
    return rc;
}

enum sv_err sv_keys_export_maintenance(const struct sv_keyring *kr,
                                       const char *path)
{
    if (!kr || !path)
        return sv_err_set(SV_INVAL, "export maintenance keyring: no keyring "
                                    "or path");
    return write_ring(kr, 1, path, 0);
}

int sv_keys_is_full(const struct sv_keyring *kr)
{
    return kr && kr->full;
}

void sv_keys_vault_id(const struct sv_keyring *kr, uint8_t out[SV_VAULT_ID_LEN])
{
    memcpy(out, kr->vault_id, SV_VAULT_ID_LEN);
}

void sv_keys_check_value(const struct sv_keyring *kr,
                         uint8_t out[SV_KEY_CHECK_LEN])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, kr->sec->maint, SV_KEY_LEN, SV_KEY_CHECK_LEN);
    crypto_generichash_update(&st, (const uint8_t *)"shardvault key check", 20);
    crypto_generichash_update(&st, kr->vault_id, SV_VAULT_ID_LEN);
    crypto_generichash_final(&st, out, SV_KEY_CHECK_LEN);
    sodium_memzero(&st, sizeof(st));
}

uint32_t sv_keys_current_gen(const struct sv_keyring *kr)
{
    return kr->current;
}

uint32_t sv_keys_oldest_gen(const struct sv_keyring *kr)
{
    return kr->oldest;
}

/* Replace kr's generations with oldest..current (seeds of kept ones
 * copied, a new random one for a new current), writing path first. */
static enum sv_err regenerate(struct sv_keyring *kr, const char *path,
                              uint32_t oldest, uint32_t current)
{
    struct sv_keyring tmp;
    struct sv_keysec *s;
    uint32_t i, g;
    enum sv_err rc;

    s = sec_alloc(current - oldest + 1);
    if (!s)
        return sv_err_set(SV_NOMEM, "keyring: out of memory");
    memcpy(s->root, kr->sec->root, SV_KEY_LEN);
    derive_subkeys(s);
    for (i = 0; i < s->ngen; i++) {
        g = oldest + i;
        s->gen[i].gen = g;
        if (g <= kr->current)
            s->gen[i] = kr->sec->gen[g - kr->oldest];
        else
            randombytes_buf(s->gen[i].seed, SV_KEY_LEN);
        derive_kwk(s->root, &s->gen[i]);
    }
    tmp = *kr;
    tmp.sec = s;
    tmp.oldest = oldest;
    tmp.current = current;
    rc = write_ring(&tmp, 0, path, 1);
    if (rc) {
        sodium_free(s);
        return rc;
    }
    sodium_mprotect_readonly(s);
    sodium_free(kr->sec);
    kr->sec = s;
    kr->oldest = oldest;
    kr->current = current;
    return SV_OK;
}

enum sv_err sv_keys_rotate(struct sv_keyring *kr, const char *path)
{
    if (!kr || !path)
        return sv_err_set(SV_INVAL, "rotate: no keyring or key file path");
    if (!kr->full)
        return sv_err_set(SV_NOKEY, "the maintenance keyring cannot rotate "
                                    "keys; use the vault's key file");
    if (kr->current >= SV_KEYS_MAX_GEN)
        return sv_err_set(SV_INVAL, "key file %s: no generation after %u", path,
                          kr->current);
    return regenerate(kr, path, kr->oldest, kr->current + 1);
}

enum sv_err sv_keys_prune(struct sv_keyring *kr, const char *path,
                          uint32_t keep_from)
{
    if (!kr || !path)
        return sv_err_set(SV_INVAL, "prune: no keyring or key file path");
    if (!kr->full)
        return sv_err_set(SV_NOKEY, "the maintenance keyring holds no "
                                    "key-wrapping keys to prune");
    if (keep_from > kr->current || keep_from == 0)
        return sv_err_set(SV_INVAL,
                          "key file %s: cannot keep generations from %u: "
                          "the current generation is %u",
                          path, keep_from, kr->current);
    if (keep_from <= kr->oldest)
        return SV_OK;
    return regenerate(kr, path, keep_from, kr->current);
}

/* ---- data keys and records ----------------------------------------------- */

void sv_keys_new_dek(uint8_t dek[SV_DEK_LEN])
{
    if (sv_keys_init() == SV_OK)
        randombytes_buf(dek, SV_DEK_LEN);
}

void sv_keys_new_oid(uint8_t oid[SV_OID_LEN])
{
    if (sv_keys_init() == SV_OK)
        randombytes_buf(oid, SV_OID_LEN);
}

#define WRAP_AD_LEN (SV_VAULT_ID_LEN + SV_OID_LEN + 4)
#define NONCE_LEN   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

static void wrap_ad(const struct sv_keyring *kr, const uint8_t *oid,
                    uint32_t gen, uint8_t ad[WRAP_AD_LEN])
{
    memcpy(ad, kr->vault_id, SV_VAULT_ID_LEN);
    memcpy(ad + SV_VAULT_ID_LEN, oid, SV_OID_LEN);
    le32(ad + SV_VAULT_ID_LEN + SV_OID_LEN, gen);
}

static enum sv_err need_full(const struct sv_keyring *kr)
{
    if (!kr->full)
        return sv_err_set(SV_NOKEY, "the maintenance keyring cannot read "
                                    "object data; load the vault's key file");
    return SV_OK;
}

enum sv_err sv_keys_wrap_dek(const struct sv_keyring *kr,
                             const uint8_t oid[SV_OID_LEN],
                             const uint8_t dek[SV_DEK_LEN],
                             uint8_t wrapped[SV_WRAPPED_DEK_LEN], uint32_t *gen)
{
    const struct sv_kwk *g;
    uint8_t ad[WRAP_AD_LEN];
    enum sv_err rc;

    if (!kr || !oid || !dek || !wrapped || !gen)
        return sv_err_set(SV_INVAL, "wrap data key: missing argument");
    rc = need_full(kr);
    if (rc)
        return rc;
    g = &kr->sec->gen[kr->current - kr->oldest];
    wrap_ad(kr, oid, g->gen, ad);
    randombytes_buf(wrapped, NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped + NONCE_LEN, NULL, dek,
                                               SV_DEK_LEN, ad, sizeof(ad), NULL,
                                               wrapped, g->key);
    *gen = g->gen;
    return SV_OK;
}

enum sv_err sv_keys_unwrap_dek(const struct sv_keyring *kr,
                               const uint8_t oid[SV_OID_LEN], uint32_t gen,
                               const uint8_t wrapped[SV_WRAPPED_DEK_LEN],
                               uint8_t dek[SV_DEK_LEN])
{
    uint8_t ad[WRAP_AD_LEN];
    enum sv_err rc;

    if (!kr || !oid || !wrapped || !dek)
        return sv_err_set(SV_INVAL, "unwrap data key: missing argument");
    rc = need_full(kr);
    if (rc)
        return rc;
    if (gen < kr->oldest || gen > kr->current)
        return sv_err_set(SV_NOKEY,
                          "key generation %u is not in the key file (it "
                          "holds %u..%u)",
                          gen, kr->oldest, kr->current);
    wrap_ad(kr, oid, gen, ad);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            dek, NULL, NULL, wrapped + NONCE_LEN,
            SV_WRAPPED_DEK_LEN - NONCE_LEN, ad, sizeof(ad), wrapped,
            kr->sec->gen[gen - kr->oldest].key) != 0) {
        sodium_memzero(dek, SV_DEK_LEN);
        return sv_err_set(SV_AUTH,
                          "the data key does not unwrap with key generation "
                          "%u: wrong key file or tampered record",
                          gen);
    }
    return SV_OK;
}

#define REC_AD_LEN (SV_VAULT_ID_LEN + SV_OID_LEN)
#define REC_MAX    (SV_SHARD_MAX_RECORD - SV_SEALED_RECORD_OVERHEAD)

enum sv_err sv_keys_seal_record(const struct sv_keyring *kr,
                                const uint8_t oid[SV_OID_LEN],
                                const uint8_t *rec, size_t len, uint8_t **out,
                                size_t *outlen)
{
    uint8_t ad[REC_AD_LEN], *b;
    enum sv_err rc;

    if (!kr || !oid || (!rec && len) || !out || !outlen)
        return sv_err_set(SV_INVAL, "seal object record: missing argument");
    rc = need_full(kr);
    if (rc)
        return rc;
    if (len > REC_MAX)
        return sv_err_set(SV_INVAL,
                          "object record of %zu bytes is over the %u byte "
                          "limit",
                          len, (unsigned)REC_MAX);
    b = malloc(len + SV_SEALED_RECORD_OVERHEAD);
    if (!b)
        return sv_err_set(SV_NOMEM, "seal object record: out of memory");
    memcpy(ad, kr->vault_id, SV_VAULT_ID_LEN);
    memcpy(ad + SV_VAULT_ID_LEN, oid, SV_OID_LEN);
    randombytes_buf(b, NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        b + NONCE_LEN, NULL, rec, len, ad, sizeof(ad), NULL, b, kr->sec->meta);
    *out = b;
    *outlen = len + SV_SEALED_RECORD_OVERHEAD;
    return SV_OK;
}

enum sv_err sv_keys_open_record(const struct sv_keyring *kr,
                                const uint8_t oid[SV_OID_LEN],
                                const uint8_t *sealed, size_t len,
                                uint8_t **out, size_t *outlen)
{
    uint8_t ad[REC_AD_LEN], *b;
    size_t plen;
    enum sv_err rc;

    if (!kr || !oid || !sealed || !out || !outlen)
        return sv_err_set(SV_INVAL, "open object record: missing argument");
    rc = need_full(kr);
    if (rc)
        return rc;
    if (len < SV_SEALED_RECORD_OVERHEAD || len > SV_SHARD_MAX_RECORD)
        return sv_err_set(SV_CORRUPT,
                          "sealed object record of %zu bytes: not between "
                          "%u and %u",
                          len, (unsigned)SV_SEALED_RECORD_OVERHEAD,
                          (unsigned)SV_SHARD_MAX_RECORD);
    plen = len - SV_SEALED_RECORD_OVERHEAD;
    b = malloc(plen ? plen : 1);
    if (!b)
        return sv_err_set(SV_NOMEM, "open object record: out of memory");
    memcpy(ad, kr->vault_id, SV_VAULT_ID_LEN);
    memcpy(ad + SV_VAULT_ID_LEN, oid, SV_OID_LEN);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            b, NULL, NULL, sealed + NONCE_LEN, len - NONCE_LEN, ad, sizeof(ad),
            sealed, kr->sec->meta) != 0) {
        free(b);
        return sv_err_set(SV_AUTH, "the sealed object record does not open: "
                                   "wrong key file or tampered record");
    }
    *out = b;
    *outlen = plen;
    return SV_OK;
}

const uint8_t *sv_keys_maint_key(const struct sv_keyring *kr)
{
    return kr->sec->maint;
}

const uint8_t *sv_keys_naming_key(const struct sv_keyring *kr)
{
    return kr->sec->naming;
}
