/*
 * tools/vaultutil.c: helpers shared by the object commands (see
 * vaultutil.h). Only tools print and exit.
 */
#include "tools/vaultutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/tools.h"

struct sv_vault *vt_open(unsigned flags, const char *key_path)
{
    struct sv_open_opts o = {0};
    struct sv_vault *v = NULL;
    enum sv_err rc;

    o.flags = flags;
    o.key_path = key_path;
    rc = sv_vault_open(g_opt.vault_dir, &o, &v);
    if (rc)
        die_err(rc, "%s", "");
    return v;
}

const char *vt_size(uint64_t bytes, char *buf)
{
    static const char *const unit[] = {"B",   "KiB", "MiB", "GiB",
                                       "TiB", "PiB", "EiB"};
    double d = (double)bytes;
    unsigned u = 0;

    while (d >= 1024 && u < 6) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, 32, "%.1f %s", d, unit[u]);
    return buf;
}

const char *vt_time(int64_t t, char *buf)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!t || !gmtime_r(&tt, &tm)) {
        snprintf(buf, 32, "-");
        return buf;
    }
    strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

void vt_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int vt_parse_u64(const char *s, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int vt_args_json(int argc, char **argv, const char *usage, const char **pos)
{
    int a, json = 0;

    *pos = NULL;
    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--json"))
            json = 1;
        else if (argv[a][0] == '-')
            usage_die(usage, "unknown option '%s'", argv[a]);
        else if (!*pos)
            *pos = argv[a];
        else
            usage_die(usage, "unexpected argument '%s'", argv[a]);
    }
    return json;
}
