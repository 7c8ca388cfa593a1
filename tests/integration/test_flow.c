/* SPDX-License-Identifier: MIT */
/* Flows (saq_flow_*, saq_queue_enqueue_flow, saq_queue_flow) against a real
 * redis-server: the callback runs exactly once, after every member is
 * terminal, with the members' outcomes in its kwargs; members finished
 * outside a libsaq worker (as a Python saq worker does) are picked up by
 * saq_queue_flow and by a worker's periodic check; refusals write nothing. */
#include "itest.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>

static atomic_int cb_runs;
static char *cb_kwargs; /* the last callback's kwargs (malloc'd) */
static pthread_mutex_t cb_mu = PTHREAD_MUTEX_INITIALIZER;

static void h_ok(saq_job_t *j, void *ud)
{
    (void)ud;
    saq_job_complete(j, "{\"big\": 12345678901234567, \"f\": 0.1, \"l\": []}");
    saq_job_free(j);
}

static void h_bad(saq_job_t *j, void *ud)
{
    (void)ud;
    saq_job_fail(j, "boom");
    saq_job_free(j);
}

static void h_cb(saq_job_t *j, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&cb_mu);
    free(cb_kwargs);
    cb_kwargs = strdup(saq_job_kwargs(j));
    pthread_mutex_unlock(&cb_mu);
    atomic_fetch_add(&cb_runs, 1);
    saq_job_complete(j, "\"done\"");
    saq_job_free(j);
}

static char big_text[3001];

static void h_big(saq_job_t *j, void *ud) /* a result of about 3 KB */
{
    (void)ud;
    char res[3100];
    snprintf(res, sizeof res, "\"%s\"", big_text);
    saq_job_complete(j, res);
    saq_job_free(j);
}

static void h_bigerr(saq_job_t *j, void *ud) /* an error text of about 3 KB */
{
    (void)ud;
    saq_job_fail(j, big_text);
    saq_job_free(j);
}

static saq_job_t *mkjob(const char *function, const char *key, const char *call_kwargs)
{
    saq_job_t *j = saq_job_new(function);
    assert_non_null(j);
    if (key)
        assert_int_equal(saq_job_set_key(j, key), SAQ_OK);
    if (call_kwargs)
        assert_int_equal(saq_job_set_call_kwargs(j, call_kwargs), SAQ_OK);
    return j;
}

/* A flow of members (function, key) pairs, NULL-terminated, and a callback. */
static saq_flow_t *mkflow(const char *cbkey, const char *cbkwargs, const char **members)
{
    saq_job_t *cb = mkjob("cb", cbkey, cbkwargs);
    saq_flow_t *f = saq_flow_new(cb);
    saq_job_free(cb);
    assert_non_null(f);
    for (int i = 0; members[i]; i += 2) {
        saq_job_t *m = mkjob(members[i], members[i + 1], NULL);
        assert_int_equal(saq_flow_add(f, m), SAQ_OK);
        saq_job_free(m);
    }
    return f;
}

static cJSON *flow_json(saq_queue_t *q, const char *id)
{
    saq_event_t *ev = OK_EV(saq_queue_flow_sync(q, id, TMO));
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_FLOW);
    cJSON *o = cJSON_Parse(saq_event_json(ev));
    assert_non_null(o);
    saq_event_free(ev);
    return o;
}

static const char *member_field(cJSON *members, int i, const char *name)
{
    cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(members, i), name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* saq_queue_finish: writes the outcome as Python saq's finish does (no flow note). */
static void finish(saq_queue_t *q, const char *key, const char *status, const char *result)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_finish(q, key, status, result, NULL, cq, 1), SAQ_OK);
    saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    saq_event_free(ev);
    saq_cq_free(cq);
}

