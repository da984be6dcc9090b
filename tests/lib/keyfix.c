/*
 * tests/lib/keyfix.c: key fixtures (see keyfix.h).
 */
#include "tests/lib/keyfix.h"

#include "engine/catalog.h"

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

void tk_obj_name(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "photos/%03d.jpg", i);
}

static int add_objects(struct sv_cat *cat, const struct sv_keyring *kr, int n,
                       uint8_t (*deks)[SV_DEK_LEN])
{
    struct sv_obj_rec o;
    uint8_t dek[SV_DEK_LEN];
    char name[64];
    int i;

    for (i = 0; i < n; i++) {
        memset(&o, 0, sizeof(o));
        tk_obj_name(i, name, sizeof(name));
        o.name = name;
        sv_keys_new_oid(o.oid);
        sv_keys_new_dek(dek);
        if (deks)
            memcpy(deks[i], dek, SV_DEK_LEN);
        o.k = 4;
        o.m = 2;
        o.cipher = 1;
        o.state = SV_OBJ_LIVE;
        o.segment_size = 8 << 20;
        if (sv_keys_wrap_dek(kr, o.oid, dek, o.wrapped_dek, &o.key_gen) ||
            sv_cat_commit_object(cat, &o, NULL))
            return -1;
    }
    return 0;
}

struct sv_cat *tk_vault(const char *dir, uint8_t vault_byte, int n,
                        uint8_t (*deks)[SV_DEK_LEN], struct sv_keyring **kr,
                        char **key_path)
{
    struct sv_cat_meta meta;
    struct sv_cat *cat = NULL;
    char *cat_dir = tk_path(dir, "catalog");

    *kr = tk_keyring(dir, "vault.key", vault_byte, key_path);
    if (!*kr || !cat_dir || sv_cat_open(cat_dir, 1, &cat))
        goto fail;
    memset(&meta, 0, sizeof(meta));
    meta.schema = SV_CAT_SCHEMA;
    sv_keys_vault_id(*kr, meta.vault_id);
    sv_keys_check_value(*kr, meta.key_check);
    meta.k = 4;
    meta.m = 2;
    if (sv_cat_meta_set(cat, &meta) || add_objects(cat, *kr, n, deks))
        goto fail;
    free(cat_dir);
    return cat;
fail:
    sv_cat_close(cat);
    free(cat_dir);
    return NULL;
}
