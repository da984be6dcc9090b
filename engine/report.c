/*
 * engine/report.c: the capacity-planning report model: building it by
 * hand, what-if scenarios, simulated placement and every computation
 * (providers, overhead, health, growth, durability, cost). No I/O here:
 * engine/report_load.c fills a model from a vault, engine/report_fmt.c
 * renders a computed report.
 *
 * Memory is bounded by the number of distinct placement patterns (a few
 * hundred for a handful of providers), never by the number of objects.
 * The durability model is described in engine/report.h.
 */
#include "engine/report.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/placement.h"

#define NAME_MAX_LEN 127
/* Work budget (subset checks) of the exact enumeration before falling back
 * to the union bound. */
#define EXACT_BUDGET (1u << 26)

static const char MODEL_NAME[] =
    "stationary provider-loss flux, Poisson-binomial over providers";

void sv_report_model_init(struct sv_report_model *m)
{
    memset(m, 0, sizeof(*m));
    m->k = 4;
    m->m = 2;
    m->max_per_provider = 2;
    m->segment_size = 8u << 20;
    strcpy(m->currency, "USD");
    m->reprotect_hours = 24;
    m->stored_scale = 1;
}

static void prov_release(struct sv_report_prov *p)
{
    free(p->name);
    free(p->owner);
    free(p->jurisdiction);
    p->name = p->owner = p->jurisdiction = NULL;
}

void sv_report_model_release(struct sv_report_model *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->nprov; i++)
        prov_release(&m->prov[i]);
    free(m->prov);
    free(m->hist);
    free(m->pat);
    free(m->ent);
    free(m->hash);
    memset(m, 0, sizeof(*m));
}

/* Grow *arr (element size sz) to hold at least need elements. */
static enum sv_err grow(void **arr, size_t *cap, size_t need, size_t sz)
{
    size_t ncap = *cap ? *cap : 8;
    void *p;

    if (need <= *cap)
        return SV_OK;
    while (ncap < need)
        ncap *= 2;
    p = realloc(*arr, ncap * sz);
    if (!p)
        return sv_err_set(SV_NOMEM, "report: out of memory (%zu items)", need);
    *arr = p;
    *cap = ncap;
    return SV_OK;
}

static int valid_name(const char *s)
{
    size_t len;

    if (!s)
        return 0;
    len = strlen(s);
    if (len == 0 || len > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

int sv_report_find_provider(const struct sv_report_model *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->nprov; i++)
        if (!strcmp(m->prov[i].name, name))
            return (int)i;
    return -1;
}

static enum sv_err prov_copy(struct sv_report_prov *dst,
                             const struct sv_report_prov *src)
{
    *dst = *src;
    dst->name = strdup(src->name);
    dst->owner = strdup(src->owner ? src->owner : src->name);
    dst->jurisdiction =
        strdup(src->jurisdiction ? src->jurisdiction : src->name);
    if (!dst->name || !dst->owner || !dst->jurisdiction) {
        prov_release(dst);
        return sv_err_set(SV_NOMEM, "report: out of memory");
    }
    return SV_OK;
}

enum sv_err sv_report_add_provider(struct sv_report_model *m,
                                   const struct sv_report_prov *p)
{
    enum sv_err rc;

    if (!m || !p || !valid_name(p->name))
        return sv_err_set(SV_INVAL, "report: provider name missing, too "
                                    "long or with control characters");
    if ((p->owner && !valid_name(p->owner)) ||
        (p->jurisdiction && !valid_name(p->jurisdiction)))
        return sv_err_set(SV_INVAL,
                          "report: provider '%s': bad owner or "
                          "jurisdiction",
                          p->name);
    if (!(p->annual_loss >= 0 && p->annual_loss < 1) ||
        !(p->price_storage >= 0) || !(p->price_egress >= 0) ||
        !(p->price_request >= 0) || !(p->weight >= 0) ||
        !isfinite(p->price_storage) || !isfinite(p->price_egress) ||
        !isfinite(p->price_request) || !isfinite(p->weight))
        return sv_err_set(SV_INVAL,
                          "report: provider '%s': a price, weight "
                          "or annual_loss is out of range",
                          p->name);
    if (sv_report_find_provider(m, p->name) >= 0)
        return sv_err_set(SV_EXISTS, "report: provider '%s' listed twice",
                          p->name);
    if (m->nprov >= SV_REPORT_MAX_PROV)
        return sv_err_set(SV_INVAL, "report: more than %d providers",
                          SV_REPORT_MAX_PROV);
    rc = grow((void **)&m->prov, &m->cap_prov, m->nprov + 1, sizeof(*m->prov));
    if (rc)
        return rc;
    rc = prov_copy(&m->prov[m->nprov], p);
    if (rc)
        return rc;
    if (m->prov[m->nprov].weight == 0)
        m->prov[m->nprov].weight = 1;
    m->nprov++;
    return SV_OK;
}

enum sv_err sv_report_add_history(struct sv_report_model *m,
                                  const struct sv_hist_rec *h)
{
    struct sv_hist_rec *last;
    enum sv_err rc;

    if (!m || !h)
        return sv_err_set(SV_INVAL, "report: no history record");
    last = m->nhist ? &m->hist[m->nhist - 1] : NULL;
    if (last && h->day < last->day)
        return sv_err_set(SV_INVAL, "report: history day %u before %u", h->day,
                          last->day);
    if (last && h->day == last->day) {
        last->bytes_added += h->bytes_added;
        last->bytes_removed += h->bytes_removed;
        last->objects_added += h->objects_added;
        last->objects_removed += h->objects_removed;
        last->stored_added += h->stored_added;
        last->stored_removed += h->stored_removed;
        return SV_OK;
    }
    rc = grow((void **)&m->hist, &m->cap_hist, m->nhist + 1, sizeof(*m->hist));
    if (rc)
        return rc;
    m->hist[m->nhist++] = *h;
    return SV_OK;
}

/* ---- placement patterns ---------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t pat_hash(unsigned n, const struct sv_report_ent *e,
                         unsigned nent)
{
    uint64_t h = mix64(n + 0x9e3779b97f4a7c15ull);
    unsigned i;

    for (i = 0; i < nent; i++)
        h = mix64(h ^ ((uint64_t)e[i].prov << 8 | e[i].count));
    return h;
}

static int pat_equal(const struct sv_report_model *m,
                     const struct sv_report_pattern *p, unsigned n,
                     const struct sv_report_ent *e, unsigned nent)
{
    return p->n == n && p->nent == nent &&
           !memcmp(&m->ent[p->ent], e, nent * sizeof(*e));
}

static enum sv_err hash_rebuild(struct sv_report_model *m, size_t cap)
{
    uint32_t *h = calloc(cap, sizeof(*h));
    size_t i, j;

    if (!h)
        return sv_err_set(SV_NOMEM, "report: out of memory (pattern index)");
    for (i = 0; i < m->npat; i++) {
        const struct sv_report_pattern *p = &m->pat[i];
        j = pat_hash(p->n, &m->ent[p->ent], p->nent) & (cap - 1);
        while (h[j])
            j = (j + 1) & (cap - 1);
        h[j] = (uint32_t)(i + 1);
    }
    free(m->hash);
    m->hash = h;
    m->hash_cap = cap;
    return SV_OK;
}

static void ent_sort(struct sv_report_ent *e, unsigned n)
{
    unsigned i, j;

    for (i = 1; i < n; i++) {
        struct sv_report_ent t = e[i];
        for (j = i; j > 0 && e[j - 1].prov > t.prov; j--)
            e[j] = e[j - 1];
        e[j] = t;
    }
}

enum sv_err sv_report_add_pattern(struct sv_report_model *m, unsigned n,
                                  unsigned nent, const uint8_t *prov,
                                  const uint8_t *count, uint64_t segments,
                                  uint64_t bytes, uint64_t shard_bytes)
{
    struct sv_report_ent e[SV_MAX_N];
    struct sv_report_pattern *p;
    unsigned i, ne = 0, good = 0;
    enum sv_err rc;
    size_t j;

    if (!m || n == 0 || n > SV_MAX_N || nent > SV_MAX_N ||
        (nent && (!prov || !count)))
        return sv_err_set(SV_INVAL, "report: bad pattern (n=%u, %u entries)", n,
                          nent);
    for (i = 0; i < nent; i++) {
        unsigned k2;
        if (prov[i] >= m->nprov)
            return sv_err_set(SV_INVAL,
                              "report: pattern names provider %u "
                              "of %zu",
                              prov[i], m->nprov);
        if (!count[i])
            continue;
        good += count[i];
        for (k2 = 0; k2 < ne && e[k2].prov != prov[i]; k2++)
            ;
        if (k2 < ne) {
            if (e[k2].count + count[i] > 255)
                return sv_err_set(SV_INVAL, "report: pattern count too big");
            e[k2].count = (uint8_t)(e[k2].count + count[i]);
        } else {
            e[ne].prov = prov[i];
            e[ne++].count = count[i];
        }
    }
    if (good > n)
        return sv_err_set(SV_INVAL, "report: pattern holds %u shards of %u",
                          good, n);
    ent_sort(e, ne);
    if (m->hash_cap < 2 * (m->npat + 1)) {
        rc = hash_rebuild(m, m->hash_cap ? m->hash_cap * 2 : 64);
        if (rc)
            return rc;
    }
    j = pat_hash(n, e, ne) & (m->hash_cap - 1);
    while (m->hash[j]) {
        p = &m->pat[m->hash[j] - 1];
        if (pat_equal(m, p, n, e, ne)) {
            p->segments += segments;
            p->bytes += bytes;
            p->shard_bytes += shard_bytes;
            return SV_OK;
        }
        j = (j + 1) & (m->hash_cap - 1);
    }
    rc = grow((void **)&m->pat, &m->cap_pat, m->npat + 1, sizeof(*m->pat));
    if (!rc)
        rc = grow((void **)&m->ent, &m->cap_ent, m->nent + ne, sizeof(*m->ent));
    if (rc)
        return rc;
    if (m->nent + ne > UINT32_MAX)
        return sv_err_set(SV_NOMEM, "report: too many placement patterns");
    p = &m->pat[m->npat];
    p->segments = segments;
    p->bytes = bytes;
    p->shard_bytes = shard_bytes;
    p->n = (uint16_t)n;
    p->good = (uint16_t)good;
    p->nent = (uint16_t)ne;
    p->ent = (uint32_t)m->nent;
    if (ne)
        memcpy(&m->ent[m->nent], e, ne * sizeof(*e));
    m->nent += ne;
    m->npat++;
    m->hash[j] = (uint32_t)m->npat;
    return SV_OK;
}

static void patterns_clear(struct sv_report_model *m)
{
    m->npat = 0;
    m->nent = 0;
    if (m->hash)
        memset(m->hash, 0, m->hash_cap * sizeof(*m->hash));
}

/* ---- simulated placement --------------------------------------------- */

/* Providers that receive new shards: up or suspect, and not full. */
static int receiving(const struct sv_report_prov *p)
{
    if (p->state != SV_PROV_UP && p->state != SV_PROV_SUSPECT)
        return 0;
    return p->quota == 0 || p->bytes < p->quota;
}

/* Placement weights: free quota times the weight (an unlimited provider
 * counts as much free space as the emptiest limited one, or 1 when none is
 * limited); 0 for a provider that receives nothing. */
static void place_weights(const struct sv_report_model *m, double *w)
{
    double maxfree = 0;
    size_t i;

    for (i = 0; i < m->nprov; i++)
        if (m->prov[i].quota && receiving(&m->prov[i]))
            maxfree =
                fmax(maxfree, (double)(m->prov[i].quota - m->prov[i].bytes));
    if (maxfree <= 0)
        maxfree = 1;
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *p = &m->prov[i];
        if (!receiving(p))
            w[i] = 0;
        else
            w[i] = p->weight *
                   (p->quota ? (double)(p->quota - p->bytes) : maxfree);
    }
}

