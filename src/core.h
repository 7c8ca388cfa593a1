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
typedef struct saq__topo saq__topo_t;

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
/* Do the first bytes a server sent look like a TLS record (a handshake or an alert: what a
 * TLS port answers a plaintext client)? Pure. */
int saq__tls_record_like(const char *p, size_t n);
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

/* ---- resp.c: requests as RESP bytes ---- */

/* Build r->cmd/r->cmdlen: the RESP array of argv (argvlen NULL: strlen of
 * each), the bytes hiredis's redisFormatCommandArgv makes, in a buffer freed
 * by redisFreeCommand. 0, or -1 on ENOMEM. Any thread. */
int saq__resp_cmd(saq__req_t *r, int argc, const char **argv, const size_t *argvlen);
/* Build a script request's command from its kept arguments: EVALSHA with
 * q->sha, or EVAL with the script's text when `use_text` (after NOSCRIPT).
 * Replaces r->cmd. 0, or -1 on ENOMEM. Loop thread (reads q->sha). */
int saq__resp_eval(saq_queue_t *q, saq__req_t *r, int use_text);
/* What an error reply (its text, NULL allowed) means, as flags:
 * SAQ__RESP_TRANSIENT: the server cannot answer yet (loading its data set, a
 * long script, no master, a slot being moved): the same command works later,
 * so it is answered as a connection error, which callers retry;
 * SAQ__RESP_ROUTING: on Sentinel or Cluster, "not here, or not now": the
 * command did not run, and runs once the connection goes where the route
 * says (MOVED: the slot's new master; READONLY, UNBLOCKED: a master turned
 * replica; ASK, TRYAGAIN: a slot being moved; CLUSTERDOWN, MASTERDOWN,
 * LOADING: a failover under way). 0: a plain error. Pure. */
enum { SAQ__RESP_TRANSIENT = 1, SAQ__RESP_ROUTING = 2 };
int saq__resp_error_kind(const char *s);

/* ---- resolve.c: host names to addresses ---- */

#define SAQ__MAX_ADDRS 8
typedef struct saq__addrs {
    char a[SAQ__MAX_ADDRS][46]; /* numeric addresses, IPv4 first */
    int n;
} saq__addrs_t;
typedef struct saq__lookup saq__lookup_t;
/* A lookup's answer: status 0 (a->n may still be 0: no usable address) or a
 * libuv error code; `a` is valid during the call only. Loop thread. */
typedef void (*saq__lookup_fn)(void *data, int status, const saq__addrs_t *a);
/* Look `host` up for TCP `port`. Returns the lookup (cb is called once,
 * later, unless cancelled), or NULL with *err a libuv error code. Loop thread. */
saq__lookup_t *saq__lookup_start(uv_loop_t *loop, const char *host, int port, saq__lookup_fn cb,
                                 void *data, int *err);
/* Never call the lookup's callback (its memory is freed when the answer
 * comes). NULL is a no-op. Loop thread. */
void saq__lookup_cancel(saq__lookup_t *l);

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
    int keep_cmd;   /* keep `cmd` after sending (a routing error may send it again) */
    int wait_replicas; /* min_replicas: 1 = the reply waits for WAIT, fewer replicas fail it
                        * (enqueue); 2 = it waits, fewer replicas do not fail it (finish,
                        * finishes) */
    redisReply *held;  /* the reply kept while its WAIT is answered */
    int wait_tries;    /* WAITs asked for this write */
};

enum { CONN_DOWN, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY };
/* ROLE_DISC: a sentinel, or a cluster node asked for the slot map (topo.c) */
enum { ROLE_CMD, ROLE_SUB, ROLE_BLOCK, ROLE_DISC };

/* Where a queue's connections go when that is not the url's one server
 * (Sentinel, Cluster): installed by topo.c in saq_queue.route, called by
 * conn.c, which so does not depend on topo.c. Loop thread. */
