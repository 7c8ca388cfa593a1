/* SPDX-License-Identifier: MIT */
/* The worker's internal header: a section per file of the worker (spec 4),
 * on top of the queue's I/O core (core.h). Everything here is loop-thread
 * state unless a comment says otherwise. */
#ifndef SAQ_WORKER_H
#define SAQ_WORKER_H

#include "core.h"
#include "cron.h" /* cron.c's section: cron expressions as croniter (pure; also built by the cron tests) */
#include "tz.h"   /* tz.cc's: IANA time zones of the system's tz database (cron_tz) */

/* ======================================================================== */
/* The worker (spec 4), in layers: each file uses only the ones above it.   */
/*   pool.c, outcome.c   generic thread pool; the pure outcome decision     */
/*   wstate.c            the worker object: state, references, registry     */
/*   group.c             several queues, one slot budget, the queue order   */
/*   limit.c             rate limits and global concurrency (Lua scripts)   */
/*   lease.c             one dequeued job from mark to written outcome      */
/*   giveback.c          a move not run, back to `queued` (if still a move) */
/*   dequeue.c           pump, DEQUEUE/BLMOVE, MARK, give-back, UNBLOCK     */
/*   pause.c             saq_queue_pause/resume/paused, a worker's watch    */
/*   upkeep.c            cron, schedule/info/sweep timers, abort+heartbeat  */
/*   recovery.c          dead workers, lost moves, liveness, watched aborts */
/*   worker.c            the public saq_worker_* API and the lifecycle      */
/* Lower layers tell the worker that something changed through             */
/* saq__worker_poke (a function pointer worker.c installs).                 */
/* ======================================================================== */

/* ---- pool.c: the handler thread pool ---- */

typedef struct saq__pool saq__pool_t;
typedef struct saq__task saq__task_t;
/* A unit of work. `work` runs on a pool thread and owns the task from then
 * on; `cancel` runs instead (on the thread dropping the pool's last
 * reference) when the pool goes away with the task still queued. */
struct saq__task {
    saq__link_t link;       /* on the pool's FIFO while queued */
    void (*work)(saq__task_t *t);
    void (*cancel)(saq__task_t *t);
};
/* A pool of up to `max` threads, started on demand. NULL on ENOMEM. */
saq__pool_t *saq__pool_new(int max);
/* Queue a task (any thread). 0, or -1 when no thread could be started to run
 * it (the caller keeps the task). */
int saq__pool_submit(saq__pool_t *p, saq__task_t *t);
/* Stop taking tasks once the queue is empty and drop the owner's reference;
 * the threads exit after the tasks already queued. */
void saq__pool_quit(saq__pool_t *p);

/* ---- outcome.c: what to write when a lease ends (pure) ---- */

/* How the host settled a job. RELEASE: libsaq could not hand the job over
 * (retried "cancelled"); DROPPED: the host freed the job without settling it. */
typedef enum {
    SAQ__SETTLE_NONE,
    SAQ__SETTLE_COMPLETE,
    SAQ__SETTLE_FAIL,
    SAQ__SETTLE_RELEASE,
    SAQ__SETTLE_DROPPED
} saq__settle_t;

typedef enum {
    SAQ__OUTCOME_FINISH, /* finish with `status` (and `result` or `error`) */
    SAQ__OUTCOME_RETRY,  /* retry with `error` */
    SAQ__OUTCOME_NONE    /* the lease was lost: write nothing */
} saq__outcome_action_t;

typedef struct saq__outcome_in {
    int cancelled;           /* SAQ_CANCEL_* */
    saq__settle_t settle;    /* what the host said (when cancelled is NONE) */
    const char *settle_text; /* the result JSON (COMPLETE) or error text (FAIL), or NULL */
    const char *abort_error; /* the abort's reason, or NULL ("abort") */
    const char *swept_msg;   /* the configured swept_error_message */
    const char *key;         /* the job's key (timeout text) */
    double timeout;          /* the job's timeout, s (timeout text) */
    int retries, attempts;   /* the job's (attempts counts this run) */
    int stopping;            /* the worker is stopping */
} saq__outcome_in_t;

