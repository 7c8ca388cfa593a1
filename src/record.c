/* SPDX-License-Identifier: MIT */
/* Job records as stored: ids and keys, loading (load transform + parse +
 * checks) and dumping (dialect + dump transform + size limit), decoding a
 * GET/MGET reply, and preparing a job for enqueue (the before-enqueue hooks). */
#include "core.h"

char *saq__id_of(saq_queue_t *q, const char *key) { return saq__sprintf("%s%s", q->k_jobprefix, key); }

const char *saq__key_of(saq_queue_t *q, const char *id)
{
    if (!strncmp(id, q->k_jobprefix, q->jobprefix_len))
        return id + q->jobprefix_len;
    return id;
}

int saq__load_job(saq_queue_t *q, const char *id, const char *data, size_t len, saq_job_t *out,
                  char *err, size_t errlen)
{
    int e;
    if (q->set.load) {
        char *o = NULL;
        size_t ol = 0;
        if (q->set.load(data, len, &o, &ol, q->set.transform_ud) || !o) {
            free(o);
            snprintf(err, errlen, "the load transform failed on a job record");
            return SAQ_EPROTO;
        }
        e = saq__job_parse(out, o, ol, err, errlen);
        free(o);
    } else {
        e = saq__job_parse(out, data, len, err, errlen);
    }
    if (e)
        return e;
    if (!out->queue) {
        if (saq__job_set_queue(out, q->set.name))
            return SAQ_ENOMEM;
    } else if (strcmp(out->queue, q->set.name)) {
        snprintf(err, errlen, "job record %s belongs to queue '%.100s', not '%.100s'",
                 out->key ? out->key : "?", out->queue, q->set.name);
        return SAQ_EWRONGQUEUE;
    }
    if (id) { /* the record must be the one its key names */
        const char *key = saq__key_of(q, id);
        if (!out->key) { /* saq would invent a new key (U15): take the id's */
            if (!(out->key = saq__strdup(key)))
                return SAQ_ENOMEM;
        } else if (strcmp(out->key, key)) {
            snprintf(err, errlen, "the record stored under %.200s says its key is '%.100s'", id,
                     out->key);
            return SAQ_EPROTO;
        }
        free(out->id);
        if (!(out->id = saq__job_make_id(q->set.name, out->key)))
            return SAQ_ENOMEM;
    }
    return 0;
}

char *saq__dump_job(saq_queue_t *q, const saq_job_t *j, size_t *len, int *err)
{
    char *s = saq__job_dump(j, q->set.dialect);
    if (!s) {
        *err = SAQ_ENOMEM;
        return NULL;
    }
    size_t n = strlen(s);
    if (q->set.dump) {
        char *o = NULL;
        size_t ol = 0;
        int r = q->set.dump(s, n, &o, &ol, q->set.transform_ud);
        free(s);
        if (r || !o) {
            free(o);
            *err = SAQ_EPROTO;
            return NULL;
        }
        s = o;
        n = ol;
    }
    if (n > q->set.max_payload) {
        free(s);
        *err = SAQ_ETOOBIG;
        return NULL;
    }
    *len = n;
    *err = 0;
    return s;
}

int saq__job_from_reply(saq_queue_t *q, redisReply *r, const char *id, saq_job_t **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    if (!r || r->type == REDIS_REPLY_NIL)
        return SAQ_ENOTFOUND;
    if (r->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "%s is not a string key (wrong type in redis)", id);
        return SAQ_EPROTO;
    }
    saq_job_t *j = saq__malloc(sizeof *j);
    if (!j)
        return SAQ_ENOMEM;
    saq__job_init(j);
    char e2[240];
    int e = saq__load_job(q, id, r->str, r->len, j, e2, sizeof e2);
    if (e) {
        snprintf(err, errlen, "%s: %s", id, e2);
        saq_job_free(j);
        return e;
    }
    *out = j;
    return 0;
}

/* ---- keys, ids and status texts ---- */

