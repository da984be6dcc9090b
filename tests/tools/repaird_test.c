/*
 * tests/tools/repaird_test.c: `shardvault repaird` through the built
 * binary: a pass repairs, SIGTERM finishes the segment in hand and exits 0
 * leaving the catalog and the providers consistent, SIGHUP reloads the
 * configuration (and keeps the old one when the new one is bad), metrics
 * as a file and over HTTP on 127.0.0.1, and a daemon given only the
 * maintenance keyring.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/keys.h"
#include "tests/lib/tcli.h"
#include "tests/lib/testutil.h"

#define WAIT 60.0 /* seconds a daemon gets to say something */

static void put_file(struct tc *c, const char *name, size_t len)
{
    free(tc_put(c, name, len, 21));
}

static char *log_path(struct tc *c)
{
    char *p;

    cr_assert(asprintf(&p, "%s/repaird.log", c->tmp) > 0);
    return p;
}

static char *slurp(const char *path)
{
    size_t len;
    uint8_t *b = tu_read_file(path, &len);
    char *s = malloc(len + 1);

    cr_assert(b && s);
    memcpy(s, b, len);
    s[len] = '\0';
    free(b);
    return s;
}

static void expect_exit0(pid_t pid, const char *log)
{
    int st = tc_reap(pid, WAIT);
    char *s = slurp(log);

    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "repaird did not exit 0 (status %d):\n%s", st, s);
    free(s);
}

static json_t *status_json(struct tc *c)
{
    char *out = NULL;
    json_error_t je;
    json_t *j;

    cr_assert_eq(tc_run(&out,
                        "%s --vault %s repair --status --json "
                        "2>/dev/null",
                        tu_bin(), c->vault),
                 0, "%s", out);
    j = json_loads(out, 0, &je);
    cr_assert(j, "%s", out);
    free(out);
    return j;
}

static long long jget(json_t *j, const char *k)
{
    return (long long)json_integer_value(json_object_get(j, k));
}

Test(repaird, a_pass_repairs_and_sigterm_exits_zero)
{
    struct tc c;
    char *log, *prov, *metrics, *m;
    pid_t pid;

    tc_make(&c, 6, NULL);
    log = log_path(&c);
    put_file(&c, "a", 300000);
    cr_assert(asprintf(&prov, "%s/prov", c.vault) > 0);
    cr_assert(asprintf(&metrics, "%s/sv.prom", c.tmp) > 0);
    cr_assert_eq(tc_run(NULL, "rm -rf %s/p5/*", prov), 0);
    pid = tc_spawn(log,
                   "%s --vault %s repaird --interval 1h "
                   "--metrics-file %s",
                   tu_bin(), c.vault, metrics);
    cr_assert(tc_wait_for(log, "pass 1 done", WAIT), "no pass:\n%s",
              slurp(log));
    cr_assert(tc_wait_for(metrics, "shardvault_repair_passes_total 1", WAIT));
    kill(pid, SIGTERM);
    expect_exit0(pid, log);
    cr_assert_eq(tc_files(prov), 30);
    m = slurp(log);
    /* timestamps and levels on every line */
    cr_assert(strstr(m, "Z repaird["), "%s", m);
    cr_assert(strstr(m, " info: started on "), "%s", m);
    cr_assert(strstr(m, "stopping"), "%s", m);
    free(m);
    m = slurp(metrics);
    cr_assert(strstr(m, "# TYPE shardvault_repair_queue_length gauge"), "%s",
              m);
    cr_assert(strstr(m, "shardvault_repair_queue_length 0"), "%s", m);
    cr_assert(strstr(m, "shardvault_provider_state{provider=\"p5\","
                        "state=\"up\"} 1"),
              "%s", m);
    cr_assert(strstr(m, "shardvault_repair_status_ok 1"), "%s", m);
    free(m);
    free(prov);
    free(metrics);
    free(log);
    tc_free(&c);
}

