/* SPDX-License-Identifier: MIT */
/* The SAQ worker (spec 4): dequeue, mark active, run, then complete, retry or
 * fail; timeouts, heartbeats, aborts, cron, the upkeep timers (schedule,
 * worker_info, sweep, abort) and graceful stop. Everything that touches Redis
 * runs on the queue's I/O thread; job handlers never do:
 *   - C handlers run on the worker's handler threads (a pool of up to
 *     `concurrency` threads), and may settle their job later from any thread;
 *   - pull mode hands jobs to the host as LEASE events on a completion queue.
 * In both, a job is a lease: the worker holds a slot from dequeue until the
 * handler has settled it and its outcome is written to Redis.
 *
 * Better than saq without changing the wire (spec 7): the mark-active step
 * refuses jobs that were swept or aborted after the move (#277, U13) or that
 * are already running elsewhere (U1 duplicates); finish/retry are refused when
 * the lease was lost and turn into one aborted finish when an abort came in
 * (U2); a blocked dequeue is interrupted with CLIENT UNBLOCK, so no move is
 * ever lost (U9); jobs of workers whose registry entry expired are recovered
 * long before their timeout. */
#include "core.h"
#include "cron.h"

#include <math.h>
#include <signal.h>
#include <time.h>

typedef struct fn_entry {
    char *name;
    saq_handler_fn fn; /* NULL: pull mode */
    void *ud;
} fn_entry_t;

typedef struct cron_entry {
    char *function;
    char *expr;
    saq__cron_t c;
    char *kwargs;
    double timeout, heartbeat;
    int retries, ttl;
    int has_timeout, has_heartbeat, has_retries, has_ttl;
    int unique;
} cron_entry_t;

typedef struct hook_entry {
    int kind;
    saq_hook_fn fn;
    void *ud;
} hook_entry_t;

typedef struct pool pool_t;

enum { L_MARKING, L_RUNNING };
/* SETTLE_RELEASE: libsaq could not hand the job over (retried "cancelled");
 * SETTLE_DROPPED: the host freed the job without settling it (a job error) */
enum { SETTLE_NONE, SETTLE_COMPLETE, SETTLE_FAIL, SETTLE_RELEASE, SETTLE_DROPPED };

struct saq__lease {
    atomic_int refs;
    saq_worker_t *w;
    uint64_t id;
    atomic_int cancelled;   /* SAQ_CANCEL_*, read by handlers */
    atomic_int settled;     /* the host settled it (complete/fail/free) */
    atomic_int given_back;  /* the stopping worker settled it without the host */
    /* loop thread */
    saq__lease_t *prev, *next;
    saq_job_t shadow;       /* the worker's copy of the record */
    saq__guard_t guard;
    int64_t touched_ms;
    int state;
    int settle_kind;        /* what the host said */
    char *settle_text;
    int host_done;          /* settle message processed */
    int writing, written;   /* outcome write in flight / done */
    char *abort_error;
    uv_timer_t *deadline;   /* timeout, then hard deadline, then write retries */
    int after_pending;
    int write_tries;
    int detached;           /* the queue's teardown dropped the worker's reference */
    int too_big;
    char *mark_json;        /* the exact record MARK writes (sent again after a lost reply) */
    size_t mark_len;
    char *dequeued;         /* the record as dequeued, when it was queued ('' otherwise) */
    size_t dequeued_len;
    int mark_tries;
};

struct saq_worker {
    saq_queue_t *q;
    saq__settings_t set;
    atomic_int refs;
    char *id;
    char *errmsg;
    fn_entry_t *fns;
    size_t nfns;
    cron_entry_t *crons;
    size_t ncrons;
    hook_entry_t *hooks;
    size_t nhooks;
    atomic_int started;
    atomic_int running;     /* leases handed to handlers, for stats */
    atomic_int stop_req;
    atomic_int freed;       /* saq_worker_free was called: no more host hooks */
    atomic_int grace_ms;
    saq_cq_t *cq;
    uint64_t tag;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopped;            /* under mu */
    int shutdown_ran;       /* under mu */
    char *stats_cache;
    /* loop thread */
    saq__attachment_t att;  /* on the queue's loop while attached */
    int attached;
    uv_timer_t t_schedule, t_info, t_sweep, t_abort, t_dead, t_grace, t_retry, t_alive;
    int handles_open;
    saq__conn_t block;
    saq__lease_t *leases;
    int slots;              /* leases + reserved dequeues */
    int dequeuing, blocking;
    int stopping;
    int grace_over;         /* stopping, and the grace period has passed */
    int burst_done;
    long burst_taken;
    uint64_t next_lease;
    saq_cq_t *icq;
    char **suspects;        /* dead-worker check: ids missing from the registry */
    int64_t *suspect_ms;    /* since when */
    size_t nsuspects;
    char **prev_live;       /* the registry's live ids at the last check */
    size_t nprev_live;
    int64_t last_full_ms;   /* the last registry pass that read the active jobs */
    char **orphans;         /* "id\nrecord" of unmarked jobs seen in active last time */
    int64_t *orphan_ms;     /* when each was first seen */
    size_t norphans;
    int pass_running;       /* a dead-worker pass is under way */
    char **forget;          /* expired liveness entries dealt with: dropped by the next refresh */
    size_t nforget;
    int alive_pending;      /* a liveness refresh is under way */
    int64_t alive_ok_ms;    /* mono ms of the last good refresh */
    int64_t alive_trust_ms; /* expired entries are trusted from then on */
    int64_t alive_ok_server; /* Redis's clock (ms) at the last good refresh */
    int64_t gap_server_ms;  /* ... at the last good refresh before the latest gap, or 0 */
    int64_t fast_until_ms;  /* liveness passes go on until then after a death */
    pool_t *pool;
    atomic_llong errors;
};

static void worker_pump(saq_worker_t *w);
static int holds_lease(saq_worker_t *w, const char *id);
static void lease_write(saq__lease_t *l);
static void lease_maybe_release(saq__lease_t *l);
static void rewrite_cb(uv_timer_t *t);
static void worker_check_stopped(saq_worker_t *w);
static void begin_stop(saq_worker_t *w);

/* ======================================================================== */
/* handler thread pool (C handlers, before/after hooks)                     */
/* ======================================================================== */

typedef struct task {
    struct task *next;
    int kind; /* 0 run handler, 1 after hooks */
    saq_job_t *job;
    fn_entry_t *fn;
    saq__lease_t *lease;
} task_t;

struct pool {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    task_t *head, *tail;
    int nthreads, idle, max, quit;
    int waking; /* a signalled thread has not taken the mutex back yet */
    saq_worker_t *w;
};

static void worker_unref(saq_worker_t *w);
static void run_hooks(saq_worker_t *w, int kind, saq_job_t *job);
static int post_after_done(saq__lease_t *l);

static void lease_unref(saq__lease_t *l);

static void pool_unref(pool_t *p)
{
    if (atomic_fetch_sub(&p->refs, 1) == 1) {
        task_t *t = p->head;
        while (t) {
            task_t *n = t->next;
            saq_job_free(t->job);
            if (t->lease)
                lease_unref(t->lease);
            free(t);
            t = n;
        }
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
    }
}

static void *pool_main(void *arg);

/* With p->mu held and tasks queued: make sure one of them is taken soon. At
 * most one idle thread is being woken at a time, and each woken thread passes
 * the wake-up on while tasks remain, so a burst of short jobs is served by the
 * threads already awake instead of one futex wake and context switch per job;
 * when no thread is idle, start one (up to max), so a burst of long jobs
 * still gets a thread per job. Returns 1 when the caller must signal p->cv
 * once it has released p->mu (so the woken thread does not block on it). */
static int pool_kick_locked(pool_t *p)
{
    if (!p->head || p->quit)
        return 0;
    if (p->idle > 0) {
        if (p->waking)
            return 0;
        p->waking = 1; /* reset by whichever idle thread wakes next */
        return 1;
    }
    if (p->nthreads < p->max) {
        pthread_t th;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        atomic_fetch_add(&p->refs, 1);
        if (pthread_create(&th, &a, pool_main, p) == 0)
            p->nthreads++;
        else
            atomic_fetch_sub(&p->refs, 1);
        pthread_attr_destroy(&a);
    }
    return 0;
}

static void *pool_main(void *arg)
{
    pool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->quit) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
            p->waking = 0;
        }
        if (!p->head)
            break;
        task_t *t = p->head;
        p->head = t->next;
        if (!p->head)
            p->tail = NULL;
        int wake = pool_kick_locked(p);
        saq_worker_t *w = p->w;
        pthread_mutex_unlock(&p->mu);
        if (wake)
            pthread_cond_signal(&p->cv);
        if (t->kind == 0) {
            saq_job_t *job = t->job;
            int refused = 0;
            for (size_t i = 0; i < w->nhooks; i++)
                if (w->hooks[i].kind == SAQ_HOOK_BEFORE_PROCESS && w->hooks[i].fn(w, job, w->hooks[i].ud))
                    refused = 1;
            if (refused) {
                saq_job_fail(job, "before_process hook failed");
                saq_job_free(job);
            } else {
                t->fn->fn(job, t->fn->ud); /* the handler owns the job now */
            }
        } else {
            run_hooks(w, SAQ_HOOK_AFTER_PROCESS, t->job);
            saq_job_free(t->job);
            if (post_after_done(t->lease))
                lease_unref(t->lease); /* the queue is gone: the task's reference */
        }
        free(t);
        pthread_mutex_lock(&p->mu);
    }
    p->nthreads--;
    pthread_mutex_unlock(&p->mu);
    pool_unref(p);
    return NULL;
}

