/* SPDX-License-Identifier: MIT */
/* A lease: one job a worker dequeued, from its mark to its written outcome.
 * It holds a slot of the worker; the host (a C handler on a pool thread, or
 * a pull-mode consumer) settles it from any thread with saq_job_complete /
 * saq_job_fail / saq_job_free, and may touch it (heartbeat, progress)
 * meanwhile. Its one timer is the job's timeout, then the hard deadline of a
 * cancel, then the retries of a write whose reply was lost. The outcome is
 * decided by outcome.c and written by the guarded finish/retry primitives:
 * refused when the lease was lost, one aborted finish when an abort came in
 * while it ran (U2). The lease is released once both the host and Redis are
 * done, after the after_process hooks. */
#include "worker.h"

static void lease_write(saq__lease_t *l);
static void lease_maybe_release(saq__lease_t *l);

static saq__lease_t *lease_of(const saq_job_t *job)
{
    return job && job->owner ? saq__container_of(job->owner, saq__lease_t, owner) : NULL;
}

void saq__lease_ref(saq__lease_t *l) { saq__ref(&l->refs); }

void saq__lease_unref(saq__lease_t *l)
{
    if (!saq__unref(&l->refs))
        return;
    saq__job_clear(&l->shadow);
    free(l->settle_text);
    free(l->abort_error);
    free(l->mark_json);
    free(l->dequeued);
    free(l->fin_json);
    saq_worker_t *w = l->w;
    free(l);
    saq__worker_unref(w);
}

static void deadline_closed(uv_handle_t *h) { free(h); }

void saq__lease_stop_timer(saq__lease_t *l)
{
    if (l->deadline) {
        uv_timer_stop(l->deadline);
        uv_close((uv_handle_t *)l->deadline, deadline_closed);
        l->deadline = NULL;
    }
}

void saq__lease_timer(saq__lease_t *l, double seconds, uv_timer_cb cb)
{
    if (!l->deadline) {
        l->deadline = saq__malloc(sizeof *l->deadline);
        if (!l->deadline)
            return;
        uv_timer_init(&l->w->q->loop, l->deadline);
        l->deadline->data = l;
    }
    uv_timer_start(l->deadline, cb, saq__timer_ms(seconds), 0);
}

/* Remove from the worker's list and give the slot back (`ran`: it was
 * counted running). */
static void lease_drop(saq__lease_t *l, int ran)
{
    saq_worker_t *w = l->w;
    saq__lease_stop_timer(l);
    saq__list_remove(&l->link);
    saq__limit_release(l); /* the running slots of its limits (limit.c) */
    if (!l->slot_freed)
        saq__slots_put(w, 1);
    if (ran && !l->slot_freed) /* else it stopped counting when its slot went back */
        atomic_fetch_sub(&w->running, 1);
    saq__worker_ref(w);
    saq__lease_unref(l);
    saq__worker_poke(w, SAQ__POKE_PUMP | SAQ__POKE_CHECK);
    saq__worker_unref(w);
}

void saq__lease_abandon(saq__lease_t *l) { lease_drop(l, 0); }

saq__lease_t *saq__lease_find(saq_worker_t *w, const char *id, int unsettled)
{
    saq__link_t *k;
    saq__list_each(k, &w->leases) {
        saq__lease_t *l = saq__container_of(k, saq__lease_t, link);
        if (l->shadow.id && !strcmp(l->shadow.id, id) && !(unsettled && l->outcome_sent))
            return l;
    }
    return NULL;
}

static void hard_deadline_cb(uv_timer_t *t)
{
    saq__lease_t *l = t->data;
    if (!l->host_done && l->state == SAQ__LEASE_RUNNING)
        lease_write(l); /* the handler did not stop in time: settle the job without it */
}

void saq__lease_cancel(saq__lease_t *l, int why, const char *error)
{
    saq_worker_t *w = l->w;
    /* its outcome went out already (a lost reply is being confirmed, the
     * lease RUNNING between two writes): that outcome stands. Deciding again
     * with a cancel (the heartbeat or abort check, the stop's grace period)
     * turned a completed job's rewrite into a RETRY that ran it twice */
    if (l->outcome_sent)
        return;
    int expected = SAQ_CANCEL_NONE;
    if (!atomic_compare_exchange_strong(&l->cancelled, &expected, why))
        return;
    if (error && !l->abort_error)
        l->abort_error = saq__strdup(error);
    if (w->cq) {
        saq_event_t *ev = saq__event_new(SAQ_EVENT_CANCEL, w->tag);
        if (ev) {
            ev->ival = why;
            ev->key = saq__strdup(l->shadow.key);
            saq__cq_push(w->cq, ev);
        }
    }
    if (l->host_done)
        lease_write(l);
    else if (why != SAQ_CANCEL_ABORTED && why != SAQ_CANCEL_LOST) /* saq waits for aborts */
        saq__lease_timer(l, w->set.hard_deadline_s, hard_deadline_cb);
}

