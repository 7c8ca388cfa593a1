/* SPDX-License-Identifier: MIT */
/* Logging (saq.h "Logging", issue 17) against a real redis-server: Redis unreachable at start
 * (one warning, not one per retry), a connection lost and recovered (with the outage's length),
 * an unreadable record, a job recovered from a dead worker, a failing handler and hook, the
 * worker's start and stop, log_level off, the default stderr sink's line, the cq sink's
 * SAQ_EVENT_LOG events; and a W3C traceparent from enqueue to the handler. */
#include "itest.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* ---- a log sink that keeps every record ---- */

typedef struct rec {
    int level;
    char *msg, *fields;
} rec_t;

enum { MAXREC = 4096 };
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static rec_t recs[MAXREC];
static int nrecs;

static void sink(int level, const char *message, const char *fields_json, void *ud)
{
    if (ud != &nrecs) /* not a cmocka assert: this runs on libsaq's threads */
        abort();
    pthread_mutex_lock(&mu);
    if (nrecs < MAXREC)
        recs[nrecs++] = (rec_t){level, strdup(message), strdup(fields_json)};
    pthread_mutex_unlock(&mu);
}

static void recs_clear(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nrecs; i++) {
        free(recs[i].msg);
        free(recs[i].fields);
    }
    nrecs = 0;
    pthread_mutex_unlock(&mu);
}

static int rec_matches(const rec_t *r, int level, const char *in_msg, const char *in_fields)
{
    return (level < 0 || r->level == level) && (!in_msg || strstr(r->msg, in_msg)) &&
           (!in_fields || strstr(r->fields, in_fields));
}

/* How many records so far match (level -1: any; NULL: any text). */
static int count_recs(int level, const char *in_msg, const char *in_fields)
{
    int n = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nrecs; i++)
        n += rec_matches(&recs[i], level, in_msg, in_fields);
    pthread_mutex_unlock(&mu);
    return n;
}

/* The fields of the first matching record within ms, parsed (cJSON_Delete), or the test fails. */
static cJSON *wait_rec(int level, const char *in_msg, const char *in_fields, int ms)
{
    double end = now_s() + ms / 1000.0;
    do {
        pthread_mutex_lock(&mu);
        for (int i = 0; i < nrecs; i++) {
            if (rec_matches(&recs[i], level, in_msg, in_fields)) {
                cJSON *j = cJSON_Parse(recs[i].fields);
                if (!j)
                    fail_msg("fields of \"%s\" are not JSON: %s", recs[i].msg, recs[i].fields);
                pthread_mutex_unlock(&mu);
                return j;
            }
        }
        pthread_mutex_unlock(&mu);
        sleep_ms(10);
    } while (now_s() < end);
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nrecs; i++)
        fprintf(stderr, "  record %d: %s %s\n", recs[i].level, recs[i].msg, recs[i].fields);
    pthread_mutex_unlock(&mu);
    fail_msg("no record of level %d with \"%s\" and fields with %s within %d ms", level,
             in_msg ? in_msg : "", in_fields ? in_fields : "", ms);
    return NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("field %s is not a number", k);
    return v->valuedouble;
}

/* A loopback port nothing listens on. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &n), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* A queue at url with its records going to sink() (or to stderr without `with_sink`), its
 * log_level (NULL: the default) and the conf pairs kv (NULL-terminated, may be NULL). */
static saq_queue_t *logq(const char *url, const char *prefix, const char *level, int with_sink,
                         const char **kv)
{
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", url), 0);
    assert_int_equal(saq_conf_set(c, "name", rh_queue_name(prefix)), 0);
    if (level)
        assert_int_equal(saq_conf_set(c, "log_level", level), 0);
    for (int i = 0; kv && kv[i]; i += 2)
        assert_int_equal(saq_conf_set(c, kv[i], kv[i + 1]), 0);
    if (with_sink)
        assert_int_equal(saq_conf_set_log(c, sink, &nrecs), SAQ_OK);
    saq_queue_t *q = saq_queue_new(c);
    if (!q)
        fail_msg("saq_queue_new: %s", saq_conf_errmsg(c));
    saq_conf_free(c);
    return q;
}

