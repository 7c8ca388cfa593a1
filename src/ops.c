/* SPDX-License-Identifier: MIT */
/* saq's one-shot Queue operations over the core: enqueue, job, jobs, count,
 * ping, schedule, info, stats. (abort, retry, finish and update are in
 * rmw.c; listen, apply, map and sweep have their own files.) Each submit
 * function validates what it can on the caller's thread and reports problems
 * through the operation's event. */
#include "core.h"

#include <math.h>

/* ---- small helpers ---- */

/* Record the error in the event; the op completes on the loop thread. */
#define REJECT(op, code, ...)                                                                      \
    do {                                                                                           \
        saq__event_error((op)->ev, (code), __VA_ARGS__);                                           \
        return saq__op_submit(op);                                                                 \
    } while (0)

static int valid_key(const char *key) { return key && *key; }

/* ======================================================================== */
/* enqueue                                                                  */
/* ======================================================================== */

typedef struct enq_op {
    saq__op_t op;
    char *json;
    size_t len;
} enq_op_t;

static void enq_destroy(saq__op_t *op)
{
    enq_op_t *e = (enq_op_t *)op;
    free(e->json);
}

static void enq_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req;
    saq__op_release_permit(op);
    if (err) {
        saq__op_fail(op, err, "enqueue failed: %s", msg);
        return;
    }
    op->ev->ival = saq__tx_decode(SCRIPT_ENQUEUE, r, NULL) == SAQ__TX_OK;
    saq__op_complete(op);
}

/* saq_queue_cancel of an enqueue still waiting for its max_concurrent_ops
 * permit: withdrawn, nothing written. enq_go makes it uncancellable. */
static void enq_cancel(saq__op_t *op)
{
    saq__op_fail(op, SAQ_ECLOSED, "enqueue cancelled before it was sent; nothing was written");
}

static void enq_go(saq__op_t *op)
{
    enq_op_t *e = (enq_op_t *)op;
    op->cancel = NULL; /* sent from here on: it completes */
    saq__enq_batch(op, op->ev->job, e->json, e->len, enq_reply);
}

static void enq_start(saq__op_t *op) { saq__op_with_permit(op, enq_go); }

/* Enqueue an owned job (takes ownership). */
static int enqueue_owned(saq_queue_t *q, saq_job_t *j, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(enq_op_t), SAQ_EVENT_ENQUEUE, cq, tag,
                                   enq_start, enq_destroy, &err);
    if (!op) {
        saq_job_free(j);
        return err;
    }
    enq_op_t *e = (enq_op_t *)op;
    op->ev->job = j;
    op->cancel = enq_cancel;
    char *msg = NULL;
    int code = saq__prepare_enqueue(q, j, &msg);
    if (code) {
        saq__event_error(op->ev, code, "%s", msg ? msg : saq_strerror(code));
        free(msg);
        return saq__op_submit(op);
    }
    e->json = saq__dump_job(q, j, &e->len, &code);
    if (!e->json) {
        if (code == SAQ_ETOOBIG)
            REJECT(op, code, "job %s is larger than max_payload_bytes (%zu bytes); nothing was written",
                   j->key, q->set.max_payload);
        REJECT(op, code, "cannot serialize job %s: %s", j->key, saq_strerror(code));
    }
    return saq__op_submit(op);
}

SAQ_API int saq_queue_enqueue(saq_queue_t *q, const saq_job_t *job, saq_cq_t *cq, uint64_t tag)
{
    int err = saq__check_handle(q);
    if (err)
        return err;
    if (!saq__cq_usable(cq))
        return SAQ_EINVAL;
    if (!job) {
        saq__op_t *op = saq__op_create(q, sizeof(saq__op_t), SAQ_EVENT_ENQUEUE, cq, tag,
                                       NULL, NULL, &err);
        if (!op)
            return err;
        REJECT(op, SAQ_EINVAL, "job is NULL");
    }
    saq_job_t *j = saq_job_dup(job);
    if (!j)
        return SAQ_ENOMEM;
    return enqueue_owned(q, j, cq, tag);
}

