/*
 * tests/fuzz/fuzz_keyfile.c: sv_keys_parse on arbitrary bytes (key files,
 * maintenance keyrings, key_command output). Whatever the input: no crash,
 * no out-of-bounds access, and a keyring only with SV_OK.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sv_keyring *kr = NULL;
    uint8_t check[SV_KEY_CHECK_LEN];
    enum sv_err rc;

    rc = sv_keys_parse((const char *)data, size, &kr);
    if (rc == SV_OK) {
        if (!kr)
            abort();
        sv_keys_check_value(kr, check);
        if (sv_keys_is_full(kr) && sv_keys_current_gen(kr) == 0)
            abort();
    } else if (kr) {
        abort();
    }
    sv_keys_free(kr);
    return 0;
}
