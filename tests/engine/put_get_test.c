/*
 * tests/engine/put_get_test.c: the engine's put and get paths end to end on
 * local directory providers (wrapped in the fault backend so failures can
 * be injected): round trips over sizes and codes, provider failure during
 * put (retry, substitution, quorum, below quorum), degraded and corrupt
 * reads, ranges, overwrite, rm, verify, cancel, crash recovery, and a
 * negative case for every public function.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/crashpoint.h"
#include "engine/shard.h"
#include "engine/shardvault.h"
#include "engine/vault.h"
#include "providers/fault.h"
#include "tests/lib/testutil.h"

#define KIB 1024u
#define SEG (64u * KIB)

/* ---- helpers ---------------------------------------------------------- */

struct tv {
    char *tmp;
    char *dir;
    struct sv_vault *v;
};

/* Config text: nprov fault-over-fs providers p0.., each its own owner and
 * jurisdiction, plus extra lines for [policy]. */
static char *conf_text(unsigned k, unsigned m, unsigned nprov,
                       const char *segsize, const char *policy)
{
    size_t cap = 4096 + nprov * 256;
    char *t = malloc(cap);
    size_t n;
    unsigned i;

    cr_assert(t);
    n = (size_t)snprintf(t, cap, "[vault]\nk = %u\nm = %u\n", k, m);
    if (segsize)
        n += (size_t)snprintf(t + n, cap - n, "segment_size = %s\n", segsize);
    if (policy)
        n += (size_t)snprintf(t + n, cap - n, "\n[policy]\n%s\n", policy);
    for (i = 0; i < nprov; i++)
        n += (size_t)snprintf(t + n, cap - n,
                              "\n[provider \"p%u\"]\ntype = fault\n"
                              "path = providers/p%u\nowner = owner%u\n"
                              "jurisdiction = J%u\n",
                              i, i, i, i);
    return t;
}

static void tv_open(struct tv *t, unsigned jobs)
{
    struct sv_open_opts o = {0};
    enum sv_err rc;

    o.jobs = jobs;
    rc = sv_vault_open(t->dir, &o, &t->v);
    cr_assert_eq(rc, SV_OK, "open: %s", sv_errmsg(rc));
}

static void tv_make(struct tv *t, unsigned k, unsigned m, unsigned nprov,
                    const char *segsize, const char *policy)
{
    char *text = conf_text(k, m, nprov, segsize, policy);
    enum sv_err rc;

    memset(t, 0, sizeof(*t));
    t->tmp = tu_tmpdir("putget");
    cr_assert(t->tmp);
    cr_assert(asprintf(&t->dir, "%s/vault", t->tmp) > 0);
    rc = sv_vault_create(t->dir, text, 0, 0, &t->v);
    cr_assert_eq(rc, SV_OK, "create: %s", sv_errmsg(rc));
    free(text);
}

static void tv_close(struct tv *t)
{
    sv_vault_close(t->v);
    t->v = NULL;
}

static void tv_free(struct tv *t)
{
    tv_close(t);
    tu_rmrf(t->tmp);
    free(t->tmp);
    free(t->dir);
}

/* An in-memory fd holding len bytes, positioned at 0. */
static int mem_fd(const void *buf, size_t len)
{
    int fd = memfd_create("svtest", MFD_CLOEXEC);
    size_t off = 0;
    ssize_t w;

    cr_assert(fd >= 0);
    while (off < len) {
        w = write(fd, (const char *)buf + off, len - off);
        cr_assert(w > 0);
        off += (size_t)w;
    }
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static enum sv_err put_buf(struct sv_vault *v, const char *name,
                           const void *buf, size_t len,
                           struct sv_put_result *r)
{
    int fd = mem_fd(buf, len);
    enum sv_err rc = sv_put(v, name, fd, NULL, r);

    close(fd);
    return rc;
}

static void put_ok(struct sv_vault *v, const char *name, const void *buf,
                   size_t len)
{
    enum sv_err rc = put_buf(v, name, buf, len, NULL);

    cr_assert_eq(rc, SV_OK, "put %s (%zu): %s", name, len, sv_errmsg(rc));
}

/* Read [off, off+len) of name; *out malloc'd. */
static enum sv_err get_buf(struct sv_vault *v, const char *name, uint64_t off,
                           uint64_t len, uint8_t **out, size_t *outlen,
                           struct sv_get_stats *st)
{
    int fd = memfd_create("svout", MFD_CLOEXEC);
    enum sv_err rc;
    off_t size;
    uint8_t *b;

    cr_assert(fd >= 0);
    rc = sv_get(v, name, off, len, fd, st);
    size = lseek(fd, 0, SEEK_END);
    b = malloc(size ? (size_t)size : 1);
    cr_assert(b);
    cr_assert_eq(pread(fd, b, (size_t)size, 0), size);
    close(fd);
    *out = b;
    *outlen = (size_t)size;
    return rc;
}

static void get_eq(struct sv_vault *v, const char *name, const uint8_t *want,
                   size_t len)
{
    uint8_t *got;
    size_t glen;
    enum sv_err rc = get_buf(v, name, 0, SV_TO_END, &got, &glen, NULL);

    cr_assert_eq(rc, SV_OK, "get %s: %s", name, sv_errmsg(rc));
    cr_assert_eq(glen, len, "get %s: %zu bytes, want %zu", name, glen, len);
    cr_assert(!memcmp(got, want, len), "get %s: bytes differ", name);
    free(got);
}

static int count_key(void *ctx, const char *key, uint64_t size, int64_t mt)
{
    (void)key;
    (void)size;
    (void)mt;
    (*(uint64_t *)ctx)++;
    return 0;
}

/* Shards stored on provider i (listing the inner fs, no faults). */
static uint64_t shards_on(struct sv_vault *v, size_t i)
{
    struct sv_provider *p = sv_fault_inner(v->prov[i].p);
    uint64_t n = 0;
    enum sv_err rc;

    rc = sv_prov_list_all(p ? p : v->prov[i].p, v->cfg->shard_prefix,
                          count_key, &n);
    cr_assert_eq(rc, SV_OK, "list: %s", sv_errmsg(rc));
    return n;
}

static uint64_t shards_total(struct sv_vault *v)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < v->nprov; i++)
        n += shards_on(v, i);
    return n;
}

