/*
 * tests/fuzz/fuzz_s3_xml.c: the ListObjectsV2 and S3 error parsers
 * (providers/s3_xml.c) over arbitrary bytes. Both parsers see every input;
 * the listing callback stops early when the first byte says so, so the
 * stop path is explored too. Seeds are real Ceph RGW and Swift answers.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "providers/s3_xml.h"

struct seen {
    unsigned n, stop_at;
    size_t bytes;
};

static int on_key(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    struct seen *s = ctx;

    (void)size;
    (void)mtime;
    s->bytes += strlen(key); /* the key must be a readable C string */
    return ++s->n == s->stop_at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct sv_s3_list_page page = {0};
    struct sv_s3_error err;
    struct seen s = {0, len ? data[0] % 8 : 0, 0};

    if (sv_s3_parse_list((const char *)data, len, on_key, &s, &page) == SV_OK) {
        if (page.next_token)
            s.bytes += strlen(page.next_token);
        if (page.nkeys != s.n)
            __builtin_trap();
    }
    sv_s3_list_page_release(&page);
    if (sv_s3_parse_error((const char *)data, len, &err) == SV_OK &&
        (strlen(err.code) >= sizeof(err.code) ||
         strlen(err.message) >= sizeof(err.message)))
        __builtin_trap();
    return 0;
}
