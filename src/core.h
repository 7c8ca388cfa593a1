/* SPDX-License-Identifier: MIT */
/* The queue's I/O core: the libuv loop thread, Redis connections, requests,
 * operations, the pub/sub multiplexer. Everything marked "loop thread" must
 * only be touched from the queue's I/O thread. */
#ifndef SAQ_CORE_H
#define SAQ_CORE_H

#include "internal.h"
#include "cron.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

typedef struct saq__conn saq__conn_t;
typedef struct saq__req saq__req_t;
typedef struct saq__op saq__op_t;
typedef struct saq__msg saq__msg_t;
typedef struct saq__listener saq__listener_t;

/* ---- messages from any thread to the loop thread ---- */
struct saq__msg {
    saq__msg_t *next;
    void (*run)(saq_queue_t *q, saq__msg_t *m);  /* on the loop thread */
    void (*drop)(saq_queue_t *q, saq__msg_t *m); /* loop gone: release without running */
};
/* Post a message. Returns 0 or SAQ_ECLOSED (then the caller still owns m). */
int saq__post(saq_queue_t *q, saq__msg_t *m);
int saq__on_loop(const saq_queue_t *q);

/* ---- Redis requests ---- */

/* Reply callback: exactly once per request. `reply` is valid only during the
 * call (NULL on error). err is SAQ_OK, SAQ_EREDIS (error reply, msg = text),
 * SAQ_ECONN, SAQ_ETIMEDOUT or SAQ_ECLOSED. */
typedef void (*saq__reply_fn)(saq__req_t *req, redisReply *reply, int err, const char *msg);
/* Reply callback of a request issued by an operation (skipped once the op is done). */
typedef void (*saq__op_reply_fn)(saq__op_t *op, saq__req_t *req, redisReply *reply, int err,
                                 const char *msg);

struct saq__req {
    saq__link_t link; /* on its connection's wait or fly list */
    saq__conn_t *conn;
    saq__reply_fn cb;
    void *data;
    intptr_t idata;
    void *aux;      /* op-level callback for requests issued by operations */
    char *cmd;      /* formatted command while waiting to be sent */
    size_t cmdlen;
    uint64_t deadline; /* monotonic ms, 0 = none */
    int script;     /* script index, -1 */
    int nkeys;      /* script key count */
    int argc;       /* script args kept for the NOSCRIPT fallback */
    char **argv;
    size_t *argvlen;
    int state;      /* 0 waiting, 1 in flight, 2 detached (answered by us) */
    int handshake;  /* sent before the connection is ready */
};

enum { CONN_DOWN, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY };
enum { ROLE_CMD, ROLE_SUB, ROLE_BLOCK };

struct saq__conn {
    saq_queue_t *q;
    int role;
    int state;
    redisAsyncContext *ac;
    uv_timer_t timer;      /* connect deadline, command deadlines, reconnect backoff */
    int timer_init;
    saq__list_t wait;      /* requests not yet sent, in order (saq__req.link) */
    saq__list_t fly;       /* requests sent, awaiting their reply, in order */
    size_t nfly;
    int handshake_left;
    int handshake_failed;
    unsigned failures;     /* consecutive failed attempts (backoff exponent) */
    uint64_t retry_at;     /* mono ms before which no reconnect happens */
    uint64_t connect_deadline;
    char *last_error;
    long long client_id;   /* CLIENT ID, for CLIENT UNBLOCK */
    int persistent;        /* reconnect on loss even without pending requests */
    void *resolving;       /* the host name lookup in flight, if any */
#define SAQ__MAX_ADDRS 8
    char addrs[SAQ__MAX_ADDRS][46]; /* the host name's addresses, IPv4 first */
    int naddrs, next_addr;
    void (*on_ready)(saq__conn_t *c);
    void (*on_down)(saq__conn_t *c, int err, const char *msg);
    void *owner;
    int closing;
};

