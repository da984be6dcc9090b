/*
 * tools/bench_repair.c: `shardvault bench repair [--size 1G] [--dir DIR]
 * [--runs N]`.
 *
 * Stores --size bytes of objects with k=4 m=2 on the six directory
 * providers of the embedded default, on tmpfs (/dev/shm unless --dir),
 * wipes one provider, and times a repair pass (inventory + rebuild, no
 * scrub) back to full redundancy: once with one job on one core, once
 * with the config's jobs on every core. In the same run it measures the
 * raw bound of the same work on one core: for each damaged segment read
 * the k shards the decoder uses (the fs backend's GET: open, read), one
 * sv_ec_reconstruct of the lost chunks, and a plain write of each to a
 * file. Figures: seconds to full redundancy, bytes read per byte rebuilt
 * (with one lost shard per segment k chunks are read per chunk rebuilt;
 * fewer when a segment lost two), the one-core ratio to the bound (target
 * >= 0.7) and the all-core speed-up. Each run is checked: an empty queue,
 * n shards per segment and one object read back exactly (untimed).
 * Benchmarks print; they never assert.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ec/ec.h"
#include "engine/config.h"
#include "engine/repair.h"
#include "engine/shard.h"
#include "engine/vault.h"
#include "tools/benchutil.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE   "bench repair [--size 1G] [--dir DIR] [--runs N]"
#define OBJ_MAX ((uint64_t)128 << 20) /* bytes per object */
#define WIPED   0 /* the provider wiped: the default's first */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_F || flag == FTW_SL)
        unlink(path);
    return 0;
}

/* Delete every file under dir (the provider's shards), keep the tree. */
static void wipe(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_PHYS);
}

/* ---- what the wipe loses -------------------------------------------- */

struct lostseg {
    uint8_t oid[SV_OID_LEN];
    uint32_t segment, chunk_len;
    uint64_t shard_len;
    uint16_t prov[SV_MAX_N];
    unsigned char lost[SV_MAX_N];
    unsigned n, nlost;
};

struct plan {
    struct lostseg *a;
    size_t n, cap;
    uint64_t shards, bytes; /* lost */
};

struct planctx {
    struct plan *p;
    uint16_t wiped;
};

static int plan_seg(void *ctx, const struct sv_seg_rec *s)
{
    struct planctx *c = ctx;
    struct plan *p = c->p;
    struct lostseg *l;
    unsigned i;

    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        struct lostseg *a = realloc(p->a, cap * sizeof(*a));

        if (!a)
            die(1, "bench repair: out of memory");
        p->a = a;
        p->cap = cap;
    }
    l = &p->a[p->n];
    memset(l, 0, sizeof(*l));
    memcpy(l->oid, s->oid, SV_OID_LEN);
    l->segment = s->segment;
    l->chunk_len = s->chunk_len;
    l->shard_len = sv_seg_shard_len(s);
    l->n = s->n;
    for (i = 0; i < s->n; i++) {
        l->prov[i] = s->shard[i].provider;
        l->lost[i] = s->shard[i].provider == c->wiped;
        l->nlost += l->lost[i];
    }
    if (l->nlost) {
        p->n++;
        p->shards += l->nlost;
        p->bytes += l->nlost * l->shard_len;
    }
    return 0;
}

static void make_plan(struct sv_vault *v, struct plan *p)
{
    struct planctx c = {p, v->prov[WIPED].id};

    memset(p, 0, sizeof(*p));
    if (sv_cat_segments_scan(v->cat, plan_seg, &c))
        die_err(SV_IO, "bench repair: scanning the catalog: ");
}

/* ---- the bound: read k + decode + write, one core -------------------- */

/* auth: also check the authenticator of each shard read and compute the
 * new one's, as any correct rebuild must (the floor the repair can reach
 * on one core). */
