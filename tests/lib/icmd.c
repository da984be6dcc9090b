/*
 * tests/lib/icmd.c: driving `shardvault ingest` from the suites (see
 * icmd.h).
 */
#include "tests/lib/icmd.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/shardvault.h"
#include "tests/lib/testutil.h"

int ic_vingest(const char *env, const char *vault, const char *errfile,
               json_t **j, const char *fmt, va_list ap)
{
    char *args, *out = NULL;
    json_error_t jerr;
    int rc;

    cr_assert(vasprintf(&args, fmt, ap) > 0);
    rc = tu_run(&out, "%s '%s' --vault '%s' ingest %s --json 2>'%s'",
                env ? env : "", tu_bin(), vault, args, errfile);
    *j = out ? json_loads(out, 0, &jerr) : NULL;
    free(out);
    free(args);
    return rc;
}

int ic_ingest(const char *env, const char *vault, const char *errfile,
              json_t **j, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = ic_vingest(env, vault, errfile, j, fmt, ap);
    va_end(ap);
    return rc;
}

char *ic_text(const char *path)
{
    size_t len = 0;
    uint8_t *b = tu_read_file(path, &len);
    char *s = calloc(1, len + 1);

    cr_assert(s);
    if (b)
        memcpy(s, b, len);
    free(b);
    return s;
}

unsigned ic_lines(const char *path)
{
    char *s = ic_text(path), *p;
    unsigned n = 0;

    for (p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

uint64_t ic_jint(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);

    cr_assert(json_is_integer(v), "no integer '%s' in the summary", key);
    return (uint64_t)json_integer_value(v);
}

uint64_t ic_jputs(json_t *j)
{
    json_t *prov = json_object_get(j, "providers"), *p;
    uint64_t puts = 0;
    size_t i;

    cr_assert(json_is_array(prov));
    json_array_foreach(prov, i, p) puts += ic_jint(p, "puts");
    return puts;
}

const char *ic_jcause(json_t *j, const char *tail)
{
    json_t *f = json_object_get(j, "failures"), *e;
    size_t i, tl = strlen(tail);

    json_array_foreach(f, i, e)
    {
        const char *p = json_string_value(json_object_get(e, "path"));
        size_t pl = p ? strlen(p) : 0;

        if (pl >= tl && !strcmp(p + pl - tl, tail))
            return json_string_value(json_object_get(e, "cause"));
    }
    return NULL;
}

unsigned ic_seed(void)
{
    const char *s = getenv("SV_TEST_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10)
                      : (unsigned)time(NULL) ^ (unsigned)getpid();

    cr_log_info("SV_TEST_SEED=%u replays this test's random choices", seed);
    return seed;
}

void ic_committed(const char *vault, struct it_objs *o)
{
    struct sv_vault *v = it_open_ro(vault);

    it_objs(v, o);
    sv_vault_close(v);
}

void ic_check_resumed(const char *vault, const struct it_tree *t,
                      const struct it_objs *first, json_t *resumed, unsigned n)
{
    struct sv_vault *v = NULL;
    struct it_objs done;
    enum sv_err rc = sv_vault_open(vault, NULL, &v);
    size_t i;

    cr_assert_eq(rc, SV_OK, "open: %s", sv_errmsg(rc));
    it_objs(v, &done);
    cr_assert_eq(done.n, t->n);
    for (i = 0; i < first->n; i++) {
        const uint8_t *now = it_oid_of(&done, first->name[i]);

        cr_assert(now && !memcmp(now, first->oid[i], 16),
                  "%s was uploaded again", first->name[i]);
    }
    cr_assert_eq(ic_jint(resumed, "skipped"), first->n);
    cr_assert_eq(ic_jputs(resumed), n * (done.segments - first->segments),
                 "PUTs of the resumed run");
    it_check_readback(v, t, NULL);
    it_check_accounted(v);
    it_objs_release(&done);
    sv_vault_close(v);
}
