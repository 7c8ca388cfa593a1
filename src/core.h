/* SPDX-License-Identifier: MIT */
/* The queue's I/O core: the libuv loop thread, Redis connections, requests,
 * operations, the pub/sub multiplexer. Everything marked "loop thread" must
 * only be touched from the queue's I/O thread. */
#ifndef SAQ_CORE_H
#define SAQ_CORE_H

#include "internal.h"

#include <hiredis/hiredis.h>
#include <uv.h>

typedef struct saq__conn saq__conn_t;
typedef struct saq__req saq__req_t;
typedef struct saq__op saq__op_t;
typedef struct saq__msg saq__msg_t;
typedef struct saq__listener saq__listener_t;

/* ---- loop.c: the I/O thread, its inbox, the teardown ---- */

/* A message from any thread to the loop thread. */
struct saq__msg {
    saq__msg_t *next;
    void (*run)(saq_queue_t *q, saq__msg_t *m);  /* on the loop thread */
    void (*drop)(saq_queue_t *q, saq__msg_t *m); /* loop gone: release without running */
};
/* Post a message; it runs on the loop thread in posting order. Returns 0 or
 * SAQ_ECLOSED (the teardown closed the inbox: the caller still owns m). Any
 * thread. */
int saq__post(saq_queue_t *q, saq__msg_t *m);
/* Is the calling thread the queue's I/O thread? */
int saq__on_loop(const saq_queue_t *q);
/* Can the queue take work: SAQ_OK, SAQ_EINVAL (NULL), SAQ_EFORKED (a forked
 * child: the I/O thread is the parent's), SAQ_ECLOSED (closing or freed). Any
 * thread. */
int saq__check_handle(const saq_queue_t *q);
/* Create the loop and its wake-up handle (before saq__loop_start). Returns 0
 * or a libuv error code (the loop is then closed again). Creating thread. */
int saq__loop_init(saq_queue_t *q);
/* Start the I/O thread; `exited` runs on it once the loop has ended and
 * io_done is set (it drops the thread's reference on the queue). Returns 0 or
 * the pthread_create error (the loop is then closed). Creating thread. */
int saq__loop_start(saq_queue_t *q, void (*exited)(saq_queue_t *q));
/* Ask the loop to tear down (once; later calls do nothing). Any thread but
 * the loop's own callbacks may call it; it does not wait. */
void saq__loop_stop(saq_queue_t *q);
/* Something attached to the queue's loop that a teardown must end first (a
 * worker; the pending operations): a list head in saq_queue, walked by the
 * teardown through the vtable, so the queue calls nothing of its users'. */
typedef struct saq__attachment saq__attachment_t;
typedef struct saq__attachment_vt {
    /* The queue is being torn down: stop now, without a grace period, and
     * detach once stopped (maybe at once, from inside the call). The
     * teardown waits until no attachment with a drain is attached, for at
     * most the largest drain_ms. NULL: nothing to wait for. May run more
     * than once. Loop thread. */
    void (*drain)(saq__attachment_t *a);
    /* How long this attachment's drain may take at most, ms. */
    uint64_t (*drain_ms)(saq__attachment_t *a);
    /* The teardown goes on (drained, or the wait is over): end everything
     * at once, before the connections close. `a` is already detached.
     * Attachments are shut down newest first. Loop thread. */
    void (*shutdown)(saq__attachment_t *a);
} saq__attachment_vt_t;
struct saq__attachment {
    saq__link_t link;       /* on q->attachments while attached */
    const saq__attachment_vt_t *vt;
};
/* Attach `a` (not attached) with its vtable. Loop thread, or the creating
 * thread before saq__loop_start. */
void saq__loop_attach(saq_queue_t *q, saq__attachment_t *a, const saq__attachment_vt_t *vt);
/* Detach `a` (no-op when it is not attached); a teardown waiting for the
 * drain goes on once no attachment with a drain is left. Loop thread. */
void saq__loop_detach(saq_queue_t *q, saq__attachment_t *a);
/* Wait until the I/O thread has ended (and, with `inflight`, until no counted
 * operation is in flight either), or until `deadline` (monotonic ms, 0 =
 * none). Returns 0, or -1 when the deadline passed first. Not the I/O thread. */
int saq__loop_wait(saq_queue_t *q, int inflight, uint64_t deadline);

/* ---- tls.c: TLS sessions on memory buffers (OpenSSL) ---- */

typedef struct saq__tls_ctx saq__tls_ctx_t; /* a client context: trust, client certificate */
typedef struct saq__tls saq__tls_t;         /* one connection's session */

/* A client context from TLS settings: the server's certificate checked
 * against ssl_ca_certs/ssl_ca_path or, when neither is given, the system's
 * trusted CAs (unless cert_reqs is none); the host name checked when
 * check_hostname; a client certificate and key when given; TLS 1.2 or newer.
 * Files are read now. Returns SAQ_OK with *out set (free with
 * saq__tls_ctx_free), SAQ_ETLS with *msg (malloc'd) naming the setting, the
 * file and the cause, or SAQ_ENOMEM (*msg NULL). Any thread. */
