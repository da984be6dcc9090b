/*
 * engine/ingest.h: batch ingest, the logic behind `shardvault ingest`:
 * files, directory trees and lists of paths become objects, N at a time,
 * resumably. The tool adds the signal handler, the progress display and
 * the summary; this module never prints.
 *
 * Sources: roots (a regular file: its basename is the name; a directory:
 * every regular file under it, named by its path relative to the root) and
 * lists (newline- or NUL-separated paths, each handled like a root except
 * that a listed file keeps its listed path, normalised, as its name). An
 * optional prefix is prepended to every name. Symbolic links inside trees
 * are noted and skipped unless follow_symlinks (roots given directly are
 * always followed); sockets, FIFOs and devices are noted and skipped.
 *
 * Threads: one walker lists the sources into a bounded queue; `jobs`
 * workers each take a file and sv_put() it; the caller's thread waits and
 * calls tick() a few times a second. Memory: each object in flight reserves
 * what its segment buffers will touch (DESIGN.md section 2) from one
 * budget. Objects needing at most SV_INGEST_SMALL bytes never wait (there
 * are at most `jobs` of them, so they are bounded anyway); larger ones take
 * the budget in arrival order, and a worker whose large file does not fit
 * yet sets it aside and goes on with the next files, so many small files
 * never wait behind one large one.
 *
 * Resuming: a file whose name is committed with the same size and mtime
 * (seconds) is skipped without opening it; with checksum, a file of the
 * same size is read and skipped if its BLAKE2b-256 equals the recorded
 * one (objects are then stored with their hash; an object stored without
 * one is stored again). Uploads in flight when the process died are
 * collected by sv_vault_open, so a re-run completes the batch and nothing
 * committed is uploaded twice.
 *
 * Bad input never stops the batch: unreadable, vanished or changing files
 * (size or mtime differ between the start and the end of the read: the
 * upload is cancelled, or the object removed if it was already
 * committed), names that are not valid UTF-8, too long or used twice in one
 * run are reported through the event callback and counted as failed.
 * Provider failures beyond the write quorum (and other failures that are
 * not about one file) stop the batch: objects in flight are cancelled
 * (rolled back) and sv_ingest_run returns the error.
 */
#ifndef SV_INGEST_H
#define SV_INGEST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/shardvault.h"

/* Objects whose buffers need at most this never wait for the budget. */
#define SV_INGEST_SMALL ((uint64_t)1 << 20)
/* The default budget when opts->mem_budget is 0: this, or two large
 * objects' worth if that is more. */
#define SV_INGEST_BUDGET ((uint64_t)256 << 20)

enum sv_ingest_what {
    SV_INGEST_STORED,  /* committed */
    SV_INGEST_SKIPPED, /* already committed, unchanged */
    SV_INGEST_FAILED,  /* bad input: rc and cause say why */
    SV_INGEST_NOTE,    /* not a regular file; left alone (cause says) */
};

/* One file's outcome. Everything is borrowed for the callback. */
struct sv_ingest_event {
    enum sv_ingest_what what;
    const char *path; /* as found on disk */
    const char *name; /* the object name, NULL if none could be made */
    uint64_t size;
    enum sv_err rc;    /* SV_OK unless failed */
    const char *cause; /* failed/note: the sentence; else NULL */
};

/* Called for each file, serialised (never two at once), from the walker
 * or a worker thread; keep it short. */
typedef void sv_ingest_event_fn(void *ctx, const struct sv_ingest_event *e);

/* Per-provider figures of the objects stored in this run. */
struct sv_ingest_prov {
    const char *name; /* borrowed from the vault */
    uint64_t shards;  /* shards of committed objects */
    uint64_t bytes;   /* their stored bytes */
    uint64_t puts;    /* PUT calls made in this run (tries included) */
};

struct sv_ingest_stats {
    uint64_t found, found_bytes; /* regular files listed so far */
    int walk_done;               /* found/found_bytes are final */
    uint64_t stored, skipped, failed, notes;
    uint64_t bytes_in;      /* plaintext bytes of objects stored */
    uint64_t bytes_skipped; /* of objects skipped */
    uint64_t bytes_done;    /* bytes_in plus segments of objects in flight */
    unsigned in_flight;
    double elapsed; /* seconds since sv_ingest_run started */
    uint64_t mem_budget, mem_used, mem_peak; /* reserved buffer bytes */
    size_t nprov;
    struct sv_ingest_prov *prov; /* nprov; owned by the ingest */
};

