/*
 * providers/s3_xml.h: the two S3 response bodies the s3 backend reads, a
 * ListObjectsV2 page and an error document, parsed with libexpat. Separate
 * from providers/s3.c so the parsers can be tested and fuzzed without a
 * server. The bytes come from the network: any input is either parsed or
 * refused with SV_IO, never trusted further than that.
 */
#ifndef SV_S3_XML_H
#define SV_S3_XML_H

#include <stddef.h>

#include "providers/provider.h"

/* Longest text of one element (a key, a token, a message) accepted. S3
 * keys are at most 1024 bytes; tokens are opaque but short in practice. */
#define SV_S3_XML_TEXT_MAX 8192

/* What a ListObjectsV2 page says besides its keys. Caller-owned: zero it
 * before the call (or _release a previous use), _release after. */
struct sv_s3_list_page {
    char *next_token; /* NextContinuationToken, malloc'd; NULL if absent */
    char *last_key;   /* the last Key delivered, malloc'd; NULL if none */
    int truncated;    /* IsTruncated was "true": more pages follow */
    int stopped;      /* fn returned nonzero; the rest was not delivered */
    unsigned nkeys;   /* Contents entries delivered to fn */
};

/*
 * Parse one ListBucketResult document of len bytes and call fn(ctx, key,
 * size, mtime) for each Contents entry, in document order (key is borrowed
 * for the call; mtime is LastModified in seconds since the epoch, 0 if
 * absent or unreadable). If fn returns nonzero the parse stops there,
 * page->stopped is set and SV_OK is returned.
 * SV_IO (detail: the line and the reason) if the bytes are not well-formed
 * XML, the root is not ListBucketResult, an entry lacks Key or a decimal
 * Size, an element's text exceeds SV_S3_XML_TEXT_MAX, or a DOCTYPE is
 * present (refused: no entity tricks). SV_NOMEM. On failure fn may already
 * have been called for earlier entries; page holds what was seen.
 */
enum sv_err sv_s3_parse_list(const char *xml, size_t len, sv_list_fn *fn,
                             void *ctx,
                             struct sv_s3_list_page *page) SV_MUST_CHECK;
/* Free what page holds and zero it (NULL-safe). */
void sv_s3_list_page_release(struct sv_s3_list_page *page);

/* An S3 error document's Code and Message, NUL-terminated, truncated to
 * fit; control characters in them are replaced by spaces. */
struct sv_s3_error {
    char code[64];
    char message[256];
};

/*
 * Parse an <Error> document of len bytes into *err (always written; empty
 * strings for what is absent). SV_IO (detail: the reason) if the bytes are
 * not well-formed XML, the root is not Error, or a DOCTYPE is present; the
 * caller then reports the HTTP status alone. SV_NOMEM.
 */
enum sv_err sv_s3_parse_error(const char *xml, size_t len,
                              struct sv_s3_error *err) SV_MUST_CHECK;

#endif
