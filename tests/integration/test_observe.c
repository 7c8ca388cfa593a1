/* SPDX-License-Identifier: MIT */
/* Issue 17, "stats that make sense" and metrics: saq_queue_overview (counts,
 * oldest job's age, workers from saq's registry with libsaq ones told apart,
 * per-minute rates from the samples ring), saq_queue_metrics and
 * saq_worker_metrics as Prometheus text checked by `promtool check metrics`,
 * saq_queue_iter_jobs's pagination and filters, a worker's final stats after
 * it stopped, and the registry's copy of a libsaq worker's counters lagging
 * about 1 s at most. */
#include "itest.h"

#include <cjson/cJSON.h>
#include <sys/wait.h>

/* ---- helpers ---- */

static saq_event_t *wait_op(saq_cq_t *cq, uint64_t tag)
{
    saq_event_t *ev = saq_cq_wait(cq, tag, TMO);
    assert_non_null(ev);
    return ev;
}

/* saq_queue_overview's JSON, parsed (the caller frees it). */
static cJSON *overview(saq_queue_t *q)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_overview(q, cq, 7), SAQ_OK);
    saq_event_t *ev = OK_EV(wait_op(cq, 7));
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_OVERVIEW);
    assert_null(saq_event_text(ev));
    cJSON *j = cJSON_Parse(saq_event_json(ev));
    if (!j)
        fail_msg("overview is not JSON: %s", saq_event_json(ev));
    saq_event_free(ev);
    saq_cq_free(cq);
    return j;
}

/* saq_queue_metrics's text (malloc'd). */
static char *queue_metrics(saq_queue_t *q)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_metrics(q, cq, 8), SAQ_OK);
    saq_event_t *ev = OK_EV(wait_op(cq, 8));
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_METRICS);
    assert_non_null(saq_event_text(ev));
    char *s = strdup(saq_event_text(ev));
    saq_event_free(ev);
    saq_cq_free(cq);
    return s;
}

static double num(const cJSON *o, const char *path)
{
    const cJSON *c = o;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, ".")) {
        c = cJSON_GetObjectItemCaseSensitive(c, tok);
        if (!c)
            fail_msg("no %s in the overview", path);
    }
    if (!cJSON_IsNumber(c))
        fail_msg("%s is not a number", path);
    return c->valuedouble;
}

static const cJSON *find_worker(const cJSON *ov, const char *id)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(ov, "workers")) {
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(w, "id");
        if (cJSON_IsString(i) && !strcmp(i->valuestring, id))
            return w;
    }
    return NULL;
}

/* The line of `text` that starts with `prefix`, its value (fails when none). */
static double metric(const char *text, const char *prefix)
{
    const char *p = text;
    while ((p = strstr(p, prefix))) {
        if (p == text || p[-1] == '\n')
            return strtod(p + strlen(prefix), NULL);
        p++;
    }
    fail_msg("no line '%s' in:\n%s", prefix, text);
    return 0;
}

static void complete_handler(saq_job_t *job, void *ud)
{
    (void)ud;
    if (!strcmp(saq_job_function(job), "slow"))
        sleep_ms(30);
    if (!strcmp(saq_job_function(job), "bad"))
        saq_job_fail(job, "bad job");
    else
        saq_job_complete(job, "1");
    saq_job_free(job);
}

static void enq_n(saq_queue_t *q, const char *function, const char *kwargs, int n)
{
    for (int i = 0; i < n; i++)
        saq_job_free(enq(q, function, kwargs));
}

/* Wait until `n` jobs of q are complete or failed (polled through info). */
static void wait_drained(saq_queue_t *q)
{
    for (int i = 0; i < 1000; i++) {
        if (qcount(q, "incomplete") == 0)
            return;
        sleep_ms(10);
    }
    fail_msg("queue %s did not drain", saq_queue_name(q));
}

/* ---- overview ---- */

