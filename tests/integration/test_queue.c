/* SPDX-License-Identifier: MIT */
/* Integration tests of the Queue operations against a real redis-server:
 * the spec's checklist items that need no worker, plus bad input. Each test
 * checks the Redis state directly. */
#include "itest.h"

static void test_enqueue_and_dedupe(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("enq", NULL, NULL);
    /* checklist 1: the stored record equals the returned job; counts (1,1,0) */
    saq_job_t *j = saq_job_new("noop");
    saq_event_t *ev = OK_EV(saq_queue_enqueue_sync(q, j, TMO));
    assert_int_equal(saq_event_int(ev), 1);
    saq_job_t *sent = saq_event_job(ev);
    char *raw = stored(q, saq_job_key(j));
    assert_string_equal(raw, saq_job_to_json(sent));
    free(raw);
    ASSERT_COUNTS(q, 1, 1, 0);
    saq_event_free(ev);
    /* the same job again: "already enqueued" (0), not an error; nothing changes */
    ev = OK_EV(saq_queue_enqueue_sync(q, j, TMO));
    assert_int_equal(saq_event_int(ev), 0);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 1, 1, 0);
    /* a different job: queued 2 */
    saq_job_free(enq(q, "noop", NULL));
    assert_int_equal(qcount(q, "queued"), 2);
    /* checklist 3: key "1" -> id saq:job:<q>:1; by name or by object it dedupes */
    saq_job_t *k = enq(q, "noop", "{\"key\": \"1\"}");
    char want[200];
    snprintf(want, sizeof want, "saq:job:%s:1", saq_queue_name(q));
    assert_string_equal(saq_job_id(k), want);
    ev = OK_EV(saq_queue_enqueue_call_sync(q, "other", "{\"key\": \"1\"}", TMO));
    assert_int_equal(saq_event_int(ev), 0);
    saq_event_free(ev);
    saq_job_free(k);
    /* malformed kwargs are SAQ_EJSON (as saq_job_set_call_kwargs says), a bad
     * option value SAQ_EINVAL: the code saq_job_set_call_kwargs returned */
    const char *bad_json[] = {"{bad", "{\"a\": 1,}", "[1]"};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        ev = saq_queue_enqueue_call_sync(q, "noop", bad_json[i], TMO);
        assert_int_equal(saq_event_status(ev), SAQ_EJSON);
        saq_event_free(ev);
    }
    ev = saq_queue_enqueue_call_sync(q, "noop", "{\"timeout\": \"soon\"}", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    saq_job_free(j);
    saq_queue_free(q);
}

static void test_enqueue_fields_exact(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("fields", NULL, NULL);
    /* checklist 8: ("noop", key="k1", a=1) stores exactly these members */
    saq_job_free(enq(q, "noop", "{\"key\": \"k1\", \"a\": 1}"));
    char *raw = stored(q, "k1");
    saq_job_t *j = saq_job_from_json(raw);
    char want[400];
    snprintf(want, sizeof want,
             "{\"function\": \"noop\", \"kwargs\": {\"a\": 1}, \"queue\": \"%s\", \"key\": \"k1\", "
             "\"queued\": %lld, \"status\": \"queued\"}",
             saq_queue_name(q), (long long)saq_job_queued_ms(j));
    assert_string_equal(raw, want);
    assert_true(saq_job_queued_ms(j) > (now_s() - 60) * 1000);
    free(raw);
    saq_job_free(j);
    /* checklist 2: kwargs vs options */
    j = enq(q, "noop", "{\"y\": 1, \"timeout\": 1}");
    assert_string_equal(saq_job_kwargs(j), "{\"y\": 1}");
    assert_true(saq_job_timeout(j) == 1);
    assert_true(saq_job_heartbeat(j) == 0);
    saq_job_free(j);
    /* checklist 51: keys with colons round-trip */
    j = enq(q, "noop", "{\"key\": \"a:b\"}");
    saq_job_t *g = getjob(q, "a:b");
    assert_non_null(g);
    assert_string_equal(saq_job_key(g), "a:b");
    saq_job_free(g);
    saq_job_free(j);
    saq_queue_free(q);
}

