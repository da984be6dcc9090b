/*
 * tests/providers/s3_xml_test.c: the ListObjectsV2 and error-document
 * parsers, on real Ceph RGW and Swift answers (the fuzz seeds) and on
 * broken input.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/s3_xml.h"
#include "tests/lib/testutil.h"

#define SEEDS "tests/fuzz/corpus/fuzz_s3_xml/"

struct seen {
    char keys[8][64];
    uint64_t sizes[8];
    int64_t mtimes[8];
    unsigned n, stop_at;
};

static int on_key(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct seen *s = ctx;

    cr_assert_lt(s->n, 8);
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
    s->sizes[s->n] = size;
    s->mtimes[s->n] = mtime;
    return ++s->n == s->stop_at;
}

static char *seed(const char *name, size_t *len)
{
    char path[256];
    char *p;

    snprintf(path, sizeof(path), SEEDS "%s", name);
    p = (char *)tu_read_file(path, len);
    cr_assert_not_null(p, "cannot read %s (run from the repository root)",
                       path);
    return p;
}

/* Parse the seed file name into s and pg (zeroed first), asserting rc. */
static void parse_seed(const char *name, enum sv_err want, struct seen *s,
                       struct sv_s3_list_page *pg)
{
    size_t len;
    char *xml = seed(name, &len);
    enum sv_err rc;

    s->n = 0;
    sv_s3_list_page_release(pg);
    rc = sv_s3_parse_list(xml, len, on_key, s, pg);
    cr_assert_eq(rc, want, "%s: %s", name, sv_errmsg(rc));
    free(xml);
}

static enum sv_err parse_str(const char *xml, struct seen *s,
                             struct sv_s3_list_page *pg)
{
    return sv_s3_parse_list(xml, strlen(xml), on_key, s, pg);
}

Test(s3_xml, ceph_page_with_token)
{
    struct sv_s3_list_page pg = {0};
    struct seen s = {0};

    parse_seed("list-ceph1-page1.xml", SV_OK, &s, &pg);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.keys[0], "seed/k 1+x&"); /* entities decoded */
    cr_assert_str_eq(s.keys[1], "seed/k 2+x&");
    cr_assert_eq(s.sizes[0], 3);
    /* 2026-11-29T06:54:09.587Z */
    cr_assert_eq(s.mtimes[0], 1795935249);
    cr_assert_eq(pg.truncated, 1);
    cr_assert_eq(pg.nkeys, 2);
    cr_assert_eq(pg.stopped, 0);
    cr_assert_str_eq(pg.next_token, "seed/k 2+x&");
    cr_assert_str_eq(pg.last_key, "seed/k 2+x&");
    sv_s3_list_page_release(&pg);
    cr_assert_null(pg.next_token);
}

Test(s3_xml, swift_pages)
{
    struct sv_s3_list_page pg = {0};
    struct seen s = {0};

    parse_seed("list-swift1-page1.xml", SV_OK, &s, &pg);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(pg.next_token, "c2VlZC9rIDIreCY=");
    parse_seed("list-swift1-page2.xml", SV_OK, &s, &pg);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.keys[0], "seed/k 3+x&");
    cr_assert_eq(pg.truncated, 0);
    cr_assert_null(pg.next_token); /* ContinuationToken is not the next */
    sv_s3_list_page_release(&pg);
}

Test(s3_xml, empty_listing)
{
    struct sv_s3_list_page pg = {0};
    struct seen s = {0};

    parse_seed("list-ceph1-empty.xml", SV_OK, &s, &pg);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(pg.nkeys, 0);
    cr_assert_eq(pg.truncated, 0);
    cr_assert_null(pg.last_key);
    sv_s3_list_page_release(&pg);
}

Test(s3_xml, callback_stops)
{
    struct sv_s3_list_page pg = {0};
    struct seen s = {.stop_at = 1};

    parse_seed("list-ceph1-page1.xml", SV_OK, &s, &pg);
    cr_assert_eq(s.n, 1, "the callback ran after asking to stop");
    cr_assert_eq(pg.stopped, 1);
    cr_assert_eq(pg.nkeys, 1);
    sv_s3_list_page_release(&pg);
}

Test(s3_xml, big_size_and_odd_time)
{
    struct sv_s3_list_page pg = {0};
    struct seen s = {0};

    cr_assert_eq(parse_str("<ListBucketResult><Contents><Key>k</Key>"
                           "<Size>18446744073709551615</Size>"
                           "<LastModified>yesterday</LastModified>"
                           "</Contents></ListBucketResult>",
                           &s, &pg),
                 SV_OK);
    cr_assert_eq(s.sizes[0], UINT64_MAX);
    cr_assert_eq(s.mtimes[0], 0, "an unreadable time is 0");
    sv_s3_list_page_release(&pg);
}

