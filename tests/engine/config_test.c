/*
 * tests/engine/config_test.c: engine/config.c, the INI configuration.
 *
 * Every key, every refusal (with "file:line: reason"), the defaults, sizes
 * and durations, the embedded default text, and the policy check with the
 * numbers that do not add up.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/config.h"
#include "engine/log.h"
#include "engine/seal.h"
#include "tests/lib/testutil.h"

/* Six fs providers: owners A, B, C; jurisdictions X, Y, Z; 30 lines. */
#define PROV(name, owner, jur)                                                 \
    "[provider \"" name "\"]\ntype = fs\npath = " name "\nowner = " owner      \
    "\njurisdiction = " jur "\n"
#define SIX                                                                    \
    PROV("a1", "A", "X")                                                       \
    PROV("a2", "A", "X") PROV("b1", "B", "Y") PROV("b2", "B", "Y")             \
        PROV("c1", "C", "Z") PROV("c2", "C", "Z")

static struct sv_config *parse_ok(const char *text)
{
    struct sv_config *cfg = NULL;
    enum sv_err rc = sv_config_parse(text, strlen(text), "t.conf", "/v", &cfg);

    cr_assert_eq(rc, SV_OK, "parse failed: %s", sv_errmsg(rc));
    cr_assert_not_null(cfg);
    return cfg;
}

/* Refused with code want and a message containing msg; *out untouched. */
static void parse_bad_len(const char *text, size_t len, enum sv_err want,
                          const char *msg)
{
    struct sv_config *cfg = (struct sv_config *)&want;
    enum sv_err rc = sv_config_parse(text, len, "t.conf", "/v", &cfg);

    cr_expect_eq(rc, want, "for <<%s>>: got %s: %s", text, sv_errname(rc),
                 sv_errmsg(rc));
    cr_expect_not_null(strstr(sv_errmsg(rc), msg),
                       "for <<%s>>: message '%s' lacks '%s'", text,
                       sv_errmsg(rc), msg);
    cr_expect_eq(cfg, (struct sv_config *)&want, "out changed on failure");
    if (rc == SV_OK && cfg != (struct sv_config *)&want)
        sv_config_free(cfg);
}

static void parse_bad(const char *text, enum sv_err want, const char *msg)
{
    parse_bad_len(text, strlen(text), want, msg);
}

static const char *kv_get(const struct sv_prov_conf *pc, const char *key,
                          int *line)
{
    for (size_t i = 0; i < pc->nkv; i++)
        if (!strcmp(pc->kv[i].key, key)) {
            if (line)
                *line = pc->kv[i].line;
            return pc->kv[i].value;
        }
    return NULL;
}

Test(config, defaults)
{
    struct sv_config *cfg = parse_ok(SIX);

    cr_assert_str_eq(cfg->path, "t.conf");
    cr_assert_str_eq(cfg->dir, "/v");
    cr_assert_eq(cfg->k, 4);
    cr_assert_eq(cfg->m, 2);
    cr_assert_eq(cfg->segment_size, 8u << 20);
    cr_assert_eq(cfg->cipher, SV_CIPHER_XCHACHA20);
    cr_assert_str_eq(cfg->key_file, "/v/vault.key");
    cr_assert_null(cfg->key_command);
    cr_assert_str_eq(cfg->shard_prefix, "sv");
    cr_assert_str_eq(cfg->currency, "USD");
    cr_assert_eq(cfg->max_per_provider, 2);
    cr_assert_eq(cfg->max_per_owner, 2);
    cr_assert_eq(cfg->max_per_jurisdiction, 2);
    cr_assert_eq(cfg->write_quorum, 5);
    cr_assert_eq(cfg->grace_period, 3600);
    cr_assert_eq(cfg->scrub_period, 30 * 86400);
    cr_assert_eq(cfg->scrub_bytes_per_pass, 1ULL << 30);
    cr_assert_eq(cfg->max_bytes_per_sec, 0);
    cr_assert_eq(cfg->repair_jobs, 2);
    cr_assert_eq(cfg->repair_interval, 300);
    cr_assert_float_eq(cfg->reprotect_hours, 24.0, 1e-12);
    cr_assert_eq(cfg->nprov, 6);
    cr_assert_str_eq(cfg->prov[0].name, "a1");
    cr_assert_str_eq(cfg->prov[0].type, "fs");
    cr_assert_str_eq(cfg->prov[0].owner, "A");
    cr_assert_str_eq(cfg->prov[5].jurisdiction, "Z");
    cr_assert_eq(cfg->prov[0].quota, 0);
    cr_assert_float_eq(cfg->prov[0].weight, 1.0, 1e-12);
    cr_assert_float_eq(cfg->prov[0].price_storage, 0.0, 1e-12);
    cr_assert_float_eq(cfg->prov[0].annual_loss, 0.0, 1e-12);
    cr_assert_eq(cfg->prov[0].line, 1);
    cr_assert_eq(cfg->prov[1].line, 6);
    cr_assert_eq(cfg->prov[5].line, 26);
    cr_assert_eq(cfg->prov[2].nkv, 4);
    sv_config_free(cfg);
}