static double measure_bound(struct sv_vault *v, const struct plan *p,
                            const char *scratch, int auth, uint64_t *written)
{
    size_t maxlen = 0, i;
    uint8_t *bufs, *out;
    struct sv_ec *ec;
    double t0, total;
    char name[SV_SHARD_NAME_MAX], *path;
    unsigned j, have, lost;

    for (i = 0; i < p->n; i++)
        if (p->a[i].shard_len > maxlen)
            maxlen = p->a[i].shard_len;
    bufs = malloc(SV_MAX_N * (maxlen + 1));
    out = malloc(SV_MAX_N * (maxlen + 1));
    if (!bufs || !out || sv_ec_new(4, 2, &ec) ||
        asprintf(&path, "%s/rebuilt", scratch) < 0)
        die(1, "bench repair: out of memory");
    *written = 0;
    t0 = bu_now();
    for (i = 0; i < p->n; i++) {
        const struct lostseg *l = &p->a[i];
        uint8_t *ptr[SV_MAX_N], hdr[SV_SHARD_HDR_LEN], tag[SV_SHARD_TAG];
        unsigned char present[SV_MAX_N], want[SV_MAX_N];
        struct sv_shard_info info;
        const uint8_t *record = NULL;

        memset(&info, 0, sizeof(info));
        for (j = 0, have = 0; j < l->n; j++) {
            int pi = sv_vault_prov_index(v, l->prov[j]);
            size_t nread = 0;

            present[j] = 0;
            want[j] = l->lost[j];
            ptr[j] = want[j] ? out + j * (maxlen + 1) : NULL;
            if (l->lost[j] || have == 4 || pi < 0)
                continue;
            sv_shard_name(v->kr, v->cfg->shard_prefix, l->oid, l->segment, j,
                          name);
            if (sv_prov_get(v->prov[pi].p, name, 0, bufs + j * (maxlen + 1),
                            maxlen, &nread) ||
                nread != l->shard_len)
                die(1, "bench repair: bound: reading %s", name);
            ptr[j] =
                bufs + j * (maxlen + 1) + SV_SHARD_HDR_LEN +
                (l->shard_len - SV_SHARD_HDR_LEN - SV_SHARD_TAG - l->chunk_len);
            if (auth) {
                struct sv_shard_info si;
                const uint8_t *rec, *chunk;

                if (sv_shard_verify(v->kr, bufs + j * (maxlen + 1), nread,
                                    l->oid, l->segment, j, &si, &rec, &chunk))
                    die(1, "bench repair: bound: %s fails its check", name);
                info = si;
                record = rec;
            }
            present[j] = 1;
            have++;
        }
        if (sv_ec_reconstruct(ec, l->chunk_len, ptr, present, want))
            die(1, "bench repair: bound: decode failed");
        for (j = 0, lost = 0; j < l->n; j++) {
            int fd;

            if (!want[j])
                continue;
            if (auth) {
                info.index = j;
                sv_shard_encode_hdr(&info, hdr);
                sv_shard_auth(v->kr, &info, hdr, record, ptr[j], tag);
            }
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0 ||
                write(fd, ptr[j], l->chunk_len) != (ssize_t)l->chunk_len)
                die(1, "bench repair: bound: writing %s", path);
            close(fd);
            *written += l->chunk_len;
            lost++;
        }
    }
    total = bu_now() - t0;
    unlink(path);
    free(path);
    sv_ec_free(ec);
    free(bufs);
    free(out);
    return total;
}

/* ---- one timed repair ------------------------------------------------ */

struct result {
    double wall, cores;
    struct sv_repair_stats st;
    int ok;
};

static void timed_repair(const char *vdir, const char *pdir, unsigned jobs,
                         struct result *r)
{
    struct sv_repair_opts o = {0};
    struct sv_repair_status st;
    struct sv_vault *v = NULL;
    double t0, c0;
    enum sv_err rc;