/* The engine's placement (engine/placement.c) over the model's
 * providers: the same choice ingest and repair make. */
struct placer {
    struct sv_place_prov pp[SV_REPORT_MAX_PROV];
    struct sv_place_caps caps;
    size_t nprov;
};

static void placer_init(struct placer *pl, const struct sv_report_model *m)
{
    double w[SV_REPORT_MAX_PROV];
    size_t i;

    place_weights(m, w);
    pl->nprov = m->nprov;
    for (i = 0; i < m->nprov; i++) {
        pl->pp[i].name = m->prov[i].name;
        pl->pp[i].owner = m->prov[i].owner;
        pl->pp[i].jurisdiction = m->prov[i].jurisdiction;
        pl->pp[i].usable = w[i] > 0;
        pl->pp[i].weight = w[i] > 0 ? w[i] : 1;
    }
    /* 0 (a hand-built model) means no cap */
    pl->caps.per_provider =
        m->max_per_provider ? m->max_per_provider : SV_MAX_N;
    pl->caps.per_owner = m->max_per_owner ? m->max_per_owner : SV_MAX_N;
    pl->caps.per_jurisdiction =
        m->max_per_jurisdiction ? m->max_per_jurisdiction : SV_MAX_N;
}

/*
 * Add `need` shards to cnt[] (per provider; the shards it already counts
 * stay where they are) for the segment keyed by key, as sv_place chooses.
 * Returns 0, or -1 with cnt unchanged when the caps do not allow it.
 */
static int place_fill(const struct placer *pl, uint64_t key, unsigned need,
                      unsigned *cnt)
{
    int slot[SV_MAX_N];
    uint8_t oid[SV_OID_LEN];
    uint64_t a = mix64(key + 1), b = mix64(key ^ 0x6a09e667f3bcc909ull);
    unsigned n = 0, i, c;

    for (i = 0; i < pl->nprov; i++)
        for (c = 0; c < cnt[i] && n < SV_MAX_N; c++)
            slot[n++] = (int)i;
    if (n + need > SV_MAX_N || need == 0)
        return need ? -1 : 0;
    for (i = 0; i < need; i++)
        slot[n + i] = -1;
    memcpy(oid, &a, 8);
    memcpy(oid + 8, &b, 8);
    if (sv_place(pl->pp, pl->nprov, &pl->caps, oid, 0, n + need, slot)) {
        sv_err_clear();
        return -1;
    }
    for (i = n; i < n + need; i++)
        cnt[slot[i]]++;
    return 0;
}

