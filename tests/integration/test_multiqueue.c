/* SPDX-License-Identifier: MIT */
/* A worker serving several queues (saq_worker_add_queue, saq #284) against a
 * real redis-server: every queue's jobs run, concurrency is the total over the
 * queues, strict order runs an earlier queue's jobs first (also when a job
 * comes to an earlier queue while every slot is busy), weighted order shares
 * slots by weight, a stop with jobs in flight on several queues strands
 * nothing, and each queue's registry lists its part of the worker. */
#include "itest.h"

#include <stdatomic.h>

/* ---- the handler: records the order jobs start in, and the concurrency ---- */

static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static char order[512]; /* the kwargs "q" letter of each job, in start order */
static size_t norder;
static atomic_int running, max_running, done;

static void reset_counters(void)
{
    pthread_mutex_lock(&order_mu);
    norder = 0;
    order[0] = 0;
    pthread_mutex_unlock(&order_mu);
    atomic_store(&running, 0);
    atomic_store(&max_running, 0);
    atomic_store(&done, 0);
}

/* kwargs {"q": "a", "ms": 50}: records 'a', sleeps ms (until cancelled) */
static void h_job(saq_job_t *job, void *ud)
{
    (void)ud;
    const char *kw = saq_job_kwargs(job);
    const char *p = kw ? strstr(kw, "\"q\": \"") : NULL;
    const char *m = kw ? strstr(kw, "\"ms\": ") : NULL;
    int ms = m ? atoi(m + 6) : 0;
    int now = atomic_fetch_add(&running, 1) + 1;
    int prev = atomic_load(&max_running);
    while (now > prev && !atomic_compare_exchange_weak(&max_running, &prev, now))
        ;
    pthread_mutex_lock(&order_mu);
    if (norder + 1 < sizeof order)
        order[norder++] = p ? p[6] : '?';
    order[norder] = 0;
    pthread_mutex_unlock(&order_mu);
    for (int i = 0; i < ms && !saq_job_cancelled(job); i++)
        sleep_ms(1);
    atomic_fetch_sub(&running, 1);
    if (saq_job_cancelled(job))
        saq_job_fail(job, "CancelledError");
    else
        saq_job_complete(job, "1");
    atomic_fetch_add(&done, 1);
    saq_job_free(job);
}

static char *order_copy(void)
{
    pthread_mutex_lock(&order_mu);
    char *s = strdup(order);
    pthread_mutex_unlock(&order_mu);
    return s;
}

static void enq_n(saq_queue_t *q, char letter, int n, int ms)
{
    char kw[64];
    snprintf(kw, sizeof kw, "{\"q\": \"%c\", \"ms\": %d}", letter, ms);
    for (int i = 0; i < n; i++)
        saq_job_free(enq(q, "job", kw));
}

/* A worker on qs[0] serving qs[1..n-1] too (weights[i], or 1). */
static saq_worker_t *mkmulti(saq_queue_t **qs, int n, const int *weights, const char **kv)
{
    saq_worker_t *w = worker_with_conf(qs[0], kv);
    assert_int_equal(saq_worker_register(w, "job", h_job, NULL), 0);
    for (int i = 1; i < n; i++)
        if (saq_worker_add_queue(w, qs[i], weights ? weights[i] : 1))
            fail_msg("add_queue: %s", saq_worker_errmsg(w));
    return w;
}

static void wait_done(int n, int ms)
{
    double end = now_s() + ms / 1000.0;
    while (atomic_load(&done) < n && now_s() < end)
        sleep_ms(5);
    if (atomic_load(&done) < n)
        fail_msg("%d of %d jobs done after %d ms", atomic_load(&done), n, ms);
}

