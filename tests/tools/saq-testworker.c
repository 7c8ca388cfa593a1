/* SPDX-License-Identifier: MIT */
/* saq-testworker: a C worker process with a fixed set of job functions, used
 * by the interop, fault and benchmark suites (they start it, kill it, and
 * compare what Python saq sees).
 *
 *   saq-testworker --url redis://... [--queue NAME] [--conf key=value ...]
 *                  [--also-queue NAME[:WEIGHT] ...] [--cron FUNCTION=EXPR]
 *                  [--limit FUNCTION=MAX_JOBS/PERIOD,MAX_RUNNING ...]
 *                  [--log FILE] [--verbose]
 *
 * --also-queue serves another queue of the same server with the same worker
 * (saq_worker_add_queue), in the order given, after --queue.
 * --limit sets saq_worker_set_limit: FUNCTION "*" is the whole queue; e.g.
 * "*=20/1,0" (20 starts per second) or "sleep=0/0,3" (3 sleep jobs at once).
 *
 * Functions (kwargs in parentheses):
 *   noop()                    completes with no result
 *   echo(**kw)                result = the kwargs object
 *   add(a, b)                 result = a + b
 *   sleep(s)                  sleeps s seconds, stops early when cancelled
 *   sleep_uncancellable(s)    sleeps s seconds ignoring cancellation
 *   fail(message)             fails with "RuntimeError: <message>" (default "oops")
 *   heartbeat(n, s)           n rounds of: sleep s, touch with progress
 *   cron_tick()               completes with the current epoch second
 *   timed(s)                  sleeps s seconds; with --log it appends
 *                             "T <key> <start> <end>\n" (epoch seconds, from
 *                             the handler's first to its last instruction)
 * With --sweep-once ABORT_S it runs no worker: it prints "ready sweeping", runs
 * one saq_queue_sweep (lock 1 s, abort wait ABORT_S) and exits (fault tests
 * kill it during the abort wait).
 * With --log FILE every run appends "<function> <key> <attempt>\n" to FILE
 * (O_APPEND, one write per line) so tests can count executions exactly.
 * Prints "ready <worker id>" once started; exits 0 after SIGINT/SIGTERM. */
#include <saq.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static int verbose;

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

static void record(saq_job_t *job)
{
    if (log_fd < 0)
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "%s %s %d\n", saq_job_function(job), saq_job_key(job),
                     saq_job_attempts(job));
    if (n > 0 && write(log_fd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)) < 0)
        perror("log");
}

