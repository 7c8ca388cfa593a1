/* SPDX-License-Identifier: MIT */
/* saq_queue_enqueue_many against a real redis-server: outcomes per job,
 * records identical to saq_queue_enqueue's, refusals that write nothing,
 * cancellation while waiting for a permit, and a connection lost while the
 * replies come in. */
#include "itest.h"

static saq_job_t *keyed(const char *function, const char *key)
{
    saq_job_t *j = saq_job_new(function);
    assert_non_null(j);
    if (key)
        assert_int_equal(saq_job_set_key(j, key), 0);
    return j;
}

static saq_event_t *many(saq_queue_t *q, saq_job_t *const *jobs, size_t n)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_enqueue_many(q, jobs, n, cq, 5), SAQ_OK);
    saq_event_t *ev = saq_cq_wait(cq, 5, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_ENQUEUE_MANY);
    saq_cq_free(cq);
    return ev;
}

static void test_outcomes_and_records(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("bulk", NULL, NULL);
    saq_job_free(enq(q, "noop", "{\"key\": \"old\"}"));
    saq_job_t *jobs[5] = {keyed("a", "k1"), keyed("b", "old"), keyed("c", NULL), keyed("d", "k1"),
                          keyed("e", "k2")};
    assert_int_equal(saq_job_set_kwargs(jobs[2], "{\"x\": [1, 2]}"), 0);
    saq_event_t *ev = many(q, jobs, 5);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    /* k1 enqueued, "old" already there, c enqueued, the second k1 a duplicate, k2 enqueued */
    assert_string_equal(saq_event_json(ev), "[1,0,1,0,1]");
    assert_int_equal(saq_event_int(ev), 3);
    assert_int_equal(saq_event_job_count(ev), 5);
    /* each record is what saq_queue_enqueue would have stored: the job as sent */
    for (size_t i = 0; i < 5; i++) {
        saq_job_t *sent = saq_event_job_at(ev, i);
        assert_string_equal(saq_job_function(sent), saq_job_function(jobs[i]));
        assert_string_equal(saq_job_status(sent), "queued");
        if (i == 1 || i == 3)
            continue;
        char *raw = stored(q, saq_job_key(sent));
        assert_non_null(raw);
        assert_string_equal(raw, saq_job_to_json(sent));
        free(raw);
    }
    /* the caller's jobs are not changed */
    assert_string_equal(saq_job_status(jobs[0]), "new");
    ASSERT_COUNTS(q, 4, 4, 0);
    /* queued in the order given, after the one that was there */
    redisReply *r = rh_cmd(RC, "LRANGE saq:%s:queued 0 -1", saq_queue_name(q));
    assert_int_equal(r->elements, 4);
    char want[200];
    snprintf(want, sizeof want, "saq:job:%s:old", saq_queue_name(q));
    assert_string_equal(r->element[0]->str, want); /* saq RPUSHes: the oldest first */
    snprintf(want, sizeof want, "saq:job:%s:k2", saq_queue_name(q));
    assert_string_equal(r->element[3]->str, want);
    freeReplyObject(r);
    saq_event_free(ev);
    /* none: [] at once */
    ev = many(q, NULL, 0);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    assert_string_equal(saq_event_json(ev), "[]");
    assert_int_equal(saq_event_int(ev), 0);
    saq_event_free(ev);
    for (size_t i = 0; i < 5; i++)
        saq_job_free(jobs[i]);
    saq_queue_free(q);
}

static void test_refusals_write_nothing(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("bulkbad", "max_payload_bytes", "1024");
    saq_job_t *big = keyed("big", "big");
    char kw[2100];
    snprintf(kw, sizeof kw, "{\"s\": \"%02000d\"}", 0);
    assert_int_equal(saq_job_set_kwargs(big, kw), 0);
    saq_job_t *ok = keyed("ok", "ok");
    saq_job_t *jobs[3] = {ok, big, NULL};
    saq_event_t *ev = many(q, jobs, 2);
    assert_int_equal(saq_event_status(ev), SAQ_ETOOBIG);
    assert_non_null(strstr(saq_event_errmsg(ev), "jobs[1]"));
    assert_non_null(strstr(saq_event_errmsg(ev), "nothing was written"));
    assert_int_equal(saq_event_job_count(ev), 0);
    saq_event_free(ev);
    jobs[1] = NULL;
    ev = many(q, jobs, 2);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    assert_non_null(strstr(saq_event_errmsg(ev), "jobs[1] is NULL"));
    saq_event_free(ev);
    ev = many(q, NULL, 3);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    /* a job of another queue */
    saq_queue_t *other = mkqueue("bulkother", NULL, NULL);
    saq_event_t *e2 = OK_EV(saq_queue_enqueue_call_sync(other, "x", "{\"key\": \"theirs\"}", TMO));
    saq_job_t *theirs = saq_job_dup(saq_event_job(e2));
    saq_event_free(e2);
    jobs[1] = theirs;
    ev = many(q, jobs, 2);
    assert_int_equal(saq_event_status(ev), SAQ_EWRONGQUEUE);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 0, 0, 0);
    redisReply *r = rh_cmd(RC, "EXISTS saq:job:%s:ok", saq_queue_name(q));
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    /* submit-time errors come back as codes, with no event */
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_enqueue_many(NULL, jobs, 1, cq, 1), SAQ_EINVAL);
    assert_int_equal(saq_queue_enqueue_many(q, jobs, 1, NULL, 1), SAQ_EINVAL);
    assert_int_equal(saq_cq_length(cq), 0);
    saq_cq_free(cq);
    saq_job_free(theirs);
    saq_job_free(big);
    saq_job_free(ok);
    saq_queue_free(other);
    saq_queue_free(q);
}

