/*
 * tests/engine/placement_test.c: engine/placement.c, weighted rendezvous
 * placement under the provider, owner and jurisdiction caps.
 *
 * The properties: the caps never break over random provider sets (fixed
 * slots included); SV_POLICY exactly when a brute-force search finds no
 * placement; determinism; shares follow the weights; a new provider takes
 * only its fair share; fixed slots and unusable providers are respected.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/placement.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static void rnd_oid(uint8_t oid[SV_OID_LEN])
{
    for (int i = 0; i < SV_OID_LEN; i++)
        oid[i] = (uint8_t)rnd();
}

static int same(const char *a, const char *b)
{
    return !strcmp(a, b);
}

/* Whether the filled ones of slot[0..n) alone keep the caps. */
static int fixed_fit(const struct sv_place_prov *pv, size_t np,
                     const struct sv_place_caps *caps, const int *slot,
                     unsigned n)
{
    for (size_t p = 0; p < np; p++) {
        unsigned cp = 0, co = 0, cj = 0;

        for (unsigned j = 0; j < n; j++) {
            if (slot[j] < 0)
                continue;
            cp += (size_t)slot[j] == p;
            co += same(pv[slot[j]].owner, pv[p].owner);
            cj += same(pv[slot[j]].jurisdiction, pv[p].jurisdiction);
        }
        if (cp > caps->per_provider || co > caps->per_owner ||
            cj > caps->per_jurisdiction)
            return 0;
    }
    return 1;
}

/* Whether slot[0..n) keeps the caps; every slot must be filled. */
static int caps_hold(const struct sv_place_prov *pv, size_t np,
                     const struct sv_place_caps *caps, const int *slot,
                     unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (slot[i] < 0 || (size_t)slot[i] >= np)
            return 0;
    return fixed_fit(pv, np, caps, slot, n);
}

/* Brute force: the most further shards the usable providers can take. */
struct brute {
    const struct sv_place_prov *pv;
    size_t np;
    const struct sv_place_caps *caps;
    unsigned cp[16], co[16], cj[16]; /* by provider / owner / jur index */
    unsigned own[16], jur[16];
};

static unsigned brute_rec(struct brute *b, size_t p)
{
    unsigned best = 0;

    if (p == b->np)
        return 0;
    for (unsigned c = 0;; c++) {
        unsigned sub;

        if (c && (!b->pv[p].usable || b->cp[p] + c > b->caps->per_provider ||
                  b->co[b->own[p]] + c > b->caps->per_owner ||
                  b->cj[b->jur[p]] + c > b->caps->per_jurisdiction))
            break;
        b->co[b->own[p]] += c;
        b->cj[b->jur[p]] += c;
        sub = c + brute_rec(b, p + 1);
        b->co[b->own[p]] -= c;
        b->cj[b->jur[p]] -= c;
        if (sub > best)
            best = sub;
    }
    return best;
}

static unsigned brute_max(const struct sv_place_prov *pv, size_t np,
                          const struct sv_place_caps *caps, const int *slot,
                          unsigned n)
{
    struct brute b = {.pv = pv, .np = np, .caps = caps};

    for (size_t p = 0; p < np; p++) {
        b.own[p] = (unsigned)p;
        b.jur[p] = (unsigned)p;
        for (size_t q = 0; q < p; q++) {
            if (same(pv[q].owner, pv[p].owner) && b.own[p] == p)
                b.own[p] = b.own[q];
            if (same(pv[q].jurisdiction, pv[p].jurisdiction) && b.jur[p] == p)
                b.jur[p] = b.jur[q];
        }
    }
    for (unsigned i = 0; i < n; i++)
        if (slot[i] >= 0) {
            b.cp[slot[i]]++;
            b.co[b.own[slot[i]]]++;
            b.cj[b.jur[slot[i]]]++;
        }
    /* Fixed slots above a cap leave no room there (brute_rec checks). */
    return brute_rec(&b, 0);
}

static const char *const owners[] = {"O1", "O2", "O3", "O4"};
static const char *const jurs[] = {"J1", "J2", "J3", "J4"};
static const char *const names[] = {"p0", "p1", "p2", "p3", "p4",
                                    "p5", "p6", "p7", "p8", "p9"};

