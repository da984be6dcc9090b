/*
 * tests/fuzz/fuzz_share.c: the key share file parser (what a custodian
 * hands back to `shardvault key combine`) on arbitrary bytes: no crash, no
 * out-of-bounds access, no leak, whatever the input.
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/keys_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)sv_keys_share_check((const char *)data, size);
    return 0;
}
