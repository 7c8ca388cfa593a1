/* SPDX-License-Identifier: MIT */
/* Failover under load, against real deployments on loopback (issue 15 item 4;
 * tests/support/multinode.py starts them): a sentinel set (master, replica,
 * three sentinels) and a cluster (3 masters with a replica each).
 *
 * Each load scenario runs producers (threads enqueueing jobs with known keys
 * "j<n>", a few hundred per second in all, each enqueue acknowledged or not)
 * and one libsaq worker (its handler counts the runs of each key and sleeps
 * 1-5 ms), triggers the fault mid-way, keeps producing a little, then stops
 * the producers, drains, sweeps and audits every key. It prints one line:
 *   failover[<scenario>]: acked=N lost=N run_twice=N not_run=N resumed_after_ms=N ...
 *   - acked: enqueues that returned SAQ_OK (and enqueued the job);
 *   - lost: acked jobs whose record is gone and that never ran;
 *   - run_twice: jobs whose handler ran more than once;
 *   - not_run: acked jobs whose record exists but that never ran (stranded);
 *   - resumed_after_ms: from the fault to the first job completed of those
 *     enqueued after the new master was in place (as the harness saw it) and
 *     acknowledged: the whole path, producer -> new master -> worker, works
 *     again. (Runs go on for a while after a SENTINEL FAILOVER is ordered, on
 *     the old master until it is demoted, and a job acknowledged just before
 *     a kill -9 may complete just after it: "the first job completed after
 *     the fault" alone would say nothing.) stall_ms, printed too, is the
 *     longest pause between job runs completed after the fault while the
 *     producers ran; max_wait_ms the longest from an enqueue to the end of
 *     its job's first run;
 *   - stranded: ids left in saq:<q>:queued or saq:<q>:active, and records
 *     still queued/active/aborting, after the drain and a sweep.
 * Asserted after every fault: work resumed, every acknowledged job that still
 * exists ran, nothing is stranded (assert_common); with min_replicas=1 no
 * acknowledged job is lost; run_twice stays under the bound explained above
 * test_sentinel_failover (0 for a slot move). Without min_replicas, lost is
 * printed only: an enqueue is acknowledged once the master has it, and a
 * kill -9 loses what the replica had not received yet.
 * The drain waits up to DRAIN_MS: a job moved to active by the blocking
 * dequeue just as its master died was seen to wait 15-20 s for the worker's
 * slow recovery pass (it is not lost; max_wait_ms shows it). */
#include "itest.h"

#include <stdatomic.h>

#define MAXJ 20000
#define CONCURRENCY 8
#define DRAIN_MS 30000

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the table of keys: what the producers and the handler saw ---- */

