/*
 * tests/engine/config_fallback.h: weak stand-ins for the two functions the
 * config loader needs from modules written in parallel (the provider
 * registry in providers/provider.c and sv_cipher_parse in engine/seal.c),
 * so the config suite and fuzz target link before those are merged. A real
 * definition, when linked, wins over these. Keys are the ones the backends
 * were specified with (fs: path; s3: endpoint ... create_bucket).
 * Included by exactly one file per binary.
 */
#ifndef SV_CONFIG_FALLBACK_H
#define SV_CONFIG_FALLBACK_H

#include <string.h>

#include "engine/seal.h"
#include "providers/provider.h"

static const char *const fb_fs_keys[] = {"path", NULL};
static const char *const fb_s3_keys[] = {
    "endpoint", "bucket",          "region",        "credentials",
    "connect_timeout", "timeout", "max_connections", "create_bucket", NULL};
static const char *const fb_fault_keys[] = {"*", NULL};

static const struct sv_provider_ops fb_ops[] = {
    {.version = SV_PROVIDER_V1, .type = "fs", .keys = fb_fs_keys},
    {.version = SV_PROVIDER_V1, .type = "s3", .keys = fb_s3_keys},
    {.version = SV_PROVIDER_V1, .type = "fault", .keys = fb_fault_keys},
};

__attribute__((weak)) const struct sv_provider_ops *
sv_provider_find(const char *type)
{
    for (size_t i = 0; type && i < sizeof(fb_ops) / sizeof(fb_ops[0]); i++)
        if (!strcmp(fb_ops[i].type, type))
            return &fb_ops[i];
    return NULL;
}

__attribute__((weak)) enum sv_err sv_cipher_parse(const char *name,
                                                  enum sv_cipher *out)
{
    if (name && !strcmp(name, "xchacha20poly1305"))
        *out = SV_CIPHER_XCHACHA20;
    else if (name && !strcmp(name, "aes256gcm"))
        *out = SV_CIPHER_AES256GCM;
    else
        return SV_INVAL;
    return SV_OK;
}

#endif
