/*
 * tests/engine/report_fmt_test.c: the report renderers
 * (engine/report_fmt.c): JSON parses and keeps its documented schema, the
 * HTML is well-formed XML (expat) with the four charts, CSV has one table
 * per section, text is for people; write errors are reported.
 */
#include <criterion/criterion.h>
#include <expat.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/report.h"

#define GB 1e9
#define DAY0 20000

struct fixture {
    struct sv_report_model m, w;
    struct sv_report r, rw;
    struct sv_report_whatif wf;
    struct sv_report_doc doc;
};

static void add_prov(struct sv_report_model *m, const char *name,
                     uint64_t bytes, uint64_t quota, double price)
{
    struct sv_report_prov p;

    memset(&p, 0, sizeof(p));
    p.name = (char *)name;
    p.owner = "Owner & <Co>";
    p.weight = 1;
    p.quota = quota;
    p.price_storage = price;
    p.price_egress = 0.01;
    p.annual_loss = 0.05;
    p.bytes = bytes;
    p.shards = bytes / 100000000;
    p.in_config = 1;
    cr_assert_eq(sv_report_add_provider(m, &p), SV_OK);
}

static void build(struct fixture *fx, const char *whatif)
{
    struct sv_hist_rec h;
    uint8_t pv[3] = {0, 1, 2}, ct[3] = {1, 1, 1};
    int d;

    memset(fx, 0, sizeof(*fx));
    sv_report_model_init(&fx->m);
    fx->m.k = 2;
    fx->m.m = 1;
    fx->m.max_per_provider = 1;
    fx->m.now_day = DAY0;
    strcpy(fx->m.currency, "EUR");
    add_prov(&fx->m, "alpha", 100 * GB, 1000 * GB, 0.02);
    add_prov(&fx->m, "beta \"b\"", 100 * GB, 0, 0.01);
    add_prov(&fx->m, "gamma", 100 * GB, 200 * GB, 0.03);
    add_prov(&fx->m, "delta", 0, 300 * GB, 0.03);
    fx->m.objects = 1000;
    fx->m.segments = 1000;
    fx->m.logical_bytes = 200 * GB;
    fx->m.stored_bytes = 300 * GB;
    fx->m.health[0] = 990;
    fx->m.health[1] = 9;
    fx->m.health[2] = 1;
    fx->m.objects_at_risk = 10;
    fx->m.repair_queue = 10;
    cr_assert_eq(sv_report_add_pattern(&fx->m, 3, 3, pv, ct, 990, 198 * GB,
                                       990 * 100000000ull),
                 SV_OK);
    cr_assert_eq(sv_report_add_pattern(&fx->m, 3, 2, pv, ct, 9, 2 * GB,
                                       9 * 100000000ull),
                 SV_OK);
    for (d = DAY0 - 40; d <= DAY0; d++) {
        memset(&h, 0, sizeof(h));
        h.day = (uint32_t)d;
        h.bytes_added = 2 * GB;
        h.stored_added = 3 * GB;
        cr_assert_eq(sv_report_add_history(&fx->m, &h), SV_OK);
    }
    cr_assert_eq(sv_report_compute(&fx->m, 30, &fx->r), SV_OK);
    fx->doc.today.model = &fx->m;
    fx->doc.today.rep = &fx->r;
    sv_report_whatif_init(&fx->wf);
    if (whatif) {
        cr_assert_eq(sv_report_whatif_parse(&fx->wf, whatif), SV_OK);
        cr_assert_eq(sv_report_apply(&fx->m, &fx->wf, &fx->w), SV_OK);
        cr_assert_eq(sv_report_compute(&fx->w, 30, &fx->rw), SV_OK);
        fx->doc.whatif.model = &fx->w;
        fx->doc.whatif.rep = &fx->rw;
        fx->doc.specs = &fx->wf;
    }
}

static void teardown(struct fixture *fx)
{
    sv_report_release(&fx->r);
    sv_report_release(&fx->rw);
    sv_report_model_release(&fx->m);
    sv_report_model_release(&fx->w);
    sv_report_whatif_release(&fx->wf);
}

typedef enum sv_err render_fn(FILE *f, const struct sv_report_doc *d);

static char *render(render_fn *fn, const struct sv_report_doc *d, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);

    cr_assert_not_null(f);
    cr_assert_eq(fn(f, d), SV_OK, "%s", sv_errmsg(SV_IO));
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

