/* SPDX-License-Identifier: MIT */
/* Taking jobs (spec 4.1-4.2): the pump fills the worker's free slots with
 * one DEQUEUE script (LMOVE queued -> active, with the records), and when the
 * queue is drained blocks on a dedicated connection (BLMOVE). Each job moved
 * is marked active by MARK, which refuses jobs swept or aborted after the
 * move (#277, U13) and duplicates already running elsewhere (U1), and is
 * then handed to its lease. A blocked dequeue is interrupted with CLIENT
 * UNBLOCK, so no move is ever lost (U9); moves that arrive while stopping
 * (or paused) are given back to the head of `queued` (giveback.c: only while
 * no sweep or abort took them meanwhile). A member of a multi-queue worker
 * (group.c) dequeues the slots its group grants it, and blocks without a
 * slot: a move that finds the shared budget full is given back too. Jobs a
 * rate or concurrency limit applies to take their slots before they are
 * marked (limit.c); the pump waits while the queue's limit is full. */
#include "worker.h"

static void mark_reply(saq__req_t *req, redisReply *r, int err, const char *msg);

/* The record MARK writes (kept for a resend): 0, or -1 when the lease was
 * settled unreadable or abandoned instead. */
static int mark_ready(saq__lease_t *l)
{
    saq_queue_t *q = l->w->q;
    int e;
    if (!l->mark_json && !(l->mark_json = saq__dump_job(q, &l->shadow, &l->mark_len, &e))) {
        if (e == SAQ_ETOOBIG && l->dequeued) /* readable, but too large once marked */
            saq__settle_unreadable(q, l->shadow.id, l->dequeued, l->dequeued_len,
                                   "it is too large to mark active under max_payload_bytes");
        saq__lease_abandon(l); /* else it stays in active; the liveness check puts it back */
        return -1;
    }
    return 0;
}

static saq__tx_mark_t mark_args(const saq__lease_t *l, int opaque)
{
    return (saq__tx_mark_t){.id = l->shadow.id, .key = l->shadow.key, .json = l->mark_json,
                            .len = l->mark_len, .dequeued = l->dequeued,
                            .dequeued_len = l->dequeued_len, .opaque = opaque,
                            .resent = l->mark_tries > 0};
}

static void send_mark(saq__lease_t *l, int opaque)
{
    saq_queue_t *q = l->w->q;
    if (mark_ready(l))
        return;
    saq__call_t c;
    saq__tx_mark_t a = mark_args(l, opaque);
    saq__tx_mark(q, &a, &c);
    saq__lease_ref(l); /* the request's: a teardown may drop the list's first */
    if (!saq__tx_send(q, &c, mark_reply, l)) {
        saq__unref(&l->refs); /* never the last: the list holds one */
        saq__lease_abandon(l);
    }
}

static void remark_cb(uv_timer_t *t) { send_mark(t->data, 0); }

static void mark_reply_run(saq__lease_t *l, redisReply *r, int err);

static void mark_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq__lease_t *l = req->data;
    (void)msg;
    if (l->state != SAQ__LEASE_DETACHED) /* else the queue's teardown already dropped the lease */
        mark_reply_run(l, r, err);
    saq__lease_unref(l); /* the request's reference */
}

static void mark_reply_run(saq__lease_t *l, redisReply *r, int err)
{
    saq_worker_t *w = l->w;
    saq_queue_t *q = w->q;
    saq__tx_reply_t x;
    if (saq__conn_lost(err) && l->mark_tries < 20 && !w->stopping) {
        /* the reply was lost with the connection: the mark may or may not have
         * happened; sending the same MARK again finds out (it is idempotent) */
        l->mark_tries++;
        saq__lease_timer(l, 0.25, remark_cb);
        return;
    }
    saq__tx_t v = err ? SAQ__TX_NONE : saq__tx_decode(SCRIPT_MARK, r, &x);
    if (v == SAQ__TX_NONE) {
        /* unknown outcome: the liveness check recovers the job from active
         * (its passes go on for a while from now) */
        w->errors++;
        saq__worker_lost_move(w);
        saq__lease_abandon(l);
        return;
    }
    if (v == SAQ__TX_OK) {
        l->guard.expect = l->mark_json; /* the record as this lease wrote it */
        l->guard.expect_len = l->mark_len;
        saq__lease_run(l);
        return;
    }
    if (v == SAQ__TX_OPAQUE) { /* Lua could not decode the record: mark without the status check */
        send_mark(l, 1);
        return;
    }
    if (v == SAQ__TX_ABORTED) {
        /* aborted between the move and the mark (U13): finish it aborted, once */
        saq_job_t *cur = NULL;
        char e2[200];
        if (saq__job_from_reply(q, x.record, l->shadow.id, &cur, e2, sizeof e2) == 0) {
            saq__job_clear(&l->shadow);
            saq__job_copy(&l->shadow, cur);
            saq_job_free(cur);
        }
        /* the reason: the 0.13 abort marker's text when it was one, else
         * the record's error */
        saq__lease_finish_aborted(l, x.text ? x.text : l->shadow.error ? l->shadow.error : "abort");
        return;
    }
    /* TAKEN: running elsewhere or finished (MARK dropped our stale entry of
     * `active` where it was one); REFUSED: swept or removed meanwhile */
    saq__lease_abandon(l); /* not ours to run (#277) */
}