static saq_worker_t *start_worker(saq_queue_t *q)
{
    const char *kv[] = {"concurrency", "4", NULL};
    saq_worker_t *w = worker_with_conf(q, kv);
    saq_worker_register(w, "ok", h_ok, NULL);
    saq_worker_register(w, "bad", h_bad, NULL);
    saq_worker_register(w, "cb", h_cb, NULL);
    saq_worker_register(w, "big", h_big, NULL);
    saq_worker_register(w, "bigerr", h_bigerr, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    return w;
}


static void test_callback_once_with_outcomes(void **state)
{
    (void)state;
    atomic_store(&cb_runs, 0);
    saq_queue_t *q = mkqueue("flow", NULL, NULL);
    const char *members[] = {"ok", "m1", "bad", "m2", "ok", "m3", NULL};
    saq_flow_t *f = mkflow("done-1", "{\"tag\": \"x\", \"retries\": 2}", members);
    char later[64];
    snprintf(later, sizeof later, "{\"scheduled\": %.0f}", now_s() + 3600);
    saq_job_t *m4 = mkjob("ok", "m4", later); /* waits, until aborted below */
    assert_int_equal(saq_flow_add(f, m4), SAQ_OK);
    saq_job_free(m4);
    assert_int_equal(saq_flow_size(f), 4);
    saq_event_t *ev = OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO));
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_FLOW_ENQUEUE);
    assert_int_equal(saq_event_int(ev), 1);
    assert_string_equal(saq_event_key(ev), "done-1");
    assert_string_equal(saq_event_json(ev),
                        "{\"id\": \"done-1\", \"callback\": \"done-1\", \"members\": [\"m1\", \"m2\", \"m3\", \"m4\"]}");
    saq_event_free(ev);
    /* the same flow again: recorded already, nothing written */
    ev = OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO));
    assert_int_equal(saq_event_int(ev), 0);
    saq_event_free(ev);
    saq_flow_free(f);
    assert_int_equal(qcount(q, "queued"), 3);
    assert_int_equal(qcount(q, "incomplete"), 4);
    assert_null(getjob(q, "done-1")); /* the callback waits for the members */

    saq_worker_t *w = start_worker(q);
    saq_job_free(wait_status(q, "m1", "complete", TMO));
    saq_job_free(wait_status(q, "m2", "failed", TMO));
    saq_job_free(wait_status(q, "m3", "complete", TMO));
    cJSON *o = flow_json(q, "done-1");
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "open");
    assert_int_equal(cJSON_GetObjectItem(o, "pending")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(o, "total")->valueint, 4);
    assert_string_equal(member_field(cJSON_GetObjectItem(o, "members"), 3, "status"), "queued");
    assert_string_equal(member_field(cJSON_GetObjectItem(o, "members"), 0, "status"), "complete");
    cJSON_Delete(o);
    sleep_ms(300);
    assert_int_equal(atomic_load(&cb_runs), 0);
    assert_null(getjob(q, "done-1"));

    /* the last member is aborted while it waits */
    ev = OK_EV(saq_queue_abort_sync(q, "m4", "not needed", 5, TMO));
    saq_event_free(ev);
    saq_job_t *cb = wait_status(q, "done-1", "complete", TMO);
    saq_job_free(cb);
    sleep_ms(2500); /* a periodic check or two: still once */
    assert_int_equal(atomic_load(&cb_runs), 1);

    pthread_mutex_lock(&cb_mu);
    cJSON *kw = cJSON_Parse(cb_kwargs);
    pthread_mutex_unlock(&cb_mu);
    assert_non_null(kw);
    assert_string_equal(cJSON_GetObjectItem(kw, "tag")->valuestring, "x"); /* the user's kwargs stay */
    cJSON *fl = cJSON_GetObjectItem(kw, "flow");
    assert_string_equal(cJSON_GetObjectItem(fl, "id")->valuestring, "done-1");
    cJSON *ms = cJSON_GetObjectItem(fl, "members");
    assert_int_equal(cJSON_GetArraySize(ms), 4);
    const char *want[][2] = {{"m1", "complete"}, {"m2", "failed"}, {"m3", "complete"}, {"m4", "aborted"}};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(member_field(ms, i, "key"), want[i][0]);
        assert_string_equal(member_field(ms, i, "status"), want[i][1]);
    }
    assert_non_null(strstr(member_field(ms, 1, "error"), "boom"));
    assert_string_equal(member_field(ms, 3, "error"), "not needed");
    cJSON_Delete(kw);
    /* the result's bytes as stored: no rounding through Lua */
    pthread_mutex_lock(&cb_mu);
    assert_non_null(strstr(cb_kwargs, "\"result\":{\"big\": 12345678901234567, \"f\": 0.1, \"l\": []}"));
    pthread_mutex_unlock(&cb_mu);

    o = flow_json(q, "done-1");
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "done");
    assert_int_equal(cJSON_GetObjectItem(o, "pending")->valueint, 0);
    assert_true(cJSON_GetObjectItem(o, "done_ms")->valuedouble > 0);
    assert_string_equal(member_field(cJSON_GetObjectItem(o, "members"), 1, "status"), "failed");
    cJSON_Delete(o);
    long long ttl = rh_int(RC, "TTL saq:%s:libsaq:flow:done-1", saq_queue_name(q));
    assert_true(ttl > 86000 && ttl <= 86400);
    assert_int_equal(rh_int(RC, "HLEN saq:%s:libsaq:flowof", saq_queue_name(q)), 0);
    assert_int_equal(rh_int(RC, "ZCARD saq:%s:libsaq:flows", saq_queue_name(q)), 0);
    itest_stop_worker(w);
    saq_queue_free(q);
}

