/*
 * tests/lib/reportvault.h: a small vault (config file and catalog) with
 * known contents, for the report's loader and command tests.
 *
 * <dir>/shardvault.conf: k=2 m=1, currency EUR, reprotect_hours 12,
 * providers a, b, c, d (fs), in that order; d is marked down in the
 * catalog. <dir>/catalog: ten objects "obj/00".."obj/09"; every one but
 * obj/05 is one segment of RV_PAYLOAD bytes of ciphertext on a, b, c;
 * obj/03's shard on c is missing; obj/05 is two segments on a, b, d.
 * Two repair queue entries, three days of history ending on RV_DAY,
 * a measured repair rate of 1000000 bytes per second.
 */
#ifndef SV_REPORTVAULT_H
#define SV_REPORTVAULT_H

#define RV_DAY 20000      /* the last history day (2024-10-04) */
#define RV_PAYLOAD 4016   /* ciphertext + tag per segment */
#define RV_CHUNK 2048     /* EC chunk: payload / k rounded up to 64 */
#define RV_RECORD 200     /* sealed record on the last segment's shards */

/* Build it under dir (which exists); 0 on success. */
int rv_build(const char *dir);

#endif
