/*
 * providers/s3_xml.c: ListObjectsV2 and error documents, parsed with
 * libexpat (never by hand).
 *
 * One small state machine serves both: it checks the root element, collects
 * the text of the few elements it knows at their expected depth, and ignores
 * everything else (Owner, ETag, StorageClass, CommonPrefixes, RequestId...).
 * A DOCTYPE is refused outright, so no entity can expand; an element's text
 * is capped at SV_S3_XML_TEXT_MAX. Handlers report a failure by recording it
 * and stopping the parser; the caller turns that into the return code.
 */
#include "providers/s3_xml.h"

#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum field {
    F_NONE,
    F_KEY,
    F_SIZE,
    F_MTIME,
    F_TOKEN,
    F_TRUNC,
    F_CODE,
    F_MSG,
};

struct px {
    XML_Parser xp;
    const char *root; /* the root element this document must have */
    unsigned depth;
    int in_contents; /* inside ListBucketResult/Contents */
    enum field field;
    char text[SV_S3_XML_TEXT_MAX + 1];
    size_t tlen;
    enum sv_err rc; /* SV_OK, or the failure a handler recorded */
    char why[160];
    int fn_stopped;

    /* ListObjectsV2 */
    sv_list_fn *fn;
    void *ctx;
    struct sv_s3_list_page *page;
    char key[SV_S3_XML_TEXT_MAX + 1];
    int have_key, have_size;
    uint64_t size;
    int64_t mtime;

    /* Error */
    struct sv_s3_error *err;
};

static void px_fail(struct px *px, enum sv_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void px_fail(struct px *px, enum sv_err rc, const char *fmt, ...)
{
    va_list ap;

    if (px->rc == SV_OK) {
        px->rc = rc;
        va_start(ap, fmt);
        vsnprintf(px->why, sizeof(px->why), fmt, ap);
        va_end(ap);
    }
    XML_StopParser(px->xp, XML_FALSE);
}

/* expat may still deliver an event or two after XML_StopParser. */
static int px_done(const struct px *px)
{
    return px->rc != SV_OK || px->fn_stopped;
}

/* The element a name opens at the current depth, F_NONE if uninteresting. */
static enum field field_of(const struct px *px, const char *name)
{
    if (px->err) {
        if (px->depth == 2 && !strcmp(name, "Code"))
            return F_CODE;
        if (px->depth == 2 && !strcmp(name, "Message"))
            return F_MSG;
        return F_NONE;
    }
    if (px->depth == 2 && !strcmp(name, "NextContinuationToken"))
        return F_TOKEN;
    if (px->depth == 2 && !strcmp(name, "IsTruncated"))
        return F_TRUNC;
    if (px->depth == 3 && px->in_contents) {
        if (!strcmp(name, "Key"))
            return F_KEY;
        if (!strcmp(name, "Size"))
            return F_SIZE;
        if (!strcmp(name, "LastModified"))
            return F_MTIME;
    }
    return F_NONE;
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **attrs)
{
    struct px *px = ud;

    (void)attrs;
    if (px_done(px))
        return;
    if (px->field != F_NONE) {
        px_fail(px, SV_IO, "unexpected element <%.40s> inside a text field",
                name);
        return;
    }
    px->depth++;
    if (px->depth == 1 && strcmp(name, px->root)) {
        px_fail(px, SV_IO, "root element is <%.40s>, not <%s>", name, px->root);
        return;
    }
    if (!px->err && px->depth == 2 && !strcmp(name, "Contents")) {
        px->in_contents = 1;
        px->have_key = px->have_size = 0;
        px->mtime = 0;
    }
    px->field = field_of(px, name);
    px->tlen = 0;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct px *px = ud;

    if (px_done(px) || px->field == F_NONE || len <= 0)
        return;
    if ((size_t)len > SV_S3_XML_TEXT_MAX - px->tlen) {
        px_fail(px, SV_IO, "element text longer than %d bytes",
                SV_S3_XML_TEXT_MAX);
        return;
    }
    memcpy(px->text + px->tlen, s, (size_t)len);
    px->tlen += (size_t)len;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* "2024-05-01T12:34:56.000Z" (seconds precision is enough); 0 if not. */
static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    time_t t;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
        tm.tm_year < 1970)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    return t == (time_t)-1 ? 0 : (int64_t)t;
}

/* Copy text into dst (cap bytes with the NUL), control bytes -> spaces. */
static void copy_clean(char *dst, size_t cap, const char *src, size_t len)
{
    size_t i;

    if (len >= cap)
        len = cap - 1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];

        dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    dst[len] = '\0';
}

