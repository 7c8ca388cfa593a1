/* SPDX-License-Identifier: MIT */
/* Fault tests of the worker's pipeline (a slot goes back when its outcome is
 * sent, several DEQUEUEs in flight, one MARKS call per dequeued batch): the
 * command connection killed again and again (CLIENT KILL TYPE normal) between
 * a send and its reply, Redis paused (CLIENT PAUSE) and slept (DEBUG SLEEP)
 * under load, at concurrency 1, 2 and 100, with instant and slow handlers,
 * retries and after_process hooks. Every job must end complete, run exactly
 * once per attempt it needs, and never more handlers than the concurrency at
 * once. SAQ_CHAOS_MS=N (a stress form, not run by tests/run): a fault every
 * N/2 to 3N/2 ms in every case. */
#include "itest.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

enum { MAXJ = 4000 };

static atomic_int cur, peak, hooks_cur;
static atomic_int runs[MAXJ];
static atomic_int stop_chaos;
static int slow_us;     /* a handler's sleep (0: instant) */
static int fail_first;  /* 1: jobs with an index % 10 == 0 raise on their first attempt; 2: all */

static int job_index(const saq_job_t *job)
{
    const char *k = saq_job_key(job);
    return k && k[0] == 'p' ? atoi(k + 1) : -1;
}

static void h_track(saq_job_t *job, void *ud)
{
    (void)ud;
    int c = atomic_fetch_add(&cur, 1) + 1;
    int p = atomic_load(&peak);
    while (c > p && !atomic_compare_exchange_weak(&peak, &p, c))
        ;
    int i = job_index(job);
    if (i >= 0 && i < MAXJ)
        atomic_fetch_add(&runs[i], 1);
    if (slow_us)
        usleep((useconds_t)(rand() % slow_us));
    if (fail_first && (fail_first == 2 || i % 10 == 0) && saq_job_attempts(job) <= 1)
        saq_job_fail(job, "planned failure");
    else
        saq_job_complete(job, NULL);
    saq_job_free(job);
    atomic_fetch_sub(&cur, 1); /* its pool thread is free only now */
}

static int after_hook(saq_worker_t *w, saq_job_t *job, void *ud)
{
    (void)w, (void)job, (void)ud;
    atomic_fetch_add(&hooks_cur, 1);
    usleep(200);
    atomic_fetch_sub(&hooks_cur, 1);
    return 0;
}

typedef struct chaos {
    rh_t *r;
    int mode; /* 0: CLIENT KILL TYPE normal; 1: CLIENT PAUSE WRITE 300 ms; 2: DEBUG SLEEP 0.2 */
    int every_ms;
    int done;
} chaos_t;

static void *chaos_main(void *arg)
{
    chaos_t *c = arg;
    redisContext *rc = rh_client(c->r);
    /* SAQ_CHAOS_MS (a stress form, e.g. 8): every case's faults that often */
    const char *env = getenv("SAQ_CHAOS_MS");
    int every = env && atoi(env) > 0 ? atoi(env) : c->every_ms;
    while (!atomic_load(&stop_chaos)) {
        sleep_ms(every / 2 + rand() % every);
        if (atomic_load(&stop_chaos))
            break;
        if (c->mode == 0) { /* every normal client but this one and the test's ("keeper") */
            redisReply *l = redisCommand(rc, "CLIENT LIST TYPE normal");
            for (char *s = l && l->type == REDIS_REPLY_STRING ? l->str : NULL; s && *s;) {
                long long id = atoll(s + 3);
                char *nl = strchr(s, '\n'), *name = strstr(s, " name=");
                int keep = name && (!nl || name < nl) && !strncmp(name, " name=keeper ", 13);
                redisReply *me = keep ? NULL : redisCommand(rc, "CLIENT ID");
                if (me && me->integer != id)
                    freeReplyObject(redisCommand(rc, "CLIENT KILL ID %lld", id));
                if (me)
                    freeReplyObject(me);
                s = nl ? nl + 1 : NULL;
            }
            if (l)
                freeReplyObject(l);
        } else {
            redisReply *x = c->mode == 1 ? redisCommand(rc, "CLIENT PAUSE 300 WRITE")
                                         : redisCommand(rc, "DEBUG SLEEP 0.2");
            if (x)
                freeReplyObject(x);
        }
        c->done++;
    }
    redisFree(rc);
    return NULL;
}

