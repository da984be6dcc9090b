/*
 * engine/config.c: load and validate the vault's INI configuration.
 *
 * inih does the parsing (ini_parse_stream); this file feeds it lines and
 * interprets what it reports. The reader is where the line numbers come
 * from (the Debian inih has no lineno handler) and it does three small
 * things on the way: it refuses control characters and over-long lines
 * (inih would silently split them), it drops leading blanks (so inih never
 * sees a continuation line and every line stands alone), and after each
 * section header it hands inih one extra line, MARKER = x, so the handler
 * learns when a section starts, even an empty one (this inih cannot call
 * the handler on a new section). inih counts the extra lines, so its error
 * line numbers go through call_line[] back to real lines.
 *
 * Every refusal names "file:line" and the reason; the first one wins.
 * Cross-field checks (k + m, write_quorum, the policy) run after the parse.
 */
#include "engine/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/log.h"
#include "engine/placement.h"
#include "engine/seal.h"

#define MARKER       "\x01"
#define CFG_MAX_FILE (1u << 20)
#define NAME_MAX_LEN 32
#define SEG_MIN      4096u
#define SEG_MAX      (1u << 30)

enum sect { S_NONE, S_VAULT, S_POLICY, S_REPAIR, S_PROVIDER, S_BAD };

static const char *const sect_name[] = {"",       "vault",    "policy",
                                        "repair", "provider", ""};

enum kind {
    K_UINT,     /* unsigned, within [min, max] */
    K_SEGSIZE,  /* uint32_t size: multiple of 64, 4K..1G */
    K_SIZE,     /* uint64_t bytes */
    K_DUR,      /* uint64_t seconds, >= min */
    K_DOUBLE,   /* double >= 0 (> 0 when min is 1) */
    K_PROB,     /* double in [0, 1] */
    K_STR,      /* char *, not empty */
    K_TYPE,     /* char *, a known backend */
    K_PATH,     /* char *, resolved against the vault directory */
    K_CIPHER,   /* int, enum sv_cipher */
    K_PREFIX,   /* char *, shard name prefix */
    K_CURRENCY, /* char *, three capital letters */
};

struct key_def {
    enum sect sect; /* S_PROVIDER: a common provider key */
    const char *name;
    enum kind kind;
    size_t off; /* into struct sv_config, or struct sv_prov_conf */
    uint64_t min, max;
};

#define CF(f) offsetof(struct sv_config, f)
#define PF(f) offsetof(struct sv_prov_conf, f)

static const struct key_def keys[] = {
    {S_VAULT, "k", K_UINT, CF(k), 1, 254},
    {S_VAULT, "m", K_UINT, CF(m), 1, 254},
    {S_VAULT, "segment_size", K_SEGSIZE, CF(segment_size), 0, 0},
    {S_VAULT, "cipher", K_CIPHER, CF(cipher), 0, 0},
    {S_VAULT, "key_file", K_PATH, CF(key_file), 0, 0},
    {S_VAULT, "key_command", K_STR, CF(key_command), 0, 0},
    {S_VAULT, "shard_prefix", K_PREFIX, CF(shard_prefix), 0, 0},
    {S_VAULT, "currency", K_CURRENCY, CF(currency), 0, 0},
    {S_POLICY, "max_per_provider", K_UINT, CF(max_per_provider), 1, 255},
    {S_POLICY, "max_per_owner", K_UINT, CF(max_per_owner), 1, 255},
    {S_POLICY, "max_per_jurisdiction", K_UINT, CF(max_per_jurisdiction), 1,
     255},
    {S_POLICY, "write_quorum", K_UINT, CF(write_quorum), 1, 255},
    {S_REPAIR, "grace_period", K_DUR, CF(grace_period), 0, 0},
    {S_REPAIR, "scrub_period", K_DUR, CF(scrub_period), 1, 0},
    {S_REPAIR, "scrub_bytes_per_pass", K_SIZE, CF(scrub_bytes_per_pass), 0, 0},
    {S_REPAIR, "max_bytes_per_sec", K_SIZE, CF(max_bytes_per_sec), 0, 0},
    {S_REPAIR, "jobs", K_UINT, CF(repair_jobs), 1, 1024},
    {S_REPAIR, "interval", K_DUR, CF(repair_interval), 1, 0},
    {S_REPAIR, "reprotect_hours", K_DOUBLE, CF(reprotect_hours), 1, 0},
    {S_PROVIDER, "type", K_TYPE, PF(type), 0, 0},
    {S_PROVIDER, "owner", K_STR, PF(owner), 0, 0},
    {S_PROVIDER, "jurisdiction", K_STR, PF(jurisdiction), 0, 0},
    {S_PROVIDER, "quota", K_SIZE, PF(quota), 0, 0},
    {S_PROVIDER, "weight", K_DOUBLE, PF(weight), 1, 0},
    {S_PROVIDER, "price_storage", K_DOUBLE, PF(price_storage), 0, 0},
    {S_PROVIDER, "price_egress", K_DOUBLE, PF(price_egress), 0, 0},
    {S_PROVIDER, "price_request", K_DOUBLE, PF(price_request), 0, 0},
    {S_PROVIDER, "annual_loss", K_PROB, PF(annual_loss), 0, 0},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct parser {
    struct sv_config *cfg;
    const char *where; /* the file name in messages */
    const char *text;
    size_t len, pos;
    int line;       /* real line of the last line read */
    int call;       /* reader calls so far: inih's line numbers */
    int *call_line; /* inih line -> real line */
    size_t ncall;   /* allocated entries of call_line */
    int marker_pending;
    int stop;
    enum sect sect;
    size_t cur; /* provider being read, when sect == S_PROVIDER */
    int sect_line[S_PROVIDER]; /* header lines of [vault] [policy] [repair] */
    int key_line[NKEYS];       /* where each global key was set */
    /* The first refusal. */
    enum sv_err err;
    int err_call, err_line;
    char msg[640];
};

static int fail_at(struct parser *ps, int call, int line, enum sv_err e,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail_at(struct parser *ps, int call, int line, enum sv_err e,
                   const char *fmt, ...)
{
    va_list ap;

    if (ps->err)
        return 0;
    ps->err = e;
    ps->err_call = call;
    ps->err_line = line;
    va_start(ap, fmt);
    vsnprintf(ps->msg, sizeof(ps->msg), fmt, ap);
    va_end(ap);
    return 0;
}

/* A refusal of the line inih is handling now. */
#define FAIL(ps, ...)                                                          \
    fail_at(ps, (ps)->call, (ps)->line, SV_CONFIG, __VA_ARGS__)

/* ---- numbers ------------------------------------------------------------ */

/* digits [ "." digits ]: whole part, then the fraction as num / den (up to
 * nine decimals are kept). Returns the first unread character, or NULL. */
static const char *parse_decimal(const char *s, uint64_t *whole, uint64_t *num,
                                 uint64_t *den)
{
    int digits = 0;

    *whole = 0;
    *num = 0;
    *den = 1;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        uint64_t d = (uint64_t)(*s - '0');

        if (*whole > (UINT64_MAX - d) / 10)
            return NULL;
        *whole = *whole * 10 + d;
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
            if (*den < 1000000000u) {
                *num = *num * 10 + (uint64_t)(*s - '0');
                *den *= 10;
            }
        }
    }
    return digits ? s : NULL;
}

