/* SPDX-License-Identifier: MIT */
/* saq-demo: libsaq's main job. A real worker processes a realistic mix of
 * jobs on a Redis server, and the program checks every outcome:
 *
 *   immediate   enqueue "thumbnail" now                  -> complete, with a result
 *   scheduled   enqueue "send_email" 2 s in the future    -> not before 2 s, then complete
 *   cron        "nightly_cleanup" every 2 s (6-field cron) -> has run, result stored
 *   apply       apply("add", a=20, b=22)                  -> 42, pushed (no polling)
 *   map         map("add", 5 items)                       -> the 5 sums, in order
 *   retries     "flaky" with retries 3 and backoff        -> 3 attempts, then failed
 *   abort       a long "report", aborted while running    -> aborted, the handler saw it
 *
 * Usage: saq-demo redis://host:port/db   (the examples/run script starts a
 * private redis-server when REDIS_URL is not set). Exits 0 only if every
 * outcome is the expected one. */
#include <saq.h>

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures;
static atomic_int report_saw_abort;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

static void check(int ok, const char *what, const char *fmt, ...)
{
    char detail[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("  %s %-11s %s\n", ok ? "ok  " : "FAIL", what, detail);
    failures += !ok;
}

static double kw_num(saq_job_t *job, const char *name)
{
    cJSON *kw = cJSON_Parse(saq_job_kwargs(job) ? saq_job_kwargs(job) : "{}");
    cJSON *v = cJSON_GetObjectItemCaseSensitive(kw, name);
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    cJSON_Delete(kw);
    return d;
}

/* ---- job functions (run on the worker's handler threads) ---- */

static void thumbnail(saq_job_t *job, void *ud)
{
    (void)ud;
    sleep_ms(50); /* pretend to resize an image */
    saq_job_complete(job, "{\"width\": 128, \"height\": 96}");
    saq_job_free(job);
}

static void send_email(saq_job_t *job, void *ud)
{
    (void)ud;
    char res[64];
    snprintf(res, sizeof res, "\"msg-%lld\"", (long long)time(NULL));
    saq_job_complete(job, res);
    saq_job_free(job);
}

static void add(saq_job_t *job, void *ud)
{
    (void)ud;
    char res[64];
    snprintf(res, sizeof res, "%.17g", kw_num(job, "a") + kw_num(job, "b"));
    saq_job_complete(job, res);
    saq_job_free(job);
}

static void flaky(saq_job_t *job, void *ud)
{
    (void)ud;
    char err[128];
    snprintf(err, sizeof err, "ConnectionError: upstream unavailable (attempt %d)", saq_job_attempts(job));
    saq_job_fail(job, err);
    saq_job_free(job);
}

static void report(saq_job_t *job, void *ud)
{
    (void)ud;
    for (int i = 0; i < 3000 && !saq_job_cancelled(job); i++) {
        sleep_ms(10);
        if (i % 20 == 0)
            saq_job_touch(job, "{\"progress\": 0.1}");
    }
    if (saq_job_cancelled(job) == SAQ_CANCEL_ABORTED)
        atomic_store(&report_saw_abort, 1);
    saq_job_fail(job, "CancelledError: report stopped");
    saq_job_free(job);
}

static void nightly_cleanup(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_complete(job, "{\"deleted\": 0}");
    saq_job_free(job);
}

/* ---- helpers ---- */

static saq_job_t *get(saq_queue_t *q, const char *key)
{
    saq_event_t *ev = saq_queue_job_sync(q, key, 5000);
    saq_job_t *j = saq_event_status(ev) == SAQ_OK ? saq_event_take_job(ev) : NULL;
    saq_event_free(ev);
    return j;
}

static saq_job_t *wait_for(saq_queue_t *q, const char *key, const char *status, double seconds)
{
    double end = now_s() + seconds;
    while (now_s() < end) {
        saq_job_t *j = get(q, key);
        if (j && !strcmp(saq_job_status(j), status))
            return j;
        saq_job_free(j);
        sleep_ms(20);
    }
    return get(q, key);
}

static char *enqueue(saq_queue_t *q, saq_job_t *job)
{
    saq_event_t *ev = saq_queue_enqueue_sync(q, job, 5000);
    char *key = NULL;
    if (saq_event_status(ev) == SAQ_OK)
        key = strdup(saq_job_key(saq_event_job(ev)));
    else
        fprintf(stderr, "enqueue failed: %s\n", saq_event_errmsg(ev));
    saq_event_free(ev);
    saq_job_free(job);
    return key;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *url = argc > 1 ? argv[1] : getenv("REDIS_URL");
    if (!url) {
        fprintf(stderr, "usage: saq-demo redis://host:port/db\n");
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "demo-%d", (int)getpid());
    saq_conf_t *conf = saq_conf_new();
    if (saq_conf_set(conf, "url", url) || saq_conf_set(conf, "name", name) ||
        saq_conf_set(conf, "concurrency", "8") || saq_conf_set(conf, "timers.sweep", "5") ||
        saq_conf_set(conf, "timers.worker_info", "1") || /* fresh stats in info() */
        /* the failures and retries below are on purpose: no warning for each */
        saq_conf_set(conf, "log_level", "error")) {
        fprintf(stderr, "saq-demo: %s\n", saq_conf_errmsg(conf));
        return 2;
    }
    saq_queue_t *q = NULL;
    saq_worker_t *w = NULL;
    int orc = saq_queue_open(&q, conf);
    if (!orc)
        orc = saq_worker_open(&w, q, conf);
    if (orc) {
        fprintf(stderr, "saq-demo: %s (%s)\n", saq_conf_errmsg(conf), saq_err_name(orc));
        return 2;
    }
    printf("libsaq %s demo on %s, queue %s\n", saq_version_str(), url, name);
    saq_worker_register(w, "thumbnail", thumbnail, NULL);
    saq_worker_register(w, "send_email", send_email, NULL);
    saq_worker_register(w, "add", add, NULL);
    saq_worker_register(w, "flaky", flaky, NULL);
    saq_worker_register(w, "report", report, NULL);
    saq_worker_register(w, "nightly_cleanup", nightly_cleanup, NULL);
    if (saq_worker_add_cron(w, "nightly_cleanup", "* * * * * */2", "{\"ttl\": 60}")) {
        fprintf(stderr, "saq-demo: %s\n", saq_worker_errmsg(w));
        return 2;
    }
    int rc = saq_worker_start(w, NULL, 0);
    if (rc) {
        fprintf(stderr, "saq-demo: worker start: %s\n", saq_strerror(rc));
        return 2;
    }
    printf("worker %s started (concurrency 8)\n\n", saq_worker_id(w));

    /* immediate */
    saq_job_t *j = saq_job_new("thumbnail");
    saq_job_set_kwargs(j, "{\"path\": \"/uploads/cat.jpg\"}");
    char *k_thumb = enqueue(q, j);
    /* scheduled, 2 s from now */
    double t_sched = now_s();
    j = saq_job_new("send_email");
    saq_job_set_kwargs(j, "{\"to\": \"ada@example.com\"}");
    saq_job_set_scheduled(j, t_sched + 2);
    char *k_mail = enqueue(q, j);
    /* retries with exponential backoff, then failure */
    j = saq_job_new("flaky");
    saq_job_set_retries(j, 3);
    saq_job_set_retry_delay(j, 0.2);
    saq_job_set_retry_backoff(j, 1, 1.0);
    char *k_flaky = enqueue(q, j);
    /* a long report that gets aborted while it runs */
    j = saq_job_new("report");
    saq_job_set_timeout(j, 60);
    char *k_report = enqueue(q, j);

    printf("outcomes:\n");
    saq_job_t *r = wait_for(q, k_thumb, "complete", 10);
    check(r && !strcmp(saq_job_status(r), "complete") && saq_job_result(r), "immediate",
          "thumbnail -> %s, result %s", r ? saq_job_status(r) : "missing",
          r && saq_job_result(r) ? saq_job_result(r) : "-");
    saq_job_free(r);

    /* apply: waits for the result through the pub/sub multiplexer */
    j = saq_job_new("add");
    saq_job_set_kwargs(j, "{\"a\": 20, \"b\": 22}");
    double t0 = now_s();
    saq_event_t *ev = saq_queue_apply_sync(q, j, 10, 15000);
    check(saq_event_status(ev) == SAQ_OK && !strcmp(saq_event_json(ev), "42"), "apply",
          "add(a=20, b=22) -> %s in %.1f ms", saq_event_status(ev) ? saq_event_errmsg(ev) : saq_event_json(ev),
          (now_s() - t0) * 1000);
    saq_event_free(ev);
    saq_job_free(j);

    /* map */
    ev = saq_queue_map_sync(q, "add", "[{\"a\": 1}, {\"a\": 2}, {\"a\": 3}, {\"a\": 4}, {\"a\": 5}]",
                            "{\"b\": 100}", 10, 0, 15000);
    check(saq_event_status(ev) == SAQ_OK && !strcmp(saq_event_json(ev), "[101, 102, 103, 104, 105]"),
          "map", "add over 5 items (b=100) -> %s",
          saq_event_status(ev) ? saq_event_errmsg(ev) : saq_event_json(ev));
    saq_event_free(ev);

    /* abort the report once it runs */
    r = wait_for(q, k_report, "active", 10);
    saq_job_free(r);
    ev = saq_queue_abort_sync(q, k_report, "no longer needed", 5, 5000);
    saq_event_free(ev);
    r = wait_for(q, k_report, "aborted", 10);
    check(r && !strcmp(saq_job_status(r), "aborted") && atomic_load(&report_saw_abort), "abort",
          "report -> %s (%s), the handler saw the cancellation: %s", r ? saq_job_status(r) : "missing",
          r && saq_job_error(r) ? saq_job_error(r) : "-", atomic_load(&report_saw_abort) ? "yes" : "no");
    saq_job_free(r);

    r = wait_for(q, k_flaky, "failed", 15);
    check(r && !strcmp(saq_job_status(r), "failed") && saq_job_attempts(r) == 3, "retries",
          "flaky -> %s after %d attempts: %s", r ? saq_job_status(r) : "missing",
          r ? saq_job_attempts(r) : 0, r && saq_job_error(r) ? saq_job_error(r) : "-");
    saq_job_free(r);

    r = wait_for(q, k_mail, "complete", 10);
    double late = r ? saq_job_completed_ms(r) / 1000.0 - t_sched : 0;
    check(r && !strcmp(saq_job_status(r), "complete") && late >= 1.9 && late < 3.5, "scheduled",
          "send_email (due in 2 s) -> %s %.1f s after enqueue, result %s", r ? saq_job_status(r) : "missing",
          late, r && saq_job_result(r) ? saq_job_result(r) : "-");
    saq_job_free(r);

    r = wait_for(q, "cron:nightly_cleanup", "complete", 10);
    check(r && !strcmp(saq_job_status(r), "complete"), "cron",
          "nightly_cleanup (every 2 s) -> %s, result %s", r ? saq_job_status(r) : "missing",
          r && saq_job_result(r) ? saq_job_result(r) : "-");
    saq_job_free(r);

    /* the worker writes its stats to the registry every timers.worker_info
     * (1 s): let one write pass so info() counts the outcomes printed above */
    usleep(1200 * 1000);
    ev = saq_queue_info_sync(q, 1, 0, 10, 5000);
    printf("\nqueue info (what saq's info() and web UI show; worker stats as of its last\n"
           "registry write, every timers.worker_info = 1 s):\n%s\n", saq_event_json(ev) ? saq_event_json(ev) : saq_event_errmsg(ev));
    int has_worker = saq_event_json(ev) && strstr(saq_event_json(ev), saq_worker_id(w));
    saq_event_free(ev);
    check(has_worker, "registry", "this worker is listed in info()");

    saq_worker_stop(w, 2000);
    saq_worker_wait(w, 10000);
    printf("\nworker stats: %s\n", saq_worker_stats_json(w));
    saq_worker_free(w);
    saq_queue_close(q, 2000);
    saq_queue_free(q);
    saq_conf_free(conf);
    free(k_thumb);
    free(k_mail);
    free(k_flaky);
    free(k_report);
    printf("\n%s\n", failures ? "DEMO FAILED" : "all outcomes as expected");
    return failures ? 1 : 0;
}