static void timeout_cb(uv_timer_t *t) { saq__lease_cancel(t->data, SAQ_CANCEL_TIMEOUT, NULL); }

static void rewrite_cb(uv_timer_t *t) { lease_write(t->data); }

/* The outcome write finished (primitive callback). */
static void lease_written(void *ud, int err, const char *msg, saq__tx_t result)
{
    saq__lease_t *l = ud;
    saq_worker_t *w = l->w;
    if (l->state == SAQ__LEASE_DETACHED) { /* the queue is being torn down: nothing more to do */
        saq__lease_unref(l);
        return;
    }
    l->state = SAQ__LEASE_RUNNING;
    if (!err && result == SAQ__TX_ABORTED) {
        /* aborted while it ran: one aborted finish with the stored reason (U2) */
        if (!l->abort_error)
            l->abort_error = saq__strdup(msg && *msg ? msg : "abort");
        atomic_store(&l->cancelled, SAQ_CANCEL_ABORTED);
        l->state = SAQ__LEASE_WRITING;
        l->met_outcome = 1 + SAQ__MET_ABORTED;
        saq__finish_job(w->q, &l->shadow, SAQ_STATUS_ABORTED, NULL, l->abort_error, &l->guard,
                        SAQ__DEL_MARKER, lease_written, l);
        return;
    }
    if (saq__conn_lost(err) && l->write_tries < 40 &&
        !(w->stopping && w->grace_over)) {
        /* the reply was lost with the connection: write again once it is back
         * (the guard makes a second write of the same outcome a no-op). A
         * stopping worker past its grace period gives up instead of waiting
         * for Redis: the job stays active under this worker's id, and another
         * worker recovers it once this one's registry entry expires. */
        l->write_tries++;
        saq__lease_timer(l, 0.25, rewrite_cb);
        saq__lease_unref(l);
        return;
    }
    int werr = err; /* for the OUTCOME event (the branch below clears err) */
    if (err == SAQ_ETOOBIG && (l->too_big >= 2 || !l->host_done)) {
        /* nothing smaller to write (the record itself is near the limit): the
         * job is settled failed, its bytes kept, instead of staying active */
        const char *cur = l->guard.expect ? l->guard.expect : l->mark_json;
        size_t n = l->guard.expect ? l->guard.expect_len : l->mark_len;
        if (cur)
            saq__settle_unreadable(w->q, l->shadow.id, cur, n,
                                   "its outcome does not fit in max_payload_bytes");
        err = 0;
    }
    if (err == SAQ_ETOOBIG) {
        /* the outcome does not fit in max_payload_bytes: a result fails the
         * job instead; an error text is cut to fit (then replaced by a short
         * one), so the job always ends instead of staying active */
        char *text = saq__outcome_shrink(l->settle_kind, l->settle_text, l->too_big,
                                         w->q->set.max_payload, l->mark_len + 512);
        l->too_big = l->too_big || l->settle_kind == SAQ__SETTLE_COMPLETE ? 2 : 1;
        if (l->settle_kind == SAQ__SETTLE_COMPLETE)
            l->settle_kind = SAQ__SETTLE_FAIL;
        free(l->settle_text);
        l->settle_text = text;
        lease_write(l);
        saq__lease_unref(l);
        return;
    }
    if (err) /* the job stays where it is in Redis; a sweep or another worker recovers it */
        w->errors++;
    if (err || result == SAQ__TX_LOST)
        saq__log(w->q, err ? SAQ_LOG_ERROR : SAQ_LOG_WARNING, err,
                 SAQ__LF(SAQ__LS("job", l->shadow.key), SAQ__LS("function", l->shadow.function),
                         SAQ__LS("worker", w->id), SAQ__LS("reason", err ? msg : NULL)),
                 err ? "job %s (%s): its outcome was given up (%s): the job stays active until "
                       "a worker or a sweep recovers it"
                 : l->write_tries ? "job %s (%s): its outcome is not confirmed%s: the reply to its "
                                    "write was lost and the job has changed since (that write "
                                    "landed, or the job was swept, recovered or run again elsewhere)"
                                  : "job %s (%s): its outcome was not stored%s: the job is no longer "
                                    "this worker's (swept, recovered or run again elsewhere)",
                 l->shadow.key, l->shadow.function, err ? (msg ? msg : saq_strerror(err)) : "");
    l->state = SAQ__LEASE_WRITTEN;
    if (l->pulled)
        saq__event_outcome(w->cq, w->tag, l->id, &l->shadow,
                           !werr && (result == SAQ__TX_OK || result == SAQ__TX_SAME), werr, msg);
    if (!werr && (result == SAQ__TX_OK || result == SAQ__TX_SAME) && l->met_outcome &&
        l->met_outcome - 1 != SAQ__MET_RETRIED) /* a terminal outcome: its flow's, if any */
        saq__flow_note(w->q, l->shadow.id, l->met_outcome - 1 == SAQ__MET_COMPLETE ? "complete"
                                           : l->met_outcome - 1 == SAQ__MET_FAILED ? "failed"
                                                                                   : "aborted");
    if (!werr && (result == SAQ__TX_OK || result == SAQ__TX_SAME) && l->met_outcome)
        saq__wmetrics_count(&saq__worker_public(w)->metrics, w->q->set.name,
                            saq__worker_find_fn(w, l->shadow.function) ? l->shadow.function
                                                                       : SAQ__WMETRICS_UNREGISTERED,
                            l->met_outcome - 1, l->ran_s);
    if (!l->host_done && (w->stopping || l->pulled)) {
        /* the handler still holds the job past the hard deadline: the job is
         * settled in Redis, so the worker lets go of it (the handler's late
         * settle returns SAQ_ESTATE) instead of waiting: in pull mode always,
         * as saq lets go of a task that ignores its cancellation; a C
         * handler's thread stays taken, so only when stopping */
        atomic_store(&l->given_back, 1);
        if (l->pulled)
            saq__event_given_back(w->cq, w->tag, l->id, l->shadow.key);
        saq__lease_unref(l); /* this write's reference; the host's job keeps the memory */
        lease_drop(l, 1);
        return;
    }
    lease_maybe_release(l);
    saq__lease_unref(l);
}

