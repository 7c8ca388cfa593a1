/* SPDX-License-Identifier: MIT */
/* Operations that wait on job status messages: listen, apply, map and sweep.
 * All of them subscribe first (and wait for the confirmation), then act, then
 * read the record again, so no status message can slip between a read and a
 * subscription (saq U11). apply/map are push-based: a terminal status message
 * triggers one GET of that job, instead of saq 0.26's 0.5 s MGET polling. */
#include "core.h"

#include <math.h>

/* ---- op timers ---- */

typedef struct optimer {
    uv_timer_t t;
    saq__op_t *op;
    void (*fn)(saq__op_t *op);
} optimer_t;

static void optimer_cb(uv_timer_t *t)
{
    optimer_t *ot = t->data;
    if (!ot->op->done)
        ot->fn(ot->op);
}

static void optimer_closed(uv_handle_t *h) { free(h->data); }

static optimer_t *optimer_start(saq__op_t *op, double seconds, void (*fn)(saq__op_t *op))
{
    optimer_t *ot = saq__calloc(1, sizeof *ot);
    if (!ot)
        return NULL;
    ot->op = op;
    ot->fn = fn;
    uv_timer_init(&op->q->loop, &ot->t);
    ot->t.data = ot;
    uv_timer_start(&ot->t, optimer_cb, saq__timer_ms(seconds), 0);
    return ot;
}

static void optimer_restart(optimer_t *ot, double seconds)
{
    if (ot)
        uv_timer_start(&ot->t, optimer_cb, saq__timer_ms(seconds), 0);
}

static void optimer_stop(optimer_t **pot)
{
    if (*pot) {
        uv_timer_stop(&(*pot)->t);
        uv_close((uv_handle_t *)&(*pot)->t, optimer_closed);
        *pot = NULL;
    }
}