typedef struct saq__outcome {
    saq__outcome_action_t action;
    int status;              /* FINISH: SAQ_STATUS_COMPLETE, FAILED or ABORTED */
    const char *result;      /* FINISH complete: the result JSON (borrowed from in), or NULL */
    const char *error;       /* the error text (borrowed from in, static, or `text`), or NULL */
    int flags;               /* for saq__finish_job: SAQ__DEL_MARKER for aborts */
    int settle_as_fail;      /* DROPPED outside a stop: from now on a failure with `error` */
    char text[240];          /* storage for a formatted error (timeouts) */
} saq__outcome_t;

/* Decide the outcome of a lease (spec 4.3 steps 6-8): the cancel reason
 * first (abort, lost, shutdown, missed heartbeat, timeout), then what the
 * host said; failures retry while retries > attempts. Pure. */
void saq__outcome_decide(const saq__outcome_in_t *in, saq__outcome_t *out);
/* An outcome that did not fit in max_payload_bytes (`max`, with `used` bytes
 * taken by the rest of the record): the smaller text to write instead, as a
 * failure. `shrunk` says how often this happened before (0, 1, 2): a result
 * becomes an error; an error text is cut to fit, then replaced by a short
 * one. Returns a malloc'd text (NULL on ENOMEM). Pure. */
char *saq__outcome_shrink(saq__settle_t settle, const char *settle_text, int shrunk, size_t max,
                          size_t used);

/* ---- wmetrics.c: the worker's own metrics (saq_worker_metrics) ---- */

/* Run-time histogram buckets (seconds): 14 upper bounds, then +Inf. */
#define SAQ__DURATION_BUCKETS 15
/* One (queue, function) series: outcomes and run times. */
typedef struct saq__fnstat {
    char *queue, *function;
    long long outcome[4];                     /* complete, failed, retried, aborted */
    long long bucket[SAQ__DURATION_BUCKETS];  /* runs per bucket (not cumulative) */
    long long runs;
    double sum;                               /* seconds */
} saq__fnstat_t;
/* The series of a worker (every queue's, in the handle the host holds),
 * under mu: written by the queues' loop threads, read by any thread. */
typedef struct saq__wmetrics {
    pthread_mutex_t mu;
    saq__fnstat_t *s;
    size_t n;
} saq__wmetrics_t;
/* Outcomes counted (saq__wmetrics_count's `outcome`). */
enum { SAQ__MET_COMPLETE, SAQ__MET_FAILED, SAQ__MET_RETRIED, SAQ__MET_ABORTED };
/* The function label of the jobs whose function is not registered: one
 * series for all their names, which any Redis client writes (one series per
 * name would let them grow the exposition without bound). */
#define SAQ__WMETRICS_UNREGISTERED "(unregistered)"
void saq__wmetrics_init(saq__wmetrics_t *m);
void saq__wmetrics_destroy(saq__wmetrics_t *m);
/* A monotonic clock in seconds (run times). Any thread. */
double saq__wmetrics_now(void);
/* A worker wrote the outcome (SAQ__MET_*) of a job of `function` on `queue`;
 * it ran `seconds` (< 0: it never ran: only the outcome is counted). A worker
 * of several queues counts in its primary's. Any thread. */
void saq__wmetrics_count(saq__wmetrics_t *m, const char *queue, const char *function, int outcome,
                         double seconds);
/* Make the series of (queue, function) exist (at 0) when it does not yet, so
 * every registered function is exposed from the start. Any thread. */
void saq__wmetrics_touch(saq__wmetrics_t *m, const char *queue, const char *function);
/* Append the series to b: saq_jobs_processed_total and saq_job_duration_seconds,
 * each with its HELP and TYPE lines. Any thread. */
void saq__wmetrics_render(saq__wmetrics_t *m, saq__buf_t *b);

/* ---- wstate.c: the worker object ---- */

typedef struct saq__lease saq__lease_t;
typedef struct saq__group saq__group_t;
/* A rate limit and a concurrency limit (saq_worker_set_limit): at most
 * max_jobs starts per period_ms (0: no rate limit) and at most max_running
 * at once (0: none), over every libsaq worker of the queue. */
typedef struct saq__limit {
    char *function;         /* NULL: the whole queue */
    int max_jobs;
    int64_t period_ms;
    int max_running;
} saq__limit_t;

