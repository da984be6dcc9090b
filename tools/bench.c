/*
 * tools/bench.c: `shardvault bench NAME`. Each benchmark prints its figure
 * next to a reference measured in the same run (the raw library call, a
 * peer tool) and the ratio. Benchmarks are never timed assertions.
 */
#include <stdio.h>
#include <string.h>

#include "tools/tools.h"

struct bench {
    const char *name;
    cmd_fn *fn;
};

static const struct bench benches[] = {
#define X(name) {#name, bench_##name},
    SV_BENCHES(X)
#undef X
};

int cmd_bench(int argc, char **argv)
{
    size_t i, nb = sizeof(benches) / sizeof(benches[0]);
    int rc = 0, r;

    if (argc < 2)
        usage_die("bench ec|seal|catalog|providers|pipeline|ingest|repair|"
                  "report|all [options]",
                  "which benchmark?");
    for (i = 0; i < nb; i++) {
        if (strcmp(argv[1], "all") && strcmp(argv[1], benches[i].name))
            continue;
        if (!benches[i].fn) {
            if (strcmp(argv[1], "all"))
                die(1, "benchmark '%s' is not built into this binary yet",
                    benches[i].name);
            continue;
        }
        printf("== bench %s\n", benches[i].name);
        fflush(stdout);
        r = benches[i].fn(argc - 1, argv + 1);
        if (r)
            rc = r;
        if (strcmp(argv[1], "all"))
            return rc;
    }
    if (strcmp(argv[1], "all"))
        usage_die("bench NAME", "no benchmark named '%s'", argv[1]);
    return rc;
}
