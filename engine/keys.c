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
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---- INI reading shared with custody.c ---------------------------------- */

int sv_ini_fail(struct sv_ini *p, enum sv_err e, const char *fmt, ...)
{
    va_list ap;

    if (p->errline)
        return 0;
    p->errline = p->line ? p->line : 1;
    p->err = e;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
    return 0;
}

/* inih's line reader: one line (through '\n') per call, so the calls count
 * lines exactly as inih does; a line that does not fit is refused. */
static char *sv_ini_reader(char *str, int num, void *stream)
{
    struct sv_ini *p = stream;
    size_t max = num > 1 ? (size_t)num - 1 : 0, n = 0;

    if (p->pos >= p->len || max < 2)
        return NULL;
    p->line++;
    while (n < max && p->pos < p->len) {
        char c = p->text[p->pos++];

        str[n++] = c;
        if (c == '\n')
            break;
    }
    str[n] = '\0';
    if (n == max && str[n - 1] != '\n' && p->pos < p->len) {
        sv_ini_fail(p, SV_CORRUPT, "line longer than %zu bytes", max - 2);
        return NULL;
    }
    return str;
}

enum sv_err sv_ini_run(struct sv_ini *p, ini_handler h, void *user)
{
    int ret;

    p->pos = 0;
    p->line = 0;
    p->errline = 0;
    if (memchr(p->text, '\0', p->len))
        return sv_err_set(SV_CORRUPT, "%s: contains a NUL byte", p->name);
    ret = ini_parse_stream(sv_ini_reader, p, h, user);
    sodium_stackzero(8192);
    if (ret == -2)
        return sv_err_set(SV_NOMEM, "%s: out of memory while parsing",
                          p->name);
    if (ret > 0 && (!p->errline || (unsigned)ret < p->errline))
        return sv_err_set(SV_CORRUPT,
                          "%s: line %d: expected `name = value` or a "
                          "[section]",
                          p->name, ret);
    if (p->errline)
        return sv_err_set(p->err, "%s: line %u: %s", p->name, p->errline,
                          p->msg);
    return SV_OK;
}

int sv_ini_hex(const char *value, uint8_t *out, size_t len)
{
    size_t vlen = strlen(value), got = 0;
    const char *end = NULL;

    if (vlen != 2 * len)
        return -1;
    if (sodium_hex2bin(out, len, value, vlen, NULL, &got, &end) != 0 ||
        got != len || end != value + vlen) {
        sodium_memzero(out, len);
        return -1;
    }
    return 0;
}

