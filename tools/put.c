/*
 * tools/put.c: `shardvault put NAME FILE|- [--hash]`: store one object.
 *
 * Ctrl-C stops the upload cleanly (nothing is stored). Progress goes to
 * stderr when it is a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/shardvault.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE "put NAME FILE|- [--hash]"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct progress {
    uint64_t total; /* 0 if unknown (stdin) */
    const char *name;
};

static void show_progress(void *ctx, uint64_t done)
{
    struct progress *p = ctx;
    char a[32], b[32];

    if (p->total)
        fprintf(stderr, "\rput '%s': %s of %s (%.0f%%)   ", p->name,
                vt_size(done, a), vt_size(p->total, b),
                100.0 * (double)done / (double)p->total);
    else
        fprintf(stderr, "\rput '%s': %s   ", p->name, vt_size(done, a));
}

int cmd_put(int argc, char **argv)
{
    const char *name = NULL, *file = NULL;
    struct sv_put_opts o = {0};
    struct sv_put_result r;
    struct progress pr = {0};
    struct sigaction sa;
    struct stat st;
    struct sv_vault *v;
    enum sv_err rc;
    char size[32];
    size_t i, used = 0;
    int a, fd = 0;

    for (a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--hash"))
            o.hash = 1;
        else if (argv[a][0] == '-' && argv[a][1])
            usage_die(USAGE, "unknown option '%s'", argv[a]);
        else if (!name)
            name = argv[a];
        else if (!file)
            file = argv[a];
        else
            usage_die(USAGE, "too many arguments");
    }
    if (!name || !file)
        usage_die(USAGE, "put needs a NAME and a FILE (or - for stdin)");
    if (strcmp(file, "-")) {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die(1, "put '%s': cannot open %s: %s", name, file, strerror(errno));
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        o.mtime = (int64_t)st.st_mtime;
        pr.total = (uint64_t)st.st_size;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.cancel = &interrupted;
    pr.name = name;
    if (isatty(2) && !g_opt.quiet) {
        o.progress = show_progress;
        o.progress_ctx = &pr;
    }
    v = vt_open(0, NULL);
    rc = sv_put(v, name, fd, &o, &r);
    if (o.progress)
        fputc('\n', stderr);
    if (rc) {
        sv_vault_close(v);
        die_err(rc, "%s", "");
    }
    for (i = 0; i < r.nprov; i++)
        used += r.prov[i].shards > 0;
    if (!g_opt.quiet)
        printf("stored '%s': %s in %llu segment%s, %llu shards on %zu "
               "providers\n",
               name, vt_size(r.bytes, size), (unsigned long long)r.segments,
               r.segments == 1 ? "" : "s", (unsigned long long)r.shards, used);
    if (r.shards_missing)
        warnx_("put '%s': %llu shard%s could not be stored; queued for "
               "repair",
               name, (unsigned long long)r.shards_missing,
               r.shards_missing == 1 ? "" : "s");
    sv_put_result_release(&r);
    sv_vault_close(v);
    if (fd > 0)
        close(fd);
    return 0;
}