Test(config, owner_and_jurisdiction_default_to_the_name)
{
    struct sv_config *cfg = parse_ok("[vault]\nk = 2\nm = 1\n"
                                     "[provider \"p\"]\ntype = fs\n"
                                     "[provider \"q\"]\ntype = fs\n"
                                     "[provider \"r\"]\ntype = fs\n");

    cr_assert_str_eq(cfg->prov[1].owner, "q");
    cr_assert_str_eq(cfg->prov[1].jurisdiction, "q");
    cr_assert_eq(cfg->max_per_provider, 1); /* min(k-1, m) */
    cr_assert_eq(cfg->write_quorum, 3);     /* k+1 capped to n */
    sv_config_free(cfg);
}

Test(config, write_quorum_default_capped_to_n)
{
    /* k=1: k+1 = 2 = n; caps default to max(1, min(0, 1)) = 1. */
    struct sv_config *cfg = parse_ok(
        "[vault]\nk = 1\nm = 1\n" PROV("p", "P", "P") PROV("q", "Q", "Q"));

    cr_assert_eq(cfg->write_quorum, 2);
    cr_assert_eq(cfg->max_per_owner, 1);
    sv_config_free(cfg);
}

Test(config, every_key)
{
    const char *text = "[vault]\n"
                       "k = 3\n"
                       "m = 3\n"
                       "segment_size = 1M\n"
                       "cipher = aes256gcm\n"
                       "key_file = keys/vault.key\n"
                       "key_command = cat /secret\n"
                       "shard_prefix = vault-7\n"
                       "currency = EUR\n"
                       "[policy]\n"
                       "max_per_provider = 1\n"
                       "max_per_owner = 2\n"
                       "max_per_jurisdiction = 2\n"
                       "write_quorum = 6\n"
                       "[repair]\n"
                       "grace_period = 2h\n"
                       "scrub_period = 1w\n"
                       "scrub_bytes_per_pass = 512M\n"
                       "max_bytes_per_sec = 10M\n"
                       "jobs = 8\n"
                       "interval = 90s\n"
                       "reprotect_hours = 6.5\n"
                       "[provider \"s3-1\"]\n" /* line 23 */
                       "type = s3\n"
                       "endpoint = http://127.0.0.1:9000\n"
                       "bucket = shards\n"
                       "region = us-east-1\n"
                       "credentials = env:CNT\n"
                       "connect_timeout = 5\n"
                       "timeout = 30\n"
                       "max_connections = 8\n"
                       "create_bucket = yes\n"
                       "owner = China Telecom\n"
                       "jurisdiction = CN\n"
                       "quota = 10T\n"
                       "weight = 2.5\n"
                       "price_storage = 0.020\n"
                       "price_egress = 0.05\n"
                       "price_request = 0.004\n"
                       "annual_loss = 0.02\n" SIX;
    struct sv_config *cfg = parse_ok(text);
    const struct sv_prov_conf *pc = &cfg->prov[0];
    int line = 0;

    cr_assert_eq(cfg->k, 3);
    cr_assert_eq(cfg->m, 3);
    cr_assert_eq(cfg->segment_size, 1u << 20);
    cr_assert_eq(cfg->cipher, SV_CIPHER_AES256GCM);
    cr_assert_str_eq(cfg->key_file, "/v/keys/vault.key");
    cr_assert_str_eq(cfg->key_command, "cat /secret");
    cr_assert_str_eq(cfg->shard_prefix, "vault-7");
    cr_assert_str_eq(cfg->currency, "EUR");
    cr_assert_eq(cfg->max_per_provider, 1);
    cr_assert_eq(cfg->max_per_owner, 2);
    cr_assert_eq(cfg->max_per_jurisdiction, 2);
    cr_assert_eq(cfg->write_quorum, 6);
    cr_assert_eq(cfg->grace_period, 7200);
    cr_assert_eq(cfg->scrub_period, 7 * 86400);
    cr_assert_eq(cfg->scrub_bytes_per_pass, 512ULL << 20);
    cr_assert_eq(cfg->max_bytes_per_sec, 10ULL << 20);
    cr_assert_eq(cfg->repair_jobs, 8);
    cr_assert_eq(cfg->repair_interval, 90);
    cr_assert_float_eq(cfg->reprotect_hours, 6.5, 1e-12);
    cr_assert_eq(cfg->nprov, 7);
    cr_assert_str_eq(pc->name, "s3-1");
    cr_assert_str_eq(pc->type, "s3");
    cr_assert_str_eq(pc->owner, "China Telecom");
    cr_assert_str_eq(pc->jurisdiction, "CN");
    cr_assert_eq(pc->quota, 10ULL << 40);
    cr_assert_float_eq(pc->weight, 2.5, 1e-12);
    cr_assert_float_eq(pc->price_storage, 0.020, 1e-12);
    cr_assert_float_eq(pc->price_egress, 0.05, 1e-12);
    cr_assert_float_eq(pc->price_request, 0.004, 1e-12);
    cr_assert_float_eq(pc->annual_loss, 0.02, 1e-12);
    cr_assert_eq(pc->line, 23);
    /* Every key of the section is handed to the backend, common ones too. */
    cr_assert_eq(pc->nkv, 17);
    cr_assert_str_eq(kv_get(pc, "endpoint", &line), "http://127.0.0.1:9000");
    cr_assert_eq(line, 25);
    cr_assert_str_eq(kv_get(pc, "create_bucket", &line), "yes");
    cr_assert_eq(line, 32);
    cr_assert_str_eq(kv_get(pc, "quota", NULL), "10T");
    cr_assert_str_eq(kv_get(pc, "type", &line), "s3");
    cr_assert_eq(line, 24);
    cr_assert_null(kv_get(pc, "path", NULL));
    sv_config_free(cfg);
}