static enum sv_err add_counts(struct sv_report_model *m, unsigned n,
                              const unsigned *cnt, uint64_t segs,
                              uint64_t bytes, uint64_t shard_bytes)
{
    uint8_t pv[SV_MAX_N], ct[SV_MAX_N];
    unsigned i, ne = 0;

    for (i = 0; i < m->nprov && ne < SV_MAX_N; i++)
        if (cnt[i]) {
            pv[ne] = (uint8_t)i;
            ct[ne++] = (uint8_t)cnt[i];
        }
    return sv_report_add_pattern(m, n, ne, pv, ct, segs, bytes, shard_bytes);
}

static enum sv_err policy_error(const struct sv_report_model *m, unsigned n)
{
    return sv_err_set(SV_POLICY,
                      "report: %u shards per segment (k=%u m=%u) cannot be "
                      "placed on the %zu providers at max_per_provider=%u "
                      "max_per_owner=%u max_per_jurisdiction=%u",
                      n, m->k, m->m, m->nprov, m->max_per_provider,
                      m->max_per_owner, m->max_per_jurisdiction);
}

enum sv_err sv_report_simulate(struct sv_report_model *m)
{
    unsigned n = m->k + m->m, cnt[SV_REPORT_MAX_PROV];
    uint64_t s, nsamp, seg0, seg1, by0, by1, sh0, sh1;
    struct placer *pl;
    enum sv_err rc = SV_OK;
    double shard_total;

    if (n == 0 || n > SV_MAX_N || m->k == 0)
        return sv_err_set(SV_INVAL, "report: bad code k=%u m=%u", m->k, m->m);
    patterns_clear(m);
    m->simulated = 1;
    if (m->segments == 0)
        return SV_OK;
    pl = malloc(sizeof(*pl));
    if (!pl)
        return sv_err_set(SV_NOMEM, "report: out of memory");
    placer_init(pl, m);
    nsamp = m->segments < SV_REPORT_SIM_SEGMENTS ? m->segments
                                                 : SV_REPORT_SIM_SEGMENTS;
    /* Every segment's shards share the vault's average shard size. */
    shard_total = (double)m->stored_bytes / (double)n;
    for (s = 0; s < nsamp && !rc; s++) {
        memset(cnt, 0, m->nprov * sizeof(cnt[0]));
        if (place_fill(pl, s, n, cnt)) {
            rc = policy_error(m, n);
            break;
        }
        seg0 = m->segments * s / nsamp;
        seg1 = m->segments * (s + 1) / nsamp;
        by0 = (uint64_t)((double)m->logical_bytes * (double)s / nsamp);
        by1 = (uint64_t)((double)m->logical_bytes * (double)(s + 1) / nsamp);
        sh0 = (uint64_t)(shard_total * (double)s / nsamp);
        sh1 = (uint64_t)(shard_total * (double)(s + 1) / nsamp);
        rc = add_counts(m, n, cnt, seg1 - seg0, by1 - by0, sh1 - sh0);
    }
    free(pl);
    return rc;
}

/* ---- growth shares --------------------------------------------------- */

/* The fraction of new bytes each provider receives: its share of the
 * shards of simulated segments placed today (engine/report.h). */
static enum sv_err growth_shares(const struct sv_report_model *m, double *sh)
{
    unsigned cnt[SV_REPORT_MAX_PROV], n = m->k + m->m;
    double total = 0;
    struct placer *pl;
    uint64_t s;
    size_t i;

    for (i = 0; i < m->nprov; i++)
        sh[i] = 0;
    if (!m->nprov || n == 0 || n > SV_MAX_N)
        return SV_OK;
    pl = malloc(sizeof(*pl));
    if (!pl)
        return sv_err_set(SV_NOMEM, "report: out of memory");
    placer_init(pl, m);
    for (s = 0; s < SV_REPORT_SIM_SEGMENTS; s++) {
        memset(cnt, 0, m->nprov * sizeof(cnt[0]));
        (void)place_fill(pl, s, n, cnt); /* a partial fill still counts */
        for (i = 0; i < m->nprov; i++)
            sh[i] += cnt[i];
    }
    free(pl);
    for (i = 0; i < m->nprov; i++)
        total += sh[i];
    for (i = 0; i < m->nprov; i++)
        sh[i] = total > 0 ? sh[i] / total : 0;
    return SV_OK;
}

/* ---- what-if --------------------------------------------------------- */

void sv_report_whatif_init(struct sv_report_whatif *w)
{
    memset(w, 0, sizeof(*w));
}

void sv_report_whatif_release(struct sv_report_whatif *w)
{
    size_t i;

    if (!w)
        return;
    for (i = 0; i < w->nop; i++)
        prov_release(&w->op[i].prov);
    for (i = 0; i < w->nspec; i++)
        free(w->spec[i]);
    free(w->op);
    free(w->spec);
    memset(w, 0, sizeof(*w));
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    if (!*s)
        return -1;
    v = strtod(s, &end);
    if (*end || !isfinite(v) || v < lo || v >= hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned long v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > hi)
            return -1;
    }
    if (v < lo)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static enum sv_err set_str(char **dst, const char *val)
{
    char *s;

    if (!valid_name(val))
        return SV_INVAL;
    s = strdup(val);
    if (!s)
        return SV_NOMEM;
    free(*dst);
    *dst = s;
    return SV_OK;
}

/* The numeric attributes of add=, with their ranges [lo, hi). */
static const struct {
    const char *key;
    size_t off;
    double lo, hi;
} num_attr[] = {
    {"price_storage", offsetof(struct sv_report_prov, price_storage), 0, 1e9},
    {"price_egress", offsetof(struct sv_report_prov, price_egress), 0, 1e9},
    {"price_request", offsetof(struct sv_report_prov, price_request), 0, 1e9},
    {"annual_loss", offsetof(struct sv_report_prov, annual_loss), 0, 1},
    {"weight", offsetof(struct sv_report_prov, weight), 1e-9, 1e9},
};

/* Apply one key=value item of a SPEC to the ops being built. */
static enum sv_err whatif_item(struct sv_whatif_op *ops, size_t *nops,
                               size_t cap, const char *key, const char *val,
                               int *add_idx, int *code_idx)
{
    struct sv_whatif_op *op;
    enum sv_err rc;
    size_t i;

    if (!strcmp(key, "lose") || !strcmp(key, "add")) {
        if (*nops >= cap)
            return SV_INVAL;
        op = &ops[(*nops)++];
        op->kind = key[0] == 'l' ? SV_WHATIF_LOSE : SV_WHATIF_ADD;
        op->prov.state = SV_PROV_UP;
        op->prov.in_config = 1;
        op->prov.added = 1;
        op->prov.weight = 1;
        if (op->kind == SV_WHATIF_ADD)
            *add_idx = (int)(*nops - 1);
        return set_str(&op->prov.name, val);
    }
    if (!strcmp(key, "k") || !strcmp(key, "m") ||
        !strcmp(key, "max_per_provider")) {
        unsigned v;
        if (*code_idx < 0) {
            if (*nops >= cap)
                return SV_INVAL;
            *code_idx = (int)(*nops)++;
            ops[*code_idx].kind = SV_WHATIF_CODE;
        }
        op = &ops[*code_idx];
        if (parse_uint(val, key[0] == 'm' && key[1] == 0 ? 0 : 1, SV_MAX_N - 1,
                       &v))
            return SV_INVAL;
        if (!strcmp(key, "k"))
            op->k = v;
        else if (!strcmp(key, "m"))
            op->m = v + 1; /* stored +1 so that 0 means unchanged */
        else
            op->max_per_provider = v;
        return SV_OK;
    }
    if (*add_idx < 0)
        return SV_INVAL; /* a provider attribute with no add= before it */
    op = &ops[*add_idx];
    if (!strcmp(key, "quota")) {
        rc = sv_parse_size(val, &op->prov.quota);
        return rc ? SV_INVAL : SV_OK;
    }
    for (i = 0; i < sizeof(num_attr) / sizeof(num_attr[0]); i++)
        if (!strcmp(key, num_attr[i].key))
            return parse_double(val, num_attr[i].lo, num_attr[i].hi,
                                (double *)((char *)&op->prov + num_attr[i].off))
                       ? SV_INVAL
                       : SV_OK;
    if (!strcmp(key, "owner"))
        return set_str(&op->prov.owner, val);
    if (!strcmp(key, "jurisdiction"))
        return set_str(&op->prov.jurisdiction, val);
    return SV_INVAL;
}