void saq__conn_init(saq__conn_t *c, saq_queue_t *q, int role);
/* Send a command. Returns the request (owned by the conn until its callback
 * ran) or NULL when out of memory (the callback is then not called).
 * timeout_ms: 0 = the queue's command timeout, < 0 = no deadline. */
saq__req_t *saq__cmd(saq__conn_t *c, saq__reply_fn cb, void *data, int timeout_ms, int argc,
                     const char **argv, const size_t *argvlen);
saq__req_t *saq__cmdf(saq__conn_t *c, saq__reply_fn cb, void *data, const char *fmt, ...);
/* EVALSHA a built-in script (SCRIPT_*), falling back to EVAL on NOSCRIPT. */
saq__req_t *saq__eval(saq__conn_t *c, int script, saq__reply_fn cb, void *data, int nkeys,
                      int nargs, const char **argv, const size_t *argvlen);
int saq__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop); /* uvadapter.c */
void saq__conn_kick(saq__conn_t *c);        /* connect now if down and allowed */
void saq__conn_close(saq__conn_t *c, int err, const char *msg); /* fail everything, disconnect */
/* Final: close the connection and its timer handle. The timer is part of the
 * connection's memory, so an owner that frees it must wait for `on_closed`
 * (called on the loop thread; NULL when the memory outlives the loop).
 * Returns 1 when a timer close was started (on_closed will be called). */
int saq__conn_shutdown(saq__conn_t *c, uv_close_cb on_closed);
void saq__conn_pubsub_send(saq__conn_t *c, const char *cmd, const char *arg);

/* ---- scripts (scripts.c) ---- */
enum {
    SCRIPT_ENQUEUE,
    SCRIPT_DEQUEUE,
    SCRIPT_MARK,
    SCRIPT_FINISH,
    SCRIPT_RETRY,
    SCRIPT_UPDATE,
    SCRIPT_ABORT,
    SCRIPT_SCHEDULE,
    SCRIPT_SWEEP,
    SCRIPT_RECOVER,
    SCRIPT_REPLACE,
    SCRIPT_ALIVE,
    SCRIPT_UNREADABLE,
    SCRIPT_ABORT_DUE,
    SCRIPT_COUNT_
};
extern const char *const saq__script_text[SCRIPT_COUNT_];

/* ---- operations ---- */

struct saq__op {
    saq__msg_t msg;             /* first member */
    saq_queue_t *q;
    saq_cq_t *cq;
    uint64_t tag;
    saq_event_t *ev;
    saq__op_t *prev, *next;     /* pending list (loop thread) */
    int linked;
    int refs;                   /* loop thread: op itself + outstanding reqs/timers */
    int done;
    int permit;
    int counted;                /* counted in q->inflight */
    saq__twaiter_t tw;
    void (*granted)(saq__op_t *op);
    void (*start)(saq__op_t *op);
    void (*destroy)(saq__op_t *op);
    int pending;                /* generic counter of outstanding replies */
};

saq__op_t *saq__op_new(saq_queue_t *q, size_t size, int type, saq_cq_t *cq, uint64_t tag,
                       void (*start)(saq__op_t *), void (*destroy)(saq__op_t *));