static void noop(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_complete(job, NULL);
    saq_job_free(job);
}

static void failing(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_fail(job, "ValueError: boom");
    saq_job_free(job);
}

#define TRACEBACK "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: deep"

static void failing_trace(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_fail(job, TRACEBACK);
    saq_job_free(job);
}

static saq_worker_t *start_worker(saq_queue_t *q, const char **kv)
{
    saq_worker_t *w = worker_with_conf(q, kv);
    assert_int_equal(saq_worker_register(w, "noop", noop, NULL), 0);
    assert_int_equal(saq_worker_register(w, "failing", failing, NULL), 0);
    assert_int_equal(saq_worker_register(w, "failing_trace", failing_trace, NULL), 0);
    return w;
}

static void stop_worker(saq_worker_t *w)
{
    assert_int_equal(saq_worker_stop(w, 0), 0);
    assert_int_equal(saq_worker_wait(w, 20000), 0);
    saq_worker_free(w);
}

static int setup(void **state)
{
    (void)state;
    recs_clear();
    return 0;
}

/* ---- Redis unreachable, lost, recovered ---- */

static void test_unreachable_at_start_warns_once(void **state)
{
    (void)state;
    char url[64];
    int port = closed_port();
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    const char *kv[] = {"reconnect_max_ms", "50", "command_timeout_ms", "500", NULL};
    saq_queue_t *q = logq(url, "unreach", "info", 1, kv);
    saq_worker_t *w = start_worker(q, NULL);
    assert_string_equal(saq_worker_conf_get(w, "log_level"), "info");
    double t0 = now_s();
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "redis unreachable", "SAQ_ECONN", 2000);
    assert_true(now_s() - t0 < 2.0);
    assert_string_equal(jstr(f, "error"), "SAQ_ECONN");
    assert_int_equal((int)jnum(f, "code"), SAQ_ECONN);
    assert_string_equal(jstr(f, "queue"), saq_queue_name(q));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_string_equal(jstr(f, "address"), addr);
    cJSON_Delete(f);
    /* retried every 50 ms or so for 1.5 s: still that one warning */
    sleep_ms(1500);
    assert_int_equal(count_recs(SAQ_LOG_WARNING, NULL, NULL), 1);
    /* the start, with the worker's id, concurrency and functions */
    f = wait_rec(SAQ_LOG_INFO, "started", NULL, 1000);
    assert_string_equal(jstr(f, "worker"), saq_worker_id(w));
    assert_int_equal((int)jnum(f, "concurrency"), 10);
    assert_string_equal(jstr(f, "functions"), "noop,failing,failing_trace");
    cJSON_Delete(f);
    char *id = strdup(saq_worker_id(w));
    stop_worker(w);
    f = wait_rec(SAQ_LOG_INFO, "stopped", NULL, 1000);
    assert_string_equal(jstr(f, "worker"), id);
    cJSON_Delete(f);
    free(id);
    saq_queue_free(q);
}

static void test_lost_and_recovered_with_outage_length(void **state)
{
    (void)state;
    rh_t *r = rh_start(0);
    const char *kv[] = {"reconnect_max_ms", "100", NULL};
    saq_queue_t *q = logq(r->url, "lost", "info", 1, kv);
    saq_worker_t *w = start_worker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *j = enq(q, "noop", NULL);
    saq_job_free(wait_status(q, saq_job_key(j), "complete", TMO));
    saq_job_free(j);
    assert_int_equal(count_recs(SAQ_LOG_WARNING, NULL, NULL), 0);
    rh_kill(r);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "connection lost", "SAQ_ECONN", 5000);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", r->port);
    assert_string_equal(jstr(f, "address"), addr);
    cJSON_Delete(f);
    sleep_ms(1500); /* reconnects fail every 100 ms or so meanwhile */
    assert_int_equal(count_recs(SAQ_LOG_INFO, "recovered", NULL), 0);
    rh_restart(r);
    f = wait_rec(SAQ_LOG_INFO, "recovered", "outage_ms", 10000);
    double ms = jnum(f, "outage_ms");
    assert_true(ms >= 1500 && ms < 15000);
    assert_true(jnum(f, "attempts") >= 2);
    cJSON_Delete(f);
    /* one warning for the whole outage: not one per connection or per retry */
    assert_int_equal(count_recs(SAQ_LOG_WARNING, NULL, NULL), 1);
    j = enq(q, "noop", NULL);
    saq_job_free(wait_status(q, saq_job_key(j), "complete", TMO));
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
    rh_stop(r);
}

