/*
 * engine/shard.c: the shard format, its authenticator and its name.
 *
 * Fixed header, version 1 (56 bytes, little-endian):
 *    0 magic "SVS1"        4 version (u16)      6 header length (u16)
 *    8 k (u8)              9 m (u8)            10 shard index (u8)
 *   11 reserved (0)       12 segment (u64)     20 object id (16)
 *   36 chunk length (u32) 40 record length (u32)
 *   44 payload length (u64)                    52 flags (u32)
 *
 * Authenticator: Poly1305 (crypto_onetimeauth, streamed over header |
 * record | chunk, no copy) under a one-time key = BLAKE2b keyed by the
 * maintenance key over oid | segment | index | header | record. Poly1305
 * needs a key used for one message only: the key changes with every
 * header or record, and a chunk under one header changes only if one DEK
 * sealed one segment twice with different bytes, which the AEAD's nonce
 * scheme already forbids. Poly1305 measured about 3x keyed BLAKE2b here
 * (`shardvault bench seal` prints both), and costs less than the AEAD.
 *
 * Names: keyed BLAKE2b (naming key) of oid | segment | index, 17 bytes:
 * the first picks the fan-out directory, the other 16 name the shard.
 */
#include "engine/shard.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "engine/seal.h"

enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 4,
    OFF_HLEN = 6,
    OFF_K = 8,
    OFF_M = 9,
    OFF_INDEX = 10,
    OFF_RESERVED = 11,
    OFF_SEGMENT = 12,
    OFF_OID = 20,
    OFF_CHUNK = 36,
    OFF_RECORD = 40,
    OFF_PAYLOAD = 44,
    OFF_FLAGS = 52,
};

_Static_assert(OFF_FLAGS + 4 == SV_SHARD_HDR_LEN, "header layout");
_Static_assert(SV_SHARD_TAG == crypto_onetimeauth_BYTES, "tag length");