int saq__tls_ctx_new(const saq__tls_opts_t *o, saq__tls_ctx_t **out, char **msg);
/* Free a context (sessions made from it keep what they need). NULL is a no-op. */
void saq__tls_ctx_free(saq__tls_ctx_t *x);
/* A client session: SNI and the checked name from `host` (NULL for none; an
 * IP literal is checked as an address and sent no SNI). NULL on ENOMEM. The
 * context must outlive the session. Loop thread (as every call below). */
saq__tls_t *saq__tls_new(const saq__tls_ctx_t *x, const char *host);
void saq__tls_free(saq__tls_t *t);
/* The calling thread is about to end: free OpenSSL's state for it (its
 * random generators). Without it, each I/O thread that did TLS left them
 * behind (LeakSanitizer saw them in every process that closed a rediss://
 * queue). A no-op for a thread that never used OpenSSL. */
void saq__tls_thread_end(void);
/* Ciphertext that arrived from the server. SAQ_OK or SAQ_ENOMEM. */
int saq__tls_feed(saq__tls_t *t, const char *p, size_t n);
/* Advance the handshake: 1 when done, 0 when it needs more input, or
 * SAQ_ETLS with *msg (malloc'd) saying why in words a user can act on. */
int saq__tls_handshake(saq__tls_t *t, char **msg);
/* Plaintext into buf (at most cap bytes): the count, 0 when no more for now,
 * SAQ_ECONN (the server ended the session) or SAQ_ETLS, with *msg. */
long saq__tls_read(saq__tls_t *t, char *buf, size_t cap, char **msg);
/* Encrypt n bytes of plaintext (after the handshake). SAQ_OK or SAQ_ETLS with *msg. */
int saq__tls_write(saq__tls_t *t, const char *p, size_t n, char **msg);
/* Is anything left to decrypt (plaintext buffered, or ciphertext not yet
 * processed)? When not, saq__tls_read would only say "0": skipping that call
 * spares OpenSSL a read buffer it allocates and frees each time. */
int saq__tls_has_input(const saq__tls_t *t);
/* Ciphertext waiting to be sent: how much, and take up to cap bytes of it. */
size_t saq__tls_pending(const saq__tls_t *t);
size_t saq__tls_take(saq__tls_t *t, char *buf, size_t cap);

/* ---- sock.c: a byte stream to Redis (TCP or unix socket, TLS when asked) ---- */

typedef struct saq__sock saq__sock_t;
/* The owner's callbacks, on the loop thread. on_open: connected (TLS
 * handshake done). on_data: n bytes of plaintext, valid during the call.
 * on_error: the stream failed (err SAQ_ECONN, SAQ_ETLS or SAQ_ENOMEM, msg
 * the cause); it is already closed and must not be used after (no
 * saq__sock_close). A callback may call saq__sock_close. */
typedef struct saq__sock_cb {
    void (*on_open)(void *ud);
    void (*on_data)(void *ud, const char *p, size_t n);
    void (*on_error)(void *ud, int err, const char *msg);
} saq__sock_cb_t;
/* Connect to a numeric address `addr` and `port`, or to the unix socket path
 * `addr` when port is 0; with TLS when `tls` is not NULL (`host`: the name
 * for SNI and the certificate check). Returns the stream (callbacks follow,
 * never from inside this call), or NULL with *err (SAQ_ECONN, SAQ_ENOMEM) and
 * *msg (malloc'd or NULL). `cb` must outlive the stream. Loop thread. */
saq__sock_t *saq__sock_open(uv_loop_t *loop, const char *addr, int port, const saq__tls_ctx_t *tls,
                            const char *host, const saq__sock_cb_t *cb, void *ud, int *err,
                            char **msg);
/* 1 once the socket is connected (a TLS handshake may still be running). Loop thread. */
int saq__sock_connected(const saq__sock_t *s);
/* Queue bytes; they are written before the loop next waits for I/O. SAQ_OK,
 * SAQ_ENOMEM or SAQ_ECONN (closed). Loop thread. */
int saq__sock_write(saq__sock_t *s, const char *p, size_t n);
/* Close now: no callback after this; the memory goes when libuv is done
 * with the handles. NULL or an already closed stream is a no-op. Loop thread. */
void saq__sock_close(saq__sock_t *s);

/* ---- reader.c: the reply parser ---- */

/* No reply libsaq asks for has an array this long; a header claiming more
 * ("*2000000000") would have hiredis allocate (and later walk, to free) a
 * slot per element before a single one arrives. */
#define SAQ__MAX_REPLY_ELEMENTS (1 << 24)

/* A redisReader making hiredis's reply objects (freeReplyObject), that fails
 * (REDIS_ERR from redisReaderGetReply) on an array of more than
 * SAQ__MAX_REPLY_ELEMENTS. Free with redisReaderFree. NULL on ENOMEM. Any
 * thread. */
redisReader *saq__reader_new(void);