static void test_refusals_write_nothing(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("flowbad", NULL, NULL);
    const char *none[] = {NULL};
    saq_flow_t *f = mkflow("cb-a", NULL, none);
    saq_event_t *ev = saq_queue_enqueue_flow_sync(q, f, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL); /* no member */
    saq_event_free(ev);
    saq_job_t *dup = mkjob("ok", "cb-a", NULL);
    assert_int_equal(saq_flow_add(f, dup), SAQ_EINVAL); /* the callback's key */
    assert_string_equal(saq_flow_errmsg(f), "flow member key 'cb-a' is the callback's key (the flow id)");
    saq_job_free(dup);
    dup = mkjob("ok", "x1", NULL);
    assert_int_equal(saq_flow_add(f, dup), SAQ_OK);
    assert_string_equal(saq_flow_errmsg(f), "");
    assert_int_equal(saq_flow_add(f, dup), SAQ_EINVAL); /* twice: the message says which */
    assert_string_equal(saq_flow_errmsg(f), "flow member key 'x1' is already in the flow (member 0)");
    saq_job_free(dup);
    assert_int_equal(saq_flow_add(f, NULL), SAQ_EINVAL);
    assert_string_equal(saq_flow_errmsg(f), "flow member is NULL");
    assert_int_equal(saq_flow_set_ttl(f, -1), SAQ_EINVAL);
    assert_string_equal(saq_flow_errmsg(f), "flow ttl must be >= 0 seconds, not -1");
    assert_string_equal(saq_flow_errmsg(NULL), "");
    assert_null(saq_flow_new(NULL));
    saq_flow_free(f);

    const char *members[] = {"ok", "y1", "ok", "y2", NULL};
    f = mkflow("cb-b", "{\"flow\": 1}", members);
    ev = saq_queue_enqueue_flow_sync(q, f, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL); /* the callback's kwargs have "flow" */
    fprintf(stderr, "refused: %s\n", saq_event_errmsg(ev));
    saq_event_free(ev);
    saq_flow_free(f);

    saq_job_free(enq(q, "ok", "{\"key\": \"y2\"}"));
    f = mkflow("cb-c", NULL, members);
    ev = saq_queue_enqueue_flow_sync(q, f, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ESTATE); /* y2 is enqueued already */
    assert_non_null(strstr(saq_event_errmsg(ev), "y2"));
    saq_event_free(ev);
    saq_flow_free(f);
    assert_null(getjob(q, "y1"));
    ev = saq_queue_flow_sync(q, "cb-c", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ENOTFOUND);
    saq_event_free(ev);
    ev = saq_queue_flow_sync(q, "", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    assert_int_equal(qcount(q, "queued"), 1);

    ev = saq_queue_enqueue_flow_sync(q, NULL, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
    saq_event_free(ev);
    saq_queue_free(q);

    /* min_replicas: a flow enqueue waits for replicas as an enqueue does (this server has none) */
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", R->url), 0);
    assert_int_equal(saq_conf_set(c, "name", rh_queue_name("flowrep")), 0);
    assert_int_equal(saq_conf_set(c, "min_replicas", "1"), 0);
    assert_int_equal(saq_conf_set(c, "min_replicas_timeout_ms", "100"), 0);
    assert_int_equal(saq_queue_open(&q, c), SAQ_OK);
    saq_conf_free(c);
    f = mkflow("cb-r", NULL, members);
    ev = saq_queue_enqueue_flow_sync(q, f, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ETIMEDOUT);
    assert_non_null(strstr(saq_event_errmsg(ev), "min_replicas"));
    saq_event_free(ev);
    saq_flow_free(f);
    saq_queue_free(q);
}

/* Members finished without a libsaq worker's note (saq_queue_finish writes as
 * Python saq does; a record deleted): saq_queue_flow completes the flow, and
 * a worker's periodic check completes another. */
static void test_members_finished_elsewhere(void **state)
{
    (void)state;
    atomic_store(&cb_runs, 0);
    saq_queue_t *q = mkqueue("flowpy", NULL, NULL);
    const char *members[] = {"py", "p1", "py", "p2", NULL};
    saq_flow_t *f = mkflow("cb-p", NULL, members);
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    finish(q, "p1", "complete", "[1, 2]");
    assert_int_equal(rh_int(RC, "DEL saq:job:%s:p2", saq_queue_name(q)), 1);
    assert_null(getjob(q, "cb-p"));
    cJSON *o = flow_json(q, "cb-p"); /* the read checks the members: the callback is enqueued */
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "done");
    cJSON *ms = cJSON_GetObjectItem(o, "members");
    assert_string_equal(member_field(ms, 0, "status"), "complete");
    assert_string_equal(member_field(ms, 1, "status"), "missing");
    char *res = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 0), "result"));
    assert_string_equal(res, "[1,2]");
    free(res);
    cJSON_Delete(o);
    saq_job_t *cb = getjob(q, "cb-p");
    assert_non_null(cb);
    assert_string_equal(saq_job_status(cb), "queued");
    assert_non_null(strstr(saq_job_kwargs(cb), "\"result\":[1, 2]"));
    saq_job_free(cb);

    /* a second flow: its members end without notes; a worker's periodic
     * check finds them and the callback runs */
    const char *members2[] = {"py", "p3", NULL};
    f = mkflow("cb-q", NULL, members2);
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    finish(q, "p3", "failed", NULL);
    saq_worker_t *w = start_worker(q);
    saq_job_free(wait_status(q, "cb-p", "complete", TMO));
    saq_job_free(wait_status(q, "cb-q", "complete", TMO));
    assert_int_equal(atomic_load(&cb_runs), 2);
    itest_stop_worker(w);
    saq_queue_free(q);
}

