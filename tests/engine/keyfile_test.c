/*
 * tests/engine/keyfile_test.c: the INI parse and the secret files shared
 * by key files and share files (engine/keyfile.c).
 */
#include <criterion/criterion.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "engine/keys_int.h"
#include "tests/lib/keyfix.h"
#include "tests/lib/testutil.h"

static char *dir;

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
    dir = tu_tmpdir("keyfile");
    cr_assert_not_null(dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

TestSuite(keyfile, .init = setup, .fini = teardown);

struct demo {
    struct sv_ini ini;
    uint32_t n;
    uint8_t id[4];
    char word[6];
    unsigned numbered;
};

static const struct sv_ini_field demo_fields[] = {
    {"n", SV_INI_UINT, 0, offsetof(struct demo, n), 0, 1, 99},
    {"id", SV_INI_HEX, 0, offsetof(struct demo, id), 4, 0, 0},
    {"word", SV_INI_WORD, 0, offsetof(struct demo, word), 6, 0, 0},
};

static int demo_numbered(struct sv_ini *ini, const char *name,
                         const char *suffix, const char *value)
{
    struct demo *d = (struct demo *)ini;

    (void)value;
    if (strcmp(suffix, "7"))
        return sv_ini_fail(ini, SV_CORRUPT, "bad `%s`", name);
    d->numbered++;
    return 1;
}

static enum sv_err demo(const char *text, struct demo *d)
{
    memset(d, 0, sizeof(*d));
    d->ini.name = "demo";
    d->ini.text = text;
    d->ini.len = strlen(text);
    d->ini.section = "s";
    d->ini.fields = demo_fields;
    d->ini.nfields = 3;
    d->ini.base = d;
    d->ini.prefix = "x.";
    d->ini.numbered = demo_numbered;
    return sv_ini_run(&d->ini);
}

Test(keyfile, fields_and_numbered_lines)
{
    struct demo d;

    cr_assert_eq(demo("[s]\nn = 42\nid = 0a0B0c0d\nword = hello\nx.7 = y\n",
                      &d),
                 SV_OK);
    cr_assert_eq(d.n, 42);
    cr_assert_arr_eq(d.id, "\x0a\x0b\x0c\x0d", 4);
    cr_assert_str_eq(d.word, "hello");
    cr_assert_eq(d.numbered, 1);
    cr_assert_eq(d.ini.seen, 7);
    cr_assert_null(sv_ini_missing(&d.ini, 7));
    cr_assert_eq(demo("[s]\nn = 1\n", &d), SV_OK);
    cr_assert_str_eq(sv_ini_missing(&d.ini, 7), "id");
}

Test(keyfile, refusals_name_the_first_bad_line)
{
    static const struct {
        const char *text;
        const char *where;
    } bad[] = {
        {"[s]\nn = 100\n", "line 2: bad value for `n`"},
        {"[s]\nn = -1\n", "line 2"},
        {"[s]\nn = 1\nn = 2\n", "line 3: `n` appears twice"},
        {"[s]\nid = 0a0b0c\n", "line 2: bad value for `id`"},
        {"[s]\nword = toolong\n", "line 2"},
        {"[s]\nx.8 = y\n", "line 2: bad `x.8`"},
        {"[t]\nn = 1\n", "line 2: `n` is outside the [s] section"},
        {"[s]\n\n\nwhat = 1\n", "line 4: unknown key `what`"},
        {"[s]\nnonsense\nwhat = 1\n", "line 2: expected"},
        {"[s]\nwhat = 1\nnonsense\n", "line 2: unknown key"},
    };
    struct demo d;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(demo(bad[i].text, &d), SV_CORRUPT, "case %zu", i);
        cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), bad[i].where),
                           "case %zu: %s", i, sv_errmsg(SV_CORRUPT));
        cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "demo: "));
    }
}