/* Decide and write the job's outcome (spec 4.3 steps 6-8). */
static void lease_write(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    saq_queue_t *q = w->q;
    if (l->state != SAQ__LEASE_RUNNING)
        return; /* not running yet, or written or being written */
    saq_job_t *j = &l->shadow;
    saq__outcome_in_t in = {
        .cancelled = atomic_load(&l->cancelled),
        .settle = l->settle_kind,
        .settle_text = l->settle_text,
        .abort_error = l->abort_error,
        .swept_msg = w->set.swept_msg,
        .key = j->key,
        .timeout = j->timeout,
        .retries = j->retries,
        .attempts = j->attempts,
        .stopping = w->stopping,
    };
    saq__outcome_t out;
    saq__outcome_decide(&in, &out);
    if (out.settle_as_fail) { /* kept, so a rewrite writes the same */
        char *t = saq__strdup(out.error);
        if (t) {
            free(l->settle_text);
            l->settle_text = t;
            l->settle_kind = SAQ__SETTLE_FAIL;
            out.error = t;
        }
    }
    saq__lease_stop_timer(l);
    l->state = SAQ__LEASE_WRITING;
    if (l->ran_s < 0 && l->run_at > 0) /* the run ends with its outcome decided */
        l->ran_s = saq__wmetrics_now() - l->run_at;
    l->met_outcome = out.action == SAQ__OUTCOME_RETRY ? 1 + SAQ__MET_RETRIED
                     : out.action != SAQ__OUTCOME_FINISH ? 0
                     : out.status == SAQ_STATUS_COMPLETE ? 1 + SAQ__MET_COMPLETE
                     : out.status == SAQ_STATUS_FAILED   ? 1 + SAQ__MET_FAILED
                                                         : 1 + SAQ__MET_ABORTED;
    /* The handler is done and nothing runs after the write (no after_process
     * hooks): the slot goes back now, so the next dequeue follows the write on
     * the same connection instead of waiting for its reply (one round trip
     * less per job; Redis runs them in order). The lease stays listed until
     * the write is answered (its retries, the stop's wait). */
    int early = l->host_done && out.action != SAQ__OUTCOME_NONE && !l->slot_freed && !w->stopping &&
                !saq__worker_has_hooks(w, SAQ_HOOK_AFTER_PROCESS);
    if (early) {
        l->slot_freed = 1;
        saq__slots_put(w, 1);
        atomic_fetch_sub(&w->running, 1); /* "running" counts what holds a slot (<= concurrency) */
        saq__worker_ref(w); /* the write may end the lease before the pump below */
    }
    l->outcome_sent = l->outcome_sent || out.action != SAQ__OUTCOME_NONE;
    int flags = out.flags | (l->write_tries ? SAQ__REWRITE : 0);
    saq__lease_ref(l); /* the write's */
    switch (out.action) {
    case SAQ__OUTCOME_NONE:
        lease_written(l, 0, NULL, SAQ__TX_LOST);
        break;
    case SAQ__OUTCOME_RETRY:
        saq__retry_job(q, j, out.error, &l->guard, lease_written, l);
        break;
    case SAQ__OUTCOME_FINISH:
        if (saq__worker_can_flush(w)) { /* joins the turn's FINISHES */
            int e;
            const char *msg;
            if (!(l->fin_json = saq__finish_record(q, j, out.status, out.result, out.error, &l->fin_len, &e, &msg))) {
                lease_written(l, e, msg, SAQ__TX_NONE);
                break;
            }
            l->fin_flags = flags;
            saq__list_push_back(&w->fin_pending, &l->fin_link);
            saq__worker_poke(w, SAQ__POKE_FLUSH); /* which pumps after the FINISHES */
            break;
        }
        saq__finish_job(q, j, out.status, out.result, out.error, &l->guard, flags, lease_written, l);
        break;
    }
    if (early) {
        if (!saq__link_linked(&l->fin_link))
            saq__worker_poke(w, SAQ__POKE_PUMP_SOON);
        saq__worker_unref(w);
    }
}

