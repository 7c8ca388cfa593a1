/* SPDX-License-Identifier: MIT */
/* Integration tests of the worker against a real redis-server: saq's
 * processing rules (spec 4), the fixes of spec 7, hooks, cron, burst, stop,
 * and pull mode. */
#include "itest.h"

#include <stdatomic.h>
#include <sys/wait.h>

/* ---- handlers ---- */

static atomic_int runs;

static void h_noop(saq_job_t *job, void *ud)
{
    (void)ud;
    atomic_fetch_add(&runs, 1);
    saq_job_complete(job, "1");
    saq_job_free(job);
}

static void h_dict(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_complete(job, "{\"a\": 1, \"b\": []}");
    saq_job_free(job);
}

static void h_fail(saq_job_t *job, void *ud)
{
    (void)ud;
    atomic_fetch_add(&runs, 1);
    saq_job_fail(job, "Traceback: RuntimeError: oops");
    saq_job_free(job);
}

/* sleeps kwargs "ms" (default 100), stopping early when cancelled */
static void h_sleep(saq_job_t *job, void *ud)
{
    (void)ud;
    int ms = 100;
    const char *kw = saq_job_kwargs(job);
    const char *p = kw ? strstr(kw, "\"ms\": ") : NULL;
    if (p)
        ms = atoi(p + 6);
    atomic_fetch_add(&runs, 1);
    for (int i = 0; i < ms && !saq_job_cancelled(job); i++)
        sleep_ms(1);
    if (saq_job_cancelled(job))
        saq_job_fail(job, "CancelledError");
    else
        saq_job_complete(job, "\"slept\"");
    saq_job_free(job);
}

/* heartbeats until cancelled, then cleans up for another 300 ms */
static void h_stubborn(saq_job_t *job, void *ud)
{
    (void)ud;
    for (int i = 0; !saq_job_cancelled(job); i++) {
        sleep_ms(2);
        if (i % 10 == 0) /* a heartbeat must not erase the abort reason */
            saq_job_touch(job, "{\"progress\": 0.5}");
    }
    sleep_ms(300);
    saq_job_fail(job, "stopped");
    saq_job_free(job);
}

/* runs 1 s, touching every 100 ms (progress 0.5) */
static void h_toucher(saq_job_t *job, void *ud)
{
    (void)ud;
    for (int i = 0; i < 10 && !saq_job_cancelled(job); i++) {
        sleep_ms(100);
        saq_job_touch(job, "{\"progress\": 0.5}");
    }
    if (saq_job_cancelled(job))
        saq_job_fail(job, "cancelled");
    else
        saq_job_complete(job, "\"touched\"");
    saq_job_free(job);
}

static saq_worker_t *mkworker(saq_queue_t *q, const char **kv)
{
    saq_worker_t *w = worker_with_conf(q, kv);
    saq_worker_register(w, "noop", h_noop, NULL);
    saq_worker_register(w, "dict", h_dict, NULL);
    saq_worker_register(w, "fail", h_fail, NULL);
    saq_worker_register(w, "sleep", h_sleep, NULL);
    saq_worker_register(w, "stubborn", h_stubborn, NULL);
    saq_worker_register(w, "toucher", h_toucher, NULL);
    return w;
}