static double kw_num(cJSON *kw, const char *name, double dflt)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(kw, name);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void handler(saq_job_t *job, void *ud)
{
    const char *fn = ud;
    cJSON *kw = saq_job_kwargs(job) ? cJSON_Parse(saq_job_kwargs(job)) : NULL;
    char buf[128];
    record(job);
    if (verbose)
        fprintf(stderr, "run %s %s attempt %d\n", fn, saq_job_key(job), saq_job_attempts(job));
    if (!strcmp(fn, "noop")) {
        saq_job_complete(job, NULL);
    } else if (!strcmp(fn, "echo")) {
        saq_job_complete(job, saq_job_kwargs(job) ? saq_job_kwargs(job) : "null");
    } else if (!strcmp(fn, "add")) {
        snprintf(buf, sizeof buf, "%.17g", kw_num(kw, "a", 0) + kw_num(kw, "b", 0));
        saq_job_complete(job, buf);
    } else if (!strcmp(fn, "sleep") || !strcmp(fn, "sleep_uncancellable")) {
        double s = kw_num(kw, "s", 1), slept = 0;
        int check = !strcmp(fn, "sleep");
        while (slept < s && !(check && saq_job_cancelled(job))) {
            double step = s - slept < 0.005 ? s - slept : 0.005;
            sleep_s(step);
            slept += step;
        }
        if (check && saq_job_cancelled(job)) {
            snprintf(buf, sizeof buf, "CancelledError: stopped after %.3f s (reason %d)", slept,
                     saq_job_cancelled(job));
            saq_job_fail(job, buf);
        } else {
            snprintf(buf, sizeof buf, "%.17g", s);
            saq_job_complete(job, buf);
        }
    } else if (!strcmp(fn, "fail")) {
        cJSON *m = cJSON_GetObjectItemCaseSensitive(kw, "message");
        snprintf(buf, sizeof buf, "RuntimeError: %.100s", cJSON_IsString(m) ? m->valuestring : "oops");
        saq_job_fail(job, buf);
    } else if (!strcmp(fn, "heartbeat")) {
        int n = (int)kw_num(kw, "n", 3);
        double s = kw_num(kw, "s", 0.2);
        for (int i = 0; i < n && !saq_job_cancelled(job); i++) {
            sleep_s(s);
            snprintf(buf, sizeof buf, "{\"progress\": %g}", (i + 1.0) / n);
            saq_job_touch(job, buf);
        }
        if (saq_job_cancelled(job))
            saq_job_fail(job, "CancelledError: cancelled");
        else
            saq_job_complete(job, "true");
    } else if (!strcmp(fn, "timed")) {
        struct timespec a, b;
        clock_gettime(CLOCK_REALTIME, &a);
        sleep_s(kw_num(kw, "s", 0));
        clock_gettime(CLOCK_REALTIME, &b);
        if (log_fd >= 0) {
            int n = snprintf(buf, sizeof buf, "T %.60s %.6f %.6f\n", saq_job_key(job),
                             a.tv_sec + a.tv_nsec / 1e9, b.tv_sec + b.tv_nsec / 1e9);
            if (n > 0 && write(log_fd, buf, (size_t)n) < 0)
                perror("log");
        }
        saq_job_complete(job, "true");
    } else if (!strcmp(fn, "cron_tick")) {
        snprintf(buf, sizeof buf, "%lld", (long long)time(NULL));
        saq_job_complete(job, buf);
    } else {
        saq_job_fail(job, "KeyError: unknown test function");
    }
    cJSON_Delete(kw);
    saq_job_free(job);
}

static const char *functions[] = {"noop", "echo", "add", "sleep", "sleep_uncancellable",
                                  "fail", "heartbeat", "cron_tick", "timed"};

static int usage(void)
{
    fprintf(stderr, "usage: saq-testworker --url URL [--queue NAME] [--conf key=value]... "
                    "[--also-queue NAME[:WEIGHT]]... [--cron FUNCTION=EXPR]... [--log FILE] [--verbose]\n");
    return 2;
}