static void test_overview_counts_and_oldest_age(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("obs-counts", NULL, NULL);
    const char *n = saq_queue_name(q);
    cJSON *ov = overview(q); /* empty queue */
    assert_int_equal((int)num(ov, "jobs.queued"), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ov, "oldest_queued_age_s")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ov, "per_minute")));
    assert_int_equal((int)num(ov, "workers_alive"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ov, "queue")->valuestring, n);
    cJSON_Delete(ov);

    saq_job_free(enq(q, "f", NULL)); /* handed to a worker: moved to active by hand */
    freeReplyObject(rh_cmd(RC, "LMOVE saq:%s:queued saq:%s:active LEFT RIGHT", n, n));
    saq_job_free(enq(q, "f", NULL));
    sleep_ms(400);
    saq_job_free(enq(q, "f", NULL));
    char kw[64];
    snprintf(kw, sizeof kw, "{\"scheduled\": %.0f}", now_s() + 3600);
    saq_job_free(enq(q, "f", kw)); /* not due for an hour */
    ov = overview(q);
    assert_int_equal((int)num(ov, "jobs.queued"), 2);
    assert_int_equal((int)num(ov, "jobs.active"), 1);
    assert_int_equal((int)num(ov, "jobs.scheduled"), 1);
    assert_int_equal((int)num(ov, "jobs.incomplete"), 4);
    double age = num(ov, "oldest_queued_age_s"); /* the head: enqueued 400 ms before the last */
    assert_true(age >= 0.38 && age < 30);
    double t = num(ov, "time_ms") / 1000.0;
    assert_true(fabs(t - now_s()) < 5);
    cJSON_Delete(ov);

    /* a user allowed to read only (a dashboard's) gets the same figures; no sample is kept */
    freeReplyObject(rh_cmd(RC, "DEL saq:%s:libsaq:samples", n));
    freeReplyObject(rh_cmd(RC, "ACL SETUSER obsro on >pw ~* &* +@all -@write"));
    char url[128];
    snprintf(url, sizeof url, "redis://obsro:pw@127.0.0.1:%d/0", R->port);
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", url), 0);
    assert_int_equal(saq_conf_set(c, "name", n), 0);
    saq_queue_t *ro = saq_queue_new(c);
    assert_non_null(ro);
    saq_conf_free(c);
    ov = overview(ro);
    assert_int_equal((int)num(ov, "jobs.queued"), 2);
    assert_int_equal((int)num(ov, "jobs.scheduled"), 1);
    cJSON_Delete(ov);
    assert_int_equal(rh_int(RC, "EXISTS saq:%s:libsaq:samples", n), 0);
    saq_queue_free(ro);
    /* the README's grant for a watching-only user: no CLIENT SETNAME, no INFO (the handshake
     * goes on without them), the figures all the same */
    freeReplyObject(rh_cmd(RC, "ACL SETUSER obsdash on >pw ~* &* +@read +@scripting +time"));
    snprintf(url, sizeof url, "redis://obsdash:pw@127.0.0.1:%d/0", R->port);
    c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", url), 0);
    assert_int_equal(saq_conf_set(c, "name", n), 0);
    saq_queue_t *dash = saq_queue_new(c);
    assert_non_null(dash);
    saq_conf_free(c);
    ov = overview(dash);
    assert_int_equal((int)num(ov, "jobs.queued"), 2);
    assert_int_equal((int)num(ov, "jobs.incomplete"), 4);
    cJSON_Delete(ov);
    saq_queue_free(dash);
    freeReplyObject(rh_cmd(RC, "ACL DELUSER obsro obsdash"));
    saq_queue_free(q);
}

static long long redis_ms(void)
{
    redisReply *r = rh_cmd(RC, "TIME");
    long long ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return ms;
}

/* A Python saq 0.26 worker's registry entry, as write_worker_info makes it (ttl 60 s). */
static void py_worker(const char *q, const char *wid, const char *stats, const char *metadata)
{
    char json[512], qk[256];
    size_t k = 0;
    for (const char *c = q; *c && k < sizeof qk - 3; c++) { /* the name as a JSON string */
        if (*c == '"' || *c == '\\')
            qk[k++] = '\\';
        qk[k++] = *c;
    }
    qk[k] = 0;
    snprintf(json, sizeof json, "{\"stats\": %s, \"queue_key\": \"%s\", \"metadata\": %s}", stats, qk, metadata);
    freeReplyObject(rh_cmd(RC, "SETEX saq:%s:worker_info:%s 60 %s", q, wid, json));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:stats %lld saq:%s:worker_info:%s", q, redis_ms() + 60000, q, wid));
}

