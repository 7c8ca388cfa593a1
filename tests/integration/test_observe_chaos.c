/* SPDX-License-Identifier: MIT */
/* Issue 17's observability calls against hostile data and arguments: registry
 * records that are not JSON or of the wrong shape, counters as strings,
 * negative or huge, a registry member without its record, worker ids with
 * bytes that need escaping (checked by `promtool check metrics`), a samples
 * ring holding garbage or of the wrong type, the queued list's head missing
 * or unreadable, every key the overview reads of the wrong Redis type,
 * iter_jobs over unreadable records and with bad arguments, and a log sink
 * that calls back into libsaq from several threads. Each call must end with
 * its event (OK, or a clear SAQ_E* code), valid JSON or a clean exposition. */
#include "itest.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <sys/wait.h>

static saq_event_t *run_ov(saq_queue_t *q, int metrics)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(metrics ? saq_queue_metrics(q, cq, 3) : saq_queue_overview(q, cq, 3), SAQ_OK);
    saq_event_t *ev = saq_cq_wait(cq, 3, TMO);
    assert_non_null(ev);
    saq_cq_free(cq);
    return ev;
}

/* The overview must succeed and be JSON; returns it parsed. */
static cJSON *ov_json(saq_queue_t *q)
{
    saq_event_t *ev = OK_EV(run_ov(q, 0));
    cJSON *j = cJSON_Parse(saq_event_json(ev));
    if (!j)
        fail_msg("overview is not JSON: %s", saq_event_json(ev));
    saq_event_free(ev);
    return j;
}

static char *metrics_text(saq_queue_t *q)
{
    saq_event_t *ev = OK_EV(run_ov(q, 1));
    char *s = strdup(saq_event_text(ev));
    saq_event_free(ev);
    return s;
}

static long long redis_ms(void)
{
    redisReply *r = rh_cmd(RC, "TIME");
    long long ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return ms;
}

static const char *reg_family = "worker_info"; /* "stats" in the 0.13 dialect */

/* A registry member and (when rec is not NULL) its record, binary-safe. */
static void reg(const char *q, const char *wid, size_t widlen, const char *rec, size_t reclen)
{
    char key[512];
    int kn = snprintf(key, sizeof key, "saq:%s:%s:", q, reg_family);
    memcpy(key + kn, wid, widlen);
    size_t klen = (size_t)kn + widlen;
    char score[32];
    snprintf(score, sizeof score, "%lld", redis_ms() + 60000);
    if (rec) {
        const char *a[] = {"SET", key, rec, "EX", "60"};
        size_t l[] = {3, klen, reclen, 2, 2};
        freeReplyObject(redisCommandArgv(RC, 5, a, l));
    }
    char zk[256];
    snprintf(zk, sizeof zk, "saq:%s:stats", q);
    const char *a[] = {"ZADD", zk, score, key};
    size_t l[] = {4, strlen(zk), strlen(score), klen};
    freeReplyObject(redisCommandArgv(RC, 4, a, l));
}

static size_t len_or_0(const char *s) { return s ? strlen(s) : 0; }

#define REG(q, wid, rec) reg(q, wid, sizeof(wid) - 1, rec, len_or_0(rec))