static int is_terminal_text(const char *st)
{
    return !strcmp(st, "complete") || !strcmp(st, "failed") || !strcmp(st, "aborted");
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* ======================================================================== */
/* listen                                                                   */
/* ======================================================================== */

typedef struct listen_op {
    saq__op_t op;
    saq__listener_t l;
    char **ids;
    size_t n;
    double timeout_s;
    optimer_t *timer;
} listen_op_t;

static void listen_destroy(saq__op_t *op)
{
    listen_op_t *o = (listen_op_t *)op;
    saq__listen_remove(op->q, &o->l);
    optimer_stop(&o->timer);
    free_ids(o->ids, o->n);
}

static void listen_idle(saq__op_t *op)
{
    listen_op_t *o = (listen_op_t *)op;
    saq__op_fail(op, SAQ_ETIMEDOUT, "no status message for %g s", o->timeout_s);
}

static void listen_message(saq__listener_t *l, const char *id, const char *status)
{
    listen_op_t *o = l->owner;
    saq__op_t *op = &o->op;
    saq_event_t *ev = saq__event_new(SAQ_EVENT_LISTEN, op->tag);
    if (!ev)
        return;
    ev->key = strdup(saq__key_of(op->q, id));
    ev->jstatus = strdup(status);
    optimer_restart(o->timer, o->timeout_s);
    saq__op_ref(op);
    int stop = saq__cq_push(op->cq, ev);
    if (stop && !op->done)
        saq__op_complete(op);
    saq__op_unref(op);
}

/* The pub/sub connection failed before the subscription was made (a
 * listen, apply or map waiting for it): the operation fails as a command
 * waiting for a connection does. Once subscribed, a lost connection is
 * recovered instead (re-subscribed; the operation's timeout bounds it). */
static void wait_sub_failed(saq__listener_t *l, int err, const char *msg)
{
    saq__op_t *op = l->owner;
    if (!op->done)
        saq__op_fail(op, err, "cannot subscribe to job updates: %s", msg);
}

static void listen_start(saq__op_t *op)
{
    listen_op_t *o = (listen_op_t *)op;
    o->l.owner = o;
    o->l.on_message = listen_message;
    o->l.on_failed = wait_sub_failed;
    if (o->timeout_s > 0 && !(o->timer = optimer_start(op, o->timeout_s, listen_idle))) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    if (saq__listen_add(op->q, &o->l, o->ids, o->n))
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
}

static int keys_to_ids(saq_queue_t *q, const char *keys_json, char ***ids, size_t *n, char *err,
                       size_t errlen)
{
    saq__jobj_iter_t it;
    const char *v;
    size_t vn, cap = 0;
    *ids = NULL;
    *n = 0;
    if (!keys_json) {
        snprintf(err, errlen, "keys JSON is NULL");
        return SAQ_EINVAL;
    }
    if (saq__json_validate(keys_json, strlen(keys_json), 'a', err, errlen))
        return SAQ_EJSON;
    saq__jarr_begin(&it, keys_json, strlen(keys_json), NULL, 0);
    while (saq__jarr_next(&it, &v, &vn, NULL, 0) == 1) {
        char *k = saq__json_name(v, vn);
        if (!k || !*k) {
            free(k);
            free_ids(*ids, *n);
            *ids = NULL;
            *n = 0;
            snprintf(err, errlen, "keys must be a JSON array of non-empty strings without \\u0000");
            return SAQ_EJSON;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nn = realloc(*ids, cap * sizeof *nn);
            if (!nn) {
                free(k);
                free_ids(*ids, *n);
                return SAQ_ENOMEM;
            }
            *ids = nn;
        }
        (*ids)[(*n)++] = saq__id_of(q, k);
        free(k);
        if (!(*ids)[*n - 1]) {
            free_ids(*ids, *n);
            return SAQ_ENOMEM;
        }
    }
    return 0;
}

SAQ_API int saq_queue_listen(saq_queue_t *q, const char *keys_json, double timeout_s,
                             saq_cq_t *cq, uint64_t tag)
{
    if (isinf(timeout_s) && timeout_s > 0)
        timeout_s = 0; /* no limit */
    int err = saq__check_handle(q);
    char e2[200];
    if (err)
        return err;
    if (!saq__cq_usable(cq))
        return SAQ_EINVAL;
    saq__op_t *op = saq__op_new(q, sizeof(listen_op_t), SAQ_EVENT_LISTEN_END, cq, tag, listen_start,
                                listen_destroy);
    if (!op)
        return SAQ_ENOMEM;
    listen_op_t *o = (listen_op_t *)op;
    o->timeout_s = timeout_s;
    if (isnan(timeout_s) || timeout_s < 0)
        saq__event_error(op->ev, SAQ_EINVAL, "listen timeout must be >= 0 seconds");
    else if ((err = keys_to_ids(q, keys_json, &o->ids, &o->n, e2, sizeof e2)))
        saq__event_error(op->ev, err, "%s", e2);
    return saq__op_submit(op);
}

typedef struct stop_msg {
    saq__msg_t msg;
    saq_cq_t *cq;
    uint64_t tag;
} stop_msg_t;

static void stop_run(saq_queue_t *q, saq__msg_t *m)
{
    stop_msg_t *s = (stop_msg_t *)m;
    for (saq__op_t *op = q->ops; op; op = op->next) {
        if (op->cq != s->cq || op->tag != s->tag || !op->ev)
            continue;
        int type = op->ev->type;
        if (type == SAQ_EVENT_LISTEN_END) {
            saq__op_complete(op);
            break;
        }
        if (type == SAQ_EVENT_APPLY || type == SAQ_EVENT_MAP) {
            saq__op_fail(op, SAQ_ECLOSED, "cancelled by the caller");
            break;
        }
    }
    saq__cq_unref(s->cq);
    free(s);
}

SAQ_API int saq_queue_listen_stop(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    return saq_queue_cancel(q, cq, tag);
}

SAQ_API int saq_queue_cancel(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    int err = saq__check_handle(q);
    if (err)
        return err;
    if (!cq)
        return SAQ_EINVAL;
    stop_msg_t *s = saq__calloc(1, sizeof *s);
    if (!s)
        return SAQ_ENOMEM;
    s->msg.run = stop_run;
    s->cq = cq;
    s->tag = tag;
    saq__cq_ref(cq);
    if ((err = saq__post(q, &s->msg))) {
        saq__cq_unref(cq);
        free(s);
    }
    return err;
}

/* ======================================================================== */
/* apply / map                                                              */
/* ======================================================================== */

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
    optimer_t *timer;
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
    optimer_stop(&m->timer);
    for (size_t i = 0; i < m->n; i++) {
        saq_job_free(m->jobs ? m->jobs[i] : NULL);
        free(m->jsons ? m->jsons[i] : NULL);
        saq_job_free(m->final ? m->final[i] : NULL);
    }
    free(m->jobs);
    free(m->jsons);
    free(m->lens);
    free_ids(m->ids, m->ids ? m->n : 0);
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
        ev->json = strdup(j && j->result ? j->result : "null");
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
    if (!is_terminal_text(status))
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
    m->l.on_failed = wait_sub_failed;
    if (m->timeout_s > 0 && !(m->timer = optimer_start(op, m->timeout_s, map_timeout))) {
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
    saq_job_t **jobs = realloc(m->jobs, n * sizeof *jobs);
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
        if (!(m->ids[i] = strdup(m->jobs[i]->id)))
            return SAQ_ENOMEM;
        size_t h = hstr(m->ids[i]) & (m->hcap - 1);
        while (m->hidx[h])
            h = (h + 1) & (m->hcap - 1);
        m->hidx[h] = i + 1;
    }
    m->unresolved = n;
    return 0;
}