int saq__op_submit(saq__op_t *op); /* frees op and returns an error when it cannot be posted */
void saq__op_fail(saq__op_t *op, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void saq__op_complete(saq__op_t *op);
void saq__op_ref(saq__op_t *op);
void saq__op_unref(saq__op_t *op);
/* Take a throttle permit, then call fn (maybe at once). */
void saq__op_with_permit(saq__op_t *op, void (*fn)(saq__op_t *op));
void saq__op_release_permit(saq__op_t *op);
/* Issue a request bound to the op (holds a ref; callback skipped when the op
 * is done, except for cleanup). */
saq__req_t *saq__op_cmd(saq__op_t *op, saq__op_reply_fn cb, intptr_t idata, int argc,
                        const char **argv, const size_t *argvlen);
saq__req_t *saq__op_eval(saq__op_t *op, int script, saq__op_reply_fn cb, intptr_t idata, int nkeys,
                         int nargs, const char **argv, const size_t *argvlen);

/* ---- pub/sub multiplexer (pubsub.c) ---- */

/* A listener on a set of job ids. on_message runs for every status published
 * on one of them; on_subscribed when the pattern subscription is confirmed
 * (again after every reconnect); on_lost when the subscription dropped;
 * on_failed (once) when the pub/sub connection failed before the
 * subscription was ever confirmed for this listener: it never will be on
 * that attempt, and the owner gives up (as a command waiting for that
 * connection would). A listener once confirmed outlives reconnects. It is
 * zeroed before its first saq__listen_add (saq__listen_remove of a listener
 * never added is then a no-op). */
struct saq__listener {
    saq__link_t link; /* on q->listeners or q->to_notify; unlinked: not listening */
    void *owner;
    void (*on_message)(saq__listener_t *l, const char *id, const char *status);
    void (*on_subscribed)(saq__listener_t *l);
    void (*on_lost)(saq__listener_t *l, int err, const char *msg);
    void (*on_failed)(saq__listener_t *l, int err, const char *msg);
    char **ids;
    size_t nids;
    int confirmed;
    int ever_confirmed, failed;
};
int saq__listen_add(saq_queue_t *q, saq__listener_t *l, char **ids, size_t nids);
void saq__listen_remove(saq_queue_t *q, saq__listener_t *l);
void saq__pubsub_init(saq_queue_t *q);
void saq__pubsub_shutdown(saq_queue_t *q);

/* ---- the queue ---- */

typedef struct saq__hook {
    saq_job_hook_fn fn;
    void *ud;
} saq__hook_t;

typedef struct saq__chan saq__chan_t; /* pubsub routing entry */

enum { Q_OPEN, Q_CLOSING, Q_DEAD };

struct saq_queue {
    saq__settings_t set;
    unsigned fork_gen;
    atomic_int refs;
    atomic_int state;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    saq__msg_t *in_head, *in_tail;
    int teardown;     /* under mu: the loop must tear down */
    int io_done;      /* under mu: the loop has exited */
    int inbox_closed; /* under mu: the teardown is past the workers' drain; posts are refused */
    uv_timer_t td_timer; /* loop: caps how long the teardown waits for stopping workers */
    int td_timer_on, td_forced;
    size_t inflight;  /* under mu: submitted, not completed ops */
    /* key names */
    char *k_jobprefix, *k_incomplete, *k_queued, *k_active, *k_schedule, *k_sweep, *k_stats;
    char *k_wiprefix, *k_statsprefix, *k_pattern;
    /* libsaq's own keys (extensions saq ignores; under the queue's namespace):
     * libsaq workers' liveness (zset wid -> expiry ms, server clock) and the
     * sweep's jobs between their abort and their retry (zset id -> deadline ms) */
    char *k_alive, *k_watch, *k_abortwatch;
    size_t jobprefix_len;
    /* loop thread */
    saq__conn_t cmd, sub;
    saq__throttle_t throttle;
    saq__op_t *ops;
    int server_version;
    int have_lmove;
    char sha[SCRIPT_COUNT_][41];
    saq__list_t listeners;      /* saq__listener.link, newest first (saq__pubsub_init) */
    saq__list_t to_notify;      /* listeners not yet told of a (re)subscription */
    saq__chan_t **chans;
    size_t nchans_buckets, nchans;
    int sub_confirmed;
    uv_timer_t sub_linger;
    int sub_linger_init;
    struct saq_worker *workers; /* attached workers (loop thread) */
    /* counters of this queue object (saq's Queue.complete/...) */
    atomic_llong n_complete, n_failed, n_retried, n_aborted;
    int64_t created_ms;
    char uuid[37];
    /* under mu */
    saq__hook_t *hooks;
    size_t nhooks;
    struct saq_batch **batches;
    size_t nbatches;
};

int saq__check_handle(const saq_queue_t *q); /* SAQ_OK, SAQ_EINVAL, SAQ_EFORKED, SAQ_ECLOSED */
void saq__queue_unref(saq_queue_t *q);
char *saq__stats_json(saq_queue_t *q);
char *saq__id_of(saq_queue_t *q, const char *key);
const char *saq__key_of(saq_queue_t *q, const char *id); /* pointer into id */
/* Load (transform + parse) a record; fills err on failure and returns a code.
 * With `id` (where it was read from), a record whose key names another job
 * is refused (SAQ_EPROTO) and a missing key is taken from the id. */
int saq__load_job(saq_queue_t *q, const char *id, const char *data, size_t len, saq_job_t *out,
                  char *err, size_t errlen);
/* Decode a GET/MGET element: SAQ_ENOTFOUND for nil, SAQ_EPROTO/EWRONGQUEUE with a message. */
int saq__job_from_reply(saq_queue_t *q, redisReply *r, const char *id, saq_job_t **out, char *err,
                        size_t errlen);
/* Dump a job for Redis (dialect + transform). Returns malloc'd bytes. */
char *saq__dump_job(saq_queue_t *q, const saq_job_t *j, size_t *len, int *err);
/* Prepare a job for enqueue on the calling thread (queue, queued, status,
 * hooks, batch record). Returns a code with a message in *msg. */
int saq__prepare_enqueue(saq_queue_t *q, saq_job_t *j, char **msg);

/* finish/retry primitives used by ops and the worker (loop thread). `j` is
 * updated in place as saq does (status, result, error, completed, ...). With
 * a guard (a worker lease) the write is refused when the lease was lost
 * (result -2) or the job was aborted meanwhile (result -1, msg = the abort
 * error); otherwise result is 1. done may be NULL. */
typedef struct saq__guard {
    int attempts;
    int64_t started;
    const char *expect; /* the record the lease last wrote, or NULL (then Lua decodes) */
    size_t expect_len;
} saq__guard_t;
typedef void (*saq__done_fn)(void *ud, int err, const char *msg, long long result);
#define SAQ__DEL_MARKER 1
void saq__finish_job(saq_queue_t *q, saq_job_t *j, int status, const char *result,
                     const char *error, const saq__guard_t *guard, int flags, saq__done_fn done,
                     void *ud);
void saq__retry_job(saq_queue_t *q, saq_job_t *j, const char *error, const saq__guard_t *guard,
                    saq__done_fn done, void *ud);
/* Put back in the queue a job moved to `active` but never marked (lost move). */
void saq__requeue_unmarked(saq_queue_t *q, const char *id, const char *rec, size_t reclen);
/* Recover a job whose record was `old` (compare-and-set): retry or finish
 * aborted. It must be in `active`, unless flags has SAQ__RECOVER_UNLISTED (a
 * sweep's job after its abort, in no list; also dropped from the watch set). */
#define SAQ__RECOVER_UNLISTED 1
/* ...or finish it aborted (error NULL: keep the record's), whatever its
 * retries: an abort whose worker died (dropped from the abort watch set) */
#define SAQ__RECOVER_ABORTED 2
void saq__recover_job(saq_queue_t *q, const char *old, size_t oldlen, saq_job_t *j,
                      const char *error, int flags, saq__done_fn done, void *ud);
/* Settle failed a record a worker dequeued but cannot use (`why` says why),
 * keeping the original bytes in saq:<q>:libsaq:unreadable:<key> for a day.
 * Compare-and-set on the record as read. */
void saq__settle_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                            const char *why);
void saq__count_finish(saq_queue_t *q, int status);
void saq__write_registry(saq_queue_t *q, const char *wid, const char *stats, const char *metadata,
                         int ttl, int dual, saq__done_fn done, void *ud);