/* Each refused with SV_IO and a reason. */
Test(s3_xml, broken_listings)
{
    static const struct {
        const char *xml, *why;
    } bad[] = {
        {"", "malformed"},
        {"not xml at all", "malformed"},
        {"<ListBucketResult><Contents><Key>a</Key>", "malformed"},
        {"<Error><Code>x</Code></Error>", "root"},
        {"<ListBucketResult><Contents><Key>a</Key></Contents>"
         "</ListBucketResult>",
         "without Size"},
        {"<ListBucketResult><Contents><Size>1</Size></Contents>"
         "</ListBucketResult>",
         "without Key"},
        {"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size>"
         "</Contents></ListBucketResult>",
         "decimal"},
        {"<ListBucketResult><Contents><Key>a</Key>"
         "<Size>18446744073709551616</Size></Contents></ListBucketResult>",
         "decimal"},
        {"<ListBucketResult><Contents><Key>a<b/></Key><Size>1</Size>"
         "</Contents></ListBucketResult>",
         "inside"},
        {"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult>"
         "</ListBucketResult>",
         "DOCTYPE"},
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sv_s3_list_page pg = {0};
        struct seen s = {0};
        enum sv_err rc = parse_str(bad[i].xml, &s, &pg);

        cr_assert_eq(rc, SV_IO, "case %zu accepted: %s", i, bad[i].xml);
        cr_assert(strstr(sv_errmsg(rc), bad[i].why),
                  "case %zu: '%s' does not say %s", i, sv_errmsg(rc),
                  bad[i].why);
        sv_s3_list_page_release(&pg);
    }
}

Test(s3_xml, text_too_long)
{
    size_t n = SV_S3_XML_TEXT_MAX + 100, len;
    char *xml = malloc(n + 200), *p = xml;
    struct sv_s3_list_page pg = {0};
    struct seen s = {0};

    cr_assert_not_null(xml);
    p += sprintf(p, "<ListBucketResult><Contents><Key>");
    memset(p, 'k', n);
    p += n;
    p += sprintf(p, "</Key><Size>1</Size></Contents></ListBucketResult>");
    len = (size_t)(p - xml);
    cr_assert_eq(sv_s3_parse_list(xml, len, on_key, &s, &pg), SV_IO);
    cr_assert(strstr(sv_errmsg(SV_IO), "longer than"));
    cr_assert_eq(s.n, 0);
    sv_s3_list_page_release(&pg);
    free(xml);
}

Test(s3_xml, list_null_arguments)
{
    struct sv_s3_list_page pg = {0};
    struct seen s = {0};

    cr_assert_eq(sv_s3_parse_list(NULL, 0, on_key, &s, &pg), SV_INVAL);
    cr_assert_eq(sv_s3_parse_list("<a/>", 4, NULL, &s, &pg), SV_INVAL);
    cr_assert_eq(sv_s3_parse_list("<a/>", 4, on_key, &s, NULL), SV_INVAL);
    sv_s3_list_page_release(NULL); /* NULL-safe */
}

Test(s3_xml, errors_from_servers)
{
    struct sv_s3_error e;
    size_t len;
    char *xml = seed("error-swift1-nosuchkey.xml", &len);

    cr_assert_eq(sv_s3_parse_error(xml, len, &e), SV_OK);
    cr_assert_str_eq(e.code, "NoSuchKey");
    cr_assert_str_eq(e.message, "The specified key does not exist.");
    free(xml);

    xml = seed("error-ceph1-signature.xml", &len);
    cr_assert_eq(sv_s3_parse_error(xml, len, &e), SV_OK);
    cr_assert_str_eq(e.code, "SignatureDoesNotMatch");
    cr_assert_str_eq(e.message, "");
    free(xml);

    /* Swift's long SignatureDoesNotMatch: StringToSign etc. ignored */
    xml = seed("error-swift1-signature.xml", &len);
    cr_assert_eq(sv_s3_parse_error(xml, len, &e), SV_OK);
    cr_assert_str_eq(e.code, "SignatureDoesNotMatch");
    cr_assert(!strncmp(e.message, "The request signature", 21));
    free(xml);
}

Test(s3_xml, error_message_cleaned_and_cut)
{
    char xml[2048], *p = xml;
    struct sv_s3_error e;
    size_t i;

    p += sprintf(p, "<Error><Code>Slow\nDown</Code><Message>");
    for (i = 0; i < 600; i++)
        *p++ = 'm';
    p += sprintf(p, "</Message></Error>");
    cr_assert_eq(sv_s3_parse_error(xml, (size_t)(p - xml), &e), SV_OK);
    cr_assert_str_eq(e.code, "Slow Down", "control bytes become spaces");
    cr_assert_eq(strlen(e.message), sizeof(e.message) - 1);
}

Test(s3_xml, broken_errors)
{
    struct sv_s3_error e;
    size_t len;
    char *xml = seed("list-ceph1-empty.xml", &len);

    cr_assert_eq(sv_s3_parse_error(xml, len, &e), SV_IO);
    cr_assert(strstr(sv_errmsg(SV_IO), "root"));
    free(xml);
    cr_assert_eq(sv_s3_parse_error("<html>502 Bad Gateway", 21, &e), SV_IO);
    cr_assert_str_eq(e.code, "");
    cr_assert_eq(sv_s3_parse_error(NULL, 0, &e), SV_INVAL);
    cr_assert_eq(sv_s3_parse_error("<Error/>", 8, NULL), SV_INVAL);
}