/* A member whose record is deleted at once (ttl < 0) still reports the
 * status its worker stored. */
static void test_member_without_record(void **state)
{
    (void)state;
    atomic_store(&cb_runs, 0);
    saq_queue_t *q = mkqueue("flowttl", NULL, NULL);
    saq_job_t *cb = mkjob("cb", "cb-t", NULL);
    saq_flow_t *f = saq_flow_new(cb);
    saq_job_free(cb);
    assert_int_equal(saq_flow_set_ttl(f, 0), SAQ_OK);
    saq_job_t *m = mkjob("ok", "t1", "{\"ttl\": -1}");
    assert_int_equal(saq_flow_add(f, m), SAQ_OK);
    saq_job_free(m);
    saq_worker_t *w = start_worker(q);
    sleep_ms(1200); /* the worker has looked once and seen no flow */
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    saq_job_free(wait_status(q, "cb-t", "complete", TMO));
    assert_int_equal(atomic_load(&cb_runs), 1);
    pthread_mutex_lock(&cb_mu);
    assert_non_null(strstr(cb_kwargs, "\"status\":\"complete\""));
    pthread_mutex_unlock(&cb_mu);
    assert_int_equal(rh_int(RC, "TTL saq:%s:libsaq:flow:cb-t", saq_queue_name(q)), -1); /* ttl 0: kept */
    itest_stop_worker(w);
    saq_queue_free(q);
}

/* A member's worker process is killed (SIGKILL) while the member runs: another
 * worker recovers the member (no attempts left: it ends), its periodic check
 * records it, and the callback runs once. */
