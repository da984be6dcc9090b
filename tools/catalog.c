/*
 * tools/catalog.c: `shardvault catalog backup FILE | check | rebuild`.
 *
 * backup: a consistent, compacted copy of <vault>/catalog in FILE (an
 * LMDB data file; to restore, put it back as <vault>/catalog/data.mdb),
 * taken while other processes keep writing.
 * check: decode every record and check every index against the records;
 * prints each problem, exits 1 if there is any.
 * rebuild: from the providers' shards (not built yet).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/catalog.h"
#include "tools/tools.h"

int cmd_catalog_rebuild(int argc, char **argv); /* tools/catalog_rebuild.c */

#define USAGE     "catalog backup FILE|check|rebuild"
#define MAX_SHOWN 1000

struct shown {
    uint64_t n;
};

static void print_problem(void *ctx, const char *sentence)
{
    struct shown *s = ctx;

    if (s->n++ < MAX_SHOWN)
        printf("problem: %s\n", sentence);
}

static struct sv_cat *open_catalog(void)
{
    struct sv_cat *cat = NULL;
    char *dir;
    enum sv_err rc;

    if (asprintf(&dir, "%s/catalog", g_opt.vault_dir) < 0)
        die(1, "out of memory");
    rc = sv_cat_open(dir, 0, &cat);
    if (rc)
        die_err(rc, "catalog %s: ", dir);
    free(dir);
    return cat;
}

static int catalog_backup(int argc, char **argv)
{
    struct sv_cat *cat;
    struct stat st;
    enum sv_err rc;

    if (argc != 3)
        usage_die(USAGE, "catalog backup needs one FILE");
    cat = open_catalog();
    rc = sv_cat_backup(cat, argv[2]);
    sv_cat_close(cat);
    if (rc)
        die_err(rc, "catalog backup: ");
    if (!g_opt.quiet && !stat(argv[2], &st))
        printf("catalog backed up to %s (%lld bytes)\n", argv[2],
               (long long)st.st_size);
    return 0;
}

static int catalog_check(int argc, char **argv)
{
    struct shown shown = {0};
    struct sv_cat *cat;
    uint64_t problems = 0;
    enum sv_err rc;

    (void)argv;
    if (argc != 2)
        usage_die(USAGE, "catalog check takes no arguments");
    cat = open_catalog();
    rc = sv_cat_check(cat, print_problem, &shown, &problems);
    sv_cat_close(cat);
    if (rc)
        die_err(rc, "catalog check: ");
    if (problems > MAX_SHOWN)
        printf("... and %llu more\n",
               (unsigned long long)(problems - MAX_SHOWN));
    printf("catalog check: %llu problem%s\n", (unsigned long long)problems,
           problems == 1 ? "" : "s");
    return problems ? 1 : 0;
}

int cmd_catalog(int argc, char **argv)
{
    if (argc < 2)
        usage_die(USAGE, "which catalog command?");
    if (!strcmp(argv[1], "backup"))
        return catalog_backup(argc, argv);
    if (!strcmp(argv[1], "check"))
        return catalog_check(argc, argv);
    if (!strcmp(argv[1], "rebuild"))
        return cmd_catalog_rebuild(argc - 1, argv + 1);
    usage_die(USAGE, "'%s' is not a catalog command", argv[1]);
}