/* ---- JSON ------------------------------------------------------------ */

static json_t *get(json_t *o, const char *key, int type)
{
    json_t *v = json_object_get(o, key);

    cr_assert_not_null(v, "key '%s' missing", key);
    cr_assert_eq(json_typeof(v), type, "key '%s' has type %d, want %d", key,
                 json_typeof(v), type);
    return v;
}

static void num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    cr_assert_not_null(v, "key '%s' missing", key);
    cr_assert(json_is_number(v), "key '%s' is not a number", key);
}

static void num_or_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    cr_assert_not_null(v, "key '%s' missing", key);
    cr_assert(json_is_number(v) || json_is_null(v), "key '%s'", key);
}

static void str_or_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    cr_assert_not_null(v, "key '%s' missing", key);
    cr_assert(json_is_string(v) || json_is_null(v), "key '%s'", key);
}

/* The schema of docs/report-json.md, section by section. */
static void check_sections(json_t *s, size_t nprov)
{
    static const char *const ov[] = {
        "objects",       "segments",      "logical_bytes",
        "stored_bytes",  "ratio",         "ec_ratio",
        "framing_bytes", "padding_bytes", "small_objects",
        "small_object_waste_bytes"};
    json_t *o, *a, *p;
    size_t i;

    o = get(s, "code", JSON_OBJECT);
    num(o, "k");
    num(o, "m");
    num(o, "n");
    num(o, "max_per_provider");
    a = get(s, "providers", JSON_ARRAY);
    cr_assert_eq(json_array_size(a), nprov);
    json_array_foreach(a, i, p) {
        get(p, "name", JSON_STRING);
        get(p, "state", JSON_STRING);
        get(p, "owner", JSON_STRING);
        get(p, "jurisdiction", JSON_STRING);
        cr_assert(json_is_boolean(json_object_get(p, "in_config")));
        cr_assert(json_is_boolean(json_object_get(p, "added")));
        get(p, "stored_bytes", JSON_INTEGER);
        get(p, "shards", JSON_INTEGER);
        num_or_null(p, "quota_bytes");
        num_or_null(p, "quota_used");
        num(p, "share");
        num(p, "monthly_storage_cost");
    }
    o = get(s, "totals", JSON_OBJECT);
    get(o, "stored_bytes", JSON_INTEGER);
    get(o, "shards", JSON_INTEGER);
    get(o, "quota_bytes", JSON_INTEGER);
    cr_assert(json_is_boolean(json_object_get(o, "quota_unlimited")));
    o = get(s, "overhead", JSON_OBJECT);
    for (i = 0; i < sizeof(ov) / sizeof(ov[0]); i++)
        num(o, ov[i]);
    o = get(s, "health", JSON_OBJECT);
    num(o, "n");
    num(o, "k");
    num(o, "segments");
    a = get(o, "by_good_shards", JSON_ARRAY);
    cr_assert_gt(json_array_size(a), 0);
    json_array_foreach(a, i, p) {
        get(p, "good", JSON_INTEGER);
        get(p, "segments", JSON_INTEGER);
    }
    num(o, "lost_segments");
    num(o, "degraded_segments");
    num(o, "objects_at_risk");
    num(o, "repair_queue");
    num(o, "unprotectable_segments");
    o = get(s, "growth", JSON_OBJECT);
    num(o, "window_days");
    num(o, "points");
    num(o, "ingest_bytes_per_day");
    num(o, "delete_bytes_per_day");
    num(o, "stored_bytes_per_day");
    str_or_null(o, "first_fill_date");
    a = get(o, "providers", JSON_ARRAY);
    cr_assert_eq(json_array_size(a), nprov);
    json_array_foreach(a, i, p) {
        get(p, "name", JSON_STRING);
        num(p, "growth_share");
        num(p, "growth_bytes_per_day");
        num_or_null(p, "days_to_full");
        str_or_null(p, "fill_date");
    }
    o = get(s, "durability", JSON_OBJECT);
    get(o, "model", JSON_STRING);
    get(o, "method", JSON_STRING);
    get(o, "placement", JSON_STRING);
    get(o, "window_source", JSON_STRING);
    num_or_null(o, "repair_rate_bps");
    num(o, "reprotect_hours_assumed");
    num(o, "loss_events_per_year");
    num(o, "p_loss_year");
    num(o, "expected_bytes_lost_per_year");
    get(o, "exposed_segments", JSON_INTEGER);
    num(o, "exposure_hours");
    num(o, "p_loss_before_repair");
    a = get(o, "providers", JSON_ARRAY);
    json_array_foreach(a, i, p) {
        get(p, "name", JSON_STRING);
        num(p, "annual_loss");
        num(p, "lambda");
        num(p, "window_hours");
        num(p, "q");
    }
    o = get(s, "cost", JSON_OBJECT);
    get(o, "currency", JSON_STRING);
    num(o, "monthly_storage");
    num(o, "monthly_requests");
    num(o, "monthly_repair_expected");
    num(o, "monthly_total");
    a = get(o, "providers", JSON_ARRAY);
    cr_assert_eq(json_array_size(a), nprov);
    json_array_foreach(a, i, p) {
        json_t *x;
        get(p, "name", JSON_STRING);
        num(p, "monthly_storage");
        num(p, "monthly_requests");
        x = get(p, "if_lost", JSON_OBJECT);
        get(x, "segments", JSON_INTEGER);
        get(x, "read_bytes", JSON_INTEGER);
        get(x, "write_bytes", JSON_INTEGER);
        num(x, "egress_cost");
        num(x, "reprotect_hours");
        get(x, "unrecoverable_segments", JSON_INTEGER);
    }
}

