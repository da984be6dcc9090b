/*
 * engine/placement.c: weighted rendezvous placement under the caps.
 *
 * Every usable provider gets a score -weight / ln(u) for the segment, u in
 * (0,1) from a SipHash-2-4 of oid | segment | provider name under a fixed
 * public key (placement needs determinism and spread, not secrecy). The
 * highest score wins: this is weighted rendezvous hashing, so a provider's
 * share of first choices is its share of the weights, and a provider that
 * joins takes only the segments where it now scores highest.
 *
 * The -1 slots are then filled in score order in rounds: round r gives a
 * shard to each provider (best first) holding fewer than r, so shards
 * spread over distinct providers before any provider takes a second one.
 * Greedy filling can paint itself into a corner when owners and
 * jurisdictions cross (taking the best provider may use up an owner and a
 * jurisdiction that two others needed), so when it fails an exact max flow
 * (source -> owner -> provider -> jurisdiction -> sink, capacities = caps
 * left) decides: infeasible is SV_POLICY with the numbers; feasible reruns
 * the greedy pass accepting a provider only if the flow says the rest can
 * still be placed. Providers are few (tens), so the flow is cheap.
 *
 * Owns nothing between calls; every call allocates and frees its scratch.
 */
#include "engine/placement.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the hash ---------------------------------------------------------- */

static const char place_key[] = "shardvault:place";
_Static_assert(sizeof(place_key) == 17, "placement key is 16 bytes");

struct sip {
    uint64_t v0, v1, v2, v3;
    uint64_t m;     /* pending bytes, little-endian */
    unsigned nm;    /* how many are pending */
    uint64_t total; /* bytes absorbed */
};

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = SIP_ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = SIP_ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = SIP_ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = SIP_ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = SIP_ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = SIP_ROTL(s->v2, 32);
}

static void sip_init(struct sip *s, const uint8_t key[16])
{
    uint64_t k0 = get_le64(key), k1 = get_le64(key + 8);

    s->v0 = 0x736f6d6570736575ULL ^ k0;
    s->v1 = 0x646f72616e646f6dULL ^ k1;
    s->v2 = 0x6c7967656e657261ULL ^ k0;
    s->v3 = 0x7465646279746573ULL ^ k1;
    s->m = 0;
    s->nm = 0;
    s->total = 0;
}

