/* SPDX-License-Identifier: MIT */
/* Rate limits and global concurrency (saq_worker_set_limit) against a real
 * redis-server, with 4 saq-testworker processes sharing each limit: a queue's
 * rate (at most N starts in any period, within 5%), a queue's concurrency
 * (never more than M running at once), a function's rate and concurrency
 * (its jobs wait, the other functions' jobs do not), every job run exactly
 * once and none left behind, and the slots of a SIGKILLed worker freed. */
#include "itest.h"


/* How much slower this build runs (the sanitizer stages of tests/run): the
 * deadlines scale with it, and so does the tolerance on starts measured in
 * the handlers (a start is seen after the take, by a delay that varies). */
static double slow(void)
{
    return getenv("TSAN_OPTIONS") ? 4 : getenv("ASAN_OPTIONS") ? 2 : 1;
}

/* The most starts allowed in a window for a limit of n: within 5% (more
 * under a sanitizer). */
static int allowed(int n)
{
    return (int)(n * (1 + 0.05 * slow()));
}

/* saq-testworker on queue with the extra args (itest.h's spawn_worker) */
static pid_t spawn(const char *queue, const char *log, const char **extra)
{
    return itest_spawn_worker(R->url, queue, log, extra);
}

static void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
}

/* A timed job's run, from the log's "T <key> <start> <end>" lines. */
typedef struct run {
    char key[64];
    double a, b;
} run_t;

static int read_runs(const char *log, run_t *runs, int max)
{
    FILE *f = fopen(log, "r");
    int n = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        run_t r;
        if (n < max && sscanf(line, "T %63s %lf %lf", r.key, &r.a, &r.b) == 3)
            runs[n++] = r;
    }
    if (f)
        fclose(f);
    return n;
}

/* Wait until the log has n timed runs (fails after ms); runs has room for n + 64. */
static int wait_runs(const char *log, run_t *runs, int n, int ms)
{
    double end = now_s() + ms / 1000.0;
    int got = 0;
    end += (slow() - 1) * ms / 1000.0;
    while ((got = read_runs(log, runs, n + 64)) < n && now_s() < end)
        sleep_ms(50);
    if (got < n)
        fail_msg("only %d of %d jobs ran within %d ms", got, n, ms);
    return got;
}

/* The most starts in any window [start, start + period). */
static int max_in_window(const run_t *runs, int n, double period)
{
    int best = 0;
    for (int i = 0; i < n; i++) {
        int c = 0;
        for (int j = 0; j < n; j++)
            c += runs[j].a >= runs[i].a && runs[j].a < runs[i].a + period;
        if (c > best)
            best = c;
    }
    return best;
}

static int cmp_start(const void *x, const void *y)
{
    const run_t *a = x, *b = y;
    return a->a < b->a ? -1 : a->a > b->a;
}

/* The starts, sorted, on stderr (when a window check fails). */
static void dump_starts(run_t *runs, int n)
{
    qsort(runs, (size_t)n, sizeof *runs, cmp_start);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "  start %.3f %s\n", runs[i].a - runs[0].a, runs[i].key);
}

/* The most runs overlapping at once. */
static int max_overlap(const run_t *runs, int n)
{
    int best = 0;
    for (int i = 0; i < n; i++) {
        int c = 0;
        for (int j = 0; j < n; j++)
            c += runs[j].a <= runs[i].a && runs[j].b > runs[i].a;
        if (c > best)
            best = c;
    }
    return best;
}

/* Every key ran once. */
static void assert_once(const run_t *runs, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (!strcmp(runs[i].key, runs[j].key))
                fail_msg("job %s ran twice", runs[i].key);
}

static void enq_timed(saq_queue_t *q, int n, double s)
{
    char kw[64];
    snprintf(kw, sizeof kw, "{\"s\": %g}", s);
    for (int i = 0; i < n; i++)
        saq_job_free(enq(q, "timed", kw));
}