static int pool_push(pool_t *p, task_t *t)
{
    pthread_mutex_lock(&p->mu);
    t->next = NULL;
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    int wake = pool_kick_locked(p);
    int ok = p->nthreads > 0;
    if (!ok) { /* no thread to run it (pthread_create failed): take it back */
        task_t **pp = &p->head;
        while (*pp != t)
            pp = &(*pp)->next;
        *pp = NULL;
        p->tail = p->head ? p->tail : NULL;
        if (p->head) {
            task_t *last = p->head;
            while (last->next)
                last = last->next;
            p->tail = last;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (wake)
        pthread_cond_signal(&p->cv);
    return ok ? 0 : -1;
}

static void pool_quit(pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pool_unref(p);
}

static void run_hooks(saq_worker_t *w, int kind, saq_job_t *job)
{
    for (size_t i = 0; i < w->nhooks; i++)
        if (w->hooks[i].kind == kind)
            w->hooks[i].fn(w, job, w->hooks[i].ud);
}

/* ======================================================================== */
/* leases                                                                   */
/* ======================================================================== */

static void lease_unref(saq__lease_t *l)
{
    if (atomic_fetch_sub(&l->refs, 1) == 1) {
        saq__job_clear(&l->shadow);
        free(l->settle_text);
        free(l->abort_error);
        free(l->mark_json);
        free(l->dequeued);
        saq_worker_t *w = l->w;
        free(l);
        worker_unref(w);
    }
}

static void deadline_closed(uv_handle_t *h) { free(h); }

static void lease_stop_timer(saq__lease_t *l)
{
    if (l->deadline) {
        uv_timer_stop(l->deadline);
        uv_close((uv_handle_t *)l->deadline, deadline_closed);
        l->deadline = NULL;
    }
}

static void lease_timer(saq__lease_t *l, double seconds, uv_timer_cb cb)
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

/* Remove from the running list and give the slot back. */
static void lease_unlink(saq__lease_t *l);

static void lease_release(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    lease_stop_timer(l);
    lease_unlink(l);
    w->slots--;
    atomic_fetch_sub(&w->running, 1);
    atomic_fetch_add(&w->refs, 1);
    lease_unref(l);
    worker_pump(w);
    worker_check_stopped(w);
    worker_unref(w);
}

static void hard_deadline_cb(uv_timer_t *t)
{
    saq__lease_t *l = t->data;
    if (!l->host_done && !l->written && !l->writing)
        lease_write(l); /* the handler did not stop in time: settle the job without it */
}

/* Ask the handler to stop; the outcome is written when it settles, or after
 * the hard deadline at the latest (not for aborts: saq waits for those). */
static void lease_cancel(saq__lease_t *l, int why, const char *error)
{
    saq_worker_t *w = l->w;
    int expected = SAQ_CANCEL_NONE;
    if (!atomic_compare_exchange_strong(&l->cancelled, &expected, why))
        return;
    if (error && !l->abort_error)
        l->abort_error = strdup(error);
    if (w->cq) {
        saq_event_t *ev = saq__event_new(SAQ_EVENT_CANCEL, w->tag);
        if (ev) {
            ev->ival = why;
            ev->key = strdup(l->shadow.key);
            saq__cq_push(w->cq, ev);
        }
    }
    if (l->host_done)
        lease_write(l);
    else if (why != SAQ_CANCEL_ABORTED && why != SAQ_CANCEL_LOST)
        lease_timer(l, w->set.hard_deadline_s, hard_deadline_cb);
}

static void timeout_cb(uv_timer_t *t)
{
    saq__lease_t *l = t->data;
    lease_cancel(l, SAQ_CANCEL_TIMEOUT, NULL);
}

/* The outcome write finished (primitive callback). */
static void lease_written(void *ud, int err, const char *msg, long long result)
{
    saq__lease_t *l = ud;
    saq_worker_t *w = l->w;
    l->writing = 0;
    if (l->detached) { /* the queue is being torn down: nothing more to do */
        lease_unref(l);
        return;
    }
    if (!err && result == -1) {
        /* aborted while it ran: one aborted finish with the stored reason (U2) */
        if (!l->abort_error)
            l->abort_error = strdup(msg && *msg ? msg : "abort");
        atomic_store(&l->cancelled, SAQ_CANCEL_ABORTED);
        l->writing = 1;
        saq__finish_job(w->q, &l->shadow, SAQ_STATUS_ABORTED, NULL, l->abort_error, &l->guard,
                        SAQ__DEL_MARKER, lease_written, l);
        return;
    }
    if ((err == SAQ_ECONN || err == SAQ_ETIMEDOUT) && l->write_tries < 40 &&
        !(w->stopping && w->grace_over)) {
        /* the reply was lost with the connection: write again once it is back
         * (the guard makes a second write of the same outcome a no-op). A
         * stopping worker past its grace period gives up instead of waiting
         * for Redis: the job stays active under this worker's id, and another
         * worker recovers it once this one's registry entry expires. */
        l->write_tries++;
        lease_timer(l, 0.25, rewrite_cb);
        lease_unref(l);
        return;
    }
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
        size_t max = w->q->set.max_payload, used = l->mark_len + 512;
        char *text;
        if (l->settle_kind == SETTLE_COMPLETE && !l->too_big)
            text = saq__sprintf("ValueError: the job's result is larger than max_payload_bytes (%zu)", max);
        else if (!l->too_big && l->settle_text && max > used + 64) {
            size_t n = max - used - 64; /* escapes can double it: a quarter is safe */
            n = n / 4 < strlen(l->settle_text) ? n / 4 : strlen(l->settle_text);
            while (n && ((unsigned char)l->settle_text[n] & 0xC0) == 0x80)
                n--; /* not inside a UTF-8 sequence */
            text = saq__sprintf("%.*s [... cut to fit max_payload_bytes (%zu)]", (int)n, l->settle_text, max);
        }
        else
            text = saq__sprintf("ValueError: the job's error text is larger than max_payload_bytes (%zu)", max);
        l->too_big = l->too_big || l->settle_kind == SETTLE_COMPLETE ? 2 : 1;
        if (l->settle_kind == SETTLE_COMPLETE)
            l->settle_kind = SETTLE_FAIL;
        free(l->settle_text);
        l->settle_text = text;
        l->writing = 0;
        lease_write(l);
        lease_unref(l);
        return;
    }
    if (err) /* the job stays where it is in Redis; a sweep or another worker recovers it */
        w->errors++;
    l->written = 1;
    if (!l->host_done && w->stopping && l->state == L_RUNNING) {
        /* stopping, and the handler still holds the job past the hard
         * deadline: the job is settled in Redis, so the worker lets go of it
         * (the handler's late settle returns SAQ_ESTATE) instead of waiting */
        atomic_store(&l->given_back, 1);
        lease_stop_timer(l);
        lease_unlink(l);
        w->slots--;
        atomic_fetch_sub(&w->running, 1);
        lease_unref(l); /* the worker's reference; the host's job keeps the memory */
        lease_unref(l); /* this write's reference */
        worker_check_stopped(w);
        return;
    }
    lease_maybe_release(l);
    lease_unref(l);
}

static void rewrite_cb(uv_timer_t *t)
{
    saq__lease_t *l = t->data;
    l->writing = 0;
    lease_write(l);
}

static const char *timeout_text(saq__lease_t *l, char *buf, size_t n)
{
    snprintf(buf, n, "TimeoutError: job %s timed out after %g seconds", l->shadow.key,
             l->shadow.timeout);
    return buf;
}

/* Decide and write the job's outcome (spec 4.3 steps 6-8). */
static void lease_write(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    saq_queue_t *q = w->q;
    char buf[200];
    if (l->writing || l->written)
        return;
    lease_stop_timer(l);
    l->writing = 1;
    atomic_fetch_add(&l->refs, 1);
    int why = atomic_load(&l->cancelled);
    saq_job_t *j = &l->shadow;
    switch (why) {
    case SAQ_CANCEL_ABORTED:
        saq__finish_job(q, j, SAQ_STATUS_ABORTED, NULL, l->abort_error ? l->abort_error : "abort",
                        &l->guard, SAQ__DEL_MARKER, lease_written, l);
        return;
    case SAQ_CANCEL_LOST:
        lease_written(l, 0, NULL, -2);
        return;
    case SAQ_CANCEL_SHUTDOWN:
        saq__retry_job(q, j, "cancelled", &l->guard, lease_written, l); /* saq ignores retries here */
        return;
    case SAQ_CANCEL_HEARTBEAT:
        if (j->retries > j->attempts)
            saq__retry_job(q, j, w->set.swept_msg, &l->guard, lease_written, l);
        else
            saq__finish_job(q, j, SAQ_STATUS_ABORTED, NULL, w->set.swept_msg, &l->guard, 0,
                            lease_written, l);
        return;
    case SAQ_CANCEL_TIMEOUT:
        timeout_text(l, buf, sizeof buf);
        if (j->retries > j->attempts)
            saq__retry_job(q, j, buf, &l->guard, lease_written, l);
        else
            saq__finish_job(q, j, SAQ_STATUS_FAILED, NULL, buf, &l->guard, 0, lease_written, l);
        return;
    default:
        break;
    }
    switch (l->settle_kind) {
    case SETTLE_COMPLETE:
        saq__finish_job(q, j, SAQ_STATUS_COMPLETE, l->settle_text, NULL, &l->guard, 0, lease_written, l);
        return;
    case SETTLE_RELEASE:
        saq__retry_job(q, j, "cancelled", &l->guard, lease_written, l);
        return;
    case SETTLE_DROPPED:
        if (w->stopping) { /* as saq does for a job cancelled by a shutdown */
            saq__retry_job(q, j, "cancelled", &l->guard, lease_written, l);
            return;
        }
        /* a handler bug, not a shutdown: counts against retries (no hot loop) */
        free(l->settle_text);
        l->settle_text = strdup("RuntimeError: the handler released the job without settling it "
                                "(saq_job_free before saq_job_complete or saq_job_fail)");
        /* fall through */
    default: {
        const char *err = l->settle_text ? l->settle_text : "job failed";
        if (j->retries > j->attempts)
            saq__retry_job(q, j, err, &l->guard, lease_written, l);
        else
            saq__finish_job(q, j, SAQ_STATUS_FAILED, NULL, err, &l->guard, 0, lease_written, l);
    }
    }
}

typedef struct after_msg {
    saq__msg_t msg;
    saq__lease_t *lease;
} after_msg_t;

static void after_done_run(saq_queue_t *q, saq__msg_t *m)
{
    saq__lease_t *l = ((after_msg_t *)m)->lease;
    (void)q;
    free(m);
    l->after_pending = 0;
    if (!l->detached)
        lease_release(l);
    lease_unref(l); /* the after task's reference */
}

static int post_after_done(saq__lease_t *l)
{
    after_msg_t *m = saq__calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->msg.run = after_done_run;
    m->lease = l;
    if (saq__post(l->w->q, &m->msg)) {
        free(m);
        return -1;
    }
    return 0;
}

/* Release once both the host and Redis are done (after hooks first). */
static void lease_maybe_release(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    if (l->detached || !l->host_done || !l->written || l->after_pending)
        return;
    int has_after = 0;
    for (size_t i = 0; i < w->nhooks; i++)
        if (w->hooks[i].kind == SAQ_HOOK_AFTER_PROCESS)
            has_after = 1;
    /* after_process also runs for jobs cancelled by a stop (saq runs it in the
     * cancelled process() before the shutdown hooks; spec 6 item 42) */
    if (has_after && w->pool && !atomic_load(&w->freed)) {
        task_t *t = saq__calloc(1, sizeof *t);
        saq_job_t *snap = saq_job_dup(&l->shadow);
        if (t && snap) {
            t->kind = 1;
            t->job = snap;
            t->lease = l;
            l->after_pending = 1;
            atomic_fetch_add(&l->refs, 1); /* the task's: a teardown may drop the list's */
            if (pool_push(w->pool, t) == 0)
                return;
            atomic_fetch_sub(&l->refs, 1);
            l->after_pending = 0;
        }
        free(t);
        saq_job_free(snap);
    }
    lease_release(l);
}

/* ---- settle messages from any thread ---- */

typedef struct settle_msg {
    saq__msg_t msg;
    saq__lease_t *lease;
    int kind;
    char *text;
} settle_msg_t;

static void settle_run(saq_queue_t *q, saq__msg_t *m)
{
    settle_msg_t *s = (settle_msg_t *)m;
    saq__lease_t *l = s->lease;
    (void)q;
    if (atomic_load(&l->given_back)) { /* settled already by the stopping worker */
        free(s->text);
        free(s);
        lease_unref(l);
        return;
    }
    l->host_done = 1;
    l->settle_kind = s->kind;
    free(l->settle_text);
    l->settle_text = s->text;
    free(s);
    if (l->state == L_RUNNING) {
        if (!l->written && !l->writing)
            lease_write(l);
        else
            lease_maybe_release(l);
    }
    lease_unref(l); /* the message's reference */
}

static int settle(saq_job_t *job, int kind, const char *text)
{
    saq__lease_t *l = job ? job->lease : NULL;
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
        saq__job_seterr(job, "the stopping worker already gave this job back (retried as cancelled)");
        return SAQ_ESTATE;
    }
    settle_msg_t *s = saq__calloc(1, sizeof *s);
    if (!s)
        return SAQ_ENOMEM;
    s->msg.run = settle_run;
    s->lease = l;
    s->kind = kind;
    s->text = text ? strdup(text) : NULL;
    atomic_fetch_add(&l->refs, 1);
    if (saq__post(l->w->q, &s->msg)) {
        free(s->text);
        free(s);
        atomic_fetch_sub(&l->refs, 1);
        return SAQ_ECLOSED;
    }
    return SAQ_OK;
}

SAQ_API int saq_job_complete(saq_job_t *job, const char *result_json)
{
    char err[200];
    if (!job || !job->lease)
        return SAQ_EINVAL;
    size_t n = result_json ? strlen(result_json) : 0;
    size_t cap = job->lease->w->q->set.max_payload;
    if (n && n + 4096 > cap) {
        char *m = saq__sprintf("ValueError: the job's result is %zu bytes, over max_payload_bytes (%zu)", n, cap);
        saq__job_seterr(job, "%s", m ? m : "result too large");
        int e = settle(job, SETTLE_FAIL, m ? m : "result too large");
        free(m);
        return e ? e : SAQ_ETOOBIG;
    }
    if (result_json && saq__json_validate(result_json, n, 0, err, sizeof err)) {
        char *m = saq__sprintf("ValueError: the job's result is not valid JSON: %s", err);
        saq__job_seterr(job, "%s", m ? m : "invalid result JSON");
        int e = settle(job, SETTLE_FAIL, m ? m : "invalid result JSON");
        free(m);
        return e ? e : SAQ_EINVAL;
    }
    if (result_json && !strcmp(result_json, "null"))
        result_json = NULL;
    return settle(job, SETTLE_COMPLETE, result_json);
}

