/* SPDX-License-Identifier: MIT */
/* The C worker of the chaos soak (tests/chaos/soak): one function, "soak".
 *
 *   soak_worker --url URL --queue NAME --id ID --concurrency N --log FILE
 *
 * soak(ms, fail_until): appends "S <key> <attempt> <epoch ms>" to FILE,
 * sleeps ms milliseconds, then fails ("RuntimeError: planned failure") when
 * attempt <= fail_until, else completes with the attempt number; just before
 * settling it appends "E <key> <attempt> <epoch ms> ok|fail". Each line is
 * one write(2) on an O_APPEND descriptor, so a SIGKILL leaves whole lines.
 * The same contract is implemented by the Python, Go, Node and Ruby workers
 * next to this file. Prints "ready <worker id>" once started; exits 0 after
 * SIGINT/SIGTERM. */
#include <saq.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logline(const char *fmt_kind, const char *key, int attempt, const char *outcome)
{
    char line[512];
    int n = outcome ? snprintf(line, sizeof line, "%s %s %d %lld %s\n", fmt_kind, key, attempt, now_ms(), outcome)
                    : snprintf(line, sizeof line, "%s %s %d %lld\n", fmt_kind, key, attempt, now_ms());
    if (n > 0 && n < (int)sizeof line && write(log_fd, line, (size_t)n) != n)
        perror("soak_worker: log");
}

static void soak(saq_job_t *job, void *ud)
{
    (void)ud;
    const char *key = saq_job_key(job);
    int attempt = saq_job_attempts(job);
    logline("S", key, attempt, NULL);
    cJSON *kw = saq_job_kwargs(job) ? cJSON_Parse(saq_job_kwargs(job)) : NULL;
    cJSON *ms = cJSON_GetObjectItemCaseSensitive(kw, "ms");
    cJSON *fu = cJSON_GetObjectItemCaseSensitive(kw, "fail_until");
    double sleep_ms = cJSON_IsNumber(ms) ? ms->valuedouble : 0;
    int fail_until = cJSON_IsNumber(fu) ? fu->valueint : 0;
    cJSON_Delete(kw);
    struct timespec ts = {(time_t)(sleep_ms / 1000), (long)((long long)(sleep_ms * 1e6) % 1000000000LL)};
    nanosleep(&ts, NULL);
    if (attempt <= fail_until) {
        logline("E", key, attempt, "fail");
        saq_job_fail(job, "RuntimeError: planned failure");
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", attempt);
        logline("E", key, attempt, "ok");
        saq_job_complete(job, buf);
    }
    saq_job_free(job);
}

int main(int argc, char **argv)
{
    saq_conf_t *conf = saq_conf_new();
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        int rc = 0;
        if (!strcmp(a, "--url"))
            rc = saq_conf_set(conf, "url", v);
        else if (!strcmp(a, "--queue"))
            rc = saq_conf_set(conf, "name", v);
        else if (!strcmp(a, "--id"))
            rc = saq_conf_set(conf, "id", v);
        else if (!strcmp(a, "--concurrency"))
            rc = saq_conf_set(conf, "concurrency", v);
        else if (!strcmp(a, "--log")) {
            log_fd = open(v, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (log_fd < 0) {
                perror(v);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: soak_worker --url URL --queue NAME --id ID --concurrency N --log FILE\n");
            return 2;
        }
        if (rc) {
            fprintf(stderr, "soak_worker: %s\n", saq_conf_errmsg(conf));
            return 2;
        }
    }
    if (log_fd < 0) {
        fprintf(stderr, "soak_worker: --log is required\n");
        return 2;
    }
    saq_queue_t *q = saq_queue_new(conf);
    saq_worker_t *w = q ? saq_worker_new(q, conf) : NULL;
    if (!w) {
        fprintf(stderr, "soak_worker: %s\n", saq_conf_errmsg(conf));
        return 2;
    }
    saq_worker_register(w, "soak", soak, NULL);
    printf("ready %s\n", saq_worker_id(w));
    int rc = saq_worker_run(w);
    saq_worker_free(w);
    saq_queue_close(q, 2000);
    saq_queue_free(q);
    saq_conf_free(conf);
    if (rc)
        fprintf(stderr, "soak_worker: %s\n", saq_strerror(rc));
    return rc ? 1 : 0;
}