static void put_le(uint8_t *p, uint64_t v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int i;

    for (i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void sv_shard_encode_hdr(const struct sv_shard_info *info,
                         uint8_t hdr[SV_SHARD_HDR_LEN])
{
    memcpy(hdr + OFF_MAGIC, SV_SHARD_MAGIC, 4);
    put_le(hdr + OFF_VERSION, SV_SHARD_VERSION, 2);
    put_le(hdr + OFF_HLEN, SV_SHARD_HDR_LEN, 2);
    hdr[OFF_K] = (uint8_t)info->k;
    hdr[OFF_M] = (uint8_t)info->m;
    hdr[OFF_INDEX] = (uint8_t)info->index;
    hdr[OFF_RESERVED] = 0;
    put_le(hdr + OFF_SEGMENT, info->segment, 8);
    memcpy(hdr + OFF_OID, info->oid, SV_OID_LEN);
    put_le(hdr + OFF_CHUNK, info->chunk_len, 4);
    put_le(hdr + OFF_RECORD, info->record_len, 4);
    put_le(hdr + OFF_PAYLOAD, info->payload_len, 8);
    put_le(hdr + OFF_FLAGS, info->flags, 4);
}

size_t sv_shard_len(const struct sv_shard_info *info)
{
    return SV_SHARD_HDR_LEN + (size_t)info->record_len +
           (size_t)info->chunk_len + SV_SHARD_TAG;
}

static void triple(const uint8_t oid[SV_OID_LEN], uint64_t segment,
                   unsigned index, uint8_t out[SV_OID_LEN + 12])
{
    memcpy(out, oid, SV_OID_LEN);
    put_le(out + SV_OID_LEN, segment, 8);
    put_le(out + SV_OID_LEN + 8, index, 4);
}

void sv_shard_auth(const struct sv_keyring *kr,
                   const struct sv_shard_info *info,
                   const uint8_t hdr[SV_SHARD_HDR_LEN], const uint8_t *record,
                   const uint8_t *chunk, uint8_t tag[SV_SHARD_TAG])
{
    crypto_generichash_state hs;
    crypto_onetimeauth_state as;
    uint8_t key[crypto_onetimeauth_KEYBYTES], t[SV_OID_LEN + 12];

    triple(info->oid, info->segment, info->index, t);
    crypto_generichash_init(&hs, sv_keys_maint_key(kr), SV_KEY_LEN,
                            sizeof(key));
    crypto_generichash_update(&hs, t, sizeof(t));
    crypto_generichash_update(&hs, hdr, SV_SHARD_HDR_LEN);
    if (info->record_len)
        crypto_generichash_update(&hs, record, info->record_len);
    crypto_generichash_final(&hs, key, sizeof(key));

    crypto_onetimeauth_init(&as, key);
    crypto_onetimeauth_update(&as, hdr, SV_SHARD_HDR_LEN);
    if (info->record_len)
        crypto_onetimeauth_update(&as, record, info->record_len);
    crypto_onetimeauth_update(&as, chunk, info->chunk_len);
    crypto_onetimeauth_final(&as, tag);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(&hs, sizeof(hs));
    sodium_memzero(&as, sizeof(as));
}

static enum sv_err bad(const char *what, unsigned long long v)
{
    return sv_err_set(SV_CORRUPT, "shard header: %s (%llu)", what, v);
}

enum sv_err sv_shard_parse_hdr(const uint8_t *buf, size_t len,
                               struct sv_shard_info *info)
{
    struct sv_shard_info in;
    uint64_t version, hlen;

    if (!buf || !info)
        return sv_err_set(SV_INVAL, "shard parse: no buffer");
    if (len < SV_SHARD_HDR_LEN)
        return sv_err_set(SV_CORRUPT,
                          "%zu bytes are shorter than a shard header (%d "
                          "bytes)",
                          len, SV_SHARD_HDR_LEN);
    if (memcmp(buf + OFF_MAGIC, SV_SHARD_MAGIC, 4))
        return sv_err_set(SV_CORRUPT, "not a shardvault shard (bad magic)");
    version = get_le(buf + OFF_VERSION, 2);
    if (version > SV_SHARD_VERSION)
        return sv_err_set(SV_VERSION,
                          "shard format version %llu; this build reads "
                          "version %d",
                          (unsigned long long)version, SV_SHARD_VERSION);
    if (version == 0)
        return bad("format version 0", 0);
    hlen = get_le(buf + OFF_HLEN, 2);
    if (hlen != SV_SHARD_HDR_LEN)
        return bad("header length is not 56", hlen);
    memset(&in, 0, sizeof(in));
    in.k = buf[OFF_K];
    in.m = buf[OFF_M];
    in.index = buf[OFF_INDEX];
    in.segment = get_le(buf + OFF_SEGMENT, 8);
    memcpy(in.oid, buf + OFF_OID, SV_OID_LEN);
    in.chunk_len = (uint32_t)get_le(buf + OFF_CHUNK, 4);
    in.record_len = (uint32_t)get_le(buf + OFF_RECORD, 4);
    in.payload_len = get_le(buf + OFF_PAYLOAD, 8);
    in.flags = (uint32_t)get_le(buf + OFF_FLAGS, 4);
    if (in.k == 0 || in.k + in.m > 255)
        return sv_err_set(SV_CORRUPT, "shard header: k=%u m=%u is not a code",
                          in.k, in.m);
    if (in.index >= in.k + in.m)
        return sv_err_set(SV_CORRUPT,
                          "shard header: index %u is outside k=%u m=%u",
                          in.index, in.k, in.m);
    if (buf[OFF_RESERVED])
        return bad("reserved byte is not 0", buf[OFF_RESERVED]);
    if (in.flags & ~(uint32_t)SV_SHARD_FLAG_FINAL)
        return bad("unknown flags", in.flags);
    if (in.chunk_len == 0 || in.chunk_len > SV_SHARD_MAX_CHUNK)
        return bad("chunk length out of range", in.chunk_len);
    if (in.record_len > SV_SHARD_MAX_RECORD)
        return bad("record length over the limit", in.record_len);
    if (in.record_len && !(in.flags & SV_SHARD_FLAG_FINAL))
        return bad("object record on a segment that is not the last",
                   in.record_len);
    if (in.record_len && in.record_len < SV_SEALED_RECORD_OVERHEAD)
        return bad("record too short to be sealed", in.record_len);
    if (in.payload_len < SV_SEAL_TAG ||
        in.payload_len > (uint64_t)in.k * in.chunk_len)
        return bad("payload length does not fit k chunks", in.payload_len);
    *info = in;
    return SV_OK;
}

enum sv_err sv_shard_parse(const uint8_t *buf, size_t len,
                           struct sv_shard_info *info, const uint8_t **record,
                           const uint8_t **chunk, const uint8_t **tag)
{
    struct sv_shard_info in;
    uint64_t total;
    enum sv_err rc;

    if (!buf || !info)
        return sv_err_set(SV_INVAL, "shard parse: no buffer");
    if (len < SV_SHARD_HDR_LEN + SV_SHARD_TAG)
        return sv_err_set(SV_CORRUPT,
                          "shard of %zu bytes is shorter than a header and "
                          "an authenticator (%d bytes)",
                          len, SV_SHARD_HDR_LEN + SV_SHARD_TAG);
    rc = sv_shard_parse_hdr(buf, len, &in);
    if (rc)
        return rc;
    total = (uint64_t)SV_SHARD_HDR_LEN + in.record_len + in.chunk_len +
            SV_SHARD_TAG;
    if (total != len)
        return sv_err_set(SV_CORRUPT,
                          "shard is %zu bytes but its header says %llu "
                          "(truncated or extended)",
                          len, (unsigned long long)total);
    *info = in;
    if (record)
        *record = in.record_len ? buf + SV_SHARD_HDR_LEN : NULL;
    if (chunk)
        *chunk = buf + SV_SHARD_HDR_LEN + in.record_len;
    if (tag)
        *tag = buf + len - SV_SHARD_TAG;
    return SV_OK;
}

static void oid_hex(const uint8_t oid[SV_OID_LEN], char out[2 * SV_OID_LEN + 1])
{
    sodium_bin2hex(out, 2 * SV_OID_LEN + 1, oid, SV_OID_LEN);
}

enum sv_err sv_shard_verify(const struct sv_keyring *kr, const uint8_t *buf,
                            size_t len, const uint8_t oid[SV_OID_LEN],
                            uint64_t segment, unsigned index,
                            struct sv_shard_info *info, const uint8_t **record,
                            const uint8_t **chunk)
{
    struct sv_shard_info in;
    const uint8_t *rec, *ch, *tag;
    uint8_t calc[SV_SHARD_TAG];
    char hex[2 * SV_OID_LEN + 1], got[2 * SV_OID_LEN + 1];
    enum sv_err rc;

    if (!kr || !oid)
        return sv_err_set(SV_INVAL, "shard verify: no keyring or object id");
    oid_hex(oid, hex);
    rc = sv_shard_parse(buf, len, &in, &rec, &ch, &tag);
    if (rc)
        return sv_err_wrap(rc, "shard %s/%llu/%u: ", hex,
                           (unsigned long long)segment, index);
    if (memcmp(in.oid, oid, SV_OID_LEN) || in.segment != segment ||
        in.index != index) {
        oid_hex(in.oid, got);
        return sv_err_set(SV_CORRUPT,
                          "shard %s/%llu/%u holds shard %s/%llu/%u instead "
                          "(swapped, moved or replayed)",
                          hex, (unsigned long long)segment, index, got,
                          (unsigned long long)in.segment, in.index);
    }
    sv_shard_auth(kr, &in, buf, rec, ch, calc);
    if (crypto_verify_16(calc, tag) != 0)
        return sv_err_set(SV_CORRUPT,
                          "shard %s/%llu/%u: authenticator does not match "
                          "(damaged, forged, or from another vault)",
                          hex, (unsigned long long)segment, index);
    if (info)
        *info = in;
    if (record)
        *record = rec;
    if (chunk)
        *chunk = ch;
    return SV_OK;
}

void sv_shard_name(const struct sv_keyring *kr, const char *prefix,
                   const uint8_t oid[SV_OID_LEN], uint64_t segment,
                   unsigned index, char out[SV_SHARD_NAME_MAX])
{
    uint8_t t[SV_OID_LEN + 12], h[17];
    size_t plen = prefix ? strnlen(prefix, 64) : 0;
    char *p = out;

    triple(oid, segment, index, t);
    crypto_generichash(h, sizeof(h), t, sizeof(t), sv_keys_naming_key(kr),
                       SV_KEY_LEN);
    if (plen) {
        memcpy(p, prefix, plen);
        p += plen;
        *p++ = '/';
    }
    sodium_bin2hex(p, 3, h, 1);
    p += 2;
    *p++ = '/';
    sodium_bin2hex(p, 33, h + 1, 16);
}
