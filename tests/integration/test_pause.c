/* SPDX-License-Identifier: MIT */
/* Issue 19, items 2 and 4 (extensions Python saq tolerates): pausing and
 * resuming a queue (workers stop taking jobs within a second, running jobs
 * finish, resume picks up at once, a worker started on a paused queue waits;
 * info, overview and metrics say so), and the queue-level job defaults
 * (defaults.*), failed_ttl, retry.min_delay and retry.jitter. */
#include "itest.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>

/* ---- helpers ---- */

/* Run a PAUSE operation (saq_queue_pause/resume/paused); its int. */
static long long pause_op(saq_queue_t *q, int (*fn)(saq_queue_t *, saq_cq_t *, uint64_t), char **json)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(fn(q, cq, 5), SAQ_OK);
    saq_event_t *ev = OK_EV(saq_cq_wait(cq, 5, TMO));
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_PAUSE);
    long long v = saq_event_int(ev);
    if (json)
        *json = saq_event_json(ev) ? strdup(saq_event_json(ev)) : NULL;
    saq_event_free(ev);
    saq_cq_free(cq);
    return v;
}

/* The JSON of an operation that completes with one (overview, metrics text). */
static char *op_text(saq_queue_t *q, int metrics)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal((metrics ? saq_queue_metrics : saq_queue_overview)(q, cq, 6), SAQ_OK);
    saq_event_t *ev = OK_EV(saq_cq_wait(cq, 6, TMO));
    char *s = strdup(metrics ? saq_event_text(ev) : saq_event_json(ev));
    saq_event_free(ev);
    saq_cq_free(cq);
    return s;
}

static int json_bool(const char *json, const char *member)
{
    cJSON *j = cJSON_Parse(json);
    if (!j)
        fail_msg("not JSON: %s", json);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, member);
    if (!cJSON_IsBool(m))
        fail_msg("no boolean %s in %s", member, json);
    int v = cJSON_IsTrue(m);
    cJSON_Delete(j);
    return v;
}

static int info_paused(saq_queue_t *q)
{
    saq_event_t *ev = OK_EV(saq_queue_info_sync(q, 0, 0, 10, TMO));
    int v = json_bool(saq_event_json(ev), "paused");
    saq_event_free(ev);
    return v;
}

static int overview_paused(saq_queue_t *q)
{
    char *s = op_text(q, 0);
    int v = json_bool(s, "paused");
    free(s);
    return v;
}

/* The queue's saq_queue_paused gauge as the metrics text says it. */
static int metrics_paused(saq_queue_t *q)
{
    char *s = op_text(q, 1);
    char want[300];
    snprintf(want, sizeof want, "saq_queue_paused{queue=\"%s\"} ", saq_queue_name(q));
    const char *p = strstr(s, want);
    if (!p)
        fail_msg("no %s in\n%s", want, s);
    int v = atoi(p + strlen(want));
    assert_int_equal(itest_promtool(s), 0);
    free(s);
    return v;
}

static atomic_int runs;

/* "slow" runs 800 ms, anything else completes at once. */
static void handler(saq_job_t *job, void *ud)
{
    (void)ud;
    if (!strcmp(saq_job_function(job), "slow"))
        sleep_ms(800);
    atomic_fetch_add(&runs, 1);
    if (!strcmp(saq_job_function(job), "bad"))
        saq_job_fail(job, "bad job");
    else
        saq_job_complete(job, "1");
    saq_job_free(job);
}

