/*
 * tests/lib/keyfix.c: key fixtures (see keyfix.h).
 */
#include "tests/lib/keyfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tk_path(const char *dir, const char *name)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

struct sv_keyring *tk_keyring(const char *dir, const char *name,
                              uint8_t vault_byte, char **path)
{
    uint8_t vid[SV_VAULT_ID_LEN];
    struct sv_keyring *kr = NULL;
    char *p = tk_path(dir, name);

    memset(vid, vault_byte, sizeof(vid));
    if (!p || sv_keys_create(p, vid) != SV_OK || sv_keys_load(p, &kr) != SV_OK)
        kr = NULL;
    if (path)
        *path = p;
    else
        free(p);
    return kr;
}

struct sv_keyring *tk_maintenance(const struct sv_keyring *kr,
                                  const char *dir, const char *name)
{
    struct sv_keyring *m = NULL;
    char *p = tk_path(dir, name);

    if (!p || sv_keys_export_maintenance(kr, p) != SV_OK ||
        sv_keys_load(p, &m) != SV_OK)
        m = NULL;
    free(p);
    return m;
}