void saq__leases_flush(saq_worker_t *w)
{
    size_t n = 0, i = 0;
    saq__link_t *k;
    saq__list_each(k, &w->fin_pending)
        n++;
    if (!n)
        return;
    saq__finish_item_t one, *items = n > 1 ? saq__calloc(n, sizeof *items) : &one;
    saq__lease_t *l;
    while ((l = saq__list_first_entry(&w->fin_pending, saq__lease_t, fin_link))) {
        saq__list_remove(&l->fin_link);
        saq__finish_item_t it = {&l->shadow, l->fin_json, l->fin_len, &l->guard, l->fin_flags, lease_written, l};
        l->fin_json = NULL;
        if (items) {
            items[i++] = it;
        } else { /* out of memory for the batch: this one on its own */
            saq__finish_jobs(w->q, &it, 1);
        }
    }
    if (items)
        saq__finish_jobs(w->q, items, i);
    if (items && items != &one)
        free(items);
}

/* ---- release, after the after_process hooks ---- */

typedef struct after_task {
    saq__task_t task;
    saq__msg_t msg;   /* back to the loop thread once the hooks ran */
    saq_job_t *job;   /* a snapshot for the hooks */
    saq__lease_t *lease;
} after_task_t;

static void after_done_run(saq_queue_t *q, saq__msg_t *m)
{
    after_task_t *a = saq__container_of(m, after_task_t, msg);
    saq__lease_t *l = a->lease;
    (void)q;
    free(a);
    l->after_pending = 0;
    if (l->state != SAQ__LEASE_DETACHED)
        lease_drop(l, 1);
    saq__lease_unref(l); /* the after task's reference */
}

static void after_work(saq__task_t *t)
{
    after_task_t *a = saq__container_of(t, after_task_t, task);
    saq__lease_t *l = a->lease;
    saq__worker_run_hooks(l->w, SAQ_HOOK_AFTER_PROCESS, a->job);
    saq_job_free(a->job);
    a->job = NULL;
    a->msg.run = after_done_run;
    if (saq__post(l->w->q, &a->msg)) { /* the queue is gone */
        free(a);
        saq__lease_unref(l);
    }
}

static void after_cancel(saq__task_t *t)
{
    after_task_t *a = saq__container_of(t, after_task_t, task);
    saq_job_free(a->job);
    saq__lease_unref(a->lease);
    free(a);
}

/* Release once both the host and Redis are done (after hooks first). */
static void lease_maybe_release(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    if (l->state != SAQ__LEASE_WRITTEN || !l->host_done || l->after_pending)
        return;
    /* after_process also runs for jobs cancelled by a stop (saq runs it in the
     * cancelled process() before the shutdown hooks; spec 6 item 42) */
    if (saq__worker_has_hooks(w, SAQ_HOOK_AFTER_PROCESS) && w->pool &&
        !atomic_load(&saq__worker_public(w)->freed)) {
        after_task_t *a = saq__calloc(1, sizeof *a);
        saq_job_t *snap = saq_job_dup(&l->shadow);
        if (a && snap) {
            a->task.work = after_work;
            a->task.cancel = after_cancel;
            a->job = snap;
            a->lease = l;
            l->after_pending = 1;
            saq__lease_ref(l); /* the task's: a teardown may drop the list's */
            if (saq__pool_submit(w->pool, &a->task) == 0)
                return;
            saq__unref(&l->refs); /* never the last: the list holds one */
            l->after_pending = 0;
        }
        free(a);
        saq_job_free(snap);
    }
    lease_drop(l, 1);
}

/* ---- settle messages from any thread ---- */

typedef struct settle_msg {
    saq__msg_t msg;
    saq__lease_t *lease;
    saq__settle_t kind;
    char *text;
} settle_msg_t;

