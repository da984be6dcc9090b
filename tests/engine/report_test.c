/*
 * tests/engine/report_test.c: the report model (engine/report.c).
 *
 * Numbers are checked against small vaults computed by hand; the
 * durability model against (1) a Monte Carlo of provider-state snapshots
 * (the subset enumeration), (2) a Monte Carlo of provider lifetimes over
 * a year (the whole model), (3) the closed-form Markov MTTDL for
 * identical providers; what-if scenarios against what each must change.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/report.h"

#define DAY0 20000 /* 2024-10-04 */
#define GB 1e9

static void near(double got, double want, double rel, const char *what)
{
    double tol = fabs(want) * rel + 1e-12;

    cr_assert(fabs(got - want) <= tol, "%s: got %.10g, want %.10g (+-%.3g)",
              what, got, want, tol);
}

static void add_prov(struct sv_report_model *m, const char *name,
                     uint64_t bytes, uint64_t shards, uint64_t quota,
                     double price_storage, double price_egress,
                     double annual_loss)
{
    struct sv_report_prov p;

    memset(&p, 0, sizeof(p));
    p.name = (char *)name;
    p.state = SV_PROV_UP;
    p.in_config = 1;
    p.quota = quota;
    p.weight = 1;
    p.price_storage = price_storage;
    p.price_egress = price_egress;
    p.price_request = 0.005;
    p.annual_loss = annual_loss;
    p.bytes = bytes;
    p.shards = shards;
    cr_assert_eq(sv_report_add_provider(m, &p), SV_OK, "%s",
                 sv_errmsg(SV_INVAL));
}

static void add_pat(struct sv_report_model *m, unsigned n, const char *counts,
                    uint64_t segs, uint64_t bytes, uint64_t shard_bytes)
{
    /* counts: one digit per provider index, "1110" */
    uint8_t pv[SV_MAX_N], ct[SV_MAX_N];
    unsigned i, ne = 0;

    for (i = 0; counts[i]; i++)
        if (counts[i] != '0') {
            pv[ne] = (uint8_t)i;
            ct[ne++] = (uint8_t)(counts[i] - '0');
        }
    cr_assert_eq(sv_report_add_pattern(m, n, ne, pv, ct, segs, bytes,
                                       shard_bytes),
                 SV_OK);
}

/* An empty model with code k, m, a cap per provider, today DAY0. */
static void base(struct sv_report_model *m, unsigned k, unsigned mm,
                 unsigned cap)
{
    sv_report_model_init(m);
    m->k = k;
    m->m = mm;
    m->max_per_provider = cap;
    m->now_day = DAY0;
}

/* Three providers, k=2 m=1, known bytes and prices, a linear history. */
static void small_vault(struct sv_report_model *m)
{
    struct sv_hist_rec h;
    int d;

    base(m, 2, 1, 1);
    m->reprotect_hours = 24;
    add_prov(m, "a", 100 * GB, 1000, 1000 * GB, 0.02, 0.01, 0.02);
    add_prov(m, "b", 200 * GB, 2000, 0, 0.01, 0.02, 0.05);
    add_prov(m, "c", 300 * GB, 3000, 500 * GB, 0.005, 0.05, 0.10);
    m->objects = 2000;
    m->segments = 2000;
    m->logical_bytes = 400 * GB;
    m->stored_bytes = 600 * GB;
    m->health[0] = 2000;
    /* 2000 segments, one shard on each provider, 100 MB shards */
    add_pat(m, 3, "111", 2000, 400 * GB, 2000 * 100000000ull);
    for (d = DAY0 - 29; d <= DAY0; d++) {
        memset(&h, 0, sizeof(h));
        h.day = (uint32_t)d;
        h.bytes_added = 4 * GB;
        h.bytes_removed = 1 * GB;
        h.stored_added = 7 * GB;
        h.stored_removed = 1 * GB;
        cr_assert_eq(sv_report_add_history(m, &h), SV_OK);
    }
}

Test(report, hand_computed_small_vault)
{
    struct sv_report_model m;
    struct sv_report r;

    small_vault(&m);
    cr_assert_eq(sv_report_compute(&m, 30, &r), SV_OK);
    /* providers: bytes, quota used, share, storage cost */
    cr_assert_eq(r.bytes_total, 600 * GB);
    cr_assert_eq(r.shards_total, 6000);
    cr_assert_eq(r.quota_total, 1500 * GB);
    cr_assert_eq(r.quota_unlimited, 1);
    near(r.prov[0].quota_used, 0.1, 1e-12, "a used");
    cr_assert_lt(r.prov[1].quota_used, 0, "b is unlimited");
    near(r.prov[2].quota_used, 0.6, 1e-12, "c used");
    near(r.prov[2].share, 0.5, 1e-12, "c share");
    near(r.prov[0].cost_storage, 2.0, 1e-12, "a storage");
    near(r.prov[1].cost_storage, 2.0, 1e-12, "b storage");
    near(r.prov[2].cost_storage, 1.5, 1e-12, "c storage");
    near(r.cost_storage, 5.5, 1e-12, "storage total");
    /* overhead */
    near(r.ratio, 1.5, 1e-12, "ratio");
    near(r.ec_ratio, 1.5, 1e-12, "n/k");
    cr_assert_eq(r.segments, 2000);
    cr_assert_eq(r.lost_segments, 0);
    /* growth: 6 GB/day net stored; every segment needs all three
     * providers (n=3, one shard each), so each takes a third */
    cr_assert_eq(r.points, 30);
    near(r.stored_per_day, 6 * GB, 1e-9, "slope");
    near(r.ingest_per_day, 4 * GB, 1e-12, "ingest");
    near(r.delete_per_day, 1 * GB, 1e-12, "deletes");
    near(r.prov[0].growth_share, 1.0 / 3, 1e-12, "a share");
    near(r.prov[0].growth_per_day, 2 * GB, 1e-9, "a growth");
    near(r.prov[0].days_to_full, 450, 1e-9, "a days");
    cr_assert_eq(r.prov[0].fill_day, DAY0 + 450);
    cr_assert_eq(r.prov[1].fill_day, SV_REPORT_NEVER, "unlimited");
    near(r.prov[2].days_to_full, 100, 1e-9, "c days");
    cr_assert_eq(r.prov[2].fill_day, DAY0 + 100);
    cr_assert_eq(r.first_fill_day, DAY0 + 100);
    cr_assert_eq(r.nseries, 30);
    near(r.series[29], 600 * GB, 1e-12, "today");
    near(r.series[0], 600 * GB - 29 * 6 * GB, 1e-12, "window start");
    /* requests: 2 GB/day to a, 10^8-byte shards, 0.005 per 1000 */
    near(r.prov[0].cost_requests, 2e9 * 30.4375 / 1e8 / 1000 * 0.005, 1e-9,
         "a requests");
    /* repair if c were lost: k=2 shards from a (0.01) and b (0.02) */
    cr_assert_eq(r.prov[2].repair_read, 2 * 2000 * 100000000ull);
    cr_assert_eq(r.prov[2].repair_write, 2000 * 100000000ull);
    near(r.prov[2].repair_egress_cost, 200 * (0.01 + 0.02), 1e-12,
         "c egress");
    near(r.prov[0].repair_egress_cost, 200 * (0.02 + 0.05), 1e-12,
         "a egress");
    cr_assert_eq(r.prov[0].repair_lost, 0);
    near(r.prov[0].reprotect_hours, 24, 0, "assumed window");
    cr_assert_eq(r.measured, 0);
    near(r.cost_total, r.cost_storage + r.cost_requests + r.cost_repair,
         1e-12, "total");
    sv_report_release(&r);
    sv_report_model_release(&m);
}