Test(placement, hash_is_siphash24_as_libsodium_computes_it)
{
    static const unsigned char key[crypto_shorthash_KEYBYTES] =
        "shardvault:place";
    uint8_t oid[SV_OID_LEN], msg[64], out[8];
    const char *nm[] = {"", "a", "tel-cn-1", "a-rather-long-provider-name-x"};

    cr_assert_eq(sodium_init() < 0, 0);
    rng_state = 7;
    for (int t = 0; t < 40; t++) {
        const char *name = nm[t % 4];
        uint32_t seg = (uint32_t)rnd();
        uint64_t want = 0;
        size_t len = strlen(name);

        rnd_oid(oid);
        memcpy(msg, oid, SV_OID_LEN);
        for (int i = 0; i < 4; i++)
            msg[SV_OID_LEN + i] = (uint8_t)(seg >> (8 * i));
        memcpy(msg + SV_OID_LEN + 4, name, len);
        crypto_shorthash(out, msg, SV_OID_LEN + 4 + len, key);
        for (int i = 7; i >= 0; i--)
            want = (want << 8) | out[i];
        cr_assert_eq(sv_place_hash(oid, seg, name), want, "t=%d", t);
    }
    cr_assert_neq(sv_place_hash(oid, 1, "a"), sv_place_hash(oid, 2, "a"));
    cr_assert_neq(sv_place_hash(oid, 1, "a"), sv_place_hash(oid, 1, "b"));
}

Test(placement, random_sets_keep_the_caps_and_refuse_only_the_impossible)
{
    unsigned placed = 0, refused = 0, fixed_seen = 0;

    rng_state = 0x5eed;
    for (int trial = 0; trial < 400; trial++) {
        struct sv_place_prov pv[8];
        struct sv_place_caps caps;
        size_t np = 1 + rnd_below(8);
        unsigned no = 1 + rnd_below(4), nj = 1 + rnd_below(4);
        unsigned n = 1 + rnd_below(8);

        for (size_t p = 0; p < np; p++) {
            pv[p].name = names[p];
            pv[p].owner = owners[rnd_below(no)];
            pv[p].jurisdiction = jurs[rnd_below(nj)];
            pv[p].weight = 0.1 + (double)rnd_below(1000) / 100.0;
            pv[p].usable = rnd_below(8) != 0;
        }
        caps.per_provider = 1 + rnd_below(3);
        caps.per_owner = 1 + rnd_below(4);
        caps.per_jurisdiction = 1 + rnd_below(4);
        for (int s = 0; s < 12; s++) {
            uint8_t oid[SV_OID_LEN];
            int slot[8], before[8];
            unsigned need = 0, most = 0, brute;
            enum sv_err rc;

            rnd_oid(oid);
            /* Some slots already placed, keeping the caps. */
            for (unsigned i = 0; i < n; i++) {
                slot[i] = -1;
                if (rnd_below(3) == 0) {
                    slot[i] = (int)rnd_below((unsigned)np);
                    if (!fixed_fit(pv, np, &caps, slot, i + 1))
                        slot[i] = -1;
                }
                need += slot[i] == -1;
            }
            fixed_seen += need < n;
            memcpy(before, slot, sizeof(slot));
            brute = brute_max(pv, np, &caps, slot, n);
            cr_assert_eq(
                sv_place_capacity(pv, np, &caps, slot, n, &most, NULL, 0),
                SV_OK);
            cr_assert_eq(most, brute, "trial %d: flow %u, brute force %u",
                         trial, most, brute);
            rc = sv_place(pv, np, &caps, oid, (uint32_t)s, n, slot);
            if (brute >= need) {
                cr_assert_eq(rc, SV_OK, "trial %d: %s", trial, sv_errmsg(rc));
                cr_assert(caps_hold(pv, np, &caps, slot, n), "trial %d", trial);
                for (unsigned i = 0; i < n; i++) {
                    if (before[i] >= 0)
                        cr_assert_eq(slot[i], before[i]);
                    else
                        cr_assert(pv[slot[i]].usable, "trial %d", trial);
                }
                placed++;
            } else {
                cr_assert_eq(rc, SV_POLICY, "trial %d", trial);
                cr_assert_eq(memcmp(slot, before, sizeof(slot)), 0);
                refused++;
            }
        }
    }
    /* The generator must exercise both outcomes and fixed slots. */
    cr_assert_gt(placed, 1000);
    cr_assert_gt(refused, 500);
    cr_assert_gt(fixed_seen, 1000);
}