void saq__ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int saq__keys_to_ids(saq_queue_t *q, const char *json, char ***out, size_t *n, char *err,
                     size_t errlen)
{
    saq__jobj_iter_t it;
    const char *v;
    size_t vn, cap = 0;
    int code = SAQ_EJSON;
    *out = NULL;
    *n = 0;
    if (!json) {
        snprintf(err, errlen, "keys JSON is NULL");
        return SAQ_EINVAL;
    }
    if (saq__json_validate(json, strlen(json), 'a', err, errlen))
        return SAQ_EJSON;
    saq__jarr_begin(&it, json, strlen(json), NULL, 0);
    while (saq__jarr_next(&it, &v, &vn, NULL, 0) == 1) {
        char *k = saq__json_name(v, vn);
        if (!k || !*k) {
            free(k);
            snprintf(err, errlen, "keys must be a JSON array of non-empty strings without \\u0000");
            goto bad;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nn = saq__realloc(*out, cap * sizeof *nn);
            if (!nn) {
                free(k);
                goto oom;
            }
            *out = nn;
        }
        char *id = saq__id_of(q, k);
        free(k);
        if (!id)
            goto oom;
        (*out)[(*n)++] = id;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    code = SAQ_ENOMEM;
bad:
    saq__ids_free(*out, *n);
    *out = NULL;
    *n = 0;
    return code;
}

int saq__status_text_terminal(const char *st)
{
    return !strcmp(st, "complete") || !strcmp(st, "failed") || !strcmp(st, "aborted");
}

/* ---- enqueue ---- */

/* The queue's defaults.* for the fields the job was not given (saq #302): written into the
 * record, so every worker, Python saq's too, runs the job with them. */
static void apply_defaults(const saq__settings_t *s, saq_job_t *j)
{
    unsigned use = s->def_set & ~j->given;
    if (use & SAQ__GIVEN_TIMEOUT) {
        j->timeout = s->def_timeout;
        j->timeout_null = 0;
    }
    if (use & SAQ__GIVEN_RETRIES)
        j->retries = s->def_retries;
    if (use & SAQ__GIVEN_TTL)
        j->ttl = s->def_ttl;
    if (use & SAQ__GIVEN_RETRY_DELAY)
        j->retry_delay = s->def_retry_delay;
    if (use & SAQ__GIVEN_RETRY_BACKOFF) {
        j->backoff = s->def_backoff;
        j->backoff_cap = s->def_backoff_cap;
    }
}

int saq__prepare_enqueue(saq_queue_t *q, saq_job_t *j, char **msg)
{
    if (j->queue && strcmp(j->queue, q->set.name)) {
        *msg = saq__sprintf("job %s is registered to queue '%s', not '%s'", j->key, j->queue,
                            q->set.name);
        return SAQ_EWRONGQUEUE;
    }
    if (saq__job_set_queue(j, q->set.name))
        return SAQ_ENOMEM;
    j->queued = saq__now_ms();
    j->status = SAQ_STATUS_QUEUED;
    apply_defaults(&q->set, j);
    saq__job_invalidate(j);
    pthread_mutex_lock(&q->mu);
    size_t n = q->nhooks;
    saq__hook_t *hooks = n ? saq__malloc(n * sizeof *hooks) : NULL;
    if (n && !hooks) {
        pthread_mutex_unlock(&q->mu);
        return SAQ_ENOMEM;
    }
    if (n)
        memcpy(hooks, q->hooks, n * sizeof *hooks);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < n; i++) {
        if (hooks[i].fn(j, hooks[i].ud)) {
            free(hooks);
            *msg = saq__sprintf("a before-enqueue hook refused job %s", j->key);
            return SAQ_EINVAL;
        }
    }
    free(hooks);
    /* a hook may have changed the key or queue */
    if (j->queue && strcmp(j->queue, q->set.name)) {
        *msg = saq__sprintf("a before-enqueue hook moved job %s to queue '%s'", j->key, j->queue);
        return SAQ_EWRONGQUEUE;
    }
    if (saq__job_set_queue(j, q->set.name))
        return SAQ_ENOMEM;
    free(j->id);
    if (!(j->id = saq__job_make_id(q->set.name, j->key)))
        return SAQ_ENOMEM;
    saq__job_invalidate(j);
    /* the internal hooks (a batch's record) see the job as it is written */
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->nihooks; i++)
        q->ihooks[i].fn(j, q->ihooks[i].ud);
    pthread_mutex_unlock(&q->mu);
    return SAQ_OK;
}