static int count_intent(void *ctx, const struct sv_intent *in)
{
    (void)in;
    (*(unsigned *)ctx)++;
    return 0;
}

static unsigned intents(struct sv_vault *v)
{
    unsigned n = 0;

    cr_assert_eq(sv_cat_intents_each(v->cat, count_intent, &n), SV_OK);
    return n;
}

static int count_repair(void *ctx, uint8_t good, const uint8_t *oid,
                        uint32_t seg)
{
    (void)good;
    (void)oid;
    (void)seg;
    (*(unsigned *)ctx)++;
    return 0;
}

static unsigned repairs(struct sv_vault *v)
{
    unsigned n = 0;

    cr_assert_eq(sv_cat_repair_each(v->cat, count_repair, &n), SV_OK);
    return n;
}

static struct sv_stat *stat_of(struct sv_vault *v, const char *name)
{
    struct sv_stat *s = NULL;
    enum sv_err rc = sv_stat(v, name, &s);

    cr_assert_eq(rc, SV_OK, "stat %s: %s", name, sv_errmsg(rc));
    return s;
}

static int prov_index(struct sv_vault *v, const char *name)
{
    size_t i;

    for (i = 0; i < v->nprov; i++)
        if (!strcmp(v->prov[i].conf->name, name))
            return (int)i;
    cr_assert_fail("no provider %s", name);
    return -1;
}

/* The file holding shard (oid, seg, idx) in the fs directory of the
 * provider the catalog names: found by its 32-hex basename. */
static const char *find_base;
static char found_path[4096];

static int find_cb(const char *path, const struct stat *sb, int flag,
                   struct FTW *ftw)
{
    (void)sb;
    if (flag == FTW_F && !strcmp(path + ftw->base, find_base)) {
        snprintf(found_path, sizeof(found_path), "%s", path);
        return 1;
    }
    return 0;
}

static char *shard_file(struct tv *t, const char *name, uint32_t seg,
                        unsigned idx)
{
    struct sv_stat *s = stat_of(t->v, name);
    char sname[SV_SHARD_NAME_MAX], *pdir;
    const char *prov = s->seg[seg].shard[idx].provider;

    sv_shard_name(t->v->kr, t->v->cfg->shard_prefix, s->obj.oid, seg, idx,
                  sname);
    find_base = strrchr(sname, '/') + 1;
    found_path[0] = '\0';
    cr_assert(asprintf(&pdir, "%s/providers/%s", t->dir, prov) > 0);
    nftw(pdir, find_cb, 16, FTW_PHYS);
    free(pdir);
    sv_stat_free(s);
    cr_assert(found_path[0], "shard %u/%u of %s not found", seg, idx, name);
    return strdup(found_path);
}

static void delete_shard(struct tv *t, const char *name, uint32_t seg,
                         unsigned idx)
{
    char *p = shard_file(t, name, seg, idx);

    cr_assert_eq(unlink(p), 0);
    free(p);
}

static void flip_shard(struct tv *t, const char *name, uint32_t seg,
                       unsigned idx, off_t at)
{
    char *p = shard_file(t, name, seg, idx);
    int fd = open(p, O_RDWR);
    uint8_t b;

    cr_assert(fd >= 0);
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
    free(p);
}

/* ---- round trips ---------------------------------------------------- */

Test(put_get, sizes_around_the_segment)
{
    static const size_t sizes[] = {0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 5};
    struct tv t;
    char name[32];
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *buf = tu_bytes(sizes[i], i + 1);
        struct sv_put_result r;
        struct sv_stat *s;
        uint32_t want = sizes[i] ? (uint32_t)((sizes[i] + SEG - 1) / SEG) : 1;

        snprintf(name, sizeof(name), "obj-%zu", sizes[i]);
        cr_assert_eq(put_buf(t.v, name, buf, sizes[i], &r), SV_OK, "%s",
                     sv_errmsg(SV_IO));
        cr_assert_eq(r.bytes, sizes[i]);
        cr_assert_eq(r.segments, want);
        cr_assert_eq(r.shards, want * 6);
        cr_assert_eq(r.shards_missing, 0);
        sv_put_result_release(&r);
        get_eq(t.v, name, buf, sizes[i]);
        s = stat_of(t.v, name);
        cr_assert_eq(s->obj.size, sizes[i]);
        cr_assert_eq(s->obj.nsegments, want);
        cr_assert_eq(s->nseg, want);
        cr_assert_eq(s->healthy, want);
        sv_stat_free(s);
        free(buf);
    }
    cr_assert_eq(intents(t.v), 0);
    cr_assert_eq(repairs(t.v), 0);
    tv_free(&t);
}