Test(repaird, sigterm_mid_rebuild_finishes_the_segment_in_hand)
{
    struct tc c;
    char *log, *prov, *s;
    long long queued, left;
    json_t *j;
    pid_t pid;

    tc_make(&c, 6, NULL);
    log = log_path(&c);
    put_file(&c, "a", 40 * 65536 + 1000); /* 41 segments */
    put_file(&c, "b", 40 * 65536 + 1000);
    cr_assert(asprintf(&prov, "%s/prov", c.vault) > 0);
    cr_assert_eq(tc_run(NULL, "rm -rf %s/p2/*", prov), 0);
    /* Slow: about 80 KiB per segment at 200 KiB/s. */
    pid = tc_spawn(log,
                   "%s --vault %s repaird --interval 1h --jobs 1 "
                   "--max-bytes-per-sec 200K",
                   tu_bin(), c.vault);
    cr_assert(tc_wait_for(log, "pass 1 starting", WAIT));
    cr_assert(tc_wait_for(log, "queued", WAIT), "%s", slurp(log));
    usleep(700000); /* into the rebuild */
    kill(pid, SIGTERM);
    expect_exit0(pid, log);
    s = slurp(log);
    cr_assert(strstr(s, "pass 1 stopped"), "%s", s);
    free(s);
    /* Whatever was done is committed, whatever was not is queued: the
     * files on the providers are exactly the committed shards. */
    j = status_json(&c);
    queued = jget(j, "queued");
    left = jget(j, "shards_to_rebuild");
    json_decref(j);
    cr_assert_gt(queued, 0, "the pass ended before the signal");
    cr_assert_eq(tc_files(prov), 6 * 82 - left);
    /* and the next run finishes the job */
    cr_assert_eq(tc_run(&s, "%s --vault %s repair", tu_bin(), c.vault), 0, "%s",
                 s);
    free(s);
    cr_assert_eq(tc_files(prov), 6 * 82);
    free(prov);
    free(log);
    tc_free(&c);
}

Test(repaird, sighup_reloads_the_config_and_keeps_it_if_bad)
{
    struct tc c;
    char *log, *s;
    FILE *f;
    pid_t pid;

    tc_make(&c, 6, "[repair]\ninterval = 1h\n");
    log = log_path(&c);
    pid = tc_spawn(log, "%s --vault %s repaird", tu_bin(), c.vault);
    cr_assert(tc_wait_for(log, "a pass every 3600 s", WAIT), "%s", slurp(log));
    cr_assert(tc_wait_for(log, "pass 1 done", WAIT));
    s = slurp(c.conf);
    *strstr(s, "interval = 1h") = '\0';
    f = fopen(c.conf, "w");
    cr_assert(f);
    fprintf(f, "%sinterval = 2h\n", s);
    fclose(f);
    kill(pid, SIGHUP);
    cr_assert(tc_wait_for(log, "interval 7200 s", WAIT), "%s", slurp(log));
    /* a broken config is refused and the running one kept */
    f = fopen(c.conf, "a");
    cr_assert(f);
    fprintf(f, "\n[bogus]\nx = 1\n");
    fclose(f);
    kill(pid, SIGHUP);
    cr_assert(tc_wait_for(log,
                          "reload failed, keeping the running "
                          "configuration",
                          WAIT),
              "%s", slurp(log));
    kill(pid, SIGTERM);
    expect_exit0(pid, log);
    free(s);
    free(log);
    tc_free(&c);
}

