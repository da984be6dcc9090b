/*
 * tools/get.c: `shardvault get NAME [-o FILE|-] [--range A-B]`.
 *
 * Writes to stdout by default. With -o FILE the bytes go to a temporary
 * file next to FILE that is renamed over it only when the whole read
 * succeeded, so a failed read never leaves a partial FILE (and an older
 * FILE survives). --range A-B is inclusive, as in HTTP; A- reads to the
 * end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/shardvault.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE "get NAME [-o FILE|-] [--range A-B]"

static void parse_range(const char *s, uint64_t *off, uint64_t *len)
{
    char *dash, a[32];
    uint64_t x, y;

    dash = strchr(s, '-');
    if (!dash || (size_t)(dash - s) >= sizeof(a))
        usage_die(USAGE, "--range wants A-B (bytes, inclusive) or A-");
    memcpy(a, s, (size_t)(dash - s));
    a[dash - s] = '\0';
    if (vt_parse_u64(a, &x))
        usage_die(USAGE, "--range: '%s' is not a byte offset", a);
    *off = x;
    *len = SV_TO_END;
    if (!dash[1])
        return;
    if (vt_parse_u64(dash + 1, &y) || y < x)
        usage_die(USAGE, "--range: '%s' is not an offset >= %llu", dash + 1,
                  (unsigned long long)x);
    *len = y - x + 1;
}

int cmd_get(int argc, char **argv)
{
    const char *name = NULL, *out = NULL;
    uint64_t off = 0, len = SV_TO_END;
    struct sv_get_stats st;
    struct sv_vault *v;
    char *tmp = NULL;
    enum sv_err rc;
    mode_t mask;
    int a, fd = 1;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "-o") && a + 1 < argc)
            out = argv[++a];
        else if (!strcmp(argv[a], "--range") && a + 1 < argc)
            parse_range(argv[++a], &off, &len);
        else if (argv[a][0] == '-')
            usage_die(USAGE, "unknown option '%s'", argv[a]);
        else if (!name)
            name = argv[a];
        else
            usage_die(USAGE, "too many arguments");
    }
    if (!name)
        usage_die(USAGE, "get needs an object NAME");
    if (out && !strcmp(out, "-"))
        out = NULL;
    v = vt_open(0, NULL);
    if (out) {
        if (asprintf(&tmp, "%s.partial.XXXXXX", out) < 0)
            die(1, "out of memory");
        fd = mkstemp(tmp);
        if (fd < 0)
            die(1, "get '%s': cannot create %s: %s", name, tmp,
                strerror(errno));
    }
    rc = sv_get(v, name, off, len, fd, &st);
    if (!rc && out && (fsync(fd) || close(fd)))
        rc = SV_IO;
    if (rc) {
        if (out) {
            close(fd);
            unlink(tmp); /* never leave a partial file behind */
        }
        sv_vault_close(v);
        die_err(rc, "%s", "");
    }
    if (out) {
        mask = umask(0);
        umask(mask);
        chmod(tmp, 0666 & ~mask);
        if (rename(tmp, out)) {
            int e = errno;

            unlink(tmp);
            die(1, "get '%s': cannot rename %s to %s: %s", name, tmp, out,
                strerror(e));
        }
    }
    if (st.shards_bad || st.shards_missing || st.shards_failed)
        warnx_("get '%s': read despite %llu missing, %llu bad and %llu "
               "unreachable shard%s (%llu segment%s rebuilt from parity); "
               "missing and bad shards are queued for repair",
               name, (unsigned long long)st.shards_missing,
               (unsigned long long)st.shards_bad,
               (unsigned long long)st.shards_failed,
               st.shards_failed == 1 ? "" : "s",
               (unsigned long long)st.segments_degraded,
               st.segments_degraded == 1 ? "" : "s");
    free(tmp);
    sv_vault_close(v);
    return 0;
}
