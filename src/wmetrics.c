/* SPDX-License-Identifier: MIT */
/* A worker's own metrics, kept in its process: per (queue, function) the
 * outcomes it wrote and a histogram of run times, recorded by lease.c where
 * an outcome is stored (C handlers and pull mode alike), rendered in the
 * Prometheus text format for saq_worker_metrics (worker.c, which adds the
 * running and error gauges of each queue). A worker of several queues keeps
 * every series in its primary (the handle the host holds), labelled by
 * queue. The series outlive the run: they are read after the worker stopped
 * too. Thread-safe (a mutex); it knows nothing of the worker. */
#include "worker.h"

#include <time.h>

static const double bounds[SAQ__DURATION_BUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                         1,     2.5,  5,     10,   30,  60,   300};
static const char *const bound_text[SAQ__DURATION_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "300", "+Inf"};
static const char *const outcome_names[4] = {"complete", "failed", "retried", "aborted"};

void saq__wmetrics_init(saq__wmetrics_t *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void saq__wmetrics_destroy(saq__wmetrics_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->s[i].queue);
        free(m->s[i].function);
    }
    free(m->s);
    m->s = NULL;
    m->n = 0;
    pthread_mutex_destroy(&m->mu);
}

double saq__wmetrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The series of (queue, function), made when new; NULL on ENOMEM. Under mu. */
static saq__fnstat_t *series(saq__wmetrics_t *m, const char *queue, const char *function)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->s[i].queue, queue) && !strcmp(m->s[i].function, function))
            return &m->s[i];
    saq__fnstat_t *s = saq__realloc(m->s, (m->n + 1) * sizeof *s);
    if (!s)
        return NULL;
    m->s = s;
    s = &m->s[m->n];
    memset(s, 0, sizeof *s);
    s->queue = saq__strdup(queue);
    s->function = saq__strdup(function);
    if (!s->queue || !s->function) {
        free(s->queue);
        free(s->function);
        return NULL;
    }
    m->n++;
    return s;
}

void saq__wmetrics_count(saq__wmetrics_t *m, const char *queue, const char *function, int outcome,
                         double seconds)
{
    if (outcome < 0 || outcome > 3)
        return;
    pthread_mutex_lock(&m->mu);
    saq__fnstat_t *s = series(m, queue, function ? function : "");
    if (s) {
        s->outcome[outcome]++;
        if (seconds >= 0) {
            int b = 0;
            while (b < SAQ__DURATION_BUCKETS - 1 && seconds > bounds[b])
                b++;
            s->bucket[b]++;
            s->runs++;
            s->sum += seconds;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

void saq__wmetrics_touch(saq__wmetrics_t *m, const char *queue, const char *function)
{
    pthread_mutex_lock(&m->mu);
    series(m, queue, function);
    pthread_mutex_unlock(&m->mu);
}

void saq__wmetrics_render(saq__wmetrics_t *m, saq__buf_t *b)
{
    pthread_mutex_lock(&m->mu);
    saq__prom_family(b, "saq_jobs_processed_total", "counter",
                     "Jobs this worker ran to an outcome it stored, by queue, function and outcome.");
    for (size_t i = 0; i < m->n; i++)
        for (int k = 0; k < 4; k++) {
            const char *l[] = {"queue", m->s[i].queue, "function", m->s[i].function, "outcome", outcome_names[k]};
            saq__prom_sample(b, "saq_jobs_processed_total", l, 3, (double)m->s[i].outcome[k]);
        }
    saq__prom_family(b, "saq_job_duration_seconds", "histogram",
                     "Run time of the jobs this worker ran, from the hand-over to its handler to the "
                     "outcome, in seconds.");
    for (size_t i = 0; i < m->n; i++) {
        const saq__fnstat_t *s = &m->s[i];
        long long cum = 0;
        for (int k = 0; k < SAQ__DURATION_BUCKETS; k++) {
            const char *l[] = {"queue", s->queue, "function", s->function, "le", bound_text[k]};
            cum += s->bucket[k];
            saq__prom_sample(b, "saq_job_duration_seconds_bucket", l, 3, (double)cum);
        }
        const char *l[] = {"queue", s->queue, "function", s->function};
        saq__prom_sample(b, "saq_job_duration_seconds_sum", l, 2, s->sum);
        saq__prom_sample(b, "saq_job_duration_seconds_count", l, 2, (double)s->runs);
    }
    pthread_mutex_unlock(&m->mu);
}