int main(int argc, char **argv)
{
    saq_conf_t *conf = saq_conf_new();
    const char *crons[32], *also[32], *limits[32];
    int ncrons = 0, nalso = 0, nlimits = 0;
    double sweep_once = -1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        int rc = 0;
        if (!strcmp(a, "--url"))
            rc = saq_conf_set(conf, "url", v);
        else if (!strcmp(a, "--queue"))
            rc = saq_conf_set(conf, "name", v);
        else if (!strcmp(a, "--conf")) {
            char key[128];
            const char *eq = strchr(v, '=');
            if (!eq || eq - v >= (long)sizeof key)
                return usage();
            memcpy(key, v, (size_t)(eq - v));
            key[eq - v] = 0;
            rc = saq_conf_set(conf, key, eq + 1);
        } else if (!strcmp(a, "--sweep-once"))
            sweep_once = atof(v);
        else if (!strcmp(a, "--cron") && ncrons < 32)
            crons[ncrons++] = v;
        else if (!strcmp(a, "--limit") && nlimits < 32)
            limits[nlimits++] = v;
        else if (!strcmp(a, "--also-queue") && nalso < 32)
            also[nalso++] = v;
        else if (!strcmp(a, "--log")) {
            log_fd = open(v, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (log_fd < 0) {
                perror(v);
                return 2;
            }
        } else
            return usage();
        if (rc) {
            fprintf(stderr, "saq-testworker: %s\n", saq_conf_errmsg(conf));
            return 2;
        }
    }
    saq_queue_t *q = saq_queue_new(conf);
    if (!q) {
        fprintf(stderr, "saq-testworker: %s\n", saq_conf_errmsg(conf));
        return 2;
    }
    if (sweep_once >= 0) {
        printf("ready sweeping\n");
        saq_cq_t *cq = saq_cq_new();
        int e = saq_queue_sweep(q, 1, sweep_once, cq, 0);
        saq_event_t *ev = e ? NULL : saq_cq_poll(cq, -1);
        if (!ev) {
            fprintf(stderr, "saq-testworker: sweep: %s\n", saq_strerror(e));
            return 1;
        }
        printf("swept %s %s\n", saq_event_status(ev) ? saq_event_errmsg(ev) : "ok",
               saq_event_json(ev) ? saq_event_json(ev) : "");
        saq_event_free(ev);
        saq_cq_free(cq);
        saq_queue_free(q);
        saq_conf_free(conf);
        return 0;
    }
    saq_worker_t *w = saq_worker_new(q, conf);
    if (!w) {
        fprintf(stderr, "saq-testworker: %s\n", saq_conf_errmsg(conf));
        return 2;
    }
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++)
        saq_worker_register(w, functions[i], handler, (void *)functions[i]);
    saq_queue_t *more[32];
    for (int i = 0; i < nalso; i++) { /* the same conf, another queue name */
        char name[256];
        const char *colon = strchr(also[i], ':');
        int weight = colon ? atoi(colon + 1) : 1;
        snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - also[i]) : (int)strlen(also[i]), also[i]);
        if (saq_conf_set(conf, "name", name) || !(more[i] = saq_queue_new(conf))) {
            fprintf(stderr, "saq-testworker: %s\n", saq_conf_errmsg(conf));
            return 2;
        }
        if (saq_worker_add_queue(w, more[i], weight)) {
            fprintf(stderr, "saq-testworker: %s\n", saq_worker_errmsg(w));
            return 2;
        }
    }
    for (int i = 0; i < ncrons; i++) {
        char fn[128];
        const char *eq = strchr(crons[i], '=');
        if (!eq || eq - crons[i] >= (long)sizeof fn)
            return usage();
        memcpy(fn, crons[i], (size_t)(eq - crons[i]));
        fn[eq - crons[i]] = 0;
        if (saq_worker_add_cron(w, fn, eq + 1, NULL)) {
            fprintf(stderr, "saq-testworker: %s\n", saq_worker_errmsg(w));
            return 2;
        }
    }
    for (int i = 0; i < nlimits; i++) {
        char fn[128];
        int jobs = 0, running = 0;
        double period = 0;
        const char *eq = strchr(limits[i], '=');
        if (!eq || eq - limits[i] >= (long)sizeof fn || sscanf(eq + 1, "%d/%lf,%d", &jobs, &period, &running) != 3)
            return usage();
        memcpy(fn, limits[i], (size_t)(eq - limits[i]));
        fn[eq - limits[i]] = 0;
        if (saq_worker_set_limit(w, strcmp(fn, "*") ? fn : NULL, jobs, period, running)) {
            fprintf(stderr, "saq-testworker: %s\n", saq_worker_errmsg(w));
            return 2;
        }
    }
    printf("ready %s\n", saq_worker_id(w));
    int rc = saq_worker_run(w);
    saq_worker_free(w);
    saq_queue_close(q, 2000);
    saq_queue_free(q);
    for (int i = 0; i < nalso; i++) {
        saq_queue_close(more[i], 2000);
        saq_queue_free(more[i]);
    }
    saq_conf_free(conf);
    if (rc)
        fprintf(stderr, "saq-testworker: %s\n", saq_strerror(rc));
    return rc ? 1 : 0;
}