static void test_overview_workers_rates_and_registry_lag(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("obs-workers", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* a Python worker (restarted under its id: its counters went down), both from saq's registry */
    py_worker(n, "pyw", "{\"complete\": 40, \"failed\": 2, \"retried\": 0, \"aborted\": 0, \"uptime\": 35000}",
              "{\"host\": \"py\"}");
    py_worker(n, "restarted", "{\"complete\": 3, \"failed\": 0, \"retried\": 0, \"aborted\": 0, \"uptime\": 2000}",
              "null");
    saq_worker_t *w = worker_with_conf(q, NULL);
    saq_worker_register(w, "ok", complete_handler, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    sleep_ms(300); /* its first registry write */
    enq_n(q, "ok", NULL, 5);
    wait_drained(q);
    /* the registry has the new counters within about 1 s (saq writes every 10 s) */
    double t0 = now_s();
    char *rec = NULL;
    while (now_s() - t0 < 3) {
        free(rec);
        rec = rh_str(RC, "GET saq:%s:worker_info:%s", n, saq_worker_id(w));
        if (rec && strstr(rec, "\"complete\": 5"))
            break;
        sleep_ms(20);
    }
    double lag = now_s() - t0;
    fprintf(stderr, "registry lag after the last job: %.2f s\n", lag);
    assert_non_null(rec);
    assert_non_null(strstr(rec, "\"complete\": 5"));
    assert_true(lag < 1.6);
    free(rec);
    long long ttl = rh_int(RC, "TTL saq:%s:worker_info:%s", n, saq_worker_id(w));
    assert_true(ttl >= 9 && ttl <= 11); /* saq's: worker_info timer + 1 */

    /* a sample 30 s old: the rates are what happened since */
    freeReplyObject(rh_cmd(RC, "DEL saq:%s:libsaq:samples", n));
    char sample[512];
    snprintf(sample, sizeof sample,
             "{\"t\": %lld, \"w\": {\"pyw\": [10, 1, 0, 0, 5000], \"restarted\": [100, 0, 0, 0, 900000], "
             "\"%s\": [0, 0, 0, 0, 100], \"gone\": [7, 0, 0, 0, 10000]}}",
             redis_ms() - 30000, saq_worker_id(w));
    freeReplyObject(rh_cmd(RC, "LPUSH saq:%s:libsaq:samples %s", n, sample));
    cJSON *ov = overview(q);
    assert_int_equal((int)num(ov, "workers_alive"), 3);
    const cJSON *me = find_worker(ov, saq_worker_id(w)), *py = find_worker(ov, "pyw");
    assert_non_null(me);
    assert_non_null(py);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(me, "libsaq")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(py, "libsaq")));
    assert_int_equal((int)num(me, "complete"), 5);
    assert_int_equal((int)num(py, "complete"), 40);
    assert_int_equal((int)num(py, "uptime_ms"), 35000);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(py, "metadata"), "host")
                            ->valuestring,
                        "py");
    assert_int_equal((int)num(ov, "totals.complete"), 48);
    assert_int_equal((int)num(ov, "totals.failed"), 2);
    /* since the sample: pyw 30 (40 - 10), restarted 3 (since its restart), this worker 5, gone 0:
     * 38 complete and 1 failed in about 30 s */
    double win = num(ov, "per_minute.window_s");
    assert_true(win >= 29.5 && win < 35);
    assert_true(fabs(num(ov, "per_minute.complete") - 38 * 60 / win) < 0.02);
    assert_true(fabs(num(ov, "per_minute.failed") - 1 * 60 / win) < 0.02);
    assert_int_equal((int)num(ov, "per_minute.retried"), 0);
    cJSON_Delete(ov);
    /* the call pushed a sample of its own (at most one per 5 s) */
    assert_int_equal(rh_int(RC, "LLEN saq:%s:libsaq:samples", n), 2);
    long long sttl = rh_int(RC, "TTL saq:%s:libsaq:samples", n);
    assert_true(sttl > 0 && sttl <= 600);
    assert_int_equal(saq_worker_stop(w, 1000), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
    saq_queue_free(q);
}