static void test_no_sentinel_answers(void **state)
{
    (void)state;
    char url[100];
    int p1 = closed_port(), p2 = closed_port();
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d/mymaster/0", p1, p2);
    const char *kv[] = {"reconnect_max_ms", "50", NULL};
    saq_queue_t *q = logq(url, "nosentinel", NULL, 1, kv);
    saq_event_t *ev = saq_queue_count_sync(q, "queued", 3000);
    assert_int_not_equal(saq_event_status(ev), SAQ_OK);
    saq_event_free(ev);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "no sentinel could name the queue's redis master (2 asked)",
                        "SAQ_ECONN", 3000);
    cJSON_Delete(f);
    sleep_ms(500); /* asked again and again meanwhile */
    assert_int_equal(count_recs(SAQ_LOG_WARNING, NULL, NULL), 1);
    saq_queue_free(q);
}

static void test_tls_handshake_failure(void **state)
{
    (void)state;
    char url[100];
    /* a TLS client on the suite's plaintext port: the handshake fails */
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d/0?ssl_cert_reqs=none", R->port);
    const char *kv[] = {"connect_timeout_ms", "1000", NULL};
    saq_queue_t *q = logq(url, "tlsfail", NULL, 1, kv);
    saq_event_t *ev = saq_queue_count_sync(q, "queued", 3000);
    assert_int_not_equal(saq_event_status(ev), SAQ_OK);
    saq_event_free(ev);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "TLS", "SAQ_ETLS", 3000);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", R->port);
    assert_string_equal(jstr(f, "address"), addr);
    cJSON_Delete(f);
    saq_queue_free(q);
}

/* ---- jobs ---- */

static void test_unreadable_record_is_an_error_naming_its_key(void **state)
{
    (void)state;
    saq_queue_t *q = logq(R->url, "badrec", NULL, 1, NULL);
    const char *n = saq_queue_name(q);
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:garbage %s", n, "not json {"));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:garbage", n, n));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 saq:job:%s:garbage", n, n));
    saq_worker_t *w = start_worker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    cJSON *f = wait_rec(SAQ_LOG_ERROR, "cannot be read", "\"job\": \"garbage\"", TMO);
    assert_string_equal(jstr(f, "job"), "garbage");
    assert_non_null(strstr(jstr(f, "kept"), "libsaq:unreadable:garbage"));
    cJSON_Delete(f);
    assert_int_equal(count_recs(SAQ_LOG_INFO, NULL, NULL), 0); /* warning by default */
    saq_job_free(wait_status(q, "garbage", "failed", TMO));
    stop_worker(w);
    saq_queue_free(q);
}