SAQ_API int saq_queue_enqueue_call(saq_queue_t *q, const char *function, const char *kwargs_json,
                                   saq_cq_t *cq, uint64_t tag)
{
    int err = saq__check_handle(q);
    if (err)
        return err;
    if (!saq__cq_usable(cq))
        return SAQ_EINVAL;
    saq_job_t *j = function && *function ? saq_job_new(function) : NULL;
    int rc = j && kwargs_json ? saq_job_set_call_kwargs(j, kwargs_json) : SAQ_OK;
    if (!j || rc) {
        saq__op_t *op = saq__op_create(q, sizeof(saq__op_t), SAQ_EVENT_ENQUEUE, cq, tag,
                                       NULL, NULL, &err);
        if (!op) {
            saq_job_free(j);
            return err;
        }
        if (!j)
            saq__event_error(op->ev, SAQ_EINVAL, "function name must be a non-empty string");
        else
            saq__event_error(op->ev, rc, /* saq_job_set_call_kwargs's code */
                             "%s", saq_job_errmsg(j));
        saq_job_free(j);
        return saq__op_submit(op);
    }
    return enqueue_owned(q, j, cq, tag);
}

/* ======================================================================== */
/* job / jobs                                                               */
/* ======================================================================== */

typedef struct get_op {
    saq__op_t op;
    char *id;
    char **ids;
    size_t nids;
} get_op_t;

static void get_destroy(saq__op_t *op)
{
    get_op_t *g = (get_op_t *)op;
    free(g->id);
    for (size_t i = 0; i < g->nids; i++)
        free(g->ids[i]);
    free(g->ids);
}

static void get_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    get_op_t *g = (get_op_t *)op;
    char e2[300];
    (void)req;
    saq__op_release_permit(op);
    if (err) {
        saq__op_fail(op, err, "cannot read job %s: %s", g->id, msg);
        return;
    }
    int e = saq__job_from_reply(op->q, r, g->id, &op->ev->job, e2, sizeof e2);
    if (e == SAQ_ENOTFOUND)
        saq__op_fail(op, e, "job %s not found", g->id);
    else if (e)
        saq__op_fail(op, e, "%s", e2);
    else
        saq__op_complete(op);
}

static void get_go(saq__op_t *op)
{
    get_op_t *g = (get_op_t *)op;
    const char *argv[2] = {"GET", g->id};
    saq__op_cmd(op, get_reply, 0, 2, argv, NULL);
}

static void get_start(saq__op_t *op) { saq__op_with_permit(op, get_go); }

SAQ_API int saq_queue_job(saq_queue_t *q, const char *key, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(get_op_t), SAQ_EVENT_JOB, cq, tag,
                                   get_start, get_destroy, &err);
    if (!op)
        return err;
    if (!valid_key(key))
        REJECT(op, SAQ_EINVAL, "job key must be a non-empty string");
    get_op_t *g = (get_op_t *)op;
    if (!(g->id = saq__id_of(q, key)) || !(op->ev->key = saq__strdup(key)))
        REJECT(op, SAQ_ENOMEM, "out of memory");
    return saq__op_submit(op);
}

static void jobs_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    get_op_t *g = (get_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "cannot read jobs: %s", msg);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != g->nids) {
        saq__op_fail(op, SAQ_EPROTO, "unexpected MGET reply");
        return;
    }
    saq_event_t *ev = op->ev;
    ev->jobs = saq__calloc(g->nids, sizeof *ev->jobs);
    saq__buf_t b = {0};
    if (!ev->jobs) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    ev->njobs = g->nids;
    saq__buf_putc(&b, '[');
    for (size_t i = 0; i < g->nids; i++) {
        char e2[240];
        if (i)
            saq__buf_puts(&b, ", ");
        if (saq__job_from_reply(op->q, r->element[i], g->ids[i], &ev->jobs[i], e2, sizeof e2) == 0) {
            char *s = saq__job_dump(ev->jobs[i], op->q->set.dialect);
            saq__buf_puts(&b, s ? s : "null");
            free(s);
        } else {
            saq__buf_puts(&b, "null");
        }
    }
    saq__buf_putc(&b, ']');
    ev->json = saq__buf_take(&b);
    if (!ev->json)
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
    else
        saq__op_complete(op);
}

