/*
 * tests/lib/itree.h: what the ingest suites share (engine, command, real
 * S3): file trees with deterministic contents, and checks of what a vault
 * holds afterwards: every file reads back byte for byte, and the shards on
 * the providers are exactly those of committed segments (nothing uploaded
 * twice, nothing left unaccounted). Every helper asserts with Criterion.
 */
#ifndef SV_ITREE_H
#define SV_ITREE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/shardvault.h"

struct it_file {
    char *rel; /* path under the tree's root */
    size_t len;
    uint64_t seed; /* contents: tu_bytes(len, seed) */
};

struct it_tree {
    char *root;
    struct it_file *f;
    size_t n, cap;
};

/* Start an empty tree at root (created, parents too). */
void it_init(struct it_tree *t, const char *root);
/* Create root/rel (and its directories) with len deterministic bytes. */
void it_add(struct it_tree *t, const char *rel, size_t len, uint64_t seed);
/* A standard tree: nested directories, empty files, sizes from 1 byte to a
 * few segments of seg bytes. */
void it_standard(struct it_tree *t, size_t seg);
void it_release(struct it_tree *t);
/* root/rel, malloc'd. */
char *it_path(const struct it_tree *t, const char *rel);

/* Every file of t reads back from v as prefix + rel, byte for byte. */
void it_check_readback(struct sv_vault *v, const struct it_tree *t,
                       const char *prefix);

/*
 * The shards on v's providers are exactly those the catalog's committed
 * objects list as stored there: every listed key is one of them, and each
 * of them is listed once. No upload intents are left. Returns the number
 * of shards.
 */
uint64_t it_check_accounted(struct sv_vault *v);

/* Committed objects: names and object ids (a new upload gets a new id). */
struct it_objs {
    size_t n, cap;
    char **name;
    uint8_t (*oid)[16];
    uint64_t segments; /* sum over the objects */
};
void it_objs(struct sv_vault *v, struct it_objs *out);
/* The oid of name, or NULL. */
const uint8_t *it_oid_of(const struct it_objs *o, const char *name);
void it_objs_release(struct it_objs *o);

/* The engine fsyncs every shard and catalog write: suites with thousands
 * of them keep their scratch directories on tmpfs when there is one. Makes
 * a fresh directory in /dev/shm, points $SV_TEST_TMP (so tu_tmpdir) at it
 * for this process (Criterion runs each test in its own) and returns it;
 * NULL, changing nothing, without a writable /dev/shm. */
char *it_prefer_tmpfs(void);
/* Remove that directory (once emptied) and free d; NULL is fine. */
void it_drop_tmpfs(char *d);

/* Open dir read-only (no recovery): the catalog as a crash left it. */
struct sv_vault *it_open_ro(const char *dir);

#endif