typedef struct saq__route {
    /* The server `c` should connect to now: 1 with *host (borrowed until the
     * route changes) and *port; 0 when not known yet, with *why (borrowed,
     * may be NULL): the route calls saq__conn_retarget on every listed
     * connection once it knows. */
    int (*target)(saq__conn_t *c, const char **host, int *port, const char **why);
    /* `c` (not ROLE_DISC) lost its server, could not reach it, or had a
     * request refused with a routing error (`err`: its text, "MOVED ...",
     * "READONLY ..."; NULL for a lost or refused connection). */
    void (*trouble)(saq__conn_t *c, const char *err);
    const char *disc_user, *disc_pass; /* ROLE_DISC connections' AUTH (NULL: none) */
    int check_role;  /* data connections check ROLE = master in their handshake */
} saq__route_t;

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
    saq__lookup_t *resolving; /* the host name lookup in flight, if any */
    saq__addrs_t addrs;       /* the host name's addresses */
    int next_addr;
    void (*on_ready)(saq__conn_t *c);
    void (*on_down)(saq__conn_t *c, int err, const char *msg);
    /* A reply no request waits for (pub/sub messages): return 1 when taken,
     * 0 to answer the oldest request in flight with it. NULL: none. */
    int (*on_push)(saq__conn_t *c, redisReply *r);
    void *owner;
    int closing;
    char *host;            /* the server of the current or last attempt (malloc'd), or NULL */
    int port;
    saq__link_t qlink;     /* on q->conns once it connected first (loop thread) */
    saq__list_t redo;      /* refused by a routing error: sent again first on the next connection */
    int rerouting;         /* a routing error or a new route: send nothing more, reconnect once
                            * nothing is in flight */
    unsigned reroutes;     /* routing errors since the last reply that was not an error */
    uint64_t reroute_by;   /* mono ms: a connection retargeted with requests in flight whose
                            * replies are not in by then (a quarter of command_timeout_ms)
                            * reconnects without them (0: no limit, a routing error's) */
};

void saq__conn_init(saq__conn_t *c, saq_queue_t *q, int role);
/* The route changed: a connection to another server than the route's target
 * reconnects (at once when nothing is in flight, else once the replies are
 * in); a connection waiting to connect tries now. Loop thread. */
void saq__conn_retarget(saq__conn_t *c);
/* Fail the requests waiting to be sent with err/msg (the route found no
 * server for them). Loop thread. */
void saq__conn_fail_waiting(saq__conn_t *c, int err, const char *msg);
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

/* ---- flowscript.c: the FLOW script's text (flows' bookkeeping) ---- */
extern const char saq__flow_script[];

/* ---- limitscript.c: the rate limits' scripts' text (limit.c, limitinfo.c) ---- */
extern const char saq__limit_script[];
extern const char saq__limit_release_script[];
extern const char saq__limit_info_script[];
/* A running slot whose worker has no liveness entry (yet) counts this long
 * (ms) after it was taken: in LIMIT's enforcement and in LIMIT_INFO. */
#define SAQ__LIMIT_GRACE_MS 5000

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
    SCRIPT_OVERVIEW,
    SCRIPT_DELETE,
    SCRIPT_FLOW,
    SCRIPT_LIMIT,
    SCRIPT_LIMIT_RELEASE,
    SCRIPT_LIMIT_INFO,
    SCRIPT_MARKS,
    SCRIPT_FINISHES,
    SCRIPT_GIVE_BACK,
    SCRIPT_COUNT_
};
extern const char *const saq__script_text[SCRIPT_COUNT_];

/* ---- hello.c: what a connection says first ---- */

/* What a handshake reply is read for: nothing, INFO server (the version),
 * CLIENT ID, ROLE (must be master), CLIENT SETNAME (nothing), or SCRIPT LOAD
 * of script `what - SCRIPT`. */
enum { SAQ__HELLO_PLAIN, SAQ__HELLO_INFO, SAQ__HELLO_CLIENT_ID, SAQ__HELLO_ROLE,
       SAQ__HELLO_NAME, SAQ__HELLO_SCRIPT = 100 };
typedef struct saq__hello_cmd {
    int what; /* SAQ__HELLO_* */
    int argc;
    const char *argv[3]; /* static strings, the url's, or the saq__hello_t's buffers */
} saq__hello_cmd_t;
typedef struct saq__hello {
    saq__hello_cmd_t cmd[8 + SCRIPT_COUNT_];
    int n;
    char db[16], cname[300];
} saq__hello_t;
/* The commands a connection of `role` (ROLE_*) sends before any request, in
 * order: ROLE_DISC: AUTH with the route's credentials, PING; the others: AUTH,
 * SELECT, CLIENT SETNAME libsaq:<role>:<queue>, then INFO and SCRIPT LOAD
 * (ROLE_CMD), CLIENT ID (ROLE_BLOCK), ROLE (when the route checks it). `h`
 * holds the strings they point to. Pure; any thread. */