/* ---- Prometheus text ---- */

static void test_queue_metrics_promtool(void **state)
{
    (void)state;
    /* a queue name and a worker id that need escaping in label values */
    char name[128];
    snprintf(name, sizeof name, "obs\"m\\%s", rh_queue_name("x"));
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", R->url), 0);
    assert_int_equal(saq_conf_set(c, "name", name), 0);
    saq_queue_t *q = saq_queue_new(c);
    assert_non_null(q);
    saq_conf_free(c);
    py_worker(name, "w\"1\\", "{\"complete\": 4, \"failed\": 1, \"retried\": 2, \"aborted\": 0, \"uptime\": 1500}",
              "null");
    enq_n(q, "f", NULL, 3);
    char *text = queue_metrics(q);
    fprintf(stderr, "%s", text);
    assert_int_equal(itest_promtool(text), 0);
    char esc[160], line[400];
    snprintf(esc, sizeof esc, "obs\\\"m\\\\%s", name + 6);
    snprintf(line, sizeof line, "saq_queue_jobs{queue=\"%s\",state=\"queued\"} ", esc);
    assert_int_equal((int)metric(text, line), 3);
    snprintf(line, sizeof line, "saq_queue_workers{queue=\"%s\"} ", esc);
    assert_int_equal((int)metric(text, line), 1);
    snprintf(line, sizeof line, "saq_worker_jobs_total{queue=\"%s\",worker=\"w\\\"1\\\\\",outcome=\"retried\"} ", esc);
    assert_int_equal((int)metric(text, line), 2);
    snprintf(line, sizeof line, "saq_worker_uptime_seconds{queue=\"%s\",worker=\"w\\\"1\\\\\"} ", esc);
    assert_true(metric(text, line) == 1.5);
    snprintf(line, sizeof line, "saq_queue_oldest_job_age_seconds{queue=\"%s\"} ", esc);
    assert_true(metric(text, line) >= 0);
    for (const char *f = "saq_queue_jobs saq_queue_oldest_job_age_seconds saq_queue_workers saq_worker_jobs_total "
                         "saq_worker_uptime_seconds";
         *f;) {
        char fam[64], help[96];
        int len = (int)strcspn(f, " ");
        snprintf(fam, sizeof fam, "%.*s", len, f);
        snprintf(help, sizeof help, "# HELP %s ", fam);
        assert_non_null(strstr(text, help));
        snprintf(help, sizeof help, "# TYPE %s ", fam);
        assert_non_null(strstr(text, help));
        f += len + (f[len] == ' ');
    }
    free(text);
    saq_queue_free(q);
}

/* pull mode: complete every LEASE of function "pulled" until the worker stops */
typedef struct puller {
    saq_cq_t *cq;
    pthread_t th;
} puller_t;

static void *pull_loop(void *arg)
{
    puller_t *p = arg;
    for (;;) {
        saq_event_t *ev = saq_cq_poll(p->cq, TMO);
        if (!ev)
            continue;
        int type = saq_event_type(ev);
        if (type == SAQ_EVENT_LEASE) {
            saq_job_t *j = saq_event_take_job(ev);
            sleep_ms(60);
            saq_job_complete(j, "2");
            saq_job_free(j);
        }
        saq_event_free(ev);
        if (type == SAQ_EVENT_WORKER_STOPPED)
            return NULL;
    }
}