static void stop_worker(saq_worker_t *w)
{
    saq_worker_stop(w, 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("rt", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    /* checklist 39 */
    saq_job_t *j = enq(q, "noop", NULL);
    saq_job_t *d = wait_status(q, saq_job_key(j), "complete", TMO);
    assert_true(saq_job_started_ms(d) > 0 && saq_job_completed_ms(d) >= saq_job_started_ms(d));
    assert_string_equal(saq_job_result(d), "1");
    assert_int_equal(saq_job_attempts(d), 1);
    assert_string_equal(saq_job_worker_id(d), saq_worker_id(w)); /* checklist 43 */
    saq_job_free(d);
    saq_job_free(j);
    j = enq(q, "dict", NULL);
    d = wait_status(q, saq_job_key(j), "complete", TMO);
    assert_string_equal(saq_job_result(d), "{\"a\": 1, \"b\": []}");
    saq_job_free(d);
    saq_job_free(j);
    /* checklist 52: apply and map */
    j = saq_job_new("noop");
    saq_event_t *ev = OK_EV(saq_queue_apply_sync(q, j, 5, TMO));
    assert_string_equal(saq_event_json(ev), "1");
    saq_event_free(ev);
    ev = OK_EV(saq_queue_apply_sync(q, j, INFINITY, TMO)); /* = no limit (was "out of memory") */
    assert_string_equal(saq_event_json(ev), "1");
    assert_non_null(saq_event_job(ev));
    assert_true(saq_job_timeout(saq_event_job(ev)) == 0);
    saq_event_free(ev);
    saq_job_set_key(j, "gone");
    saq_job_set_ttl(j, -1);
    ev = OK_EV(saq_queue_apply_sync(q, j, 5, TMO)); /* ttl -1: deleted on finish -> null */
    assert_string_equal(saq_event_json(ev), "null");
    saq_event_free(ev);
    saq_job_free(j);
    ev = OK_EV(saq_queue_map_sync(q, "noop", "[{\"a\": 1}, {\"a\": 2}]", NULL, 5, 0, TMO));
    assert_string_equal(saq_event_json(ev), "[1, 1]");
    assert_int_equal(saq_event_job_count(ev), 2);
    saq_event_free(ev);
    j = saq_job_new("fail");
    ev = saq_queue_apply_sync(q, j, 5, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EJOB);
    assert_non_null(strstr(saq_event_errmsg(ev), "oops"));
    assert_string_equal(saq_job_status(saq_event_job(ev)), "failed");
    saq_event_free(ev);
    saq_job_free(j);
    ev = OK_EV(saq_queue_map_sync(q, "fail", "[{}, {}]", NULL, 5, 1, TMO)); /* return_exceptions */
    assert_string_equal(saq_event_json(ev), "[null, null]");
    assert_string_equal(saq_job_status(saq_event_job_at(ev, 0)), "failed");
    saq_event_free(ev);
    /* map over an existing incomplete key waits for that job (not a new one) */
    saq_job_t *s = enq(q, "sleep", "{\"ms\": 200, \"key\": \"shared\"}");
    ev = OK_EV(saq_queue_map_sync(q, "noop", "[{\"key\": \"shared\"}]", NULL, 5, 0, TMO));
    assert_string_equal(saq_event_json(ev), "[\"slept\"]");
    saq_event_free(ev);
    saq_job_free(s);
    /* an unknown function is a job error (saq's KeyError) */
    j = enq(q, "nope", NULL);
    d = wait_status(q, saq_job_key(j), "failed", TMO);
    assert_non_null(strstr(saq_job_error(d), "KeyError"));
    saq_job_free(d);
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

static void test_retries_and_backoff(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("retries", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    /* checklist 13: retries 2, no delay: attempt 1 retried, attempt 2 failed */
    atomic_store(&runs, 0);
    saq_job_t *j = enq(q, "fail", "{\"retries\": 2}");
    saq_job_t *d = wait_status(q, saq_job_key(j), "failed", TMO);
    assert_int_equal(saq_job_attempts(d), 2);
    assert_int_equal(atomic_load(&runs), 2);
    assert_non_null(strstr(saq_job_error(d), "oops"));
    assert_null(saq_job_result(d));
    saq_job_free(d);
    saq_job_free(j);
    /* checklist 14: retry_delay 100 -> only in incomplete, score ~ now + 100 */
    j = enq(q, "fail", "{\"retries\": 2, \"retry_delay\": 100}");
    char id[256];
    snprintf(id, sizeof id, "saq:job:%s:%s", saq_queue_name(q), saq_job_key(j));
    double end = now_s() + 5;
    saq_job_t *g = NULL;
    while (now_s() < end) {
        saq_job_free(g);
        g = getjob(q, saq_job_key(j));
        if (saq_job_attempts(g) == 1 && !strcmp(saq_job_status(g), "queued") && saq_job_error(g))
            break;
        sleep_ms(10);
    }
    assert_int_equal(saq_job_attempts(g), 1);
    saq_job_free(g);
    sleep_ms(100);
    ASSERT_COUNTS(q, 0, 1, 0);
    char *score = rh_str(RC, "ZSCORE saq:%s:incomplete %s", saq_queue_name(q), id);
    assert_true(fabs(strtod(score, NULL) - (now_s() + 100)) < 5);
    free(score);
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

static void test_timeout(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("timeout", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    /* checklist 40: timeout 0.05, retries 2, a 0.3 s function */
    saq_job_t *j = enq(q, "sleep", "{\"ms\": 300, \"timeout\": 0.05, \"retries\": 2}");
    saq_job_t *d = wait_status(q, saq_job_key(j), "failed", TMO);
    assert_int_equal(saq_job_attempts(d), 2);
    assert_non_null(strstr(saq_job_error(d), "TimeoutError"));
    assert_true(saq_job_started_ms(d) > 0 && saq_job_completed_ms(d) > 0);
    saq_job_free(d);
    saq_job_free(j);
    /* a handler that ignores cancellation cannot hold the job past the hard deadline */
    saq_conf_t *c = saq_conf_new();
    saq_job_t *s = enq(q, "stubborn", "{\"timeout\": 0.1}");
    d = wait_status(q, saq_job_key(s), "failed", 3000);
    assert_non_null(strstr(saq_job_error(d), "TimeoutError"));
    saq_job_free(d);
    saq_job_free(s);
    saq_conf_free(c);
    stop_worker(w);
    saq_queue_free(q);
}

static int after_status[8];
static atomic_int nafter, nbefore;

static int hook_before(saq_worker_t *w, saq_job_t *job, void *ud)
{
    (void)w, (void)job, (void)ud;
    atomic_fetch_add(&nbefore, 1);
    return 0;
}

static int hook_after(saq_worker_t *w, saq_job_t *job, void *ud)
{
    (void)w, (void)ud;
    int i = atomic_fetch_add(&nafter, 1);
    if (i < 8)
        after_status[i] = saq_job_status_code(job);
    return 0;
}

static void test_abort_running(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("abortrun", NULL, NULL);
    const char *kv[] = {"timers.abort", "0.05", NULL};
    saq_worker_t *w = mkworker(q, kv);
    saq_worker_add_hook(w, SAQ_HOOK_BEFORE_PROCESS, hook_before, NULL);
    saq_worker_add_hook(w, SAQ_HOOK_AFTER_PROCESS, hook_after, NULL);
    atomic_store(&nafter, 0);
    atomic_store(&nbefore, 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    /* checklist 20: the worker stops the running job, waits for it to unwind,
     * and finishes it aborted once; the marker is deleted */
    saq_job_t *j = enq(q, "stubborn", "{\"timeout\": 0}");
    saq_job_free(wait_status(q, saq_job_key(j), "active", TMO));
    saq_event_free(OK_EV(saq_queue_abort_sync(q, saq_job_key(j), "test", 5, TMO)));
    saq_job_t *d = wait_status(q, saq_job_key(j), "aborted", TMO);
    assert_string_equal(saq_job_error(d), "test");
    assert_int_equal(saq_job_attempts(d), 1);          /* U3: the abort kept these */
    assert_string_equal(saq_job_worker_id(d), saq_worker_id(w));
    saq_job_free(d);
    ASSERT_COUNTS(q, 0, 0, 0);
    double end = now_s() + 2;
    while (rh_int(RC, "EXISTS saq:abort:%s", saq_job_key(j)) && now_s() < end)
        sleep_ms(10);
    assert_int_equal(rh_int(RC, "EXISTS saq:abort:%s", saq_job_key(j)), 0);
    /* checklist 22: after_process saw the aborted job; U2: one abort counted */
    end = now_s() + 2;
    while (atomic_load(&nafter) < 1 && now_s() < end)
        sleep_ms(10);
    assert_int_equal(atomic_load(&nafter), 1);
    assert_int_equal(after_status[0], SAQ_STATUS_ABORTED);
    assert_int_equal(atomic_load(&nbefore), 1);
    assert_non_null(strstr(saq_worker_stats_json(w), "\"aborted\": 1"));
    /* checklist 21: the key can be enqueued again, and aborted while waiting */
    saq_job_free(enq(q, "noop", "{\"key\": \"again\", \"scheduled\": 4102444800}"));
    ASSERT_COUNTS(q, 0, 1, 0);
    saq_event_free(OK_EV(saq_queue_abort_sync(q, "again", "x", 5, TMO)));
    ASSERT_COUNTS(q, 0, 0, 0);
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

static void test_stop_retries_running_job(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("stop", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    /* checklist 41: stop while a job runs -> queued again with error "cancelled" */
    saq_job_t *j = enq(q, "sleep", "{\"ms\": 5000, \"timeout\": 0}");
    saq_job_free(wait_status(q, saq_job_key(j), "active", TMO));
    saq_worker_stop(w, 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_job_t *d = getjob(q, saq_job_key(j));
    assert_string_equal(saq_job_status(d), "queued");
    assert_string_equal(saq_job_error(d), "cancelled");
    assert_int_equal(saq_job_attempts(d), 1);
    assert_int_equal(saq_job_started_ms(d), 0);
    assert_int_equal(saq_job_completed_ms(d), 0);
    assert_true(saq_job_queued_ms(d) > 0);
    saq_job_free(d);
    ASSERT_COUNTS(q, 1, 1, 0);
    saq_worker_free(w);
    /* a grace period lets the job finish instead */
    w = mkworker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *k = enq(q, "sleep", "{\"ms\": 300, \"timeout\": 0}");
    saq_job_free(wait_status(q, saq_job_key(k), "active", TMO));
    saq_worker_stop(w, 5000);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    d = getjob(q, saq_job_key(k));
    assert_string_equal(saq_job_status(d), "complete");
    saq_job_free(d);
    saq_worker_free(w);
    saq_job_free(j);
    saq_job_free(k);
    saq_queue_free(q);
}

static void test_stop_while_blocked_loses_nothing(void **state)
{
    (void)state;
    /* U9: stopping a worker blocked in the dequeue never strands a job */
    saq_queue_t *q = mkqueue("unblock", NULL, NULL);
    for (int i = 0; i < 20; i++) {
        saq_worker_t *w = mkworker(q, NULL);
        assert_int_equal(saq_worker_start(w, NULL, 0), 0);
        sleep_ms(5 + i % 7);
        saq_job_free(enq(q, "noop", NULL));
        saq_worker_stop(w, 0);
        assert_int_equal(saq_worker_wait(w, TMO), 0);
        saq_worker_free(w);
        /* every job is either done or back in queued; none is stuck in active */
        assert_int_equal(qcount(q, "active"), 0);
    }
    saq_queue_free(q);
}

static void test_burst(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("burst", NULL, NULL);
    /* checklist 44 */
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "burst", "true");
    assert_null(saq_worker_new(q, c)); /* burst needs dequeue_timeout > 0 */
    assert_non_null(strstr(saq_conf_errmsg(c), "dequeue_timeout"));
    saq_conf_free(c);
    saq_job_free(enq(q, "noop", NULL));
    saq_job_free(enq(q, "noop", NULL));
    const char *kv[] = {"burst", "true", "dequeue_timeout", "0.2", "concurrency", "1", NULL};
    saq_worker_t *w = mkworker(q, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0); /* stops by itself */
    ASSERT_COUNTS(q, 0, 0, 0);
    saq_worker_free(w);
    for (int i = 0; i < 3; i++)
        saq_job_free(enq(q, "noop", NULL));
    const char *kv2[] = {"burst", "true", "dequeue_timeout", "0.2", "max_burst_jobs", "1", NULL};
    w = mkworker(q, kv2);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    ASSERT_COUNTS(q, 2, 2, 0);
    saq_worker_free(w);
    saq_queue_free(q);
}

static void test_cron(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("cron", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    /* checklist 27: a bad expression is refused with a message */
    assert_int_equal(saq_worker_add_cron(w, "noop", "x", NULL), SAQ_ECRON);
    assert_non_null(strstr(saq_worker_errmsg(w), "x"));
    assert_int_equal(saq_worker_add_cron(w, "noop", "* * * * *", "{\"bogus\": 1}"), SAQ_EINVAL);
    /* beyond an int: refused (the conversion was undefined behaviour) */
    assert_int_equal(saq_worker_add_cron(w, "noop", "* * * * *", "{\"retries\": 1e20}"), SAQ_EJSON);
    assert_int_equal(saq_worker_add_cron(w, "noop", "* * * * *", "{\"ttl\": -1e20}"), SAQ_EJSON);
    /* an option name is read whole: "timeout\u0000x" is not timeout */
    assert_int_equal(saq_worker_add_cron(w, "noop", "* * * * *", "{\"timeout\\u0000x\": 5}"), SAQ_EINVAL);
    /* checklists 30, 31: a per-second cron job runs; kwargs and options are stored */
    assert_int_equal(saq_worker_add_cron(w, "noop", "* * * * * */1", "{\"kwargs\": {\"x\": 1}, \"timeout\": 5}"), 0);
    atomic_store(&runs, 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    double end = now_s() + 5;
    while (atomic_load(&runs) < 2 && now_s() < end)
        sleep_ms(20);
    assert_true(atomic_load(&runs) >= 2);
    char *raw = stored(q, "cron:noop");
    assert_non_null(raw);
    assert_non_null(strstr(raw, "\"kwargs\": {\"x\": 1}"));
    assert_non_null(strstr(raw, "\"timeout\": 5"));
    const char *sch = strstr(raw, "\"scheduled\": ");
    assert_non_null(sch);
    assert_null(strchr(strtok((char *)sch + 13, ","), '.')); /* integer seconds */
    free(raw);
    stop_worker(w);
    saq_queue_free(q);
}

/* The next epoch second after t at wall time hh:00 in a zone whose offset
 * is always off_s (no DST). */
static long long next_wall_hour(long long t, int hh, int off_s)
{
    long long day = (t + off_s) / 86400 * 86400 - off_s + hh * 3600LL;
    return day > t ? day : day + 86400;
}

static void test_cron_tz(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("crontz", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    /* a name that is no zone: SAQ_ECRON, saying so */
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *", "{\"cron_tz\": \"Mars/Olympus\"}"),
                     SAQ_ECRON);
    assert_non_null(strstr(saq_worker_errmsg(w), "unknown time zone 'Mars/Olympus'"));
    /* not a string: a bad option value */
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *", "{\"cron_tz\": 5}"), SAQ_EJSON);
    assert_string_equal(saq_worker_errmsg(w),
                        "cron option 'cron_tz' must be a string (an IANA zone name) or null");
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *", "{\"cron_tz\": \"UTC \"}"), SAQ_ECRON);
    /* null is UTC */
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *", "{\"cron_tz\": null}"), 0);
    /* a zone never makes an impossible date possible */
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 0 31 2 *", "{\"cron_tz\": \"Asia/Kolkata\"}"),
                     SAQ_ECRON);
    assert_non_null(strstr(saq_worker_errmsg(w), "never fires"));
    saq_worker_free(w);

    /* 03:00 in Kolkata (+05:30, no DST) is 21:30 UTC: the worker schedules
     * the run there, where UTC would give 03:00 UTC */
    w = mkworker(q, NULL);
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *",
                                         "{\"cron_tz\": \"Asia/Kolkata\", \"unique\": true}"), 0);
    long long before = (long long)now_s();
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    char *raw = NULL;
    for (double end = now_s() + 5; !raw && now_s() < end; sleep_ms(20))
        raw = stored(q, "cron:noop");
    long long after = (long long)now_s();
    assert_non_null(raw);
    const char *sch = strstr(raw, "\"scheduled\": ");
    assert_non_null(sch);
    long long got = atoll(sch + 13);
    long long want1 = next_wall_hour(before, 3, 19800), want2 = next_wall_hour(after, 3, 19800);
    if (got != want1 && got != want2)
        fail_msg("scheduled %lld, want %lld (03:00 Asia/Kolkata)", got, want1);
    assert_int_not_equal(got, next_wall_hour(before, 3, 0)); /* not 03:00 UTC */
    free(raw);
    stop_worker(w);

    /* the worker's conf key cron_tz (saq's Worker(cron_tz=...)): the default of its cron jobs */
    saq_conf_t *c = saq_conf_new();
    int rc = saq_conf_set(c, "cron_tz", "Mars/Olympus");
    assert_true(rc == SAQ_EINVAL && strstr(saq_conf_errmsg(c), "unknown time zone 'Mars/Olympus'"));
    assert_null(saq_conf_get(c, "cron_tz")); /* refused: not set */
    saq_conf_free(c);
    const char *kv[] = {"cron_tz", "Asia/Kolkata", NULL};
    w = mkworker(q, kv);
    assert_string_equal(saq_worker_conf_get(w, "cron_tz"), "Asia/Kolkata");
    /* forget the run above (a unique key is not enqueued again while it is incomplete) */
    freeReplyObject(rh_cmd(RC, "DEL saq:job:%s:cron:noop", saq_queue_name(q)));
    freeReplyObject(rh_cmd(RC, "ZREM saq:%s:incomplete saq:job:%s:cron:noop", saq_queue_name(q),
                           saq_queue_name(q)));
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *", NULL), 0);
    /* its own cron_tz (null or "": UTC) overrides the worker's */
    assert_int_equal(saq_worker_add_cron(w, "dict", "0 3 * * *", "{\"cron_tz\": \"\"}"), 0);
    before = (long long)now_s();
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    char *r1 = NULL, *r2 = NULL;
    for (double end = now_s() + 5; (!r1 || !r2) && now_s() < end; sleep_ms(20)) {
        if (!r1)
            r1 = stored(q, "cron:noop");
        if (!r2)
            r2 = stored(q, "cron:dict");
    }
    after = (long long)now_s();
    assert_non_null(r1);
    assert_non_null(r2);
    got = atoll(strstr(r1, "\"scheduled\": ") + 13);
    assert_true(got == next_wall_hour(before, 3, 19800) || got == next_wall_hour(after, 3, 19800));
    got = atoll(strstr(r2, "\"scheduled\": ") + 13);
    assert_true(got == next_wall_hour(before, 3, 0) || got == next_wall_hour(after, 3, 0));
    free(r1);
    free(r2);
    stop_worker(w);
    saq_queue_free(q);
}

/* Wait until the stored run cron:<fn> is scheduled at 03:00 at UTC offset off_s, the next one
 * after `before` (the worker's start) or after now; fail after 5 s. */
static void wait_cron_at_3(saq_queue_t *q, const char *fn, long long before, int off_s, const char *what)
{
    char key[64];
    snprintf(key, sizeof key, "cron:%s", fn);
    long long got = -1;
    for (double end = now_s() + 5; now_s() < end; sleep_ms(50)) {
        char *raw = stored(q, key);
        const char *sch = raw ? strstr(raw, "\"scheduled\": ") : NULL;
        got = sch ? atoll(sch + 13) : -1;
        free(raw);
        if (got == next_wall_hour(before, 3, off_s) || got == next_wall_hour((long long)now_s(), 3, off_s))
            return;
    }
    fail_msg("%s: cron:%s scheduled %lld, want %lld", what, fn, got, next_wall_hour(before, 3, off_s));
}

/* Re-registering a unique cron job with another zone: within one worker the later
 * saq_worker_add_cron replaces the earlier, and a worker started with a new zone moves the run
 * stored by the previous one to its own time (null and "" are UTC, over the worker's cron_tz). */
static void test_cron_tz_reregistered(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("crontz-re", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *", "{\"cron_tz\": \"Asia/Kolkata\"}"), 0);
    assert_int_equal(saq_worker_add_cron(w, "dict", "0 3 * * *", "{\"cron_tz\": \"Asia/Kolkata\"}"), 0);
    long long before = (long long)now_s();
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    wait_cron_at_3(q, "noop", before, 19800, "first worker, Kolkata");
    wait_cron_at_3(q, "dict", before, 19800, "first worker, Kolkata");
    stop_worker(w);

    /* the next worker's default zone is Kolkata, but its cron jobs say UTC (null, ""): the
     * stored runs follow them; in one worker the last registration of a function counts */
    const char *kv[] = {"cron_tz", "Asia/Kolkata", NULL};
    w = mkworker(q, kv);
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *", "{\"cron_tz\": \"Asia/Kolkata\"}"), 0);
    assert_int_equal(saq_worker_add_cron(w, "noop", "0 3 * * *", "{\"cron_tz\": null}"), 0);
    assert_int_equal(saq_worker_add_cron(w, "dict", "0 3 * * *", "{\"cron_tz\": \"\"}"), 0);
    before = (long long)now_s();
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    wait_cron_at_3(q, "noop", before, 0, "second worker, null");
    wait_cron_at_3(q, "dict", before, 0, "second worker, \"\"");
    stop_worker(w);
    /* one run each is stored, nothing else */
    redisReply *r = rh_cmd(RC, "ZCARD saq:%s:incomplete", saq_queue_name(q));
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    saq_queue_free(q);
}

static void test_mark_refuses_swept_and_duplicates(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("mark", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* U1: the same id twice in queued (saq's retry of a scheduled job) runs once */
    saq_job_t *j = enq(q, "sleep", "{\"ms\": 200}");
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:%s", n, n, saq_job_key(j)));
    atomic_store(&runs, 0);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_free(wait_status(q, saq_job_key(j), "complete", TMO));
    sleep_ms(200);
    assert_int_equal(atomic_load(&runs), 1);
    ASSERT_COUNTS(q, 0, 0, 0); /* the stale duplicate entry was dropped from active */
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

static void test_heartbeat_enforced(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("hb", NULL, NULL);
    const char *kv[] = {"timers.abort", "0.05", NULL};
    saq_worker_t *w = mkworker(q, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    /* a job that never touches within its heartbeat is swept by its own worker */
    saq_job_t *j = enq(q, "sleep", "{\"ms\": 5000, \"timeout\": 0, \"heartbeat\": 0.2}");
    saq_job_t *d = wait_status(q, saq_job_key(j), "aborted", 3000);
    assert_string_equal(saq_job_error(d), "swept");
    saq_job_free(d);
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

static void test_worker_sweep_uses_its_swept_message(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("sweptmsg", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* a job stuck active (its heartbeat long missed) is swept by the worker's
     * sweep timer with the worker's swept_error_message (the sweep used the
     * queue conf's, so a message set on the worker only applied to its own
     * missed heartbeats) */
    long long old = (long long)(now_s() * 1000) - 60000;
    char rec[512];
    snprintf(rec, sizeof rec,
             "{\"function\": \"noop\", \"key\": \"stuck\", \"queue\": \"%s\", \"heartbeat\": 1, "
             "\"retries\": 0, \"attempts\": 1, \"started\": %lld, \"touched\": %lld, "
             "\"status\": \"active\", \"worker_id\": \"ghost\"}", n, old, old);
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:stuck %s", n, rec));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:active saq:job:%s:stuck", n, n));
    const char *kv[] = {"dead_worker_check", "0", "timers.sweep", "0.3", "swept_error_message",
                        "gone fishing", NULL};
    saq_worker_t *w = mkworker(q, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *d = wait_status(q, "stuck", "aborted", TMO);
    assert_string_equal(saq_job_error(d), "gone fishing");
    saq_job_free(d);
    stop_worker(w);
    saq_queue_free(q);
}

static void test_dead_worker_recovery(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("dead", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* a job marked active by a worker that is gone (no registry entry), with a
     * long timeout: recovered in seconds, not after its timeout */
    saq_job_t *j = enq(q, "noop", "{\"timeout\": 3600, \"retries\": 2}");
    freeReplyObject(rh_cmd(RC, "LMOVE saq:%s:queued saq:%s:active LEFT RIGHT", n, n));
    char *raw = stored(q, saq_job_key(j));
    saq_job_t *a = saq_job_from_json(raw);
    free(raw);
    char *body = strdup(saq_job_to_json(a));
    char *p = strstr(body, "\"status\": \"queued\"");
    char patched[4096];
    snprintf(patched, sizeof patched, "%.*s\"attempts\": 1, \"started\": %lld, \"status\": \"active\", \"worker_id\": \"ghost-worker\"%s",
             (int)(p - body), body, (long long)(now_s() * 1000), p + strlen("\"status\": \"queued\""));
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:%s %s", n, saq_job_key(j), patched));
    free(body);
    saq_job_free(a);
    const char *kv[] = {"dead_worker_check", "0.2", NULL};
    saq_worker_t *w = mkworker(q, kv);
    double t0 = now_s();
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *d = wait_status(q, saq_job_key(j), "complete", TMO);
    assert_true(now_s() - t0 < 5);
    assert_int_equal(saq_job_attempts(d), 2);
    saq_job_free(d);
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

/* ---- pull mode ---- */

/* The next pull-mode event other than OUTCOME (which follows every settled lease). */
static saq_event_t *poll_no_outcome(saq_cq_t *cq)
{
    saq_event_t *ev;
    while ((ev = saq_cq_poll(cq, TMO)) && saq_event_type(ev) == SAQ_EVENT_OUTCOME)
        saq_event_free(ev);
    return ev;
}

static void test_pull_mode(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("pull", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_register_pull(w, "remote"), 0);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_worker_start(w, cq, 77), 0);
    assert_int_equal(saq_worker_register_pull(w, "late"), SAQ_ESTATE);
    saq_job_t *j = enq(q, "remote", "{\"x\": 5}");
    saq_event_t *ev = poll_no_outcome(cq);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LEASE);
    assert_int_equal(saq_event_tag(ev), 77);
    saq_job_t *lease = saq_event_take_job(ev);
    assert_true(saq_event_int(ev) > 0);
    assert_int_equal(saq_job_lease_id(lease), (uint64_t)saq_event_int(ev));
    saq_event_free(ev);
    assert_string_equal(saq_job_kwargs(lease), "{\"x\": 5}");
    assert_int_equal(saq_job_touch(lease, "{\"progress\": 0.5}"), 0);
    /* a refused field is an error here (it used to drop the touch silently) */
    assert_int_equal(saq_job_touch(lease, "{\"progress\": \"half\"}"), SAQ_EINVAL);
    assert_non_null(strstr(saq_job_errmsg(lease), "progress"));
    assert_int_equal(saq_job_complete(lease, "[1, 2]"), 0);
    assert_int_equal(saq_job_complete(lease, "[1, 2]"), SAQ_ESTATE); /* settled once */
    saq_job_free(lease);
    saq_job_t *d = wait_status(q, saq_job_key(j), "complete", TMO);
    assert_string_equal(saq_job_result(d), "[1, 2]");
    saq_job_free(d);
    saq_job_free(j);
    /* a timeout sends a CANCEL event for the lease */
    j = enq(q, "remote", "{\"timeout\": 0.1}");
    ev = poll_no_outcome(cq);
    lease = saq_event_take_job(ev);
    saq_event_free(ev);
    ev = poll_no_outcome(cq);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_CANCEL);
    assert_int_equal(saq_event_int(ev), SAQ_CANCEL_TIMEOUT);
    assert_string_equal(saq_event_key(ev), saq_job_key(j));
    assert_int_equal(saq_job_cancelled(lease), SAQ_CANCEL_TIMEOUT);
    saq_event_free(ev);
    saq_job_fail(lease, "CancelledError");
    saq_job_free(lease);
    d = wait_status(q, saq_job_key(j), "failed", TMO);
    assert_non_null(strstr(saq_job_error(d), "TimeoutError"));
    saq_job_free(d);
    saq_job_free(j);
    /* a lease freed without settling is not lost: it counts as a failed
     * attempt (retried while retries remain, never a hot retry loop) */
    j = enq(q, "remote", "{\"retries\": 1}");
    ev = poll_no_outcome(cq);
    saq_event_free(ev); /* frees the job inside without settling it */
    d = wait_status(q, saq_job_key(j), "failed", TMO);
    assert_non_null(strstr(saq_job_error(d), "without settling"));
    assert_int_equal(saq_job_attempts(d), 1);
    saq_job_free(d);
    saq_job_free(j);
    j = enq(q, "remote", "{\"retries\": 2}");
    ev = poll_no_outcome(cq);
    saq_event_free(ev);
    ev = poll_no_outcome(cq); /* ... retried once */
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LEASE);
    lease = saq_event_take_job(ev);
    saq_event_free(ev);
    assert_int_equal(saq_job_attempts(lease), 2);
    saq_job_complete(lease, NULL);
    saq_job_free(lease);
    saq_job_free(wait_status(q, saq_job_key(j), "complete", TMO));
    saq_job_free(j);
    saq_worker_stop(w, 0);
    ev = poll_no_outcome(cq);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_WORKER_STOPPED);
    saq_event_free(ev);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* The next event, which must be of `type`. */
static saq_event_t *expect_event(saq_cq_t *cq, int type)
{
    saq_event_t *ev = saq_cq_poll(cq, TMO);
    assert_non_null(ev);
    if (saq_event_type(ev) != type)
        fail_msg("event type %d (key %s, status %d), expected %d", saq_event_type(ev),
                 saq_event_key(ev) ? saq_event_key(ev) : "-", saq_event_status(ev), type);
    return ev;
}

/* The next LEASE: its job (taken), its lease id in *id. */
static saq_job_t *expect_lease(saq_cq_t *cq, int64_t *id)
{
    saq_event_t *ev = expect_event(cq, SAQ_EVENT_LEASE);
    saq_job_t *job = saq_event_take_job(ev);
    *id = saq_event_int(ev);
    saq_event_free(ev);
    return job;
}

/* The next OUTCOME, for lease `id` of job `key`, stored: asserts status and error of the
 * stored copy it carries and that it is the record in Redis, byte for byte. */
static void expect_outcome(saq_queue_t *q, saq_cq_t *cq, int64_t id, const char *key,
                           const char *status, const char *error, int attempts)
{
    saq_event_t *ev = expect_event(cq, SAQ_EVENT_OUTCOME);
    if (saq_event_status(ev) != SAQ_OK)
        fail_msg("OUTCOME %s: %s", key, saq_event_errmsg(ev));
    assert_int_equal(saq_event_int(ev), id);
    assert_int_equal(saq_event_tag(ev), 9);
    assert_string_equal(saq_event_key(ev), key);
    saq_job_t *o = saq_event_job(ev);
    assert_non_null(o);
    assert_int_equal(saq_job_lease_id(o), 0); /* a copy, not the lease */
    assert_string_equal(saq_job_status(o), status);
    if (error)
        assert_string_equal(saq_job_error(o), error);
    else
        assert_null(saq_job_error(o));
    assert_int_equal(saq_job_attempts(o), attempts);
    char *rec = stored(q, key);
    assert_string_equal(saq_job_to_json(o), rec);
    free(rec);
    saq_event_free(ev);
}

/* A pull-mode host is told each outcome as libsaq stored it (OUTCOME: the
 * abort reason, the configured swept message, the timeout text as C writes
 * it), and a lease its handler keeps past the hard deadline is let go of
 * (GIVEN_BACK), freeing its slot, as saq lets go of a task that ignores its
 * cancellation. Before, pull mode had neither event, the bindings predicted
 * both, and such a lease held its slot until the host returned. */
static void test_pull_outcome_and_given_back(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("outcome", NULL, NULL);
    const char *kv[] = {"concurrency", "1", "cancellation_hard_deadline", "0.2", "timers.abort", "0.05",
                        "swept_error_message", "gone fishing", NULL};
    saq_worker_t *w = mkworker(q, kv);
    assert_int_equal(saq_worker_register_pull(w, "remote"), 0);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_worker_start(w, cq, 9), 0);
    int64_t id;
    /* complete */
    saq_job_t *j = enq(q, "remote", NULL);
    saq_job_t *lease = expect_lease(cq, &id);
    assert_int_equal(saq_job_complete(lease, "[1]"), 0);
    saq_job_free(lease);
    expect_outcome(q, cq, id, saq_job_key(j), "complete", NULL, 1);
    saq_job_free(j);
    /* a failure retried (after a delay, so the record read below is still
     * the one written, not the next run's), then failed */
    j = enq(q, "remote", "{\"retries\": 2, \"retry_delay\": 0.3}");
    lease = expect_lease(cq, &id);
    saq_job_fail(lease, "boom");
    saq_job_free(lease);
    expect_outcome(q, cq, id, saq_job_key(j), "queued", "boom", 1);
    lease = expect_lease(cq, &id);
    saq_job_fail(lease, "boom again");
    saq_job_free(lease);
    expect_outcome(q, cq, id, saq_job_key(j), "failed", "boom again", 2);
    saq_job_free(j);
    /* a timeout whose handler keeps the job: failed with C's text after the
     * hard deadline, then given back */
    j = enq(q, "remote", "{\"timeout\": 1}");
    lease = expect_lease(cq, &id);
    saq_event_t *ev = expect_event(cq, SAQ_EVENT_CANCEL);
    assert_int_equal(saq_event_int(ev), SAQ_CANCEL_TIMEOUT);
    saq_event_free(ev);
    char text[200];
    snprintf(text, sizeof text, "TimeoutError: job %s timed out after 1 seconds", saq_job_key(j));
    expect_outcome(q, cq, id, saq_job_key(j), "failed", text, 1);
    ev = expect_event(cq, SAQ_EVENT_GIVEN_BACK);
    assert_int_equal(saq_event_int(ev), id);
    assert_string_equal(saq_event_key(ev), saq_job_key(j));
    saq_event_free(ev);
    /* its slot is free (concurrency 1) while the host still holds the job */
    saq_job_t *j2 = enq(q, "remote", NULL);
    int64_t id2;
    saq_job_t *lease2 = expect_lease(cq, &id2);
    saq_job_complete(lease2, NULL);
    saq_job_free(lease2);
    expect_outcome(q, cq, id2, saq_job_key(j2), "complete", NULL, 1);
    saq_job_free(j2);
    assert_int_equal(saq_job_complete(lease, "\"late\""), SAQ_ESTATE);
    assert_non_null(strstr(saq_job_errmsg(lease), "gave this job back"));
    saq_job_free(lease);
    saq_job_free(j);
    /* a missed heartbeat: aborted with the worker's swept message */
    j = enq(q, "remote", "{\"timeout\": 0, \"heartbeat\": 0.2}");
    lease = expect_lease(cq, &id);
    ev = expect_event(cq, SAQ_EVENT_CANCEL);
    assert_int_equal(saq_event_int(ev), SAQ_CANCEL_HEARTBEAT);
    saq_event_free(ev);
    expect_outcome(q, cq, id, saq_job_key(j), "aborted", "gone fishing", 1);
    saq_event_free(expect_event(cq, SAQ_EVENT_GIVEN_BACK));
    saq_job_free(lease);
    saq_job_free(j);
    /* an abort: the reason given to it */
    j = enq(q, "remote", NULL);
    lease = expect_lease(cq, &id);
    saq_event_free(OK_EV(saq_queue_abort_sync(q, saq_job_key(j), "stop it", 5, TMO)));
    ev = expect_event(cq, SAQ_EVENT_CANCEL);
    assert_int_equal(saq_event_int(ev), SAQ_CANCEL_ABORTED);
    saq_event_free(ev);
    saq_job_fail(lease, "CancelledError");
    saq_job_free(lease);
    expect_outcome(q, cq, id, saq_job_key(j), "aborted", "stop it", 1);
    saq_job_free(j);
    saq_worker_stop(w, 0);
    saq_event_free(expect_event(cq, SAQ_EVENT_WORKER_STOPPED));
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* saq_worker_conf_get: the settings the worker runs with, defaults and its
 * own adjustments included, so the bindings need no copy of the defaults. */
static void test_worker_conf_get(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("confget", "max_payload_bytes", "65536");
    saq_worker_t *w = saq_worker_new(q, NULL);
    assert_non_null(w);
    const char *defaults[][2] = {
        {"cancellation_hard_deadline", "1"}, {"shutdown_grace_period", "0"},
        {"swept_error_message", "swept"},    {"concurrency", "10"},
        {"dequeue_timeout", "0"},            {"burst", "false"},
        {"max_burst_jobs", "0"},             {"metadata", "null"},
        {"timers.schedule", "1"},            {"timers.stats", "10"},
        {"timers.sweep", "60"},              {"timers.liveness", "0.5"},
        {"dead_worker_check", "1"},          {"max_payload_bytes", "65536"},
        {"dialect", "0.26"},                 {"max_concurrent_ops", "20"},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        const char *v = saq_worker_conf_get(w, defaults[i][0]);
        if (!v || strcmp(v, defaults[i][1]))
            fail_msg("%s = %s, expected %s", defaults[i][0], v ? v : "NULL", defaults[i][1]);
    }
    assert_string_equal(saq_worker_conf_get(w, "id"), saq_worker_id(w));
    assert_string_equal(saq_worker_conf_get(w, "url"), R->url);
    assert_string_equal(saq_worker_conf_get(w, "name"), saq_queue_name(q));
    assert_null(saq_worker_conf_get(w, "nope"));
    assert_null(saq_worker_conf_get(w, NULL));
    assert_null(saq_worker_conf_get(NULL, "id"));
    saq_worker_free(w);
    const char *kv[] = {"cancellation_hard_deadline", "0.250", "shutdown_grace_period", "2.5",
                        "concurrency", "50", "burst", "on", "dequeue_timeout", "1",
                        "max_burst_jobs", "3", "swept_error_message", "gone fishing", "id", "w-1",
                        "metadata", "{\"a\": 1}", NULL};
    w = mkworker(q, kv);
    const char *set[][2] = {
        {"cancellation_hard_deadline", "0.25"}, {"shutdown_grace_period", "2.5"},
        {"concurrency", "3"}, /* capped by max_burst_jobs, as saq does */
        {"burst", "true"}, {"swept_error_message", "gone fishing"}, {"id", "w-1"},
        {"metadata", "{\"a\": 1}"},
    };
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        assert_string_equal(saq_worker_conf_get(w, set[i][0]), set[i][1]);
    saq_worker_free(w);
    saq_queue_free(q);
}

static void test_concurrency_bound(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("conc", NULL, NULL);
    const char *kv[] = {"concurrency", "3", NULL};
    saq_worker_t *w = mkworker(q, kv);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    for (int i = 0; i < 9; i++)
        saq_job_free(enq(q, "sleep", "{\"ms\": 300}"));
    sleep_ms(150);
    assert_int_equal(qcount(q, "active"), 3);
    assert_int_equal(qcount(q, "queued"), 6);
    double end = now_s() + 5;
    while (qcount(q, "incomplete") > 0 && now_s() < end)
        sleep_ms(20);
    ASSERT_COUNTS(q, 0, 0, 0);
    stop_worker(w);
    saq_queue_free(q);
}

/* min_replicas: every finish waits for the replicas (WAIT), whether it went
 * alone (FINISH) or with others settled in the same turn (FINISHES), and a
 * finish is not failed when fewer replicas answer (it is asked again, then
 * kept): here a server without replicas, 40 jobs at concurrency 20. */
static saq_queue_t *queue_named(const char *name, int min_replicas)
{
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", R->url), 0);
    assert_int_equal(saq_conf_set(c, "name", name), 0);
    if (min_replicas) {
        assert_int_equal(saq_conf_set(c, "min_replicas", "1"), 0);
        assert_int_equal(saq_conf_set(c, "min_replicas_timeout_ms", "2"), 0);
    }
    saq_queue_t *q = saq_queue_new(c);
    assert_non_null(q);
    saq_conf_free(c);
    return q;
}

static void test_finishes_wait_for_replicas(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "%s", rh_queue_name("mrep"));
    saq_queue_t *qw = queue_named(name, 1), *qe = queue_named(name, 0);
    const char *kv[] = {"concurrency", "10", NULL};
    saq_worker_t *w = mkworker(qw, kv);
    for (int i = 0; i < 10; i++)
        saq_job_free(enq(qe, "noop", NULL));
    freeReplyObject(redisCommand(RC, "CONFIG RESETSTAT"));
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    double end = now_s() + 30;
    while (qcount(qe, "incomplete") > 0 && now_s() < end)
        sleep_ms(20);
    ASSERT_COUNTS(qe, 0, 0, 0);
    /* the finishes' replies wait for their WAITs (each blocks the connection
     * for min_replicas_timeout_ms, asked up to 30 times): let them end */
    saq_worker_stop(w, 0);
    assert_int_equal(saq_worker_wait(w, 60000), 0);
    saq_worker_free(w);
    redisReply *x = redisCommand(RC, "INFO commandstats");
    const char *p = x && x->str ? strstr(x->str, "cmdstat_wait:calls=") : NULL;
    long waits = p ? atol(p + strlen("cmdstat_wait:calls=")) : 0;
    freeReplyObject(x);
    if (waits < 10 * 2) /* each finish asked at least twice: none had a replica */
        fail_msg("%ld WAITs for 10 finishes", waits);
    saq_queue_free(qw);
    saq_queue_free(qe);
}

/* A small max_payload_bytes: a small result completes (it was refused
 * whenever it had less than 4 KiB to spare, even "null"); a result that with
 * its record is over the limit fails the job, saying so. */
static void h_sized(saq_job_t *job, void *ud)
{
    (void)ud;
    const char *kw = saq_job_kwargs(job);
    const char *p = kw ? strstr(kw, "\"n\": ") : NULL;
    int n = p ? atoi(p + 5) : 1;
    char *r = malloc((size_t)n + 3);
    r[0] = '"';
    memset(r + 1, 'x', (size_t)n);
    r[n + 1] = '"';
    r[n + 2] = 0;
    saq_job_complete(job, r);
    free(r);
    saq_job_free(job);
}

static void test_small_max_payload(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("smallpay", "max_payload_bytes", "2048");
    saq_worker_t *w = mkworker(q, NULL);
    saq_worker_register(w, "sized", h_sized, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *a = enq(q, "sized", "{\"n\": 10}"), *b = enq(q, "noop", NULL), *c = enq(q, "sized", "{\"n\": 3000}");
    saq_job_t *d = wait_status(q, saq_job_key(a), "complete", TMO);
    assert_int_equal(strlen(saq_job_result(d)), 12);
    saq_job_free(d);
    saq_job_free(wait_status(q, saq_job_key(b), "complete", TMO));
    d = wait_status(q, saq_job_key(c), "failed", TMO);
    assert_non_null(strstr(saq_job_error(d), "with its record"));
    assert_non_null(strstr(saq_job_error(d), "max_payload_bytes (2048)"));
    saq_job_free(d);
    saq_job_free(a);
    saq_job_free(b);
    saq_job_free(c);
    stop_worker(w);
    saq_queue_free(q);
}

/* dump/load: a byte transform around the canonical JSON (here a "Z:" prefix
 * and reversed bytes). The Lua scripts cannot read such records, so they run
 * in their opaque mode; the worker must still run jobs end to end. */
static int t_dump(const char *in, size_t n, char **out, size_t *outn, void *ud)
{
    (void)ud;
    char *o = saq_alloc(n + 2);
    o[0] = 'Z', o[1] = ':';
    for (size_t i = 0; i < n; i++)
        o[2 + i] = in[n - 1 - i];
    *out = o;
    *outn = n + 2;
    return 0;
}

static int t_load(const char *in, size_t n, char **out, size_t *outn, void *ud)
{
    (void)ud;
    if (n < 2 || in[0] != 'Z' || in[1] != ':')
        return -1;
    char *o = saq_alloc(n - 2);
    for (size_t i = 0; i < n - 2; i++)
        o[i] = in[n - 1 - i];
    *out = o;
    *outn = n - 2;
    return 0;
}

static void test_dump_load_transform(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "url", R->url);
    saq_conf_set(c, "name", rh_queue_name("transform"));
    assert_int_equal(saq_conf_set_transform(c, t_dump, NULL, NULL), SAQ_EINVAL); /* both or neither */
    assert_int_equal(saq_conf_set_transform(c, t_dump, t_load, NULL), 0);
    saq_queue_t *q = saq_queue_new(c);
    saq_conf_free(c);
    saq_job_t *j = enq(q, "dict", "{\"x\": 1}");
    char *raw = stored(q, saq_job_key(j));
    assert_memory_equal(raw, "Z:}", 3); /* stored transformed */
    free(raw);
    saq_job_t *g = getjob(q, saq_job_key(j));
    assert_non_null(g);
    assert_string_equal(saq_job_kwargs(g), "{\"x\": 1}");
    saq_job_free(g);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *d = wait_status(q, saq_job_key(j), "complete", TMO);
    assert_string_equal(saq_job_result(d), "{\"a\": 1, \"b\": []}");
    saq_job_free(d);
    saq_job_free(j);
    /* heartbeats and progress reach a transformed record too (they were not
     * written at all: a job with a heartbeat was swept as missing them) */
    j = enq(q, "toucher", "{\"heartbeat\": 0.4, \"timeout\": 10}");
    double end = now_s() + 5;
    int seen = 0;
    while (!seen && now_s() < end) {
        g = getjob(q, saq_job_key(j));
        seen = g && saq_job_progress(g) == 0.5;
        saq_job_free(g);
        sleep_ms(20);
    }
    assert_true(seen);
    d = wait_status(q, saq_job_key(j), "complete", TMO);
    assert_string_equal(saq_job_result(d), "\"touched\"");
    assert_int_equal(saq_job_attempts(d), 1);
    saq_job_free(d);
    saq_job_free(j);
    stop_worker(w);
    saq_queue_free(q);
}

/* listen, apply and map on one queue share ONE pattern subscription */
static void test_one_pattern_subscription(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("psub", NULL, NULL);
    saq_worker_t *w = mkworker(q, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_cq_t *cq = saq_cq_new();
    for (int i = 0; i < 5; i++)
        assert_int_equal(saq_queue_listen(q, "[\"x\", \"y\"]", 0, cq, 100 + (uint64_t)i), 0);
    for (int i = 0; i < 3; i++) {
        saq_job_t *j = saq_job_new("sleep");
        saq_job_set_kwargs(j, "{\"ms\": 300}");
        assert_int_equal(saq_queue_apply(q, j, 5, cq, (uint64_t)i), 0);
        saq_job_free(j);
    }
    assert_int_equal(saq_queue_map(q, "noop", "[{}, {}]", NULL, 5, 0, cq, 50), 0);
    sleep_ms(150);
    /* exactly one pub/sub connection for this queue (connections are named
     * libsaq:<role>:<queue>), subscribed to one pattern */
    char *list = rh_str(RC, "CLIENT LIST TYPE pubsub");
    char want[200];
    snprintf(want, sizeof want, "name=libsaq:sub:%s ", saq_queue_name(q));
    int n = 0;
    for (const char *p = list; (p = strstr(p, want)); p++)
        n++;
    assert_int_equal(n, 1);
    assert_non_null(strstr(strstr(list, want), "psub=1"));
    free(list);
    for (int i = 0; i < 4; i++) { /* the three applies and the map complete */
        saq_event_t *ev = saq_cq_poll(cq, TMO);
        assert_non_null(ev);
        assert_int_equal(saq_event_status(ev), 0);
        saq_event_free(ev);
    }
    for (int i = 0; i < 5; i++)
        saq_queue_listen_stop(q, cq, 100 + (uint64_t)i);
    saq_cq_free(cq);
    stop_worker(w);
    saq_queue_free(q);
}

static saq_job_t *kept;
static void h_keep(saq_job_t *job, void *ud)
{
    (void)ud;
    kept = job; /* never settles it */
}

static void h_huge(saq_job_t *job, void *ud)
{
    (void)ud;
    size_t n = 20u << 20;
    char *r = malloc(n + 3);
    r[0] = '"';
    memset(r + 1, 'x', n);
    strcpy(r + 1 + n, "\"");
    assert_int_equal(saq_job_complete(job, r), SAQ_ETOOBIG);
    free(r);
    saq_job_free(job);
}

static void h_hugefail(saq_job_t *job, void *ud)
{
    (void)ud;
    size_t n = 20u << 20;
    char *r = malloc(n + 1);
    memset(r, 'e', n);
    r[n] = 0;
    memcpy(r, "RuntimeError: \xc3\xa9", 16); /* a two-byte character near the start */
    saq_job_fail(job, r);
    free(r);
    saq_job_free(job);
}

/* Found by break-testing: handlers that keep or drop their job, oversized
 * results, and wrong-type keys among the queue's ids. */
static void test_misbehaving_handlers_and_keys(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("misbehave", NULL, NULL);
    const char *n = saq_queue_name(q);
    const char *kv[] = {"cancellation_hard_deadline", "0.3", "timers.sweep", "0.5", NULL};
    saq_worker_t *w = mkworker(q, kv);
    saq_worker_register(w, "keep", h_keep, NULL);
    saq_worker_register(w, "huge", h_huge, NULL);
    saq_worker_register(w, "hugefail", h_hugefail, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    /* an error text larger than max_payload_bytes is cut to fit (the job
     * used to stay active), at a character boundary */
    saq_job_t *hf = enq(q, "hugefail", "{\"retries\": 2}");
    /* two attempts of a 4 MB error text: slow under valgrind on a busy machine */
    saq_job_t *hd = wait_status(q, saq_job_key(hf), "failed", 3 * TMO);
    assert_int_equal(saq_job_attempts(hd), 2);
    assert_non_null(strstr(saq_job_error(hd), "RuntimeError: \xc3\xa9" "eee"));
    assert_non_null(strstr(saq_job_error(hd), "cut to fit max_payload_bytes"));
    assert_true(strlen(saq_job_error(hd)) < (16u << 20));
    saq_job_free(hd);
    saq_job_free(hf);
    /* a result larger than max_payload_bytes: SAQ_ETOOBIG, and the job fails */
    saq_job_t *j = enq(q, "huge", NULL);
    saq_job_t *d = wait_status(q, saq_job_key(j), "failed", TMO);
    assert_non_null(strstr(saq_job_error(d), "max_payload_bytes"));
    saq_job_free(d);
    saq_job_free(j);
    /* a wrong-type key listed in queued neither strands the jobs around it
     * nor goes unseen: it is failed visibly, the key itself kept (it used to
     * be dropped from the lists without a trace) */
    saq_job_t *a = enq(q, "noop", NULL);
    freeReplyObject(rh_cmd(RC, "HSET saq:job:%s:ahash f v", n));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 saq:job:%s:ahash", n, n));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:ahash", n, n));
    saq_job_t *b = enq(q, "noop", NULL);
    saq_job_free(wait_status(q, saq_job_key(a), "complete", TMO));
    saq_job_free(wait_status(q, saq_job_key(b), "complete", TMO));
    d = wait_status(q, "ahash", "failed", TMO);
    /* the type named when a batch dequeue moved it; a blocking one's GET only says WRONGTYPE */
    assert_true(strstr(saq_job_error(d), "its key holds a hash, not a job record") ||
                strstr(saq_job_error(d), "its key holds another type than a string, not a job record"));
    saq_job_free(d);
    assert_int_equal(qcount(q, "active"), 0);
    assert_int_equal(rh_int(RC, "ZCARD saq:%s:incomplete", n), 0);
    redisReply *ty = rh_cmd(RC, "TYPE saq:%s:libsaq:unreadable:ahash", n);
    assert_string_equal(ty->str, "hash"); /* kept as it was */
    freeReplyObject(ty);
    assert_true(rh_int(RC, "TTL saq:%s:libsaq:unreadable:ahash", n) > 0);
    assert_int_equal(rh_int(RC, "HLEN saq:%s:libsaq:unreadable:ahash", n), 1);
    saq_job_free(a);
    saq_job_free(b);
    /* a record written by another client with a timeout and heartbeat far
     * beyond any timer (1e300 s) runs once, with no limit in effect (the ms
     * conversion used to overflow: the job timed out at once, over and over) */
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:far %s", n,
                           "{\"function\": \"noop\", \"kwargs\": {}, \"key\": \"far\", \"timeout\": 1e300, "
                           "\"heartbeat\": 1e300, \"retries\": 5, \"status\": \"queued\"}"));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:far", n, n));
    d = wait_status(q, "far", "complete", TMO);
    assert_int_equal(saq_job_attempts(d), 1);
    assert_string_equal(saq_job_result(d), "1");
    saq_job_free(d);
    /* attempts beyond an int (read capped at INT32_MAX) are not incremented
     * past it (signed overflow: UBSan stops the old code here) */
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:many %s", n,
                           "{\"function\": \"noop\", \"kwargs\": {}, \"key\": \"many\", "
                           "\"attempts\": 9223372036854775808, \"status\": \"queued\"}"));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:many", n, n));
    d = wait_status(q, "many", "complete", TMO);
    assert_int_equal(saq_job_attempts(d), 2147483647);
    saq_job_free(d);
    /* a handler that keeps its job: the stop still ends after the hard
     * deadline, the job is retried "cancelled", the late settle is refused */
    j = enq(q, "keep", "{\"timeout\": 0}");
    saq_job_free(wait_status(q, saq_job_key(j), "active", TMO));
    saq_worker_stop(w, 0);
    double t0 = now_s();
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    assert_true(now_s() - t0 < 5);
    d = getjob(q, saq_job_key(j));
    assert_string_equal(saq_job_status(d), "queued");
    assert_string_equal(saq_job_error(d), "cancelled");
    saq_job_free(d);
    assert_int_equal(saq_job_complete(kept, "1"), SAQ_ESTATE);
    saq_job_free(kept);
    saq_job_free(j);
    saq_worker_free(w);
    saq_queue_free(q);
}

/* Tearing down a worker and its queue right after leases were handed out,
 * in the documented order (worker first): some leases are still being
 * marked active, and after_process hooks are still running. The queue's
 * teardown dropped those leases while their MARK reply (and the hook's
 * completion message) still pointed at them: a use-after-free under ASan. */
static atomic_int nslow_after;
static int hook_slow_after(saq_worker_t *w, saq_job_t *job, void *ud)
{
    (void)w, (void)job, (void)ud;
    atomic_fetch_add(&nslow_after, 1);
    sleep_ms(20);
    return 0;
}

static void test_teardown_while_marking_and_hooks(void **state)
{
    (void)state;
    for (int it = 0; it < 6; it++) {
        saq_queue_t *q = mkqueue("tdmark", NULL, NULL);
        const char *kv[] = {"concurrency", "100", NULL};
        saq_worker_t *w = mkworker(q, kv);
        assert_int_equal(saq_worker_register_pull(w, "remote"), 0);
        if (it % 2)
            assert_int_equal(saq_worker_add_hook(w, SAQ_HOOK_AFTER_PROCESS, hook_slow_after, NULL), 0);
        for (int i = 0; i < 100; i++)
            saq_job_free(enq(q, i % 2 ? "remote" : "noop", NULL));
        saq_cq_t *cq = saq_cq_new();
        assert_int_equal(saq_worker_start(w, cq, 1), 0);
        saq_event_t *ev = saq_cq_poll(cq, TMO); /* the first lease: others are being marked */
        assert_non_null(ev);
        saq_event_free(ev);
        if (it % 2)
            sleep_ms(10); /* let after hooks start */
        saq_worker_free(w);
        saq_queue_free(q);
        sleep_ms(50);
        while ((ev = saq_cq_poll(cq, 0)))
            saq_event_free(ev);
        saq_cq_free(cq);
    }
    sleep_ms(300); /* handler threads and hooks finish with the memory they hold */
}

/* A pull lease the stopping worker gave back (the host held it past the hard
 * deadline) and the host then freed without settling: the job stays retried
 * "cancelled", and nothing leaks (the refused settle left its message on a
 * temporary job that was never cleared: LeakSanitizer). A leased job used in
 * a forked child is refused with SAQ_EFORKED (touch posted to the parent's
 * inbox, taking a lock another parent thread may have held at the fork). */
static void test_given_back_lease_freed_and_forked(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("giveback", NULL, NULL);
    const char *kv[] = {"cancellation_hard_deadline", "0.2", NULL};
    saq_worker_t *w = mkworker(q, kv);
    assert_int_equal(saq_worker_register_pull(w, "remote"), 0);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_worker_start(w, cq, 5), 0);
    saq_job_t *j = enq(q, "remote", "{\"timeout\": 0}");
    saq_event_t *ev = saq_cq_poll(cq, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LEASE);
    saq_job_t *lease = saq_event_take_job(ev);
    saq_event_free(ev);
    pid_t pid = fork();
    if (pid == 0) {
        forked_child_no_leak_check();
        _exit(saq_job_touch(lease, "{\"progress\": 0.1}") == SAQ_EFORKED &&
                      saq_job_complete(lease, "1") == SAQ_EFORKED
                  ? 0
                  : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    saq_worker_stop(w, 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_job_t *d = getjob(q, saq_job_key(j));
    assert_string_equal(saq_job_status(d), "queued");
    assert_string_equal(saq_job_error(d), "cancelled");
    saq_job_free(d);
    saq_job_free(lease); /* unsettled, after the worker gave it back */
    saq_job_free(j);
    while ((ev = saq_cq_poll(cq, 0)))
        saq_event_free(ev);
    saq_worker_free(w);
    saq_cq_free(cq);
    saq_queue_free(q);
}

/* The documented teardown, saq_worker_free then saq_queue_free (or a
 * saq_queue_close while the worker runs), with jobs running: saq_worker_free
 * returns at once, so the queue's teardown used to drop the worker's leases
 * and close the connections before the stop could write anything: the jobs
 * stayed in `active`, marked active by a worker that no longer exists, until
 * another worker's liveness check or sweep found them. Now the teardown lets
 * the stop finish (bounded): the jobs are retried "cancelled" as
 * saq_worker_free promises. */
static void test_worker_then_queue_free_retries_running_jobs(void **state)
{
    (void)state;
    for (int how = 0; how < 2; how++) {
        saq_queue_t *q = mkqueue("tdorder", NULL, NULL);
        char name[128];
        snprintf(name, sizeof name, "%s", saq_queue_name(q));
        const char *kv[] = {"cancellation_hard_deadline", "0.3", NULL};
        saq_worker_t *w = mkworker(q, kv);
        saq_job_t *j = enq(q, "stubborn", "{\"timeout\": 0}");
        assert_int_equal(saq_worker_start(w, NULL, 0), 0);
        saq_job_free(wait_status(q, saq_job_key(j), "active", TMO));
        if (how == 0) {
            saq_worker_free(w);
            saq_queue_free(q);
        } else {
            assert_int_equal(saq_queue_close(q, TMO), SAQ_OK);
            saq_worker_free(w);
            saq_queue_free(q);
        }
        saq_conf_t *c = saq_conf_new();
        assert_int_equal(saq_conf_set(c, "url", R->url), 0);
        assert_int_equal(saq_conf_set(c, "name", name), 0);
        saq_queue_t *q2 = saq_queue_new(c);
        saq_conf_free(c);
        saq_job_t *d = wait_status(q2, saq_job_key(j), "queued", TMO);
        assert_string_equal(saq_job_error(d), "cancelled");
        assert_int_equal(qcount(q2, "active"), 0);
        saq_job_free(d);
        saq_job_free(j);
        saq_queue_free(q2);
    }
    sleep_ms(500); /* the stubborn handler finishes with the memory it holds */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_misbehaving_handlers_and_keys),
        cmocka_unit_test(test_dump_load_transform),
        cmocka_unit_test(test_one_pattern_subscription),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_retries_and_backoff),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_abort_running),
        cmocka_unit_test(test_stop_retries_running_job),
        cmocka_unit_test(test_stop_while_blocked_loses_nothing),
        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_cron),
        cmocka_unit_test(test_cron_tz),
        cmocka_unit_test(test_cron_tz_reregistered),
        cmocka_unit_test(test_mark_refuses_swept_and_duplicates),
        cmocka_unit_test(test_heartbeat_enforced),
        cmocka_unit_test(test_dead_worker_recovery),
        cmocka_unit_test(test_worker_sweep_uses_its_swept_message),
        cmocka_unit_test(test_pull_mode),
        cmocka_unit_test(test_pull_outcome_and_given_back),
        cmocka_unit_test(test_worker_conf_get),
        cmocka_unit_test(test_concurrency_bound),
        cmocka_unit_test(test_small_max_payload),
        cmocka_unit_test(test_finishes_wait_for_replicas),
        cmocka_unit_test(test_teardown_while_marking_and_hooks),
        cmocka_unit_test(test_given_back_lease_freed_and_forked),
        cmocka_unit_test(test_worker_then_queue_free_retries_running_jobs),
    };
    if (getenv("SAQ_TEST_FILTER")) /* run one test: SAQ_TEST_FILTER=test_name */
        cmocka_set_test_filter(getenv("SAQ_TEST_FILTER"));
    return cmocka_run_group_tests_name("worker", tests, suite_setup, suite_teardown);
}