Test(put_get, one_hundred_mib_default_segments, .timeout = 120)
{
    size_t len = (size_t)100 << 20;
    uint8_t *buf = tu_bytes(len, 77);
    struct sv_put_result r;
    struct tv t;

    tv_make(&t, 4, 2, 6, NULL, NULL);
    cr_assert_eq(put_buf(t.v, "big", buf, len, &r), SV_OK);
    cr_assert_eq(r.segments, 13); /* 8 MiB segments */
    cr_assert_eq(r.shards, 13 * 6);
    sv_put_result_release(&r);
    get_eq(t.v, "big", buf, len);
    cr_assert_eq(shards_total(t.v), 13 * 6);
    free(buf);
    tv_free(&t);
}

Test(put_get, pipeline_depth_one_matches)
{
    size_t len = 5 * SEG + 17;
    uint8_t *buf = tu_bytes(len, 5);
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    tv_close(&t);
    tv_open(&t, 1);
    put_ok(t.v, "d1", buf, len);
    get_eq(t.v, "d1", buf, len);
    tv_close(&t);
    tv_open(&t, 2);
    get_eq(t.v, "d1", buf, len);
    free(buf);
    tv_free(&t);
}

/* Every code of the codec tests, with m shards lost in every segment. */
Test(put_get, every_code_with_m_lost)
{
    static const unsigned codes[][2] = {{2, 1}, {3, 2}, {4, 2}, {6, 3},
                                        {10, 4}};
    size_t c, len = 3 * SEG + SEG / 2;
    uint8_t *buf = tu_bytes(len, 9);

    for (c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
        unsigned k = codes[c][0], m = codes[c][1], n = k + m, j;
        struct tv t;
        uint32_t s;

        tv_make(&t, k, m, n + 1, "64K", NULL);
        put_ok(t.v, "obj", buf, len);
        cr_assert_eq(shards_total(t.v), 4 * n);
        get_eq(t.v, "obj", buf, len);
        /* lose m shards per segment: data ones in even segments */
        for (s = 0; s < 4; s++)
            for (j = 0; j < m; j++)
                delete_shard(&t, "obj", s, s % 2 ? n - 1 - j : j);
        get_eq(t.v, "obj", buf, len);
        tv_free(&t);
    }
    free(buf);
}

/* ---- provider failures during put ------------------------------------ */

Test(put_get, failing_provider_is_substituted)
{
    size_t len = 4 * SEG, i;
    uint8_t *buf = tu_bytes(len, 11);
    struct sv_put_result r;
    struct sv_stat *s;
    struct tv t;
    char name[32];
    int bad, tries;

    tv_make(&t, 4, 2, 7, "64K", NULL);
    bad = prov_index(t.v, "p3");
    cr_assert_eq(sv_fault_set(t.v->prov[bad].p, SV_FAULT_PUT, "every"),
                 SV_OK);
    /* placement is random per object: retry until p3 was picked */
    for (tries = 0; tries < 8; tries++) {
        snprintf(name, sizeof(name), "obj%d", tries);
        cr_assert_eq(put_buf(t.v, name, buf, len, &r), SV_OK, "%s",
                     sv_errmsg(SV_UNAVAIL));
        if (sv_fault_calls(t.v->prov[bad].p, SV_FAULT_PUT))
            break;
        sv_put_result_release(&r);
    }
    cr_assert(sv_fault_calls(t.v->prov[bad].p, SV_FAULT_PUT) > 0);
    cr_assert(r.substituted > 0);
    cr_assert_eq(r.shards, 4 * 6);
    cr_assert_eq(r.shards_missing, 0);
    cr_assert_eq(r.prov[bad].shards, 0);
    sv_put_result_release(&r);
    cr_assert_eq(shards_on(t.v, (size_t)bad), 0);
    s = stat_of(t.v, name);
    cr_assert_eq(s->healthy, 4);
    for (i = 0; i < s->nseg; i++) {
        unsigned j;

        for (j = 0; j < s->seg[i].n; j++)
            cr_assert_str_neq(s->seg[i].shard[j].provider, "p3");
    }
    sv_stat_free(s);
    cr_assert_eq(repairs(t.v), 0);
    cr_assert_eq(intents(t.v), 0);
    get_eq(t.v, name, buf, len);
    free(buf);
    tv_free(&t);
}

Test(put_get, transient_failures_are_retried)
{
    size_t len = 2 * SEG;
    uint8_t *buf = tu_bytes(len, 12);
    struct sv_put_result r;
    struct tv t;
    size_t i;

    tv_make(&t, 4, 2, 6, "64K", "max_per_provider = 1");
    for (i = 0; i < t.v->nprov; i++)
        cr_assert_eq(sv_fault_set(t.v->prov[i].p, SV_FAULT_PUT, "again:1"),
                     SV_OK);
    cr_assert_eq(put_buf(t.v, "obj", buf, len, &r), SV_OK);
    cr_assert_eq(r.shards, 12);
    cr_assert_eq(r.substituted, 0);
    sv_put_result_release(&r);
    get_eq(t.v, "obj", buf, len);
    free(buf);
    tv_free(&t);
}