/* A private server, a queue `name` on it (conf pairs kv, NULL-terminated), a
 * "keeper" client the chaos thread spares, `n` "track" jobs p00000.. enqueued
 * (retries 3), the run counters reset; then a worker on the queue, handler
 * "track" registered, not started. */
typedef struct env {
    rh_t *r;
    saq_conf_t *c;
    saq_queue_t *q;
    redisContext *rc;
    saq_cq_t *cq;
    saq_worker_t *w;
} env_t;

static void env_open(env_t *e, const char *name, const char **kv, int n)
{
    e->r = rh_start(0);
    e->c = saq_conf_new();
    saq_conf_set(e->c, "url", e->r->url);
    saq_conf_set(e->c, "name", name);
    for (int i = 0; kv && kv[i]; i += 2)
        assert_int_equal(saq_conf_set(e->c, kv[i], kv[i + 1]), 0);
    e->q = saq_queue_new(e->c);
    assert_non_null(e->q);
    e->rc = rh_client(e->r);
    freeReplyObject(rh_cmd(e->rc, "CLIENT SETNAME keeper"));
    e->cq = saq_cq_new();
    for (int i = 0; i < n; i++) {
        char kw[200];
        snprintf(kw, sizeof kw, "{\"key\": \"p%05d\", \"retries\": 3}", i);
        assert_int_equal(saq_queue_enqueue_call(e->q, "track", kw, e->cq, (uint64_t)i), 0);
    }
    for (int i = 0; i < n; i++) {
        saq_event_t *ev = saq_cq_poll(e->cq, TMO);
        assert_non_null(ev);
        assert_int_equal(saq_event_status(ev), 0);
        saq_event_free(ev);
    }
    atomic_store(&cur, 0);
    atomic_store(&peak, 0);
    atomic_store(&hooks_cur, 0);
    for (int i = 0; i < MAXJ; i++)
        atomic_store(&runs[i], 0);
    e->w = saq_worker_new(e->q, e->c);
    assert_non_null(e->w);
    saq_worker_register(e->w, "track", h_track, NULL);
}

/* Stop the worker (unless stopped already), free everything. */
static void env_close(env_t *e, int stopped)
{
    if (!stopped) {
        assert_int_equal(saq_worker_stop(e->w, 2000), 0);
        assert_int_equal(saq_worker_wait(e->w, TMO), 0);
    }
    saq_worker_free(e->w);
    saq_cq_free(e->cq);
    saq_queue_free(e->q);
    saq_conf_free(e->c);
    redisFree(e->rc);
    rh_stop(e->r);
}

/* n jobs on a private server at `conc`, with `mode` chaos; every job complete,
 * each run exactly as often as planned, never more than conc handlers. */