/* A handler (or a pull-mode host) failed its job: a warning, unless a cancel decides. */
static void log_failure(saq__lease_t *l, saq__settle_t kind, const char *text)
{
    saq_worker_t *w = l->w;
    const saq_job_t *j = &l->shadow;
    if (atomic_load(&l->cancelled) != SAQ_CANCEL_NONE ||
        !(kind == SAQ__SETTLE_FAIL || (kind == SAQ__SETTLE_DROPPED && !w->stopping)))
        return;
    if (!text)
        text = "the handler freed the job without settling it";
    /* the message gets the text's first line (a stack trace stays in the record and, cut to
     * 8 KiB, in the reason field): a log line, not a payload */
    size_t line = strcspn(text, "\r\n"), len = strlen(text);
    char *reason = saq__strndup(text, len > 8192 ? 8192 : len);
    saq__log(w->q, SAQ_LOG_WARNING, 0,
             SAQ__LF(SAQ__LS("job", j->key), SAQ__LS("function", j->function),
                     SAQ__LS("worker", w->id), SAQ__LS("reason", reason ? reason : ""),
                     SAQ__LN("attempts", j->attempts)),
             "job %s (%s) failed: %.*s%s; %s", j->key, j->function, (int)(line > 300 ? 300 : line), text,
             line > 300 || line < len ? " ..." : "",
             j->retries > j->attempts ? "it will be retried" : "no retries left");
    free(reason);
}

static void settle_run(saq_queue_t *q, saq__msg_t *m)
{
    settle_msg_t *s = saq__container_of(m, settle_msg_t, msg);
    saq__lease_t *l = s->lease;
    (void)q;
    if (atomic_load(&l->given_back)) { /* settled already by the worker at the hard deadline */
        free(s->text);
        free(s);
        saq__lease_unref(l);
        return;
    }
    l->host_done = 1;
    l->settle_kind = s->kind;
    free(l->settle_text);
    l->settle_text = s->text;
    free(s);
    log_failure(l, l->settle_kind, l->settle_text);
    if (l->state == SAQ__LEASE_RUNNING) {
        lease_write(l);
    } else {
        lease_maybe_release(l);
    }
    saq__lease_unref(l); /* the message's reference */
}

static int settle(saq_job_t *job, saq__lease_t *l, saq__settle_t kind, const char *text)
{
    if (!l)
        return SAQ_EINVAL;
    if (l->w->q->fork_gen != saq__fork_gen())
        return SAQ_EFORKED;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&l->settled, &expected, 1)) {
        saq__job_seterr(job, "the job was already settled");
        return SAQ_ESTATE;
    }
    if (atomic_load(&l->given_back)) {
        saq__job_seterr(job, "the worker already gave this job back: its outcome was stored without the "
                             "handler after the hard deadline");
        return SAQ_ESTATE;
    }
    settle_msg_t *s = saq__calloc(1, sizeof *s);
    if (!s)
        return SAQ_ENOMEM;
    s->msg.run = settle_run;
    s->lease = l;
    s->kind = kind;
    s->text = text ? saq__strdup(text) : NULL;
    saq__lease_ref(l);
    if (saq__post(l->w->q, &s->msg)) {
        free(s->text);
        free(s);
        saq__unref(&l->refs); /* never the last: the job holds one */
        return SAQ_ECLOSED;
    }
    return SAQ_OK;
}

SAQ_API int saq_job_complete(saq_job_t *job, const char *result_json)
{
    char err[200];
    saq__lease_t *l = lease_of(job);
    if (!l)
        return SAQ_EINVAL;
    size_t n = result_json ? strlen(result_json) : 0;
    size_t cap = l->w->q->set.max_payload;
    /* certainly too large: with the record as marked (set before the job was
     * handed over); what is near the limit is decided exactly when the
     * outcome is dumped (lease_written's SAQ_ETOOBIG) */
    if (n && n + l->mark_len > cap) {
        char *m = saq__sprintf("ValueError: the job's result (%zu bytes) with its record (%zu bytes) is over "
                               "max_payload_bytes (%zu)", n, l->mark_len, cap);
        saq__job_seterr(job, "%s", m ? m : "result too large");
        int e = settle(job, l, SAQ__SETTLE_FAIL, m ? m : "result too large");
        free(m);
        return e ? e : SAQ_ETOOBIG;
    }
    if (result_json && saq__json_validate(result_json, n, 0, err, sizeof err)) {
        char *m = saq__sprintf("ValueError: the job's result is not valid JSON: %s", err);
        saq__job_seterr(job, "%s", m ? m : "invalid result JSON");
        int e = settle(job, l, SAQ__SETTLE_FAIL, m ? m : "invalid result JSON");
        free(m);
        return e ? e : SAQ_EINVAL;
    }
    if (result_json && !strcmp(result_json, "null"))
        result_json = NULL;
    return settle(job, l, SAQ__SETTLE_COMPLETE, result_json);
}