static void sip_block(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

static void sip_absorb(struct sip *s, const uint8_t *in, size_t len)
{
    s->total += len;
    for (size_t i = 0; i < len; i++) {
        s->m |= (uint64_t)in[i] << (8 * s->nm);
        if (++s->nm == 8) {
            sip_block(s, s->m);
            s->m = 0;
            s->nm = 0;
        }
    }
}

static uint64_t sip_final(struct sip *s)
{
    sip_block(s, s->m | (s->total << 56));
    s->v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t sv_place_hash(const uint8_t oid[SV_OID_LEN], uint32_t segment,
                       const char *name)
{
    uint8_t seg[4] = {(uint8_t)segment, (uint8_t)(segment >> 8),
                      (uint8_t)(segment >> 16), (uint8_t)(segment >> 24)};
    struct sip s;

    sip_init(&s, (const uint8_t *)place_key);
    sip_absorb(&s, oid, SV_OID_LEN);
    sip_absorb(&s, seg, sizeof(seg));
    if (name)
        sip_absorb(&s, (const uint8_t *)name, strlen(name));
    return sip_final(&s);
}

/* ---- providers grouped by owner and jurisdiction ----------------------- */

struct grp {
    size_t np;
    unsigned nown, njur;
    unsigned *own, *jur;    /* provider -> owner / jurisdiction index */
    size_t *orep, *jrep;    /* group -> its first provider, for names */
    uint64_t *cp, *co, *cj; /* shards held per provider/owner/jurisdiction */
};

static const char *owner_of(const struct sv_place_prov *p)
{
    return p->owner ? p->owner : p->name;
}

static const char *jur_of(const struct sv_place_prov *p)
{
    return p->jurisdiction ? p->jurisdiction : p->name;
}

static void grp_release(struct grp *g)
{
    free(g->own);
    free(g->jur);
    free(g->orep);
    free(g->jrep);
    free(g->cp);
    free(g->co);
    free(g->cj);
    memset(g, 0, sizeof(*g));
}

/* Quadratic grouping by name: providers are tens, not thousands. */
static enum sv_err grp_init(struct grp *g, const struct sv_place_prov *provs,
                            size_t np)
{
    size_t m = np ? np : 1;

    memset(g, 0, sizeof(*g));
    g->np = np;
    g->own = calloc(m, sizeof(*g->own));
    g->jur = calloc(m, sizeof(*g->jur));
    g->orep = calloc(m, sizeof(*g->orep));
    g->jrep = calloc(m, sizeof(*g->jrep));
    g->cp = calloc(m, sizeof(*g->cp));
    g->co = calloc(m, sizeof(*g->co));
    g->cj = calloc(m, sizeof(*g->cj));
    if (!g->own || !g->jur || !g->orep || !g->jrep || !g->cp || !g->co ||
        !g->cj) {
        grp_release(g);
        return sv_err_set(SV_NOMEM, "placement: out of memory");
    }
    for (size_t i = 0; i < np; i++) {
        unsigned o, j;

        for (o = 0; o < g->nown; o++)
            if (!strcmp(owner_of(&provs[g->orep[o]]), owner_of(&provs[i])))
                break;
        if (o == g->nown)
            g->orep[g->nown++] = i;
        g->own[i] = o;
        for (j = 0; j < g->njur; j++)
            if (!strcmp(jur_of(&provs[g->jrep[j]]), jur_of(&provs[i])))
                break;
        if (j == g->njur)
            g->jrep[g->njur++] = i;
        g->jur[i] = j;
    }
    return SV_OK;
}

static void grp_take(struct grp *g, size_t p)
{
    g->cp[p]++;
    g->co[g->own[p]]++;
    g->cj[g->jur[p]]++;
}

static void grp_untake(struct grp *g, size_t p)
{
    g->cp[p]--;
    g->co[g->own[p]]--;
    g->cj[g->jur[p]]--;
}

static void grp_count_slots(struct grp *g, const int *slot, unsigned n)
{
    for (unsigned i = 0; slot && i < n; i++)
        if (slot[i] >= 0)
            grp_take(g, (size_t)slot[i]);
}

static uint64_t room(unsigned cap, uint64_t held)
{
    return held < cap ? cap - held : 0;
}

/* ---- max flow ---------------------------------------------------------- */

/*
 * The most further shards the usable providers can take, at most limit.
 * Edmonds-Karp over source -> owner -> provider -> jurisdiction -> sink.
 */
static enum sv_err max_flow(const struct grp *g,
                            const struct sv_place_prov *provs,
                            const struct sv_place_caps *caps, uint64_t limit,
                            uint64_t *out)
{
    size_t nnode = 2 + g->nown + g->np + g->njur;
    size_t maxe = 2 * (g->nown + 2 * g->np + g->njur);
    size_t src = 0, snk = nnode - 1, ne = 0;
    size_t *head = NULL, *next = NULL, *to = NULL, *prev = NULL, *queue = NULL;
    uint64_t *cap = NULL, flow = 0;
    enum sv_err rc = SV_OK;

    head = malloc(nnode * sizeof(*head));
    prev = malloc(nnode * sizeof(*prev));
    queue = malloc(nnode * sizeof(*queue));
    next = malloc((maxe + 1) * sizeof(*next));
    to = malloc((maxe + 1) * sizeof(*to));
    cap = malloc((maxe + 1) * sizeof(*cap));
    if (!head || !prev || !queue || !next || !to || !cap) {
        rc = sv_err_set(SV_NOMEM, "placement: out of memory");
        goto out;
    }
    for (size_t i = 0; i < nnode; i++)
        head[i] = SIZE_MAX;

#define ADD_EDGE(a, b, c)                                                      \
    do {                                                                       \
        to[ne] = (b), cap[ne] = (c), next[ne] = head[a], head[a] = ne++;       \
        to[ne] = (a), cap[ne] = 0, next[ne] = head[b], head[b] = ne++;         \
    } while (0)

    for (unsigned o = 0; o < g->nown; o++)
        ADD_EDGE(src, 1 + o, room(caps->per_owner, g->co[o]));
    for (size_t p = 0; p < g->np; p++) {
        size_t pn = 1 + g->nown + p;
        uint64_t r = provs[p].usable ? room(caps->per_provider, g->cp[p]) : 0;

        if (!r)
            continue;
        ADD_EDGE(1 + g->own[p], pn, r);
        ADD_EDGE(pn, 1 + g->nown + g->np + g->jur[p], r);
    }
    for (unsigned j = 0; j < g->njur; j++)
        ADD_EDGE(1 + g->nown + g->np + j, snk,
                 room(caps->per_jurisdiction, g->cj[j]));
#undef ADD_EDGE

    while (flow < limit) {
        size_t qh = 0, qt = 0;
        uint64_t push = limit - flow;

        for (size_t i = 0; i < nnode; i++)
            prev[i] = SIZE_MAX;
        prev[src] = maxe; /* any non-SIZE_MAX mark */
        queue[qt++] = src;
        while (qh < qt && prev[snk] == SIZE_MAX) {
            size_t u = queue[qh++];

            for (size_t e = head[u]; e != SIZE_MAX; e = next[e]) {
                if (cap[e] && prev[to[e]] == SIZE_MAX) {
                    prev[to[e]] = e;
                    queue[qt++] = to[e];
                }
            }
        }
        if (prev[snk] == SIZE_MAX)
            break;
        for (size_t v = snk; v != src; v = to[prev[v] ^ 1])
            if (cap[prev[v]] < push)
                push = cap[prev[v]];
        for (size_t v = snk; v != src; v = to[prev[v] ^ 1]) {
            cap[prev[v]] -= push;
            cap[prev[v] ^ 1] += push;
        }
        flow += push;
    }
    *out = flow;
out:
    free(head);
    free(prev);
    free(queue);
    free(next);
    free(to);
    free(cap);
    return rc;
}

/* ---- arguments and messages -------------------------------------------- */

static enum sv_err check_args(const struct sv_place_prov *provs, size_t nprov,
                              const struct sv_place_caps *caps, const int *slot,
                              unsigned n, int weights)
{
    if (!caps)
        return sv_err_set(SV_INVAL, "placement: no caps given");
    if (!caps->per_provider || !caps->per_owner || !caps->per_jurisdiction)
        return sv_err_set(SV_INVAL,
                          "placement: caps must be at least 1 "
                          "(max_per_provider=%u, max_per_owner=%u, "
                          "max_per_jurisdiction=%u)",
                          caps->per_provider, caps->per_owner,
                          caps->per_jurisdiction);
    if (nprov && !provs)
        return sv_err_set(SV_INVAL, "placement: no provider array");
    if (nprov > INT_MAX)
        return sv_err_set(SV_INVAL, "placement: %zu providers", nprov);
    for (size_t i = 0; i < nprov; i++) {
        if (!provs[i].name)
            return sv_err_set(SV_INVAL, "placement: provider %zu has no name",
                              i);
        if (weights && provs[i].usable &&
            !(provs[i].weight > 0 && isfinite(provs[i].weight)))
            return sv_err_set(SV_INVAL,
                              "placement: provider %s: weight %g is not a "
                              "positive number",
                              provs[i].name, provs[i].weight);
    }
    for (unsigned i = 0; slot && i < n; i++)
        if (slot[i] < -1 || slot[i] >= (int)nprov)
            return sv_err_set(SV_INVAL,
                              "placement: slot %u names provider %d of %zu", i,
                              slot[i], nprov);
    return SV_OK;
}

/* The phrase naming the binding cap; see sv_place_capacity(). */
static void capacity_phrase(const struct grp *g,
                            const struct sv_place_prov *provs,
                            const struct sv_place_caps *caps, uint64_t flow,
                            int placed, char *why, size_t len)
{
    uint64_t bp = 0, bo = 0, bj = 0;
    unsigned no = 0, nj = 0;
    size_t nu = 0;
    unsigned char *so = calloc(g->nown + 1, 1), *sj = calloc(g->njur + 1, 1);
    char one[64], many[64];

    if (!so || !sj) {
        snprintf(why, len, "the providers hold at most %llu",
                 (unsigned long long)flow);
        goto out;
    }
    for (size_t p = 0; p < g->np; p++) {
        if (!provs[p].usable)
            continue;
        nu++;
        bp += room(caps->per_provider, g->cp[p]);
        if (!so[g->own[p]]++) {
            no++;
            bo += room(caps->per_owner, g->co[g->own[p]]);
        }
        if (!sj[g->jur[p]]++) {
            nj++;
            bj += room(caps->per_jurisdiction, g->cj[g->jur[p]]);
        }
    }
    snprintf(one, sizeof(one),
             placed ? "can take at most %llu more" : "holds at most %llu",
             (unsigned long long)flow);
    snprintf(many, sizeof(many),
             placed ? "can take at most %llu more" : "hold at most %llu",
             (unsigned long long)flow);
    if (!nu)
        snprintf(why, len, "no provider is usable");
    else if (flow == bp)
        snprintf(why, len,
                 "the %zu usable provider%s %s at max_per_provider=%u", nu,
                 nu == 1 ? "" : "s", nu == 1 ? one : many, caps->per_provider);
    else if (flow == bo)
        snprintf(why, len,
                 "the %u owner%s of the usable providers %s at "
                 "max_per_owner=%u",
                 no, no == 1 ? "" : "s", no == 1 ? one : many, caps->per_owner);
    else if (flow == bj)
        snprintf(why, len,
                 "the %u jurisdiction%s of the usable providers %s at "
                 "max_per_jurisdiction=%u",
                 nj, nj == 1 ? "" : "s", nj == 1 ? one : many,
                 caps->per_jurisdiction);
    else
        snprintf(why, len,
                 "the %zu usable providers (%u owners, %u jurisdictions) %s "
                 "under max_per_provider=%u, max_per_owner=%u and "
                 "max_per_jurisdiction=%u together",
                 nu, no, nj, many, caps->per_provider, caps->per_owner,
                 caps->per_jurisdiction);
out:
    free(so);
    free(sj);
}

enum sv_err sv_place_capacity(const struct sv_place_prov *provs, size_t nprov,
                              const struct sv_place_caps *caps, const int *slot,
                              unsigned n, unsigned *max, char *why, size_t len)
{
    struct grp g;
    uint64_t flow = 0;
    int placed = 0;
    enum sv_err rc;

    if (!max)
        return sv_err_set(SV_INVAL, "placement: no output given");
    rc = check_args(provs, nprov, caps, slot, n, 0);
    if (rc)
        return rc;
    rc = grp_init(&g, provs, nprov);
    if (rc)
        return rc;
    grp_count_slots(&g, slot, n);
    for (unsigned i = 0; slot && i < n; i++)
        placed |= slot[i] >= 0;
    rc = max_flow(&g, provs, caps, UINT_MAX, &flow);
    if (rc)
        goto out;
    *max = (unsigned)flow;
    if (why && len)
        capacity_phrase(&g, provs, caps, flow, placed, why, len);
out:
    grp_release(&g);
    return rc;
}

static void oid_hex(const uint8_t oid[SV_OID_LEN], char out[2 * SV_OID_LEN + 1])
{
    static const char hx[] = "0123456789abcdef";

    for (int i = 0; i < SV_OID_LEN; i++) {
        out[2 * i] = hx[oid[i] >> 4];
        out[2 * i + 1] = hx[oid[i] & 15];
    }
    out[2 * SV_OID_LEN] = '\0';
}

/* SV_POLICY if the already placed shards break a cap by themselves. */
static enum sv_err check_fixed(const struct grp *g,
                               const struct sv_place_prov *provs,
                               const struct sv_place_caps *caps,
                               const char *what)
{
    for (size_t p = 0; p < g->np; p++)
        if (g->cp[p] > caps->per_provider)
            return sv_err_set(SV_POLICY,
                              "%s: the shards already placed break the caps: "
                              "provider %s holds %llu > max_per_provider=%u",
                              what, provs[p].name, (unsigned long long)g->cp[p],
                              caps->per_provider);
    for (unsigned o = 0; o < g->nown; o++)
        if (g->co[o] > caps->per_owner)
            return sv_err_set(SV_POLICY,
                              "%s: the shards already placed break the caps: "
                              "owner %s holds %llu > max_per_owner=%u",
                              what, owner_of(&provs[g->orep[o]]),
                              (unsigned long long)g->co[o], caps->per_owner);
    for (unsigned j = 0; j < g->njur; j++)
        if (g->cj[j] > caps->per_jurisdiction)
            return sv_err_set(SV_POLICY,
                              "%s: the shards already placed break the caps: "
                              "jurisdiction %s holds %llu > "
                              "max_per_jurisdiction=%u",
                              what, jur_of(&provs[g->jrep[j]]),
                              (unsigned long long)g->cj[j],
                              caps->per_jurisdiction);
    return SV_OK;
}

/* ---- placing ----------------------------------------------------------- */

struct cand {
    double score;
    size_t idx;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;

    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Fill the -1 slots of work in rounds over the candidates in score order
 * (see the top of the file). With lookahead, a provider is taken only if
 * the max flow says the remaining slots can still be filled afterwards.
 * Returns how many slots were filled through *filled; g's counts follow.
 */
static enum sv_err fill(struct grp *g, const struct sv_place_prov *provs,
                        const struct sv_place_caps *caps,
                        const struct cand *order, size_t nord, int *work,
                        unsigned n, unsigned need, int lookahead,
                        unsigned *filled)
{
    unsigned got = 0, next = 0;
    enum sv_err rc = SV_OK;

    for (unsigned r = 1; got < need; r++) {
        unsigned lim = r < caps->per_provider ? r : caps->per_provider;
        int progress = 0;

        for (size_t i = 0; i < nord && got < need; i++) {
            size_t p = order[i].idx;
            unsigned left = need - got - 1;
            uint64_t can;

            if (g->cp[p] >= lim || g->co[g->own[p]] >= caps->per_owner ||
                g->cj[g->jur[p]] >= caps->per_jurisdiction)
                continue;
            grp_take(g, p);
            if (lookahead && left) {
                rc = max_flow(g, provs, caps, left, &can);
                if (rc)
                    goto out;
                if (can < left) {
                    grp_untake(g, p);
                    continue;
                }
            }
            while (work[next] != -1)
                next++;
            work[next] = (int)p;
            got++;
            progress = 1;
        }
        if (!progress && r >= caps->per_provider)
            break;
        if (r > n) /* every provider has had the chance to reach its cap */
            break;
    }
out:
    *filled = got;
    return rc;
}

enum sv_err sv_place(const struct sv_place_prov *provs, size_t nprov,
                     const struct sv_place_caps *caps,
                     const uint8_t oid[SV_OID_LEN], uint32_t segment,
                     unsigned n, int *slot)
{
    struct grp g = {0};
    struct cand *order = NULL;
    int *work = NULL;
    unsigned need = 0, filled = 0;
    size_t nord = 0;
    char what[128], hex[2 * SV_OID_LEN + 1], why[320];
    uint64_t can = 0;
    enum sv_err rc;

    if (!oid || !slot || !n || n > 255)
        return sv_err_set(SV_INVAL, "placement: bad arguments (n=%u)", n);
    rc = check_args(provs, nprov, caps, slot, n, 1);
    if (rc)
        return rc;
    oid_hex(oid, hex);
    snprintf(what, sizeof(what), "object %s segment %u", hex, segment);
    rc = grp_init(&g, provs, nprov);
    if (rc)
        return rc;
    grp_count_slots(&g, slot, n);
    rc = check_fixed(&g, provs, caps, what);
    if (rc)
        goto out;
    for (unsigned i = 0; i < n; i++)
        need += slot[i] == -1;
    if (!need)
        goto out;

    order = malloc((nprov ? nprov : 1) * sizeof(*order));
    work = malloc(n * sizeof(*work));
    if (!order || !work) {
        rc = sv_err_set(SV_NOMEM, "placement: out of memory");
        goto out;
    }
    for (size_t p = 0; p < nprov; p++) {
        double u;

        if (!provs[p].usable)
            continue;
        u = ((double)(sv_place_hash(oid, segment, provs[p].name) >> 11) + 0.5) *
            0x1p-53;
        order[nord].score = -provs[p].weight / log(u);
        order[nord].idx = p;
        nord++;
    }
    qsort(order, nord, sizeof(*order), cand_cmp);

    memcpy(work, slot, n * sizeof(*work));
    rc = fill(&g, provs, caps, order, nord, work, n, need, 0, &filled);
    if (rc)
        goto out;
    if (filled < need) {
        /* Start over from the fixed slots and let the flow decide. */
        memset(g.cp, 0, g.np * sizeof(*g.cp));
        memset(g.co, 0, g.np * sizeof(*g.co));
        memset(g.cj, 0, g.np * sizeof(*g.cj));
        grp_count_slots(&g, slot, n);
        rc = max_flow(&g, provs, caps, need, &can);
        if (rc)
            goto out;
        if (can < need) {
            rc = max_flow(&g, provs, caps, UINT_MAX, &can);
            if (rc)
                goto out;
            capacity_phrase(&g, provs, caps, can, need < n, why, sizeof(why));
            rc = sv_err_set(SV_POLICY,
                            "%s: %u shard%s to place (%u of %u already "
                            "placed) but %s",
                            what, need, need == 1 ? "" : "s", n - need, n, why);
            goto out;
        }
        memcpy(work, slot, n * sizeof(*work));
        rc = fill(&g, provs, caps, order, nord, work, n, need, 1, &filled);
        if (rc)
            goto out;
        if (filled < need) { /* cannot happen: the flow said it fits */
            rc = sv_err_set(SV_POLICY,
                            "%s: placement failed to fill %u "
                            "feasible slots",
                            what, need - filled);
            goto out;
        }
    }
    memcpy(slot, work, n * sizeof(*slot));
out:
    free(order);
    free(work);
    grp_release(&g);
    return rc;
}