static void test_job_of_a_dead_worker_recovered(void **state)
{
    (void)state;
    saq_queue_t *q = logq(R->url, "deadw", NULL, 1, NULL);
    const char *n = saq_queue_name(q);
    long long ms = (long long)(now_s() * 1000);
    char rec[600];
    snprintf(rec, sizeof rec, "{\"function\": \"noop\", \"key\": \"orphan\", \"queue\": \"%s\", "
             "\"status\": \"active\", \"worker_id\": \"ghost\", \"attempts\": 1, \"retries\": 3, "
             "\"timeout\": 600, \"queued\": %lld, \"started\": %lld, \"touched\": %lld}", n, ms, ms, ms);
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:orphan %s", n, rec));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:active saq:job:%s:orphan", n, n));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 saq:job:%s:orphan", n, n));
    const char *kv[] = {"dead_worker_check", "0.1", NULL};
    saq_worker_t *w = start_worker(q, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "recovered", "\"worker\": \"ghost\"", 30000);
    assert_string_equal(jstr(f, "job"), "orphan");
    assert_string_equal(jstr(f, "function"), "noop");
    assert_non_null(strstr(jstr(f, "reason"), "ghost is gone"));
    cJSON_Delete(f);
    saq_job_free(wait_status(q, "orphan", "complete", TMO)); /* retried, and run here */
    stop_worker(w);
    saq_queue_free(q);
}

static void test_swept_job(void **state)
{
    (void)state;
    saq_queue_t *q = logq(R->url, "swept", NULL, 1, NULL);
    const char *n = saq_queue_name(q);
    /* dequeued but never marked: stuck once the sweep's grace is over */
    saq_job_free(enq(q, "noop", "{\"key\": \"stuck\"}"));
    freeReplyObject(rh_cmd(RC, "LMOVE saq:%s:queued saq:%s:active LEFT RIGHT", n, n));
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_sweep(q, 60, 0.2, cq, 1), 0);
    saq_event_free(saq_cq_wait(cq, 1, TMO));
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "swept", "\"job\": \"stuck\"", TMO);
    assert_string_equal(jstr(f, "function"), "noop");
    assert_string_equal(jstr(f, "reason"), "swept");
    cJSON_Delete(f);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_failing_handler_names_job_and_function(void **state)
{
    (void)state;
    saq_queue_t *q = logq(R->url, "hfail", NULL, 1, NULL);
    saq_worker_t *w = start_worker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *j = enq(q, "failing", NULL);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "failed", "\"function\": \"failing\"", TMO);
    assert_string_equal(jstr(f, "job"), saq_job_key(j));
    assert_string_equal(jstr(f, "reason"), "ValueError: boom");
    assert_string_equal(jstr(f, "worker"), saq_worker_id(w));
    cJSON_Delete(f);
    saq_job_free(wait_status(q, saq_job_key(j), "failed", TMO));
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

/* a many-line error text (a stack trace): the message has its first line, the field all of it */
static void test_failing_handler_message_is_one_line(void **state)
{
    (void)state;
    saq_queue_t *q = logq(R->url, "hfailtb", NULL, 1, NULL);
    saq_worker_t *w = start_worker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *j = enq(q, "failing_trace", NULL);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "failed: Traceback (most recent call last): ...; ",
                        "\"function\": \"failing_trace\"", TMO);
    assert_string_equal(jstr(f, "reason"), TRACEBACK);
    cJSON_Delete(f);
    assert_int_equal(count_recs(SAQ_LOG_WARNING, "ValueError: deep", NULL), 0);
    saq_job_free(wait_status(q, saq_job_key(j), "failed", TMO));
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

static void test_pull_mode_failure(void **state)
{
    (void)state;
    saq_queue_t *q = logq(R->url, "pullf", NULL, 1, NULL);
    saq_worker_t *w = worker_with_conf(q, NULL);
    assert_int_equal(saq_worker_register_pull(w, "hosted"), 0);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_worker_start(w, cq, 5), 0);
    saq_job_t *j = enq(q, "hosted", NULL);
    saq_event_t *ev = saq_cq_poll(cq, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LEASE);
    saq_job_t *leased = saq_event_take_job(ev);
    saq_event_free(ev);
    assert_int_equal(saq_job_fail(leased, "RuntimeError: from the host"), SAQ_OK);
    saq_job_free(leased);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "failed", "\"function\": \"hosted\"", TMO);
    assert_string_equal(jstr(f, "job"), saq_job_key(j));
    assert_string_equal(jstr(f, "reason"), "RuntimeError: from the host");
    cJSON_Delete(f);
    saq_job_free(wait_status(q, saq_job_key(j), "failed", TMO));
    saq_job_free(j);
    assert_int_equal(saq_worker_stop(w, 0), 0);
    assert_int_equal(saq_worker_wait(w, 20000), 0);
    saq_worker_free(w);
    while ((ev = saq_cq_poll(cq, 0)))
        saq_event_free(ev);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static int refuse(saq_worker_t *w, saq_job_t *job, void *ud)
{
    (void)w, (void)job, (void)ud;
    return 7;
}