Test(placement, deterministic_and_independent_of_array_order)
{
    struct sv_place_prov pv[6], rev[6];
    struct sv_place_caps caps = {2, 2, 2};
    static const char *const on[] = {"A", "A", "B", "B", "C", "C"};

    rng_state = 99;
    for (int p = 0; p < 6; p++) {
        pv[p] =
            (struct sv_place_prov){names[p], on[p], on[p], 1.0 + (double)p, 1};
        rev[5 - p] = pv[p];
    }
    for (int s = 0; s < 2000; s++) {
        uint8_t oid[SV_OID_LEN];
        int a[6], b[6], c[6];

        rnd_oid(oid);
        for (int i = 0; i < 6; i++)
            a[i] = b[i] = c[i] = -1;
        cr_assert_eq(sv_place(pv, 6, &caps, oid, (uint32_t)s, 6, a), SV_OK);
        cr_assert_eq(sv_place(pv, 6, &caps, oid, (uint32_t)s, 6, b), SV_OK);
        cr_assert_eq(sv_place(rev, 6, &caps, oid, (uint32_t)s, 6, c), SV_OK);
        for (int i = 0; i < 6; i++) {
            cr_assert_eq(a[i], b[i]);
            cr_assert_str_eq(pv[a[i]].name, rev[c[i]].name);
        }
    }
}

/*
 * Shares follow the weights. With n = 1 the caps cannot distort anything
 * (one shard, caps 1), so each provider's share of 100,000 segments must
 * be within 5% (relative) of its share of the weights. The smallest share
 * here is 1/14 (about 7,100 segments, sigma about 81), so 5% is over 4
 * sigma. Scaling every weight by 1e12 (free quota in bytes) changes
 * nothing.
 */
Test(placement, distribution_follows_the_weights)
{
    static const double w[6] = {1, 1.5, 2, 2.5, 3, 4};
    struct sv_place_prov pv[6], big[6];
    struct sv_place_caps caps = {1, 1, 1};
    unsigned count[6] = {0}, count_big[6] = {0};
    const unsigned segs = 100000;
    double total = 0;
    uint8_t oid[SV_OID_LEN];

    for (int p = 0; p < 6; p++) {
        pv[p] = (struct sv_place_prov){names[p], names[p], names[p], w[p], 1};
        big[p] = pv[p];
        big[p].weight = w[p] * 1e12;
        total += w[p];
    }
    rng_state = 1234;
    for (unsigned s = 0; s < segs; s++) {
        int a = -1, b = -1;

        if (s % 100 == 0)
            rnd_oid(oid);
        cr_assert_eq(sv_place(pv, 6, &caps, oid, s % 100, 1, &a), SV_OK);
        cr_assert_eq(sv_place(big, 6, &caps, oid, s % 100, 1, &b), SV_OK);
        count[a]++;
        count_big[b]++;
    }
    for (int p = 0; p < 6; p++) {
        double want = segs * w[p] / total;

        cr_assert(fabs(count[p] - want) <= 0.05 * want,
                  "provider %d: %u segments, expected %.0f", p, count[p], want);
        cr_assert(fabs(count_big[p] - want) <= 0.05 * want,
                  "provider %d (scaled): %u, expected %.0f", p, count_big[p],
                  want);
    }
}

/* With equal weights and n = 3 of 6 (caps 1, distinct parties), every
 * provider is in half the segments. */
Test(placement, equal_weights_spread_evenly_for_several_shards)
{
    struct sv_place_prov pv[6];
    struct sv_place_caps caps = {1, 1, 1};
    unsigned count[6] = {0};
    const unsigned segs = 20000;
    uint8_t oid[SV_OID_LEN];

    for (int p = 0; p < 6; p++)
        pv[p] = (struct sv_place_prov){names[p], names[p], names[p], 1, 1};
    rng_state = 4321;
    rnd_oid(oid);
    for (unsigned s = 0; s < segs; s++) {
        int slot[3] = {-1, -1, -1};

        cr_assert_eq(sv_place(pv, 6, &caps, oid, s, 3, slot), SV_OK);
        for (int i = 0; i < 3; i++)
            count[slot[i]]++;
    }
    for (int p = 0; p < 6; p++)
        cr_assert(fabs(count[p] - segs / 2.0) <= 0.05 * segs / 2.0,
                  "provider %d: %u of %u", p, count[p], segs);
}