SAQ_API int saq_job_fail(saq_job_t *job, const char *error_text)
{
    saq__lease_t *l = lease_of(job);
    if (!l)
        return SAQ_EINVAL;
    return settle(job, l, SAQ__SETTLE_FAIL, error_text ? error_text : "job failed");
}

SAQ_API int saq_job_cancelled(const saq_job_t *job)
{
    saq__lease_t *l = lease_of(job);
    return l ? atomic_load(&l->cancelled) : 0;
}

SAQ_API uint64_t saq_job_lease_id(const saq_job_t *job)
{
    saq__lease_t *l = lease_of(job);
    return l ? l->id : 0;
}

/* saq_job_free of a leased job (job->owner's release): give the lease back
 * (a handler bug, or "cancelled" when stopping; outcome.c decides). */
static void lease_owner_release(saq__job_owner_t *o, saq_job_t *job)
{
    saq__lease_t *l = saq__container_of(o, saq__lease_t, owner);
    job->owner = NULL;
    if (atomic_load(&l->settled) == 0 && l->w->q->fork_gen == saq__fork_gen())
        settle(job, l, SAQ__SETTLE_DROPPED, NULL);
    saq__lease_unref(l);
}

/* ---- touch (heartbeat / progress) ---- */

typedef struct touch_msg {
    saq__msg_t msg;
    saq__lease_t *lease;
    char *fields;
} touch_msg_t;

static void touch_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq__lease_t *l = req->data;
    (void)msg;
    if (!err && saq__tx_decode(SCRIPT_UPDATE, r, NULL) == SAQ__TX_OK)
        l->touched_ms = (int64_t)req->idata;
    l->guard.expect = NULL; /* rewritten (or maybe): the outcome write decodes */
    saq__lease_unref(l);
}

/* The touch of an opaque record (dump transform): the new bytes replace the
 * ones this lease last wrote, which the next touch and the outcome compare. */
static void touch_opaque_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq__lease_t *l = req->data;
    saq__buf_t *b = req->aux; /* the bytes written (a dump transform's output may hold NULs) */
    char *json = b->p;
    (void)msg;
    if (!err && saq__tx_decode(SCRIPT_REPLACE, r, NULL) == SAQ__TX_OK) {
        l->touched_ms = (int64_t)req->idata;
        free(l->mark_json);
        l->mark_json = json;
        l->mark_len = b->len;
        l->guard.expect = l->mark_json;
        l->guard.expect_len = l->mark_len;
        json = NULL;
    } else if (!err) {
        l->guard.expect = NULL; /* changed by someone else: the outcome write decodes */
    }
    free(json);
    free(b);
    saq__lease_unref(l);
}

static void touch_run(saq_queue_t *q, saq__msg_t *m)
{
    touch_msg_t *t = saq__container_of(m, touch_msg_t, msg);
    saq__lease_t *l = t->lease;
    char err[200];
    if (l->state == SAQ__LEASE_RUNNING) {
        saq_job_t *j = &l->shadow;
        if (!t->fields || !saq__job_apply_fields(j, t->fields, strlen(t->fields), 0, NULL, err, sizeof err)) {
            int64_t now = saq__now_ms();
            j->touched = now;
            saq__job_invalidate(j);
            char *head = NULL, *errm = NULL, *tail = NULL;
            size_t len;
            int e;
            char *json = q->set.dump ? saq__dump_job(q, j, &len, &e) : NULL;
            if (json) {
                /* Lua cannot read an opaque record: compare-and-set on the
                 * bytes this lease last wrote (saq's own update is a blind SET) */
                saq__call_t c;
                saq__tx_replace(q, j->id, json, len, saq__status_name(j->status), l->guard.expect,
                                l->guard.expect_len, &c);
                saq__buf_t *b = saq__calloc(1, sizeof *b);
                saq__req_t *r = NULL;
                if (b) {
                    b->p = json;
                    b->len = len;
                    saq__lease_ref(l);
                    r = saq__tx_send(q, &c, touch_opaque_reply, l);
                } else {
                    saq__tx_call_free(&c);
                }
                if (r) {
                    r->idata = (intptr_t)now;
                    r->aux = b;
                } else {
                    if (b)
                        saq__unref(&l->refs); /* never the last: the message holds one */
                    free(json);
                    free(b);
                }
            } else if (!q->set.dump && !saq__job_dump_split(j, q->set.dialect, &head, &errm, &tail)) {
                saq__call_t c;
                saq__tx_update(q,
                               &(saq__tx_update_t){.id = j->id, .head = head, .err = errm, .tail = tail,
                                                   .status = "active", .guard = &l->guard},
                               &c);
                saq__lease_ref(l);
                saq__req_t *r = saq__tx_send(q, &c, touch_reply, l);
                if (r)
                    r->idata = (intptr_t)now;
                else
                    saq__unref(&l->refs); /* never the last: the message holds one */
            }
            free(head);
            free(errm);
            free(tail);
        }
    }
    free(t->fields);
    free(t);
    saq__lease_unref(l);
}

