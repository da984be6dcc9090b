/*
 * tools/key.c: `shardvault key`: rotation, pruning, custody (split and
 * combine) and the maintenance keyring export.
 *
 * The key file is --key FILE, else the vault's (its configuration's
 * key_file, or <vault>/vault.key); the catalog is <vault>/catalog.
 * Rotation and pruning check that the key file belongs to the catalog
 * before touching anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/keys.h"
#include "engine/rotate.h"
#include "tools/tools.h"

#define USAGE                                                                  \
    "key rotate [--key FILE] [--resume]\n"                                     \
    "       shardvault key prune [--key FILE] [--keep-from N] [--force]\n"     \
    "       shardvault key split --shares N --threshold T [--out DIR] "        \
    "[--key FILE]\n"                                                           \
    "       shardvault key combine SHARE... -o FILE\n"                         \
    "       shardvault key export-maintenance FILE [--key FILE]"

struct key_opts {
    const char *key; /* --key */
    const char *out; /* --out DIR / -o FILE */
    unsigned shares, threshold;
    unsigned long keep_from;
    int resume, force;
    const char *args[256]; /* positional */
    unsigned nargs;
    char *key_buf;
};

static unsigned long number(const char *opt, const char *v, unsigned long max)
{
    char *end;
    unsigned long x;

    if (!v || !*v || *v == '-')
        usage_die(USAGE, "%s wants a number", opt);
    x = strtoul(v, &end, 10);
    if (*end || x == 0 || x > max)
        usage_die(USAGE, "%s wants a number from 1 to %lu, not '%s'", opt, max,
                  v);
    return x;
}

static void parse(int argc, char **argv, struct key_opts *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--key") || !strcmp(a, "--out") || !strcmp(a, "-o")) {
            if (!v)
                usage_die(USAGE, "%s needs a value", a);
            if (!strcmp(a, "--key"))
                o->key = v;
            else
                o->out = v;
            i++;
        } else if (!strcmp(a, "--shares")) {
            o->shares = (unsigned)number(a, v, 255);
            i++;
        } else if (!strcmp(a, "--threshold")) {
            o->threshold = (unsigned)number(a, v, 255);
            i++;
        } else if (!strcmp(a, "--keep-from")) {
            o->keep_from = number(a, v, 0x7fffffffUL);
            i++;
        } else if (!strcmp(a, "--resume")) {
            o->resume = 1;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
        } else if (a[0] == '-' && a[1]) {
            usage_die(USAGE, "unknown option '%s'", a);
        } else {
            if (o->nargs == sizeof(o->args) / sizeof(o->args[0]))
                usage_die(USAGE, "too many arguments");
            o->args[o->nargs++] = a;
        }
    }
}

/* --key, else the vault's key file. */
static const char *key_file(struct key_opts *o)
{
    enum sv_err rc;

    if (!o->key) {
        rc = sv_keys_vault_key_path(g_opt.vault_dir, &o->key_buf);
        if (rc)
            die_err(rc, "key: ");
        o->key = o->key_buf;
    }
    return o->key;
}

static void no_args(const struct key_opts *o, const char *cmd)
{
    if (o->nargs)
        usage_die(USAGE, "key %s takes no argument '%s'", cmd, o->args[0]);
}

static int key_rotate(struct key_opts *o)
{
    uint64_t n = 0;
    uint32_t gen = 0;
    enum sv_err rc;

    no_args(o, "rotate");
    rc = sv_keys_rotate_vault(g_opt.vault_dir, key_file(o), !o->resume, &gen,
                              &n);
    if (rc)
        die_err(rc, "key rotate: ");
    printf("key generation %u: re-wrapped %llu data keys (no object data "
           "moved)\n",
           gen, (unsigned long long)n);
    if (!o->resume)
        printf("old generations stay in %s until `shardvault key prune`\n",
               o->key);
    return 0;
}

static int key_prune(struct key_opts *o)
{
    uint32_t kept = 0;
    enum sv_err rc;

    no_args(o, "prune");
    rc = sv_keys_prune_vault(g_opt.vault_dir, key_file(o),
                             (uint32_t)o->keep_from, o->force, &kept);
    if (rc)
        die_err(rc, "key prune: ");
    printf("key file %s keeps generations from %u\n", o->key, kept);
    return 0;
}

static int key_split(struct key_opts *o)
{
    const char *dir = o->out ? o->out : ".";
    char *paths[255];
    unsigned i;
    enum sv_err rc;

    no_args(o, "split");
    if (!o->shares || !o->threshold)
        usage_die(USAGE, "key split needs --shares N and --threshold T");
    if (o->threshold < 2 || o->threshold > o->shares)
        usage_die(USAGE, "--threshold must be from 2 to --shares (%u)",
                  o->shares);
    for (i = 0; i < o->shares; i++)
        if (asprintf(&paths[i], "%s/vault-share-%u-of-%u", dir, i + 1,
                     o->shares) < 0)
            die(1, "out of memory");
    rc = sv_keys_split(key_file(o), o->shares, o->threshold,
                       (const char *const *)paths);
    if (rc)
        die_err(rc, "key split: ");
    for (i = 0; i < o->shares; i++) {
        printf("%s\n", paths[i]);
        free(paths[i]);
    }
    printf("any %u of these %u shares recombine %s (`shardvault key "
           "combine`); give each to a different custodian\n",
           o->threshold, o->shares, o->key);
    return 0;
}

static int key_combine(struct key_opts *o)
{
    enum sv_err rc;

    if (!o->nargs)
        usage_die(USAGE, "key combine needs share files");
    if (!o->out)
        usage_die(USAGE, "key combine needs -o FILE for the key file");
    rc = sv_keys_combine(o->args, o->nargs, o->out);
    if (rc)
        die_err(rc, "key combine: ");
    printf("wrote key file %s from %u shares\n", o->out, o->nargs);
    return 0;
}

static int key_export(struct key_opts *o)
{
    struct sv_keyring *kr = NULL;
    enum sv_err rc;

    if (o->nargs != 1)
        usage_die(USAGE, "key export-maintenance needs one FILE");
    rc = sv_keys_load(key_file(o), &kr);
    if (!rc)
        rc = sv_keys_export_maintenance(kr, o->args[0]);
    sv_keys_free(kr);
    if (rc)
        die_err(rc, "key export-maintenance: ");
    printf("wrote maintenance keyring %s: it verifies, renames and rebuilds "
           "shards and cannot read object data\n",
           o->args[0]);
    return 0;
}

int cmd_key(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct key_opts *o);
    } subs[] = {{"rotate", key_rotate},
                {"prune", key_prune},
                {"split", key_split},
                {"combine", key_combine},
                {"export-maintenance", key_export}};
    struct key_opts o;
    size_t i;
    int rc;

    if (argc < 2)
        usage_die(USAGE, "which key command?");
    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (strcmp(argv[1], subs[i].name))
            continue;
        parse(argc, argv, &o);
        rc = subs[i].fn(&o);
        free(o.key_buf);
        return rc;
    }
    usage_die(USAGE, "unknown key command '%s'", argv[1]);
}
