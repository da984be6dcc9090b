/*
 * tools/verify.c: `shardvault verify [NAME|--all] [--deep] [--json]
 * [--key FILE]`. Each problem is a line on stderr as it is found; the
 * summary goes to stdout. Exit 1 if any shard is missing, bad or could not
 * be checked. With --key FILE a maintenance keyring is enough (no data
 * key is needed to verify).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine/shardvault.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE "verify [NAME|--all] [--deep] [--json] [--key FILE]"

static void on_problem(void *ctx, const char *sentence)
{
    (void)ctx;
    warnx_("verify: %s", sentence);
}

int cmd_verify(int argc, char **argv)
{
    const char *name = NULL, *key = NULL;
    struct sv_verify_result r;
    struct sv_vault *v;
    enum sv_err rc;
    int a, all = 0, deep = 0, json = 0, bad;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--all"))
            all = 1;
        else if (!strcmp(argv[a], "--deep"))
            deep = 1;
        else if (!strcmp(argv[a], "--json"))
            json = 1;
        else if (!strcmp(argv[a], "--key") && a + 1 < argc)
            key = argv[++a];
        else if (argv[a][0] == '-')
            usage_die(USAGE, "unknown option '%s'", argv[a]);
        else if (!name)
            name = argv[a];
        else
            usage_die(USAGE, "one NAME only");
    }
    if (!name == !all)
        usage_die(USAGE, "verify wants an object NAME or --all");
    v = vt_open(key ? SV_OPEN_MAINTENANCE : 0, key);
    rc = sv_verify(v, name, deep, on_problem, NULL, &r);
    sv_vault_close(v);
    if (rc)
        die_err(rc, "%s", "");
    bad =
        r.shards_missing || r.shards_bad || r.shards_failed || r.segments_lost;
    if (json) {
        json_t *o = json_pack(
            "{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "mode",
            deep ? "deep" : "shallow", "ok", !bad, "objects",
            (json_int_t)r.objects, "segments", (json_int_t)r.segments, "shards",
            (json_int_t)r.shards, "shards_ok", (json_int_t)r.shards_ok,
            "shards_missing", (json_int_t)r.shards_missing, "shards_bad",
            (json_int_t)r.shards_bad, "shards_unchecked",
            (json_int_t)r.shards_failed, "segments_degraded",
            (json_int_t)r.segments_degraded, "segments_lost",
            (json_int_t)r.segments_lost);

        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        printf("verified%s %llu object%s, %llu segments, %llu shards: %llu "
               "ok, %llu missing, %llu bad, %llu unchecked; %llu segment%s "
               "degraded, %llu lost\n",
               deep ? " (deep)" : "", (unsigned long long)r.objects,
               r.objects == 1 ? "" : "s", (unsigned long long)r.segments,
               (unsigned long long)r.shards, (unsigned long long)r.shards_ok,
               (unsigned long long)r.shards_missing,
               (unsigned long long)r.shards_bad,
               (unsigned long long)r.shards_failed,
               (unsigned long long)r.segments_degraded,
               r.segments_degraded == 1 ? "" : "s",
               (unsigned long long)r.segments_lost);
    }
    return bad ? 1 : 0;
}
