/*
 * tests/fuzz/fuzz_config.c: libFuzzer over sv_config_parse (outside bytes:
 * a config file someone edited). Any input must give SV_OK with a config
 * that passes its own policy check, or a refusal with a message; never a
 * crash, a leak or a hang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sv_config *cfg = NULL;
    enum sv_err rc;
    char why[512];

    rc = sv_config_parse((const char *)data, size, "fuzz.conf", "/vault",
                         &cfg);
    if (rc == SV_OK) {
        if (sv_config_check_policy(cfg, NULL) != SV_OK)
            abort();
        if (cfg->write_quorum < cfg->k || cfg->write_quorum > cfg->k + cfg->m)
            abort();
        (void)sv_config_guarantees(cfg, why, sizeof(why));
        sv_config_free(cfg);
    } else if (cfg || !sv_errmsg(rc)[0]) {
        abort();
    }
    return 0;
}
