/*
 * tools/report.c: `shardvault report`, the capacity-planning report
 * (DESIGN.md section 7).
 *
 *   shardvault report [--json | --csv | --html FILE] [--what-if SPEC]...
 *                     [--window DAYS] [--today YYYY-MM-DD]
 *
 * Reads <vault>/shardvault.conf and <vault>/catalog directly: the report
 * needs no key and writes nothing to the catalog. The model, the numbers
 * and the renderers live in engine/report*.c; this file parses options,
 * opens the vault and picks the output.
 *
 * Formats: text tables on the terminal (default), --json (schema
 * "shardvault-report/1", documented in docs/report-json.md; keys are
 * stable), --csv (one table per section, each after a "# section" line),
 * --html FILE (one self-contained XHTML file with inline SVG charts: no
 * scripts, nothing fetched).
 *
 * --what-if SPEC (repeatable; all SPECs form one scenario, applied in
 * order): lose=NAME; add=NAME,quota=10T,price_storage=0.006,
 * price_egress=..,price_request=..,annual_loss=0.01,owner=..,
 * jurisdiction=..,weight=..; k=K,m=M[,max_per_provider=N]. The report
 * then shows today, the scenario against today, and the scenario.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/catalog.h"
#include "engine/config.h"
#include "engine/report.h"
#include "tools/tools.h"

#define USAGE                                                                  \
    "report [--json|--csv|--html FILE] [--what-if SPEC]... [--window DAYS] "   \
    "[--today YYYY-MM-DD]"

enum fmt { FMT_TEXT, FMT_JSON, FMT_CSV, FMT_HTML };

struct opts {
    enum fmt fmt;
    const char *html;
    unsigned window;
    int64_t today;
    struct sv_report_whatif w;
};

static int64_t parse_day(const char *s)
{
    struct tm tm;
    char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%d", &tm);
    if (!end || *end)
        usage_die(USAGE, "--today wants YYYY-MM-DD, not '%s'", s);
    return (int64_t)(timegm(&tm) / 86400);
}

static unsigned parse_window(const char *s)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < 2 || v > 3650)
        usage_die(USAGE, "--window wants 2..3650 days, not '%s'", s);
    return (unsigned)v;
}

/* The value of option name at argv[*i] ("--name V" or "--name=V"), or
 * NULL when argv[*i] is not that option. */
static const char *optval(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);

    if (strncmp(argv[*i], name, len))
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len])
        return NULL;
    if (*i + 1 >= argc)
        usage_die(USAGE, "%s needs a value", name);
    return argv[++*i];
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    const char *v;
    enum sv_err rc;
    int i, nfmt = 0;

    memset(o, 0, sizeof(*o));
    o->today = (int64_t)(time(NULL) / 86400);
    sv_report_whatif_init(&o->w);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            o->fmt = FMT_JSON;
            nfmt++;
        } else if (!strcmp(argv[i], "--csv")) {
            o->fmt = FMT_CSV;
            nfmt++;
        } else if ((v = optval(argc, argv, &i, "--html"))) {
            o->fmt = FMT_HTML;
            o->html = v;
            nfmt++;
        } else if ((v = optval(argc, argv, &i, "--what-if"))) {
            rc = sv_report_whatif_parse(&o->w, v);
            if (rc)
                usage_die(USAGE, "%s", sv_errmsg(rc));
        } else if ((v = optval(argc, argv, &i, "--window"))) {
            o->window = parse_window(v);
        } else if ((v = optval(argc, argv, &i, "--today"))) {
            o->today = parse_day(v);
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: shardvault %s\n", USAGE);
            exit(0);
        } else {
            usage_die(USAGE, "unknown option '%s'", argv[i]);
        }
    }
    if (nfmt > 1)
        usage_die(USAGE, "choose one of --json, --csv, --html");
}

/* Load today's model from the vault (config and catalog, no key). */
static void load(const struct opts *o, struct sv_report_model *m)
{
    struct sv_config *cfg = NULL;
    struct sv_cat *cat = NULL;
    char *conf = NULL, *catdir = NULL;
    enum sv_err rc;

    if (asprintf(&conf, "%s/shardvault.conf", g_opt.vault_dir) < 0 ||
        asprintf(&catdir, "%s/catalog", g_opt.vault_dir) < 0)
        die(1, "out of memory");
    rc = sv_config_load(conf, g_opt.vault_dir, &cfg);
    if (rc)
        die_err(rc, "report: vault '%s': ", g_opt.vault_dir);
    rc = sv_cat_open(catdir, 0, &cat);
    if (rc)
        die_err(rc, "report: vault '%s': ", g_opt.vault_dir);
    rc = sv_report_load(cfg, cat, o->today, m);
    if (rc)
        die_err(rc, "report: vault '%s': ", g_opt.vault_dir);
    sv_cat_close(cat);
    sv_config_free(cfg);
    free(conf);
    free(catdir);
}

static enum sv_err render(FILE *f, enum fmt fmt, const struct sv_report_doc *d)
{
    switch (fmt) {
    case FMT_JSON:
        return sv_report_render_json(f, d);
    case FMT_CSV:
        return sv_report_render_csv(f, d);
    case FMT_HTML:
        return sv_report_render_html(f, d);
    case FMT_TEXT:
        break;
    }
    return sv_report_render_text(f, d);
}

/* Write the HTML next to FILE and rename it in place, so a reader never
 * sees half a page. */
static void write_html(const char *path, const struct sv_report_doc *d)
{
    char *tmp = NULL;
    enum sv_err rc;
    FILE *f;

    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
        die(1, "out of memory");
    f = fopen(tmp, "w");
    if (!f)
        die(1, "report: cannot write '%s': %s", tmp, strerror(errno));
    rc = render(f, FMT_HTML, d);
    if (fclose(f) && !rc)
        rc = sv_err_set(SV_IO, "report: write failed");
    if (!rc && rename(tmp, path))
        rc = sv_err_set(SV_IO, "report: cannot rename '%s' to '%s': %s", tmp,
                        path, strerror(errno));
    if (rc) {
        unlink(tmp);
        die_err(rc, "report: '%s': ", path);
    }
    free(tmp);
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "shardvault: report written to %s\n", path);
}

int cmd_report(int argc, char **argv)
{
    struct sv_report_model today, what;
    struct sv_report rt, rw;
    struct sv_report_doc doc;
    struct opts o;
    enum sv_err rc;

    parse_opts(argc, argv, &o);
    load(&o, &today);
    memset(&doc, 0, sizeof(doc));
    memset(&rw, 0, sizeof(rw));
    sv_report_model_init(&what);
    rc = sv_report_compute(&today, o.window, &rt);
    if (rc)
        die_err(rc, "report: ");
    doc.today.model = &today;
    doc.today.rep = &rt;
    if (o.w.nop) {
        sv_report_model_release(&what);
        rc = sv_report_apply(&today, &o.w, &what);
        if (rc)
            die_err(rc, "report: ");
        rc = sv_report_compute(&what, o.window, &rw);
        if (rc)
            die_err(rc, "report: what-if: ");
        doc.whatif.model = &what;
        doc.whatif.rep = &rw;
        doc.specs = &o.w;
    }
    if (o.fmt == FMT_HTML) {
        write_html(o.html, &doc);
    } else {
        rc = render(stdout, o.fmt, &doc);
        if (rc)
            die_err(rc, "report: ");
    }
    sv_report_release(&rt);
    sv_report_release(&rw);
    sv_report_model_release(&today);
    sv_report_model_release(&what);
    sv_report_whatif_release(&o.w);
    return 0;
}
