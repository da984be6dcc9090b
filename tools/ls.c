/*
 * tools/ls.c: `shardvault ls [PREFIX] [--json]`: objects in name order with
 * size and modification time (human) or as a JSON array (scripts).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine/shardvault.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE "ls [PREFIX] [--json]"

struct ls_out {
    json_t *arr; /* NULL: human output */
    uint64_t count, bytes;
};

static int one(void *ctx, const struct sv_object_info *o)
{
    struct ls_out *l = ctx;
    char size[32], t[32];

    l->count++;
    l->bytes += o->size;
    if (l->arr) {
        json_array_append_new(
            l->arr,
            json_pack("{s:s, s:I, s:I, s:I, s:i, s:i, s:i}", "name", o->name,
                      "size", (json_int_t)o->size, "mtime",
                      (json_int_t)o->mtime, "created", (json_int_t)o->created,
                      "segments", (int)o->nsegments, "k", (int)o->k, "m",
                      (int)o->m));
        return 0;
    }
    printf("%10s  %s  %s\n", vt_size(o->size, size),
           vt_time(o->mtime ? o->mtime : o->created, t), o->name);
    return 0;
}

int cmd_ls(int argc, char **argv)
{
    const char *prefix = NULL;
    struct ls_out l = {0};
    struct sv_vault *v;
    enum sv_err rc;
    int json = vt_args_json(argc, argv, USAGE, &prefix);

    if (json)
        l.arr = json_array();
    v = vt_open(SV_OPEN_READONLY, NULL);
    rc = sv_ls(v, prefix, one, &l);
    sv_vault_close(v);
    if (rc)
        die_err(rc, "ls: ");
    if (json) {
        json_dumpf(l.arr, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(l.arr);
    }
    return 0;
}
