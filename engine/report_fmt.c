/*
 * engine/report_fmt.c: render a computed report as text tables, JSON
 * (docs/report-json.md), CSV or one self-contained XHTML page with inline
 * SVG charts. The renderers write to the caller's stream and print
 * nothing else.
 *
 * Text, CSV and HTML share one set of tables built from the report: each
 * cell has a form for people ("1.50 GiB", "12.3%") and a raw form for
 * machines (bytes, fractions); CSV takes the raw one. JSON is built with
 * jansson from the report directly so that its keys stay stable.
 */
#include "engine/report.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXCOL 12
#define SCHEMA "shardvault-report/1"

char *sv_report_fmt_bytes(double bytes, char *buf, size_t len)
{
    static const char *const unit[] = {"B",   "KiB", "MiB", "GiB",
                                       "TiB", "PiB", "EiB"};
    double a = fabs(bytes);
    unsigned u = 0;

    while (a >= 1024 && u < 6) {
        a /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%.0f B", bytes);
    else
        snprintf(buf, len, "%.2f %s", bytes < 0 ? -a : a, unit[u]);
    return buf;
}

char *sv_report_fmt_day(int64_t day, char *buf, size_t len)
{
    struct tm tm;
    time_t t;

    if (day == SV_REPORT_NEVER || day > 2932896 || day < -719162) {
        snprintf(buf, len, "never");
        return buf;
    }
    t = (time_t)(day * 86400);
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
    return buf;
}

static char *fmt_money(double v, const char *cur, char *buf, size_t len)
{
    if (fabs(v) >= 1 || v == 0)
        snprintf(buf, len, "%.2f %s", v, cur);
    else
        snprintf(buf, len, "%.4f %s", v, cur);
    return buf;
}

static char *fmt_hours(double h, char *buf, size_t len)
{
    if (h < 48)
        snprintf(buf, len, "%.1f h", h);
    else
        snprintf(buf, len, "%.1f d", h / 24);
    return buf;
}

/* ---- tables ---------------------------------------------------------- */

struct col {
    const char *key, *title;
    int right;
};

struct cell {
    char *h, *raw;
};

struct table {
    const char *id;    /* CSV section, HTML id */
    const char *title; /* for people */
    unsigned ncol;
    struct col col[MAXCOL];
    struct cell *c;
    size_t ncell, cap;
    int oom;
};

static void table_free(struct table *t)
{
    size_t i;

    for (i = 0; i < t->ncell; i++) {
        free(t->c[i].h);
        free(t->c[i].raw);
    }
    free(t->c);
    t->c = NULL;
    t->ncell = t->cap = 0;
}

static void put(struct table *t, const char *h, const char *raw)
{
    struct cell *c;

    if (t->oom)
        return;
    if (t->ncell == t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 64;
        c = realloc(t->c, ncap * sizeof(*c));
        if (!c) {
            t->oom = 1;
            return;
        }
        t->c = c;
        t->cap = ncap;
    }
    c = &t->c[t->ncell];
    c->h = strdup(h);
    c->raw = strdup(raw ? raw : h);
    if (!c->h || !c->raw) {
        free(c->h);
        free(c->raw);
        t->oom = 1;
        return;
    }
    t->ncell++;
}

static void putf(struct table *t, const char *raw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void putf(struct table *t, const char *raw, const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    put(t, buf, raw);
}

static void put_u(struct table *t, uint64_t v)
{
    char b[32];

    snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
    put(t, b, b);
}

static void put_bytes(struct table *t, double v)
{
    char h[48], r[48];

    snprintf(r, sizeof(r), "%.0f", v);
    put(t, sv_report_fmt_bytes(v, h, sizeof(h)), r);
}

static void put_num(struct table *t, double v, const char *hfmt)
{
    char h[48], r[48];

    snprintf(r, sizeof(r), "%.10g", v);
    snprintf(h, sizeof(h), hfmt, v);
    put(t, h, r);
}

static void put_pct(struct table *t, double frac)
{
    char h[48], r[48];

    if (frac < 0) {
        put(t, "-", "");
        return;
    }
    snprintf(r, sizeof(r), "%.6f", frac);
    snprintf(h, sizeof(h), "%.1f%%", frac * 100);
    put(t, h, r);
}

static void put_money(struct table *t, double v, const char *cur)
{
    char h[64], r[48];

    snprintf(r, sizeof(r), "%.6f", v);
    put(t, fmt_money(v, cur, h, sizeof(h)), r);
}

static void put_day(struct table *t, int64_t day)
{
    char h[32];

    sv_report_fmt_day(day, h, sizeof(h));
    put(t, h, day == SV_REPORT_NEVER ? "" : h);
}

static void put_hours(struct table *t, double hours)
{
    char h[48], r[48];

    snprintf(r, sizeof(r), "%.3f", hours);
    put(t, fmt_hours(hours, h, sizeof(h)), r);
}

static void cols(struct table *t, const char *id, const char *title,
                 const char *spec)
{
    /* spec: "key:Title:r;key:Title;..." (r = right-aligned); the
     * columns point into spec, a string literal. */
    const char *p = spec;

    memset(t, 0, sizeof(*t));
    t->id = id;
    t->title = title;
    while (*p && t->ncol < MAXCOL) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        struct col *c = &t->col[t->ncol++];
        const char *c1 = memchr(p, ':', len);
        const char *c2 =
            c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - p)) : NULL;
        c->key = p;
        c->title = c1 ? c1 + 1 : p;
        c->right = c2 && c2[1] == 'r';
        p += len + (e ? 1 : 0);
    }
}

/* Length of the key or title field of a column spec (up to ':' / ';'). */
static size_t field_len(const char *s)
{
    size_t n = 0;

    while (s[n] && s[n] != ':' && s[n] != ';')
        n++;
    return n;
}

/* ---- the tables of one report ---------------------------------------- */

struct tables {
    struct table t[12];
    unsigned n;
};

static struct table *tnew(struct tables *ts, const char *id, const char *title,
                          const char *spec)
{
    struct table *t = &ts->t[ts->n++];

    cols(t, id, title, spec);
    return t;
}

static void tables_free(struct tables *ts)
{
    unsigned i;

    for (i = 0; i < ts->n; i++)
        table_free(&ts->t[i]);
    ts->n = 0;
}