static void test_failing_before_hook(void **state)
{
    (void)state;
    saq_queue_t *q = logq(R->url, "hookf", NULL, 1, NULL);
    saq_worker_t *w = start_worker(q, NULL);
    assert_int_equal(saq_worker_add_hook(w, SAQ_HOOK_BEFORE_PROCESS, refuse, NULL), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *j = enq(q, "noop", NULL);
    cJSON *f = wait_rec(SAQ_LOG_WARNING, "hook", "\"hook\": \"before_process\"", TMO);
    assert_string_equal(jstr(f, "job"), saq_job_key(j));
    assert_string_equal(jstr(f, "function"), "noop");
    assert_int_equal((int)jnum(f, "returned"), 7);
    cJSON_Delete(f);
    saq_job_free(wait_status(q, saq_job_key(j), "failed", TMO));
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

/* ---- levels and sinks ---- */

static void test_log_level_off_silences(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", closed_port());
    const char *kv[] = {"reconnect_max_ms", "50", "command_timeout_ms", "500", NULL};
    saq_queue_t *q = logq(url, "off", "off", 1, kv);
    saq_worker_t *w = start_worker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_event_t *ev = saq_queue_count_sync(q, "queued", 2000);
    assert_int_equal(saq_event_status(ev), SAQ_ECONN);
    saq_event_free(ev);
    sleep_ms(500);
    stop_worker(w);
    saq_queue_free(q);
    assert_int_equal(count_recs(-1, NULL, NULL), 0);
    /* the conf refuses other words */
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "log_level", "loud"), SAQ_EINVAL);
    assert_non_null(strstr(saq_conf_errmsg(c), "log_level"));
    assert_int_equal(saq_conf_set(c, "log_level", "WARN"), SAQ_OK);
    assert_int_equal(saq_conf_set_log(NULL, sink, NULL), SAQ_EINVAL);
    assert_int_equal(saq_conf_set_log_cq(NULL, NULL, 0), SAQ_EINVAL);
    saq_conf_free(c);
}

/* Run fn with stderr going to a pipe; returns what was written (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    char *out = calloc(1, 65537);
    size_t len = 0;
    ssize_t n;
    while (len < 65536 && (n = read(p[0], out + len, 65536 - len)) > 0)
        len += (size_t)n;
    close(p[0]);
    return out;
}

static char qname[128];
static int qport;

/* A queue on a closed port with the default sink: an operation fails (a warning) and a worker
 * starts and stops (info records). */
static void unreachable_with_default_sink(void)
{
    char url[64];
    qport = closed_port();
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", qport);
    const char *kv[] = {"command_timeout_ms", "500", NULL};
    saq_queue_t *q = logq(url, "stderr", NULL, 0, kv);
    snprintf(qname, sizeof qname, "%s", saq_queue_name(q));
    saq_event_t *ev = saq_queue_count_sync(q, "queued", 2000);
    assert_int_equal(saq_event_status(ev), SAQ_ECONN);
    saq_event_free(ev);
    saq_worker_t *w = start_worker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    stop_worker(w);
    saq_queue_free(q);
}

static void failing_long(saq_job_t *job, void *ud)
{
    (void)ud;
    char text[4001];
    memset(text, 'x', 4000);
    text[4000] = 0;
    saq_job_fail(job, text);
    saq_job_free(job);
}

