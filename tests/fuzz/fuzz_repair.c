/*
 * tests/fuzz/fuzz_repair.c: libFuzzer over the repair worker's parsers of
 * outside bytes: key names from a provider's listing, the first bytes of
 * a stored object, and its catalog state records (in-flight rebuilds, the
 * scrub cursor, the error list). The first input byte picks the parser.
 * Never a crash, a read out of bounds or a result that does not hold up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/repair_int.h"
#include "engine/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void names(const uint8_t *data, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    static const char *const prefixes[] = {"sv", "", "a/b"};
    uint8_t h[NAME_HASH];
    char *key = malloc(size + 1), back[2 * NAME_HASH + 2];
    size_t i, p, len;

    if (!key)
        return;
    memcpy(key, data, size);
    key[size] = '\0';
    for (p = 0; p < 3; p++) {
        if (sv_rp_name_hash(key, prefixes[p], h))
            continue;
        /* a name that parses is the hex of what it gave */
        for (i = 0; i < NAME_HASH; i++) {
            size_t at = i == 0 ? 0 : 3 + 2 * (i - 1);

            back[at] = hex[h[i] >> 4];
            back[at + 1] = hex[h[i] & 15];
        }
        back[2] = '/';
        len = strlen(prefixes[p]);
        if (memcmp(key + (len ? len + 1 : 0), back, 2 * NAME_HASH + 1))
            abort();
    }
    free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sv_repair_status *st;
    struct inflight f;
    struct scur c;
    struct sv_shard_info hi;
    unsigned i;

    if (!size)
        return 0;
    switch (data[0] % 5) {
    case 0:
        names(data + 1, size - 1);
        break;
    case 1:
        /* what the inventory reads of an unknown key */
        if (!sv_shard_parse_hdr(data + 1, size - 1, &hi) &&
            (size - 1 < SV_SHARD_HDR_LEN || hi.index >= hi.k + hi.m))
            abort();
        break;
    case 2:
        if (!sv_rp_inflight_decode(data + 1, size - 1, &f) &&
            f.n > 2 * SV_MAX_N)
            abort();
        break;
    case 3:
        if (!sv_rp_scur_decode(data + 1, size - 1, &c) && c.valid > 1)
            abort();
        break;
    default:
        st = calloc(1, sizeof(*st));
        if (!st)
            return 0;
        i = sv_rp_errs_parse(data + 1, size - 1, st);
        if (i > SV_REPAIR_ERRORS)
            abort();
        while (i--)
            if (!memchr(st->errors[i].msg, '\0', sizeof(st->errors[i].msg)))
                abort();
        free(st);
        break;
    }
    return 0;
}
