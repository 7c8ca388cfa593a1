/* SPDX-License-Identifier: MIT */
/* saq's Queue.batch(): a scope that records every job enqueued on the queue
 * while it is open (through an internal before-enqueue hook, as saq's batch
 * registers one) and aborts them all when the scope fails. */
#include "core.h"

struct saq_batch {
    saq_queue_t *q;
    char **keys;
    size_t n, cap;
    int ended;
};

/* The batch's before-enqueue hook (internal: q->mu held, the job as written). */
static int batch_record(saq_job_t *j, void *ud)
{
    saq_batch_t *b = ud;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        char **k = saq__realloc(b->keys, cap * sizeof *k);
        if (!k)
            return 0;
        b->keys = k;
        b->cap = cap;
    }
    char *c = saq__strdup(j->key);
    if (c)
        b->keys[b->n++] = c;
    return 0;
}

SAQ_API saq_batch_t *saq_queue_batch(saq_queue_t *q)
{
    if (saq__check_handle(q))
        return NULL;
    saq_batch_t *b = saq__calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->q = q;
    saq__ref(&q->refs); /* released by saq_batch_free */
    if (saq__queue_add_hook(q, batch_record, b)) {
        saq__queue_unref(q);
        free(b);
        return NULL;
    }
    return b;
}

SAQ_API size_t saq_batch_size(const saq_batch_t *b)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&b->q->mu);
    size_t n = b->n;
    pthread_mutex_unlock(&b->q->mu);
    return n;
}

static void batch_end(saq_batch_t *b)
{
    saq__queue_remove_hook(b->q, batch_record, b);
    b->ended = 1;
}

typedef struct babort_op {
    saq__op_t op;
    char **keys;
    size_t n, done;
    char *reason;
    saq_cq_t *icq;
    long long aborted;
} babort_op_t;

static void babort_destroy(saq__op_t *op)
{
    babort_op_t *b = (babort_op_t *)op;
    for (size_t i = 0; i < b->n; i++)
        free(b->keys[i]);
    free(b->keys);
    free(b->reason);
    saq_cq_free(b->icq);
}

/* One abort finished (runs on the loop thread: internal callback cq). */
static int babort_one(saq_event_t *ev, void *ud)
{
    babort_op_t *b = ud;
    if (saq_event_status(ev) == SAQ_OK && saq_event_int(ev) > 0)
        b->aborted++;
    saq_event_free(ev);
    if (++b->done == b->n && !b->op.done) {
        b->op.ev->ival = b->aborted;
        saq__op_complete(&b->op);
    }
    saq__op_unref(&b->op);
    return 0;
}

static void babort_start(saq__op_t *op)
{
    babort_op_t *b = (babort_op_t *)op;
    if (!b->n) {
        saq__op_complete(op);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        saq__op_ref(op);
        if (saq_queue_abort(op->q, b->keys[i], b->reason, 5, b->icq, i)) {
            b->done++;
            saq__op_unref(op);
        }
    }
    if (b->done == b->n && !op->done)
        saq__op_complete(op);
}

SAQ_API int saq_batch_abort(saq_batch_t *b, const char *reason, saq_cq_t *cq, uint64_t tag)
{
    if (!b)
        return SAQ_EINVAL;
    int err = saq__check_handle(b->q);
    if (err)
        return err;
    if (!saq__cq_usable(cq))
        return SAQ_EINVAL;
    if (b->ended)
        return SAQ_ESTATE;
    saq__op_t *op = saq__op_new(b->q, sizeof(babort_op_t), SAQ_EVENT_BATCH_ABORT, cq, tag,
                                babort_start, babort_destroy);
    if (!op)
        return SAQ_ENOMEM; /* the scope stays open: the call can be made again */
    batch_end(b);
    babort_op_t *a = (babort_op_t *)op;
    pthread_mutex_lock(&b->q->mu);
    a->keys = b->keys;
    a->n = b->n;
    b->keys = NULL;
    b->n = b->cap = 0;
    pthread_mutex_unlock(&b->q->mu);
    a->reason = saq__strdup(reason ? reason : "cancelled");
    a->icq = saq_cq_new_callback(babort_one, a);
    if (a->icq)
        saq__cq_set_internal(a->icq);
    if (!a->reason || !a->icq)
        saq__event_error(op->ev, SAQ_ENOMEM, "out of memory");
    return saq__op_submit(op);
}

SAQ_API void saq_batch_free(saq_batch_t *b)
{
    if (!b)
        return;
    if (b->q->fork_gen != saq__fork_gen())
        return; /* forked child: the parent's queue is not ours to touch */
    if (!b->ended)
        batch_end(b);
    for (size_t i = 0; i < b->n; i++)
        free(b->keys[i]);
    free(b->keys);
    saq__queue_unref(b->q);
    free(b);
}