/* A job failed with a 4000-byte error, with the default sink. */
static void long_failure_with_default_sink(void)
{
    saq_queue_t *q = logq(R->url, "stderrlong", NULL, 0, NULL);
    saq_worker_t *w = worker_with_conf(q, NULL);
    assert_int_equal(saq_worker_register(w, "failing_long", failing_long, NULL), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *j = enq(q, "failing_long", NULL);
    saq_job_free(wait_status(q, saq_job_key(j), "failed", TMO));
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

/* the stderr line cuts a long field value (the record itself keeps it whole: see
 * test_failing_handler_message_is_one_line) */
static void test_default_sink_cuts_long_values(void **state)
{
    (void)state;
    unsetenv("SAQ_LOG_LEVEL");
    char *out = capture_stderr(long_failure_with_default_sink);
    const char *line = strstr(out, "saq: WARNING job ");
    if (!line)
        fail_msg("no failure line on stderr: [%s]", out);
    const char *eol = strchr(line, '\n');
    assert_non_null(eol);
    assert_true(eol - line < 1000);
    char want[220];
    memset(want, 'x', 200);
    snprintf(want + 200, sizeof want - 200, "...");
    assert_non_null(strstr(line, want));
    free(out);
}

static void test_default_sink_writes_lines_to_stderr(void **state)
{
    (void)state;
    unsetenv("SAQ_LOG_LEVEL");
    char *out = capture_stderr(unreachable_with_default_sink);
    char want[300];
    const char *line = strstr(out, "saq: WARNING redis unreachable: cannot connect to redis at ");
    if (!line)
        fail_msg("no warning line on stderr: [%s]", out);
    const char *eol = strchr(line, '\n');
    assert_non_null(eol);
    char *l = strndup(line, (size_t)(eol - line));
    snprintf(want, sizeof want, " queue=%s address=127.0.0.1:%d error=SAQ_ECONN code=%d", qname,
             qport, SAQ_ECONN);
    if (!strstr(l, want))
        fail_msg("line [%s] lacks [%s]", l, want);
    free(l);
    assert_null(strstr(out, "saq: INFO")); /* warnings and errors only, by default */
    free(out);
    /* SAQ_LOG_LEVEL=info: the worker's start and stop too */
    setenv("SAQ_LOG_LEVEL", "info", 1);
    out = capture_stderr(unreachable_with_default_sink);
    snprintf(want, sizeof want, "saq: INFO worker started (concurrency 10; functions: noop,failing,failing_trace) "
             "queue=%s worker=", qname);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "saq: INFO worker stopped queue="));
    assert_non_null(strstr(out, " functions=noop,failing,failing_trace"));
    free(out);
    /* a word it does not know: the default again */
    setenv("SAQ_LOG_LEVEL", "chatty", 1);
    out = capture_stderr(unreachable_with_default_sink);
    assert_null(strstr(out, "saq: INFO"));
    assert_non_null(strstr(out, "saq: WARNING"));
    free(out);
    unsetenv("SAQ_LOG_LEVEL");
}

static void test_cq_sink_delivers_log_events(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", closed_port());
    saq_cq_t *cq = saq_cq_new();
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", url), 0);
    assert_int_equal(saq_conf_set(c, "name", rh_queue_name("logcq")), 0);
    assert_int_equal(saq_conf_set(c, "command_timeout_ms", "500"), 0);
    assert_int_equal(saq_conf_set_log(c, sink, &nrecs), SAQ_OK);
    assert_int_equal(saq_conf_set_log_cq(c, cq, 77), SAQ_OK); /* replaces the fn */
    saq_queue_t *q = saq_queue_new(c);
    saq_conf_free(c); /* the queue keeps the cq */
    assert_non_null(q);
    saq_event_t *ev = saq_queue_count_sync(q, "queued", 2000);
    assert_int_equal(saq_event_status(ev), SAQ_ECONN);
    assert_null(saq_event_text(ev));
    saq_event_free(ev);
    ev = saq_cq_poll(cq, 2000);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LOG);
    assert_int_equal(saq_event_tag(ev), 77);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    assert_int_equal(saq_event_int(ev), SAQ_LOG_WARNING);
    assert_non_null(strstr(saq_event_text(ev), "cannot connect to redis"));
    cJSON *f = cJSON_Parse(saq_event_json(ev));
    assert_non_null(f);
    assert_string_equal(jstr(f, "queue"), saq_queue_name(q));
    assert_string_equal(jstr(f, "error"), "SAQ_ECONN");
    assert_int_equal((int)jnum(f, "code"), SAQ_ECONN);
    cJSON_Delete(f);
    saq_event_free(ev);
    saq_queue_free(q);
    saq_cq_free(cq);
    assert_int_equal(count_recs(-1, NULL, NULL), 0);
}