/* One provider down and nowhere to move its shard: the write quorum (5 of
 * 6) is met, the missing shard is recorded and queued for repair. */
Test(put_get, quorum_met_with_a_shard_missing)
{
    size_t len = 3 * SEG;
    uint8_t *buf = tu_bytes(len, 13);
    struct sv_put_result r;
    struct sv_stat *s;
    struct tv t;
    uint32_t i;
    int bad;

    tv_make(&t, 4, 2, 6, "64K", "max_per_provider = 1");
    bad = prov_index(t.v, "p0");
    cr_assert_eq(sv_fault_set(t.v->prov[bad].p, SV_FAULT_PUT, "fail"),
                 SV_OK);
    cr_assert_eq(put_buf(t.v, "obj", buf, len, &r), SV_OK);
    cr_assert_eq(r.shards, 3 * 5);
    cr_assert_eq(r.shards_missing, 3);
    sv_put_result_release(&r);
    cr_assert_eq(shards_on(t.v, (size_t)bad), 0);
    s = stat_of(t.v, "obj");
    cr_assert_eq(s->degraded, 3);
    cr_assert_eq(s->min_good, 5);
    for (i = 0; i < s->nseg; i++) {
        unsigned j, missing = 0;

        for (j = 0; j < 6; j++)
            if (!strcmp(s->seg[i].shard[j].state, "missing")) {
                missing++;
                cr_assert_str_eq(s->seg[i].shard[j].provider, "p0");
            }
        cr_assert_eq(missing, 1);
    }
    sv_stat_free(s);
    cr_assert_eq(repairs(t.v), 3);
    cr_assert_eq(intents(t.v), 0);
    get_eq(t.v, "obj", buf, len);
    free(buf);
    tv_free(&t);
}

/* Two providers down, no substitutes: below quorum, nothing committed,
 * nothing left on any provider, no intent left, each cause named. */
Test(put_get, below_quorum_commits_and_leaks_nothing)
{
    size_t len = 3 * SEG;
    uint8_t *buf = tu_bytes(len, 14), *got;
    size_t glen;
    struct tv t;
    enum sv_err rc;
    const char *msg;

    tv_make(&t, 4, 2, 6, "64K", "max_per_provider = 1");
    put_ok(t.v, "keep", buf, SEG / 2);
    cr_assert_eq(sv_fault_set(t.v->prov[prov_index(t.v, "p1")].p,
                              SV_FAULT_PUT, "fail"),
                 SV_OK);
    cr_assert_eq(sv_fault_set(t.v->prov[prov_index(t.v, "p4")].p,
                              SV_FAULT_PUT, "nospace"),
                 SV_OK);
    rc = put_buf(t.v, "obj", buf, len, NULL);
    cr_assert_eq(rc, SV_UNAVAIL);
    msg = sv_errmsg(rc);
    cr_assert(strstr(msg, "put 'obj'"), "%s", msg);
    cr_assert(strstr(msg, "write quorum"), "%s", msg);
    cr_assert(strstr(msg, "p1: "), "%s", msg);
    cr_assert(strstr(msg, "p4: "), "%s", msg);
    cr_assert_eq(get_buf(t.v, "obj", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert_eq(shards_total(t.v), 6, "only 'keep' may hold shards");
    cr_assert_eq(intents(t.v), 0);
    get_eq(t.v, "keep", buf, SEG / 2);
    free(buf);
    tv_free(&t);
}

/* ---- degraded and corrupt reads --------------------------------------- */

Test(put_get, missing_and_corrupt_shards_are_read_around)
{
    size_t len = 3 * SEG + 100;
    uint8_t *buf = tu_bytes(len, 15), *got;
    struct sv_get_stats st;
    struct sv_stat *s;
    size_t glen;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "obj", buf, len);
    delete_shard(&t, "obj", 0, 0);           /* data shard gone */
    flip_shard(&t, "obj", 0, 2, 100);        /* data shard corrupt */
    flip_shard(&t, "obj", 1, 4, 10);         /* parity header corrupt */
    delete_shard(&t, "obj", 2, 1);
    delete_shard(&t, "obj", 2, 3);
    flip_shard(&t, "obj", 3, 0, 60);
    cr_assert_eq(get_buf(t.v, "obj", 0, SV_TO_END, &got, &glen, &st), SV_OK,
                 "%s", sv_errmsg(SV_UNAVAIL));
    cr_assert_eq(glen, len);
    cr_assert(!memcmp(got, buf, len));
    free(got);
    cr_assert_eq(st.shards_missing, 3);
    cr_assert_eq(st.shards_bad, 2); /* the parity one is never read */
    cr_assert_eq(st.segments_degraded, 3);
    cr_assert_eq(st.segments, 4);
    /* reported: marked missing and queued */
    s = stat_of(t.v, "obj");
    cr_assert_str_eq(s->seg[0].shard[0].state, "missing");
    cr_assert_str_eq(s->seg[0].shard[2].state, "missing");
    cr_assert_str_eq(s->seg[1].shard[4].state, "ok");
    cr_assert_eq(s->seg[2].good, 4);
    sv_stat_free(s);
    cr_assert(repairs(t.v) >= 3);
    /* a second read goes straight to the good shards */
    get_eq(t.v, "obj", buf, len);
    free(buf);
    tv_free(&t);
}

Test(put_get, too_few_shards_is_an_error_naming_the_causes)
{
    size_t len = SEG;
    uint8_t *buf = tu_bytes(len, 16), *got;
    struct sv_stat *s;
    const char *msg;
    size_t glen;
    struct tv t;
    enum sv_err rc;
    char p_del[64], p_flip[64], p_down[64];

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "photos/a.jpg", buf, len);
    s = stat_of(t.v, "photos/a.jpg");
    snprintf(p_del, sizeof(p_del), "%s: shard missing",
             s->seg[0].shard[1].provider);
    snprintf(p_flip, sizeof(p_flip), "%s: authenticator",
             s->seg[0].shard[4].provider);
    snprintf(p_down, sizeof(p_down), "%s: ", s->seg[0].shard[5].provider);
    delete_shard(&t, "photos/a.jpg", 0, 1);
    flip_shard(&t, "photos/a.jpg", 0, 4, 200);
    cr_assert_eq(sv_fault_set(t.v->prov[prov_index(
                                  t.v, s->seg[0].shard[5].provider)].p,
                              SV_FAULT_GET, "fail"),
                 SV_OK);
    sv_stat_free(s);
    rc = get_buf(t.v, "photos/a.jpg", 0, SV_TO_END, &got, &glen, NULL);
    free(got);
    cr_assert_eq(rc, SV_UNAVAIL);
    msg = sv_errmsg(rc);
    cr_assert(strstr(msg, "get 'photos/a.jpg': segment 0: only 3 of 4 needed "
                          "shards readable"),
              "%s", msg);
    cr_assert(strstr(msg, p_del), "%s", msg);
    cr_assert(strstr(msg, p_flip), "%s", msg);
    cr_assert(strstr(msg, p_down), "%s", msg);
    free(buf);
    tv_free(&t);
}