static void stop_free(saq_worker_t *w)
{
    saq_worker_stop(w, 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
}

/* ---- tests ---- */

static void test_api(void **state)
{
    (void)state;
    saq_queue_t *a = mkqueue("mq-api-a", NULL, NULL), *b = mkqueue("mq-api-b", NULL, NULL);
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "queue_order", "fastest"), SAQ_EINVAL);
    assert_non_null(strstr(saq_conf_errmsg(c), "strict"));
    saq_conf_free(c);
    const char *kv[] = {"queue_order", "weighted", NULL};
    saq_worker_t *w = worker_with_conf(a, kv);
    assert_string_equal(saq_worker_conf_get(w, "queue_order"), "weighted");
    assert_string_equal(saq_worker_conf_get(w, "queue_weight"), "1");
    assert_int_equal(saq_worker_add_queue(NULL, b, 1), SAQ_EINVAL);
    assert_int_equal(saq_worker_add_queue(w, NULL, 1), SAQ_EINVAL);
    assert_int_equal(saq_worker_add_queue(w, a, 1), SAQ_EINVAL); /* its own queue */
    assert_non_null(strstr(saq_worker_errmsg(w), "already serves"));
    assert_int_equal(saq_worker_add_queue(w, b, 0), SAQ_EINVAL);
    assert_non_null(strstr(saq_worker_errmsg(w), "weight"));
    assert_int_equal(saq_worker_add_queue(w, b, 2), SAQ_OK);
    assert_int_equal(saq_worker_add_queue(w, b, 1), SAQ_EINVAL); /* twice */
    assert_int_equal(saq_worker_register(w, "job", h_job, NULL), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_queue_t *c2 = mkqueue("mq-api-c", NULL, NULL);
    assert_int_equal(saq_worker_add_queue(w, c2, 1), SAQ_ESTATE);
    const char *st = saq_worker_stats_json(w);
    assert_non_null(strstr(st, "\"queues\": [{\"name\": "));
    stop_free(w);
    /* a worker that never starts frees its members too (valgrind/asan check it) */
    w = worker_with_conf(a, NULL);
    assert_int_equal(saq_worker_add_queue(w, b, 1), SAQ_OK);
    assert_int_equal(saq_worker_add_queue(w, c2, 1), SAQ_OK);
    saq_worker_free(w);
    saq_queue_free(c2);
    saq_queue_free(b);
    saq_queue_free(a);
}

/* Jobs on a, b and c all run on one worker; each queue's records and
 * registry name the worker's part on that queue. */
