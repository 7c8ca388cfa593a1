/* SPDX-License-Identifier: MIT */
/* Threading, completion and lifetime rules of the C API (abi/saq.h header
 * notes): calls from many threads, the cq's fd, callback cqs, wakeup, free
 * never blocking, close draining with a deadline, exactly one completion per
 * accepted operation, and fork. */
#include "itest.h"

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

typedef struct tharg {
    saq_queue_t *q;
    saq_cq_t *cq;
    int base, n;
} tharg_t;

static void *producer(void *p)
{
    tharg_t *a = p;
    for (int i = 0; i < a->n; i++)
        assert_int_equal(saq_queue_enqueue_call(a->q, "noop", NULL, a->cq, (uint64_t)(a->base + i)), 0);
    return NULL;
}

/* The first debug-trace line of the process (SAQ_DEBUG is read then) may
 * come from two I/O threads at once: here a queue freed before it connected
 * (its detached I/O thread traces the teardown) and the next queue's connect.
 * The lazy read raced (a ThreadSanitizer report); it must not. Runs first. */
static void test_first_trace_from_two_io_threads(void **state)
{
    (void)state;
    saq_queue_free(mkqueue("trace1", NULL, NULL));
    saq_queue_t *q = mkqueue("trace2", NULL, NULL);
    saq_event_t *ev = saq_queue_count_sync(q, "queued", TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    saq_event_free(ev);
    saq_queue_free(q);
}

static void test_many_threads_one_queue(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("threads", "max_concurrent_ops", "5");
    saq_cq_t *cq = saq_cq_new();
    enum { T = 8, N = 400 };
    pthread_t th[T];
    tharg_t args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (tharg_t){q, cq, i * N, N};
        pthread_create(&th[i], NULL, producer, &args[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    /* exactly one completion per tag */
    static char seen[T * N];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < T * N; i++) {
        saq_event_t *ev = saq_cq_poll(cq, TMO);
        assert_non_null(ev);
        assert_int_equal(saq_event_status(ev), SAQ_OK);
        uint64_t tag = saq_event_tag(ev);
        assert_true(tag < T * N);
        assert_int_equal(seen[tag], 0);
        seen[tag] = 1;
        saq_event_free(ev);
    }
    assert_null(saq_cq_poll(cq, 100));
    assert_int_equal(qcount(q, "queued"), T * N);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_cq_fd_readiness(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("fd", NULL, NULL);
    saq_cq_t *cq = saq_cq_new();
    int fd = saq_cq_fd(cq);
    assert_true(fd >= 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0); /* empty: not readable */
    assert_int_equal(saq_queue_count(q, "queued", cq, 1), 0);
    assert_int_equal(poll(&p, 1, TMO), 1); /* an event arrived: readable */
    assert_int_equal(saq_cq_length(cq), 1);
    saq_event_t *ev = saq_cq_poll(cq, 0);
    assert_non_null(ev);
    saq_event_free(ev);
    assert_null(saq_cq_poll(cq, 0));
    assert_int_equal(poll(&p, 1, 0), 0); /* drained: the pipe is empty again */
    int dup = saq_cq_fd_dup(cq);
    assert_true(dup >= 0 && dup != fd);
    close(dup);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static atomic_int cb_count;
static pthread_t main_thread;
static atomic_int cb_on_main;

static atomic_int cb_sigpipe_open; /* a callback ran with SIGPIPE or SIGINT deliverable */

static int on_event(saq_event_t *ev, void *ud)
{
    (void)ud;
    if (pthread_equal(pthread_self(), main_thread))
        atomic_store(&cb_on_main, 1);
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    if (!sigismember(&cur, SIGPIPE) || !sigismember(&cur, SIGINT))
        atomic_store(&cb_sigpipe_open, 1);
    atomic_fetch_add(&cb_count, 1);
    saq_event_free(ev);
    return 0;
}

/* A blocking _sync form called in a completion callback (on the queue's I/O
 * thread) would wait for the loop it blocks: it answers SAQ_ESTATE at once. */
static atomic_int sync_status = 1;
static atomic_int sync_ms = -1;

static int on_event_sync(saq_event_t *ev, void *ud)
{
    saq_queue_t *q = ud;
    double t0 = now_s();
    saq_event_t *e2 = saq_queue_count_sync(q, "queued", 3000);
    atomic_store(&sync_ms, (int)((now_s() - t0) * 1000));
    atomic_store(&sync_status, e2 ? saq_event_status(e2) : 1);
    if (e2 && !strstr(saq_event_errmsg(e2), "I/O thread"))
        atomic_store(&sync_status, 2);
    saq_event_free(e2);
    saq_event_free(ev);
    return 0;
}

static void test_sync_form_in_a_callback(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("cbsync", NULL, NULL);
    saq_cq_t *cq = saq_cq_new_callback(on_event_sync, q);
    assert_int_equal(saq_queue_count(q, "queued", cq, 7), 0);
    double end = now_s() + 10;
    while (atomic_load(&sync_ms) < 0 && now_s() < end)
        sleep_ms(5);
    assert_int_equal(atomic_load(&sync_status), SAQ_ESTATE);
    assert_true(atomic_load(&sync_ms) < 1000); /* not its 3 s timeout */
    /* the same call from this thread answers */
    saq_event_t *ev = OK_EV(saq_queue_count_sync(q, "queued", TMO));
    saq_event_free(ev);
    saq_queue_free(q);
    saq_cq_free(cq);
}

static void test_callback_cq(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("cb", NULL, NULL);
    saq_cq_t *cq = saq_cq_new_callback(on_event, NULL);
    main_thread = pthread_self();
    atomic_store(&cb_count, 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(saq_queue_count(q, "queued", cq, (uint64_t)i), 0);
    double end = now_s() + 5;
    while (atomic_load(&cb_count) < 50 && now_s() < end)
        sleep_ms(5);
    assert_int_equal(atomic_load(&cb_count), 50);
    assert_int_equal(atomic_load(&cb_on_main), 0); /* called on the I/O thread */
    /* which blocks every signal: the host's handlers never run there, and a
     * write to a socket Redis reset fails with EPIPE instead of raising
     * SIGPIPE, whose default action ends the process */
    assert_int_equal(atomic_load(&cb_sigpipe_open), 0);
    assert_int_equal(saq_cq_fd(cq), -1);
    assert_null(saq_cq_poll(cq, 0));
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void *waker(void *p)
{
    sleep_ms(150);
    saq_cq_wakeup(p);
    return NULL;
}

static void test_wakeup(void **state)
{
    (void)state;
    saq_cq_t *cq = saq_cq_new();
    pthread_t t;
    pthread_create(&t, NULL, waker, cq);
    double t0 = now_s();
    assert_null(saq_cq_poll(cq, -1)); /* returns on the wakeup, not never */
    assert_true(now_s() - t0 < 3);
    pthread_join(t, NULL);
    /* a wakeup sent while nobody polls is not lost: the next poll returns */
    saq_cq_wakeup(cq);
    t0 = now_s();
    assert_null(saq_cq_poll(cq, 5000));
    assert_true(now_s() - t0 < 1);
    saq_cq_free(cq);
}

static void test_cancel_apply(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("cancel", NULL, NULL);
    saq_cq_t *cq = saq_cq_new();
    saq_job_t *j = saq_job_new("noop");
    assert_int_equal(saq_queue_apply(q, j, 0, cq, 5), 0); /* no worker: waits forever */
    saq_job_free(j);
    assert_null(saq_cq_poll(cq, 200));
    assert_int_equal(saq_queue_cancel(q, cq, 5), 0);
    saq_event_t *ev = saq_cq_poll(cq, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_status(ev), SAQ_ECLOSED);
    assert_non_null(strstr(saq_event_errmsg(ev), "cancelled"));
    saq_event_free(ev);
    assert_int_equal(qcount(q, "queued"), 1); /* the job itself stays enqueued */
    assert_int_equal(saq_queue_cancel(q, cq, 5), 0); /* already done: nothing happens */
    assert_null(saq_cq_poll(cq, 100));
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_free_never_blocks_and_completes_everything(void **state)
{
    (void)state;
    /* redis frozen: operations are stuck in flight; free returns at once and
     * every accepted operation still completes exactly once, with ECLOSED */
    rh_t *r = rh_start(0);
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "url", r->url);
    saq_conf_set(c, "command_timeout_ms", "60000");
    saq_queue_t *q = saq_queue_new(c);
    saq_conf_free(c);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(qcount(q, "queued"), 0); /* connected */
    kill(r->pid, SIGSTOP);
    for (int i = 0; i < 20; i++)
        assert_int_equal(saq_queue_count(q, "queued", cq, (uint64_t)i), 0);
    saq_job_t *j = saq_job_new("noop");
    assert_int_equal(saq_queue_apply(q, j, 0, cq, 100), 0);
    saq_job_free(j);
    sleep_ms(50);
    double t0 = now_s();
    saq_queue_free(q);
    assert_true(now_s() - t0 < 0.1);
    int got = 0;
    saq_event_t *ev;
    while ((ev = saq_cq_poll(cq, 2000))) {
        assert_int_equal(saq_event_status(ev), SAQ_ECLOSED);
        got++;
        saq_event_free(ev);
    }
    assert_int_equal(got, 21);
    saq_cq_free(cq);
    kill(r->pid, SIGCONT);
    rh_stop(r);
}

static void test_close_drains_with_deadline(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("close", NULL, NULL);
    saq_cq_t *cq = saq_cq_new();
    for (int i = 0; i < 200; i++)
        assert_int_equal(saq_queue_enqueue_call(q, "noop", NULL, cq, (uint64_t)i), 0);
    assert_int_equal(saq_queue_close(q, TMO), SAQ_OK);
    for (int i = 0; i < 200; i++) { /* drained: every one completed, successfully */
        saq_event_t *ev = saq_cq_poll(cq, 0);
        assert_non_null(ev);
        assert_int_equal(saq_event_status(ev), SAQ_OK);
        saq_event_free(ev);
    }
    assert_int_equal(saq_queue_count(q, "queued", cq, 1), SAQ_ECLOSED);
    assert_int_equal(saq_queue_close(q, 100), SAQ_OK); /* idempotent */
    saq_queue_free(q);
    /* a drain that cannot finish in time: ETIMEDOUT, then ECLOSED events */
    q = mkqueue("close2", NULL, NULL);
    saq_job_t *j = saq_job_new("noop");
    assert_int_equal(saq_queue_apply(q, j, 0, cq, 9), 0); /* no worker: never ends */
    saq_job_free(j);
    double t0 = now_s();
    assert_int_equal(saq_queue_close(q, 200), SAQ_ETIMEDOUT);
    assert_true(now_s() - t0 < 3);
    saq_event_t *ev = saq_cq_poll(cq, TMO);
    assert_int_equal(saq_event_tag(ev), 9);
    assert_int_equal(saq_event_status(ev), SAQ_ECLOSED);
    saq_event_free(ev);
    saq_queue_free(q);
    saq_cq_free(cq);
}

static void test_fork(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("fork", NULL, NULL);
    assert_int_equal(qcount(q, "queued"), 0);
    pid_t pid = fork();
    if (pid == 0) {
        forked_child_no_leak_check();
        /* the parent's handle is unusable here, with a clear code; a new one works */
        saq_cq_t *cq = saq_cq_new();
        int rc = saq_queue_count(q, "queued", cq, 1);
        saq_queue_free(q); /* only memory in the child */
        saq_queue_t *mine = saq_queue_from_url(R->url, "fork-child");
        saq_event_t *ev = saq_queue_enqueue_call_sync(mine, "noop", NULL, TMO);
        int ok = rc == SAQ_EFORKED && saq_event_status(ev) == SAQ_OK;
        saq_event_free(ev);
        saq_queue_free(mine);
        saq_cq_free(cq);
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(qcount(q, "queued"), 0); /* the parent's queue still works */
    assert_int_equal(rh_int(RC, "LLEN saq:fork-child:queued"), 1);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_trace_from_two_io_threads),
        cmocka_unit_test(test_many_threads_one_queue),
        cmocka_unit_test(test_cq_fd_readiness),
        cmocka_unit_test(test_callback_cq),
        cmocka_unit_test(test_sync_form_in_a_callback),
        cmocka_unit_test(test_wakeup),
        cmocka_unit_test(test_cancel_apply),
        cmocka_unit_test(test_free_never_blocks_and_completes_everything),
        cmocka_unit_test(test_close_drains_with_deadline),
        cmocka_unit_test(test_fork),
    };
    return cmocka_run_group_tests_name("threads", tests, suite_setup, suite_teardown);
}
