/*
 * tests/lib/g1scan.c: the G1 corpus and scanner (see g1scan.h).
 *
 * Windows are hashed with a polynomial rolling hash mod 2^64 and kept in
 * an open-addressing table with where each came from, so a hit is checked
 * byte for byte before it is reported.
 */
#include "tests/lib/g1scan.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"

#define BASE 0x100000001b3ull
#define MAX_OBJ 16
#define MAX_SECRET 16
#define MIN_NAME_HIT 5

struct slot {
    uint64_t h; /* 0: empty (a real 0 hash is stored as 1) */
    uint32_t obj, off;
};

struct blob {
    char *label;
    uint8_t *b;
    size_t len;
};

struct g1_corpus {
    size_t n;
    struct blob obj[MAX_OBJ]; /* label = object name */
    size_t nsecret;
    struct blob secret[MAX_SECRET];
    struct slot *tab;
    size_t mask;
    uint64_t top; /* BASE^(G1_WINDOW-1) */
};

static const char *const markers[] = {
    "SV-MARKER-CONFIDENTIAL-0001",
    "SV-MARKER-BOARD-MINUTES-ACQUISITION",
    "passport:X1234567",
};

static void add_obj(struct g1_corpus *c, const char *name, uint8_t *b,
                    size_t len)
{
    cr_assert(c->n < MAX_OBJ);
    c->obj[c->n].label = strdup(name);
    c->obj[c->n].b = b;
    c->obj[c->n].len = len;
    c->n++;
}

/* Text with every marker every ~1000 bytes. */
static uint8_t *marked_text(size_t len, uint64_t seed)
{
    static const char *const words[] = {
        "the ",    "board ",  "agreed ", "to ",        "acquire ", "shares ",
        "of ",     "wanted ", "in ",     "the ",       "quarter ", "while ",
        "users ",  "photos ", "remain ", "private; ",  "minutes ", "follow. ",
    };
    uint8_t *b = malloc(len + 64);
    size_t o = 0, next = 0, mi = 0;

    cr_assert(b);
    while (o < len) {
        const char *w;

        if (o >= next) {
            w = markers[mi++ % (sizeof(markers) / sizeof(markers[0]))];
            next = o + 1000;
        } else {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            w = words[(seed >> 33) % (sizeof(words) / sizeof(words[0]))];
        }
        size_t wl = strlen(w);

        memcpy(b + o, w, o + wl <= len ? wl : len - o);
        o += wl;
    }
    return b;
}

static int uniform(const uint8_t *p)
{
    size_t i;

    for (i = 1; i < G1_WINDOW; i++)
        if (p[i] != p[0])
            return 0;
    return 1;
}

static uint64_t hash_window(const uint8_t *p)
{
    uint64_t h = 0;
    size_t i;

    for (i = 0; i < G1_WINDOW; i++)
        h = h * BASE + p[i];
    return h;
}

static void tab_put(struct g1_corpus *c, uint64_t h, uint32_t obj,
                    uint32_t off)
{
    size_t i;

    h = h ? h : 1;
    for (i = h & c->mask; c->tab[i].h; i = (i + 1) & c->mask)
        if (c->tab[i].h == h)
            return; /* the same window (or a collision) is there already */
    c->tab[i].h = h;
    c->tab[i].obj = obj;
    c->tab[i].off = off;
}

static void build_table(struct g1_corpus *c)
{
    size_t total = 0, size = 1024, i, off;

    for (i = 0; i < c->n; i++)
        total += c->obj[i].len;
    while (size < 2 * total)
        size <<= 1;
    c->tab = calloc(size, sizeof(*c->tab));
    cr_assert(c->tab);
    c->mask = size - 1;
    c->top = 1;
    for (i = 1; i < G1_WINDOW; i++)
        c->top *= BASE;
    for (i = 0; i < c->n; i++)
        for (off = 0; off + G1_WINDOW <= c->obj[i].len; off++)
            if (!uniform(c->obj[i].b + off))
                tab_put(c, hash_window(c->obj[i].b + off), (uint32_t)i,
                        (uint32_t)off);
}