Test(report_fmt, json_parses_and_keeps_its_schema)
{
    struct fixture fx;
    json_error_t err;
    json_t *root, *s, *p;
    char *out;

    build(&fx, NULL);
    out = render(sv_report_render_json, &fx.doc, NULL);
    root = json_loads(out, 0, &err);
    cr_assert_not_null(root, "JSON: %s at line %d", err.text, err.line);
    cr_assert_str_eq(json_string_value(get(root, "schema", JSON_STRING)),
                     "shardvault-report/1");
    cr_assert_str_eq(json_string_value(get(root, "date", JSON_STRING)),
                     "2024-10-04");
    cr_assert_str_eq(json_string_value(get(root, "currency", JSON_STRING)),
                     "EUR");
    cr_assert(json_is_null(json_object_get(root, "what_if")));
    s = get(root, "report", JSON_OBJECT);
    check_sections(s, 4);
    /* the numbers are the report's */
    p = json_array_get(json_object_get(s, "providers"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(p, "name")),
                     "beta \"b\"");
    cr_assert(json_is_null(json_object_get(p, "quota_bytes")));
    cr_assert_eq(json_integer_value(json_object_get(p, "stored_bytes")),
                 100000000000ll);
    cr_assert_float_eq(json_number_value(json_object_get(
                           json_object_get(s, "overhead"), "ratio")),
                       1.5, 1e-12);
    cr_assert_float_eq(
        json_number_value(json_object_get(json_object_get(s, "cost"),
                                          "monthly_storage")),
        6.0, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(
                                        json_object_get(s, "health"),
                                        "by_good_shards"),
                                    1),
                     "segments")),
                 9);
    json_decref(root);
    free(out);
    teardown(&fx);
}

Test(report_fmt, json_what_if_has_report_and_delta)
{
    struct fixture fx;
    json_error_t err;
    json_t *root, *w, *d, *a, *p;
    char *out;
    size_t i;
    int seen_lost = 0, seen_added = 0;

    build(&fx, "lose=gamma,add=eps,quota=1T,price_storage=0.004");
    out = render(sv_report_render_json, &fx.doc, NULL);
    root = json_loads(out, 0, &err);
    cr_assert_not_null(root, "JSON: %s", err.text);
    check_sections(get(root, "report", JSON_OBJECT), 4);
    w = get(root, "what_if", JSON_OBJECT);
    a = get(w, "specs", JSON_ARRAY);
    cr_assert_eq(json_array_size(a), 1);
    check_sections(get(w, "report", JSON_OBJECT), 4);
    d = get(w, "delta", JSON_OBJECT);
    num(d, "stored_bytes");
    num(d, "quota_bytes");
    num(d, "ratio");
    num(d, "monthly_total");
    num(d, "p_loss_year");
    num(d, "expected_bytes_lost_per_year");
    num(d, "degraded_segments");
    num(d, "lost_segments");
    num(d, "objects_at_risk");
    cr_assert_float_eq(json_number_value(json_object_get(d, "quota_bytes")),
                       (double)(1ull << 40) - 200 * GB, 1);
    a = get(d, "providers", JSON_ARRAY);
    cr_assert_eq(json_array_size(a), 5);
    json_array_foreach(a, i, p) {
        const char *st = json_string_value(get(p, "status", JSON_STRING));
        get(p, "name", JSON_STRING);
        num(p, "stored_bytes");
        num(p, "monthly_storage");
        num(p, "repair_egress_cost");
        seen_lost += !strcmp(st, "lost");
        seen_added += !strcmp(st, "added");
    }
    cr_assert_eq(seen_lost, 1);
    cr_assert_eq(seen_added, 1);
    json_decref(root);
    free(out);
    teardown(&fx);
}

