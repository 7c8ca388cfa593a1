/* SPDX-License-Identifier: MIT */
/* The operation framework: one completion per operation, exactly once. An
 * operation is built on the caller's thread, posted to the I/O thread, takes
 * an optional throttle permit (saq's max_concurrent_ops), issues requests
 * bound to it and ends with its event pushed to its completion queue.
 * saq_queue_cancel stops a cancellable one (listen, apply, map, an enqueue
 * waiting for its permit) by (cq, tag);
 * a teardown fails those still pending. */
#include "core.h"

static void op_run(saq_queue_t *q, saq__msg_t *m)
{
    saq__op_t *op = (saq__op_t *)m;
    saq__list_push_back(&q->ops, &op->link); /* oldest first */
    if (op->ev->status || !op->start)
        saq__op_complete(op);
    else
        op->start(op);
}

saq__op_t *saq__op_new(saq_queue_t *q, size_t size, int type, saq_cq_t *cq, uint64_t tag,
                       void (*start)(saq__op_t *), void (*destroy)(saq__op_t *))
{
    saq__op_t *op = saq__calloc(1, size);
    if (!op)
        return NULL;
    op->ev = saq__event_new(type, tag);
    if (!op->ev) {
        free(op);
        return NULL;
    }
    op->q = q;
    op->cq = cq;
    op->tag = tag;
    op->refs = 1;
    op->start = start;
    op->destroy = destroy;
    op->msg.run = op_run;
    saq__cq_ref(cq);
    return op;
}

static void op_free(saq__op_t *op)
{
    if (op->destroy)
        op->destroy(op);
    saq_event_free(op->ev);
    if (op->cq)
        saq__cq_unref(op->cq);
    free(op);
}

int saq__op_submit(saq__op_t *op)
{
    saq_queue_t *q = op->q;
    int e = saq__check_handle(q);
    if (!e && !saq__cq_usable(op->cq))
        e = SAQ_EINVAL;
    if (!e) {
        op->counted = !saq__cq_internal(op->cq);
        if (op->counted) {
            pthread_mutex_lock(&q->mu);
            q->inflight++;
            pthread_mutex_unlock(&q->mu);
        }
        e = saq__post(q, &op->msg);
        if (e && op->counted) {
            pthread_mutex_lock(&q->mu);
            q->inflight--;
            pthread_cond_broadcast(&q->cv);
            pthread_mutex_unlock(&q->mu);
            op->counted = 0;
        }
    }
    if (e)
        op_free(op);
    return e;
}

void saq__op_ref(saq__op_t *op) { op->refs++; }

void saq__op_unref(saq__op_t *op)
{
    if (--op->refs == 0)
        op_free(op);
}

static void permit_granted(saq__twaiter_t *w)
{
    saq__op_t *op = (saq__op_t *)((char *)w - offsetof(saq__op_t, tw));
    op->permit = 1;
    op->granted(op);
}

void saq__op_with_permit(saq__op_t *op, void (*fn)(saq__op_t *op))
{
    op->granted = fn;
    op->tw.grant = permit_granted;
    if (saq__throttle_acquire(&op->q->throttle, &op->tw)) {
        op->permit = 1;
        fn(op);
    } else {
        op->permit = -1;
    }
}

void saq__op_release_permit(saq__op_t *op)
{
    if (op->permit == 1) {
        op->permit = 0;
        saq__throttle_release(&op->q->throttle);
    } else if (op->permit == -1) {
        op->permit = 0;
        saq__throttle_cancel(&op->q->throttle, &op->tw);
    }
}

void saq__op_complete(saq__op_t *op)
{
    if (op->done)
        return;
    op->done = 1;
    saq_queue_t *q = op->q;
    saq__op_release_permit(op);
    saq__list_remove(&op->link);
    saq_event_t *ev = op->ev;
    op->ev = NULL;
    saq__cq_push(op->cq, ev);
    saq__cq_unref(op->cq);
    op->cq = NULL;
    if (op->counted) {
        pthread_mutex_lock(&q->mu);
        q->inflight--;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        op->counted = 0;
    }
    saq__op_unref(op);
}

void saq__op_fail(saq__op_t *op, int err, const char *fmt, ...)
{
    if (op->done)
        return;
    op->ev->status = err;
    va_list ap;
    va_start(ap, fmt);
    saq__set_vfmt(&op->ev->errmsg, fmt, ap);
    va_end(ap);
    saq__op_complete(op);
}

static void op_tramp(saq__req_t *req, redisReply *reply, int err, const char *msg)
{
    saq__op_t *op = req->data;
    saq__op_reply_fn fn = (saq__op_reply_fn)req->aux;
    if (!op->done)
        fn(op, req, reply, err, msg);
    saq__op_unref(op);
}

/* Bind a request just issued with op_tramp (which took a reference on the
 * op) to its callback; NULL r: out of memory, the op fails. */
static saq__req_t *op_bind(saq__op_t *op, saq__req_t *r, saq__op_reply_fn cb, intptr_t idata)
{
    if (!r) {
        op->refs--;
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return NULL;
    }
    r->aux = (void *)cb;
    r->idata = idata;
    return r;
}