/*
 * Adding a provider moves only its fair share. n = 1: a segment moves only
 * to the newcomer, and the moved fraction is within 10% (relative) of the
 * newcomer's weight share (2/16 here: 12,500 of 100,000, sigma about 105).
 */
Test(placement, adding_a_provider_moves_only_its_share_n1)
{
    static const double w[7] = {1, 1.5, 2, 2.5, 3, 4, 2};
    struct sv_place_prov pv[7];
    struct sv_place_caps caps = {1, 1, 1};
    const unsigned segs = 100000;
    unsigned moved = 0;
    uint8_t oid[SV_OID_LEN];
    double want;

    for (int p = 0; p < 7; p++)
        pv[p] = (struct sv_place_prov){names[p], names[p], names[p], w[p], 1};
    rng_state = 555;
    for (unsigned s = 0; s < segs; s++) {
        int a = -1, b = -1;

        if (s % 50 == 0)
            rnd_oid(oid);
        cr_assert_eq(sv_place(pv, 6, &caps, oid, s % 50, 1, &a), SV_OK);
        cr_assert_eq(sv_place(pv, 7, &caps, oid, s % 50, 1, &b), SV_OK);
        if (a != b) {
            cr_assert_eq(b, 6, "a segment moved between old providers");
            moved++;
        }
    }
    want = segs * 2.0 / 16.0;
    cr_assert(fabs(moved - want) <= 0.10 * want, "moved %u, expected %.0f",
              moved, want);
}

/*
 * n = 3 of 6, then 7, equal weights, caps 1: an old provider never gains a
 * segment, and the shards that leave old providers are the newcomer's fair
 * share of all shards, 1/7, within 10%.
 */
Test(placement, adding_a_provider_moves_only_its_share_n3)
{
    struct sv_place_prov pv[7];
    struct sv_place_caps caps = {1, 1, 1};
    const unsigned segs = 30000;
    unsigned moved = 0;
    uint8_t oid[SV_OID_LEN];
    double want;

    for (int p = 0; p < 7; p++)
        pv[p] = (struct sv_place_prov){names[p], names[p], names[p], 1, 1};
    rng_state = 777;
    rnd_oid(oid);
    for (unsigned s = 0; s < segs; s++) {
        int a[3] = {-1, -1, -1}, b[3] = {-1, -1, -1};
        int in_a[7] = {0}, in_b[7] = {0};

        cr_assert_eq(sv_place(pv, 6, &caps, oid, s, 3, a), SV_OK);
        cr_assert_eq(sv_place(pv, 7, &caps, oid, s, 3, b), SV_OK);
        for (int i = 0; i < 3; i++) {
            in_a[a[i]] = 1;
            in_b[b[i]] = 1;
        }
        for (int p = 0; p < 6; p++) {
            cr_assert(!(in_b[p] && !in_a[p]), "old provider %d gained", p);
            moved += in_a[p] && !in_b[p];
        }
        cr_assert_eq(
            in_b[6],
            (int)(in_a[0] + in_a[1] + in_a[2] + in_a[3] + in_a[4] + in_a[5]) -
                (in_b[0] + in_b[1] + in_b[2] + in_b[3] + in_b[4] + in_b[5]));
    }
    want = 3.0 * segs / 7.0;
    cr_assert(fabs(moved - want) <= 0.10 * want, "moved %u, expected %.0f",
              moved, want);
}

Test(placement, fixed_slots_count_even_on_unusable_providers)
{
    /* p0 is down but holds shard 0; owner O shares p0 and p1 with cap 1, so
     * p1 must never be chosen. */
    struct sv_place_prov pv[5] = {
        {"p0", "O", "J0", 1, 0}, {"p1", "O", "J1", 50, 1},
        {"p2", "Q", "J2", 1, 1}, {"p3", "R", "J3", 1, 1},
        {"p4", "S", "J4", 1, 1},
    };
    struct sv_place_caps caps = {1, 1, 1};

    rng_state = 31;
    for (int s = 0; s < 500; s++) {
        uint8_t oid[SV_OID_LEN];
        int slot[4] = {0, -1, -1, -1};

        rnd_oid(oid);
        cr_assert_eq(sv_place(pv, 5, &caps, oid, (uint32_t)s, 4, slot), SV_OK,
                     "%s", sv_errmsg(SV_POLICY));
        cr_assert_eq(slot[0], 0);
        for (int i = 1; i < 4; i++)
            cr_assert(slot[i] >= 2, "slot %d on p%d", i, slot[i]);
    }
}

