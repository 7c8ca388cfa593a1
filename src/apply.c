/* SPDX-License-Identifier: MIT */
/* saq's Queue.apply and Queue.map: enqueue jobs and wait for them to end.
 * They subscribe first (and wait for the confirmation), then enqueue, then
 * read the record again, so no status message can slip between a read and a
 * subscription (saq U11). Push-based: a terminal status message triggers one
 * GET of that job, instead of saq 0.26's 0.5 s MGET polling. */
#include "core.h"

#include <math.h>

typedef struct map_op {
    saq__op_t op;
    int is_apply, return_exc;
    double timeout_s;
    size_t n, unresolved;
    saq_job_t **jobs;   /* as enqueued */
    char **jsons;
    size_t *lens;
    char **ids;
    int *state;         /* 0 enqueue pending, 1 waiting, 2 resolved */
    saq_job_t **final;
    size_t *hidx;       /* open addressing: id -> index + 1 */
    size_t hcap;
    saq__listener_t l;
    saq__optimer_t *timer;
    int enqueued;
} map_op_t;

static uint64_t hstr(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static long map_find(map_op_t *m, const char *id)
{
    if (!m->hcap)
        return -1;
    for (size_t i = hstr(id) & (m->hcap - 1);; i = (i + 1) & (m->hcap - 1)) {
        size_t v = m->hidx[i];
        if (!v)
            return -1;
        if (!strcmp(m->ids[v - 1], id))
            return (long)(v - 1);
    }
}

static void map_destroy(saq__op_t *op)
{
    map_op_t *m = (map_op_t *)op;
    saq__listen_remove(op->q, &m->l);
    saq__optimer_stop(&m->timer);
    for (size_t i = 0; i < m->n; i++) {
        saq_job_free(m->jobs ? m->jobs[i] : NULL);
        free(m->jsons ? m->jsons[i] : NULL);
        saq_job_free(m->final ? m->final[i] : NULL);
    }
    free(m->jobs);
    free(m->jsons);
    free(m->lens);
    saq__ids_free(m->ids, m->ids ? m->n : 0);
    free(m->state);
    free(m->final);
    free(m->hidx);
}

static void map_done(saq__op_t *op)
{
    map_op_t *m = (map_op_t *)op;
    saq_event_t *ev = op->ev;
    if (m->is_apply) {
        saq_job_t *j = m->final[0];
        ev->json = saq__strdup(j && j->result ? j->result : "null");
        ev->job = j;
        m->final[0] = NULL;
    } else {
        saq__buf_t b = {0};
        saq__buf_putc(&b, '[');
        for (size_t i = 0; i < m->n; i++) {
            saq_job_t *j = m->final[i];
            if (i)
                saq__buf_puts(&b, ", ");
            saq__buf_puts(&b, j && j->status == SAQ_STATUS_COMPLETE && j->result ? j->result : "null");
        }
        saq__buf_putc(&b, ']');
        ev->json = saq__buf_take(&b);
        ev->jobs = m->final;
        ev->njobs = m->n;
        ev->ival = (int64_t)m->n;
        m->final = NULL;
    }
    if (!ev->json)
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
    else
        saq__op_complete(op);
}

/* A record for job i arrived: resolve it if it is terminal. */
static void map_resolve(saq__op_t *op, size_t i, redisReply *r)
{
    map_op_t *m = (map_op_t *)op;
    if (m->state[i] == 2)
        return;
    saq_job_t *j = NULL;
    char e2[240];
    if (r && r->type == REDIS_REPLY_STRING) {
        j = saq__malloc(sizeof *j);
        if (!j) {
            saq__op_fail(op, SAQ_ENOMEM, "out of memory");
            return;
        }
        saq__job_init(j);
        int e = saq__load_job(op->q, m->ids[i], r->str, r->len, j, e2, sizeof e2);
        if (e) {
            saq_job_free(j);
            saq__op_fail(op, e, "%s: %s", m->ids[i], e2);
            return;
        }
        if (!saq__status_terminal(j->status)) {
            saq_job_free(j);
            return; /* not finished (yet, or again after a retry): keep waiting */
        }
        if ((j->status == SAQ_STATUS_FAILED || j->status == SAQ_STATUS_ABORTED) && !m->return_exc) {
            saq__event_error(op->ev, SAQ_EJOB, "job %s %s: %s", m->ids[i], saq__status_name(j->status),
                             j->error ? j->error : "(no error text)");
            saq_job_free(op->ev->job);
            op->ev->job = j;
            saq__op_complete(op);
            return;
        }
    }
    /* missing record (e.g. ttl < 0 deleted it): result null, as saq */
    m->state[i] = 2;
    m->final[i] = j;
    if (--m->unresolved == 0)
        map_done(op);
}

static void map_got(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    if (err) {
        saq__op_fail(op, err, "cannot read job: %s", msg);
        return;
    }
    map_resolve(op, (size_t)req->idata, r);
}

static void map_get(saq__op_t *op, size_t i)
{
    const char *argv[2] = {"GET", ((map_op_t *)op)->ids[i]};
    saq__op_cmd(op, map_got, (intptr_t)i, 2, argv, NULL);
}

static void map_enq_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    map_op_t *m = (map_op_t *)op;
    size_t i = (size_t)req->idata;
    if (err) {
        saq__op_fail(op, err, "enqueue of %s failed: %s", m->ids[i], msg);
        return;
    }
    if (--op->pending == 0)
        saq__op_release_permit(op);
    if (m->state[i] == 0)
        m->state[i] = 1;
    if (saq__tx_decode(SCRIPT_ENQUEUE, r, NULL) != SAQ__TX_OK && m->state[i] == 1)
        map_get(op, i); /* already enqueued (or abort marker): wait on what is there */
}