/* GET /metrics from 127.0.0.1:port. */
static char *http_get(int port)
{
    struct sockaddr_in sa;
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    char *buf = malloc(1 << 20);
    size_t got = 0;
    ssize_t r;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0 && buf);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    while ((r = read(fd, buf + got, (1 << 20) - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    return buf;
}

Test(repaird, metrics_over_http_on_loopback)
{
    struct tc c;
    char *log, *s, *p, *body;
    int port;
    pid_t pid;

    tc_make(&c, 6, NULL);
    log = log_path(&c);
    put_file(&c, "a", 100000);
    pid = tc_spawn(log,
                   "%s --vault %s repaird --interval 1h "
                   "--metrics-addr 127.0.0.1:0",
                   tu_bin(), c.vault);
    cr_assert(tc_wait_for(log, "pass 1 done", WAIT), "%s", slurp(log));
    s = slurp(log);
    p = strstr(s, "http://127.0.0.1:");
    cr_assert(p, "%s", s);
    port = atoi(p + strlen("http://127.0.0.1:"));
    cr_assert_gt(port, 0);
    body = http_get(port);
    cr_assert(!strncmp(body, "HTTP/1.0 200 OK", 15), "%s", body);
    cr_assert(strstr(body, "text/plain; version=0.0.4"), "%s", body);
    cr_assert(strstr(body, "shardvault_repair_passes_total 1"), "%s", body);
    cr_assert(strstr(body, "shardvault_provider_shards{provider=\"p0\"}"), "%s",
              body);
    free(body);
    kill(pid, SIGINT);
    expect_exit0(pid, log);
    /* only the loopback interface */
    cr_assert_eq(tc_run(&body,
                        "%s --vault %s repaird --metrics-addr "
                        "0.0.0.0:9999",
                        tu_bin(), c.vault),
                 2, "%s", body);
    free(body);
    free(s);
    free(log);
    tc_free(&c);
}

Test(repaird, runs_with_only_the_maintenance_keyring)
{
    struct tc c;
    struct sv_keyring *kr = NULL;
    char *log, *full, *hidden, *mk, *in, *got, *s;
    pid_t pid;

    tc_make(&c, 6, NULL);
    log = log_path(&c);
    put_file(&c, "a", 200000);
    cr_assert(asprintf(&full, "%s/vault.key", c.vault) > 0);
    cr_assert(asprintf(&hidden, "%s/offshore.key", c.tmp) > 0);
    cr_assert(asprintf(&mk, "%s/maint.key", c.tmp) > 0);
    cr_assert_eq(sv_keys_load(full, &kr), SV_OK);
    cr_assert_eq(sv_keys_export_maintenance(kr, mk), SV_OK);
    sv_keys_free(kr);
    cr_assert_eq(rename(full, hidden), 0);
    cr_assert_eq(tc_run(NULL, "rm -rf %s/prov/p0/*", c.vault), 0);
    pid = tc_spawn(log, "%s --vault %s repaird --interval 1h --key %s",
                   tu_bin(), c.vault, mk);
    cr_assert(tc_wait_for(log, "pass 1 done", WAIT), "%s", slurp(log));
    kill(pid, SIGTERM);
    expect_exit0(pid, log);
    s = slurp(log);
    cr_assert(strstr(s, "0 error(s)"), "%s", s);
    free(s);
    cr_assert(asprintf(&s, "%s/prov", c.vault) > 0);
    cr_assert_eq(tc_files(s), 24); /* 200000 bytes: 4 segments */
    free(s);
    /* without the data key nothing reads */
    cr_assert(asprintf(&got, "%s/got", c.tmp) > 0);
    cr_assert_neq(
        tc_run(&s, "%s --vault %s get a -o %s", tu_bin(), c.vault, got), 0);
    free(s);
    cr_assert_eq(rename(hidden, full), 0);
    cr_assert_eq(
        tc_run(&s, "%s --vault %s get a -o %s", tu_bin(), c.vault, got), 0,
        "%s", s);
    free(s);
    cr_assert(asprintf(&in, "%s/a", c.tmp) > 0);
    cr_assert(tc_same_file(in, got));
    free(in);
    free(got);
    free(full);
    free(hidden);
    free(mk);
    free(log);
    tc_free(&c);
}