static void jobs_start(saq__op_t *op)
{
    get_op_t *g = (get_op_t *)op;
    if (!g->nids) {
        op->ev->json = saq__strdup("[]");
        saq__op_complete(op);
        return;
    }
    const char **argv = saq__malloc((g->nids + 1) * sizeof *argv);
    if (!argv) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    argv[0] = "MGET";
    for (size_t i = 0; i < g->nids; i++)
        argv[i + 1] = g->ids[i];
    saq__op_cmd(op, jobs_reply, 0, (int)g->nids + 1, argv, NULL);
    free(argv);
}

SAQ_API int saq_queue_jobs(saq_queue_t *q, const char *keys_json, saq_cq_t *cq, uint64_t tag)
{
    int err;
    char e2[200];
    saq__op_t *op = saq__op_create(q, sizeof(get_op_t), SAQ_EVENT_JOBS, cq, tag,
                                   jobs_start, get_destroy, &err);
    if (!op)
        return err;
    get_op_t *g = (get_op_t *)op;
    int e = saq__keys_to_ids(q, keys_json, &g->ids, &g->nids, e2, sizeof e2);
    if (e)
        REJECT(op, e, "%s", e2);
    return saq__op_submit(op);
}

/* ======================================================================== */
/* count, ping                                                              */
/* ======================================================================== */

static void int_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    long long v;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "%s", msg);
        return;
    }
    if (saq__reply_int(r, &v)) {
        saq__op_fail(op, SAQ_EPROTO, "unexpected reply type");
        return;
    }
    op->ev->ival = v;
    saq__op_complete(op);
}

typedef struct count_op {
    saq__op_t op;
    int kind;
} count_op_t;

static void count_start(saq__op_t *op)
{
    saq_queue_t *q = op->q;
    int k = ((count_op_t *)op)->kind;
    const char *argv[2] = {k == 2 ? "ZCARD" : "LLEN",
                           k == 0 ? q->k_queued : k == 1 ? q->k_active : q->k_incomplete};
    saq__op_cmd(op, int_reply, 0, 2, argv, NULL);
}

SAQ_API int saq_queue_count(saq_queue_t *q, const char *kind, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(count_op_t), SAQ_EVENT_COUNT, cq, tag,
                                   count_start, NULL, &err);
    if (!op)
        return err;
    count_op_t *c = (count_op_t *)op;
    if (kind && !strcmp(kind, "queued"))
        c->kind = 0;
    else if (kind && !strcmp(kind, "active"))
        c->kind = 1;
    else if (kind && !strcmp(kind, "incomplete"))
        c->kind = 2;
    else
        REJECT(op, SAQ_EINVAL, "can't count unknown kind '%.40s' (expected queued, active or incomplete)",
               kind ? kind : "(null)");
    return saq__op_submit(op);
}

static void ping_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req, (void)r;
    if (err) {
        saq__op_fail(op, err, "%s", msg);
        return;
    }
    op->ev->ival = op->q->server_version;
    saq__op_complete(op);
}

static void ping_start(saq__op_t *op)
{
    const char *argv[1] = {"PING"};
    saq__op_cmd(op, ping_reply, 0, 1, argv, NULL);
}

SAQ_API int saq_queue_ping(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(saq__op_t), SAQ_EVENT_PING, cq, tag,
                                   ping_start, NULL, &err);
    return op ? saq__op_submit(op) : err;
}

/* ======================================================================== */
/* schedule                                                                 */
/* ======================================================================== */

typedef struct sched_op {
    saq__op_t op;
    long long lock_ms;
} sched_op_t;