/* ---- conn.c: Redis connections and requests ---- */

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
    int state;      /* 0 waiting, 1 in flight */
    int handshake;  /* sent before the connection is ready */
};

enum { CONN_DOWN, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY };
enum { ROLE_CMD, ROLE_SUB, ROLE_BLOCK };

struct saq__conn {
    saq_queue_t *q;
    int role;
    int state;
    saq__sock_t *sock;     /* the stream while connecting or connected */
    redisReader *reader;   /* its replies (hiredis's RESP parser) */
    int dispatching;       /* inside the reader loop (the reader must stay) */
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
    /* A reply no request waits for (pub/sub messages): return 1 when taken,
     * 0 to answer the oldest request in flight with it. NULL: none. */
    int (*on_push)(saq__conn_t *c, redisReply *r);
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
void saq__conn_kick(saq__conn_t *c);        /* connect now if down and allowed */
/* Does a request's err mean "the connection failed, the command may or may
 * not have run" (SAQ_ECONN, SAQ_ETIMEDOUT, SAQ_ETLS), so that an idempotent
 * write should be sent again once it is back? Any thread. */
int saq__conn_lost(int err);
void saq__conn_close(saq__conn_t *c, int err, const char *msg); /* fail everything, disconnect */
/* Final: close the connection and its timer handle. The timer is part of the
 * connection's memory, so an owner that frees it must wait for `on_closed`
 * (called on the loop thread; NULL when the memory outlives the loop).
 * Returns 1 when a timer close was started (on_closed will be called). */
int saq__conn_shutdown(saq__conn_t *c, uv_close_cb on_closed);

/* ---- scripts.c: the Lua scripts' text (their KEYS/ARGV: transition.c) ---- */
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

/* ---- op.c: the operation framework (and saq_queue_cancel) ---- */

/* An operation: one event, completed exactly once (on the loop thread, or by
 * saq__op_submit when it cannot be posted). Specific operations embed it as
 * their first member. */
struct saq__op {
    saq__msg_t msg;             /* first member */
    saq_queue_t *q;
    saq_cq_t *cq;
    uint64_t tag;
    saq_event_t *ev;
    saq__link_t link;           /* on q->ops while pending (loop thread) */
    int refs;                   /* loop thread: op itself + outstanding reqs/timers */
    int done;
    int permit;
    int counted;                /* counted in q->inflight */
    saq__twaiter_t tw;
    void (*granted)(saq__op_t *op);
    void (*start)(saq__op_t *op);
    void (*destroy)(saq__op_t *op);
    /* What saq_queue_cancel does to it (set before submit; loop thread);
     * NULL: not cancellable (short operations) */
    void (*cancel)(saq__op_t *op);
    int pending;                /* generic counter of outstanding replies */
};

/* A new operation of `size` bytes (>= sizeof(saq__op_t), zeroed) whose event
 * has `type` and `tag`; it holds a reference on cq. `start` runs on the loop
 * thread (NULL, or an error already in the event: it completes at once);
 * `destroy` releases the embedding struct's members when the last reference
 * goes. NULL when out of memory. Any thread. */
saq__op_t *saq__op_new(saq_queue_t *q, size_t size, int type, saq_cq_t *cq, uint64_t tag,
                       void (*start)(saq__op_t *), void (*destroy)(saq__op_t *));
/* saq__op_new after the common checks of a submit function: NULL with *err =
 * saq__check_handle's code, SAQ_EINVAL (cq not usable) or SAQ_ENOMEM. */
saq__op_t *saq__op_create(saq_queue_t *q, size_t size, int type, saq_cq_t *cq, uint64_t tag,
                          void (*start)(saq__op_t *), void (*destroy)(saq__op_t *), int *err);
/* Post the operation to the loop thread. Returns 0, or the error (queue
 * closed, forked, cq not usable: the operation is freed, no event). */
int saq__op_submit(saq__op_t *op);
/* Complete with an error (code and printf-style message); no-op once done.
 * Loop thread. */
void saq__op_fail(saq__op_t *op, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Complete: release the permit, push the event, drop the operation's own
 * reference; no-op once done. Loop thread. */
void saq__op_complete(saq__op_t *op);
/* Take / drop a reference (loop thread; the last one frees the operation). */
void saq__op_ref(saq__op_t *op);
void saq__op_unref(saq__op_t *op);
/* Take a throttle permit, then call fn (maybe at once). Loop thread. */
void saq__op_with_permit(saq__op_t *op, void (*fn)(saq__op_t *op));
/* Give the permit back (or stop waiting for it); no-op without one. */
void saq__op_release_permit(saq__op_t *op);
/* Attach the queue's pending operations to its loop (q->ops_att): a
 * teardown fails those still pending (SAQ_ECLOSED, "queue closed") after
 * everything attached later has been shut down. Once, at creation, before
 * anything else attaches. */
void saq__op_attach_pending(saq_queue_t *q);
/* Issue a request bound to the op (holds a ref; callback skipped when the op
 * is done, except for cleanup). */
saq__req_t *saq__op_cmd(saq__op_t *op, saq__op_reply_fn cb, intptr_t idata, int argc,
                        const char **argv, const size_t *argvlen);
saq__req_t *saq__op_eval(saq__op_t *op, int script, saq__op_reply_fn cb, intptr_t idata, int nkeys,
                         int nargs, const char **argv, const size_t *argvlen);
/* *v = the integer reply r; returns 0, or -1 (v untouched) when r is NULL or
 * not an integer. */
int saq__reply_int(const redisReply *r, long long *v);

/* A one-shot timer bound to an operation: fn runs after `seconds` (rounded
 * up to ms; <= 0: at the next loop iteration) unless the operation is done by
 * then. Loop thread. start returns NULL when out of memory; restart re-arms
 * it (NULL: no-op); stop cancels it, frees it (asynchronously) and sets
 * *pot = NULL (NULL *pot: no-op). The operation must stop its timers in its
 * destroy. */
typedef struct saq__optimer saq__optimer_t;
saq__optimer_t *saq__optimer_start(saq__op_t *op, double seconds, void (*fn)(saq__op_t *op));
void saq__optimer_restart(saq__optimer_t *ot, double seconds);
void saq__optimer_stop(saq__optimer_t **pot);
/* A saq__listener_t on_failed for listeners whose owner is an operation:
 * the operation fails with err ("cannot subscribe to job updates: msg"). */
void saq__op_sub_failed(saq__listener_t *l, int err, const char *msg);

/* ---- pubsub.c: the pub/sub multiplexer ---- */

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

/* ---- queue.c: the queue object ---- */

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
    void (*loop_exited)(saq_queue_t *q); /* saq__loop_start's `exited` */
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
    saq__tls_ctx_t *tls;        /* rediss://: the connections' TLS context (else NULL) */
    /* loop thread */
    saq__conn_t cmd, sub;
    saq__throttle_t throttle;
    saq__list_t ops;            /* pending operations, oldest first (op.c) */
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
    saq__list_t attachments; /* loop thread: newest first (loop.c) */
    saq__attachment_t ops_att;      /* the pending operations' (op.c) */
    /* counters of this queue object (saq's Queue.complete/...) */
    atomic_llong n_complete, n_failed, n_retried, n_aborted;
    int64_t created_ms;
    char uuid[37];
    /* under mu */
    saq__hook_t *hooks;  /* the user's before-enqueue hooks, in order */
    size_t nhooks;
    saq__hook_t *ihooks; /* internal ones (saq__queue_add_hook) */
    size_t nihooks;
};

/* Drop a reference on the queue; the last one frees its memory. Any thread. */
void saq__queue_unref(saq_queue_t *q);
/* Internal before-enqueue hooks (a batch records the jobs through one): they
 * run for every job prepared for enqueue (saq__prepare_enqueue), after the
 * user's hooks, on the job as it will be written (final key, queue and id),
 * in the enqueuing thread with q->mu held, so they must not block or call
 * into the queue, and must not change the job; their return value is
 * ignored. Adding a pair twice is a no-op. add returns SAQ_OK or SAQ_ENOMEM;
 * remove SAQ_OK or SAQ_ENOTFOUND; once remove returned, the hook is not
 * running and will not run again. Any thread except from a hook. */
int saq__queue_add_hook(saq_queue_t *q, saq_job_hook_fn fn, void *ud);
int saq__queue_remove_hook(saq_queue_t *q, saq_job_hook_fn fn, void *ud);

/* ---- record.c: job records as stored ---- */

/* The job id (saq:job:<queue>:<key>) of a key, malloc'd (NULL on ENOMEM). */
char *saq__id_of(saq_queue_t *q, const char *key);
/* The key of a job id of this queue: a pointer into id (id itself when it is
 * not one of this queue's). */
const char *saq__key_of(saq_queue_t *q, const char *id);
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
/* Parse a JSON array of non-empty strings (keys) into malloc'd job ids
 * (*out, *n; free with saq__ids_free). Returns 0, SAQ_EINVAL (json NULL),
 * SAQ_EJSON (not an array of non-empty strings) or SAQ_ENOMEM, with a message
 * in err (then *out is NULL and *n 0). */
int saq__keys_to_ids(saq_queue_t *q, const char *json, char ***out, size_t *n, char *err,
                     size_t errlen);
/* Free n malloc'd strings and their array (NULL ids allowed with n 0). */
void saq__ids_free(char **ids, size_t n);
/* Is a published status text terminal ("complete", "failed", "aborted";
 * exact, as saq publishes them)? */
int saq__status_text_terminal(const char *st);
/* Prepare a job for enqueue on the calling thread (queue, queued, status,
 * the user's before-enqueue hooks, id, then the internal hooks). Returns a
 * code with a message in *msg (malloc'd, may be NULL). */
int saq__prepare_enqueue(saq_queue_t *q, saq_job_t *j, char **msg);

/* ---- transition.c: the typed Redis transitions ----
 * Every state change libsaq makes in Redis goes through one function here:
 * enqueue, dequeue, mark, give-back, finish, retry, recover, requeue, update,
 * replace, abort, abort-due, schedule, sweep, alive, unreadable, and the
 * worker registry write. A script's KEYS and ARGV are laid out by its
 * builder (saq__tx_<script>) and nowhere else; scripts.c documents the same
 * layout next to the Lua text. A script's status reply is decoded by
 * saq__tx_decode and nowhere else, into a saq__tx_t instead of the scripts'
 * numbers. (librdkafka's typed requests, src/rdkafka_request.h, are the
 * model: one builder per wire request, one decoder per reply.)
 * Builders and decoders are pure: any thread (they read only the queue's key
 * names and settings, fixed at open). Sending and the primitives: loop thread. */

/* What a transition's script answered. */
typedef enum saq__tx {
    /* no usable reply: the request failed (err), or the reply has a shape the
     * script never sends */
    SAQ__TX_NONE = 0,
    /* done as asked. ABORT 0: written, and the job was not waiting (its worker
     * or the abort watch ends it); ABORT_DUE {0}: nothing for the caller (it
     * was done, or is watched a little longer) */
    SAQ__TX_OK,
    /* FINISH/RETRY {3}: the same outcome is stored already (a write sent again
     * after a lost reply): nothing written */
    SAQ__TX_SAME,
    /* FINISH/RETRY {-1, error}, MARK {-1, 'aborting', record[, marker text]}:
     * the job was aborted meanwhile, nothing written; the reason is in the
     * reply's text (NULL from MARK: the record's own error is the reason) */
    SAQ__TX_ABORTED,
    /* FINISH/RETRY {-2}: the record belongs to another run of the job (the
     * lease was lost): nothing written */
    SAQ__TX_LOST,
    /* MARK {-1, status, record}: running elsewhere or finished, not this
     * worker's to run (MARK dropped this move's entry of `active` when it was
     * a duplicate or the job is finished); text = the stored status */
    SAQ__TX_TAKEN,
    /* MARK {-3}: Lua cannot decode the stored record: mark it again opaque */
    SAQ__TX_OPAQUE,
    /* a precondition did not hold, nothing written: ENQUEUE nil (the id is
     * incomplete already, or its abort marker is set); MARK {0} (gone from
     * `active`, or no record); UPDATE, REPLACE, RECOVER, UNREADABLE 0 (gone,
     * finished, another run's, or not the record expected); ABORT -2 (the
     * sweep's abort of a job no longer in `active`) */
    SAQ__TX_REFUSED,
    /* ABORT -1: the record is no longer the one read: read it again */
    SAQ__TX_CHANGED,
    /* ABORT n > 0: written, and the job was waiting in `queued` (taken out,
     * n entries): the caller finishes it aborted */
    SAQ__TX_DEQUEUED,
    /* ABORT_DUE {1, record}: aborting, and no live worker holds it: the
     * caller finishes it aborted (compare-and-set on the record) */
    SAQ__TX_DUE,
} saq__tx_t;

/* A decoded status reply. The pointers are into the redisReply: valid during
 * the reply callback only. */
typedef struct saq__tx_reply {
    saq__tx_t code;
    long long n;        /* DEQUEUED: the entries taken out of `queued` */
    const char *text;   /* ABORTED: the reason (or NULL); TAKEN: the stored status */
    redisReply *record; /* MARK's ABORTED/TAKEN, ABORT_DUE's DUE: the record as stored */
} saq__tx_reply_t;

/* Decode the reply of `script` (SCRIPT_ENQUEUE, MARK, FINISH, RETRY, UPDATE,
 * REPLACE, ABORT, RECOVER, UNREADABLE, ABORT_DUE; any other gives
 * SAQ__TX_NONE). r may be NULL (SAQ__TX_NONE); out may be NULL. Pure. */
saq__tx_t saq__tx_decode(int script, const redisReply *r, saq__tx_reply_t *out);

/* A script call as its builder laid it out: `nkeys` KEYS, then the ARGV, in
 * argv[0 .. argc) with their lengths. Lives on the caller's stack between a
 * builder and saq__tx_send / saq__tx_send_op (or saq__tx_call_free); argv
 * may point into the struct, so it is never copied. */
#define SAQ__TX_INLINE 13 /* the most any script but ALIVE takes */
typedef struct saq__call {
    int script;
    int nkeys, argc;
    int oom;            /* a builder ran out of memory: sending fails as saq__eval does */
    const char **argv;  /* av, or the heap beyond SAQ__TX_INLINE */
    size_t *len;
    int cap;
    const char *av[SAQ__TX_INLINE];
    size_t al[SAQ__TX_INLINE];
    char num[4][40];    /* numbers formatted for the call */
    int nnum;
    char *own[2];       /* names the call allocated (abort marker, kept record) */
} saq__call_t;

/* Send a built call on the queue's command connection (EVALSHA, EVAL on
 * NOSCRIPT). The call is consumed. Returns the request, or NULL when out of
 * memory (then cb is not called). */
saq__req_t *saq__tx_send(saq_queue_t *q, saq__call_t *c, saq__reply_fn cb, void *data);
/* The same for an operation (saq__op_eval: holds an op reference; out of
 * memory fails the op and returns NULL). */
saq__req_t *saq__tx_send_op(saq__op_t *op, saq__call_t *c, saq__op_reply_fn cb, intptr_t idata);
/* Release a built call that is not sent. */
void saq__tx_call_free(saq__call_t *c);

/* "saq:abort:<key>": saq's abort marker of the job with this key (malloc'd,
 * NULL when out of memory). */
char *saq__tx_marker(const char *key);

/* Which watch set an abort (or the recovery of one) uses. */
enum {
    SAQ__TX_WATCH_NONE,  /* RECOVER: the job is in `active` (4 keys, no watch) */
    SAQ__TX_WATCH_SWEEP, /* the sweep's aborts until their retry (q->k_watch) */
    SAQ__TX_WATCH_ABORT, /* saq_queue_abort of a job that was not waiting (q->k_abortwatch) */
};

/* ENQUEUE j (its id and key; scheduled <= 0: pushed to `queued` now, with
 * score "0" exactly, saq's push-now test) as the record json[0 .. len).
 * KEYS incomplete, id, queued, abort marker; ARGV json, score.
 * Reply: OK, or REFUSED (already there, or its abort marker is set). */
void saq__tx_enqueue(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len,
                     saq__call_t *c);

/* DEQUEUE up to max jobs (LMOVE when the server has it, or its version is not
 * known yet; RPOPLPUSH before Redis 6.2). KEYS queued, active; ARGV max,
 * '1' = LMOVE. Reply: {id, record, id, record, ...} (a record is nil when
 * missing or not a string): read with saq__tx_dequeued*. */
void saq__tx_dequeue(saq_queue_t *q, int max, saq__call_t *c);
/* The jobs a DEQUEUE reply moved (0 for anything but an array). */
size_t saq__tx_dequeued(const redisReply *r);
/* The i-th moved job's id and record (i < saq__tx_dequeued(r)). */
redisReply *saq__tx_dequeued_id(const redisReply *r, size_t i);
redisReply *saq__tx_dequeued_record(const redisReply *r, size_t i);

/* MARK a dequeued job active. */
typedef struct saq__tx_mark {
    const char *id, *key;
    const char *json;     /* the record as active */
    size_t len;
    const char *dequeued; /* the record as dequeued; NULL when it was not queued */
    size_t dequeued_len;
    int opaque;           /* mark without decoding (after SAQ__TX_OPAQUE); a queue with a
                           * dump transform always does */
    int resent;           /* sent again after a lost reply (a MARK that finds its own record succeeds) */
} saq__tx_mark_t;
/* KEYS active, id, abort marker; ARGV json, check marker ('1': the 0.13
 * dialect), opaque, dequeued ('' when not queued), resent.
 * Reply: OK, REFUSED, ABORTED, TAKEN or OPAQUE. */
void saq__tx_mark(saq_queue_t *q, const saq__tx_mark_t *a, saq__call_t *c);

/* Put a job moved to `active` back at the head of `queued` (a worker that
 * stops before it marked it: exactly where it was, its record untouched):
 * MULTI, LREM active 1 id, LPUSH queued id, EXEC. Returns the EXEC's request
 * (cb gets the EXEC reply) or NULL when out of memory. Loop thread. */
saq__req_t *saq__tx_give_back(saq_queue_t *q, const char *id, saq__reply_fn cb, void *data);

/* A lease's guard on an outcome write: the run (attempts, started) the
 * record must still belong to, and the record as the lease last wrote it
 * (expect, or NULL: then Lua decodes the record to compare). */
typedef struct saq__guard {
    int attempts;
    int64_t started;
    const char *expect;
    size_t expect_len;
} saq__guard_t;

/* FINISH j with its status and ttl as the record json[0 .. len). guard NULL:
 * unguarded (saq's own finish). del_marker: also delete the abort marker.
 * KEYS active, incomplete, id, abort marker; ARGV json, ttl, status, guarded,
 * attempts, started, check marker (guarded in the 0.13 dialect), delete
 * marker, expect ('' = unknown). Reply: OK, or guarded SAME, ABORTED, LOST. */
void saq__tx_finish(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len,
                    const saq__guard_t *guard, int del_marker, saq__call_t *c);

/* RETRY j as the record json[0 .. len), due at `score` (epoch s; <= 0: now,
 * pushed to `queued` with score "0"). KEYS active, queued, incomplete, id,
 * abort marker; ARGV json, score, push, guarded, attempts, started, check
 * marker, expect. Reply: as FINISH. */
void saq__tx_retry(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len, double score,
                   const saq__guard_t *guard, saq__call_t *c);

/* UPDATE a record keeping its stored status (and, while it is aborting, its
 * stored error): head .. err .. status .. tail (saq__job_dump_split). */
typedef struct saq__tx_update {
    const char *id;
    const char *head, *err, *tail;
    const char *status;         /* written when the stored one cannot be read */
    const saq__guard_t *guard;  /* a lease's (refused when the record is another run's), or NULL */
} saq__tx_update_t;
/* KEYS id; ARGV head, err, tail, fallback status, guarded, attempts, started.
 * Reply: OK or REFUSED (gone, finished, another run's). */
void saq__tx_update(saq_queue_t *q, const saq__tx_update_t *a, saq__call_t *c);

/* REPLACE an opaque record (a dump transform's, which Lua cannot read) with
 * json[0 .. len) only if it is still there and, when expect is known, still
 * exactly expect[0 .. expect_len). KEYS id; ARGV json, status to publish,
 * expect ('' = unknown). Reply: OK or REFUSED. */
void saq__tx_replace(saq_queue_t *q, const char *id, const char *json, size_t len,
                     const char *status, const char *expect, size_t expect_len, saq__call_t *c);

/* ABORT a job: saq's abort pipeline, atomic. */
typedef struct saq__tx_abort {
    const char *id, *key;
    const char *old;   /* the record as read (compare-and-set); unused in the 0.13 form */
    size_t oldlen;
    const char *json;  /* the record as aborting; unused in the 0.13 form */
    size_t len;
    int ttl;           /* the abort marker's ttl, s */
    const char *reason;/* the abort marker's text */
    int watch;         /* SAQ__TX_WATCH_SWEEP or _ABORT: where a job that was not waiting is watched */
    double watch_ms;   /* for how long ("%.0f" ms; < 0: not watched) */
    int form013;       /* saq 0.13's form: no compare-and-set, no status change, the
                        * record expires after ttl + 1 s */
} saq__tx_abort_t;
/* KEYS queued, incomplete, id, abort marker, active, watch; ARGV old, json,
 * marker ttl, reason, watch ms ('' = none), '013' or ''. Reply: OK (it was
 * not waiting), DEQUEUED (it was waiting) or CHANGED (0.26 form: the record
 * is no longer `old`). */
void saq__tx_abort(saq_queue_t *q, const saq__tx_abort_t *a, saq__call_t *c);

/* saq 0.13's abort of a job, as saq 0.13 writes it (not a script): MULTI,
 * LREM queued 0 id, ZREM incomplete id, EXPIRE id ttl + 1, SETEX marker ttl
 * reason, EXEC; issued by op, cb gets the EXEC reply (read it with
 * saq__tx_abort013_decode). Out of memory fails the op. */
void saq__tx_abort013_op(saq__op_t *op, const char *id, const char *key, int ttl, const char *reason,
                         saq__op_reply_fn cb);
/* The EXEC reply of saq__tx_abort013_op: DEQUEUED (it was waiting: n entries
 * taken out of `queued`) or OK (it was not). Pure. */
saq__tx_t saq__tx_abort013_decode(const redisReply *r, saq__tx_reply_t *out);

/* saq's blind update of an opaque record (a dump transform's, which Lua
 * cannot read): SET id json[0 .. len), PUBLISH id status; issued by op, cb
 * gets the PUBLISH reply. */
void saq__tx_overwrite_op(saq__op_t *op, const char *id, const char *json, size_t len,
                          const char *status, saq__op_reply_fn cb);

/* ABORT_DUE: an abort past its watch deadline (id from the abort watch set).
 * KEYS abort watch, id, alive, registry; ARGV the 0.26 and 0.13 registry
 * member prefixes. Reply: OK or DUE (with the record). */
void saq__tx_abort_due(saq_queue_t *q, const char *id, saq__call_t *c);

/* SCHEDULE: move the scheduled jobs due at now_s (epoch s) to `queued`,
 * under a lock of lock_ms. KEYS schedule lock, incomplete, queued; ARGV lock
 * ms, now. Reply: the ids moved (an array; nil when the lock was held). */
void saq__tx_schedule(saq_queue_t *q, long long lock_ms, double now_s, saq__call_t *c);

/* SWEEP: list `active` with the records, under a lock of lock_ms. KEYS sweep
 * lock, active; ARGV lock ms. Reply: {{id, record or nil}, ...} (empty when
 * the lock was held). */
void saq__tx_sweep(saq_queue_t *q, long long lock_ms, saq__call_t *c);

/* RECOVER a job whose record was `old` (compare-and-set): back to the queue,
 * or finished. */
typedef struct saq__tx_recover {
    const char *id;
    const char *old;    /* the record as read */
    size_t oldlen;
    const char *json;   /* the new record */
    size_t len;
    int retry;          /* 1: back to the queue, due at score; 0: finished with status and ttl */
    double score;       /* retry: epoch s; <= 0: pushed now (score "0") */
    int ttl;            /* finish: the record's ttl (> 0 expires, 0 kept, < 0 deleted) */
    const char *status; /* finish: the status published */
    int watch;          /* SAQ__TX_WATCH_NONE: the job is in `active`; _SWEEP or _ABORT:
                         * also when it is in no list, and dropped from that watch set */
} saq__tx_recover_t;
/* KEYS active, queued, incomplete, id[, watch]; ARGV old, json,
 * 'retry'|'finish', score, push, ttl, status[, '1']. Reply: OK or REFUSED. */
void saq__tx_recover(saq_queue_t *q, const saq__tx_recover_t *a, saq__call_t *c);

/* ALIVE: refresh worker wid's liveness entry for entry_ms, forgetting the
 * expired entries of forget[0 .. nforget) (NULL entries are sent as '').
 * KEYS alive, sweep watch, abort watch; ARGV wid, entry ms, forget...
 * Reply: read with saq__tx_alive_decode. */
void saq__tx_alive(saq_queue_t *q, const char *wid, unsigned long long entry_ms,
                   char *const *forget, size_t nforget, saq__call_t *c);
typedef struct saq__tx_alive_reply {
    redisReply *dead;   /* {wid, expiry ms, ...}: libsaq workers whose entry expired */
    redisReply *due;    /* sweep aborts past their watch deadline (ids) */
    redisReply *aborts; /* aborts past their watch deadline (ids) */
    int has_now;
    long long now;      /* the server's time, ms (when has_now) */
} saq__tx_alive_reply_t;
/* 0 when r is an ALIVE reply (then out is filled), -1 otherwise. Pure. */
int saq__tx_alive_decode(const redisReply *r, saq__tx_alive_reply_t *out);

/* "saq:<queue>:libsaq:unreadable:<key>": where UNREADABLE keeps a record's
 * original bytes (malloc'd, NULL when out of memory). */
char *saq__tx_unreadable_key(saq_queue_t *q, const char *key);
/* UNREADABLE: settle failed a record `id` (one of this queue's job ids) that
 * a worker cannot use: json[0 .. len) replaces rec[0 .. reclen) (compare-and-
 * set), the original bytes are kept for ttl s. KEYS active, incomplete, id,
 * kept; ARGV rec, json, ttl. Reply: OK or REFUSED. */
void saq__tx_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                        const char *json, size_t len, int ttl, saq__call_t *c);

