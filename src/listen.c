/* SPDX-License-Identifier: MIT */
/* saq's Queue.listen: status messages of a set of jobs as events, until the
 * caller stops it (saq_queue_listen_stop, which is saq_queue_cancel, or a
 * callback returning non-zero) or no message came for its idle timeout. */
#include "core.h"

#include <math.h>

typedef struct listen_op {
    saq__op_t op;
    saq__listener_t l;
    char **ids;
    size_t n;
    double timeout_s;
    saq__optimer_t *timer;
} listen_op_t;

static void listen_destroy(saq__op_t *op)
{
    listen_op_t *o = (listen_op_t *)op;
    saq__listen_remove(op->q, &o->l);
    saq__optimer_stop(&o->timer);
    saq__ids_free(o->ids, o->n);
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
    ev->key = saq__strdup(saq__key_of(op->q, id));
    ev->jstatus = saq__strdup(status);
    saq__optimer_restart(o->timer, o->timeout_s);
    saq__op_ref(op);
    int stop = saq__cq_push(op->cq, ev);
    if (stop && !op->done)
        saq__op_complete(op);
    saq__op_unref(op);
}

static void listen_start(saq__op_t *op)
{
    listen_op_t *o = (listen_op_t *)op;
    o->l.owner = o;
    o->l.on_message = listen_message;
    o->l.on_failed = saq__op_sub_failed;
    if (o->timeout_s > 0 && !(o->timer = saq__optimer_start(op, o->timeout_s, listen_idle))) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    if (saq__listen_add(op->q, &o->l, o->ids, o->n))
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
}

SAQ_API int saq_queue_listen(saq_queue_t *q, const char *keys_json, double timeout_s,
                             saq_cq_t *cq, uint64_t tag)
{
    if (isinf(timeout_s) && timeout_s > 0)
        timeout_s = 0; /* no limit */
    int err;
    char e2[200];
    saq__op_t *op = saq__op_create(q, sizeof(listen_op_t), SAQ_EVENT_LISTEN_END, cq, tag,
                                   listen_start, listen_destroy, &err);
    if (!op)
        return err;
    listen_op_t *o = (listen_op_t *)op;
    op->cancel = saq__op_complete; /* a stopped listen ends with SAQ_OK */
    o->timeout_s = timeout_s;
    if (isnan(timeout_s) || timeout_s < 0)
        saq__event_error(op->ev, SAQ_EINVAL, "listen timeout must be >= 0 seconds");
    else if ((err = saq__keys_to_ids(q, keys_json, &o->ids, &o->n, e2, sizeof e2)))
        saq__event_error(op->ev, err, "%s", e2);
    return saq__op_submit(op);
}

SAQ_API int saq_queue_listen_stop(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    return saq_queue_cancel(q, cq, tag);
}