static void build_tables(const struct sv_report_view *v, struct tables *ts)
{
    const struct sv_report_model *m = v->model;
    const struct sv_report *r = v->rep;
    const char *cur = m->currency;
    struct table *t;
    unsigned d;
    size_t i;
    char b[64];

    memset(ts, 0, sizeof(*ts));
    t = tnew(ts, "providers", "Providers",
             "provider:provider;state:state;owner:owner;"
             "jurisdiction:jurisdiction;stored_bytes:stored:r;"
             "shards:shards:r;quota_bytes:quota:r;quota_used:used:r;"
             "share:share:r;monthly_storage:storage/month:r");
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *p = &m->prov[i];
        const char *st = sv_prov_state_name((unsigned)p->state);
        put(t, p->name, NULL);
        putf(t, st, "%s%s", st,
             p->added       ? " (new)"
             : p->in_config ? ""
                            : " (not in config)");
        put(t, p->owner, NULL);
        put(t, p->jurisdiction, NULL);
        put_bytes(t, (double)p->bytes);
        put_u(t, p->shards);
        if (p->quota)
            put_bytes(t, (double)p->quota);
        else
            put(t, "unlimited", "");
        put_pct(t, r->prov[i].quota_used);
        put_pct(t, r->prov[i].share);
        put_money(t, r->prov[i].cost_storage, cur);
    }
    put(t, "total", NULL);
    put(t, "", NULL);
    put(t, "", NULL);
    put(t, "", NULL);
    put_bytes(t, (double)r->bytes_total);
    put_u(t, r->shards_total);
    if (r->quota_unlimited)
        put(t, "unlimited", "");
    else
        put_bytes(t, (double)r->quota_total);
    put_pct(t, r->quota_unlimited || !r->quota_total
                   ? -1
                   : (double)r->bytes_total / r->quota_total);
    put_pct(t, r->bytes_total ? 1 : 0);
    put_money(t, r->cost_storage, cur);

    t = tnew(ts, "overhead", "Overhead", "item:item;value:value:r");
    put(t, "objects", NULL);
    put_u(t, m->objects);
    put(t, "segments", NULL);
    put_u(t, m->segments);
    put(t, "logical bytes", "logical_bytes");
    put_bytes(t, (double)m->logical_bytes);
    put(t, "stored bytes", "stored_bytes");
    put_bytes(t, (double)m->stored_bytes);
    put(t, "stored / logical", "ratio");
    put_num(t, r->ratio, "%.3f");
    put(t, "erasure code n/k", "ec_ratio");
    snprintf(b, sizeof(b), "%.10g", r->ec_ratio);
    putf(t, b, "%u/%u = %.3f", r->n, r->k, r->ec_ratio);
    put(t, "framing (headers, records, tags)", "framing_bytes");
    put_bytes(t, (double)m->framing_bytes);
    put(t, "padding (parity included)", "padding_bytes");
    put_bytes(t, (double)m->padding_bytes);
    put(t, "objects smaller than a segment", "small_objects");
    put_u(t, m->small_objects);
    put(t, "their padding + framing", "small_object_waste_bytes");
    put_bytes(t, (double)m->small_waste);

    t = tnew(ts, "health", "Health: segments by good shards left",
             "good_shards:good shards left;segments:segments:r;"
             "share:share:r");
    for (d = 0; d <= m->m + 1; d++) {
        snprintf(b, sizeof(b), "%u", r->n - d);
        if (d <= m->m)
            putf(t, b, "%u of %u", r->n - d, r->n);
        else
            putf(t, "lost", "lost (< %u)", r->k);
        put_u(t, m->health[d]);
        put_pct(t, r->segments ? (double)m->health[d] / r->segments : 0);
    }
    t = tnew(ts, "health.summary", "Health summary", "item:item;value:value:r");
    put(t, "segments", NULL);
    put_u(t, r->segments);
    put(t, "degraded segments", "degraded_segments");
    put_u(t, r->degraded_segments);
    put(t, "lost segments", "lost_segments");
    put_u(t, r->lost_segments);
    put(t, "objects at risk (a segment below n)", "objects_at_risk");
    put_u(t, m->objects_at_risk);
    put(t, "repair queue", "repair_queue");
    put_u(t, m->repair_queue);
    put(t, "segments repair cannot re-place", "unprotectable_segments");
    put_u(t, m->unprotectable);

    t = tnew(ts, "growth", "Growth", "item:item;value:value:r");
    put(t, "fit window (days)", "window_days");
    put_u(t, r->window_days);
    put(t, "days with data in the window", "points");
    put_u(t, r->points);
    put(t, "ingest per day (logical)", "ingest_bytes_per_day");
    put_bytes(t, r->ingest_per_day);
    put(t, "deletions per day (logical)", "delete_bytes_per_day");
    put_bytes(t, r->delete_per_day);
    put(t, "stored growth per day (least squares)", "stored_bytes_per_day");
    put_bytes(t, r->stored_per_day);
    put(t, "first provider full", "first_fill_date");
    put_day(t, r->first_fill_day);
    t = tnew(ts, "growth.providers", "Growth per provider",
             "provider:provider;growth_share:share of new bytes:r;"
             "growth_bytes_per_day:growth/day:r;free_bytes:free:r;"
             "days_to_full:days to full:r;fill_date:full on:r");
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *p = &m->prov[i];
        const struct sv_report_prov_res *x = &r->prov[i];
        put(t, p->name, NULL);
        put_pct(t, x->growth_share);
        put_bytes(t, x->growth_per_day);
        if (p->quota)
            put_bytes(t,
                      p->bytes < p->quota ? (double)(p->quota - p->bytes) : 0);
        else
            put(t, "unlimited", "");
        if (x->days_to_full >= 0)
            put_num(t, x->days_to_full, "%.1f");
        else
            put(t, "-", "");
        put_day(t, x->fill_day);
    }

    t = tnew(ts, "durability", "Durability", "item:item;value:value:r");
    put(t, "model", NULL);
    put(t, r->model_name, NULL);
    put(t, "method", NULL);
    put(t,
        r->exact ? "exact enumeration of provider subsets"
                 : "upper bound: sum over placement patterns",
        r->exact ? "exact" : "union-bound");
    put(t, "placement", NULL);
    put(t, r->simulated ? "simulated under the caps" : "from the catalog",
        r->simulated ? "simulated" : "catalog");
    put(t, "re-protection window", "window_source");
    if (r->measured) {
        char h[48];
        putf(t, "measured", "grace + stored / measured rate (%s/s)",
             sv_report_fmt_bytes(m->repair_rate_bps, h, sizeof(h)));
    } else {
        putf(t, "assumed", "assumed %.1f h (reprotect_hours)",
             m->reprotect_hours);
    }
    put(t, "loss events per year", "loss_events_per_year");
    put_num(t, r->loss_rate, "%.3g");
    put(t, "P(lose a segment within a year)", "p_loss_year");
    put_num(t, r->p_loss_year, "%.3g");
    put(t, "expected bytes lost per year", "expected_bytes_lost_per_year");
    put_bytes(t, r->expected_lost_bytes);
    put(t, "segments degraded now (repairable)", "exposed_segments");
    put_u(t, r->exposed_segments);
    put(t, "their repair window", "exposure_hours");
    put_hours(t, r->exposure_hours);
    put(t, "P(lose one before it is repaired)", "p_loss_before_repair");
    put_num(t, r->p_loss_exposure, "%.3g");
    t = tnew(ts, "durability.providers", "Durability inputs per provider",
             "provider:provider;annual_loss:annual loss:r;"
             "window_hours:re-protect window:r;q:lost fraction:r");
    for (i = 0; i < m->nprov; i++) {
        put(t, m->prov[i].name, NULL);
        put_num(t, m->prov[i].annual_loss, "%.4g");
        put_hours(t, r->prov[i].window_hours);
        put_num(t, r->prov[i].q, "%.3g");
    }

    t = tnew(ts, "cost", "Cost per month, and repair if a provider were lost",
             "provider:provider;monthly_storage:storage/month:r;"
             "monthly_requests:requests/month:r;"
             "if_lost_read_bytes:repair reads:r;"
             "if_lost_egress_cost:repair egress:r;"
             "if_lost_reprotect_hours:re-protect in:r;"
             "if_lost_unrecoverable:unrecoverable segments:r");
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov_res *x = &r->prov[i];
        put(t, m->prov[i].name, NULL);
        put_money(t, x->cost_storage, cur);
        put_money(t, x->cost_requests, cur);
        put_bytes(t, (double)x->repair_read);
        put_money(t, x->repair_egress_cost, cur);
        put_hours(t, x->reprotect_hours);
        put_u(t, x->repair_lost);
    }
    t = tnew(ts, "cost.summary", "Cost summary", "item:item;value:value:r");
    put(t, "storage per month", "monthly_storage");
    put_money(t, r->cost_storage, cur);
    put(t, "requests per month (new shards)", "monthly_requests");
    put_money(t, r->cost_requests, cur);
    put(t, "expected repair egress per month", "monthly_repair_expected");
    put_money(t, r->cost_repair, cur);
    put(t, "total per month", "monthly_total");
    put_money(t, r->cost_total, cur);
}

