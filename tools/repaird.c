/*
 * tools/repaird.c: `shardvault repaird`: the repair daemon. Runs in the
 * foreground (systemd Type=simple; contrib/shardvault-repaird.service),
 * logs with a timestamp and a level to stderr, runs a repair pass every
 * interval (the config's [repair] interval unless --interval).
 *
 * Signals (Redis style: the handlers only set volatile sig_atomic_t flags,
 * the loop acts on them): SIGTERM and SIGINT finish the segment in hand and
 * exit 0; SIGHUP reopens the vault, which reloads the config (a bad new
 * config is logged and the old one kept).
 *
 * Metrics in the Prometheus text format, after every pass and while
 * rebuilding: --metrics-file F (written atomically, for node-exporter's
 * textfile collector) and/or --metrics-addr 127.0.0.1:PORT (a tiny HTTP
 * server on the loopback interface, in its own thread, serving the last
 * rendering).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/repair.h"
#include "tools/repairutil.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE                                                                  \
    "repaird [--interval S] [--metrics-file F] [--metrics-addr "               \
    "127.0.0.1:PORT] [--key FILE] [--max-bytes-per-sec R] [--jobs N]"
#define TICK_MS       200
#define METRICS_EVERY 5.0 /* seconds between renderings during a pass */

static volatile sig_atomic_t g_stop, g_hup;

static void on_hup(int sig)
{
    (void)sig;
    g_hup = 1;
}

/* ---- logging --------------------------------------------------------- */

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

static void log_line(void *ctx, enum sv_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    struct timespec ts;
    struct tm tm;
    char when[32];

    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock(&g_log_mu);
    fprintf(stderr, "%s.%03ldZ repaird[%ld] %s: %s\n", when,
            ts.tv_nsec / 1000000, (long)getpid(), names[level], msg);
    fflush(stderr);
    pthread_mutex_unlock(&g_log_mu);
}

/* ---- metrics --------------------------------------------------------- */