Test(report, durability_by_hand_three_providers)
{
    struct sv_report_model m;
    struct sv_report r;
    double l[3], q[3], rate = 0, w = 24 * 3600 / SV_REPORT_YEAR_S;
    int i;

    small_vault(&m);
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    cr_assert_eq(r.exact, 1);
    cr_assert_eq(r.simulated, 0);
    for (i = 0; i < 3; i++) {
        l[i] = -log(1 - m.prov[i].annual_loss);
        q[i] = l[i] * w / (1 + l[i] * w);
        near(r.prov[i].q, q[i], 1e-12, "q");
    }
    /* k=2 of n=3: lost when a second provider fails while one is down */
    for (i = 0; i < 3; i++) {
        int a = (i + 1) % 3, b = (i + 2) % 3;
        rate += l[i] * (1 - q[i]) *
                (q[a] * (1 - q[b]) + q[b] * (1 - q[a]));
    }
    near(r.loss_rate, rate, 1e-9, "loss rate");
    near(r.p_loss_year, 1 - exp(-rate), 1e-9, "p year");
    near(r.expected_lost_bytes, 400 * GB * (1 - exp(-rate)), 1e-9,
         "expected bytes");
    sv_report_release(&r);
    sv_report_model_release(&m);
}

Test(report, measured_rate_sets_the_window)
{
    struct sv_report_model m;
    struct sv_report r;

    small_vault(&m);
    m.repair_rate_bps = 50e6;
    m.grace_seconds = 3600;
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    cr_assert_eq(r.measured, 1);
    near(r.prov[2].window_hours, (3600 + 300e9 / 50e6) / 3600, 1e-12, "W");
    near(r.prov[0].reprotect_hours, (3600 + 100e9 / 50e6) / 3600, 1e-12,
         "reprotect");
    sv_report_release(&r);
    sv_report_model_release(&m);
}

/* ---- durability against simulations ---------------------------------- */

static uint64_t rng_s;

