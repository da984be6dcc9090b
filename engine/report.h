/*
 * engine/report.h: the capacity-planning report (DESIGN.md section 7), as
 * a model separated from I/O.
 *
 *   sv_report_load()     config + catalog -> struct sv_report_model (one
 *                        bounded scan of the segments; no per-object state)
 *   sv_report_apply()    model + what-if ops -> a new model
 *   sv_report_compute()  model -> struct sv_report (every number shown)
 *   engine/report_fmt.c  report -> text, JSON, CSV, XHTML with SVG charts
 *
 * A model can also be built by hand (tests): sv_report_model_init, then
 * sv_report_add_provider / _add_pattern / _add_history and the plain
 * fields.
 *
 * Placement patterns. The durability and repair numbers need to know how
 * the shards of each segment are spread. The loader groups segments by
 * pattern: for each provider, how many good shards of the segment it
 * holds. A vault with a few providers has a few hundred patterns however
 * many objects it holds, so memory stays bounded. A model without
 * patterns (built by hand, or after a what-if that re-encodes) gets a
 * simulated placement: SV_REPORT_SIM_SEGMENTS sample segments placed by
 * the engine's own sv_place (weight = free quota x configured weight;
 * unlimited providers count as the emptiest limited one) under the caps,
 * each standing for its share of the segments and bytes. Repair in a
 * what-if and the healing below use sv_place the same way.
 *
 * Growth: the vault's stored bytes per day (least squares over a window
 * of the history) split among providers by the placement's choice today:
 * each provider's share of the shards of SV_REPORT_SIM_SEGMENTS simulated
 * segments (history has no per-provider figures; this also gives a new or
 * emptier provider its larger share, as weighting by free quota does).
 *
 * Durability model ("stationary provider-loss flux, Poisson-binomial over
 * providers"): provider i is lost at rate lambda_i = -ln(1 - annual_loss_i)
 * per year and its shards stay lost for a re-protection window W_i (the
 * repair daemon's grace period plus its stored bytes at the measured
 * repair rate, or the configured reprotect_hours when nothing was
 * measured). In steady state provider i is lost with probability
 * q_i = lambda_i W_i / (1 + lambda_i W_i), independently of the others. A
 * segment with g good shards is lost when the lost providers hold more
 * than g - k of them. Loss events happen at the rate
 *     R = sum over provider sets L that lose nothing, and providers j not
 *         in L such that L + j loses a segment, of P(L) * lambda_j
 * (the flux into the set of losing states; P(L) is the Poisson-binomial
 * product of q_i and 1 - q_i), computed exactly by enumerating provider
 * subsets when at most SV_REPORT_EXACT_MAX providers hold shards, else
 * bounded above by the sum of the per-pattern rates (a union bound, said
 * so in the output). Loss events are taken as a Poisson process: P(lose
 * at least one segment in a year) = 1 - exp(-R * 1 year). Expected bytes
 * lost per year = sum over patterns of bytes * (1 - exp(-R_pattern)).
 * The yearly figures are for the vault as repair leaves it: the missing
 * shards of degraded segments are re-placed under the caps first (those
 * that cannot be are kept degraded: they stay exposed all year). The
 * segments degraded now are reported apart: the probability of losing one
 * of them before the repair queue is through (its window: the queue's
 * bytes at the measured rate, else reprotect_hours).
 * Why a flux and not independent fixed windows: splitting the year into
 * windows of length W and asking for m + 1 losses inside one window
 * misses the clusters that straddle a window boundary and undercounts by
 * a factor of about m + 1 against the Markov chain; the flux counts every
 * moment at which the (m+1)-th loss can strike (tests check both the
 * Markov MTTDL and a Monte Carlo of provider lifetimes).
 */
#ifndef SV_REPORT_H
#define SV_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/catalog.h"
#include "engine/config.h"
#include "engine/error.h"

#define SV_REPORT_EXACT_MAX    20        /* providers enumerated exactly */
#define SV_REPORT_SIM_SEGMENTS 4096      /* simulated placement samples */
#define SV_REPORT_MAX_PROV     250       /* providers in one model */
#define SV_REPORT_WINDOW_DAYS  30        /* default growth fit window */
#define SV_REPORT_NEVER        INT64_MAX /* fill day: not filling */
#define SV_REPORT_HORIZON_DAYS 36525 /* fill dates further out are "never" */
#define SV_REPORT_YEAR_S       31557600.0 /* 365.25 days */
#define SV_REPORT_GB           1e9        /* prices are per 10^9 bytes */
#define SV_REPORT_MONTH_DAYS   30.4375
/* State key of the measured repair rate (written by the repair daemon):
 * bytes of rebuilt shards written per second, ASCII decimal (an 8-byte
 * little-endian unsigned integer is accepted too). */
