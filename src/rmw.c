/* SPDX-License-Identifier: MIT */
/* saq's read-modify-write Queue operations on one job by key: abort, retry,
 * finish and update. Each reads the record, changes it as saq does and
 * writes it back (compare-and-set where a concurrent writer could race). */
#include "core.h"

enum { RMW_ABORT, RMW_RETRY, RMW_FINISH, RMW_UPDATE };

typedef struct rmw_op {
    saq__op_t op;
    int kind;
    char *id, *key;
    char *error;     /* abort reason / retry error / finish error */
    char *result;    /* finish result */
    char *fields;    /* update fields */
    int status;      /* finish status */
    int ttl;         /* abort marker ttl */
    char *old;       /* record as read (abort CAS) */
    size_t oldlen;
    int tries;
    int dequeued;
} rmw_op_t;

static void rmw_destroy(saq__op_t *op)
{
    rmw_op_t *m = (rmw_op_t *)op;
    free(m->id);
    free(m->key);
    free(m->error);
    free(m->result);
    free(m->fields);
    free(m->old);
}

static void rmw_read(saq__op_t *op);
static void update_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg);

/* completion of a finish/retry primitive run for an op */
static void rmw_prim_done(void *ud, int err, const char *msg, saq__tx_t result)
{
    saq__op_t *op = ud;
    if (!op->done) {
        if (err)
            saq__op_fail(op, err, "%s", msg ? msg : saq_strerror(err));
        else {
            if (op->ev->ival == 0)
                op->ev->ival = result == SAQ__TX_OK;
            saq__op_complete(op);
        }
    }
    saq__op_unref(op);
}

static void abort_marker_deleted(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req, (void)r, (void)err, (void)msg;
    saq__op_complete(op);
}

/* 0.26 abort: compare-and-set of status/error on the current record */
static void abort_cas_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    rmw_op_t *m = (rmw_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "abort of %s failed: %s", m->id, msg);
        return;
    }
    saq__tx_t v = saq__tx_decode(SCRIPT_ABORT, r, NULL);
    if (v == SAQ__TX_NONE) {
        saq__op_fail(op, SAQ_EPROTO, "unexpected abort reply");
        return;
    }
    if (v == SAQ__TX_CHANGED) { /* the record changed between read and write: read again */
        if (++m->tries > 8) {
            saq__op_fail(op, SAQ_ETIMEDOUT, "job %s kept changing; abort gave up after 8 tries", m->id);
            return;
        }
        rmw_read(op);
        return;
    }
    if (v == SAQ__TX_OK) {
        op->ev->ival = 1; /* running or scheduled: its worker stops it */
        saq__op_complete(op);
        return;
    }
    /* it was waiting: finish it aborted now, then drop the marker */
    op->ev->ival = 2;
    saq__op_ref(op);
    saq__finish_job(op->q, op->ev->job, SAQ_STATUS_ABORTED, NULL, m->error, NULL, SAQ__DEL_MARKER,
                    rmw_prim_done, op);
}

static void abort13_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    rmw_op_t *m = (rmw_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "abort of %s failed: %s", m->id, msg);
        return;
    }
    if (saq__tx_abort013_decode(r, NULL) == SAQ__TX_DEQUEUED) {
        op->ev->ival = 2;
        saq__op_ref(op);
        saq__finish_job(op->q, op->ev->job, SAQ_STATUS_ABORTED, NULL, m->error, NULL,
                        SAQ__DEL_MARKER, rmw_prim_done, op);
        return;
    }
    op->ev->ival = 1;
    const char *argv[4] = {"LREM", op->q->k_active, "0", m->id};
    saq__op_cmd(op, abort_marker_deleted, 0, 4, argv, NULL);
}

void saq__abort_send(saq__op_t *op, saq_job_t *j, const char *id, const char *old, size_t oldlen,
                     const char *reason, int ttl, double watch_ms, saq__op_reply_fn cb)
{
    saq_queue_t *q = op->q;
    size_t len;
    int e;
    j->status = SAQ_STATUS_ABORTING;
    if (saq__set_str(&j->error, reason)) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    saq__job_invalidate(j);
    char *json = saq__dump_job(q, j, &len, &e);
    if (!json) {
        saq__op_fail(op, e, "cannot serialize job %s", j->key);
        return;
    }
    saq__call_t c;
    saq__tx_abort(q,
                  &(saq__tx_abort_t){.id = id, .key = j->key, .old = old, .oldlen = oldlen, .json = json,
                                     .len = len, .ttl = ttl, .reason = reason,
                                     .watch = SAQ__TX_WATCH_ABORT, .watch_ms = watch_ms},
                  &c);
    saq__tx_send_op(op, &c, cb, 0);
    free(json);
}

