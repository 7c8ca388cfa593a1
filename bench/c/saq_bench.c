/* SPDX-License-Identifier: MIT */
/* saq_bench: the C side of libsaq's benchmark harness (bench/run).
 *
 *   saq_bench enqueue URL QUEUE N INFLIGHT      N x saq_queue_enqueue_call("noop"),
 *                                               at most INFLIGHT in flight
 *   saq_bench fill URL QUEUE N [SLEEPFILE]      pre-enqueue N noop jobs (or one "sleep"
 *                                               job per line of SLEEPFILE, kwargs {"s": x})
 *                                               as fast as possible (not a measurement)
 *   saq_bench worker URL QUEUE CONCURRENCY EXPECT REMAINING
 *   saq_bench apply URL QUEUE N                 N sequential saq_queue_apply("noop")
 *
 * Worker protocol (the same in every language's driver): print "ready", wait
 * for a line "go" on stdin, take t0 and start the worker; once EXPECT handler
 * runs happened, poll count("incomplete") until it is <= REMAINING (the queue
 * is drained of the jobs under test), take t1 and print one JSON line with
 * t0/t1 (epoch seconds) and the elapsed time; then wait for "stop" (or EOF)
 * and stop the worker. EXPECT 0 just runs the worker (apply scenario).
 * Every measurement line is a JSON object on stdout starting with '{'. */
#include <saq.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "saq_bench: %s: %s\n", what, why);
    exit(1);
}

static saq_queue_t *open_queue(const char *url, const char *name, int max_ops)
{
    saq_conf_t *c = saq_conf_new();
    char n[16];
    snprintf(n, sizeof n, "%d", max_ops);
    if (saq_conf_set(c, "url", url) || saq_conf_set(c, "name", name) ||
        saq_conf_set(c, "max_concurrent_ops", n))
        die("conf", saq_conf_errmsg(c));
    saq_queue_t *q = saq_queue_new(c);
    if (!q)
        die("queue", saq_conf_errmsg(c));
    saq_conf_free(c);
    saq_event_t *ev = saq_queue_count_sync(q, "queued", 5000); /* connect now */
    if (saq_event_status(ev))
        die("connect", saq_event_errmsg(ev));
    saq_event_free(ev);
    return q;
}

/* Submit `n` enqueues of `fn` (kwargs from kw(i)), never more than `inflight`
 * outstanding; returns the elapsed seconds. */
static double run_enqueues(saq_queue_t *q, long n, int inflight, const char *fn,
                           const char *(*kw)(long i, char *buf, size_t len))
{
    saq_cq_t *cq = saq_cq_new();
    char buf[64];
    long sent = 0, done = 0;
    double t0 = mono_s();
    while (done < n) {
        while (sent < n && sent - done < inflight) {
            int rc = saq_queue_enqueue_call(q, fn, kw ? kw(sent, buf, sizeof buf) : NULL, cq, (uint64_t)sent);
            if (rc)
                die("enqueue", saq_strerror(rc));
            sent++;
        }
        saq_event_t *ev = saq_cq_poll(cq, -1);
        if (!ev)
            die("enqueue", "poll returned nothing");
        if (saq_event_status(ev))
            die("enqueue", saq_event_errmsg(ev));
        saq_event_free(ev);
        done++;
    }
    double el = mono_s() - t0;
    saq_cq_free(cq);
    return el;
}

static double *sleeps;
static const char *sleep_kw(long i, char *buf, size_t len)
{
    snprintf(buf, len, "{\"s\": %.6f}", sleeps[i]);
    return buf;
}

static int cmd_enqueue(const char *url, const char *name, long n, int inflight)
{
    saq_queue_t *q = open_queue(url, name, inflight);
    double el = run_enqueues(q, n, inflight, "noop", NULL);
    printf("{\"jobs\": %ld, \"elapsed\": %.6f}\n", n, el);
    saq_queue_close(q, 5000);
    saq_queue_free(q);
    return 0;
}

static int cmd_fill(const char *url, const char *name, long n, const char *sleepfile)
{
    saq_queue_t *q = open_queue(url, name, 1000);
    const char *fn = "noop";
    if (sleepfile) {
        FILE *f = fopen(sleepfile, "r");
        if (!f)
            die(sleepfile, "cannot open");
        sleeps = calloc((size_t)n, sizeof *sleeps);
        for (long i = 0; i < n; i++)
            if (fscanf(f, "%lf", &sleeps[i]) != 1)
                die(sleepfile, "too few lines");
        fclose(f);
        fn = "sleep";
    }
    double el = run_enqueues(q, n, 1000, fn, sleepfile ? sleep_kw : NULL);
    printf("{\"jobs\": %ld, \"elapsed\": %.6f}\n", n, el);
    saq_queue_close(q, 5000);
    saq_queue_free(q);
    return 0;
}

/* ---- worker ---- */