#define SV_REPORT_RATE_KEY "repair.rate_bps"

struct sv_report_prov {
    char *name, *owner, *jurisdiction; /* owned by the model */
    int state;                         /* enum sv_prov_state */
    int in_config;                     /* 0: only in the catalog */
    int added;                         /* 1: added by a what-if */
    uint64_t quota;                    /* bytes; 0 = unlimited */
    double weight;                     /* placement weight, > 0 */
    double price_storage;              /* per GB-month */
    double price_egress;               /* per GB */
    double price_request;              /* per 1000 requests */
    double annual_loss;                /* probability per year, [0, 1) */
    uint64_t bytes, shards;            /* stored, as the catalog counts */
    /* Objects whose every segment is healthy and which hold a good shard
     * here: they become "at risk" if this provider is lost. */
    uint64_t healthy_objects;
};

/* One placement pattern: segments whose good shards sit the same way. */
struct sv_report_pattern {
    uint64_t segments;
    uint64_t bytes;       /* logical (plaintext) bytes of those segments */
    uint64_t shard_bytes; /* sum over the segments of one shard's size */
    uint16_t n;           /* shards per segment */
    uint16_t good;        /* good shards (sum of the counts) */
    uint16_t nent;        /* providers holding good shards */
    uint32_t ent;         /* offset into the model's entry arena */
};

/* A pattern entry: provider index (into the model) and good shard count. */
struct sv_report_ent {
    uint8_t prov, count;
};

#define SV_REPORT_HEALTH_MAX (SV_MAX_N + 2)

struct sv_report_model {
    unsigned k, m; /* the vault's code: n = k + m */
    unsigned max_per_provider, max_per_owner, max_per_jurisdiction;
    uint32_t segment_size;
    char currency[16];
    double reprotect_hours; /* assumption when no rate was measured */
    double repair_rate_bps; /* measured; 0 = none */
    double grace_seconds;   /* detection delay before repair starts */
    int64_t now_day;        /* "today", days since the epoch (UTC) */
    double stored_scale;    /* history's stored bytes x this (what-if k/m) */

    struct sv_report_prov *prov;
    size_t nprov, cap_prov;

    /* overhead */
    uint64_t objects, segments;
    uint64_t logical_bytes, stored_bytes;
    uint64_t padding_bytes; /* stored bytes due to padding (parity incl.) */
    uint64_t framing_bytes; /* shard headers, records, authenticators */
    uint64_t small_objects; /* objects that fit in one segment */
    uint64_t small_waste;   /* their padding + framing bytes */

    /* health: health[d] = segments with n - d good shards for d <= m,
     * health[m + 1] = segments with fewer than k (lost) */
    uint64_t health[SV_REPORT_HEALTH_MAX];
    uint64_t objects_at_risk; /* objects with a segment below n */
    uint64_t repair_queue;    /* entries in the catalog's repair queue */
    uint64_t unprotectable;   /* what-if: segments repair cannot re-place */

    struct sv_hist_rec *hist; /* ascending by day */
    size_t nhist, cap_hist;

    struct sv_report_pattern *pat;
    size_t npat, cap_pat;
    struct sv_report_ent *ent;
    size_t nent, cap_ent;
    uint32_t *hash; /* pattern index + 1 by hash; 0 = empty */
    size_t hash_cap;
    int simulated; /* patterns come from simulated placement */
};

void sv_report_model_init(struct sv_report_model *m);
void sv_report_model_release(struct sv_report_model *m);

/* Append a provider, copying its strings (owner and jurisdiction default
 * to the name when NULL). SV_EXISTS if the name is taken, SV_INVAL if
 * there are SV_REPORT_MAX_PROV already or a value is out of range. */
enum sv_err
sv_report_add_provider(struct sv_report_model *m,
                       const struct sv_report_prov *p) SV_MUST_CHECK;

/* Index of the provider called name, or -1. */
int sv_report_find_provider(const struct sv_report_model *m, const char *name);

/*
 * Add segments to the pattern where provider prov[i] holds count[i] good
 * shards (entries in any order; zero counts ignored), merging with an
 * equal pattern. n is the segment's shard count. SV_INVAL if a provider
 * index is out of range or the counts exceed n.
 */
enum sv_err sv_report_add_pattern(struct sv_report_model *m, unsigned n,
                                  unsigned nent, const uint8_t *prov,
                                  const uint8_t *count, uint64_t segments,
                                  uint64_t bytes,
                                  uint64_t shard_bytes) SV_MUST_CHECK;

/* Append one day of history (days must ascend; an equal day is summed).
 * SV_INVAL if h->day is before the last day added. */