static saq_worker_t *start_worker(saq_queue_t *q)
{
    const char *kv[] = {"concurrency", "4", NULL};
    saq_worker_t *w = worker_with_conf(q, kv);
    saq_worker_register(w, "slow", handler, NULL);
    saq_worker_register(w, "fast", handler, NULL);
    saq_worker_register(w, "bad", handler, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    return w;
}


static const char *key_of(saq_job_t *j) { return saq_job_key(j); }

/* ---- pause and resume ---- */

static void test_pause_running_jobs_finish_and_resume_is_immediate(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("pause", NULL, NULL);
    saq_worker_t *w = start_worker(q);
    atomic_store(&runs, 0);
    assert_int_equal(pause_op(q, saq_queue_paused, NULL), 0);
    assert_false(info_paused(q));
    assert_false(overview_paused(q));
    assert_int_equal(metrics_paused(q), 0);

    saq_job_t *slow = enq(q, "slow", NULL);
    saq_job_free(wait_status(q, key_of(slow), "active", 3000));
    char *json = NULL;
    assert_int_equal(pause_op(q, saq_queue_pause, NULL), 1);
    assert_int_equal(pause_op(q, saq_queue_pause, NULL), 0); /* already paused */
    assert_int_equal(pause_op(q, saq_queue_paused, &json), 1);
    assert_true(json_bool(json, "paused"));
    free(json);
    char *rk = rh_str(RC, "GET saq:%s:libsaq:paused", saq_queue_name(q));
    assert_non_null(rk); /* the flag in the queue's namespace (its hash slot in a cluster) */
    free(rk);
    assert_true(info_paused(q));
    assert_true(overview_paused(q));
    assert_int_equal(metrics_paused(q), 1);

    /* the running job finishes */
    saq_job_free(wait_status(q, key_of(slow), "complete", 3000));
    /* within a second the worker takes nothing more: jobs wait in queued */
    sleep_ms(1000);
    saq_job_t *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = enq(q, "fast", NULL);
    sleep_ms(1200);
    assert_int_equal(qcount(q, "queued"), 3);
    assert_int_equal(qcount(q, "active"), 0);
    assert_int_equal(atomic_load(&runs), 1);

    /* resume: they run at once */
    double t0 = now_s();
    assert_int_equal(pause_op(q, saq_queue_resume, NULL), 1);
    for (int i = 0; i < 3; i++) {
        saq_job_free(wait_status(q, key_of(f[i]), "complete", 3000));
        saq_job_free(f[i]);
    }
    double took = now_s() - t0;
    if (took > 1.0)
        fail_msg("the jobs ran %.2f s after the resume", took);
    assert_int_equal(pause_op(q, saq_queue_resume, NULL), 0); /* not paused any more */
    assert_false(info_paused(q));
    assert_int_equal(metrics_paused(q), 0);
    saq_job_free(slow);
    itest_stop_worker(w);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

static void test_worker_started_on_paused_queue_waits(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("pausestart", NULL, NULL);
    atomic_store(&runs, 0);
    assert_int_equal(pause_op(q, saq_queue_pause, NULL), 1);
    saq_job_t *j = enq(q, "fast", NULL);
    saq_worker_t *w = start_worker(q);
    sleep_ms(1500);
    assert_int_equal(qcount(q, "queued"), 1);
    assert_int_equal(atomic_load(&runs), 0);
    /* another process resumes it (a second queue object: the same flag in Redis) */
    saq_queue_t *q2 = mkqueue("unused", "name", saq_queue_name(q));
    double t0 = now_s();
    assert_int_equal(pause_op(q2, saq_queue_resume, NULL), 1);
    saq_job_free(wait_status(q, key_of(j), "complete", 3000));
    assert_true(now_s() - t0 < 1.0);
    saq_job_free(j);
    itest_stop_worker(w);
    saq_queue_close(q2, TMO);
    saq_queue_free(q2);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* A worker of two queues: the paused one's jobs wait, the other's run (strict order puts the
 * paused queue first: its slots go to the other); resumed, they run. */
static void test_paused_queue_of_a_multiqueue_worker(void **state)
{
    (void)state;
    saq_queue_t *a = mkqueue("pausemq-a", NULL, NULL), *b = mkqueue("pausemq-b", NULL, NULL);
    atomic_store(&runs, 0);
    assert_int_equal(pause_op(a, saq_queue_pause, NULL), 1);
    const char *kv[] = {"concurrency", "1", NULL};
    saq_worker_t *w = worker_with_conf(a, kv);
    saq_worker_register(w, "fast", handler, NULL);
    assert_int_equal(saq_worker_add_queue(w, b, 1), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *ja = enq(a, "fast", NULL), *jb[3];
    for (int i = 0; i < 3; i++)
        jb[i] = enq(b, "fast", NULL);
    for (int i = 0; i < 3; i++) {
        saq_job_free(wait_status(b, key_of(jb[i]), "complete", 3000));
        saq_job_free(jb[i]);
    }
    sleep_ms(600);
    assert_int_equal(qcount(a, "queued"), 1);
    assert_int_equal(pause_op(a, saq_queue_resume, NULL), 1);
    saq_job_free(wait_status(a, key_of(ja), "complete", 3000));
    saq_job_free(ja);
    itest_stop_worker(w);
    saq_queue_close(a, TMO);
    saq_queue_free(a);
    saq_queue_close(b, TMO);
    saq_queue_free(b);
}

/* timers.pause 0: the worker ignores pauses (as a Python saq worker does). */
static void test_timers_pause_zero_ignores_the_flag(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("pauseoff", NULL, NULL);
    const char *kv[] = {"timers.pause", "0", NULL};
    saq_worker_t *w = worker_with_conf(q, kv);
    saq_worker_register(w, "fast", handler, NULL);
    assert_int_equal(pause_op(q, saq_queue_pause, NULL), 1);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    saq_job_t *j = enq(q, "fast", NULL);
    saq_job_free(wait_status(q, key_of(j), "complete", 3000));
    saq_job_free(j);
    itest_stop_worker(w);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* ---- queue-level defaults ---- */

static cJSON *record(saq_queue_t *q, const char *key)
{
    char *s = stored(q, key);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

static double rec_num(const cJSON *r, const char *f)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, f);
    if (!cJSON_IsNumber(m))
        fail_msg("record has no number %s", f);
    return m->valuedouble;
}

static saq_queue_t *queue_with(const char *prefix, const char **kv)
{
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", R->url), 0);
    assert_int_equal(saq_conf_set(c, "name", rh_queue_name(prefix)), 0);
    for (int i = 0; kv[i]; i += 2)
        if (saq_conf_set(c, kv[i], kv[i + 1]))
            fail_msg("%s=%s: %s", kv[i], kv[i + 1], saq_conf_errmsg(c));
    saq_queue_t *q = saq_queue_new(c);
    assert_non_null(q);
    saq_conf_free(c);
    return q;
}

static void test_defaults_fill_what_the_job_was_not_given(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "defaults.retry_backoff", "maybe"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "defaults.ttl", "-2"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "failed_ttl", "1.5"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "retry.jitter", "sometimes"), SAQ_EINVAL);
    saq_conf_free(c);
    const char *kv[] = {"defaults.timeout", "3", "defaults.retries", "4", "defaults.ttl", "100",
                        "defaults.retry_delay", "2", "defaults.retry_backoff", "30", NULL};
    saq_queue_t *q = queue_with("defaults", kv);
    /* given nothing: every default */
    saq_job_t *a = enq(q, "f", "{\"x\": 1}");
    assert_true(saq_job_timeout(a) == 3);
    assert_int_equal(saq_job_retries(a), 4);
    cJSON *r = record(q, key_of(a));
    assert_true(rec_num(r, "timeout") == 3);
    assert_true(rec_num(r, "retries") == 4);
    assert_true(rec_num(r, "ttl") == 100);
    assert_true(rec_num(r, "retry_delay") == 2);
    assert_true(rec_num(r, "retry_backoff") == 30);
    cJSON_Delete(r);
    /* given some as enqueue kwargs, even saq's own default values: those stay */
    saq_job_t *b = enq(q, "f", "{\"retries\": 1, \"timeout\": 10, \"retry_backoff\": false}");
    r = record(q, key_of(b));
    assert_null(cJSON_GetObjectItemCaseSensitive(r, "retries"));  /* 1: saq's default, omitted */
    assert_null(cJSON_GetObjectItemCaseSensitive(r, "timeout"));  /* 10: the same */
    assert_null(cJSON_GetObjectItemCaseSensitive(r, "retry_backoff"));
    assert_true(rec_num(r, "ttl") == 100);
    cJSON_Delete(r);
    /* given by setters */
    saq_job_t *j = saq_job_new("f");
    saq_job_set_ttl(j, 7);
    saq_job_set_retry_delay(j, 0.5);
    saq_event_t *ev = OK_EV(saq_queue_enqueue_sync(q, j, TMO));
    r = record(q, saq_job_key(j));
    assert_true(rec_num(r, "ttl") == 7);
    assert_true(rec_num(r, "retry_delay") == 0.5);
    assert_true(rec_num(r, "timeout") == 3);
    cJSON_Delete(r);
    saq_event_free(ev);
    saq_job_free(j);
    saq_job_free(a);
    saq_job_free(b);
    /* a queue without defaults writes saq's */
    saq_queue_t *plain = mkqueue("nodefaults", NULL, NULL);
    saq_job_t *p = enq(plain, "f", NULL);
    assert_true(saq_job_timeout(p) == 10);
    assert_int_equal(saq_job_ttl(p), 600);
    saq_job_free(p);
    saq_queue_close(plain, TMO);
    saq_queue_free(plain);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

static void test_failed_ttl_keeps_failures_longer(void **state)
{
    (void)state;
    const char *kv[] = {"failed_ttl", "5000", NULL};
    saq_queue_t *q = queue_with("failedttl", kv);
    saq_worker_t *w = start_worker(q);
    saq_job_t *bad = enq(q, "bad", NULL), *good = enq(q, "fast", NULL);
    saq_job_free(wait_status(q, key_of(bad), "failed", 3000));
    saq_job_free(wait_status(q, key_of(good), "complete", 3000));
    long long tb = rh_int(RC, "TTL saq:job:%s:%s", saq_queue_name(q), key_of(bad));
    long long tg = rh_int(RC, "TTL saq:job:%s:%s", saq_queue_name(q), key_of(good));
    assert_true(tb > 4990 && tb <= 5000);
    assert_true(tg > 590 && tg <= 600);
    /* saq_queue_finish on this queue does the same */
    saq_job_t *c = enq(q, "none", "{\"scheduled\": 9999999999}");
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_finish(q, key_of(c), "failed", NULL, "by hand", cq, 1), 0);
    saq_event_free(OK_EV(saq_cq_wait(cq, 1, TMO)));
    saq_cq_free(cq);
    long long tc = rh_int(RC, "TTL saq:job:%s:%s", saq_queue_name(q), key_of(c));
    assert_true(tc > 4990 && tc <= 5000);
    saq_job_free(bad);
    saq_job_free(good);
    saq_job_free(c);
    itest_stop_worker(w);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* The retry's due time (incomplete's score) minus now, after saq_queue_retry. */
static double retry_in(saq_queue_t *q, const char *kwargs)
{
    saq_job_t *j = enq(q, "f", kwargs);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_retry(q, key_of(j), "again", cq, 1), 0);
    saq_event_free(OK_EV(saq_cq_wait(cq, 1, TMO)));
    saq_cq_free(cq);
    char *s = rh_str(RC, "ZSCORE saq:%s:incomplete saq:job:%s:%s", saq_queue_name(q), saq_queue_name(q),
                     key_of(j));
    assert_non_null(s);
    double d = atof(s) - now_s();
    free(s);
    saq_job_free(j);
    return d;
}

static void test_retry_min_delay_and_no_jitter(void **state)
{
    (void)state;
    const char *kv1[] = {"retry.jitter", "false", NULL};
    saq_queue_t *q = queue_with("nojitter", kv1);
    /* backoff 4 s * 2^(attempts-1), attempts 0: 4 s; full jitter would draw from [0, 4) */
    for (int i = 0; i < 3; i++) {
        double d = retry_in(q, "{\"retry_delay\": 4, \"retry_backoff\": true}");
        if (d < 3.0 || d > 4.1) /* (full jitter: below 3 three times in four) */
            fail_msg("a retry without jitter is due in %.3f s, not 4", d);
    }
    saq_queue_close(q, TMO);
    saq_queue_free(q);
    const char *kv2[] = {"retry.min_delay", "3", NULL};
    q = queue_with("mindelay", kv2);
    double d = retry_in(q, NULL); /* retry_delay 0: due now without the minimum */
    if (d < 2.0 || d > 3.1)
        fail_msg("a retry with retry.min_delay 3 is due in %.3f s", d);
    d = retry_in(q, "{\"retry_delay\": 5}"); /* longer than the minimum: kept */
    assert_true(d > 4.0 && d < 5.1);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_running_jobs_finish_and_resume_is_immediate),
        cmocka_unit_test(test_worker_started_on_paused_queue_waits),
        cmocka_unit_test(test_paused_queue_of_a_multiqueue_worker),
        cmocka_unit_test(test_timers_pause_zero_ignores_the_flag),
        cmocka_unit_test(test_defaults_fill_what_the_job_was_not_given),
        cmocka_unit_test(test_failed_ttl_keeps_failures_longer),
        cmocka_unit_test(test_retry_min_delay_and_no_jitter),
    };
    if (getenv("SAQ_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SAQ_TEST_FILTER"));
    return cmocka_run_group_tests_name("pause", tests, suite_setup, suite_teardown);
}