static atomic_long handled;
static long expect;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void counted(void)
{
    if (atomic_fetch_add(&handled, 1) + 1 == expect) {
        pthread_mutex_lock(&mu);
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static void noop(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_complete(job, "1");
    saq_job_free(job);
    counted();
}

static void sleep_fn(saq_job_t *job, void *ud)
{
    (void)ud;
    const char *kw = saq_job_kwargs(job);
    const char *p = kw ? strstr(kw, "\"s\"") : NULL;
    double s = 0;
    if (p && (p = strchr(p, ':')))
        s = strtod(p + 1, NULL);
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
    saq_job_complete(job, "1");
    saq_job_free(job);
    counted();
}

static int read_line(char *buf, size_t n)
{
    if (!fgets(buf, (int)n, stdin))
        return -1;
    buf[strcspn(buf, "\r\n")] = 0;
    return 0;
}

static int cmd_worker(const char *url, const char *name, const char *conc, long exp, long remaining)
{
    saq_conf_t *c = saq_conf_new();
    if (saq_conf_set(c, "url", url) || saq_conf_set(c, "name", name) ||
        saq_conf_set(c, "concurrency", conc))
        die("conf", saq_conf_errmsg(c));
    saq_queue_t *q = saq_queue_new(c);
    if (!q)
        die("queue", saq_conf_errmsg(c));
    saq_worker_t *w = saq_worker_new(q, c);
    if (!w)
        die("worker", saq_conf_errmsg(c));
    saq_conf_free(c);
    saq_worker_register(w, "noop", noop, NULL);
    saq_worker_register(w, "sleep", sleep_fn, NULL);
    saq_event_t *ev = saq_queue_count_sync(q, "queued", 5000); /* connect now */
    if (saq_event_status(ev))
        die("connect", saq_event_errmsg(ev));
    saq_event_free(ev);
    expect = exp;
    char line[64];
    printf("ready\n");
    fflush(stdout);
    if (read_line(line, sizeof line) || strcmp(line, "go"))
        return 1;
    double t0 = now_s();
    int rc = saq_worker_start(w, NULL, 0);
    if (rc)
        die("worker start", saq_strerror(rc));
    printf("started\n");
    fflush(stdout);
    if (exp > 0) {
        pthread_mutex_lock(&mu);
        while (atomic_load(&handled) < expect)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        for (;;) {
            ev = saq_queue_count_sync(q, "incomplete", 5000);
            long left = saq_event_status(ev) ? -1 : (long)saq_event_int(ev);
            saq_event_free(ev);
            if (left >= 0 && left <= remaining)
                break;
            usleep(200);
        }
        double t1 = now_s();
        printf("{\"jobs\": %ld, \"t0\": %.6f, \"t1\": %.6f, \"elapsed\": %.6f}\n", exp, t0, t1, t1 - t0);
        fflush(stdout);
    }
    while (read_line(line, sizeof line) == 0 && strcmp(line, "stop"))
        ;
    saq_worker_stop(w, 1000);
    saq_worker_wait(w, 10000);
    saq_worker_free(w);
    saq_queue_close(q, 2000);
    saq_queue_free(q);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_apply(const char *url, const char *name, long n)
{
    saq_queue_t *q = open_queue(url, name, 20);
    double *lat = calloc((size_t)n, sizeof *lat);
    saq_cq_t *cq = saq_cq_new();
    for (long i = 0; i < n; i++) {
        double t = mono_s();
        saq_job_t *job = saq_job_new("noop"); /* a new key each time, as saq's apply */
        int rc = saq_queue_apply(q, job, 10, cq, (uint64_t)i);
        saq_job_free(job);
        if (rc)
            die("apply", saq_strerror(rc));
        saq_event_t *ev = saq_cq_poll(cq, -1);
        lat[i] = (mono_s() - t) * 1000;
        if (saq_event_status(ev))
            die("apply", saq_event_errmsg(ev));
        saq_event_free(ev);
    }
    printf("{\"jobs\": %ld, \"lat_ms\": [", n);
    for (long i = 0; i < n; i++)
        printf("%s%.4f", i ? ", " : "", lat[i]);
    printf("]}\n");
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    fprintf(stderr, "apply: p50 %.3f ms p99 %.3f ms\n", lat[n / 2], lat[(n * 99) / 100]);
    saq_cq_free(cq);
    free(lat);
    saq_queue_close(q, 5000);
    saq_queue_free(q);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 6 && !strcmp(argv[1], "enqueue"))
        return cmd_enqueue(argv[2], argv[3], atol(argv[4]), atoi(argv[5]));
    if (argc >= 5 && !strcmp(argv[1], "fill"))
        return cmd_fill(argv[2], argv[3], atol(argv[4]), argc > 5 ? argv[5] : NULL);
    if (argc >= 7 && !strcmp(argv[1], "worker"))
        return cmd_worker(argv[2], argv[3], argv[4], atol(argv[5]), atol(argv[6]));
    if (argc >= 5 && !strcmp(argv[1], "apply"))
        return cmd_apply(argv[2], argv[3], atol(argv[4]));
    fprintf(stderr, "usage: saq_bench enqueue URL QUEUE N INFLIGHT | fill URL QUEUE N [SLEEPFILE] |\n"
                    "       worker URL QUEUE CONCURRENCY EXPECT REMAINING | apply URL QUEUE N\n");
    return 2;
}