static saq__op_t *map_new(saq_queue_t *q, int type, saq_cq_t *cq, uint64_t tag, int *err)
{
    *err = saq__check_handle(q);
    if (!*err && !saq__cq_usable(cq))
        *err = SAQ_EINVAL;
    if (*err)
        return NULL;
    saq__op_t *op = saq__op_new(q, sizeof(map_op_t), type, cq, tag, map_start, map_destroy);
    if (!op)
        *err = SAQ_ENOMEM;
    return op;
}

static int map_finish_submit(saq__op_t *op)
{
    map_op_t *m = (map_op_t *)op;
    char *msg = NULL;
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
    saq__op_t *op = map_new(q, SAQ_EVENT_APPLY, cq, tag, &err);
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
    saq__op_t *op = map_new(q, SAQ_EVENT_MAP, cq, tag, &err);
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

/* ======================================================================== */
/* sweep                                                                    */
/* ======================================================================== */

#define SWEEP_GRACE_S 1.0 /* a dequeued job not yet marked active gets this long (saq #277) */

typedef struct sweep_op {
    saq__op_t op;
    long long lock_ms;
    double abort_s;
    char *swept_msg; /* the worker's swept_error_message, or NULL: the queue's */
    char **ids, **recs;
    size_t *reclens;
    size_t n, i;
    saq__buf_t swept;
    size_t nswept;
    /* current item */
    saq_job_t *cur;
    int graced;
    int tries;
    saq__listener_t l;
    char *lid[1];
    int listening;
    optimer_t *timer;
} sweep_op_t;

static void sweep_next(saq__op_t *op);
static void sweep_eval_item(saq__op_t *op);

static void sweep_destroy(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    free(s->swept_msg);
    if (s->listening)
        saq__listen_remove(op->q, &s->l);
    optimer_stop(&s->timer);
    for (size_t i = 0; i < s->n; i++) {
        free(s->ids[i]);
        free(s->recs[i]);
    }
    free(s->ids);
    free(s->recs);
    free(s->reclens);
    saq__buf_free(&s->swept);
    saq_job_free(s->cur);
}

static void sweep_mark_swept(sweep_op_t *s, const char *id)
{
    if (s->nswept++)
        saq__buf_puts(&s->swept, ", ");
    saq__buf_json_str(&s->swept, id);
}

static void sweep_advance(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    if (s->listening) {
        saq__listen_remove(op->q, &s->l);
        s->listening = 0;
    }
    optimer_stop(&s->timer);
    saq_job_free(s->cur);
    s->cur = NULL;
    s->graced = 0;
    s->tries = 0;
    s->i++;
    sweep_next(op);
}

static void sweep_prim_done(void *ud, int err, const char *msg, saq__tx_t result)
{
    saq__op_t *op = ud;
    (void)err, (void)msg, (void)result;
    if (!op->done)
        sweep_advance(op);
    saq__op_unref(op);
}

/* After the abort wait: retry the job or finish it aborted (saq's sweep). */
static void sweep_refreshed(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    sweep_op_t *s = (sweep_op_t *)op;
    char e2[240];
    saq_job_t *j = NULL;
    (void)req, (void)msg;
    if (err || saq__job_from_reply(op->q, r, s->ids[s->i], &j, e2, sizeof e2)) {
        /* vanished or unreadable during the wait: go on with the rest (saq U12) */
        sweep_advance(op);
        return;
    }
    saq_job_free(s->cur);
    s->cur = j;
    saq__op_ref(op);
    /* retried (or finished aborted) only if it is still what was just read:
     * a libsaq worker that found this sweep's watch entry past its deadline
     * (this process stalled) may have done it already */
    saq__recover_job(op->q, r->str, r->len, j, s->swept_msg ? s->swept_msg : op->q->set.swept_msg,
                     SAQ__RECOVER_UNLISTED, sweep_prim_done, op);
}

static void sweep_refresh(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    optimer_stop(&s->timer);
    const char *argv[2] = {"GET", s->ids[s->i]};
    saq__op_cmd(op, sweep_refreshed, 0, 2, argv, NULL);
}

static void sweep_check_terminal(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    sweep_op_t *s = (sweep_op_t *)op;
    (void)req, (void)msg;
    saq_job_t *j = NULL;
    char e2[200];
    if (!s->timer)
        return; /* already moved on */
    if (err || saq__job_from_reply(op->q, r, s->ids[s->i], &j, e2, sizeof e2) ||
        saq__status_terminal(j->status)) {
        saq_job_free(j);
        sweep_refresh(op);
        return;
    }
    saq_job_free(j);
}

static void sweep_sub_ok(saq__listener_t *l)
{
    sweep_op_t *s = l->owner;
    /* subscribed: now read, so a status published before the subscription is not missed */
    const char *argv[2] = {"GET", s->ids[s->i]};
    saq__op_cmd(&s->op, sweep_check_terminal, 0, 2, argv, NULL);
}

static void sweep_msg(saq__listener_t *l, const char *id, const char *status)
{
    sweep_op_t *s = l->owner;
    (void)id;
    if (is_terminal_text(status) && s->timer)
        sweep_refresh(&s->op);
}

static void sweep_wait(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    s->timer = optimer_start(op, s->abort_s, sweep_refresh);
    if (!s->timer) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    s->l.owner = s;
    s->l.on_message = sweep_msg;
    s->l.on_subscribed = sweep_sub_ok;
    s->lid[0] = s->ids[s->i];
    s->listening = 1;
    if (saq__listen_add(op->q, &s->l, s->lid, 1)) {
        s->listening = 0;
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
    }
}

static void sweep_regot(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg);

static void sweep_aborted(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    sweep_op_t *s = (sweep_op_t *)op;
    (void)req, (void)msg;
    if (err) {
        sweep_advance(op);
        return;
    }
    if (saq__tx_decode(SCRIPT_ABORT, r, NULL) == SAQ__TX_CHANGED) {
        /* the record changed since it was listed: read it again and decide again */
        if (++s->tries >= 5) {
            sweep_advance(op);
            return;
        }
        s->graced = 1;
        const char *argv[2] = {"GET", s->ids[s->i]};
        saq__op_cmd(op, sweep_regot, 0, 2, argv, NULL);
        return;
    }
    sweep_mark_swept(s, s->ids[s->i]);
    sweep_wait(op);
}

static void sweep_abort(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    saq_queue_t *q = op->q;
    saq_job_t *j = s->cur;
    const char *id = s->ids[s->i];
    saq__call_t c;
    saq__tx_abort_t a = {.id = id, .key = j->key, .ttl = 5, .reason = q->set.swept_msg,
                         .watch = SAQ__TX_WATCH_SWEEP};
    if (q->set.dialect == SAQ__DIALECT_013) {
        /* saq 0.13's abort (the record expires after ttl + 1 s), watched
         * until a little after the wait, before it expires */
        double ms = s->abort_s * 1000 + 250;
        a.watch_ms = ms < 5250 ? ms : 5250;
        a.form013 = 1;
        sweep_mark_swept(s, id);
        saq__tx_abort(q, &a, &c);
        saq__tx_send(q, &c, NULL, NULL);
        sweep_wait(op);
        return;
    }
    /* watched until a while after the wait: another worker retries it if
     * this process dies in between */
    a.watch_ms = s->abort_s * 1000 + 2000;
    saq_job_t tmp;
    size_t len;
    int e;
    if (saq__job_copy(&tmp, j)) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    tmp.status = SAQ_STATUS_ABORTING;
    saq__set_str(&tmp.error, q->set.swept_msg);
    char *json = saq__dump_job(q, &tmp, &len, &e);
    saq__job_clear(&tmp);
    if (!json) {
        sweep_advance(op);
        return;
    }
    a.old = s->recs[s->i];
    a.oldlen = s->reclens[s->i];
    a.json = json;
    a.len = len;
    saq__tx_abort(q, &a, &c);
    saq__tx_send_op(op, &c, sweep_aborted, 0);
    free(json);
}

static void sweep_regot(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    sweep_op_t *s = (sweep_op_t *)op;
    (void)req, (void)msg;
    if (err) {
        sweep_advance(op);
        return;
    }
    free(s->recs[s->i]);
    s->recs[s->i] = NULL;
    s->reclens[s->i] = 0;
    if (r->type == REDIS_REPLY_STRING) {
        s->recs[s->i] = saq__strndup(r->str, r->len);
        s->reclens[s->i] = r->len;
    }
    sweep_eval_item(op);
}

static void sweep_regrace(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    optimer_stop(&s->timer);
    s->graced = 1;
    const char *argv[2] = {"GET", s->ids[s->i]};
    saq__op_cmd(op, sweep_regot, 0, 2, argv, NULL);
}

static void sweep_missing_done(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req, (void)r, (void)err, (void)msg;
    if (--op->pending == 0)
        sweep_advance(op);
}

/* Drop a stale id from active/incomplete (saq's pipeline for missing records). */
static void sweep_drop(saq__op_t *op, const char *id)
{
    saq_queue_t *q = op->q;
    sweep_mark_swept((sweep_op_t *)op, id);
    op->pending = 2;
    const char *a1[4] = {"LREM", q->k_active, "0", id};
    const char *a2[3] = {"ZREM", q->k_incomplete, id};
    saq__op_cmd(op, sweep_missing_done, 0, 4, a1, NULL);
    saq__op_cmd(op, sweep_missing_done, 0, 3, a2, NULL);
}

static void sweep_eval_item(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    saq_queue_t *q = op->q;
    const char *id = s->ids[s->i];
    char e2[240];
    if (!s->recs[s->i]) { /* the record is gone: drop the id */
        sweep_drop(op, id);
        return;
    }
    saq_job_t *j = saq__malloc(sizeof *j);
    if (!j) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    saq__job_init(j);
    if (saq__load_job(q, id, s->recs[s->i], s->reclens[s->i], j, e2, sizeof e2)) {
        saq_job_free(j); /* unreadable record: leave it alone, change nothing */
        sweep_advance(op);
        return;
    }
    if (saq__status_terminal(j->status)) {
        /* a finished job left in `active`: drop the stale entry and keep the
         * record (saq aborts and re-finishes it, rewriting a finished job:
         * spec 7 U3, "refuse to abort terminal jobs") */
        saq_job_free(j);
        sweep_drop(op, id);
        return;
    }
    saq_job_free(s->cur);
    s->cur = j;
    int64_t now = saq__now_ms();
    int active_like = j->status == SAQ_STATUS_ACTIVE || j->status == SAQ_STATUS_ABORTING;
    int stuck = active_like && ((j->timeout > 0 && (now - j->started) / 1000.0 > j->timeout) ||
                                (j->heartbeat > 0 && (now - j->touched) / 1000.0 > j->heartbeat));
    if (j->status == SAQ_STATUS_QUEUED && !s->graced) {
        /* dequeued but not marked active yet: give its worker a moment */
        if (!(s->timer = optimer_start(op, SWEEP_GRACE_S, sweep_regrace)))
            saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    if (j->status != SAQ_STATUS_ACTIVE || stuck)
        sweep_abort(op);
    else
        sweep_advance(op);
}

static void sweep_next(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    if (op->done)
        return;
    if (s->i >= s->n) {
        saq__buf_putc(&s->swept, ']');
        op->ev->json = saq__buf_take(&s->swept);
        op->ev->ival = (int64_t)s->nswept;
        if (!op->ev->json)
            saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        else
            saq__op_complete(op);
        return;
    }
    sweep_eval_item(op);
}

static void sweep_listed(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    sweep_op_t *s = (sweep_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "sweep failed: %s", msg);
        return;
    }
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    s->ids = saq__calloc(n ? n : 1, sizeof *s->ids);
    s->recs = saq__calloc(n ? n : 1, sizeof *s->recs);
    s->reclens = saq__calloc(n ? n : 1, sizeof *s->reclens);
    if (!s->ids || !s->recs || !s->reclens) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *p = r->element[i];
        if (p->type != REDIS_REPLY_ARRAY || p->elements < 1 || !p->element[0]->str)
            continue;
        s->ids[s->n] = saq__strndup(p->element[0]->str, p->element[0]->len);
        if (p->elements > 1 && p->element[1]->type == REDIS_REPLY_STRING) {
            s->recs[s->n] = saq__strndup(p->element[1]->str, p->element[1]->len);
            s->reclens[s->n] = p->element[1]->len;
        }
        s->n++;
    }
    saq__buf_putc(&s->swept, '[');
    sweep_next(op);
}