enum sv_err sv_report_whatif_parse(struct sv_report_whatif *w, const char *spec)
{
    struct sv_whatif_op *ops = NULL, *newops;
    char *copy = NULL, *item, *save = NULL, *eq, **specs;
    size_t nops = 0, cap = 1, i;
    int add_idx = -1, code_idx = -1;
    enum sv_err rc = SV_OK;

    if (!w || !spec || !*spec)
        return sv_err_set(SV_INVAL, "what-if: empty SPEC");
    if (strlen(spec) > 4096)
        return sv_err_set(SV_INVAL, "what-if: SPEC longer than 4096 bytes");
    for (i = 0; spec[i]; i++)
        if (spec[i] == ',')
            cap++;
    copy = strdup(spec);
    ops = calloc(cap, sizeof(*ops));
    if (!copy || !ops) {
        rc = sv_err_set(SV_NOMEM, "what-if: out of memory");
        goto out;
    }
    for (item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        eq = strchr(item, '=');
        if (!eq) {
            rc = sv_err_set(SV_INVAL, "what-if '%s': '%s' is not key=value",
                            spec, item);
            goto out;
        }
        *eq = 0;
        rc = whatif_item(ops, &nops, cap, item, eq + 1, &add_idx, &code_idx);
        if (rc == SV_NOMEM) {
            rc = sv_err_set(SV_NOMEM, "what-if: out of memory");
            goto out;
        }
        if (rc) {
            rc = sv_err_set(SV_INVAL,
                            "what-if '%s': bad item '%s=%s' (keys: lose, "
                            "add and its quota, price_storage, price_egress, "
                            "price_request, annual_loss in [0,1), weight, "
                            "owner, jurisdiction; k, m, max_per_provider)",
                            spec, item, eq + 1);
            goto out;
        }
    }
    if (!nops) {
        rc = sv_err_set(SV_INVAL, "what-if '%s': nothing to do", spec);
        goto out;
    }
    newops = realloc(w->op, (w->nop + nops) * sizeof(*ops));
    if (newops)
        w->op = newops;
    specs = realloc(w->spec, (w->nspec + 1) * sizeof(*specs));
    if (specs)
        w->spec = specs;
    if (!newops || !specs) {
        rc = sv_err_set(SV_NOMEM, "what-if: out of memory");
        goto out;
    }
    w->spec[w->nspec] = strdup(spec);
    if (!w->spec[w->nspec]) {
        rc = sv_err_set(SV_NOMEM, "what-if: out of memory");
        goto out;
    }
    w->nspec++;
    memcpy(&w->op[w->nop], ops, nops * sizeof(*ops));
    w->nop += nops;
    nops = 0; /* moved */
out:
    for (i = 0; i < nops; i++)
        prov_release(&ops[i].prov);
    free(ops);
    free(copy);
    return rc;
}

static enum sv_err model_copy(struct sv_report_model *dst,
                              const struct sv_report_model *src)
{
    enum sv_err rc = SV_OK;
    size_t i;

    *dst = *src;
    dst->prov = NULL;
    dst->hist = NULL;
    dst->pat = NULL;
    dst->ent = NULL;
    dst->hash = NULL;
    dst->nprov = dst->cap_prov = 0;
    dst->cap_hist = dst->nhist;
    dst->cap_pat = dst->npat;
    dst->cap_ent = dst->nent;
    dst->hash_cap = 0;
    if ((src->nhist &&
         !(dst->hist = malloc(src->nhist * sizeof(*dst->hist)))) ||
        (src->npat && !(dst->pat = malloc(src->npat * sizeof(*dst->pat)))) ||
        (src->nent && !(dst->ent = malloc(src->nent * sizeof(*dst->ent))))) {
        rc = sv_err_set(SV_NOMEM, "report: out of memory");
        goto out;
    }
    if (src->nhist)
        memcpy(dst->hist, src->hist, src->nhist * sizeof(*dst->hist));
    if (src->npat)
        memcpy(dst->pat, src->pat, src->npat * sizeof(*dst->pat));
    if (src->nent)
        memcpy(dst->ent, src->ent, src->nent * sizeof(*dst->ent));
    if (src->npat)
        rc = hash_rebuild(dst, src->hash_cap);
    for (i = 0; i < src->nprov && !rc; i++) {
        rc = grow((void **)&dst->prov, &dst->cap_prov, dst->nprov + 1,
                  sizeof(*dst->prov));
        if (!rc)
            rc = prov_copy(&dst->prov[dst->nprov], &src->prov[i]);
        if (!rc)
            dst->nprov++;
    }
out:
    if (rc)
        sv_report_model_release(dst);
    return rc;
}

static unsigned health_bin(const struct sv_report_model *m, unsigned n,
                           unsigned good)
{
    unsigned k = n > m->m ? n - m->m : 1;

    if (good < k)
        return m->m + 1;
    return n - good > m->m ? m->m : n - good;
}

/* lose=X: see sv_report_apply in engine/report.h. */
static enum sv_err whatif_lose(struct sv_report_model *m, const char *name)
{
    struct sv_report_model nm;
    struct placer *pl = NULL;
    unsigned cnt[SV_REPORT_MAX_PROV];
    double moved_bytes[SV_REPORT_MAX_PROV] = {0};
    double moved_shards[SV_REPORT_MAX_PROV] = {0};
    double x_bytes = 0, x_shards = 0;
    int x = sv_report_find_provider(m, name);
    enum sv_err rc = SV_OK;
    size_t i, j;

