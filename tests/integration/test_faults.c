/* SPDX-License-Identifier: MIT */
/* Fault tests against real processes: a worker process killed with SIGKILL in
 * the middle of jobs, redis-server restarted under load (appendonly), redis
 * frozen (command timeouts), and 10,000 jobs at concurrency 50 counted
 * exactly once. The worker processes are tests/tools/saq-testworker. */
#include "itest.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Count lines per key in a --log file; returns the number of distinct keys
 * and the number of keys seen more than once. */
static void count_runs(const char *log, int *distinct, int *dups)
{
    FILE *f = fopen(log, "r");
    *distinct = *dups = 0;
    if (!f)
        return;
    char line[512];
    size_t cap = 1 << 15, n = 0;
    char **keys = calloc(cap, sizeof *keys);
    while (fgets(line, sizeof line, f)) {
        char fn[64], key[256];
        int att;
        if (sscanf(line, "%63s %255s %d", fn, key, &att) != 3)
            continue;
        if (n == cap)
            keys = realloc(keys, (cap *= 2) * sizeof *keys);
        keys[n++] = strdup(key);
    }
    fclose(f);
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(keys[i], keys[i - 1]))
            (*distinct)++; /* first run of this key */
        else if (i < 2 || strcmp(keys[i - 1], keys[i - 2]))
            (*dups)++; /* its second run: count the key once */
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static long long terminal_count(saq_queue_t *q, char **keys, int n)
{
    long long done = 0;
    for (int i = 0; i < n; i++) {
        char *raw = rh_str(RC, "GET saq:job:%s:%s", saq_queue_name(q), keys[i]);
        if (raw && (strstr(raw, "\"status\": \"complete\"") || strstr(raw, "\"status\": \"failed\"") ||
                    strstr(raw, "\"status\": \"aborted\"")))
            done++;
        free(raw);
    }
    return done;
}

static void test_kill9_worker_jobs_still_finish(void **state)
{
    (void)state;
    /* a worker process dies (SIGKILL) while running jobs with a long timeout;
     * another worker notices the dead worker through its expired registry
     * entry and the jobs still reach a terminal state, well before their
     * timeout. */
    saq_queue_t *q = mkqueue("kill9", NULL, NULL);
    char log[] = "/tmp/saq-kill9-XXXXXX";
    int fd = mkstemp(log);
    close(fd);
    const char *a1[] = {"--conf", "timers.worker_info=0.5", "--conf", "dead_worker_check=0.5",
                        "--conf", "concurrency=8", NULL};
    pid_t victim = itest_spawn_worker(R->url, saq_queue_name(q), log, a1);
    enum { N = 24 };
    char *keys[N];
    for (int i = 0; i < N; i++) {
        saq_job_t *j = enq(q, "sleep", "{\"s\": 0.4, \"timeout\": 600, \"retries\": 3}");
        keys[i] = strdup(saq_job_key(j));
        saq_job_free(j);
    }
    /* wait until the victim is running some of them, then kill it */
    double end = now_s() + 10;
    while (qcount(q, "active") < 4 && now_s() < end)
        sleep_ms(10);
    assert_true(qcount(q, "active") >= 4);
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);
    double killed = now_s();
    pid_t rescuer = itest_spawn_worker(R->url, saq_queue_name(q), log, a1);
    end = now_s() + 60;
    while (terminal_count(q, keys, N) < N && now_s() < end)
        sleep_ms(50);
    double took = now_s() - killed;
    assert_int_equal(terminal_count(q, keys, N), N);
    assert_true(took < 30); /* not the 600 s timeout */
    for (int i = 0; i < N; i++) {
        char *raw = stored(q, keys[i]);
        assert_non_null(strstr(raw, "\"status\": \"complete\""));
        free(raw);
        free(keys[i]);
    }
    ASSERT_COUNTS(q, 0, 0, 0);
    kill(rescuer, SIGTERM);
    int st;
    waitpid(rescuer, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(log);
    saq_queue_free(q);
}