/* ---- the marks of a dequeued batch, in one MARKS call ---- */

typedef struct marks {
    size_t n;
    saq__lease_t *l[];
} marks_t;

static void marks_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    marks_t *m = req->data;
    for (size_t i = 0; i < m->n; i++) {
        saq__lease_t *l = m->l[i];
        saq__tx_item_t it = saq__tx_item(r, err, msg, m->n, i, "unexpected reply to MARKS");
        if (l->state != SAQ__LEASE_DETACHED) /* each as its own MARK's reply */
            mark_reply_run(l, it.r, it.err);
        saq__lease_unref(l); /* the request's reference */
    }
    free(m);
}

/* Mark leases ls[0 .. n) active: one MARKS call for all of them (a lease
 * whose mark is answered by a lost connection is marked again on its own). */
static void send_marks(saq__lease_t **ls, size_t n)
{
    marks_t *m = n > 1 ? saq__calloc(1, sizeof *m + n * sizeof m->l[0]) : NULL;
    saq__tx_mark_t *a = m ? saq__calloc(n, sizeof *a) : NULL;
    if (!a) { /* one lease (or out of memory): one MARK each */
        for (size_t i = 0; i < n; i++)
            send_mark(ls[i], 0);
        free(m);
        return;
    }
    saq_queue_t *q = ls[0]->w->q;
    for (size_t i = 0; i < n; i++)
        if (!mark_ready(ls[i])) {
            a[m->n] = mark_args(ls[i], 0);
            m->l[m->n++] = ls[i];
        }
    saq__call_t c;
    if (m->n)
        saq__tx_marks(q, a, m->n, &c);
    free(a);
    if (!m->n) {
        free(m);
        return;
    }
    for (size_t i = 0; i < m->n; i++)
        saq__lease_ref(m->l[i]); /* the request's: a teardown may drop the list's first */
    if (!saq__tx_send(q, &c, marks_reply, m)) {
        for (size_t i = 0; i < m->n; i++) {
            saq__unref(&m->l[i]->refs); /* never the last: the list holds one */
            saq__lease_abandon(m->l[i]);
        }
        free(m);
    }
}

static void dup_entry_done(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    (void)r, (void)err, (void)msg;
    saq__slots_put(w, 1);
    saq__dequeue_pump(w);
    saq__worker_poke(w, SAQ__POKE_CHECK);
    saq__worker_unref(w);
}

/* A dequeued id with its record: build the lease (the caller gates it, then
 * marks it active). NULL when there is nothing to mark. */
/* A moved id whose key holds no job record (a hash, a list...; `type` NULL:
 * not known): settled failed, visibly, the key kept, instead of dropped
 * unseen; its slot goes back. */
static void settle_wrong_type(saq_worker_t *w, const char *id, size_t len, const char *type)
{
    char *c = saq__strndup(id, len);
    w->errors++;
    if (c)
        saq__settle_wrong_type(w->q, c, type);
    free(c);
    saq__slots_put(w, 1);
}

