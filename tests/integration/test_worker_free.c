/* SPDX-License-Identifier: MIT */
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

/* q's worker connection ("libsaq:block:<queue>") in CLIENT LIST: 0 absent,
 * 1 present, 2 blocked in BLMOVE */
static int block_conn(saq_queue_t *q)
{
    char name[300];
    snprintf(name, sizeof name, " name=libsaq:block:%s ", saq_queue_name(q));
    redisReply *r = rh_cmd(RC, "CLIENT LIST");
    int found = 0;
    for (char *line = r->type == REDIS_REPLY_STRING ? r->str : NULL; line && *line && !found;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = 0;
        if (strstr(line, name))
            found = strstr(line, " flags=b ") && strstr(line, " cmd=blmove ") ? 2 : 1;
        line = eol ? eol + 1 : NULL;
    }
    freeReplyObject(r);
    return found;
}

/* wait until q's worker connection is in `state` (block_conn) */
static void wait_block_conn(saq_queue_t *q, int state)
{
    double end = now_s() + TMO / 1000.0;
    while (block_conn(q) != state) {
        if (now_s() > end)
            fail_msg("the worker's connection did not reach state %d within %d ms", state, TMO);
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

/* A started worker with one handler, idle: blocked in its dequeue. */
static saq_worker_t *start_idle_worker(saq_queue_t *q)
{
    saq_conf_t *c = saq_conf_new();
    saq_worker_t *w = saq_worker_new(q, c);
    assert_non_null(w);
    saq_conf_free(c);
    assert_int_equal(saq_worker_register(w, "noop", h_noop, NULL), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    wait_block_conn(q, 2);
    return w;
}

/* A started worker idle in its blocking dequeue (BLMOVE on its own
 * connection), released with saq_worker_free while it runs, then the queue
 * freed: the worker stops, its connection and timers close, and the memory
 * is freed only after libuv has finished closing every handle in it. The
 * job enqueued once the worker's connection is gone shows the queue's I/O
 * thread survived the teardown and the worker really stopped (nothing takes
 * the job). */
static void test_free_running_idle_worker(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        saq_queue_t *q = mkqueue("freeidle", NULL, NULL);
        saq_worker_t *w = start_idle_worker(q);
        saq_worker_free(w); /* running, blocked in BLMOVE: stopped and released */
        wait_block_conn(q, 0); /* the stop completed on the I/O thread */
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
        saq_worker_t *w = start_idle_worker(q);
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