static void map_enqueue_all(saq__op_t *op)
{
    map_op_t *m = (map_op_t *)op;
    saq_queue_t *q = op->q;
    op->pending = (int)m->n;
    for (size_t i = 0; i < m->n && !op->done; i++) {
        saq__call_t c;
        saq__tx_enqueue(q, m->jobs[i], m->jsons[i], m->lens[i], &c);
        if (!saq__tx_send_op(op, &c, map_enq_reply, (intptr_t)i))
            return;
    }
}

static void map_subscribed(saq__listener_t *l)
{
    map_op_t *m = l->owner;
    saq__op_t *op = &m->op;
    if (!m->enqueued) {
        m->enqueued = 1;
        saq__op_with_permit(op, map_enqueue_all);
        return;
    }
    /* re-subscribed after a connection loss: re-read what we wait for */
    for (size_t i = 0; i < m->n && !op->done; i++)
        if (m->state[i] == 1)
            map_get(op, i);
}

static void map_message(saq__listener_t *l, const char *id, const char *status)
{
    map_op_t *m = l->owner;
    if (!saq__status_text_terminal(status))
        return;
    long i = map_find(m, id);
    if (i >= 0 && m->state[i] != 2)
        map_get(&m->op, (size_t)i);
}

static void map_timeout(saq__op_t *op)
{
    map_op_t *m = (map_op_t *)op;
    if (m->is_apply)
        saq__op_fail(op, SAQ_ETIMEDOUT, "apply of %s timed out after %g s", m->ids[0], m->timeout_s);
    else
        saq__op_fail(op, SAQ_ETIMEDOUT, "map timed out after %g s with %zu of %zu jobs unfinished",
                     m->timeout_s, m->unresolved, m->n);
}

static void map_start(saq__op_t *op)
{
    map_op_t *m = (map_op_t *)op;
    if (!m->n) {
        map_done(op);
        return;
    }
    m->l.owner = m;
    m->l.on_message = map_message;
    m->l.on_subscribed = map_subscribed;
    m->l.on_failed = saq__op_sub_failed;
    if (m->timeout_s > 0 && !(m->timer = saq__optimer_start(op, m->timeout_s, map_timeout))) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    if (saq__listen_add(op->q, &m->l, m->ids, m->n))
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
}

/* Add a prepared job (owned) unless its key is already there. */
static int map_add(map_op_t *m, saq_job_t *j)
{
    for (size_t i = 0; i < m->n; i++) {
        if (!strcmp(m->jobs[i]->key, j->key)) {
            saq_job_free(j); /* duplicate key: one entry, as saq's results dict */
            return 0;
        }
    }
    size_t n = m->n + 1;
    saq_job_t **jobs = saq__realloc(m->jobs, n * sizeof *jobs);
    if (!jobs)
        return SAQ_ENOMEM;
    m->jobs = jobs;
    m->jobs[m->n++] = j;
    return 0;
}

/* Prepare, dump and index every job (caller's thread). */
static int map_prepare(saq_queue_t *q, map_op_t *m, char **msg)
{
    size_t n = m->n;
    m->jsons = saq__calloc(n, sizeof *m->jsons);
    m->lens = saq__calloc(n, sizeof *m->lens);
    m->ids = saq__calloc(n, sizeof *m->ids);
    m->state = saq__calloc(n, sizeof *m->state);
    m->final = saq__calloc(n, sizeof *m->final);
    m->hcap = 16;
    while (m->hcap < n * 2)
        m->hcap *= 2;
    m->hidx = saq__calloc(m->hcap, sizeof *m->hidx);
    if (!m->jsons || !m->lens || !m->ids || !m->state || !m->final || !m->hidx)
        return SAQ_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int e = saq__prepare_enqueue(q, m->jobs[i], msg);
        if (e)
            return e;
        if (!(m->jsons[i] = saq__dump_job(q, m->jobs[i], &m->lens[i], &e))) {
            if (e == SAQ_ETOOBIG)
                *msg = saq__sprintf("job %s is larger than max_payload_bytes; nothing was written",
                                    m->jobs[i]->key);
            return e;
        }
        if (!(m->ids[i] = saq__strdup(m->jobs[i]->id)))
            return SAQ_ENOMEM;
        size_t h = hstr(m->ids[i]) & (m->hcap - 1);
        while (m->hidx[h])
            h = (h + 1) & (m->hcap - 1);
        m->hidx[h] = i + 1;
    }
    m->unresolved = n;
    return 0;
}

