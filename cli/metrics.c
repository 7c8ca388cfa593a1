/* SPDX-License-Identifier: MIT */
/* saq metrics: the queues' Prometheus text (saq_queue_metrics), printed once or served on
 * /metrics over HTTP with libmicrohttpd. */
#define _GNU_SOURCE
#include "cli.h"

#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const char usage_metrics[] =
    "usage: saq metrics (--listen ADDR | --once) [-q QUEUE]...\n"
    "\n"
    "The queues' figures in the Prometheus text format (0.0.4), as saq_queue_metrics gives\n"
    "them: saq_queue_jobs{queue,state}, saq_queue_oldest_job_age_seconds{queue},\n"
    "saq_queue_workers{queue}, saq_worker_jobs_total{queue,worker,outcome},\n"
    "saq_worker_uptime_seconds{queue,worker}. Several --queue values make one exposition.\n"
    "  -l, --listen ADDR    serve them on http://ADDR/metrics until SIGINT or SIGTERM. ADDR:\n"
    "                       \":9108\" (every interface), \"127.0.0.1:9108\", \"[::1]:9108\",\n"
    "                       \"localhost:9108\"; port 0 picks a free port. The address served is\n"
    "                       printed on stderr. Each scrape reads Redis; when Redis cannot be\n"
    "                       reached the scrape gets HTTP 503 and the reason.\n"
    "      --once           print them once on stdout and exit\n";

/* ------------------------------------------------------------------------ */
/* One exposition from several queues                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    char *name;
    char *head;    /* its # HELP and # TYPE lines */
    size_t hlen;
    char *samples; /* every queue's sample lines */
    size_t slen;
} family_t;

typedef struct {
    family_t *f;
    size_t n, cap;
} families_t;

static family_t *family(families_t *fs, const char *name, size_t len)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strlen(fs->f[i].name) == len && strncmp(fs->f[i].name, name, len) == 0)
            return &fs->f[i];
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        family_t *nf = realloc(fs->f, cap * sizeof *nf);
        if (!nf)
            return NULL;
        fs->f = nf;
        fs->cap = cap;
    }
    family_t *f = &fs->f[fs->n++];
    memset(f, 0, sizeof *f);
    f->name = strndup(name, len);
    return f;
}

/* add one exposition: metadata lines once per family, samples under their family */
static void merge(families_t *fs, const char *text)
{
    family_t *cur = NULL;
    int cur_new = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        if (len == 0) {
            p += *p ? 1 : 0;
            continue;
        }
        if (strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0) {
            const char *name = p + 7;
            size_t nlen = strcspn(name, " \n");
            family_t *f = family(fs, name, nlen);
            if (f != cur) {
                cur = f;
                cur_new = f && f->hlen == 0;
            }
            if (f && cur_new)
                cli_appendf(&f->head, &f->hlen, "%.*s\n", (int)len, p);
        } else if (p[0] == '#') {
            /* another comment: dropped */
        } else {
            family_t *f = cur;
            if (!f) { /* a sample without metadata: its own family */
                size_t nlen = strcspn(p, "{ \n");
                f = family(fs, p, nlen);
            }
            if (f)
                cli_appendf(&f->samples, &f->slen, "%.*s\n", (int)len, p);
        }
        p += len;
        if (*p == '\n')
            p++;
    }
}

static char *families_text(families_t *fs)
{
    char *out = NULL;
    size_t len = 0;
    cli_appendf(&out, &len, "%s", "");
    for (size_t i = 0; i < fs->n; i++) {
        family_t *f = &fs->f[i];
        cli_appendf(&out, &len, "%s%s", f->head ? f->head : "", f->samples ? f->samples : "");
        free(f->name);
        free(f->head);
        free(f->samples);
    }
    free(fs->f);
    fs->f = NULL;
    fs->n = fs->cap = 0;
    return out;
}

/* ------------------------------------------------------------------------ */
/* Scraping                                                                 */
/* ------------------------------------------------------------------------ */

static saq_queue_t *queues[CLI_MAX_QUEUES];
static pthread_mutex_t scrape_lock = PTHREAD_MUTEX_INITIALIZER;

