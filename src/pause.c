/* SPDX-License-Identifier: MIT */
/* Pausing a queue (an extension Python saq ignores): saq_queue_pause,
 * saq_queue_resume and saq_queue_paused set, delete and read the flag
 * saq:<q>:libsaq:paused (the epoch ms it was paused at; in the queue's hash
 * slot); and a worker's watch of that flag: every timers.pause (five times as
 * often while paused) it reads the flag; once paused it takes no more jobs
 * (its blocked dequeue is interrupted, a move that still arrives is given
 * back to the head of the queue, giveback.c: only while no sweep or abort
 * took it meanwhile) and lets its running jobs finish; once
 * resumed it dequeues at once. A worker takes no job before its first read. */
#include "worker.h"

/* ======================================================================== */
/* The queue's operations                                                   */
/* ======================================================================== */

enum { P_PAUSE, P_RESUME, P_READ };

typedef struct pause_op {
    saq__op_t op;
    int what;
} pause_op_t;

static void pause_op_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    int what = ((pause_op_t *)op)->what;
    long long v = 0;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "%s", msg);
        return;
    }
    if (what == P_PAUSE) { /* SET NX: OK when this call set it, nil when it was set */
        op->ev->ival = r && r->type == REDIS_REPLY_STATUS;
    } else if (what == P_RESUME) {
        if (saq__reply_int(r, &v)) {
            saq__op_fail(op, SAQ_EPROTO, "unexpected reply type");
            return;
        }
        op->ev->ival = v > 0;
    } else {
        int set = r && r->type == REDIS_REPLY_STRING;
        op->ev->ival = set;
        double since = 0;
        if (set && saq__json_number(r->str, r->len, &since))
            since = 0;
        op->ev->json = set && since > 0 ? saq__sprintf("{\"paused\": true, \"since_ms\": %.0f}", since)
                       : saq__sprintf("{\"paused\": %s, \"since_ms\": null}", set ? "true" : "false");
        if (!op->ev->json) {
            saq__op_fail(op, SAQ_ENOMEM, "out of memory");
            return;
        }
    }
    saq__op_complete(op);
}

static void pause_op_start(saq__op_t *op)
{
    saq_queue_t *q = op->q;
    int what = ((pause_op_t *)op)->what;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)saq__now_ms());
    const char *set[4] = {"SET", q->k_paused, now, "NX"};
    const char *del[2] = {"DEL", q->k_paused};
    const char *get[2] = {"GET", q->k_paused};
    if (what == P_PAUSE)
        saq__op_cmd(op, pause_op_reply, 0, 4, set, NULL);
    else
        saq__op_cmd(op, pause_op_reply, 0, 2, what == P_RESUME ? del : get, NULL);
}

static int pause_submit(saq_queue_t *q, int what, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(pause_op_t), SAQ_EVENT_PAUSE, cq, tag, pause_op_start,
                                   NULL, &err);
    if (!op)
        return err;
    ((pause_op_t *)op)->what = what;
    return saq__op_submit(op);
}

SAQ_API int saq_queue_pause(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    return pause_submit(q, P_PAUSE, cq, tag);
}

SAQ_API int saq_queue_resume(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    return pause_submit(q, P_RESUME, cq, tag);
}

SAQ_API int saq_queue_paused(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    return pause_submit(q, P_READ, cq, tag);
}

/* ======================================================================== */
/* A worker's watch                                                          */
/* ======================================================================== */

static void watch_tick(uv_timer_t *t);

/* The flag changed for this worker: stop taking jobs, or take them again. */
static void set_paused(saq_worker_t *w, int paused)
{
    int was = w->paused;
    if (paused == was)
        return;
    w->paused = paused;
    if (paused || was == 1)
        saq__log(w->q, SAQ_LOG_INFO, 0, SAQ__LF(SAQ__LS("worker", w->id), SAQ__LS("queue", w->q->set.name)),
                 paused ? "queue %s is paused: the worker takes no more jobs from it"
                        : "queue %s was resumed: the worker takes jobs again",
                 w->q->set.name);
    if (paused) {
        saq__dequeue_unblock(w); /* its move, if one came first, is given back */
        saq__dequeue_pump(w);    /* a burst ends; a member's grant goes to the other queues */
    } else if (w->group) {
        saq__group_wake(w);      /* a slot comes with a grant, and its pump */
    } else {
        saq__dequeue_pump(w);
    }
    saq__worker_poke(w, SAQ__POKE_CHECK);
}

static void watch_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    (void)msg;
    w->pause_reading = 0;
    if (w->group && !w->pause_joined) {
        /* a member joins its group once its first read is answered (even with an error, or
         * stopping: the others must not wait for it), so the queue order holds from the first
         * job (a member that stopped left already: it takes no slot) */
        w->pause_joined = 1;
        saq__group_join(w, 0);
    }
    if (w->attached && !w->stopping) {
        if (!err)
            set_paused(w, r && r->type == REDIS_REPLY_INTEGER && r->integer > 0);
        else if (!saq__conn_lost(err) && w->paused == 2)
            set_paused(w, 0); /* refused (an ACL without the key): never paused */
        double every = w->set.t_pause / (w->paused == 1 ? 5 : 1);
        uv_timer_start(&w->t_pause, watch_tick, err && w->paused == 2 ? 200 : saq__timer_ms(every), 0);
    }
    saq__worker_unref(w);
}

static void watch_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    if (w->pause_reading || !w->attached || w->stopping)
        return;
    saq__worker_ref(w);
    w->pause_reading = 1;
    if (!saq__cmdf(&w->q->cmd, watch_reply, w, "EXISTS %s", w->q->k_paused)) {
        w->pause_reading = 0;
        saq__unref(&w->refs); /* never the last: the loop holds one */
        uv_timer_start(&w->t_pause, watch_tick, 200, 0);
    }
}

int saq__pause_watch(saq_worker_t *w)
{
    if (!(w->set.t_pause > 0)) {
        w->paused = 0; /* timers.pause 0: the flag is never read */
        return 0;
    }
    w->paused = 2; /* not known yet: no job before the first read */
    watch_tick(&w->t_pause);
    return 1;
}
