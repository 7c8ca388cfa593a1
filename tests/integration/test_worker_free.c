/* Integration tests of a worker's teardown against a real redis-server:
 * releasing a worker that is still running (saq_worker_free without a stop
 * and wait first) must not leave libuv with handles inside the freed worker.
 *
 * libuv is not instrumented, so AddressSanitizer does not see its accesses
 * to freed memory: these tests make glibc's free() overwrite freed memory
 * (M_PERTURB, as MALLOC_PERTURB_ does) so that a handle libuv still holds in
 * a freed block crashes the I/O thread, and tests/run's valgrind stage runs
 * them under memcheck, which reports every such access. */
#include "itest.h"

#include <malloc.h>

static void h_noop(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_complete(job, "1");
    saq_job_free(job);
}

/* 1 once q's worker connection ("libsaq:block:<queue>") is blocked in BLMOVE */
static int blmove_blocked(saq_queue_t *q)
{
    char name[300];
    snprintf(name, sizeof name, " name=libsaq:block:%s ", saq_queue_name(q));
    redisReply *r = rh_cmd(RC, "CLIENT LIST");
    int found = 0;
    for (char *line = r->type == REDIS_REPLY_STRING ? r->str : NULL; line && *line && !found;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = 0;
        found = strstr(line, name) && strstr(line, " flags=b ") && strstr(line, " cmd=blmove ");
        line = eol ? eol + 1 : NULL;
    }
    freeReplyObject(r);
    return found;
}

/* wait until the worker of q is idle in its blocking dequeue */
static void wait_blocked(saq_queue_t *q)
{
    double end = now_s() + TMO / 1000.0;
    while (!blmove_blocked(q)) {
        if (now_s() > end)
            fail_msg("the worker did not block in BLMOVE within %d ms", TMO);
        sleep_ms(10);
    }
}

static int perturb_setup(void **state)
{
    (void)state;
    mallopt(M_PERTURB, 0xa5);
    return 0;
}

static int perturb_teardown(void **state)
{
    (void)state;
    mallopt(M_PERTURB, 0);
    return 0;
}

/* A started worker idle in its blocking dequeue (BLMOVE on its own
 * connection), released with saq_worker_free while it runs, then the queue
 * freed: the worker stops, its connection and timers close, and the memory
 * is freed only after libuv has finished closing every handle in it. The
 * jobs enqueued afterwards show the queue's I/O thread survived the
 * teardown and the worker really stopped (nothing took them). */
static void test_free_running_idle_worker(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        saq_queue_t *q = mkqueue("freeidle", NULL, NULL);
        saq_conf_t *c = saq_conf_new();
        saq_worker_t *w = saq_worker_new(q, c);
        assert_non_null(w);
        saq_conf_free(c);
        assert_int_equal(saq_worker_register(w, "noop", h_noop, NULL), 0);
        assert_int_equal(saq_worker_start(w, NULL, 0), 0);
        wait_blocked(q);
        saq_worker_free(w); /* running, blocked in BLMOVE: stopped and released */
        sleep_ms(200);      /* the stop completes on the I/O thread meanwhile */
        saq_job_t *j = enq(q, "noop", NULL);
        sleep_ms(200);
        assert_int_equal(qcount(q, "queued"), 1); /* no worker took it */
        saq_job_free(j);
        saq_queue_free(q);
    }
}

/* The same with the queue freed at once after the worker (the usual
 * saq_worker_free + saq_queue_free of a host's shutdown): the queue's
 * teardown stops the worker. */
static void test_free_running_idle_worker_then_queue(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        saq_queue_t *q = mkqueue("freeidle2", NULL, NULL);
        saq_conf_t *c = saq_conf_new();
        saq_worker_t *w = saq_worker_new(q, c);
        assert_non_null(w);
        saq_conf_free(c);
        assert_int_equal(saq_worker_register(w, "noop", h_noop, NULL), 0);
        assert_int_equal(saq_worker_start(w, NULL, 0), 0);
        wait_blocked(q);
        saq_worker_free(w);
        saq_queue_free(q);
    }
    sleep_ms(500); /* the detached I/O threads finish their teardown */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_free_running_idle_worker, perturb_setup,
                                        perturb_teardown),
        cmocka_unit_test_setup_teardown(test_free_running_idle_worker_then_queue, perturb_setup,
                                        perturb_teardown),
    };
    return cmocka_run_group_tests_name("worker_free", tests, suite_setup, suite_teardown);
}