/* ---- the primitives: the transitions with their record updates ----
 * `j` is updated in place as saq does (status, result, error, completed,
 * ...), dumped and written; the queue's counters follow what was written.
 * done (may be NULL) runs once, on the loop thread: err is 0 or a SAQ_E*
 * code with msg; result is what the script answered (SAQ__TX_NONE on err;
 * SAQ__TX_ABORTED has msg = the abort reason). */
typedef void (*saq__done_fn)(void *ud, int err, const char *msg, saq__tx_t result);
#define SAQ__DEL_MARKER 1
void saq__finish_job(saq_queue_t *q, saq_job_t *j, int status, const char *result,
                     const char *error, const saq__guard_t *guard, int flags, saq__done_fn done,
                     void *ud);
void saq__retry_job(saq_queue_t *q, saq_job_t *j, const char *error, const saq__guard_t *guard,
                    saq__done_fn done, void *ud);
/* Put back in the queue a job moved to `active` but never marked (lost move),
 * byte for byte as it is (compare-and-set on the record as read). */
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
 * Compare-and-set on the record as read. An id that is not one of this
 * queue's job ids is only dropped from `active`. */
void saq__settle_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                            const char *why);
/* Count a finished job in the queue's counters (complete, failed, aborted). */
void saq__count_finish(saq_queue_t *q, int status);
/* Write the registry entry for `wid` (spec 3.13): both key families when
 * dual (a worker makes itself visible to 0.13 and 0.26 readers with one zset
 * member). stats and metadata are raw JSON (metadata NULL: null); ttl in s.
 * done gets the EXEC's outcome (SAQ__TX_OK). */