/* The comparison of a what-if with today. */
static void build_compare(const struct sv_report_doc *d, struct table *t)
{
    const struct sv_report *a = d->today.rep, *b = d->whatif.rep;
    const struct sv_report_model *ma = d->today.model, *mb = d->whatif.model;
    const char *cur = ma->currency;
    char h[64], r[64];

    cols(t, "whatif.summary", "What-if against today",
         "metric:metric;today:today:r;what_if:what-if:r;change:change:r");
#define ROW_BYTES(name, raw, x, y)                                             \
    do {                                                                       \
        put(t, name, raw);                                                     \
        put_bytes(t, (double)(x));                                             \
        put_bytes(t, (double)(y));                                             \
        snprintf(r, sizeof(r), "%.0f", (double)(y) - (double)(x));             \
        sv_report_fmt_bytes((double)(y) - (double)(x), h + 1, sizeof(h) - 1);  \
        h[0] = (double)(y) >= (double)(x) ? '+' : ' ';                         \
        put(t, h[0] == '+' ? h : h + 1, r);                                    \
    } while (0)
#define ROW_NUM(name, raw, x, y, fmt)                                          \
    do {                                                                       \
        put(t, name, raw);                                                     \
        put_num(t, (x), "%" fmt);                                              \
        put_num(t, (y), "%" fmt);                                              \
        snprintf(r, sizeof(r), "%.10g", (double)(y) - (double)(x));            \
        snprintf(h, sizeof(h), "%+" fmt, (double)(y) - (double)(x));           \
        put(t, h, r);                                                          \
    } while (0)
    ROW_BYTES("stored bytes", "stored_bytes", a->bytes_total, b->bytes_total);
    if (a->quota_unlimited || b->quota_unlimited) {
        put(t, "quota (limited providers)", "quota_bytes");
    } else {
        put(t, "quota", "quota_bytes");
    }
    put_bytes(t, (double)a->quota_total);
    put_bytes(t, (double)b->quota_total);
    snprintf(r, sizeof(r), "%.0f",
             (double)b->quota_total - (double)a->quota_total);
    sv_report_fmt_bytes((double)b->quota_total - (double)a->quota_total, h + 1,
                        sizeof(h) - 1);
    h[0] = '+';
    put(t, b->quota_total >= a->quota_total ? h : h + 1, r);
    ROW_NUM("stored / logical", "ratio", a->ratio, b->ratio, ".4f");
    ROW_NUM("degraded segments", "degraded_segments",
            (double)a->degraded_segments, (double)b->degraded_segments, ".0f");
    ROW_NUM("lost segments", "lost_segments", (double)a->lost_segments,
            (double)b->lost_segments, ".0f");
    ROW_NUM("objects at risk", "objects_at_risk", (double)ma->objects_at_risk,
            (double)mb->objects_at_risk, ".0f");
    ROW_NUM("P(lose a segment within a year)", "p_loss_year", a->p_loss_year,
            b->p_loss_year, ".3g");
    ROW_BYTES("expected bytes lost per year", "expected_bytes_lost_per_year",
              a->expected_lost_bytes, b->expected_lost_bytes);
    put(t, "first provider full", "first_fill_date");
    put_day(t, a->first_fill_day);
    put_day(t, b->first_fill_day);
    if (a->first_fill_day == SV_REPORT_NEVER ||
        b->first_fill_day == SV_REPORT_NEVER)
        put(t, a->first_fill_day == b->first_fill_day ? "0 d" : "-", "");
    else {
        snprintf(r, sizeof(r), "%lld",
                 (long long)(b->first_fill_day - a->first_fill_day));
        putf(t, r, "%+lld d",
             (long long)(b->first_fill_day - a->first_fill_day));
    }
    put(t, "cost per month", "monthly_total");
    put_money(t, a->cost_total, cur);
    put_money(t, b->cost_total, cur);
    snprintf(r, sizeof(r), "%.6f", b->cost_total - a->cost_total);
    fmt_money(b->cost_total - a->cost_total, cur, h + 1, sizeof(h) - 1);
    h[0] = '+';
    put(t, b->cost_total >= a->cost_total ? h : h + 1, r);
#undef ROW_BYTES
#undef ROW_NUM
}

/* ---- text ------------------------------------------------------------ */