/* whole.frac times unit, rounded down; 0 on overflow. */
static int scale(uint64_t whole, uint64_t num, uint64_t den, uint64_t unit,
                 uint64_t *out)
{
    uint64_t part;

    if (whole && unit > UINT64_MAX / whole)
        return 0;
    /* unit / den * num + (unit % den) * num / den, without overflow: num <
     * den <= 1e9, so (unit % den) * num < 1e18. */
    part = unit / den * num + (unit % den) * num / den;
    if (whole * unit > UINT64_MAX - part)
        return 0;
    *out = whole * unit + part;
    return 1;
}

enum sv_err sv_parse_size(const char *s, uint64_t *out)
{
    static const char units[] = "KMGTPE";
    uint64_t whole, num, den, unit = 1, v;
    const char *p, *u;

    if (!s || !out)
        return sv_err_set(SV_INVAL, "size: no text given");
    p = parse_decimal(s, &whole, &num, &den);
    if (!p)
        goto bad;
    while (*p == ' ')
        p++;
    if (*p && (u = strchr(units, *p & ~0x20)) != NULL) {
        unit = 1ULL << (10 * (u - units + 1));
        p++;
        if (*p == 'i' && p[1] == 'B')
            p += 2;
        else if (*p == 'B')
            p++;
    } else if (*p == 'B') {
        p++;
    }
    if (*p)
        goto bad;
    if (unit == 1 && num)
        return sv_err_set(SV_INVAL, "size '%.64s': a fraction of a byte", s);
    if (!scale(whole, num, den, unit, &v))
        return sv_err_set(SV_INVAL, "size '%.64s': too large", s);
    *out = v;
    return SV_OK;
bad:
    return sv_err_set(SV_INVAL,
                      "size '%.64s': expected a number with an optional unit "
                      "K, M, G, T, P or E (powers of 1024)",
                      s);
}

enum sv_err sv_parse_duration(const char *s, uint64_t *out)
{
    static const struct {
        char c;
        uint64_t secs;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
    uint64_t whole, num, den, unit = 1, v;
    const char *p;
    size_t i;

    if (!s || !out)
        return sv_err_set(SV_INVAL, "duration: no text given");
    p = parse_decimal(s, &whole, &num, &den);
    if (!p)
        goto bad;
    while (*p == ' ')
        p++;
    if (*p) {
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (*p == units[i].c)
                break;
        if (i == sizeof(units) / sizeof(units[0]) || p[1])
            goto bad;
        unit = units[i].secs;
    }
    if (unit == 1 && num)
        return sv_err_set(SV_INVAL, "duration '%.64s': a fraction of a second",
                          s);
    if (!scale(whole, num, den, unit, &v))
        return sv_err_set(SV_INVAL, "duration '%.64s': too long", s);
    *out = v;
    return SV_OK;
bad:
    return sv_err_set(SV_INVAL,
                      "duration '%.64s': expected a number of seconds or a "
                      "number with a unit s, m, h, d or w (90s, 15m, 1h, 30d)",
                      s);
}

static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t whole, num, den;
    const char *p = parse_decimal(s, &whole, &num, &den);

    if (!p || *p || strchr(s, '.'))
        return 0;
    *out = whole;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '+'))
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* ---- names -------------------------------------------------------------- */

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* 1..NAME_MAX_LEN characters of [A-Za-z0-9._-], not starting with '.' or
 * '-' (no hidden files, nothing that looks like an option). */
static int valid_name(const char *s, size_t len)
{
    if (!len || len > NAME_MAX_LEN || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_char(s[i]))
            return 0;
    return 1;
}

/* ---- setting values ----------------------------------------------------- */

static char *join_path(const char *dir, const char *path)
{
    char *out;

    if (path[0] == '/')
        return strdup(path);
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        return NULL;
    return out;
}

