/*
 * tests/engine/error_test.c: the error vocabulary (engine/error.c) and the
 * log callback (engine/log.c).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/log.h"

/* ---- sv_strerror / sv_errname ---- */

static const struct {
    enum sv_err e;
    const char *name, *text;
} all_codes[] = {
#define X(name, msg) {SV_##name, #name, msg},
    SV_ERR_MAP(X)
#undef X
};
#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

Test(error, every_code_has_its_text_and_name)
{
    size_t i, j;

    cr_assert_eq(NCODES, SV_ERR_COUNT);
    cr_assert_eq(SV_OK, 0);
    for (i = 0; i < NCODES; i++) {
        cr_assert_eq(all_codes[i].e, (enum sv_err)i, "codes are dense");
        cr_assert_str_eq(sv_strerror(all_codes[i].e), all_codes[i].text);
        cr_assert_str_eq(sv_errname(all_codes[i].e), all_codes[i].name);
        cr_assert_gt(strlen(all_codes[i].text), 3);
        for (j = 0; j < i; j++) {
            cr_assert_str_neq(all_codes[i].text, all_codes[j].text);
            cr_assert_str_neq(all_codes[i].name, all_codes[j].name);
        }
    }
    cr_assert_str_eq(sv_strerror(SV_CORRUPT),
                     "stored data failed its integrity check");
    cr_assert_str_eq(sv_errname(SV_UNAVAIL), "UNAVAIL");
}

Test(error, unknown_codes_still_get_text)
{
    cr_assert_str_eq(sv_strerror(SV_ERR_COUNT), "unknown error");
    cr_assert_str_eq(sv_strerror((enum sv_err)999), "unknown error");
    cr_assert_str_eq(sv_strerror((enum sv_err) - 1), "unknown error");
    cr_assert_str_eq(sv_errname(SV_ERR_COUNT), "UNKNOWN");
    cr_assert_str_eq(sv_errname((enum sv_err) - 7), "UNKNOWN");
}

/* ---- the per-thread detail sentence ---- */

Test(error, set_then_read_then_clear)
{
    cr_assert_str_eq(sv_errmsg(SV_IO), sv_strerror(SV_IO), "fresh thread");
    cr_assert_eq(sv_err_set(SV_CORRUPT, "shard %d of '%s': bad tag", 3, "a"),
                 SV_CORRUPT);
    cr_assert_str_eq(sv_errmsg(SV_CORRUPT), "shard 3 of 'a': bad tag");
    /* the detail is the last one set, whatever code is asked about */
    cr_assert_str_eq(sv_errmsg(SV_IO), "shard 3 of 'a': bad tag");
    sv_err_set(SV_IO, "second");
    cr_assert_str_eq(sv_errmsg(SV_IO), "second");
    sv_err_clear();
    cr_assert_str_eq(sv_errmsg(SV_AUTH), sv_strerror(SV_AUTH));
    sv_err_clear(); /* twice is fine */
    cr_assert_str_eq(sv_errmsg(SV_OK), "success");
}

static enum sv_err vset_helper(enum sv_err e, const char *fmt, ...)
{
    enum sv_err r;
    va_list ap;

    va_start(ap, fmt);
    r = sv_err_vset(e, fmt, ap);
    va_end(ap);
    return r;
}

Test(error, vset)
{
    cr_assert_eq(vset_helper(SV_NOSPACE, "%s full at %u%%", "p1", 99u),
                 SV_NOSPACE);
    cr_assert_str_eq(sv_errmsg(SV_NOSPACE), "p1 full at 99%");
}

Test(error, wrap_prefixes_detail_or_text)
{
    sv_err_clear();
    cr_assert_eq(sv_err_wrap(SV_NOTFOUND, "get '%s': ", "x.jpg"), SV_NOTFOUND);
    cr_assert_str_eq(sv_errmsg(SV_NOTFOUND), "get 'x.jpg': no such object");
    sv_err_set(SV_AGAIN, "provider s3-a: HTTP 503");
    sv_err_wrap(SV_AGAIN, "shard 2: ");
    cr_assert_eq(sv_err_wrap(SV_UNAVAIL, "get '%s': ", "y"), SV_UNAVAIL);
    cr_assert_str_eq(sv_errmsg(SV_UNAVAIL),
                     "get 'y': shard 2: provider s3-a: HTTP 503");
}