static void map_cancel(saq__op_t *op) { saq__op_fail(op, SAQ_ECLOSED, "cancelled by the caller"); }

static int map_finish_submit(saq__op_t *op)
{
    map_op_t *m = (map_op_t *)op;
    char *msg = NULL;
    op->cancel = map_cancel;
    if (!op->ev->status) {
        int e = map_prepare(op->q, m, &msg);
        if (e)
            saq__event_error(op->ev, e, "%s", msg ? msg : saq_strerror(e));
        free(msg);
    }
    return saq__op_submit(op);
}

SAQ_API int saq_queue_apply(saq_queue_t *q, const saq_job_t *job, double timeout_s,
                            saq_cq_t *cq, uint64_t tag)
{
    if (isinf(timeout_s) && timeout_s > 0)
        timeout_s = 0; /* no limit */
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(map_op_t), SAQ_EVENT_APPLY, cq, tag, map_start,
                                   map_destroy, &err);
    if (!op)
        return err;
    map_op_t *m = (map_op_t *)op;
    m->is_apply = 1;
    m->timeout_s = timeout_s;
    if (!job) {
        saq__event_error(op->ev, SAQ_EINVAL, "job is NULL");
    } else if (isnan(timeout_s) || timeout_s < 0) {
        saq__event_error(op->ev, SAQ_EINVAL, "apply timeout must be >= 0 seconds");
    } else {
        saq_job_t *j = saq_job_dup(job);
        /* saq's map makes the wait timeout the job's timeout (null = none) */
        int e = !j ? SAQ_ENOMEM : saq_job_set_timeout(j, timeout_s > 0 ? timeout_s : -1);
        if (!e && map_add(m, j))
            e = SAQ_ENOMEM;
        else if (!e)
            j = NULL; /* the map owns it */
        if (e) {
            saq__event_error(op->ev, e, "%s", e == SAQ_ENOMEM || !j ? "out of memory" : saq_job_errmsg(j));
            saq_job_free(j);
        }
    }
    return map_finish_submit(op);
}

SAQ_API int saq_queue_map(saq_queue_t *q, const char *function, const char *iter_kwargs_json,
                          const char *defaults_json, double timeout_s, int return_exceptions,
                          saq_cq_t *cq, uint64_t tag)
{
    if (isinf(timeout_s) && timeout_s > 0)
        timeout_s = 0; /* no limit */
    int err;
    char e2[200];
    saq__op_t *op = saq__op_create(q, sizeof(map_op_t), SAQ_EVENT_MAP, cq, tag, map_start,
                                   map_destroy, &err);
    if (!op)
        return err;
    map_op_t *m = (map_op_t *)op;
    m->return_exc = return_exceptions != 0;
    m->timeout_s = timeout_s;
    saq_event_t *ev = op->ev;
    if (!function || !*function) {
        saq__event_error(ev, SAQ_EINVAL, "function name must be a non-empty string");
    } else if (isnan(timeout_s) || timeout_s < 0) {
        saq__event_error(ev, SAQ_EINVAL, "map timeout must be >= 0 seconds");
    } else if (!iter_kwargs_json ||
               saq__json_validate(iter_kwargs_json, strlen(iter_kwargs_json), 'a', e2, sizeof e2)) {
        saq__event_error(ev, SAQ_EJSON, "iter_kwargs: %s", iter_kwargs_json ? e2 : "NULL");
    } else if (defaults_json &&
               saq__json_validate(defaults_json, strlen(defaults_json), 'o', e2, sizeof e2)) {
        saq__event_error(ev, SAQ_EJSON, "defaults: %s", e2);
    } else {
        saq__jobj_iter_t it;
        const char *v;
        size_t vn;
        size_t idx = 0;
        saq__jarr_begin(&it, iter_kwargs_json, strlen(iter_kwargs_json), NULL, 0);
        while (!ev->status && saq__jarr_next(&it, &v, &vn, NULL, 0) == 1) {
            char *item = saq__strndup(v, vn);
            saq_job_t *j = saq_job_new(function);
            if (!item || !j) {
                free(item);
                saq_job_free(j);
                saq__event_error(ev, SAQ_ENOMEM, "out of memory");
                break;
            }
            int e = 0;
            if (v[0] != '{') {
                saq__event_error(ev, SAQ_EJSON, "iter_kwargs[%zu] is not a JSON object", idx);
            } else if ((e = saq_job_set_timeout(j, timeout_s > 0 ? timeout_s : -1)) ||
                       (defaults_json && (e = saq_job_set_call_kwargs(j, defaults_json))) ||
                       (e = saq_job_set_call_kwargs(j, item))) {
                /* the setter's own code: SAQ_EJSON for malformed JSON (a
                 * non-object meta), SAQ_EINVAL for a refused value */
                saq__event_error(ev, e, "iter_kwargs[%zu]: %s", idx, saq_job_errmsg(j));
            } else if (map_add(m, j) == 0) {
                j = NULL;
            } else {
                saq__event_error(ev, SAQ_ENOMEM, "out of memory");
            }
            saq_job_free(j);
            free(item);
            idx++;
        }
    }
    return map_finish_submit(op);
}
