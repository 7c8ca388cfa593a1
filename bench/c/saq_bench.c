/* SPDX-License-Identifier: MIT */
/* saq_bench: the C side of libsaq's benchmark harness (bench/run).
 *
 *   saq_bench enqueue URL QUEUE N INFLIGHT      N x saq_queue_enqueue_call("noop"),
 *                                               at most INFLIGHT in flight
 *   saq_bench enqueue-bulk URL QUEUE N CHUNK    N "noop" jobs by saq_queue_enqueue_many,
 *                                               CHUNK per call, one call at a time
 *   saq_bench fill URL QUEUE N [SLEEPFILE]      pre-enqueue N noop jobs (or one "sleep"
 *                                               job per line of SLEEPFILE, kwargs {"s": x})
 *                                               as fast as possible (not a measurement)
 *   saq_bench worker URL QUEUE CONCURRENCY EXPECT REMAINING
 *   saq_bench apply URL QUEUE N                 N sequential saq_queue_apply("noop")
 *   saq_bench produce URL QUEUES N INFLIGHT RATE
 *                                               the cluster scenario's producer: prints
 *                                               "ready", waits for "go", then enqueues
 *                                               "noop" jobs round-robin over QUEUES
 *                                               (comma-separated; with N > 0 strictly in
 *                                               turn, with N = 0 skipping a queue whose
 *                                               enqueues are all out), at most INFLIGHT in
 *                                               flight per queue, RATE jobs/s in all (0:
 *                                               as fast as it can), N in all (0: until a
 *                                               line "stop"); a failed enqueue is counted,
 *                                               not retried. Prints one JSON line: ok and
 *                                               error counts (per queue too), the first
 *                                               errors' messages, the longest enqueue;
 *                                               then waits for "stop" (or EOF).
 *
 * QUEUES of the worker may be a comma-separated list too: the first is the
 * worker's own queue, the others are added with saq_worker_add_queue (weight
 * 1, queue_order "weighted", so every queue, and so every cluster master, is
 * served at once); "incomplete" is then summed over the queues.
 *
 * Worker protocol (the same in every language's driver): print "ready", wait
 * for a line "go" on stdin, take t0 and start the worker; once EXPECT handler
 * runs happened, poll count("incomplete") until it is <= REMAINING (the queue
 * is drained of the jobs under test), take t1 and print one JSON line with
 * t0/t1 (epoch seconds) and the elapsed time; then wait for "stop" (or EOF)
 * and stop the worker. EXPECT 0 just runs the worker (apply scenario).
 * EXPECT -1 (the workers row: several worker processes on one queue, none of
 * which knows its share): poll count("incomplete") every millisecond from the
 * start until it is <= REMAINING, then print the line as above with "jobs" =
 * the handler runs of this process.
 * Failover figures: a line "fault MS [QUEUE]" (epoch milliseconds of the fault;
 * once per process) arms the worker, which answers "armed" and from then on
 * notes the time of each handler run (of QUEUE's jobs, when given); a line
 * "report [FROM_MS [TO_MS]]" prints one JSON line with the longest stretch
 * without one from the fault (or FROM, if later) to TO (default: no end):
 * {"fault", "runs", "stalled_from", "resumed", "last", "now"} (epoch seconds;
 * "resumed" is the first run after the stall, "runs" those in the window).
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

static int cmd_enqueue_bulk(const char *url, const char *name, long n, long chunk)
{
    saq_queue_t *q = open_queue(url, name, 20);
    saq_cq_t *cq = saq_cq_new();
    if (chunk < 1)
        chunk = 1;
    saq_job_t **jobs = calloc((size_t)chunk, sizeof *jobs);
    double t0 = mono_s();
    for (long i = 0; i < n; i += chunk) {
        long k = n - i < chunk ? n - i : chunk;
        for (long j = 0; j < k; j++)
            if (!(jobs[j] = saq_job_new("noop")))
                die("enqueue-bulk", "out of memory");
        int rc = saq_queue_enqueue_many(q, jobs, (size_t)k, cq, 0);
        if (rc)
            die("enqueue-bulk", saq_strerror(rc));
        for (long j = 0; j < k; j++) /* copied by the submit */
            saq_job_free(jobs[j]);
        saq_event_t *ev = saq_cq_poll(cq, -1);
        if (!ev)
            die("enqueue-bulk", "poll returned nothing");
        if (saq_event_status(ev))
            die("enqueue-bulk", saq_event_errmsg(ev));
        if (saq_event_int(ev) != k)
            die("enqueue-bulk", "a job was not enqueued");
        saq_event_free(ev);
    }
    double el = mono_s() - t0;
    printf("{\"jobs\": %ld, \"elapsed\": %.6f}\n", n, el);
    free(jobs);
    saq_cq_free(cq);
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
static _Atomic int64_t fault_ms; /* 0: not armed */
static char fault_queue[256];    /* "" = any queue; written before fault_ms is set */
#define MAX_MARKS (1 << 20)
static double *marks;            /* completion times (epoch s) since the fault */
static atomic_long nmarks;