static void hostile_registry(const char *dialect)
{
    saq_queue_t *q = mkqueue("chaos-reg", "dialect", dialect);
    reg_family = strcmp(dialect, "0.13") ? "worker_info" : "stats";
    const char *n = saq_queue_name(q);
    REG(n, "notjson", "this is not json");
    REG(n, "array", "[1, 2, 3]");
    REG(n, "strstats", "{\"stats\": \"x\", \"metadata\": {\"a\": [1, {\"b\": null}]}}");
    REG(n, "strnum", "{\"stats\": {\"complete\": \"5\", \"failed\": -3, \"retried\": 1e300, \"aborted\": NaN, "
                     "\"uptime\": -Infinity}}");
    REG(n, "huge", "{\"stats\": {\"complete\": 99999999999999999999999, \"failed\": 1.5, \"uptime\": 7}}");
    REG(n, "nokey", NULL);
    REG(n, "quo\"te\\back\nline\xc3\xa9", "{\"stats\": {\"complete\": 1}, \"metadata\": null}");
    REG(n, "bin\xff\xfe\x01", "{\"stats\": {\"complete\": 2}, \"metadata\": \"\\u0000\"}");
    REG(n, "dup", "{\"stats\": {\"complete\": 1}, \"stats\": {\"complete\": 3}, \"metadata\": 1, \"metadata\": 2}");
    REG(n, "deep", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    /* a 4 MB metadata */
    size_t big = 4u << 20;
    char *b = malloc(big + 64);
    int off = sprintf(b, "{\"stats\": {\"complete\": 4}, \"metadata\": \"");
    memset(b + off, 'x', big);
    strcpy(b + off + big, "\"}");
    reg(n, "big", 3, b, strlen(b));
    free(b);
    /* a record of the wrong type */
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:%s:hash a b", n, reg_family));
    REG(n, "hash", NULL);
    if (!strcmp(dialect, "0.13")) /* flat stats records */
        REG(n, "flat", "{\"complete\": \"5\", \"failed\": -3, \"retried\": 1e300, \"aborted\": NaN, \"uptime\": 1e15}");
    /* members of other shapes ending in a listed worker's id: the same worker */
    char zk[256], score[32];
    snprintf(zk, sizeof zk, "saq:%s:stats", n);
    snprintf(score, sizeof score, "%lld", redis_ms() + 60000);
    freeReplyObject(rh_cmd(RC, "ZADD %s %s junk:dup %s dup", zk, score, score));
    for (int round = 0; round < 3; round++) { /* the sample it writes is read back */
        cJSON *j = ov_json(q);
        int dups = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(j, "workers")) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(w, "id");
            dups += cJSON_IsString(id) && !strcmp(id->valuestring, "dup");
        }
        assert_int_equal(dups, 1);
        cJSON_Delete(j);
        char *m = metrics_text(q);
        if (itest_promtool(m)) {
            fprintf(stderr, "%s\n", m);
            fail_msg("promtool refused the exposition");
        }
        free(m);
    }
    saq_queue_free(q);
}

static void test_hostile_registry(void **state)
{
    (void)state;
    hostile_registry("0.26");
    hostile_registry("0.13");
    reg_family = "worker_info";
}

static void test_hostile_samples(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("chaos-samples", NULL, NULL);
    const char *n = saq_queue_name(q);
    long long now = redis_ms();
    REG(n, "w1", "{\"stats\": {\"complete\": 10, \"uptime\": 100000}}");
    const char *garbage[] = {
        "garbage", "{}", "{\"t\": \"x\"}", "{\"t\": -5, \"w\": {}}", "{\"t\": 1e300, \"w\": {}}",
        "{\"t\": 1, \"w\": []}", "{\"t\": 1, \"w\": {\"w1\": [1, 2]}}", "{\"t\": 1, \"w\": {\"w1\": [1,2,3,4,5,6]}}",
        "{\"t\": 1, \"w\": {\"w1\": [-1,2,3,4,5]}}", "{\"t\": 1, \"w\": {\"w1\": \"abc\"}}",
        "{\"t\": 99999999999999999999, \"w\": {}}", "",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++)
        freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:libsaq:samples %s", n, garbage[i]));
    /* plausible ones 30 s and 60 s ago, with a worker id needing escapes */
    char s[256];
    snprintf(s, sizeof s, "{\"t\": %lld, \"w\": {\"w1\": [0, 0, 0, 0, 40000], \"a\\\"b\": [1,1,1,1,1]}}", now - 60000);
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:libsaq:samples %s", n, s));
    snprintf(s, sizeof s, "{\"t\": %lld, \"w\": {\"w1\": [5, 0, 0, 0, 70000]}}", now - 30000);
    freeReplyObject(rh_cmd(RC, "LPUSH saq:%s:libsaq:samples %s", n, s));
    cJSON *j = ov_json(q);
    cJSON_Delete(j);
    /* the samples key of the wrong type: replaced */
    freeReplyObject(rh_cmd(RC, "DEL saq:%s:libsaq:samples", n));
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:libsaq:samples a b", n));
    j = ov_json(q);
    cJSON_Delete(j);
    saq_queue_free(q);
}