SAQ_API int saq_job_fail(saq_job_t *job, const char *error_text)
{
    if (!job || !job->lease)
        return SAQ_EINVAL;
    return settle(job, SETTLE_FAIL, error_text ? error_text : "job failed");
}

SAQ_API int saq_job_cancelled(const saq_job_t *job)
{
    return job && job->lease ? atomic_load(&job->lease->cancelled) : 0;
}

SAQ_API uint64_t saq_job_lease_id(const saq_job_t *job)
{
    return job && job->lease ? job->lease->id : 0;
}

/* saq_job_free of a leased job: give the lease back (retried as "cancelled"). */
void saq__lease_release(saq_job_t *job)
{
    saq__lease_t *l = job->lease;
    job->lease = NULL;
    if (atomic_load(&l->settled) == 0 && l->w->q->fork_gen == saq__fork_gen()) {
        saq_job_t tmp;
        saq__job_init(&tmp);
        tmp.lease = l;
        settle(&tmp, SETTLE_DROPPED, NULL);
        tmp.lease = NULL;
        saq__job_clear(&tmp); /* settle may have left a message on it */
    }
    lease_unref(l);
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
    if (!err && r && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        l->touched_ms = (int64_t)req->idata;
    l->guard.expect = NULL; /* rewritten (or maybe): the outcome write decodes */
    lease_unref(l);
}

/* The touch of an opaque record (dump transform): the new bytes replace the
 * ones this lease last wrote, which the next touch and the outcome compare. */
static void touch_opaque_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq__lease_t *l = req->data;
    saq__buf_t *b = req->aux; /* the bytes written (a dump transform's output may hold NULs) */
    char *json = b->p;
    (void)msg;
    if (!err && r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
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
    lease_unref(l);
}

static void touch_run(saq_queue_t *q, saq__msg_t *m)
{
    touch_msg_t *t = (touch_msg_t *)m;
    saq__lease_t *l = t->lease;
    char err[200];
    if (l->state == L_RUNNING && !l->written && !l->writing) {
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
                const char *argv[4] = {j->id, json, saq__status_name(j->status),
                                       l->guard.expect ? l->guard.expect : ""};
                size_t lens[4] = {strlen(j->id), len, strlen(argv[2]),
                                  l->guard.expect ? l->guard.expect_len : 0};
                saq__buf_t *b = saq__calloc(1, sizeof *b);
                saq__req_t *r = NULL;
                if (b) {
                    b->p = json;
                    b->len = len;
                    atomic_fetch_add(&l->refs, 1);
                    r = saq__eval(&q->cmd, SCRIPT_REPLACE, touch_opaque_reply, l, 1, 4, argv, lens);
                }
                if (r) {
                    r->idata = (intptr_t)now;
                    r->aux = b;
                } else {
                    if (b)
                        atomic_fetch_sub(&l->refs, 1);
                    free(json);
                    free(b);
                }
            } else if (!q->set.dump && !saq__job_dump_split(j, q->set.dialect, &head, &errm, &tail)) {
                char att[24], st[24];
                snprintf(att, sizeof att, "%d", l->guard.attempts);
                snprintf(st, sizeof st, "%lld", (long long)l->guard.started);
                const char *argv[8] = {j->id, head, errm, tail, "active", "1", att, st};
                atomic_fetch_add(&l->refs, 1);
                saq__req_t *r = saq__eval(&q->cmd, SCRIPT_UPDATE, touch_reply, l, 1, 8, argv, NULL);
                if (r)
                    r->idata = (intptr_t)now;
                else
                    atomic_fetch_sub(&l->refs, 1);
            }
            free(head);
            free(errm);
            free(tail);
        }
    }
    free(t->fields);
    free(t);
    lease_unref(l);
}

SAQ_API int saq_job_touch(saq_job_t *job, const char *fields_json)
{
    char err[200];
    saq__lease_t *l = job ? job->lease : NULL;
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
    if (!t || (fields_json && !(t->fields = strdup(fields_json)))) {
        free(t);
        return SAQ_ENOMEM;
    }
    t->msg.run = touch_run;
    t->lease = l;
    atomic_fetch_add(&l->refs, 1);
    if (saq__post(l->w->q, &t->msg)) {
        atomic_fetch_sub(&l->refs, 1);
        free(t->fields);
        free(t);
        return SAQ_ECLOSED;
    }
    return SAQ_OK;
}

/* ======================================================================== */
/* dequeue, mark active, run                                                */
/* ======================================================================== */

static fn_entry_t *find_fn(saq_worker_t *w, const char *name)
{
    for (size_t i = 0; i < w->nfns; i++)
        if (!strcmp(w->fns[i].name, name))
            return &w->fns[i];
    return NULL;
}

/* Hand a marked job to its handler. */
static void lease_run(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    l->state = L_RUNNING;
    atomic_fetch_add(&w->running, 1);
    free(l->dequeued);
    l->dequeued = NULL;
    fn_entry_t *fn = find_fn(w, l->shadow.function);
    if (!fn) {
        char *m = saq__sprintf("KeyError: '%s' (no function of that name is registered on worker %s)",
                               l->shadow.function, w->id);
        l->host_done = 1;
        l->settle_kind = SETTLE_FAIL;
        l->settle_text = m;
        atomic_store(&l->settled, 1);
        lease_write(l);
        return;
    }
    if (l->shadow.timeout > 0)
        lease_timer(l, l->shadow.timeout, timeout_cb);
    /* marked after the stop's grace period ended (its mark reply came late):
     * grace_expired did not see it, so cancel it now or the stop waits for it */
    if (w->stopping && !uv_is_active((uv_handle_t *)&w->t_grace))
        lease_cancel(l, SAQ_CANCEL_SHUTDOWN, NULL);
    saq_job_t *job = saq_job_dup(&l->shadow);
    if (!job) {
        l->host_done = 1;
        l->settle_kind = SETTLE_RELEASE;
        atomic_store(&l->settled, 1);
        lease_write(l);
        return;
    }
    job->lease = l;
    atomic_fetch_add(&l->refs, 1);
    if (fn->fn) {
        task_t *t = saq__calloc(1, sizeof *t);
        if (t) {
            t->job = job;
            t->fn = fn;
            if (pool_push(w->pool, t) == 0)
                return;
            free(t);
        }
        job->lease = NULL;
        lease_unref(l);
        saq_job_free(job);
        l->host_done = 1;
        l->settle_kind = SETTLE_RELEASE;
        atomic_store(&l->settled, 1);
        lease_write(l);
        return;
    }
    saq_event_t *ev = saq__event_new(SAQ_EVENT_LEASE, w->tag);
    if (!ev) {
        saq_job_free(job); /* releases the lease: retried */
        return;
    }
    ev->job = job;
    ev->ival = (int64_t)l->id;
    ev->key = strdup(l->shadow.key);
    saq__cq_push(w->cq, ev);
}

static void lease_unlink(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    if (l->prev)
        l->prev->next = l->next;
    else if (w->leases == l)
        w->leases = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

static void lease_abandon(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    lease_stop_timer(l);
    lease_unlink(l);
    w->slots--;
    atomic_fetch_add(&w->refs, 1);
    lease_unref(l);
    worker_pump(w);
    worker_check_stopped(w);
    worker_unref(w);
}

/* A job moved to `active` while the worker is stopping: put it back at the
 * head of `queued`, exactly where it was (its record was not touched yet). */
static void give_back_done(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    (void)r, (void)err, (void)msg;
    w->slots--;
    worker_check_stopped(w);
    worker_unref(w);
}

static void give_back(saq_worker_t *w, const char *id, size_t idlen)
{
    saq_queue_t *q = w->q;
    char *c = saq__strndup(id, idlen);
    if (!c) {
        w->slots--;
        return;
    }
    atomic_fetch_add(&w->refs, 1);
    saq__cmdf(&q->cmd, NULL, NULL, "MULTI");
    saq__cmdf(&q->cmd, NULL, NULL, "LREM %s 1 %s", q->k_active, c);
    saq__cmdf(&q->cmd, NULL, NULL, "LPUSH %s %s", q->k_queued, c);
    if (!saq__cmdf(&q->cmd, give_back_done, w, "EXEC")) {
        w->slots--;
        atomic_fetch_sub(&w->refs, 1);
    }
    free(c);
}

static void mark_reply(saq__req_t *req, redisReply *r, int err, const char *msg);

static void send_mark(saq__lease_t *l, int opaque)
{
    saq_worker_t *w = l->w;
    saq_queue_t *q = w->q;
    int e;
    if (!l->mark_json && !(l->mark_json = saq__dump_job(q, &l->shadow, &l->mark_len, &e))) {
        if (e == SAQ_ETOOBIG && l->dequeued) /* readable, but too large once marked */
            saq__settle_unreadable(q, l->shadow.id, l->dequeued, l->dequeued_len,
                                   "it is too large to mark active under max_payload_bytes");
        lease_abandon(l); /* else it stays in active; the liveness check puts it back */
        return;
    }
    char *marker = saq__sprintf("saq:abort:%s", l->shadow.key);
    if (!marker) {
        lease_abandon(l);
        return;
    }
    const char *argv[8] = {q->k_active, l->shadow.id, marker, l->mark_json,
                           q->set.dialect == SAQ__DIALECT_013 ? "1" : "0",
                           opaque || q->set.dump ? "1" : "0", l->dequeued ? l->dequeued : "",
                           l->mark_tries ? "1" : "0"};
    size_t lens[8] = {strlen(argv[0]), strlen(argv[1]), strlen(argv[2]), l->mark_len, 1, 1,
                      l->dequeued ? l->dequeued_len : 0, 1};
    atomic_fetch_add(&l->refs, 1); /* the request's: a teardown may drop the list's first */
    if (!saq__eval(&q->cmd, SCRIPT_MARK, mark_reply, l, 3, 8, argv, lens)) {
        atomic_fetch_sub(&l->refs, 1);
        lease_abandon(l);
    }
    free(marker);
}

static void remark_cb(uv_timer_t *t) { send_mark(t->data, 0); }

static void mark_reply_run(saq__lease_t *l, redisReply *r, int err);

static void mark_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq__lease_t *l = req->data;
    (void)msg;
    if (!l->detached) /* else the queue's teardown already dropped the lease */
        mark_reply_run(l, r, err);
    lease_unref(l); /* the request's reference */
}

