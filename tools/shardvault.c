/*
 * tools/shardvault.c: the `shardvault` command. Parses the global options,
 * then dispatches to a subcommand from the table in tools/tools.h, git
 * style (one file per command, cmd_<name>).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/log.h"
#include "tools/tools.h"

#ifndef SV_VERSION_STR
#define SV_VERSION_STR "0.1.0"
#endif

struct sv_global g_opt;

struct cmd {
    const char *name;
    cmd_fn *fn;
    const char *usage;
    const char *help;
};

static const struct cmd commands[] = {
#define X(name, usage, help) {#name, cmd_##name, usage, help},
    SV_COMMANDS(X)
#undef X
};

void die(int status, const char *fmt, ...)
{
    va_list ap;

    fputs("shardvault: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

void usage_die(const char *usage, const char *fmt, ...)
{
    va_list ap;

    fputs("shardvault: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: shardvault %s\n", usage);
    exit(EXIT_USAGE);
}

void die_err(enum sv_err rc, const char *fmt, ...)
{
    va_list ap;

    fputs("shardvault: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", sv_errmsg(rc));
    exit(1);
}

void warnx_(const char *fmt, ...)
{
    va_list ap;

    fputs("shardvault: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void log_stderr(void *ctx, enum sv_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};

    (void)ctx;
    fprintf(stderr, "shardvault: %s: %s\n", names[level], msg);
}

void tools_log_init(void)
{
    enum sv_log_level lvl = SV_LOG_WARN;

    if (g_opt.quiet)
        lvl = SV_LOG_ERROR;
    else if (g_opt.verbose == 1)
        lvl = SV_LOG_INFO;
    else if (g_opt.verbose > 1)
        lvl = SV_LOG_DEBUG;
    sv_log_set(log_stderr, NULL, lvl);
}

static void help(FILE *f)
{
    size_t i;

    fprintf(f, "usage: shardvault [--vault DIR] [-v|-q] COMMAND [options]\n\n"
               "commands:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  %-10s %s\n  %-10s %s\n", "help", "this text", "version",
            "print the version");
    fprintf(f, "\nThe vault directory is --vault, else $SHARDVAULT_VAULT, "
               "else ./vault.\n`shardvault help COMMAND` shows a command's "
               "usage.\n");
}

static const struct cmd *find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    const struct cmd *c;
    int i = 1;

    g_opt.vault_dir = getenv("SHARDVAULT_VAULT");
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--vault") && i + 1 < argc)
            g_opt.vault_dir = argv[++i];
        else if (!strncmp(argv[i], "--vault=", 8))
            g_opt.vault_dir = argv[i] + 8;
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            g_opt.verbose++;
        else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            g_opt.quiet = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("shardvault %s\n", SV_VERSION_STR);
            return 0;
        } else
            usage_die("[--vault DIR] [-v|-q] COMMAND [options]",
                      "unknown option '%s'", argv[i]);
    }
    if (!g_opt.vault_dir || !*g_opt.vault_dir)
        g_opt.vault_dir = "vault";
    tools_log_init();
    if (i >= argc) {
        help(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[i], "help")) {
        if (i + 1 < argc && (c = find(argv[i + 1]))) {
            printf("usage: shardvault %s\n%s\n", c->usage, c->help);
            return 0;
        }
        help(stdout);
        return 0;
    }
    if (!strcmp(argv[i], "version")) {
        printf("shardvault %s\n", SV_VERSION_STR);
        return 0;
    }
    c = find(argv[i]);
    if (!c)
        usage_die("[--vault DIR] COMMAND [options]",
                  "'%s' is not a command; see 'shardvault help'", argv[i]);
    if (!c->fn)
        die(1, "'%s' is not built into this binary yet", c->name);
    return c->fn(argc - i, argv + i);
}