static void test_wrong_types_and_bad_head(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("chaos-types", NULL, NULL);
    const char *n = saq_queue_name(q);
    /* head job missing */
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:gone", n, n));
    cJSON *j = ov_json(q);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "oldest_queued_age_s")));
    cJSON_Delete(j);
    /* head record not JSON, then a queued field that is not a number, then binary */
    const char *recs[] = {"not json", "{\"function\": \"f\", \"queued\": \"abc\", \"status\": \"queued\"}",
                          "{\"function\": \"f\", \"queued\": -5, \"status\": \"queued\"}",
                          "{\"function\": \"f\", \"queued\": 1e308, \"status\": \"queued\"}",
                          "\xff\xfe\x00\x01"};
    for (size_t i = 0; i < sizeof recs / sizeof *recs; i++) {
        const char *a[] = {"SET", NULL, recs[i]};
        char k[256];
        snprintf(k, sizeof k, "saq:job:%s:gone", n);
        a[1] = k;
        size_t l[] = {3, strlen(k), i == 4 ? 4 : strlen(recs[i])};
        freeReplyObject(redisCommandArgv(RC, 3, a, l));
        j = ov_json(q);
        cJSON_Delete(j);
    }
    freeReplyObject(rh_cmd(RC, "DEL saq:job:%s:gone", n));
    freeReplyObject(rh_cmd(RC, "HSET saq:job:%s:gone a b", n));
    cJSON_Delete(ov_json(q));
    /* every key the overview reads, of the wrong type */
    const char *keys[] = {"queued", "active", "incomplete", "stats", "libsaq:alive", "libsaq:samples"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        freeReplyObject(rh_cmd(RC, "DEL saq:%s:%s", n, keys[i]));
        freeReplyObject(rh_cmd(RC, "SADD saq:%s:%s x", n, keys[i]));
    }
    j = ov_json(q);
    cJSON_Delete(j);
    char *m = metrics_text(q);
    assert_int_equal(itest_promtool(m), 0);
    free(m);
    saq_queue_free(q);
}

static int ev_status(saq_queue_t *q, const char *st, const char *cur, int count)
{
    saq_cq_t *cq = saq_cq_new();
    int rc = saq_queue_iter_jobs(q, st, cur, count, cq, 1);
    if (rc == SAQ_OK) {
        saq_event_t *ev = saq_cq_wait(cq, 1, TMO);
        assert_non_null(ev);
        rc = saq_event_status(ev);
        cJSON *j = rc == SAQ_OK ? cJSON_Parse(saq_event_json(ev)) : NULL;
        if (rc == SAQ_OK && !j)
            fail_msg("not JSON: %s", saq_event_json(ev));
        cJSON_Delete(j);
        if (rc)
            fprintf(stderr, "iter_jobs(%s, %s, %d): %s %s\n", st ? st : "NULL", cur ? cur : "NULL", count,
                    saq_err_name(rc), saq_event_errmsg(ev));
        saq_event_free(ev);
    }
    saq_cq_free(cq);
    return rc;
}

static void test_iter_jobs_bad_args(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("chaos-iter", NULL, NULL);
    saq_cq_t *cq = saq_cq_new();
    assert_int_not_equal(saq_queue_iter_jobs(NULL, NULL, NULL, 10, cq, 1), SAQ_OK);
    assert_int_not_equal(saq_queue_iter_jobs(q, NULL, NULL, 10, NULL, 1), SAQ_OK);
    assert_int_not_equal(saq_queue_overview(NULL, cq, 1), SAQ_OK);
    assert_int_not_equal(saq_queue_overview(q, NULL, 1), SAQ_OK);
    assert_int_not_equal(saq_queue_metrics(NULL, cq, 1), SAQ_OK);
    assert_int_not_equal(saq_queue_metrics(q, NULL, 1), SAQ_OK);
    assert_null(saq_worker_metrics(NULL));
    assert_null(saq_worker_stats_json(NULL));
    assert_int_equal(saq_conf_set_log_cq(NULL, cq, 1), SAQ_EINVAL);
    assert_int_equal(saq_conf_set_log(NULL, NULL, NULL), SAQ_EINVAL);
    saq_cq_free(cq);
    assert_int_equal(ev_status(q, NULL, NULL, 0), SAQ_EINVAL);
    assert_int_equal(ev_status(q, NULL, NULL, -1), SAQ_EINVAL);
    assert_int_equal(ev_status(q, NULL, NULL, 10001), SAQ_EINVAL);
    assert_int_equal(ev_status(q, NULL, NULL, 10000), SAQ_OK);
    assert_int_equal(ev_status(q, NULL, NULL, 1), SAQ_OK);
    assert_int_equal(ev_status(q, NULL, "abc", 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, NULL, "-1", 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, NULL, " 1", 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, NULL, "99999999999999999999", 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, NULL, "18446744073709551616", 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, NULL, "18446744073709551615", 10), SAQ_OK);
    assert_int_equal(ev_status(q, NULL, "000000000000000000000000000000", 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, "bogus", NULL, 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, "queued,bogus", NULL, 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, ",,", NULL, 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, " ", NULL, 10), SAQ_EINVAL);
    assert_int_equal(ev_status(q, "queued,,complete", NULL, 10), SAQ_OK);
    assert_int_equal(ev_status(q, " queued , complete ", NULL, 10), SAQ_OK);
    assert_int_equal(ev_status(q, "QUEUED", NULL, 10), ev_status(q, "QUEUED", NULL, 10));
    saq_queue_free(q);
}