static void test_exactly_once_10k(void **state)
{
    (void)state;
    /* 10,000 jobs at concurrency 50: all complete, each run counted; any
     * duplicate run (at-least-once) would be reported by key */
    saq_queue_t *q = mkqueue("tenk", NULL, NULL);
    char log[] = "/tmp/saq-10k-XXXXXX";
    int fd = mkstemp(log);
    close(fd);
    const char *args[] = {"--conf", "concurrency=50", NULL};
    pid_t w = itest_spawn_worker(R->url, saq_queue_name(q), log, args);
    enum { N = 10000 };
    saq_cq_t *cq = saq_cq_new();
    for (int i = 0; i < N; i++) {
        char kw[64];
        snprintf(kw, sizeof kw, "{\"key\": \"k%05d\"}", i);
        assert_int_equal(saq_queue_enqueue_call(q, "noop", kw, cq, (uint64_t)i), 0);
    }
    for (int i = 0; i < N; i++) {
        saq_event_t *ev = saq_cq_poll(cq, TMO);
        assert_non_null(ev);
        assert_int_equal(saq_event_status(ev), 0);
        assert_int_equal(saq_event_int(ev), 1);
        saq_event_free(ev);
    }
    double end = now_s() + 120;
    while (qcount(q, "incomplete") > 0 && now_s() < end)
        sleep_ms(50);
    ASSERT_COUNTS(q, 0, 0, 0);
    int distinct, dups;
    count_runs(log, &distinct, &dups);
    printf("10k: %d distinct jobs ran, %d ran more than once\n", distinct, dups);
    assert_int_equal(distinct, N);
    assert_int_equal(dups, 0);
    long long complete = 0;
    for (int i = 0; i < N; i += 97) { /* spot-check stored outcomes */
        char key[32];
        snprintf(key, sizeof key, "k%05d", i);
        char *raw = stored(q, key);
        complete += raw && strstr(raw, "\"status\": \"complete\"") != NULL;
        free(raw);
    }
    assert_int_equal(complete, (N + 96) / 97);
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    unlink(log);
    saq_cq_free(cq);
    saq_queue_free(q);
}

static atomic_int done_ok;

static void h_count(saq_job_t *job, void *ud)
{
    (void)ud;
    atomic_fetch_add(&done_ok, 1);
    saq_job_complete(job, NULL);
    saq_job_free(job);
}

static void test_redis_restart_under_load(void **state)
{
    (void)state;
    /* a private appendonly server, restarted (SIGKILL + start) while a worker
     * processes and a producer enqueues: the worker reconnects and goes on;
     * every enqueue that was acknowledged completes. */
    rh_t *r = rh_start(1);
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "url", r->url);
    saq_conf_set(c, "name", "restart");
    saq_conf_set(c, "command_timeout_ms", "2000");
    saq_conf_set(c, "concurrency", "20");
    saq_conf_set(c, "dead_worker_check", "1"); /* lost moves come back within ~2 s */
    saq_queue_t *q = saq_queue_new(c);
    saq_worker_t *w = saq_worker_new(q, c);
    saq_worker_register(w, "count", h_count, NULL);
    atomic_store(&done_ok, 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    int acked = 0, failed = 0;
    char **keys = calloc(4000, sizeof *keys);
    for (int i = 0; i < 3000; i++) {
        if (i == 1000)
            rh_restart(r); /* SIGKILL, then start again: appendonly keeps acknowledged writes */
        saq_event_t *ev = saq_queue_enqueue_call_sync(q, "count", NULL, TMO);
        if (saq_event_status(ev) == SAQ_OK)
            keys[acked++] = strdup(saq_job_key(saq_event_job(ev)));
        else
            failed++; /* caught by the loss: a clear error, never a hang */
        saq_event_free(ev);
        if (i % 100 == 0)
            sleep_ms(5);
    }
    assert_true(acked >= 2900);
    redisContext *rc = rh_client(r);
    double end = now_s() + 60;
    long long left = 1;
    while (now_s() < end && (left = rh_int(rc, "ZCARD saq:restart:incomplete")) > 0)
        sleep_ms(50);
    /* replies lost with the connection: outcome writes are sent again, and a
     * move whose reply was lost is put back in the queue by the liveness
     * check, so nothing stays incomplete and nothing runs twice */
    int terminal = 0;
    for (int i = 0; i < acked; i++) {
        char *raw = rh_str(rc, "GET saq:job:restart:%s", keys[i]);
        terminal += raw && strstr(raw, "\"status\": \"complete\"") != NULL;
        free(raw);
        free(keys[i]);
    }
    printf("restart: %d enqueued, %d failed with an error, %d complete, %lld incomplete\n", acked,
           failed, terminal, left);
    assert_int_equal(left, 0);
    assert_int_equal(terminal, acked);
    assert_int_equal(atomic_load(&done_ok), acked); /* each job ran exactly once */
    free(keys);
    redisFree(rc);
    saq_worker_stop(w, 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
    saq_queue_free(q);
    saq_conf_free(c);
    rh_stop(r);
}

static void test_command_timeout_and_recovery(void **state)
{
    (void)state;
    /* redis frozen (SIGSTOP): commands fail with SAQ_ETIMEDOUT after the
     * command timeout instead of hanging; after SIGCONT the client reconnects */
    rh_t *r = rh_start(0);
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "url", r->url);
    saq_conf_set(c, "name", "frozen");
    saq_conf_set(c, "command_timeout_ms", "300");
    saq_queue_t *q = saq_queue_new(c);
    saq_conf_free(c);
    assert_int_equal(qcount(q, "queued"), 0);
    kill(r->pid, SIGSTOP);
    double t0 = now_s();
    saq_event_t *ev = saq_queue_count_sync(q, "queued", TMO);
    assert_int_equal(saq_event_status(ev), SAQ_ETIMEDOUT);
    assert_non_null(strstr(saq_event_errmsg(ev), "300 ms"));
    assert_true(now_s() - t0 < 3);
    saq_event_free(ev);
    kill(r->pid, SIGCONT);
    double end = now_s() + 10;
    int ok = 0;
    while (!ok && now_s() < end) {
        ev = saq_queue_count_sync(q, "queued", TMO);
        ok = saq_event_status(ev) == SAQ_OK;
        saq_event_free(ev);
        if (!ok)
            sleep_ms(50);
    }
    assert_true(ok);
    saq_queue_free(q);
    rh_stop(r);
}

