/* SPDX-License-Identifier: MIT */
/* The public job API (saq.h "Jobs"): constructors, saq_job_dup/free, the
 * getters and the validating setters, on top of job.c's record. */
#include "internal.h"

#include <math.h>

SAQ_API saq_job_t *saq_job_new(const char *function)
{
    if (!function || !*function)
        return NULL;
    saq_job_t *j = saq__malloc(sizeof *j);
    if (!j)
        return NULL;
    saq__job_init(j);
    char key[37];
    saq__uuid1(key);
    j->function = saq__strdup(function);
    j->key = saq__strdup(key);
    if (!j->function || !j->key) {
        saq_job_free(j);
        return NULL;
    }
    return j;
}

SAQ_API int saq_job_parse(saq_job_t **out, const char *json, char *errbuf, size_t errbuf_size)
{
    char err[200] = "";
    saq_job_t *j = NULL;
    int e = SAQ_OK;
    if (!out || !json) {
        snprintf(err, sizeof err, "%s is NULL", out ? "json" : "out");
        e = SAQ_EINVAL;
    } else if (!(j = saq__malloc(sizeof *j))) {
        e = SAQ_ENOMEM;
    } else {
        saq__job_init(j);
        e = saq__job_parse(j, json, strlen(json), err, sizeof err);
        if (e) {
            free(j); /* saq__job_parse cleared it */
            j = NULL;
        } else if (!j->key) {
            char key[37];
            saq__uuid1(key);
            if (!(j->key = saq__strdup(key))) {
                saq_job_free(j);
                j = NULL;
                e = SAQ_ENOMEM;
            }
        }
    }
    if (e == SAQ_ENOMEM)
        snprintf(err, sizeof err, "out of memory");
    else if (e == SAQ_EPROTO) /* a record the caller gave, not one read from Redis */
        e = SAQ_EJSON;
    if (out)
        *out = j;
    if (errbuf && errbuf_size)
        snprintf(errbuf, errbuf_size, "%s", err);
    return e;
}

SAQ_API saq_job_t *saq_job_from_json(const char *json)
{
    saq_job_t *j = NULL;
    saq_job_parse(&j, json, NULL, 0);
    return j;
}

SAQ_API saq_job_t *saq_job_dup(const saq_job_t *job)
{
    if (!job)
        return NULL;
    saq_job_t *j = saq__malloc(sizeof *j);
    if (!j || saq__job_copy(j, job)) {
        free(j);
        return NULL;
    }
    return j;
}

SAQ_API void saq_job_free(saq_job_t *job)
{
    if (!job)
        return;
    if (job->owner)
        job->owner->release(job->owner, job); /* a leased job: its owner lets go of it */
    saq__job_clear(job);
    free(job);
}

#define GETS(name, field)                                                                          \
    SAQ_API const char *saq_job_##name(const saq_job_t *job) { return job ? job->field : NULL; }
GETS(function, function)
GETS(key, key)
GETS(id, id)
GETS(queue, queue)
GETS(kwargs, kwargs)
GETS(result, result)
GETS(error, error)
GETS(meta, meta)
GETS(worker_id, worker_id)
#undef GETS

SAQ_API const char *saq_job_status(const saq_job_t *job)
{
    return job ? saq__status_name(job->status) : NULL;
}
SAQ_API int saq_job_status_code(const saq_job_t *job) { return job ? job->status : 0; }
SAQ_API int saq_status_terminal(const char *status)
{
    return status && saq__status_terminal(saq__status_parse(status, strlen(status)));
}
SAQ_API double saq_job_timeout(const saq_job_t *job) { return job ? job->timeout : 0; }
SAQ_API double saq_job_heartbeat(const saq_job_t *job) { return job ? job->heartbeat : 0; }
SAQ_API int saq_job_retries(const saq_job_t *job) { return job ? job->retries : 0; }
SAQ_API int saq_job_ttl(const saq_job_t *job) { return job ? job->ttl : 0; }
SAQ_API double saq_job_retry_delay(const saq_job_t *job) { return job ? job->retry_delay : 0; }
SAQ_API int saq_job_retry_backoff(const saq_job_t *job) { return job ? job->backoff != 0 : 0; }
SAQ_API double saq_job_retry_backoff_cap(const saq_job_t *job)
{
    return job && job->backoff == 2 ? job->backoff_cap : 0;
}
SAQ_API double saq_job_scheduled(const saq_job_t *job) { return job ? job->scheduled : 0; }
SAQ_API double saq_job_progress(const saq_job_t *job) { return job ? job->progress : 0; }
SAQ_API int saq_job_attempts(const saq_job_t *job) { return job ? job->attempts : 0; }
SAQ_API int64_t saq_job_queued_ms(const saq_job_t *job) { return job ? job->queued : 0; }
SAQ_API int64_t saq_job_started_ms(const saq_job_t *job) { return job ? job->started : 0; }
SAQ_API int64_t saq_job_completed_ms(const saq_job_t *job) { return job ? job->completed : 0; }
SAQ_API int64_t saq_job_touched_ms(const saq_job_t *job) { return job ? job->touched : 0; }

