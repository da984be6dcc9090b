/*
 * tests/fuzz/fuzz_catalog_record.c: the catalog's record decoders.
 *
 * The first byte picks the record kind (see sv_cat_test_roundtrip): object
 * (public form and as stored), segment, provider, intent, history, totals,
 * meta. A record that decodes must encode and decode again to the same
 * values; anything else must be refused with an error, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>

#include "engine/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sv_seg_rec s;
    struct sv_obj_rec o;
    enum sv_err rc;

    if (size < 1)
        return 0;
    rc = sv_cat_test_roundtrip(data[0] % 8u, data + 1, size - 1);
    if (rc == SV_INVAL)
        abort(); /* decoded, but did not survive a round trip */
    if (rc != SV_OK && rc != SV_CORRUPT && rc != SV_VERSION && rc != SV_NOMEM)
        abort();
    if (sv_cat_decode_obj(data + 1, size - 1, &o) == SV_OK)
        sv_obj_rec_release(&o);
    (void)sv_cat_decode_seg(data + 1, size - 1, &s);
    return 0;
}