/* Lease one job of a fresh queue on `r` through a pull-mode worker. */
static saq_job_t *lease_one(rh_t *r, const char *name, saq_queue_t **qp, saq_worker_t **wp, saq_cq_t *cq)
{
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "url", r->url);
    saq_conf_set(c, "name", name);
    saq_conf_set(c, "shutdown_grace_period", "0.2");
    saq_conf_set(c, "cancellation_hard_deadline", "0.2");
    saq_queue_t *q = saq_queue_new(c);
    saq_worker_t *w = saq_worker_new(q, c);
    saq_conf_free(c);
    assert_int_equal(saq_worker_register_pull(w, "f"), 0);
    assert_int_equal(saq_worker_start(w, cq, 1), 0);
    saq_job_free(enq(q, "f", NULL));
    saq_job_t *leased = NULL;
    while (!leased) {
        saq_event_t *ev = saq_cq_poll(cq, TMO);
        assert_non_null(ev);
        if (saq_event_type(ev) == SAQ_EVENT_LEASE)
            leased = saq_event_take_job(ev);
        saq_event_free(ev);
    }
    *qp = q;
    *wp = w;
    return leased;
}

static void drain(saq_cq_t *cq)
{
    saq_event_t *ev;
    while ((ev = saq_cq_poll(cq, 0)))
        saq_event_free(ev);
}

static void test_redis_gone_while_an_outcome_is_pending(void **state)
{
    (void)state;
    /* a job settled while Redis is gone: its outcome cannot be written */
    rh_t *r = rh_start(0);
    saq_queue_t *q;
    saq_worker_t *w;
    saq_cq_t *cq = saq_cq_new();
    saq_job_t *j = lease_one(r, "gone1", &q, &w, cq);
    rh_kill(r);
    assert_int_equal(saq_job_complete(j, "1"), SAQ_OK);
    saq_job_free(j);
    sleep_ms(1000); /* reconnect backoff grows: the rewrite waits for a connection */
    /* freeing the worker and then the queue with the write still pending
     * (the teardown used to drop the lease twice: heap corruption, ASan
     * heap-use-after-free) */
    saq_worker_free(w);
    sleep_ms(300);
    saq_queue_free(q);
    drain(cq);
    /* a graceful stop ends after the grace period and hard deadline even
     * though the outcome can never be written (it used to retry for minutes) */
    rh_restart(r);
    j = lease_one(r, "gone2", &q, &w, cq);
    rh_kill(r);
    assert_int_equal(saq_job_complete(j, "1"), SAQ_OK);
    saq_job_free(j);
    double t0 = now_s();
    assert_int_equal(saq_worker_stop(w, -1), SAQ_OK);
    assert_int_equal(saq_worker_wait(w, 30000), SAQ_OK);
    double took = now_s() - t0;
    if (took > 12)
        fail_msg("stop took %.1f s with redis gone", took);
    saq_worker_free(w);
    saq_queue_free(q);
    drain(cq);
    saq_cq_free(cq);
    rh_restart(r);
    rh_stop(r);
}

/* The attempt number and status of a stored job, or 0 when missing. */
static int stored_attempts(saq_queue_t *q, const char *key, char *status, size_t n)
{
    saq_job_t *j = getjob(q, key);
    if (!j)
        return 0;
    int a = saq_job_attempts(j);
    snprintf(status, n, "%s", saq_job_status(j));
    saq_job_free(j);
    return a;
}

/* sleeps 3 s, then completes */
static void h_slow(saq_job_t *job, void *ud)
{
    (void)ud;
    sleep_ms(3000);
    saq_job_complete(job, "1");
    saq_job_free(job);
}