static int set_string(struct parser *ps, char **field, const char *value)
{
    char *copy = strdup(value);

    if (!copy)
        return fail_at(ps, ps->call, ps->line, SV_NOMEM, "out of memory");
    free(*field);
    *field = copy;
    return 1;
}

/* Interpret value for def into base + def->off; 0 (after FAIL) if bad.
 * pre starts every message (the provider, or ""). */
static int set_value(struct parser *ps, const struct key_def *def, char *base,
                     const char *pre, const char *key, const char *value)
{
    void *field = base + def->off;
    uint64_t u;
    double d;
    enum sv_cipher c;
    char *path;

    if (!*value)
        return FAIL(ps, "%s%s: no value given", pre, key);
    switch (def->kind) {
    case K_UINT:
        if (!parse_uint(value, &u))
            return FAIL(ps, "%s%s = %.64s: not a whole number", pre, key,
                        value);
        if (u < def->min || u > def->max)
            return FAIL(ps, "%s%s = %.64s: must be between %llu and %llu", pre,
                        key, value, (unsigned long long)def->min,
                        (unsigned long long)def->max);
        *(unsigned *)field = (unsigned)u;
        return 1;
    case K_SEGSIZE:
        if (sv_parse_size(value, &u))
            return FAIL(ps, "%s%s: %s", pre, key, sv_errmsg(SV_INVAL));
        if (u < SEG_MIN || u > SEG_MAX || u % 64)
            return FAIL(ps,
                        "%s%s = %.64s: must be a multiple of 64 bytes from 4K "
                        "to 1G",
                        pre, key, value);
        *(uint32_t *)field = (uint32_t)u;
        return 1;
    case K_SIZE:
        if (sv_parse_size(value, &u))
            return FAIL(ps, "%s%s: %s", pre, key, sv_errmsg(SV_INVAL));
        *(uint64_t *)field = u;
        return 1;
    case K_DUR:
        if (sv_parse_duration(value, &u))
            return FAIL(ps, "%s%s: %s", pre, key, sv_errmsg(SV_INVAL));
        if (u < def->min)
            return FAIL(ps, "%s%s = %.64s: must be at least %llu second%s", pre,
                        key, value, (unsigned long long)def->min,
                        def->min == 1 ? "" : "s");
        *(uint64_t *)field = u;
        return 1;
    case K_DOUBLE:
    case K_PROB:
        if (!parse_double(value, &d))
            return FAIL(ps, "%s%s = %.64s: not a number", pre, key, value);
        if (d < 0 || (def->min && d == 0))
            return FAIL(ps, "%s%s = %.64s: must be %s", pre, key, value,
                        def->min ? "greater than 0" : "0 or more");
        if (def->kind == K_PROB && d > 1)
            return FAIL(ps, "%s%s = %.64s: a probability is between 0 and 1",
                        pre, key, value);
        *(double *)field = d;
        return 1;
    case K_TYPE:
        if (!sv_provider_find(value))
            return FAIL(ps,
                        "%s%s = %.64s: unknown provider type (fs, s3 or "
                        "fault)",
                        pre, key, value);
        return set_string(ps, field, value);
    case K_STR:
        return set_string(ps, field, value);
    case K_PATH:
        path = join_path(ps->cfg->dir, value);
        if (!path)
            return fail_at(ps, ps->call, ps->line, SV_NOMEM, "out of memory");
        free(*(char **)field);
        *(char **)field = path;
        return 1;
    case K_CIPHER:
        if (sv_cipher_parse(value, &c))
            return FAIL(ps,
                        "%s%s = %.64s: unknown cipher (xchacha20poly1305 or "
                        "aes256gcm)",
                        pre, key, value);
        *(int *)field = (int)c;
        return 1;
    case K_PREFIX:
        if (!valid_name(value, strlen(value)))
            return FAIL(ps,
                        "%s%s = %.64s: 1 to %d characters of A-Z a-z 0-9 . _ - "
                        "not starting with . or -",
                        pre, key, value, NAME_MAX_LEN);
        return set_string(ps, field, value);
    case K_CURRENCY:
        if (strlen(value) != 3 || value[0] < 'A' || value[0] > 'Z' ||
            value[1] < 'A' || value[1] > 'Z' || value[2] < 'A' ||
            value[2] > 'Z')
            return FAIL(ps,
                        "%s%s = %.64s: a currency is three capital letters "
                        "(USD, EUR)",
                        pre, key, value);
        return set_string(ps, field, value);
    }
    return FAIL(ps, "%s%s: unhandled key", pre, key);
}

/* ---- the inih callbacks ------------------------------------------------- */

static const struct key_def *find_key(enum sect s, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].sect == s && !strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

static int add_provider(struct parser *ps, const char *name, size_t len)
{
    struct sv_config *cfg = ps->cfg;
    struct sv_prov_conf *pc, *grown;

    for (size_t i = 0; i < cfg->nprov; i++)
        if (strlen(cfg->prov[i].name) == len &&
            !memcmp(cfg->prov[i].name, name, len))
            return FAIL(ps, "duplicate provider \"%s\" (first at line %d)",
                        cfg->prov[i].name, cfg->prov[i].line);
    grown = realloc(cfg->prov, (cfg->nprov + 1) * sizeof(*grown));
    if (!grown)
        return fail_at(ps, ps->call, ps->line, SV_NOMEM, "out of memory");
    cfg->prov = grown;
    pc = &cfg->prov[cfg->nprov];
    memset(pc, 0, sizeof(*pc));
    pc->name = strndup(name, len);
    if (!pc->name)
        return fail_at(ps, ps->call, ps->line, SV_NOMEM, "out of memory");
    pc->weight = 1;
    pc->line = ps->line;
    ps->cur = cfg->nprov++;
    ps->sect = S_PROVIDER;
    return 1;
}