static void test_member_worker_killed(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("flowkill", NULL, NULL);
    char log[] = "/tmp/saq-flowkill-XXXXXX";
    int fd = mkstemp(log);
    close(fd);
    const char *a1[] = {"--conf", "timers.worker_info=0.5", "--conf", "dead_worker_check=0.5", NULL};
    pid_t victim = itest_spawn_worker(R->url, saq_queue_name(q), log, a1);
    saq_job_t *cb = mkjob("noop", "cb-kill", NULL);
    saq_flow_t *f = saq_flow_new(cb);
    saq_job_free(cb);
    saq_job_t *m = mkjob("sleep", "k1", "{\"s\": 60, \"timeout\": 600, \"retries\": 1}");
    assert_int_equal(saq_flow_add(f, m), SAQ_OK);
    saq_job_free(m);
    m = mkjob("noop", "k2", NULL);
    assert_int_equal(saq_flow_add(f, m), SAQ_OK);
    saq_job_free(m);
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    saq_job_free(wait_status(q, "k1", "active", TMO));
    saq_job_free(wait_status(q, "k2", "complete", TMO));
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);
    pid_t rescuer = itest_spawn_worker(R->url, saq_queue_name(q), log, a1);
    saq_job_free(wait_status(q, "cb-kill", "complete", 30000));
    cJSON *o = flow_json(q, "cb-kill");
    cJSON *ms = cJSON_GetObjectItem(o, "members");
    const char *st = member_field(ms, 0, "status");
    assert_true(!strcmp(st, "aborted") || !strcmp(st, "failed"));
    assert_non_null(member_field(ms, 0, "error"));
    assert_string_equal(member_field(ms, 1, "status"), "complete");
    cJSON_Delete(o);
    sleep_ms(2500); /* a periodic check or two more */
    kill(rescuer, SIGTERM);
    waitpid(rescuer, NULL, 0);
    /* the callback ran once: one line for it in the workers' run log */
    FILE *lf = fopen(log, "r");
    assert_non_null(lf);
    char line[256];
    int runs = 0;
    while (fgets(line, sizeof line, lf))
        runs += strstr(line, " cb-kill ") != NULL;
    fclose(lf);
    assert_int_equal(runs, 1);
    unlink(log);
    saq_queue_free(q);
}

/* A malformed flow hash (its "n" gone, its pending set a string) makes its
 * own check fail but must not stop a worker's periodic check of the other
 * flows: they still complete. */
static void test_malformed_flow_isolated(void **state)
{
    (void)state;
    atomic_store(&cb_runs, 0);
    saq_queue_t *q = mkqueue("flowbad", NULL, NULL);
    const char *mb[] = {"py", "b1", NULL}, *mc[] = {"py", "c1", NULL}, *ma[] = {"py", "a1", NULL};
    saq_flow_t *f = mkflow("cb-bad", NULL, mb);
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    f = mkflow("cb-bad2", NULL, mc);
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    sleep_ms(20); /* the good flow is due after the malformed ones */
    f = mkflow("cb-good", NULL, ma);
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    finish(q, "b1", "complete", NULL);
    finish(q, "a1", "complete", NULL);
    assert_int_equal(rh_int(RC, "HDEL saq:%s:libsaq:flow:cb-bad n", saq_queue_name(q)), 1);
    rh_int(RC, "DEL saq:%s:libsaq:flow:cb-bad2:pending", saq_queue_name(q));
    freeReplyObject(rh_cmd(RC, "SET saq:%s:libsaq:flow:cb-bad2:pending x", saq_queue_name(q)));
    saq_worker_t *w = start_worker(q);
    saq_job_free(wait_status(q, "cb-good", "complete", TMO));
    assert_int_equal(atomic_load(&cb_runs), 1);
    itest_stop_worker(w);
    saq_queue_free(q);
}

/* A flow of thousands of members: a worker's periodic check reads a share of
 * its pending members per call (one call must not hold Redis for long), and
 * the callback still runs once every member is terminal. */
static void test_huge_flow_checked_in_shares(void **state)
{
    (void)state;
    atomic_store(&cb_runs, 0);
    enum { N = 6000 };
    saq_queue_t *q = mkqueue("flowhuge", NULL, NULL);
    saq_job_t *cb = mkjob("cb", "cb-huge", NULL);
    saq_flow_t *f = saq_flow_new(cb);
    saq_job_free(cb);
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "h%d", i);
        saq_job_t *m = mkjob("py", key, NULL);
        assert_int_equal(saq_job_set_scheduled(m, 4000000000.0), SAQ_OK); /* never run here */
        assert_int_equal(saq_flow_add(f, m), SAQ_OK);
        saq_job_free(m);
    }
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    for (int i = 0; i < N; i++) /* gone: "missing", terminal */
        assert_int_equal(rh_int(RC, "DEL saq:job:%s:h%d", saq_queue_name(q), i), 1);
    saq_worker_t *w = start_worker(q);
    long long left = N;
    for (int t = 0; t < 1000 && left == N; t++) {
        sleep_ms(10);
        left = rh_int(RC, "SCARD saq:%s:libsaq:flow:cb-huge:pending", saq_queue_name(q));
    }
    assert_true(left > 1000); /* the first check read a share only */
    saq_job_free(wait_status(q, "cb-huge", "complete", 30000));
    assert_int_equal(atomic_load(&cb_runs), 1);
    itest_stop_worker(w);
    saq_queue_free(q);
}