    if (x < 0)
        return sv_err_set(SV_INVAL, "what-if lose=%s: no such provider", name);
    if (m->npat == 0 && m->segments > 0) {
        rc = sv_report_simulate(m);
        if (rc)
            return rc;
    }
    m->objects_at_risk += m->prov[x].healthy_objects;
    if (m->objects_at_risk > m->objects)
        m->objects_at_risk = m->objects;
    /* Health right after the loss, from the patterns (which already
     * reflect earlier what-ifs): X's shards gone, nothing rebuilt yet. */
    memset(m->health, 0, sizeof(m->health));
    /* X is gone for placement while its shards are re-placed. */
    m->prov[x].state = SV_PROV_REMOVED;
    pl = malloc(sizeof(*pl));
    if (!pl)
        return sv_err_set(SV_NOMEM, "report: out of memory");
    placer_init(pl, m);
    sv_report_model_init(&nm);
    nm.nprov = m->nprov; /* the pattern check needs the provider count */
    for (i = 0; i < m->npat && !rc; i++) {
        struct sv_report_pattern *p = &m->pat[i];
        const struct sv_report_ent *e = &m->ent[p->ent];
        unsigned cx = 0;
        memset(cnt, 0, m->nprov * sizeof(cnt[0]));
        for (j = 0; j < p->nent; j++) {
            if (e[j].prov == x)
                cx = e[j].count;
            else
                cnt[e[j].prov] = e[j].count;
        }
        m->health[health_bin(m, p->n, p->good - cx)] += p->segments;
        if (cx && p->good - cx >= (p->n > m->m ? p->n - m->m : 1)) {
            unsigned old[SV_REPORT_MAX_PROV];
            memcpy(old, cnt, m->nprov * sizeof(cnt[0]));
            if (place_fill(pl, mix64(i + 0x5851f42d4c957f2dull), cx, cnt)) {
                memcpy(cnt, old, m->nprov * sizeof(cnt[0]));
                m->unprotectable += p->segments;
            }
            for (j = 0; j < m->nprov; j++) {
                moved_shards[j] += (double)(cnt[j] - old[j]) * p->segments;
                moved_bytes[j] += (double)(cnt[j] - old[j]) * p->shard_bytes;
            }
        } else if (cx) {
            m->unprotectable += p->segments;
        }
        x_shards += (double)cx * p->segments;
        x_bytes += (double)cx * p->shard_bytes;
        rc = add_counts(&nm, p->n, cnt, p->segments, p->bytes, p->shard_bytes);
    }
    free(pl);
    if (rc)
        goto out;
    /* X's own counters are the truth; its pattern shards say how they
     * were split among the providers that took them. */
    for (j = 0; j < m->nprov; j++) {
        if (x_bytes > 0)
            m->prov[j].bytes += (uint64_t)llround(moved_bytes[j] / x_bytes *
                                                  (double)m->prov[x].bytes);
        if (x_shards > 0)
            m->prov[j].shards += (uint64_t)llround(moved_shards[j] / x_shards *
                                                   (double)m->prov[x].shards);
    }
    /* Drop X and shift the provider indices above it in the patterns. */
    prov_release(&m->prov[x]);
    memmove(&m->prov[x], &m->prov[x + 1],
            (m->nprov - (size_t)x - 1) * sizeof(*m->prov));
    m->nprov--;
    for (i = 0; i < nm.nent; i++)
        if (nm.ent[i].prov > x)
            nm.ent[i].prov--;
    free(m->pat);
    free(m->ent);
    free(m->hash);
    m->pat = nm.pat;
    m->npat = nm.npat;
    m->cap_pat = nm.cap_pat;
    m->ent = nm.ent;
    m->nent = nm.nent;
    m->cap_ent = nm.cap_ent;
    m->hash = NULL;
    m->hash_cap = 0;
    nm.pat = NULL;
    nm.ent = NULL;
    nm.npat = nm.nent = 0;
    if (m->npat)
        rc = hash_rebuild(m, nm.hash_cap);
out:
    nm.nprov = 0;
    sv_report_model_release(&nm);
    return rc;
}

/* add=Y: see sv_report_apply in engine/report.h. */
static enum sv_err whatif_add(struct sv_report_model *m,
                              const struct sv_report_prov *p)
{
    struct sv_report_prov *y;
    enum sv_err rc;

    if (sv_report_find_provider(m, p->name) >= 0)
        return sv_err_set(SV_INVAL,
                          "what-if add=%s: a provider of that name "
                          "exists",
                          p->name);
    rc = sv_report_add_provider(m, p);
    if (rc)
        return rc;
    y = &m->prov[m->nprov - 1];
    y->bytes = y->shards = y->healthy_objects = 0;
    y->state = SV_PROV_UP;
    y->added = 1;
    return SV_OK;
}

/* k=,m=: see sv_report_apply in engine/report.h. */
static enum sv_err whatif_code(struct sv_report_model *m,
                               const struct sv_whatif_op *op)
{
    unsigned k2 = op->k ? op->k : m->k;
    unsigned m2 = op->m ? op->m - 1 : m->m;
    unsigned defcap = m->k > 1 ? m->k - 1 : 1, cap2;
    double r;
    uint64_t lost;
    size_t i;

    if (k2 == 0 || k2 + m2 > SV_MAX_N)
        return sv_err_set(SV_INVAL,
                          "what-if k=%u m=%u: needs k >= 1 and "
                          "k + m <= %d",
                          k2, m2, SV_MAX_N);
    if (m->m < defcap)
        defcap = m->m;
    if (op->max_per_provider)
        cap2 = op->max_per_provider;
    else if (m->max_per_provider == defcap || m->max_per_provider == 0) {
        cap2 = k2 - 1 < m2 ? k2 - 1 : m2;
    } else {
        cap2 = m->max_per_provider;
        if (cap2 > k2 - 1)
            cap2 = k2 - 1;
        if (cap2 > m2)
            cap2 = m2;
    }
    if (cap2 == 0)
        cap2 = 1;
    r = ((double)(k2 + m2) / k2) / ((double)(m->k + m->m) / m->k);
    for (i = 0; i < m->nprov; i++) {
        m->prov[i].bytes = (uint64_t)llround((double)m->prov[i].bytes * r);
        m->prov[i].shards = (uint64_t)llround((double)m->prov[i].shards *
                                              (k2 + m2) / (m->k + m->m));
    }
    m->stored_bytes = (uint64_t)llround((double)m->stored_bytes * r);
    m->padding_bytes = (uint64_t)llround((double)m->padding_bytes * r);
    m->framing_bytes = (uint64_t)llround((double)m->framing_bytes * r);
    m->small_waste = (uint64_t)llround((double)m->small_waste * r);
    lost = m->health[m->m + 1];
    memset(m->health, 0, sizeof(m->health));
    m->health[0] = m->segments - lost;
    m->health[m2 + 1] = lost;
    m->objects_at_risk = 0;
    m->repair_queue = 0;
    m->k = k2;
    m->m = m2;
    m->max_per_provider = cap2;
    for (i = 0; i < m->nprov; i++)
        m->prov[i].healthy_objects = 0;
    m->stored_scale *= r;
    return sv_report_simulate(m);
}

enum sv_err sv_report_apply(const struct sv_report_model *today,
                            const struct sv_report_whatif *w,
                            struct sv_report_model *out)
{
    enum sv_err rc;
    size_t i;

    if (!today || !w || !out)
        return sv_err_set(SV_INVAL, "report: no model or what-if");
    rc = model_copy(out, today);
    if (rc)
        return rc;
    if (out->stored_scale <= 0)
        out->stored_scale = 1;
    for (i = 0; i < w->nop && !rc; i++) {
        const struct sv_whatif_op *op = &w->op[i];
        switch ((enum sv_whatif_kind)op->kind) {
        case SV_WHATIF_LOSE:
            rc = whatif_lose(out, op->prov.name);
            break;
        case SV_WHATIF_ADD:
            rc = whatif_add(out, &op->prov);
            break;
        case SV_WHATIF_CODE:
            rc = whatif_code(out, op);
            break;
        default:
            rc =
                sv_err_set(SV_INVAL, "what-if: unknown operation %d", op->kind);
        }
    }
    if (rc)
        sv_report_model_release(out);
    return rc;
}