static void test_redis_frozen_while_jobs_run(void **state)
{
    (void)state;
    /* Redis frozen (SIGSTOP) for longer than the command and connect
     * timeouts while jobs run, and the jobs finish during the freeze: their
     * outcomes are written once Redis is back, and they end complete. A
     * connection to a frozen server connects (the kernel accepts) but
     * nothing answers: that once made a plaintext url's connect timeout a
     * "TLS" error that the outcome writes gave up on, so the worker lost
     * track of its jobs and they ended aborted. Over TLS (overtls-faults) the
     * handshake times out instead: the writes wait all the same. */
    rh_t *r = rh_start(0);
    saq_conf_t *c = saq_conf_new();
    saq_conf_set(c, "url", r->url);
    saq_conf_set(c, "name", "frozen");
    saq_conf_set(c, "command_timeout_ms", "1500");
    saq_conf_set(c, "connect_timeout_ms", "1000");
    saq_conf_set(c, "concurrency", "4");
    saq_queue_t *q = saq_queue_new(c);
    saq_worker_t *w = saq_worker_new(q, c);
    saq_conf_free(c);
    saq_worker_register(w, "slow", h_slow, NULL);
    char keys[4][64];
    for (int i = 0; i < 4; i++) {
        saq_job_t *j = saq_job_new("slow");
        saq_job_set_retries(j, 1); /* a recovery would end it aborted, not retried */
        saq_event_t *ev = OK_EV(saq_queue_enqueue_sync(q, j, TMO));
        saq_job_t *sent = saq_event_take_job(ev);
        assert_non_null(sent);
        snprintf(keys[i], sizeof keys[i], "%s", saq_job_key(sent));
        saq_job_free(sent);
        saq_event_free(ev);
        saq_job_free(j);
    }
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    sleep_ms(1000); /* running */
    kill(r->pid, SIGSTOP);
    sleep_ms(5000); /* the jobs finish meanwhile; their writes time out */
    kill(r->pid, SIGCONT);
    char st[32] = "";
    double end = now_s() + 30;
    for (int i = 0; i < 4; i++) {
        while (now_s() < end && (!stored_attempts(q, keys[i], st, sizeof st) || saq_status_terminal(st) != 1))
            sleep_ms(100);
        if (strcmp(st, "complete"))
            fail_msg("job %d ended %s", i, st);
    }
    saq_worker_free(w);
    saq_queue_free(q);
    rh_stop(r);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_kill9_recovery_within_seconds(void **state)
{
    (void)state;
    /* default settings: a libsaq worker is killed (SIGKILL) while running
     * jobs; another libsaq worker restarts each of them within seconds (its
     * liveness entry expires), not after the registry's 11 s + checks (the
     * old code took 18-31 s) */
    saq_queue_t *q = mkqueue("fastrec", NULL, NULL);
    char log[] = "/tmp/saq-fastrec-XXXXXX";
    close(mkstemp(log));
    const char *a1[] = {"--conf", "concurrency=6", NULL};
    pid_t victim = itest_spawn_worker(R->url, saq_queue_name(q), log, a1);
    enum { N = 6 };
    char *keys[N];
    for (int i = 0; i < N; i++) {
        saq_job_t *j = enq(q, "sleep", "{\"s\": 4, \"timeout\": 600, \"retries\": 3}");
        keys[i] = strdup(saq_job_key(j));
        saq_job_free(j);
    }
    double end = now_s() + 10;
    while (qcount(q, "active") < N && now_s() < end)
        sleep_ms(10);
    assert_int_equal(qcount(q, "active"), N);
    pid_t rescuer = itest_spawn_worker(R->url, saq_queue_name(q), log, a1);
    sleep_ms(3500); /* a new worker trusts what it sees after reconnect_max_ms + 1 s */
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);
    double killed = now_s();
    double took[N];
    int left = N;
    for (int i = 0; i < N; i++)
        took[i] = -1;
    end = killed + 30;
    while (left && now_s() < end) {
        for (int i = 0; i < N; i++) {
            char st[32] = "";
            if (took[i] < 0 && stored_attempts(q, keys[i], st, sizeof st) >= 2 && !strcmp(st, "active")) {
                took[i] = now_s() - killed;
                left--;
            }
        }
        sleep_ms(20);
    }
    for (int i = 0; i < N; i++)
        if (took[i] < 0)
            fail_msg("job %s was not restarted within 30 s of the kill", keys[i]);
    qsort(took, N, sizeof took[0], cmp_dbl);
    print_message("recovery after kill -9: p50 %.2f s, max %.2f s\n", took[N / 2], took[N - 1]);
    if (took[N - 1] > 8) /* behaviour, not speed: the old code needed 18 s or more */
        fail_msg("recovery took %.1f s (p50 %.1f s)", took[N - 1], took[N / 2]);
    for (int i = 0; i < N; i++) {
        saq_job_free(wait_status(q, keys[i], "complete", 30000));
        free(keys[i]);
    }
    int distinct, dups;
    count_runs(log, &distinct, &dups);
    assert_int_equal(distinct, N);
    kill(rescuer, SIGTERM);
    waitpid(rescuer, NULL, 0);
    unlink(log);
    saq_queue_free(q);
}

/* Write a job record as a worker that died would leave it: `active`, in the
 * active list, started long ago with a short timeout (stuck). */
static void plant_stuck(saq_queue_t *q, const char *key)
{
    const char *n = saq_queue_name(q);
    long long old = (long long)(now_s() * 1000) - 60000;
    char rec[1024];
    snprintf(rec, sizeof rec,
             "{\"function\": \"noop\", \"kwargs\": {}, \"key\": \"%s\", \"queue\": \"%s\", "
             "\"timeout\": 1, \"retries\": 3, \"ttl\": 600, \"attempts\": 1, \"queued\": %lld, "
             "\"started\": %lld, \"touched\": %lld, \"status\": \"active\", \"worker_id\": \"ghost\"}",
             key, n, old, old, old);
    freeReplyObject(rh_cmd(RC, "SET saq:job:%s:%s %s", n, key, rec));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:active saq:job:%s:%s", n, n, key));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 saq:job:%s:%s", n, n, key));
}