int sv_ini_uint(const char *value, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v = 0;
    size_t i, n = strlen(value);

    if (n == 0 || n > 10 || (n > 1 && value[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(value[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

void sv_sbuf_printf(struct sv_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < b->cap - b->len)
        b->len += (size_t)n;
    else
        b->p[b->len] = '\0';
}

void sv_sbuf_hex(struct sv_sbuf *b, const char *name, const uint8_t *bin,
                 size_t len)
{
    sv_sbuf_printf(b, "%s = ", name);
    if (b->cap - b->len < 2 * len + 2)
        return;
    sodium_bin2hex(b->p + b->len, 2 * len + 1, bin, len);
    b->len += 2 * len;
    b->p[b->len++] = '\n';
    b->p[b->len] = '\0';
}

/* ---- secret files -------------------------------------------------------- */

static enum sv_err fsync_dir_of(const char *path, const char *what)
{
    char *copy = strdup(path);
    enum sv_err rc = SV_OK;
    int fd;

    if (!copy)
        return sv_err_set(SV_NOMEM, "%s %s: out of memory", what, path);
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = sv_err_set(SV_IO, "%s %s: cannot sync its directory: %s", what,
                        path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

enum sv_err sv_keys_write_file(const char *path, const char *what,
                               const void *buf, size_t len, int replace)
{
    char *real = NULL, *tmp = NULL;
    const char *target = path, *written;
    enum sv_err rc = SV_OK;
    int fd;

    if (replace) {
        real = realpath(path, NULL);
        if (real)
            target = real;
        if (asprintf(&tmp, "%s.tmp.XXXXXX", target) < 0) {
            tmp = NULL;
            rc = sv_err_set(SV_NOMEM, "%s %s: out of memory", what, path);
            goto out;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        written = tmp;
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  0600);
        written = path;
        if (fd < 0 && errno == EEXIST) {
            rc = sv_err_set(SV_EXISTS,
                            "%s %s already exists; it is never overwritten",
                            what, path);
            goto out;
        }
    }
    if (fd < 0) {
        rc = sv_err_set(errno == EACCES ? SV_DENIED : SV_IO,
                        "%s %s: cannot create: %s", what, path,
                        strerror(errno));
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, buf, len) != 0 ||
        fsync(fd) != 0) {
        rc = sv_err_set(errno == ENOSPC ? SV_NOSPACE : SV_IO,
                        "%s %s: cannot write: %s", what, path,
                        strerror(errno));
        close(fd);
        unlink(written);
        goto out;
    }
    if (close(fd) != 0) {
        rc = sv_err_set(SV_IO, "%s %s: cannot write: %s", what, path,
                        strerror(errno));
        unlink(written);
        goto out;
    }
    if (replace && rename(tmp, target) != 0) {
        rc = sv_err_set(SV_IO, "%s %s: cannot replace: %s", what, path,
                        strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = fsync_dir_of(target, what);
out:
    free(tmp);
    free(real);
    return rc;
}

/* Read at most SV_KEYFILE_MAX bytes from fd into a sodium_malloc'd,
 * NUL-terminated buffer. */
static enum sv_err read_fd(int fd, FILE *f, const char *name, char **buf,
                           size_t *len)
{
    char *b = sodium_malloc(SV_KEYFILE_MAX + 1);
    size_t n = 0;

    if (!b)
        return sv_err_set(SV_NOMEM, "%s: out of memory", name);
    for (;;) {
        ssize_t r;

        if (f) {
            r = (ssize_t)fread(b + n, 1, SV_KEYFILE_MAX + 1 - n, f);
            if (r == 0 && ferror(f))
                r = -1;
        } else {
            r = read(fd, b + n, SV_KEYFILE_MAX + 1 - n);
            if (r < 0 && errno == EINTR)
                continue;
        }
        if (r < 0) {
            sodium_free(b);
            return sv_err_set(SV_IO, "%s: cannot read: %s", name,
                              strerror(errno));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > SV_KEYFILE_MAX) {
            sodium_free(b);
            return sv_err_set(SV_CORRUPT,
                              "%s: longer than %d bytes; not a shardvault "
                              "key file",
                              name, SV_KEYFILE_MAX);
        }
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return SV_OK;
}

enum sv_err sv_keys_read_file(const char *path, const char *what, char **buf,
                              size_t *len)
{
    struct stat st;
    enum sv_err rc;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return sv_err_set(SV_NOTFOUND, "%s %s does not exist", what,
                              path);
        return sv_err_set(errno == EACCES ? SV_DENIED : SV_IO,
                          "%s %s: cannot open: %s", what, path,
                          strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        rc = sv_err_set(SV_IO, "%s %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sv_err_set(SV_IO, "%s %s is not a regular file", what, path);
        goto out;
    }
    if (st.st_mode & 077) {
        rc = sv_err_set(SV_DENIED,
                        "%s %s is accessible by group or others (mode "
                        "%04o); run `chmod 600 %s`",
                        what, path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    rc = read_fd(fd, NULL, path, buf, len);
out:
    close(fd);
    return rc;
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
    crypto_kdf_derive_from_key(s->meta, SV_KEY_LEN, SUB_META, KDF_CTX,
                               s->root);
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

enum sv_err sv_keys_secret_export(const struct sv_keyring *kr,
                                  uint8_t **secret, size_t *len,
                                  uint32_t *oldest, uint32_t *current)
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
    sv_sbuf_printf(&b, "# shardvault %s: keep it secret, keep it away from every "
                  "provider.\n[shardvault-key]\nversion = 1\nkind = %s\n",
              maintenance ? "maintenance keyring" : "key file",
              maintenance ? "maintenance" : "full");
    sv_sbuf_hex(&b, "vault", kr->vault_id, SV_VAULT_ID_LEN);
    if (maintenance) {
        sv_sbuf_hex(&b, "maint", kr->sec->maint, SV_KEY_LEN);
        sv_sbuf_hex(&b, "naming", kr->sec->naming, SV_KEY_LEN);
    } else {
        sv_sbuf_hex(&b, "root", kr->sec->root, SV_KEY_LEN);
        sv_sbuf_printf(&b, "oldest = %u\ncurrent = %u\n", kr->oldest, kr->current);
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

enum {
    K_VERSION = 1 << 0,
    K_KIND = 1 << 1,
    K_VAULT = 1 << 2,
    K_ROOT = 1 << 3,
    K_OLDEST = 1 << 4,
    K_CURRENT = 1 << 5,
    K_MAINT = 1 << 6,
    K_NAMING = 1 << 7,
    K_KWK = 1 << 8,
};

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
    struct sv_ini ini; /* first: the handler's user pointer */
    unsigned seen;
    uint32_t version, oldest, current;
    int maintenance;
    uint8_t vault[SV_VAULT_ID_LEN];
    struct kf_secret *s;
    size_t nseeds, capseeds;
};

static int kf_seed_line(struct kf_parse *p, const char *name,
                        const char *value)
{
    uint32_t g;
    size_t i;

    if (sv_ini_uint(name + 4, 2, SV_KEYS_MAX_GEN, &g))
        return sv_ini_fail(&p->ini, SV_CORRUPT,
                           "`%s`: a generation number from 2 up was expected",
                           name);
    for (i = 0; i < p->nseeds; i++)
        if (p->s->seeds[i].gen == g)
            return sv_ini_fail(&p->ini, SV_CORRUPT, "kwk.%u appears twice", g);
    if (p->nseeds == p->capseeds)
        return sv_ini_fail(&p->ini, SV_CORRUPT, "too many generations");
    p->s->seeds[p->nseeds].gen = g;
    if (sv_ini_hex(value, p->s->seeds[p->nseeds].seed, SV_KEY_LEN))
        return sv_ini_fail(&p->ini, SV_CORRUPT,
                           "kwk.%u must be %d hex digits", g, 2 * SV_KEY_LEN);
    p->nseeds++;
    p->seen |= K_KWK;
    return 1;
}

static int kf_handler(void *user, const char *section, const char *name,
                      const char *value)
{
    static const struct {
        const char *name;
        unsigned bit;
    } keys[] = {{"version", K_VERSION}, {"kind", K_KIND},
                {"vault", K_VAULT},     {"root", K_ROOT},
                {"oldest", K_OLDEST},   {"current", K_CURRENT},
                {"maint", K_MAINT},     {"naming", K_NAMING}};
    struct kf_parse *p = user;
    unsigned bit = 0;
    size_t i;
    int bad = 0;

    if (strcmp(section, "shardvault-key"))
        return sv_ini_fail(&p->ini, SV_CORRUPT,
                           "`%s` is outside the [shardvault-key] section",
                           name);
    if (!strncmp(name, "kwk.", 4))
        return kf_seed_line(p, name, value);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strcmp(name, keys[i].name))
            bit = keys[i].bit;
    if (!bit)
        return sv_ini_fail(&p->ini, SV_CORRUPT, "unknown key `%s`", name);
    if (p->seen & bit)
        return sv_ini_fail(&p->ini, SV_CORRUPT, "`%s` appears twice", name);
    p->seen |= bit;
    switch (bit) {
    case K_VERSION:
        bad = sv_ini_uint(value, 0, SV_KEYS_MAX_GEN, &p->version);
        break;
    case K_KIND:
        p->maintenance = !strcmp(value, "maintenance");
        bad = !p->maintenance && strcmp(value, "full");
        break;
    case K_VAULT:
        bad = sv_ini_hex(value, p->vault, SV_VAULT_ID_LEN);
        break;
    case K_ROOT:
        bad = sv_ini_hex(value, p->s->root, SV_KEY_LEN);
        break;
    case K_OLDEST:
        bad = sv_ini_uint(value, 1, SV_KEYS_MAX_GEN, &p->oldest);
        break;
    case K_CURRENT:
        bad = sv_ini_uint(value, 1, SV_KEYS_MAX_GEN, &p->current);
        break;
    case K_MAINT:
        bad = sv_ini_hex(value, p->s->maint, SV_KEY_LEN);
        break;
    case K_NAMING:
        bad = sv_ini_hex(value, p->s->naming, SV_KEY_LEN);
        break;
    default:
        break;
    }
    if (bad)
        return sv_ini_fail(&p->ini, SV_CORRUPT, "bad value for `%s`", name);
    return 1;
}

static const char *kf_first_missing(unsigned seen, unsigned need)
{
    static const char *const names[] = {"version", "kind",    "vault",
                                        "root",    "oldest",  "current",
                                        "maint",   "naming",  "kwk.N"};
    unsigned i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((need & (1u << i)) && !(seen & (1u << i)))
            return names[i];
    return NULL;
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

static enum sv_err parse_named(const char *text, size_t len, const char *name,
                               struct sv_keyring **out)
{
    const unsigned full_keys = K_ROOT | K_OLDEST | K_CURRENT | K_KWK;
    const unsigned maint_keys = K_MAINT | K_NAMING;
    struct kf_parse p;
    const char *missing;
    enum sv_err rc;
    unsigned extra;

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
    p.ini.name = name;
    p.ini.text = text;
    p.ini.len = len;
    p.oldest = 1;
    p.capseeds = len / (4 + 2 * SV_KEY_LEN) + 1;
    p.s = sodium_malloc(sizeof(*p.s) + p.capseeds * sizeof(struct kf_seed));
    if (!p.s)
        return sv_err_set(SV_NOMEM, "%s: out of memory", name);
    rc = sv_ini_run(&p.ini, kf_handler, &p);
    if ((p.seen & K_VERSION) && p.version > 1) {
        rc = sv_err_set(SV_VERSION,
                        "%s: key file format version %u; this build reads "
                        "version 1",
                        name, p.version);
        goto out;
    }
    if (rc)
        goto out;
    if (!(p.seen & K_VERSION) || p.version != 1) {
        rc = sv_err_set(SV_CORRUPT, "%s: no `version = 1` line; not a "
                                    "shardvault key file",
                        name);
        goto out;
    }
    missing = kf_first_missing(
        p.seen, K_VAULT | (p.maintenance ? maint_keys : K_ROOT | K_CURRENT));
    extra = p.seen & (p.maintenance ? full_keys : maint_keys);
    if (missing || extra) {
        rc = sv_err_set(SV_CORRUPT, "%s: a %s key file %s `%s`", name,
                        p.maintenance ? "maintenance" : "full",
                        missing ? "needs" : "cannot have",
                        missing ? missing : kf_first_missing(0, extra));
        goto out;
    }
    rc = p.maintenance ? kf_maint_ring(&p, out) : kf_full_ring(&p, out);
out:
    sodium_free(p.s);
    return rc;
}

enum sv_err sv_keys_parse(const char *text, size_t len,
                          struct sv_keyring **out)
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
    rc = read_fd(-1, f, "key_command output", &text, &len);
    st = pclose(f);
    if (!rc && st == -1)
        rc = sv_err_set(SV_IO, "key_command `%s`: %s", command,
                        strerror(errno));
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

void sv_keys_vault_id(const struct sv_keyring *kr,
                      uint8_t out[SV_VAULT_ID_LEN])
{
    memcpy(out, kr->vault_id, SV_VAULT_ID_LEN);
}

void sv_keys_check_value(const struct sv_keyring *kr,
                         uint8_t out[SV_KEY_CHECK_LEN])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, kr->sec->maint, SV_KEY_LEN, SV_KEY_CHECK_LEN);
    crypto_generichash_update(&st, (const uint8_t *)"shardvault key check",
                              20);
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
        return sv_err_set(SV_INVAL, "key file %s: no generation after %u",
                          path, kr->current);
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
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

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
                             uint8_t wrapped[SV_WRAPPED_DEK_LEN],
                             uint32_t *gen)
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
                                               SV_DEK_LEN, ad, sizeof(ad),
                                               NULL, wrapped, g->key);
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
#define REC_MAX (SV_SHARD_MAX_RECORD - SV_SEALED_RECORD_OVERHEAD)

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
    crypto_aead_xchacha20poly1305_ietf_encrypt(b + NONCE_LEN, NULL, rec, len,
                                               ad, sizeof(ad), NULL, b,
                                               kr->sec->meta);
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