/* Flush and report whether anything failed to write. */
static int out_err(FILE *f)
{
    return fflush(f) || ferror(f) ? -1 : 0;
}

/* Display width: count UTF-8 code points, not bytes. */
static size_t width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void text_table(FILE *f, const struct table *t)
{
    size_t w[MAXCOL] = {0}, rows = t->ncol ? t->ncell / t->ncol : 0, i, c;

    fprintf(f, "\n%s\n", t->title);
    for (c = 0; c < t->ncol; c++)
        w[c] = field_len(t->col[c].title);
    for (i = 0; i < rows; i++)
        for (c = 0; c < t->ncol; c++)
            if (width(t->c[i * t->ncol + c].h) > w[c])
                w[c] = width(t->c[i * t->ncol + c].h);
    for (c = 0; c < t->ncol; c++) {
        int len = (int)field_len(t->col[c].title);
        fprintf(f, "%s%*s%.*s%*s", c ? "  " : "  ",
                t->col[c].right ? (int)w[c] - len : 0, "", len, t->col[c].title,
                t->col[c].right ? 0 : (int)w[c] - len, "");
    }
    fputc('\n', f);
    for (i = 0; i < rows; i++) {
        for (c = 0; c < t->ncol; c++) {
            const char *s = t->c[i * t->ncol + c].h;
            int pad = (int)(w[c] - width(s));
            if (c == t->ncol - 1 && !t->col[c].right)
                pad = 0;
            fprintf(f, "  %*s%s%*s", t->col[c].right ? pad : 0, "", s,
                    t->col[c].right ? 0 : pad, "");
        }
        fputc('\n', f);
    }
}

static enum sv_err check_tables(struct tables *ts)
{
    unsigned i;

    for (i = 0; i < ts->n; i++)
        if (ts->t[i].oom)
            return sv_err_set(SV_NOMEM, "report: out of memory");
    return SV_OK;
}