struct g1_corpus *g1_corpus_new(size_t segsize)
{
    struct g1_corpus *c = calloc(1, sizeof(*c));
    uint8_t *b;
    size_t i, len;

    cr_assert(c);
    cr_assert_eq(sodium_init() >= 0, 1);
    /* several segments of text with markers */
    len = 3 * segsize + 333;
    add_obj(c, "board/minutes-2024-q3-acquisition.txt", marked_text(len, 1),
            len);
    /* a 4 KiB random block repeated: an ECB-like leak would show */
    len = 40 * 4096;
    b = malloc(len);
    cr_assert(b);
    tu_fill(b, 4096, 77);
    for (i = 1; i < 40; i++)
        memcpy(b + i * 4096, b, 4096);
    add_obj(c, "repeated/block-x40.bin", b, len);
    /* random bytes, exactly two segments */
    len = 2 * segsize;
    add_obj(c, "photos/holiday/IMG_0001.jpg", tu_bytes(len, 5), len);
    /* a short text, one segment */
    len = 5000;
    add_obj(c, "users/alice@example.com/passport-scan.txt",
            marked_text(len, 9), len);
    /* zeros (its windows are uniform: only its name is looked for) */
    len = 20000;
    b = calloc(1, len);
    cr_assert(b);
    add_obj(c, "zeros/sparse-disk-image.raw", b, len);
    /* empty */
    add_obj(c, "empty/placeholder-object", calloc(1, 1), 0);
    build_table(c);
    return c;
}

void g1_corpus_free(struct g1_corpus *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; i < c->n; i++) {
        free(c->obj[i].label);
        free(c->obj[i].b);
    }
    for (i = 0; i < c->nsecret; i++) {
        free(c->secret[i].label);
        sodium_memzero(c->secret[i].b, c->secret[i].len);
        free(c->secret[i].b);
    }
    free(c->tab);
    free(c);
}

size_t g1_count(const struct g1_corpus *c)
{
    return c->n;
}

const char *g1_name(const struct g1_corpus *c, size_t i)
{
    return c->obj[i].label;
}

const uint8_t *g1_data(const struct g1_corpus *c, size_t i, size_t *len)
{
    *len = c->obj[i].len;
    return c->obj[i].b;
}

void g1_add_secret(struct g1_corpus *c, const char *label, const void *buf,
                   size_t len)
{
    cr_assert(c->nsecret < MAX_SECRET && len > 0);
    c->secret[c->nsecret].label = strdup(label);
    c->secret[c->nsecret].b = malloc(len);
    cr_assert(c->secret[c->nsecret].b);
    memcpy(c->secret[c->nsecret].b, buf, len);
    c->secret[c->nsecret].len = len;
    c->nsecret++;
}