static uint64_t rnd(void)
{
    uint64_t z = (rng_s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(void)
{
    return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

/* Does the set of lost providers lose a segment of some pattern? Brute
 * force over the patterns, independent of the code under test. */
static int set_loses(const struct sv_report_model *m, unsigned set)
{
    size_t i, j;

    for (i = 0; i < m->npat; i++) {
        const struct sv_report_pattern *p = &m->pat[i];
        unsigned k = p->n - m->m, lost = 0;
        if (p->good < k)
            continue;
        for (j = 0; j < p->nent; j++)
            if (set >> m->ent[p->ent + j].prov & 1)
                lost += m->ent[p->ent + j].count;
        if (lost > p->good - k)
            return 1;
    }
    return 0;
}

/* Six providers of unequal reliability, k=3 m=2, mixed patterns (one
 * provider holding two shards of some segments). */
static void mixed_vault(struct sv_report_model *m, double hours)
{
    static const double loss[6] = {0.5, 0.3, 0.6, 0.4, 0.2, 0.5};
    static const char *names[6] = {"p0", "p1", "p2", "p3", "p4", "p5"};
    int i;

    base(m, 3, 2, 2);
    m->reprotect_hours = hours;
    for (i = 0; i < 6; i++)
        add_prov(m, names[i], 10 * GB, 1000, 0, 0.01, 0.01, loss[i]);
    m->segments = 3000;
    m->logical_bytes = 30 * GB;
    m->stored_bytes = 60 * GB;
    m->health[0] = 3000;
    add_pat(m, 5, "111110", 1000, 10 * GB, 1000 * 20000000ull);
    add_pat(m, 5, "011111", 1000, 10 * GB, 1000 * 20000000ull);
    add_pat(m, 5, "210101", 1000, 10 * GB, 1000 * 20000000ull);
}

Test(report, enumeration_matches_monte_carlo_snapshots)
{
    struct sv_report_model m;
    struct sv_report r;
    double lam[6], q[6], rate, snap, sum = 0, sum2 = 0, mean, se, ps;
    long hits = 0, t, trials = 1000000;
    unsigned j, set;

    mixed_vault(&m, 24 * 30);
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    for (j = 0; j < 6; j++) {
        lam[j] = r.prov[j].lambda;
        q[j] = r.prov[j].q;
    }
    cr_assert_eq(sv_report_loss_rate(&m, lam, q, 1, &rate, &snap), SV_OK);
    near(rate, r.loss_rate, 1e-12, "compute uses the enumeration");
    /* Draw provider states from q; estimate the snapshot loss probability
     * and the flux (sum of lambda_j over providers j whose loss would
     * lose a segment from a state that loses none). */
    rng_s = 42;
    for (t = 0; t < trials; t++) {
        double f = 0;
        set = 0;
        for (j = 0; j < 6; j++)
            if (unif() < q[j])
                set |= 1u << j;
        if (set_loses(&m, set)) {
            hits++;
        } else {
            for (j = 0; j < 6; j++)
                if (!(set >> j & 1) && set_loses(&m, set | 1u << j))
                    f += lam[j];
        }
        sum += f;
        sum2 += f * f;
    }
    mean = sum / trials;
    se = sqrt((sum2 / trials - mean * mean) / trials);
    cr_assert(fabs(mean - rate) <= 4 * se,
              "flux: enumeration %.6g, Monte Carlo %.6g +- %.3g", rate, mean,
              se);
    ps = (double)hits / trials;
    se = sqrt(snap * (1 - snap) / trials);
    cr_assert(fabs(ps - snap) <= 4 * se,
              "snapshot: enumeration %.6g, Monte Carlo %.6g +- %.3g", snap,
              ps, se);
    cr_assert_gt(hits, 1000, "the regime must produce losses");
    sv_report_release(&r);
    sv_report_model_release(&m);
}

/*
 * Provider lifetimes over one year: provider i fails after Exp(lambda_i),
 * stays lost for exactly W, then comes back and fails again. The process
 * starts in its steady state (lost with probability q_i, the rest of the
 * window uniform), so the model's only approximations left are the
 * Poisson treatment of loss events (P(at least one) = 1 - exp(-rate):
 * loss events cluster a little) and nothing else. Tolerance: 4 binomial
 * standard errors plus 3% of the value for that clustering.
 */
Test(report, model_matches_monte_carlo_of_provider_lifetimes)
{
    struct sv_report_model m;
    struct sv_report r;
    double lam[6], q[6], w, p, se, down_end[6][8], down_beg[6][8];
    long hits = 0, t, trials = 1000000;
    unsigned nd[6], j, a, b;

    mixed_vault(&m, 24 * 10);
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    w = 24 * 10 * 3600 / SV_REPORT_YEAR_S;
    for (j = 0; j < 6; j++) {
        lam[j] = r.prov[j].lambda;
        q[j] = r.prov[j].q;
    }
    rng_s = 7;
    for (t = 0; t < trials; t++) {
        int lost = 0;
        for (j = 0; j < 6; j++) {
            double tt = 0;
            nd[j] = 0;
            if (unif() < q[j]) {
                tt = unif() * w;
                down_beg[j][0] = -1;
                down_end[j][nd[j]++] = tt;
            }
            for (;;) {
                tt += -log(unif()) / lam[j];
                if (tt >= 1 || nd[j] == 8)
                    break;
                down_beg[j][nd[j]] = tt;
                down_end[j][nd[j]++] = tt + w;
                tt += w;
            }
        }
        /* at every failure inside the year, is a segment newly lost? */
        for (j = 0; j < 6 && !lost; j++)
            for (a = 0; a < nd[j] && !lost; a++) {
                double at = down_beg[j][a];
                unsigned set = 0;
                if (at < 0)
                    continue;
                for (b = 0; b < 6; b++) {
                    unsigned c;
                    if (b == j)
                        continue;
                    for (c = 0; c < nd[b]; c++)
                        if (down_beg[b][c] <= at && at < down_end[b][c])
                            set |= 1u << b;
                }
                if (!set_loses(&m, set) && set_loses(&m, set | 1u << j))
                    lost = 1;
            }
        hits += lost;
    }
    p = (double)hits / trials;
    se = sqrt(p * (1 - p) / trials);
    cr_assert(fabs(p - r.p_loss_year) <= 4 * se + 0.03 * r.p_loss_year,
              "model %.5g, Monte Carlo %.5g +- %.2g", r.p_loss_year, p, se);
    cr_assert_gt(p, 0.01, "the regime must produce losses");
    sv_report_release(&r);
    sv_report_model_release(&m);
}

/*
 * The closed-form Markov MTTDL for N identical providers, each failing at
 * lambda and repaired at rate mu = 1/W independently (birth-death chain
 * on the number down, absorbing at m + 1). The expected time to first go
 * from i down to i + 1 down is tau_i = (1 + d_i tau_{i-1}) / b_i with
 * b_i = (N - i) lambda and d_i = i mu; MTTDL = sum of tau_0..tau_m.
 * Why they differ slightly: the chain starts with every provider up and
 * is absorbed at the first loss, while the report's model takes the
 * providers in their steady state and counts the stationary flux into the
 * losing states; the two rates differ by terms of order lambda * W (the
 * time spent near loss and the start-up transient), a fraction of a
 * percent in the first regime and a few percent in the second. Tolerance
 * 10%.
 */
static double markov_p_year(unsigned N, unsigned mm, double lambda, double w)
{
    double tau = 0, mttdl = 0, mu = 1 / w;
    unsigned i;

    for (i = 0; i <= mm; i++) {
        tau = (1 + i * mu * tau) / ((N - i) * lambda);
        mttdl += tau;
    }
    return 1 - exp(-1 / mttdl);
}

static void markov_case(unsigned N, unsigned mm, double annual_loss,
                        double hours)
{
    struct sv_report_model m;
    struct sv_report r;
    char name[16], counts[SV_MAX_N + 1];
    double lambda = -log(1 - annual_loss), want;
    unsigned i;

    base(&m, N - mm, mm, 1);
    m.reprotect_hours = hours;
    m.segments = 100;
    m.logical_bytes = 100 * GB;
    m.stored_bytes = 100 * GB * N / (N - mm);
    m.health[0] = 100;
    for (i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "p%u", i);
        add_prov(&m, name, m.stored_bytes / N, 100, 0, 0.01, 0.01,
                 annual_loss);
        counts[i] = '1';
    }
    counts[N] = 0;
    add_pat(&m, N, counts, 100, 100 * GB, 100 * 1000000ull);
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    want = markov_p_year(N, mm, lambda, hours * 3600 / SV_REPORT_YEAR_S);
    near(r.p_loss_year, want, 0.10, "Markov MTTDL");
    sv_report_release(&r);
    sv_report_model_release(&m);
}

Test(report, model_matches_markov_mttdl)
{
    markov_case(6, 2, 0.05, 72);     /* rare losses: q ~ 4e-4 */
    markov_case(6, 2, 0.5, 24 * 10); /* frequent: q ~ 2e-2 */
    markov_case(3, 1, 0.1, 24);      /* one parity */
    markov_case(12, 4, 0.2, 24 * 7);
}

Test(report, union_bound_bounds_the_exact_rate)
{
    struct sv_report_model m;
    struct sv_report r;
    double lam[6], q[6], exact, bound, one = 0;
    unsigned j;
    size_t i;

    mixed_vault(&m, 24 * 30);
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    for (j = 0; j < 6; j++) {
        lam[j] = r.prov[j].lambda;
        q[j] = r.prov[j].q;
    }
    cr_assert_eq(sv_report_loss_rate(&m, lam, q, 1, &exact, NULL), SV_OK);
    cr_assert_eq(sv_report_loss_rate(&m, lam, q, 0, &bound, NULL), SV_OK);
    cr_assert_geq(bound, exact);
    for (i = 0; i < m.npat; i++)
        one = fmax(one, sv_report_pattern_rate(&m, &m.pat[i], lam, q));
    cr_assert_leq(one, exact + 1e-15, "any pattern's rate is a lower bound");
    sv_report_release(&r);
    sv_report_model_release(&m);
}

Test(report, pattern_rate_equals_enumeration_for_one_pattern)
{
    struct sv_report_model m;
    struct sv_report r;
    double lam[6], q[6], exact;
    unsigned j;

    mixed_vault(&m, 24 * 200); /* q near 0.2: exercises the DP */
    m.npat = 0;
    m.nent = 0;
    memset(m.hash, 0, m.hash_cap * sizeof(*m.hash));
    add_pat(&m, 5, "210101", 3000, 30 * GB, 3000 * 20000000ull);
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    for (j = 0; j < 6; j++) {
        lam[j] = r.prov[j].lambda;
        q[j] = r.prov[j].q;
    }
    cr_assert_eq(sv_report_loss_rate(&m, lam, q, 1, &exact, NULL), SV_OK);
    near(sv_report_pattern_rate(&m, &m.pat[0], lam, q), exact, 1e-9,
         "one pattern");
    /* q >= 0.5 takes the direct path; still equal */
    for (j = 0; j < 6; j++)
        q[j] = 0.6;
    cr_assert_eq(sv_report_loss_rate(&m, lam, q, 1, &exact, NULL), SV_OK);
    near(sv_report_pattern_rate(&m, &m.pat[0], lam, q), exact, 1e-9,
         "one pattern, q high");
    sv_report_release(&r);
    sv_report_model_release(&m);
}

Test(report, many_providers_use_the_union_bound)
{
    struct sv_report_model m;
    struct sv_report r;
    char name[16];
    double lam[SV_REPORT_MAX_PROV], q[SV_REPORT_MAX_PROV], rate;
    unsigned i;

    base(&m, 4, 2, 1);
    m.segments = 100000;
    m.logical_bytes = 100 * GB;
    m.stored_bytes = 150 * GB;
    m.health[0] = 100000;
    for (i = 0; i < 24; i++) {
        snprintf(name, sizeof(name), "p%02u", i);
        add_prov(&m, name, 150 * GB / 24, 25000, 0, 0.01, 0.01, 0.05);
    }
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    cr_assert_eq(r.simulated, 1);
    cr_assert_eq(r.exact, 0, "24 providers: union bound");
    cr_assert_gt(r.loss_rate, 0);
    for (i = 0; i < 24; i++) {
        lam[i] = r.prov[i].lambda;
        q[i] = r.prov[i].q;
    }
    cr_assert_eq(sv_report_loss_rate(&m, lam, q, 1, &rate, NULL), SV_INVAL);
    sv_report_release(&r);
    sv_report_model_release(&m);
}

/* ---- simulated placement --------------------------------------------- */

Test(report, simulated_placement_respects_the_caps)
{
    struct sv_report_model m;
    const char *own[6] = {"x", "x", "y", "y", "z", "z"};
    struct sv_report_prov p;
    uint64_t segs = 0;
    size_t i, j;

    base(&m, 4, 2, 2);
    m.max_per_owner = 2;
    m.segments = 10000;
    m.logical_bytes = 10 * GB;
    m.stored_bytes = 15 * GB;
    for (i = 0; i < 6; i++) {
        char name[8];
        memset(&p, 0, sizeof(p));
        snprintf(name, sizeof(name), "p%zu", i);
        p.name = name;
        p.owner = (char *)own[i];
        p.weight = 1;
        cr_assert_eq(sv_report_add_provider(&m, &p), SV_OK);
    }
    cr_assert_eq(sv_report_simulate(&m), SV_OK);
    cr_assert_eq(m.simulated, 1);
    cr_assert_geq(m.npat, 1);
    for (i = 0; i < m.npat; i++) {
        unsigned per_owner[3] = {0};
        cr_assert_eq(m.pat[i].good, 6);
        for (j = 0; j < m.pat[i].nent; j++) {
            const struct sv_report_ent *e = &m.ent[m.pat[i].ent + j];
            cr_assert_leq(e->count, 2);
            per_owner[e->prov / 2] += e->count;
        }
        for (j = 0; j < 3; j++)
            cr_assert_eq(per_owner[j], 2, "owner cap 2 over 3 owners");
        segs += m.pat[i].segments;
    }
    cr_assert_eq(segs, 10000, "samples stand for every segment");
    m.max_per_owner = 1;
    cr_assert_eq(sv_report_simulate(&m), SV_POLICY);
    m.k = 0;
    cr_assert_eq(sv_report_simulate(&m), SV_INVAL);
    sv_report_model_release(&m);
}

/* ---- what-if --------------------------------------------------------- */

static void four_vault(struct sv_report_model *m)
{
    static const char *pats[] = {"1110", "1101", "1011", "0111"};
    struct sv_hist_rec h;
    int i;

    base(m, 2, 1, 1);
    add_prov(m, "a", 300 * GB, 3000, 1000 * GB, 0.02, 0.01, 0.02);
    add_prov(m, "b", 300 * GB, 3000, 1000 * GB, 0.01, 0.02, 0.02);
    add_prov(m, "c", 300 * GB, 3000, 1000 * GB, 0.005, 0.03, 0.02);
    add_prov(m, "d", 300 * GB, 3000, 1000 * GB, 0.01, 0.04, 0.02);
    m->objects = 4000;
    m->segments = 4000;
    m->logical_bytes = 800 * GB;
    m->stored_bytes = 1200 * GB;
    m->health[0] = 4000;
    for (i = 0; i < 4; i++) {
        add_pat(m, 3, pats[i], 1000, 200 * GB, 1000 * 100000000ull);
        m->prov[i].healthy_objects = 3000;
    }
    memset(&h, 0, sizeof(h));
    h.day = DAY0 - 10;
    h.stored_added = 100 * GB;
    cr_assert_eq(sv_report_add_history(m, &h), SV_OK);
    h.day = DAY0;
    cr_assert_eq(sv_report_add_history(m, &h), SV_OK);
}

static void scenario(struct sv_report_model *today, const char *const *specs,
                     struct sv_report_model *out, struct sv_report *rt,
                     struct sv_report *rw)
{
    struct sv_report_whatif w;

    sv_report_whatif_init(&w);
    for (; *specs; specs++)
        cr_assert_eq(sv_report_whatif_parse(&w, *specs), SV_OK, "%s: %s",
                     *specs, sv_errmsg(SV_INVAL));
    cr_assert_eq(sv_report_apply(today, &w, out), SV_OK, "%s",
                 sv_errmsg(SV_INVAL));
    cr_assert_eq(sv_report_compute(today, 30, rt), SV_OK);
    cr_assert_eq(sv_report_compute(out, 30, rw), SV_OK);
    sv_report_whatif_release(&w);
}

Test(report, whatif_lose_removes_and_replaces)
{
    static const char *const specs[] = {"lose=c", NULL};
    struct sv_report_model m, w;
    struct sv_report rt, rw;
    double egress_t = 0, egress_w = 0;
    size_t i;

    four_vault(&m);
    scenario(&m, specs, &w, &rt, &rw);
    cr_assert_eq(w.nprov, 3);
    cr_assert_eq(sv_report_find_provider(&w, "c"), -1, "c is gone");
    /* health right after the loss: c held a shard of 3000 segments */
    cr_assert_eq(w.health[0], 1000);
    cr_assert_eq(w.health[1], 3000);
    cr_assert_eq(w.health[2], 0);
    cr_assert_eq(w.objects_at_risk, 3000);
    cr_assert_eq(w.unprotectable, 0, "3 providers hold n=3 at cap 1");
    /* repair re-placed c's 300 GB on the others; nothing else moves */
    cr_assert_eq(rw.bytes_total, rt.bytes_total);
    cr_assert_eq(rw.shards_total, rt.shards_total);
    for (i = 0; i < 3; i++) {
        int t = sv_report_find_provider(&m, w.prov[i].name);
        cr_assert_eq(w.prov[i].bytes, 400 * GB, "%s", w.prov[i].name);
        /* each keeps more data, so losing it next reads more; the egress
         * bill grows too unless its helpers got cheaper (d: its segments
         * now all have a and b, the two cheapest, as helpers) */
        cr_assert_eq(rw.prov[i].repair_read, 4 * rt.prov[t].repair_read / 3,
                     "%s", w.prov[i].name);
        cr_assert_geq(rw.prov[i].repair_egress_cost,
                      rt.prov[t].repair_egress_cost - 1e-9, "%s",
                      w.prov[i].name);
        egress_t += rt.prov[t].repair_egress_cost;
        egress_w += rw.prov[i].repair_egress_cost;
        cr_assert_gt(rw.prov[i].cost_storage, rt.prov[t].cost_storage);
    }
    near(rw.prov[0].repair_egress_cost, 400 * (0.02 + 0.04), 1e-12,
         "a: from b and d");
    near(rt.prov[0].repair_egress_cost, 100 * (0.05 + 0.06 + 0.07), 1e-12,
         "a today: from bc, bd, cd");
    cr_assert_gt(egress_w, egress_t);
    /* growth goes to the three left, a third each */
    for (i = 0; i < 3; i++)
        near(rw.prov[i].growth_share, 1.0 / 3, 1e-12, "share");
    /* every segment now sits on the same three: all of them lose one */
    cr_assert_eq(w.npat, 1);
    cr_assert_gt(rw.p_loss_year, 0);
    sv_report_release(&rt);
    sv_report_release(&rw);
    sv_report_model_release(&w);
    sv_report_model_release(&m);
}

Test(report, whatif_lose_below_n_is_unprotectable)
{
    static const char *const specs[] = {"lose=a", "lose=b", NULL};
    struct sv_report_model m, w;
    struct sv_report rt, rw;

    four_vault(&m);
    scenario(&m, specs, &w, &rt, &rw);
    cr_assert_eq(w.nprov, 2);
    /* two providers cannot hold 3 shards at cap 1 */
    cr_assert_gt(w.unprotectable, 0);
    cr_assert_gt(rw.degraded_segments + rw.lost_segments, 0);
    sv_report_release(&rt);
    sv_report_release(&rw);
    sv_report_model_release(&w);
    sv_report_model_release(&m);
}

Test(report, whatif_add_adds_capacity_only)
{
    static const char *const specs[] = {
        "add=e,quota=10T,price_storage=0.006,annual_loss=0.01,"
        "owner=E Corp,jurisdiction=FR",
        NULL};
    struct sv_report_model m, w;
    struct sv_report rt, rw;
    size_t i;

    four_vault(&m);
    scenario(&m, specs, &w, &rt, &rw);
    cr_assert_eq(w.nprov, 5);
    i = (size_t)sv_report_find_provider(&w, "e");
    cr_assert_eq(i, 4);
    cr_assert_eq(w.prov[i].bytes, 0);
    cr_assert_eq(w.prov[i].added, 1);
    cr_assert_str_eq(w.prov[i].owner, "E Corp");
    cr_assert_str_eq(w.prov[i].jurisdiction, "FR");
    near(w.prov[i].price_storage, 0.006, 0, "price");
    cr_assert_eq(rw.quota_total, rt.quota_total + (10ull << 40));
    /* nothing moves: same bytes, same cost, same durability */
    cr_assert_eq(rw.bytes_total, rt.bytes_total);
    near(rw.cost_storage, rt.cost_storage, 1e-12, "storage cost");
    near(rw.p_loss_year, rt.p_loss_year, 1e-12, "durability");
    /* e has far more free quota: placement picks it for almost every
     * segment, one shard each (cap 1 of n=3); the others split the rest
     * and fill later */
    cr_assert(fabs(rw.prov[i].growth_share - 1.0 / 3) < 0.01, "e %.4f",
              rw.prov[i].growth_share);
    for (i = 0; i < 4; i++) {
        near(rt.prov[i].growth_share, 0.25, 0.04, "today");
        cr_assert(fabs(rw.prov[i].growth_share - 1.0 / 6) < 0.01, "%.4f",
                  rw.prov[i].growth_share);
        cr_assert_gt(rw.prov[i].fill_day, rt.prov[i].fill_day);
    }
    sv_report_release(&rt);
    sv_report_release(&rw);
    sv_report_model_release(&w);
    sv_report_model_release(&m);
}

Test(report, whatif_code_scales_overhead_exactly)
{
    static const char *const specs[] = {"k=6,m=3", NULL};
    struct sv_report_model m, w;
    struct sv_report rt, rw;
    double ratio = (9.0 / 6) / (3.0 / 2);

    four_vault(&m);
    m.max_per_provider = 3; /* 4 providers must hold 9 shards */
    scenario(&m, specs, &w, &rt, &rw);
    cr_assert_eq(w.k, 6);
    cr_assert_eq(w.m, 3);
    near(rw.ratio / rt.ratio, ratio, 1e-12, "overhead ratio");
    near(rw.ec_ratio, 1.5, 1e-12, "n/k");
    near((double)rw.bytes_total / rt.bytes_total, ratio, 1e-12, "stored");
    near(rw.stored_per_day / rt.stored_per_day, ratio, 1e-9, "growth");
    cr_assert_eq(rw.simulated, 1);
    cr_assert_eq(rw.segments, rt.segments);
    cr_assert_eq(w.health[0], 4000, "re-encoded: healthy");
    sv_report_release(&rt);
    sv_report_release(&rw);
    sv_report_model_release(&w);
    sv_report_model_release(&m);
}

Test(report, whatif_combination_applies_in_order)
{
    static const char *const specs[] = {
        "lose=d", "add=e,quota=2T,price_storage=0.001,annual_loss=0.3", NULL};
    struct sv_report_model m, w;
    struct sv_report rt, rw;

    four_vault(&m);
    scenario(&m, specs, &w, &rt, &rw);
    cr_assert_eq(w.nprov, 4);
    cr_assert_eq(sv_report_find_provider(&w, "d"), -1);
    cr_assert_eq(sv_report_find_provider(&w, "e"), 3);
    cr_assert_eq(w.prov[3].quota, 2ull << 40);
    cr_assert_eq(rw.quota_total, rt.quota_total - 1000 * GB + (2ull << 40));
    sv_report_release(&rt);
    sv_report_release(&rw);
    sv_report_model_release(&w);
    sv_report_model_release(&m);
}

Test(report, whatif_errors)
{
    struct sv_report_model m, w;
    struct sv_report_whatif wf;

    four_vault(&m);
    sv_report_whatif_init(&wf);
    cr_assert_eq(sv_report_whatif_parse(&wf, "lose=zz"), SV_OK);
    cr_assert_eq(sv_report_apply(&m, &wf, &w), SV_INVAL, "unknown provider");
    sv_report_whatif_release(&wf);
    cr_assert_eq(sv_report_whatif_parse(&wf, "add=a,quota=1T"), SV_OK);
    cr_assert_eq(sv_report_apply(&m, &wf, &w), SV_INVAL, "name taken");
    sv_report_whatif_release(&wf);
    cr_assert_eq(sv_report_whatif_parse(&wf, "k=8,m=4,max_per_provider=2"),
                 SV_OK);
    cr_assert_eq(sv_report_apply(&m, &wf, &w), SV_POLICY,
                 "12 shards on 4 providers at cap 2");
    sv_report_whatif_release(&wf);
    cr_assert_eq(sv_report_apply(NULL, &wf, &w), SV_INVAL);
    cr_assert_eq(sv_report_apply(&m, NULL, &w), SV_INVAL);
    sv_report_model_release(&m);
}

Test(report, whatif_parse)
{
    static const char *const bad[] = {
        "", "lose", "lose=", "foo=1", "quota=1T", "add=x,quota=lots",
        "add=x,annual_loss=1", "add=x,annual_loss=-0.1", "add=x,weight=0",
        "k=0", "k=abc", "m=300", "k=4,m=2,max_per_provider=x",
        "add=x,price_storage=nan", "add=x,owner=", ",", "k=1e3"};
    struct sv_report_whatif w;
    size_t i;

    sv_report_whatif_init(&w);
    cr_assert_eq(sv_report_whatif_parse(&w, "lose=a"), SV_OK);
    cr_assert_eq(w.nop, 1);
    cr_assert_eq(w.op[0].kind, SV_WHATIF_LOSE);
    cr_assert_str_eq(w.op[0].prov.name, "a");
    cr_assert_eq(sv_report_whatif_parse(
                     &w, "add=x,quota=10T,price_storage=0.006,price_egress="
                         "0.01,price_request=0.004,annual_loss=0.01,"
                         "owner=O,jurisdiction=J,weight=2"),
                 SV_OK);
    cr_assert_eq(w.nop, 2);
    cr_assert_eq(w.op[1].kind, SV_WHATIF_ADD);
    cr_assert_eq(w.op[1].prov.quota, 10ull << 40);
    near(w.op[1].prov.price_storage, 0.006, 0, "storage");
    near(w.op[1].prov.price_egress, 0.01, 0, "egress");
    near(w.op[1].prov.price_request, 0.004, 0, "request");
    near(w.op[1].prov.annual_loss, 0.01, 0, "loss");
    near(w.op[1].prov.weight, 2, 0, "weight");
    cr_assert_str_eq(w.op[1].prov.owner, "O");
    cr_assert_str_eq(w.op[1].prov.jurisdiction, "J");
    cr_assert_eq(sv_report_whatif_parse(&w, "k=6,m=3,lose=b"), SV_OK);
    cr_assert_eq(w.nop, 4);
    cr_assert_eq(w.op[2].kind, SV_WHATIF_CODE);
    cr_assert_eq(w.op[2].k, 6);
    cr_assert_eq(w.op[2].m, 4, "m stored plus one");
    cr_assert_eq(w.op[3].kind, SV_WHATIF_LOSE);
    cr_assert_eq(w.nspec, 3);
    cr_assert_str_eq(w.spec[2], "k=6,m=3,lose=b");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_neq(sv_report_whatif_parse(&w, bad[i]), SV_OK, "'%s'",
                      bad[i]);
        cr_assert_eq(w.nop, 4, "'%s' left w unchanged", bad[i]);
        cr_assert_eq(w.nspec, 3);
    }
    cr_assert_eq(sv_report_whatif_parse(NULL, "lose=a"), SV_INVAL);
    cr_assert_eq(sv_report_whatif_parse(&w, NULL), SV_INVAL);
    sv_report_whatif_release(&w);
    sv_report_whatif_release(NULL);
}

/* ---- building a model ------------------------------------------------ */

Test(report, add_provider_rejects_bad_input)
{
    struct sv_report_model m;
    struct sv_report_prov p;

    sv_report_model_init(&m);
    memset(&p, 0, sizeof(p));
    cr_assert_eq(sv_report_add_provider(&m, &p), SV_INVAL, "no name");
    p.name = "ok";
    p.annual_loss = 1;
    cr_assert_eq(sv_report_add_provider(&m, &p), SV_INVAL, "loss 1");
    p.annual_loss = 0.1;
    p.price_storage = -1;
    cr_assert_eq(sv_report_add_provider(&m, &p), SV_INVAL, "price");
    p.price_storage = NAN;
    cr_assert_eq(sv_report_add_provider(&m, &p), SV_INVAL, "nan");
    p.price_storage = 0;
    p.name = "bad\nname";
    cr_assert_eq(sv_report_add_provider(&m, &p), SV_INVAL, "control char");
    p.name = "ok";
    cr_assert_eq(sv_report_add_provider(&m, &p), SV_OK);
    cr_assert_str_eq(m.prov[0].owner, "ok", "owner defaults to the name");
    cr_assert_eq(m.prov[0].weight, 1, "weight defaults to 1");
    cr_assert_eq(sv_report_add_provider(&m, &p), SV_EXISTS);
    cr_assert_eq(sv_report_add_provider(NULL, &p), SV_INVAL);
    cr_assert_eq(sv_report_find_provider(&m, "ok"), 0);
    cr_assert_eq(sv_report_find_provider(&m, "no"), -1);
    sv_report_model_release(&m);
    sv_report_model_release(NULL);
}

Test(report, add_pattern_merges_and_checks)
{
    struct sv_report_model m;
    uint8_t pv[3] = {0, 1, 0}, ct[3] = {1, 2, 1}, pv2[2] = {1, 0},
            ct2[2] = {2, 2}, bad[1] = {5};
    int i;

    sv_report_model_init(&m);
    add_prov(&m, "a", 0, 0, 0, 0, 0, 0);
    add_prov(&m, "b", 0, 0, 0, 0, 0, 0);
    cr_assert_eq(sv_report_add_pattern(&m, 4, 3, pv, ct, 1, 10, 5), SV_OK);
    cr_assert_eq(m.npat, 1);
    cr_assert_eq(m.pat[0].good, 4);
    cr_assert_eq(m.pat[0].nent, 2, "duplicates merged");
    /* the same pattern in another order merges */
    cr_assert_eq(sv_report_add_pattern(&m, 4, 2, pv2, ct2, 2, 20, 10),
                 SV_OK);
    cr_assert_eq(m.npat, 1);
    cr_assert_eq(m.pat[0].segments, 3);
    cr_assert_eq(m.pat[0].bytes, 30);
    cr_assert_eq(m.pat[0].shard_bytes, 15);
    /* many distinct patterns grow the index */
    for (i = 0; i < 200; i++) {
        uint8_t c2[2] = {(uint8_t)(i % 250 + 1), 0};
        cr_assert_eq(sv_report_add_pattern(&m, 255, 2, pv, c2, 1, 1, 1),
                     SV_OK);
    }
    cr_assert_eq(m.npat, 201);
    cr_assert_eq(sv_report_add_pattern(&m, 3, 2, pv2, ct2, 1, 1, 1), SV_INVAL,
                 "4 shards of 3");
    cr_assert_eq(sv_report_add_pattern(&m, 3, 1, bad, ct, 1, 1, 1), SV_INVAL,
                 "no provider 5");
    cr_assert_eq(sv_report_add_pattern(&m, 0, 0, NULL, NULL, 1, 1, 1),
                 SV_INVAL);
    cr_assert_eq(sv_report_add_pattern(NULL, 3, 0, NULL, NULL, 1, 1, 1),
                 SV_INVAL);
    sv_report_model_release(&m);
}

Test(report, add_history_must_ascend)
{
    struct sv_report_model m;
    struct sv_hist_rec h;

    sv_report_model_init(&m);
    memset(&h, 0, sizeof(h));
    h.day = 10;
    h.bytes_added = 5;
    cr_assert_eq(sv_report_add_history(&m, &h), SV_OK);
    cr_assert_eq(sv_report_add_history(&m, &h), SV_OK);
    cr_assert_eq(m.nhist, 1, "same day summed");
    cr_assert_eq(m.hist[0].bytes_added, 10);
    h.day = 9;
    cr_assert_eq(sv_report_add_history(&m, &h), SV_INVAL);
    cr_assert_eq(sv_report_add_history(&m, NULL), SV_INVAL);
    sv_report_model_release(&m);
}

Test(report, compute_edge_cases)
{
    struct sv_report_model m;
    struct sv_report r;
    struct sv_hist_rec h;

    /* an empty vault: no providers, nothing stored */
    sv_report_model_init(&m);
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    cr_assert_eq(r.window_days, SV_REPORT_WINDOW_DAYS);
    cr_assert_eq(r.ratio, 0);
    cr_assert_eq(r.loss_rate, 0);
    cr_assert_eq(r.first_fill_day, SV_REPORT_NEVER);
    sv_report_release(&r);
    /* shrinking vault: never fills; a full provider is full today */
    add_prov(&m, "full", 10 * GB, 10, 10 * GB, 0.01, 0.01, 0.01);
    add_prov(&m, "other", 10 * GB, 10, 100 * GB, 0.01, 0.01, 0.01);
    m.stored_bytes = 20 * GB;
    m.now_day = DAY0;
    memset(&h, 0, sizeof(h));
    h.day = DAY0 - 5;
    h.stored_removed = 5 * GB;
    cr_assert_eq(sv_report_add_history(&m, &h), SV_OK);
    cr_assert_eq(sv_report_compute(&m, 10, &r), SV_OK);
    cr_assert_lt(r.stored_per_day, 0);
    cr_assert_eq(r.prov[0].fill_day, DAY0, "full now");
    cr_assert_eq(r.prov[0].days_to_full, 0);
    cr_assert_eq(r.prov[1].fill_day, SV_REPORT_NEVER, "shrinking");
    cr_assert_eq(r.points, 7, "from the day before the first record");
    sv_report_release(&r);
    cr_assert_eq(sv_report_compute(&m, 100000, &r), SV_INVAL);
    cr_assert_eq(sv_report_compute(NULL, 0, &r), SV_INVAL);
    m.k = 0;
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_INVAL);
    sv_report_model_release(&m);
    sv_report_release(NULL);
}

