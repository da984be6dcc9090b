/*
 * tests/fuzz/fuzz_shard.c: sv_shard_parse_hdr, sv_shard_parse and
 * sv_shard_verify on arbitrary bytes (what a provider hands back). Parsed
 * pointers must lie inside the input and add up to its length; a shard
 * that parses has a header that parses alike; verify must never accept a
 * shard the fixed key did not frame.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/keys.h"
#include "engine/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key the seed shards were framed with (tests/fuzz/corpus). */
static const char key_text[] =
    "[shardvault-key]\nversion = 1\nkind = maintenance\n"
    "vault = 00112233445566778899aabbccddeeff\n"
    "maint = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
    "naming = 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n";

static struct sv_keyring *kr;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sv_shard_info in;
    const uint8_t *rec = NULL, *chunk = NULL, *tag = NULL;
    static const uint8_t zero[SV_OID_LEN];

    if (!kr && sv_keys_parse(key_text, sizeof(key_text) - 1, &kr) != SV_OK)
        abort();
    if (sv_shard_parse_hdr(data, size, &in) == SV_OK &&
        (size < SV_SHARD_HDR_LEN || in.index >= in.k + in.m))
        abort();
    if (sv_shard_parse(data, size, &in, &rec, &chunk, &tag) == SV_OK) {
        struct sv_shard_info hi;

        /* a shard that parses has a header that parses, the same one */
        if (sv_shard_parse_hdr(data, size, &hi) != SV_OK ||
            sv_shard_len(&hi) != size || hi.index != in.index ||
            hi.segment != in.segment || memcmp(hi.oid, in.oid, SV_OID_LEN))
            abort();
        if (sv_shard_len(&in) != size || tag != data + size - SV_SHARD_TAG ||
            chunk < data || chunk + in.chunk_len > tag ||
            (rec && rec + in.record_len != chunk))
            abort();
        /* verify against what the shard claims to be: exercises the
         * authenticator over every accepted layout; an accepted shard
         * with its tag changed must be refused */
        if (sv_shard_verify(kr, data, size, in.oid, in.segment, in.index,
                            &in, &rec, &chunk) == SV_OK) {
            uint8_t *copy = malloc(size);

            if (!copy)
                abort();
            memcpy(copy, data, size);
            copy[size - 1] ^= 1;
            if (sv_shard_verify(kr, copy, size, in.oid, in.segment, in.index,
                                NULL, NULL, NULL) == SV_OK)
                abort();
            free(copy);
        }
    }
    (void)sv_shard_verify(kr, data, size, zero, 0, 0, NULL, NULL, NULL);
    return 0;
}
