/*
 * providers/fault.h: the fault-injection backend (type = fault) and its
 * run-time controls for tests.
 *
 * A fault provider wraps another backend (`inner = fs`, the default, or
 * s3; the inner backend's own keys, e.g. `path`, pass through to it) and
 * injects failures into chosen operations. Configuration, one key per
 * operation:
 *
 *     [provider "flaky"]
 *     type = fault
 *     inner = fs
 *     path = providers/flaky
 *     fault_put = fail:3            ; the 3rd PUT fails (SV_IO)
 *     fault_get = flip, latency:5ms ; every GET: bytes flipped, 5 ms late
 *
 * A spec is "none" or clauses separated by ",":
 *     every              every call fails with SV_IO (same as "fail")
 *     fail[:CALLS]       fail with SV_IO
 *     again[:CALLS]      fail with SV_AGAIN (transient: the wrappers retry)
 *     nospace[:CALLS]    fail with SV_NOSPACE
 *     denied[:CALLS]     fail with SV_DENIED
 *     latency:DUR[@CALLS]  sleep DUR, then do the call
 *     hang:DUR[@CALLS]   sleep DUR, then SV_AGAIN, as a timeout would
 *     flip[:CALLS]       get only: the call succeeds, but every 512th byte
 *                        read (from the first) comes back inverted
 *     drop[:CALLS]       put and del only: report success, do nothing
 * CALLS picks calls of that operation, counted from 1: "N" (only the Nth),
 * "N-M", "N+" (the Nth and later); absent means every call. DUR is a
 * number with "us", "ms" (the default) or "s". Several error clauses may
 * match a call: the first wins.
 *
 * Environment hook for whole-program tests: SV_FAULT_<PROVIDER>_<OP>=spec,
 * PROVIDER being the provider's name upper-cased with every character
 * other than A-Z and 0-9 turned into "_", OP one of PUT GET HEAD DEL LIST
 * STAT, overrides the config's fault_<op> when the provider is opened.
 * Example: SV_FAULT_CN_TELECOM_GET=again shardvault get ...
 */
#ifndef SV_FAULT_H
#define SV_FAULT_H

#include <stdint.h>

#include "providers/provider.h"

enum sv_fault_op {
    SV_FAULT_PUT,
    SV_FAULT_GET,
    SV_FAULT_HEAD,
    SV_FAULT_DEL,
    SV_FAULT_LIST,
    SV_FAULT_STAT,
    SV_FAULT_NOPS
};

/* "put", "get", ... (the config key's suffix); "?" for a bad op. */
const char *sv_fault_op_name(enum sv_fault_op op);

/*
 * Replace op's faults on the open fault provider p with spec (grammar
 * above; NULL or "none" clears) and restart op's call count, so "fail:1"
 * means the next call. SV_INVAL if p is not a fault provider, op is out of
 * range or spec does not parse (the detail says why).
 */
enum sv_err sv_fault_set(struct sv_provider *p, enum sv_fault_op op,
                         const char *spec) SV_MUST_CHECK;

/* Remove every fault of every operation; counts are kept. No-op if p is
 * not a fault provider. */
void sv_fault_clear(struct sv_provider *p);

/* Calls of op that reached the fault layer since open or since the last
 * sv_fault_set of op (retries by the wrappers count, each try once); 0 if
 * p is not a fault provider. */
uint64_t sv_fault_calls(const struct sv_provider *p, enum sv_fault_op op);

/* Faults injected into op since open (errors, hangs, flips, drops;
 * latency alone does not count). 0 if p is not a fault provider. */
uint64_t sv_fault_injected(const struct sv_provider *p, enum sv_fault_op op);

/* The wrapped provider, to reach the stored bytes without faults
 * (borrowed until sv_prov_close of p); NULL if p is not a fault provider. */
struct sv_provider *sv_fault_inner(struct sv_provider *p);

#endif