/* A section header: the marker line inih reported under the new section. */
static int on_section(struct parser *ps, const char *section)
{
    char buf[64];
    const char *s = section, *q, *end;
    size_t len;

    ps->sect = S_BAD;
    while (*s == ' ' || *s == '\t')
        s++;
    len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (strlen(section) >= 49) /* inih keeps 49 characters */
        return FAIL(ps, "section name [%.49s...] is too long", section);
    snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
    if (!buf[0])
        return FAIL(ps, "empty section name []");
    for (enum sect e = S_VAULT; e < S_PROVIDER; e++) {
        if (strcmp(buf, sect_name[e]))
            continue;
        if (ps->sect_line[e])
            return FAIL(ps, "duplicate section [%s] (first at line %d)", buf,
                        ps->sect_line[e]);
        ps->sect_line[e] = ps->line;
        ps->sect = e;
        return 1;
    }
    if (strncmp(buf, "provider", 8) || (buf[8] != ' ' && buf[8] != '\t'))
        return FAIL(ps,
                    "unknown section [%s] (expected [vault], [policy], "
                    "[repair] or [provider \"NAME\"])",
                    buf);
    q = buf + 9;
    while (*q == ' ' || *q == '\t')
        q++;
    end = *q == '"' ? strchr(q + 1, '"') : NULL;
    if (!end || end[1])
        return FAIL(ps, "section [%s]: expected [provider \"NAME\"]", buf);
    if (!valid_name(q + 1, (size_t)(end - q - 1)))
        return FAIL(ps,
                    "section [%s]: a provider name is 1 to %d characters of "
                    "A-Z a-z 0-9 . _ - not starting with . or -",
                    buf, NAME_MAX_LEN);
    return add_provider(ps, q + 1, (size_t)(end - q - 1));
}

static int on_provider_key(struct parser *ps, const char *name,
                           const char *value)
{
    struct sv_prov_conf *pc = &ps->cfg->prov[ps->cur];
    const struct key_def *def;
    struct sv_kv *grown, *kv;
    char pre[NAME_MAX_LEN + 16];

    for (size_t i = 0; i < pc->nkv; i++)
        if (!strcmp(pc->kv[i].key, name))
            return FAIL(ps,
                        "provider \"%s\": duplicate key '%s' (first at "
                        "line %d)",
                        pc->name, name, pc->kv[i].line);
    grown = realloc(pc->kv, (pc->nkv + 1) * sizeof(*grown));
    if (!grown)
        return fail_at(ps, ps->call, ps->line, SV_NOMEM, "out of memory");
    pc->kv = grown;
    kv = &pc->kv[pc->nkv];
    kv->key = strdup(name);
    kv->value = strdup(value);
    kv->line = ps->line;
    pc->nkv++;
    if (!kv->key || !kv->value)
        return fail_at(ps, ps->call, ps->line, SV_NOMEM, "out of memory");
    def = find_key(S_PROVIDER, name);
    if (!def) /* the backend's own key: checked once the type is known */
        return 1;
    snprintf(pre, sizeof(pre), "provider \"%s\": ", pc->name);
    return set_value(ps, def, (char *)pc, pre, name, value);
}

static int on_entry(void *user, const char *section, const char *name,
                    const char *value)
{
    struct parser *ps = user;
    const struct key_def *def;
    size_t idx;

    if (ps->err)
        return 1; /* the first refusal is the one reported */
    if (!strcmp(name, MARKER))
        return on_section(ps, section);
    switch (ps->sect) {
    case S_NONE:
        return FAIL(ps, "key '%s' outside any section", name);
    case S_BAD:
        return 1;
    case S_PROVIDER:
        return on_provider_key(ps, name, value);
    case S_VAULT:
    case S_POLICY:
    case S_REPAIR:
        break;
    }
    def = find_key(ps->sect, name);
    if (!def)
        return FAIL(ps, "unknown key '%s' in [%s]", name, sect_name[ps->sect]);
    idx = (size_t)(def - keys);
    if (ps->key_line[idx])
        return FAIL(ps, "duplicate key '%s' (first at line %d)", name,
                    ps->key_line[idx]);
    ps->key_line[idx] = ps->line;
    return set_value(ps, def, (char *)ps->cfg, "", name, value);
}

static int note_call(struct parser *ps)
{
    if ((size_t)ps->call + 1 >= ps->ncall) {
        size_t n = ps->ncall ? 2 * ps->ncall : 256;
        int *grown = realloc(ps->call_line, n * sizeof(*grown));

        if (!grown) {
            fail_at(ps, ps->call + 1, ps->line, SV_NOMEM, "out of memory");
            ps->stop = 1;
            return 0;
        }
        ps->call_line = grown;
        ps->ncall = n;
    }
    ps->call_line[++ps->call] = ps->line;
    return 1;
}