/* ---- durability ------------------------------------------------------ */

/* Probability mass of S_{-j} in (t - cj, t] where S is the lost good shard
 * count over the pattern's providers other than entry j; dp is the full
 * distribution (all entries), so entry j is divided back out. */
static double window_mass(const double *dp, unsigned good, double qj,
                          unsigned cj, int t, double *tmp)
{
    double mass = 0;
    int s;

    /* tmp = dp with entry j removed: dp[s] = tmp[s](1-q) + tmp[s-c] q */
    for (s = 0; s <= (int)good; s++) {
        double v = dp[s];
        if (s >= (int)cj)
            v -= qj * tmp[s - cj];
        tmp[s] = v / (1 - qj);
        if (tmp[s] < 0)
            tmp[s] = 0;
    }
    for (s = t - (int)cj + 1; s <= t; s++)
        if (s >= 0)
            mass += tmp[s];
    return mass;
}

/* The same without deconvolution (for q_j near 1). */
static double window_mass_slow(const struct sv_report_ent *e, unsigned nent,
                               unsigned skip, const double *q, int t,
                               double *dp)
{
    double mass = 0;
    unsigned i;
    int s, top = 0;

    dp[0] = 1;
    for (i = 0; i < nent; i++) {
        if (i == skip)
            continue;
        for (s = top + e[i].count; s >= 0; s--) {
            double v = s <= top ? dp[s] * (1 - q[e[i].prov]) : 0;
            if (s >= e[i].count && s - e[i].count <= top)
                v += dp[s - e[i].count] * q[e[i].prov];
            dp[s] = v;
        }
        top += e[i].count;
    }
    for (s = t - (int)e[skip].count + 1; s <= t; s++)
        if (s >= 0 && s <= top)
            mass += dp[s];
    return mass;
}

double sv_report_pattern_rate(const struct sv_report_model *m,
                              const struct sv_report_pattern *p,
                              const double *lambda, const double *q)
{
    const struct sv_report_ent *e = &m->ent[p->ent];
    double dp[SV_MAX_N + 1], tmp[SV_MAX_N + 1], rate = 0;
    unsigned k = p->n > m->m ? p->n - m->m : 1, i;
    int t, s, top = 0;

    if (p->good < k || p->nent == 0)
        return 0; /* already lost, or nothing left to lose */
    t = (int)p->good - (int)k;
    memset(dp, 0, sizeof(dp));
    dp[0] = 1;
    for (i = 0; i < p->nent; i++) {
        double qi = q[e[i].prov];
        for (s = top + e[i].count; s >= 0; s--) {
            double v = s <= top ? dp[s] * (1 - qi) : 0;
            if (s >= e[i].count && s - e[i].count <= top)
                v += dp[s - e[i].count] * qi;
            dp[s] = v;
        }
        top += e[i].count;
    }
    for (i = 0; i < p->nent; i++) {
        double qj = q[e[i].prov], mass;
        if (lambda[e[i].prov] <= 0)
            continue;
        if (qj < 0.5)
            mass = window_mass(dp, p->good, qj, e[i].count, t, tmp);
        else
            mass = window_mass_slow(e, p->nent, i, q, t, tmp);
        rate += lambda[e[i].prov] * (1 - qj) * mass;
    }
    return rate;
}

struct enum_ctx {
    uint8_t *lost;
    const struct sv_report_ent *e;
    const unsigned *bit; /* provider -> bit */
    unsigned nent;
    int t;
};

/* Mark every subset of the pattern's providers of size <= t + 1 that loses
 * more than t of its shards; the closure over supersets comes after. */
static void mark_subsets(const struct enum_ctx *c, unsigned from, unsigned size,
                         int sum, uint32_t mask)
{
    unsigned i;

    if (sum > c->t) {
        c->lost[mask] = 1;
        return;
    }
    if ((int)size > c->t)
        return;
    for (i = from; i < c->nent; i++)
        mark_subsets(c, i + 1, size + 1, sum + c->e[i].count,
                     mask | (1u << c->bit[c->e[i].prov]));
}

static double binom_sum(unsigned s, unsigned upto)
{
    double sum = 0, c = 1;
    unsigned j;

    for (j = 0; j <= upto && j <= s; j++) {
        sum += c;
        c = c * (s - j) / (j + 1);
    }
    return sum;
}

enum sv_err sv_report_loss_rate(const struct sv_report_model *m,
                                const double *lambda, const double *q,
                                int exact, double *rate, double *p_snapshot)
{
    unsigned bit[SV_REPORT_MAX_PROV], nb = 0, lob, hib;
    int who[SV_REPORT_EXACT_MAX];
    uint8_t used[SV_REPORT_MAX_PROV] = {0};
    double lo[1 << 10], hi[1 << 10], r = 0, snap = 0, work = 0;
    uint8_t *lost = NULL;
    size_t i, j, nmask;

    if (!m || !lambda || !q || !rate)
        return sv_err_set(SV_INVAL, "report: loss rate without inputs");
    for (i = 0; i < m->npat; i++) {
        const struct sv_report_pattern *p = &m->pat[i];
        unsigned k = p->n > m->m ? p->n - m->m : 1;
        if (p->good < k)
            continue;
        for (j = 0; j < p->nent; j++)
            used[m->ent[p->ent + j].prov] = 1;
        work += binom_sum(p->nent, p->good - k + 1);
    }
    for (i = 0; i < m->nprov; i++)
        if (used[i]) {
            if (nb < SV_REPORT_EXACT_MAX)
                who[nb] = (int)i;
            bit[i] = nb++;
        }
    if (!exact) {
        for (i = 0; i < m->npat; i++)
            r += sv_report_pattern_rate(m, &m->pat[i], lambda, q);
        *rate = r;
        if (p_snapshot)
            *p_snapshot = -1;
        return SV_OK;
    }
    if (nb > SV_REPORT_EXACT_MAX || work > EXACT_BUDGET)
        return sv_err_set(SV_INVAL,
                          "report: %u providers hold shards; exact "
                          "enumeration takes at most %d",
                          nb, SV_REPORT_EXACT_MAX);
    nmask = (size_t)1 << nb;
    lost = calloc(nmask, 1);
    if (!lost)
        return sv_err_set(SV_NOMEM, "report: out of memory (%zu subsets)",
                          nmask);
    for (i = 0; i < m->npat; i++) {
        const struct sv_report_pattern *p = &m->pat[i];
        unsigned k = p->n > m->m ? p->n - m->m : 1;
        struct enum_ctx c = {lost, &m->ent[p->ent], bit, p->nent, 0};
        if (p->good < k)
            continue;
        c.t = (int)p->good - (int)k;
        mark_subsets(&c, 0, 0, 0, 0);
    }
    for (j = 0; j < nb; j++)
        for (i = 0; i < nmask; i++)
            if (i & ((size_t)1 << j))
                lost[i] |= lost[i ^ ((size_t)1 << j)];
    /* P(mask) = lo[low bits] * hi[high bits]. */
    lob = nb < 10 ? nb : 10;
    hib = nb - lob;
    for (i = 0; i < ((size_t)1 << lob); i++) {
        lo[i] = 1;
        for (j = 0; j < lob; j++)
            lo[i] *= (i >> j) & 1 ? q[who[j]] : 1 - q[who[j]];
    }
    for (i = 0; i < ((size_t)1 << hib); i++) {
        hi[i] = 1;
        for (j = 0; j < hib; j++)
            hi[i] *= (i >> j) & 1 ? q[who[lob + j]] : 1 - q[who[lob + j]];
    }
    for (i = 0; i < nmask; i++) {
        double pm = lo[i & ((1u << lob) - 1)] * hi[i >> lob], f = 0;
        if (lost[i]) {
            snap += pm;
            continue;
        }
        for (j = 0; j < nb; j++)
            if (!(i & ((size_t)1 << j)) && lost[i | ((size_t)1 << j)])
                f += lambda[who[j]];
        r += pm * f;
    }
    free(lost);
    *rate = r;
    if (p_snapshot)
        *p_snapshot = snap;
    return SV_OK;
}