static struct {
    atomic_int next;             /* the next key number */
    atomic_int runs[MAXJ];       /* handler runs of key j<n> */
    atomic_llong done_ms[MAXJ];  /* mono ms when its first run ended */
    atomic_llong sub_ms[MAXJ];   /* mono ms when its enqueue was submitted */
    atomic_llong ack_ms[MAXJ];   /* mono ms when its enqueue was acknowledged, 0 = not */
    unsigned char qi[MAXJ];      /* its queue (index into the scenario's queues) */
    atomic_int errors;           /* enqueues that failed */
    pthread_mutex_t mu;
    char first_error[300];       /* the first failed enqueue's message */
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void table_reset(void)
{
    atomic_store(&T.next, 0);
    for (int i = 0; i < MAXJ; i++) {
        atomic_store(&T.runs[i], 0);
        atomic_store(&T.done_ms[i], 0);
        atomic_store(&T.ack_ms[i], 0);
        atomic_store(&T.sub_ms[i], 0);
        T.qi[i] = 0;
    }
    atomic_store(&T.errors, 0);
    T.first_error[0] = 0;
}

/* the handler of "work": counts the run of key j<n>, sleeps 1-5 ms */
static void h_work(saq_job_t *job, void *ud)
{
    (void)ud;
    const char *k = saq_job_key(job);
    int n = k && k[0] == 'j' ? atoi(k + 1) : -1;
    int first = n >= 0 && n < MAXJ && atomic_fetch_add(&T.runs[n], 1) == 0;
    usleep((useconds_t)(1000 * (1 + (n < 0 ? 0 : n % 5))));
    if (first)
        atomic_store(&T.done_ms[n], mono_ms());
    saq_job_complete(job, "1");
    saq_job_free(job);
}

/* ---- producers ---- */

typedef struct prod {
    saq_queue_t *q;
    int qi;
    int gap_us;          /* pause between enqueues */
    atomic_int stop;
    pthread_t th;
} prod_t;

static void *producer(void *arg)
{
    prod_t *p = arg;
    char key[32];
    while (!atomic_load(&p->stop)) {
        int n = atomic_fetch_add(&T.next, 1);
        if (n >= MAXJ)
            break;
        T.qi[n] = (unsigned char)p->qi;
        snprintf(key, sizeof key, "j%d", n);
        saq_job_t *j = saq_job_new("work");
        assert_non_null(j);
        assert_int_equal(saq_job_set_key(j, key), 0);
        atomic_store(&T.sub_ms[n], mono_ms());
        saq_event_t *ev = saq_queue_enqueue_sync(p->q, j, 5000);
        if (ev && saq_event_status(ev) == SAQ_OK && saq_event_int(ev) == 1) {
            atomic_store(&T.ack_ms[n], mono_ms());
        } else {
            atomic_fetch_add(&T.errors, 1);
            pthread_mutex_lock(&T.mu);
            if (!T.first_error[0])
                snprintf(T.first_error, sizeof T.first_error, "%s: %s",
                         ev ? saq_err_name(saq_event_status(ev)) : "no event",
                         ev ? saq_event_errmsg(ev) : "");
            pthread_mutex_unlock(&T.mu);
        }
        saq_event_free(ev);
        saq_job_free(j);
        usleep((useconds_t)p->gap_us);
    }
    return NULL;
}

static void producers_start(prod_t *p, saq_queue_t **qs, int n, int gap_us)
{
    for (int i = 0; i < n; i++) {
        p[i].q = qs[i];
        p[i].qi = i;
        p[i].gap_us = gap_us;
        atomic_store(&p[i].stop, 0);
        assert_int_equal(pthread_create(&p[i].th, NULL, producer, &p[i]), 0);
    }
}

static void producers_stop(prod_t *p, int n)
{
    for (int i = 0; i < n; i++)
        atomic_store(&p[i].stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(p[i].th, NULL);
}

/* Keep producing after the fault until `ms` have passed and at least `min_acked`
 * enqueues were acknowledged after the fault (at most 20 s more). */
static void produce_after(int64_t fault_ms, int from, int ms, int min_acked)
{
    int64_t until = mono_ms() + ms, cap = mono_ms() + 20000;
    for (;;) {
        int acked = 0, n = atomic_load(&T.next);
        for (int i = from; i < n && i < MAXJ; i++)
            acked += atomic_load(&T.ack_ms[i]) >= fault_ms;
        if ((mono_ms() >= until && acked >= min_acked) || mono_ms() >= cap)
            return;
        sleep_ms(50);
    }
}

/* ---- queues and the worker ---- */

static saq_queue_t *open_queue_kv(const char *url, const char *name, int min_replicas,
                                  const char *k, const char *v)
{
    saq_conf_t *c = saq_conf_new();
    saq_queue_t *q = NULL;
    char n[16];
    snprintf(n, sizeof n, "%d", min_replicas);
    assert_int_equal(saq_conf_set(c, "url", url), 0);
    assert_int_equal(saq_conf_set(c, "name", name), 0);
    assert_int_equal(saq_conf_set(c, "min_replicas", n), 0);
    assert_int_equal(saq_conf_set(c, "command_timeout_ms", "3000"), 0);
    if (k)
        assert_int_equal(saq_conf_set(c, k, v), 0);
    if (saq_queue_open(&q, c))
        fail_msg("saq_queue_open(%s): %s", name, saq_conf_errmsg(c));
    saq_conf_free(c);
    return q;
}

static saq_queue_t *open_queue(const char *url, const char *name, int min_replicas)
{
    return open_queue_kv(url, name, min_replicas, NULL, NULL);
}

/* Fails unless the next operation on q fails with `code` and both texts. */
static void expect_error_code(saq_queue_t *q, const char *what, int code, const char *needle,
                              const char *needle2);

/* One worker on qs[0], serving qs[1..n-1] too. */
static saq_worker_t *start_worker(saq_queue_t **qs, int n)
{
    const char *kv[] = {"concurrency", "8", NULL};
    saq_worker_t *w = worker_with_conf(qs[0], kv);
    assert_int_equal(saq_worker_register(w, "work", h_work, NULL), 0);
    for (int i = 1; i < n; i++)
        if (saq_worker_add_queue(w, qs[i], 1))
            fail_msg("add_queue: %s", saq_worker_errmsg(w));
    if (saq_worker_start(w, NULL, 0))
        fail_msg("worker start: %s", saq_worker_errmsg(w));
    return w;
}

static void stop_worker(saq_worker_t *w)
{
    saq_worker_stop(w, 2000);
    assert_int_equal(saq_worker_wait(w, 20000), 0);
    saq_worker_free(w);
}

/* ---- the audit ---- */

/* Where a queue's keys are now: a new client on its master (caller frees). */
typedef redisContext *(*master_fn)(void *dep, saq_queue_t *q);

/* One fault under load: the keys produced around it and when it happened. */
typedef struct phase {
    const char *label;
    int from, to;       /* its keys: j<from> .. j<to - 1> */
    int64_t fault_ms;   /* mono ms when the fault was triggered */
    int64_t switch_ms;  /* mono ms when the harness saw the new master (or the slot moved) */
    int64_t end_ms;     /* mono ms when the producers stopped */
    unsigned qmask;     /* the queues the fault hit (bit i: queue i), for resumed/stall */
} phase_t;

typedef struct figures {
    int sent, acked, lost, run_twice, max_runs, not_run, unacked_ran, stranded, errors;
    int not_complete; /* ran (the handler always completes), but stored as failed or aborted */
    long resumed_ms, stall_ms;
    long max_wait_ms; /* the longest from an enqueue to the end of the job's first run */
} figures_t;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static long long llen(redisContext *c, const char *q, const char *list)
{
    return rh_int(c, "LLEN saq:%s:%s", q, list);
}

/* Wait until every acknowledged key in [from, to) ran and the queues' queued
 * and active lists are empty (or DRAIN_MS passed); then sweep each queue. */
static void drain(saq_queue_t **qs, int nq, master_fn master, void *dep, int from, int to)
{
    int64_t end = mono_ms() + DRAIN_MS;
    for (;;) {
        int pending = 0;
        for (int i = from; i < to; i++)
            pending += atomic_load(&T.ack_ms[i]) && !atomic_load(&T.runs[i]);
        long long left = 0;
        for (int k = 0; k < nq; k++) {
            redisContext *c = master(dep, qs[k]);
            left += llen(c, saq_queue_name(qs[k]), "queued") + llen(c, saq_queue_name(qs[k]), "active");
            redisFree(c);
        }
        if ((!pending && !left) || mono_ms() >= end)
            break;
        sleep_ms(100);
    }
    /* saq's sweep (lock 1 s, abort wait 1 s): what it recovers is run by the worker */
    saq_cq_t *cq = saq_cq_new();
    for (int k = 0; k < nq; k++) {
        assert_int_equal(saq_queue_sweep(qs[k], 1, 1.0, cq, 1), 0);
        saq_event_t *ev = saq_cq_wait(cq, 1, 20000);
        assert_non_null(ev);
        if (saq_event_status(ev) == SAQ_OK && saq_event_int(ev) > 0)
            printf("  sweep of %s recovered %lld jobs\n", saq_queue_name(qs[k]),
                   (long long)saq_event_int(ev));
        saq_event_free(ev);
    }
    saq_cq_free(cq);
    sleep_ms(500); /* a swept job's retry runs */
}

static figures_t audit(const phase_t *ph, saq_queue_t **qs, int nq, master_fn master, void *dep)
{
    figures_t f = {.resumed_ms = -1};
    int from = ph->from, to = ph->to;
    int64_t fault_ms = ph->fault_ms, resumed = 0;
    int slowest = -1;
    redisContext *cs[8];
    for (int k = 0; k < nq; k++) {
        cs[k] = master(dep, qs[k]);
        const char *qn = saq_queue_name(qs[k]);
        long long qd = llen(cs[k], qn, "queued"), ac = llen(cs[k], qn, "active");
        if (qd || ac)
            printf("  %s: %lld queued, %lld active after the drain\n", qn, qd, ac);
        f.stranded += (int)(qd + ac);
    }
    int64_t *done = calloc((size_t)(to - from + 1), sizeof *done);
    size_t ndone = 0;
    assert_non_null(done);
    for (int i = from; i < to; i++) {
        int runs = atomic_load(&T.runs[i]);
        int64_t ack = atomic_load(&T.ack_ms[i]);
        f.sent++;
        f.acked += ack != 0;
        f.run_twice += runs > 1;
        if (runs > f.max_runs)
            f.max_runs = runs;
        f.unacked_ran += !ack && runs;
        int64_t d = atomic_load(&T.done_ms[i]);
        if (!(ph->qmask & 1u << T.qi[i]))
            d = 0; /* a queue the fault did not touch */
        if (d >= fault_ms && d <= ph->end_ms)
            done[ndone++] = d;
        if (d && ack && atomic_load(&T.sub_ms[i]) >= ph->switch_ms && (!resumed || d < resumed))
            resumed = d;
        d = atomic_load(&T.done_ms[i]);
        if (d && d - atomic_load(&T.sub_ms[i]) > f.max_wait_ms) {
            f.max_wait_ms = (long)(d - atomic_load(&T.sub_ms[i]));
            slowest = i;
        }
        const char *qn = saq_queue_name(qs[T.qi[i]]);
        char *rec = rh_str(cs[T.qi[i]], "GET saq:job:%s:j%d", qn, i);
        if (ack && !runs) {
            if (rec)
                f.not_run++;
            else
                f.lost++;
            if (f.lost + f.not_run <= 5)
                printf("  acked j%d never ran: %s\n", i, rec ? rec : "(no record)");
        }
        if (rec) {
            saq_job_t *j = saq_job_from_json(rec);
            const char *st = j ? saq_job_status(j) : "?";
            if (!j || !saq_status_terminal(st)) {
                f.stranded++;
                printf("  j%d left %s (runs %d, acked %d)\n", i, st, runs, ack != 0);
            } else if (runs && strcmp(st, "complete")) {
                if (++f.not_complete <= 5)
                    printf("  j%d ran (%d times) but is stored %s: %s\n", i, runs, st,
                           saq_job_error(j) ? saq_job_error(j) : "");
            }
            saq_job_free(j);
        }
        free(rec);
    }
    for (int k = 0; k < nq; k++)
        redisFree(cs[k]);
    f.errors = atomic_load(&T.errors);
    /* the longest pause between runs after the fault */
    qsort(done, ndone, sizeof *done, cmp_i64);
    int64_t prev = fault_ms, stall = -1;
    for (size_t i = 0; i < ndone; i++) {
        if (done[i] - prev > stall)
            stall = done[i] - prev;
        prev = done[i];
    }
    f.stall_ms = (long)stall;
    free(done);
    if (resumed)
        f.resumed_ms = (long)(resumed - fault_ms);
    printf("failover[%s]: acked=%d lost=%d run_twice=%d not_run=%d resumed_after_ms=%ld "
           "(stall_ms=%ld max_wait_ms=%ld sent=%d enqueue_errors=%d unacked_ran=%d max_runs=%d stranded=%d "
           "ran_not_complete=%d)\n",
           ph->label, f.acked, f.lost, f.run_twice, f.not_run, f.resumed_ms, f.stall_ms, f.max_wait_ms, f.sent,
           f.errors, f.unacked_ran, f.max_runs, f.stranded, f.not_complete);
    if (f.errors)
        printf("  first enqueue error: %s\n", T.first_error);
    if (slowest >= 0)
        printf("  the slowest job, j%d: enqueued %+lld ms from the fault (acked %+lld), first run "
               "ended %ld ms later\n", slowest, (long long)(atomic_load(&T.sub_ms[slowest]) - fault_ms),
               atomic_load(&T.ack_ms[slowest]) ? (long long)(atomic_load(&T.ack_ms[slowest]) - fault_ms) : 0LL,
               f.max_wait_ms);
    fflush(stdout);
    return f;
}

/* What holds after every fault, with or without min_replicas: the load made
 * progress on both sides of it, work resumed, every acknowledged job that
 * still exists ran, and nothing is left queued or running. */
static void assert_common(const figures_t *f)
{
    assert_true(f->acked > 100);
    assert_true(f->resumed_ms >= 0);
    assert_int_equal(f->not_run, 0);
    assert_int_equal(f->stranded, 0);
}

/* ---- Sentinel ---- */

static redisContext *sentinel_master(void *dep, saq_queue_t *q)
{
    (void)q;
    return rh_sentinel_client(dep);
}

enum { FAULT_FAILOVER, FAULT_KILL };

static void sentinel_bad_input(rh_sentinel_t *s);

/* One load run on a sentinel set: fault mid-way, drain, audit. */
static figures_t sentinel_run(rh_sentinel_t *s, const char *label, int fault, int min_replicas)
{
    table_reset();
    char name[64];
    snprintf(name, sizeof name, "%s", rh_queue_name("fo"));
    saq_queue_t *pq = open_queue(s->url, name, min_replicas);
    saq_queue_t *wq = open_queue(s->url, name, min_replicas);
    saq_worker_t *w = start_worker(&wq, 1);
    prod_t p[1];
    producers_start(p, &pq, 1, 1000);
    sleep_ms(1500);
    phase_t ph = {.label = label, .fault_ms = mono_ms(), .qmask = 1};
    int64_t fault_ms = ph.fault_ms;
    if (fault == FAULT_FAILOVER) {
        long ms = rh_sentinel_failover(s);
        ph.switch_ms = mono_ms();
        printf("  SENTINEL FAILOVER took %ld ms\n", ms);
        if (min_replicas) {
            /* the sentinels make the old master a replica of the new one
             * about 10 s after the failover; until then no enqueue can be
             * acknowledged (WAIT 1 times out: what min_replicas is for) and the
             * producer makes one attempt a second. The harness does it at once. */
            rh_sentinel_settle(s, 20000);
            printf("  the old master is a replica in sync after %lld ms\n",
                   (long long)(mono_ms() - fault_ms));
        }
    } else {
        int old = rh_sentinel_kill_master(s);
        int now = rh_sentinel_wait_master_change(s, old, 30000);
        assert_true(now >= 0 && now != old);
        ph.switch_ms = mono_ms();
        printf("  kill -9 of the master: node %d is master after %lld ms\n", now,
               (long long)(mono_ms() - fault_ms));
        if (min_replicas) {
            /* the new master has no replica until the old one is back: until
             * then no enqueue can be acknowledged (WAIT 1 times out), which is
             * what min_replicas is for; jobs still run */
            rh_sentinel_restart(s, old);
            printf("  the old master is back as a replica after %lld ms\n",
                   (long long)(mono_ms() - fault_ms));
        }
    }
    produce_after(fault_ms, 0, 1500, 100);
    producers_stop(p, 1);
    ph.end_ms = mono_ms();
    int to = atomic_load(&T.next);
    if (to > MAXJ)
        to = MAXJ;
    ph.to = to;
    drain(&pq, 1, sentinel_master, s, 0, to);
    figures_t f = audit(&ph, &pq, 1, sentinel_master, s);
    stop_worker(w);
    saq_queue_free(wq);
    saq_queue_free(pq);
    return f;
}

/* Jobs run twice, and the bound asserted on them (run_twice <= 2 *
 * CONCURRENCY). A job's handler runs again only when its dequeue (the move
 * to active and the mark) or its finish was written on the old master but is
 * not on the new one: the new master then has it queued (run again) or active
 * under this worker with no lease (recovered by the worker: retried, run
 * again). Enqueue and finish wait for min_replicas, the dequeue does not. A
 * lease holds its slot until its outcome is written, WAIT included, so with
 * min_replicas=1 a finish the replica did not get holds its slot until WAIT
 * gives up (1 s) or the connection goes: the jobs exposed are the ones
 * running when the replica stopped following the old master (at most
 * CONCURRENCY) and the ones started on the old master after that, before
 * libsaq moves to the new one (at most CONCURRENCY more: their slots stay
 * held by their WAITs for that ~1 s window). Without min_replicas only the
 * writes of the replication lag at the kill are exposed, milliseconds on
 * loopback: the same bound holds there in practice, not by design. Seen on
 * the test machine: 0 or 1. */

static void test_sentinel_failover(void **state)
{
    (void)state;
    rh_sentinel_t *s = rh_sentinel_start(NULL);
    rh_sentinel_settle(s, 20000); /* a replica in sync: WAIT 1 can succeed */
    figures_t f = sentinel_run(s, "sentinel-failover min_replicas=1", FAULT_FAILOVER, 1);
    assert_common(&f);
    /* min_replicas=1: an acknowledged enqueue is on the replica that the
     * failover promotes, so nothing acknowledged can be lost */
    assert_int_equal(f.lost, 0);
    /* and no completion is lost: a finish waits for a replica too, so a job
     * that ran to completion stays complete across the failover */
    assert_int_equal(f.not_complete, 0);
    assert_true(f.run_twice <= 2 * CONCURRENCY);
    sentinel_bad_input(s);
    rh_sentinel_stop(s);
}

/* min_replicas counts the replicas that have THIS write, so its WAIT must be
 * asked on the connection that made the write. Here the master changes while
 * an enqueue is in flight (the master's writes are paused meanwhile, then a
 * SENTINEL FAILOVER): the script runs on the old master once the pause ends,
 * after the promoted replica stopped following it. A WAIT sent after the
 * reconnect would ask the new master instead, whose own replica (an extra
 * redis-server here) acknowledges at once the nothing that connection wrote:
 * the enqueue would be acknowledged while the new master does not have the
 * job. It must fail instead, or the job must be on the new master. */
static void test_min_replicas_wait_same_connection(void **state)
{
    (void)state;
    rh_sentinel_t *s = rh_sentinel_start(NULL);
    rh_sentinel_settle(s, 20000);
    char name[64];
    snprintf(name, sizeof name, "%s", rh_queue_name("fo-wait"));
    saq_queue_t *q = open_queue_kv(s->url, name, 1, "command_timeout_ms", "20000");
    saq_event_free(OK_EV(saq_queue_count_sync(q, "queued", TMO))); /* connected to the master */
    int old = rh_sentinel_master(s);
    redisContext *mc = rh_node_client(&s->data[old], NULL);
    freeReplyObject(rh_cmd(mc, "CLIENT PAUSE 10000 WRITE"));
    saq_cq_t *cq = saq_cq_new();
    saq_job_t *j = saq_job_new("work");
    assert_int_equal(saq_job_set_key(j, "w1"), 0);
    assert_int_equal(saq_queue_enqueue(q, j, cq, 1), 0);
    sleep_ms(300); /* the script waits on the paused master */
    rh_sentinel_failover(s);
    int now = rh_sentinel_master(s);
    assert_int_not_equal(now, old);
    /* a replica for the new master */
    rh_t *extra = rh_start(0);
    redisContext *ec = rh_client(extra);
    freeReplyObject(rh_cmd(ec, "REPLICAOF 127.0.0.1 %d", s->data[now].port));
    int up = 0;
    for (int i = 0; i < 100 && !up; i++) {
        char *info = rh_str(ec, "INFO replication");
        up = info && strstr(info, "master_link_status:up");
        free(info);
        if (!up)
            sleep_ms(50);
    }
    assert_true(up);
    sleep_ms(300); /* libsaq has heard +switch-master (the harness waited for the sentinels) */
    freeReplyObject(rh_cmd(mc, "CLIENT UNPAUSE"));
    saq_event_t *ev = saq_cq_wait(cq, 1, 30000);
    assert_non_null(ev);
    redisContext *nc = rh_node_client(&s->data[now], NULL);
    char *on_new = rh_str(nc, "GET saq:job:%s:w1", name);
    char *on_old = rh_str(mc, "GET saq:job:%s:w1", name);
    printf("  enqueue across the failover: %s (%s); the job is %son the new master, %son the old\n",
           saq_err_name(saq_event_status(ev)), saq_event_errmsg(ev), on_new ? "" : "not ",
           on_old ? "" : "not ");
    if (saq_event_status(ev) == SAQ_OK && !on_new)
        fail_msg("the enqueue was acknowledged with min_replicas=1, but the new master does not "
                 "have the job");
    free(on_new);
    free(on_old);
    saq_event_free(ev);
    saq_cq_free(cq);
    saq_job_free(j);
    redisFree(nc);
    redisFree(ec);
    redisFree(mc);
    saq_queue_free(q);
    rh_stop(extra);
    rh_sentinel_stop(s);
}

/* A master that keeps the replies of requests in flight (paused, frozen, cut
 * off) while the sentinels fail over: once libsaq hears of the new master,
 * the connection goes there after a quarter of command_timeout_ms at most,
 * instead of holding every later command until the old requests time out. */
static void test_failover_from_a_silent_master(void **state)
{
    (void)state;
    rh_sentinel_t *s = rh_sentinel_start(NULL);
    rh_sentinel_settle(s, 20000);
    char name[64];
    snprintf(name, sizeof name, "%s", rh_queue_name("fo-silent"));
    saq_queue_t *q = open_queue_kv(s->url, name, 0, "command_timeout_ms", "8000");
    saq_event_free(OK_EV(saq_queue_count_sync(q, "queued", TMO))); /* connected to the master */
    int old = rh_sentinel_master(s);
    redisContext *mc = rh_node_client(&s->data[old], NULL);
    freeReplyObject(rh_cmd(mc, "CLIENT PAUSE 20000 WRITE"));
    saq_cq_t *cq = saq_cq_new();
    saq_job_t *j = saq_job_new("work");
    int64_t t0 = mono_ms();
    assert_int_equal(saq_queue_enqueue(q, j, cq, 1), 0);
    sleep_ms(300); /* the script waits on the paused master */
    rh_sentinel_failover(s);
    int64_t switched = mono_ms();
    sleep_ms(300); /* libsaq has heard +switch-master: later commands wait for the new master */
    saq_event_t *ev = saq_queue_count_sync(q, "queued", 15000);
    int64_t took = mono_ms() - t0;
    printf("  count after the failover from a silent master: %s, %lld ms after the enqueue was "
           "sent (failover done at %lld ms)\n", saq_err_name(saq_event_status(ev)),
           (long long)took, (long long)(switched - t0));
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    /* before: the count waited for the enqueue's 8 s command timeout */
    assert_true(took < (switched - t0) + 2000 + 1500);
    saq_event_free(ev);
    ev = saq_cq_wait(cq, 1, 15000);
    assert_non_null(ev);
    assert_int_equal(saq_event_status(ev), SAQ_ECONN); /* may or may not have run: it did not */
    saq_event_free(ev);
    freeReplyObject(rh_cmd(mc, "CLIENT UNPAUSE"));
    saq_cq_free(cq);
    saq_job_free(j);
    redisFree(mc);
    saq_queue_free(q);
    rh_sentinel_stop(s);
}

static void test_sentinel_kill(void **state)
{
    (void)state;
    rh_sentinel_t *s = rh_sentinel_start(NULL);
    rh_sentinel_settle(s, 20000);
    figures_t f = sentinel_run(s, "sentinel-kill-9 min_replicas=1", FAULT_KILL, 1);
    assert_common(&f);
    assert_int_equal(f.lost, 0);
    /* and no completion is lost: a finish waits for a replica too, so a job
     * that ran to completion stays complete across the failover */
    assert_int_equal(f.not_complete, 0);
    assert_true(f.run_twice <= 2 * CONCURRENCY);

    /* the old master back as a replica, then the same without min_replicas:
     * an enqueue is acknowledged once the master has it, so what the replica
     * had not received when the master died is lost (printed, not asserted) */
    for (int i = 0; i < 2; i++)
        if (!s->data[i].pid)
            rh_sentinel_restart(s, i);
    rh_sentinel_settle(s, 20000);
    f = sentinel_run(s, "sentinel-kill-9 min_replicas=0", FAULT_KILL, 0);
    assert_common(&f);
    assert_true(f.run_twice <= 2 * CONCURRENCY);
    rh_sentinel_stop(s);
}

/* ---- Cluster ---- */

static int slot_of_queue(saq_queue_t *q) { return rh_cluster_slot_of(saq_queue_name(q)); }

static redisContext *cluster_master(void *dep, saq_queue_t *q)
{
    int owner = rh_cluster_owner(dep, slot_of_queue(q));
    assert_true(owner >= 0);
    return rh_cluster_client(dep, owner);
}

/* A hash-tagged queue name whose slot is the lowest one master `m` serves:
 * `redis-cli --cluster reshard` moves a source's lowest slots first, so
 * moving one slot from m moves this queue. */
static void name_on_lowest_slot(rh_cluster_t *c, int m, char *out, size_t size)
{
    redisContext *n = rh_cluster_client(c, m);
    redisReply *r = rh_cmd(n, "CLUSTER SLOTS");
    int lowest = -1;
    for (size_t i = 0; i < r->elements; i++) {
        int first = (int)r->element[i]->element[0]->integer;
        if (rh_cluster_owner(c, first) == m && (lowest < 0 || first < lowest))
            lowest = first;
    }
    freeReplyObject(r);
    redisFree(n);
    assert_true(lowest >= 0);
    for (int i = 0;; i++) {
        snprintf(out, size, "{fo%d_%d}", (int)getpid(), i);
        if (rh_cluster_slot_of(out) == lowest)
            return;
    }
}

/* Scenario 4: pub/sub is cluster-wide. A listen on `name` (libsaq subscribes
 * on the queue's master) hears a PUBLISH of the job's channel made on
 * another master; and apply from one queue object waits for a worker on
 * another object of that queue. */
static void cluster_pubsub_apply(rh_cluster_t *c, const char *name, int other)
{
    saq_queue_t *q = open_queue(c->url, name, 0);
    int owner = rh_cluster_owner(c, rh_cluster_slot_of(name));
    assert_true(other != owner && other >= 0);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_listen(q, "[\"ps1\"]", 20.0, cq, 7), 0);
    redisContext *pc = rh_cluster_client(c, other);
    int got = 0, tries = 0;
    long long receivers = 0;
    /* the subscription is confirmed shortly after the listen starts: publish until heard */
    while (!got && tries++ < 100) {
        receivers = rh_int(pc, "PUBLISH saq:job:%s:ps1 complete", name);
        saq_event_t *ev = saq_cq_poll(cq, 100);
        if (ev) {
            assert_int_equal(saq_event_type(ev), SAQ_EVENT_LISTEN);
            assert_string_equal(saq_event_key(ev), "ps1");
            assert_string_equal(saq_event_job_status(ev), "complete");
            got = 1;
        }
        saq_event_free(ev);
    }
    redisFree(pc);
    printf("  a PUBLISH on node %d (the queue's master is node %d) reached the listen after %d "
           "tries (PUBLISH counted %lld local receivers)\n", other, owner, tries, receivers);
    assert_true(got);
    assert_int_equal(receivers, 0); /* no subscriber on that node: it came over the cluster bus */
    assert_int_equal(saq_queue_listen_stop(q, cq, 7), 0);
    saq_event_t *end = saq_cq_wait(cq, 7, TMO);
    while (end && saq_event_type(end) != SAQ_EVENT_LISTEN_END) {
        saq_event_free(end);
        end = saq_cq_wait(cq, 7, TMO);
    }
    assert_non_null(end);
    assert_int_equal(saq_event_status(end), SAQ_OK);
    saq_event_free(end);
    saq_cq_free(cq);

    saq_queue_t *wq = open_queue(c->url, name, 0);
    saq_worker_t *w = start_worker(&wq, 1);
    saq_job_t *j = saq_job_new("work");
    saq_event_t *ev = OK_EV(saq_queue_apply_sync(q, j, 10, TMO));
    assert_string_equal(saq_event_json(ev), "1");
    saq_event_free(ev);
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(wq);
    saq_queue_free(q);
}

static void test_cluster(void **state)
{
    (void)state;
    rh_cluster_t *c = rh_cluster_start(NULL);
    char names[3][64];
    rh_cluster_queue_names(c, names);
    int m1 = rh_cluster_owner(c, rh_cluster_slot_of(names[1]));
    int m2 = rh_cluster_owner(c, rh_cluster_slot_of(names[2]));
    name_on_lowest_slot(c, m1, names[1], sizeof names[1]);
    assert_int_equal(rh_cluster_owner(c, rh_cluster_slot_of(names[1])), m1);

    cluster_pubsub_apply(c, names[0], m1);
    {   /* a plain redis:// url on a cluster node: said so, not CROSSSLOT on every script */
        char url[200];
        snprintf(url, sizeof url, "redis://127.0.0.1:%d", c->node[m1].port);
        saq_queue_t *q = open_queue(url, names[1], 0);
        expect_error_code(q, "redis url on a cluster node", SAQ_EURL, "is a cluster node",
                          "redis+cluster://");
        saq_queue_free(q);
    }

    /* Scenario 3: one worker over three queues on three masters, a producer
     * on each; min_replicas=1 as in the sentinel runs */
    table_reset();
    saq_queue_t *pq[3], *wq[3];
    for (int i = 0; i < 3; i++) {
        pq[i] = open_queue(c->url, names[i], 1);
        wq[i] = open_queue(c->url, names[i], 1);
    }
    saq_worker_t *w = start_worker(wq, 3);
    prod_t p[3];

    /* a resharding under load: redis-cli --cluster reshard moves queue 1's slot to m2 */
    producers_start(p, pq, 3, 3000);
    sleep_ms(1500);
    phase_t ph = {.label = "cluster-reshard min_replicas=1", .fault_ms = mono_ms(), .qmask = 2};
    int64_t fault_ms = ph.fault_ms;
    rh_cluster_reshard_cli(c, m1, m2, 1);
    ph.switch_ms = mono_ms();
    printf("  redis-cli --cluster reshard of %s's slot from node %d to node %d: %lld ms\n",
           names[1], m1, m2, (long long)(mono_ms() - fault_ms));
    assert_int_equal(rh_cluster_owner(c, rh_cluster_slot_of(names[1])), m2);
    produce_after(fault_ms, 0, 1500, 100);
    producers_stop(p, 3);
    ph.end_ms = mono_ms();
    int to = atomic_load(&T.next) < MAXJ ? atomic_load(&T.next) : MAXJ;
    ph.to = to;
    drain(pq, 3, cluster_master, c, 0, to);
    figures_t f = audit(&ph, pq, 3, cluster_master, c);
    assert_common(&f);
    /* nothing is lost or run twice by a slot move: the keys move atomically
     * (MIGRATE), commands meanwhile are refused (-ASK, -TRYAGAIN, -MOVED)
     * before they run and are sent again to the new owner */
    assert_int_equal(f.lost, 0);
    /* and no completion is lost: a finish waits for a replica too, so a job
     * that ran to completion stays complete across the failover */
    assert_int_equal(f.not_complete, 0);
    assert_int_equal(f.run_twice, 0);

    /* kill -9 of m2, which now serves queues 1 and 2 */
    atomic_store(&T.errors, 0);
    T.first_error[0] = 0;
    int from = to;
    producers_start(p, pq, 3, 3000);
    sleep_ms(1500);
    ph = (phase_t){.label = "cluster-kill-9 min_replicas=1", .from = from, .fault_ms = mono_ms(),
                   .qmask = 6};
    fault_ms = ph.fault_ms;
    rh_cluster_kill(c, m2);
    int now = rh_cluster_wait_failover(c, rh_cluster_slot_of(names[2]), 30000);
    assert_true(now >= 0 && now != m2);
    ph.switch_ms = mono_ms();
    printf("  kill -9 of node %d: node %d serves queues 1 and 2 after %lld ms\n", m2, now,
           (long long)(mono_ms() - fault_ms));
    rh_cluster_restart(c, m2); /* a replica again for the promoted node: WAIT 1 can succeed */
    printf("  node %d is back as a replica after %lld ms\n", m2, (long long)(mono_ms() - fault_ms));
    produce_after(fault_ms, from, 1500, 100);
    producers_stop(p, 3);
    ph.end_ms = mono_ms();
    to = atomic_load(&T.next) < MAXJ ? atomic_load(&T.next) : MAXJ;
    ph.to = to;
    drain(pq, 3, cluster_master, c, from, to);
    f = audit(&ph, pq, 3, cluster_master, c);
    assert_common(&f);
    assert_int_equal(f.lost, 0);
    /* and no completion is lost: a finish waits for a replica too, so a job
     * that ran to completion stays complete across the failover */
    assert_int_equal(f.not_complete, 0);
    assert_true(f.run_twice <= 2 * CONCURRENCY);

    stop_worker(w);
    for (int i = 0; i < 3; i++) {
        saq_queue_free(wq[i]);
        saq_queue_free(pq[i]);
    }
    rh_cluster_stop(c);
}

/* ---- Scenario 6: bad input, sentinels down ---- */

/* The queues here have command_timeout_ms 3000: errors must come by then. */
#define CMD_TMO_MS 3000

/* A count on q fails with SAQ_ECONN before command_timeout_ms, with a message
 * holding `needle` and `needle2` (may be NULL); printed as `what`. */
static void expect_error(saq_queue_t *q, const char *what, const char *needle, const char *needle2)
{
    expect_error_code(q, what, SAQ_ECONN, needle, needle2);
}

static void expect_error_code(saq_queue_t *q, const char *what, int code, const char *needle,
                              const char *needle2)
{
    int64_t t0 = mono_ms();
    saq_event_t *ev = saq_queue_count_sync(q, "queued", TMO);
    long ms = (long)(mono_ms() - t0);
    assert_non_null(ev);
    printf("  %s: %s after %ld ms: %s\n", what, saq_err_name(saq_event_status(ev)), ms,
           saq_event_errmsg(ev));
    assert_int_equal(saq_event_status(ev), code);
    assert_non_null(strstr(saq_event_errmsg(ev), needle));
    if (needle2)
        assert_non_null(strstr(saq_event_errmsg(ev), needle2));
    assert_true(ms < CMD_TMO_MS);
    saq_event_free(ev);
}

static void sentinel_bad_input(rh_sentinel_t *s)
{
    /* a master name the sentinels do not know */
    char url[700], name[64];
    const char *m = strstr(s->url, "/mymaster/");
    assert_non_null(m);
    snprintf(url, sizeof url, "%.*s/nosuchmaster/0", (int)(m - s->url), s->url);
    saq_queue_t *q = open_queue(url, rh_queue_name("fo-bad"), 0);
    expect_error(q, "unknown master", "does not know a master named 'nosuchmaster'", NULL);
    {   /* an apply (a listener first) fails with the reason too, not at its own timeout */
        saq_job_t *j = saq_job_new("work");
        int64_t t0 = mono_ms();
        saq_event_t *ev = saq_queue_apply_sync(q, j, 30, 40000);
        long ms = (long)(mono_ms() - t0);
        printf("  apply on an unknown master: %s after %ld ms: %s\n",
               saq_err_name(saq_event_status(ev)), ms, saq_event_errmsg(ev));
        assert_int_equal(saq_event_status(ev), SAQ_ECONN);
        assert_non_null(strstr(saq_event_errmsg(ev), "does not know a master named"));
        assert_true(ms < CMD_TMO_MS);
        saq_event_free(ev);
        saq_job_free(j);
    }
    saq_queue_free(q);
    /* the db where the master's name goes */
    snprintf(url, sizeof url, "%.*s/0", (int)(m - s->url), s->url);
    q = open_queue(url, rh_queue_name("fo-bad"), 0);
    expect_error(q, "db for a master name", "master named '0'", "the master's name comes first");
    saq_queue_free(q);
    /* a sentinel url naming a data node, a plain url naming a sentinel */
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d/mymaster", s->data[0].port);
    q = open_queue(url, rh_queue_name("fo-bad"), 0);
    expect_error(q, "sentinel url on a data node", "is not a sentinel", NULL);
    saq_queue_free(q);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", s->sentinel[0].port);
    q = open_queue(url, rh_queue_name("fo-bad"), 0);
    expect_error_code(q, "redis url on a sentinel", SAQ_EURL, "is a sentinel",
                      "redis+sentinel://");
    saq_queue_free(q);

    /* every sentinel down */
    snprintf(name, sizeof name, "%s", rh_queue_name("fo-nosent"));
    saq_queue_t *up = open_queue(s->url, name, 0);
    saq_event_free(OK_EV(saq_queue_count_sync(up, "queued", TMO)));
    for (int i = 0; i < 3; i++)
        rh_sentinel_kill_sentinel(s, i);
    /* a queue already connected to its master goes on: the sentinels are
     * asked only when a connection has trouble */
    saq_event_free(OK_EV(saq_queue_count_sync(up, "queued", TMO)));
    q = open_queue(s->url, name, 0);
    expect_error(q, "every sentinel down", "sentinel at 127.0.0.1:", "connection refused");
    /* they come back: the same queue object works */
    for (int i = 0; i < 3; i++)
        rh_sentinel_restart_sentinel(s, i);
    int64_t t0 = mono_ms();
    int ok = 0;
    while (!ok && mono_ms() - t0 < 20000) {
        saq_event_t *ev = saq_queue_count_sync(q, "queued", TMO);
        ok = ev && saq_event_status(ev) == SAQ_OK;
        saq_event_free(ev);
        if (!ok)
            sleep_ms(100);
    }
    printf("  the sentinels restarted: the queue works again after %lld ms\n",
           (long long)(mono_ms() - t0));
    assert_true(ok);
    saq_queue_free(q);
    saq_queue_free(up);
}

static void test_cluster_bad_input(void **state)
{
    (void)state;
    /* a cluster url on a redis that is not a cluster node */
    R = rh_start(0);
    char url[200];
    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d", R->port);
    saq_queue_t *q = open_queue(url, "{fo-single}", 0);
    expect_error(q, "cluster url on a single redis", "is not a cluster node", NULL);
    saq_queue_free(q);
    rh_stop(R);
    R = NULL;

    /* a queue name without a hash tag: refused at open, nothing to connect to needed */
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", "redis+cluster://127.0.0.1:1,127.0.0.1:2"), 0);
    assert_int_equal(saq_conf_set(c, "name", "orders"), 0);
    q = NULL;
    assert_int_equal(saq_queue_open(&q, c), SAQ_EINVAL);
    assert_null(q);
    printf("  a cluster queue without a hash tag: %s\n", saq_conf_errmsg(c));
    assert_non_null(strstr(saq_conf_errmsg(c), "no hash tag"));
    assert_non_null(strstr(saq_conf_errmsg(c), "'{orders}'"));
    saq_conf_free(c);
}

/* ---- Scenario 5: TLS, with the data and the sentinels' passwords ---- */

/* apply a "work" job on q until it succeeds (at most 20 s): ms it took */
static long apply_until_ok(saq_queue_t *q)
{
    int64_t t0 = mono_ms();
    for (;;) {
        saq_job_t *j = saq_job_new("work");
        saq_event_t *ev = saq_queue_apply_sync(q, j, 5, 6000);
        int ok = ev && saq_event_status(ev) == SAQ_OK && !strcmp(saq_event_json(ev), "1");
        if (!ok && mono_ms() - t0 > 20000)
            fail_msg("apply: %s", ev ? saq_event_errmsg(ev) : "no event");
        saq_event_free(ev);
        saq_job_free(j);
        if (ok)
            return (long)(mono_ms() - t0);
        sleep_ms(50);
    }
}

static void test_tls(void **state)
{
    (void)state;
    rh_opts_t o = {.tls = 1, .requirepass = "datapw", .sentinel_pass = "sentpw"};
    rh_sentinel_t *s = rh_sentinel_start(&o);
    rh_sentinel_settle(s, 20000);
    char name[64], url[1400];
    snprintf(name, sizeof name, "%s", rh_queue_name("fo-tls"));
    /* without the sentinels' password: refused, and said so */
    saq_queue_t *nq = open_queue(s->tls_url, name, 0);
    expect_error(nq, "sentinel TLS without the sentinel password", "sentinel at 127.0.0.1:", "NOAUTH");
    saq_queue_free(nq);
    /* the producer with the url's sentinel_password, the worker with the conf key */
    snprintf(url, sizeof url, "%s&sentinel_password=sentpw", s->tls_url);
    saq_queue_t *pq = open_queue(url, name, 1);
    saq_queue_t *wq = open_queue_kv(s->tls_url, name, 1, "sentinel.password", "sentpw");
    saq_worker_t *w = start_worker(&wq, 1);
    saq_job_t *j = enq(pq, "work", NULL);
    saq_job_free(wait_status(pq, saq_job_key(j), "complete", TMO));
    saq_job_free(j);
    printf("  sentinel TLS: first apply in %ld ms\n", apply_until_ok(pq));
    int64_t t0 = mono_ms();
    int old = rh_sentinel_master(s);
    long fo = rh_sentinel_failover(s);
    assert_int_not_equal(rh_sentinel_master(s), old);
    rh_sentinel_settle(s, 20000); /* a replica for min_replicas=1 */
    long ms = apply_until_ok(pq);
    printf("failover[sentinel-tls-failover min_replicas=1]: SENTINEL FAILOVER %ld ms, an apply "
           "succeeded %lld ms after the order (%ld ms from the apply's start)\n", fo,
           (long long)(mono_ms() - t0), ms);
    stop_worker(w);
    saq_queue_free(wq);
    saq_queue_free(pq);
    rh_sentinel_stop(s);

    /* a cluster over TLS with a password: rediss+cluster:// */
    rh_opts_t co = {.tls = 1, .requirepass = "clpw"};
    rh_cluster_t *c = rh_cluster_start(&co);
    saq_queue_t *aq = open_queue(c->tls_url, "{fo-tls}", 0);
    wq = open_queue(c->tls_url, "{fo-tls}", 0);
    w = start_worker(&wq, 1);
    printf("  cluster TLS: apply in %ld ms\n", apply_until_ok(aq));
    stop_worker(w);
    saq_queue_free(wq);
    saq_queue_free(aq);
    rh_cluster_stop(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentinel_failover),
        cmocka_unit_test(test_min_replicas_wait_same_connection),
        cmocka_unit_test(test_failover_from_a_silent_master),
        cmocka_unit_test(test_sentinel_kill),
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_cluster_bad_input),
    };
    if (getenv("SAQ_FAILOVER_ONLY")) /* e.g. test_cluster: run the matching tests only */
        cmocka_set_test_filter(getenv("SAQ_FAILOVER_ONLY"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
