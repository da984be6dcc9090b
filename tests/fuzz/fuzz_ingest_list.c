/*
 * tests/fuzz/fuzz_ingest_list.c: libFuzzer over the --from-list parser
 * (sv_list_split_feed) and the name normaliser (sv_path_norm), the outside
 * bytes of `shardvault ingest --from-list`. The first input byte picks the
 * separator and a chunk size; the rest is the list. Checks: the entries do
 * not depend on how the list is cut into reads (a CR LF split across two
 * reads included); no entry is empty or holds the separator; entries over
 * the limit come without bytes; a normalised entry has no empty or "."
 * component, no leading or trailing '/', and normalising it again changes
 * nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct got {
    char *all; /* entries, each followed by its length in 8 bytes */
    size_t len, cap;
    int sep;
};

static int collect(void *ctx, const char *e, size_t len)
{
    struct got *g = ctx;
    size_t need = (e ? len : 0) + 8;

    if (!len)
        abort();
    if (e) {
        if (e[len] || memchr(e, g->sep, len))
            abort();
        if (len > SV_LIST_ENTRY_MAX)
            abort();
    } else if (len <= SV_LIST_ENTRY_MAX) {
        abort();
    }
    if (g->len + need > g->cap) {
        g->cap = 2 * (g->len + need);
        g->all = realloc(g->all, g->cap);
        if (!g->all)
            abort();
    }
    if (e)
        memcpy(g->all + g->len, e, len);
    memcpy(g->all + g->len + (e ? len : 0), &len, 8);
    g->len += need;
    if (e && strlen(e) == len) {
        char *n = malloc(len + 1), *again = malloc(len + 1);

        if (!n || !again)
            abort();
        sv_path_norm(e, n);
        sv_path_norm(n, again);
        if (strcmp(n, again) || n[0] == '/' ||
            (n[0] && n[strlen(n) - 1] == '/') || strstr(n, "//") ||
            !strncmp(n, "./", 2) || strstr(n, "/./") || !strcmp(n, ".") ||
            (strlen(n) >= 2 && !strcmp(n + strlen(n) - 2, "/.")))
            abort();
        (void)sv_utf8_valid(n, strlen(n));
        free(n);
        free(again);
    }
    return 0;
}

static void run(const uint8_t *d, size_t n, int sep, size_t chunk,
                struct got *g)
{
    struct sv_list_split ls;
    size_t off = 0;

    g->sep = sep;
    sv_list_split_init(&ls, sep);
    while (off < n) {
        size_t c = n - off < chunk ? n - off : chunk;

        if (sv_list_split_feed(&ls, (const char *)d + off, c, collect, g))
            abort();
        off += c;
    }
    if (sv_list_split_feed(&ls, NULL, 0, collect, g))
        abort();
    sv_list_split_release(&ls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct got whole = {0}, cut = {0};
    int sep;
    size_t chunk;

    if (size < 1)
        return 0;
    sep = data[0] & 1 ? 0 : '\n';
    chunk = 1 + (data[0] >> 1);
    run(data + 1, size - 1, sep, size, &whole);
    run(data + 1, size - 1, sep, chunk, &cut);
    if (whole.len != cut.len ||
        (whole.len && memcmp(whole.all, cut.all, whole.len)))
        abort();
    free(whole.all);
    free(cut.all);
    return 0;
}