/* ---- the report ------------------------------------------------------ */

void sv_report_release(struct sv_report *r)
{
    if (!r)
        return;
    free(r->prov);
    free(r->series);
    memset(r, 0, sizeof(*r));
}

/* Least-squares slope of the stored bytes per day over the window. */
static void growth(const struct sv_report_model *m, unsigned window,
                   struct sv_report *r)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0, scale, *net, s;
    int64_t start, first, d, covered;
    uint64_t in = 0, del = 0;
    size_t i;

    r->window_days = window;
    scale = m->stored_scale > 0 ? m->stored_scale : 1;
    if (!m->nhist)
        return;
    first = m->hist[0].day;
    start = m->now_day - (int64_t)window + 1;
    if (first - 1 > start)
        start = first - 1;
    if (start > m->now_day)
        return;
    covered = m->now_day -
              (first > m->now_day - (int64_t)window
                   ? first
                   : m->now_day - (int64_t)window + 1) +
              1;
    if (covered < 1)
        covered = 1;
    net = calloc((size_t)(m->now_day - start + 1), sizeof(*net));
    if (!net)
        return; /* no growth figures rather than none at all */
    for (i = 0; i < m->nhist; i++) {
        const struct sv_hist_rec *h = &m->hist[i];
        d = (int64_t)h->day > m->now_day ? m->now_day : (int64_t)h->day;
        if (d <= m->now_day - (int64_t)window)
            continue;
        in += h->bytes_added;
        del += h->bytes_removed;
        if (d >= start)
            net[d - start] +=
                ((double)h->stored_added - (double)h->stored_removed) * scale;
    }
    r->ingest_per_day = (double)in / (double)covered;
    r->delete_per_day = (double)del / (double)covered;
    /* S(now) is known; walk back: S(d - 1) = S(d) - net(d). */
    r->series = malloc((size_t)(m->now_day - start + 1) * sizeof(double));
    s = (double)m->stored_bytes;
    for (d = m->now_day; d >= start; d--) {
        double x = (double)(d - m->now_day);
        if (r->series)
            r->series[d - start] = s;
        sx += x;
        sy += s;
        sxx += x * x;
        sxy += x * s;
        r->points++;
        s -= net[d - start];
    }
    free(net);
    if (r->series)
        r->nseries = r->points;
    if (r->points >= 2) {
        double n = r->points, den = n * sxx - sx * sx;
        if (den != 0)
            r->stored_per_day = (n * sxy - sx * sy) / den;
    }
}

static void overhead_and_health(const struct sv_report_model *m,
                                struct sv_report *r)
{
    unsigned d;

    r->n = m->k + m->m;
    r->k = m->k;
    r->ec_ratio = (double)r->n / (double)m->k;
    r->ratio = m->logical_bytes
                   ? (double)m->stored_bytes / (double)m->logical_bytes
                   : 0;
    for (d = 0; d <= m->m + 1 && d < SV_REPORT_HEALTH_MAX; d++) {
        r->segments += m->health[d];
        if (d == m->m + 1)
            r->lost_segments = m->health[d];
        else if (d > 0)
            r->degraded_segments += m->health[d];
    }
}

/* If provider x were lost: what repair reads (k shards per segment from
 * the cheapest helpers by egress price), writes and costs. */
static void repair_costs(const struct sv_report_model *m, struct sv_report *r)
{
    size_t i;
    unsigned j, h;

    for (i = 0; i < m->npat; i++) {
        const struct sv_report_pattern *p = &m->pat[i];
        const struct sv_report_ent *e = &m->ent[p->ent];
        unsigned k = p->n > m->m ? p->n - m->m : 1;
        double avg = p->segments ? (double)p->shard_bytes / p->segments : 0;
        unsigned order[SV_MAX_N], no;
        for (j = 0; j < p->nent; j++) {
            struct sv_report_prov_res *x = &r->prov[e[j].prov];
            unsigned need = k, left = p->good - e[j].count;
            x->repair_segments += p->segments;
            if (left < k) {
                x->repair_lost += p->segments;
                continue;
            }
            x->repair_write += e[j].count * p->shard_bytes;
            x->repair_read += k * p->shard_bytes;
            no = 0;
            for (h = 0; h < p->nent; h++) {
                unsigned a;
                if (h == j)
                    continue;
                for (a = no;
                     a > 0 && m->prov[e[order[a - 1]].prov].price_egress >
                                  m->prov[e[h].prov].price_egress;
                     a--)
                    order[a] = order[a - 1];
                order[a] = h;
                no++;
            }
            for (h = 0; h < no && need; h++) {
                unsigned take =
                    e[order[h]].count < need ? e[order[h]].count : need;
                x->repair_egress_cost += take * avg * (double)p->segments /
                                         SV_REPORT_GB *
                                         m->prov[e[order[h]].prov].price_egress;
                need -= take;
            }
        }
    }
}

/*
 * The patterns as repair will leave them, into h (which borrows m's
 * providers): each degraded, not lost, segment gets its missing shards
 * re-placed under the caps; *exposed counts those segments and *queue
 * their missing shard bytes. Segments repair cannot fix stay as they are.
 */
static enum sv_err heal(const struct sv_report_model *m,
                        struct sv_report_model *h, uint64_t *exposed,
                        double *queue)
{
    unsigned cnt[SV_REPORT_MAX_PROV];
    struct placer *pl;
    enum sv_err rc = SV_OK;
    size_t i, j;

    sv_report_model_init(h);
    h->k = m->k;
    h->m = m->m;
    h->nprov = m->nprov;
    h->prov = m->prov;
    pl = malloc(sizeof(*pl));
    if (!pl)
        return sv_err_set(SV_NOMEM, "report: out of memory");
    placer_init(pl, m);
    for (i = 0; i < m->npat && !rc; i++) {
        const struct sv_report_pattern *p = &m->pat[i];
        const struct sv_report_ent *e = &m->ent[p->ent];
        unsigned k = p->n > m->m ? p->n - m->m : 1;
        memset(cnt, 0, m->nprov * sizeof(cnt[0]));
        for (j = 0; j < p->nent; j++)
            cnt[e[j].prov] = e[j].count;
        if (p->good < p->n && p->good >= k) {
            unsigned old[SV_REPORT_MAX_PROV];
            memcpy(old, cnt, m->nprov * sizeof(cnt[0]));
            if (place_fill(pl, mix64(i + 0x2545f4914f6cdd1dull), p->n - p->good,
                           cnt)) {
                memcpy(cnt, old, m->nprov * sizeof(cnt[0]));
            } else {
                *exposed += p->segments;
                *queue += (double)(p->n - p->good) * p->shard_bytes;
            }
        }
        rc = add_counts(h, p->n, cnt, p->segments, p->bytes, p->shard_bytes);
    }
    free(pl);
    return rc;
}

