/*
 * tests/fuzz/fuzz_fault_spec.c: the fault spec parser (config values and
 * SV_FAULT_* environment variables). Input: one byte choosing the
 * operation, then the spec. A spec is either refused with SV_INVAL and a
 * detail, or accepted; either way nothing crashes and a call still
 * returns one of the codes a fault can produce.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "providers/fault.h"
#include "providers/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sv_provider *fp;
static char dir[] = "/tmp/fuzz_fault_spec.XXXXXX";

static void cleanup(void)
{
    char cmd[100];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static struct sv_provider *provider(void)
{
    struct sv_kv kv[] = {{"type", "fault", 1}, {"path", dir, 2}};
    struct sv_prov_params params = {.name = "fuzz", .kv = kv, .nkv = 2};
    struct sv_retry once = {1, 0, 0};

    if (!fp) {
        if (!mkdtemp(dir) || sv_prov_open(&params, &fp))
            abort();
        atexit(cleanup);
        sv_prov_set_retry(fp, &once);
    }
    return fp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sv_provider *p = provider();
    enum sv_fault_op op;
    char *spec;
    uint64_t sz;
    enum sv_err rc;

    if (size < 1 || size > 512)
        return 0;
    op = (enum sv_fault_op)(data[0] % (SV_FAULT_NOPS + 1));
    spec = malloc(size);
    if (!spec)
        return 0;
    memcpy(spec, data + 1, size - 1);
    spec[size - 1] = '\0';
    rc = sv_fault_set(p, op, spec);
    if (rc != SV_OK && rc != SV_INVAL)
        abort();
    if (rc == SV_INVAL && !strstr(sv_errmsg(rc), "provider fuzz"))
        abort();
    /* Latency and hangs would stall the fuzzer; only HEAD is exercised,
     * and only when the spec cannot sleep long. */
    if (rc == SV_OK && op == SV_FAULT_HEAD && !strstr(spec, "latency") &&
        !strstr(spec, "hang")) {
        rc = sv_prov_head(p, "k", &sz);
        if (rc != SV_NOTFOUND && rc != SV_IO && rc != SV_AGAIN &&
            rc != SV_NOSPACE && rc != SV_DENIED)
            abort();
    }
    sv_fault_clear(p);
    free(spec);
    return 0;
}