/* The callback's kwargs with its "flow" from the last run, and that run's count. */
static cJSON *last_flow_kwarg(void)
{
    pthread_mutex_lock(&cb_mu);
    cJSON *kw = cJSON_Parse(cb_kwargs);
    pthread_mutex_unlock(&cb_mu);
    assert_non_null(kw);
    return kw;
}

/* Enqueue f (freed) and wait for its callback, the n-th run: its kwargs, whose "flow" says it
 * left out `omitted` (JSON). */
static cJSON *run_flow(saq_queue_t *q, saq_flow_t *f, const char *cbkey, int n, const char *omitted)
{
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    saq_job_free(wait_status(q, cbkey, "complete", TMO));
    assert_int_equal(atomic_load(&cb_runs), n);
    cJSON *kw = last_flow_kwarg();
    char *om = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(kw, "flow"), "omitted"));
    assert_string_equal(om ? om : "absent", omitted);
    free(om);
    return kw;
}

/* Outcomes that would make the callback's record exceed max_payload_bytes: the
 * callback still runs once, its kwargs leave out results, then errors, then
 * the member list (saying so in "omitted"); saq_queue_flow keeps them all. A
 * callback whose own record leaves no room is refused at enqueue. */
static void test_outcomes_over_max_payload(void **state)
{
    (void)state;
    memset(big_text, 'x', sizeof big_text - 1);
    big_text[sizeof big_text - 1] = 0;
    saq_queue_t *q = mkqueue("flowlim", "max_payload_bytes", "16384");
    saq_worker_t *w = start_worker(q);

    /* results over the limit: left out; statuses and errors kept */
    atomic_store(&cb_runs, 0);
    const char *m1[] = {"big", "r1", "big", "r2", "big", "r3", "big", "r4", "big", "r5", "big", "r6",
                        "bad", "r7", NULL};
    cJSON *kw = run_flow(q, mkflow("cb-lim1", "{\"tag\": 1}", m1), "cb-lim1", 1, "[\"result\"]");
    cJSON *fl = cJSON_GetObjectItem(kw, "flow");
    cJSON *ms = cJSON_GetObjectItem(fl, "members");
    assert_int_equal(cJSON_GetArraySize(ms), 7);
    assert_string_equal(member_field(ms, 0, "status"), "complete");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 0), "result")));
    assert_string_equal(member_field(ms, 6, "status"), "failed");
    assert_non_null(strstr(member_field(ms, 6, "error"), "boom"));
    cJSON_Delete(kw);
    cJSON *o = flow_json(q, "cb-lim1"); /* the full outcomes */
    ms = cJSON_GetObjectItem(o, "members");
    assert_string_equal(member_field(ms, 2, "result"), big_text);
    cJSON_Delete(o);

    /* errors over the limit too: left out */
    const char *m2[] = {"bigerr", "e1", "bigerr", "e2", "bigerr", "e3", "bigerr", "e4", "bigerr", "e5",
                        "bigerr", "e6", NULL};
    kw = run_flow(q, mkflow("cb-lim2", NULL, m2), "cb-lim2", 2, "[\"result\",\"error\"]");
    ms = cJSON_GetObjectItem(cJSON_GetObjectItem(kw, "flow"), "members");
    assert_string_equal(member_field(ms, 1, "status"), "failed");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 1), "error")));
    cJSON_Delete(kw);

    /* too many members for even their keys and statuses: counts only */
    saq_job_t *cb = mkjob("cb", "cb-lim3", NULL);
    saq_flow_t *f = saq_flow_new(cb);
    saq_job_free(cb);
    char key[64];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "a-member-with-a-rather-long-key-number-%03d", i);
        saq_job_t *m = mkjob(i % 4 ? "ok" : "bad", key, NULL);
        assert_int_equal(saq_flow_add(f, m), SAQ_OK);
        saq_job_free(m);
    }
    kw = run_flow(q, f, "cb-lim3", 3, "[\"result\",\"error\",\"members\"]");
    fl = cJSON_GetObjectItem(kw, "flow");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(fl, "members")), 0);
    assert_int_equal(cJSON_GetObjectItem(fl, "total")->valueint, 200);
    cJSON *sts = cJSON_GetObjectItem(fl, "statuses");
    assert_int_equal(cJSON_GetObjectItem(sts, "complete")->valueint, 150);
    assert_int_equal(cJSON_GetObjectItem(sts, "failed")->valueint, 50);
    cJSON_Delete(kw);
    o = flow_json(q, "cb-lim3");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "members")), 200);
    cJSON_Delete(o);

    /* a callback whose own record leaves no room for any outcome: refused */
    char kwbig[16400]; /* a record of about 16 KB: under the limit, but not with the outcomes */
    snprintf(kwbig, sizeof kwbig, "{\"pad\": \"%s%s%s%s%s%.700s\"}", big_text, big_text, big_text,
             big_text, big_text, big_text);
    saq_job_t *fat = mkjob("cb", "cb-lim4", NULL);
    assert_int_equal(saq_job_set_kwargs(fat, kwbig), SAQ_OK);
    f = saq_flow_new(fat);
    saq_job_free(fat);
    saq_job_t *m = mkjob("ok", "f1", NULL);
    assert_int_equal(saq_flow_add(f, m), SAQ_OK);
    saq_job_free(m);
    saq_event_t *ev = saq_queue_enqueue_flow_sync(q, f, TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ETOOBIG);
    assert_non_null(strstr(saq_event_errmsg(ev), "no room"));
    saq_event_free(ev);
    saq_flow_free(f);
    assert_null(getjob(q, "f1"));
    itest_stop_worker(w);
    saq_queue_free(q);
}