static void spec_list(const struct sv_report_whatif *w, char *buf, size_t len)
{
    size_t i, o = 0;

    buf[0] = 0;
    for (i = 0; w && i < w->nspec && o + 1 < len; i++) {
        int n = snprintf(buf + o, len - o, "%s%s", i ? "; " : "", w->spec[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

static const char *notes[] = {
    "Prices are per GB of 10^9 bytes; sizes are binary (GiB = 2^30).",
    "Growth: least squares over the window of the vault's stored bytes, "
    "split among providers as the placement (weighted by free quota, under "
    "the caps) chooses today.",
    "Durability: providers lost at rate -ln(1 - annual_loss) per year, each "
    "gone for its re-protection window; loss events form a Poisson "
    "process; yearly figures assume repair has re-placed today's missing "
    "shards.",
    "Repair reads k shards per segment from the cheapest helpers by egress "
    "price.",
};

enum sv_err sv_report_render_text(FILE *f, const struct sv_report_doc *d)
{
    struct tables ts;
    struct table cmp;
    enum sv_err rc;
    char day[32], specs[1024];
    unsigned i;

    if (!f || !d || !d->today.model || !d->today.rep)
        return sv_err_set(SV_INVAL, "report: nothing to render");
    fprintf(f, "shardvault report, %s (k=%u m=%u, currency %s)\n",
            sv_report_fmt_day(d->today.model->now_day, day, sizeof(day)),
            d->today.model->k, d->today.model->m, d->today.model->currency);
    build_tables(&d->today, &ts);
    rc = check_tables(&ts);
    for (i = 0; i < ts.n && !rc; i++)
        text_table(f, &ts.t[i]);
    tables_free(&ts);
    if (rc)
        return rc;
    if (d->whatif.model) {
        spec_list(d->specs, specs, sizeof(specs));
        fprintf(f, "\n== What-if: %s (k=%u m=%u)\n", specs, d->whatif.model->k,
                d->whatif.model->m);
        build_compare(d, &cmp);
        if (cmp.oom)
            rc = sv_err_set(SV_NOMEM, "report: out of memory");
        else
            text_table(f, &cmp);
        table_free(&cmp);
        if (rc)
            return rc;
        build_tables(&d->whatif, &ts);
        rc = check_tables(&ts);
        for (i = 0; i < ts.n && !rc; i++)
            text_table(f, &ts.t[i]);
        tables_free(&ts);
        if (rc)
            return rc;
    }
    fputc('\n', f);
    for (i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
        fprintf(f, "note: %s\n", notes[i]);
    return out_err(f) ? sv_err_set(SV_IO, "report: write failed") : SV_OK;
}

/* ---- CSV ------------------------------------------------------------- */

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_table(FILE *f, const struct table *t, const char *prefix)
{
    size_t rows = t->ncell / t->ncol, i, c;

    fprintf(f, "# %s%s\n", prefix, t->id);
    for (c = 0; c < t->ncol; c++) {
        fprintf(f, "%s%.*s", c ? "," : "", (int)field_len(t->col[c].key),
                t->col[c].key);
    }
    fputc('\n', f);
    for (i = 0; i < rows; i++) {
        for (c = 0; c < t->ncol; c++) {
            if (c)
                fputc(',', f);
            csv_field(f, t->c[i * t->ncol + c].raw);
        }
        fputc('\n', f);
    }
}

enum sv_err sv_report_render_csv(FILE *f, const struct sv_report_doc *d)
{
    struct tables ts;
    struct table cmp;
    enum sv_err rc;
    unsigned i;

    if (!f || !d || !d->today.model || !d->today.rep)
        return sv_err_set(SV_INVAL, "report: nothing to render");
    build_tables(&d->today, &ts);
    rc = check_tables(&ts);
    for (i = 0; i < ts.n && !rc; i++)
        csv_table(f, &ts.t[i], "");
    tables_free(&ts);
    if (!rc && d->whatif.model) {
        build_compare(d, &cmp);
        if (cmp.oom)
            rc = sv_err_set(SV_NOMEM, "report: out of memory");
        else
            csv_table(f, &cmp, "");
        table_free(&cmp);
        if (!rc) {
            build_tables(&d->whatif, &ts);
            rc = check_tables(&ts);
            for (i = 0; i < ts.n && !rc; i++)
                csv_table(f, &ts.t[i], "whatif.");
            tables_free(&ts);
        }
    }
    if (rc)
        return rc;
    return out_err(f) ? sv_err_set(SV_IO, "report: write failed") : SV_OK;
}

/* ---- JSON ------------------------------------------------------------ */

static json_t *jday(int64_t day)
{
    char b[32];

    if (day == SV_REPORT_NEVER)
        return json_null();
    return json_string(sv_report_fmt_day(day, b, sizeof(b)));
}

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *jint(uint64_t v)
{
    return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* json_object_set_new that remembers a failure. */
static void jset(json_t *o, const char *k, json_t *v, int *bad)
{
    if (!o || !v || json_object_set_new(o, k, v))
        *bad = 1;
}

static void japp(json_t *a, json_t *v, int *bad)
{
    if (!a || !v || json_array_append_new(a, v))
        *bad = 1;
}

static json_t *json_sections(const struct sv_report_view *v, int *bad)
{
    const struct sv_report_model *m = v->model;
    const struct sv_report *r = v->rep;
    json_t *o = json_object(), *a, *s, *p, *x;
    unsigned d;
    size_t i;

    s = json_object();
    jset(s, "k", json_integer(m->k), bad);
    jset(s, "m", json_integer(m->m), bad);
    jset(s, "n", json_integer(m->k + m->m), bad);
    jset(s, "max_per_provider", json_integer(m->max_per_provider), bad);
    jset(o, "code", s, bad);

    a = json_array();
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *pr = &m->prov[i];
        p = json_object();
        jset(p, "name", json_string(pr->name), bad);
        jset(p, "state", json_string(sv_prov_state_name((unsigned)pr->state)),
             bad);
        jset(p, "owner", json_string(pr->owner), bad);
        jset(p, "jurisdiction", json_string(pr->jurisdiction), bad);
        jset(p, "in_config", json_boolean(pr->in_config), bad);
        jset(p, "added", json_boolean(pr->added), bad);
        jset(p, "stored_bytes", jint(pr->bytes), bad);
        jset(p, "shards", jint(pr->shards), bad);
        jset(p, "quota_bytes", pr->quota ? jint(pr->quota) : json_null(), bad);
        jset(p, "quota_used",
             r->prov[i].quota_used >= 0 ? jnum(r->prov[i].quota_used)
                                        : json_null(),
             bad);
        jset(p, "share", jnum(r->prov[i].share), bad);
        jset(p, "monthly_storage_cost", jnum(r->prov[i].cost_storage), bad);
        japp(a, p, bad);
    }
    jset(o, "providers", a, bad);
    s = json_object();
    jset(s, "stored_bytes", jint(r->bytes_total), bad);
    jset(s, "shards", jint(r->shards_total), bad);
    jset(s, "quota_bytes", jint(r->quota_total), bad);
    jset(s, "quota_unlimited", json_boolean(r->quota_unlimited), bad);
    jset(o, "totals", s, bad);

    s = json_object();
    jset(s, "objects", jint(m->objects), bad);
    jset(s, "segments", jint(m->segments), bad);
    jset(s, "logical_bytes", jint(m->logical_bytes), bad);
    jset(s, "stored_bytes", jint(m->stored_bytes), bad);
    jset(s, "ratio", jnum(r->ratio), bad);
    jset(s, "ec_ratio", jnum(r->ec_ratio), bad);
    jset(s, "framing_bytes", jint(m->framing_bytes), bad);
    jset(s, "padding_bytes", jint(m->padding_bytes), bad);
    jset(s, "small_objects", jint(m->small_objects), bad);
    jset(s, "small_object_waste_bytes", jint(m->small_waste), bad);
    jset(o, "overhead", s, bad);

    s = json_object();
    jset(s, "n", json_integer(r->n), bad);
    jset(s, "k", json_integer(r->k), bad);
    jset(s, "segments", jint(r->segments), bad);
    a = json_array();
    for (d = 0; d <= m->m; d++) {
        p = json_object();
        jset(p, "good", json_integer(r->n - d), bad);
        jset(p, "segments", jint(m->health[d]), bad);
        japp(a, p, bad);
    }
    jset(s, "by_good_shards", a, bad);
    jset(s, "lost_segments", jint(r->lost_segments), bad);
    jset(s, "degraded_segments", jint(r->degraded_segments), bad);
    jset(s, "objects_at_risk", jint(m->objects_at_risk), bad);
    jset(s, "repair_queue", jint(m->repair_queue), bad);
    jset(s, "unprotectable_segments", jint(m->unprotectable), bad);
    jset(o, "health", s, bad);

    s = json_object();
    jset(s, "window_days", json_integer(r->window_days), bad);
    jset(s, "points", json_integer(r->points), bad);
    jset(s, "ingest_bytes_per_day", jnum(r->ingest_per_day), bad);
    jset(s, "delete_bytes_per_day", jnum(r->delete_per_day), bad);
    jset(s, "stored_bytes_per_day", jnum(r->stored_per_day), bad);
    jset(s, "first_fill_date", jday(r->first_fill_day), bad);
    a = json_array();
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov_res *px = &r->prov[i];
        p = json_object();
        jset(p, "name", json_string(m->prov[i].name), bad);
        jset(p, "growth_share", jnum(px->growth_share), bad);
        jset(p, "growth_bytes_per_day", jnum(px->growth_per_day), bad);
        jset(p, "days_to_full",
             px->days_to_full >= 0 ? jnum(px->days_to_full) : json_null(), bad);
        jset(p, "fill_date", jday(px->fill_day), bad);
        japp(a, p, bad);
    }
    jset(s, "providers", a, bad);
    jset(o, "growth", s, bad);

    s = json_object();
    jset(s, "model", json_string(r->model_name), bad);
    jset(s, "method", json_string(r->exact ? "exact" : "union-bound"), bad);
    jset(s, "placement", json_string(r->simulated ? "simulated" : "catalog"),
         bad);
    jset(s, "window_source", json_string(r->measured ? "measured" : "assumed"),
         bad);
    jset(s, "repair_rate_bps",
         r->measured ? jnum(m->repair_rate_bps) : json_null(), bad);
    jset(s, "reprotect_hours_assumed", jnum(m->reprotect_hours), bad);
    jset(s, "loss_events_per_year", jnum(r->loss_rate), bad);
    jset(s, "p_loss_year", jnum(r->p_loss_year), bad);
    jset(s, "expected_bytes_lost_per_year", jnum(r->expected_lost_bytes), bad);
    jset(s, "exposed_segments", jint(r->exposed_segments), bad);
    jset(s, "exposure_hours", jnum(r->exposure_hours), bad);
    jset(s, "p_loss_before_repair", jnum(r->p_loss_exposure), bad);
    a = json_array();
    for (i = 0; i < m->nprov; i++) {
        p = json_object();
        jset(p, "name", json_string(m->prov[i].name), bad);
        jset(p, "annual_loss", jnum(m->prov[i].annual_loss), bad);
        jset(p, "lambda", jnum(r->prov[i].lambda), bad);
        jset(p, "window_hours", jnum(r->prov[i].window_hours), bad);
        jset(p, "q", jnum(r->prov[i].q), bad);
        japp(a, p, bad);
    }
    jset(s, "providers", a, bad);
    jset(o, "durability", s, bad);

    s = json_object();
    jset(s, "currency", json_string(m->currency), bad);
    jset(s, "monthly_storage", jnum(r->cost_storage), bad);
    jset(s, "monthly_requests", jnum(r->cost_requests), bad);
    jset(s, "monthly_repair_expected", jnum(r->cost_repair), bad);
    jset(s, "monthly_total", jnum(r->cost_total), bad);
    a = json_array();
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov_res *px = &r->prov[i];
        p = json_object();
        jset(p, "name", json_string(m->prov[i].name), bad);
        jset(p, "monthly_storage", jnum(px->cost_storage), bad);
        jset(p, "monthly_requests", jnum(px->cost_requests), bad);
        x = json_object();
        jset(x, "segments", jint(px->repair_segments), bad);
        jset(x, "read_bytes", jint(px->repair_read), bad);
        jset(x, "write_bytes", jint(px->repair_write), bad);
        jset(x, "egress_cost", jnum(px->repair_egress_cost), bad);
        jset(x, "reprotect_hours", jnum(px->reprotect_hours), bad);
        jset(x, "unrecoverable_segments", jint(px->repair_lost), bad);
        jset(p, "if_lost", x, bad);
        japp(a, p, bad);
    }
    jset(s, "providers", a, bad);
    jset(o, "cost", s, bad);
    return o;
}

static json_t *json_delta(const struct sv_report_doc *d, int *bad)
{
    const struct sv_report *a = d->today.rep, *b = d->whatif.rep;
    const struct sv_report_model *ma = d->today.model, *mb = d->whatif.model;
    json_t *o = json_object(), *arr = json_array(), *p;
    size_t i;
    int j;

    jset(o, "stored_bytes",
         jnum((double)b->bytes_total - (double)a->bytes_total), bad);
    jset(o, "quota_bytes",
         jnum((double)b->quota_total - (double)a->quota_total), bad);
    jset(o, "ratio", jnum(b->ratio - a->ratio), bad);
    jset(o, "monthly_total", jnum(b->cost_total - a->cost_total), bad);
    jset(o, "p_loss_year", jnum(b->p_loss_year - a->p_loss_year), bad);
    jset(o, "expected_bytes_lost_per_year",
         jnum(b->expected_lost_bytes - a->expected_lost_bytes), bad);
    jset(o, "degraded_segments",
         jnum((double)b->degraded_segments - (double)a->degraded_segments),
         bad);
    jset(o, "lost_segments",
         jnum((double)b->lost_segments - (double)a->lost_segments), bad);
    jset(o, "objects_at_risk",
         jnum((double)mb->objects_at_risk - (double)ma->objects_at_risk), bad);
    for (i = 0; i < ma->nprov; i++) {
        j = sv_report_find_provider(mb, ma->prov[i].name);
        p = json_object();
        jset(p, "name", json_string(ma->prov[i].name), bad);
        jset(p, "status", json_string(j < 0 ? "lost" : "kept"), bad);
        jset(p, "stored_bytes",
             jnum((j < 0 ? 0.0 : (double)mb->prov[j].bytes) -
                  (double)ma->prov[i].bytes),
             bad);
        jset(p, "monthly_storage",
             jnum((j < 0 ? 0.0 : b->prov[j].cost_storage) -
                  a->prov[i].cost_storage),
             bad);
        jset(p, "repair_egress_cost",
             jnum((j < 0 ? 0.0 : b->prov[j].repair_egress_cost) -
                  a->prov[i].repair_egress_cost),
             bad);
        japp(arr, p, bad);
    }
    for (i = 0; i < mb->nprov; i++) {
        if (sv_report_find_provider(ma, mb->prov[i].name) >= 0)
            continue;
        p = json_object();
        jset(p, "name", json_string(mb->prov[i].name), bad);
        jset(p, "status", json_string("added"), bad);
        jset(p, "stored_bytes", jnum((double)mb->prov[i].bytes), bad);
        jset(p, "monthly_storage", jnum(b->prov[i].cost_storage), bad);
        jset(p, "repair_egress_cost", jnum(b->prov[i].repair_egress_cost), bad);
        japp(arr, p, bad);
    }
    jset(o, "providers", arr, bad);
    return o;
}

enum sv_err sv_report_render_json(FILE *f, const struct sv_report_doc *d)
{
    json_t *root, *w, *specs;
    int bad = 0;
    size_t i;

    if (!f || !d || !d->today.model || !d->today.rep)
        return sv_err_set(SV_INVAL, "report: nothing to render");
    root = json_object();
    jset(root, "schema", json_string(SCHEMA), &bad);
    jset(root, "date", jday(d->today.model->now_day), &bad);
    jset(root, "currency", json_string(d->today.model->currency), &bad);
    jset(root, "report", json_sections(&d->today, &bad), &bad);
    if (d->whatif.model) {
        w = json_object();
        specs = json_array();
        for (i = 0; d->specs && i < d->specs->nspec; i++)
            japp(specs, json_string(d->specs->spec[i]), &bad);
        jset(w, "specs", specs, &bad);
        jset(w, "report", json_sections(&d->whatif, &bad), &bad);
        jset(w, "delta", json_delta(d, &bad), &bad);
        jset(root, "what_if", w, &bad);
    } else {
        jset(root, "what_if", json_null(), &bad);
    }
    if (bad || json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ||
        fputc('\n', f) == EOF) {
        json_decref(root);
        return bad ? sv_err_set(SV_NOMEM, "report: out of memory (JSON)")
                   : sv_err_set(SV_IO, "report: write failed");
    }
    json_decref(root);
    return out_err(f) ? sv_err_set(SV_IO, "report: write failed") : SV_OK;
}

/* ---- HTML ------------------------------------------------------------ */

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void html_table(FILE *f, const struct table *t, const char *prefix)
{
    size_t rows = t->ncell / t->ncol, i, c;
    char title[128];

    fprintf(f, "<h3>");
    xml_text(f, t->title);
    fprintf(f, "</h3>\n<table id=\"%s%s\">\n<tr>", prefix, t->id);
    for (c = 0; c < t->ncol; c++) {
        snprintf(title, sizeof(title), "%.*s", (int)field_len(t->col[c].title),
                 t->col[c].title);
        fprintf(f, "<th>");
        xml_text(f, title);
        fprintf(f, "</th>");
    }
    fprintf(f, "</tr>\n");
    for (i = 0; i < rows; i++) {
        fprintf(f, "<tr>");
        for (c = 0; c < t->ncol; c++) {
            fprintf(f, "<td%s>", t->col[c].right ? " class=\"r\"" : "");
            xml_text(f, t->c[i * t->ncol + c].h);
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

static const char *const COLOR[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                    "#bcbd22", "#17becf"};
#define NCOLOR (sizeof(COLOR) / sizeof(COLOR[0]))

static void svg_open(FILE *f, const char *id, const char *suffix, int w, int h,
                     const char *title)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s%s\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "role=\"img\">\n<title>",
            id, suffix, w, h, w, h);
    xml_text(f, title);
    fprintf(f, "</title>\n");
}

static void svg_label(FILE *f, double x, double y, const char *anchor,
                      const char *text)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y, anchor);
    xml_text(f, text);
    fprintf(f, "</text>\n");
}

/* Stored bytes per provider against its quota (horizontal bars). */
static void chart_capacity(FILE *f, const struct sv_report_view *v,
                           const char *sfx)
{
    const struct sv_report_model *m = v->model;
    int row = 26, w = 720, lab = 160, bw = 400;
    int h = 30 + row * (int)(m->nprov ? m->nprov : 1);
    double max = 1;
    char b1[48], b2[48], line[128];
    size_t i;

    for (i = 0; i < m->nprov; i++) {
        max = fmax(max, (double)m->prov[i].bytes);
        max = fmax(max, (double)m->prov[i].quota);
    }
    svg_open(f, "chart-capacity", sfx, w, h,
             "Stored bytes per provider against quota");
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *p = &m->prov[i];
        double y = 20 + row * (double)i;
        double bl = bw * (double)p->bytes / max;
        svg_label(f, lab - 8, y + 14, "end", p->name);
        if (p->quota)
            fprintf(f,
                    "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"18\" "
                    "fill=\"none\" stroke=\"#555\" stroke-dasharray=\"4 2\"/>"
                    "\n",
                    lab, y, bw * (double)p->quota / max);
        fprintf(f,
                "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"18\" "
                "fill=\"%s\"/>\n",
                lab, y, bl, COLOR[i % NCOLOR]);
        snprintf(line, sizeof(line), "%s of %s",
                 sv_report_fmt_bytes((double)p->bytes, b1, sizeof(b1)),
                 p->quota
                     ? sv_report_fmt_bytes((double)p->quota, b2, sizeof(b2))
                     : "unlimited");
        svg_label(f, lab + bw + 8, y + 14, "start", line);
    }
    fprintf(f, "</svg>\n");
}

/* Stored bytes per provider over the window and projected to the fill
 * dates (dashed), quotas as horizontal dashed lines. */
static void chart_growth(FILE *f, const struct sv_report_view *v,
                         const char *sfx)
{
    const struct sv_report_model *m = v->model;
    const struct sv_report *r = v->rep;
    int w = 720, x0 = 70, y0 = 20, pw = 600, ph = 250;
    int h = y0 + ph + 30 + 14 * (int)((m->nprov + 4) / 5);
    double past = r->nseries > 1 ? r->nseries - 1 : r->window_days;
    double future = 365, ymax = 1, total = (double)r->bytes_total;
    char b[48], d1[32];
    size_t i, j;

    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov_res *x = &r->prov[i];
        if (x->fill_day != SV_REPORT_NEVER && x->days_to_full > 0)
            future = fmax(future, fmin(x->days_to_full * 1.1, 3650));
    }
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov_res *x = &r->prov[i];
        double end =
            (double)m->prov[i].bytes + fmax(0, x->growth_per_day) * future;
        if (m->prov[i].quota)
            end = fmin(end, (double)m->prov[i].quota);
        ymax = fmax(ymax, end);
        ymax = fmax(ymax, (double)m->prov[i].quota);
    }
    ymax *= 1.05;
