/*
 * engine/crashpoint.h: deterministic crash points for the crash harness.
 *
 * The engine calls sv_crashpoint("put:before-shard") before and after every
 * provider call and catalog write of put, get, rm, recovery and repair.
 * With SV_CRASH_AT=N in the environment, the N-th call of the process kills
 * it with SIGKILL (no cleanup runs, as in a power cut); with
 * SV_CRASH_LOG=path each call appends "N where" to path, so a harness can
 * count the points of a run and then crash at each in turn.
 * Without either variable a call costs an atomic increment and a getenv.
 */
#ifndef SV_CRASHPOINT_H
#define SV_CRASHPOINT_H

void sv_crashpoint(const char *where);

/* Zero the call counter (a forked child starts counting afresh). */
void sv_crashpoint_reset(void);

#endif