void saq__write_registry(saq_queue_t *q, const char *wid, const char *stats, const char *metadata,
                         int ttl, int dual, saq__done_fn done, void *ud);

/* ---- ops.c: saq's one-shot queue operations ---- */

/* The queue object's counters as saq's stats JSON (malloc'd; NULL on ENOMEM). */
char *saq__stats_json(saq_queue_t *q);
/* saq_queue_schedule with the lock in milliseconds (the worker's form: a
 * little under its period). Returns as saq_queue_schedule. */
int saq__queue_schedule_ms(saq_queue_t *q, long long lock_ms, saq_cq_t *cq, uint64_t tag);

/* ---- rmw.c: saq_queue_abort, _retry, _finish, _update (public only) ---- */

/* ---- listen.c: saq_queue_listen, saq_queue_listen_stop (public only) ---- */

/* ---- apply.c: saq_queue_apply and saq_queue_map (public only) ---- */

/* ---- sweep.c: saq's sweep ---- */

/* saq_queue_sweep with the lock in milliseconds and the worker's
 * swept_error_message (NULL: the queue's). Returns as saq_queue_sweep. */
int saq__queue_sweep_ms(saq_queue_t *q, long long lock_ms, double abort_s, const char *swept_msg,
                        saq_cq_t *cq, uint64_t tag);

/* ---- batch.c: saq_batch_* (public only; a batch records its jobs through an
 * internal before-enqueue hook, saq__queue_add_hook) ---- */

/* ---- sync.c: the blocking _sync forms of the queue API (public only) ---- */

#endif