static unsigned hit(unsigned found, char *why, size_t cap, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
static unsigned hit(unsigned found, char *why, size_t cap, const char *fmt,
                    ...)
{
    va_list ap;

    if (!found) {
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return found + 1;
}

unsigned g1_scan(const struct g1_corpus *c, const char *where,
                 const uint8_t *buf, size_t len, char *why, size_t cap)
{
    unsigned found = 0;
    uint64_t h = 0;
    size_t i, off;

    for (i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
        if (memmem(buf, len, markers[i], strlen(markers[i])))
            found = hit(found, why, cap, "%s holds marker '%s'", where,
                        markers[i]);
    for (i = 0; i < c->n; i++) {
        const char *nm = c->obj[i].label, *base = strrchr(nm, '/');

        if (memmem(buf, len, nm, strlen(nm)))
            found = hit(found, why, cap, "%s holds object name '%s'", where,
                        nm);
        else if (base && strlen(base + 1) >= MIN_NAME_HIT &&
                 memmem(buf, len, base + 1, strlen(base + 1)))
            found = hit(found, why, cap, "%s holds the base name of '%s'",
                        where, nm);
    }
    for (i = 0; i < c->nsecret; i++)
        if (memmem(buf, len, c->secret[i].b, c->secret[i].len))
            found = hit(found, why, cap, "%s holds %s", where,
                        c->secret[i].label);
    if (len < G1_WINDOW)
        return found;
    h = hash_window(buf);
    for (off = 0;; off++) {
        uint64_t k = h ? h : 1;
        size_t j;

        for (j = k & c->mask; c->tab[j].h; j = (j + 1) & c->mask) {
            const struct slot *s = &c->tab[j];

            if (s->h == k && !uniform(buf + off) &&
                !memcmp(buf + off, c->obj[s->obj].b + s->off, G1_WINDOW)) {
                found = hit(found, why, cap,
                            "%s at byte %zu holds plaintext of '%s' (its "
                            "bytes %u..%u)",
                            where, off, c->obj[s->obj].label, s->off,
                            s->off + G1_WINDOW - 1);
                break;
            }
        }
        if (off + G1_WINDOW >= len)
            break;
        h = (h - buf[off] * c->top) * BASE + buf[off + G1_WINDOW];
    }
    return found;
}

static int is_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

#define DIGEST_HEX_PREFIX 12

/* Does key hold the first DIGEST_HEX_PREFIX hex digits of digest d? */
static int holds_digest(const char *key, const uint8_t *d, size_t dlen)
{
    char hx[2 * 64 + 1];

    sodium_bin2hex(hx, sizeof(hx), d, dlen);
    hx[DIGEST_HEX_PREFIX] = '\0';
    return strstr(key, hx) != NULL;
}

int g1_check_key(const struct g1_corpus *c, const char *prefix,
                 const char *key, const uint8_t (*oids)[16], size_t noid,
                 char *why, size_t cap)
{
    size_t plen = prefix ? strlen(prefix) : 0, i;
    const char *k = key;
    uint8_t d[64];

    if (plen) {
        if (strncmp(k, prefix, plen) || k[plen] != '/') {
            snprintf(why, cap, "key '%s' does not start with '%s/'", key,
                     prefix);
            return 1;
        }
        k += plen + 1;
    }
    if (strlen(k) != 2 + 1 + 32 || k[2] != '/' || !is_hex(k, 2) ||
        !is_hex(k + 3, 32)) {
        snprintf(why, cap, "key '%s' is not <2 hex>/<32 hex>", key);
        return 1;
    }
    for (i = 0; i < c->n; i++) {
        const char *nm = c->obj[i].label;

        if (strstr(key, nm)) {
            snprintf(why, cap, "key '%s' holds object name '%s'", key, nm);
            return 1;
        }
        crypto_generichash(d, 32, (const uint8_t *)nm, strlen(nm), NULL, 0);
        if (holds_digest(key, d, 32))
            goto digest;
        crypto_hash_sha256(d, (const uint8_t *)nm, strlen(nm));
        if (holds_digest(key, d, 32))
            goto digest;
        crypto_hash_sha512(d, (const uint8_t *)nm, strlen(nm));
        if (holds_digest(key, d, 64))
            goto digest;
        continue;
digest:
        snprintf(why, cap, "key '%s' holds a digest of object name '%s'",
                 key, nm);
        return 1;
    }
    for (i = 0; i < noid; i++) {
        if (holds_digest(key, oids[i], 16)) {
            snprintf(why, cap, "key '%s' holds an object id", key);
            return 1;
        }
    }
    return 0;
}

int g1_check_holders(const char *const *holder, unsigned n, unsigned k,
                     unsigned m, char *why, size_t cap)
{
    unsigned i, j, cnt;

    for (i = 0; i < n; i++) {
        cnt = 0;
        for (j = 0; j < n; j++)
            cnt += !strcmp(holder[i], holder[j]);
        if (cnt >= k || cnt > m) {
            snprintf(why, cap, "%s holds %u of the %u shards of a segment "
                     "(k=%u m=%u)", holder[i], cnt, n, k, m);
            return 1;
        }
    }
    return 0;
}