static void run_case(int conc, int n, int mode, int every_ms, int hooks)
{
    char cs[16];
    snprintf(cs, sizeof cs, "%d", conc);
    /* a move whose reply was lost comes back soon (dead_worker_check) */
    const char *kv[] = {"concurrency", cs, "command_timeout_ms", "2000", "dead_worker_check", "1", NULL};
    env_t e;
    env_open(&e, "pipe", kv, n);
    rh_t *r = e.r;
    redisContext *rc = e.rc;
    saq_worker_t *w = e.w;
    if (hooks)
        saq_worker_add_hook(w, SAQ_HOOK_AFTER_PROCESS, after_hook, NULL);
    atomic_store(&stop_chaos, 0);
    chaos_t ch = {.r = r, .mode = mode, .every_ms = every_ms};
    pthread_t th;
    pthread_create(&th, NULL, chaos_main, &ch);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    double end = now_s() + 40, chaos_end = now_s() + 8;
    long long left = -1;
    int peak_gauge = 0;
    while (now_s() < end) {
        if (now_s() > chaos_end)
            atomic_store(&stop_chaos, 1);
        left = rh_int(rc, "ZCARD saq:pipe:incomplete");
        if (left == 0)
            break;
        for (int k = 0; k < 10; k++) { /* the worker's "running" gauge, sampled */
            const char *st = saq_worker_stats_json(w), *rn = st ? strstr(st, "\"running\": ") : NULL;
            int running = rn ? atoi(rn + 11) : 0;
            if (running > peak_gauge)
                peak_gauge = running;
            sleep_ms(5);
        }
    }
    atomic_store(&stop_chaos, 1);
    pthread_join(th, NULL);
    int complete = 0, zero = 0, extra = 0;
    for (int i = 0; i < n; i++) {
        char *raw = rh_str(rc, "GET saq:job:pipe:p%05d", i);
        complete += raw && strstr(raw, "\"status\": \"complete\"") != NULL;
        free(raw);
        int want = fail_first && (fail_first == 2 || i % 10 == 0) ? 2 : 1, got = atomic_load(&runs[i]);
        zero += got == 0;
        if (got > want) {
            if (extra < 5)
                printf("  p%05d ran %d times (planned %d)\n", i, got, want);
            extra++;
        }
    }
    printf("pipeline conc=%d n=%d mode=%d hooks=%d: %d chaos events, %d complete, %lld incomplete, "
           "%lld active, %lld queued, peak %d handlers (gauge %d), %d never ran, %d ran too often\n",
           conc, n, mode, hooks, ch.done, complete, left, rh_int(rc, "LLEN saq:pipe:active"),
           rh_int(rc, "LLEN saq:pipe:queued"), atomic_load(&peak), peak_gauge, zero, extra);
    if (left) {
        redisReply *z = rh_cmd(rc, "ZRANGE saq:pipe:incomplete 0 -1 WITHSCORES");
        printf("  ZRANGE: type %d, %zu elements, %.1f s after start\n", z ? z->type : -1, z ? z->elements : 0,
               now_s() - chaos_end + 8);
        for (size_t i = 0; z && i + 1 < z->elements; i += 2) {
            char *raw = rh_str(rc, "GET %s", z->element[i]->str);
            printf("  incomplete: %s score %s now %.0f: %s\n", z->element[i]->str, z->element[i + 1]->str,
                   now_s(), raw ? raw : "(no record)");
            free(raw);
        }
        freeReplyObject(z);
    }
    assert_int_equal(left, 0);
    assert_int_equal(complete, n);
    assert_true(atomic_load(&peak) <= conc);
    assert_true(peak_gauge <= conc); /* saq_worker_stats_json's "running", saq_jobs_running */
    assert_int_equal(extra, 0);
    /* the worker's counters, once its writes are answered: each job counted
     * complete once, also when its FINISH's reply was lost and the write sent
     * again found it stored (it was not counted at all) */
    assert_int_equal(saq_worker_stop(w, 2000), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    const char *st = saq_worker_stats_json(w), *cp = st ? strstr(st, "\"complete\": ") : NULL;
    printf("  counted complete: %d of %d\n", cp ? atoi(cp + 12) : -1, n);
    assert_non_null(cp);
    assert_int_equal(atoi(cp + 12), n);
    env_close(&e, 1);
}

static void test_killed_connection_conc1(void **state)
{
    (void)state;
    slow_us = 0, fail_first = 1;
    run_case(1, 600, 0, 30, 0);
}

static void test_killed_connection_conc2(void **state)
{
    (void)state;
    slow_us = 0, fail_first = 1;
    run_case(2, 1500, 0, 30, 0);
}

static void test_killed_connection_conc100(void **state)
{
    (void)state;
    slow_us = 3000, fail_first = 1;
    run_case(100, 3000, 0, 40, 0);
}

/* Every job retried once: a RETRY's reply lost with the connection while the
 * DEQUEUE sent right behind it (or the next one) moves the retried job again,
 * its first lease still listed until the RETRY is confirmed: the new move is
 * a run, not a duplicate entry (dropping it stranded the job: status queued,
 * in no list). */
static void test_killed_connection_retries(void **state)
{
    (void)state;
    slow_us = 3000, fail_first = 2;
    run_case(50, 1000, 0, 20, 0);
}

static void test_killed_connection_hooks(void **state)
{
    (void)state;
    slow_us = 0, fail_first = 1;
    run_case(4, 1500, 0, 30, 1);
}

static void test_paused_redis(void **state)
{
    (void)state;
    slow_us = 20000, fail_first = 1;
    run_case(8, 2000, 1, 150, 0);
}

static void test_sleeping_redis(void **state)
{
    (void)state;
    slow_us = 20000, fail_first = 1;
    run_case(16, 3000, 2, 150, 0);
}

/* A worker stopped while its outcome writes wait (Redis paused for writes):
 * the stop waits for them, so when saq_worker_wait returns every job that ran
 * is complete in Redis and every other one is still queued; nothing is left
 * in active. */
static void test_stop_waits_for_pending_writes(void **state)
{
    (void)state;
    enum { N = 3000 };
    const char *kv[] = {"concurrency", "10", NULL};
    env_t e;
    env_open(&e, "stopw", kv, N);
    redisContext *rc = e.rc;
    saq_worker_t *w = e.w;
    slow_us = 2000, fail_first = 0;
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    while (rh_int(rc, "LLEN saq:stopw:queued") > N - 300)
        sleep_ms(5);
    freeReplyObject(rh_cmd(rc, "CLIENT PAUSE 1500 WRITE"));
    sleep_ms(100); /* the running handlers end; their writes wait */
    double t0 = now_s();
    assert_int_equal(saq_worker_stop(w, 5000), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    double took = now_s() - t0;
    int ran = 0, complete = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        char *raw = rh_str(rc, "GET saq:job:stopw:p%05d", i);
        int done = raw && strstr(raw, "\"status\": \"complete\"") != NULL;
        ran += atomic_load(&runs[i]) > 0;
        complete += done;
        if (done != (atomic_load(&runs[i]) > 0) && bad++ < 3)
            printf("  p%05d: ran %d, record %s\n", i, atomic_load(&runs[i]), raw ? raw : "(none)");
        free(raw);
    }
    long long active = rh_int(rc, "LLEN saq:stopw:active"), queued = rh_int(rc, "LLEN saq:stopw:queued");
    printf("stop with writes pending: waited %.2f s, %d ran, %d complete, %lld queued, %lld active\n", took, ran,
           complete, queued, active);
    assert_int_equal(bad, 0);
    assert_int_equal(active, 0);
    assert_int_equal(complete + queued, N);
    env_close(&e, 1);
}

/* Aborts and pauses while batches are dequeued and marked (MARKS), with the
 * connection killed now and then: every job ends complete or aborted (none
 * left queued or active with nobody to run it), none runs twice, and a job
 * aborted before it ran never runs. */
typedef struct aborter {
    saq_queue_t *q;
    int n;
    atomic_int aborted;
} aborter_t;

static void *abort_main(void *arg)
{
    aborter_t *a = arg;
    saq_cq_t *cq = saq_cq_new();
    for (int k = 0; !atomic_load(&stop_chaos); k++) {
        char key[32];
        snprintf(key, sizeof key, "p%05d", rand() % a->n);
        saq_event_free(saq_queue_abort_sync(a->q, key, "chaos abort", 1, 2000));
        atomic_fetch_add(&a->aborted, 1);
        if (k % 20 == 0) { /* the queue paused for a moment */
            saq_event_free((saq_queue_pause(a->q, cq, 0), saq_cq_poll(cq, 2000)));
            sleep_ms(30);
            saq_event_free((saq_queue_resume(a->q, cq, 0), saq_cq_poll(cq, 2000)));
        }
        sleep_ms(2);
    }
    saq_cq_free(cq);
    return NULL;
}

static void test_aborts_and_pauses_while_marking(void **state)
{
    (void)state;
    enum { N = 3000 };
    const char *kv[] = {"concurrency", "20", "command_timeout_ms", "2000", "dead_worker_check", "1",
                        "timers.abort", "0.2", "timers.pause", "0.1", NULL};
    env_t e;
    env_open(&e, "abm", kv, N);
    saq_queue_t *q = e.q;
    rh_t *r = e.r;
    redisContext *rc = e.rc;
    saq_worker_t *w = e.w;
    slow_us = 40000, fail_first = 0;
    atomic_store(&stop_chaos, 0);
    aborter_t ab = {.q = q, .n = N};
    chaos_t ch = {.r = r, .mode = 0, .every_ms = 300};
    pthread_t th, ta;
    pthread_create(&ta, NULL, abort_main, &ab);
    pthread_create(&th, NULL, chaos_main, &ch);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    double end = now_s() + 60, chaos_end = now_s() + 6;
    long long left = -1;
    while (now_s() < end) {
        if (now_s() > chaos_end)
            atomic_store(&stop_chaos, 1);
        if ((left = rh_int(rc, "ZCARD saq:abm:incomplete")) == 0 && now_s() > chaos_end)
            break;
        sleep_ms(50);
    }
    atomic_store(&stop_chaos, 1);
    pthread_join(th, NULL);
    pthread_join(ta, NULL);
    end = now_s() + 30;
    while (now_s() < end && (left = rh_int(rc, "ZCARD saq:abm:incomplete")) > 0)
        sleep_ms(50);
    /* an abort whose second step (the caller's finish of a waiting job) was
     * lost with the connection leaves the job `aborting` in no list: the
     * worker's abort watch finishes it once due, and once the worker trusts
     * its liveness view again after the chaos (a few seconds) */
    double t_watch = now_s();
    long long watched = -1;
    while (now_s() < end + 30 && (watched = rh_int(rc, "ZCARD saq:abm:libsaq:aborting")) > 0)
        sleep_ms(50);
    printf("abort watch empty %.1f s after the queue drained (%lld left)\n", now_s() - t_watch, watched);
    int complete = 0, aborted = 0, other = 0, twice = 0, ran_aborted_unrun = 0;
    for (int i = 0; i < N; i++) {
        char *raw = rh_str(rc, "GET saq:job:abm:p%05d", i);
        int cpl = raw && strstr(raw, "\"status\": \"complete\""), abt = raw && strstr(raw, "\"status\": \"aborted\"");
        complete += !!cpl, aborted += !!abt;
        if (!cpl && !abt && other++ < 3)
            printf("  p%05d: ran %d, record %s\n", i, atomic_load(&runs[i]), raw ? raw : "(none)");
        if (atomic_load(&runs[i]) > 1 && twice++ < 3)
            printf("  p%05d ran %d times: %s\n", i, atomic_load(&runs[i]), raw ? raw : "(none)");
        ran_aborted_unrun += abt && raw && !strstr(raw, "\"started\"") && atomic_load(&runs[i]) > 0;
        free(raw);
    }
    printf("aborts while marking: %d aborts sent, %d chaos kills, %d complete, %d aborted, %d other, "
           "%d ran twice, %d ran though aborted unstarted, %lld incomplete, %lld active, %lld queued\n",
           atomic_load(&ab.aborted), ch.done, complete, aborted, other, twice, ran_aborted_unrun, left,
           rh_int(rc, "LLEN saq:abm:active"), rh_int(rc, "LLEN saq:abm:queued"));
    assert_int_equal(other, 0);
    assert_int_equal(left, 0);
    assert_int_equal(watched, 0);
    assert_int_equal(twice, 0);
    assert_true(atomic_load(&peak) <= 20);
    env_close(&e, 0);
}

/* A worker of two queues (shared slots, weighted), connections killed: every
 * job of both runs once and completes, never more handlers than the
 * worker's concurrency. */
static void test_killed_connections_two_queues(void **state)
{
    (void)state;
    enum { N = 1000 };
    const char *kv[] = {"concurrency", "6", "command_timeout_ms", "2000", "dead_worker_check", "1",
                        "queue_order", "weighted", NULL};
    env_t e;
    env_open(&e, "mq1", kv, N);
    saq_conf_t *c2 = saq_conf_new();
    saq_conf_set(c2, "url", e.r->url);
    saq_conf_set(c2, "name", "mq2");
    saq_conf_set(c2, "command_timeout_ms", "2000");
    saq_queue_t *q2 = saq_queue_new(c2);
    assert_non_null(q2);
    for (int i = N; i < 2 * N; i++) {
        char kw[200];
        snprintf(kw, sizeof kw, "{\"key\": \"p%05d\", \"retries\": 3}", i);
        assert_int_equal(saq_queue_enqueue_call(q2, "track", kw, e.cq, (uint64_t)i), 0);
    }
    for (int i = N; i < 2 * N; i++)
        saq_event_free(saq_cq_poll(e.cq, TMO));
    assert_int_equal(saq_worker_add_queue(e.w, q2, 2), 0);
    slow_us = 3000, fail_first = 1;
    atomic_store(&stop_chaos, 0);
    chaos_t ch = {.r = e.r, .mode = 0, .every_ms = 40};
    pthread_t th;
    pthread_create(&th, NULL, chaos_main, &ch);
    assert_int_equal(saq_worker_start(e.w, NULL, 0), 0);
    double end = now_s() + 40, chaos_end = now_s() + 6;
    long long left = -1;
    while (now_s() < end) {
        if (now_s() > chaos_end)
            atomic_store(&stop_chaos, 1);
        left = rh_int(e.rc, "ZCARD saq:mq1:incomplete") + rh_int(e.rc, "ZCARD saq:mq2:incomplete");
        if (left == 0)
            break;
        sleep_ms(50);
    }
    atomic_store(&stop_chaos, 1);
    pthread_join(th, NULL);
    int extra = 0, zero = 0;
    for (int i = 0; i < 2 * N; i++) {
        int want = i % 10 == 0 ? 2 : 1, got = atomic_load(&runs[i]);
        zero += got == 0;
        extra += got > want;
    }
    printf("two queues: %d kills, %lld incomplete, peak %d handlers, %d never ran, %d ran too often\n", ch.done,
           left, atomic_load(&peak), zero, extra);
    assert_int_equal(left, 0);
    assert_int_equal(zero, 0);
    assert_int_equal(extra, 0);
    assert_true(atomic_load(&peak) <= 6);
    env_close(&e, 0);
    saq_queue_free(q2);
    saq_conf_free(c2);
}

/* A function limited to 3 running jobs (max_running, libsaq's limit keys) on a
 * worker of concurrency 10, every job retried once, connections killed: never
 * more than 3 of its handlers at once, every job complete. */
static void test_killed_connections_max_running(void **state)
{
    (void)state;
    enum { N = 600 };
    const char *kv[] = {"concurrency", "10", "command_timeout_ms", "2000", "dead_worker_check", "1", NULL};
    env_t e;
    env_open(&e, "lim", kv, N);
    assert_int_equal(saq_worker_set_limit(e.w, "track", 0, 0, 3), 0);
    slow_us = 4000, fail_first = 2;
    atomic_store(&stop_chaos, 0);
    chaos_t ch = {.r = e.r, .mode = 0, .every_ms = 25};
    pthread_t th;
    pthread_create(&th, NULL, chaos_main, &ch);
    assert_int_equal(saq_worker_start(e.w, NULL, 0), 0);
    double end = now_s() + 60, chaos_end = now_s() + 8;
    long long left = -1;
    while (now_s() < end) {
        if (now_s() > chaos_end)
            atomic_store(&stop_chaos, 1);
        if ((left = rh_int(e.rc, "ZCARD saq:lim:incomplete")) == 0)
            break;
        sleep_ms(50);
    }
    atomic_store(&stop_chaos, 1);
    pthread_join(th, NULL);
    int extra = 0, zero = 0;
    for (int i = 0; i < N; i++) {
        zero += atomic_load(&runs[i]) == 0;
        extra += atomic_load(&runs[i]) > 2;
    }
    printf("max_running 3: %d kills, %lld incomplete, peak %d handlers, %d never ran, %d ran too often\n",
           ch.done, left, atomic_load(&peak), zero, extra);
    assert_int_equal(left, 0);
    assert_int_equal(zero, 0);
    assert_int_equal(extra, 0);
    assert_true(atomic_load(&peak) <= 3);
    env_close(&e, 0);
}

static atomic_int gate_open, gate_started, gate_runs;

static void h_gate(saq_job_t *job, void *ud)
{
    (void)ud;
    atomic_fetch_add(&gate_runs, 1);
    atomic_store(&gate_started, 1);
    while (!atomic_load(&gate_open))
        sleep_ms(5);
    saq_job_complete(job, "1");
    saq_job_free(job);
}

/* A job whose handler completed, its FINISH's reply lost (Redis frozen: the
 * command times out, the lease writes it again every 0.25 s): a check that
 * cancels running leases meanwhile (here the heartbeat check, the handler
 * having stopped touching; also the stop's grace period) must not change the
 * decided outcome into a retry: the job ran once and completed. Before, the
 * rewrite became a RETRY that the guard let through (same attempts and
 * started), and the job ran a second time. */
static void test_outcome_kept_while_its_reply_is_confirmed(void **state)
{
    (void)state;
    rh_t *r = rh_start(0);
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "url", r->url);
    saq_conf_set(c, "name", "keep");
    saq_conf_set(c, "concurrency", "2");
    saq_conf_set(c, "command_timeout_ms", "300");
    saq_conf_set(c, "timers.abort", "0.1");
    saq_queue_t *q = saq_queue_new(c);
    assert_non_null(q);
    saq_event_t *ev = saq_queue_enqueue_call_sync(q, "gate", "{\"key\": \"hb\", \"heartbeat\": 1, \"retries\": 3}", TMO);
    assert_int_equal(saq_event_status(ev), 0);
    saq_event_free(ev);
    atomic_store(&gate_open, 0);
    atomic_store(&gate_started, 0);
    atomic_store(&gate_runs, 0);
    saq_worker_t *w = saq_worker_new(q, c);
    saq_worker_register(w, "gate", h_gate, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    double end = now_s() + 10;
    while (!atomic_load(&gate_started) && now_s() < end)
        sleep_ms(5);
    assert_true(atomic_load(&gate_started));
    kill(r->pid, SIGSTOP); /* its FINISH goes out into a frozen server */
    sleep_ms(50);
    atomic_store(&gate_open, 1);
    sleep_ms(2500); /* past the heartbeat, many lost replies */
    kill(r->pid, SIGCONT);
    redisContext *rc = rh_client(r);
    end = now_s() + 15;
    char *raw = NULL;
    while (now_s() < end) {
        free(raw);
        raw = rh_str(rc, "GET saq:job:keep:hb");
        if (raw && strstr(raw, "\"status\": \"complete\"") && rh_int(rc, "ZCARD saq:keep:incomplete") == 0)
            break;
        sleep_ms(50);
    }
    sleep_ms(1000); /* a second run would have started by now */
    printf("kept outcome: %d run(s), record %s\n", atomic_load(&gate_runs), raw ? raw : "(none)");
    assert_non_null(raw);
    assert_non_null(strstr(raw, "\"status\": \"complete\""));
    assert_int_equal(atomic_load(&gate_runs), 1);
    free(raw);
    assert_int_equal(saq_worker_stop(w, 1000), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
    saq_queue_free(q);
    saq_conf_free(c);
    redisFree(rc);
    rh_stop(r);
}

int main(void)
{
    srand(7);
    if (getenv("SAQ_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SAQ_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_connection_conc1),
        cmocka_unit_test(test_killed_connection_conc2),
        cmocka_unit_test(test_killed_connection_conc100),
        cmocka_unit_test(test_killed_connection_retries),
        cmocka_unit_test(test_killed_connection_hooks),
        cmocka_unit_test(test_paused_redis),
        cmocka_unit_test(test_sleeping_redis),
        cmocka_unit_test(test_outcome_kept_while_its_reply_is_confirmed),
        cmocka_unit_test(test_stop_waits_for_pending_writes),
        cmocka_unit_test(test_aborts_and_pauses_while_marking),
        cmocka_unit_test(test_killed_connections_two_queues),
        cmocka_unit_test(test_killed_connections_max_running),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