static void test_sweeper_killed_during_abort(void **state)
{
    (void)state;
    /* a sweep aborts a stuck job (it leaves every list, status aborting) and
     * its process dies before the retry (saq strands such a job for good):
     * a libsaq worker retries it once the sweep's deadline has passed */
    saq_queue_t *q = mkqueue("sweepdie", NULL, NULL);
    plant_stuck(q, "stuck1");
    const char *a1[] = {"--sweep-once", "5", NULL};
    pid_t sweeper = itest_spawn_worker(R->url, saq_queue_name(q), "/dev/null", a1);
    saq_job_free(wait_status(q, "stuck1", "aborting", 10000));
    kill(sweeper, SIGKILL);
    waitpid(sweeper, NULL, 0);
    assert_int_equal(qcount(q, "active"), 0);
    assert_int_equal(qcount(q, "queued"), 0);
    pid_t worker = itest_spawn_worker(R->url, saq_queue_name(q), "/dev/null", NULL);
    saq_job_t *j = wait_status(q, "stuck1", "complete", 20000);
    assert_int_equal(saq_job_attempts(j), 2);
    saq_job_free(j);
    ASSERT_COUNTS(q, 0, 0, 0);
    assert_int_equal(rh_int(RC, "ZCARD saq:%s:libsaq:sweeping", saq_queue_name(q)), 0);
    kill(worker, SIGTERM);
    waitpid(worker, NULL, 0);
    saq_queue_free(q);
}

static void test_unreadable_records_are_settled(void **state)
{
    (void)state;
    /* records a worker dequeues but cannot use end failed with an error
     * saying why, leave active, and their bytes are kept beside them */
    saq_queue_t *q = mkqueue("unread", NULL, NULL);
    const char *n = saq_queue_name(q);
    size_t deep_n = 12000; /* deeper than the reader's 10000 levels */
    char *deep = malloc(2 * deep_n + 64);
    int off = sprintf(deep, "{\"function\": \"noop\", \"kwargs\": {\"x\": ");
    for (size_t i = 0; i < deep_n; i++)
        deep[off++] = '[';
    for (size_t i = 0; i < deep_n; i++)
        deep[off++] = ']';
    strcpy(deep + off, "}}");
    char *big = malloc(70200);
    off = sprintf(big, "{\"function\": \"noop\", \"kwargs\": {\"pad\": \"");
    memset(big + off, 'x', 69000);
    strcpy(big + off + 69000, "\"}}");
    struct {
        const char *key, *rec;
    } recs[] = {{"garbage", "not json {"}, {"deep", deep}, {"big", big}, {"array", "[1, 2, 3]"},
                {"kwarr", "{\"function\": \"noop\", \"kwargs\": [1]}"}};
    enum { NR = sizeof recs / sizeof recs[0] };
    for (int i = 0; i < NR; i++) {
        freeReplyObject(rh_cmd(RC, "SET saq:job:%s:%s %s", n, recs[i].key, recs[i].rec));
        freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:%s", n, n, recs[i].key));
        freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 saq:job:%s:%s", n, n, recs[i].key));
    }
    /* a key of another type than a string (it was dropped from the lists unseen) */
    freeReplyObject(rh_cmd(RC, "HSET saq:job:%s:hashed f v", n));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:job:%s:hashed", n, n));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 saq:job:%s:hashed", n, n));
    /* and one that is not of this queue's ids at all: dropped from the lists, left alone */
    freeReplyObject(rh_cmd(RC, "HSET foreign-%s f v", n));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued foreign-%s", n, n));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:incomplete 0 foreign-%s", n, n));
    saq_job_t *ok = enq(q, "noop", NULL);
    const char *a1[] = {"--conf", "max_payload_bytes=65536", NULL};
    pid_t worker = itest_spawn_worker(R->url, n, "/dev/null", a1);
    saq_job_free(wait_status(q, saq_job_key(ok), "complete", 10000));
    for (int i = 0; i < NR; i++) {
        saq_job_t *j = wait_status(q, recs[i].key, "failed", 10000);
        assert_non_null(strstr(saq_job_error(j), "cannot be read"));
        assert_string_equal(saq_job_queue(j), n); /* Python's Queue.job() needs it */
        saq_job_free(j);
        char *kept = rh_str(RC, "GET saq:%s:libsaq:unreadable:%s", n, recs[i].key);
        assert_non_null(kept);
        assert_string_equal(kept, recs[i].rec);
        free(kept);
        assert_true(rh_int(RC, "TTL saq:job:%s:%s", n, recs[i].key) > 0);
    }
    saq_job_t *h = wait_status(q, "hashed", "failed", 10000);
    assert_non_null(strstr(saq_job_error(h), "cannot be read (its key holds a hash, not a job record)"));
    saq_job_free(h);
    redisReply *ty = rh_cmd(RC, "TYPE saq:%s:libsaq:unreadable:hashed", n);
    assert_string_equal(ty->str, "hash"); /* the key itself, kept */
    freeReplyObject(ty);
    assert_true(rh_int(RC, "TTL saq:%s:libsaq:unreadable:hashed", n) > 0);
    double end = now_s() + 5;
    while (qcount(q, "incomplete") > 0 && now_s() < end)
        sleep_ms(20);
    ASSERT_COUNTS(q, 0, 0, 0);
    assert_int_equal(rh_int(RC, "HLEN foreign-%s", n), 1);
    kill(worker, SIGTERM);
    waitpid(worker, NULL, 0);
    saq_job_free(ok);
    free(deep);
    free(big);
    saq_queue_free(q);
}

