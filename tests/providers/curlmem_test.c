/*
 * tests/providers/curlmem_test.c: libcurl's memory callbacks zero every
 * block before releasing it (the S3 secret's copies among them), and keep
 * what libcurl asked for.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "providers/curlmem.h"

static unsigned released, dirty;

/* Stands in for free(): counts the blocks, and those not all zero. */
static void check_release(void *p)
{
    const unsigned char *b = p;
    size_t i, n = malloc_usable_size(p);

    released++;
    for (i = 0; i < n; i++)
        if (b[i]) {
            dirty++;
            break;
        }
    free(p);
}

static void setup(void)
{
    released = dirty = 0;
    sv_curl_release = check_release;
}

static void teardown(void)
{
    sv_curl_release = free;
}

TestSuite(curlmem, .init = setup, .fini = teardown);

Test(curlmem, freed_blocks_are_zeroed)
{
    char *s = sv_curl_strdup("AKIA-secret-key-0123456789abcdef");
    unsigned char *m = sv_curl_malloc(1000), *c = sv_curl_calloc(10, 30);

    cr_assert(s && m && c);
    cr_assert_str_eq(s, "AKIA-secret-key-0123456789abcdef");
    memset(m, 0xA5, 1000);
    memset(c, 0x5A, 300);
    sv_curl_free(s);
    sv_curl_free(m);
    sv_curl_free(c);
    sv_curl_free(NULL);
    cr_assert_eq(released, 3);
    cr_assert_eq(dirty, 0, "a freed block kept its bytes");
}

/* Growing past the block moves it: the old copy is wiped and the bytes
 * arrive; shrinking or growing within the block keeps it in place. */
Test(curlmem, realloc_wipes_the_block_it_leaves)
{
    char *p = sv_curl_malloc(24), *q;
    size_t room = malloc_usable_size(p);

    cr_assert(p);
    memcpy(p, "password=hunter2-secret", 24);
    q = sv_curl_realloc(p, room);
    cr_assert_eq(q, p, "a size within the block keeps it");
    cr_assert_eq(released, 0);
    q = sv_curl_realloc(p, 1 << 20);
    cr_assert(q);
    cr_assert_str_eq(q, "password=hunter2-secret");
    cr_assert_eq(released, 1, "the old block is released");
    cr_assert_eq(dirty, 0, "the old block was zeroed first");
    sv_curl_free(q);
    cr_assert_eq(released, 2);
    cr_assert_eq(dirty, 0);
    q = sv_curl_realloc(NULL, 16);
    cr_assert(q);
    sv_curl_free(q);
}

/* libcurl takes the callbacks: an easy handle given a password allocates
 * and frees through them, and every block it frees is zeroed. */
Test(curlmem, libcurl_uses_them)
{
    CURL *h;

    cr_assert_eq(curl_global_init_mem(CURL_GLOBAL_DEFAULT, sv_curl_malloc,
                                      sv_curl_free, sv_curl_realloc,
                                      sv_curl_strdup, sv_curl_calloc),
                 CURLE_OK);
    h = curl_easy_init();
    cr_assert(h);
    cr_assert_eq(curl_easy_setopt(h, CURLOPT_PASSWORD, "s3cr3t-key"),
                 CURLE_OK);
    curl_easy_cleanup(h);
    cr_assert_gt(released, 0, "libcurl freed nothing through the hooks");
    cr_assert_eq(dirty, 0, "libcurl freed a block that was not zeroed");
    curl_global_cleanup();
}