/* ---- ranges ------------------------------------------------------------ */

static uint64_t gets_total(struct sv_vault *v)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < v->nprov; i++)
        n += sv_fault_calls(v->prov[i].p, SV_FAULT_GET);
    return n;
}

Test(put_get, ranges)
{
    size_t len = 5 * SEG + 333;
    uint8_t *buf = tu_bytes(len, 17), *got;
    uint64_t x = 12345, before;
    size_t glen;
    struct tv t;
    int i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "obj", buf, len);
    for (i = 0; i < 120; i++) {
        uint64_t off, rl;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        off = x % (len + 1);
        rl = (x >> 20) % (len - off + 1 + 100); /* some past the end */
        cr_assert_eq(get_buf(t.v, "obj", off, rl, &got, &glen, NULL), SV_OK);
        if (off + rl > len)
            rl = len - off;
        cr_assert_eq(glen, rl, "range %llu+%llu", (unsigned long long)off,
                     (unsigned long long)rl);
        cr_assert(!memcmp(got, buf + off, rl));
        free(got);
    }
    /* a range inside one segment fetches k shards of it only */
    before = gets_total(t.v);
    cr_assert_eq(get_buf(t.v, "obj", 2 * SEG + 10, 1000, &got, &glen, NULL),
                 SV_OK);
    cr_assert_eq(glen, 1000);
    cr_assert(!memcmp(got, buf + 2 * SEG + 10, 1000));
    free(got);
    cr_assert_eq(gets_total(t.v) - before, 4);
    /* across a boundary: two segments */
    before = gets_total(t.v);
    cr_assert_eq(get_buf(t.v, "obj", SEG - 5, 10, &got, &glen, NULL), SV_OK);
    cr_assert(!memcmp(got, buf + SEG - 5, 10));
    free(got);
    cr_assert_eq(gets_total(t.v) - before, 8);
    /* empty range at the end; past the end refused */
    cr_assert_eq(get_buf(t.v, "obj", len, 10, &got, &glen, NULL), SV_OK);
    cr_assert_eq(glen, 0);
    free(got);
    cr_assert_eq(get_buf(t.v, "obj", len + 1, 10, &got, &glen, NULL),
                 SV_INVAL);
    free(got);
    free(buf);
    tv_free(&t);
}

/* ---- overwrite and rm --------------------------------------------------- */

Test(put_get, overwrite_keeps_one_version)
{
    uint8_t *a = tu_bytes(3 * SEG, 18), *b = tu_bytes(SEG + 9, 19);
    struct sv_stat *s;
    uint8_t oid_a[16];
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "obj", a, 3 * SEG);
    s = stat_of(t.v, "obj");
    memcpy(oid_a, s->obj.oid, 16);
    sv_stat_free(s);
    cr_assert_eq(shards_total(t.v), 3 * 6);
    put_ok(t.v, "obj", b, SEG + 9);
    get_eq(t.v, "obj", b, SEG + 9);
    s = stat_of(t.v, "obj");
    cr_assert(memcmp(oid_a, s->obj.oid, 16), "a new version, a new id");
    sv_stat_free(s);
    cr_assert_eq(shards_total(t.v), 2 * 6, "old version's shards collected");
    cr_assert_eq(intents(t.v), 0);
    free(a);
    free(b);
    tv_free(&t);
}