SAQ_API const char *saq_job_to_json(saq_job_t *job)
{
    if (!job)
        return NULL;
    if (!job->json_cache)
        job->json_cache = saq__job_dump(job, SAQ__DIALECT_026);
    return job->json_cache;
}

SAQ_API const char *saq_job_errmsg(const saq_job_t *job)
{
    return job && job->errmsg ? job->errmsg : "";
}

/* Setters: validate, then assign and drop the cached JSON. */
#define SETTER_PROLOGUE                                                                            \
    if (!job)                                                                                      \
        return SAQ_EINVAL;

SAQ_API int saq_job_set_key(saq_job_t *job, const char *key)
{
    SETTER_PROLOGUE
    if (!key || !*key) {
        saq__job_seterr(job, "key must be a non-empty string");
        return SAQ_EINVAL;
    }
    if (!saq__utf8_valid(key, strlen(key))) { /* Python would read another key */
        saq__job_seterr(job, "key must be valid UTF-8");
        return SAQ_EINVAL;
    }
    char *k = saq__strdup(key), *id = job->queue ? saq__job_make_id(job->queue, key) : NULL;
    if (!k || (job->queue && !id)) {
        free(k);
        free(id);
        return SAQ_ENOMEM;
    }
    free(job->key);
    free(job->id);
    job->key = k;
    job->key_num = SAQ__KEY_STR;
    job->id = id;
    saq__job_invalidate(job);
    return 0;
}

