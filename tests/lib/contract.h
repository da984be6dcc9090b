/*
 * tests/lib/contract.h: the provider contract, one suite over every backend
 * (fs, fault over fs, s3 on Ceph RGW, s3 on Swift). Each function asserts
 * with Criterion's cr_assert*, so call it from inside a Test(). The
 * provider p is open and empty under the given prefix.
 */
#ifndef SV_CONTRACT_H
#define SV_CONTRACT_H

#include <stddef.h>

#include "providers/provider.h"

/* 0 bytes, 1 byte and 64 MiB round trips, byte for byte; put from several
 * iov pieces. */
void tu_contract_roundtrip(struct sv_provider *p, const char *prefix);
/* get with offsets and lengths, past the end, off == size. */
void tu_contract_ranges(struct sv_provider *p, const char *prefix);
/* overwrite replaces; head reports the new size. */
void tu_contract_overwrite(struct sv_provider *p, const char *prefix);
/* get/head of a missing key -> SV_NOTFOUND; del of a missing key -> SV_OK. */
void tu_contract_missing(struct sv_provider *p, const char *prefix);
/* list paging over nkeys keys (2,500 in the full suite), page size page:
 * every key seen exactly once, in order, with its size. */
void tu_contract_list_paging(struct sv_provider *p, const char *prefix,
                             unsigned nkeys, size_t page);
/* keys with spaces and + % = round-trip and list back unchanged. */
void tu_contract_odd_names(struct sv_provider *p, const char *prefix);

/* Put len bytes under key, asserting SV_OK. */
void tu_put_bytes(struct sv_provider *p, const char *key, const void *buf,
                  size_t len);
/* Assert that key holds exactly the len bytes want (head and get). */
void tu_expect_bytes(struct sv_provider *p, const char *key, const void *want,
                     size_t len);

/* An sv_list_fn that counts the keys listed into *(unsigned *)ctx. */
int tu_list_count(void *ctx, const char *key, uint64_t size, int64_t mtime);

/* Open provider name from "key", "value" pairs ending with NULL (e.g.
 * "type", "fs", "path", dir, NULL), asserting success; sv_prov_close it. */
struct sv_provider *tu_prov_open(const char *name, ...);
/* The same without asserting: the error code, *out set only on SV_OK. */
enum sv_err tu_prov_try_open(struct sv_provider **out, const char *name, ...);

#endif
