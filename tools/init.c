/*
 * tools/init.c: `shardvault init [DIR] [--k K --m M] [--config FILE]`.
 *
 * Creates a vault (config, key file, catalog, provider storage) and says
 * where the key file is and why it must stay away from the providers,
 * then shows the code and the providers with their owners and
 * jurisdictions. Without --config the embedded default is used: six local
 * directory providers in three owners and three jurisdictions, k=4 m=2.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/shardvault.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE "init [DIR] [--k K --m M] [--config FILE]"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, r;

    if (!f)
        return NULL;
    for (;;) {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap + 65536);

            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap += 65536;
        }
        r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static unsigned parse_code(const char *opt, const char *s)
{
    uint64_t v;

    if (!s || vt_parse_u64(s, &v) || v < 1 || v > 254)
        usage_die(USAGE, "%s needs a number from 1 to 254", opt);
    return (unsigned)v;
}

int cmd_init(int argc, char **argv)
{
    const char *dir = NULL, *config = NULL;
    char *text = NULL, abs[PATH_MAX], size[32];
    unsigned k = 0, m = 0;
    struct sv_vault *v = NULL;
    struct sv_vault_info vi;
    struct sv_provider_info pi;
    enum sv_err rc;
    size_t i;
    int a;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--k"))
            k = parse_code("--k", a + 1 < argc ? argv[++a] : NULL);
        else if (!strcmp(argv[a], "--m"))
            m = parse_code("--m", a + 1 < argc ? argv[++a] : NULL);
        else if (!strcmp(argv[a], "--config") && a + 1 < argc)
            config = argv[++a];
        else if (argv[a][0] == '-')
            usage_die(USAGE, "unknown option '%s'", argv[a]);
        else if (!dir)
            dir = argv[a];
        else
            usage_die(USAGE, "one vault directory only");
    }
    if (!dir)
        dir = g_opt.vault_dir;
    if (config) {
        text = slurp(config);
        if (!text)
            die(1, "init: cannot read %s", config);
    }
    rc = sv_vault_create(dir, text, k, m, &v);
    free(text);
    if (rc)
        die_err(rc, "init %s: ", dir);
    sv_vault_info(v, &vi);
    printf("created vault %s\n", realpath(dir, abs) ? abs : dir);
    if (vi.key_path) {
        printf("key file:  %s (mode 0600)\n",
               realpath(vi.key_path, abs) ? abs : vi.key_path);
        printf("  Keep the key file away from every provider: with it, k "
               "shards read everything.\n"
               "  Without it nothing can be read back: keep a copy "
               "elsewhere (shardvault key split).\n");
    } else {
        printf("key:       from key_command (external key store)\n");
    }
    printf("code:      k=%u m=%u: %u shards per segment, any %u rebuild "
           "it; write quorum %u; segments of %s\n",
           vi.k, vi.m, vi.k + vi.m, vi.k, vi.write_quorum,
           vt_size(vi.segment_size, size));
    printf("providers:\n  %-16s %-5s %-20s %-12s %s\n", "NAME", "TYPE", "OWNER",
           "JURISDICTION", "QUOTA");
    for (i = 0; i < sv_vault_nprov(v); i++) {
        sv_vault_provider(v, i, &pi);
        printf("  %-16s %-5s %-20s %-12s %s\n", pi.name, pi.type, pi.owner,
               pi.jurisdiction,
               pi.quota ? vt_size(pi.quota, size) : "unlimited");
    }
    sv_vault_close(v);
    return 0;
}