static void mark_reply_run(saq__lease_t *l, redisReply *r, int err)
{
    saq_worker_t *w = l->w;
    saq_queue_t *q = w->q;
    long long v = 0;
    if ((err == SAQ_ECONN || err == SAQ_ETIMEDOUT) && l->mark_tries < 20 && !w->stopping) {
        /* the reply was lost with the connection: the mark may or may not have
         * happened; sending the same MARK again finds out (it is idempotent) */
        l->mark_tries++;
        lease_timer(l, 0.25, remark_cb);
        return;
    }
    if (err || !r || r->type != REDIS_REPLY_ARRAY || !r->elements ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        /* unknown outcome: the liveness check recovers the job from active */
        w->errors++;
        lease_abandon(l);
        return;
    }
    v = r->element[0]->integer;
    if (v == 1) {
        l->guard.expect = l->mark_json; /* the record as this lease wrote it */
        l->guard.expect_len = l->mark_len;
        lease_run(l);
        return;
    }
    if (v == -3) { /* Lua could not decode the record: mark without the status check */
        send_mark(l, 1);
        return;
    }
    if (v == -1 && r->elements >= 3 && r->element[1]->str) {
        const char *st = r->element[1]->str;
        if (!strcmp(st, "aborting")) {
            /* aborted between the move and the mark (U13): finish it aborted, once */
            saq_job_t *cur = NULL;
            char e2[200];
            if (saq__job_from_reply(q, r->element[2], l->shadow.id, &cur, e2, sizeof e2) == 0) {
                saq__job_clear(&l->shadow);
                saq__job_copy(&l->shadow, cur);
                saq_job_free(cur);
            }
            /* the reason: the 0.13 abort marker's text when it was one, else
             * the record's error */
            const char *reason = r->elements >= 4 && r->element[3]->type == REDIS_REPLY_STRING
                                     ? r->element[3]->str
                                     : l->shadow.error ? l->shadow.error : "abort";
            l->state = L_RUNNING;
            atomic_fetch_add(&w->running, 1);
            l->host_done = 1;
            atomic_store(&l->settled, 1);
            atomic_store(&l->cancelled, SAQ_CANCEL_ABORTED);
            l->abort_error = strdup(reason);
            l->writing = 1;
            atomic_fetch_add(&l->refs, 1);
            saq__finish_job(q, &l->shadow, SAQ_STATUS_ABORTED, NULL, l->abort_error, NULL,
                            SAQ__DEL_MARKER, lease_written, l);
            return;
        }
        /* already running elsewhere or finished: MARK dropped our stale
         * entry of `active` where it was one */
    }
    lease_abandon(l); /* swept or removed meanwhile: not ours to run (#277) */
}

static void dup_entry_done(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    (void)r, (void)err, (void)msg;
    w->slots--;
    worker_pump(w);
    worker_check_stopped(w);
    worker_unref(w);
}

/* A dequeued id with its record: build the lease and mark it active. */
static void start_job(saq_worker_t *w, redisReply *idr, redisReply *rec)
{
    saq_queue_t *q = w->q;
    char e2[240];
    if (!idr || idr->type != REDIS_REPLY_STRING || !rec || rec->type != REDIS_REPLY_STRING) {
        /* record missing: leave the id in active, the sweeper drops it (saq 3.3) */
        w->slots--;
        return;
    }
    char *id = saq__strndup(idr->str, idr->len);
    if (id && holds_lease(w, id)) {
        /* the same job twice in `queued` (saq's U1): this worker already holds
         * it, so this move is a stale duplicate entry: drop it from active */
        if (!saq__cmdf(&q->cmd, dup_entry_done, w, "LREM %s 1 %s", q->k_active, id))
            w->slots--;
        else
            atomic_fetch_add(&w->refs, 1);
        free(id);
        return;
    }
    free(id);
    saq__lease_t *l = saq__calloc(1, sizeof *l);
    if (!l) {
        w->slots--;
        return;
    }
    saq__job_init(&l->shadow);
    char *rid = saq__strndup(idr->str, idr->len);
    int e = !rid ? SAQ_ENOMEM
            : rec->len > q->set.max_payload
                ? (snprintf(e2, sizeof e2, "it is larger than max_payload_bytes (%zu bytes)", q->set.max_payload),
                   SAQ_ETOOBIG)
                : saq__load_job(q, rid, rec->str, rec->len, &l->shadow, e2, sizeof e2);
    free(rid);
    if (e || !l->shadow.key) {
        saq__job_clear(&l->shadow);
        free(l);
        w->errors++;
        if (e == SAQ_ENOMEM) { /* not the record's fault: put it back for later */
            give_back(w, idr->str, idr->len);
            return;
        }
        /* a record this worker cannot use (not JSON, another transform, too
         * large, not a job): settle it failed, visibly, never leave it in active */
        id = saq__strndup(idr->str, idr->len);
        if (id)
            saq__settle_unreadable(q, id, rec->str, rec->len, e ? e2 : "the record has no key");
        free(id);
        w->slots--;
        return;
    }
    free(l->shadow.id);
    l->shadow.id = saq__strndup(idr->str, idr->len);
    atomic_init(&l->refs, 1);
    atomic_fetch_add(&w->refs, 1);
    l->w = w;
    l->id = ++w->next_lease;
    l->state = L_MARKING;
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
    if (was_queued && (l->dequeued = saq__strndup(rec->str, rec->len)))
        l->dequeued_len = rec->len;
    l->prev = NULL; /* every lease is listed from now until it is released */
    l->next = w->leases;
    if (w->leases)
        w->leases->prev = l;
    w->leases = l;
    w->burst_taken++;
    send_mark(l, 0);
}

static void blmove_reply(saq__req_t *req, redisReply *r, int err, const char *msg);

static void retry_pump_cb(uv_timer_t *t) { worker_pump(t->data); }

static void get_after_move(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    redisReply idr = {.type = REDIS_REPLY_STRING, .str = (char *)req->aux, .len = strlen((char *)req->aux)};
    (void)msg;
    if (w->stopping && !err && r && r->type == REDIS_REPLY_STRING)
        give_back(w, idr.str, idr.len);
    else
        start_job(w, &idr, err ? NULL : r);
    free(req->aux);
    req->aux = NULL;
    worker_pump(w);
    worker_check_stopped(w);
    worker_unref(w);
}

static void blmove_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    saq_queue_t *q = w->q;
    (void)msg;
    w->blocking = 0;
    saq__debug("worker: BLMOVE -> %s %s", err ? saq_err_name(err) : "ok", msg ? msg : "");
    if (err || !r || r->type != REDIS_REPLY_STRING) {
        w->slots--;
        if (err && !w->stopping) /* connection trouble: back off a little */
            uv_timer_start(&w->t_retry, retry_pump_cb, 200 + (uint64_t)(saq__random01() * 300), 0);
        else if (!err && w->set.burst)
            w->burst_done = 1; /* nothing dequeued: burst mode ends */
        else
            worker_pump(w);
        worker_check_stopped(w);
        worker_unref(w);
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
    w->slots--;
    worker_unref(w);
}

static void dequeue_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    int asked = (int)req->idata;
    w->dequeuing = 0;
    saq__debug("worker: DEQUEUE(%d) -> %s %s slots=%d", asked, err ? saq_err_name(err) : "ok", msg ? msg : "", w->slots);
    size_t pairs = !err && r && r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
    w->slots -= asked - (int)pairs; /* give back what was not filled */
    if (w->stopping) { /* reverse order: LPUSH restores the original FIFO order */
        for (size_t i = pairs; i-- > 0;)
            if (r->element[2 * i]->type == REDIS_REPLY_STRING)
                give_back(w, r->element[2 * i]->str, r->element[2 * i]->len);
            else
                w->slots--;
    } else {
        for (size_t i = 0; i < pairs; i++)
            start_job(w, r->element[2 * i], r->element[2 * i + 1]);
    }
    if (err && !w->stopping) {
        uv_timer_start(&w->t_retry, retry_pump_cb, 200 + (uint64_t)(saq__random01() * 300), 0);
    } else if ((int)pairs < asked && !w->stopping && !w->burst_done) {
        /* drained: block for the next one on the dedicated connection */
        if (w->set.max_burst_jobs && w->burst_taken >= w->set.max_burst_jobs) {
            w->burst_done = 1;
        } else if (w->slots < w->set.concurrency && !w->blocking) {
            double t = w->set.dequeue_timeout;
            char ts[40];
            saq__fmt_double(ts, t);
            const char *argv[6] = {"BLMOVE", w->q->k_queued, w->q->k_active, "LEFT", "RIGHT", ts};
            const char *argv2[4] = {"BRPOPLPUSH", w->q->k_queued, w->q->k_active, ts};
            int tmo = t > 0 ? (int)(t * 1000) + w->q->set.command_timeout_ms : -1;
            w->blocking = 1;
            w->slots++;
            atomic_fetch_add(&w->refs, 1);
            saq__req_t *b = w->q->have_lmove || !w->q->server_version
                                ? saq__cmd(&w->block, blmove_reply, w, tmo, 6, argv, NULL)
                                : saq__cmd(&w->block, blmove_reply, w, tmo, 4, argv2, NULL);
            if (!b) {
                w->blocking = 0;
                w->slots--;
                atomic_fetch_sub(&w->refs, 1);
            }
        }
    } else {
        worker_pump(w);
    }
    worker_check_stopped(w);
    worker_unref(w);
}

static void worker_pump(saq_worker_t *w)
{
    saq__debug("worker: pump stopping=%d burst=%d dequeuing=%d blocking=%d slots=%d attached=%d", w->stopping,
               w->burst_done, w->dequeuing, w->blocking, w->slots, w->attached);
    if (w->stopping || w->burst_done || w->dequeuing || w->blocking || !w->attached)
        return;
    int free_slots = w->set.concurrency - w->slots;
    if (w->set.max_burst_jobs) {
        long left = w->set.max_burst_jobs - w->burst_taken;
        if (left <= 0) {
            w->burst_done = 1;
            worker_check_stopped(w);
            return;
        }
        if (free_slots > left)
            free_slots = (int)left;
    }
    if (free_slots <= 0)
        return;
    saq_queue_t *q = w->q;
    char n[16];
    snprintf(n, sizeof n, "%d", free_slots);
    const char *argv[4] = {q->k_queued, q->k_active, n, q->have_lmove || !q->server_version ? "1" : "0"};
    w->dequeuing = 1;
    w->slots += free_slots;
    atomic_fetch_add(&w->refs, 1);
    saq__req_t *r = saq__eval(&q->cmd, SCRIPT_DEQUEUE, dequeue_reply, w, 2, 4, argv, NULL);
    if (r) {
        r->idata = free_slots;
    } else {
        w->dequeuing = 0;
        w->slots -= free_slots;
        atomic_fetch_sub(&w->refs, 1);
    }
}

/* ======================================================================== */
/* upkeep timers                                                            */
/* ======================================================================== */

static int icq_cb(saq_event_t *ev, void *ud)
{
    saq_worker_t *w = ud;
    if (saq_event_status(ev) && saq_event_status(ev) != SAQ_ECLOSED)
        w->errors++;
    saq_event_free(ev);
    return 0;
}

static void enqueue_cron(saq_worker_t *w, cron_entry_t *c, int64_t now_s)
{
    int64_t next = saq__cron_next(&c->c, now_s);
    if (next < 0)
        return;
    saq_job_t *j = saq_job_new(c->function);
    if (!j)
        return;
    if (c->unique) {
        char *k = saq__sprintf("cron:%s", c->function);
        if (k)
            saq_job_set_key(j, k);
        free(k);
    }
    saq_job_set_scheduled(j, (double)next);
    if (c->kwargs)
        saq_job_set_kwargs(j, c->kwargs);
    if (c->has_timeout)
        saq_job_set_timeout(j, c->timeout);
    if (c->has_heartbeat)
        saq_job_set_heartbeat(j, c->heartbeat);
    if (c->has_retries)
        saq_job_set_retries(j, c->retries);
    if (c->has_ttl)
        saq_job_set_ttl(j, c->ttl);
    saq_queue_enqueue(w->q, j, w->icq, 0);
    saq_job_free(j);
}

int saq__queue_schedule_ms(saq_queue_t *q, long long lock_ms, saq_cq_t *cq, uint64_t tag);
int saq__queue_sweep_ms(saq_queue_t *q, long long lock_ms, double abort_s, const char *swept_msg,
                        saq_cq_t *cq, uint64_t tag);

static int lock_s(double t) { return t < 1 ? 1 : (int)ceil(t); }

/* A lock a little shorter than the timer period: with a lock as long as the
 * period (saq's choice), a tick that lands a hair before the previous lock
 * expires is skipped, and the work happens every other period. */
static long long lock_ms_for(double period_s)
{
    long long ms = (long long)(period_s * 1000 * 0.9);
    return ms < 50 ? 50 : ms;
}

static void schedule_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    int64_t now_s = (int64_t)floor(saq__now_s());
    for (size_t i = 0; i < w->ncrons; i++)
        enqueue_cron(w, &w->crons[i], now_s);
    saq__queue_schedule_ms(w->q, lock_ms_for(w->set.t_schedule), w->icq, 0);
}

