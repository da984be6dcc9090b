/*
 * tests/integration/g1_confidentiality_test.c: guarantee G1 on the real
 * S3 servers. After putting the corpus (tests/lib/g1scan.h) through three
 * Ceph RGW gateways and three Swift nodes, the bytes are read behind the
 * servers' backs, not through S3: Swift's .data files from each node's
 * disk (found by the object name in their metadata), Ceph's RADOS objects
 * with `rados get`. None may hold a marker, an object name, a 32-byte
 * window of any plaintext, the key file, the root secret, a subkey or a
 * data key; every shard is found there exactly once; no provider, owner
 * or jurisdiction holds k shards of a segment; the keys are opaque.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/shardvault.h"
#include "engine/vault.h"
#include "tests/lib/g1scan.h"
#include "tests/lib/g1vault.h"
#include "tests/lib/s3vault.h"
#include "tests/lib/testutil.h"

#define SEG TV_SEG
#define MAX_RAW 1024

struct raw {
    char *key;  /* the S3 key */
    char *path; /* where its bytes were read */
    int prov;   /* index in v->prov */
};

static struct raw raws[MAX_RAW];
static size_t nraw;

/* "key<TAB>path" lines from a helper's output. */
static void take_lines(char *out, int prov)
{
    char *line, *save = NULL, *tab;

    for (line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        tab = strchr(line, '\t');
        cr_assert(tab, "bad helper line '%s'", line);
        *tab = '\0';
        cr_assert_lt(nraw, MAX_RAW);
        raws[nraw].key = strdup(line);
        raws[nraw].path = strdup(tab + 1);
        raws[nraw].prov = prov;
        nraw++;
    }
}

/* Swift: every .data file under the node whose metadata names a key under
 * prefix (the object server stores the body as is). */
static void swift_raw(const struct tu_s3_server *srv, const char *prefix,
                      int prov, const char *dir)
{
    static const char script[] =
        "import os, sys\n"
        "from swift.obj.diskfile import read_metadata\n"
        "root, prefix = sys.argv[1], sys.argv[2]\n"
        "for dp, dn, fn in os.walk(root + '/node'):\n"
        "    for f in fn:\n"
        "        if not f.endswith('.data'):\n"
        "            continue\n"
        "        p = os.path.join(dp, f)\n"
        "        md = read_metadata(p)\n"
        "        n = md.get('name') or md.get(b'name') or ''\n"
        "        if isinstance(n, bytes):\n"
        "            n = n.decode()\n"
        "        parts = n.split('/', 3)\n"
        "        if len(parts) == 4 and parts[3].startswith(prefix + '/'):\n"
        "            print(parts[3] + '\\t' + p)\n";
    char *out = NULL, *py;
    int rc;

    cr_assert(asprintf(&py, "%s/swiftscan.py", dir) > 0);
    cr_assert_eq(tu_write_file(py, script, strlen(script)), 0);
    rc = tu_run(&out, "/usr/bin/python3 '%s' '%s' '%s'", py, srv->datadir,
                prefix);
    cr_assert_eq(rc, 0, "reading %s's disk: %s", srv->name, out);
    take_lines(out, prov);
    free(out);
    free(py);
}

/* Ceph: the bucket's RADOS objects ("<marker>_<key>") fetched with
 * `rados get` into dir. */
static void ceph_raw(const struct tu_s3_server *srv, const char *prefix,
                     int prov, const char *dir)
{
    char *out = NULL;
    int rc = tu_run(
        &out,
        "set -e; c='%s/ceph.conf'; p=default.rgw.buckets.data; "
        "m=$(radosgw-admin -c \"$c\" bucket stats --bucket '%s' | "
        "/usr/bin/python3 -c 'import json,sys;"
        "print(json.load(sys.stdin)[\"marker\"])'); "
        "rados -c \"$c\" -p $p ls | grep -F \"${m}_%s/\" | "
        "while read -r o; do f='%s'/$(printf %%s \"$o\" | tr / _); "
        "rados -c \"$c\" -p $p get \"$o\" \"$f\"; "
        "printf '%%s\\t%%s\\n' \"${o#${m}_}\" \"$f\"; done",
        srv->datadir, srv->bucket, prefix, dir);

    cr_assert_eq(rc, 0, "reading %s's RADOS pool: %s", srv->name, out);
    take_lines(out, prov);
    free(out);
}