static void test_every_queue_processed(void **state)
{
    (void)state;
    reset_counters();
    saq_queue_t *qs[3] = {mkqueue("mq-all-a", NULL, NULL), mkqueue("mq-all-b", NULL, NULL),
                          mkqueue("mq-all-c", NULL, NULL)};
    const char *kv[] = {"concurrency", "4", "timers.worker_info", "0.2", NULL};
    saq_worker_t *w = mkmulti(qs, 3, NULL, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *last[3];
    for (int i = 0; i < 3; i++) {
        enq_n(qs[i], "abc"[i], 9, 5);
        last[i] = enq(qs[i], "job", i == 0 ? "{\"q\": \"a\"}" : i == 1 ? "{\"q\": \"b\"}" : "{\"q\": \"c\"}");
    }
    wait_done(30, 10000);
    char want[3][260];
    snprintf(want[0], sizeof want[0], "%s", saq_worker_id(w));
    snprintf(want[1], sizeof want[1], "%s.1", saq_worker_id(w));
    snprintf(want[2], sizeof want[2], "%s.2", saq_worker_id(w));
    for (int i = 0; i < 3; i++) {
        saq_job_t *j = wait_status(qs[i], saq_job_key(last[i]), "complete", TMO);
        assert_string_equal(saq_job_worker_id(j), want[i]);
        saq_job_free(j);
        saq_job_free(last[i]);
        /* saq's info() of each queue lists the worker's part on it */
        double end = now_s() + 5;
        int listed = 0;
        while (!listed && now_s() < end) {
            saq_event_t *ev = OK_EV(saq_queue_info_sync(qs[i], 0, 0, 10, TMO));
            listed = strstr(saq_event_json(ev), want[i]) != NULL;
            saq_event_free(ev);
            if (!listed)
                sleep_ms(50);
        }
        assert_true(listed);
        ASSERT_COUNTS(qs[i], 0, 0, 0);
    }
    const char *st = saq_worker_stats_json(w);
    assert_non_null(strstr(st, "{\"complete\": 30,"));
    for (int i = 0; i < 3; i++) {
        char frag[1200];
        snprintf(frag, sizeof frag, "{\"name\": \"%s\", \"id\": \"%s\", \"complete\": 10,", saq_queue_name(qs[i]),
                 want[i]);
        if (!strstr(st, frag))
            fail_msg("stats %s lacks %s", st, frag);
    }
    stop_free(w);
    for (int i = 0; i < 3; i++)
        saq_queue_free(qs[i]);
}

/* Strict order, concurrency 1: every job of a starts before any of b, even
 * with b's jobs enqueued first; and a job that comes to a while b's job holds
 * the only slot runs next (a's blocking dequeue moved it, gave it back, and a
 * took the next free slot). */
static void test_strict_order(void **state)
{
    (void)state;
    reset_counters();
    saq_queue_t *qs[2] = {mkqueue("mq-strict-a", NULL, NULL), mkqueue("mq-strict-b", NULL, NULL)};
    enq_n(qs[1], 'b', 6, 5);
    enq_n(qs[0], 'a', 6, 5);
    const char *kv[] = {"concurrency", "1", NULL};
    saq_worker_t *w = mkmulti(qs, 2, NULL, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    wait_done(12, 10000);
    char *o = order_copy();
    assert_string_equal(o, "aaaaaabbbbbb");
    free(o);
    /* both empty and blocked now: b's long jobs fill the slot, then a's job comes */
    reset_counters();
    enq_n(qs[1], 'b', 3, 400);
    double end = now_s() + 5;
    while (atomic_load(&running) == 0 && now_s() < end)
        sleep_ms(2);
    sleep_ms(100);
    enq_n(qs[0], 'a', 1, 5);
    wait_done(4, 10000);
    o = order_copy();
    assert_string_equal(o, "babb");
    free(o);
    assert_int_equal(atomic_load(&max_running), 1);
    for (int i = 0; i < 2; i++)
        ASSERT_COUNTS(qs[i], 0, 0, 0);
    stop_free(w);
    for (int i = 0; i < 2; i++)
        saq_queue_free(qs[i]);
}

/* Weighted order, concurrency 1, weights 3:1: while both queues have work,
 * a gets three slots for every one of b's. */
static void test_weighted_order(void **state)
{
    (void)state;
    reset_counters();
    saq_queue_t *qs[2] = {mkqueue("mq-weight-a", NULL, NULL), mkqueue("mq-weight-b", NULL, NULL)};
    enq_n(qs[0], 'a', 40, 2);
    enq_n(qs[1], 'b', 40, 2);
    const char *kv[] = {"concurrency", "1", "queue_order", "weighted", "queue_weight", "3", NULL};
    const int weights[] = {0, 1};
    saq_worker_t *w = mkmulti(qs, 2, weights, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    wait_done(80, 20000);
    char *o = order_copy();
    int a = 0;
    for (int i = 0; i < 40; i++)
        a += o[i] == 'a';
    printf("weighted 3:1, first 40 starts: %.40s (%d a)\n", o, a);
    assert_in_range(a, 28, 32); /* 30 exactly by the round robin, a little slack */
    free(o);
    for (int i = 0; i < 2; i++)
        ASSERT_COUNTS(qs[i], 0, 0, 0);
    stop_free(w);
    for (int i = 0; i < 2; i++)
        saq_queue_free(qs[i]);
}

/* concurrency is the total over the queues: 3 slots for 3 busy queues. */
static void test_concurrency_is_total(void **state)
{
    (void)state;
    for (int order_kind = 0; order_kind < 2; order_kind++) {
        reset_counters();
        saq_queue_t *qs[3] = {mkqueue("mq-total-a", NULL, NULL), mkqueue("mq-total-b", NULL, NULL),
                              mkqueue("mq-total-c", NULL, NULL)};
        const char *kv[] = {"concurrency", "3", "queue_order", order_kind ? "weighted" : "strict", NULL};
        saq_worker_t *w = mkmulti(qs, 3, NULL, kv);
        assert_int_equal(saq_worker_start(w, NULL, 0), 0);
        /* some before the start, some while blocked (each queue's blocking
         * dequeue moves one while the slots are busy: those are given back) */
        for (int i = 0; i < 3; i++)
            enq_n(qs[i], "abc"[i], 8, 40);
        wait_done(24, 20000);
        printf("%s: max running %d of 3 (order %s)\n", order_kind ? "weighted" : "strict",
               atomic_load(&max_running), order);
        assert_int_equal(atomic_load(&max_running), 3);
        for (int i = 0; i < 3; i++)
            ASSERT_COUNTS(qs[i], 0, 0, 0);
        stop_free(w);
        for (int i = 0; i < 3; i++)
            saq_queue_free(qs[i]);
    }
}

/* A key of another type than a string (a hash) moved by a member whose
 * slots are all taken: given back like any move (GIVE_BACK's GET failed on
 * it, which left it in active, dropped later by a sweep without a trace),
 * then settled failed once a slot frees, the key kept. */
static void test_wrong_type_given_back(void **state)
{
    (void)state;
    reset_counters();
    saq_queue_t *qs[2] = {mkqueue("mq-wt-a", NULL, NULL), mkqueue("mq-wt-b", NULL, NULL)};
    const char *b = saq_queue_name(qs[1]);
    const char *kv[] = {"concurrency", "1", NULL};
    saq_worker_t *w = mkmulti(qs, 2, NULL, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    sleep_ms(300); /* both queues found empty: each member blocks on its own */
    enq_n(qs[0], 'a', 1, 1500); /* the one slot, for 1.5 s */
    double end = now_s() + 10;
    while (atomic_load(&running) == 0 && now_s() < end)
        sleep_ms(5);
    freeReplyObject(rh_cmd(RC, "HSET saq:job:%s:wt f v", b));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 saq:job:%s:wt", b, b));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:wt", b, b));
    sleep_ms(500); /* b's blocking dequeue moves it, and gives it back: no slot */
    assert_int_equal(rh_int(RC, "LLEN saq:%s:active", b), 0);
    saq_job_t *j = wait_status(qs[1], "wt", "failed", TMO);
    assert_non_null(strstr(saq_job_error(j), "not a job record"));
    saq_job_free(j);
    redisReply *ty = rh_cmd(RC, "TYPE saq:%s:libsaq:unreadable:wt", b);
    assert_string_equal(ty->str, "hash");
    freeReplyObject(ty);
    wait_done(1, TMO);
    ASSERT_COUNTS(qs[0], 0, 0, 0);
    ASSERT_COUNTS(qs[1], 0, 0, 0);
    stop_free(w);
    for (int i = 0; i < 2; i++)
        saq_queue_free(qs[i]);
}

/* A stop with jobs running on several queues and more queued: nothing stays
 * in active, every job not finished is back in queued (retried "cancelled"). */
static void test_stop_in_flight(void **state)
{
    (void)state;
    reset_counters();
    saq_queue_t *qs[3] = {mkqueue("mq-stop-a", NULL, NULL), mkqueue("mq-stop-b", NULL, NULL),
                          mkqueue("mq-stop-c", NULL, NULL)};
    const char *kv[] = {"concurrency", "4", "queue_order", "weighted", NULL};
    saq_worker_t *w = mkmulti(qs, 3, NULL, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        enq_n(qs[i], "abc"[i], 3, 5000);
    double end = now_s() + 5;
    while (atomic_load(&running) < 4 && now_s() < end)
        sleep_ms(5);
    assert_int_equal(atomic_load(&running), 4);
    assert_int_equal(saq_worker_stop(w, 0), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    assert_int_equal(atomic_load(&max_running), 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(qcount(qs[i], "active"), 0);
        assert_int_equal(qcount(qs[i], "queued"), 3); /* the cancelled ones are retried */
    }
    saq_worker_free(w);
    /* U9 over several queues: stops while every queue's dequeue is blocked,
     * with a job arriving on one of them, never strand a job */
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < 3; i++)
            rh_int(RC, "DEL saq:%s:queued", saq_queue_name(qs[i]));
        w = mkmulti(qs, 3, NULL, kv);
        assert_int_equal(saq_worker_start(w, NULL, 0), 0);
        sleep_ms(5 + round % 7);
        enq_n(qs[round % 3], 'x', 1, 1);
        saq_worker_stop(w, 0);
        assert_int_equal(saq_worker_wait(w, TMO), 0);
        saq_worker_free(w);
        for (int i = 0; i < 3; i++)
            assert_int_equal(qcount(qs[i], "active"), 0);
    }
    for (int i = 0; i < 3; i++)
        saq_queue_free(qs[i]);
}

/* Pull mode over several queues: one cq, lease ids unique across queues,
 * one WORKER_STOPPED at the end. */
/* WORKER_STOPPED comes after the worker is fully stopped: a host that frees the worker and
 * closes its queues as soon as the event arrives (the Go binding did) must be safe, and
 * saq_worker_wait must not have to wait any more. Before the fix the event came first and the
 * I/O thread then read the freed queues for the final stats (a crash about once in 5-20 runs;
 * ASan names it). */
static void test_stopped_event_comes_last(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        saq_queue_t *qs[2] = {mkqueue("mq-end-a", NULL, NULL), mkqueue("mq-end-b", NULL, NULL)};
        saq_worker_t *w = worker_with_conf(qs[0], NULL);
        assert_int_equal(saq_worker_register_pull(w, "p"), 0);
        assert_int_equal(saq_worker_add_queue(w, qs[1], 1), 0);
        saq_cq_t *cq = saq_cq_new();
        assert_int_equal(saq_worker_start(w, cq, 9), 0);
        assert_int_equal(saq_worker_stop(w, 0), 0);
        int stopped = 0;
        while (!stopped) {
            saq_event_t *ev = saq_cq_poll(cq, TMO);
            assert_non_null(ev);
            stopped = saq_event_type(ev) == SAQ_EVENT_WORKER_STOPPED;
            saq_event_free(ev);
        }
        assert_int_equal(saq_worker_wait(w, 0), SAQ_OK);
        saq_worker_free(w);
        saq_queue_free(qs[1]);
        saq_queue_free(qs[0]);
        saq_cq_free(cq);
    }
}

static void test_pull_mode(void **state)
{
    (void)state;
    saq_queue_t *qs[2] = {mkqueue("mq-pull-a", NULL, NULL), mkqueue("mq-pull-b", NULL, NULL)};
    saq_worker_t *w = worker_with_conf(qs[0], NULL);
    assert_int_equal(saq_worker_register_pull(w, "p"), 0);
    assert_int_equal(saq_worker_add_queue(w, qs[1], 1), 0);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_worker_start(w, cq, 7), 0);
    for (int i = 0; i < 4; i++)
        saq_job_free(enq(qs[i % 2], "p", NULL));
    uint64_t ids[4];
    int n = 0, outcomes = 0;
    while (outcomes < 4) {
        saq_event_t *ev = saq_cq_poll(cq, TMO);
        assert_non_null(ev);
        if (saq_event_type(ev) == SAQ_EVENT_LEASE) {
            ids[n] = (uint64_t)saq_event_int(ev);
            for (int k = 0; k < n; k++)
                assert_true(ids[k] != ids[n]);
            n++;
            saq_job_t *j = saq_event_take_job(ev);
            assert_int_equal(saq_job_complete(j, "2"), 0);
            saq_job_free(j);
        } else if (saq_event_type(ev) == SAQ_EVENT_OUTCOME) {
            outcomes++;
        }
        saq_event_free(ev);
    }
    saq_worker_stop(w, 0);
    int stopped = 0;
    saq_event_t *ev;
    while ((ev = saq_cq_poll(cq, 1000))) {
        stopped += saq_event_type(ev) == SAQ_EVENT_WORKER_STOPPED;
        saq_event_free(ev);
    }
    assert_int_equal(stopped, 1);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
    saq_cq_free(cq);
    for (int i = 0; i < 2; i++) {
        ASSERT_COUNTS(qs[i], 0, 0, 0);
        saq_queue_free(qs[i]);
    }
}