static char *ids_json(redisReply *r)
{
    saq__buf_t b = {0};
    saq__buf_putc(&b, '[');
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        if (i)
            saq__buf_puts(&b, ", ");
        if (r->element[i]->type == REDIS_REPLY_STRING)
            saq__buf_json_strn(&b, r->element[i]->str, r->element[i]->len);
        else
            saq__buf_puts(&b, "null");
    }
    saq__buf_putc(&b, ']');
    return saq__buf_take(&b);
}

static void sched_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req;
    if (err) {
        saq__op_fail(op, err, "schedule failed: %s", msg);
        return;
    }
    op->ev->ival = r->type == REDIS_REPLY_ARRAY ? (int64_t)r->elements : 0;
    op->ev->json = ids_json(r);
    saq__op_complete(op);
}

static void sched_start(saq__op_t *op)
{
    saq__call_t c;
    saq__tx_schedule(op->q, ((sched_op_t *)op)->lock_ms, saq__now_s(), &c);
    saq__tx_send_op(op, &c, sched_reply, 0);
}

/* The worker's form: the lock in milliseconds (a little under its period). */
int saq__queue_schedule_ms(saq_queue_t *q, long long lock_ms, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(sched_op_t), SAQ_EVENT_SCHEDULE, cq, tag,
                                   sched_start, NULL, &err);
    if (!op)
        return err;
    ((sched_op_t *)op)->lock_ms = lock_ms;
    if (lock_ms < 1)
        REJECT(op, SAQ_EINVAL, "schedule lock must be >= 1 second");
    return saq__op_submit(op);
}

SAQ_API int saq_queue_schedule(saq_queue_t *q, int lock_s, saq_cq_t *cq, uint64_t tag)
{
    return saq__queue_schedule_ms(q, lock_s < 1 ? 0 : (long long)lock_s * 1000, cq, tag);
}

/* ======================================================================== */
/* info and stats                                                           */
/* ======================================================================== */

typedef struct info_op {
    saq__op_t op;
    int jobs, offset, limit;
    long long queued, active, incomplete;
    int paused;
    char **wids;
    size_t nwids;
    redisReply *dummy;
    char *workers_json;
    char **jids;
    size_t njids;
    char *jobs_json;
} info_op_t;

static void info_destroy(saq__op_t *op)
{
    info_op_t *o = (info_op_t *)op;
    for (size_t i = 0; i < o->nwids; i++)
        free(o->wids[i]);
    free(o->wids);
    for (size_t i = 0; i < o->njids; i++)
        free(o->jids[i]);
    free(o->jids);
    free(o->workers_json);
    free(o->jobs_json);
}

static void info_finish(saq__op_t *op)
{
    info_op_t *o = (info_op_t *)op;
    if (--op->pending > 0)
        return;
    saq__buf_t b = {0};
    saq__buf_puts(&b, "{\"workers\": ");
    saq__buf_puts(&b, o->workers_json ? o->workers_json : "{}");
    saq__buf_puts(&b, ", \"name\": ");
    saq__buf_json_str(&b, op->q->set.name);
    saq__buf_printf(&b, ", \"queued\": %lld, \"active\": %lld, \"scheduled\": %lld, \"jobs\": ",
                    o->queued, o->active, o->incomplete - o->queued - o->active);
    saq__buf_puts(&b, o->jobs_json ? o->jobs_json : "[]");
    saq__buf_printf(&b, ", \"paused\": %s}", o->paused ? "true" : "false");
    op->ev->json = saq__buf_take(&b);
    if (!op->ev->json)
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
    else
        saq__op_complete(op);
}

static void info_count(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    info_op_t *o = (info_op_t *)op;
    long long v = 0;
    if (err) {
        saq__op_fail(op, err, "info failed: %s", msg);
        return;
    }
    saq__reply_int(r, &v);
    if (req->idata == 3)
        o->paused = v > 0;
    else if (req->idata == 0)
        o->queued = v;
    else if (req->idata == 1)
        o->active = v;
    else
        o->incomplete = v;
    info_finish(op);
}