/* The flow's document after one hostile write to its hash: valid JSON, the member "unknown"
 * with an error saying so (a member's outcome), or SAQ_EPROTO naming the field (the flow's). */
static void hostile(saq_queue_t *q, const char *field, const char *val, size_t n, const char *want)
{
    const char *name = saq_queue_name(q);
    freeReplyObject(rh_cmd(RC, "DEL saq:%s:libsaq:flow:cb-h", name));
    saq_flow_t *f = mkflow("cb-h", NULL, (const char *[]){"py", "h1", "py", "h2", NULL});
    rh_int(RC, "DEL saq:job:%s:h1 saq:job:%s:h2 saq:job:%s:cb-h", name, name, name);
    rh_int(RC, "ZREM saq:%s:incomplete saq:job:%s:h1 saq:job:%s:h2 saq:job:%s:cb-h", name, name, name, name);
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    finish(q, "h1", "complete", "7");
    finish(q, "h2", "failed", NULL);
    cJSON_Delete(flow_json(q, "cb-h")); /* recorded: the callback is enqueued */
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:libsaq:flow:cb-h %s %b", name, field, val, n));
    saq_event_t *ev = saq_queue_flow_sync(q, "cb-h", TMO);
    if (!want) { /* the flow itself is malformed */
        assert_int_equal(saq_event_status(ev), SAQ_EPROTO);
        fprintf(stderr, "%s: %s\n", field, saq_event_errmsg(ev));
        assert_non_null(strstr(saq_event_errmsg(ev), "malformed"));
    } else {
        assert_int_equal(saq_event_status(ev), SAQ_OK);
        const char *doc = saq_event_json(ev);
        for (const char *c = doc; *c; c++) /* ASCII here (every input is ASCII or not UTF-8) */
            assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x80);
        cJSON *o = cJSON_Parse(doc);
        assert_non_null(o);
        cJSON *ms = cJSON_GetObjectItem(o, "members");
        if (strcmp(field, "m:1")) /* else the stored id, made valid text */
            assert_string_equal(member_field(ms, 0, "key"), "h1");
        assert_string_equal(member_field(ms, 0, "status"), want);
        if (!strcmp(want, "unknown"))
            assert_non_null(strstr(member_field(ms, 0, "error"), "malformed"));
        assert_string_equal(member_field(ms, 1, "status"), "failed");
        cJSON_Delete(o);
    }
    saq_event_free(ev);
}

/* Hostile values in a flow's hash: saq_queue_flow gives valid JSON (a member's outcome that is
 * not usable shows as "unknown" with why) or a clear SAQ_EPROTO; never a crash. */
