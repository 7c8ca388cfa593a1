/* SPDX-License-Identifier: MIT */
/* Shared helpers for the integration tests: every test talks to a real
 * redis-server started by tests/support/redis_harness.c, and checks the
 * Redis state directly with a plain hiredis client. */
#ifndef SAQ_ITEST_H
#define SAQ_ITEST_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "redis_harness.h"
#include <saq.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ITEST_VALGRIND_H 1
#endif
#endif

#define TMO 10000 /* ms: generous for loaded CI machines; tests never rely on it elapsing */

static rh_t *R;               /* the suite's redis-server */
static redisContext *RC;      /* assertion client */

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* First thing in a test's forked child (one that ends with _exit, no exec).
 * Under valgrind (tests/run's valgrind stage) the child would run its own
 * leak check at exit, and fail its exit status with --error-exitcode: but the
 * parent's I/O threads do not exist in the child, so whatever only they
 * pointed to at the fork (a request in flight, a reply being parsed) looks
 * "definitely lost", and libsaq keeps a queue's memory in a forked child on
 * purpose (saq_queue_free). The parent's own leak check covers the real
 * thing. Outside valgrind this does nothing. */
static inline void forked_child_no_leak_check(void)
{
#ifdef ITEST_VALGRIND_H
    VALGRIND_CLO_CHANGE("--leak-check=no");
#endif
}

/* A queue on the suite's server with a unique name; extra conf pairs optional. */
static inline saq_queue_t *mkqueue(const char *prefix, const char *k1, const char *v1)
{
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "url", R->url), 0);
    assert_int_equal(saq_conf_set(c, "name", rh_queue_name(prefix)), 0);
    if (k1)
        assert_int_equal(saq_conf_set(c, k1, v1), 0);
    saq_queue_t *q = saq_queue_new(c);
    if (!q)
        fail_msg("saq_queue_new: %s", saq_conf_errmsg(c));
    saq_conf_free(c);
    return q;
}

/* A worker on q configured with the conf pairs kv (NULL-terminated, may be
 * NULL), no handler registered yet; fails the test when it is refused. */
static inline saq_worker_t *worker_with_conf(saq_queue_t *q, const char **kv)
{
    saq_conf_t *c = saq_conf_new();
    for (int i = 0; kv && kv[i]; i += 2)
        assert_int_equal(saq_conf_set(c, kv[i], kv[i + 1]), 0);
    saq_worker_t *w = saq_worker_new(q, c);
    if (!w)
        fail_msg("saq_worker_new: %s", saq_conf_errmsg(c));
    saq_conf_free(c);
    return w;
}

/* Assert an event succeeded (printing its message otherwise) and return it. */
#define OK_EV(call)                                                                                \
    ({                                                                                             \
        saq_event_t *ev_ = (call);                                                                 \
        assert_non_null(ev_);                                                                      \
        if (saq_event_status(ev_) != SAQ_OK)                                                       \
            fail_msg("%s -> %s: %s", #call, saq_err_name(saq_event_status(ev_)),                 \
                     saq_event_errmsg(ev_));                                                       \
        ev_;                                                                                       \
    })

static inline long long qcount(saq_queue_t *q, const char *kind)
{
    saq_event_t *ev = OK_EV(saq_queue_count_sync(q, kind, TMO));
    long long n = saq_event_int(ev);
    saq_event_free(ev);
    return n;
}

/* (queued, incomplete, active) as in the spec's checklist */
#define ASSERT_COUNTS(q, qd, inc, act)                                                             \
    do {                                                                                           \
        assert_int_equal(qcount(q, "queued"), qd);                                                 \
        assert_int_equal(qcount(q, "incomplete"), inc);                                            \
        assert_int_equal(qcount(q, "active"), act);                                                \
    } while (0)

static inline saq_job_t *getjob(saq_queue_t *q, const char *key)
{
    saq_event_t *ev = saq_queue_job_sync(q, key, TMO);
    saq_job_t *j = saq_event_status(ev) == SAQ_OK ? saq_event_take_job(ev) : NULL;
    saq_event_free(ev);
    return j;
}

/* Enqueue `function` with call kwargs; returns the owned job as sent. */
static inline saq_job_t *enq(saq_queue_t *q, const char *function, const char *kwargs)
{
    saq_event_t *ev = OK_EV(saq_queue_enqueue_call_sync(q, function, kwargs, TMO));
    assert_int_equal(saq_event_int(ev), 1);
    saq_job_t *j = saq_event_take_job(ev);
    saq_event_free(ev);
    return j;
}

/* Poll until the stored job reaches `status` (or fail after ms). */
static inline saq_job_t *wait_status(saq_queue_t *q, const char *key, const char *status, int ms)
{
    double end = now_s() + ms / 1000.0;
    saq_job_t *j = NULL;
    while (now_s() < end) {
        saq_job_free(j);
        j = getjob(q, key);
        if (j && !strcmp(saq_job_status(j), status))
            return j;
        sleep_ms(10);
    }
    fail_msg("job %s did not reach %s within %d ms (last: %s)", key, status, ms,
             j ? saq_job_to_json(j) : "missing");
    return NULL;
}

static inline char *stored(saq_queue_t *q, const char *key)
{
    return rh_str(RC, "GET saq:job:%s:%s", saq_queue_name(q), key);
}

/* `promtool check metrics` on text: 0 when it is clean. */
static inline int itest_promtool(const char *text)
{
    char path[] = "/tmp/saq-itest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    while (fgets(line, sizeof line, p))
        fprintf(stderr, "promtool: %s", line);
    int st = pclose(p);
    unlink(path);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        fail_msg("promtool is not installed (Debian package prometheus; .ci/setup test installs it)");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline const char *testworker(void)
{
    const char *p = getenv("SAQ_TESTWORKER");
    if (!p)
        fail_msg("SAQ_TESTWORKER is not set (path of the saq-testworker binary)");
    return p;
}

/* Start saq-testworker (its path in $SAQ_TESTWORKER) on `queue` with extra args (NULL-terminated,
 * may be NULL), its runs logged to `log`; waits for its "ready" line. A child of the test: it
 * dies with it. */
static inline pid_t itest_spawn_worker(const char *url, const char *queue, const char *log, const char **extra)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        dup2(fds[1], 1);
        close(fds[0]);
        const char *argv[40] = {testworker(), "--url", url, "--queue", queue, "--log", log};
        int n = 7;
        for (int i = 0; extra && extra[i] && n < 38; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[256] = "";
    ssize_t r = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    if (r <= 0 || strncmp(buf, "ready", 5))
        fail_msg("saq-testworker did not start: %s", buf);
    return pid;
}

/* Stop a started worker (1 s grace), wait for it and free it. */
static inline void itest_stop_worker(saq_worker_t *w)
{
    assert_int_equal(saq_worker_stop(w, 1000), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
}

static int suite_setup(void **state)
{
    (void)state;
    R = rh_start(0);
    RC = rh_client(R);
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    redisFree(RC);
    rh_stop(R);
    return 0;
}
#endif