Test(error, long_messages_are_truncated_not_overflowed)
{
    char big[3000];
    size_t i;

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sv_err_set(SV_IO, "%s", big);
    cr_assert_eq(strlen(sv_errmsg(SV_IO)), 1023);
    for (i = 0; i < 10; i++)
        sv_err_wrap(SV_IO, "%s", big); /* prefix alone > buffer */
    cr_assert_eq(strlen(sv_errmsg(SV_IO)), 1023);
    sv_err_set(SV_IO, "cause");
    for (i = 0; i < 300; i++)
        sv_err_wrap(SV_IO, "w%zu: ", i % 10);
    cr_assert_eq(strlen(sv_errmsg(SV_IO)), 1023);
    cr_assert_eq(strncmp(sv_errmsg(SV_IO), "w9: w8: ", 8), 0);
}

static void *other_thread(void *arg)
{
    char **seen = arg;

    seen[0] = strdup(sv_errmsg(SV_BUSY));
    sv_err_set(SV_DENIED, "thread detail");
    seen[1] = strdup(sv_errmsg(SV_DENIED));
    return NULL;
}

Test(error, detail_is_per_thread)
{
    char *seen[2] = {NULL, NULL};
    pthread_t t;

    sv_err_set(SV_CONFIG, "main detail");
    cr_assert_eq(pthread_create(&t, NULL, other_thread, seen), 0);
    pthread_join(t, NULL);
    cr_assert_str_eq(seen[0], sv_strerror(SV_BUSY));
    cr_assert_str_eq(seen[1], "thread detail");
    cr_assert_str_eq(sv_errmsg(SV_CONFIG), "main detail");
    free(seen[0]);
    free(seen[1]);
}

/* ---- the log callback ---- */

struct capture {
    int calls;
    enum sv_log_level level[8];
    char msg[8][2100];
};

static void capture_fn(void *ctx, enum sv_log_level level, const char *msg)
{
    struct capture *c = ctx;

    if (c->calls < 8) {
        c->level[c->calls] = level;
        snprintf(c->msg[c->calls], sizeof(c->msg[0]), "%s", msg);
    }
    c->calls++;
}

Test(log, silent_without_a_callback)
{
    cr_assert_eq(sv_log_enabled(SV_LOG_ERROR), 0);
    sv_error("dropped %d", 1); /* must not crash */
    sv_log_set(NULL, NULL, SV_LOG_DEBUG);
    cr_assert_eq(sv_log_enabled(SV_LOG_ERROR), 0);
    sv_debug("dropped too");
}

Test(log, levels_filter_and_messages_format)
{
    static struct capture c;

    sv_log_set(capture_fn, &c, SV_LOG_INFO);
    cr_assert(sv_log_enabled(SV_LOG_ERROR));
    cr_assert(sv_log_enabled(SV_LOG_WARN));
    cr_assert(sv_log_enabled(SV_LOG_INFO));
    cr_assert_not(sv_log_enabled(SV_LOG_DEBUG));
    sv_error("e %d", 1);
    sv_warn("w %s", "two");
    sv_info("i");
    sv_debug("not delivered");
    cr_assert_eq(c.calls, 3);
    cr_assert_eq(c.level[0], SV_LOG_ERROR);
    cr_assert_eq(c.level[1], SV_LOG_WARN);
    cr_assert_eq(c.level[2], SV_LOG_INFO);
    cr_assert_str_eq(c.msg[0], "e 1");
    cr_assert_str_eq(c.msg[1], "w two");
    cr_assert_str_eq(c.msg[2], "i");

    sv_log_set(capture_fn, &c, SV_LOG_ERROR);
    sv_warn("filtered");
    cr_assert_eq(c.calls, 3);
    sv_log_set(capture_fn, &c, SV_LOG_DEBUG);
    sv_log(SV_LOG_DEBUG, "d%c", '!');
    cr_assert_eq(c.calls, 4);
    cr_assert_eq(c.level[3], SV_LOG_DEBUG);
    cr_assert_str_eq(c.msg[3], "d!");

    sv_log_set(NULL, &c, SV_LOG_DEBUG);
    sv_error("silenced");
    cr_assert_eq(c.calls, 4);
}

Test(log, long_message_is_truncated)
{
    static struct capture c;
    static char big[5000];

    memset(big, 'x', sizeof(big) - 1);
    sv_log_set(capture_fn, &c, SV_LOG_WARN);
    sv_warn("%s", big);
    cr_assert_eq(c.calls, 1);
    cr_assert_eq(strlen(c.msg[0]), 2047);
    cr_assert_eq(c.msg[0][0], 'x');
}