static void test_unreadable_records_in_active_are_settled(void **state)
{
    (void)state;
    /* unreadable records already in active (left by a worker that died
     * holding them, or overwritten meanwhile): no worker can finish them, so
     * once the same bytes have stayed there for a while they end failed, with
     * their bytes kept, instead of staying active for good */
    saq_queue_t *q = mkqueue("unreadact", NULL, NULL);
    const char *n = saq_queue_name(q);
    struct {
        const char *key, *rec;
    } recs[] = {{"garbage", "not json {"},
                {"other", "{\"function\": \"noop\", \"key\": \"ZZ\", \"status\": \"active\"}"}};
    enum { NR = sizeof recs / sizeof recs[0] };
    for (int i = 0; i < NR; i++) {
        freeReplyObject(rh_cmd(RC, "SET saq:job:%s:%s %s", n, recs[i].key, recs[i].rec));
        freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:active saq:job:%s:%s", n, n, recs[i].key));
    }
    const char *a1[] = {"--conf", "dead_worker_check=0.1", NULL};
    pid_t worker = itest_spawn_worker(R->url, n, "/dev/null", a1);
    for (int i = 0; i < NR; i++) {
        saq_job_t *j = wait_status(q, recs[i].key, "failed", 40000);
        assert_non_null(strstr(saq_job_error(j), "cannot be read"));
        saq_job_free(j);
        char *kept = rh_str(RC, "GET saq:%s:libsaq:unreadable:%s", n, recs[i].key);
        assert_non_null(kept);
        assert_string_equal(kept, recs[i].rec);
        free(kept);
    }
    assert_int_equal(rh_int(RC, "LLEN saq:%s:active", n), 0);
    kill(worker, SIGTERM);
    waitpid(worker, NULL, 0);
    saq_queue_free(q);
}

static void test_abort_whose_worker_dies(void **state)
{
    (void)state;
    /* saq_queue_abort of a running job, then its worker is killed before it
     * notices (saq leaves such a job `aborting` in no list for good), and of
     * a scheduled job (no worker will ever see it): a libsaq worker finishes
     * both aborted once no live worker holds them */
    saq_queue_t *q = mkqueue("abortdie", NULL, NULL);
    pid_t victim = itest_spawn_worker(R->url, saq_queue_name(q), "/dev/null", NULL);
    saq_job_t *j = enq(q, "sleep_uncancellable", "{\"s\": 60, \"timeout\": 600}");
    saq_job_free(wait_status(q, saq_job_key(j), "active", 10000));
    saq_event_t *ev = OK_EV(saq_queue_abort_sync(q, saq_job_key(j), "stop it", 5, TMO));
    assert_int_equal(saq_event_int(ev), 1); /* running: its worker would stop it */
    saq_event_free(ev);
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);
    pid_t rescuer = itest_spawn_worker(R->url, saq_queue_name(q), "/dev/null", NULL);
    saq_job_t *s = saq_job_new("noop");
    saq_job_set_scheduled(s, now_s() + 3600);
    saq_event_free(OK_EV(saq_queue_enqueue_sync(q, s, TMO)));
    ev = OK_EV(saq_queue_abort_sync(q, saq_job_key(s), "not needed", 5, TMO));
    assert_int_equal(saq_event_int(ev), 1);
    saq_event_free(ev);
    saq_job_t *d = wait_status(q, saq_job_key(j), "aborted", 20000);
    assert_string_equal(saq_job_error(d), "stop it");
    saq_job_free(d);
    d = wait_status(q, saq_job_key(s), "aborted", 20000);
    assert_string_equal(saq_job_error(d), "not needed");
    saq_job_free(d);
    ASSERT_COUNTS(q, 0, 0, 0);
    assert_int_equal(rh_int(RC, "ZCARD saq:%s:libsaq:aborting", saq_queue_name(q)), 0);
    kill(rescuer, SIGTERM);
    waitpid(rescuer, NULL, 0);
    saq_job_free(j);
    saq_job_free(s);
    saq_queue_free(q);
}