/* The schedule and sweep operations with a lock time in ms (the worker's
 * timers use a lock a little shorter than their period). */
int saq__queue_schedule_ms(saq_queue_t *q, long long lock_ms, saq_cq_t *cq, uint64_t tag);
int saq__queue_sweep_ms(saq_queue_t *q, long long lock_ms, double abort_s, const char *swept_msg,
                        saq_cq_t *cq, uint64_t tag);

/* worker hooks into the queue (worker.c) */
void saq__workers_shutdown(saq_queue_t *q);
int saq__workers_drain(saq_queue_t *q);
uint64_t saq__workers_drain_ms(saq_queue_t *q);
void saq__queue_workers_gone(saq_queue_t *q);

/* ======================================================================== */
/* The worker (spec 4), in layers: each file uses only the ones above it.   */
/*   pool.c, outcome.c   generic thread pool; the pure outcome decision     */
/*   wstate.c            the worker object: state, references, registry     */
/*   lease.c             one dequeued job from mark to written outcome      */
/*   dequeue.c           pump, DEQUEUE/BLMOVE, MARK, give-back, UNBLOCK     */
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
    saq__task_t *next;
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

/* ---- wstate.c: the worker object ---- */

typedef struct saq__lease saq__lease_t;

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
} saq__cron_entry_t;