Test(put_get, rm_makes_data_unreadable_and_collects)
{
    uint8_t *a = tu_bytes(2 * SEG, 20), *got;
    uint64_t n = 0;
    size_t glen;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "a", a, 2 * SEG);
    put_ok(t.v, "b", a, 10);
    cr_assert_eq(sv_rm(t.v, "a", &n), SV_OK);
    cr_assert_eq(n, 12);
    cr_assert_eq(get_buf(t.v, "a", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert_eq(shards_total(t.v), 6);
    cr_assert_eq(intents(t.v), 0);
    cr_assert_eq(sv_rm(t.v, "a", NULL), SV_NOTFOUND);
    cr_assert(strstr(sv_errmsg(SV_NOTFOUND), "rm 'a'"));
    get_eq(t.v, "b", a, 10);
    free(a);
    tv_free(&t);
}

/* rm with a provider unreachable: data gone at once, shards collected at a
 * later open. */
Test(put_get, rm_with_a_provider_down_finishes_later)
{
    uint8_t *a = tu_bytes(SEG, 21);
    struct tv t;
    int p;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "a", a, SEG);
    p = prov_index(t.v, "p2");
    cr_assert_eq(sv_fault_set(t.v->prov[p].p, SV_FAULT_DEL, "fail"), SV_OK);
    cr_assert_eq(sv_rm(t.v, "a", NULL), SV_OK);
    cr_assert_eq(intents(t.v), 1);
    cr_assert_eq(shards_total(t.v), shards_on(t.v, (size_t)p));
    cr_assert(shards_on(t.v, (size_t)p) > 0);
    tv_close(&t);
    tv_open(&t, 2); /* recovery collects */
    cr_assert_eq(shards_total(t.v), 0);
    cr_assert_eq(intents(t.v), 0);
    free(a);
    tv_free(&t);
}

/* ---- ls, stat, verify ----------------------------------------------------- */

struct names {
    char seen[8][32];
    unsigned n;
};

static int ls_cb(void *ctx, const struct sv_object_info *o)
{
    struct names *l = ctx;

    cr_assert(l->n < 8);
    snprintf(l->seen[l->n++], 32, "%s", o->name);
    return 0;
}

Test(put_get, ls_lists_by_prefix_in_order)
{
    struct names l = {0};
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "photos/b", "x", 1);
    put_ok(t.v, "photos/a", "x", 1);
    put_ok(t.v, "docs/c", "x", 1);
    cr_assert_eq(sv_ls(t.v, "photos/", ls_cb, &l), SV_OK);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.seen[0], "photos/a");
    cr_assert_str_eq(l.seen[1], "photos/b");
    l.n = 0;
    cr_assert_eq(sv_ls(t.v, NULL, ls_cb, &l), SV_OK);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(sv_ls(t.v, NULL, NULL, NULL), SV_INVAL);
    tv_free(&t);
}

Test(put_get, stat_shows_placement_under_the_caps)
{
    uint8_t *a = tu_bytes(4 * SEG, 22);
    struct sv_stat *s;
    struct tv t;
    uint32_t i;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "obj", a, 4 * SEG);
    s = stat_of(t.v, "obj");
    cr_assert_eq(s->nseg, 4);
    for (i = 0; i < s->nseg; i++) {
        unsigned j, l, count;

        cr_assert_eq(s->seg[i].n, 6);
        for (j = 0; j < 6; j++) {
            cr_assert_str_eq(s->seg[i].shard[j].state, "ok");
            cr_assert(!strncmp(s->seg[i].shard[j].owner, "owner", 5));
            cr_assert_eq(s->seg[i].shard[j].jurisdiction[0], 'J');
            for (count = 0, l = 0; l < 6; l++)
                count += !strcmp(s->seg[i].shard[j].provider,
                                 s->seg[i].shard[l].provider);
            cr_assert(count <= 2, "max_per_provider = min(k-1, m) = 2");
        }
    }
    cr_assert_eq(sv_stat(t.v, "nope", &s), SV_NOTFOUND);
    free(a);
    tv_free(&t);
}

static void count_problem(void *ctx, const char *s)
{
    (void)s;
    (*(unsigned *)ctx)++;
}

Test(put_get, verify_finds_missing_and_bad_shards)
{
    uint8_t *a = tu_bytes(2 * SEG, 23);
    struct sv_verify_result r;
    unsigned problems = 0;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "a", a, 2 * SEG);
    put_ok(t.v, "b", a, 100);
    cr_assert_eq(sv_verify(t.v, NULL, 1, count_problem, &problems, &r),
                 SV_OK);
    cr_assert_eq(r.objects, 2);
    cr_assert_eq(r.shards, 18);
    cr_assert_eq(r.shards_ok, 18);
    cr_assert_eq(problems, 0);
    delete_shard(&t, "a", 1, 3);
    flip_shard(&t, "b", 0, 5, 70);
    /* shallow: presence and size only */
    cr_assert_eq(sv_verify(t.v, NULL, 0, count_problem, &problems, &r),
                 SV_OK);
    cr_assert_eq(r.shards_missing, 1);
    cr_assert_eq(r.shards_bad, 0);
    cr_assert_eq(r.segments_degraded, 1);
    cr_assert_eq(problems, 1);
    /* deep: the flipped one too; the missing one is now marked */
    problems = 0;
    cr_assert_eq(sv_verify(t.v, NULL, 1, count_problem, &problems, &r),
                 SV_OK);
    cr_assert_eq(r.shards_missing, 1);
    cr_assert_eq(r.shards_bad, 1);
    cr_assert_eq(r.shards_ok, 16);
    cr_assert_eq(r.segments_degraded, 2);
    cr_assert_eq(r.segments_lost, 0);
    cr_assert_eq(problems, 2);
    cr_assert(repairs(t.v) >= 2);
    cr_assert_eq(sv_verify(t.v, "nope", 1, NULL, NULL, &r), SV_NOTFOUND);
    free(a);
    tv_free(&t);
}