typedef struct saq__fn_entry {
    char *name;
    saq_handler_fn fn; /* NULL: pull mode */
    void *ud;
} saq__fn_entry_t;

typedef struct saq__cron_entry {
    char *function;
    char *expr;
    saq__cron_t c;
    char *kwargs;
    double timeout, heartbeat;
    int retries, ttl;
    int has_timeout, has_heartbeat, has_retries, has_ttl;
    int unique;
    saq__tz_t *tz; /* cron_tz, or NULL: UTC */
    int tz_given;  /* the options set cron_tz (else the worker's conf key cron_tz applies) */
    int checked;   /* unique: its stored run was compared with this schedule (upkeep.c) */
} saq__cron_entry_t;

typedef struct saq__hook_entry {
    int kind;
    saq_hook_fn fn;
    void *ud;
} saq__hook_entry_t;

/* what saq__worker_poke asks for */
#define SAQ__POKE_PUMP 1  /* a slot may be free: dequeue more */
#define SAQ__POKE_CHECK 2 /* something ended: stop when stopping and idle */
#define SAQ__POKE_PUMP_SOON 4 /* as PUMP, once, before the loop next polls: the slots
                               * freed by one turn of the loop go in one dequeue */
#define SAQ__POKE_FLUSH 8 /* before the loop next polls: send the FINISHes decided
                           * since it last did as one call, then pump */

struct saq_worker {
    saq_queue_t *q;
    saq__settings_t set;
    atomic_int refs;
    char *id;
    char *errmsg;
    saq__fn_entry_t *fns;
    size_t nfns;
    saq__cron_entry_t *crons;
    size_t ncrons;
    saq__hook_entry_t *hooks;
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
    void (*poke)(saq_worker_t *w, int what); /* worker.c's (loop thread) */
    /* loop thread */
    saq__attachment_t att;  /* on the queue's loop while attached */
    int attached;
    uv_timer_t t_schedule, t_info, t_sweep, t_abort, t_dead, t_grace, t_retry, t_alive, t_pause;
    uv_prepare_t p_pump;    /* SAQ__POKE_PUMP_SOON: the pump before the loop next polls */
    uv_timer_t t_flush;     /* SAQ__POKE_FLUSH (zero delay): the turn's FINISHES, then the pump */
    saq__list_t fin_pending; /* leases whose FINISH waits for t_flush */
    int handles_open;
    saq__conn_t block;
    saq__list_t leases;     /* saq__lease.link, newest first (saq_worker_new sets it up) */
    int slots;              /* leases + reserved dequeues */
    int dequeuing;          /* DEQUEUE scripts in flight */
    int blocking;
    int giving;             /* give-backs in flight that hold no slot (a group member's) */
    int stopping;
    int grace_over;         /* stopping, and the grace period has passed */
    int burst_done;
    int paused;             /* its queue's pause flag (pause.c): 0 no, 1 yes, 2 not read yet */
    int pause_reading;      /* a read of the flag is in flight */
    int pause_joined;       /* a member joined its group after its first read */
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
    saq__pool_t *pool;      /* the primary's, shared by its members (only the primary quits it) */
    atomic_llong errors;
    saq_conf_t *eff;        /* the settings in effect (saq_worker_conf_get) */
    saq__wmetrics_t metrics; /* saq_worker_metrics's series (the primary's cover every queue) */
    char *final_stats;      /* under mu: saq_worker_stats_json's text when the worker stopped */
    uint64_t info_at;       /* loop: mono ms of the last registry write (upkeep.c) */
    long long info_seen[4]; /* loop: the counters it wrote */
    /* a worker serving several queues (group.c): the primary (the handle the
     * host holds) and one member worker per added queue share a group;
     * set before start, then read-only */
    saq__group_t *group;    /* NULL: a worker of one queue */
    saq_worker_t *owner;    /* a member's primary (one reference), NULL otherwise */
    int gidx;               /* this worker's index in its group (0: the primary) */
    /* rate limits and global concurrency (limit.c): the public worker's
     * list (set before start, then read-only), then each member's own state */
    saq__limit_t *limits;
    size_t nlimits;
    uint64_t limit_until;   /* loop: mono ms; the queue's limit is full until then */
    int limit_room;         /* loop: jobs the queue's limit had room for at the last take or
                             * probe (0: unknown or none: probe before dequeuing) */
    int limit_pending;      /* loop: takes in flight */
    uint64_t limit_tick_at; /* loop: mono ms of the next saq__limit_tick */
};