saq__req_t *saq__op_cmd(saq__op_t *op, saq__op_reply_fn cb, intptr_t idata, int argc,
                        const char **argv, const size_t *argvlen)
{
    op->refs++;
    return op_bind(op, saq__cmd(&op->q->cmd, op_tramp, op, 0, argc, argv, argvlen), cb, idata);
}

saq__req_t *saq__op_eval(saq__op_t *op, int script, saq__op_reply_fn cb, intptr_t idata, int nkeys,
                         int nargs, const char **argv, const size_t *argvlen)
{
    op->refs++;
    return op_bind(op, saq__eval(&op->q->cmd, script, op_tramp, op, nkeys, nargs, argv, argvlen),
                   cb, idata);
}

saq__op_t *saq__op_create(saq_queue_t *q, size_t size, int type, saq_cq_t *cq, uint64_t tag,
                          void (*start)(saq__op_t *), void (*destroy)(saq__op_t *), int *err)
{
    *err = saq__check_handle(q);
    if (!*err && !saq__cq_usable(cq))
        *err = SAQ_EINVAL;
    if (*err)
        return NULL;
    saq__op_t *op = saq__op_new(q, size, type, cq, tag, start, destroy);
    if (!op)
        *err = SAQ_ENOMEM;
    return op;
}

int saq__reply_int(const redisReply *r, long long *v)
{
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return -1;
    *v = r->integer;
    return 0;
}

/* ---- cancel ---- */

typedef struct cancel_msg {
    saq__msg_t msg;
    saq_cq_t *cq;
    uint64_t tag;
} cancel_msg_t;

static void cancel_run(saq_queue_t *q, saq__msg_t *m)
{
    cancel_msg_t *c = (cancel_msg_t *)m;
    /* q->ops is oldest first: the first match is the oldest still pending */
    saq__link_t *k;
    saq__list_each(k, &q->ops) {
        saq__op_t *op = saq__container_of(k, saq__op_t, link);
        if (op->cancel && op->cq == c->cq && op->tag == c->tag && !op->done) {
            op->cancel(op);
            break;
        }
    }
    saq__cq_unref(c->cq);
    free(c);
}

SAQ_API int saq_queue_cancel(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    int err = saq__check_handle(q);
    if (err)
        return err;
    if (!cq)
        return SAQ_EINVAL;
    cancel_msg_t *c = saq__calloc(1, sizeof *c);
    if (!c)
        return SAQ_ENOMEM;
    c->msg.run = cancel_run;
    c->cq = cq;
    c->tag = tag;
    saq__cq_ref(cq);
    if ((err = saq__post(q, &c->msg))) {
        saq__cq_unref(cq);
        free(c);
    }
    return err;
}

/* ---- timers bound to an operation ---- */

struct saq__optimer {
    uv_timer_t t;
    saq__op_t *op;
    void (*fn)(saq__op_t *op);
};

static void optimer_cb(uv_timer_t *t)
{
    saq__optimer_t *ot = t->data;
    if (!ot->op->done)
        ot->fn(ot->op);
}

static void optimer_closed(uv_handle_t *h) { free(h->data); }

saq__optimer_t *saq__optimer_start(saq__op_t *op, double seconds, void (*fn)(saq__op_t *op))
{
    saq__optimer_t *ot = saq__calloc(1, sizeof *ot);
    if (!ot)
        return NULL;
    ot->op = op;
    ot->fn = fn;
    uv_timer_init(&op->q->loop, &ot->t);
    ot->t.data = ot;
    uv_timer_start(&ot->t, optimer_cb, saq__timer_ms(seconds), 0);
    return ot;
}

void saq__optimer_restart(saq__optimer_t *ot, double seconds)
{
    if (ot)
        uv_timer_start(&ot->t, optimer_cb, saq__timer_ms(seconds), 0);
}

void saq__optimer_stop(saq__optimer_t **pot)
{
    if (*pot) {
        uv_timer_stop(&(*pot)->t);
        uv_close((uv_handle_t *)&(*pot)->t, optimer_closed);
        *pot = NULL;
    }
}

/* ---- operations that wait on a subscription ---- */

/* The pub/sub connection failed before the subscription was made (a
 * listen, apply or map waiting for it): the operation fails as a command
 * waiting for a connection does. Once subscribed, a lost connection is
 * recovered instead (re-subscribed; the operation's timeout bounds it). */
void saq__op_sub_failed(saq__listener_t *l, int err, const char *msg)
{
    saq__op_t *op = l->owner;
    if (!op->done)
        saq__op_fail(op, err, "cannot subscribe to job updates: %s", msg);
}

/* ---- the pending operations at teardown ---- */

static void pending_shutdown(saq__attachment_t *a)
{
    saq_queue_t *q = saq__container_of(a, saq_queue_t, ops_att);
    while (!saq__list_empty(&q->ops))
        saq__op_fail(saq__list_first_entry(&q->ops, saq__op_t, link), SAQ_ECLOSED, "queue closed");
}

static const saq__attachment_vt_t pending_vt = {NULL, NULL, pending_shutdown};

void saq__op_attach_pending(saq_queue_t *q)
{
    saq__list_init(&q->ops);
    saq__loop_attach(q, &q->ops_att, &pending_vt);
}