static int set_object(saq_job_t *job, char **dst, const char *json, const char *what)
{
    char err[160];
    if (!json) {
        free(*dst);
        *dst = NULL;
        saq__job_invalidate(job);
        return 0;
    }
    size_t n = strlen(json);
    if (saq__json_validate(json, n, 'o', err, sizeof err)) {
        saq__job_seterr(job, "%s: %s", what, err);
        return SAQ_EJSON;
    }
    char *c = NULL;
    if (!(what[0] == 'm' && saq__json_is_empty_object(json, n)) && !(c = saq__strdup(json)))
        return SAQ_ENOMEM;
    free(*dst);
    *dst = c;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_kwargs(saq_job_t *job, const char *kwargs_json)
{
    SETTER_PROLOGUE
    return set_object(job, &job->kwargs, kwargs_json, "kwargs");
}

SAQ_API int saq_job_set_meta(saq_job_t *job, const char *meta_json)
{
    SETTER_PROLOGUE
    int e = set_object(job, &job->meta, meta_json, "meta");
    if (!e)
        saq__traceparent_scan(job->meta, job->traceparent);
    return e;
}

SAQ_API int saq_job_set_traceparent(saq_job_t *job, const char *traceparent)
{
    SETTER_PROLOGUE
    char err[200], *meta;
    int e = saq__traceparent_put(job->meta, traceparent, &meta, err, sizeof err);
    if (e == SAQ_EINVAL)
        saq__job_seterr(job, "%s", err);
    if (e)
        return e;
    free(job->meta);
    job->meta = meta;
    saq__traceparent_scan(job->meta, job->traceparent);
    saq__job_invalidate(job);
    return SAQ_OK;
}

SAQ_API const char *saq_job_traceparent(const saq_job_t *job)
{
    return job && job->traceparent[0] ? job->traceparent : NULL;
}

static int bad_number(saq_job_t *job, const char *field, double v, int allow_neg)
{
    if (isnan(v) || isinf(v) || (!allow_neg && v < 0)) {
        saq__job_seterr(job, "%s must be a finite number%s", field, allow_neg ? "" : " >= 0");
        return 1;
    }
    return 0;
}

SAQ_API int saq_job_set_timeout(saq_job_t *job, double seconds)
{
    SETTER_PROLOGUE
    if (bad_number(job, "timeout", seconds, 1))
        return SAQ_EINVAL;
    job->timeout_null = seconds < 0;
    job->timeout = seconds < 0 ? 0 : seconds;
    job->given |= SAQ__GIVEN_TIMEOUT;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_heartbeat(saq_job_t *job, double seconds)
{
    SETTER_PROLOGUE
    if (bad_number(job, "heartbeat", seconds, 0))
        return SAQ_EINVAL;
    job->heartbeat = seconds;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_retries(saq_job_t *job, int retries)
{
    SETTER_PROLOGUE
    if (retries < 0) {
        saq__job_seterr(job, "retries must be >= 0");
        return SAQ_EINVAL;
    }
    job->retries = retries;
    job->given |= SAQ__GIVEN_RETRIES;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_ttl(saq_job_t *job, int seconds)
{
    SETTER_PROLOGUE
    job->ttl = seconds;
    job->given |= SAQ__GIVEN_TTL;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_retry_delay(saq_job_t *job, double seconds)
{
    SETTER_PROLOGUE
    if (bad_number(job, "retry_delay", seconds, 0))
        return SAQ_EINVAL;
    job->retry_delay = seconds;
    job->given |= SAQ__GIVEN_RETRY_DELAY;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_retry_backoff(saq_job_t *job, int enabled, double cap_s)
{
    SETTER_PROLOGUE
    if (isnan(cap_s) || isinf(cap_s)) {
        saq__job_seterr(job, "retry_backoff cap must be finite");
        return SAQ_EINVAL;
    }
    job->backoff = !enabled ? 0 : cap_s > 0 ? 2 : 1;
    job->backoff_cap = enabled && cap_s > 0 ? cap_s : 0;
    job->given |= SAQ__GIVEN_RETRY_BACKOFF;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_scheduled(saq_job_t *job, double epoch_s)
{
    SETTER_PROLOGUE
    if (bad_number(job, "scheduled", epoch_s, 0))
        return SAQ_EINVAL;
    if (epoch_s > 0 && epoch_s < 1) {
        saq__job_seterr(job, "scheduled must be 0 (now) or epoch seconds >= 1");
        return SAQ_EINVAL;
    }
    job->scheduled = epoch_s;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_progress(saq_job_t *job, double progress)
{
    SETTER_PROLOGUE
    if (bad_number(job, "progress", progress, 1))
        return SAQ_EINVAL;
    job->progress = progress;
    saq__job_invalidate(job);
    return 0;
}

SAQ_API int saq_job_set_call_kwargs(saq_job_t *job, const char *kwargs_json)
{
    SETTER_PROLOGUE
    if (!kwargs_json) {
        saq__job_seterr(job, "kwargs JSON is NULL");
        return SAQ_EINVAL;
    }
    return saq__job_call_kwargs(job, kwargs_json);
}

SAQ_API int saq_job_set_json(saq_job_t *job, const char *json)
{
    SETTER_PROLOGUE
    char err[200];
    if (!json) {
        saq__job_seterr(job, "JSON is NULL");
        return SAQ_EINVAL;
    }
    if (saq__json_validate(json, strlen(json), 'o', err, sizeof err)) {
        saq__job_seterr(job, "job JSON: %s", err);
        return SAQ_EJSON;
    }
    saq_job_t tmp;
    saq__job_init(&tmp);
    int e = saq__job_parse(&tmp, json, strlen(json), err, sizeof err);
    if (e) {
        saq__job_seterr(job, "%s", err);
        return e == SAQ_ENOMEM ? e : SAQ_EJSON;
    }
    if (!tmp.key && job->key && !(tmp.key = saq__strdup(job->key))) {
        saq__job_clear(&tmp);
        return SAQ_ENOMEM;
    }
    if (tmp.queue && tmp.key && !tmp.id)
        tmp.id = saq__job_make_id(tmp.queue, tmp.key);
    saq__job_owner_t *o = job->owner;
    saq__job_clear(job);
    *job = tmp;
    job->owner = o;
    return 0;
}