static void test_iter_jobs_unreadable_records(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("chaos-iterrec", NULL, NULL);
    const char *n = saq_queue_name(q);
    saq_job_free(enq(q, "good", "{}"));
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:nj notjson", n));
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:arr [1]", n));
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:bin %b", n, "\xff\x00\xfe", (size_t)3));
    freeReplyObject(rh_cmd(RC, "HSET saq:job:%s:hash a b", n));
    char other[256];
    snprintf(other, sizeof other, "{\"function\": \"f\", \"key\": \"other\", \"queue\": \"%s:x\", \"status\": \"queued\"}", n);
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:x:other %s", n, other));
    saq_cq_t *cq = saq_cq_new();
    const char *cur = "0";
    char *next = NULL;
    int pages = 0;
    size_t total = 0;
    do {
        assert_int_equal(saq_queue_iter_jobs(q, NULL, cur, 2, cq, 1), SAQ_OK);
        saq_event_t *ev = OK_EV(saq_cq_wait(cq, 1, TMO));
        total += saq_event_job_count(ev);
        free(next);
        next = strdup(saq_event_key(ev));
        cur = next;
        saq_event_free(ev);
        pages++;
    } while (strcmp(cur, "0") && pages < 100);
    free(next);
    assert_int_equal(total, 1);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void ok_handler(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_complete(job, "1");
    saq_job_free(job);
}

/* Jobs of functions no worker registered, each with its own name (any Redis
 * client can write them): the worker's exposition stays one series for all. */
static void test_worker_metrics_unregistered_names(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("chaos-card", NULL, NULL);
    saq_worker_t *w = worker_with_conf(q, (const char *[]){"concurrency", "4", NULL});
    saq_worker_register(w, "known", ok_handler, NULL);
    for (int i = 0; i < 300; i++) {
        char fn[64];
        snprintf(fn, sizeof fn, "random-%d-\xff", i);
        saq_job_free(enq(q, fn, "{}"));
    }
    saq_job_free(enq(q, "known", "{}"));
    assert_int_equal(saq_worker_start(w, NULL, 0), SAQ_OK);
    double end = now_s() + 20;
    while (now_s() < end && (qcount(q, "incomplete") > 0))
        sleep_ms(50);
    assert_int_equal(qcount(q, "incomplete"), 0);
    assert_int_equal(saq_worker_stop(w, 2000), SAQ_OK);
    const char *m = saq_worker_metrics(w);
    assert_non_null(m);
    size_t series = 0;
    for (const char *p = m; (p = strstr(p, "saq_jobs_processed_total{")); p++)
        series++;
    fprintf(stderr, "%zu saq_jobs_processed_total lines, %zu bytes\n", series, strlen(m));
    assert_true(series <= 8); /* known and the unregistered ones, 4 outcomes each */
    if (!strstr(m, "function=\"known\",outcome=\"complete\"} 1\n"))
        fail_msg("no count of the known function in:\n%s", m);
    assert_int_equal(itest_promtool(m), 0);
    saq_worker_free(w);
    saq_queue_free(q);
}

/* A log sink that calls non-blocking libsaq functions (and is slow), with
 * records arriving from the I/O thread, handler threads and a Redis restart. */
static saq_queue_t *sink_q;
static saq_cq_t *sink_cq;
static atomic_int sink_calls;

static void reentrant_sink(int level, const char *message, const char *fields, void *ud)
{
    (void)level, (void)ud;
    assert_non_null(message);
    cJSON *j = cJSON_Parse(fields);
    assert_non_null(j);
    cJSON_Delete(j);
    atomic_fetch_add(&sink_calls, 1);
    saq_queue_overview(sink_q, sink_cq, 99);
    saq_queue_metrics(sink_q, sink_cq, 99);
    saq_queue_iter_jobs(sink_q, NULL, NULL, 10, sink_cq, 99);
    usleep(2000);
}

static void failing_handler(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_fail(job, "boom\nwith a \"newline\"");
    saq_job_free(job);
}

static void test_reentrant_log_sink(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", R->url), 0);
    assert_int_equal(saq_conf_set(c, "name", rh_queue_name("chaos-log")), 0);
    assert_int_equal(saq_conf_set(c, "log_level", "DeBuG"), 0);
    assert_int_not_equal(saq_conf_set(c, "log_level", "verbose"), 0);
    assert_int_not_equal(saq_conf_set(c, "log_level", ""), 0);
    assert_int_not_equal(saq_conf_set(c, "log_level", NULL), 0);
    assert_int_equal(saq_conf_set_log(c, reentrant_sink, NULL), 0);
    assert_int_not_equal(saq_conf_set_log(NULL, reentrant_sink, NULL), 0);
    sink_cq = saq_cq_new();
    saq_queue_t *q = saq_queue_new(c);
    assert_non_null(q);
    saq_conf_free(c);
    sink_q = q;
    saq_worker_t *w = worker_with_conf(q, (const char *[]){"concurrency", "8", NULL});
    saq_worker_register(w, "bad", failing_handler, NULL);
    for (int i = 0; i < 200; i++)
        saq_job_free(enq(q, "bad", "{}"));
    assert_int_equal(saq_worker_start(w, NULL, 0), SAQ_OK);
    sleep_ms(300);
    rh_restart(R); /* connection lost and recovered, from the I/O thread */
    redisFree(RC);
    RC = rh_client(R);
    for (int i = 0; i < 100; i++)
        saq_job_free(enq(q, "bad", "{}"));
    double end = now_s() + 30;
    while (now_s() < end && qcount(q, "incomplete") > 0)
        sleep_ms(50);
    assert_int_equal(saq_worker_stop(w, 2000), SAQ_OK);
    saq_worker_free(w);
    assert_true(atomic_load(&sink_calls) > 0);
    saq_queue_free(q);
    saq_event_t *ev;
    while ((ev = saq_cq_poll(sink_cq, 0)))
        saq_event_free(ev);
    saq_cq_free(sink_cq);
}

/* A log cq freed by its owner while the queue still logs to it. */
static void test_log_cq_freed_early(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", R->url), 0);
    assert_int_equal(saq_conf_set(c, "name", rh_queue_name("chaos-logcq")), 0);
    assert_int_equal(saq_conf_set(c, "log_level", "debug"), 0);
    saq_cq_t *lcq = saq_cq_new();
    assert_int_equal(saq_conf_set_log_cq(c, lcq, 5), 0);
    saq_queue_t *q = saq_queue_new(c);
    saq_conf_free(c);
    saq_cq_free(lcq);
    saq_worker_t *w = worker_with_conf(q, NULL);
    saq_worker_register(w, "bad", failing_handler, NULL);
    saq_job_free(enq(q, "bad", "{}"));
    assert_int_equal(saq_worker_start(w, NULL, 0), SAQ_OK);
    double end = now_s() + 10;
    while (now_s() < end && qcount(q, "incomplete") > 0)
        sleep_ms(20);
    saq_worker_free(w);
    saq_queue_free(q);
}

/* Redis killed while overviews, metrics and scans are in flight: each ends
 * with its event (an error or a result), none hangs. */
static void test_redis_dies_mid_overview(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("chaos-die", "command_timeout_ms", "2000");
    saq_cq_t *cq = saq_cq_new();
    int sent = 0;
    for (int i = 0; i < 50; i++) {
        sent += saq_queue_overview(q, cq, 1) == SAQ_OK;
        sent += saq_queue_metrics(q, cq, 1) == SAQ_OK;
        sent += saq_queue_iter_jobs(q, NULL, NULL, 100, cq, 1) == SAQ_OK;
    }
    rh_kill(R);
    int got = 0;
    while (got < sent) {
        saq_event_t *ev = saq_cq_wait(cq, 1, 15000);
        if (!ev)
            fail_msg("%d of %d events after Redis died", got, sent);
        if (saq_event_status(ev))
            assert_non_null(saq_event_errmsg(ev));
        saq_event_free(ev);
        got++;
    }
    assert_int_equal(saq_queue_overview(q, cq, 2), SAQ_OK);
    saq_event_t *ev = saq_cq_wait(cq, 2, 15000);
    assert_non_null(ev);
    assert_int_not_equal(saq_event_status(ev), SAQ_OK);
    saq_event_free(ev);
    rh_restart(R);
    redisFree(RC);
    RC = rh_client(R);
    ev = OK_EV(run_ov(q, 0));
    saq_event_free(ev);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static void test_traceparent_edges(void **state)
{
    (void)state;
    saq_job_t *j = saq_job_new("f");
    const char *good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const char *bad[] = {"00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
                         "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                         "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                         "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
                         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
                         "",
                         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(saq_job_set_traceparent(j, bad[i]), SAQ_EINVAL);
    assert_int_equal(saq_job_set_traceparent(NULL, good), SAQ_EINVAL);
    assert_null(saq_job_traceparent(NULL));
    assert_null(saq_job_traceparent(j));
    assert_int_equal(saq_job_set_traceparent(j, NULL), SAQ_OK);
    assert_int_equal(saq_job_set_traceparent(j, good), SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), good);
    /* duplicate keys: the last one wins, as json.loads; setting leaves one */
    assert_int_equal(saq_job_set_meta(j, "{\"traceparent\": \"x\", \"a\": 1, \"traceparent\": \"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00\"}"), SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    assert_int_equal(saq_job_set_traceparent(j, good), SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), good);
    const char *js = saq_job_to_json(j);
    const char *p = strstr(js, "traceparent");
    assert_non_null(p);
    assert_null(strstr(p + 1, "traceparent"));
    assert_int_equal(saq_job_set_traceparent(j, NULL), SAQ_OK);
    assert_null(saq_job_traceparent(j));
    /* a traceparent that is not a string, an escaped key */
    assert_int_equal(saq_job_set_meta(j, "{\"traceparent\": 5}"), SAQ_OK);
    assert_null(saq_job_traceparent(j));
    assert_int_equal(saq_job_set_meta(j, "{\"trace\\u0070arent\": \"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"}"), SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), good);
    assert_int_equal(saq_job_set_traceparent(j, "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    saq_job_free(j);
    /* meta that is not an object, as a record from Redis */
    saq_queue_t *q = mkqueue("chaos-tp", NULL, NULL);
    const char *n = saq_queue_name(q);
    const char *metas[] = {"[1]", "\"s\"", "5", "null", "{\"traceparent\": null}"};
    for (size_t i = 0; i < sizeof metas / sizeof *metas; i++) {
        char rec[256];
        snprintf(rec, sizeof rec, "{\"function\": \"f\", \"key\": \"m%zu\", \"queue\": \"%s\", \"status\": \"queued\", \"meta\": %s}", i, n, metas[i]);
        char key[16];
        snprintf(key, sizeof key, "m%zu", i);
        freeReplyObject(rh_cmd(RC, "SET saq:job:%s:%s %s", n, key, rec));
        saq_job_t *jj = getjob(q, key);
        if (jj) {
            assert_null(saq_job_traceparent(jj));
            int rc = saq_job_set_traceparent(jj, good);
            assert_true(rc == SAQ_OK || rc == SAQ_EINVAL);
            if (rc == SAQ_OK)
                assert_string_equal(saq_job_traceparent(jj), good);
            saq_job_free(jj);
        }
    }
    saq_queue_free(q);
}

/* Queue and function names saq allows that need escaping in the exposition,
 * or are not ASCII (Redis refuses such bytes in a connection's name). */
static void test_names_needing_escapes(void **state)
{
    (void)state;
    const char *names[] = {"q\"uo\\te", "uni\xc3\xa9\xe2\x98\x83", "ls\xe2\x80\xa8x"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%s", rh_queue_name("chaos-name"), names[i]);
        saq_conf_t *c = saq_conf_new();
        assert_int_equal(saq_conf_set(c, "url", R->url), 0);
        assert_int_equal(saq_conf_set(c, "name", name), 0);
        assert_int_equal(saq_conf_set(c, "connect_timeout_ms", "1000"), 0);
        saq_queue_t *q = saq_queue_new(c);
        assert_non_null(q);
        saq_conf_free(c);
        const char *fn = names[(i + 1) % 3];
        saq_job_t *j = enq(q, fn, "{}");
        saq_worker_t *w = worker_with_conf(q, NULL);
        saq_worker_register(w, fn, ok_handler, NULL);
        assert_int_equal(saq_worker_start(w, NULL, 0), SAQ_OK);
        double end = now_s() + 10;
        while (now_s() < end && qcount(q, "incomplete") > 0)
            sleep_ms(20);
        assert_int_equal(saq_worker_stop(w, 2000), SAQ_OK);
        saq_job_t *done = wait_status(q, saq_job_key(j), "complete", 5000);
        saq_job_free(done);
        saq_job_free(j);
        cJSON_Delete(ov_json(q));
        char *m = metrics_text(q);
        assert_int_equal(itest_promtool(m), 0);
        free(m);
        assert_int_equal(itest_promtool(saq_worker_metrics(w)), 0);
        assert_int_equal(ev_status(q, NULL, NULL, 100), SAQ_OK);
        saq_worker_free(w);
        saq_queue_free(q);
    }
    /* bytes that are not UTF-8: a record names its queue and function in JSON,
     * where they would read back as U+FFFD and never match */
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "name", "bin\xff"), SAQ_EINVAL);
    assert_non_null(strstr(saq_conf_errmsg(c), "UTF-8"));
    saq_conf_free(c);
    saq_queue_t *q = mkqueue("chaos-fn", NULL, NULL);
    saq_worker_t *w = worker_with_conf(q, NULL);
    assert_int_equal(saq_worker_register(w, "bin\xff", ok_handler, NULL), SAQ_EINVAL);
    assert_int_equal(saq_worker_register_pull(w, "bin\xc3"), SAQ_EINVAL);
    assert_non_null(strstr(saq_worker_errmsg(w), "UTF-8"));
    saq_worker_free(w);
    saq_queue_free(q);
}

/* A samples ring whose newest sample is fresh (so nothing trims it) over a
 * million more entries: the overview reads only the samples it keeps. */
static void test_long_samples_list(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("chaos-long", NULL, NULL);
    const char *n = saq_queue_name(q);
    char key[256], fresh[64];
    snprintf(key, sizeof key, "saq:%s:libsaq:samples", n);
    for (int i = 0; i < 100; i++) { /* 1,000,000 entries, 10,000 a command */
        const char *argv[10002];
        argv[0] = "RPUSH";
        argv[1] = key;
        for (int k = 0; k < 10000; k++)
            argv[k + 2] = "{\"t\": 1, \"w\": {}}";
        freeReplyObject(redisCommandArgv(RC, 10002, argv, NULL));
    }
    snprintf(fresh, sizeof fresh, "{\"t\": %lld, \"w\": {}}", redis_ms());
    freeReplyObject(rh_cmd(RC, "LPUSH %s %s", key, fresh));
    double t0 = now_s();
    cJSON_Delete(ov_json(q));
    double took = now_s() - t0;
    fprintf(stderr, "overview over a 1,000,001-entry samples list: %.2f s\n", took);
    if (took > 1.5)
        fail_msg("the overview read the whole samples list (%.2f s)", took);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_registry),
        cmocka_unit_test(test_hostile_samples),
        cmocka_unit_test(test_wrong_types_and_bad_head),
        cmocka_unit_test(test_iter_jobs_bad_args),
        cmocka_unit_test(test_iter_jobs_unreadable_records),
        cmocka_unit_test(test_worker_metrics_unregistered_names),
        cmocka_unit_test(test_reentrant_log_sink),
        cmocka_unit_test(test_log_cq_freed_early),
        cmocka_unit_test(test_redis_dies_mid_overview),
        cmocka_unit_test(test_traceparent_edges),
        cmocka_unit_test(test_names_needing_escapes),
        cmocka_unit_test(test_long_samples_list),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
