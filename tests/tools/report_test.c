/*
 * tests/tools/report_test.c: `shardvault report` (tools/report.c) run as a
 * command on a small vault (tests/lib/reportvault.h): each format, the
 * what-if options, and the usage and failure exits.
 */
#include <criterion/criterion.h>
#include <expat.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/reportvault.h"
#include "tests/lib/testutil.h"

static char *vault;

static void setup(void)
{
    vault = tu_tmpdir("report_cli");
    cr_assert_not_null(vault);
    cr_assert_eq(rv_build(vault), 0);
}

static void teardown(void)
{
    tu_rmrf(vault);
    free(vault);
}

TestSuite(report_cli, .init = setup, .fini = teardown);

static int run(char **out, const char *args)
{
    return tu_run(out, "'%s' --vault '%s' report --today 2024-10-04 %s",
                  tu_bin(), vault, args);
}

Test(report_cli, text_by_default)
{
    char *out = NULL;

    cr_assert_eq(run(&out, ""), 0, "%s", out);
    cr_assert_not_null(strstr(out, "shardvault report, 2024-10-04"), "%s",
                       out);
    cr_assert_not_null(strstr(out, "EUR"));
    cr_assert_not_null(strstr(out, "Health"));
    cr_assert_not_null(strstr(out, "2 of 3"));
    cr_assert_not_null(strstr(out, "measured rate"), "measured rate used");
    free(out);
}

Test(report_cli, json_parses)
{
    char *out = NULL;
    json_error_t err;
    json_t *root, *rep;

    cr_assert_eq(run(&out, "--json 2>/dev/null"), 0);
    root = json_loads(out, 0, &err);
    cr_assert_not_null(root, "%s: %s", err.text, out);
    cr_assert_str_eq(json_string_value(json_object_get(root, "schema")),
                     "shardvault-report/1");
    rep = json_object_get(root, "report");
    cr_assert_eq(json_array_size(json_object_get(rep, "providers")), 4);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(rep, "health"), "objects_at_risk")),
                 2);
    cr_assert(json_is_null(json_object_get(root, "what_if")));
    json_decref(root);
    free(out);
}

Test(report_cli, what_if_in_json)
{
    char *out = NULL;
    json_error_t err;
    json_t *root, *w;

    cr_assert_eq(run(&out, "--json --what-if lose=a --what-if "
                           "'add=e,quota=10T,price_storage=0.006,"
                           "annual_loss=0.01' 2>/dev/null"),
                 0, "%s", out);
    root = json_loads(out, 0, &err);
    cr_assert_not_null(root, "%s", err.text);
    w = json_object_get(root, "what_if");
    cr_assert(json_is_object(w));
    cr_assert_eq(json_array_size(json_object_get(w, "specs")), 2);
    cr_assert_eq(json_array_size(json_object_get(
                     json_object_get(w, "report"), "providers")),
                 4, "a lost, e added");
    json_decref(root);
    free(out);
}

Test(report_cli, csv_sections)
{
    char *out = NULL;

    cr_assert_eq(run(&out, "--csv --window 7 2>/dev/null"), 0);
    cr_assert_eq(strncmp(out, "# providers\nprovider,", 21), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\n# health\n"));
    cr_assert_not_null(strstr(out, "\nwindow_days,7\n"));
    free(out);
}

static void XMLCALL start(void *ud, const XML_Char *name, const XML_Char **a)
{
    (void)a;
    if (!strcmp(name, "svg"))
        (*(int *)ud)++;
}

Test(report_cli, html_file)
{
    char *out = NULL, path[4096];
    uint8_t *html;
    size_t len;
    XML_Parser p;
    int svgs = 0;

    snprintf(path, sizeof(path), "%s/report.html", vault);
    {
        char args[4200];
        snprintf(args, sizeof(args), "--html '%s' --what-if k=2,m=1", path);
        cr_assert_eq(run(&out, args), 0, "%s", out);
    }
    free(out);
    html = tu_read_file(path, &len);
    cr_assert_not_null(html);
    p = XML_ParserCreate("UTF-8");
    XML_SetUserData(p, &svgs);
    XML_SetStartElementHandler(p, start);
    cr_assert_eq(XML_Parse(p, (const char *)html, (int)len, 1),
                 XML_STATUS_OK, "%s",
                 XML_ErrorString(XML_GetErrorCode(p)));
    XML_ParserFree(p);
    cr_assert_eq(svgs, 8, "today's four charts and the what-if's");
    free(html);
}

Test(report_cli, usage_errors_exit_2)
{
    static const char *const bad[] = {
        "--json --csv", "--what-if lose", "--what-if", "--window 1",
        "--window x", "--today 2024-13-45", "--bogus", "--html"};
    char *out = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(run(&out, bad[i]), 2, "'%s': %s", bad[i], out);
        cr_assert_not_null(strstr(out, "usage: shardvault report"), "%s",
                           out);
        free(out);
        out = NULL;
    }
}

Test(report_cli, failures_exit_1)
{
    char *out = NULL;

    cr_assert_eq(run(&out, "--what-if lose=nobody"), 1, "%s", out);
    cr_assert_not_null(strstr(out, "nobody"), "%s", out);
    free(out);
    cr_assert_eq(tu_run(&out, "'%s' --vault '%s/none' report", tu_bin(),
                        vault),
                 1, "%s", out);
    cr_assert_not_null(strstr(out, "none"), "names the vault: %s", out);
    free(out);
}