Test(keyfile, long_lines_and_nul_bytes)
{
    char text[600];
    struct demo d;

    memset(text, ' ', sizeof(text));
    memcpy(text, "[s]\nword = ", 11);
    text[sizeof(text) - 1] = '\0';
    cr_assert_eq(demo(text, &d), SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "line 2: line longer"));
    memset(&d, 0, sizeof(d));
    d.ini.name = "demo";
    d.ini.text = "[s]\n\0n = 1\n";
    d.ini.len = 11;
    d.ini.section = "s";
    d.ini.fields = demo_fields;
    d.ini.nfields = 3;
    d.ini.base = &d;
    cr_assert_eq(sv_ini_run(&d.ini), SV_CORRUPT);
    cr_assert_not_null(strstr(sv_errmsg(SV_CORRUPT), "NUL"));
}

Test(keyfile, value_parsers)
{
    uint32_t v = 0;
    uint8_t b[2];

    cr_assert_eq(sv_ini_uint("0", 0, 5, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(sv_ini_uint("4294967295", 0, 0xffffffffu, &v), 0);
    cr_assert_eq(v, 0xffffffffu);
    cr_assert_neq(sv_ini_uint("4294967296", 0, 0xffffffffu, &v), 0);
    cr_assert_neq(sv_ini_uint("", 0, 5, &v), 0);
    cr_assert_neq(sv_ini_uint("07", 0, 9, &v), 0);
    cr_assert_neq(sv_ini_uint("+7", 0, 9, &v), 0);
    cr_assert_neq(sv_ini_uint("7 ", 0, 9, &v), 0);
    cr_assert_eq(sv_ini_hex("fF00", b, 2), 0);
    cr_assert_arr_eq(b, "\xff\x00", 2);
    cr_assert_neq(sv_ini_hex("ff0", b, 2), 0);
    cr_assert_neq(sv_ini_hex("ff0g", b, 2), 0);
    cr_assert_neq(sv_ini_hex("ff 0", b, 2), 0);
}

Test(keyfile, secret_files)
{
    char *p = tk_path(dir, "s.txt"), *link = tk_path(dir, "l.txt");
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    uint8_t *big;

    cr_assert_eq(sv_keys_write_file(p, "test file", "one", 3, 0), SV_OK);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(sv_keys_write_file(p, "test file", "two", 3, 0), SV_EXISTS);
    cr_assert_eq(symlink(p, link), 0);
    cr_assert_eq(sv_keys_write_file(link, "test file", "three", 5, 1), SV_OK);
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert_eq(sv_keys_read_file(p, "test file", &buf, &len), SV_OK);
    cr_assert_eq(len, 5);
    cr_assert_str_eq(buf, "three");
    sodium_free(buf);
    /* O_EXCL does not follow a symlink onto the file */
    cr_assert_eq(sv_keys_write_file(link, "test file", "x", 1, 0), SV_EXISTS);
    cr_assert_eq(chmod(p, 0640), 0);
    cr_assert_eq(sv_keys_read_file(p, "test file", &buf, &len), SV_DENIED);
    cr_assert_eq(chmod(p, 0600), 0);
    big = calloc(1, SV_KEYFILE_MAX + 1);
    cr_assert_eq(sv_keys_write_file(p, "test file", big, SV_KEYFILE_MAX + 1,
                                    1),
                 SV_OK);
    free(big);
    cr_assert_eq(sv_keys_read_file(p, "test file", &buf, &len), SV_CORRUPT);
    cr_assert_eq(sv_keys_write_file("/nonexistent/d/f", "test file", "x", 1,
                                    1),
                 SV_IO);
    free(p);
    free(link);
}

Test(keyfile, read_stream)
{
    FILE *f = popen("printf 'abc'", "r");
    char *buf = NULL;
    size_t len = 0;

    cr_assert_not_null(f);
    cr_assert_eq(sv_keys_read_stream(f, "stream", &buf, &len), SV_OK);
    pclose(f);
    cr_assert_eq(len, 3);
    cr_assert_str_eq(buf, "abc");
    sodium_free(buf);
}