static saq__lease_t *start_job(saq_worker_t *w, redisReply *idr, redisReply *rec)
{
    saq_queue_t *q = w->q;
    char e2[240];
    if (idr && idr->type == REDIS_REPLY_STRING && rec && rec->type == REDIS_REPLY_ARRAY) { /* DEQUEUE's {type} */
        settle_wrong_type(w, idr->str, idr->len, saq__tx_key_type(rec));
        return NULL;
    }
    if (!idr || idr->type != REDIS_REPLY_STRING || !rec || rec->type != REDIS_REPLY_STRING) {
        /* record missing: leave the id in active, the sweeper drops it (saq 3.3) */
        saq__slots_put(w, 1);
        return NULL;
    }
    char *id = saq__strndup(idr->str, idr->len);
    if (id && saq__lease_find(w, id, 1)) {
        /* the same job twice in `queued` (saq's U1): this worker already holds
         * it, so this move is a stale duplicate entry: drop it from active.
         * Not when that lease's outcome went out: its RETRY (whose reply may
         * be lost, the lease waiting to confirm it) put the job back in
         * `queued`, and the DEQUEUE right behind it (the slot went back when
         * the RETRY was sent) may move it: a new run, not a duplicate, and
         * dropping it would strand the job (queued, in no list). MARK tells
         * a stale entry from a run by the record. */
        if (!saq__cmdf(&q->cmd, dup_entry_done, w, "LREM %s 1 %s", q->k_active, id))
            saq__slots_put(w, 1);
        else
            saq__worker_ref(w);
        free(id);
        return NULL;
    }
    free(id);
    saq_job_t shadow;
    saq__job_init(&shadow);
    char *rid = saq__strndup(idr->str, idr->len);
    int e = !rid ? SAQ_ENOMEM
            : rec->len > q->set.max_payload
                ? (snprintf(e2, sizeof e2, "it is larger than max_payload_bytes (%zu bytes)", q->set.max_payload),
                   SAQ_ETOOBIG)
                : saq__load_job(q, rid, rec->str, rec->len, &shadow, e2, sizeof e2);
    free(rid);
    if (e || !shadow.key) {
        saq__job_clear(&shadow);
        w->errors++;
        if (e == SAQ_ENOMEM) { /* not the record's fault: put it back for later */
            saq__give_back(w, idr->str, idr->len, rec->str, rec->len, 1);
            return NULL;
        }
        /* a record this worker cannot use (not JSON, another transform, too
         * large, not a job): settle it failed, visibly, never leave it in active */
        id = saq__strndup(idr->str, idr->len);
        if (id)
            saq__settle_unreadable(q, id, rec->str, rec->len, e ? e2 : "the record has no key");
        free(id);
        saq__slots_put(w, 1);
        return NULL;
    }
    free(shadow.id);
    shadow.id = saq__strndup(idr->str, idr->len);
    saq__lease_t *l = saq__lease_new(w, &shadow, rec->str, rec->len);
    if (!l) {
        saq__job_clear(&shadow);
        saq__give_back(w, idr->str, idr->len, rec->str, rec->len, 1); /* out of memory: put it back for later */
        return NULL;
    }
    w->burst_taken++;
    return l;
}

/* ---- rate limits and global concurrency (limit.c) ---- */

typedef struct gate {
    saq_worker_t *w;
    size_t n;
    saq__lease_t *l[];
} gate_t;

static void gate_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    gate_t *g = req->data;
    saq_worker_t *w = g->w;
    (void)msg;
    w->limit_pending--;
    if (saq__conn_lost(err))
        saq__worker_lost_move(w);
    for (size_t i = 0; i < g->n; i++) {
        saq__lease_t *l = g->l[i];
        if (l->state != SAQ__LEASE_DETACHED) {
            int code = err ? -1 : saq__limit_reply(w, r, g->n, i, l);
            if (code == SAQ__LIMIT_TAKEN) {
                send_mark(l, 0);
            } else {
                if (code < 0) { /* unknown: it may hold slots (freed now) and stay in active,
                                 * where the liveness check finds it */
                    const saq__limit_t *ql = saq__limit_find(w, NULL);
                    const saq__limit_t *fl = l->shadow.function ? saq__limit_find(w, l->shadow.function) : NULL;
                    l->limit_held |= (ql && ql->max_running ? SAQ__LIMIT_HELD_QUEUE : 0) |
                                     (fl && fl->max_running ? SAQ__LIMIT_HELD_FN : 0);
                    w->errors++;
                }
                w->burst_taken--; /* not taken: max_burst_jobs counts the jobs run */
                saq__lease_abandon(l); /* back in queued, deferred, or gone: not ours */
            }
        }
        saq__lease_unref(l);
    }
    free(g);
    saq__worker_poke(w, SAQ__POKE_PUMP | SAQ__POKE_CHECK);
    saq__worker_unref(w);
}

/* Mark the leases of a dequeued batch (in dequeue order; NULL entries
 * skipped): those a limit applies to take their slots first, in one script. */