static void info_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    char *stats = saq__stats_json(w->q);
    if (!stats)
        return;
    saq__write_registry(w->q, w->id, stats, w->set.metadata, lock_s(w->set.t_worker_info + 1), 1,
                        NULL, NULL);
    free(stats);
}

static void sweep_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    saq__queue_sweep_ms(w->q, lock_ms_for(w->set.t_sweep), 5.0, w->set.swept_msg, w->icq, 0);
}

/* ---- abort and heartbeat checks ---- */

static void abort_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    uint64_t *ids = req->aux;
    size_t n = (size_t)req->idata;
    (void)msg;
    if (!err && r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements && i < n; i++) {
            saq__lease_t *l;
            for (l = w->leases; l && l->id != ids[i]; l = l->next)
                ;
            redisReply *e = r->element[i];
            if (!l || e->type != REDIS_REPLY_STRING || l->written || l->writing)
                continue;
            if (w->q->set.dialect == SAQ__DIALECT_013) { /* a marker exists */
                lease_cancel(l, SAQ_CANCEL_ABORTED, e->str);
                continue;
            }
            saq_job_t *j = NULL;
            char e2[200];
            if (saq__job_from_reply(w->q, e, l->shadow.id, &j, e2, sizeof e2))
                continue;
            if (j->status == SAQ_STATUS_ABORTING || j->status == SAQ_STATUS_ABORTED)
                lease_cancel(l, SAQ_CANCEL_ABORTED, j->error ? j->error : "abort");
            else if (j->attempts != l->guard.attempts || j->started != l->guard.started)
                lease_cancel(l, SAQ_CANCEL_LOST, NULL); /* swept and restarted elsewhere */
            saq_job_free(j);
        }
    }
    free(ids);
    worker_unref(w);
}

static void abort_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    int64_t now = saq__now_ms();
    size_t n = 0;
    for (saq__lease_t *l = w->leases; l; l = l->next) {
        if (l->state != L_RUNNING || l->written || l->writing)
            continue;
        /* heartbeat enforced locally: the handler must touch within `heartbeat` s */
        if (l->shadow.heartbeat > 0 && !atomic_load(&l->cancelled) &&
            (now - l->touched_ms) / 1000.0 > l->shadow.heartbeat) {
            lease_cancel(l, SAQ_CANCEL_HEARTBEAT, NULL);
            continue;
        }
        if (now - l->guard.started >= w->set.t_abort * 1000)
            n++;
    }
    if (!n)
        return;
    const char **argv = saq__malloc((n + 1) * sizeof *argv);
    char **keys = saq__calloc(n, sizeof *keys);
    uint64_t *ids = saq__malloc(n * sizeof *ids);
    if (!argv || !keys || !ids)
        goto out;
    argv[0] = "MGET";
    size_t k = 0;
    for (saq__lease_t *l = w->leases; l && k < n; l = l->next) {
        if (l->state != L_RUNNING || l->written || l->writing ||
            now - l->guard.started < w->set.t_abort * 1000 ||
            (l->shadow.heartbeat > 0 && atomic_load(&l->cancelled) == SAQ_CANCEL_HEARTBEAT))
            continue;
        keys[k] = w->q->set.dialect == SAQ__DIALECT_013 ? saq__sprintf("saq:abort:%s", l->shadow.key)
                                                         : strdup(l->shadow.id);
        argv[k + 1] = keys[k] ? keys[k] : "";
        ids[k] = l->id;
        k++;
    }
    if (!k)
        goto out;
    atomic_fetch_add(&w->refs, 1);
    saq__req_t *r = saq__cmd(&w->q->cmd, abort_reply, w, 0, (int)k + 1, argv, NULL);
    if (r) {
        r->aux = ids;
        r->idata = (intptr_t)k;
        ids = NULL;
    } else {
        atomic_fetch_sub(&w->refs, 1);
    }
out:
    for (size_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    free(argv);
    free(ids);
}

/* ---- dead-worker recovery ----
 * Two ways to tell that a worker is gone:
 *   - libsaq workers refresh an entry in saq:<q>:libsaq:alive every
 *     timers.liveness (0.5 s); one not refreshed for 4 periods is dead, and
 *     every live libsaq worker recovers its running jobs at once (a "fast"
 *     pass). A worker trusts what it sees only after its own refreshes have
 *     succeeded without a gap for 4 periods, so a frozen or restarted Redis
 *     does not make live workers look dead;
 *   - any worker (Python saq ones too) whose saq registry entry is missing in
 *     two checks dead_worker_check (10 s) apart (a "slow" pass).
 * Both passes also put back moves that were never marked (a worker that died
 * between its dequeue and its mark) once the same unmarked record has been
 * seen for a second, and recover this worker's own jobs that no lease holds. */

#define SEEN_AGAIN_MS 1500 /* an unmarked move seen this long ago is recovered */
/* a worker missing from saq's registry for 10 checks (10 s by default) is
 * gone: an asyncio worker whose handler blocks its loop misses its 10 s
 * write for a while, and that is not death */
#define SUSPECT_CHECKS 10
#define FULL_PASS_MS 10000 /* registry passes read the active jobs at least this often */

typedef struct dead_ctx {
    saq_worker_t *w;
    int fast;               /* a liveness pass: `dead` holds the expired libsaq workers */
    char **live;            /* slow pass: the registry's live worker ids */
    size_t nlive;
    char **dead;
    size_t ndead;
    char **ids;
    size_t nids;
} dead_ctx_t;

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void dead_free(dead_ctx_t *d)
{
    strv_free(d->live, d->nlive);
    strv_free(d->ids, d->nids);
    strv_free(d->dead, d->ndead);
    d->w->pass_running = 0;
    worker_unref(d->w);
    free(d);
}

static int holds_lease(saq_worker_t *w, const char *id)
{
    for (saq__lease_t *l = w->leases; l; l = l->next)
        if (l->shadow.id && !strcmp(l->shadow.id, id))
            return 1;
    return 0;
}

static int in_list(char **l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (l[i] && !strcmp(l[i], s))
            return 1;
    return 0;
}

/* Whether what this worker sees of others can be acted on: not while Redis
 * (or this worker's view of it) has just had a gap, which delays every
 * worker's marks and writes alike (a frozen or restarted Redis). */
static int worker_trusts(const saq_worker_t *w)
{
    if (!(w->set.t_alive > 0))
        return 1; /* no liveness refreshes to tell a gap by */
    int64_t now = (int64_t)saq__mono_ms(), period = (int64_t)saq__timer_ms(w->set.t_alive);
    return w->alive_ok_ms && now - w->alive_ok_ms <= 2 * period + 250 && now >= w->alive_trust_ms;
}

/* When `tag` (an unmarked move, an own job no lease holds, a worker missing
 * from the registry) was first seen, by the previous pass's list; now if new. */
static int64_t first_seen(char **prev, const int64_t *prev_ms, size_t nprev, const char *tag, int64_t now)
{
    for (size_t i = 0; i < nprev; i++)
        if (prev[i] && !strcmp(prev[i], tag))
            return prev_ms[i];
    return now;
}

/* Keep `tag` (taken) in the next pass's list with the time first seen; 1 when
 * it was seen SEEN_AGAIN_MS ago or more (then it is freed: act on it now). */
static int seen_again(saq_worker_t *w, char *tag, char **next, int64_t *next_ms, size_t *n, int64_t now)
{
    int64_t t = first_seen(w->orphans, w->orphan_ms, w->norphans, tag, now);
    if (now - t >= SEEN_AGAIN_MS && worker_trusts(w)) {
        free(tag);
        return 1;
    }
    next[*n] = tag;
    next_ms[(*n)++] = t;
    return 0;
}

static void dead_records(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    dead_ctx_t *d = req->data;
    saq_worker_t *w = d->w;
    (void)msg;
    char **missing = NULL, **orphans = NULL;
    int64_t *orphan_ms = NULL, *missing_ms = NULL;
    size_t nmissing = 0, norphans = 0;
    int64_t now = saq__now_ms();
    if (err || !r || r->type != REDIS_REPLY_ARRAY || w->stopping) {
        dead_free(d);
        return;
    }
    missing = saq__calloc(r->elements + 1, sizeof *missing);
    orphans = saq__calloc(r->elements + 1, sizeof *orphans);
    orphan_ms = saq__calloc(r->elements + 1, sizeof *orphan_ms);
    missing_ms = saq__calloc(r->elements + 1, sizeof *missing_ms);
    if (!missing || !orphans || !orphan_ms || !missing_ms) {
        free(missing), free(orphans), free(orphan_ms), free(missing_ms);
        dead_free(d);
        return;
    }
    for (size_t i = 0; i < r->elements && i < d->nids; i++) {
        redisReply *e = r->element[i];
        saq_job_t *j = NULL;
        char e2[200];
        if (saq__job_from_reply(w->q, e, d->ids[i], &j, e2, sizeof e2))
            continue;
        const char *wid = j->worker_id;
        if (j->status == SAQ_STATUS_QUEUED) {
            /* moved to active but never marked: a move whose reply was lost
             * (a crash or a dropped connection between the move and the
             * mark). Unchanged a second later: put it back in the queue,
             * unchanged (no attempt was used). */
            char *tag = saq__sprintf("%s\n%.*s", d->ids[i], (int)e->len, e->str);
            if (tag && seen_again(w, tag, orphans, orphan_ms, &norphans, now))
                saq__requeue_unmarked(w->q, d->ids[i], e->str, e->len);
        } else if (j->status == SAQ_STATUS_ACTIVE && wid && !strcmp(wid, w->id) &&
                   !holds_lease(w, d->ids[i])) {
            /* marked active by this worker, but no lease holds it: a reply
             * was lost after the write. Seen again a second later: recover it */
            char *tag = saq__sprintf("own\n%s\n%.*s", d->ids[i], (int)e->len, e->str);
            if (tag && seen_again(w, tag, orphans, orphan_ms, &norphans, now))
                saq__recover_job(w->q, e->str, e->len, j,
                                 "worker lost track of the job (a reply was lost); job recovered", 0,
                                 NULL, NULL);
        } else if (j->status == SAQ_STATUS_ACTIVE && wid && strcmp(wid, w->id) && d->fast &&
                   in_list(d->dead, d->ndead, wid)) {
            /* a libsaq worker whose liveness entry expired: recover now */
            char *why = saq__sprintf("worker %s is gone (its liveness entry expired)", wid);
            saq__recover_job(w->q, e->str, e->len, j, why ? why : "worker gone", 0, NULL, NULL);
            free(why);
        } else if (j->status == SAQ_STATUS_ACTIVE && wid && strcmp(wid, w->id) && !d->fast &&
                   !in_list(d->live, d->nlive, wid)) {
            size_t k = 0;
            while (k < nmissing && strcmp(missing[k], wid))
                k++;
            if (k == nmissing && (missing[k] = strdup(wid)))
                missing_ms[nmissing++] = first_seen(w->suspects, w->suspect_ms, w->nsuspects, wid, now);
            /* missing for a while (not just late with its write): its jobs
             * come back now, not after their timeout */
            if (k < nmissing && now - missing_ms[k] >= SUSPECT_CHECKS * 1000.0 * w->set.dead_worker_check &&
                worker_trusts(w)) {
                char *why = saq__sprintf("worker %s is gone (its registry entry expired)", wid);
                saq__recover_job(w->q, e->str, e->len, j, why ? why : "worker gone", 0, NULL, NULL);
                free(why);
            }
        }
        saq_job_free(j);
    }
    if (!d->fast) {
        strv_free(w->suspects, w->nsuspects);
        free(w->suspect_ms);
        w->suspects = missing;
        w->suspect_ms = missing_ms;
        w->nsuspects = nmissing;
        missing = NULL;
        missing_ms = NULL;
    } else {
        /* the dead ones are dealt with: the next refresh forgets them */
        strv_free(w->forget, w->nforget);
        w->forget = d->dead;
        w->nforget = d->ndead;
        d->dead = NULL;
        d->ndead = 0;
    }
    strv_free(missing, nmissing);
    free(missing_ms);
    strv_free(w->orphans, w->norphans);
    free(w->orphan_ms);
    w->orphans = orphans;
    w->orphan_ms = orphan_ms;
    w->norphans = norphans;
    dead_free(d);
}

