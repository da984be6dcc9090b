/*
 * engine/config.h: the vault's INI configuration (parsed with inih).
 *
 * Sections: [vault] (k, m, segment_size, cipher, key_file, key_command,
 * shard_prefix, currency), [policy] (max_per_provider, max_per_owner,
 * max_per_jurisdiction, write_quorum), [repair] (grace_period,
 * scrub_period, scrub_bytes_per_pass, max_bytes_per_sec, jobs, interval,
 * reprotect_hours), and one [provider "NAME"] per provider with the common
 * keys below plus the backend's own (providers/provider.h: ops->keys).
 *
 * Any unknown section or key, a bad value or an infeasible policy is
 * refused at load with "file:line: reason" (SV_CONFIG, or SV_POLICY with
 * the numbers that do not add up).
 *
 * Syntax is inih's: `key = value`, comment lines start with ';' or '#', and
 * " ;" starts a comment after a value. Values are taken literally (no
 * quoting). Leading blanks are ignored, so there are no continuation lines.
 * Lines are at most 198 characters; control characters are refused.
 * Provider names are 1 to 32 characters of [A-Za-z0-9._-].
 *
 * A backend's ops->keys entry ending in '*' accepts every key starting
 * with what precedes it ("*" alone accepts any key): for wrappers such as
 * fault that hand keys through to the backend they wrap.
 */
#ifndef SV_CONFIG_H
#define SV_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "providers/provider.h"

struct sv_prov_conf {
    char *name;
    char *type;
    char *owner;        /* defaults to the provider name */
    char *jurisdiction; /* defaults to the provider name */
    uint64_t quota;     /* bytes; 0 = unlimited */
    double weight;      /* placement weight multiplier, default 1 */
    double price_storage, price_egress; /* per GB-month, per GB */
    double price_request;               /* per 1000 requests */
    double annual_loss;                 /* probability per year */
    int line;                           /* of the section header */
    /* Every key of the section (common ones included), for the backend. */
    struct sv_kv *kv;
    size_t nkv;
};

struct sv_config {
    char *path; /* the file, for messages ("" when parsed from memory) */
    char *dir;  /* the vault directory; relative paths resolve here */
    unsigned k, m;
    uint32_t segment_size;
    int cipher; /* enum sv_cipher */
    char *key_file;    /* default "<dir>/vault.key" */
    char *key_command; /* NULL unless set */
    char *shard_prefix; /* default "sv" */
    char *currency;     /* default "USD" */
    unsigned max_per_provider, max_per_owner, max_per_jurisdiction;
    unsigned write_quorum;
    /* [repair] */
    uint64_t grace_period;       /* seconds, default 3600 */
    uint64_t scrub_period;       /* seconds, default 30 days */
    uint64_t max_bytes_per_sec;  /* 0 = unlimited */
    uint64_t scrub_bytes_per_pass; /* deep-scrub budget, default 1 GiB;
                                      0 = unlimited */
    unsigned repair_jobs;        /* default 2 */
    uint64_t repair_interval;    /* seconds between daemon passes, 300 */
    double reprotect_hours;      /* report's assumption, default 24 */
    struct sv_prov_conf *prov;
    size_t nprov;
};

/*
 * Load and validate path; dir is the vault directory (relative paths in
 * the file resolve against it). On SV_OK *out is the caller's.
 * SV_NOTFOUND / SV_IO if unreadable, SV_CONFIG / SV_POLICY when refused,
 * with "file:line: reason" in the detail sentence.
 */
enum sv_err sv_config_load(const char *path, const char *dir,
                           struct sv_config **out) SV_MUST_CHECK;

/* The same over text in memory (fuzzed); name is used in messages. */
enum sv_err sv_config_parse(const char *text, size_t len, const char *name,
                            const char *dir,
                            struct sv_config **out) SV_MUST_CHECK;

void sv_config_free(struct sv_config *cfg);

/* Whether key is a provider key every backend accepts (type, owner,
 * jurisdiction, quota, weight, price_*, ...), handled by the loader. */
int sv_config_common_prov_key(const char *key);

/*
 * Check that the providers can hold n = k + m shards of every segment
 * under the caps (provider, owner, jurisdiction) and that write_quorum is
 * between k and n. SV_POLICY with the numbers, e.g. "6 shards per segment
 * (k=4 m=2) but 3 providers at max_per_provider=1 hold at most 3".
 * Providers with usable[i] == 0 are left out (usable may be NULL).
 */
enum sv_err sv_config_check_policy(const struct sv_config *cfg,
                                   const unsigned char *usable) SV_MUST_CHECK;

/*
 * Whether the caps keep guarantees G1 and G2 (DESIGN.md section 1) for
 * every party: 1 if no provider, owner or jurisdiction can hold k or more
 * shards of a segment (confidentiality) nor more than m (availability);
 * else 0 with a sentence in why saying which party can hold how many, e.g.
 * "confidentiality is not guaranteed: owner aws can hold 4 of the 6 shards
 * of a segment and k=4 rebuild it". Exact over the configured providers
 * (a party's most is a max flow over its own providers under the caps).
 * Not an error: the load accepts such a config and logs a warning.
 */
int sv_config_guarantees(const struct sv_config *cfg, char *why, size_t len);

/* Parse "8M", "10T", "512", "1.5G" (binary units) into bytes. */
enum sv_err sv_parse_size(const char *s, uint64_t *out) SV_MUST_CHECK;
/* Parse "3600", "1h", "30d", "15m", "10s" into seconds. */
enum sv_err sv_parse_duration(const char *s, uint64_t *out) SV_MUST_CHECK;

/* The config text of a new vault: with no providers given, the embedded
 * default (six fs providers under <dir>/providers/, three owners, three
 * jurisdictions, k=4 m=2). malloc'd. */
char *sv_config_default_text(const char *dir);

#endif
