/*
 * tools/provider.c: `shardvault provider list|down|up|drain NAME`: the
 * provider states the repair worker acts on (DESIGN.md section 6). down:
 * its shards are rebuilt elsewhere at the next pass; up: back after down
 * or suspect (its stale copies are collected once the rebuilt ones are
 * committed); drain: still read, its shards are copied off, then it is
 * removed. Needs the maintenance keyring only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/repair.h"
#include "tools/repairutil.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE                                                                  \
    "provider list [--json] [--key FILE]\n"                                    \
    "       shardvault provider down|up|drain NAME [--key FILE]"

static int list(struct sv_vault *v, int json)
{
    struct sv_repair_prov *p = NULL;
    size_t n = 0, i;
    char a[32], t[32];
    enum sv_err rc;

    rc = sv_repair_providers(v, &p, &n);
    if (rc)
        die_err(rc, "provider list: ");
    if (json) {
        rt_json_print(rt_provs_json(p, n));
        free(p);
        return 0;
    }
    printf("%-20s %-9s %-19s %6s %10s %10s  %s\n", "PROVIDER", "STATE",
           "SINCE (UTC)", "FAILS", "SHARDS", "BYTES", "NOTE");
    for (i = 0; i < n; i++)
        printf("%-20s %-9s %-19s %6u %10llu %10s  %s\n", p[i].name, p[i].state,
               vt_time(p[i].since, t), p[i].fail_count,
               (unsigned long long)p[i].shards, vt_size(p[i].bytes, a),
               !p[i].configured ? "not in the config"
               : !p[i].open     ? "cannot be opened"
                                : "");
    free(p);
    return 0;
}

int cmd_provider(int argc, char **argv)
{
    const char *key = NULL, *verb = NULL, *name = NULL;
    struct sv_vault *v = NULL;
    int json = 0, i, ret;
    enum sv_err rc;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            key = argv[++i];
        else if (argv[i][0] == '-')
            usage_die(USAGE, "unknown option '%s'", argv[i]);
        else if (!verb)
            verb = argv[i];
        else if (!name)
            name = argv[i];
        else
            usage_die(USAGE, "unexpected argument '%s'", argv[i]);
    }
    if (!verb)
        usage_die(USAGE, "which provider command?");
    if (!strcmp(verb, "list")) {
        if (name)
            usage_die(USAGE, "list takes no provider name");
    } else if (!strcmp(verb, "down") || !strcmp(verb, "up") ||
               !strcmp(verb, "drain")) {
        if (!name)
            usage_die(USAGE, "provider %s: which provider?", verb);
    } else {
        usage_die(USAGE,
                  "'%s' is not a provider command (list, down, up, "
                  "drain)",
                  verb);
    }
    rc = sv_repair_open(g_opt.vault_dir, key, &v);
    if (rc)
        die_err(rc, "%s", "");
    if (!strcmp(verb, "list")) {
        ret = list(v, json);
    } else {
        rc = sv_repair_provider_set(v, name, verb, 0);
        if (rc) {
            sv_vault_close(v);
            die_err(rc, "provider %s: ", verb);
        }
        if (!g_opt.quiet)
            printf("provider %s: %s%s\n", name,
                   !strcmp(verb, "drain") ? "draining" : verb,
                   !strcmp(verb, "down")
                       ? " (its shards are rebuilt elsewhere at the next "
                         "repair pass)"
                   : !strcmp(verb, "drain")
                       ? " (its shards are copied off at the next repair "
                         "pass, then it is removed)"
                       : "");
        ret = 0;
    }
    sv_vault_close(v);
    return ret;
}