static void gate(saq_worker_t *w, saq__lease_t **ls, size_t n)
{
    gate_t *g = NULL;
    size_t k = 0, nfree = 0;
    saq__lease_t *one, **unlimited = n > 1 ? saq__calloc(n, sizeof *unlimited) : &one;
    for (size_t i = 0; i < n; i++) {
        if (!ls[i])
            continue;
        if (!saq__limit_applies(w, ls[i])) {
            if (unlimited)
                unlimited[nfree++] = ls[i];
            else
                send_mark(ls[i], 0); /* out of memory for the batch: one by one */
            continue;
        }
        if (!g && !(g = saq__calloc(1, sizeof *g + n * sizeof g->l[0]))) {
            send_mark(ls[i], 0); /* out of memory: unlimited rather than stuck */
            continue;
        }
        g->l[k++] = ls[i];
    }
    if (nfree)
        send_marks(unlimited, nfree);
    if (unlimited != &one)
        free(unlimited);
    if (!g)
        return;
    g->w = w;
    g->n = k;
    if (!saq__limit_take(w, g->l, k, gate_reply, g)) {
        for (size_t i = 0; i < k; i++)
            saq__lease_abandon(g->l[i]); /* out of memory: the liveness check puts them back */
        free(g);
        return;
    }
    for (size_t i = 0; i < k; i++)
        saq__lease_ref(g->l[i]); /* the request's: a teardown may drop the list's */
    saq__worker_ref(w);
    w->limit_pending++;
}

static void retry_pump_cb(uv_timer_t *t) { saq__dequeue_pump(t->data); }

static void probe_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    (void)msg;
    w->limit_pending--;
    if (err || saq__limit_room_reply(w, err ? NULL : r) < 0) {
        w->errors += !err;
        if (!w->stopping) /* connection trouble or a bad answer: back off a little */
            uv_timer_start(&w->t_retry, retry_pump_cb, 200 + (uint64_t)(saq__random01() * 300), 0);
    } else {
        saq__dequeue_pump(w);
    }
    saq__worker_poke(w, SAQ__POKE_CHECK);
    saq__worker_unref(w);
}

/* Ask the queue's limit for its room without taking a job (a LIMIT for no
 * job): a worker waiting on a full limit moves no job back and forth. */
static void limit_probe(saq_worker_t *w)
{
    saq__worker_ref(w);
    if (saq__limit_take(w, NULL, 0, probe_reply, w))
        w->limit_pending++;
    else
        saq__unref(&w->refs); /* never the last: the caller holds one */
}

static void get_after_move(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    redisReply idr = {.type = REDIS_REPLY_STRING, .str = (char *)req->aux, .len = strlen((char *)req->aux)};
    if ((w->stopping || w->paused) && !err && r && r->type == REDIS_REPLY_STRING) {
        saq__give_back(w, idr.str, idr.len, r->str, r->len, 1); /* stopping, or its queue was paused meanwhile */
    } else if (err == SAQ_EREDIS && msg && !strncmp(msg, "WRONGTYPE", 9)) {
        settle_wrong_type(w, idr.str, idr.len, NULL); /* GET does not say which type */
    } else {
        saq__lease_t *l = start_job(w, &idr, err ? NULL : r);
        gate(w, &l, 1);
    }
    free(req->aux);
    req->aux = NULL;
    saq__dequeue_pump(w);
    saq__worker_poke(w, SAQ__POKE_CHECK);
    saq__worker_unref(w);
}

/* The burst is over (nothing more to take): a group member's slots go to the
 * other queues. */
static void burst_end(saq_worker_t *w)
{
    w->burst_done = 1;
    saq__group_leave(w);
}