static void dead_active(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    dead_ctx_t *d = req->data;
    (void)msg;
    if (err || !r || r->type != REDIS_REPLY_ARRAY || !r->elements) {
        if (!err && r && r->type == REDIS_REPLY_ARRAY && d->fast) {
            /* nothing in active: the dead ones have nothing left to recover */
            strv_free(d->w->forget, d->w->nforget);
            d->w->forget = d->dead;
            d->w->nforget = d->ndead;
            d->dead = NULL;
            d->ndead = 0;
        }
        dead_free(d);
        return;
    }
    d->ids = saq__calloc(r->elements, sizeof *d->ids);
    const char **argv = saq__malloc((r->elements + 1) * sizeof *argv);
    if (!d->ids || !argv) {
        free(argv);
        dead_free(d);
        return;
    }
    argv[0] = "MGET";
    for (size_t i = 0; i < r->elements; i++) {
        d->ids[i] = r->element[i]->str ? strdup(r->element[i]->str) : strdup("");
        argv[i + 1] = d->ids[i] ? d->ids[i] : "";
    }
    d->nids = r->elements;
    if (!saq__cmd(&d->w->q->cmd, dead_records, d, 0, (int)d->nids + 1, argv, NULL))
        dead_free(d);
    free(argv);
}

static void dead_registry(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    dead_ctx_t *d = req->data;
    (void)msg;
    if (err || !r || r->type != REDIS_REPLY_ARRAY) {
        dead_free(d);
        return;
    }
    saq_worker_t *w = d->w;
    d->live = saq__calloc(r->elements + 1, sizeof *d->live);
    for (size_t i = 0; d->live && i < r->elements; i++) {
        const char *m = r->element[i]->str ? r->element[i]->str : "";
        const char *c = strrchr(m, ':');
        d->live[d->nlive++] = strdup(c ? c + 1 : m);
    }
    /* the active jobs are read only when a worker left the registry since the
     * last check, while one is suspected, or every FULL_PASS_MS */
    int gone = 0;
    for (size_t i = 0; i < w->nprev_live && !gone; i++)
        gone = w->prev_live[i] && !in_list(d->live, d->nlive, w->prev_live[i]);
    strv_free(w->prev_live, w->nprev_live);
    w->prev_live = NULL;
    w->nprev_live = 0;
    char **copy = d->live ? saq__calloc(d->nlive + 1, sizeof *copy) : NULL;
    for (size_t i = 0; copy && i < d->nlive; i++)
        copy[i] = d->live[i] ? strdup(d->live[i]) : NULL;
    if (copy) {
        w->prev_live = copy;
        w->nprev_live = d->nlive;
    }
    int64_t now = saq__now_ms();
    if (!gone && !w->nsuspects && now - w->last_full_ms < FULL_PASS_MS) {
        dead_free(d);
        return;
    }
    w->last_full_ms = now;
    if (!saq__cmdf(&w->q->cmd, dead_active, d, "LRANGE %s 0 -1", w->q->k_active))
        dead_free(d);
}

/* Start a pass (one at a time: passes share the orphan lists). A fast pass
 * takes `dead` (the expired libsaq workers). Returns 0 when started. */
static int dead_pass(saq_worker_t *w, int fast, char **dead, size_t ndead)
{
    if (w->stopping || w->pass_running)
        return -1;
    dead_ctx_t *d = saq__calloc(1, sizeof *d);
    if (!d)
        return -1;
    d->w = w;
    d->fast = fast;
    d->dead = dead;
    d->ndead = ndead;
    w->pass_running = 1;
    atomic_fetch_add(&w->refs, 1);
    int ok = fast ? saq__cmdf(&w->q->cmd, dead_active, d, "LRANGE %s 0 -1", w->q->k_active) != NULL
                  : saq__cmdf(&w->q->cmd, dead_registry, d, "ZRANGEBYSCORE %s %lld +inf", w->q->k_stats,
                              (long long)saq__now_ms()) != NULL;
    if (!ok) {
        d->dead = NULL, d->ndead = 0; /* the caller keeps them */
        dead_free(d);
        return -1;
    }
    return 0;
}

static void dead_tick(uv_timer_t *t)
{
    dead_pass(t->data, 0, NULL, 0);
}

/* ---- watched sweep aborts ----
 * The sweep aborts a stuck job (it leaves every list, status `aborting`),
 * waits for its worker to let go, then retries it. A sweeper that dies in
 * between would strand the job; the abort also put it in saq:<q>:libsaq:
 * sweeping with a deadline, and past that deadline any libsaq worker does
 * what the sweeper would have done (compare-and-set: one of them wins). */

static void watch_got(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    char *id = req->aux;
    saq_queue_t *q = w->q;
    saq_job_t *j = NULL;
    char e2[200];
    (void)msg;
    req->aux = NULL;
    if (err == SAQ_EREDIS) { /* not a string key: nothing to retry there */
        saq__cmdf(&q->cmd, NULL, NULL, "ZREM %s %s", q->k_watch, id);
    } else if (!err && r) {
        int unusable = r->type != REDIS_REPLY_STRING ||
                       saq__job_from_reply(q, r, id, &j, e2, sizeof e2) != 0;
        int dangling = !unusable && (j->status == SAQ_STATUS_ABORTING ||
                                     (q->set.dialect == SAQ__DIALECT_013 && j->status == SAQ_STATUS_ACTIVE));
        if (dangling)
            saq__recover_job(q, r->str, r->len, j, w->set.swept_msg ? w->set.swept_msg : q->set.swept_msg,
                             SAQ__RECOVER_UNLISTED, NULL, NULL);
        else /* gone, retried or finished meanwhile: nothing to do */
            saq__cmdf(&q->cmd, NULL, NULL, "ZREM %s %s", q->k_watch, id);
        saq_job_free(j);
    }
    free(id);
    worker_unref(w);
}

/* A request about one job id (`id`, owned, handed to the reply as req->aux)
 * holding a worker reference: or, when it could not be sent, both dropped. */
static void id_request(saq_worker_t *w, char *id, saq__req_t *sent)
{
    if (sent) {
        sent->aux = id;
        return;
    }
    free(id);
    worker_unref(w);
}

static void watch_check(saq_worker_t *w, const char *id, size_t len)
{
    char *c = saq__strndup(id, len);
    if (!c)
        return;
    const char *argv[2] = {"GET", c};
    atomic_fetch_add(&w->refs, 1);
    id_request(w, c, saq__cmd(&w->q->cmd, watch_got, w, 0, 2, argv, NULL));
}

/* An abort (saq_queue_abort of a job that was not waiting) past its watch
 * deadline: finished aborted when no live worker holds the job (its worker
 * died, or it was scheduled), else watched a little longer. */
static void abort_due_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    char *id = req->aux;
    saq_job_t *j = NULL;
    char e2[200];
    (void)msg;
    req->aux = NULL;
    if (!err && r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 1 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        if (saq__job_from_reply(w->q, r->element[1], id, &j, e2, sizeof e2) == 0)
            saq__recover_job(w->q, r->element[1]->str, r->element[1]->len, j, NULL,
                             SAQ__RECOVER_ABORTED, NULL, NULL);
        else { /* aborting, and unreadable to libsaq: failed, visibly, and unwatched */
            saq__settle_unreadable(w->q, id, r->element[1]->str, r->element[1]->len, e2);
            saq__cmdf(&w->q->cmd, NULL, NULL, "ZREM %s %s", w->q->k_abortwatch, id);
        }
        saq_job_free(j);
    } else if (err == SAQ_EREDIS) {
        saq__cmdf(&w->q->cmd, NULL, NULL, "ZREM %s %s", w->q->k_abortwatch, id);
    }
    free(id);
    worker_unref(w);
}

static void abort_due(saq_worker_t *w, const char *id, size_t len)
{
    saq_queue_t *q = w->q;
    char *c = saq__strndup(id, len);
    if (!c)
        return;
    const char *argv[6] = {q->k_abortwatch, c, q->k_alive, q->k_stats, q->k_wiprefix, q->k_statsprefix};
    atomic_fetch_add(&w->refs, 1);
    id_request(w, c, saq__eval(&q->cmd, SCRIPT_ABORT_DUE, abort_due_reply, w, 4, 6, argv, NULL));
}

/* ---- liveness ---- */

static void alive_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    (void)msg;
    w->alive_pending = 0;
    if (err || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 4 || w->stopping ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY ||
        r->element[3]->type != REDIS_REPLY_ARRAY) {
        worker_unref(w);
        return;
    }
    int64_t now = (int64_t)saq__mono_ms();
    int64_t period = (int64_t)saq__timer_ms(w->set.t_alive);
    /* a gap in this worker's own refreshes (Redis frozen, restarted or out of
     * reach, or this process stalled): others may not have refreshed either
     * (they may still be in their reconnect backoff), so what looks expired
     * is trusted only after 4 good periods and a whole reconnect backoff */
    if (!w->alive_ok_ms || now - w->alive_ok_ms > 2 * period + 250) {
        int64_t wait = 4 * period, backoff = (int64_t)w->q->set.reconnect_max_ms + 1000;
        w->alive_trust_ms = now + (wait > backoff ? wait : backoff);
        w->gap_server_ms = w->alive_ok_server;
        /* what was seen before the gap is timed again after it: a move whose
         * mark the gap delayed is not an orphan */
        strv_free(w->orphans, w->norphans);
        free(w->orphan_ms);
        w->orphans = NULL;
        w->orphan_ms = NULL;
        w->norphans = 0;
        strv_free(w->suspects, w->nsuspects);
        free(w->suspect_ms);
        w->suspects = NULL;
        w->suspect_ms = NULL;
        w->nsuspects = 0;
    }
    w->alive_ok_ms = now;
    if (r->element[2]->type == REDIS_REPLY_INTEGER)
        w->alive_ok_server = r->element[2]->integer;
    strv_free(w->forget, w->nforget); /* sent with this refresh */
    w->forget = NULL;
    w->nforget = 0;
    redisReply *dead = r->element[0], *due = r->element[1], *aborts = r->element[3];
    int trusted = now >= w->alive_trust_ms;
    /* right after a gap, an entry whose worker had stopped refreshing it 2
     * periods before this worker's last good refresh (the entry lives 4) is
     * dead all the same: a live worker refreshed within a period of the gap */
    double early = w->gap_server_ms ? (double)w->gap_server_ms + 2.0 * (double)period : 0;
    char **ids = dead->elements ? saq__calloc(dead->elements, sizeof *ids) : NULL;
    size_t n = 0;
    for (size_t i = 0; ids && i + 1 < dead->elements; i += 2) {
        redisReply *m = dead->element[i], *sc = dead->element[i + 1];
        double expiry = sc->type == REDIS_REPLY_STRING ? strtod(sc->str, NULL) : early;
        if (m->type == REDIS_REPLY_STRING && strcmp(m->str, w->id) && (trusted || expiry < early))
            ids[n++] = saq__strndup(m->str, m->len);
    }
    if (n)
        w->fast_until_ms = now + 3 * SEEN_AGAIN_MS;
    /* keep passing for a while after a death: its unmarked moves are
     * recovered once seen for a while */
    if ((n || (trusted && now < w->fast_until_ms)) && dead_pass(w, 1, ids, n) == 0)
        ids = NULL;
    strv_free(ids, n);
    if (trusted) {
        for (size_t i = 0; i < due->elements; i++)
            if (due->element[i]->type == REDIS_REPLY_STRING)
                watch_check(w, due->element[i]->str, due->element[i]->len);
        for (size_t i = 0; i < aborts->elements; i++)
            if (aborts->element[i]->type == REDIS_REPLY_STRING)
                abort_due(w, aborts->element[i]->str, aborts->element[i]->len);
    }
    worker_unref(w);
}