static int where_raw(void *ctx, const char *key)
{
    int who = -1;
    size_t i;

    (void)ctx;
    for (i = 0; i < nraw; i++)
        if (!strcmp(raws[i].key, key))
            who = who == -1 ? raws[i].prov : -2;
    return who;
}

Test(g1_s3, nothing_readable_reaches_a_server)
{
    struct g1_corpus *c = g1_corpus_new(SEG);
    const char *keys[MAX_RAW];
    unsigned findings = 0, segs, controls = 0;
    char why[1024], first[1400] = "", *dir, *control;
    struct s3v s;
    size_t i, len, nkeys = 0;
    uint8_t *b;

    s3v_make(&s, NULL);
    g1v_put_corpus(s.t.v, c);
    g1v_add_secrets(c, s.t.v);
    cr_assert(asprintf(&dir, "%s/rados", s.t.tmp) > 0);
    cr_assert_eq(tu_run(NULL, "mkdir -p '%s'", dir), 0);
    /* A control: plaintext stored straight through S3 on one server of
     * each kind must be found by the same reading and scanning. */
    cr_assert(asprintf(&control, "%s/control-plaintext", s.prefix) > 0);
    for (i = 0; i < s.nsrv; i++) {
        const uint8_t *d = g1_data(c, 0, &len);
        struct sv_iov iov = {d + 1000, 4096};
        int pi = tv_prov(s.t.v, s.srv[i].name);

        if (strcmp(s.srv[i].name, "ceph2") && strcmp(s.srv[i].name, "swift2"))
            continue;
        cr_assert_eq(sv_prov_put(s.t.v->prov[pi].p, control, &iov, 1),
                     SV_OK);
    }
    nraw = 0;
    for (i = 0; i < s.nsrv; i++) {
        int pi = tv_prov(s.t.v, s.srv[i].name);

        if (!strcmp(s.srv[i].kind, "swift"))
            swift_raw(&s.srv[i], s.prefix, pi, dir);
        else
            ceph_raw(&s.srv[i], s.prefix, pi, dir);
    }
    cr_assert_eq(nraw, tv_shards_total(s.t.v),
                 "every stored shard (and the 2 controls) found behind the "
                 "servers");
    for (i = 0; i < nraw; i++) {
        unsigned f;

        b = tu_read_file(raws[i].path, &len);
        cr_assert(b, "read %s", raws[i].path);
        cr_assert_gt(len, 0);
        f = g1_scan(c, raws[i].path, b, len, why, sizeof(why));
        free(b);
        if (!strcmp(raws[i].key, control)) {
            controls++;
            cr_assert_gt(f, 0, "the control plaintext was not found");
            continue;
        }
        if (f && !findings++)
            snprintf(first, sizeof(first), "%s (key %.300s)", why,
                     raws[i].key);
        keys[nkeys++] = raws[i].key;
    }
    cr_assert_eq(controls, 2);
    cr_assert_eq(findings, 0, "%u finding(s), first: %s", findings, first);
    segs = g1v_check_holdings(c, s.t.v, where_raw, NULL);
    cr_assert_eq(segs, 4 + 3 + 2 + 1 + 1 + 1);
    g1v_check_keys(c, s.t.v, keys, nkeys);
    for (i = 0; i < g1_count(c); i++) {
        const uint8_t *d = g1_data(c, i, &len);

        tv_get_eq(s.t.v, g1_name(c, i), d, len);
    }
    for (i = 0; i < nraw; i++) {
        free(raws[i].key);
        free(raws[i].path);
    }
    free(dir);
    free(control);
    g1_corpus_free(c);
    s3v_free(&s);
}
