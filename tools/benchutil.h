/*
 * tools/benchutil.h: what the benchmarks (tools/bench_*.c) share: clocks,
 * CPU pinning, pseudo-random input and rates.
 */
#ifndef SV_BENCHUTIL_H
#define SV_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/shardvault.h"

/* Seconds on the monotonic clock. */
double bu_now(void);

/* CPU seconds this process used so far (all threads, user + system). */
double bu_cpu_now(void);

/* Run the calling thread, and threads it starts afterwards, on the first
 * ncpu online CPUs (0: all of them). A failure is only warned about, as
 * "who: ..." (the figures then show it). */
void bu_pin(unsigned ncpu, const char *who);

/* len pseudo-random bytes (xorshift64); *x is the state, never 0. */
void bu_fill(uint8_t *p, size_t len, uint64_t *x);

/* Write size pseudo-random bytes from seed (nonzero) to path; dies
 * naming who and the cause if it cannot. */
void bu_make_input(const char *path, uint64_t size, uint64_t seed,
                   const char *who);

/* Whether object name reads back (untimed) as exactly the bytes of file
 * path: sv_get into scratch (a file made and removed again), or into a
 * memfd when scratch is NULL. */
int bu_same_bytes(struct sv_vault *v, const char *name, const char *path,
                  const char *scratch);

/* Make about bytes of memory warm (at most half of what is free): a file
 * of that size in dir (tmpfs) is allocated and removed again, untimed.
 * In a VM that hands freed guest memory back to the host (free page
 * reporting), the first write to such a page faults into the host and
 * costs several times the copy; a timed run right after another reuses
 * the pages its predecessor freed, the first run of a process gets cold
 * ones. Warming before every timed run that writes to tmpfs makes them
 * comparable. A failure is not fatal: the run is then merely colder. */
void bu_warm(const char *dir, uint64_t bytes);

/* bytes / s in GB/s (10^9), 0 for no time. */
double bu_gbs(uint64_t bytes, double s);

#endif