#define GX(day)   (x0 + pw * ((day) + past) / (past + future))
#define GY(bytes) (y0 + ph - ph * (bytes) / ymax)
    svg_open(f, "chart-growth", sfx, w, h,
             "Growth per provider with projected fill dates");
    fprintf(f,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>"
            "\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
            "stroke=\"#000\"/>\n",
            x0, y0 + ph, x0 + pw, y0 + ph, x0, y0, x0, y0 + ph);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
            "stroke=\"#999\" stroke-dasharray=\"2 2\"/>\n",
            GX(0.0), y0, GX(0.0), y0 + ph);
    svg_label(f, GX(0.0), y0 - 6, "middle", "today");
    if (GX(0.0) - x0 > 90)
        svg_label(
            f, x0, y0 + ph + 14, "start",
            sv_report_fmt_day(m->now_day - (int64_t)past, d1, sizeof(d1)));
    svg_label(f, x0 - 4, y0 + ph, "end", "0");
    svg_label(f, x0 + pw, y0 + ph + 14, "end",
              sv_report_fmt_day(m->now_day + (int64_t)future, d1, sizeof(d1)));
    svg_label(f, x0 - 4, y0 + 10, "end",
              sv_report_fmt_bytes(ymax, b, sizeof(b)));
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *p = &m->prov[i];
        const struct sv_report_prov_res *x = &r->prov[i];
        const char *c = COLOR[i % NCOLOR];
        double share = total > 0 ? (double)p->bytes / total : 0;
        double tend = future, yend;
        if (r->nseries > 1) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" points=\"", c);
            for (j = 0; j < r->nseries; j++)
                fprintf(f, "%s%.1f,%.1f", j ? " " : "",
                        GX((double)j - (r->nseries - 1)),
                        GY(r->series[j] * share));
            fprintf(f, "\"/>\n");
        }
        if (x->fill_day != SV_REPORT_NEVER)
            tend = fmin(future, fmax(0, x->days_to_full));
        yend = (double)p->bytes + fmax(0, x->growth_per_day) * tend;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"%s\" stroke-dasharray=\"6 3\"/>\n",
                GX(0.0), GY((double)p->bytes), GX(tend), GY(yend), c);
        if (p->quota)
            fprintf(f,
                    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                    "stroke=\"%s\" stroke-opacity=\"0.5\" "
                    "stroke-dasharray=\"1 3\"/>\n",
                    x0, GY((double)p->quota), x0 + pw, GY((double)p->quota), c);
        if (x->fill_day != SV_REPORT_NEVER && x->days_to_full <= future) {
            char lbl[200];
            fprintf(f,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
                    GX(tend), GY(yend), c);
            snprintf(lbl, sizeof(lbl), "%s full %s", p->name,
                     sv_report_fmt_day(x->fill_day, d1, sizeof(d1)));
            svg_label(f, GX(tend), GY(yend) - 6, "end", lbl);
        }
    }