static void alive_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    if (w->stopping || w->alive_pending)
        return;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)(4 * saq__timer_ms(w->set.t_alive)));
    size_t argc = 5 + w->nforget;
    const char **argv = saq__malloc(argc * sizeof *argv);
    if (!argv)
        return;
    argv[0] = w->q->k_alive;
    argv[1] = w->q->k_watch;
    argv[2] = w->q->k_abortwatch;
    argv[3] = w->id;
    argv[4] = ttl;
    for (size_t i = 0; i < w->nforget; i++)
        argv[5 + i] = w->forget[i] ? w->forget[i] : "";
    atomic_fetch_add(&w->refs, 1);
    w->alive_pending = 1;
    if (!saq__eval(&w->q->cmd, SCRIPT_ALIVE, alive_reply, w, 3, (int)argc, argv, NULL)) {
        w->alive_pending = 0;
        atomic_fetch_sub(&w->refs, 1);
    }
    free(argv);
}

/* ======================================================================== */
/* lifecycle                                                                */
/* ======================================================================== */

static void worker_destroy(saq_worker_t *w)
{
    for (size_t i = 0; i < w->nfns; i++)
        free(w->fns[i].name);
    free(w->fns);
    for (size_t i = 0; i < w->ncrons; i++) {
        free(w->crons[i].function);
        free(w->crons[i].expr);
        free(w->crons[i].kwargs);
    }
    free(w->crons);
    free(w->hooks);
    free(w->id);
    free(w->errmsg);
    free(w->stats_cache);
    for (size_t i = 0; i < w->nsuspects; i++)
        free(w->suspects[i]);
    free(w->suspects);
    free(w->suspect_ms);
    for (size_t i = 0; i < w->nprev_live; i++)
        free(w->prev_live[i]);
    free(w->prev_live);
    for (size_t i = 0; i < w->norphans; i++)
        free(w->orphans[i]);
    free(w->orphans);
    free(w->orphan_ms);
    for (size_t i = 0; i < w->nforget; i++)
        free(w->forget[i]);
    free(w->forget);
    saq__settings_free(&w->set);
    if (w->cq)
        saq__cq_unref(w->cq);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    saq_queue_t *q = w->q;
    free(w);
    saq__queue_unref(q); /* the worker held a reference on its queue */
}

static void worker_unref(saq_worker_t *w)
{
    if (atomic_fetch_sub(&w->refs, 1) == 1)
        worker_destroy(w);
}

static void worker_seterr(saq_worker_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = saq__vsprintf(fmt, ap);
    va_end(ap);
    free(w->errmsg);
    w->errmsg = m;
}

SAQ_API saq_worker_t *saq_worker_new(saq_queue_t *q, saq_conf_t *conf)
{
    int e = saq__check_handle(q);
    if (e) {
        saq__conf_seterr(conf, "%s", saq_strerror(e));
        return NULL;
    }
    saq_worker_t *w = saq__calloc(1, sizeof *w);
    if (!w) {
        saq__conf_seterr(conf, "out of memory");
        return NULL;
    }
    if (saq__settings_from_conf(&w->set, conf)) {
        free(w);
        return NULL;
    }
    if (w->set.burst && !(w->set.dequeue_timeout > 0)) {
        saq__conf_seterr(conf, "burst mode needs dequeue_timeout > 0 (as saq)");
        saq__settings_free(&w->set);
        free(w);
        return NULL;
    }
    if (w->set.max_burst_jobs && w->set.concurrency > w->set.max_burst_jobs)
        w->set.concurrency = w->set.max_burst_jobs; /* saq caps concurrency in burst mode */
    char id[37];
    saq__uuid1(id);
    w->id = strdup(w->set.worker_id ? w->set.worker_id : id);
    if (!w->id) {
        saq__settings_free(&w->set);
        free(w);
        return NULL;
    }
    w->q = q;
    atomic_fetch_add(&q->refs, 1);
    atomic_init(&w->refs, 1);
    atomic_init(&w->grace_ms, -1);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    saq__conn_init(&w->block, q, ROLE_BLOCK);
    return w;
}

SAQ_API const char *saq_worker_id(const saq_worker_t *w) { return w ? w->id : NULL; }
SAQ_API const char *saq_worker_errmsg(const saq_worker_t *w) { return w && w->errmsg ? w->errmsg : ""; }

static int add_fn(saq_worker_t *w, const char *function, saq_handler_fn fn, void *ud)
{
    if (!w)
        return SAQ_EINVAL;
    if (!function || !*function) {
        worker_seterr(w, "function name must be a non-empty string");
        return SAQ_EINVAL;
    }
    if (atomic_load(&w->started)) {
        worker_seterr(w, "functions must be registered before the worker starts");
        return SAQ_ESTATE;
    }
    fn_entry_t *f = find_fn(w, function);
    if (!f) {
        fn_entry_t *n = realloc(w->fns, (w->nfns + 1) * sizeof *n);
        if (!n)
            return SAQ_ENOMEM;
        w->fns = n;
        f = &w->fns[w->nfns];
        if (!(f->name = strdup(function)))
            return SAQ_ENOMEM;
        w->nfns++;
    }
    f->fn = fn;
    f->ud = ud;
    return SAQ_OK;
}

SAQ_API int saq_worker_register(saq_worker_t *w, const char *function, saq_handler_fn fn,
                                void *userdata)
{
    if (w && !fn) {
        worker_seterr(w, "handler must not be NULL (use saq_worker_register_pull for pull mode)");
        return SAQ_EINVAL;
    }
    return add_fn(w, function, fn, userdata);
}

SAQ_API int saq_worker_register_pull(saq_worker_t *w, const char *function)
{
    return add_fn(w, function, NULL, NULL);
}

SAQ_API int saq_worker_add_cron(saq_worker_t *w, const char *function, const char *cron,
                                const char *options_json)
{
    char err[200];
    if (!w)
        return SAQ_EINVAL;
    if (atomic_load(&w->started)) {
        worker_seterr(w, "cron jobs must be added before the worker starts");
        return SAQ_ESTATE;
    }
    if (!function || !*function || !cron) {
        worker_seterr(w, "function and cron expression must be non-empty strings");
        return SAQ_EINVAL;
    }
    cron_entry_t c = {0};
    c.unique = 1;
    if (saq__cron_parse(cron, &c.c, err, sizeof err)) {
        worker_seterr(w, "%s", err);
        return SAQ_ECRON;
    }
    if (saq__cron_next(&c.c, (int64_t)saq__now_s()) < 0) {
        worker_seterr(w, "cron '%.64s' never fires (no matching date in the next 50 years)", cron);
        return SAQ_ECRON;
    }
    if (options_json) {
        saq__jobj_iter_t it;
        const char *k, *v;
        size_t kn, vn;
        if (saq__json_validate(options_json, strlen(options_json), 'o', err, sizeof err)) {
            worker_seterr(w, "cron options: %s", err);
            return SAQ_EJSON;
        }
        saq__jobj_begin(&it, options_json, strlen(options_json), NULL, 0);
        while (saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0) == 1) {
            char *name = saq__json_name(k, kn);
            double d = 0;
            int num = saq__json_number(v, vn, &d) == 0 && isfinite(d);
            int ok = 1;
            if (!name) { /* or out of memory */
                worker_seterr(w, "cron option names must be strings without \\u0000");
                free(c.kwargs);
                return SAQ_EINVAL;
            }
            if (!strcmp(name, "kwargs")) {
                ok = v[0] == '{' || (vn == 4 && !memcmp(v, "null", 4));
                if (ok && v[0] == '{' && !(c.kwargs = saq__strndup(v, vn)))
                    ok = 0;
            } else if (!strcmp(name, "timeout"))
                ok = num && d >= 0, c.timeout = d, c.has_timeout = 1;
            else if (!strcmp(name, "heartbeat"))
                ok = num && d >= 0, c.heartbeat = d, c.has_heartbeat = 1;
            else if (!strcmp(name, "retries"))
                ok = num && d >= 0 && d <= INT32_MAX && d == floor(d),
                c.retries = ok ? (int)d : 0, c.has_retries = 1;
            else if (!strcmp(name, "ttl"))
                ok = num && d >= INT32_MIN && d <= INT32_MAX && d == floor(d),
                c.ttl = ok ? (int)d : 0, c.has_ttl = 1;
            else if (!strcmp(name, "unique"))
                ok = (vn == 4 && !memcmp(v, "true", 4)) || (vn == 5 && !memcmp(v, "false", 5)),
                c.unique = v[0] == 't';
            else
                ok = -1;
            if (ok != 1) {
                worker_seterr(w, ok < 0 ? "cron option '%s' is not one of kwargs, timeout, heartbeat, "
                                          "retries, ttl, unique"
                                        : "cron option '%s' has a bad value",
                              name);
                free(name);
                free(c.kwargs);
                return ok < 0 ? SAQ_EINVAL : SAQ_EJSON;
            }
            free(name);
        }
    }
    c.function = strdup(function);
    c.expr = strdup(cron);
    cron_entry_t *n = realloc(w->crons, (w->ncrons + 1) * sizeof *n);
    if (!c.function || !c.expr || !n) {
        free(c.function);
        free(c.expr);
        free(c.kwargs);
        if (n)
            w->crons = n;
        return SAQ_ENOMEM;
    }
    w->crons = n;
    w->crons[w->ncrons++] = c;
    return SAQ_OK;
}

SAQ_API int saq_worker_add_hook(saq_worker_t *w, int kind, saq_hook_fn fn, void *userdata)
{
    if (!w || !fn || kind < SAQ_HOOK_STARTUP || kind > SAQ_HOOK_AFTER_PROCESS)
        return SAQ_EINVAL;
    if (atomic_load(&w->started))
        return SAQ_ESTATE;
    hook_entry_t *h = realloc(w->hooks, (w->nhooks + 1) * sizeof *h);
    if (!h)
        return SAQ_ENOMEM;
    w->hooks = h;
    w->hooks[w->nhooks++] = (hook_entry_t){kind, fn, userdata};
    return SAQ_OK;
}

static void worker_handle_closed(uv_handle_t *h)
{
    saq_worker_t *w = h->data;
    if (--w->handles_open == 0)
        worker_unref(w); /* the loop's reference */
}

static void block_timer_closed(uv_handle_t *h)
{
    saq_worker_t *w = (saq_worker_t *)((char *)h - offsetof(saq_worker_t, block.timer));
    if (--w->handles_open == 0)
        worker_unref(w); /* the loop's reference */
}

static void close_handles(saq_worker_t *w)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&w->t_schedule,
                         (uv_handle_t *)&w->t_info,   (uv_handle_t *)&w->t_sweep,
                         (uv_handle_t *)&w->t_abort,  (uv_handle_t *)&w->t_dead,
                         (uv_handle_t *)&w->t_grace,  (uv_handle_t *)&w->t_retry,
                         (uv_handle_t *)&w->t_alive};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], worker_handle_closed);
}

