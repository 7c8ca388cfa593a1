/* SPDX-License-Identifier: MIT */
/* Issue 19, item 4: saq_queue_delete. A waiting, a scheduled and a finished
 * job are deleted with every entry (and can be enqueued again under the same
 * key); a missing key is SAQ_ENOTFOUND, its stray list entries removed all the
 * same; a running job is refused (nothing changes) unless forced, and a forced
 * delete aborts it first: its worker stops it and nothing is left, or, for a
 * handler that does not stop, the delete goes ahead after wait_ms. */
#include "itest.h"

#include <stdatomic.h>

static atomic_int cancelled_seen;

/* runs until cancelled (at most 10 s) */
static void h_long(saq_job_t *job, void *ud)
{
    (void)ud;
    for (int i = 0; i < 1000 && !saq_job_cancelled(job); i++)
        sleep_ms(10);
    if (saq_job_cancelled(job))
        atomic_fetch_add(&cancelled_seen, 1);
    saq_job_fail(job, "stopped");
    saq_job_free(job);
}

/* ignores cancellation: runs 1.5 s */
static void h_deaf(saq_job_t *job, void *ud)
{
    (void)ud;
    sleep_ms(1500);
    saq_job_complete(job, "1");
    saq_job_free(job);
}

static saq_event_t *del(saq_queue_t *q, const char *key, int force, int wait_ms)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_delete(q, key, force, wait_ms, cq, 5), SAQ_OK);
    saq_event_t *ev = saq_cq_wait(cq, 5, 3 * TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_DELETE);
    saq_cq_free(cq);
    return ev;
}

/* No trace of the key in the queue's keys (record, lists, sets, marker). */
static void assert_gone(saq_queue_t *q, const char *key)
{
    const char *n = saq_queue_name(q);
    char id[512];
    snprintf(id, sizeof id, "saq:job:%s:%s", n, key);
    assert_int_equal(rh_int(RC, "EXISTS %s", id), 0);
    assert_int_equal(rh_int(RC, "EXISTS saq:abort:%s", key), 0);
    redisReply *r = rh_cmd(RC, "LPOS saq:%s:queued %s", n, id);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = rh_cmd(RC, "LPOS saq:%s:active %s", n, id);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = rh_cmd(RC, "ZSCORE saq:%s:incomplete %s", n, id);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = rh_cmd(RC, "ZSCORE saq:%s:libsaq:aborting %s", n, id);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
}

static void finish_complete(saq_queue_t *q, const char *key)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_finish(q, key, "complete", "7", NULL, cq, 6), SAQ_OK);
    saq_event_t *ev = OK_EV(saq_cq_wait(cq, 6, TMO));
    saq_event_free(ev);
    saq_cq_free(cq);
}

static void test_delete_not_running(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("del", NULL, NULL);
    saq_job_t *waiting = enq(q, "f", "{\"a\": 1}");
    saq_job_t *sched = saq_job_new("f");
    saq_job_set_scheduled(sched, now_s() + 3600);
    saq_event_free(OK_EV(saq_queue_enqueue_sync(q, sched, TMO)));
    saq_job_t *done = enq(q, "f", NULL);
    finish_complete(q, saq_job_key(done));
    ASSERT_COUNTS(q, 2, 2, 0); /* saq's finish leaves a waiting job's entry of `queued` */

    const char *keys[3] = {saq_job_key(waiting), saq_job_key(sched), saq_job_key(done)};
    const char *before[3] = {"queued", "queued", "complete"};
    for (int i = 0; i < 3; i++) {
        saq_event_t *ev = OK_EV(del(q, keys[i], 0, 0));
        assert_int_equal(saq_event_int(ev), 1);
        assert_string_equal(saq_event_key(ev), keys[i]);
        assert_non_null(saq_event_job(ev));
        assert_string_equal(saq_job_status(saq_event_job(ev)), before[i]);
        saq_event_free(ev);
        assert_gone(q, keys[i]);
    }
    ASSERT_COUNTS(q, 0, 0, 0);
    /* the same key can be enqueued again */
    saq_job_t *again = saq_job_new("f");
    saq_job_set_key(again, keys[0]);
    saq_event_t *ev = OK_EV(saq_queue_enqueue_sync(q, again, TMO));
    assert_int_equal(saq_event_int(ev), 1);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 1, 1, 0);
    saq_job_free(again);
    saq_job_free(waiting);
    saq_job_free(sched);
    saq_job_free(done);
    saq_queue_free(q);
}