static void test_worker_metrics_histogram_and_final_stats(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("obs-wm", NULL, NULL), *q2 = mkqueue("obs-wm2", NULL, NULL);
    saq_worker_t *w = worker_with_conf(q, NULL);
    saq_worker_register(w, "fast", complete_handler, NULL);
    saq_worker_register(w, "slow", complete_handler, NULL);
    saq_worker_register(w, "bad", complete_handler, NULL);
    saq_worker_register(w, "idle", complete_handler, NULL);
    saq_worker_register_pull(w, "pulled");
    assert_int_equal(saq_worker_add_queue(w, q2, 1), 0);
    /* before the start: every registered function has its series at 0 */
    const char *m0 = saq_worker_metrics(w);
    assert_non_null(m0);
    char line[300];
    snprintf(line, sizeof line, "saq_jobs_processed_total{queue=\"%s\",function=\"idle\",outcome=\"complete\"} ",
             saq_queue_name(q2));
    assert_int_equal((int)metric(m0, line), 0);
    puller_t p = {saq_cq_new(), 0};
    assert_int_equal(saq_worker_start(w, p.cq, 1), 0);
    pthread_create(&p.th, NULL, pull_loop, &p);
    enq_n(q, "fast", NULL, 3);
    enq_n(q, "slow", NULL, 2);
    enq_n(q, "bad", "{\"retries\": 2}", 1); /* retried once, then failed */
    enq_n(q2, "fast", NULL, 4);
    enq_n(q2, "pulled", NULL, 1);
    enq_n(q2, "nosuch", NULL, 1); /* no such function: failed, never ran */
    wait_drained(q);
    wait_drained(q2);
    const char *qn = saq_queue_name(q), *qn2 = saq_queue_name(q2);
    assert_int_equal(saq_worker_stop(w, 1000), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    pthread_join(p.th, NULL);

    /* readable after the stop, and the same as before it */
    char *text = strdup(saq_worker_metrics(w));
    fprintf(stderr, "%s", text);
    assert_int_equal(itest_promtool(text), 0);
#define M(fmt, ...) (snprintf(line, sizeof line, fmt, __VA_ARGS__), metric(text, line))
    assert_int_equal((int)M("saq_jobs_processed_total{queue=\"%s\",function=\"fast\",outcome=\"complete\"} ", qn), 3);
    assert_int_equal((int)M("saq_jobs_processed_total{queue=\"%s\",function=\"fast\",outcome=\"complete\"} ", qn2), 4);
    assert_int_equal((int)M("saq_jobs_processed_total{queue=\"%s\",function=\"bad\",outcome=\"retried\"} ", qn), 1);
    assert_int_equal((int)M("saq_jobs_processed_total{queue=\"%s\",function=\"bad\",outcome=\"failed\"} ", qn), 1);
    assert_int_equal((int)M("saq_jobs_processed_total{queue=\"%s\",function=\"pulled\",outcome=\"complete\"} ", qn2), 1);
    assert_int_equal((int)M("saq_jobs_processed_total{queue=\"%s\",function=\"(unregistered)\",outcome=\"failed\"} ", qn2), 1);
    assert_int_equal((int)M("saq_jobs_processed_total{queue=\"%s\",function=\"slow\",outcome=\"failed\"} ", qn), 0);
    /* slow jobs ran 30 ms: none within 25 ms, both within +Inf; the pulled one 60 ms */
    assert_int_equal((int)M("saq_job_duration_seconds_bucket{queue=\"%s\",function=\"slow\",le=\"0.025\"} ", qn), 0);
    assert_int_equal((int)M("saq_job_duration_seconds_bucket{queue=\"%s\",function=\"slow\",le=\"+Inf\"} ", qn), 2);
    assert_int_equal((int)M("saq_job_duration_seconds_count{queue=\"%s\",function=\"slow\"} ", qn), 2);
    assert_true(M("saq_job_duration_seconds_sum{queue=\"%s\",function=\"slow\"} ", qn) >= 0.059);
    assert_int_equal((int)M("saq_job_duration_seconds_bucket{queue=\"%s\",function=\"pulled\",le=\"0.05\"} ", qn2), 0);
    assert_int_equal((int)M("saq_job_duration_seconds_count{queue=\"%s\",function=\"pulled\"} ", qn2), 1);
    assert_int_equal((int)M("saq_job_duration_seconds_count{queue=\"%s\",function=\"bad\"} ", qn), 2);
    assert_int_equal((int)M("saq_job_duration_seconds_count{queue=\"%s\",function=\"(unregistered)\"} ", qn2), 0);
    assert_int_equal((int)M("saq_job_duration_seconds_bucket{queue=\"%s\",function=\"fast\",le=\"300\"} ", qn2), 4);
    assert_int_equal((int)M("saq_jobs_running{queue=\"%s\"} ", qn), 0);
    assert_int_equal((int)M("saq_worker_errors_total{queue=\"%s\"} ", qn2), 0);
#undef M
    /* the final stats: the counters at the stop, and they stay (uptime included) */
    char *st1 = strdup(saq_worker_stats_json(w));
    assert_non_null(strstr(st1, "\"complete\": 10"));
    assert_non_null(strstr(st1, "\"running\": 0"));
    saq_event_free(OK_EV(saq_queue_enqueue_call_sync(q, "fast", "{\"key\": \"later\"}", TMO)));
    saq_event_free(OK_EV(saq_queue_abort_sync(q, "later", "no", 5, TMO))); /* counted by the queue object */
    sleep_ms(300);
    const char *st2 = saq_worker_stats_json(w);
    assert_string_equal(st1, st2);
    assert_string_equal(text, saq_worker_metrics(w));
    free(st1);
    free(text);
    saq_worker_free(w);
    saq_cq_free(p.cq);
    saq_queue_free(q2);
    saq_queue_free(q);
}

/* ---- iter_jobs ---- */

static char **iter_all(saq_queue_t *q, const char *statuses, int count, size_t *n, int *pages)
{
    saq_cq_t *cq = saq_cq_new();
    char cursor[32] = "0";
    char **keys = NULL;
    *n = 0;
    *pages = 0;
    do {
        assert_int_equal(saq_queue_iter_jobs(q, statuses, cursor, count, cq, 3), SAQ_OK);
        saq_event_t *ev = OK_EV(wait_op(cq, 3));
        assert_int_equal(saq_event_type(ev), SAQ_EVENT_ITER_JOBS);
        cJSON *arr = cJSON_Parse(saq_event_json(ev));
        assert_true(cJSON_IsArray(arr));
        assert_int_equal((size_t)cJSON_GetArraySize(arr), saq_event_job_count(ev));
        cJSON_Delete(arr);
        for (size_t i = 0; i < saq_event_job_count(ev); i++) {
            saq_job_t *j = saq_event_job_at(ev, i);
            assert_non_null(j);
            keys = realloc(keys, (*n + 1) * sizeof *keys);
            keys[(*n)++] = strdup(saq_job_key(j));
        }
        /* a page is empty only when the scan is over */
        if (!saq_event_job_count(ev) && strcmp(saq_event_key(ev), "0"))
            fail_msg("page %d is empty but the scan goes on (cursor %s -> %s)", *pages, cursor, saq_event_key(ev));
        snprintf(cursor, sizeof cursor, "%s", saq_event_key(ev));
        (*pages)++;
        saq_event_free(ev);
        assert_true(*pages < 1000);
    } while (strcmp(cursor, "0"));
    saq_cq_free(cq);
    return keys;
}

/* How many distinct keys with `prefix` are in keys[0 .. n). */
static int distinct(char **keys, size_t n, const char *prefix)
{
    int d = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcmp(keys[k], keys[i]);
        d += !seen && !strncmp(keys[i], prefix, strlen(prefix));
    }
    return d;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static void test_iter_jobs_pages_and_filters(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("obs-iter", NULL, NULL);
    const char *n = saq_queue_name(q);
    char other[160];
    snprintf(other, sizeof other, "%s:sub", n); /* its job keys match saq:job:<n>:* too */
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "url", R->url);
    saq_conf_set(c, "name", other);
    saq_queue_t *q2 = saq_queue_new(c);
    saq_conf_free(c);
    char kw[64];
    for (int i = 0; i < 12; i++) {
        snprintf(kw, sizeof kw, "{\"key\": \"done-%02d\"}", i);
        saq_job_free(enq(q, "fast", kw));
    }
    saq_worker_t *w = worker_with_conf(q, NULL);
    saq_worker_register(w, "fast", complete_handler, NULL);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    wait_drained(q);
    assert_int_equal(saq_worker_stop(w, 1000), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
    for (int i = 0; i < 9; i++) {
        snprintf(kw, sizeof kw, "{\"key\": \"wait-%02d\"}", i);
        saq_job_free(enq(q, "later", kw));
    }
    saq_job_free(enq(q2, "x", "{\"key\": \"sub-1\"}"));
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:junk not-json", n)); /* unreadable: skipped */

    size_t cnt;
    int pages;
    char **keys = iter_all(q, NULL, 5, &cnt, &pages);
    fprintf(stderr, "iter_jobs: %zu jobs in %d pages\n", cnt, pages);
    assert_true(pages > 1);
    assert_int_equal(distinct(keys, cnt, "done-"), 12);
    assert_int_equal(distinct(keys, cnt, "wait-"), 9);
    assert_int_equal(distinct(keys, cnt, ""), 21); /* not the other queue's, not the junk */
    free_keys(keys, cnt);
    keys = iter_all(q, "complete", 3, &cnt, &pages);
    assert_int_equal(distinct(keys, cnt, ""), 12);
    assert_int_equal(distinct(keys, cnt, "done-"), 12);
    free_keys(keys, cnt);
    /* one failed job among 400 other keys of the queue and 400 records of other statuses: SCAN
     * steps of 5 mostly find nothing to keep, yet no page is empty before the end (iter_all) */
    freeReplyObject(rh_cmd(RC, "EVAL %s 0 saq:job:%s:", "for i = 1, 400 do redis.call('SET', ARGV[1] .. 'pad-' .. i, 'x') end",
                           n));
    saq_job_free(enq(q, "later", "{\"key\": \"bad-1\"}"));
    saq_cq_t *fcq = saq_cq_new();
    assert_int_equal(saq_queue_finish(q, "bad-1", "failed", NULL, "boom", fcq, 1), SAQ_OK);
    saq_event_free(OK_EV(wait_op(fcq, 1)));
    saq_cq_free(fcq);
    keys = iter_all(q, "failed", 5, &cnt, &pages);
    fprintf(stderr, "iter_jobs failed among 400 others: %zu jobs in %d pages\n", cnt, pages);
    assert_true(pages <= 2); /* the page with the job, and maybe an empty last one */
    assert_int_equal(distinct(keys, cnt, "bad-"), 1);
    free_keys(keys, cnt);
    freeReplyObject(rh_cmd(RC, "EVAL %s 0 saq:job:%s:", "for i = 1, 400 do redis.call('DEL', ARGV[1] .. 'pad-' .. i) end",
                           n));
    keys = iter_all(q, "queued, failed", 10000, &cnt, &pages);
    assert_int_equal(pages, 1);
    assert_int_equal(distinct(keys, cnt, ""), 10); /* and bad-1 */
    assert_int_equal(distinct(keys, cnt, "wait-"), 9);
    free_keys(keys, cnt);

    saq_cq_t *cq = saq_cq_new();
    const struct {
        const char *statuses, *cursor;
        int count;
    } bad[] = {{NULL, "0", 0}, {NULL, "0", 10001}, {NULL, "12x", 10}, {"queued,bogus", "0", 10}, {",", NULL, 10}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(saq_queue_iter_jobs(q, bad[i].statuses, bad[i].cursor, bad[i].count, cq, 4), SAQ_OK);
        saq_event_t *ev = wait_op(cq, 4);
        assert_int_equal(saq_event_status(ev), SAQ_EINVAL);
        fprintf(stderr, "refused: %s\n", saq_event_errmsg(ev));
        saq_event_free(ev);
    }
    saq_cq_free(cq);
    saq_queue_free(q2);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overview_counts_and_oldest_age),
        cmocka_unit_test(test_overview_workers_rates_and_registry_lag),
        cmocka_unit_test(test_queue_metrics_promtool),
        cmocka_unit_test(test_worker_metrics_histogram_and_final_stats),
        cmocka_unit_test(test_iter_jobs_pages_and_filters),
    };
    if (getenv("SAQ_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SAQ_TEST_FILTER"));
    return cmocka_run_group_tests_name("observe", tests, suite_setup, suite_teardown);
}