static void test_scheduled(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("sched", NULL, NULL);
    /* checklist 4: scheduled (fractional) -> counts (0,1,0), score exactly the value */
    double when = floor(now_s()) + 10.25;
    saq_job_t *j = saq_job_new("noop");
    saq_job_set_scheduled(j, when);
    saq_event_free(OK_EV(saq_queue_enqueue_sync(q, j, TMO)));
    ASSERT_COUNTS(q, 0, 1, 0);
    char *score = rh_str(RC, "ZSCORE saq:%s:incomplete %s", saq_queue_name(q), saq_job_id(j) ? saq_job_id(j) : "");
    char idbuf[200];
    snprintf(idbuf, sizeof idbuf, "saq:job:%s:%s", saq_queue_name(q), saq_job_key(j));
    free(score);
    score = rh_str(RC, "ZSCORE saq:%s:incomplete %s", saq_queue_name(q), idbuf);
    assert_non_null(score);
    assert_true(strtod(score, NULL) == when);
    free(score);
    saq_job_free(j);
    /* checklist 25 (real time): due jobs are promoted in score order, once per lock */
    double now = floor(now_s());
    saq_job_free(enq(q, "noop", "{\"key\": \"now\"}"));
    const char *keys[] = {"s1", "s2", "s3"};
    double at[] = {now - 2, now - 1, now + 100};
    for (int i = 0; i < 3; i++) {
        j = saq_job_new("noop");
        saq_job_set_key(j, keys[i]);
        saq_job_set_scheduled(j, at[i]);
        saq_event_free(OK_EV(saq_queue_enqueue_sync(q, j, TMO)));
        saq_job_free(j);
    }
    assert_int_equal(qcount(q, "queued"), 1);
    assert_int_equal(qcount(q, "incomplete"), 5);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_schedule(q, 1, cq, 7), 0);
    saq_event_t *ev = saq_cq_wait(cq, 7, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    char expect[400];
    snprintf(expect, sizeof expect, "[\"saq:job:%s:s1\", \"saq:job:%s:s2\"]", saq_queue_name(q), saq_queue_name(q));
    assert_string_equal(saq_event_json(ev), expect);
    saq_event_free(ev);
    assert_int_equal(saq_queue_schedule(q, 1, cq, 8), 0); /* within the lock: nothing */
    ev = saq_cq_wait(cq, 8, TMO);
    assert_string_equal(saq_event_json(ev), "[]");
    saq_event_free(ev);
    assert_int_equal(qcount(q, "queued"), 3);
    assert_int_equal(qcount(q, "incomplete"), 5);
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* Move the head of queued into active and mark it active, as a worker would. */
static void make_active(saq_queue_t *q, const char *key)
{
    const char *n = saq_queue_name(q);
    freeReplyObject(rh_cmd(RC, "LMOVE saq:%s:queued saq:%s:active LEFT RIGHT", n, n));
    char *raw = stored(q, key);
    saq_job_t *j = saq_job_from_json(raw);
    free(raw);
    char *body = strdup(saq_job_to_json(j));
    char *p = strstr(body, "\"status\": \"queued\"");
    assert_non_null(p);
    memcpy(p, "\"status\": \"active\"", 18);
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:%s %s", n, key, body));
    free(body);
    saq_job_free(j);
}

static void test_finish_and_ttl(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("finish", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* checklist 10 */
    saq_job_free(enq(q, "noop", "{\"key\": \"f1\"}"));
    make_active(q, "f1");
    ASSERT_COUNTS(q, 0, 1, 1);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_finish(q, "f1", "complete", "1", NULL, cq, 1), 0);
    saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
    assert_int_equal(saq_event_status(ev), 0);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 0, 0, 0);
    saq_job_t *j = getjob(q, "f1");
    assert_string_equal(saq_job_status(j), "complete");
    assert_string_equal(saq_job_result(j), "1");
    assert_true(saq_job_progress(j) == 1.0);
    saq_job_free(j);
    /* checklist 11: ttl 5 -> TTL <= 5; ttl 0 -> -1; ttl -1 -> gone */
    const char *ttls[] = {"5", "0", "-1"};
    long long want_max[] = {5, -1, -2};
    for (int i = 0; i < 3; i++) {
        char kw[64], key[16];
        snprintf(key, sizeof key, "t%d", i);
        snprintf(kw, sizeof kw, "{\"key\": \"%s\", \"ttl\": %s}", key, ttls[i]);
        saq_job_free(enq(q, "noop", kw));
        assert_int_equal(saq_queue_finish(q, key, "complete", NULL, NULL, cq, 2), 0);
        saq_event_free(saq_cq_wait(cq, 2, TMO));
        long long ttl = rh_int(RC, "TTL saq:job:%s:%s", n, key);
        if (i == 0)
            assert_true(ttl > 0 && ttl <= 5);
        else
            assert_int_equal(ttl, want_max[i]);
    }
    /* bad status and bad result JSON are refused with a message */
    assert_int_equal(saq_queue_finish(q, "f1", "active", NULL, NULL, cq, 3), 0);
    ev = saq_cq_wait(cq, 3, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    assert_non_null(saq_event_errmsg(ev));
    saq_event_free(ev);
    assert_int_equal(saq_queue_finish(q, "f1", "complete", "{oops", NULL, cq, 4), 0);
    ev = saq_cq_wait(cq, 4, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EJSON);
    saq_event_free(ev);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_retry(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("retry", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* checklist 12 */
    saq_job_free(enq(q, "noop", "{\"key\": \"r1\", \"retries\": 2}"));
    make_active(q, "r1");
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_retry(q, "r1", "reason", cq, 1), 0);
    saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
    assert_int_equal(saq_event_status(ev), 0);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 1, 1, 0);
    saq_job_t *j = getjob(q, "r1");
    assert_string_equal(saq_job_status(j), "queued");
    assert_string_equal(saq_job_error(j), "reason");
    assert_int_equal(saq_job_started_ms(j), 0);
    assert_int_equal(saq_job_completed_ms(j), 0);
    saq_job_free(j);
    char *raw = stored(q, "r1");
    assert_null(strstr(raw, "\"started\""));
    assert_null(strstr(raw, "\"completed\""));
    free(raw);
    /* U1 fix: an immediate retry is pushed with score 0, never promoted twice */
    char *score = rh_str(RC, "ZSCORE saq:%s:incomplete saq:job:%s:r1", n, n);
    assert_string_equal(score, "0");
    free(score);
    ev = OK_EV(saq_queue_stats_sync(q, 60, TMO));
    assert_non_null(strstr(saq_event_json(ev), "\"retried\": 1"));
    saq_event_free(ev);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static saq_event_t *abort_sync(saq_queue_t *q, const char *key, const char *why)
{
    return saq_queue_abort_sync(q, key, why, 5, TMO);
}

static void test_abort(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("abort", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* checklist 17: a waiting job ends aborted at once, marker deleted, normal ttl */
    saq_job_free(enq(q, "noop", "{\"key\": \"w\"}"));
    saq_event_t *ev = OK_EV(abort_sync(q, "w", "because"));
    assert_int_equal(saq_event_int(ev), 2);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 0, 0, 0);
    saq_job_t *j = getjob(q, "w");
    assert_string_equal(saq_job_status(j), "aborted");
    assert_string_equal(saq_job_error(j), "because");
    saq_job_free(j);
    assert_int_equal(rh_int(RC, "EXISTS saq:abort:w"), 0);
    long long ttl = rh_int(RC, "TTL saq:job:%s:w", n);
    assert_true(ttl > 590 && ttl <= 600);
    /* ...and it is on the abort watch meanwhile (libsaq's own key): were the
     * finish after the abort lost with the connection, a libsaq worker's abort
     * check would finish it, instead of it staying `aborting` in no list */
    assert_true(rh_int(RC, "ZRANK saq:%s:libsaq:aborting saq:job:%s:w", n, n) >= 0);
    /* checklist 18: an active job -> aborting, marker with the reason and TTL 5, published */
    saq_job_free(enq(q, "noop", "{\"key\": \"act\"}"));
    make_active(q, "act");
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_listen(q, "[\"act\"]", 5, cq, 50), 0);
    sleep_ms(200); /* the subscription is confirmed before the listen starts */
    ev = OK_EV(abort_sync(q, "act", "test"));
    assert_int_equal(saq_event_int(ev), 1);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 0, 0, 0);
    j = getjob(q, "act");
    assert_string_equal(saq_job_status(j), "aborting");
    saq_job_free(j);
    char *m = rh_str(RC, "GET saq:abort:act");
    assert_string_equal(m, "test");
    free(m);
    ttl = rh_int(RC, "TTL saq:abort:act");
    assert_true(ttl > 0 && ttl <= 5);
    ev = saq_cq_wait(cq, 50, TMO);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LISTEN);
    assert_string_equal(saq_event_key(ev), "act");
    assert_string_equal(saq_event_job_status(ev), "aborting");
    saq_event_free(ev);
    assert_int_equal(saq_queue_listen_stop(q, cq, 50), 0);
    ev = saq_cq_wait(cq, 50, TMO);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LISTEN_END);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    saq_event_free(ev);
    /* checklist 19: while it is aborting, enqueueing it again changes nothing */
    ev = OK_EV(saq_queue_enqueue_call_sync(q, "noop", "{\"key\": \"act\"}", TMO));
    assert_int_equal(saq_event_int(ev), 0);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 0, 0, 0);
    /* checklist 9: after the marker is gone the key can be enqueued again (overwrites) */
    freeReplyObject(rh_cmd(RC, "DEL saq:abort:act"));
    saq_job_free(enq(q, "noop", "{\"key\": \"act\"}"));
    ASSERT_COUNTS(q, 1, 1, 0);
    /* U3 fix: aborting a finished job changes nothing */
    ev = OK_EV(abort_sync(q, "w", "late"));
    assert_int_equal(saq_event_int(ev), 0);
    saq_event_free(ev);
    j = getjob(q, "w");
    assert_string_equal(saq_job_error(j), "because");
    saq_job_free(j);
    assert_int_equal(rh_int(RC, "EXISTS saq:abort:w"), 0);
    /* unknown job */
    ev = abort_sync(q, "nope", "x");
    assert_int_equal(saq_event_status(ev), SAQ_ENOTFOUND);
    saq_event_free(ev);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_update_and_listen(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("upd", NULL, NULL);
    saq_job_free(enq(q, "noop", "{\"key\": \"u\"}"));
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_listen(q, "[\"u\"]", 5, cq, 9), 0);
    sleep_ms(200);
    /* checklist 36/37: updates keep the stored status, set touched, publish it */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(saq_queue_update(q, "u", "{\"progress\": 0.5, \"meta\": {\"step\": 1}}", cq, 1), 0);
        saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
        assert_int_equal(saq_event_status(ev), 0);
        assert_int_equal(saq_event_int(ev), 1);
        saq_event_free(ev);
    }
    for (int i = 0; i < 2; i++) {
        saq_event_t *ev = saq_cq_wait(cq, 9, TMO);
        assert_non_null(ev);
        assert_string_equal(saq_event_job_status(ev), "queued");
        saq_event_free(ev);
    }
    saq_job_t *j = getjob(q, "u");
    assert_string_equal(saq_job_status(j), "queued");
    assert_true(saq_job_touched_ms(j) > 0);
    assert_true(saq_job_progress(j) == 0.5);
    assert_string_equal(saq_job_meta(j), "{\"step\": 1}");
    saq_job_free(j);
    /* the listen ends by itself after its idle timeout */
    saq_queue_listen(q, "[\"u\"]", 0.2, cq, 10);
    saq_event_t *ev = saq_cq_wait(cq, 10, TMO);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LISTEN_END);
    assert_int_equal(saq_event_status(ev), SAQ_ETIMEDOUT);
    saq_event_free(ev);
    /* U4 fix: an update after finish does not resurrect or persist the record */
    assert_int_equal(saq_queue_finish(q, "u", "complete", NULL, NULL, cq, 2), 0);
    saq_event_free(saq_cq_wait(cq, 2, TMO));
    long long ttl = rh_int(RC, "TTL saq:job:%s:u", saq_queue_name(q));
    assert_int_equal(saq_queue_update(q, "u", "{\"progress\": 0.9}", cq, 3), 0);
    ev = saq_cq_wait(cq, 3, TMO);
    assert_int_equal(saq_event_int(ev), 0);
    saq_event_free(ev);
    assert_true(rh_int(RC, "TTL saq:job:%s:u", saq_queue_name(q)) <= ttl);
    /* unknown fields are refused */
    saq_job_free(enq(q, "noop", "{\"key\": \"u2\"}"));
    assert_int_equal(saq_queue_update(q, "u2", "{\"bogus\": 1}", cq, 4), 0);
    ev = saq_cq_wait(cq, 4, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_info_stats_registry(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("info", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* checklist 45: empty queue */
    saq_event_t *ev = OK_EV(saq_queue_info_sync(q, 1, 0, 10, TMO));
    char want[300];
    snprintf(want, sizeof want,
             "{\"workers\": {}, \"name\": \"%s\", \"queued\": 0, \"active\": 0, \"scheduled\": 0, \"jobs\": [], "
             "\"paused\": false}", n); /* saq's, plus libsaq's pause flag (issue 19) */
    assert_string_equal(saq_event_json(ev), want);
    saq_event_free(ev);
    /* checklist 47: the registry write */
    ev = OK_EV(saq_queue_stats_sync(q, 11, TMO));
    saq_event_free(ev);
    redisReply *r = rh_cmd(RC, "ZRANGE saq:%s:stats 0 -1 WITHSCORES", n);
    assert_int_equal(r->elements, 2);
    double score = strtod(r->element[1]->str, NULL);
    assert_true(fabs(score - (now_s() * 1000 + 11000)) < 3000);
    char *member = strdup(r->element[0]->str);
    freeReplyObject(r);
    long long ttl = rh_int(RC, "TTL %s", member);
    assert_true(ttl > 0 && ttl <= 11);
    ttl = rh_int(RC, "TTL saq:%s:stats", n);
    assert_true(ttl > 0 && ttl <= 11);
    assert_non_null(strstr(member, ":worker_info:"));
    free(member);
    /* checklist 48 / U7: a job in both active and incomplete is listed once;
     * offset + limit paginates */
    for (int i = 0; i < 4; i++)
        saq_job_free(enq(q, "noop", NULL));
    freeReplyObject(rh_cmd(RC, "LMOVE saq:%s:queued saq:%s:active LEFT RIGHT", n, n));
    ev = OK_EV(saq_queue_info_sync(q, 1, 0, 10, TMO));
    const char *js = saq_event_json(ev);
    int count = 0;
    for (const char *p = js; (p = strstr(p, "\"function\"")); p++)
        count++;
    assert_int_equal(count, 4);
    assert_non_null(strstr(js, "\"queued\": 3, \"active\": 1, \"scheduled\": 0"));
    saq_event_free(ev);
    ev = OK_EV(saq_queue_info_sync(q, 1, 3, 10, TMO)); /* saq would return nothing here (U7) */
    count = 0;
    for (const char *p = saq_event_json(ev); (p = strstr(p, "\"function\"")); p++)
        count++;
    assert_int_equal(count, 1);
    saq_event_free(ev);
    ev = saq_queue_info_sync(q, 1, -1, 10, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    saq_queue_free(q);
}

static void test_jobs_and_get(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("jobs", NULL, NULL);
    saq_job_free(enq(q, "noop", "{\"key\": \"a\"}"));
    saq_job_free(enq(q, "noop", "{\"key\": \"b\"}"));
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_jobs(q, "[\"b\", \"missing\", \"a\"]", cq, 1), 0);
    saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
    assert_int_equal(saq_event_status(ev), 0);
    assert_int_equal(saq_event_job_count(ev), 3);
    assert_string_equal(saq_job_key(saq_event_job_at(ev, 0)), "b");
    assert_null(saq_event_job_at(ev, 1));
    assert_string_equal(saq_job_key(saq_event_job_at(ev, 2)), "a");
    assert_null(saq_event_job_at(ev, 3));
    saq_event_free(ev);
    assert_int_equal(saq_queue_jobs(q, "[1, 2]", cq, 2), 0);
    ev = saq_cq_wait(cq, 2, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EJSON);
    saq_event_free(ev);
    /* a key holding \u0000 is not the key before it ("a" exists) */
    assert_int_equal(saq_queue_jobs(q, "[\"a\\u0000b\"]", cq, 3), 0);
    ev = saq_cq_wait(cq, 3, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EJSON);
    saq_event_free(ev);
    ev = saq_queue_job_sync(q, "missing", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ENOTFOUND);
    assert_non_null(strstr(saq_event_errmsg(ev), "missing"));
    saq_event_free(ev);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_bad_records_in_redis(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("bad", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* malformed JSON, a record of another queue, a non-string key: errors with a
     * message, and nothing is changed */
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:garbage %s", n, "{not json"));
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:foreign %s", n, "{\"function\": \"f\", \"key\": \"foreign\", \"queue\": \"elsewhere\"}"));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:job:%s:alist x", n));
    saq_event_t *ev = saq_queue_job_sync(q, "garbage", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EPROTO);
    assert_non_null(saq_event_errmsg(ev));
    saq_event_free(ev);
    /* a record whose "key" names another job is refused, not half-trusted */
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:b11 %s", n, "{\"function\": \"f\", \"key\": \"WRONG\"}"));
    ev = saq_queue_job_sync(q, "b11", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EPROTO);
    assert_non_null(strstr(saq_event_errmsg(ev), "WRONG"));
    saq_event_free(ev);
    /* a key of another type in `queued`: enqueue writes nothing at all */
    saq_queue_t *q2 = mkqueue("wrongtype", NULL, NULL);
    const char *n2 = saq_queue_name(q2);
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:queued a b", n2));
    ev = saq_queue_enqueue_call_sync(q2, "noop", "{\"key\": \"w1\"}", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EREDIS);
    assert_non_null(strstr(saq_event_errmsg(ev), "WRONGTYPE"));
    saq_event_free(ev);
    assert_int_equal(rh_int(RC, "EXISTS saq:job:%s:w1", n2), 0);
    assert_int_equal(rh_int(RC, "EXISTS saq:%s:incomplete", n2), 0);
    saq_queue_free(q2);
    ev = saq_queue_job_sync(q, "foreign", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EWRONGQUEUE);
    assert_non_null(strstr(saq_event_errmsg(ev), "elsewhere"));
    saq_event_free(ev);
    ev = saq_queue_job_sync(q, "alist", TMO);
    assert_int_not_equal(saq_event_status(ev), SAQ_OK);
    saq_event_free(ev);
    ev = abort_sync(q, "garbage", "x");
    assert_int_equal(saq_event_status(ev), SAQ_EPROTO);
    saq_event_free(ev);
    char *raw = stored(q, "garbage");
    assert_string_equal(raw, "{not json");
    free(raw);
    assert_int_equal(rh_int(RC, "EXISTS saq:abort:garbage"), 0);
    saq_queue_free(q);
}

static void test_bad_input(void **state)
{
    (void)state;
    /* bad URLs: NULL queue with a message */
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", "redis://host:99999"), SAQ_EURL);
    assert_non_null(strstr(saq_conf_errmsg(c), "port"));
    saq_conf_free(c);
    assert_null(saq_queue_from_url("nonsense", NULL));
    /* NULL everywhere */
    saq_queue_t *q = mkqueue("null", NULL, NULL);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_enqueue(NULL, NULL, cq, 1), SAQ_EINVAL);
    assert_int_equal(saq_queue_enqueue(q, NULL, NULL, 1), SAQ_EINVAL);
    assert_int_equal(saq_queue_enqueue(q, NULL, cq, 1), 0);
    saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    assert_int_equal(saq_queue_enqueue_call(q, NULL, NULL, cq, 2), 0);
    ev = saq_cq_wait(cq, 2, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    assert_int_equal(saq_queue_enqueue_call(q, "f", "{\"a\": ", cq, 3), 0);
    ev = saq_cq_wait(cq, 3, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EJSON);
    saq_event_free(ev);
    assert_int_equal(saq_queue_job(q, NULL, cq, 4), 0);
    ev = saq_cq_wait(cq, 4, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    assert_int_equal(saq_queue_count(q, NULL, cq, 5), 0);
    ev = saq_cq_wait(cq, 5, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    assert_null(saq_cq_poll(NULL, 0));
    saq_cq_free(NULL);
    saq_event_free(NULL);
    saq_job_free(NULL);
    saq_queue_free(NULL);
    assert_int_equal(saq_event_status(NULL), SAQ_EINVAL);
    /* a job of another queue */
    saq_job_t *j = saq_job_from_json("{\"function\": \"f\", \"key\": \"x\", \"queue\": \"elsewhere\"}");
    ev = saq_queue_enqueue_sync(q, j, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EWRONGQUEUE);
    saq_event_free(ev);
    saq_job_free(j);
    /* a 64 MiB payload: refused before sending, nothing written */
    size_t big = 64u << 20;
    char *kw = malloc(big + 32);
    memcpy(kw, "{\"blob\": \"", 10);
    memset(kw + 10, 'x', big);
    strcpy(kw + 10 + big, "\"}");
    j = saq_job_new("f");
    assert_int_equal(saq_job_set_kwargs(j, kw), 0);
    free(kw);
    ev = saq_queue_enqueue_sync(q, j, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ETOOBIG);
    assert_non_null(strstr(saq_event_errmsg(ev), "max_payload_bytes"));
    saq_event_free(ev);
    ASSERT_COUNTS(q, 0, 0, 0);
    assert_int_equal(rh_int(RC, "EXISTS saq:job:%s:%s", saq_queue_name(q), saq_job_key(j)), 0);
    saq_job_free(j);
    saq_cq_free(cq);
    /* after close, submits are refused without an event */
    assert_int_equal(saq_queue_close(q, 1000), 0);
    cq = saq_cq_new();
    assert_int_equal(saq_queue_count(q, "queued", cq, 1), SAQ_ECLOSED);
    assert_null(saq_cq_poll(cq, 50));
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* Enqueues submitted together go out as one ENQUEUES call (one per loop
 * turn), each with its own outcome: enqueued, a duplicate key refused, or
 * (a key of another type in `queued`) the error of its own ENQUEUE; the
 * records are exactly what one ENQUEUE writes. */
static void test_enqueues_in_one_turn(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("enqs", NULL, NULL);
    const char *n = saq_queue_name(q);
    saq_cq_t *cq = saq_cq_new();
    freeReplyObject(rh_cmd(RC, "CONFIG RESETSTAT"));
    for (int i = 0; i < 50; i++) {
        char kw[64];
        snprintf(kw, sizeof kw, "{\"key\": \"k%d\"}", i % 40); /* k0..k9 twice */
        assert_int_equal(saq_queue_enqueue_call(q, "f", kw, cq, (uint64_t)i + 1), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < 50; i++) {
        saq_event_t *ev = saq_cq_poll(cq, TMO);
        assert_non_null(ev);
        assert_int_equal(saq_event_status(ev), SAQ_OK);
        if (saq_event_int(ev))
            ok++;
        else
            refused++;
        saq_event_free(ev);
    }
    assert_int_equal(ok, 40);
    assert_int_equal(refused, 10);
    assert_int_equal(rh_int(RC, "LLEN saq:%s:queued", n), 40);
    assert_int_equal(rh_int(RC, "ZCARD saq:%s:incomplete", n), 40);
    redisReply *x = rh_cmd(RC, "INFO commandstats");
    const char *p = strstr(x->str, "cmdstat_evalsha:calls=");
    long calls = p ? atol(p + strlen("cmdstat_evalsha:calls=")) : 0;
    freeReplyObject(x);
    assert_true(calls >= 1 && calls < 50); /* batched: fewer calls than enqueues */
    saq_job_t *j = getjob(q, "k7");
    assert_string_equal(saq_job_status(j), "queued");
    saq_job_free(j);
    /* a key of another type in `queued`: every enqueue of the batch gets the error */
    saq_queue_t *q2 = mkqueue("enqswt", NULL, NULL);
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:queued a b", saq_queue_name(q2)));
    for (int i = 0; i < 5; i++)
        assert_int_equal(saq_queue_enqueue_call(q2, "f", NULL, cq, 100 + (uint64_t)i), 0);
    for (int i = 0; i < 5; i++) {
        saq_event_t *ev = saq_cq_poll(cq, TMO);
        assert_non_null(ev);
        assert_int_equal(saq_event_status(ev), SAQ_EREDIS);
        assert_non_null(strstr(saq_event_errmsg(ev), "WRONGTYPE"));
        saq_event_free(ev);
    }
    assert_int_equal(rh_int(RC, "EXISTS saq:%s:incomplete", saq_queue_name(q2)), 0);
    saq_queue_free(q2);
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* Many enqueues in one turn (max_concurrent_ops raised to let them all be in
 * flight) go in ENQUEUES calls of at most 100 jobs (and about 1 MiB of
 * records), so that one script never holds Redis long: the arguments of
 * every EVALSHA Redis logged (KEYS incomplete, queued, then an id and a
 * marker per job; ARGV a record and a score per job) stay within 100 jobs,
 * and several jobs did share a call. */
struct enqcap {
    saq_queue_t *q;
    saq_cq_t *cq;
    int submitted;
};

/* On the I/O thread: every enqueue submitted here is in the same loop turn */
static int enqcap_burst(saq_event_t *ev, void *ud)
{
    struct enqcap *c = ud;
    saq_event_free(ev);
    for (int i = 0; i < 1000; i++)
        c->submitted += saq_queue_enqueue_call(c->q, "f", NULL, c->cq, (uint64_t)i + 1) == 0;
    return 0;
}

static void test_enqueues_are_capped_per_call(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("enqcap", "max_concurrent_ops", "1000"); /* all 1,000 at once */
    saq_cq_t *cq = saq_cq_new();
    struct enqcap c = {q, cq, 0};
    saq_cq_t *burst = saq_cq_new_callback(enqcap_burst, &c);
    freeReplyObject(rh_cmd(RC, "CONFIG SET slowlog-log-slower-than 0"));
    freeReplyObject(rh_cmd(RC, "CONFIG SET slowlog-max-len 100000"));
    freeReplyObject(rh_cmd(RC, "SLOWLOG RESET"));
    enum { N = 1000 };
    assert_int_equal(saq_queue_ping(q, burst, 0), 0);
    for (int i = 0; i < N; i++) {
        saq_event_t *ev = saq_cq_poll(cq, TMO);
        assert_non_null(ev);
        assert_int_equal(saq_event_status(ev), SAQ_OK);
        saq_event_free(ev);
    }
    redisReply *log = rh_cmd(RC, "SLOWLOG GET 100000");
    long most = 0, calls = 0;
    for (size_t i = 0; log && i < log->elements; i++) {
        redisReply *args = log->element[i]->element[3];
        if (args->elements < 1 || strcasecmp(args->element[0]->str, "evalsha"))
            continue;
        long n = (long)args->elements;
        const char *more = args->element[args->elements - 1]->str;
        if (more && !strncmp(more, "... (", 5)) /* Redis logs 32 arguments: "... (N more arguments)" */
            n = (long)args->elements - 1 + atol(more + 5);
        if (n > most)
            most = n;
        calls++;
    }
    freeReplyObject(log);
    freeReplyObject(rh_cmd(RC, "CONFIG SET slowlog-log-slower-than 10000"));
    freeReplyObject(rh_cmd(RC, "CONFIG SET slowlog-max-len 128"));
    assert_true(calls >= N / 100);
    assert_true(most > 3 + 2 * 4); /* several jobs per call */
    assert_true(most <= 3 + 2 + 4 * 100); /* EVALSHA sha numkeys, 2 keys, 4 arguments per job */
    assert_int_equal(c.submitted, N);
    assert_int_equal(rh_int(RC, "LLEN saq:%s:queued", saq_queue_name(q)), N);
    saq_cq_free(cq);
    saq_queue_free(q);
    saq_cq_free(burst);
}

static void test_map_timeout_without_worker(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("maptmo", NULL, NULL);
    /* checklist 53: no worker -> timeout; the jobs were written with timeout 0.2 */
    double t0 = now_s();
    saq_event_t *ev = saq_queue_map_sync(q, "noop", "[{\"a\": 1}, {\"a\": 2}]", NULL, 0.2, 0, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ETIMEDOUT);
    assert_true(now_s() - t0 < 2);
    saq_event_free(ev);
    ASSERT_COUNTS(q, 2, 2, 0);
    /* apply() without a timeout stores "timeout": null (checklist 50) */
    saq_job_t *j = saq_job_new("noop");
    saq_job_set_key(j, "forever");
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_apply(q, j, 0, cq, 1), 0);
    sleep_ms(300);
    char *raw = stored(q, "forever");
    assert_non_null(raw);
    assert_non_null(strstr(raw, "\"timeout\": null"));
    free(raw);
    saq_cq_free(cq); /* the pending apply's event is discarded */
    saq_job_free(j);
    /* map over [] is [] at once */
    ev = OK_EV(saq_queue_map_sync(q, "noop", "[]", NULL, 0, 0, TMO));
    assert_string_equal(saq_event_json(ev), "[]");
    saq_event_free(ev);
    /* an item's error carries the setter's code: malformed meta is EJSON,
     * a refused value EINVAL (both were EINVAL) */
    ev = saq_queue_map_sync(q, "noop", "[{\"meta\": 5}]", NULL, 0, 0, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EJSON);
    saq_event_free(ev);
    ev = saq_queue_map_sync(q, "noop", "[{\"retries\": -1}]", NULL, 0, 0, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    saq_queue_free(q);
}

static void test_batch(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("batch", NULL, NULL);
    /* checklist 23: jobs enqueued in a failed batch end aborted */
    saq_batch_t *b = saq_queue_batch(q);
    saq_job_t *a = enq(q, "noop", NULL), *c = enq(q, "noop", NULL);
    assert_int_equal(saq_batch_size(b), 2);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_batch_abort(b, NULL, cq, 1), 0);
    saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
    assert_int_equal(saq_event_status(ev), 0);
    assert_int_equal(saq_event_int(ev), 2);
    saq_event_free(ev);
    assert_int_equal(saq_batch_abort(b, NULL, cq, 2), SAQ_ESTATE);
    saq_batch_free(b);
    saq_job_t *g = getjob(q, saq_job_key(a));
    assert_string_equal(saq_job_status(g), "aborted");
    assert_string_equal(saq_job_error(g), "cancelled");
    saq_job_free(g);
    g = getjob(q, saq_job_key(c));
    assert_string_equal(saq_job_status(g), "aborted");
    saq_job_free(g);
    /* jobs enqueued after the scope ended are not recorded */
    b = saq_queue_batch(q);
    saq_batch_free(b);
    saq_job_free(enq(q, "noop", NULL));
    ASSERT_COUNTS(q, 1, 1, 0);
    saq_job_free(a);
    saq_job_free(c);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static int hook_calls;
static int meta_hook(saq_job_t *job, void *ud)
{
    (void)ud;
    hook_calls++;
    return saq_job_set_meta(job, "{\"trace\": \"abc\"}");
}

static void test_before_enqueue_hook(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("hook", NULL, NULL);
    assert_int_equal(saq_queue_add_before_enqueue(q, meta_hook, NULL), 0);
    assert_int_equal(saq_queue_add_before_enqueue(q, meta_hook, NULL), 0); /* same identity: once */
    hook_calls = 0;
    saq_job_t *j = enq(q, "noop", NULL);
    assert_int_equal(hook_calls, 1);
    saq_job_t *g = getjob(q, saq_job_key(j));
    assert_string_equal(saq_job_meta(g), "{\"trace\": \"abc\"}");
    saq_job_free(g);
    saq_job_free(j);
    assert_int_equal(saq_queue_remove_before_enqueue(q, meta_hook, NULL), 0);
    assert_int_equal(saq_queue_remove_before_enqueue(q, meta_hook, NULL), SAQ_ENOTFOUND);
    saq_queue_free(q);
}

static void test_sweep_missing_and_grace(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("sweep", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* a fake id in active (record missing) is swept at once; a job dequeued but
     * not yet marked gets a grace before it counts as stuck (#277) */
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:active saq:job:%s:ghost", n, n));
    /* and a key of another type than a string: failed visibly, the key kept (it was dropped unseen) */
    freeReplyObject(rh_cmd(RC, "HSET saq:job:%s:hashed f v", n));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:active saq:job:%s:hashed", n, n));
    saq_job_free(enq(q, "noop", "{\"key\": \"moved\"}"));
    freeReplyObject(rh_cmd(RC, "LMOVE saq:%s:queued saq:%s:active LEFT RIGHT", n, n));
    saq_cq_t *cq = saq_cq_new();
    double t0 = now_s();
    assert_int_equal(saq_queue_sweep(q, 60, 0.2, cq, 1), 0);
    saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
    assert_int_equal(saq_event_status(ev), 0);
    assert_true(now_s() - t0 >= 0.9); /* it waited for the grace */
    assert_non_null(strstr(saq_event_json(ev), "ghost"));
    assert_non_null(strstr(saq_event_json(ev), "moved"));
    assert_non_null(strstr(saq_event_json(ev), "hashed"));
    saq_event_free(ev);
    saq_job_t *h = wait_status(q, "hashed", "failed", TMO);
    assert_non_null(strstr(saq_job_error(h), "its key holds a hash, not a job record"));
    saq_job_free(h);
    redisReply *ty = rh_cmd(RC, "TYPE saq:%s:libsaq:unreadable:hashed", n);
    assert_string_equal(ty->str, "hash");
    freeReplyObject(ty);
    /* checklist 33: the lock */
    assert_int_equal(saq_queue_sweep(q, 60, 0.2, cq, 2), 0);
    ev = saq_cq_wait(cq, 2, TMO);
    assert_string_equal(saq_event_json(ev), "[]");
    saq_event_free(ev);
    /* the stuck job (retries 1, attempts 0) was retried by the sweep */
    saq_job_t *j = getjob(q, "moved");
    assert_string_equal(saq_job_status(j), "queued");
    assert_string_equal(saq_job_error(j), "swept");
    saq_job_free(j);
    ASSERT_COUNTS(q, 1, 1, 0);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_sync_timeout_cancels_the_wait(void **state)
{
    (void)state;
    /* a blocking apply that gives up (timeout_ms) stops the wait inside
     * libsaq too: it no longer holds the queue's close for its whole life */
    saq_queue_t *q = mkqueue("synccancel", NULL, NULL);
    saq_job_t *j = saq_job_new("nobody_runs_this");
    saq_event_t *ev = saq_queue_apply_sync(q, j, 0, 300);
    if (saq_event_status(ev) != SAQ_ETIMEDOUT) fail_msg("%s: %s", saq_err_name(saq_event_status(ev)), saq_event_errmsg(ev));
    saq_event_free(ev);
    ev = saq_queue_map_sync(q, "nobody_runs_this", "[{}]", NULL, 0, 0, 300);
    assert_int_equal(saq_event_status(ev), SAQ_ETIMEDOUT);
    saq_event_free(ev);
    saq_job_free(j);
    double t0 = now_s();
    assert_int_equal(saq_queue_close(q, 3000), SAQ_OK);
    assert_true(now_s() - t0 < 2);
    saq_queue_free(q);
}

/* The next event carrying `tag`, publishing `status` on the channels of
 * keys k1 and k2 every 50 ms until one comes (a listen's subscription is
 * confirmed some time after it is submitted). */
static saq_event_t *publish_until_event(saq_queue_t *q, saq_cq_t *cq, uint64_t tag,
                                        const char *k1, const char *k2)
{
    double end = now_s() + TMO / 1000.0;
    while (now_s() < end) {
        freeReplyObject(rh_cmd(RC, "PUBLISH saq:job:%s:%s queued", saq_queue_name(q), k1));
        freeReplyObject(rh_cmd(RC, "PUBLISH saq:job:%s:%s queued", saq_queue_name(q), k2));
        saq_event_t *ev = saq_cq_wait(cq, tag, 50);
        if (ev)
            return ev;
    }
    fail_msg("no event for tag %llu", (unsigned long long)tag);
    return NULL;
}

/* Wait for the event of `tag` that ends an operation: of `type` with
 * `status`. LISTEN events before it (published before the stop) must be for
 * key `live`. */
static void expect_end(saq_cq_t *cq, uint64_t tag, int type, int status, const char *live)
{
    saq_event_t *ev;
    while ((ev = saq_cq_wait(cq, tag, TMO)) && saq_event_type(ev) == SAQ_EVENT_LISTEN) {
        assert_non_null(live);
        assert_string_equal(saq_event_key(ev), live);
        saq_event_free(ev);
    }
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), type);
    assert_int_equal(saq_event_status(ev), status);
    saq_event_free(ev);
}

static void test_cancel_stops_the_oldest(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("cancel", NULL, NULL);
    saq_cq_t *cq = saq_cq_new();
    /* two listens share (cq, 5): the cancel (listen_stop is the same call)
     * stops the one submitted first; the second one still listens */
    assert_int_equal(saq_queue_listen(q, "[\"first\"]", 0, cq, 5), SAQ_OK);
    assert_int_equal(saq_queue_listen(q, "[\"second\"]", 0, cq, 5), SAQ_OK);
    assert_int_equal(saq_queue_listen_stop(q, cq, 5), SAQ_OK);
    expect_end(cq, 5, SAQ_EVENT_LISTEN_END, SAQ_OK, NULL);
    saq_event_t *ev = publish_until_event(q, cq, 5, "first", "second");
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LISTEN);
    assert_string_equal(saq_event_key(ev), "second");
    saq_event_free(ev);
    assert_int_equal(saq_queue_cancel(q, cq, 5), SAQ_OK);
    expect_end(cq, 5, SAQ_EVENT_LISTEN_END, SAQ_OK, "second");
    /* across kinds: a listen submitted before an apply with the same pair is
     * stopped first; the next cancel stops the apply (ECLOSED) */
    assert_int_equal(saq_queue_listen(q, "[\"l\"]", 0, cq, 6), SAQ_OK);
    saq_job_t *j = saq_job_new("nobody_runs_this");
    assert_int_equal(saq_queue_apply(q, j, 0, cq, 6), SAQ_OK);
    saq_job_free(j);
    assert_int_equal(saq_queue_cancel(q, cq, 6), SAQ_OK);
    expect_end(cq, 6, SAQ_EVENT_LISTEN_END, SAQ_OK, NULL);
    assert_int_equal(saq_queue_cancel(q, cq, 6), SAQ_OK);
    expect_end(cq, 6, SAQ_EVENT_APPLY, SAQ_ECLOSED, NULL);
    /* nothing is left to stop: a further cancel changes nothing */
    assert_int_equal(saq_queue_cancel(q, cq, 6), SAQ_OK);
    assert_null(saq_cq_poll(cq, 100));
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* saq_queue_cancel withdraws an enqueue still waiting for its
 * max_concurrent_ops permit (since 0.2: enqueue was not cancellable): with
 * one permit held by an enqueue that Redis keeps waiting (CLIENT PAUSE
 * WRITE), a second enqueue is cancelled with SAQ_ECLOSED and never written;
 * the cancel of the one already sent changes nothing. */
static void test_cancel_withdraws_a_waiting_enqueue(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("cancelenq", "max_concurrent_ops", "1");
    assert_int_equal(qcount(q, "queued"), 0); /* connected, scripts loaded */
    saq_cq_t *cq = saq_cq_new();
    freeReplyObject(rh_cmd(RC, "CLIENT PAUSE 1500 WRITE"));
    assert_int_equal(saq_queue_enqueue_call(q, "sent", "{\"key\": \"sent\"}", cq, 1), SAQ_OK);
    assert_int_equal(saq_queue_enqueue_call(q, "waiting", "{\"key\": \"waiting\"}", cq, 2), SAQ_OK);
    usleep(200 * 1000); /* the first one holds the permit, blocked in Redis */
    double t0 = now_s();
    assert_int_equal(saq_queue_cancel(q, cq, 2), SAQ_OK);
    assert_int_equal(saq_queue_cancel(q, cq, 1), SAQ_OK); /* sent: not affected */
    saq_event_t *ev = saq_cq_wait(cq, 2, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_ENQUEUE);
    assert_int_equal(saq_event_status(ev), SAQ_ECLOSED);
    assert_true(now_s() - t0 < 1); /* at once, not after the pause */
    saq_event_free(ev);
    ev = OK_EV(saq_cq_wait(cq, 1, TMO));
    assert_int_equal(saq_event_int(ev), 1);
    saq_event_free(ev);
    freeReplyObject(rh_cmd(RC, "CLIENT UNPAUSE"));
    assert_int_equal(qcount(q, "queued"), 1);
    redisReply *r = rh_cmd(RC, "EXISTS saq:job:%s:waiting", saq_queue_name(q));
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* An ACL user without channel rights (Redis 7's default for new users:
 * acl-pubsub-default resetchannels) cannot PSUBSCRIBE: a listen fails at
 * once with Redis's NOPERM error instead of waiting forever for a
 * subscription that never comes (it did, before issue 14). Commands still
 * work for that user. */
static void test_listen_without_channel_rights(void **state)
{
    (void)state;
    freeReplyObject(rh_cmd(RC, "ACL SETUSER nochan on >pw ~* resetchannels +@all"));
    char url[600];
    const char *rest = strstr(R->url, "://") + 3; /* redis:// or, over TLS, rediss://...?ssl_... */
    snprintf(url, sizeof url, "%.*snochan:pw@%s", (int)(rest - R->url), R->url, rest);
    saq_queue_t *q = saq_queue_from_url(url, rh_queue_name("nochan"));
    assert_non_null(q);
    assert_int_equal(qcount(q, "queued"), 0); /* the user can run commands */
    saq_cq_t *cq = saq_cq_new();
    double t0 = now_s();
    assert_int_equal(saq_queue_listen(q, "[\"a\"]", 0, cq, 7), SAQ_OK);
    saq_event_t *ev = saq_cq_wait(cq, 7, TMO);
    assert_non_null(ev); /* it used to wait forever */
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LISTEN_END);
    assert_int_equal(saq_event_status(ev), SAQ_EREDIS);
    assert_non_null(strstr(saq_event_errmsg(ev), "NOPERM"));
    assert_true(now_s() - t0 < 3);
    saq_event_free(ev);
    saq_cq_free(cq);
    saq_queue_free(q);
    freeReplyObject(rh_cmd(RC, "ACL DELUSER nochan"));
}

static void test_dead_redis_and_auth(void **state)
{
    (void)state;
    /* nothing listens on this port: a clear ECONN, quickly, no hang */
    saq_queue_t *q = saq_queue_from_url("redis://127.0.0.1:1/0", "dead");
    assert_non_null(q);
    double t0 = now_s();
    saq_event_t *ev = saq_queue_count_sync(q, "queued", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ECONN);
    if (!strstr(saq_event_errmsg(ev), "127.0.0.1"))
        fail_msg("message: %s", saq_event_errmsg(ev));
    assert_true(now_s() - t0 < 3);
    saq_event_free(ev);
    /* apply, map and listen subscribe first: they fail the same way instead
     * of waiting for a subscription that cannot be made (no timeout given) */
    saq_job_t *j = saq_job_new("noop");
    t0 = now_s();
    ev = saq_queue_apply_sync(q, j, 0, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ECONN);
    assert_non_null(strstr(saq_event_errmsg(ev), "subscribe"));
    saq_event_free(ev);
    saq_job_free(j);
    ev = saq_queue_map_sync(q, "noop", "[{}, {}]", NULL, 0, 0, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ECONN);
    saq_event_free(ev);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_listen(q, "[\"a\"]", 0, cq, 7), SAQ_OK);
    ev = saq_cq_poll(cq, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LISTEN_END);
    assert_int_equal(saq_event_status(ev), SAQ_ECONN);
    saq_event_free(ev);
    saq_cq_free(cq);
    assert_true(now_s() - t0 < 5);
    saq_queue_free(q);
    /* connects that fail at once (no such socket, no such host) answer through
     * the event like any other failure (they used to crash the I/O thread) */
    const char *fast_fail[] = {"unix:///nonexistent/saq.sock", "redis://no-such-host.invalid:6379"};
    for (int i = 0; i < 2; i++) {
        q = saq_queue_from_url(fast_fail[i], "dead");
        ev = saq_queue_count_sync(q, "queued", TMO);
        assert_int_equal(saq_event_status(ev), SAQ_ECONN);
        assert_non_null(strstr(saq_event_errmsg(ev), i ? "resolve" : "o such file"));
        saq_event_free(ev);
        saq_queue_free(q);
    }
    /* a host name is resolved off the I/O thread, every address tried */
    char lh[128];
    snprintf(lh, sizeof lh, "redis://localhost:%d/0", R->port);
    q = saq_queue_from_url(lh, "byname");
    assert_int_equal(qcount(q, "queued"), 0);
    saq_queue_free(q);
    /* unix socket, a non-zero db, and AUTH with a password */
    char url[512];
    snprintf(url, sizeof url, "unix://%s?db=3", R->sock);
    q = saq_queue_from_url(url, "unixq");
    assert_non_null(q);
    saq_job_free(enq(q, "noop", "{\"key\": \"u1\"}"));
    freeReplyObject(rh_cmd(RC, "SELECT 3"));
    assert_int_equal(rh_int(RC, "EXISTS saq:job:unixq:u1"), 1);
    freeReplyObject(rh_cmd(RC, "SELECT 0"));
    saq_queue_free(q);
    freeReplyObject(rh_cmd(RC, "CONFIG SET requirepass s3cret"));
    freeReplyObject(rh_cmd(RC, "AUTH s3cret"));
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/0", R->port);
    q = saq_queue_from_url(url, "authq");
    assert_int_equal(qcount(q, "queued"), 0);
    saq_queue_free(q);
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d/0", R->port);
    q = saq_queue_from_url(url, "authq");
    ev = saq_queue_count_sync(q, "queued", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EREDIS);
    assert_non_null(strstr(saq_event_errmsg(ev), "(AUTH): WRONGPASS"));
    /* one cause, said once (the failed handshake used to wrap itself) */
    assert_null(strstr(strstr(saq_event_errmsg(ev), "handshake failed") + 1, "handshake failed"));
    saq_event_free(ev);
    saq_queue_free(q);
    freeReplyObject(rh_cmd(RC, "CONFIG SET requirepass \"\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enqueue_and_dedupe),
        cmocka_unit_test(test_enqueue_fields_exact),
        cmocka_unit_test(test_scheduled),
        cmocka_unit_test(test_finish_and_ttl),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_update_and_listen),
        cmocka_unit_test(test_info_stats_registry),
        cmocka_unit_test(test_jobs_and_get),
        cmocka_unit_test(test_bad_records_in_redis),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_enqueues_in_one_turn),
        cmocka_unit_test(test_enqueues_are_capped_per_call),
        cmocka_unit_test(test_map_timeout_without_worker),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_before_enqueue_hook),
        cmocka_unit_test(test_sweep_missing_and_grace),
        cmocka_unit_test(test_sync_timeout_cancels_the_wait),
        cmocka_unit_test(test_cancel_stops_the_oldest),
        cmocka_unit_test(test_cancel_withdraws_a_waiting_enqueue),
        cmocka_unit_test(test_listen_without_channel_rights),
        cmocka_unit_test(test_dead_redis_and_auth), /* leaves the server requiring a password */
    };
    return cmocka_run_group_tests_name("queue", tests, suite_setup, suite_teardown);
}