/* Startup and shutdown hooks run once for the whole worker; before/after
 * hooks get the handle the host holds, for every queue's jobs. */
static atomic_int n_start, n_stop, n_before_ok, n_after;
static saq_worker_t *hook_w;

static int hook(saq_worker_t *w, saq_job_t *job, void *ud)
{
    int kind = (int)(intptr_t)ud;
    (void)job;
    if (kind == SAQ_HOOK_STARTUP)
        atomic_fetch_add(&n_start, 1);
    else if (kind == SAQ_HOOK_SHUTDOWN)
        atomic_fetch_add(&n_stop, 1);
    else if (kind == SAQ_HOOK_BEFORE_PROCESS)
        atomic_fetch_add(&n_before_ok, w == hook_w);
    else
        atomic_fetch_add(&n_after, w == hook_w);
    return 0;
}

static void test_hooks_once(void **state)
{
    (void)state;
    reset_counters();
    saq_queue_t *qs[3] = {mkqueue("mq-hook-a", NULL, NULL), mkqueue("mq-hook-b", NULL, NULL),
                          mkqueue("mq-hook-c", NULL, NULL)};
    saq_worker_t *w = mkmulti(qs, 3, NULL, NULL);
    hook_w = w;
    for (int k = SAQ_HOOK_STARTUP; k <= SAQ_HOOK_AFTER_PROCESS; k++)
        assert_int_equal(saq_worker_add_hook(w, k, hook, (void *)(intptr_t)k), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        enq_n(qs[i], "abc"[i], 2, 1);
    wait_done(6, 10000);
    double end = now_s() + 5;
    while (atomic_load(&n_after) < 6 && now_s() < end)
        sleep_ms(5);
    stop_free(w);
    assert_int_equal(atomic_load(&n_start), 1);
    assert_int_equal(atomic_load(&n_stop), 1);
    assert_int_equal(atomic_load(&n_before_ok), 6);
    assert_int_equal(atomic_load(&n_after), 6);
    for (int i = 0; i < 3; i++)
        saq_queue_free(qs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_every_queue_processed),
        cmocka_unit_test(test_strict_order),
        cmocka_unit_test(test_weighted_order),
        cmocka_unit_test(test_concurrency_is_total),
        cmocka_unit_test(test_wrong_type_given_back),
        cmocka_unit_test(test_stop_in_flight),
        cmocka_unit_test(test_pull_mode),
        cmocka_unit_test(test_stopped_event_comes_last),
        cmocka_unit_test(test_hooks_once),
    };
    return cmocka_run_group_tests_name("multiqueue", tests, suite_setup, suite_teardown);
}