/* fgets for inih over the text; see the top of the file. */
static char *reader(char *str, int num, void *stream)
{
    struct parser *ps = stream;
    const char *s, *e, *nl, *p;
    size_t n;

    if (ps->stop)
        return NULL;
    if (ps->marker_pending) {
        ps->marker_pending = 0;
        if (!note_call(ps))
            return NULL;
        snprintf(str, (size_t)num, "%s = x\n", MARKER);
        return str;
    }
    if (ps->pos >= ps->len || ps->err)
        return NULL;
    s = ps->text + ps->pos;
    nl = memchr(s, '\n', ps->len - ps->pos);
    e = nl ? nl : ps->text + ps->len;
    ps->pos = (size_t)(e - ps->text) + (nl != NULL);
    ps->line++;
    if (ps->line == 1 && e - s >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        s += 3;
    if (e > s && e[-1] == '\r')
        e--;
    for (p = s; p < e; p++) {
        unsigned char c = (unsigned char)*p;

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            fail_at(ps, ps->call + 1, ps->line, SV_CONFIG,
                    "control character 0x%02x in the line", c);
            ps->stop = 1;
            return NULL;
        }
    }
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    n = (size_t)(e - s);
    if (n + 2 > (size_t)num) {
        fail_at(ps, ps->call + 1, ps->line, SV_CONFIG,
                "line longer than %d characters", num - 2);
        ps->stop = 1;
        return NULL;
    }
    if (!note_call(ps))
        return NULL;
    if (n && *s == '[')
        ps->marker_pending = 1;
    memcpy(str, s, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
}

/* ---- after the parse ---------------------------------------------------- */

static int line_of(const struct parser *ps, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].sect != S_PROVIDER && !strcmp(keys[i].name, key))
            return ps->key_line[i];
    return 0;
}

int sv_config_common_prov_key(const char *key)
{
    return key && find_key(S_PROVIDER, key) != NULL;
}

static int key_allowed(const char *const *list, const char *key)
{
    for (; list && *list; list++) {
        size_t l = strlen(*list);

        if (l && (*list)[l - 1] == '*' ? !strncmp(*list, key, l - 1)
                                       : !strcmp(*list, key))
            return 1;
    }
    return 0;
}

static int check_provider(struct parser *ps, struct sv_prov_conf *pc)
{
    const struct sv_provider_ops *ops;

    if (!pc->type)
        return fail_at(ps, 0, pc->line, SV_CONFIG,
                       "provider \"%s\": no type (fs, s3 or fault)", pc->name);
    ops = sv_provider_find(pc->type);
    if (!ops)
        return fail_at(ps, 0, pc->line, SV_CONFIG,
                       "provider \"%s\": unknown type '%s'", pc->name,
                       pc->type);
    for (size_t i = 0; i < pc->nkv; i++)
        if (!find_key(S_PROVIDER, pc->kv[i].key) &&
            !key_allowed(ops->keys, pc->kv[i].key))
            return fail_at(ps, 0, pc->kv[i].line, SV_CONFIG,
                           "provider \"%s\": unknown key '%s' for type %s",
                           pc->name, pc->kv[i].key, pc->type);
    if (!pc->owner && !(pc->owner = strdup(pc->name)))
        return fail_at(ps, 0, 0, SV_NOMEM, "out of memory");
    if (!pc->jurisdiction && !(pc->jurisdiction = strdup(pc->name)))
        return fail_at(ps, 0, 0, SV_NOMEM, "out of memory");
    return 1;
}

static unsigned default_cap(unsigned k, unsigned m)
{
    unsigned c = k - 1 < m ? k - 1 : m;

    return c ? c : 1;
}

/* Defaults that depend on other keys, and the checks across keys. */
static int finish(struct parser *ps)
{
    struct sv_config *cfg = ps->cfg;
    unsigned n = cfg->k + cfg->m, cap = default_cap(cfg->k, cfg->m);
    int l;

    if (n > 255) {
        l = line_of(ps, "k") > line_of(ps, "m") ? line_of(ps, "k")
                                                : line_of(ps, "m");
        return fail_at(ps, 0, l, SV_CONFIG,
                       "k + m = %u: at most 255 shards per segment", n);
    }
    if (!cfg->max_per_provider)
        cfg->max_per_provider = cap;
    if (!cfg->max_per_owner)
        cfg->max_per_owner = cap;
    if (!cfg->max_per_jurisdiction)
        cfg->max_per_jurisdiction = cap;
    if (!cfg->write_quorum)
        cfg->write_quorum = cfg->k + 1 < n ? cfg->k + 1 : n;
    else if (cfg->write_quorum < cfg->k || cfg->write_quorum > n)
        return fail_at(ps, 0, line_of(ps, "write_quorum"), SV_CONFIG,
                       "write_quorum = %u: must be between k=%u and k+m=%u",
                       cfg->write_quorum, cfg->k, n);
    if (!cfg->key_file && !(cfg->key_file = join_path(cfg->dir, "vault.key")))
        return fail_at(ps, 0, 0, SV_NOMEM, "out of memory");
    if (!cfg->shard_prefix && !(cfg->shard_prefix = strdup("sv")))
        return fail_at(ps, 0, 0, SV_NOMEM, "out of memory");
    if (!cfg->currency && !(cfg->currency = strdup("USD")))
        return fail_at(ps, 0, 0, SV_NOMEM, "out of memory");
    for (size_t i = 0; i < cfg->nprov; i++)
        if (!check_provider(ps, &cfg->prov[i]))
            return 0;
    return 1;
}

static void set_defaults(struct sv_config *cfg)
{
    cfg->k = 4;
    cfg->m = 2;
    cfg->segment_size = 8u << 20;
    cfg->cipher = SV_CIPHER_XCHACHA20;
    cfg->grace_period = 3600;
    cfg->scrub_period = 30 * 86400;
    cfg->scrub_bytes_per_pass = 1ULL << 30;
    cfg->repair_jobs = 2;
    cfg->repair_interval = 300;
    cfg->reprotect_hours = 24;
}

/* Which real line a syntax error at inih's line call is on, and whether
 * that line is a section header (for the message). */
static const char *syntax_reason(const struct parser *ps, int line)
{
    const char *s = ps->text, *end = ps->text + ps->len;

    for (int l = 1; l < line && s < end; l++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));

        s = nl ? nl + 1 : end;
    }
    if (line == 1 && end - s >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        s += 3;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s < end && *s == '[' ? "section header without ']'"
                                : "expected [section] or key = value";
}