static void test_hostile_flow_records(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("flowhost", NULL, NULL);
    char id[200];
    snprintf(id, sizeof id, "o:saq:job:%s:h1", saq_queue_name(q));
#define H(f, v, w) hostile(q, f, v, sizeof(v) - 1, w)
    H(id, "{\"key\":\"h1\",\"status\":\"complete\",\"result\":[1,{\"a\":\"\\u00e9\"}],\"error\":null}",
      "complete"); /* well formed: kept */
    H(id, "not json {", "unknown");
    H(id, "{\"key\":\"h1\",\"status\":\"complete\"", "unknown");                   /* cut short */
    H(id, "{\"key\":\"h1\",\"status\":\"complete\",\"result\":0x10}", "unknown");    /* cjson takes it */
    H(id, "{\"key\":\"h1\",\"status\":\"complete\",\"result\":inf}", "unknown");
    H(id, "{\"key\":\"h1\",\"status\":5,\"result\":1,\"error\":null}", "unknown");  /* wrong types */
    H(id, "{\"key\":\"h1\",\"status\":\"failed\",\"error\":[\"x\"]}", "unknown");
    H(id, "[1,2]", "unknown");
    H(id, "{\"key\":\"h1\",\"status\":\"comp\xff\xfe\"}", "unknown");              /* binary bytes */
    H(id, "{\"status\":\"complete\",\"result\":1e999999}", "complete"); /* big numbers are JSON */
    H(id, "", "unknown");
    H("n", "1e308", NULL);
    H("n", "-1", NULL);
    H("n", "x", NULL);
    H("m:1", "\xff\x01zz", "unknown"); /* a member id that is not text */
    H("created", "99999999999999999999999", NULL);
    H("state", "\xff", NULL);
    H("cb", "", NULL);
#undef H
    /* a malformed outcome in an open flow: the callback still gets valid kwargs */
    const char *name = saq_queue_name(q);
    freeReplyObject(rh_cmd(RC, "DEL saq:%s:libsaq:flow:cb-h", name));
    rh_int(RC, "DEL saq:job:%s:h1 saq:job:%s:h2 saq:job:%s:cb-h", name, name, name);
    rh_int(RC, "ZREM saq:%s:incomplete saq:job:%s:h1 saq:job:%s:h2 saq:job:%s:cb-h", name, name, name, name);
    saq_flow_t *f = mkflow("cb-h", NULL, (const char *[]){"py", "h1", "py", "h2", NULL});
    saq_event_free(OK_EV(saq_queue_enqueue_flow_sync(q, f, TMO)));
    saq_flow_free(f);
    finish(q, "h1", "complete", "7");
    cJSON_Delete(flow_json(q, "cb-h")); /* h1 recorded */
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:libsaq:flow:cb-h %s %s", name, id, "{\"result\": 0x"));
    finish(q, "h2", "complete", "8");
    cJSON_Delete(flow_json(q, "cb-h")); /* the callback is enqueued */
    saq_job_t *cb = getjob(q, "cb-h");
    assert_non_null(cb);
    cJSON *kw = cJSON_Parse(saq_job_kwargs(cb));
    cJSON *ms = cJSON_GetObjectItem(cJSON_GetObjectItem(kw, "flow"), "members");
    assert_string_equal(member_field(ms, 0, "status"), "unknown");
    assert_string_equal(member_field(ms, 1, "status"), "complete");
    cJSON_Delete(kw);
    saq_job_free(cb);
    /* not a hash at all */
    freeReplyObject(rh_cmd(RC, "DEL saq:%s:libsaq:flow:cb-h", saq_queue_name(q)));
    freeReplyObject(rh_cmd(RC, "SET saq:%s:libsaq:flow:cb-h x", saq_queue_name(q)));
    saq_event_t *ev = saq_queue_flow_sync(q, "cb-h", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_EPROTO);
    assert_non_null(strstr(saq_event_errmsg(ev), "not a hash"));
    saq_event_free(ev);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callback_once_with_outcomes),
        cmocka_unit_test(test_refusals_write_nothing),
        cmocka_unit_test(test_members_finished_elsewhere),
        cmocka_unit_test(test_member_without_record),
        cmocka_unit_test(test_member_worker_killed),
        cmocka_unit_test(test_malformed_flow_isolated),
        cmocka_unit_test(test_huge_flow_checked_in_shares),
        cmocka_unit_test(test_outcomes_over_max_payload),
        cmocka_unit_test(test_hostile_flow_records),
    };
    if (getenv("SAQ_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SAQ_TEST_FILTER"));
    int rc = cmocka_run_group_tests_name("flow", tests, suite_setup, suite_teardown);
    free(cb_kwargs);
    return rc;
}
