/*
 * providers/curlmem.c: libcurl's allocations, zeroed before they are freed
 * (see curlmem.h). malloc_usable_size() gives the whole block, so the
 * slack past what libcurl asked for is cleared too.
 */
#include "providers/curlmem.h"

#include <malloc.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void (*sv_curl_release)(void *p) = free;

void *sv_curl_malloc(size_t n)
{
    return malloc(n);
}

void *sv_curl_calloc(size_t nmemb, size_t size)
{
    return calloc(nmemb, size);
}

void sv_curl_free(void *p)
{
    if (!p)
        return;
    sodium_memzero(p, malloc_usable_size(p));
    sv_curl_release(p);
}

/* Never lets the allocator move a block: a moved block's old copy would be
 * freed unwiped. */
void *sv_curl_realloc(void *p, size_t n)
{
    size_t old;
    void *q;

    if (!p)
        return malloc(n);
    old = malloc_usable_size(p);
    if (n && n <= old)
        return p;
    q = malloc(n ? n : 1);
    if (!q)
        return NULL;
    memcpy(q, p, n && n < old ? n : old);
    sv_curl_free(p);
    return q;
}

char *sv_curl_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d)
        memcpy(d, s, n);
    return d;
}