static void rmw_apply(saq__op_t *op)
{
    rmw_op_t *m = (rmw_op_t *)op;
    saq_queue_t *q = op->q;
    saq_job_t *j = op->ev->job;
    char e2[240];
    int e;
    size_t len;
    switch (m->kind) {
    case RMW_ABORT: {
        if (saq__status_terminal(j->status)) {
            saq__op_release_permit(op);
            op->ev->ival = 0; /* already ended: nothing to abort (saq U3 wrote a stale copy) */
            saq__op_complete(op);
            return;
        }
        if (q->set.dialect == SAQ__DIALECT_013) {
            saq__tx_abort013_op(op, m->id, j->key, m->ttl, m->error, abort13_reply);
            return;
        }
        /* a job that was not waiting (running or scheduled) is watched: if no
         * live worker ends it, a libsaq worker finishes it aborted */
        saq__abort_send(op, j, m->id, m->old, m->oldlen, m->error, m->ttl, 2000, abort_cas_reply);
        return;
    }
    case RMW_RETRY:
        saq__op_release_permit(op);
        saq__op_ref(op);
        saq__retry_job(q, j, m->error, NULL, rmw_prim_done, op);
        return;
    case RMW_FINISH:
        saq__op_release_permit(op);
        saq__op_ref(op);
        saq__finish_job(q, j, m->status, m->result, m->error, NULL, 0, rmw_prim_done, op);
        return;
    case RMW_UPDATE: {
        saq__op_release_permit(op);
        if (saq__status_terminal(j->status)) {
            op->ev->ival = 0; /* never resurrect a finished record (saq U4) */
            saq__op_complete(op);
            return;
        }
        if (m->fields &&
            (e = saq__job_apply_fields(j, m->fields, strlen(m->fields), 0, NULL, e2, sizeof e2))) {
            saq__op_fail(op, e, "%s", e2);
            return;
        }
        j->touched = saq__now_ms();
        saq__job_invalidate(j);
        if (q->set.dump) { /* opaque records: saq's GET-then-SET with the stored status */
            char *json = saq__dump_job(q, j, &len, &e);
            if (!json) {
                saq__op_fail(op, e, "cannot serialize job %s", m->id);
                return;
            }
            op->ev->ival = 1;
            saq__tx_overwrite_op(op, m->id, json, len, saq__status_name(j->status), abort_marker_deleted);
            free(json);
            return;
        }
        char *head = NULL, *errm = NULL, *tail = NULL;
        if ((e = saq__job_dump_split(j, q->set.dialect, &head, &errm, &tail))) {
            saq__op_fail(op, e, "out of memory");
            return;
        }
        size_t total = strlen(head) + strlen(errm) + strlen(tail) + 32;
        if (total > q->set.max_payload) {
            free(head);
            free(errm);
            free(tail);
            saq__op_fail(op, SAQ_ETOOBIG, "updated job %s would exceed max_payload_bytes", m->id);
            return;
        }
        saq__call_t c;
        saq__tx_update(q,
                       &(saq__tx_update_t){.id = m->id, .head = head, .err = errm, .tail = tail,
                                           .status = saq__status_name(j->status)},
                       &c);
        saq__tx_send_op(op, &c, update_reply, 0);
        free(head);
        free(errm);
        free(tail);
        return;
    }
    }
}

static void update_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    rmw_op_t *m = (rmw_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "update of %s failed: %s", m->id, msg);
        return;
    }
    op->ev->ival = saq__tx_decode(SCRIPT_UPDATE, r, NULL) == SAQ__TX_OK;
    saq__op_complete(op);
}

static void rmw_got(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    rmw_op_t *m = (rmw_op_t *)op;
    char e2[300];
    (void)req;
    if (err) {
        saq__op_fail(op, err, "cannot read job %s: %s", m->id, msg);
        return;
    }
    saq_job_free(op->ev->job);
    op->ev->job = NULL;
    int e = saq__job_from_reply(op->q, r, m->id, &op->ev->job, e2, sizeof e2);
    if (e == SAQ_ENOTFOUND) {
        saq__op_fail(op, e, "job %s not found", m->id);
        return;
    }
    if (e) {
        saq__op_fail(op, e, "%s", e2);
        return;
    }
    free(m->old);
    m->old = saq__strndup(r->str, r->len);
    m->oldlen = r->len;
    if (!m->old) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    rmw_apply(op);
}

static void rmw_read(saq__op_t *op)
{
    rmw_op_t *m = (rmw_op_t *)op;
    const char *argv[2] = {"GET", m->id};
    saq__op_cmd(op, rmw_got, 0, 2, argv, NULL);
}