SAQ_API int saq_job_touch(saq_job_t *job, const char *fields_json)
{
    char err[200];
    saq__lease_t *l = lease_of(job);
    if (!l)
        return SAQ_EINVAL;
    if (l->w->q->fork_gen != saq__fork_gen())
        return SAQ_EFORKED; /* the parent's I/O thread does not exist here */
    if (atomic_load(&l->settled))
        return SAQ_ESTATE;
    if (fields_json && saq__json_validate(fields_json, strlen(fields_json), 'o', err, sizeof err)) {
        saq__job_seterr(job, "fields: %s", err);
        return SAQ_EINVAL;
    }
    if (fields_json) { /* names and values too, here rather than silently on the I/O thread */
        saq_job_t scratch;
        saq__job_init(&scratch);
        int e = saq__job_apply_fields(&scratch, fields_json, strlen(fields_json), 0, NULL, err, sizeof err);
        saq__job_clear(&scratch);
        if (e) {
            saq__job_seterr(job, "fields: %s", err);
            return e == SAQ_ENOMEM ? e : SAQ_EINVAL;
        }
    }
    touch_msg_t *t = saq__calloc(1, sizeof *t);
    if (!t || (fields_json && !(t->fields = saq__strdup(fields_json)))) {
        free(t);
        return SAQ_ENOMEM;
    }
    t->msg.run = touch_run;
    t->lease = l;
    saq__lease_ref(l);
    if (saq__post(l->w->q, &t->msg)) {
        saq__unref(&l->refs); /* never the last: the job holds one */
        free(t->fields);
        free(t);
        return SAQ_ECLOSED;
    }
    return SAQ_OK;
}

/* ---- creation, hand-over to the handler ---- */

saq__lease_t *saq__lease_new(saq_worker_t *w, saq_job_t *shadow, const char *rec, size_t reclen)
{
    saq__lease_t *l = saq__calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->shadow = *shadow;
    saq__job_init(shadow);
    atomic_init(&l->refs, 1);
    saq__worker_ref(w);
    l->owner.release = lease_owner_release;
    l->w = w;
    l->id = saq__group_lease_id(w);
    l->state = SAQ__LEASE_MARKING;
    l->ran_s = -1;
    saq_job_t *j = &l->shadow;
    int was_queued = j->status == SAQ_STATUS_QUEUED || j->status == SAQ_STATUS_NEW;
    int64_t now = saq__now_ms();
    j->started = now;
    j->touched = now;
    if (j->attempts < INT32_MAX) /* a record can hold any number: the reader caps it there */
        j->attempts++;
    j->status = SAQ_STATUS_ACTIVE;
    saq__set_str(&j->worker_id, w->id);
    saq__job_invalidate(j);
    l->touched_ms = now;
    l->guard.attempts = j->attempts;
    l->guard.started = j->started;
    if (was_queued && (l->dequeued = saq__strndup(rec, reclen)))
        l->dequeued_len = reclen;
    saq__list_push_front(&w->leases, &l->link); /* listed from now until it is released */
    return l;
}

typedef struct run_task {
    saq__task_t task;
    saq_job_t *job;          /* the host's copy, leased */
    saq__fn_entry_t *fn;
    saq_worker_t *w;
} run_task_t;

/* On a pool thread: the before_process hooks, then the handler. */
static void run_work(saq__task_t *t)
{
    run_task_t *r = saq__container_of(t, run_task_t, task);
    saq_worker_t *w = saq__worker_public(r->w); /* hooks see the host's handle */
    saq_job_t *job = r->job;
    saq__fn_entry_t *fn = r->fn;
    saq_queue_t *q = r->w->q;
    const char *wid = r->w->id;
    free(r);
    int refused = 0, rc;
    for (size_t i = 0; i < w->nhooks; i++) {
        if (w->hooks[i].kind != SAQ_HOOK_BEFORE_PROCESS ||
            !(rc = w->hooks[i].fn(w, job, w->hooks[i].ud)))
            continue; /* not a before_process hook, or it let the job run */
        refused = 1;
        saq__log(q, SAQ_LOG_WARNING, 0,
                 SAQ__LF(SAQ__LS("job", job->key), SAQ__LS("function", job->function),
                         SAQ__LS("worker", wid), SAQ__LS("hook", "before_process"),
                         SAQ__LN("returned", rc)),
                 "before_process hook %zu failed (returned %d) for job %s (%s): the job fails "
                 "as with saq_job_fail", i + 1, rc, job->key, job->function);
    }
    if (refused) {
        saq_job_fail(job, "before_process hook failed");
        saq_job_free(job);
    } else {
        fn->fn(job, fn->ud); /* the handler owns the job now */
    }
}