enum sv_err sv_report_add_history(struct sv_report_model *m,
                                  const struct sv_hist_rec *h) SV_MUST_CHECK;

/*
 * Build the model of a vault from its configuration and catalog (read
 * only: nothing is written). now_day is today; the caller passes
 * time(NULL) / 86400 or a fixed day in tests. *out is initialised here and
 * is the caller's on SV_OK (release it); on failure it is released.
 * Errors from the catalog are passed on with its sentence; SV_CORRUPT if
 * the catalog names more than SV_REPORT_MAX_PROV providers.
 */
enum sv_err sv_report_load(const struct sv_config *cfg, struct sv_cat *cat,
                           int64_t now_day,
                           struct sv_report_model *out) SV_MUST_CHECK;

/* What-if scenarios, parsed from --what-if SPEC arguments. */
enum sv_whatif_kind {
    SV_WHATIF_LOSE = 1, /* lose=NAME */
    SV_WHATIF_ADD = 2,  /* add=NAME,quota=..,price_storage=.., ... */
    SV_WHATIF_CODE = 3, /* k=K,m=M[,max_per_provider=N] */
};

struct sv_whatif_op {
    int kind;                   /* enum sv_whatif_kind */
    struct sv_report_prov prov; /* LOSE: name; ADD: the new provider */
    unsigned k, m;              /* CODE: 0 = unchanged */
    unsigned max_per_provider;  /* CODE: 0 = follow the default rule */
};

struct sv_report_whatif {
    struct sv_whatif_op *op;
    size_t nop;
    char **spec; /* the SPEC strings, for the output */
    size_t nspec;
};

void sv_report_whatif_init(struct sv_report_whatif *w);
void sv_report_whatif_release(struct sv_report_whatif *w);

/*
 * Parse one SPEC: comma-separated key=value items. lose=NAME; add=NAME
 * followed by that provider's quota (size: 10T, 512G), price_storage,
 * price_egress, price_request, annual_loss, weight, owner, jurisdiction;
 * k=, m=, max_per_provider=. Ops are appended to w in order (several SPECs
 * combine into one scenario). SV_INVAL with the item and the reason on
 * any bad input; w is then unchanged.
 */
enum sv_err sv_report_whatif_parse(struct sv_report_whatif *w,
                                   const char *spec) SV_MUST_CHECK;

/*
 * The model after the scenario, in *out (initialised here; the caller's on
 * SV_OK). Rules (each stated in the output):
 *  lose=X   health right after the loss (X's shards gone, objects at risk
 *           grow by X's healthy objects); then providers, cost and
 *           durability after repair re-placed X's shards on the others
 *           under the caps (X's stored bytes split among them as its
 *           shards went; segments it cannot re-place stay degraded and
 *           are counted in unprotectable). X is removed from the model.
 *  add=Y    Y joins empty (placement does not move existing shards); new
 *           bytes are split by the simulated placement, Y included.
 *  k=,m=    the vault re-encoded: stored bytes (each provider's and the
 *           total) scale by (n'/k') / (n/k), shards by n'/n, segments are
 *           healthy, placement is simulated under the caps; the cap
 *           follows min(k'-1, m') when the old one was the default.
 * SV_INVAL (unknown provider, duplicate name, bad k/m), SV_POLICY (n'
 * shards cannot be placed under the caps), SV_NOMEM.
 */
enum sv_err sv_report_apply(const struct sv_report_model *today,
                            const struct sv_report_whatif *w,
                            struct sv_report_model *out) SV_MUST_CHECK;

/* Every number of the report, parallel to the model's providers. */
struct sv_report_prov_res {
    double share;      /* of the stored bytes, 0..1 */
    double quota_used; /* 0..1; < 0 when the quota is unlimited */
    double cost_storage, cost_requests; /* per month */
    double growth_share;                /* of new stored bytes */
    double growth_per_day;              /* stored bytes per day */
    double days_to_full;                /* < 0: never (or unlimited) */
    int64_t fill_day;                   /* SV_REPORT_NEVER if never */
    double lambda;                      /* losses per year */
    double window_hours;                /* re-protection window W */
    double q;                           /* steady-state lost probability */
    /* if this provider were lost: */
    uint64_t repair_segments;  /* segments with a shard here */
    uint64_t repair_read;      /* bytes read from helpers */
    uint64_t repair_write;     /* bytes of rebuilt shards */
    uint64_t repair_lost;      /* segments that could not be rebuilt */
    double repair_egress_cost; /* helpers' egress price */
    double reprotect_hours;
};