static void rmw_start(saq__op_t *op) { saq__op_with_permit(op, rmw_read); }

static int rmw_submit(saq_queue_t *q, int kind, int evtype, const char *key, saq_cq_t *cq,
                      uint64_t tag, rmw_op_t **out, int *err)
{
    saq__op_t *op = saq__op_create(q, sizeof(rmw_op_t), evtype, cq, tag,
                                   rmw_start, rmw_destroy, err);
    *out = (rmw_op_t *)op;
    if (!op)
        return -1;
    (*out)->kind = kind;
    if (!key || !*key) {
        saq__event_error(op->ev, SAQ_EINVAL, "job key must be a non-empty string");
        return 1;
    }
    if (!((*out)->id = saq__id_of(q, key)) || !((*out)->key = saq__strdup(key)) ||
        !(op->ev->key = saq__strdup(key))) {
        saq__event_error(op->ev, SAQ_ENOMEM, "out of memory");
        return 1;
    }
    return 0;
}

SAQ_API int saq_queue_abort(saq_queue_t *q, const char *key, const char *error, int ttl_s,
                            saq_cq_t *cq, uint64_t tag)
{
    rmw_op_t *m;
    int err;
    int r = rmw_submit(q, RMW_ABORT, SAQ_EVENT_ABORT, key, cq, tag, &m, &err);
    if (r < 0)
        return err;
    if (r == 0) {
        if (!error)
            saq__event_error(m->op.ev, SAQ_EINVAL, "abort reason must not be NULL");
        else if (ttl_s < 1)
            saq__event_error(m->op.ev, SAQ_EINVAL, "abort marker ttl must be >= 1 second");
        else if (!(m->error = saq__strdup(error)))
            saq__event_error(m->op.ev, SAQ_ENOMEM, "out of memory");
        m->ttl = ttl_s;
    }
    return saq__op_submit(&m->op);
}

SAQ_API int saq_queue_retry(saq_queue_t *q, const char *key, const char *error, saq_cq_t *cq,
                            uint64_t tag)
{
    rmw_op_t *m;
    int err;
    int r = rmw_submit(q, RMW_RETRY, SAQ_EVENT_RETRY, key, cq, tag, &m, &err);
    if (r < 0)
        return err;
    if (r == 0 && error && !(m->error = saq__strdup(error)))
        saq__event_error(m->op.ev, SAQ_ENOMEM, "out of memory");
    m->op.start = rmw_read; /* saq's retry does not hold the semaphore */
    return saq__op_submit(&m->op);
}

SAQ_API int saq_queue_finish(saq_queue_t *q, const char *key, const char *status,
                             const char *result_json, const char *error, saq_cq_t *cq,
                             uint64_t tag)
{
    rmw_op_t *m;
    int err;
    char e2[200];
    int r = rmw_submit(q, RMW_FINISH, SAQ_EVENT_FINISH, key, cq, tag, &m, &err);
    if (r < 0)
        return err;
    m->op.start = rmw_read;
    if (r == 0) {
        int st = status ? saq__status_parse(status, strlen(status)) : -1;
        if (!saq__status_terminal(st))
            saq__event_error(m->op.ev, SAQ_EINVAL,
                             "finish status must be complete, failed or aborted, got '%.40s'",
                             status ? status : "(null)");
        else if (result_json && saq__json_validate(result_json, strlen(result_json), 0, e2, sizeof e2))
            saq__event_error(m->op.ev, SAQ_EJSON, "result: %s", e2);
        else if ((error && !(m->error = saq__strdup(error))) ||
                 (result_json && strcmp(result_json, "null") && !(m->result = saq__strdup(result_json))))
            saq__event_error(m->op.ev, SAQ_ENOMEM, "out of memory");
        m->status = st;
    }
    return saq__op_submit(&m->op);
}

SAQ_API int saq_queue_update(saq_queue_t *q, const char *key, const char *fields_json,
                             saq_cq_t *cq, uint64_t tag)
{
    rmw_op_t *m;
    int err;
    char e2[200];
    int r = rmw_submit(q, RMW_UPDATE, SAQ_EVENT_UPDATE, key, cq, tag, &m, &err);
    if (r < 0)
        return err;
    if (r == 0 && fields_json) {
        if (saq__json_validate(fields_json, strlen(fields_json), 'o', e2, sizeof e2))
            saq__event_error(m->op.ev, SAQ_EJSON, "fields: %s", e2);
        else if (!(m->fields = saq__strdup(fields_json)))
            saq__event_error(m->op.ev, SAQ_ENOMEM, "out of memory");
    }
    return saq__op_submit(&m->op);
}