/* ---- HTML ------------------------------------------------------------ */

struct xml_state {
    char ids[16][64];
    unsigned nsvg, depth, scripts, external;
};

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **attr)
{
    struct xml_state *st = ud;
    size_t i;

    st->depth++;
    if (!strcmp(name, "script"))
        st->scripts++;
    for (i = 0; attr[i]; i += 2)
        if ((!strcmp(attr[i], "href") || !strcmp(attr[i], "src")) &&
            strstr(attr[i + 1], "//"))
            st->external++;
    if (strcmp(name, "svg"))
        return;
    for (i = 0; attr[i]; i += 2)
        if (!strcmp(attr[i], "id") && st->nsvg < 16)
            snprintf(st->ids[st->nsvg++], 64, "%s", attr[i + 1]);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    ((struct xml_state *)ud)->depth--;
}

static int has_id(const struct xml_state *st, const char *id)
{
    unsigned i;

    for (i = 0; i < st->nsvg; i++)
        if (!strcmp(st->ids[i], id))
            return 1;
    return 0;
}

static void parse_html(const char *buf, size_t len, struct xml_state *st)
{
    XML_Parser p = XML_ParserCreate("UTF-8");
    enum XML_Status s;

    memset(st, 0, sizeof(*st));
    XML_SetUserData(p, st);
    XML_SetElementHandler(p, on_start, on_end);
    s = XML_Parse(p, buf, (int)len, 1);
    cr_assert_eq(s, XML_STATUS_OK, "HTML is not well-formed XML: %s at "
                                   "line %lu",
                 XML_ErrorString(XML_GetErrorCode(p)),
                 (unsigned long)XML_GetCurrentLineNumber(p));
    XML_ParserFree(p);
    cr_assert_eq(st->depth, 0);
}

Test(report_fmt, html_is_well_formed_with_four_charts)
{
    static const char *const ids[] = {"chart-capacity", "chart-growth",
                                      "chart-health", "chart-cost"};
    struct fixture fx;
    struct xml_state st;
    size_t len, i;
    char *out;

    build(&fx, NULL);
    out = render(sv_report_render_html, &fx.doc, &len);
    parse_html(out, len, &st);
    cr_assert_eq(st.nsvg, 4);
    for (i = 0; i < 4; i++)
        cr_assert(has_id(&st, ids[i]), "no svg id %s", ids[i]);
    cr_assert_eq(st.scripts, 0, "no scripts");
    cr_assert_eq(st.external, 0, "nothing fetched from the network");
    cr_assert_not_null(strstr(out, "Owner &amp; &lt;Co&gt;"), "escaped");
    cr_assert_not_null(strstr(out, "gamma full 20"), "fill date marker");
    free(out);
    teardown(&fx);
}

Test(report_fmt, html_what_if_adds_its_charts)
{
    struct fixture fx;
    struct xml_state st;
    size_t len;
    char *out;

    build(&fx, "k=3,m=1");
    out = render(sv_report_render_html, &fx.doc, &len);
    parse_html(out, len, &st);
    cr_assert_eq(st.nsvg, 8);
    cr_assert(has_id(&st, "chart-health-whatif"));
    cr_assert(has_id(&st, "chart-cost-whatif"));
    cr_assert_not_null(strstr(out, "What-if: k=3,m=1"));
    free(out);
    teardown(&fx);
}

/* ---- CSV and text ---------------------------------------------------- */

static unsigned count(const char *hay, const char *needle)
{
    unsigned n = 0;

    while ((hay = strstr(hay, needle))) {
        n++;
        hay++;
    }
    return n;
}

