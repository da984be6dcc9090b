/*
 * tools/catalog_rebuild.c: `shardvault catalog rebuild [--force]
 * [--collect] [--key FILE] [--json]`: recreate a lost catalog from the
 * providers and the key file (engine/rebuild.h). Each finding is a line on
 * stderr; the summary goes to stdout. Exit 0 when every object found was
 * restored, 3 when some could not be (too few shards) or cannot be read
 * with this key file (a pruned key generation) or a provider could not be
 * listed, 1 on failure (an existing catalog without --force, a
 * maintenance keyring, ...).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine/rebuild.h"
#include "tools/tools.h"

#define USAGE "catalog rebuild [--force] [--collect] [--key FILE] [--json]"

int cmd_catalog_rebuild(int argc, char **argv);

static void on_note(void *ctx, const char *sentence)
{
    (void)ctx;
    warnx_("catalog rebuild: %s", sentence);
}

static void print_json(const struct sv_rebuild_result *r)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:s?}",
        "listed", (json_int_t)r->listed, "shards", (json_int_t)r->used, "bad",
        (json_int_t)r->bad, "unreadable", (json_int_t)r->unreadable,
        "duplicates", (json_int_t)r->duplicates, "objects",
        (json_int_t)r->objects, "segments", (json_int_t)r->segments, "missing",
        (json_int_t)r->missing, "lost", (json_int_t)r->lost, "orphans",
        (json_int_t)r->orphans, "collected", (json_int_t)r->collected,
        "unlisted", (json_int_t)r->unlisted, "nokey", (json_int_t)r->nokey,
        "moved_to", r->moved_to);

    json_dumpf(o, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(o);
}

int cmd_catalog_rebuild(int argc, char **argv)
{
    struct sv_rebuild_opts o = {0};
    struct sv_rebuild_result r;
    int a, json = 0, status;
    enum sv_err rc;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--force"))
            o.force = 1;
        else if (!strcmp(argv[a], "--collect"))
            o.collect = 1;
        else if (!strcmp(argv[a], "--json"))
            json = 1;
        else if (!strcmp(argv[a], "--key") && a + 1 < argc)
            o.key_path = argv[++a];
        else
            usage_die(USAGE, "unknown argument '%s'", argv[a]);
    }
    o.note = on_note;
    rc = sv_catalog_rebuild(g_opt.vault_dir, &o, &r);
    if (rc && rc != SV_AGAIN)
        die_err(rc, "%s", "");
    if (rc)
        warnx_("%s", sv_errmsg(rc));
    if (json) {
        print_json(&r);
    } else {
        if (r.moved_to)
            printf("the old catalog is now %s\n", r.moved_to);
        printf("catalog rebuilt from %llu listed keys: %llu object%s, %llu "
               "segments, %llu shards; %llu missing (queued for repair), "
               "%llu bad, %llu duplicate%s, %llu orphan%s (%llu deleted); "
               "%llu object%s lost\n",
               (unsigned long long)r.listed, (unsigned long long)r.objects,
               r.objects == 1 ? "" : "s", (unsigned long long)r.segments,
               (unsigned long long)r.used, (unsigned long long)r.missing,
               (unsigned long long)r.bad, (unsigned long long)r.duplicates,
               r.duplicates == 1 ? "" : "s", (unsigned long long)r.orphans,
               r.orphans == 1 ? "" : "s", (unsigned long long)r.collected,
               (unsigned long long)r.lost, r.lost == 1 ? "" : "s");
    }
    status = (rc || r.lost || r.nokey) ? EXIT_PARTIAL : 0;
    sv_rebuild_result_release(&r);
    return status;
}