static void test_aborting_in_no_list_names_a_live_worker(void **state)
{
    (void)state;
    /* a job left `aborting` in no list whose record names a worker that is
     * alive: it timed out and its RETRY put it back in `queued`, then
     * saq_queue_abort took it out of there and the abort's second step (the
     * caller's finish) was lost with a killed connection. No worker holds it,
     * so the abort watch must finish it aborted although the worker named in
     * it lives (it waited on that worker for good: a chaos test stranded such
     * jobs) */
    saq_queue_t *q = mkqueue("abortnolist", NULL, NULL);
    const char *n = saq_queue_name(q);
    pid_t w = itest_spawn_worker(R->url, n, "/dev/null", NULL);
    char wid[128] = "";
    for (int i = 0; i < 100 && !wid[0]; i++) {
        redisReply *r = rh_cmd(RC, "ZRANGE saq:%s:libsaq:alive 0 0", n);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
            snprintf(wid, sizeof wid, "%s", r->element[0]->str);
        freeReplyObject(r);
        if (!wid[0])
            sleep_ms(100);
    }
    assert_true(wid[0] != '\0');
    saq_job_t *s = saq_job_new("noop");
    saq_job_set_scheduled(s, now_s() + 3600); /* nobody runs it meanwhile */
    saq_event_free(OK_EV(saq_queue_enqueue_sync(q, s, TMO)));
    /* the state the lost finish leaves: aborting, out of `queued` and
     * `incomplete`, on the abort watch, due */
    char *raw = rh_str(RC, "GET saq:job:%s:%s", n, saq_job_key(s));
    assert_non_null(raw);
    char *st = strstr(raw, "\"status\": \"queued\"");
    assert_non_null(st);
    char *rec = malloc(strlen(raw) + 256);
    sprintf(rec, "%.*s\"status\": \"aborting\", \"error\": \"lost finish\", \"worker_id\": \"%s\"%s",
            (int)(st - raw), raw, wid, st + strlen("\"status\": \"queued\""));
    redisReply *r = rh_cmd(RC, "SET saq:job:%s:%s %s", n, saq_job_key(s), rec);
    freeReplyObject(r);
    freeReplyObject(rh_cmd(RC, "ZREM saq:%s:incomplete saq:job:%s:%s", n, n, saq_job_key(s)));
    freeReplyObject(rh_cmd(RC, "ZADD saq:%s:libsaq:aborting 1 saq:job:%s:%s", n, n, saq_job_key(s)));
    saq_job_t *d = wait_status(q, saq_job_key(s), "aborted", 20000);
    assert_string_equal(saq_job_error(d), "lost finish");
    saq_job_free(d);
    assert_int_equal(rh_int(RC, "ZCARD saq:%s:libsaq:aborting", n), 0);
    assert_int_equal(kill(w, 0), 0); /* finished while the worker named in it lived */
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    free(raw);
    free(rec);
    saq_job_free(s);
    saq_queue_free(q);
}

static void test_stalled_worker_never_drops_anothers_entry(void **state)
{
    (void)state;
    /* a worker frozen (SIGSTOP) with a move in flight: its move is put back,
     * another worker runs the job; when the frozen one resumes, its stale mark
     * must not remove the runner's entry from `active` (the job would then be
     * in no list, and a later death of the runner would strand it) */
    saq_queue_t *q = mkqueue("stall", NULL, NULL);
    const char *n = saq_queue_name(q);
    pid_t a = itest_spawn_worker(R->url, n, "/dev/null", NULL);
    sleep_ms(1500); /* a is idle, blocked in its dequeue */
    kill(a, SIGSTOP);
    saq_job_t *j = enq(q, "sleep", "{\"s\": 3, \"timeout\": 600, \"retries\": 3}");
    pid_t b = itest_spawn_worker(R->url, n, "/dev/null", NULL);
    saq_job_free(wait_status(q, saq_job_key(j), "active", 15000)); /* put back, then run by b */
    kill(a, SIGCONT);
    sleep_ms(1000);
    assert_int_equal(qcount(q, "active"), 1); /* b's entry is still there */
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    saq_job_t *d = wait_status(q, saq_job_key(j), "complete", 20000); /* a recovers it */
    assert_true(saq_job_attempts(d) >= 2);
    saq_job_free(d);
    ASSERT_COUNTS(q, 0, 0, 0);
    kill(a, SIGTERM);
    waitpid(a, NULL, 0);
    saq_job_free(j);
    saq_queue_free(q);
}