static void blmove_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    saq_queue_t *q = w->q;
    (void)msg;
    w->blocking = 0;
    saq__debug("worker: BLMOVE -> %s %s", err ? saq_err_name(err) : "ok", msg ? msg : "");
    if (err || !r || r->type != REDIS_REPLY_STRING) {
        if (saq__conn_lost(err))
            saq__worker_lost_move(w);
        if (!w->group) /* a group member blocks without a slot */
            saq__slots_put(w, 1);
        if (err && !w->stopping) /* connection trouble: back off a little */
            uv_timer_start(&w->t_retry, retry_pump_cb, 200 + (uint64_t)(saq__random01() * 300), 0);
        else if (!err && w->set.burst)
            burst_end(w); /* nothing dequeued: burst mode ends */
        else
            saq__dequeue_pump(w);
        saq__worker_poke(w, SAQ__POKE_CHECK);
        saq__worker_unref(w);
        return;
    }
    if (w->group && (w->stopping || w->paused || !saq__group_take_one(w))) {
        /* a group member's move with no free slot in the shared budget (or
         * while stopping): back to the head of its queue; the member waits,
         * hungry, for a slot the queue order gives it */
        saq__give_back(w, r->str, r->len, NULL, 0, 0);
        saq__worker_poke(w, SAQ__POKE_CHECK);
        saq__worker_unref(w);
        return;
    }
    /* we own this move now, even when stopping: fetch the record and run it
     * (saq U9 loses such moves) */
    char *id = saq__strndup(r->str, r->len);
    const char *argv[2] = {"GET", id ? id : ""};
    saq__req_t *g = id ? saq__cmd(&q->cmd, get_after_move, w, 0, 2, argv, NULL) : NULL;
    if (g) {
        g->aux = id;
        return; /* keeps the worker ref */
    }
    free(id);
    saq__slots_put(w, 1);
    saq__worker_unref(w);
}

/* The queue is drained: block for the next job on the dedicated connection.
 * A worker of one queue reserves a slot for it; a group member holds none
 * (its move takes one when it comes, or is given back). */
static void block_dequeue(saq_worker_t *w)
{
    if (w->blocking || w->paused || (!w->group && w->slots >= w->set.concurrency))
        return;
    if (w->limit_pending && saq__limit_find(w, NULL))
        return; /* the queue's limit answers first (its reply pumps again) */
    double t = w->set.dequeue_timeout;
    char ts[40];
    saq__fmt_double(ts, t);
    const char *argv[6] = {"BLMOVE", w->q->k_queued, w->q->k_active, "LEFT", "RIGHT", ts};
    const char *argv2[4] = {"BRPOPLPUSH", w->q->k_queued, w->q->k_active, ts};
    int tmo = t > 0 ? (int)(t * 1000) + w->q->set.command_timeout_ms : -1;
    w->blocking = 1;
    if (!w->group)
        w->slots++;
    saq__worker_ref(w);
    saq__req_t *b = w->q->have_lmove || !w->q->server_version
                        ? saq__cmd(&w->block, blmove_reply, w, tmo, 6, argv, NULL)
                        : saq__cmd(&w->block, blmove_reply, w, tmo, 4, argv2, NULL);
    if (!b) {
        w->blocking = 0;
        if (!w->group)
            w->slots--;
        saq__unref(&w->refs); /* never the last: the caller holds one */
    }
}

static void dequeue_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    int asked = (int)req->idata;
    w->dequeuing--;
    saq__debug("worker: DEQUEUE(%d) -> %s %s slots=%d", asked, err ? saq_err_name(err) : "ok", msg ? msg : "", w->slots);
    size_t pairs = err ? 0 : saq__tx_dequeued(r);
    int drained = (int)pairs < asked;
    /* a group member found its queue empty (or unreachable: it backs off
     * blocking): first, so the slots it did not fill go to the other queues */
    if (w->group && drained && !w->stopping)
        saq__group_empty(w);
    saq__slots_put(w, asked - (int)pairs); /* give back what was not filled */
    if (w->stopping || w->paused) { /* reverse order: LPUSH restores the original FIFO order */
        for (size_t i = pairs; i-- > 0;) {
            redisReply *id = saq__tx_dequeued_id(r, i), *rec = saq__tx_dequeued_record(r, i);
            if (id->type == REDIS_REPLY_STRING)
                saq__give_back(w, id->str, id->len, rec && rec->type == REDIS_REPLY_STRING ? rec->str : NULL,
                               rec && rec->type == REDIS_REPLY_STRING ? rec->len : 0, 1);
            else
                saq__slots_put(w, 1);
        }
    } else if (pairs) {
        saq__lease_t *one, **ls = pairs > 1 ? saq__calloc(pairs, sizeof *ls) : &one;
        for (size_t i = 0; i < pairs; i++) {
            saq__lease_t *l = start_job(w, saq__tx_dequeued_id(r, i), saq__tx_dequeued_record(r, i));
            if (ls)
                ls[i] = l;
            else if (l)
                gate(w, &l, 1); /* out of memory for the batch: one by one */
        }
        if (ls)
            gate(w, ls, pairs);
        if (ls && ls != &one)
            free(ls);
    }
    if (saq__conn_lost(err))
        saq__worker_lost_move(w);
    if (err && !w->stopping) {
        uv_timer_start(&w->t_retry, retry_pump_cb, 200 + (uint64_t)(saq__random01() * 300), 0);
    } else if (drained && !w->stopping && !w->burst_done) {
        if (w->set.max_burst_jobs && w->burst_taken >= w->set.max_burst_jobs)
            burst_end(w);
        else
            block_dequeue(w);
    } else {
        saq__dequeue_pump(w);
    }
    saq__worker_poke(w, SAQ__POKE_CHECK);
    saq__worker_unref(w);
}