Test(report, loss_rate_rejects_missing_inputs)
{
    struct sv_report_model m;
    double l[1] = {0}, rate;

    sv_report_model_init(&m);
    cr_assert_eq(sv_report_loss_rate(NULL, l, l, 1, &rate, NULL), SV_INVAL);
    cr_assert_eq(sv_report_loss_rate(&m, NULL, l, 1, &rate, NULL), SV_INVAL);
    cr_assert_eq(sv_report_loss_rate(&m, l, l, 1, NULL, NULL), SV_INVAL);
    cr_assert_eq(sv_report_loss_rate(&m, l, l, 1, &rate, NULL), SV_OK);
    cr_assert_eq(rate, 0);
    sv_report_model_release(&m);
}

/* Degraded segments: the yearly figures count them repaired; the chance
 * of losing one before repair is reported apart; a segment repair cannot
 * fix stays exposed all year. */
Test(report, degraded_segments_are_exposed_until_repaired)
{
    struct sv_report_model m;
    struct sv_report r, r0;
    double la, lb, qa, qb, rate, w = 24 * 3600 / SV_REPORT_YEAR_S;

    small_vault(&m);
    cr_assert_eq(sv_report_compute(&m, 0, &r0), SV_OK);
    add_prov(&m, "spare", 0, 0, 1000 * GB, 0.01, 0.01, 0.02);
    add_pat(&m, 3, "11", 10, 2 * GB, 10 * 100000000ull);
    m.health[1] = 10;
    m.segments += 10;
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    cr_assert_eq(r.exposed_segments, 10);
    near(r.exposure_hours, 24, 0, "assumed window");
    la = r.prov[0].lambda;
    lb = r.prov[1].lambda;
    qa = r.prov[0].q;
    qb = r.prov[1].q;
    rate = la * (1 - qa) * (1 - qb) + lb * (1 - qb) * (1 - qa);
    near(r.p_loss_exposure, 1 - exp(-rate * w), 1e-9, "exposure");
    /* healed onto c or the spare: the yearly rate stays small */
    cr_assert_lt(r.loss_rate, 2 * r0.loss_rate + 1e-6);
    sv_report_release(&r);
    /* with the spare down and c full the shard has nowhere to go */
    m.prov[3].state = SV_PROV_DOWN;
    m.prov[2].bytes = m.prov[2].quota;
    cr_assert_eq(sv_report_compute(&m, 0, &r), SV_OK);
    cr_assert_eq(r.exposed_segments, 0);
    cr_assert_eq(r.p_loss_exposure, 0);
    cr_assert_geq(r.loss_rate, rate * 0.999, "exposed all year");
    sv_report_release(&r);
    sv_report_release(&r0);
    sv_report_model_release(&m);
}