Test(config, absolute_key_file_and_wildcard_backend_keys)
{
    struct sv_config *cfg =
        parse_ok("[vault]\nkey_file = /etc/sv/vault.key\n"
                 "[provider \"f\"]\ntype = fault\nfail_put = 3\n"
                 "inner_path = x\n" SIX);

    cr_assert_str_eq(cfg->key_file, "/etc/sv/vault.key");
    cr_assert_str_eq(kv_get(&cfg->prov[0], "fail_put", NULL), "3");
    sv_config_free(cfg);
}

Test(config, syntax_variants)
{
    /* BOM, CRLF, leading blanks, '#' and ';' comments, inline comments,
     * ':' separators, blanks inside the brackets. */
    const char *text = "\xEF\xBB\xBF# top comment\r\n"
                       "[ vault ]\r\n"
                       "  k = 3 ; inline comment\r\n"
                       "\tm: 2\r\n"
                       "\r\n"
                       "; another\n"
                       "[provider \"p\"]\n"
                       "   type = fs\n" PROV("q", "Q", "Q") PROV("r", "R", "R")
                           PROV("s", "S", "S") PROV("t", "T", "T");
    struct sv_config *cfg = parse_ok(text);

    cr_assert_eq(cfg->k, 3);
    cr_assert_eq(cfg->m, 2);
    cr_assert_eq(cfg->prov[0].line, 7);
    cr_assert_str_eq(cfg->prov[0].type, "fs");
    sv_config_free(cfg);
}

struct bad {
    const char *text;
    enum sv_err rc;
    const char *msg;
};

