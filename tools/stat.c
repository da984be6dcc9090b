/*
 * tools/stat.c: `shardvault stat NAME [--json]`: the object's record, each
 * segment's shards with the provider, owner and jurisdiction holding them,
 * and the object's health (from the catalog; no provider is contacted).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine/shardvault.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE "stat NAME [--json]"

static const char *health_word(const struct sv_stat *s)
{
    if (s->lost)
        return "LOST";
    if (s->degraded)
        return "degraded";
    return "healthy";
}

static void print_json(const struct sv_stat *s)
{
    const struct sv_object_info *o = &s->obj;
    json_t *root, *segs, *shards;
    char id[33], hash[65];
    uint32_t i;
    unsigned j;

    vt_hex(o->oid, sizeof(o->oid), id);
    vt_hex(o->hash, sizeof(o->hash), hash);
    segs = json_array();
    for (i = 0; i < s->nseg; i++) {
        const struct sv_segment_info *g = &s->seg[i];

        shards = json_array();
        for (j = 0; j < g->n; j++) {
            const struct sv_shard_place *p = &g->shard[j];

            json_array_append_new(
                shards,
                json_pack("{s:i, s:s, s:s, s:s, s:s}", "index", (int)p->index,
                          "provider", p->provider, "owner", p->owner,
                          "jurisdiction", p->jurisdiction, "state", p->state));
        }
        json_array_append_new(
            segs,
            json_pack("{s:i, s:I, s:i, s:i, s:o}", "segment", (int)g->segment,
                      "payload_len", (json_int_t)g->payload_len, "good",
                      (int)g->good, "n", (int)g->n, "shards", shards));
    }
    root = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:s, s:i, s:I, s:s?, "
        "s:o, s:{s:s, s:i, s:i, s:i, s:i}}",
        "name", o->name, "id", id, "size", (json_int_t)o->size, "mtime",
        (json_int_t)o->mtime, "created", (json_int_t)o->created, "k", (int)o->k,
        "m", (int)o->m, "segments_count", (int)o->nsegments, "cipher",
        o->cipher ? o->cipher : "?", "key_gen", (int)o->key_gen, "segment_size",
        (json_int_t)o->segment_size, "blake2b", o->has_hash ? hash : NULL,
        "segments", segs, "health", "state", health_word(s), "healthy",
        (int)s->healthy, "degraded", (int)s->degraded, "lost", (int)s->lost,
        "min_good", (int)s->min_good);
    json_dumpf(root, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(root);
}

static void print_human(const struct sv_stat *s)
{
    const struct sv_object_info *o = &s->obj;
    char a[32], b[32], id[65];
    uint32_t i;
    unsigned j;

    vt_hex(o->oid, sizeof(o->oid), id);
    printf("object    %s\n", o->name);
    printf("size      %s (%llu bytes)\n", vt_size(o->size, a),
           (unsigned long long)o->size);
    printf("modified  %s   stored %s (UTC)\n", vt_time(o->mtime, a),
           vt_time(o->created, b));
    printf("id        %s\n", id);
    if (o->has_hash) {
        vt_hex(o->hash, sizeof(o->hash), id);
        printf("blake2b   %s\n", id);
    }
    printf("code      k=%u m=%u: %u segment%s of up to %s, %s, key "
           "generation %u\n",
           o->k, o->m, o->nsegments, o->nsegments == 1 ? "" : "s",
           vt_size(o->segment_size, a), o->cipher ? o->cipher : "?",
           o->key_gen);
    if (!s->degraded && !s->lost)
        printf("health    healthy: every segment has all %u shards\n",
               o->k + o->m);
    else
        printf("health    %s: %u healthy, %u degraded, %u lost segment(s); "
               "fewest good shards %u (%u needed)\n",
               health_word(s), s->healthy, s->degraded, s->lost, s->min_good,
               o->k);
    for (i = 0; i < s->nseg; i++) {
        const struct sv_segment_info *g = &s->seg[i];

        printf("segment %u  %s  %u/%u shards good\n", g->segment,
               vt_size(g->payload_len, a), g->good, g->n);
        printf("  %-5s %-16s %-20s %-12s %s\n", "SHARD", "PROVIDER", "OWNER",
               "JURISDICTION", "STATE");
        for (j = 0; j < g->n; j++) {
            const struct sv_shard_place *p = &g->shard[j];

            printf("  %-5u %-16s %-20s %-12s %s\n", p->index, p->provider,
                   p->owner, p->jurisdiction, p->state);
        }
    }
}

int cmd_stat(int argc, char **argv)
{
    const char *name = NULL;
    struct sv_stat *s = NULL;
    struct sv_vault *v;
    enum sv_err rc;
    int json = vt_args_json(argc, argv, USAGE, &name);

    if (!name)
        usage_die(USAGE, "stat needs an object NAME");
    v = vt_open(SV_OPEN_READONLY, NULL);
    rc = sv_stat(v, name, &s);
    if (rc) {
        sv_vault_close(v);
        die_err(rc, "%s", "");
    }
    if (json)
        print_json(s);
    else
        print_human(s);
    sv_stat_free(s);
    sv_vault_close(v);
    return 0;
}
