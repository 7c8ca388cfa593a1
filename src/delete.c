/* SPDX-License-Identifier: MIT */
/* saq_queue_delete: delete a job, its record and every entry of it (an
 * extension; saq has no delete). Read the record, then the DELETE script
 * (compare-and-set on the record as read; refused while the id is in
 * `active`). A job that runs is refused unless forced: then it is aborted as
 * saq_queue_abort does (reason "deleted"), the op waits for its record to turn
 * terminal (a status message, or a read once subscribed) or for wait_ms, and
 * deletes it whatever it found. */
#include "core.h"

#define DELETE_REASON "deleted"
#define DELETE_MAX_TRIES 8

typedef struct del_op {
    saq__op_t op;
    char *id, *key;
    int force, wait_ms;
    char *rec; /* the record as last read (NULL: none) */
    size_t reclen;
    int running;  /* its status says it runs (active, aborting) */
    int final;    /* after the abort: delete whatever is found */
    int ended;    /* final: the record turned terminal (or went) */
    int ran;      /* it was aborted while it ran */
    int tries;
    saq__listener_t l;
    char *lid[1];
    int listening;
    saq__optimer_t *timer;
} del_op_t;

static void del_read(saq__op_t *op);

static void del_destroy(saq__op_t *op)
{
    del_op_t *d = (del_op_t *)op;
    if (d->listening)
        saq__listen_remove(op->q, &d->l);
    saq__optimer_stop(&d->timer);
    free(d->id);
    free(d->key);
    free(d->rec);
}

/* Read the record again, at most DELETE_MAX_TRIES times (it kept changing). */
static void del_again(saq__op_t *op)
{
    del_op_t *d = (del_op_t *)op;
    if (++d->tries > DELETE_MAX_TRIES) {
        saq__op_fail(op, SAQ_ETIMEDOUT, "job %s kept changing; delete gave up after %d tries", d->key,
                     DELETE_MAX_TRIES);
        return;
    }
    del_read(op);
}

static void del_refuse(saq__op_t *op)
{
    del_op_t *d = (del_op_t *)op;
    saq__op_fail(op, SAQ_ESTATE, "job %s is running: delete it with force (it is aborted first)", d->key);
}

/* ---- the final step: after the abort, delete whatever is found ---- */

static void del_final(saq__op_t *op)
{
    del_op_t *d = (del_op_t *)op;
    saq__optimer_stop(&d->timer);
    if (d->listening) {
        saq__listen_remove(op->q, &d->l);
        d->listening = 0;
    }
    d->final = 1;
    del_read(op);
}

static void del_checked(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    del_op_t *d = (del_op_t *)op;
    saq_job_t *j = NULL;
    char e2[200];
    (void)req, (void)msg;
    if (!d->timer || d->final)
        return; /* moved on already */
    int e = err ? err : saq__job_from_reply(op->q, r, d->id, &j, e2, sizeof e2);
    if (e == SAQ_ENOTFOUND || (!e && saq__status_terminal(j->status)))
        del_final(op);
    saq_job_free(j);
}

static void del_check(saq__listener_t *l)
{
    del_op_t *d = l->owner;
    /* subscribed: now read, so a status published before the subscription is not missed */
    const char *argv[2] = {"GET", d->id};
    saq__op_cmd(&d->op, del_checked, 0, 2, argv, NULL);
}

static void del_msg(saq__listener_t *l, const char *id, const char *status)
{
    del_op_t *d = l->owner;
    (void)id;
    if (saq__status_text_terminal(status) && d->timer && !d->final)
        del_final(&d->op);
}

/* Wait for the aborted job's worker to end it, at most wait_ms. */
static void del_wait(saq__op_t *op)
{
    del_op_t *d = (del_op_t *)op;
    saq__op_release_permit(op);
    d->ran = 1;
    if (d->wait_ms == 0) {
        del_final(op);
        return;
    }
    if (!(d->timer = saq__optimer_start(op, d->wait_ms / 1000.0, del_final))) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    d->l.owner = d;
    d->l.on_message = del_msg;
    d->l.on_subscribed = del_check;
    d->lid[0] = d->id;
    d->listening = 1;
    if (saq__listen_add(op->q, &d->l, d->lid, 1)) {
        d->listening = 0;
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
    }
}

/* ---- the abort of a job that runs ---- */

static void del_aborted(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    del_op_t *d = (del_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "abort of %s before its delete failed: %s", d->key, msg);
        return;
    }
    saq__tx_t v = op->q->set.dialect == SAQ__DIALECT_013 ? saq__tx_abort013_decode(r, NULL)
                                                         : saq__tx_decode(SCRIPT_ABORT, r, NULL);
    if (v == SAQ__TX_CHANGED)
        del_again(op);
    else if (v == SAQ__TX_DEQUEUED) /* it was waiting after all: nothing runs it */
        del_final(op);
    else if (v == SAQ__TX_OK)
        del_wait(op);
    else
        saq__op_fail(op, SAQ_EPROTO, "unexpected abort reply");
}