Test(config, refusals_name_file_and_line)
{
    static const struct bad bad[] = {
        {"[bogus]\n" SIX, SV_CONFIG, "t.conf:1: unknown section [bogus]"},
        {SIX "[vaults]\n", SV_CONFIG, "t.conf:31: unknown section [vaults]"},
        {"[providers]\n" SIX, SV_CONFIG, "t.conf:1: unknown section"},
        {"[vault]\nbogus = 1\n" SIX, SV_CONFIG,
         "t.conf:2: unknown key 'bogus' in [vault]"},
        {"[policy]\nk = 4\n" SIX, SV_CONFIG,
         "t.conf:2: unknown key 'k' in [policy]"},
        {"[repair]\nmax_per_owner = 1\n" SIX, SV_CONFIG,
         "t.conf:2: unknown key 'max_per_owner' in [repair]"},
        {"k = 4\n" SIX, SV_CONFIG, "t.conf:1: key 'k' outside any section"},
        {"[vault]\n[vault]\n" SIX, SV_CONFIG,
         "t.conf:2: duplicate section [vault] (first at line 1)"},
        {"[policy]\n" SIX "[policy]\n", SV_CONFIG,
         "t.conf:32: duplicate section [policy] (first at line 1)"},
        {"[vault]\nk = 4\nk = 5\n" SIX, SV_CONFIG,
         "t.conf:3: duplicate key 'k' (first at line 2)"},
        {SIX "[provider \"a1\"]\ntype = fs\n", SV_CONFIG,
         "t.conf:31: duplicate provider \"a1\" (first at line 1)"},
        {"[provider a1]\n" SIX, SV_CONFIG,
         "t.conf:1: section [provider a1]: expected [provider \"NAME\"]"},
        {"[provider \"x\"y]\n" SIX, SV_CONFIG,
         "t.conf:1: section [provider \"x\"y]: expected"},
        {"[provider \"a b\"]\n" SIX, SV_CONFIG,
         "t.conf:1: section [provider \"a b\"]: a provider name is 1 to 32"},
        {"[provider \"\"]\n" SIX, SV_CONFIG, "t.conf:1: section [provider "},
        {"[provider \"-x\"]\n" SIX, SV_CONFIG, "a provider name is"},
        {"[vault]\nk = 0\n" SIX, SV_CONFIG,
         "t.conf:2: k = 0: must be between 1 and 254"},
        {"[vault]\nk = abc\n" SIX, SV_CONFIG,
         "t.conf:2: k = abc: not a whole number"},
        {"[vault]\nk = -1\n" SIX, SV_CONFIG, "t.conf:2: k = -1: not a whole"},
        {"[vault]\nk = 4.5\n" SIX, SV_CONFIG, "t.conf:2: k = 4.5: not a whole"},
        {"[vault]\nk = 99999999999999999999999\n" SIX, SV_CONFIG,
         "t.conf:2: k = 9"},
        {"[vault]\nm = 0\n" SIX, SV_CONFIG,
         "t.conf:2: m = 0: must be between 1 and 254"},
        {"[vault]\nk = 200\nm = 100\n" SIX, SV_CONFIG,
         "t.conf:3: k + m = 300: at most 255 shards per segment"},
        {"[vault]\nm = 100\nk = 200\n" SIX, SV_CONFIG, "t.conf:3: k + m = 300"},
        {"[vault]\nsegment_size = 100\n" SIX, SV_CONFIG,
         "t.conf:2: segment_size = 100: must be a multiple of 64 bytes from "
         "4K to 1G"},
        {"[vault]\nsegment_size = 4100\n" SIX, SV_CONFIG,
         "t.conf:2: segment_size = 4100: must be a multiple of 64"},
        {"[vault]\nsegment_size = 2G\n" SIX, SV_CONFIG,
         "t.conf:2: segment_size = 2G: must be"},
        {"[vault]\nsegment_size = abc\n" SIX, SV_CONFIG,
         "t.conf:2: segment_size: size 'abc'"},
        {"[vault]\ncipher = rot13\n" SIX, SV_CONFIG,
         "t.conf:2: cipher = rot13: unknown cipher"},
        {"[vault]\nshard_prefix = a/b\n" SIX, SV_CONFIG,
         "t.conf:2: shard_prefix = a/b: 1 to 32 characters"},
        {"[vault]\ncurrency = usd\n" SIX, SV_CONFIG,
         "t.conf:2: currency = usd: a currency is three capital letters"},
        {"[vault]\ncurrency = EURO\n" SIX, SV_CONFIG, "t.conf:2: currency"},
        {"[vault]\nk =\n" SIX, SV_CONFIG, "t.conf:2: k: no value given"},
        {"[vault]\nkey_file =  ; nothing\n" SIX, SV_CONFIG,
         "t.conf:2: key_file: no value given"},
        {"[provider \"z\"]\ntype = ftp\n" SIX, SV_CONFIG,
         "t.conf:2: provider \"z\": type = ftp: unknown provider type"},
        {"[provider \"z\"]\npath = /x\n" SIX, SV_CONFIG,
         "t.conf:1: provider \"z\": no type"},
        {"[provider \"z\"]\n" SIX, SV_CONFIG,
         "t.conf:1: provider \"z\": no type"},
        {SIX "[provider \"z\"]\ntype = fs\nendpoint = http://x\n", SV_CONFIG,
         "t.conf:33: provider \"z\": unknown key 'endpoint' for type fs"},
        {"[provider \"z\"]\nbucket = b\ntype = fs\n" SIX, SV_CONFIG,
         "t.conf:2: provider \"z\": unknown key 'bucket' for type fs"},
        {"[provider \"z\"]\ntype = s3\npath = /x\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": unknown key 'path' for type s3"},
        {"[provider \"z\"]\ntype = fs\ntype = s3\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": duplicate key 'type' (first at line 2)"},
        {"[provider \"z\"]\ntype = fs\nquota = lots\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": quota: size 'lots'"},
        {"[provider \"z\"]\ntype = fs\nweight = 0\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": weight = 0: must be greater than 0"},
        {"[provider \"z\"]\ntype = fs\nweight = -1\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": weight = -1: must be greater than 0"},
        {"[provider \"z\"]\ntype = fs\nprice_storage = -0.1\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": price_storage = -0.1: must be 0 or more"},
        {"[provider \"z\"]\ntype = fs\nprice_egress = cheap\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": price_egress = cheap: not a number"},
        {"[provider \"z\"]\ntype = fs\nprice_request = nan\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": price_request = nan: not a number"},
        {"[provider \"z\"]\ntype = fs\nprice_request = 1e999\n" SIX, SV_CONFIG,
         "price_request = 1e999: not a number"},
        {"[provider \"z\"]\ntype = fs\nannual_loss = 1.5\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": annual_loss = 1.5: a probability is"},
        {"[provider \"z\"]\ntype = fs\nowner =\n" SIX, SV_CONFIG,
         "t.conf:3: provider \"z\": owner: no value given"},
        {"[vault]\nk = 4\n[policy]\nwrite_quorum = 3\n" SIX, SV_CONFIG,
         "t.conf:4: write_quorum = 3: must be between k=4 and k+m=6"},
        {"[policy]\nwrite_quorum = 7\n" SIX, SV_CONFIG,
         "t.conf:2: write_quorum = 7: must be between k=4 and k+m=6"},
        {"[policy]\nmax_per_provider = 0\n" SIX, SV_CONFIG,
         "t.conf:2: max_per_provider = 0: must be between 1 and 255"},
        {"[policy]\nmax_per_owner = x\n" SIX, SV_CONFIG,
         "t.conf:2: max_per_owner = x: not a whole number"},
        {"[policy]\nmax_per_jurisdiction = 256\n" SIX, SV_CONFIG,
         "t.conf:2: max_per_jurisdiction = 256: must be between 1 and 255"},
        {"[repair]\njobs = 0\n" SIX, SV_CONFIG,
         "t.conf:2: jobs = 0: must be between 1 and 1024"},
        {"[repair]\ninterval = 0\n" SIX, SV_CONFIG,
         "t.conf:2: interval = 0: must be at least 1 second"},
        {"[repair]\ngrace_period = 1y\n" SIX, SV_CONFIG,
         "t.conf:2: grace_period: duration '1y'"},
        {"[repair]\nscrub_period = 0\n" SIX, SV_CONFIG,
         "t.conf:2: scrub_period = 0: must be at least 1 second"},
        {"[repair]\nreprotect_hours = 0\n" SIX, SV_CONFIG,
         "t.conf:2: reprotect_hours = 0: must be greater than 0"},
        {"[repair]\nmax_bytes_per_sec = -5\n" SIX, SV_CONFIG,
         "t.conf:2: max_bytes_per_sec: size '-5'"},
        {"[repair]\nscrub_bytes_per_pass = 1Q\n" SIX, SV_CONFIG,
         "t.conf:2: scrub_bytes_per_pass: size '1Q'"},
        {"[vault]\nk\n" SIX, SV_CONFIG,
         "t.conf:2: expected [section] or key = value"},
        {"[vault\nk = 4\n" SIX, SV_CONFIG,
         "t.conf:1: section header without ']'"},
        {"[vault]\n[policy\nmax_per_owner = 2\n" SIX, SV_CONFIG,
         "t.conf:2: section header without ']'"},
        {"[vault]\n[policy]\n[repair]\nnonsense\n" SIX, SV_CONFIG,
         "t.conf:4: expected [section] or key = value"},
        {"[vault]\nk = 4\n[policy]\n[repair]\n\n; c\njobs = x\n" SIX, SV_CONFIG,
         "t.conf:7: jobs = x: not a whole number"},
        {"[vault]\nk = 4\x01\n" SIX, SV_CONFIG,
         "t.conf:2: control character 0x01"},
        {"[vault]\nk = 4\x7f\n" SIX, SV_CONFIG,
         "t.conf:2: control character 0x7f"},
        {"[]\n" SIX, SV_CONFIG, "t.conf:1: empty section name []"},
        {"[   ]\n" SIX, SV_CONFIG, "t.conf:1: empty section name []"},
        {"[provider \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n" SIX,
         SV_CONFIG, "t.conf:1: section name [provider"},
        {SIX
         "[vault]\nk = 2\n[provider \"abcdefghijklmnopqrstuvwxyz0123456\"]\n",
         SV_CONFIG, "t.conf:33: section [provider \"abcdefghijklmnopqrstuvwx"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_bad(bad[i].text, bad[i].rc, bad[i].msg);
}

Test(config, nul_byte_and_long_line)
{
    static const char nul[] = "[vault]\nk = 4\0\n" SIX;
    char *longline = NULL;

    parse_bad_len(nul, sizeof(nul) - 1, SV_CONFIG,
                  "t.conf:2: control character 0x00");
    cr_assert(asprintf(&longline, "[vault]\n; %0250d\n" SIX, 0) > 0);
    parse_bad(longline, SV_CONFIG, "t.conf:2: line longer than 198 characters");
    free(longline);
    /* 198 characters exactly is fine. */
    cr_assert(asprintf(&longline, "[vault]\n;%0197d\n" SIX, 0) > 0);
    sv_config_free(parse_ok(longline));
    free(longline);
}

Test(config, infeasible_policies_give_the_numbers)
{
    static const struct bad bad[] = {
        /* DESIGN.md: 3 providers for k=4 m=4 with max 2 each. */
        {"[vault]\nk = 4\nm = 4\n[policy]\nmax_per_provider = 2\n"
         "max_per_owner = 2\nmax_per_jurisdiction = 2\n" PROV("p", "P", "P")
             PROV("q", "Q", "Q") PROV("r", "R", "R"),
         SV_POLICY,
         "t.conf:4: 8 shards per segment (k=4 m=4) but the 3 usable "
         "providers hold at most 6 at max_per_provider=2"},
        {"[policy]\nmax_per_provider = 1\n" PROV("p", "P", "P")
             PROV("q", "Q", "Q") PROV("r", "R", "R"),
         SV_POLICY,
         "t.conf:1: 6 shards per segment (k=4 m=2) but the 3 usable "
         "providers hold at most 3 at max_per_provider=1"},
        {"[vault]\n" PROV("a1", "A", "X") PROV("a2", "A", "Y")
             PROV("a3", "A", "Z") PROV("b1", "B", "X") PROV("b2", "B", "Y")
                 PROV("b3", "B", "Z"),
         SV_POLICY,
         "t.conf:1: 6 shards per segment (k=4 m=2) but the 2 owners of the "
         "usable providers hold at most 4 at max_per_owner=2"},
        {PROV("a1", "A", "X") PROV("a2", "B", "Y") PROV("a3", "C", "X")
             PROV("b1", "D", "Y") PROV("b2", "E", "X") PROV("b3", "F", "Y"),
         SV_POLICY,
         "t.conf: 6 shards per segment (k=4 m=2) but the 2 jurisdictions of "
         "the usable providers hold at most 4 at max_per_jurisdiction=2"},
        /* Owners and jurisdictions cross: no single cap explains it. */
        {"[vault]\nk = 2\nm = 1\n" PROV("p", "A", "X") PROV("q", "B", "X")
             PROV("r", "C", "Y") PROV("s", "C", "Z"),
         SV_POLICY,
         "t.conf:1: 3 shards per segment (k=2 m=1) but the 4 usable "
         "providers (3 owners, 3 jurisdictions) hold at most 2 under "
         "max_per_provider=1, max_per_owner=1 and max_per_jurisdiction=1 "
         "together"},
        {"[vault]\nk = 4\n", SV_POLICY,
         "t.conf:1: 6 shards per segment (k=4 m=2) but no provider is "
         "usable"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_bad(bad[i].text, bad[i].rc, bad[i].msg);
}

Test(config, first_error_wins)
{
    parse_bad("[vault]\nk = 0\nbogus = 1\n[zzz]\n", SV_CONFIG,
              "t.conf:2: k = 0");
    parse_bad("[vault]\nnonsense\nk = 0\n", SV_CONFIG,
              "t.conf:2: expected [section]");
}

Test(config, check_policy_with_usable_mask)
{
    struct sv_config *cfg = parse_ok(SIX);
    unsigned char usable[6] = {1, 1, 1, 1, 1, 1};
    enum sv_err rc;

    cr_assert_eq(sv_config_check_policy(cfg, NULL), SV_OK);
    cr_assert_eq(sv_config_check_policy(cfg, usable), SV_OK);
    usable[0] = 0; /* owner A keeps a2, which may hold 2 */
    cr_assert_eq(sv_config_check_policy(cfg, usable), SV_OK);
    usable[1] = 0; /* owner A gone: 2 owners left */
    rc = sv_config_check_policy(cfg, usable);
    cr_assert_eq(rc, SV_POLICY);
    cr_assert_str_eq(sv_errmsg(rc),
                     "t.conf: 6 shards per segment (k=4 m=2) but the 2 owners "
                     "of the usable providers hold at most 4 at "
                     "max_per_owner=2");
    memset(usable, 0, sizeof(usable));
    rc = sv_config_check_policy(cfg, usable);
    cr_assert_eq(rc, SV_POLICY);
    cr_assert_not_null(strstr(sv_errmsg(rc), "no provider is usable"));

    cfg->write_quorum = 7;
    rc = sv_config_check_policy(cfg, NULL);
    cr_assert_eq(rc, SV_POLICY);
    cr_assert_not_null(
        strstr(sv_errmsg(rc), "write_quorum=7 is outside [k=4, k+m=6]"));
    cfg->write_quorum = 3;
    cr_assert_eq(sv_config_check_policy(cfg, NULL), SV_POLICY);
    cfg->write_quorum = 4;
    cr_assert_eq(sv_config_check_policy(cfg, NULL), SV_OK);
    cfg->max_per_owner = 0;
    cr_assert_eq(sv_config_check_policy(cfg, NULL), SV_INVAL);
    cfg->max_per_owner = 2;
    cfg->k = 0;
    cr_assert_eq(sv_config_check_policy(cfg, NULL), SV_INVAL);
    cfg->k = 4;
    cr_assert_eq(sv_config_check_policy(NULL, NULL), SV_INVAL);
    sv_config_free(cfg);
}

Test(config, guarantees)
{
    struct sv_config *cfg = parse_ok(SIX);
    char why[512] = "x";

    cr_assert_eq(sv_config_guarantees(cfg, why, sizeof(why)), 1);
    cr_assert_str_eq(why, "");

    /* Three per owner: more than m=2, fewer than k=4. */
    cfg->max_per_owner = 3;
    cfg->max_per_jurisdiction = 3;
    cr_assert_eq(sv_config_guarantees(cfg, why, sizeof(why)), 0);
    cr_assert_null(strstr(why, "confidentiality"), "%s", why);
    cr_assert_not_null(strstr(why, "availability is not guaranteed: owner A "
                                   "can hold 3 of the 6 shards of a segment, "
                                   "more than m=2"),
                       "%s", why);

    /* A jurisdiction of two providers at 2 each could hold 4 = k, unless
     * the owner cap (same providers) stops it. */
    cfg->max_per_owner = 4;
    cfg->max_per_jurisdiction = 4;
    cr_assert_eq(sv_config_guarantees(cfg, why, sizeof(why)), 0);
    cr_assert_not_null(strstr(why, "confidentiality is not guaranteed: "
                                   "owner A can hold 4 of the 6 shards of a "
                                   "segment and k=4 rebuild it"),
                       "%s", why);
    cr_assert_not_null(strstr(why, "; availability is not guaranteed"), "%s",
                       why);

    /* Loose owner caps, but each owner's providers hold 1 each: fine. */
    cfg->max_per_provider = 1;
    cfg->max_per_owner = 5;
    cfg->max_per_jurisdiction = 5;
    cr_assert_eq(sv_config_guarantees(cfg, why, sizeof(why)), 1, "%s", why);

    /* A single provider allowed 4. */
    cfg->max_per_provider = 4;
    cfg->max_per_owner = 4;
    cfg->max_per_jurisdiction = 4;
    cr_assert_eq(sv_config_guarantees(cfg, NULL, 0), 0);

    cr_assert_eq(sv_config_guarantees(NULL, why, sizeof(why)), 0);
    cr_assert_str_neq(why, "");
    sv_config_free(cfg);
}

static char warned[1024];

static void grab_log(void *ctx, enum sv_log_level level, const char *msg)
{
    (void)ctx;
    if (level == SV_LOG_WARN)
        snprintf(warned, sizeof(warned), "%s", msg);
}

Test(config, weak_guarantees_are_a_warning_not_an_error)
{
    struct sv_config *cfg;

    warned[0] = '\0';
    sv_log_set(grab_log, NULL, SV_LOG_DEBUG);
    cfg = parse_ok("[policy]\nmax_per_owner = 3\nmax_per_jurisdiction = 3\n"
                   "max_per_provider = 3\n" SIX);
    sv_log_set(NULL, NULL, SV_LOG_ERROR);
    cr_assert_not_null(strstr(warned, "t.conf: availability is not "
                                      "guaranteed"),
                       "warning: '%s'", warned);
    sv_config_free(cfg);
}

Test(config, sizes)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"0", 0},
        {"512", 512},
        {"1K", 1024},
        {"1k", 1024},
        {"4K", 4096},
        {"8M", 8ULL << 20},
        {"1.5G", 3ULL << 29},
        {"0.5K", 512},
        {".5K", 512},
        {"10T", 10ULL << 40},
        {"2P", 2ULL << 50},
        {"15E", 15ULL << 60},
        {"1KB", 1024},
        {"1KiB", 1024},
        {"3 M", 3ULL << 20},
        {"7B", 7},
        {"18446744073709551615", UINT64_MAX},
    };
    static const char *const bad[] = {
        "",    "M",   "-1", "1X", "1.5", "16E",  "18446744073709551616",
        "1K ", "1Kx", "+1", " 1", "1e3", "0x10", "1..5K",
    };
    uint64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = 42;
        cr_expect_eq(sv_parse_size(ok[i].s, &v), SV_OK, "%s", ok[i].s);
        cr_expect_eq(v, ok[i].v, "%s -> %llu", ok[i].s, (unsigned long long)v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 42;
        cr_expect_eq(sv_parse_size(bad[i], &v), SV_INVAL, "'%s'", bad[i]);
        cr_expect_eq(v, 42, "'%s' changed the output", bad[i]);
        cr_expect_not_null(strstr(sv_errmsg(SV_INVAL), "size '"));
    }
    cr_assert_eq(sv_parse_size(NULL, &v), SV_INVAL);
    cr_assert_eq(sv_parse_size("1", NULL), SV_INVAL);
}

Test(config, durations)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"0", 0},     {"3600", 3600}, {"1h", 3600},    {"30d", 2592000},
        {"15m", 900}, {"10s", 10},    {"2w", 1209600}, {"1.5h", 5400},
        {"0.5m", 30}, {"90 s", 90},
    };
    static const char *const bad[] = {
        "",
        "h",
        "1y",
        "1hh",
        "1.5",
        "-1",
        "1H",
        "1h30m",
        "40000000000000w",
        "99999999999999999999999",
    };
    uint64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = 42;
        cr_expect_eq(sv_parse_duration(ok[i].s, &v), SV_OK, "%s", ok[i].s);
        cr_expect_eq(v, ok[i].v, "%s -> %llu", ok[i].s, (unsigned long long)v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 42;
        cr_expect_eq(sv_parse_duration(bad[i], &v), SV_INVAL, "'%s'", bad[i]);
        cr_expect_eq(v, 42);
    }
    cr_assert_eq(sv_parse_duration(NULL, &v), SV_INVAL);
    cr_assert_eq(sv_parse_duration("1", NULL), SV_INVAL);
}

static int distinct(const struct sv_config *cfg, int owners)
{
    int count = 0;

    for (size_t i = 0; i < cfg->nprov; i++) {
        size_t j;
        const char *a = owners ? cfg->prov[i].owner : cfg->prov[i].jurisdiction;

        for (j = 0; j < i; j++)
            if (!strcmp(a, owners ? cfg->prov[j].owner
                                  : cfg->prov[j].jurisdiction))
                break;
        count += j == i;
    }
    return count;
}

Test(config, default_text_parses_back_and_keeps_the_promises)
{
    char *text = sv_config_default_text("/srv/vault");
    struct sv_config *cfg = NULL;
    char why[512];
    const char *line;
    enum sv_err rc;

    cr_assert_not_null(text);
    rc = sv_config_parse(text, strlen(text), "default", "/srv/vault", &cfg);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_eq(cfg->k, 4);
    cr_assert_eq(cfg->m, 2);
    cr_assert_eq(cfg->nprov, 6);
    cr_assert_eq(distinct(cfg, 1), 3);
    cr_assert_eq(distinct(cfg, 0), 3);
    cr_assert_eq(sv_config_check_policy(cfg, NULL), SV_OK);
    cr_assert_eq(sv_config_guarantees(cfg, why, sizeof(why)), 1, "%s", why);
    cr_assert_str_eq(cfg->key_file, "/srv/vault/vault.key");
    for (size_t i = 0; i < cfg->nprov; i++) {
        const struct sv_prov_conf *pc = &cfg->prov[i];
        char want[64];

        cr_assert_str_eq(pc->type, "fs");
        snprintf(want, sizeof(want), "providers/%s", pc->name);
        cr_assert_str_eq(kv_get(pc, "path", NULL), want);
        cr_assert_gt(pc->quota, 0);
        cr_assert_gt(pc->price_storage, 0);
        cr_assert_gt(pc->annual_loss, 0);
        /* Two providers per owner, and an owner sits in one jurisdiction
         * that no other owner shares. */
        for (size_t j = 0; j < cfg->nprov; j++)
            cr_assert_eq(!strcmp(pc->owner, cfg->prov[j].owner),
                         !strcmp(pc->jurisdiction, cfg->prov[j].jurisdiction));
    }
    cr_assert_not_null(strstr(text, "/srv/vault"));
    for (line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);

        cr_assert_leq(len, 80, "template line too wide: %.*s", (int)len, line);
        line += len + (nl != NULL);
    }
    sv_config_free(cfg);
    free(text);
}

Test(config, default_text_with_odd_or_no_dir)
{
    char *text = sv_config_default_text("evil\n[vault]\nk = 0");
    struct sv_config *cfg = NULL;

    cr_assert_not_null(text);
    cr_assert_eq(sv_config_parse(text, strlen(text), "d", "x", &cfg), SV_OK,
                 "%s", sv_errmsg(SV_CONFIG));
    cr_assert_eq(cfg->k, 4);
    sv_config_free(cfg);
    free(text);
    text = sv_config_default_text(NULL);
    cr_assert_not_null(text);
    cr_assert_eq(sv_config_parse(text, strlen(text), NULL, NULL, &cfg), SV_OK);
    cr_assert_str_eq(cfg->key_file, "./vault.key");
    cr_assert_str_eq(cfg->path, "");
    sv_config_free(cfg);
    free(text);
}

Test(config, load_from_a_file)
{
    char *dir = tu_tmpdir("config");
    char *path = NULL, *big = NULL;
    struct sv_config *cfg = NULL;
    const char *bad = "[vault]\nk = 9\nm = zero\n" SIX;
    enum sv_err rc;

    cr_assert_not_null(dir);
    cr_assert(asprintf(&path, "%s/vault.conf", dir) > 0);
    cr_assert_eq(tu_write_file(path, SIX, strlen(SIX)), 0);
    rc = sv_config_load(path, dir, &cfg);
    cr_assert_eq(rc, SV_OK, "%s", sv_errmsg(rc));
    cr_assert_str_eq(cfg->path, path);
    cr_assert_eq(cfg->nprov, 6);
    sv_config_free(cfg);
    cfg = NULL;

    cr_assert_eq(tu_write_file(path, bad, strlen(bad)), 0);
    rc = sv_config_load(path, dir, &cfg);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert_null(cfg);
    {
        char want[600];

        snprintf(want, sizeof(want), "%s:3: m = zero: not a whole number",
                 path);
        cr_assert_str_eq(sv_errmsg(rc), want);
    }

    cr_assert_eq(sv_config_load(dir, dir, &cfg), SV_CONFIG); /* a dir */
    big = calloc(1, (1u << 20) + 2);
    memset(big, ';', (1u << 20) + 1);
    cr_assert_eq(tu_write_file(path, big, (1u << 20) + 1), 0);
    rc = sv_config_load(path, dir, &cfg);
    cr_assert_eq(rc, SV_CONFIG);
    cr_assert_not_null(strstr(sv_errmsg(rc), "larger than"));
    free(big);
    free(path);

    cr_assert(asprintf(&path, "%s/missing.conf", dir) > 0);
    rc = sv_config_load(path, dir, &cfg);
    cr_assert_eq(rc, SV_NOTFOUND);
    cr_assert_not_null(strstr(sv_errmsg(rc), "missing.conf"));
    cr_assert_null(cfg);
    free(path);
    tu_rmrf(dir);
    free(dir);
}

Test(config, bad_arguments)
{
    struct sv_config *cfg = NULL;

    cr_assert_eq(sv_config_parse(NULL, 0, "x", "/v", &cfg), SV_INVAL);
    cr_assert_eq(sv_config_parse(SIX, strlen(SIX), "x", "/v", NULL), SV_INVAL);
    cr_assert_eq(sv_config_load(NULL, "/v", &cfg), SV_INVAL);
    cr_assert_eq(sv_config_load("/nonexistent", "/v", NULL), SV_INVAL);
    cr_assert_null(cfg);
    sv_config_free(NULL);
    /* Empty text: no providers, so the policy cannot hold. */
    cr_assert_eq(sv_config_parse("", 0, "x", "/v", &cfg), SV_POLICY);
}
