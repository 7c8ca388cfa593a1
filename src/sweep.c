/* SPDX-License-Identifier: MIT */
/* saq's Queue.sweep: find jobs left in `active` that no worker runs any more
 * (stuck past their timeout or heartbeat, or not active at all), abort them,
 * wait for the abort to be seen (a status message or the abort wait), then
 * retry them or finish them aborted as saq does. */
#include "core.h"

#include <math.h>

#define SWEEP_GRACE_S 1.0 /* a dequeued job not yet marked active gets this long (saq #277) */

typedef struct sweep_op {
    saq__op_t op;
    long long lock_ms;
    double abort_s;
    char *swept_msg; /* the worker's swept_error_message, or NULL: the queue's */
    char **ids, **recs;
    size_t *reclens;
    char **types;    /* the type of a key that holds no string (a hash...), else NULL */
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
    saq__optimer_t *timer;
} sweep_op_t;

static void sweep_next(saq__op_t *op);
static void sweep_eval_item(saq__op_t *op);

static void sweep_destroy(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    free(s->swept_msg);
    if (s->listening)
        saq__listen_remove(op->q, &s->l);
    saq__optimer_stop(&s->timer);
    for (size_t i = 0; i < s->n; i++) {
        free(s->ids[i]);
        free(s->recs[i]);
        free(s->types[i]);
    }
    free(s->ids);
    free(s->recs);
    free(s->types);
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
    saq__optimer_stop(&s->timer);
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
    saq__optimer_stop(&s->timer);
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
    if (saq__status_text_terminal(status) && s->timer)
        sweep_refresh(&s->op);
}

static void sweep_wait(saq__op_t *op)
{
    sweep_op_t *s = (sweep_op_t *)op;
    s->timer = saq__optimer_start(op, s->abort_s, sweep_refresh);
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
    saq__tx_t v = saq__tx_decode(SCRIPT_ABORT, r, NULL);
    if (v == SAQ__TX_REFUSED) { /* not in active any more: not stuck, left alone */
        sweep_advance(op);
        return;
    }
    if (v == SAQ__TX_CHANGED) {
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
    saq__optimer_stop(&s->timer);
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
    if (s->types[s->i]) { /* its key holds no job record: failed, visibly, as a worker's dequeue does */
        sweep_mark_swept(s, id);
        saq__settle_wrong_type(q, id, s->types[s->i]);
        sweep_advance(op);
        return;
    }
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
        if (!(s->timer = saq__optimer_start(op, SWEEP_GRACE_S, sweep_regrace)))
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
    s->types = saq__calloc(n ? n : 1, sizeof *s->types);
    if (!s->ids || !s->recs || !s->reclens || !s->types) {
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
        } else if (p->elements > 1 && saq__tx_key_type(p->element[1])) {
            s->types[s->n] = saq__strdup(saq__tx_key_type(p->element[1]));
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

SAQ_API int saq_queue_sweep(saq_queue_t *q, int lock_s, double abort_s, saq_cq_t *cq, uint64_t tag)
{
    return saq__queue_sweep_ms(q, lock_s < 1 ? 0 : (long long)lock_s * 1000, abort_s, NULL, cq, tag);
}

/* The worker's form: the lock in milliseconds (a little under its period),
 * and the worker's swept_error_message (NULL: the queue's). */
int saq__queue_sweep_ms(saq_queue_t *q, long long lock_ms, double abort_s, const char *swept_msg,
                        saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(sweep_op_t), SAQ_EVENT_SWEEP, cq, tag, sweep_start,
                                   sweep_destroy, &err);
    if (!op)
        return err;
    sweep_op_t *s = (sweep_op_t *)op;
    s->lock_ms = lock_ms;
    s->abort_s = abort_s;
    if (swept_msg && !(s->swept_msg = saq__strdup(swept_msg)))
        saq__event_error(op->ev, SAQ_ENOMEM, "out of memory");
    if (lock_ms < 1)
        saq__event_error(op->ev, SAQ_EINVAL, "sweep lock must be >= 1 second");
    else if (isnan(abort_s) || abort_s < 0)
        saq__event_error(op->ev, SAQ_EINVAL, "sweep abort wait must be >= 0 seconds");
    return saq__op_submit(op);
}