/* ---- cancel, streaming, keys ---------------------------------------------- */

static volatile sig_atomic_t cancel_flag;

static void cancel_after_first(void *ctx, uint64_t done)
{
    (void)ctx;
    if (done)
        cancel_flag = 1;
}

Test(put_get, cancel_stores_nothing)
{
    uint8_t *a = tu_bytes(6 * SEG, 24);
    struct sv_put_opts o = {0};
    struct tv t;
    int fd;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cancel_flag = 0;
    o.cancel = &cancel_flag;
    o.progress = cancel_after_first;
    fd = mem_fd(a, 6 * SEG);
    cr_assert_eq(sv_put(t.v, "obj", fd, &o, NULL), SV_INTR);
    close(fd);
    cr_assert_eq(shards_total(t.v), 0);
    cr_assert_eq(intents(t.v), 0);
    cr_assert_eq(sv_stat(t.v, "obj", &(struct sv_stat *){NULL}),
                 SV_NOTFOUND);
    free(a);
    tv_free(&t);
}

struct feeder {
    int fd;
    const uint8_t *buf;
    size_t len;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    size_t off = 0;

    while (off < f->len) {
        size_t chunk = f->len - off < 1000 ? f->len - off : 1000;
        ssize_t w = write(f->fd, f->buf + off, chunk);

        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(f->fd);
    return NULL;
}

Test(put_get, put_streams_from_a_pipe_with_options)
{
    size_t len = 2 * SEG; /* exactly two segments: the end is found late */
    uint8_t *a = tu_bytes(len, 25);
    struct sv_put_opts o = {0};
    struct sv_stat *s;
    struct feeder f;
    pthread_t th;
    struct tv t;
    int p[2];

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert_eq(pipe(p), 0);
    f.fd = p[1];
    f.buf = a;
    f.len = len;
    cr_assert_eq(pthread_create(&th, NULL, feed, &f), 0);
    o.mtime = 1700000000;
    o.hash = 1;
    cr_assert_eq(sv_put(t.v, "piped", p[0], &o, NULL), SV_OK);
    pthread_join(th, NULL);
    close(p[0]);
    get_eq(t.v, "piped", a, len);
    s = stat_of(t.v, "piped");
    cr_assert_eq(s->obj.nsegments, 2);
    cr_assert_eq(s->obj.mtime, 1700000000);
    cr_assert(s->obj.has_hash);
    sv_stat_free(s);
    free(a);
    tv_free(&t);
}

Test(put_get, bad_arguments_are_refused)
{
    struct sv_open_opts o = {0};
    struct sv_vault *v = NULL;
    uint8_t *got;
    size_t glen;
    struct tv t;
    char *text;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    cr_assert_eq(put_buf(t.v, "", "x", 1, NULL), SV_INVAL);
    cr_assert_eq(put_buf(t.v, "bad\nname", "x", 1, NULL), SV_INVAL);
    cr_assert_eq(sv_put(t.v, "obj", -1, NULL, NULL), SV_IO);
    cr_assert_eq(shards_total(t.v), 0);
    cr_assert_eq(intents(t.v), 0);
    cr_assert_eq(get_buf(t.v, "none", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOTFOUND);
    free(got);
    cr_assert(strstr(sv_errmsg(SV_NOTFOUND), "get 'none'"));
    cr_assert_eq(sv_rm(t.v, "", NULL), SV_INVAL);
    /* a second create in the same directory */
    text = conf_text(4, 2, 6, NULL, NULL);
    cr_assert_eq(sv_vault_create(t.dir, text, 0, 0, NULL), SV_EXISTS);
    free(text);
    /* an infeasible policy is refused and leaves nothing behind */
    {
        char *d2, *conf;
        struct stat st;

        cr_assert(asprintf(&d2, "%s/v2", t.tmp) > 0);
        text = conf_text(4, 2, 2, NULL, NULL);
        cr_assert_neq(sv_vault_create(d2, text, 0, 0, NULL), SV_OK);
        free(text);
        cr_assert(asprintf(&conf, "%s/shardvault.conf", d2) > 0);
        cr_assert_neq(stat(conf, &st), 0);
        free(conf);
        free(d2);
    }
    /* read-only vault refuses writes */
    tv_close(&t);
    o.flags = SV_OPEN_READONLY;
    cr_assert_eq(sv_vault_open(t.dir, &o, &v), SV_OK);
    cr_assert_eq(put_buf(v, "obj", "x", 1, NULL), SV_INVAL);
    cr_assert_eq(sv_rm(v, "obj", NULL), SV_INVAL);
    sv_vault_close(v);
    v = NULL;
    cr_assert_eq(sv_vault_open(t.tmp, NULL, &v), SV_NOTFOUND);
    cr_assert_null(v);
    cr_assert_eq(sv_vault_open(NULL, NULL, &v), SV_INVAL);
    tv_free(&t);
}

Test(put_get, wrong_key_file_is_refused_by_name)
{
    struct sv_open_opts o = {0};
    struct sv_vault *v = NULL;
    struct tv a, b;
    char *key_b;
    enum sv_err rc;

    tv_make(&a, 4, 2, 6, NULL, NULL);
    tv_make(&b, 4, 2, 6, NULL, NULL);
    key_b = strdup(b.v->key_path);
    tv_close(&a);
    o.key_path = key_b;
    rc = sv_vault_open(a.dir, &o, &v);
    cr_assert_eq(rc, SV_AUTH);
    cr_assert(strstr(sv_errmsg(rc), key_b), "%s", sv_errmsg(rc));
    cr_assert_null(v);
    free(key_b);
    tv_free(&a);
    tv_free(&b);
}

Test(put_get, maintenance_keyring_verifies_but_cannot_read)
{
    uint8_t *a = tu_bytes(SEG, 26), *got;
    struct sv_open_opts o = {0};
    struct sv_verify_result r;
    struct sv_vault *v = NULL;
    char *mk;
    size_t glen;
    struct tv t;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "obj", a, SEG);
    cr_assert(asprintf(&mk, "%s/maint.key", t.tmp) > 0);
    cr_assert_eq(sv_keys_export_maintenance(t.v->kr, mk), SV_OK);
    tv_close(&t);
    o.flags = SV_OPEN_MAINTENANCE;
    o.key_path = mk;
    cr_assert_eq(sv_vault_open(t.dir, &o, &v), SV_OK, "%s",
                 sv_errmsg(SV_AUTH));
    cr_assert_eq(sv_verify(v, "obj", 1, NULL, NULL, &r), SV_OK);
    cr_assert_eq(r.shards_ok, 6);
    cr_assert_eq(get_buf(v, "obj", 0, SV_TO_END, &got, &glen, NULL),
                 SV_NOKEY);
    cr_assert_eq(glen, 0);
    free(got);
    cr_assert_eq(put_buf(v, "x", "x", 1, NULL), SV_NOKEY);
    sv_vault_close(v);
    free(mk);
    free(a);
    tv_free(&t);
}

/* ---- crash recovery ------------------------------------------------------ */

/* Child: open, put version 2 of "obj", crash at point n (if reached). */
static void crash_child(const char *dir, const uint8_t *buf, size_t len,
                        unsigned n)
{
    struct sv_vault *v = NULL;
    char at[16];
    int fd;

    snprintf(at, sizeof(at), "%u", n);
    if (sv_vault_open(dir, NULL, &v))
        _exit(3);
    setenv("SV_CRASH_AT", at, 1);
    sv_crashpoint_reset();
    fd = mem_fd(buf, len);
    if (sv_put(v, "obj", fd, NULL, NULL))
        _exit(4);
    unsetenv("SV_CRASH_AT");
    sv_vault_close(v);
    _exit(0);
}

Test(put_get, sigkill_at_every_point_of_an_overwrite_recovers, .timeout = 300)
{
    size_t len1 = SEG + 7, len2 = 2 * SEG + 3;
    uint8_t *v1 = tu_bytes(len1, 27), *v2 = tu_bytes(len2, 28), *got;
    struct sv_stat *s;
    unsigned n, killed = 0;
    size_t glen;
    struct tv t;
    int status;
    pid_t pid;

    tv_make(&t, 4, 2, 6, "64K", NULL);
    put_ok(t.v, "obj", v1, len1);
    for (n = 1;; n++) {
        tv_close(&t);
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0)
            crash_child(t.dir, v2, len2, n);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        tv_open(&t, 2); /* recovery runs here */
        cr_assert_eq(intents(t.v), 0, "point %u", n);
        cr_assert_eq(get_buf(t.v, "obj", 0, SV_TO_END, &got, &glen, NULL),
                     SV_OK, "point %u: %s", n, sv_errmsg(SV_UNAVAIL));
        s = stat_of(t.v, "obj");
        if (glen == len1) {
            cr_assert(!memcmp(got, v1, len1), "point %u", n);
        } else {
            cr_assert_eq(glen, len2, "point %u", n);
            cr_assert(!memcmp(got, v2, len2), "point %u", n);
        }
        cr_assert_eq(shards_total(t.v), (uint64_t)s->obj.nsegments * 6,
                     "point %u: no shard without a record", n);
        sv_stat_free(s);
        free(got);
        if (WIFEXITED(status)) {
            cr_assert_eq(WEXITSTATUS(status), 0, "point %u", n);
            cr_assert_eq(glen, len2);
            break;
        }
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        killed++;
        if (glen == len2) /* back to version 1 for the next point */
            put_ok(t.v, "obj", v1, len1);
    }
    cr_assert(killed >= 30, "only %u crash points in a 3-segment put",
              killed);
    free(v1);
    free(v2);
    tv_free(&t);
}
