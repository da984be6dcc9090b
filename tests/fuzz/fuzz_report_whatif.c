/*
 * tests/fuzz/fuzz_report_whatif.c: the --what-if SPEC parser
 * (sv_report_whatif_parse) on arbitrary bytes; a parsed scenario is then
 * applied to a small model and computed, so every op it accepts must be
 * safe to run.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/report.h"

static void model(struct sv_report_model *m)
{
    static const char *const names[] = {"a", "b", "c", "d"};
    struct sv_report_prov p;
    uint8_t pv[3] = {0, 1, 2}, ct[3] = {1, 1, 1};
    unsigned i;

    sv_report_model_init(m);
    m->k = 2;
    m->m = 1;
    m->max_per_provider = 1;
    m->segments = 100;
    m->logical_bytes = 1000000;
    m->stored_bytes = 1500000;
    m->health[0] = 100;
    for (i = 0; i < 4; i++) {
        memset(&p, 0, sizeof(p));
        p.name = (char *)names[i];
        p.weight = 1;
        p.quota = 10000000;
        p.bytes = 375000;
        p.annual_loss = 0.05;
        if (sv_report_add_provider(m, &p))
            abort();
    }
    if (sv_report_add_pattern(m, 3, 3, pv, ct, 100, 1000000, 500000))
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct sv_report_whatif w;
    struct sv_report_model m, out;
    struct sv_report r;
    char *spec;

    if (size > 4200)
        return 0;
    spec = malloc(size + 1);
    if (!spec)
        return 0;
    memcpy(spec, data, size);
    spec[size] = 0;
    sv_report_whatif_init(&w);
    if (sv_report_whatif_parse(&w, spec) == SV_OK) {
        model(&m);
        if (sv_report_apply(&m, &w, &out) == SV_OK) {
            if (sv_report_compute(&out, 0, &r) == SV_OK)
                sv_report_release(&r);
            sv_report_model_release(&out);
        }
        sv_report_model_release(&m);
    }
    sv_report_whatif_release(&w);
    free(spec);
    return 0;
}
