/* SPDX-License-Identifier: MIT */
/* The enqueues of one turn of a queue's loop in one call (core.h, section
 * enqbatch.c): an enqueue operation ready to send joins the turn's batch; a
 * zero-delay timer (run before the loop next polls, whatever phase the
 * enqueue came from) sends the batch as one ENQUEUES script (one job: its
 * ENQUEUE), and each operation gets its own ENQUEUE's reply. The wire is
 * saq's ENQUEUE per job, in order. The batcher is an attachment of the
 * queue: a teardown drops what it still holds (those operations are then
 * failed with the other pending ones). */
#include "core.h"

typedef struct item {
    saq__op_t *op;
    const saq_job_t *j;
    const char *json;
    size_t len;
    saq__op_reply_fn cb;
} item_t;

struct saq__enqb {
    saq__attachment_t att;
    uv_timer_t timer;
    int closed;         /* torn down: enqueues go alone */
    item_t *items;
    size_t n, cap;
};

typedef struct sent {
    size_t n;
    item_t it[];
} sent_t;

static void sent_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    sent_t *s = req->data;
    for (size_t i = 0; i < s->n; i++) {
        item_t *it = &s->it[i];
        saq__tx_item_t x = saq__tx_item(r, err, msg, s->n, i, "unexpected reply to ENQUEUES");
        if (!it->op->done) /* else completed meanwhile (cancelled, torn down): nothing to tell */
            it->cb(it->op, req, x.r, x.err, x.msg);
        saq__op_unref(it->op); /* the batch's reference */
    }
    free(s);
}

static void send_alone(item_t *it)
{
    saq__call_t c;
    saq__tx_enqueue(it->op->q, it->j, it->json, it->len, &c);
    saq__tx_send_op(it->op, &c, it->cb, 0);
}

/* One ENQUEUES call for items[0 .. n) (n == 1: that job's own ENQUEUE). */
static void send_batch(saq_queue_t *q, item_t *items, size_t n)
{
    if (n == 1) {
        send_alone(&items[0]);
        saq__op_unref(items[0].op); /* the batch's reference (the send took its own) */
        return;
    }
    sent_t *s = saq__malloc(sizeof *s + n * sizeof s->it[0]);
    saq__tx_enqueue_t *a = s ? saq__calloc(n, sizeof *a) : NULL;
    if (!a) { /* out of memory: each on its own */
        free(s);
        for (size_t i = 0; i < n; i++) {
            send_alone(&items[i]);
            saq__op_unref(items[i].op);
        }
        return;
    }
    s->n = n;
    memcpy(s->it, items, n * sizeof s->it[0]);
    for (size_t i = 0; i < n; i++)
        a[i] = (saq__tx_enqueue_t){s->it[i].j, s->it[i].json, s->it[i].len};
    saq__call_t c;
    saq__tx_enqueues(q, a, n, &c);
    free(a);
    if (saq__tx_send(q, &c, sent_reply, s))
        return;
    for (size_t i = 0; i < n; i++) {
        if (!s->it[i].op->done)
            saq__op_fail(s->it[i].op, SAQ_ENOMEM, "out of memory");
        saq__op_unref(s->it[i].op);
    }
    free(s);
}

/* The turn's enqueues, in calls of at most ENQB_MAX_JOBS jobs and about
 * ENQB_MAX_BYTES of records, so that one script never holds Redis (and its
 * query buffer) for long however many callers enqueue at once. */
#define ENQB_MAX_JOBS 100
#define ENQB_MAX_BYTES (1u << 20)

static void flush_cb(uv_timer_t *t)
{
    saq_queue_t *q = t->data;
    saq__enqb_t *b = q->enqb;
    /* taken whole: a completion run by a failed send may enqueue again */
    item_t *items = b->items;
    size_t n = b->n;
    b->items = NULL;
    b->n = b->cap = 0;
    for (size_t i = 0; i < n;) {
        size_t k = 1, bytes = items[i].len;
        while (i + k < n && k < ENQB_MAX_JOBS && bytes + items[i + k].len <= ENQB_MAX_BYTES)
            bytes += items[i + k++].len;
        send_batch(q, items + i, k);
        i += k;
    }
    free(items);
}

static void enqb_closed(uv_handle_t *h) { (void)h; } /* the batcher is freed with the queue */

/* Teardown: what is held goes unsent (its operations are failed with the
 * other pending ones, shut down after this newer attachment). */
static void enqb_shutdown(saq__attachment_t *a)
{
    saq__enqb_t *b = saq__container_of(a, saq__enqb_t, att);
    saq_queue_t *q = b->timer.data;
    saq__loop_detach(q, a);
    b->closed = 1;
    for (size_t i = 0; i < b->n; i++)
        saq__op_unref(b->items[i].op);
    b->n = 0;
    free(b->items);
    b->items = NULL;
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, enqb_closed);
}

static const saq__attachment_vt_t enqb_vt = {NULL, NULL, enqb_shutdown};

void saq__enq_batch(saq__op_t *op, const saq_job_t *j, const char *json, size_t len, saq__op_reply_fn cb)
{
    saq_queue_t *q = op->q;
    saq__enqb_t *b = q->enqb;
    if (!b && (b = saq__calloc(1, sizeof *b))) { /* the first enqueue of this queue */
        uv_timer_init(&q->loop, &b->timer);
        b->timer.data = q;
        q->enqb = b;
        saq__loop_attach(q, &b->att, &enqb_vt);
    }
    if (b && !b->closed && b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        item_t *items = saq__realloc(b->items, cap * sizeof *items);
        if (items)
            b->items = items, b->cap = cap;
    }
    item_t it = {op, j, json, len, cb};
    if (!b || b->closed || b->n == b->cap) { /* out of memory, or torn down: on its own */
        send_alone(&it);
        return;
    }
    op->refs++; /* the batch's, dropped once its reply is handled */
    b->items[b->n++] = it;
    if (b->n == 1)
        uv_timer_start(&b->timer, flush_cb, 0, 0);
}

void saq__enq_batch_free(saq_queue_t *q)
{
    if (q->enqb) {
        free(q->enqb->items);
        free(q->enqb);
        q->enqb = NULL;
    }
}