#undef GX
#undef GY
    /* legend: one colour per provider */
    for (i = 0; i < m->nprov; i++) {
        double lx = x0 + (double)(i % 5) * 120;
        double ly = y0 + ph + 32 + 14.0 * (double)(i / 5);
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" "
                "fill=\"%s\"/>\n",
                lx, ly - 9, COLOR[i % NCOLOR]);
        svg_label(f, lx + 14, ly, "start", m->prov[i].name);
    }
    fprintf(f, "</svg>\n");
}

/* Segments by good shards left. */
static void chart_health(FILE *f, const struct sv_report_view *v,
                         const char *sfx)
{
    const struct sv_report_model *m = v->model;
    const struct sv_report *r = v->rep;
    unsigned nb = m->m + 2, d;
    int w = 720, h = 230, x0 = 40, ph = 180;
    double bw = 600.0 / nb, max = 1;
    char lbl[64];

    for (d = 0; d < nb; d++)
        max = fmax(max, (double)m->health[d]);
    svg_open(f, "chart-health", sfx, w, h, "Segments by good shards left");
    for (d = 0; d < nb; d++) {
        double bh = ph * (double)m->health[d] / max, x = x0 + bw * d;
        if (m->health[d] && bh < 2)
            bh = 2; /* a few segments must still show */
        const char *c = d == 0 ? "#2ca02c" : d > m->m ? "#d62728" : "#ff7f0e";
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"%s\"/>\n",
                x + 4, 20 + ph - bh, bw - 8, bh, c);
        snprintf(lbl, sizeof(lbl), "%llu", (unsigned long long)m->health[d]);
        svg_label(f, x + bw / 2, 16 + ph - bh, "middle", lbl);
        if (d <= m->m)
            snprintf(lbl, sizeof(lbl), "%u of %u", r->n - d, r->n);
        else
            snprintf(lbl, sizeof(lbl), "lost");
        svg_label(f, x + bw / 2, 20 + ph + 16, "middle", lbl);
    }
    fprintf(f, "</svg>\n");
}