static void info_workers(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    info_op_t *o = (info_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "info failed: %s", msg);
        return;
    }
    saq__buf_t b = {0};
    int first = 1;
    saq__buf_putc(&b, '{');
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && i < o->nwids; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || saq__json_validate(e->str, e->len, 'o', NULL, 0))
            continue;
        if (!first)
            saq__buf_puts(&b, ", ");
        first = 0;
        saq__buf_json_str(&b, o->wids[i]);
        saq__buf_puts(&b, ": ");
        saq__buf_put(&b, e->str, e->len);
    }
    saq__buf_putc(&b, '}');
    o->workers_json = saq__buf_take(&b);
    info_finish(op);
}

static void info_registry(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    info_op_t *o = (info_op_t *)op;
    saq_queue_t *q = op->q;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "info failed: %s", msg);
        return;
    }
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    if (!n) {
        info_finish(op);
        return;
    }
    o->wids = saq__calloc(n, sizeof *o->wids);
    const char **argv = saq__malloc((n + 1) * sizeof *argv);
    char **keys = saq__calloc(n, sizeof *keys);
    if (!o->wids || !argv || !keys) {
        free(argv);
        free(keys);
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        const char *m = r->element[i]->str ? r->element[i]->str : "";
        const char *c = strrchr(m, ':');
        o->wids[i] = saq__strdup(c ? c + 1 : m);
        keys[i] = saq__sprintf("%s%s", q->set.dialect == SAQ__DIALECT_013 ? q->k_statsprefix
                                                                          : q->k_wiprefix,
                               o->wids[i] ? o->wids[i] : "");
        argv[i + 1] = keys[i] ? keys[i] : "";
    }
    o->nwids = n;
    op->pending++;
    saq__op_cmd(op, info_workers, 0, (int)n + 1, argv, NULL);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(argv);
    info_finish(op);
}

static void info_jobs(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    info_op_t *o = (info_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "info failed: %s", msg);
        return;
    }
    /* decode, skip missing, de-duplicate by key: first position, last data wins */
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    saq_job_t **js = saq__calloc(n ? n : 1, sizeof *js);
    if (!js) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        saq_job_t *j = NULL;
        char e2[200];
        if (saq__job_from_reply(op->q, r->element[i], i < o->njids ? o->jids[i] : "?", &j, e2, sizeof e2))
            continue;
        size_t k;
        for (k = 0; k < cnt; k++)
            if (!strcmp(js[k]->key, j->key))
                break;
        if (k < cnt) {
            saq_job_free(js[k]);
            js[k] = j;
        } else {
            js[cnt++] = j;
        }
    }
    saq__buf_t b = {0};
    saq__buf_putc(&b, '[');
    for (size_t k = 0; k < cnt; k++) {
        char *s = saq__job_dump(js[k], op->q->set.dialect);
        if (k)
            saq__buf_puts(&b, ", ");
        saq__buf_puts(&b, s ? s : "null");
        free(s);
        saq_job_free(js[k]);
    }
    free(js);
    saq__buf_putc(&b, ']');
    o->jobs_json = saq__buf_take(&b);
    info_finish(op);
}

static void info_ids(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    info_op_t *o = (info_op_t *)op;
    if (err) {
        saq__op_fail(op, err, "info failed: %s", msg);
        return;
    }
    /* req->idata 0: active list, 1: incomplete zset; collected in that order */
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    char **ids = saq__realloc(o->jids, (o->njids + n + 1) * sizeof *ids);
    if (!ids) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    o->jids = ids;
    for (size_t i = 0; i < n; i++)
        if (r->element[i]->str)
            o->jids[o->njids++] = saq__strdup(r->element[i]->str);
    if (req->idata == 1) {
        if (!o->njids) {
            info_finish(op);
            return;
        }
        const char **argv = saq__malloc((o->njids + 1) * sizeof *argv);
        if (!argv) {
            saq__op_fail(op, SAQ_ENOMEM, "out of memory");
            return;
        }
        argv[0] = "MGET";
        for (size_t i = 0; i < o->njids; i++)
            argv[i + 1] = o->jids[i] ? o->jids[i] : "";
        saq__op_cmd(op, info_jobs, 0, (int)o->njids + 1, argv, NULL);
        free(argv);
    }
}