static enum sv_err check_policy_at(const struct sv_config *cfg,
                                   const unsigned char *usable,
                                   const char *where);

static void parser_fail_msg(struct parser *ps)
{
    if (ps->err_line > 0)
        sv_err_set(ps->err, "%s:%d: %s", ps->where, ps->err_line, ps->msg);
    else
        sv_err_set(ps->err, "%s: %s", ps->where, ps->msg);
}

enum sv_err sv_config_parse(const char *text, size_t len, const char *name,
                            const char *dir, struct sv_config **out)
{
    struct parser ps;
    struct sv_config *cfg = NULL;
    char where[512];
    int rc_ini, l;
    enum sv_err rc = SV_OK;

    if (!text || !out)
        return sv_err_set(SV_INVAL, "config: no text given");
    memset(&ps, 0, sizeof(ps));
    ps.where = name && *name ? name : "<config>";
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return sv_err_set(SV_NOMEM, "config %s: out of memory", ps.where);
    set_defaults(cfg);
    cfg->path = strdup(name ? name : "");
    cfg->dir = strdup(dir && *dir ? dir : ".");
    if (!cfg->path || !cfg->dir) {
        rc = sv_err_set(SV_NOMEM, "config %s: out of memory", ps.where);
        goto out;
    }
    ps.cfg = cfg;
    ps.text = text;
    ps.len = len;

    rc_ini = ini_parse_stream(reader, &ps, on_entry, &ps);
    if (rc_ini < 0 && !ps.err) {
        rc = sv_err_set(SV_NOMEM, "config %s: out of memory", ps.where);
        goto out;
    }
    /* The earliest complaint wins; on the same inih line, ours (inih only
     * recorded that line because our handler refused it). */
    if (rc_ini > 0 && (!ps.err || rc_ini < ps.err_call)) {
        l = (size_t)rc_ini < ps.ncall ? ps.call_line[rc_ini] : ps.line;
        rc = sv_err_set(SV_CONFIG, "%s:%d: %s", ps.where, l,
                        syntax_reason(&ps, l));
        goto out;
    }
    if (ps.err) {
        parser_fail_msg(&ps);
        rc = ps.err;
        goto out;
    }
    if (!finish(&ps)) {
        parser_fail_msg(&ps);
        rc = ps.err;
        goto out;
    }
    /* An infeasible policy: point at [policy], else [vault]. */
    l = ps.sect_line[S_POLICY] ? ps.sect_line[S_POLICY] : ps.sect_line[S_VAULT];
    if (l)
        snprintf(where, sizeof(where), "%s:%d", ps.where, l);
    else
        snprintf(where, sizeof(where), "%s", ps.where);
    rc = check_policy_at(cfg, NULL, where);
    if (rc)
        goto out;
    if (sv_log_enabled(SV_LOG_WARN)) {
        char why[512];

        if (!sv_config_guarantees(cfg, why, sizeof(why)))
            sv_warn("%s: %s", ps.where, why);
    }
out:
    free(ps.call_line);
    if (rc) {
        sv_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return SV_OK;
}

enum sv_err sv_config_load(const char *path, const char *dir,
                           struct sv_config **out)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    enum sv_err rc;
    int fd;

    if (!path || !out)
        return sv_err_set(SV_INVAL, "config: no file given");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_err_set(errno == ENOENT ? SV_NOTFOUND : SV_IO,
                          "config %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        rc = sv_err_set(SV_IO, "config %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sv_err_set(SV_CONFIG, "config %s: not a regular file", path);
        goto out;
    }
    if (st.st_size > CFG_MAX_FILE) {
        rc = sv_err_set(SV_CONFIG, "config %s: larger than %u bytes", path,
                        CFG_MAX_FILE);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = sv_err_set(SV_NOMEM, "config %s: out of memory", path);
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = sv_err_set(SV_IO, "config %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    rc = sv_config_parse(buf, got, path, dir, out);
out:
    free(buf);
    close(fd);
    return rc;
}

void sv_config_free(struct sv_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nprov; i++) {
        struct sv_prov_conf *pc = &cfg->prov[i];

        for (size_t j = 0; j < pc->nkv; j++) {
            free((char *)pc->kv[j].key);
            free((char *)pc->kv[j].value);
        }
        free(pc->kv);
        free(pc->name);
        free(pc->type);
        free(pc->owner);
        free(pc->jurisdiction);
    }
    free(cfg->prov);
    free(cfg->path);
    free(cfg->dir);
    free(cfg->key_file);
    free(cfg->key_command);
    free(cfg->shard_prefix);
    free(cfg->currency);
    free(cfg);
}

/* ---- the policy --------------------------------------------------------- */

/* The providers as placement sees them: weight 1 (weights do not change
 * what fits), usable as given. */
static struct sv_place_prov *place_provs(const struct sv_config *cfg,
                                         const unsigned char *usable)
{
    struct sv_place_prov *pp = calloc(cfg->nprov ? cfg->nprov : 1, sizeof(*pp));

    for (size_t i = 0; pp && i < cfg->nprov; i++) {
        pp[i].name = cfg->prov[i].name;
        pp[i].owner = cfg->prov[i].owner;
        pp[i].jurisdiction = cfg->prov[i].jurisdiction;
        pp[i].weight = 1;
        pp[i].usable = usable ? usable[i] != 0 : 1;
    }
    return pp;
}

static void config_caps(const struct sv_config *cfg, struct sv_place_caps *c)
{
    c->per_provider = cfg->max_per_provider;
    c->per_owner = cfg->max_per_owner;
    c->per_jurisdiction = cfg->max_per_jurisdiction;
}

static enum sv_err check_policy_at(const struct sv_config *cfg,
                                   const unsigned char *usable,
                                   const char *where)
{
    struct sv_place_prov *pp = NULL;
    struct sv_place_caps caps;
    unsigned n, most = 0;
    char why[320];
    enum sv_err rc;

    if (!cfg || (cfg->nprov && !cfg->prov))
        return sv_err_set(SV_INVAL, "config: no configuration given");
    n = cfg->k + cfg->m;
    if (!cfg->k || !cfg->m || n > 255)
        return sv_err_set(SV_INVAL, "%s: bad code parameters k=%u m=%u", where,
                          cfg->k, cfg->m);
    pp = place_provs(cfg, usable);
    if (!pp)
        return sv_err_set(SV_NOMEM, "%s: out of memory", where);
    config_caps(cfg, &caps);
    rc = sv_place_capacity(pp, cfg->nprov, &caps, NULL, 0, &most, why,
                           sizeof(why));
    if (rc) {
        rc = sv_err_wrap(rc, "%s: ", where);
        goto out;
    }
    if (most < n) {
        rc = sv_err_set(SV_POLICY,
                        "%s: %u shards per segment (k=%u m=%u) but %s", where,
                        n, cfg->k, cfg->m, why);
        goto out;
    }
    if (cfg->write_quorum < cfg->k || cfg->write_quorum > n)
        rc = sv_err_set(SV_POLICY,
                        "%s: write_quorum=%u is outside [k=%u, k+m=%u]", where,
                        cfg->write_quorum, cfg->k, n);
out:
    free(pp);
    return rc;
}

enum sv_err sv_config_check_policy(const struct sv_config *cfg,
                                   const unsigned char *usable)
{
    const char *where = cfg && cfg->path && *cfg->path ? cfg->path : "<config>";

    return check_policy_at(cfg, usable, where);
}

/* The most shards of one segment the providers flagged in pp can hold. */
static unsigned party_most(struct sv_place_prov *pp, size_t np,
                           const struct sv_place_caps *caps, unsigned n)
{
    unsigned most = 0;

    if (sv_place_capacity(pp, np, caps, NULL, 0, &most, NULL, 0))
        most = UINT_MAX; /* be pessimistic if it cannot be computed */
    return most < n ? most : n;
}

int sv_config_guarantees(const struct sv_config *cfg, char *why, size_t len)
{
    static const char *const kind[] = {"provider", "owner", "jurisdiction"};
    struct sv_place_prov *pp;
    struct sv_place_caps caps;
    unsigned n, cmost = 0, amost = 0;
    const char *cwho = NULL, *awho = NULL, *ckind = "", *akind = "";
    char buf[512];
    int w;

    if (why && len)
        why[0] = '\0';
    if (!cfg || !cfg->k || !cfg->m) {
        if (why && len)
            snprintf(why, len, "no valid configuration given");
        return 0;
    }
    n = cfg->k + cfg->m;
    pp = place_provs(cfg, NULL);
    if (!pp) {
        if (why && len)
            snprintf(why, len, "out of memory");
        return 0;
    }
    config_caps(cfg, &caps);
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < cfg->nprov; i++) {
            const char *me = t == 0   ? pp[i].name
                             : t == 1 ? pp[i].owner
                                      : pp[i].jurisdiction;
            unsigned most;

            for (size_t j = 0; j < cfg->nprov; j++) {
                const char *them = t == 0   ? pp[j].name
                                   : t == 1 ? pp[j].owner
                                            : pp[j].jurisdiction;

                pp[j].usable = !strcmp(me, them);
            }
            most = party_most(pp, cfg->nprov, &caps, n);
            if (most >= cfg->k && most > cmost) {
                cmost = most;
                cwho = me;
                ckind = kind[t];
            }
            if (most > cfg->m && most > amost) {
                amost = most;
                awho = me;
                akind = kind[t];
            }
        }
    }
    free(pp);
    if (!cwho && !awho)
        return 1;
    w = 0;
    buf[0] = '\0';
    if (cwho)
        w = snprintf(buf, sizeof(buf),
                     "confidentiality is not guaranteed: %s %s can hold %u "
                     "of the %u shards of a segment and k=%u rebuild it",
                     ckind, cwho, cmost, n, cfg->k);
    if (awho && w >= 0 && (size_t)w < sizeof(buf))
        snprintf(buf + w, sizeof(buf) - (size_t)w,
                 "%savailability is not guaranteed: %s %s can hold %u of the "
                 "%u shards of a segment, more than m=%u, so losing it loses "
                 "data",
                 cwho ? "; " : "", akind, awho, amost, n, cfg->m);
    if (why && len)
        snprintf(why, len, "%s", buf);
    return 0;
}