static void run_cancel(saq__task_t *t)
{
    run_task_t *r = saq__container_of(t, run_task_t, task);
    saq_job_free(r->job);
    free(r);
}

/* Settle the lease without its host (it never got the job). */
static void settle_here(saq__lease_t *l, saq__settle_t kind, char *text)
{
    l->host_done = 1;
    l->settle_kind = kind;
    l->settle_text = text;
    atomic_store(&l->settled, 1);
    lease_write(l);
}

void saq__lease_run(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    l->state = SAQ__LEASE_RUNNING;
    atomic_fetch_add(&w->running, 1);
    free(l->dequeued);
    l->dequeued = NULL;
    saq__fn_entry_t *fn = saq__worker_find_fn(w, l->shadow.function);
    if (!fn) {
        settle_here(l, SAQ__SETTLE_FAIL,
                    saq__sprintf("KeyError: '%s' (no function of that name is registered on worker %s)",
                                 l->shadow.function, w->id));
        return;
    }
    l->run_at = saq__wmetrics_now(); /* its run time starts (a job without a function has none) */
    if (l->shadow.timeout > 0)
        saq__lease_timer(l, l->shadow.timeout, timeout_cb);
    /* marked after the stop's grace period ended (its mark reply came late):
     * the grace timer did not see it, so cancel it now or the stop waits for it */
    if (w->stopping && !uv_is_active((uv_handle_t *)&w->t_grace))
        saq__lease_cancel(l, SAQ_CANCEL_SHUTDOWN, NULL);
    saq_job_t *job = saq_job_dup(&l->shadow);
    if (!job) {
        settle_here(l, SAQ__SETTLE_RELEASE, NULL);
        return;
    }
    job->owner = &l->owner;
    saq__lease_ref(l); /* the host's job's */
    if (fn->fn) {
        run_task_t *t = saq__calloc(1, sizeof *t);
        if (t) {
            t->task.work = run_work;
            t->task.cancel = run_cancel;
            t->job = job;
            t->fn = fn;
            t->w = w;
            if (saq__pool_submit(w->pool, &t->task) == 0)
                return;
            free(t);
        }
        job->owner = NULL;
        saq__lease_unref(l);
        saq_job_free(job);
        settle_here(l, SAQ__SETTLE_RELEASE, NULL);
        return;
    }
    saq_event_t *ev = saq__event_new(SAQ_EVENT_LEASE, w->tag);
    if (!ev) {
        saq_job_free(job); /* releases the lease: retried */
        return;
    }
    ev->job = job;
    ev->ival = (int64_t)l->id;
    ev->key = saq__strdup(l->shadow.key);
    l->pulled = 1;
    saq__cq_push(w->cq, ev);
}

void saq__lease_finish_aborted(saq__lease_t *l, const char *reason)
{
    saq_worker_t *w = l->w;
    l->state = SAQ__LEASE_WRITING;
    atomic_fetch_add(&w->running, 1);
    l->host_done = 1;
    atomic_store(&l->settled, 1);
    atomic_store(&l->cancelled, SAQ_CANCEL_ABORTED);
    l->met_outcome = 1 + SAQ__MET_ABORTED; /* it never ran: no run time */
    l->abort_error = saq__strdup(reason);
    l->outcome_sent = 1;
    saq__lease_ref(l); /* the write's */
    saq__finish_job(w->q, &l->shadow, SAQ_STATUS_ABORTED, NULL, l->abort_error, NULL,
                    SAQ__DEL_MARKER, lease_written, l);
}

void saq__leases_detach(saq_worker_t *w)
{
    saq__lease_t *l;
    while ((l = saq__list_first_entry(&w->fin_pending, saq__lease_t, fin_link))) {
        saq__list_remove(&l->fin_link); /* its FINISH was not sent: the write's reference goes */
        free(l->fin_json);
        l->fin_json = NULL;
        saq__lease_unref(l);
    }
    while ((l = saq__list_first_entry(&w->leases, saq__lease_t, link))) {
        saq__list_remove(&l->link);
        l->state = SAQ__LEASE_DETACHED; /* a write still in flight only drops its own reference */
        saq__lease_stop_timer(l);
        saq__lease_unref(l);
    }
}