/* Monthly cost per provider: storage, with requests stacked on top. */
static void chart_cost(FILE *f, const struct sv_report_view *v, const char *sfx)
{
    const struct sv_report_model *m = v->model;
    const struct sv_report *r = v->rep;
    int row = 26, w = 720, lab = 160, bw = 400;
    int h = 30 + row * (int)(m->nprov ? m->nprov : 1);
    double max = 1e-9;
    char b[64];
    size_t i;

    for (i = 0; i < m->nprov; i++)
        max = fmax(max, r->prov[i].cost_storage + r->prov[i].cost_requests);
    svg_open(f, "chart-cost", sfx, w, h, "Monthly cost per provider");
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov_res *x = &r->prov[i];
        double y = 20 + row * (double)i, s = bw * x->cost_storage / max;
        double q = bw * x->cost_requests / max;
        svg_label(f, lab - 8, y + 14, "end", m->prov[i].name);
        fprintf(f,
                "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"18\" "
                "fill=\"%s\"/>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"18\" fill=\"%s\" fill-opacity=\"0.4\"/>\n",
                lab, y, s, COLOR[i % NCOLOR], lab + s, y, q, COLOR[i % NCOLOR]);
        svg_label(f, lab + s + q + 8, y + 14, "start",
                  fmt_money(x->cost_storage + x->cost_requests, m->currency, b,
                            sizeof(b)));
    }
    fprintf(f, "</svg>\n");
}

static void html_charts(FILE *f, const struct sv_report_view *v,
                        const char *sfx)
{
    chart_capacity(f, v, sfx);
    chart_growth(f, v, sfx);
    chart_health(f, v, sfx);
    chart_cost(f, v, sfx);
}

enum sv_err sv_report_render_html(FILE *f, const struct sv_report_doc *d)
{
    struct tables ts;
    struct table cmp;
    enum sv_err rc;
    char day[32], specs[1024];
    unsigned i;

    if (!f || !d || !d->today.model || !d->today.rep)
        return sv_err_set(SV_INVAL, "report: nothing to render");
    sv_report_fmt_day(d->today.model->now_day, day, sizeof(day));
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<!DOCTYPE html>\n"
            "<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n"
            "<head>\n<meta charset=\"UTF-8\"/>\n"
            "<title>shardvault report %s</title>\n"
            "<style>\nbody{font-family:sans-serif;margin:2em;color:#222}\n"
            "table{border-collapse:collapse;margin-bottom:1em}\n"
            "td,th{border:1px solid #ccc;padding:2px 8px}\n"
            "th{background:#eee}\ntd.r{text-align:right}\n"
            "svg{display:block;margin:1em 0;font-size:11px}\n"
            "</style>\n</head>\n<body>\n"
            "<h1>shardvault report, %s</h1>\n"
            "<p>k=%u, m=%u; currency ",
            day, day, d->today.model->k, d->today.model->m);
    xml_text(f, d->today.model->currency);
    fprintf(f, "</p>\n<h2>Charts</h2>\n");
    html_charts(f, &d->today, "");
    fprintf(f, "<h2>Today</h2>\n");
    build_tables(&d->today, &ts);
    rc = check_tables(&ts);
    for (i = 0; i < ts.n && !rc; i++)
        html_table(f, &ts.t[i], "");
    tables_free(&ts);
    if (!rc && d->whatif.model) {
        spec_list(d->specs, specs, sizeof(specs));
        fprintf(f, "<h2>What-if: ");
        xml_text(f, specs);
        fprintf(f, "</h2>\n");
        build_compare(d, &cmp);
        if (cmp.oom)
            rc = sv_err_set(SV_NOMEM, "report: out of memory");
        else
            html_table(f, &cmp, "");
        table_free(&cmp);
        if (!rc) {
            html_charts(f, &d->whatif, "-whatif");
            build_tables(&d->whatif, &ts);
            rc = check_tables(&ts);
            for (i = 0; i < ts.n && !rc; i++)
                html_table(f, &ts.t[i], "whatif.");
            tables_free(&ts);
        }
    }
    if (rc)
        return rc;
    fprintf(f, "<h2>Notes</h2>\n<ul>\n");
    for (i = 0; i < sizeof(notes) / sizeof(notes[0]); i++) {
        fprintf(f, "<li>");
        xml_text(f, notes[i]);
        fprintf(f, "</li>\n");
    }
    fprintf(f, "</ul>\n</body>\n</html>\n");
    return out_err(f) ? sv_err_set(SV_IO, "report: write failed") : SV_OK;
}