struct metrics {
    const char *file;
    int lfd; /* listening socket, -1 if none */
    pthread_t th;
    int th_started;
    pthread_mutex_t mu;     /* text */
    pthread_mutex_t pub_mu; /* one publisher at a time */
    char *text;             /* the last rendering */
    double last;
    struct sv_vault *v;
    unsigned passes;
};

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_file_atomic(const char *path, const char *text)
{
    char *tmp;
    size_t len = strlen(text), off = 0;
    ssize_t w;
    int fd;

    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
        return;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        sv_warn("metrics: cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return;
    }
    while (off < len) {
        w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        off += (size_t)w;
    }
    if (off < len || fsync(fd) || close(fd) || rename(tmp, path)) {
        sv_warn("metrics: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
}

static void publish(struct metrics *m, const struct sv_repair_stats *last)
{
    char *text;

    if (!m->file && m->lfd < 0)
        return;
    text = rt_metrics(m->v, last, m->passes);
    if (!text)
        return;
    if (m->file)
        write_file_atomic(m->file, text);
    pthread_mutex_lock(&m->mu);
    free(m->text);
    m->text = text;
    pthread_mutex_unlock(&m->mu);
    m->last = mono();
}

/* Answer one HTTP request with the last rendering (any path: it is the
 * only resource). */
static void serve(struct metrics *m, int fd)
{
    struct timeval tv = {2, 0};
    char req[2048], head[256];
    char *body = NULL;
    size_t got = 0;
    ssize_t r;
    int n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    while (got < sizeof(req) - 1) {
        r = read(fd, req + got, sizeof(req) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    pthread_mutex_lock(&m->mu);
    if (m->text)
        body = strdup(m->text);
    pthread_mutex_unlock(&m->mu);
    if (!body)
        body = strdup("# no pass yet\n");
    if (body && got >= 4 && !strncmp(req, "GET ", 4)) {
        n = snprintf(head, sizeof(head),
                     "HTTP/1.0 200 OK\r\nContent-Type: text/plain; "
                     "version=0.0.4\r\nContent-Length: %zu\r\nConnection: "
                     "close\r\n\r\n",
                     strlen(body));
        if (write(fd, head, (size_t)n) == n &&
            write(fd, body, strlen(body)) < 0)
            sv_debug("metrics: a client left early");
    } else {
        static const char bad[] = "HTTP/1.0 405 Method Not Allowed\r\n"
                                  "Content-Length: 0\r\n\r\n";

        if (write(fd, bad, sizeof(bad) - 1) < 0)
            sv_debug("metrics: a client left early");
    }
    free(body);
}

static void *http_main(void *arg)
{
    struct metrics *m = arg;
    struct pollfd pfd;
    int fd;

    pfd.fd = m->lfd;
    pfd.events = POLLIN;
    while (!g_stop) {
        if (poll(&pfd, 1, TICK_MS) <= 0)
            continue;
        fd = accept(m->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve(m, fd);
        close(fd);
    }
    return NULL;
}

/* "127.0.0.1:PORT", "localhost:PORT" or ":PORT"; loopback only. */
static int listen_on(const char *addr, int *port_out)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    const char *colon = strrchr(addr, ':');
    uint64_t port;
    int fd, one = 1;

    if (!colon || vt_parse_u64(colon + 1, &port) || port > 65535)
        usage_die(USAGE, "--metrics-addr: '%s' is not HOST:PORT", addr);
    if (colon != addr && strncmp(addr, "127.0.0.1:", 10) &&
        strncmp(addr, "localhost:", 10))
        usage_die(USAGE,
                  "--metrics-addr: only 127.0.0.1 is served (the "
                  "metrics are for a local collector), not '%s'",
                  addr);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die(1, "--metrics-addr %s: socket: %s", addr, strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8) ||
        getsockname(fd, (struct sockaddr *)&sa, &sl))
        die(1, "--metrics-addr %s: %s", addr, strerror(errno));
    *port_out = ntohs(sa.sin_port);
    return fd;
}

/* Progress callback (from the pass's job threads): refresh the metrics
 * now and then; one thread at a time, the others skip. */
static void progress(void *ctx, enum sv_repair_phase ph,
                     const struct sv_repair_stats *s)
{
    struct metrics *m = ctx;

    (void)ph;
    (void)s;
    if (pthread_mutex_trylock(&m->pub_mu))
        return;
    if (mono() - m->last >= METRICS_EVERY)
        publish(m, NULL);
    pthread_mutex_unlock(&m->pub_mu);
}

/* ---- the loop -------------------------------------------------------- */

static void log_pass(unsigned n, enum sv_err rc,
                     const struct sv_repair_stats *s)
{
    char a[32], b[32];

    sv_info("pass %u %s in %.1f s: %llu provider(s) listed, %llu missing, "
            "%llu collected; scrub %s, %llu bad; %llu segment(s) repaired "
            "(%llu rebuilt, %llu moved, %s written, %s read), %llu left "
            "failed, %llu lost; %u error(s)",
            n,
            rc == SV_OK     ? "done"
            : rc == SV_INTR ? "stopped"
                            : "failed",
            s->seconds, (unsigned long long)s->providers_listed,
            (unsigned long long)s->missing, (unsigned long long)s->collected,
            vt_size(s->scrub_bytes, a), (unsigned long long)s->scrub_bad,
            (unsigned long long)s->segments_repaired,
            (unsigned long long)s->shards_rebuilt,
            (unsigned long long)s->shards_moved, vt_size(s->bytes_written, b),
            vt_size(s->bytes_read, a), (unsigned long long)s->segments_failed,
            (unsigned long long)s->segments_lost, s->errors);
    if (rc && rc != SV_INTR)
        sv_error("pass %u: %s", n, sv_errmsg(rc));
}

/* Reopen the vault (new config); keep the old one if that fails. */
static void reload(struct sv_vault **v, const char *key, uint64_t *interval,
                   int fixed_interval)
{
    struct sv_vault *nv = NULL;
    struct sv_vault_info info;
    enum sv_err rc;

    sv_info("SIGHUP: reloading the configuration");
    rc = sv_repair_open(g_opt.vault_dir, key, &nv);
    if (rc) {
        sv_error("reload failed, keeping the running configuration: %s",
                 sv_errmsg(rc));
        return;
    }
    sv_vault_close(*v);
    *v = nv;
    sv_vault_info(nv, &info);
    if (!fixed_interval)
        *interval = sv_repair_interval(nv);
    sv_info("configuration reloaded from %s: k=%u m=%u, %zu provider(s), "
            "interval %llu s",
            info.config_path, info.k, info.m, sv_vault_nprov(nv),
            (unsigned long long)*interval);
}

int cmd_repaird(int argc, char **argv)
{
    struct sv_repair_opts o = {0};
    struct sv_repair_stats s;
    struct metrics m;
    struct sigaction sa;
    struct sv_vault *v = NULL;
    const char *key = NULL, *addr = NULL;
    uint64_t interval = 0;
    int i, port = 0, fixed_interval = 0;
    double until;
    enum sv_err rc;
    enum sv_log_level lvl = SV_LOG_INFO;

    memset(&m, 0, sizeof(m));
    m.lfd = -1;
    pthread_mutex_init(&m.mu, NULL);
    pthread_mutex_init(&m.pub_mu, NULL);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--interval") && i + 1 < argc) {
            if (sv_parse_duration(argv[++i], &interval) || !interval)
                usage_die(USAGE, "--interval: '%s' is not a duration", argv[i]);
            fixed_interval = 1;
        } else if (!strcmp(a, "--metrics-file") && i + 1 < argc) {
            m.file = argv[++i];
        } else if (!strcmp(a, "--metrics-addr") && i + 1 < argc) {
            addr = argv[++i];
        } else if (!rt_parse_opt(argc, argv, &i, USAGE, &o, &key)) {
            usage_die(USAGE, "unknown argument '%s'", a);
        }
    }
    if (g_opt.quiet)
        lvl = SV_LOG_WARN;
    else if (g_opt.verbose)
        lvl = SV_LOG_DEBUG;
    sv_log_set(log_line, NULL, lvl);

    /* Handlers before any thread exists; no SA_RESTART, so a sleep or a
     * poll wakes up for them. */
    rt_on_stop_signals(&g_stop);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_hup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = sv_repair_open(g_opt.vault_dir, key, &v);
    if (rc) {
        sv_error("cannot open the vault: %s", sv_errmsg(rc));
        return 1;
    }
    if (!fixed_interval)
        interval = sv_repair_interval(v);
    m.v = v;
    if (addr) {
        m.lfd = listen_on(addr, &port);
        if (pthread_create(&m.th, NULL, http_main, &m)) {
            sv_error("cannot start the metrics listener");
            sv_vault_close(v);
            return 1;
        }
        m.th_started = 1;
        sv_info("metrics on http://127.0.0.1:%d/metrics", port);
    }
    sv_info("started on %s: a pass every %llu s", g_opt.vault_dir,
            (unsigned long long)interval);
    o.stop = &g_stop;
    o.progress = progress;
    o.progress_ctx = &m;
    publish(&m, NULL);
    while (!g_stop) {
        m.passes++;
        sv_info("pass %u starting", m.passes);
        rc = sv_repair_pass(v, &o, &s);
        log_pass(m.passes, rc, &s);
        pthread_mutex_lock(&m.pub_mu);
        publish(&m, &s);
        pthread_mutex_unlock(&m.pub_mu);
        if (g_stop)
            break;
        until = mono() + (double)interval;
        while (!g_stop && !g_hup && mono() < until)
            poll(NULL, 0, TICK_MS);
        if (g_hup) {
            g_hup = 0;
            reload(&v, key, &interval, fixed_interval);
            m.v = v;
        }
    }
    sv_info("stopping (signal): the segment in hand was finished");
    if (m.th_started)
        pthread_join(m.th, NULL);
    if (m.lfd >= 0)
        close(m.lfd);
    sv_vault_close(v);
    free(m.text);
    pthread_mutex_destroy(&m.mu);
    pthread_mutex_destroy(&m.pub_mu);
    return 0;
}
