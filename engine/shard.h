/*
 * engine/shard.h: the shard format on a provider, its authenticator and
 * its opaque name (DESIGN.md section 4).
 *
 *   fixed header (little-endian): magic "SVS1" | format version |
 *     header length | k | m | shard index | segment | object id |
 *     chunk length | sealed record length | payload (ciphertext) length |
 *     flags
 *   sealed object record (record length bytes; on the last segment's
 *     shards, for catalog rebuild)
 *   chunk (chunk length bytes: this shard's EC chunk)
 *   authenticator (SV_SHARD_TAG bytes: Poly1305 with a per-shard key
 *     derived from the maintenance key and object id | segment | index
 *     (and header | record, so the one-time key changes with them), over
 *     everything above)
 *
 * The parser takes untrusted bytes: every length is checked against the
 * buffer and against sane limits; malformed input is SV_CORRUPT with what
 * was wrong in the detail sentence; it never reads out of bounds.
 */
#ifndef SV_SHARD_H
#define SV_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/keys.h"

#define SV_SHARD_MAGIC "SVS1"
#define SV_SHARD_VERSION 1
#define SV_SHARD_HDR_LEN 56 /* fixed header length of version 1 */
#define SV_SHARD_TAG 16
#define SV_SHARD_FLAG_FINAL 0x1   /* last segment of the object */
#define SV_SHARD_MAX_CHUNK (1u << 30)
#define SV_SHARD_MAX_RECORD (1u << 20)
/* "<prefix>/<2 hex>/<32 hex>" with a prefix of at most 64 bytes. */
#define SV_SHARD_NAME_MAX (64 + 1 + 2 + 1 + 32 + 1)

struct sv_shard_info {
    unsigned k, m, index;
    uint64_t segment;
    uint8_t oid[SV_OID_LEN];
    uint32_t chunk_len;
    uint32_t record_len;
    uint64_t payload_len; /* the segment's ciphertext length (with tag) */
    uint32_t flags;
};

/* Write the fixed header for info into hdr (SV_SHARD_HDR_LEN bytes). */
void sv_shard_encode_hdr(const struct sv_shard_info *info,
                         uint8_t hdr[SV_SHARD_HDR_LEN]);

/* Total stored length of a shard described by info. */
size_t sv_shard_len(const struct sv_shard_info *info);

/*
 * Authenticator over hdr | record | chunk (record may be NULL when
 * info->record_len is 0), keyed for (oid, segment, index) from the
 * maintenance key. Works with a maintenance keyring.
 */
void sv_shard_auth(const struct sv_keyring *kr,
                   const struct sv_shard_info *info,
                   const uint8_t hdr[SV_SHARD_HDR_LEN], const uint8_t *record,
                   const uint8_t *chunk, uint8_t tag[SV_SHARD_TAG]);

/*
 * Parse and check the fixed header at the start of untrusted bytes (the
 * first len of a stored object; len >= SV_SHARD_HDR_LEN, the rest is not
 * looked at): fill info. SV_CORRUPT (short, bad magic, header length,
 * k/m/index, flags, lengths out of range), SV_VERSION, SV_INVAL (NULL).
 */
enum sv_err sv_shard_parse_hdr(const uint8_t *buf, size_t len,
                               struct sv_shard_info *info) SV_MUST_CHECK;

/*
 * Parse untrusted shard bytes without checking the authenticator: fill
 * info and point record/chunk/tag into buf. SV_CORRUPT (bad magic, header
 * length, k/m/index, lengths that do not add up to len), SV_VERSION
 * (format version from the future).
 */
enum sv_err sv_shard_parse(const uint8_t *buf, size_t len,
                           struct sv_shard_info *info, const uint8_t **record,
                           const uint8_t **chunk,
                           const uint8_t **tag) SV_MUST_CHECK;

/*
 * Parse and authenticate a shard that should be (oid, segment, index):
 * SV_CORRUPT if it does not parse, names another object/segment/index, or
 * its authenticator does not match (flipped bits, swapped, replayed, other
 * vault). On SV_OK info/chunk/record describe it.
 */
enum sv_err sv_shard_verify(const struct sv_keyring *kr, const uint8_t *buf,
                            size_t len, const uint8_t oid[SV_OID_LEN],
                            uint64_t segment, unsigned index,
                            struct sv_shard_info *info, const uint8_t **record,
                            const uint8_t **chunk) SV_MUST_CHECK;

/*
 * Opaque name of shard (oid, segment, index): "<prefix>/<2 hex>/<32 hex>"
 * from a keyed BLAKE2b (naming key). prefix may be "" or NULL (then no
 * leading slash); a prefix longer than 64 bytes is cut at 64. out holds
 * SV_SHARD_NAME_MAX bytes.
 */
void sv_shard_name(const struct sv_keyring *kr, const char *prefix,
                   const uint8_t oid[SV_OID_LEN], uint64_t segment,
                   unsigned index, char out[SV_SHARD_NAME_MAX]);

#endif