Test(placement, unusable_providers_never_get_new_shards)
{
    struct sv_place_prov pv[10];
    struct sv_place_caps caps = {1, 2, 2};

    for (int p = 0; p < 10; p++)
        pv[p] = (struct sv_place_prov){names[p], owners[p % 4], jurs[p % 3],
                                       p % 2 ? 1e6 : 1, p % 2 == 0};
    rng_state = 8;
    for (int s = 0; s < 2000; s++) {
        uint8_t oid[SV_OID_LEN];
        int slot[4] = {-1, -1, -1, -1};

        rnd_oid(oid);
        cr_assert_eq(sv_place(pv, 10, &caps, oid, (uint32_t)s, 4, slot), SV_OK);
        for (int i = 0; i < 4; i++)
            cr_assert(pv[slot[i]].usable);
        cr_assert(caps_hold(pv, 10, &caps, slot, 4));
    }
}

/*
 * Greedy alone fails here: a (owner X, jurisdiction J1) outweighs the rest
 * a billion to one, so it scores first everywhere, and taking it blocks
 * both b (owner X) and c (jurisdiction J1). The only placement is {b, c};
 * the max-flow fallback must find it every time.
 */
Test(placement, falls_back_when_greedy_paints_itself_into_a_corner)
{
    struct sv_place_prov pv[3] = {
        {"a", "X", "J1", 1e9, 1},
        {"b", "X", "J2", 1, 1},
        {"c", "Y", "J1", 1, 1},
    };
    struct sv_place_caps caps = {1, 1, 1};

    rng_state = 3;
    for (int s = 0; s < 1000; s++) {
        uint8_t oid[SV_OID_LEN];
        int one = -1, two[2] = {-1, -1};

        rnd_oid(oid);
        cr_assert_eq(sv_place(pv, 3, &caps, oid, (uint32_t)s, 1, &one), SV_OK);
        cr_assert_eq(one, 0, "a should score first");
        cr_assert_eq(sv_place(pv, 3, &caps, oid, (uint32_t)s, 2, two), SV_OK);
        cr_assert((two[0] == 1 && two[1] == 2) || (two[0] == 2 && two[1] == 1),
                  "got %d %d", two[0], two[1]);
    }
}

Test(placement, rounds_spread_before_doubling_up)
{
    struct sv_place_prov pv[6];
    struct sv_place_caps caps = {2, 6, 6};

    for (int p = 0; p < 6; p++)
        pv[p] = (struct sv_place_prov){names[p], names[p], names[p],
                                       1 + p * 10.0, 1};
    rng_state = 11;
    for (int s = 0; s < 300; s++) {
        uint8_t oid[SV_OID_LEN];
        int slot[6];
        unsigned cnt[6] = {0}, twos = 0;

        rnd_oid(oid);
        /* 6 shards on 6 providers at 2 each: one each. */
        memset(slot, -1, sizeof(slot));
        cr_assert_eq(sv_place(pv, 6, &caps, oid, (uint32_t)s, 6, slot), SV_OK);
        for (int i = 0; i < 6; i++)
            cnt[slot[i]]++;
        for (int p = 0; p < 6; p++)
            cr_assert_eq(cnt[p], 1);
        /* The same with shard 0 already on some provider: it is not given
         * a second shard while another provider has none. */
        memset(slot, -1, sizeof(slot));
        memset(cnt, 0, sizeof(cnt));
        slot[0] = s % 6;
        cr_assert_eq(sv_place(pv, 6, &caps, oid, (uint32_t)s, 6, slot), SV_OK);
        for (int i = 0; i < 6; i++)
            cnt[slot[i]]++;
        for (int p = 0; p < 6; p++)
            cr_assert_eq(cnt[p], 1, "fixed on p%d: p%d holds %u", s % 6, p,
                         cnt[p]);
        /* 6 shards on 4 providers at 2 each: two of them take a second. */
        memset(slot, -1, sizeof(slot));
        memset(cnt, 0, sizeof(cnt));
        cr_assert_eq(sv_place(pv, 4, &caps, oid, (uint32_t)s, 6, slot), SV_OK);
        for (int i = 0; i < 6; i++)
            cnt[slot[i]]++;
        for (int p = 0; p < 4; p++) {
            cr_assert(cnt[p] == 1 || cnt[p] == 2);
            twos += cnt[p] == 2;
        }
        cr_assert_eq(twos, 2);
    }
}