/* Detach from the queue: the worker has stopped. */
static void worker_finish(saq_worker_t *w)
{
    if (!w->attached)
        return;
    w->attached = 0;
    saq_queue_t *q = w->q;
    saq__loop_detach(q, &w->att); /* a teardown may be waiting for this */
    /* the dequeue connection's timer lives inside the worker: count its close
     * like the worker's own handles, so the worker outlives it */
    if (saq__conn_shutdown(&w->block, block_timer_closed))
        w->handles_open++;
    if (w->icq) {
        saq_cq_free(w->icq);
        w->icq = NULL;
    }
    if (w->pool) {
        pool_quit(w->pool);
        w->pool = NULL;
    }
    if (w->cq) {
        saq_event_t *ev = saq__event_new(SAQ_EVENT_WORKER_STOPPED, w->tag);
        saq__cq_push(w->cq, ev);
    }
    close_handles(w);
    pthread_mutex_lock(&w->mu);
    w->stopped = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void worker_check_stopped(saq_worker_t *w)
{
    if (!w->attached)
        return;
    if (w->burst_done && !w->stopping && !w->leases && !w->slots) {
        begin_stop(w); /* burst: drained and everything finished */
        return;
    }
    if (w->stopping && !w->leases && !w->slots && !w->dequeuing && !w->blocking)
        worker_finish(w);
}

static void grace_expired(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    w->grace_over = 1;
    for (saq__lease_t *l = w->leases; l; l = l->next)
        if (l->state == L_RUNNING && !l->written && !l->writing)
            lease_cancel(l, SAQ_CANCEL_SHUTDOWN, NULL);
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
static void unblock_dequeue(saq_worker_t *w);

static void unblock_retry_cb(uv_timer_t *t) { unblock_dequeue(t->data); }

static void unblock_dequeue(saq_worker_t *w)
{
    if (!w->blocking || !w->attached)
        return;
    if (w->block.client_id >= 0)
        saq__cmdf(&w->q->cmd, unblock_reply, NULL, "CLIENT UNBLOCK %lld", w->block.client_id);
    uv_timer_start(&w->t_retry, unblock_retry_cb, 50, 0); /* t_retry is idle while stopping */
}

static void begin_stop(saq_worker_t *w)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    uv_timer_stop(&w->t_schedule);
    uv_timer_stop(&w->t_info);
    uv_timer_stop(&w->t_sweep);
    uv_timer_stop(&w->t_dead);
    uv_timer_stop(&w->t_alive);
    uv_timer_stop(&w->t_retry);
    unblock_dequeue(w);
    int g = atomic_load(&w->grace_ms);
    double grace = g >= 0 ? g / 1000.0 : w->set.grace_s;
    uv_timer_start(&w->t_grace, grace_expired, saq__timer_ms(grace), 0);
    worker_check_stopped(w);
}

typedef struct stop_msg {
    saq__msg_t msg;
    saq_worker_t *w;
} stop_msg_t;

static void stop_run(saq_queue_t *q, saq__msg_t *m)
{
    saq_worker_t *w = ((stop_msg_t *)m)->w;
    (void)q;
    free(m);
    if (w->attached && w->stopping) {
        /* a later stop with a shorter grace (a second Ctrl-C) shortens it */
        int g = atomic_load(&w->grace_ms);
        uint64_t due = uv_timer_get_due_in(&w->t_grace);
        if (g >= 0 && (uint64_t)g < due)
            uv_timer_start(&w->t_grace, grace_expired, (uint64_t)g, 0);
    } else if (w->attached) {
        begin_stop(w);
    }
    worker_unref(w);
}

static void start_timer(saq_worker_t *w, uv_timer_t *t, uv_timer_cb cb, double every_s)
{
    uv_timer_init(&w->q->loop, t);
    t->data = w;
    w->handles_open++;
    if (cb && every_s > 0)
        uv_timer_start(t, cb, 0, saq__timer_ms(every_s)); /* immediately, then every period */
}

typedef struct start_msg {
    saq__msg_t msg;
    saq_worker_t *w;
} start_msg_t;

static void worker_drain(saq__attachment_t *a);
static uint64_t worker_drain_ms(saq__attachment_t *a);
static void worker_shutdown(saq__attachment_t *a);
static const saq__attachment_vt_t worker_attachment = {worker_drain, worker_drain_ms, worker_shutdown};

static void start_run(saq_queue_t *q, saq__msg_t *m)
{
    saq_worker_t *w = ((start_msg_t *)m)->w;
    free(m);
    w->attached = 1;
    saq__loop_attach(q, &w->att, &worker_attachment);
    atomic_fetch_add(&w->refs, 1); /* the loop's reference, dropped when handles are closed */
    start_timer(w, &w->t_schedule, schedule_tick, w->set.t_schedule);
    start_timer(w, &w->t_info, info_tick, w->set.t_worker_info);
    start_timer(w, &w->t_sweep, sweep_tick, w->set.t_sweep);
    start_timer(w, &w->t_abort, abort_tick, w->set.t_abort);
    start_timer(w, &w->t_dead, dead_tick, w->set.dead_worker_check);
    start_timer(w, &w->t_alive, alive_tick, w->set.t_alive);
    start_timer(w, &w->t_grace, NULL, 0);
    start_timer(w, &w->t_retry, NULL, 0);
    if (atomic_load(&w->stop_req))
        begin_stop(w);
    else
        worker_pump(w);
    worker_unref(w); /* the start message's reference */
}

/* A start that could not reach the I/O thread: the worker counts as stopped,
 * so saq_worker_wait returns instead of waiting for a loop that never ran. */
static void start_failed(saq_worker_t *w, int startup_ran)
{
    pthread_mutex_lock(&w->mu);
    w->stopped = 1;
    if (!startup_ran)
        w->shutdown_ran = 1; /* no SHUTDOWN hooks without STARTUP ones */
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

SAQ_API int saq_worker_start(saq_worker_t *w, saq_cq_t *cq, uint64_t tag)
{
    if (!w)
        return SAQ_EINVAL;
    int e = saq__check_handle(w->q);
    if (e)
        return e;
    int need_cq = 0, need_pool = 0;
    for (size_t i = 0; i < w->nfns; i++) {
        if (!w->fns[i].fn)
            need_cq = 1;
        else
            need_pool = 1;
    }
    if (need_cq && !saq__cq_usable(cq)) {
        worker_seterr(w, "pull-mode functions need a completion queue");
        return SAQ_EINVAL;
    }
    for (size_t i = 0; i < w->ncrons; i++) {
        if (!find_fn(w, w->crons[i].function)) {
            worker_seterr(w, "cron job '%s' has no registered function", w->crons[i].function);
            return SAQ_EINVAL;
        }
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&w->started, &expected, 1)) {
        worker_seterr(w, "the worker was already started");
        return SAQ_ESTATE;
    }
    w->cq = cq;
    w->tag = tag;
    if (cq)
        saq__cq_ref(cq);
    w->icq = saq_cq_new_callback(icq_cb, w);
    if (w->icq)
        saq__cq_set_internal(w->icq);
    if (need_pool) {
        w->pool = saq__calloc(1, sizeof *w->pool);
        if (w->pool) {
            atomic_init(&w->pool->refs, 1);
            pthread_mutex_init(&w->pool->mu, NULL);
            pthread_cond_init(&w->pool->cv, NULL);
            w->pool->max = w->set.concurrency;
            w->pool->w = w;
        }
    }
    start_msg_t *m = saq__calloc(1, sizeof *m);
    if (!w->icq || (need_pool && !w->pool) || !m) {
        free(m);
        worker_seterr(w, "out of memory");
        start_failed(w, 0);
        return SAQ_ENOMEM;
    }
    run_hooks(w, SAQ_HOOK_STARTUP, NULL);
    m->msg.run = start_run;
    m->w = w;
    atomic_fetch_add(&w->refs, 1);
    if ((e = saq__post(w->q, &m->msg))) {
        atomic_fetch_sub(&w->refs, 1);
        free(m);
        worker_seterr(w, "the queue was closed while the worker started");
        start_failed(w, 1); /* its SHUTDOWN hooks run in saq_worker_wait, after the STARTUP ones */
        return e;
    }
    return SAQ_OK;
}

SAQ_API int saq_worker_stop(saq_worker_t *w, int grace_ms)
{
    if (!w)
        return SAQ_EINVAL;
    if (w->q->fork_gen != saq__fork_gen())
        return SAQ_EFORKED;
    if (grace_ms >= 0)
        atomic_store(&w->grace_ms, grace_ms);
    int again = atomic_exchange(&w->stop_req, 1);
    if (!atomic_load(&w->started) || (again && grace_ms < 0))
        return SAQ_OK; /* the start message will see the flag, or nothing new to say */
    stop_msg_t *m = saq__calloc(1, sizeof *m);
    if (!m)
        return SAQ_ENOMEM;
    m->msg.run = stop_run;
    m->w = w;
    atomic_fetch_add(&w->refs, 1);
    if (saq__post(w->q, &m->msg)) { /* queue gone: the worker is already stopped */
        atomic_fetch_sub(&w->refs, 1);
        free(m);
    }
    return SAQ_OK;
}

SAQ_API int saq_worker_wait(saq_worker_t *w, int timeout_ms)
{
    if (!w)
        return SAQ_EINVAL;
    if (w->q->fork_gen != saq__fork_gen())
        return SAQ_EFORKED;
    if (!atomic_load(&w->started))
        return SAQ_ESTATE;
    if (saq__on_loop(w->q))
        return SAQ_ESTATE;
    struct timespec ts;
    saq__abstime(&ts, CLOCK_REALTIME, timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
    pthread_mutex_lock(&w->mu);
    while (!w->stopped) {
        if (timeout_ms == 0)
            break;
        if (timeout_ms < 0)
            pthread_cond_wait(&w->cv, &w->mu);
        else if (pthread_cond_timedwait(&w->cv, &w->mu, &ts))
            break;
    }
    int stopped = w->stopped, run = stopped && !w->shutdown_ran;
    if (run)
        w->shutdown_ran = 1;
    pthread_mutex_unlock(&w->mu);
    if (run)
        run_hooks(w, SAQ_HOOK_SHUTDOWN, NULL);
    return stopped ? SAQ_OK : SAQ_ETIMEDOUT;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

SAQ_API int saq_worker_run(saq_worker_t *w)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int e = saq_worker_start(w, NULL, 0);
    if (e)
        return e;
    got_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* the handler only sets a flag; this thread turns it into a stop */
    while ((e = saq_worker_wait(w, 100)) == SAQ_ETIMEDOUT)
        if (got_signal)
            saq_worker_stop(w, -1);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return e;
}

SAQ_API const char *saq_worker_stats_json(saq_worker_t *w)
{
    if (!w)
        return NULL;
    char *base = saq__stats_json(w->q);
    char *s = base ? saq__sprintf("%.*s, \"running\": %d, \"errors\": %lld}", (int)strlen(base) - 1,
                                  base, atomic_load(&w->running), (long long)atomic_load(&w->errors))
                   : NULL;
    free(base);
    pthread_mutex_lock(&w->mu);
    free(w->stats_cache);
    w->stats_cache = s;
    pthread_mutex_unlock(&w->mu);
    return w->stats_cache;
}

/* The worker's attachment to its queue's loop (loop.c's teardown). */
static saq_worker_t *worker_of(saq__attachment_t *a)
{
    return (saq_worker_t *)((char *)a - offsetof(saq_worker_t, att));
}

/* Queue teardown with the worker still attached: ask it to stop with no grace
 * period (jobs are cancelled, then written back "cancelled" after the hard
 * deadline); it detaches once stopped. */
static void worker_drain(saq__attachment_t *a)
{
    saq_worker_t *w = worker_of(a);
    atomic_store(&w->grace_ms, 0);
    if (!w->stopping)
        begin_stop(w);
    else if (w->attached && !w->grace_over)
        uv_timer_start(&w->t_grace, grace_expired, 0, 0);
}

/* How long a teardown waits for the drain before dropping the worker. */
static uint64_t worker_drain_ms(saq__attachment_t *a)
{
    saq_worker_t *w = worker_of(a);
    return saq__timer_ms(w->set.hard_deadline_s) + 2 * (uint64_t)w->q->set.command_timeout_ms + 1000;
}

/* Queue teardown with the worker still attached: stop it at once. */
static void worker_shutdown(saq__attachment_t *a)
{
    saq_worker_t *w = worker_of(a);
    w->stopping = 1;
    while (w->leases) {
        saq__lease_t *l = w->leases;
        w->leases = l->next;
        l->prev = l->next = NULL;
        l->detached = 1; /* a write still in flight only drops its own reference */
        lease_stop_timer(l);
        lease_unref(l);
    }
    w->slots = 0;
    w->dequeuing = w->blocking = 0;
    worker_finish(w);
}

SAQ_API void saq_worker_free(saq_worker_t *w)
{
    if (!w)
        return;
    if (w->q->fork_gen != saq__fork_gen())
        return;
    atomic_store(&w->freed, 1);
    if (atomic_load(&w->started))
        saq_worker_stop(w, 0);
    worker_unref(w);
}