static void sweep_start(saq__op_t *op)
{
    saq__call_t c;
    saq__tx_sweep(op->q, ((sweep_op_t *)op)->lock_ms, &c);
    saq__tx_send_op(op, &c, sweep_listed, 0);
}

int saq__queue_sweep_ms(saq_queue_t *q, long long lock_ms, double abort_s, const char *swept_msg,
                        saq_cq_t *cq, uint64_t tag);

SAQ_API int saq_queue_sweep(saq_queue_t *q, int lock_s, double abort_s, saq_cq_t *cq, uint64_t tag)
{
    return saq__queue_sweep_ms(q, lock_s < 1 ? 0 : (long long)lock_s * 1000, abort_s, NULL, cq, tag);
}

/* The worker's form: the lock in milliseconds (a little under its period),
 * and the worker's swept_error_message (NULL: the queue's). */
int saq__queue_sweep_ms(saq_queue_t *q, long long lock_ms, double abort_s, const char *swept_msg,
                        saq_cq_t *cq, uint64_t tag)
{
    int err = saq__check_handle(q);
    if (err)
        return err;
    if (!saq__cq_usable(cq))
        return SAQ_EINVAL;
    saq__op_t *op = saq__op_new(q, sizeof(sweep_op_t), SAQ_EVENT_SWEEP, cq, tag, sweep_start,
                                sweep_destroy);
    if (!op)
        return SAQ_ENOMEM;
    sweep_op_t *s = (sweep_op_t *)op;
    s->lock_ms = lock_ms;
    s->abort_s = abort_s;
    if (swept_msg && !(s->swept_msg = strdup(swept_msg)))
        saq__event_error(op->ev, SAQ_ENOMEM, "out of memory");
    if (lock_ms < 1)
        saq__event_error(op->ev, SAQ_EINVAL, "sweep lock must be >= 1 second");
    else if (isnan(abort_s) || abort_s < 0)
        saq__event_error(op->ev, SAQ_EINVAL, "sweep abort wait must be >= 0 seconds");
    return saq__op_submit(op);
}