static void end_field(struct px *px)
{
    char *dup;

    px->text[px->tlen] = '\0';
    switch (px->field) {
    case F_KEY:
        memcpy(px->key, px->text, px->tlen + 1);
        px->have_key = 1;
        break;
    case F_SIZE:
        if (parse_u64(px->text, &px->size)) {
            px_fail(px, SV_IO, "Size is not a decimal number");
            return;
        }
        px->have_size = 1;
        break;
    case F_MTIME:
        px->mtime = parse_time(px->text);
        break;
    case F_TOKEN:
        dup = strdup(px->text);
        if (!dup) {
            px_fail(px, SV_NOMEM, "out of memory");
            return;
        }
        free(px->page->next_token);
        px->page->next_token = dup;
        break;
    case F_TRUNC:
        px->page->truncated = !strcmp(px->text, "true");
        break;
    case F_CODE:
        copy_clean(px->err->code, sizeof(px->err->code), px->text, px->tlen);
        break;
    case F_MSG:
        copy_clean(px->err->message, sizeof(px->err->message), px->text,
                   px->tlen);
        break;
    case F_NONE:
        break;
    }
}

static void end_contents(struct px *px)
{
    struct sv_s3_list_page *pg = px->page;
    char *dup;

    px->in_contents = 0;
    if (!px->have_key || !px->have_size) {
        px_fail(px, SV_IO, "a Contents entry without %s",
                px->have_key ? "Size" : "Key");
        return;
    }
    dup = strdup(px->key);
    if (!dup) {
        px_fail(px, SV_NOMEM, "out of memory");
        return;
    }
    free(pg->last_key);
    pg->last_key = dup;
    pg->nkeys++;
    if (px->fn(px->ctx, px->key, px->size, px->mtime)) {
        pg->stopped = 1;
        px->fn_stopped = 1;
        XML_StopParser(px->xp, XML_FALSE);
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct px *px = ud;

    (void)name;
    if (px_done(px))
        return;
    if (px->field != F_NONE) {
        end_field(px);
        px->field = F_NONE;
    } else if (!px->err && px->depth == 2 && px->in_contents) {
        end_contents(px);
    }
    px->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name,
                               const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    px_fail(ud, SV_IO, "a DOCTYPE is not allowed");
}

/* Feed xml to a parser set up for px (px->root etc. already set). */
static enum sv_err px_run(struct px *px, const char *what, const char *xml,
                          size_t len)
{
    const size_t piece = 1u << 20;
    enum XML_Status st = XML_STATUS_OK;
    enum sv_err rc;
    size_t off = 0, n;

    px->xp = XML_ParserCreate("UTF-8");
    if (!px->xp)
        return sv_err_set(SV_NOMEM, "%s: out of memory", what);
    XML_SetUserData(px->xp, px);
    XML_SetElementHandler(px->xp, on_start, on_end);
    XML_SetCharacterDataHandler(px->xp, on_text);
    XML_SetStartDoctypeDeclHandler(px->xp, on_doctype);
    do {
        n = len - off < piece ? len - off : piece;
        st = XML_Parse(px->xp, xml + off, (int)n, off + n == len);
        off += n;
    } while (st == XML_STATUS_OK && off < len);
    if (px->rc != SV_OK)
        rc = sv_err_set(px->rc, "%s: line %lu: %s", what,
                        (unsigned long)XML_GetCurrentLineNumber(px->xp),
                        px->why);
    else if (st != XML_STATUS_OK && !px->fn_stopped)
        rc = sv_err_set(SV_IO, "%s: malformed XML at line %lu: %s", what,
                        (unsigned long)XML_GetCurrentLineNumber(px->xp),
                        XML_ErrorString(XML_GetErrorCode(px->xp)));
    else
        rc = SV_OK;
    XML_ParserFree(px->xp);
    px->xp = NULL;
    return rc;
}

enum sv_err sv_s3_parse_list(const char *xml, size_t len, sv_list_fn *fn,
                             void *ctx, struct sv_s3_list_page *page)
{
    struct px *px;
    enum sv_err rc;

    if (!xml || !fn || !page)
        return sv_err_set(SV_INVAL, "ListObjectsV2 parse: NULL argument");
    px = calloc(1, sizeof(*px));
    if (!px)
        return sv_err_set(SV_NOMEM, "ListObjectsV2 response: out of memory");
    px->root = "ListBucketResult";
    px->fn = fn;
    px->ctx = ctx;
    px->page = page;
    rc = px_run(px, "ListObjectsV2 response", xml, len);
    free(px);
    return rc;
}

void sv_s3_list_page_release(struct sv_s3_list_page *page)
{
    if (!page)
        return;
    free(page->next_token);
    free(page->last_key);
    memset(page, 0, sizeof(*page));
}

enum sv_err sv_s3_parse_error(const char *xml, size_t len,
                              struct sv_s3_error *err)
{
    struct px *px;
    enum sv_err rc;

    if (!err)
        return sv_err_set(SV_INVAL, "S3 error parse: NULL argument");
    err->code[0] = err->message[0] = '\0';
    if (!xml)
        return sv_err_set(SV_INVAL, "S3 error parse: NULL argument");
    px = calloc(1, sizeof(*px));
    if (!px)
        return sv_err_set(SV_NOMEM, "S3 error document: out of memory");
    px->root = "Error";
    px->err = err;
    rc = px_run(px, "S3 error document", xml, len);
    free(px);
    return rc;
}