struct sv_report {
    size_t nprov;
    struct sv_report_prov_res *prov;
    unsigned n, k;
    /* providers */
    uint64_t bytes_total, shards_total, quota_total; /* quota: finite only */
    int quota_unlimited; /* some provider has no quota */
    /* overhead */
    double ratio;    /* stored / logical (0 if nothing stored) */
    double ec_ratio; /* n / k */
    /* health */
    uint64_t segments, lost_segments, degraded_segments;
    /* growth */
    unsigned window_days, points;
    double ingest_per_day, delete_per_day; /* logical bytes */
    double stored_per_day;                 /* fitted slope */
    int64_t first_fill_day;                /* earliest, or NEVER */
    double *series;   /* stored bytes at the end of each window day, */
    unsigned nseries; /* oldest first, the last being today */
    /* durability */
    const char *model_name;
    int exact;        /* 1: exact enumeration; 0: union bound */
    int simulated;    /* placement simulated, not read from the catalog */
    int measured;     /* 1: measured repair rate; 0: reprotect_hours */
    double loss_rate; /* loss events per year */
    double p_loss_year;
    double expected_lost_bytes; /* per year */
    uint64_t exposed_segments;  /* degraded now, repair can fix them */
    double exposure_hours;      /* until the repair queue is through */
    double p_loss_exposure;     /* P(one is lost before it is repaired) */
    /* cost per month */
    double cost_storage, cost_requests, cost_repair, cost_total;
};

/*
 * Compute the report of model m with a growth fit over the last
 * window_days days (0: SV_REPORT_WINDOW_DAYS). *out is the caller's on
 * SV_OK (sv_report_release). The model is not changed except that a
 * model without patterns but with segments gets simulated ones (hence not
 * const). SV_NOMEM, SV_POLICY (a simulated placement is infeasible),
 * SV_INVAL (bad window).
 */
enum sv_err sv_report_compute(struct sv_report_model *m, unsigned window_days,
                              struct sv_report *out) SV_MUST_CHECK;
void sv_report_release(struct sv_report *r);

/* Replace the model's patterns by a simulated placement (see above).
 * SV_POLICY if n shards do not fit under the caps. */
enum sv_err sv_report_simulate(struct sv_report_model *m) SV_MUST_CHECK;

/*
 * Low-level durability, exposed for the tests: the loss-event rate per
 * year of patterns pat[0..npat) over providers with loss rates lambda[]
 * and steady-state lost probabilities q[] (indexed like the model), for
 * code parameter k. exact: enumerate provider subsets (requires at most
 * SV_REPORT_EXACT_MAX providers in the patterns, else SV_INVAL); else the
 * union bound. *p_snapshot (may be NULL) gets the probability that at a
 * random moment some segment is lost (exact mode only).
 */
enum sv_err sv_report_loss_rate(const struct sv_report_model *m,
                                const double *lambda, const double *q,
                                int exact, double *rate,
                                double *p_snapshot) SV_MUST_CHECK;
/* The loss-event rate per year of one pattern (per-segment DP). */
double sv_report_pattern_rate(const struct sv_report_model *m,
                              const struct sv_report_pattern *p,
                              const double *lambda, const double *q);

/* A report and its model, with an optional what-if next to it. */
struct sv_report_view {
    const struct sv_report_model *model;
    const struct sv_report *rep;
};

struct sv_report_doc {
    struct sv_report_view today;
    struct sv_report_view whatif; /* model NULL when there is none */
    const struct sv_report_whatif *specs;
};

/*
 * Renderers (engine/report_fmt.c). They write to the caller's stream and
 * return SV_IO if writing failed, SV_NOMEM. Text: tables for people
 * (GiB, %, the vault's currency). JSON: the schema in docs/report-json.md.
 * CSV: one table per section, each after a "# section" line. HTML: one
 * self-contained XHTML document with inline SVG charts (ids
 * chart-capacity, chart-growth, chart-health, chart-cost), no scripts.
 */
enum sv_err sv_report_render_text(FILE *f,
                                  const struct sv_report_doc *d) SV_MUST_CHECK;
enum sv_err sv_report_render_json(FILE *f,
                                  const struct sv_report_doc *d) SV_MUST_CHECK;
enum sv_err sv_report_render_csv(FILE *f,
                                 const struct sv_report_doc *d) SV_MUST_CHECK;
enum sv_err sv_report_render_html(FILE *f,
                                  const struct sv_report_doc *d) SV_MUST_CHECK;

/* "1.50 GiB", "512 B" into buf (at least 32 bytes); returns buf. */
char *sv_report_fmt_bytes(double bytes, char *buf, size_t len);
/* "2025-03-14" for a day since the epoch, "never" for SV_REPORT_NEVER. */
char *sv_report_fmt_day(int64_t day, char *buf, size_t len);

#endif