/* ---- the template ------------------------------------------------------- */

struct demo_prov {
    const char *name, *owner, *jur, *quota;
    double storage, egress, request, loss;
};

static const struct demo_prov demo[] = {
    {"tel-cn-1", "CN Telecom", "CN", "500G", 0.008, 0.050, 0.0040, 0.030},
    {"tel-cn-2", "CN Telecom", "CN", "250G", 0.008, 0.050, 0.0040, 0.050},
    {"aws-us-1", "AWS", "US", "2T", 0.023, 0.090, 0.0050, 0.001},
    {"aws-us-2", "AWS", "US", "2T", 0.0125, 0.090, 0.0100, 0.002},
    {"ovh-eu-1", "OVH", "EU", "100G", 0.007, 0.011, 0.0000, 0.010},
    {"ovh-eu-2", "OVH", "EU", "100G", 0.007, 0.011, 0.0000, 0.020},
};

static const char demo_head[] =
    "; shardvault vault configuration (for the vault in %s).\n"
    ";\n"
    "; Lines are `key = value`. A line starting with ';' or '#' is a comment,\n"
    "; and ' ;' starts a comment after a value. Sizes take powers of 1024\n"
    "; (4K, 8M, 1.5G, 10T); durations take s, m, h, d or w (90s, 15m, 1h,\n"
    "; 30d). Relative paths resolve against the vault directory. An unknown\n"
    "; key or a bad value is refused with the file and line.\n"
    "\n"
    "[vault]\n"
    "; Every segment of an object is sealed, then cut into k data shards and\n"
    "; m parity shards: any k of the k + m rebuild it, so m providers may be\n"
    "; lost at once.\n"
    "k = 4\n"
    "m = 2\n"
    "; Plaintext per segment: a multiple of 64 bytes, from 4K to 1G.\n"
    "segment_size = 8M\n"
    "; AEAD for the data: xchacha20poly1305, or aes256gcm (AES-NI CPUs).\n"
    "cipher = xchacha20poly1305\n"
    "; The root key file (mode 0600). Keep a copy away from every provider.\n"
    "; key_file = vault.key\n"
    "; Or read the key file text from a command (an external key store):\n"
    "; key_command = pass show shardvault/vault.key\n"
    "; First part of every shard name on the providers.\n"
    "shard_prefix = sv\n"
    "; Currency of the prices below, for the report.\n"
    "currency = USD\n"
    "\n"
    "[policy]\n"
    "; The most shards of one segment that one provider, one owner (company)\n"
    "; and one jurisdiction may hold. The default, min(k-1, m), keeps both\n"
    "; promises: no single party holds enough shards to rebuild a segment,\n"
    "; and losing any one party loses at most m of them.\n"
    "; max_per_provider = 2\n"
    "; max_per_owner = 2\n"
    "; max_per_jurisdiction = 2\n"
    "; A put succeeds once this many of the k + m shards are stored; the\n"
    "; others go to the repair queue. Between k and k + m; default k + 1.\n"
    "; write_quorum = 5\n"
    "\n"
    "[repair]\n"
    "; How long a failing provider stays suspect before it is declared down\n"
    "; and its shards are rebuilt elsewhere.\n"
    "grace_period = 1h\n"
    "; Every shard is read back and checked once per scrub period, reading\n"
    "; at most scrub_bytes_per_pass per daemon pass (0 = no limit).\n"
    "scrub_period = 30d\n"
    "scrub_bytes_per_pass = 1G\n"
    "; Repair bandwidth in bytes per second (0 = no limit).\n"
    "max_bytes_per_sec = 0\n"
    "; Segments rebuilt in parallel, and the pause between daemon passes.\n"
    "jobs = 2\n"
    "interval = 5m\n"
    "; For the report: hours to re-protect the data of a lost provider.\n"
    "reprotect_hours = 24\n"
    "\n"
    "; One section per provider. Keys every provider takes:\n"
    ";   type           fs (a local directory), s3, or fault (for tests)\n"
    ";   owner          the company that runs it (default: the name)\n"
    ";   jurisdiction   whose law applies to it (default: the name)\n"
    ";   quota          the most to store there (0 = no limit)\n"
    ";   weight         placement weight multiplier (default 1)\n"
    ";   price_storage  per GB-month       price_egress   per GB read out\n"
    ";   price_request  per 1000 requests  annual_loss    probability per\n"
    ";                  year that the provider loses everything (report)\n"
    "; fs takes path. s3 takes endpoint, bucket, region, credentials\n"
    "; (env:NAME reads NAME_ACCESS_KEY_ID and NAME_SECRET_ACCESS_KEY),\n"
    "; connect_timeout, timeout, max_connections and create_bucket.\n"
    ";\n"
    "; This demo uses six local directories standing in for six data\n"
    "; centres of three companies in three jurisdictions. A real one:\n"
    ";\n"
    "; [provider \"cn-telecom\"]\n"
    "; type = s3\n"
    "; endpoint = https://s3.example.cn\n"
    "; bucket = shards\n"
    "; region = cn-north-1\n"
    "; credentials = env:CNT\n"
    "; owner = China Telecom\n"
    "; jurisdiction = CN\n";