/* the exposition of every queue (owned), or NULL with the reason in err */
static char *scrape(char *err, size_t errlen)
{
    families_t fs = {0};
    for (int i = 0; i < cli_opts.nqueues; i++) {
        uint64_t tag = cli_tag();
        saq_event_t *ev = cli_await(saq_queue_metrics(queues[i], cli_cq(), tag), tag);
        char *text = NULL;
        if (ev && saq_event_status(ev) == SAQ_OK && saq_event_text(ev))
            text = strdup(saq_event_text(ev));
        if (!text) {
            int st = cli_ev_status(ev);
            if (cli_is_conn_error(st))
                snprintf(err, errlen, "cannot reach Redis at %s: %s", cli_url_redacted(),
                         cli_ev_msg(ev));
            else if (ev && st == SAQ_OK)
                snprintf(err, errlen, "metrics of queue '%s': no text", cli_opts.queues[i]);
            else
                snprintf(err, errlen, "metrics of queue '%s': %s", cli_opts.queues[i],
                         cli_ev_msg(ev));
            saq_event_free(ev);
            free(families_text(&fs));
            return NULL;
        }
        saq_event_free(ev);
        merge(&fs, text);
        free(text);
    }
    return families_text(&fs);
}

static int failing; /* the last scrape failed (log changes of state, not every scrape) */

/* Scrapes that arrive while one reads Redis share its result instead of queueing behind it
 * (and a failure under a second old is reused):
 * with Redis frozen, the fifth of five concurrent scrapes would otherwise wait five times
 * --timeout. Guarded by scrape_lock. */
static pthread_cond_t scrape_done = PTHREAD_COND_INITIALIZER;
static int scrape_running;
static unsigned long scrape_gen;
static char *shared_body; /* the last scrape's body (owned), its status */
static unsigned shared_status;
static int64_t shared_at; /* when it was read (mono_ms) */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* one scrape, or the result of the one in flight: the body (owned) and its HTTP status */
static char *scrape_shared(unsigned *status)
{
    pthread_mutex_lock(&scrape_lock);
    if (scrape_running) {
        unsigned long gen = scrape_gen;
        while (scrape_running && scrape_gen == gen)
            pthread_cond_wait(&scrape_done, &scrape_lock);
    } else if (shared_body && shared_status != MHD_HTTP_OK && mono_ms() - shared_at < 1000) {
        /* a failure under a second old: a request that waited on a polling thread busy with
         * that scrape (Redis frozen) is answered now rather than after another --timeout;
         * figures are always read afresh */
    } else {
        scrape_running = 1;
        pthread_mutex_unlock(&scrape_lock);
        char err[600];
        char *body = scrape(err, sizeof err);
        unsigned st = MHD_HTTP_OK;
        if (!body) {
            st = MHD_HTTP_SERVICE_UNAVAILABLE;
            if (!failing)
                cli_errorf("%s", err);
            failing = 1;
            size_t n = 0;
            cli_appendf(&body, &n, "saq: %s\n", err);
        } else {
            if (failing)
                cli_errorf("metrics: Redis answers again");
            failing = 0;
        }
        pthread_mutex_lock(&scrape_lock);
        free(shared_body);
        shared_body = body;
        shared_status = st;
        shared_at = mono_ms();
        scrape_gen++;
        scrape_running = 0;
        pthread_cond_broadcast(&scrape_done);
    }
    char *copy = shared_body ? strdup(shared_body) : NULL;
    *status = shared_status;
    pthread_mutex_unlock(&scrape_lock);
    return copy;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls, (void)version, (void)upload, (void)upload_size, (void)state;
    const char *ctype = "text/plain; charset=utf-8";
    unsigned status = MHD_HTTP_OK;
    char *body = NULL;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = strdup("only GET\n");
    } else if (strcmp(url, "/metrics") == 0) {
        body = scrape_shared(&status);
        if (status == MHD_HTTP_OK)
            ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(url, "/") == 0) {
        ctype = "text/html; charset=utf-8";
        body = strdup("<html><head><title>saq metrics</title></head><body>"
                      "<a href=\"/metrics\">/metrics</a></body></html>\n");
    } else {
        status = MHD_HTTP_NOT_FOUND;
        body = strdup("not found: the metrics are on /metrics\n");
    }
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* the daemon's options: 4 polling threads, up to 4096 connections, idle ones closed after 30 s */
#define HTTPD_OPTIONS                                                                           \
    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,      \
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END

