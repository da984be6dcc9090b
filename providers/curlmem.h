/*
 * providers/curlmem.h: libcurl's memory, wiped when freed.
 *
 * libcurl keeps its own copies of what it is given, the S3 secret among
 * them (CURLOPT_PASSWORD), and frees them without clearing them. The S3
 * backend initialises libcurl with these callbacks (curl_global_init_mem),
 * so every block libcurl frees, or outgrows in a realloc, is zeroed first.
 * The cost is a memset per free of small blocks, next to a network call.
 */
#ifndef SV_CURLMEM_H
#define SV_CURLMEM_H

#include <stddef.h>

void *sv_curl_malloc(size_t n);
void *sv_curl_calloc(size_t nmemb, size_t size);
void *sv_curl_realloc(void *p, size_t n);
char *sv_curl_strdup(const char *s);
void sv_curl_free(void *p);

/* Tests: what finally releases a wiped block (default: free). */
extern void (*sv_curl_release)(void *p);

#endif