char *sv_config_default_text(const char *dir)
{
    char *text = NULL, *safe = NULL, *more;
    size_t size = 0;
    FILE *f;

    /* The directory only appears in a comment; keep it on one line. */
    safe = strdup(dir && *dir ? dir : ".");
    if (!safe)
        return NULL;
    for (char *p = safe; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    if (strlen(safe) > 100)
        strcpy(safe + 97, "...");
    f = open_memstream(&text, &size);
    if (!f)
        goto out;
    fprintf(f, demo_head, safe);
    for (size_t i = 0; i < sizeof(demo) / sizeof(demo[0]); i++)
        fprintf(f,
                "\n[provider \"%s\"]\n"
                "type = fs\n"
                "path = providers/%s\n"
                "owner = %s\n"
                "jurisdiction = %s\n"
                "quota = %s\n"
                "price_storage = %.4f\n"
                "price_egress = %.3f\n"
                "price_request = %.4f\n"
                "annual_loss = %.3f\n",
                demo[i].name, demo[i].name, demo[i].owner, demo[i].jur,
                demo[i].quota, demo[i].storage, demo[i].egress, demo[i].request,
                demo[i].loss);
    if (fclose(f)) {
        free(text);
        text = NULL;
    }
out:
    more = text;
    free(safe);
    return more;
}