Test(placement, refusal_gives_the_numbers_and_leaves_slots_alone)
{
    struct sv_place_prov pv[3] = {
        {"p", "P", "P", 1, 1}, {"q", "Q", "Q", 1, 1}, {"r", "R", "R", 1, 1}};
    struct sv_place_caps caps = {2, 2, 2};
    uint8_t oid[SV_OID_LEN] = {0xab, 0xcd};
    int slot[8], before[8];
    enum sv_err rc;

    memset(slot, -1, sizeof(slot));
    memcpy(before, slot, sizeof(slot));
    rc = sv_place(pv, 3, &caps, oid, 7, 8, slot);
    cr_assert_eq(rc, SV_POLICY);
    cr_assert_str_eq(sv_errmsg(rc),
                     "object abcd0000000000000000000000000000 segment 7: 8 "
                     "shards to place (0 of 8 already placed) but the 3 "
                     "usable providers hold at most 6 at max_per_provider=2");
    cr_assert_eq(memcmp(slot, before, sizeof(slot)), 0);

    caps.per_provider = 1;
    slot[0] = 0;
    rc = sv_place(pv, 3, &caps, oid, 7, 4, slot);
    cr_assert_eq(rc, SV_POLICY);
    cr_assert_not_null(strstr(sv_errmsg(rc),
                              "3 shards to place (1 of 4 already placed) but "
                              "the 3 usable providers can take at most 2 "
                              "more at max_per_provider=1"),
                       "%s", sv_errmsg(rc));
    cr_assert_eq(slot[0], 0);
    cr_assert_eq(slot[1], -1);

    /* Down providers leave nothing. */
    pv[0].usable = pv[1].usable = pv[2].usable = 0;
    slot[0] = -1;
    rc = sv_place(pv, 3, &caps, oid, 7, 1, slot);
    cr_assert_eq(rc, SV_POLICY);
    cr_assert_not_null(strstr(sv_errmsg(rc), "no provider is usable"));
    rc = sv_place(NULL, 0, &caps, oid, 7, 1, slot);
    cr_assert_eq(rc, SV_POLICY);
}

Test(placement, fixed_slots_that_already_break_the_caps)
{
    struct sv_place_prov pv[3] = {
        {"p", "O", "P", 1, 1}, {"q", "O", "Q", 1, 1}, {"r", "R", "R", 1, 1}};
    struct sv_place_caps caps = {1, 1, 2};
    uint8_t oid[SV_OID_LEN] = {0};
    int twice[3] = {0, 0, -1}, owner[3] = {0, 1, -1}, full[2] = {0, 2};
    enum sv_err rc;

    rc = sv_place(pv, 3, &caps, oid, 0, 3, twice);
    cr_assert_eq(rc, SV_POLICY);
    cr_assert_not_null(strstr(sv_errmsg(rc), "provider p holds 2 > "
                                             "max_per_provider=1"));
    rc = sv_place(pv, 3, &caps, oid, 0, 3, owner);
    cr_assert_eq(rc, SV_POLICY);
    cr_assert_not_null(strstr(sv_errmsg(rc), "owner O holds 2 > "
                                             "max_per_owner=1"));
    cr_assert_eq(owner[2], -1);
    /* Nothing to place and the caps hold: fine, unchanged. */
    cr_assert_eq(sv_place(pv, 3, &caps, oid, 0, 2, full), SV_OK);
    cr_assert_eq(full[0], 0);
    cr_assert_eq(full[1], 2);
}