void saq__dequeue_pump(saq_worker_t *w)
{
    saq__debug("worker: pump stopping=%d burst=%d dequeuing=%d blocking=%d slots=%d attached=%d", w->stopping,
               w->burst_done, w->dequeuing, w->blocking, w->slots, w->attached);
    if (w->stopping || w->burst_done || w->blocking || !w->attached)
        return;
    /* Several dequeues may be in flight (each holds the slots it asked for),
     * so a slot freed while one is answered is filled at once; one at a time
     * where the count of what is taken must be known first: a group's shared
     * budget, a burst's job count, a limit's room. */
    if (w->dequeuing && (w->group || w->set.max_burst_jobs || saq__worker_public(w)->nlimits))
        return;
    if (w->paused) { /* its queue is paused (pause.c), or not known yet (2) */
        if (w->paused == 1 && w->set.burst)
            burst_end(w); /* nothing it may take: the burst is over */
        else if (w->group)
            saq__group_empty(w); /* its grant goes to the other queues */
        return;
    }
    if (saq__limit_find(w, NULL)) { /* the queue's limit: wait while it is full or being asked */
        if (w->limit_pending)
            return;
        if (saq__limit_waiting(w)) {
            uv_timer_start(&w->t_retry, retry_pump_cb, w->limit_until - saq__mono_ms() + 1, 0);
            return;
        }
        if (w->limit_room <= 0 && (w->group || w->slots < w->set.concurrency)) {
            limit_probe(w); /* its room is not known: ask before moving a job */
            return;
        }
    }
    int free_slots;
    if (w->group) { /* the slots granted to this member (w->slots has them) */
        free_slots = saq__group_take(w);
        if (free_slots <= 0) {
            if (!saq__group_hungry(w))
                block_dequeue(w); /* found empty: watch it without a slot */
            return;
        }
    } else {
        free_slots = w->set.concurrency - w->slots;
    }
    if (w->set.max_burst_jobs) {
        long left = w->set.max_burst_jobs - w->burst_taken;
        if (left <= 0) {
            burst_end(w);
            if (w->group)
                saq__slots_put(w, free_slots);
            saq__worker_poke(w, SAQ__POKE_CHECK);
            return;
        }
        if (free_slots > left) {
            if (w->group)
                saq__slots_put(w, free_slots - (int)left);
            free_slots = (int)left;
        }
    }
    if (free_slots <= 0)
        return;
    int cap = saq__limit_cap(w, free_slots);
    if (cap < free_slots && w->group)
        saq__slots_put(w, free_slots - cap);
    free_slots = cap;
    saq_queue_t *q = w->q;
    saq__call_t c;
    saq__tx_dequeue(q, free_slots, &c);
    w->dequeuing++;
    if (!w->group)
        w->slots += free_slots;
    saq__worker_ref(w);
    saq__req_t *r = saq__tx_send(q, &c, dequeue_reply, w);
    if (r) {
        r->idata = free_slots;
    } else {
        w->dequeuing--;
        saq__slots_put(w, free_slots);
        saq__unref(&w->refs); /* never the last: the caller holds one */
    }
}

static void unblock_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req, (void)r, (void)err, (void)msg;
}

/* Interrupt the blocked dequeue without losing a move: CLIENT UNBLOCK makes
 * BLMOVE return nil unless it already moved a job (which we then run). The
 * UNBLOCK goes out on the command connection, so it can reach Redis before
 * the BLMOVE does, and the dequeue connection may not know its client id
 * yet: repeat it until the BLMOVE has returned. */
static void unblock_retry_cb(uv_timer_t *t) { saq__dequeue_unblock(t->data); }

void saq__dequeue_unblock(saq_worker_t *w)
{
    if (!w->blocking || !w->attached)
        return;
    if (w->block.client_id >= 0)
        saq__cmdf(&w->q->cmd, unblock_reply, NULL, "CLIENT UNBLOCK %lld", w->block.client_id);
    uv_timer_start(&w->t_retry, unblock_retry_cb, 50, 0); /* t_retry is idle while stopping */
}
