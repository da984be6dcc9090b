/*
 * engine/placement.h: which providers hold the n shards of a segment.
 *
 * Weighted rendezvous (highest random weight) hashing on object id |
 * segment | provider name, weighted by free quota times the configured
 * weight, under caps per provider, per owner and per jurisdiction.
 * Deterministic: the same inputs give the same placement; adding a provider
 * moves only about its fair share. Providers marked unusable (down, full,
 * draining, or failed during this put) are skipped.
 */
#ifndef SV_PLACEMENT_H
#define SV_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/keys.h"

struct sv_place_prov {
    const char *name;
    const char *owner;
    const char *jurisdiction;
    double weight; /* > 0; e.g. free quota bytes x configured weight */
    int usable;    /* 0: skip for new shards */
};

struct sv_place_caps {
    unsigned per_provider, per_owner, per_jurisdiction;
};

/*
 * Choose providers for shard slots. slot[i] for i < n is a provider index
 * (into provs) already holding shard i, or -1 for a slot to fill; on SV_OK
 * every -1 slot is filled so that the caps hold over all n slots (fixed
 * ones included) and no provider is used where usable == 0 for a filled
 * slot. SV_POLICY (with the numbers in the detail sentence) if the caps
 * cannot be met; slot is then unchanged. SV_INVAL on bad arguments.
 */
enum sv_err sv_place(const struct sv_place_prov *provs, size_t nprov,
                     const struct sv_place_caps *caps,
                     const uint8_t oid[SV_OID_LEN], uint32_t segment,
                     unsigned n, int *slot) SV_MUST_CHECK;

/*
 * How many more shards of one segment the usable providers can take under
 * caps, given the shards already placed in slot[0..n) (slot may be NULL:
 * nothing placed; fixed slots count toward the caps whatever their
 * provider's usable flag). Exact: a max flow over source -> owner ->
 * provider -> jurisdiction -> sink with the remaining caps as capacities.
 * On SV_OK *max is set and, if why is not NULL, a phrase for messages that
 * names the binding cap, e.g. "the 3 usable providers hold at most 3 at
 * max_per_provider=1" ("can take at most N more" when shards are placed).
 * SV_INVAL on bad arguments, SV_NOMEM.
 */
enum sv_err sv_place_capacity(const struct sv_place_prov *provs, size_t nprov,
                              const struct sv_place_caps *caps, const int *slot,
                              unsigned n, unsigned *max, char *why,
                              size_t len) SV_MUST_CHECK;

/*
 * The rendezvous hash: SipHash-2-4 under a fixed public key (the 16 bytes
 * "shardvault:place") over oid | segment (little-endian, 4 bytes) | name.
 * Not a secret: placement only has to be deterministic and well spread.
 */
uint64_t sv_place_hash(const uint8_t oid[SV_OID_LEN], uint32_t segment,
                       const char *name);

#endif