static void test_delete_missing_and_bad_args(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("del", NULL, NULL);
    const char *n = saq_queue_name(q);
    saq_event_t *ev = del(q, "nope", 0, 0);
    assert_int_equal(saq_event_status(ev), SAQ_ENOTFOUND);
    assert_int_equal(saq_event_int(ev), 0);
    assert_null(saq_event_job(ev));
    saq_event_free(ev);
    /* stray entries of a key whose record is gone are removed, still ENOTFOUND */
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:stray", n, n));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 saq:job:%s:stray", n, n));
    ev = del(q, "stray", 1, 0);
    assert_int_equal(saq_event_status(ev), SAQ_ENOTFOUND);
    assert_int_equal(saq_event_int(ev), 2);
    saq_event_free(ev);
    assert_gone(q, "stray");
    ASSERT_COUNTS(q, 0, 0, 0);

    ev = del(q, "", 0, 0);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    ev = del(q, "k", 1, -1);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    ev = del(q, "k", 1, 3600001);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_delete(NULL, "k", 0, 0, cq, 1), SAQ_EINVAL);
    assert_int_not_equal(saq_queue_delete(q, "k", 0, 0, NULL, 1), SAQ_OK);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static saq_worker_t *start_worker(saq_queue_t *q)
{
    const char *kv[] = {"timers.abort", "0.1", NULL};
    saq_worker_t *w = worker_with_conf(q, kv);
    saq_worker_register(w, "long", h_long, NULL);
    saq_worker_register(w, "deaf", h_deaf, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    return w;
}

static void test_delete_running(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("del", NULL, NULL);
    saq_worker_t *w = start_worker(q);
    saq_job_t *j = enq(q, "long", NULL);
    const char *key = saq_job_key(j);
    saq_job_free(wait_status(q, key, "active", TMO));

    /* refused: nothing changes */
    char *rec = stored(q, key);
    saq_event_t *ev = del(q, key, 0, 5000);
    assert_int_equal(saq_event_status(ev), SAQ_ESTATE);
    saq_event_free(ev);
    char *rec2 = stored(q, key);
    assert_string_equal(rec, rec2);
    free(rec);
    free(rec2);
    ASSERT_COUNTS(q, 0, 1, 1);

    /* forced: aborted, its worker stops it, then deleted */
    double t0 = now_s();
    ev = OK_EV(del(q, key, 1, 5000));
    assert_int_equal(saq_event_int(ev), 2);
    assert_string_equal(saq_job_status(saq_event_job(ev)), "aborted");
    assert_string_equal(saq_job_error(saq_event_job(ev)), "deleted");
    saq_event_free(ev);
    assert_true(now_s() - t0 < 3);
    assert_int_equal(atomic_load(&cancelled_seen), 1);
    assert_gone(q, key);
    sleep_ms(500); /* nothing writes it back */
    assert_gone(q, key);
    ASSERT_COUNTS(q, 0, 0, 0);
    saq_job_free(j);

    /* a handler that does not stop: deleted after wait_ms anyway */
    j = enq(q, "deaf", NULL);
    key = saq_job_key(j);
    saq_job_free(wait_status(q, key, "active", TMO));
    t0 = now_s();
    ev = OK_EV(del(q, key, 1, 200));
    assert_int_equal(saq_event_int(ev), 3);
    saq_event_free(ev);
    double took = now_s() - t0;
    assert_true(took >= 0.19 && took < 1.4);
    char *id = rh_str(RC, "GET saq:job:%s:%s", saq_queue_name(q), key);
    assert_null(id);
    ASSERT_COUNTS(q, 0, 0, 0);
    sleep_ms(1800); /* its worker ended it: in no list (its record may be back, finished) */
    ASSERT_COUNTS(q, 0, 0, 0);
    saq_job_free(j);

    saq_worker_stop(w, 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_not_running),
        cmocka_unit_test(test_delete_missing_and_bad_args),
        cmocka_unit_test(test_delete_running),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