/* The durability figures (engine/report.h) into r. */
static enum sv_err durability(const struct sv_report_model *m,
                              const double *lambda, const double *q,
                              struct sv_report *r)
{
    struct sv_report_model h;
    double queue = 0, exp_rate = 0;
    enum sv_err rc;
    size_t i;

    rc = heal(m, &h, &r->exposed_segments, &queue);
    if (rc)
        goto out;
    rc = sv_report_loss_rate(&h, lambda, q, 1, &r->loss_rate, NULL);
    r->exact = rc == SV_OK;
    if (rc == SV_INVAL)
        rc = sv_report_loss_rate(&h, lambda, q, 0, &r->loss_rate, NULL);
    if (rc)
        goto out;
    sv_err_clear();
    for (i = 0; i < h.npat; i++) {
        double pr = sv_report_pattern_rate(&h, &h.pat[i], lambda, q);
        r->expected_lost_bytes += (double)h.pat[i].bytes * -expm1(-pr);
    }
    r->p_loss_year = -expm1(-r->loss_rate);
    /* the degraded segments, exposed until the queue is through */
    for (i = 0; i < m->npat; i++) {
        const struct sv_report_pattern *p = &m->pat[i];
        unsigned k = p->n > m->m ? p->n - m->m : 1;
        if (p->good < p->n && p->good >= k)
            exp_rate += sv_report_pattern_rate(m, p, lambda, q);
    }
    r->exposure_hours = 0;
    if (r->exposed_segments)
        r->exposure_hours =
            m->repair_rate_bps > 0
                ? (m->grace_seconds + queue / m->repair_rate_bps) / 3600
                : m->reprotect_hours;
    r->p_loss_exposure =
        -expm1(-exp_rate * r->exposure_hours * 3600 / SV_REPORT_YEAR_S);
out:
    h.prov = NULL;
    h.nprov = 0;
    sv_report_model_release(&h);
    return rc;
}

enum sv_err sv_report_compute(struct sv_report_model *m, unsigned window_days,
                              struct sv_report *out)
{
    double sh[SV_REPORT_MAX_PROV], lambda[SV_REPORT_MAX_PROV],
        q[SV_REPORT_MAX_PROV], avg_shard;
    struct sv_report r;
    enum sv_err rc;
    size_t i;

    if (!m || !out)
        return sv_err_set(SV_INVAL, "report: no model");
    if (window_days == 0)
        window_days = SV_REPORT_WINDOW_DAYS;
    if (window_days > 36600)
        return sv_err_set(SV_INVAL,
                          "report: growth window of %u days is "
                          "too long",
                          window_days);
    if (m->k == 0 || m->k + m->m > SV_MAX_N || m->m + 1 >= SV_REPORT_HEALTH_MAX)
        return sv_err_set(SV_INVAL, "report: bad code k=%u m=%u", m->k, m->m);
    if (m->npat == 0 && m->segments > 0) {
        rc = sv_report_simulate(m);
        if (rc)
            return rc;
    }
    memset(&r, 0, sizeof(r));
    r.nprov = m->nprov;
    r.prov = calloc(m->nprov ? m->nprov : 1, sizeof(*r.prov));
    if (!r.prov)
        return sv_err_set(SV_NOMEM, "report: out of memory");
    r.first_fill_day = SV_REPORT_NEVER;
    r.model_name = MODEL_NAME;
    r.simulated = m->simulated;

    /* providers */
    for (i = 0; i < m->nprov; i++) {
        r.bytes_total += m->prov[i].bytes;
        r.shards_total += m->prov[i].shards;
        if (m->prov[i].quota)
            r.quota_total += m->prov[i].quota;
        else
            r.quota_unlimited = 1;
    }
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *p = &m->prov[i];
        struct sv_report_prov_res *x = &r.prov[i];
        x->share = r.bytes_total ? (double)p->bytes / r.bytes_total : 0;
        x->quota_used = p->quota ? (double)p->bytes / (double)p->quota : -1;
        x->cost_storage = (double)p->bytes / SV_REPORT_GB * p->price_storage;
    }
    overhead_and_health(m, &r);

    /* growth */
    growth(m, window_days, &r);
    rc = growth_shares(m, sh);
    if (rc)
        goto out;
    avg_shard = r.shards_total ? (double)r.bytes_total / r.shards_total
                               : (double)m->segment_size / m->k;
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *p = &m->prov[i];
        struct sv_report_prov_res *x = &r.prov[i];
        x->growth_share = sh[i];
        x->growth_per_day = r.stored_per_day * sh[i];
        x->days_to_full = -1;
        x->fill_day = SV_REPORT_NEVER;
        if (p->quota && p->bytes >= p->quota) {
            x->days_to_full = 0;
            x->fill_day = m->now_day;
        } else if (p->quota && x->growth_per_day > 0) {
            x->days_to_full = (double)(p->quota - p->bytes) / x->growth_per_day;
            if (x->days_to_full <= SV_REPORT_HORIZON_DAYS)
                x->fill_day =
                    m->now_day + (int64_t)ceil(x->days_to_full - 1e-9);
            else
                x->days_to_full = -1; /* a century away: never */
        }
        if (x->fill_day < r.first_fill_day)
            r.first_fill_day = x->fill_day;
        if (x->growth_per_day > 0 && avg_shard > 0)
            x->cost_requests = x->growth_per_day * SV_REPORT_MONTH_DAYS /
                               avg_shard / 1000 * p->price_request;
    }

    /* durability */
    r.measured = m->repair_rate_bps > 0;
    for (i = 0; i < m->nprov; i++) {
        const struct sv_report_prov *p = &m->prov[i];
        struct sv_report_prov_res *x = &r.prov[i];
        double wy;
        x->lambda = -log1p(-p->annual_loss);
        x->window_hours =
            r.measured
                ? (m->grace_seconds + (double)p->bytes / m->repair_rate_bps) /
                      3600
                : m->reprotect_hours;
        x->reprotect_hours = x->window_hours;
        wy = x->window_hours * 3600 / SV_REPORT_YEAR_S;
        x->q = x->lambda * wy / (1 + x->lambda * wy);
        lambda[i] = x->lambda;
        q[i] = x->q;
    }
    rc = durability(m, lambda, q, &r);
    if (rc)
        goto out;

    /* cost */
    repair_costs(m, &r);
    for (i = 0; i < m->nprov; i++) {
        struct sv_report_prov_res *x = &r.prov[i];
        r.cost_storage += x->cost_storage;
        r.cost_requests += x->cost_requests;
        r.cost_repair += x->lambda / 12 * x->repair_egress_cost;
    }
    r.cost_total = r.cost_storage + r.cost_requests + r.cost_repair;
    *out = r;
    return SV_OK;
out:
    sv_report_release(&r);
    return rc;
}