/* Many jobs in one call: every one enqueued and counted. */
static void test_many_jobs(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("bulkmany", NULL, NULL);
    enum { N = 5000 };
    saq_job_t **jobs = calloc(N, sizeof *jobs);
    for (size_t i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "j%zu", i);
        jobs[i] = keyed("noop", key);
    }
    saq_event_t *ev = many(q, jobs, N);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    assert_int_equal(saq_event_int(ev), N);
    assert_int_equal(qcount(q, "queued"), N);
    saq_event_free(ev);
    for (size_t i = 0; i < N; i++)
        saq_job_free(jobs[i]);
    free(jobs);
    saq_queue_free(q);
}

static void test_cancel_while_waiting_for_a_permit(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("bulkcancel", "max_concurrent_ops", "1");
    assert_int_equal(qcount(q, "queued"), 0); /* connected, scripts loaded */
    saq_cq_t *cq = saq_cq_new();
    saq_job_t *jobs[2] = {keyed("a", "a"), keyed("b", "b")};
    freeReplyObject(rh_cmd(RC, "CLIENT PAUSE 1500 WRITE"));
    assert_int_equal(saq_queue_enqueue_call(q, "sent", "{\"key\": \"sent\"}", cq, 1), SAQ_OK);
    assert_int_equal(saq_queue_enqueue_many(q, jobs, 2, cq, 2), SAQ_OK);
    usleep(200 * 1000); /* the first holds the permit, blocked in Redis */
    assert_int_equal(saq_queue_cancel(q, cq, 2), SAQ_OK);
    saq_event_t *ev = saq_cq_wait(cq, 2, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_status(ev), SAQ_ECLOSED);
    saq_event_free(ev);
    saq_event_free(OK_EV(saq_cq_wait(cq, 1, TMO)));
    freeReplyObject(rh_cmd(RC, "CLIENT UNPAUSE"));
    assert_int_equal(qcount(q, "queued"), 1);
    saq_job_free(jobs[0]);
    saq_job_free(jobs[1]);
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* The connection dies while the scripts wait in Redis: an error that counts
 * what was enqueued, null outcomes for the replies that never came, and the
 * jobs are readable afterwards to find out. */
static void test_connection_lost_midway(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("bulklost", "command_timeout_ms", "3000");
    assert_int_equal(qcount(q, "queued"), 0);
    saq_job_t *jobs[3] = {keyed("a", "a"), keyed("b", "b"), keyed("c", "c")};
    saq_cq_t *cq = saq_cq_new();
    freeReplyObject(rh_cmd(RC, "CLIENT PAUSE 3000 WRITE"));
    assert_int_equal(saq_queue_enqueue_many(q, jobs, 3, cq, 9), SAQ_OK);
    usleep(300 * 1000);
    /* kill libsaq's command connection (its name starts with libsaq:) */
    redisReply *list = rh_cmd(RC, "CLIENT LIST TYPE normal");
    char *line = strtok(list->str, "\n");
    int killed = 0;
    for (; line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "name=libsaq:"))
            continue;
        char *id = strstr(line, "id=");
        freeReplyObject(rh_cmd(RC, "CLIENT KILL ID %lld", atoll(id + 3)));
        killed++;
    }
    freeReplyObject(list);
    freeReplyObject(rh_cmd(RC, "CLIENT UNPAUSE"));
    saq_event_t *ev = saq_cq_wait(cq, 9, TMO);
    assert_non_null(ev);
    assert_true(killed > 0);
    assert_int_not_equal(saq_event_status(ev), SAQ_OK);
    if (!strstr(saq_event_errmsg(ev), "not known"))
        fail_msg("message: %s", saq_event_errmsg(ev));
    assert_string_equal(saq_event_json(ev), "[null,null,null]");
    assert_int_equal(saq_event_int(ev), 0);
    saq_event_free(ev);
    for (size_t i = 0; i < 3; i++)
        saq_job_free(jobs[i]);
    saq_cq_free(cq);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes_and_records),
        cmocka_unit_test(test_refusals_write_nothing),
        cmocka_unit_test(test_many_jobs),
        cmocka_unit_test(test_cancel_while_waiting_for_a_permit),
        cmocka_unit_test(test_connection_lost_midway),
    };
    return cmocka_run_group_tests_name("bulk", tests, suite_setup, suite_teardown);
}