/* Once armed: note the time of every handler run of the watched queue. */
static void mark_completion(const saq_job_t *job)
{
    if (!atomic_load(&fault_ms))
        return;
    const char *qn = saq_job_queue(job);
    if (fault_queue[0] && (!qn || strcmp(qn, fault_queue)))
        return;
    long i = atomic_fetch_add(&nmarks, 1);
    if (i < MAX_MARKS)
        marks[i] = now_s();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The "report [FROM_MS [TO_MS]]" line: the longest stretch without a handler
 * run of the watched queue between the fault (or FROM, when later; it counts
 * as the first point) and TO (default: no end), its end being when work
 * resumed; "last" is the last run noted at all. */
static void report_gap(double lo, double hi)
{
    long n = atomic_load(&nmarks);
    n = n > MAX_MARKS ? MAX_MARKS : n;
    double *t = calloc((size_t)n + 1, sizeof *t);
    double fault = (double)atomic_load(&fault_ms) / 1000;
    t[0] = lo > fault ? lo : fault;
    memcpy(t + 1, marks, (size_t)n * sizeof *t);
    qsort(t + 1, (size_t)n, sizeof *t, cmp_double);
    double last = n ? t[n] : 0, from = t[0], to = t[0];
    long k = 1;
    for (long i = 1; i <= n; i++) /* keep the runs in (t[0], hi] */
        if (t[i] > t[0] && (hi <= 0 || t[i] <= hi))
            t[k++] = t[i];
    for (long i = 1; i < k; i++)
        if (t[i] - t[i - 1] > to - from)
            from = t[i - 1], to = t[i];
    printf("{\"fault\": %.6f, \"runs\": %ld, \"stalled_from\": %.6f, \"resumed\": %.6f, \"last\": %.6f, "
           "\"now\": %.6f}\n", fault, k - 1, from, to, last, now_s());
    fflush(stdout);
    free(t);
}

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
    mark_completion(job);
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

/* Split a comma-separated list in place into at most `max` names. */
static int split_names(char *list, char **names, int max)
{
    int n = 0;
    for (char *tok = strtok(list, ","); tok && n < max; tok = strtok(NULL, ","))
        names[n++] = tok;
    if (n == 0)
        die("queues", "empty list");
    return n;
}

#define MAX_QUEUES 16

static saq_queue_t *new_queue(const char *url, const char *name)
{
    saq_conf_t *c = saq_conf_new();
    if (saq_conf_set(c, "url", url) || saq_conf_set(c, "name", name))
        die("conf", saq_conf_errmsg(c));
    saq_queue_t *q = saq_queue_new(c);
    if (!q)
        die("queue", saq_conf_errmsg(c));
    saq_conf_free(c);
    return q;
}

static int cmd_worker(const char *url, char *queues, const char *conc, long exp, long remaining)
{
    char *names[MAX_QUEUES];
    saq_queue_t *qs[MAX_QUEUES];
    int nq = split_names(queues, names, MAX_QUEUES);
    for (int i = 0; i < nq; i++)
        qs[i] = new_queue(url, names[i]);
    saq_conf_t *c = saq_conf_new();
    if (saq_conf_set(c, "concurrency", conc) || (nq > 1 && saq_conf_set(c, "queue_order", "weighted")))
        die("conf", saq_conf_errmsg(c));
    saq_worker_t *w = saq_worker_new(qs[0], c);
    if (!w)
        die("worker", saq_conf_errmsg(c));
    saq_conf_free(c);
    for (int i = 1; i < nq; i++)
        if (saq_worker_add_queue(w, qs[i], 1))
            die("add queue", saq_worker_errmsg(w));
    saq_worker_register(w, "noop", noop, NULL);
    saq_worker_register(w, "sleep", sleep_fn, NULL);
    for (int i = 0; i < nq; i++) {
        saq_event_t *ev = saq_queue_count_sync(qs[i], "queued", 5000); /* connect now */
        if (saq_event_status(ev))
            die("connect", saq_event_errmsg(ev));
        saq_event_free(ev);
    }
    expect = exp;
    char line[512];
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
    if (exp != 0) {
        pthread_mutex_lock(&mu);
        while (exp > 0 && atomic_load(&handled) < expect)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        for (;;) {
            long left = 0;
            for (int i = 0; i < nq && left >= 0; i++) {
                saq_event_t *ev = saq_queue_count_sync(qs[i], "incomplete", 5000);
                left = saq_event_status(ev) ? -1 : left + (long)saq_event_int(ev);
                saq_event_free(ev);
            }
            if (left >= 0 && left <= remaining)
                break;
            usleep(exp > 0 ? 200 : 1000);
        }
        double t1 = now_s();
        printf("{\"jobs\": %ld, \"t0\": %.6f, \"t1\": %.6f, \"elapsed\": %.6f}\n",
               exp > 0 ? exp : atomic_load(&handled), t0, t1, t1 - t0);
        fflush(stdout);
    }
    while (read_line(line, sizeof line) == 0 && strcmp(line, "stop")) {
        long long ms;
        char qn[sizeof fault_queue] = "";
        if (sscanf(line, "fault %lld %255s", &ms, qn) >= 1 && !atomic_load(&fault_ms)) {
            if (!(marks = calloc(MAX_MARKS, sizeof *marks)))
                die("fault", "out of memory");
            memcpy(fault_queue, qn, sizeof fault_queue);
            atomic_store(&fault_ms, (int64_t)ms);
            printf("armed\n");
            fflush(stdout);
        } else if (!strncmp(line, "report", 6) && atomic_load(&fault_ms)) {
            long long lo = 0, hi = 0;
            sscanf(line + 6, "%lld %lld", &lo, &hi);
            report_gap((double)lo / 1000, (double)hi / 1000);
        }
    }
    saq_worker_stop(w, 1000);
    saq_worker_wait(w, 10000);
    saq_worker_free(w);
    for (int i = 0; i < nq; i++) {
        saq_queue_close(qs[i], 2000);
        saq_queue_free(qs[i]);
    }
    return 0;
}

/* ---- producer (cluster scenario) ---- */

static atomic_int stop_producing;

static void *stdin_watch(void *arg)
{
    (void)arg;
    char line[64];
    while (read_line(line, sizeof line) == 0 && strcmp(line, "stop"))
        ;
    atomic_store(&stop_producing, 1);
    return NULL;
}

static int cmd_produce(const char *url, char *queues, long n, int inflight, double rate)
{
    char *names[MAX_QUEUES];
    saq_queue_t *qs[MAX_QUEUES];
    long ok[MAX_QUEUES] = {0}, err[MAX_QUEUES] = {0};
    int busy[MAX_QUEUES] = {0};
    int nq = split_names(queues, names, MAX_QUEUES);
    for (int i = 0; i < nq; i++)
        qs[i] = open_queue(url, names[i], inflight);
    saq_cq_t *cq = saq_cq_new();
    /* the submit time of each in-flight enqueue, by tag = slot index */
    int slots = inflight * nq;
    double *sent_at = calloc((size_t)slots, sizeof *sent_at);
    int *slot_q = calloc((size_t)slots, sizeof *slot_q);
    int *free_slots = calloc((size_t)slots, sizeof *free_slots);
    int nfree = slots;
    for (int i = 0; i < slots; i++)
        free_slots[i] = slots - 1 - i;
    char line[64];
    printf("ready\n");
    fflush(stdout);
    if (read_line(line, sizeof line) || strcmp(line, "go"))
        return 1;
    pthread_t th;
    if (n == 0)
        pthread_create(&th, NULL, stdin_watch, NULL);
    char msgs[3][200];
    int nmsg = 0;
    double max_lat = 0, first_err = 0, last_err = 0;
    long sent = 0, done = 0;
    int next = 0;
    double t0 = mono_s();
    for (;;) {
        int stopping = n ? sent >= n : atomic_load(&stop_producing);
        if (stopping && done == sent)
            break;
        double now = mono_s();
        long due = rate > 0 ? (long)((now - t0) * rate) + 1 : sent + slots;
        /* submit what is due, round-robin */
        while (!stopping && sent < due && (n == 0 || sent < n) && nfree > 0) {
            int qi = -1;
            /* a fixed total goes strictly round-robin (every queue gets the same
             * share); an open-ended run skips a stuck queue */
            for (int k = 0; k < (n ? 1 : nq); k++)
                if (busy[(next + k) % nq] < inflight) {
                    qi = (next + k) % nq;
                    break;
                }
            if (qi < 0)
                break;
            next = (qi + 1) % nq;
            int slot = free_slots[--nfree];
            sent_at[slot] = mono_s();
            slot_q[slot] = qi;
            int rc = saq_queue_enqueue_call(qs[qi], "noop", NULL, cq, (uint64_t)slot);
            if (rc)
                die("enqueue", saq_strerror(rc));
            busy[qi]++;
            sent++;
            stopping = n ? sent >= n : 0;
        }
        int wait_ms = rate > 0 ? 1 : 100;
        saq_event_t *ev = saq_cq_poll(cq, done < sent ? wait_ms : 1);
        for (; ev; ev = saq_cq_poll(cq, 0)) {
            int slot = (int)saq_event_tag(ev), qi = slot_q[slot];
            double lat = mono_s() - sent_at[slot];
            if (lat > max_lat)
                max_lat = lat;
            if (saq_event_status(ev)) {
                err[qi]++;
                last_err = now_s();
                if (!first_err)
                    first_err = last_err;
                if (nmsg < 3)
                    snprintf(msgs[nmsg++], sizeof msgs[0], "%s: %s", saq_strerror(saq_event_status(ev)),
                             saq_event_errmsg(ev) ? saq_event_errmsg(ev) : "");
            } else {
                ok[qi]++;
            }
            saq_event_free(ev);
            busy[qi]--;
            free_slots[nfree++] = slot;
            done++;
        }
    }
    double el = mono_s() - t0;
    long tok = 0, terr = 0;
    for (int i = 0; i < nq; i++)
        tok += ok[i], terr += err[i];
    printf("{\"jobs\": %ld, \"ok\": %ld, \"errors\": %ld, \"elapsed\": %.6f, \"max_latency_ms\": %.3f, "
           "\"first_error\": %.6f, \"last_error\": %.6f, \"per_queue\": {",
           sent, tok, terr, el, max_lat * 1000, first_err, last_err);
    for (int i = 0; i < nq; i++)
        printf("%s\"%s\": [%ld, %ld]", i ? ", " : "", names[i], ok[i], err[i]);
    printf("}, \"messages\": [");
    for (int i = 0; i < nmsg; i++) {
        for (char *p = msgs[i]; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                *p = ' ';
        printf("%s\"%s\"", i ? ", " : "", msgs[i]);
    }
    printf("]}\n");
    fflush(stdout);
    if (n == 0)
        pthread_join(th, NULL);
    else
        while (read_line(line, sizeof line) == 0 && strcmp(line, "stop"))
            ;
    saq_cq_free(cq);
    for (int i = 0; i < nq; i++) {
        saq_queue_close(qs[i], 5000);
        saq_queue_free(qs[i]);
    }
    free(sent_at);
    free(slot_q);
    free(free_slots);
    return 0;
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
    if (argc >= 6 && !strcmp(argv[1], "enqueue-bulk"))
        return cmd_enqueue_bulk(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
    if (argc >= 5 && !strcmp(argv[1], "fill"))
        return cmd_fill(argv[2], argv[3], atol(argv[4]), argc > 5 ? argv[5] : NULL);
    if (argc >= 7 && !strcmp(argv[1], "worker"))
        return cmd_worker(argv[2], argv[3], argv[4], atol(argv[5]), atol(argv[6]));
    if (argc >= 5 && !strcmp(argv[1], "apply"))
        return cmd_apply(argv[2], argv[3], atol(argv[4]));
    if (argc >= 7 && !strcmp(argv[1], "produce"))
        return cmd_produce(argv[2], argv[3], atol(argv[4]), atoi(argv[5]), atof(argv[6]));
    fprintf(stderr, "usage: saq_bench enqueue URL QUEUE N INFLIGHT | enqueue-bulk URL QUEUE N CHUNK |\n"
                    "       fill URL QUEUE N [SLEEPFILE] |\n"
                    "       worker URL QUEUE[,QUEUE...] CONCURRENCY EXPECT REMAINING | apply URL QUEUE N |\n"
                    "       produce URL QUEUE[,QUEUE...] N INFLIGHT RATE\n");
    return 2;
}