static void info_start(saq__op_t *op)
{
    info_op_t *o = (info_op_t *)op;
    saq_queue_t *q = op->q;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)saq__now_ms());
    op->pending = 5 + (o->jobs ? 1 : 0);
    const char *a0[4] = {"ZRANGEBYSCORE", q->k_stats, now, "inf"};
    saq__op_cmd(op, info_registry, 0, 4, a0, NULL);
    const char *a1[2] = {"LLEN", q->k_queued};
    saq__op_cmd(op, info_count, 0, 2, a1, NULL);
    const char *a2[2] = {"LLEN", q->k_active};
    saq__op_cmd(op, info_count, 1, 2, a2, NULL);
    const char *a3[2] = {"ZCARD", q->k_incomplete};
    saq__op_cmd(op, info_count, 2, 2, a3, NULL);
    const char *a6[2] = {"EXISTS", q->k_paused}; /* saq_queue_pause's flag */
    saq__op_cmd(op, info_count, 3, 2, a6, NULL);
    if (o->jobs) {
        char from[24], to[24];
        snprintf(from, sizeof from, "%d", o->offset);
        snprintf(to, sizeof to, "%lld", (long long)o->offset + o->limit - 1);
        const char *a4[4] = {"LRANGE", q->k_active, from, to};
        saq__op_cmd(op, info_ids, 0, 4, a4, NULL);
        const char *a5[4] = {"ZRANGE", q->k_incomplete, from, to};
        saq__op_cmd(op, info_ids, 1, 4, a5, NULL);
    }
}

SAQ_API int saq_queue_info(saq_queue_t *q, int jobs, int offset, int limit, saq_cq_t *cq,
                           uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(info_op_t), SAQ_EVENT_INFO, cq, tag,
                                   info_start, info_destroy, &err);
    if (!op)
        return err;
    info_op_t *o = (info_op_t *)op;
    o->jobs = jobs != 0;
    o->offset = offset;
    o->limit = limit;
    if (jobs && (offset < 0 || limit < 1))
        REJECT(op, SAQ_EINVAL, "info needs offset >= 0 and limit >= 1");
    return saq__op_submit(op);
}

/* The worker registry write (spec 3.13), shared with the worker. */
char *saq__stats_json(saq_queue_t *q)
{
    return saq__sprintf("{\"complete\": %lld, \"failed\": %lld, \"retried\": %lld, \"aborted\": %lld, "
                        "\"uptime\": %lld}",
                        (long long)atomic_load(&q->n_complete), (long long)atomic_load(&q->n_failed),
                        (long long)atomic_load(&q->n_retried), (long long)atomic_load(&q->n_aborted),
                        (long long)(saq__now_ms() - q->created_ms));
}

typedef struct stats_op {
    saq__op_t op;
    int ttl;
} stats_op_t;

static void stats_done(void *ud, int err, const char *msg, saq__tx_t result)
{
    saq__op_t *op = ud;
    (void)result;
    if (!op->done) {
        if (err)
            saq__op_fail(op, err, "stats failed: %s", msg);
        else
            saq__op_complete(op);
    }
    saq__op_unref(op);
}

static void stats_start(saq__op_t *op)
{
    saq_queue_t *q = op->q;
    char *s = saq__stats_json(q);
    if (!s) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    op->ev->json = s;
    saq__op_ref(op);
    saq__write_registry(q, q->uuid, s, NULL, ((stats_op_t *)op)->ttl, 0, stats_done, op);
}

SAQ_API int saq_queue_stats(saq_queue_t *q, int ttl_s, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(stats_op_t), SAQ_EVENT_STATS, cq, tag,
                                   stats_start, NULL, &err);
    if (!op)
        return err;
    ((stats_op_t *)op)->ttl = ttl_s;
    if (ttl_s < 1)
        REJECT(op, SAQ_EINVAL, "stats ttl must be >= 1 second");
    return saq__op_submit(op);
}