Test(placement, capacity_phrases_name_the_binding_cap)
{
    struct sv_place_prov own[4] = {{"a", "A", "W", 1, 1},
                                   {"b", "A", "X", 1, 1},
                                   {"c", "B", "Y", 1, 1},
                                   {"d", "B", "Z", 1, 1}};
    struct sv_place_prov jur[4] = {{"a", "A", "X", 1, 1},
                                   {"b", "B", "X", 1, 1},
                                   {"c", "C", "Y", 1, 1},
                                   {"d", "D", "Y", 1, 1}};
    struct sv_place_prov mix[4] = {{"p", "A", "X", 1, 1},
                                   {"q", "B", "X", 1, 1},
                                   {"r", "C", "Y", 1, 1},
                                   {"s", "C", "Z", 1, 1}};
    struct sv_place_caps caps = {2, 2, 2}, ones = {1, 1, 1};
    unsigned most = 0;
    char why[320];

    cr_assert_eq(
        sv_place_capacity(own, 4, &caps, NULL, 0, &most, why, sizeof(why)),
        SV_OK);
    cr_assert_eq(most, 4);
    cr_assert_str_eq(why, "the 2 owners of the usable providers hold at most "
                          "4 at max_per_owner=2");
    cr_assert_eq(
        sv_place_capacity(jur, 4, &caps, NULL, 0, &most, why, sizeof(why)),
        SV_OK);
    cr_assert_eq(most, 4);
    cr_assert_str_eq(why, "the 2 jurisdictions of the usable providers hold "
                          "at most 4 at max_per_jurisdiction=2");
    cr_assert_eq(
        sv_place_capacity(mix, 4, &ones, NULL, 0, &most, why, sizeof(why)),
        SV_OK);
    cr_assert_eq(most, 2);
    cr_assert_str_eq(why, "the 4 usable providers (3 owners, 3 jurisdictions) "
                          "hold at most 2 under max_per_provider=1, "
                          "max_per_owner=1 and max_per_jurisdiction=1 "
                          "together");
    mix[1].usable = mix[2].usable = mix[3].usable = 0;
    cr_assert_eq(
        sv_place_capacity(mix, 4, &ones, NULL, 0, &most, why, sizeof(why)),
        SV_OK);
    cr_assert_str_eq(why, "the 1 usable provider holds at most 1 at "
                          "max_per_provider=1");
    /* NULL owner and jurisdiction stand for the provider's own. */
    mix[0].owner = mix[0].jurisdiction = NULL;
    cr_assert_eq(sv_place_capacity(mix, 4, &caps, NULL, 0, &most, NULL, 0),
                 SV_OK);
    cr_assert_eq(most, 2);
}

Test(placement, bad_arguments)
{
    struct sv_place_prov pv[2] = {{"p", "P", "P", 1, 1}, {"q", "Q", "Q", 1, 1}};
    struct sv_place_caps caps = {1, 1, 1}, zero = {0, 1, 1};
    uint8_t oid[SV_OID_LEN] = {0};
    int slot[2] = {-1, -1}, far[2] = {5, -1}, neg[2] = {-2, -1};
    unsigned most = 0;

    cr_assert_eq(sv_place(pv, 2, &caps, NULL, 0, 2, slot), SV_INVAL);
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 2, NULL), SV_INVAL);
    cr_assert_eq(sv_place(pv, 2, NULL, oid, 0, 2, slot), SV_INVAL);
    cr_assert_eq(sv_place(pv, 2, &zero, oid, 0, 2, slot), SV_INVAL);
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 0, slot), SV_INVAL);
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 256, slot), SV_INVAL);
    cr_assert_eq(sv_place(NULL, 2, &caps, oid, 0, 2, slot), SV_INVAL);
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 2, far), SV_INVAL);
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 2, neg), SV_INVAL);
    cr_assert_eq(far[1], -1);
    pv[1].weight = 0;
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 2, slot), SV_INVAL);
    pv[1].weight = NAN;
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 2, slot), SV_INVAL);
    pv[1].weight = INFINITY;
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 2, slot), SV_INVAL);
    pv[1].weight = -1;
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 2, slot), SV_INVAL);
    cr_assert_not_null(strstr(sv_errmsg(SV_INVAL), "provider q: weight"));
    /* An unusable provider's weight does not matter. */
    pv[1].usable = 0;
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 1, slot), SV_OK);
    cr_assert_eq(slot[0], 0);
    pv[1].usable = 1;
    pv[1].weight = 1;
    pv[0].name = NULL;
    slot[0] = -1;
    cr_assert_eq(sv_place(pv, 2, &caps, oid, 0, 2, slot), SV_INVAL);
    pv[0].name = "p";
    cr_assert_eq(slot[0], -1);

    cr_assert_eq(sv_place_capacity(pv, 2, &caps, NULL, 0, NULL, NULL, 0),
                 SV_INVAL);
    cr_assert_eq(sv_place_capacity(pv, 2, NULL, NULL, 0, &most, NULL, 0),
                 SV_INVAL);
    cr_assert_eq(sv_place_capacity(pv, 2, &caps, far, 2, &most, NULL, 0),
                 SV_INVAL);
    cr_assert_eq(sv_place_capacity(NULL, 1, &caps, NULL, 0, &most, NULL, 0),
                 SV_INVAL);
}