/* ---- traceparent, from the producer to the handler ---- */

static void echo_trace(saq_job_t *job, void *ud)
{
    (void)ud;
    char res[100];
    const char *tp = saq_job_traceparent(job);
    snprintf(res, sizeof res, "\"%s\"", tp ? tp : "none");
    saq_job_complete(job, res);
    saq_job_free(job);
}

static void test_traceparent_reaches_the_handler(void **state)
{
    (void)state;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    saq_queue_t *q = mkqueue("trace", NULL, NULL);
    saq_worker_t *w = worker_with_conf(q, NULL);
    assert_int_equal(saq_worker_register(w, "echo", echo_trace, NULL), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *j = saq_job_new("echo");
    assert_int_equal(saq_job_set_meta(j, "{\"tenant\": \"acme\"}"), 0);
    assert_int_equal(saq_job_set_traceparent(j, tp), SAQ_OK);
    saq_event_t *ev = OK_EV(saq_queue_enqueue_sync(q, j, TMO));
    saq_event_free(ev);
    saq_job_t *done = wait_status(q, saq_job_key(j), "complete", TMO);
    char want[100];
    snprintf(want, sizeof want, "\"%s\"", tp);
    assert_string_equal(saq_job_result(done), want);
    assert_string_equal(saq_job_traceparent(done), tp);
    /* in Redis, next to the meta's other members, as Python saq reads it */
    char *rec = stored(q, saq_job_key(j));
    char m[200];
    snprintf(m, sizeof m, "\"meta\": {\"tenant\": \"acme\", \"traceparent\": \"%s\"}", tp);
    if (!strstr(rec, m))
        fail_msg("record %s lacks %s", rec, m);
    free(rec);
    saq_job_free(done);
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

int main(void)
{
    unsetenv("SAQ_LOG_LEVEL"); /* the tests expect the default level unless they set one */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_unreachable_at_start_warns_once, setup),
        cmocka_unit_test_setup(test_lost_and_recovered_with_outage_length, setup),
        cmocka_unit_test_setup(test_no_sentinel_answers, setup),
        cmocka_unit_test_setup(test_tls_handshake_failure, setup),
        cmocka_unit_test_setup(test_unreadable_record_is_an_error_naming_its_key, setup),
        cmocka_unit_test_setup(test_job_of_a_dead_worker_recovered, setup),
        cmocka_unit_test_setup(test_swept_job, setup),
        cmocka_unit_test_setup(test_failing_handler_names_job_and_function, setup),
        cmocka_unit_test_setup(test_failing_handler_message_is_one_line, setup),
        cmocka_unit_test_setup(test_pull_mode_failure, setup),
        cmocka_unit_test_setup(test_failing_before_hook, setup),
        cmocka_unit_test_setup(test_log_level_off_silences, setup),
        cmocka_unit_test_setup(test_default_sink_writes_lines_to_stderr, setup),
        cmocka_unit_test_setup(test_default_sink_cuts_long_values, setup),
        cmocka_unit_test_setup(test_cq_sink_delivers_log_events, setup),
        cmocka_unit_test_setup(test_traceparent_reaches_the_handler, setup),
    };
    return cmocka_run_group_tests_name("log", tests, suite_setup, suite_teardown);
}