void saq__hello_build(const saq_queue_t *q, int role, saq__hello_t *h);
/* Read the command connection's INFO server answer: the server's version
 * into q->server_version and q->have_lmove; -1 with a reason in why (n
 * bytes) when the url does not fit the server: a sentinel, or a cluster node
 * reached without redis+cluster:// (every script would fail with CROSSSLOT).
 * Loop thread. */
int saq__hello_info(saq_queue_t *q, const char *info, char *why, size_t n);
/* 1 when the handshake can go on without the reply of a command of kind
 * `what` refused with `msg`: CLIENT SETNAME or INFO refused by an ACL
 * (NOPERM; without INFO, BLMOVE is assumed, as ACLs mean Redis 6 or later);
 * else 0. Loop thread. */
int saq__hello_optional(saq_queue_t *q, int what, const char *msg);

/* ---- health.c: the queue's Redis outages, told to its log ---- */

/* An outage: from the first failure of a connection of the queue (a working one lost, or a
 * connect that failed) to the next connection that is ready again. Its first failure is a
 * warning; while it lasts, a reminder every SAQ__HEALTH_REMIND_MS at most (with the attempts
 * counted), never one line per retry; its end is an info record with its length (outage_ms).
 * Discovery connections (Sentinel, Cluster) are not counted: topo.c tells of a whole round
 * of them that failed through saq__health_down with c NULL. Loop thread. */
#define SAQ__HEALTH_REMIND_MS 30000
typedef struct saq__health {
    uint64_t down_since; /* mono ms of the outage's first failure; 0: no outage */
    uint64_t told_at;    /* mono ms of its last warning */
    unsigned attempts;   /* failures counted in it */
    int ever_up;         /* a connection of the queue was ready once */
} saq__health_t;
/* Connection c of q (NULL: the route found no server) at `addr` (NULL: none known) failed
 * with err and `why` (its message); `lost`: it was working. */
void saq__health_down(saq_queue_t *q, const saq__conn_t *c, const char *addr, int err,
                      const char *why, int lost);
/* Connection c of q at `addr` is ready: the end of an outage, if one is under way. */
void saq__health_up(saq_queue_t *q, const saq__conn_t *c, const char *addr);

/* ---- topo.c: where a queue's connections go (Sentinel, Cluster) ---- */

/* A queue name's hash tag: the bytes between its first '{' and the next
 * '}' (*len of them), or NULL when it has none (or an empty one), as Redis
 * Cluster reads keys. Pure. */
const char *saq__topo_hashtag(const char *name, size_t *len);
/* The Redis Cluster hash slot (0-16383) of a key: CRC16 of its hash tag, or
 * of the whole key without one. Pure. */
int saq__topo_slot(const char *key);
/* Set up q->topo and q->route for a redis+sentinel:// or redis+cluster://
 * url (nothing for one server). SAQ_OK; SAQ_EINVAL with *msg (malloc'd) for
 * a cluster queue whose name has no hash tag; SAQ_ENOMEM (*msg NULL).
 * Creating thread, before the loop starts. */
int saq__topo_init(saq_queue_t *q, char **msg);
/* The teardown: close the discovery connection and the timer. Loop thread. */
void saq__topo_shutdown(saq_queue_t *q);
/* Free q->topo (after the loop ended). No-op without one. */
void saq__topo_free(saq_queue_t *q);

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
/* No server can be found for the pub/sub connection (topo.c: no sentinel or
 * cluster node could name a master, in a whole round): the listeners not
 * confirmed yet fail now with err and msg, as a refused connection fails
 * them on one server (on Sentinel and Cluster a lost connection alone does
 * not: a failover is under way). Loop thread. */