static void test_records_near_max_payload_end(void **state)
{
    (void)state;
    /* records just under max_payload_bytes: readable, but the marked record,
     * the timeout's failed record or the recovered one no longer fits. Each
     * job must still end (failed with a reason), never stay in active */
    saq_queue_t *q = mkqueue("nearmax", NULL, NULL);
    const char *n = saq_queue_name(q);
    enum { N = 12 };
    char *keys[N];
    for (int i = 0; i < N; i++) {
        int pad = 560 + 30 * i; /* records of about 700 to 1030 bytes */
        char *kw = malloc((size_t)pad + 128);
        int off = sprintf(kw, "{\"s\": 3, \"timeout\": 1, \"retries\": 1, \"pad\": \"");
        memset(kw + off, 'p', (size_t)pad);
        strcpy(kw + off + pad, "\"}");
        saq_job_t *j = enq(q, "sleep", kw);
        keys[i] = strdup(saq_job_key(j));
        saq_job_free(j);
        free(kw);
    }
    const char *a1[] = {"--conf", "max_payload_bytes=1024", NULL};
    pid_t w = itest_spawn_worker(R->url, n, "/dev/null", a1);
    for (int i = 0; i < N; i++) {
        double end = now_s() + 30;
        char *raw = NULL;
        while (now_s() < end) {
            free(raw);
            raw = stored(q, keys[i]);
            if (raw && (strstr(raw, "\"status\": \"failed\"") || strstr(raw, "\"status\": \"aborted\"")))
                break;
            sleep_ms(100);
        }
        if (!raw || !(strstr(raw, "\"status\": \"failed\"") || strstr(raw, "\"status\": \"aborted\"")))
            fail_msg("job %d (%s) did not end: %.300s", i, keys[i], raw ? raw : "missing");
        free(raw);
        free(keys[i]);
    }
    ASSERT_COUNTS(q, 0, 0, 0);
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    saq_queue_free(q);
}

static void test_hostile_values_in_libsaq_keys(void **state)
{
    (void)state;
    /* libsaq's own keys holding another type, and ids in the queue's list
     * that are not its job ids: nothing is overwritten that is not a job of
     * the queue, and aborts and recovery still work */
    saq_queue_t *q = mkqueue("hostile", NULL, NULL);
    const char *n = saq_queue_name(q);
    freeReplyObject(rh_cmd(RC, "SET saq:%s:libsaq:aborting garbage", n));
    freeReplyObject(rh_cmd(RC, "SET saq:%s:libsaq:sweeping garbage", n));
    freeReplyObject(rh_cmd(RC, "SET saq:%s:libsaq:alive garbage", n));
    freeReplyObject(rh_cmd(RC, "SET plainkey-%s hello", n));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued plainkey-%s", n, n));
    freeReplyObject(rh_cmd(RC, "RPUSH saq:%s:queued saq:%s:sweep", n, n));
    pid_t w = itest_spawn_worker(R->url, n, "/dev/null", NULL);
    saq_job_t *s = saq_job_new("noop");
    saq_job_set_scheduled(s, now_s() + 3600);
    saq_event_free(OK_EV(saq_queue_enqueue_sync(q, s, TMO)));
    saq_event_t *ev = OK_EV(saq_queue_abort_sync(q, saq_job_key(s), "not needed", 5, TMO));
    saq_event_free(ev);
    saq_job_free(wait_status(q, saq_job_key(s), "aborted", 20000));
    char *v = rh_str(RC, "GET plainkey-%s", n);
    assert_string_equal(v, "hello");
    free(v);
    assert_int_equal(rh_int(RC, "TTL saq:%s:sweep", n) > 3600, 0); /* the sweep lock was not turned into a record */
    char *t = rh_str(RC, "TYPE saq:%s:libsaq:alive", n);
    assert_string_equal(t, "zset"); /* the liveness refresh works again */
    free(t);
    /* the plain key's id was dropped from active (the lock's id, whose key
     * expires, is a missing record: the sweep drops it, as saq's) */
    double end = now_s() + 10;
    while (rh_int(RC, "LPOS saq:%s:active plainkey-%s", n, n) >= 0 && now_s() < end)
        sleep_ms(50);
    redisReply *pos = rh_cmd(RC, "LPOS saq:%s:active plainkey-%s", n, n);
    assert_int_equal(pos->type, REDIS_REPLY_NIL);
    freeReplyObject(pos);
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    saq_job_free(s);
    saq_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_worker_jobs_still_finish),
        cmocka_unit_test(test_exactly_once_10k),
        cmocka_unit_test(test_redis_restart_under_load),
        cmocka_unit_test(test_redis_gone_while_an_outcome_is_pending),
        cmocka_unit_test(test_redis_frozen_while_jobs_run),
        cmocka_unit_test(test_command_timeout_and_recovery),
        cmocka_unit_test(test_kill9_recovery_within_seconds),
        cmocka_unit_test(test_sweeper_killed_during_abort),
        cmocka_unit_test(test_unreadable_records_are_settled),
        cmocka_unit_test(test_unreadable_records_in_active_are_settled),
        cmocka_unit_test(test_abort_whose_worker_dies),
        cmocka_unit_test(test_aborting_in_no_list_names_a_live_worker),
        cmocka_unit_test(test_stalled_worker_never_drops_anothers_entry),
        cmocka_unit_test(test_records_near_max_payload_end),
        cmocka_unit_test(test_hostile_values_in_libsaq_keys),
    };
    return cmocka_run_group_tests_name("faults", tests, suite_setup, suite_teardown);
}