/* Called from the thread in sv_ingest_run every tick_ms and once at the
 * end (final != 0). The stats are borrowed for the call. */
typedef void sv_ingest_tick_fn(void *ctx, const struct sv_ingest_stats *s,
                               int final);

/* Test hook: called (from a worker) at "open" (before the file is opened)
 * and at "read" (opened and checked, before sv_put) with the file's path. */
typedef void sv_ingest_hook_fn(void *ctx, const char *where, const char *path);

struct sv_ingest_opts {
    const char *prefix;  /* prepended to every name; NULL for none */
    unsigned jobs;       /* objects in flight; 0: the number of cores */
    uint64_t mem_budget; /* 0: the default (see SV_INGEST_BUDGET) */
    int follow_symlinks;
    int checksum; /* resume by content hash instead of size and mtime */
    /* Nonzero: start nothing more, cancel what is in flight (objects in
     * their last segment still commit), return SV_INTR. A signal handler
     * may set it. */
    volatile sig_atomic_t *cancel;
    sv_ingest_event_fn *event;
    void *event_ctx;
    sv_ingest_tick_fn *tick;
    void *tick_ctx;
    unsigned tick_ms; /* 0: 200 */
    sv_ingest_hook_fn *hook;
    void *hook_ctx;
};

struct sv_ingest;

/*
 * A batch over the open vault v (borrowed until sv_ingest_free; it must
 * be writable and hold the full keys). opts is copied (its pointers are
 * borrowed until sv_ingest_free). Errors: SV_INVAL (no vault, read-only,
 * prefix not valid UTF-8 or too long), SV_NOMEM.
 */
enum sv_err sv_ingest_new(struct sv_vault *v, const struct sv_ingest_opts *o,
                          struct sv_ingest **out) SV_MUST_CHECK;
void sv_ingest_free(struct sv_ingest *in);

/* Add a root (file or directory) or a list to read (fd borrowed until
 * sv_ingest_run returns; sep '\n' or '\0'), in the order they will be
 * walked. Paths are checked when walked. SV_INVAL after sv_ingest_run,
 * SV_NOMEM. */
enum sv_err sv_ingest_add_path(struct sv_ingest *in,
                               const char *path) SV_MUST_CHECK;
enum sv_err sv_ingest_add_list(struct sv_ingest *in, int fd,
                               int sep) SV_MUST_CHECK;

/*
 * Run the batch to its end (once). *stats, if not NULL, gets the final
 * figures (its prov array stays valid until sv_ingest_free). Returns SV_OK
 * when every source was walked (some files may have failed: stats->failed),
 * SV_INTR when cancelled, or the error that stopped the batch (SV_UNAVAIL:
 * providers below the write quorum, SV_POLICY, a catalog error...) with its
 * sentence.
 */
enum sv_err sv_ingest_run(struct sv_ingest *in,
                          struct sv_ingest_stats *stats) SV_MUST_CHECK;

/*
 * The --from-list parser: entries of a list read in pieces, separated by
 * sep ('\n' or 0). fn gets each non-empty entry with its length, the
 * bytes NUL-terminated at entry[len] (with '\n' an entry may hold NUL
 * bytes, and a trailing '\r' is dropped); an entry longer than
 * SV_LIST_ENTRY_MAX comes as entry NULL with its length. fn returns nonzero
 * to stop (SV_INTR). Feeding len 0 marks the end (a last entry without a
 * separator counts). Chunking does not change the entries. SV_NOMEM.
 */
#define SV_LIST_ENTRY_MAX 65536
typedef int sv_list_entry_fn(void *ctx, const char *entry, size_t len);
struct sv_list_split {
    int sep;
    char *buf; /* the entry being gathered */
    size_t len, cap;
    size_t skipped; /* bytes of an entry too long to keep */
};
void sv_list_split_init(struct sv_list_split *ls, int sep);
enum sv_err sv_list_split_feed(struct sv_list_split *ls, const char *data,
                               size_t len, sv_list_entry_fn *fn,
                               void *ctx) SV_MUST_CHECK;
void sv_list_split_release(struct sv_list_split *ls);

/* A path as an object name part: leading "/", empty and "." components
 * and a trailing "/" dropped ("./a//b/./c/" -> "a/b/c"); out holds
 * strlen(in) + 1 bytes. */
void sv_path_norm(const char *in, char *out);

/* What an object of size bytes reserves from the budget in vault v. */
uint64_t sv_ingest_cost(const struct sv_vault *v, uint64_t size);

/* 1 if the len bytes at s are valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int sv_utf8_valid(const char *s, size_t len);

#endif