/* start the daemon on ADDR; NULL with a message printed on failure */
static struct MHD_Daemon *listen_on(const char *addr)
{
    char host[256];
    const char *port;
    const char *colon = strrchr(addr, ':');
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') {
            cli_errorf("metrics: --listen '%s': expected [IPv6]:PORT", addr);
            return NULL;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - addr - 1), addr + 1);
        port = close + 2;
    } else if (colon) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
        port = colon + 1;
    } else {
        host[0] = '\0';
        port = addr;
    }
    long p;
    if (cli_parse_int(port, 0, 65535, &p)) {
        cli_errorf("metrics: --listen '%s': the port must be a number in 0..65535", addr);
        return NULL;
    }
    /* epoll with a few threads, not a thread per connection: idle connections (a slowloris
     * client holding a thousand sockets open) cost a descriptor, not a thread, and do not
     * use up the ~1000 connections select() allows before real scrapes are refused */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    struct MHD_Daemon *d;
    if (!host[0]) {
        d = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, (uint16_t)p, NULL, NULL, answer, NULL,
                             HTTPD_OPTIONS);
        if (!d) /* no IPv6 here */
            d = MHD_start_daemon(flags, (uint16_t)p, NULL, NULL, answer, NULL,
                                 HTTPD_OPTIONS);
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        int g = getaddrinfo(host, port, &hints, &ai);
        if (g != 0) {
            cli_errorf("metrics: --listen '%s': %s", addr, gai_strerror(g));
            return NULL;
        }
        d = MHD_start_daemon(flags | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0), (uint16_t)p,
                             NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                             HTTPD_OPTIONS);
        freeaddrinfo(ai);
    }
    if (!d)
        cli_errorf("metrics: cannot listen on '%s' (in use, or not an address of this host)",
                   addr);
    return d;
}

int cmd_metrics(int argc, char **argv)
{
    static const struct option own[] = {{"listen", required_argument, NULL, 'l'},
                                        {"once", no_argument, NULL, 'o'},
                                        {NULL, 0, NULL, 0}};
    const char *addr = NULL;
    int once = 0, c;
    while ((c = cli_getopt(argc, argv, "l:", own, usage_metrics)) != -1) {
        if (c == 'l')
            addr = optarg;
        else if (c == 'o')
            once = 1;
    }
    cli_operands("metrics", argc, argv, 0, NULL);
    if (!addr == !once)
        cli_usage_error("metrics", "give either --listen ADDR or --once");
    int rc = CLI_OK;
    for (int i = 0; i < cli_opts.nqueues && rc == CLI_OK; i++)
        rc = cli_open(cli_opts.queues[i], &queues[i]);
    if (rc)
        goto out;
    if (once) {
        char err[600];
        char *text = scrape(err, sizeof err);
        if (!text) {
            cli_errorf("%s", err);
            rc = CLI_ERR;
        } else {
            fputs(text, stdout);
            free(text);
        }
        goto out;
    }
    /* SIGINT/SIGTERM are taken by sigwait below: blocked before the daemon's threads start */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = listen_on(addr);
    if (!d) {
        rc = CLI_ERR;
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char shown[300];
    const char *colon = strrchr(addr, ':');
    if (addr[0] == '[' || colon)
        snprintf(shown, sizeof shown, "%.*s", (int)(strrchr(addr, ':') - addr), addr);
    else
        shown[0] = '\0';
    fprintf(stderr, "saq: serving metrics on http://%s:%u/metrics\n",
            shown[0] ? shown : "0.0.0.0", di ? (unsigned)di->port : 0u);
    fflush(stderr);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    free(shared_body);
    shared_body = NULL;
out:
    for (int i = 0; i < cli_opts.nqueues; i++)
        cli_close(queues[i]);
    return rc;
}