Test(report_fmt, csv_has_one_table_per_section)
{
    static const char *const sections[] = {
        "# providers\n",  "# overhead\n", "# health\n",
        "# health.summary\n", "# growth\n", "# growth.providers\n",
        "# durability\n", "# durability.providers\n", "# cost\n",
        "# cost.summary\n"};
    static const char head[] = "provider,state,owner,jurisdiction,"
                               "stored_bytes,shards,quota_bytes,quota_used,"
                               "share,monthly_storage\n";
    struct fixture fx;
    char *out, *p;
    size_t i;

    build(&fx, NULL);
    out = render(sv_report_render_csv, &fx.doc, NULL);
    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        cr_assert_eq(count(out, sections[i]), 1, "%s", sections[i]);
    cr_assert_eq(count(out, "\n# "), 9, "ten sections");
    p = strstr(out, "# providers\n") + strlen("# providers\n");
    cr_assert_eq(strncmp(p, head, strlen(head)), 0, "header: %.80s", p);
    /* raw numbers, quoted names */
    cr_assert_not_null(strstr(out, "\"beta \"\"b\"\"\",up,"));
    cr_assert_not_null(strstr(out, ",100000000000,1000,1000000000000,"));
    cr_assert_not_null(strstr(out, "\nratio,1.5\n"));
    cr_assert_not_null(strstr(out, "\n2,9,"), "health: 2 good, 9 segments");
    free(out);
    teardown(&fx);
    build(&fx, "lose=alpha");
    out = render(sv_report_render_csv, &fx.doc, NULL);
    cr_assert_eq(count(out, "# whatif.summary\n"), 1);
    cr_assert_eq(count(out, "# whatif.providers\n"), 1);
    cr_assert_eq(count(out, "\n# "), 20, "today, comparison, what-if");
    free(out);
    teardown(&fx);
}

Test(report_fmt, text_is_for_people)
{
    struct fixture fx;
    char *out;

    build(&fx, "add=eps,quota=1T");
    out = render(sv_report_render_text, &fx.doc, NULL);
    cr_assert_not_null(strstr(out, "shardvault report, 2024-10-04"));
    cr_assert_not_null(strstr(out, "93.13 GiB"), "100 GB in GiB");
    cr_assert_not_null(strstr(out, "2.00 EUR"), "currency");
    cr_assert_not_null(strstr(out, "10.0%"), "percent");
    cr_assert_not_null(strstr(out, "== What-if: add=eps,quota=1T"));
    cr_assert_not_null(strstr(out, "(new)"));
    cr_assert_not_null(strstr(out, "Poisson-binomial"), "model named");
    cr_assert_not_null(strstr(out, "assumed 24.0 h"), "assumption stated");
    free(out);
    teardown(&fx);
}

Test(report_fmt, renderers_report_errors)
{
    static render_fn *const fns[] = {
        sv_report_render_text, sv_report_render_json, sv_report_render_csv,
        sv_report_render_html};
    struct sv_report_doc empty;
    struct fixture fx;
    FILE *full = fopen("/dev/full", "w");
    size_t i;

    cr_assert_not_null(full);
    build(&fx, NULL);
    memset(&empty, 0, sizeof(empty));
    for (i = 0; i < 4; i++) {
        cr_assert_eq(fns[i](stdout, NULL), SV_INVAL);
        cr_assert_eq(fns[i](NULL, &fx.doc), SV_INVAL);
        cr_assert_eq(fns[i](stdout, &empty), SV_INVAL);
        cr_assert_eq(fns[i](full, &fx.doc), SV_IO, "renderer %zu", i);
        clearerr(full);
    }
    fclose(full);
    teardown(&fx);
}

Test(report_fmt, formats_bytes_and_days)
{
    char b[48];

    cr_assert_str_eq(sv_report_fmt_bytes(512, b, sizeof(b)), "512 B");
    cr_assert_str_eq(sv_report_fmt_bytes(1536, b, sizeof(b)), "1.50 KiB");
    cr_assert_str_eq(sv_report_fmt_bytes(3.0 * (1 << 30), b, sizeof(b)),
                     "3.00 GiB");
    cr_assert_str_eq(sv_report_fmt_bytes(-2048, b, sizeof(b)), "-2.00 KiB");
    cr_assert_str_eq(sv_report_fmt_day(0, b, sizeof(b)), "1970-01-01");
    cr_assert_str_eq(sv_report_fmt_day(DAY0, b, sizeof(b)), "2024-10-04");
    cr_assert_str_eq(sv_report_fmt_day(SV_REPORT_NEVER, b, sizeof(b)),
                     "never");
    cr_assert_str_eq(sv_report_fmt_day(INT64_MIN, b, sizeof(b)), "never");
}