/* References (any thread); the last one frees the worker and drops its
 * reference on the queue. */
void saq__worker_ref(saq_worker_t *w);
void saq__worker_unref(saq_worker_t *w);
/* Set the worker's error message (saq_worker_errmsg). */
void saq__worker_seterr(saq_worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The registered function `name`, or NULL. */
saq__fn_entry_t *saq__worker_find_fn(saq_worker_t *w, const char *name);
/* Run the hooks of `kind` (SAQ_HOOK_*) on the calling thread. */
void saq__worker_run_hooks(saq_worker_t *w, int kind, saq_job_t *job);
int saq__worker_has_hooks(saq_worker_t *w, int kind);
/* Tell the worker that something changed (SAQ__POKE_*; loop thread). */
void saq__worker_poke(saq_worker_t *w, int what);
/* Whether a FINISH may wait for the turn's FINISHES call (SAQ__POKE_FLUSH):
 * the worker is on its loop and its flush timer is not closing; else it is
 * sent on its own. Loop thread. */
static inline int saq__worker_can_flush(saq_worker_t *w)
{
    return w->attached && !uv_is_closing((uv_handle_t *)&w->t_flush);
}
/* A dequeue's answer was lost with its connection (a failover, a dead or
 * frozen Redis): it may have moved a job to active that no lease holds. The
 * liveness passes go on for SAQ__LOST_MOVE_WATCH_MS (recovery.c), and they
 * put such a move back within seconds of the connection's return, instead of
 * at the next registry passes (10-20 s later). Loop thread. */
#define SAQ__LOST_MOVE_WATCH_MS 30000
void saq__worker_lost_move(saq_worker_t *w);
/* A vector of strings: free each, then the vector. */
void saq__strv_free(char **v, size_t n);
/* The handle the host holds: a member's primary, else w itself. Its
 * functions, hooks, cq and pool serve every member. Any thread. */
saq_worker_t *saq__worker_public(saq_worker_t *w);

/* ---- group.c: a worker serving several queues (one shared slot budget) ----
 * Each queue has its own member worker on its own I/O thread; they share the
 * primary's `concurrency` as one budget of slots. A member whose queue may
 * have work is "hungry"; free slots are granted to hungry members in the
 * queue order (strict: the first hungry member in order takes them all;
 * weighted: one at a time by smooth weighted round robin over the hungry
 * members' weights), and each grant pokes the member's loop to dequeue. A
 * member whose dequeue found its queue empty blocks (BLMOVE) without holding
 * a slot; a job that move brings runs in a free slot, or is given back to the
 * head of its queue (the member is hungry again and waits for a grant). For
 * a worker without a group each call below only keeps w->slots. */

/* Make the group of `primary` (member 0, with its queue_weight; primary->group is set);
 * `weighted`: the queue order. The primary holds its one reference. NULL on
 * ENOMEM. Setup thread. */
saq__group_t *saq__group_new(saq_worker_t *primary, int weighted);
/* Add member worker m (m->group, ->owner, ->gidx are set; the references
 * between the primary and m are the caller's to take). SAQ_OK or SAQ_ENOMEM.
 * Setup thread. */
int saq__group_add(saq__group_t *g, saq_worker_t *m, int weight);
/* The members (0: the primary), for the lifecycle's loops. Any thread after setup. */
size_t saq__group_size(const saq__group_t *g);
saq_worker_t *saq__group_member(const saq__group_t *g, size_t i);
/* Whether queue q is already served by the group. Setup thread. */
int saq__group_has_queue(const saq__group_t *g, const saq_queue_t *q);
/* Drop a reference (the primary's, when it is destroyed; NULL is a no-op). */
void saq__group_unref(saq__group_t *g);
/* A member started on its loop (or could not start: `failed`). Free slots
 * are granted once every member has joined, so the order holds from the
 * first job. */
void saq__group_join(saq_worker_t *w, int failed);
/* The member takes no more slots (stopping, or its burst is over): its
 * grant goes to the others. Loop thread. */
void saq__group_leave(saq_worker_t *w);
/* The member stopped on its loop: 1 when it was the last one (the caller
 * then ends the whole worker), else 0. */
int saq__group_finished(saq_worker_t *w);
/* Take the slots granted to w (w->slots grows by the count). Loop thread. */
int saq__group_take(saq_worker_t *w);
/* A job w's blocking dequeue moved: take a slot for it (1) or not (0: the
 * budget is full; give the job back). Either way w is hungry again. Loop thread. */
int saq__group_take_one(saq_worker_t *w);
/* Whether w may have work (0: it found its queue empty; it blocks). */
int saq__group_hungry(saq_worker_t *w);
/* w's queue was found empty: its grant goes back, free slots go to others. */
void saq__group_empty(saq_worker_t *w);
/* w's queue may have work again (it was resumed): w is hungry, and takes the
 * next free slot its queue order gives it. Loop thread. */
void saq__group_wake(saq_worker_t *w);
/* Give back n slots w holds (w->slots shrinks; in a group they are granted
 * again). Loop thread. */
void saq__slots_put(saq_worker_t *w, int n);
/* A new lease id, unique across the group (LEASE and OUTCOME events). */
uint64_t saq__group_lease_id(saq_worker_t *w);

/* ---- lease.c: a dequeued job, from its mark to its written outcome ---- */

/* Where a lease is. Cancel reasons (SAQ_CANCEL_*) and what the host said
 * are kept apart (saq__lease.cancelled, .settle_kind). */
typedef enum {
    SAQ__LEASE_MARKING,  /* MARK sent, not yet running */
    SAQ__LEASE_RUNNING,  /* handed to its handler (or being handed) */
    SAQ__LEASE_WRITING,  /* its outcome write is in flight */
    SAQ__LEASE_WRITTEN,  /* its outcome is in Redis (or given up on) */
    SAQ__LEASE_DETACHED  /* the queue's teardown dropped it */
} saq__lease_state_t;

struct saq__lease {
    atomic_int refs;
    saq__job_owner_t owner; /* the host's copy of the job points here */
    saq_worker_t *w;
    uint64_t id;
    atomic_int cancelled;   /* SAQ_CANCEL_*, read by handlers */
    atomic_int settled;     /* the host settled it (complete/fail/free) */
    atomic_int given_back;  /* the worker settled it without the host (hard deadline) */
    /* loop thread */
    saq__link_t link;       /* on w->leases from saq__lease_new until released */
    saq__lease_state_t state;
    saq_job_t shadow;       /* the worker's copy of the record */
    saq__guard_t guard;
    int64_t touched_ms;
    saq__settle_t settle_kind; /* what the host said */
    char *settle_text;
    int host_done;          /* the host's settle reached the loop */
    int after_pending;      /* the after_process hooks are running */
    int slot_freed;         /* its slot went back when its outcome was sent (lease_write) */
    int outcome_sent;       /* its FINISH/RETRY went out: a later move of its id is a new run */
    saq__link_t fin_link;   /* on w->fin_pending while its FINISH waits for the turn's end */
    char *fin_json;         /* that FINISH's record */
    size_t fin_len;
    int fin_flags;
    char *abort_error;
    uv_timer_t *deadline;   /* timeout, then hard deadline, then write retries */
    int write_tries;
    int too_big;            /* times the outcome did not fit (saq__outcome_shrink) */
    char *mark_json;        /* the exact record MARK writes (sent again after a lost reply) */
    size_t mark_len;
    char *dequeued;         /* the record as dequeued, when it was queued (NULL otherwise) */
    size_t dequeued_len;
    int mark_tries;
    int pulled;             /* handed to the host as a LEASE event (pull mode) */
    double run_at;          /* the monotonic clock (wmetrics.c) at the hand-over (0: never) */
    double ran_s;           /* how long it ran, once its outcome was decided (-1: not yet) */
    int met_outcome;        /* 1 + SAQ__MET_* of the outcome being written, 0: none */
    int limit_held;         /* SAQ__LIMIT_HELD_*: the running slots it took (limit.c) */
};

/* A new lease of w for the record just dequeued (loaded into *shadow by the
 * caller, then marked here: attempts, started, status active). Listed on
 * w->leases and holding one reference on w. NULL on ENOMEM (shadow kept). */
saq__lease_t *saq__lease_new(saq_worker_t *w, saq_job_t *shadow, const char *rec, size_t reclen);
void saq__lease_ref(saq__lease_t *l);
void saq__lease_unref(saq__lease_t *l);
/* (Re)arm the lease's one timer for `seconds`; stop it. */
void saq__lease_timer(saq__lease_t *l, double seconds, uv_timer_cb cb);
void saq__lease_stop_timer(saq__lease_t *l);
/* Ask the handler to stop (once; SAQ_CANCEL_*, error: an abort's reason).
 * The outcome is written when it settles, or after the hard deadline. */
void saq__lease_cancel(saq__lease_t *l, int why, const char *error);
/* The lease was marked active: hand the job to its handler. */
void saq__lease_run(saq__lease_t *l);
/* Aborted between its move and its mark (U13): finish it aborted, once. */
void saq__lease_finish_aborted(saq__lease_t *l, const char *reason);
/* Give up on a lease that never ran (its job stays where it is). */
void saq__lease_abandon(saq__lease_t *l);
/* The lease of w holding job `id`, or NULL; with `unsettled`, only one whose outcome was
 * not sent yet (a retried job may be moved again while its RETRY's reply,
 * lost, is being confirmed). */
saq__lease_t *saq__lease_find(saq_worker_t *w, const char *id, int unsettled);
/* The queue's teardown: drop every lease of w without writing anything. */
void saq__leases_detach(saq_worker_t *w);
/* Send the FINISHes of w's leases decided in this turn of the loop (its
 * SAQ__POKE_FLUSH timer) as one FINISHES call. Loop thread. */
void saq__leases_flush(saq_worker_t *w);

/* ---- limit.c: rate limits and global concurrency, enforced in Redis ----
 * One LIMIT script takes a dequeued batch's slots before the jobs are marked
 * (limitscript.c documents its keys). A job over its queue's limit goes back to
 * the head of `queued` (the batch keeps its order) and the worker waits; a
 * job over its function's limit is deferred: its rate's next free start as
 * a score in `incomplete` (saq's schedule brings it back, as any scheduled
 * job), or, over the concurrency limit, on the function's waiting list and
 * in `incomplete` 30 s ahead (a release brings it back at once; the score is
 * the safety net). A running slot is "<worker id>:<job id>" in a sorted set;
 * the slots of a worker whose liveness entry expired are dropped. */

#define SAQ__LIMIT_HELD_QUEUE 1 /* a running slot of the queue's limit */
#define SAQ__LIMIT_HELD_FN 2    /* a running slot of the function's limit */
/* What the script did with a job (saq__limit_code). */
enum { SAQ__LIMIT_BACK = 0, SAQ__LIMIT_TAKEN = 1, SAQ__LIMIT_DEFERRED = 2, SAQ__LIMIT_GONE = 3 };

/* The limit of `function` (NULL: the queue's) on w's public worker, or NULL. */
const saq__limit_t *saq__limit_find(saq_worker_t *w, const char *function);
/* Whether a limit applies to the job of the lease (the queue's or its function's). */
int saq__limit_applies(saq_worker_t *w, const saq__lease_t *l);
/* Send one LIMIT script for the n leases (in dequeue order). The reply goes
 * to cb (decode it with saq__limit_reply). NULL on ENOMEM. Loop thread. */
saq__req_t *saq__limit_take(saq_worker_t *w, saq__lease_t **ls, size_t n, saq__reply_fn cb, void *data);
/* Read a LIMIT reply: the i-th lease's SAQ__LIMIT_* code (-1: not a reply
 * of n jobs), and sets its limit_held; on BACK, w->limit_until and room. */
int saq__limit_reply(saq_worker_t *w, redisReply *r, size_t n, size_t i, saq__lease_t *l);
/* Read the reply of a LIMIT sent for no job (a probe of the queue's
 * limit): its room (w->limit_room; at 0, w->limit_until too), or -1. */
int saq__limit_room_reply(saq_worker_t *w, redisReply *r);
/* Whether the queue's limit holds the pump back now (loop thread). */
int saq__limit_waiting(saq_worker_t *w);
/* How many jobs the pump may ask for with `free_slots` free (at most the
 * queue's limit's room, when it is known: > 0). */
int saq__limit_cap(saq_worker_t *w, int free_slots);
/* The lease ends: free the running slots it holds (a waiting job of its
 * function is put back at the head of `queued`). Loop thread. */
void saq__limit_release(saq__lease_t *l);
/* Every second at most (called from the liveness tick): for each function
 * limit with max_running, put back as many waiting jobs as it has room for
 * (the wake-ups a release could not give: a job of the function that a
 * Python worker ran, a worker that died). Loop thread. */
void saq__limit_tick(saq_worker_t *w);

/* ---- giveback.c: a move the worker will not run, given back ---- */

/* Put the move of `id` (idlen bytes) back at the head of `queued` (the
 * worker stops, its queue was paused, a group's budget is full), only while
 * it is still that move: `rec` (reclen bytes) is its record as dequeued, NULL
 * when not read. One a sweep or an abort changed meanwhile is not pushed
 * back: finished aborted when it was aborted for this run, else left to
 * whoever changed it. `held`: the move holds a slot, released once answered
 * (else w->giving counts it until then; the stop waits for it). Loop thread. */
void saq__give_back(saq_worker_t *w, const char *id, size_t idlen, const char *rec, size_t reclen, int held);

/* ---- dequeue.c: taking jobs ---- */

/* Dequeue as many jobs as there are free slots (loop thread). */
void saq__dequeue_pump(saq_worker_t *w);
/* Interrupt a blocked dequeue without losing its move (CLIENT UNBLOCK). */
void saq__dequeue_unblock(saq_worker_t *w);

/* ---- pause.c: a worker's watch of its queue's pause flag ---- */

/* Start the watch (at start; timers.pause 0: none, the worker is never
 * paused: returns 0). Returns 1 when the first read is on its way: a member
 * of several queues then joins its group (saq__group_join) once it is
 * answered, not before. Until then the worker takes no job (w->paused 2); then
 * every timers.pause (a fifth of it while paused) it reads the flag again.
 * Paused: the pump takes nothing (a burst ends, a member of several gives
 * its grant to the other queues), a blocked dequeue is interrupted and a move
 * that arrives meanwhile is given back. Resumed: it dequeues at once. The
 * timer is w->t_pause (initialised by the caller). Loop thread. */
int saq__pause_watch(saq_worker_t *w);

/* ---- upkeep.c: the periodic duties ---- */

/* Timer callbacks (t->data is the worker): cron + scheduled jobs, the
 * worker_info registry write, the sweep, the abort and heartbeat checks. */
void saq__upkeep_schedule_tick(uv_timer_t *t);
void saq__upkeep_info_tick(uv_timer_t *t);
/* The info timer's period, s: 1 s (0 with worker_info off, or saq's period
 * when it is shorter). The registry entry is written every worker_info period
 * (ttl that + 1 s, as saq), and on the first tick after the counters changed,
 * so its copy of them lags by about 1 s at most; then a registry sample is
 * offered (saq__overview_sample). */
double saq__upkeep_info_every(const saq_worker_t *w);
void saq__upkeep_sweep_tick(uv_timer_t *t);
void saq__upkeep_abort_tick(uv_timer_t *t);
/* Read a cron job's options JSON into c (kwargs, timeout, heartbeat,
 * retries, ttl, unique). SAQ_OK, or SAQ_EJSON/SAQ_EINVAL/SAQ_ENOMEM with a
 * message in err. */
int saq__cron_options(saq__cron_entry_t *c, const char *options_json, char *err, size_t errlen);
/* The internal cq's callback: counts failed upkeep operations. */
int saq__upkeep_icq_cb(saq_event_t *ev, void *ud);

/* ---- recovery.c: no job left behind by a dead worker ---- */

/* Timer callbacks: the registry check (dead_worker_check) and the liveness
 * refresh (timers.liveness), which also drives the fast passes and the
 * watched sweeps and aborts. */
void saq__recovery_dead_tick(uv_timer_t *t);
void saq__recovery_alive_tick(uv_timer_t *t);

/* ---- worker.c: the public saq_worker_* API and the lifecycle (public only;
 * it installs saq__worker_poke and attaches the worker to the queue's loop) ---- */

#endif