    wipe(pdir);
    rc = sv_repair_open(vdir, NULL, &v);
    if (rc)
        die_err(rc, "bench repair: ");
    o.phases = SV_REPAIR_INVENTORY | SV_REPAIR_REBUILD;
    o.jobs = jobs;
    c0 = bu_cpu_now();
    t0 = bu_now();
    rc = sv_repair_pass(v, &o, &r->st);
    r->wall = bu_now() - t0;
    c0 = bu_cpu_now() - c0;
    r->cores = r->wall > 0 ? c0 / r->wall : 0;
    if (rc)
        die_err(rc, "bench repair: ");
    r->ok = sv_repair_status(v, &st) == SV_OK && st.queued == 0 &&
            !r->st.segments_failed && !r->st.segments_lost;
    sv_vault_close(v);
}

int bench_repair(int argc, char **argv)
{
    uint64_t size = (uint64_t)1 << 30, per, written = 0;
    unsigned runs = 1, nobj, i, r;
    const char *base = "/dev/shm";
    char *tmp, *vdir, *input, *pdir, *scratch, *cmd, *check, name[32];
    char s1[32], s2[32], s3[32];
    struct sv_vault *v = NULL;
    struct result one, all, best1, bestn;
    struct plan plan;
    struct sv_vault_info info;
    double bound = 1e30, bound_auth = 1e30, b, expect;
    uint64_t u, k_reads = 0;
    enum sv_err rc;
    int fd, ok = 1, a;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--size") && a + 1 < argc) {
            if (sv_parse_size(argv[++a], &size) || size < 1)
                usage_die(USAGE, "--size: bad size '%s'", argv[a]);
        } else if (!strcmp(argv[a], "--dir") && a + 1 < argc) {
            base = argv[++a];
        } else if (!strcmp(argv[a], "--runs") && a + 1 < argc) {
            if (vt_parse_u64(argv[++a], &u) || !u || u > 20)
                usage_die(USAGE, "--runs: 1 to 20");
            runs = (unsigned)u;
        } else {
            usage_die(USAGE, "unknown argument '%s'", argv[a]);
        }
    }
    if (asprintf(&tmp, "%s/svbench.XXXXXX", base) < 0 || !mkdtemp(tmp))
        die(1, "bench repair: cannot create a directory in %s: %s", base,
            strerror(errno));
    if (asprintf(&vdir, "%s/vault", tmp) < 0 ||
        asprintf(&input, "%s/input", tmp) < 0 ||
        asprintf(&scratch, "%s", tmp) < 0)
        die(1, "bench repair: out of memory");
    nobj = (unsigned)((size + OBJ_MAX - 1) / OBJ_MAX);
    per = size / nobj;
    bu_make_input(input, per, 0x2545F4914F6CDD1Dull, "bench repair");
    rc = sv_vault_create(vdir, NULL, 4, 2, &v);
    if (rc)
        die_err(rc, "bench repair: ");
    for (i = 0; i < nobj; i++) {
        snprintf(name, sizeof(name), "bench-%u", i);
        fd = open(input, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die(1, "bench repair: %s: %s", input, strerror(errno));
        rc = sv_put(v, name, fd, NULL, NULL);
        close(fd);
        if (rc)
            die_err(rc, "bench repair: put: ");
    }
    sv_vault_info(v, &info);
    if (asprintf(&pdir, "%s/providers/%s", vdir, v->prov[WIPED].conf->name) < 0)
        die(1, "bench repair: out of memory");
    printf("%s of objects (%u x %s), k=4 m=2, six fs providers under %s, "
           "%s segments; provider %s wiped\n",
           vt_size(size, s1), nobj, vt_size(per, s2), base,
           vt_size(info.segment_size, s3), v->prov[WIPED].conf->name);
    sv_vault_close(v);
    v = NULL;

    memset(&best1, 0, sizeof(best1));
    memset(&bestn, 0, sizeof(bestn));
    best1.wall = bestn.wall = 1e30;
    for (r = 0; r < runs; r++) {
        /* what this wipe loses, for the bound and the expected reads */
        rc = sv_repair_open(vdir, NULL, &v);
        if (rc)
            die_err(rc, "bench repair: ");
        make_plan(v, &plan);
        bu_pin(1, "bench repair");
        b = measure_bound(v, &plan, scratch, 0, &written);
        bound = b < bound ? b : bound;
        b = measure_bound(v, &plan, scratch, 1, &written);
        bound_auth = b < bound_auth ? b : bound_auth;
        bu_pin(0, "bench repair");
        k_reads = 0;
        for (i = 0; i < plan.n; i++)
            k_reads += 4 * plan.a[i].shard_len;
        sv_vault_close(v);
        v = NULL;

        bu_pin(1, "bench repair");
        timed_repair(vdir, pdir, 1, &one);
        bu_pin(0, "bench repair");
        ok &= one.ok;
        if (one.wall < best1.wall)
            best1 = one;
        if (r == 0)
            printf("lost: %llu shards (%s) in %zu segments\n",
                   (unsigned long long)plan.shards, vt_size(plan.bytes, s1),
                   plan.n);
        timed_repair(vdir, pdir, 0, &all);
        ok &= all.ok;
        if (all.wall < bestn.wall)
            bestn = all;
        free(plan.a);
    }
    rc = sv_vault_open(vdir, NULL, &v); /* the data key, to read back */
    if (rc)
        die_err(rc, "bench repair: ");
    if (asprintf(&check, "%s/check", scratch) < 0)
        die(1, "out of memory");
    ok &= bu_same_bytes(v, "bench-0", input, check);
    free(check);
    sv_vault_close(v);
    /* Compare like with like: the bound decodes what the wipe lost. */
    expect = plan.bytes ? (double)k_reads / (double)plan.bytes : 0;
    printf("%-40s %7.3f s  %7.1f MiB/s rebuilt\n",
           "bound: read k + decode + write, 1 core", bound,
           (double)written / bound / 1048576.0);
    printf("%-40s %7.3f s  %7.1f MiB/s rebuilt\n",
           "  + authenticators (check k, make 1)", bound_auth,
           (double)written / bound_auth / 1048576.0);
    printf("%-40s %7.3f s  %7.1f MiB/s  %.2f of the bound (target >= "
           "0.70), %.2f with authenticators  %.2f cores\n",
           "repair, one core (1 job)", best1.wall,
           (double)best1.st.bytes_written / best1.wall / 1048576.0,
           bound / best1.wall, bound_auth / best1.wall, best1.cores);
    printf("%-40s %7.3f s  %7.1f MiB/s  %.2f of the bound (target >= "
           "0.70), x%.2f one core  %.2f cores\n",
           "repair, all cores (config's jobs)", bestn.wall,
           (double)bestn.st.bytes_written / bestn.wall / 1048576.0,
           ((double)bestn.st.bytes_written / bestn.wall) /
               ((double)written / bound),
           ((double)bestn.st.bytes_written / bestn.wall) /
               ((double)best1.st.bytes_written / best1.wall),
           bestn.cores);
    printf("%-40s %7.3f s\n", "seconds to full redundancy", bestn.wall);
    printf("%-40s %7.2f B read per B rebuilt (k=4 per lost shard: %.2f "
           "for these losses)\n",
           "read amplification",
           best1.st.bytes_written
               ? (double)best1.st.bytes_read / (double)best1.st.bytes_written
               : 0,
           expect);
    printf("%-40s %s\n", "self-check (queue empty, bytes equal)",
           ok ? "ok" : "FAILED");
    if (asprintf(&cmd, "rm -rf '%s'", tmp) > 0 && system(cmd))
        warnx_("bench repair: could not remove %s", tmp);
    free(cmd);
    free(input);
    free(tmp);
    free(vdir);
    free(pdir);
    free(scratch);
    return ok ? 0 : 1;
}