typedef struct saq__hook_entry {
    int kind;
    saq_hook_fn fn;
    void *ud;
} saq__hook_entry_t;

/* what saq__worker_poke asks for */
#define SAQ__POKE_PUMP 1  /* a slot may be free: dequeue more */
#define SAQ__POKE_CHECK 2 /* something ended: stop when stopping and idle */

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
    saq_worker_t *next_worker;
    int attached;
    uv_timer_t t_schedule, t_info, t_sweep, t_abort, t_dead, t_grace, t_retry, t_alive;
    int handles_open;
    saq__conn_t block;
    saq__list_t leases;     /* saq__lease.link, newest first (saq_worker_new sets it up) */
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
    saq__pool_t *pool;
    atomic_llong errors;
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
int saq__worker_has_hooks(const saq_worker_t *w, int kind);
/* Tell the worker that something changed (SAQ__POKE_*; loop thread). */
void saq__worker_poke(saq_worker_t *w, int what);
/* A vector of strings: free each, then the vector. */
void saq__strv_free(char **v, size_t n);

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
    atomic_int given_back;  /* the stopping worker settled it without the host */
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
    char *abort_error;
    uv_timer_t *deadline;   /* timeout, then hard deadline, then write retries */
    int write_tries;
    int too_big;            /* times the outcome did not fit (saq__outcome_shrink) */
    char *mark_json;        /* the exact record MARK writes (sent again after a lost reply) */
    size_t mark_len;
    char *dequeued;         /* the record as dequeued, when it was queued (NULL otherwise) */
    size_t dequeued_len;
    int mark_tries;
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
/* The lease of w holding job `id`, or NULL. */
saq__lease_t *saq__lease_find(saq_worker_t *w, const char *id);
/* The queue's teardown: drop every lease of w without writing anything. */
void saq__leases_detach(saq_worker_t *w);

/* ---- dequeue.c: taking jobs ---- */

/* Dequeue as many jobs as there are free slots (loop thread). */
void saq__dequeue_pump(saq_worker_t *w);
/* Interrupt a blocked dequeue without losing its move (CLIENT UNBLOCK). */
void saq__dequeue_unblock(saq_worker_t *w);

/* ---- upkeep.c: the periodic duties ---- */

/* Timer callbacks (t->data is the worker): cron + scheduled jobs, the
 * worker_info registry write, the sweep, the abort and heartbeat checks. */
void saq__upkeep_schedule_tick(uv_timer_t *t);
void saq__upkeep_info_tick(uv_timer_t *t);
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

#endif