static void mklog(char *path, size_t size)
{
    snprintf(path, size, "/tmp/saq-limit-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

/* Nothing left behind: no job queued, active or deferred. */
static void assert_drained(saq_queue_t *q)
{
    ASSERT_COUNTS(q, 0, 0, 0);
}

static void run_fleet(saq_queue_t *q, const char *log, const char **extra, pid_t pids[4])
{
    for (int i = 0; i < 4; i++)
        pids[i] = spawn(saq_queue_name(q), log, extra);
}

static void stop_fleet(pid_t pids[4])
{
    for (int i = 0; i < 4; i++)
        stop(pids[i]);
}

static void h_noop(saq_job_t *job, void *ud)
{
    (void)ud;
    saq_job_complete(job, NULL);
    saq_job_free(job);
}

static void test_set_limit_args(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-args", NULL, NULL);
    saq_worker_t *w = worker_with_conf(q, NULL);
    assert_int_equal(saq_worker_set_limit(NULL, NULL, 1, 1, 0), SAQ_EINVAL);
    assert_int_equal(saq_worker_set_limit(w, NULL, -1, 1, 0), SAQ_EINVAL);
    assert_int_equal(saq_worker_set_limit(w, NULL, 0, 0, -1), SAQ_EINVAL);
    assert_int_equal(saq_worker_set_limit(w, "f", 5, 0, 0), SAQ_EINVAL);
    assert_non_null(strstr(saq_worker_errmsg(w), "period"));
    assert_int_equal(saq_worker_set_limit(w, "f", 5, 0.5, 2), SAQ_OK);
    assert_int_equal(saq_worker_set_limit(w, "", 0, 0, 3), SAQ_OK); /* "" = the queue */
    assert_int_equal(saq_worker_set_limit(w, "f", 0, 0, 0), SAQ_OK);  /* removed */
    saq_worker_free(w);
    const char *kv[] = {"timers.liveness", "0", NULL};
    w = worker_with_conf(q, kv);
    assert_int_equal(saq_worker_set_limit(w, NULL, 0, 0, 3), SAQ_EINVAL);
    assert_non_null(strstr(saq_worker_errmsg(w), "timers.liveness"));
    assert_int_equal(saq_worker_set_limit(w, NULL, 10, 1, 0), SAQ_OK); /* a rate needs no liveness */
    assert_int_equal(saq_worker_register(w, "noop", h_noop, NULL), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), SAQ_OK);
    assert_int_equal(saq_worker_set_limit(w, NULL, 1, 1, 0), SAQ_ESTATE);
    saq_worker_stop(w, 0);
    saq_worker_wait(w, TMO);
    saq_worker_free(w);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* 4 processes, the queue limited to 20 starts per second: at most 21 (5%)
 * in any 1 s window, every job once, nothing failed or left behind. */
static void test_queue_rate_4_workers(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-qrate", NULL, NULL);
    char log[64];
    mklog(log, sizeof log);
    const char *extra[] = {"--limit", "*=20/1,0", "--conf", "concurrency=5", NULL};
    pid_t pids[4];
    run_fleet(q, log, extra, pids);
    enq_timed(q, 100, 0);
    double t0 = now_s();
    run_t runs[200];
    int n = wait_runs(log, runs, 100, 30000);
    double took = now_s() - t0;
    stop_fleet(pids);
    assert_int_equal(n, 100);
    assert_once(runs, n);
    int most = max_in_window(runs, n, 1.0);
    fprintf(stderr, "queue rate 20/s: 100 jobs in %.2f s, at most %d starts in a 1 s window\n", took, most);
    assert_true(most <= allowed(20));
    assert_true(took >= 3.9); /* 100 jobs at 20/s: the first 20 at once, the last after 4 s */
    assert_drained(q);
    unlink(log);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* Calls of a Redis command so far (INFO commandstats), in scripts too. */
static long long cmd_calls(const char *cmd)
{
    char *info = rh_str(RC, "INFO commandstats");
    char pat[64];
    snprintf(pat, sizeof pat, "cmdstat_%s:calls=", cmd);
    const char *p = info ? strstr(info, pat) : NULL;
    long long n = p ? atoll(p + strlen(pat)) : 0;
    free(info);
    return n;
}

/* 4 processes with 4 slots each, the queue limited to 3 running at once;
 * a worker waiting on the full limit asks for its room without moving jobs
 * back and forth (give-backs only when two workers raced for a slot: a few
 * dozen at most on a loaded machine, where a worker spinning on the full
 * limit would give jobs back thousands of times in the run). */
static void test_queue_concurrency_4_workers(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-qconc", NULL, NULL);
    char log[64];
    mklog(log, sizeof log);
    const char *extra[] = {"--limit", "*=0/0,3", "--conf", "concurrency=4", NULL};
    pid_t pids[4];
    run_fleet(q, log, extra, pids);
    long long lpush0 = cmd_calls("lpush");
    enq_timed(q, 40, 0.1);
    run_t runs[200];
    int n = wait_runs(log, runs, 40, 30000);
    long long backs = cmd_calls("lpush") - lpush0;
    stop_fleet(pids);
    fprintf(stderr, "queue concurrency 3: %lld jobs given back for 40 run\n", backs);
    assert_true(backs < 100);
    assert_once(runs, n);
    int most = max_overlap(runs, n);
    fprintf(stderr, "queue concurrency 3: at most %d running at once\n", most);
    assert_true(most <= 3);
    assert_true(most >= (slow() > 1 ? 1 : 2)); /* the limit is used, not just one at a time */
    assert_drained(q);
    unlink(log);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* A function's rate (40 per second) over 4 processes: at most 42 (5%) in any
 * 1 s window; its jobs wait (deferred), the other function's do not. */
static void test_function_rate_4_workers(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-frate", NULL, NULL);
    char log[64];
    mklog(log, sizeof log);
    const char *extra[] = {"--limit", "timed=40/1,0", "--conf", "timers.schedule=0.1", NULL};
    pid_t pids[4];
    run_fleet(q, log, extra, pids);
    saq_job_t *noops[20];
    for (int i = 0; i < 20; i++) {
        enq_timed(q, 8, 0);
        noops[i] = enq(q, "noop", NULL);
    }
    double t0 = now_s();
    for (int i = 0; i < 20; i++) { /* the other function is not held back */
        saq_job_free(wait_status(q, saq_job_key(noops[i]), "complete", (int)(5000 * slow())));
        saq_job_free(noops[i]);
    }
    double noops_s = now_s() - t0;
    run_t runs[240];
    int n = wait_runs(log, runs, 160, 30000);
    double took = now_s() - t0;
    stop_fleet(pids);
    assert_int_equal(n, 160);
    assert_once(runs, n);
    int most = max_in_window(runs, n, 1.0);
    fprintf(stderr, "function rate 40/s: noops done in %.2f s, 160 timed in %.2f s, at most %d in 1 s\n",
            noops_s, took, most);
    assert_true(noops_s < 2.0 * slow());
    if (most > allowed(40))
        dump_starts(runs, n);
    assert_true(most <= allowed(40)); /* within 5% */
    assert_true(took >= 2.9);
    assert_drained(q);
    unlink(log);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* A function's concurrency: 2 at once over 4 processes; the waiting jobs come
 * back as slots free, well before the 30 s safety net. */
static void test_function_concurrency_4_workers(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-fconc", NULL, NULL);
    char log[64];
    mklog(log, sizeof log);
    const char *extra[] = {"--limit", "timed=0/0,2", NULL};
    pid_t pids[4];
    run_fleet(q, log, extra, pids);
    double t0 = now_s();
    enq_timed(q, 20, 0.2);
    /* what an operator sees meanwhile (saq_queue_limits, `saq limits`) */
    sleep_ms(1200); /* the workers publish their limits every second */
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_limits(q, cq, 7), SAQ_OK);
    saq_event_t *ev = saq_cq_poll(cq, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_LIMITS);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    const char *js = saq_event_json(ev);
    fprintf(stderr, "saq_queue_limits: %s\n", js);
    assert_non_null(strstr(js, "{\"function\": \"timed\", \"max_jobs\": 0, \"period\": 0, \"max_running\": 2, "
                               "\"running\": "));
    const char *r = strstr(js, "\"running\": ");
    assert_true(atoi(r + 11) <= 2);
    saq_event_free(ev);
    saq_cq_free(cq);
    run_t runs[200];
    int n = wait_runs(log, runs, 20, 20000);
    double took = now_s() - t0;
    stop_fleet(pids);
    assert_once(runs, n);
    int most = max_overlap(runs, n);
    fprintf(stderr, "function concurrency 2: 20 x 0.2 s in %.2f s, at most %d at once\n", took, most);
    assert_true(most <= 2);
    assert_true(took < 10 * slow()); /* woken by releases, not by the 30 s safety net */
    assert_drained(q);
    unlink(log);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* saq_queue_limits' JSON now (fails the test on an error). */
static char *limits_json(saq_queue_t *q)
{
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_limits(q, cq, 7), SAQ_OK);
    saq_event_t *ev = saq_cq_poll(cq, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    char *js = strdup(saq_event_json(ev));
    saq_event_free(ev);
    saq_cq_free(cq);
    return js;
}

/* A worker holding both slots of the queue's limit is SIGKILLed: once its
 * liveness entry expired, saq_queue_limits (and so `saq limits`) counts none
 * of its slots, and another worker runs jobs (the enforcement frees them). */
static void test_dead_worker_slots_freed(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-dead", NULL, NULL);
    char log[64];
    mklog(log, sizeof log);
    const char *extra[] = {"--limit", "*=0/0,2", NULL};
    pid_t a = spawn(saq_queue_name(q), log, extra);
    saq_job_t *s1 = enq(q, "sleep", "{\"s\": 60}");
    saq_job_t *s2 = enq(q, "sleep", "{\"s\": 60}");
    saq_job_free(wait_status(q, saq_job_key(s1), "active", 5000));
    saq_job_free(wait_status(q, saq_job_key(s2), "active", 5000));
    char k[200];
    snprintf(k, sizeof k, "saq:%s:libsaq:limit:queue:running", saq_queue_name(q));
    assert_int_equal(rh_int(RC, "ZCARD %s", k), 2);
    sleep_ms(1200); /* published */
    char *js = limits_json(q);
    assert_non_null(strstr(js, "\"max_running\": 2, \"running\": 2,"));
    free(js);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    double t0 = now_s();
    /* no worker asks the limit meanwhile: the info script alone must see
     * the slots' worker is gone (liveness expiry 2 s + the new-slot grace 5 s) */
    for (;;) {
        js = limits_json(q);
        int zero = strstr(js, "\"max_running\": 2, \"running\": 0,") != NULL;
        if (!zero && now_s() - t0 > 12 * slow())
            fail_msg("a dead worker's slots still counted %.1f s after the kill: %s", now_s() - t0, js);
        free(js);
        if (zero)
            break;
        sleep_ms(200);
    }
    fprintf(stderr, "dead worker: saq_queue_limits shows 0 running %.2f s after the kill\n", now_s() - t0);
    assert_int_equal(rh_int(RC, "ZCARD %s", k), 2); /* not freed yet: only not counted */
    pid_t b = spawn(saq_queue_name(q), log, extra);
    enq_timed(q, 1, 0);
    run_t runs[65];
    wait_runs(log, runs, 1, 20000);
    double took = now_s() - t0;
    fprintf(stderr, "dead worker: its slots freed, a job ran %.2f s after the kill\n", took);
    assert_true(took < 14 * slow()); /* liveness expiry (2 s) + the new-slot grace (5 s) + polling */
    stop(b);
    saq_job_free(s1);
    saq_job_free(s2);
    unlink(log);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* Enqueue function(kwargs) with key `key` now; returns the owned job as sent. */
static saq_job_t *enq_key(saq_queue_t *q, const char *function, const char *key, const char *kwargs)
{
    saq_job_t *j = saq_job_new(function);
    assert_int_equal(saq_job_set_key(j, key), SAQ_OK);
    assert_int_equal(saq_job_set_kwargs(j, kwargs), SAQ_OK);
    saq_event_t *ev = OK_EV(saq_queue_enqueue_sync(q, j, TMO));
    assert_int_equal(saq_event_int(ev), 1);
    saq_event_free(ev);
    return j;
}

/* The score of job `key` in `incomplete` (fails when it has none). */
static double score_of(saq_queue_t *q, const char *key)
{
    char *s = rh_str(RC, "ZSCORE saq:%s:incomplete saq:job:%s:%s", saq_queue_name(q), saq_queue_name(q), key);
    assert_non_null(s);
    double v = atof(s);
    free(s);
    return v;
}

/* Enqueue `key` of "timed" (s 0) scheduled `in_s` seconds ahead. */
static void enq_scheduled(saq_queue_t *q, const char *key, double in_s)
{
    saq_job_t *j = saq_job_new("timed");
    assert_int_equal(saq_job_set_key(j, key), SAQ_OK);
    assert_int_equal(saq_job_set_kwargs(j, "{\"s\": 0}"), SAQ_OK);
    assert_int_equal(saq_job_set_scheduled(j, now_s() + in_s), SAQ_OK);
    saq_event_t *ev = OK_EV(saq_queue_enqueue_sync(q, j, TMO));
    assert_int_equal(saq_event_int(ev), 1);
    saq_event_free(ev);
    saq_job_free(j);
}

/* The job `key` was not run: still queued, scheduled where it was put. */
static void assert_not_run(saq_queue_t *q, const char *log, const char *key, double score)
{
    run_t runs[65];
    int n = read_runs(log, runs, 64);
    for (int i = 0; i < n; i++)
        if (!strcmp(runs[i].key, key))
            fail_msg("job %s ran %.1f s before it was due", key, score - runs[i].a);
    saq_job_t *j = getjob(q, key);
    assert_non_null(j);
    assert_string_equal(saq_job_status(j), "queued");
    saq_job_free(j);
    assert_true(fabs(score_of(q, key) - score) < 0.01);
}

/* An id on a function's waiting list that no longer waits there is never
 * woken: (1) the id the 30 s fallback left behind (the job came back by
 * itself) while the job is scheduled again (a retry, or enqueued again with
 * `scheduled`): a wake used to move it to `queued` at once; (2) a waiting
 * job deleted and enqueued again with `scheduled` while its entry stays on
 * the list: the release of the running slot used to run it early. The
 * stale entries are dropped, and a job really waiting still runs. */
static void test_stale_waiting_entry(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-stale", NULL, NULL);
    const char *qn = saq_queue_name(q);
    char log[64], wk[200];
    mklog(log, sizeof log);
    snprintf(wk, sizeof wk, "saq:%s:libsaq:limit:fn:timed:waiting", qn);
    /* (1) as the fallback leaves it: the job scheduled, its id on the list */
    enq_scheduled(q, "stale", 30);
    double due1 = score_of(q, "stale");
    redisReply *r = rh_cmd(RC, "RPUSH %s saq:job:%s:stale", wk, qn);
    freeReplyObject(r);
    const char *extra[] = {"--limit", "timed=0/0,1", NULL};
    pid_t pid = spawn(qn, log, extra);
    sleep_ms(2500); /* the worker's top-up from the waiting list runs every second */
    assert_not_run(q, log, "stale", due1);
    assert_int_equal(rh_int(RC, "LLEN %s", wk), 0); /* the stale entry dropped */

    /* (2) a job waits for the slot "hold" takes, is deleted and enqueued again */
    saq_job_free(enq_key(q, "timed", "hold", "{\"s\": 2}"));
    saq_job_free(wait_status(q, "hold", "active", 5000));
    saq_job_free(enq_key(q, "timed", "w", "{\"s\": 0}"));
    double end = now_s() + 5;
    while (rh_int(RC, "LLEN %s", wk) < 1 && now_s() < end)
        sleep_ms(20);
    assert_int_equal(rh_int(RC, "LLEN %s", wk), 1);
    saq_cq_t *cq = saq_cq_new();
    assert_int_equal(saq_queue_delete(q, "w", 0, 0, cq, 1), SAQ_OK);
    saq_event_t *ev = saq_cq_poll(cq, TMO);
    assert_non_null(ev);
    assert_int_equal(saq_event_status(ev), SAQ_OK);
    saq_event_free(ev);
    saq_cq_free(cq);
    enq_scheduled(q, "w", 30);
    double due2 = score_of(q, "w");
    saq_job_free(wait_status(q, "hold", "complete", 8000));
    sleep_ms(1500);
    assert_not_run(q, log, "w", due2);
    assert_not_run(q, log, "stale", due1);

    /* (3) a job really waiting still runs once the slot frees */
    saq_job_free(enq_key(q, "timed", "hold2", "{\"s\": 1}"));
    saq_job_free(wait_status(q, "hold2", "active", 5000));
    saq_job_free(enq_key(q, "timed", "w3", "{\"s\": 0}"));
    saq_job_free(wait_status(q, "w3", "complete", 5000));
    assert_int_equal(rh_int(RC, "LLEN %s", wk), 0);
    stop(pid);
    unlink(log);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* Hostile numbers in the published limits (saq:<q>:libsaq:limits): an entry
 * that is not "<max_jobs> <period ms> <max_running>" within range is shown
 * as invalid (its raw text, null numbers), never as an overflowed number. */
static void test_limits_hostile_config(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-hostile", NULL, NULL);
    const char *qn = saq_queue_name(q);
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:libsaq:limits %s %s", qn, "", "1 9000000000000000000 0"));
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:libsaq:limits big %s", qn, "99999999999999999999 1000 1"));
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:libsaq:limits word %s", qn, "abc"));
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:libsaq:limits neg %s", qn, "-1 1000 1"));
    freeReplyObject(rh_cmd(RC, "HSET saq:%s:libsaq:limits ok %s", qn, "5 1000 2"));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:libsaq:limit:fn:ok:running 1 w:x", qn));
    char *js = limits_json(q);
    fprintf(stderr, "hostile limits: %s\n", js);
    assert_null(strstr(js, "e+"));
    assert_null(strstr(js, "-9"));
    assert_non_null(strstr(js, "{\"function\": null, \"invalid\": \"1 9000000000000000000 0\", \"max_jobs\": null, "
                               "\"period\": null, \"max_running\": null, \"running\": 0, \"started\": null, "
                               "\"waiting\": 0}"));
    assert_non_null(strstr(js, "{\"function\": \"big\", \"invalid\": \"99999999999999999999 1000 1\""));
    assert_non_null(strstr(js, "{\"function\": \"word\", \"invalid\": \"abc\""));
    assert_non_null(strstr(js, "{\"function\": \"neg\", \"invalid\": \"-1 1000 1\""));
    /* the dead slot of an unknown worker is not counted */
    assert_non_null(strstr(js, "{\"function\": \"ok\", \"max_jobs\": 5, \"period\": 1, \"max_running\": 2, "
                               "\"running\": 0, \"started\": 0, \"waiting\": 0}"));
    free(js);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

/* Hostile values in a limit's state: a start recorded at +inf (or far
 * ahead of the server's clock) in a function's starts set defers its jobs
 * at most one period, never to an infinite score, and they run. */
static void test_limit_hostile_state(void **state)
{
    (void)state;
    saq_queue_t *q = mkqueue("lim-hstate", NULL, NULL);
    const char *qn = saq_queue_name(q);
    char log[64];
    mklog(log, sizeof log);
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:libsaq:limit:fn:timed:starts +inf x 9e300 y", qn));
    const char *extra[] = {"--limit", "timed=1/1,0", NULL};
    pid_t pid = spawn(qn, log, extra);
    enq_timed(q, 2, 0);
    run_t runs[66];
    wait_runs(log, runs, 2, 8000);
    stop(pid);
    assert_drained(q);
    unlink(log);
    saq_queue_close(q, TMO);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_limit_args),
        cmocka_unit_test(test_queue_rate_4_workers),
        cmocka_unit_test(test_queue_concurrency_4_workers),
        cmocka_unit_test(test_function_rate_4_workers),
        cmocka_unit_test(test_function_concurrency_4_workers),
        cmocka_unit_test(test_dead_worker_slots_freed),
        cmocka_unit_test(test_stale_waiting_entry),
        cmocka_unit_test(test_limits_hostile_config),
        cmocka_unit_test(test_limit_hostile_state),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
