/* SPDX-License-Identifier: MIT */
/* Bulk enqueue (saq_queue_enqueue_many; BullMQ's addBulk, Sidekiq's
 * push_bulk): many jobs in one operation. Every job is prepared and dumped
 * on the caller's thread first, so a job that cannot be sent refuses the
 * whole call before anything is written; then their ENQUEUE scripts go out
 * back to back on the queue's connection (pipelined: many per round trip),
 * each one atomic as saq_queue_enqueue's, and the operation completes once
 * every reply is in, with one outcome per job. */
#include "core.h"

typedef struct many_op {
    saq__op_t op;
    size_t n, enqueued;
    char **jsons;
    size_t *lens;
    signed char *outcome; /* -1 not known (not sent, or its reply lost), 0 duplicate, 1 enqueued */
    int first_err;
    char *first_msg;
} many_op_t;

static void many_destroy(saq__op_t *op)
{
    many_op_t *m = (many_op_t *)op;
    for (size_t i = 0; i < m->n; i++)
        free(m->jsons ? m->jsons[i] : NULL);
    free(m->jsons);
    free(m->lens);
    free(m->outcome);
    free(m->first_msg);
}

/* The event: json = the outcomes in job order (1, 0 or null), int = how many
 * were enqueued; with an error, the first one, saying how far it got. */
static void many_done(saq__op_t *op)
{
    many_op_t *m = (many_op_t *)op;
    saq_event_t *ev = op->ev;
    saq__buf_t b = {0};
    saq__buf_putc(&b, '[');
    for (size_t i = 0; i < m->n; i++) {
        if (i)
            saq__buf_putc(&b, ',');
        saq__buf_puts(&b, m->outcome[i] < 0 ? "null" : m->outcome[i] ? "1" : "0");
    }
    saq__buf_putc(&b, ']');
    ev->json = saq__buf_take(&b);
    ev->ival = (int64_t)m->enqueued;
    if (!ev->json) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    if (m->first_err) {
        size_t known = 0;
        for (size_t i = 0; i < m->n; i++)
            known += m->outcome[i] >= 0;
        saq__op_fail(op, m->first_err,
                     "enqueue_many: %zu of %zu jobs enqueued, %zu not known (null in the "
                     "outcomes): %s",
                     m->enqueued, m->n, m->n - known, m->first_msg ? m->first_msg : "");
        return;
    }
    saq__op_complete(op);
}

static void many_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    many_op_t *m = (many_op_t *)op;
    size_t i = (size_t)req->idata;
    if (err) {
        if (!m->first_err) {
            m->first_err = err;
            m->first_msg = saq__sprintf("job %s: %s", op->ev->jobs[i]->key, msg ? msg : "");
        }
    } else {
        m->outcome[i] = saq__tx_decode(SCRIPT_ENQUEUE, r, NULL) == SAQ__TX_OK;
        m->enqueued += (size_t)m->outcome[i];
    }
    if (--op->pending == 0) {
        saq__op_release_permit(op);
        many_done(op);
    }
}

/* saq_queue_cancel while the operation waits for its max_concurrent_ops
 * permit: withdrawn, nothing written. many_go makes it uncancellable. */
static void many_cancel(saq__op_t *op)
{
    saq__op_fail(op, SAQ_ECLOSED, "enqueue_many cancelled before it was sent; nothing was written");
}

static void many_go(saq__op_t *op)
{
    many_op_t *m = (many_op_t *)op;
    op->cancel = NULL; /* sent from here on: it completes */
    op->pending = (int)m->n;
    for (size_t i = 0; i < m->n && !op->done; i++) {
        saq__call_t c;
        saq__tx_enqueue(op->q, op->ev->jobs[i], m->jsons[i], m->lens[i], &c);
        if (!saq__tx_send_op(op, &c, many_reply, (intptr_t)i))
            return; /* out of memory: the operation failed */
        free(m->jsons[i]); /* the request holds its own copy */
        m->jsons[i] = NULL;
    }
}

static void many_start(saq__op_t *op)
{
    many_op_t *m = (many_op_t *)op;
    if (!m->n) {
        many_done(op);
        return;
    }
    saq__op_with_permit(op, many_go);
}

/* Copy, prepare and dump every job (caller's thread); the first job that
 * cannot be sent refuses the call. */
static void many_prepare(saq_queue_t *q, many_op_t *m, saq_job_t *const *jobs, size_t n)
{
    saq_event_t *ev = m->op.ev;
    ev->jobs = saq__calloc(n, sizeof *ev->jobs);
    m->jsons = saq__calloc(n, sizeof *m->jsons);
    m->lens = saq__calloc(n, sizeof *m->lens);
    m->outcome = saq__calloc(n, 1);
    if (!ev->jobs || !m->jsons || !m->lens || !m->outcome) {
        saq__event_error(ev, SAQ_ENOMEM, "out of memory");
        return;
    }
    memset(m->outcome, -1, n);
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i]) {
            saq__event_error(ev, SAQ_EINVAL, "jobs[%zu] is NULL; nothing was written", i);
            return;
        }
        saq_job_t *j = saq_job_dup(jobs[i]);
        if (!j) {
            saq__event_error(ev, SAQ_ENOMEM, "out of memory");
            return;
        }
        ev->jobs[i] = j;
        ev->njobs = i + 1;
        char *msg = NULL;
        int e = saq__prepare_enqueue(q, j, &msg);
        if (!e && !(m->jsons[i] = saq__dump_job(q, j, &m->lens[i], &e)) && e == SAQ_ETOOBIG) {
            saq__event_error(ev, e,
                             "jobs[%zu] (%s) is larger than max_payload_bytes (%zu bytes); "
                             "nothing was written",
                             i, j->key, q->set.max_payload);
            return;
        }
        if (e) {
            saq__event_error(ev, e, "jobs[%zu]: %s; nothing was written", i,
                             msg ? msg : saq_strerror(e));
            free(msg);
            return;
        }
    }
}

SAQ_API int saq_queue_enqueue_many(saq_queue_t *q, saq_job_t *const *jobs, size_t n, saq_cq_t *cq,
                                   uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(many_op_t), SAQ_EVENT_ENQUEUE_MANY, cq, tag,
                                   many_start, many_destroy, &err);
    if (!op)
        return err;
    many_op_t *m = (many_op_t *)op;
    if (!jobs && n)
        saq__event_error(op->ev, SAQ_EINVAL, "jobs is NULL");
    else if (n > (size_t)INT32_MAX)
        saq__event_error(op->ev, SAQ_EINVAL, "too many jobs in one call (%zu)", n);
    else if (n)
        many_prepare(q, m, jobs, n);
    if (!op->ev->status) {
        op->cancel = many_cancel;
    } else {
        /* refused: no outcomes, no jobs in the event */
        for (size_t i = 0; i < op->ev->njobs; i++)
            saq_job_free(op->ev->jobs[i]);
        free(op->ev->jobs);
        op->ev->jobs = NULL;
        op->ev->njobs = 0;
    }
    return saq__op_submit(op);
}
