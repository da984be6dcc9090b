/*
 * engine/shardvault.h: the public API of the shardvault engine.
 *
 * shardvault encrypts each object on the operator's side, erasure-codes the
 * ciphertext into k data + m parity shards and places them across
 * independent providers so that no single provider, owner or jurisdiction
 * holds enough to rebuild anything and losing any one loses nothing.
 *
 * Library manners: functions that can fail return enum sv_err; the detail
 * sentence (object, provider, cause) is sv_errmsg(rc) on the same thread.
 * The library never prints, exits or installs signal handlers; it logs
 * through sv_log_set().
 */
#ifndef SHARDVAULT_H
#define SHARDVAULT_H

#include "engine/error.h"
#include "engine/log.h"

#endif