static void del_abort(saq__op_t *op)
{
    del_op_t *d = (del_op_t *)op;
    saq_queue_t *q = op->q;
    saq_job_t *j = op->ev->job;
    int ttl = 5 + d->wait_ms / 1000; /* the marker outlives the wait */
    if (!j || j->status == SAQ_STATUS_ABORTING) { /* unreadable, or aborting already: wait */
        del_wait(op);
        return;
    }
    if (q->set.dialect == SAQ__DIALECT_013) {
        saq__tx_abort013_op(op, d->id, d->key, ttl, DELETE_REASON, del_aborted);
        return;
    }
    /* watched as saq_queue_abort's: if no live worker ends it, a libsaq worker
     * finishes it aborted (and the delete drops it from the watch) */
    saq__abort_send(op, j, d->id, d->rec, d->reclen, DELETE_REASON, ttl, d->wait_ms + 2000.0, del_aborted);
}

/* ---- read, then delete ---- */

static void del_deleted(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    del_op_t *d = (del_op_t *)op;
    saq__tx_reply_t x;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "delete of %s failed: %s", d->key, msg);
        return;
    }
    switch (saq__tx_decode(SCRIPT_DELETE, r, &x)) {
    case SAQ__TX_CHANGED:
        del_again(op);
        return;
    case SAQ__TX_REFUSED: /* handed to a worker */
        if (d->force)
            del_abort(op);
        else
            del_refuse(op);
        return;
    case SAQ__TX_OK:
    case SAQ__TX_DEQUEUED:
        if (!d->rec && !d->final) {
            op->ev->ival = x.n;
            saq__op_fail(op, SAQ_ENOTFOUND, "job %s not found", d->key);
            return;
        }
        op->ev->ival = !d->ran ? 1 : d->ended ? 2 : 3;
        saq__op_complete(op);
        return;
    default:
        saq__op_fail(op, SAQ_EPROTO, "unexpected delete reply");
    }
}

static void del_got(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    del_op_t *d = (del_op_t *)op;
    char e2[300];
    (void)req;
    if (err) {
        saq__op_fail(op, err, "cannot read job %s: %s", d->key, msg);
        return;
    }
    free(d->rec);
    d->rec = NULL;
    d->reclen = 0;
    d->running = 0;
    if (r->type == REDIS_REPLY_STRING) {
        if (!(d->rec = saq__strndup(r->str, r->len))) {
            saq__op_fail(op, SAQ_ENOMEM, "out of memory");
            return;
        }
        d->reclen = r->len;
    }
    saq_job_t *j = NULL;
    /* an unreadable record is deleted all the same (whether it runs: `active` tells) */
    if (!saq__job_from_reply(op->q, r, d->id, &j, e2, sizeof e2)) {
        saq_job_free(op->ev->job);
        op->ev->job = j;
        d->running = j->status == SAQ_STATUS_ACTIVE || j->status == SAQ_STATUS_ABORTING;
    }
    int terminal = j && saq__status_terminal(j->status);
    if (d->final)
        d->ended = !d->rec || terminal;
    else if (d->running && !d->force) {
        del_refuse(op);
        return;
    } else if (d->running) {
        del_abort(op);
        return;
    }
    saq__call_t c;
    /* a finished job's stale entry of `active` does not make it run */
    saq__tx_delete(op->q, d->id, d->key, d->rec, d->reclen, !d->final && !terminal, !d->final || d->ended,
                   &c);
    saq__tx_send_op(op, &c, del_deleted, 0);
}

static void del_read(saq__op_t *op)
{
    del_op_t *d = (del_op_t *)op;
    const char *argv[2] = {"GET", d->id};
    saq__op_cmd(op, del_got, 0, 2, argv, NULL);
}

static void del_start(saq__op_t *op) { saq__op_with_permit(op, del_read); }

SAQ_API int saq_queue_delete(saq_queue_t *q, const char *key, int force, int wait_ms, saq_cq_t *cq,
                             uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(del_op_t), SAQ_EVENT_DELETE, cq, tag, del_start,
                                   del_destroy, &err);
    if (!op)
        return err;
    del_op_t *d = (del_op_t *)op;
    d->force = force != 0;
    d->wait_ms = wait_ms;
    if (!key || !*key)
        saq__event_error(op->ev, SAQ_EINVAL, "job key must be a non-empty string");
    else if (wait_ms < 0 || wait_ms > 3600000)
        saq__event_error(op->ev, SAQ_EINVAL, "wait_ms must be 0..3600000, got %d", wait_ms);
    else if (!(d->id = saq__id_of(q, key)) || !(d->key = saq__strdup(key)) ||
             !(op->ev->key = saq__strdup(key)))
        saq__event_error(op->ev, SAQ_ENOMEM, "out of memory");
    return saq__op_submit(op);
}