void saq__pubsub_fail_waiting(saq_queue_t *q, int err, const char *msg);

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
    char *k_samples; /* registry samples for saq_queue_overview's rates (list, newest first) */
    char *k_paused;  /* saq_queue_pause's flag (a string: the epoch ms it was paused at) */
    size_t jobprefix_len;
    saq__tls_ctx_t *tls;        /* rediss://: the connections' TLS context (else NULL) */
    const saq__route_t *route;  /* Sentinel/Cluster (topo.c), NULL for one server */
    saq__topo_t *topo;          /* topo.c's state, NULL for one server */
    /* loop thread */
    saq__conn_t cmd, sub;
    saq__list_t conns;          /* every connection that connected once (saq__conn.qlink) */
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
    saq__health_t health;           /* Redis outages (health.c) */
    /* counters of this queue object (saq's Queue.complete/...) */
    atomic_llong n_complete, n_failed, n_retried, n_aborted;
    int64_t created_ms;
    char uuid[37];
    /* under mu */
    saq__hook_t *hooks;  /* the user's before-enqueue hooks, in order */
    size_t nhooks;
    saq__hook_t *ihooks; /* internal ones (saq__queue_add_hook) */
    size_t nihooks;
    /* flows (flow.c) */
    atomic_int flows_seen;  /* the queue had open flows at the last look (or this process made one) */
    uint64_t flow_tick_at;  /* loop thread: mono ms of the last periodic check */
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

/* ---- ops.c: saq's one-shot queue operations ---- */

/* The queue object's counters as saq's stats JSON (malloc'd; NULL on ENOMEM). */
char *saq__stats_json(saq_queue_t *q);
/* saq_queue_schedule with the lock in milliseconds (the worker's form: a
 * little under its period). Returns as saq_queue_schedule. */
int saq__queue_schedule_ms(saq_queue_t *q, long long lock_ms, saq_cq_t *cq, uint64_t tag);

/* ---- rmw.c: saq_queue_abort, _retry, _finish, _update ---- */

/* saq 0.26's abort of j for op: j (the record read as old[0 .. oldlen), of
 * job id) marked aborting with reason as its error, written by the ABORT
 * transition (compare-and-set on old; the marker for ttl s; a job that was
 * not waiting watched for watch_ms); cb gets the script's reply. Failures
 * fail op. Loop thread. */
void saq__abort_send(saq__op_t *op, saq_job_t *j, const char *id, const char *old, size_t oldlen,
                     const char *reason, int ttl, double watch_ms, saq__op_reply_fn cb);

/* ---- listen.c: saq_queue_listen, saq_queue_listen_stop (public only) ---- */

/* ---- apply.c: saq_queue_apply and saq_queue_map (public only) ---- */

/* ---- sweep.c: saq's sweep ---- */

/* saq_queue_sweep with the lock in milliseconds and the worker's
 * swept_error_message (NULL: the queue's). Returns as saq_queue_sweep. */
int saq__queue_sweep_ms(saq_queue_t *q, long long lock_ms, double abort_s, const char *swept_msg,
                        saq_cq_t *cq, uint64_t tag);

/* ---- batch.c: saq_batch_* (public only; a batch records its jobs through an
 * internal before-enqueue hook, saq__queue_add_hook) ---- */

/* ---- overview.c: saq_queue_overview and saq_queue_metrics (queue-wide figures) ---- */

/* Push a registry sample for the per-minute rates (at most one per
 * SAQ__SAMPLE_SPACING_MS, whoever sends it): a libsaq worker's, after its
 * registry write. Fire and forget. Loop thread. */
void saq__overview_sample(saq_queue_t *q);

/* ---- iterjobs.c: saq_queue_iter_jobs (public only) ---- */

/* ---- delete.c: saq_queue_delete (public only) ---- */
/* ---- flow.c: saq_flow_*, saq_queue_enqueue_flow, saq_queue_flow, a worker's notes ---- */

/* A libsaq worker stored the terminal outcome (`status`: "complete", "failed"
 * or "aborted") of job `id`: record it in its flow if it is a member of one.
 * Fire and forget (the periodic check covers a lost note); nothing is sent
 * while the queue object has seen no open flow. Loop thread. */
void saq__flow_note(saq_queue_t *q, const char *id, const char *status);
/* Check the open flows that are due and learn whether the queue has any; at
 * most once a second per queue object (a worker's upkeep calls it more
 * often). Fire and forget. Loop thread. */
void saq__flow_tick(saq_queue_t *q);

/* ---- sync.c: the blocking _sync forms of the queue API (public only) ---- */

#include "transition.h" /* transition.c's section: the typed Redis transitions */

#endif
