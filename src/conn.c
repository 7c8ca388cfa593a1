/* SPDX-License-Identifier: MIT */
/* Redis connections on the queue's loop: requests written as RESP to a byte
 * stream (sock.c: TCP or unix socket, TLS for rediss://), replies parsed by
 * hiredis's redisReader and matched to the requests in order. Connect and
 * command timeouts (libuv timers), reconnect with backoff, a handshake (AUTH,
 * SELECT, CLIENT SETNAME, INFO, SCRIPT LOAD, CLIENT ID) and EVALSHA with an
 * EVAL fallback.
 *
 * Requests are answered exactly once: by their reply, or, when the connection
 * times out, fails or closes, with an error. */
#include "core.h"

#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>

static void conn_timer_cb(uv_timer_t *t);
static void conn_connect(saq__conn_t *c);
static void conn_flush(saq__conn_t *c);
static void conn_arm(saq__conn_t *c);
static void conn_open(saq__conn_t *c, const char *ip);
static void conn_arm_sent(saq__conn_t *c, uint64_t deadline);
static void set_last_error(saq__conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_waiting(saq__conn_t *c, int err, const char *msg, int only_expired);

/* Where the connection goes, for messages: "host:port" or the socket path. */
static const char *where(const saq__conn_t *c, char *buf, size_t n)
{
    const saq__url_t *u = &c->q->set.url;
    if (u->path)
        return u->path;
    snprintf(buf, n, "%s:%d", c->host ? c->host : u->host, c->host ? c->port : u->port);
    return buf;
}

static const char *role_name(int role)
{
    static const char *const names[] = {"command", "pub/sub", "dequeue", "discovery"};
    return names[role];
}

void saq__conn_init(saq__conn_t *c, saq_queue_t *q, int role)
{
    memset(c, 0, sizeof *c);
    c->q = q;
    c->role = role;
    c->state = CONN_DOWN;
    c->client_id = -1;
    saq__list_init(&c->wait);
    saq__list_init(&c->fly);
    saq__list_init(&c->redo);
}

static void ensure_timer(saq__conn_t *c)
{
    if (!c->timer_init) {
        uv_timer_init(&c->q->loop, &c->timer);
        c->timer.data = c;
        c->timer_init = 1;
    }
}

static saq__req_t *req_of(saq__link_t *k) { return saq__container_of(k, saq__req_t, link); }

static void req_free(saq__req_t *r)
{
    if (r->held)
        freeReplyObject(r->held);
    if (r->cmd)
        redisFreeCommand(r->cmd);
    for (int i = 0; i < r->argc; i++)
        free(r->argv[i]);
    free(r->argv);
    free(r->argvlen);
    free(r);
}

/* Answer a request with an error without a reply. */
static void req_answer_err(saq__req_t *r, int err, const char *msg)
{
    if (r->cb)
        r->cb(r, NULL, err, msg);
}

/* Write a request to the stream; it waits for its reply in `fly`. */
static int req_send(saq__conn_t *c, saq__req_t *r)
{
    if (!c->sock || saq__sock_write(c->sock, r->cmd, r->cmdlen))
        return -1;
    if (!r->keep_cmd) {
        redisFreeCommand(r->cmd);
        r->cmd = NULL;
    }
    r->state = 1;
    saq__list_push_back(&c->fly, &r->link);
    c->nfly++;
    return 0;
}

static saq__req_t *req_new(saq__conn_t *c, saq__reply_fn cb, void *data, int timeout_ms)
{
    saq__req_t *r = saq__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->conn = c;
    r->cb = cb;
    r->data = data;
    r->script = -1;
    r->keep_cmd = c->q->route != NULL;
    if (timeout_ms == 0)
        timeout_ms = c->q->set.command_timeout_ms;
    r->deadline = timeout_ms > 0 ? saq__mono_ms() + (uint64_t)timeout_ms : 0;
    return r;
}

/* Queue or send a prepared request. Never answers synchronously: the caller
 * may still be setting up the request after this returns. */
static void req_submit(saq__conn_t *c, saq__req_t *r)
{
    if ((c->state == CONN_READY || (r->handshake && c->state == CONN_HANDSHAKE)) && c->sock &&
        !c->rerouting && saq__list_empty(&c->wait)) {
        if (req_send(c, r) == 0) {
            conn_arm_sent(c, r->deadline);
            return;
        }
    }
    /* not connected: wait for the connection (or fail at the request's deadline) */
    saq__list_push_back(&c->wait, &r->link);
    conn_arm(c); /* a connection, if needed, is started from the loop's timer */
}

saq__req_t *saq__cmd(saq__conn_t *c, saq__reply_fn cb, void *data, int timeout_ms, int argc,
                     const char **argv, const size_t *argvlen)
{
    saq__req_t *r = req_new(c, cb, data, timeout_ms);
    if (!r)
        return NULL;
    if (saq__resp_cmd(r, argc, argv, argvlen)) {
        free(r);
        return NULL;
    }
    req_submit(c, r);
    return r;
}

saq__req_t *saq__cmdf(saq__conn_t *c, saq__reply_fn cb, void *data, const char *fmt, ...)
{
    saq__req_t *r = req_new(c, cb, data, 0);
    if (!r)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = redisvFormatCommand(&r->cmd, fmt, ap);
    va_end(ap);
    if (n < 0) {
        free(r);
        return NULL;
    }
    r->cmdlen = (size_t)n;
    req_submit(c, r);
    return r;
}

saq__req_t *saq__eval(saq__conn_t *c, int script, saq__reply_fn cb, void *data, int nkeys,
                      int nargs, const char **argv, const size_t *argvlen)
{
    saq__req_t *r = req_new(c, cb, data, 0);
    if (!r)
        return NULL;
    r->script = script;
    r->nkeys = nkeys;
    if (c->q->set.min_replicas && c->role == ROLE_CMD)
        r->wait_replicas = script == SCRIPT_ENQUEUE ? 1 : script == SCRIPT_FINISH || script == SCRIPT_FINISHES ? 2 : 0;
    r->argc = nargs;
    r->argv = saq__calloc((size_t)nargs, sizeof *r->argv);
    r->argvlen = saq__calloc((size_t)nargs, sizeof *r->argvlen);
    if (!r->argv || !r->argvlen)
        goto oom;
    for (int i = 0; i < nargs; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        if (!(r->argv[i] = saq__strndup(argv[i], n)))
            goto oom;
        r->argvlen[i] = n;
    }
    /* scripts are loaded during the handshake; until then the sha is empty,
     * so the command is built when it is sent (see conn_flush) */
    if (c->q->sha[script][0] && saq__resp_eval(c->q, r, 0))
        goto oom;
    req_submit(c, r);
    return r;
oom:
    req_free(r);
    return NULL;
}

/* ---- replies ---- */

static void conn_drop(saq__conn_t *c, int err, const char *msg, int quick);
/* conn_drop's message when the route moved: not a trouble to report */
static const char moved_msg[] = "redis moved: reconnecting";

/* A rerouting connection reconnects once its replies are in; what was
 * refused is sent again first (conn_drop puts `redo` back in front). */
static void reroute_if_idle(saq__conn_t *c)
{
    if (!c->rerouting || c->nfly || c->state != CONN_READY)
        return;
    conn_drop(c, SAQ_ECONN, moved_msg, 1);
    /* refused again and again (a slot migration that takes long, a stuck
     * one): wait longer each time, up to a second */
    unsigned n = c->reroutes < 6 ? c->reroutes : 6;
    c->retry_at = saq__mono_ms() + (20u << n);
    conn_arm(c);
}

static int wait_for_replicas(saq__conn_t *c, saq__req_t *r, redisReply *rep);

static void wait_reply(saq__req_t *w, redisReply *rep, int err, const char *msg)
{
    saq__req_t *r = w->data;
    saq_queue_t *q = w->conn->q;
    char m[300];
    if (err == SAQ_EREDIS) { /* e.g. UNBLOCKED: the master was demoted while WAIT waited */
        snprintf(m, sizeof m, "written on the master, but WAIT for min_replicas failed: %s", msg);
        err = SAQ_ECONN, msg = m;
    } else if (!err && rep->type == REDIS_REPLY_INTEGER && rep->integer < q->set.min_replicas &&
               r->wait_replicas == 1) {
        snprintf(m, sizeof m, "written on the master, but only %lld of min_replicas=%d replicas "
                 "acknowledged it within %d ms", rep->integer, q->set.min_replicas,
                 q->set.min_replicas_timeout_ms);
        err = SAQ_ETIMEDOUT, msg = m;
    } else if (!err && rep->type == REDIS_REPLY_INTEGER && rep->integer < q->set.min_replicas &&
               ++r->wait_tries < 30 && wait_for_replicas(w->conn, r, r->held)) {
        /* a finish: the job is done, and a failover must not lose that (a job
         * found active again is recovered as lost): ask again, on this
         * connection, until the replicas have it (or it drops: the finish is
         * then written again, where the master is now) */
        return;
    }
    if (r->cb)
        r->cb(r, err ? NULL : r->held, err, msg);
    req_free(r);
}

/* min_replicas: a write was answered; ask WAIT before its callback runs. 1
 * when `rep` is kept for then (the caller must not free it). WAIT counts the
 * replicas having this stream's writes: it goes on this stream now, even while
 * rerouting (after a reconnect it would count replicas without this write). */
static int wait_for_replicas(saq__conn_t *c, saq__req_t *r, redisReply *rep)
{
    char n[16], ms[16];
    snprintf(n, sizeof n, "%d", c->q->set.min_replicas);
    snprintf(ms, sizeof ms, "%d", c->q->set.min_replicas_timeout_ms);
    const char *av[3] = {"WAIT", n, ms};
    saq__req_t *w = req_new(c, wait_reply, r, c->q->set.min_replicas_timeout_ms +
                                                  c->q->set.command_timeout_ms);
    if (w && (saq__resp_cmd(w, 3, av, NULL) || req_send(c, w)))
        req_free(w), w = NULL;
    if (!w)
        return 0;
    r->held = rep;
    conn_arm_sent(c, w->deadline);
    return 1;
}

/* Answer the oldest request in flight with `rep` (owned by the caller
 * unless this returns 1: then a request keeps it). */
static int answer(saq__conn_t *c, redisReply *rep)
{
    if (saq__list_empty(&c->fly)) {
        /* replies are matched to requests by order alone: one too many means
         * the stream is out of step (a proxy, a broken server), and every
         * later reply would answer the wrong request; start again */
        conn_drop(c, SAQ_ECONN, "redis sent a reply no request was waiting for", 0);
        return 0;
    }
    saq__req_t *r = saq__list_first_entry(&c->fly, saq__req_t, link);
    saq__list_remove(&r->link);
    c->nfly--;
    if (rep->type == REDIS_REPLY_ERROR) {
        if (r->script >= 0 && rep->str && !strncmp(rep->str, "NOSCRIPT", 8) && c->sock &&
            saq__resp_eval(c->q, r, 1) == 0 && req_send(c, r) == 0) {
            conn_arm(c);
            return 0; /* re-sent as EVAL; answered later */
        }
        if (c->q->route && c->role != ROLE_DISC && !r->handshake && r->cb != wait_reply &&
            saq__resp_error_kind(rep->str) & SAQ__RESP_ROUTING) { /* (a WAIT stays: see wait_for_replicas) */
            set_last_error(c, "redis answered %.200s (a failover or a slot migration under way)",
                           rep->str);
            saq__list_push_back(&c->redo, &r->link); /* sent again, in order */
            c->rerouting = 1;
            c->reroutes++;
            c->q->route->trouble(c, rep->str);
            reroute_if_idle(c);
            return 0;
        }
        req_answer_err(r, saq__resp_error_kind(rep->str) & SAQ__RESP_TRANSIENT ? SAQ_ECONN : SAQ_EREDIS,
                       rep->str ? rep->str : "redis error");
    } else if (r->wait_replicas && wait_for_replicas(c, r, rep)) {
        reroute_if_idle(c);
        return 1; /* answered with the WAIT */
    } else if (r->wait_replicas) { /* written, but its replicas cannot be counted */
        req_answer_err(r, SAQ_ECONN, "written on the master, but WAIT for min_replicas could not "
                                     "be sent on its connection");
    } else if (r->cb) {
        r->cb(r, rep, SAQ_OK, NULL);
    }
    if (rep->type != REDIS_REPLY_ERROR && !r->handshake)
        c->reroutes = 0;
    req_free(r);
    /* an answered request can only make the deadline timer later: when ready,
     * leave it (an early fire re-arms, see conn_timer_cb) instead of walking
     * every request in flight for each reply */
    if (c->state != CONN_READY)
        conn_arm(c);
    reroute_if_idle(c);
    return 0;
}

/* Plaintext from the stream: parse it and answer the requests in order. A
 * callback may close the connection (or the whole queue's connections):
 * dispatching stops when the stream it came from is gone. */
static void conn_on_data(void *ud, const char *p, size_t n)
{
    saq__conn_t *c = ud;
    saq__sock_t *s = c->sock;
    if (!s || !c->reader)
        return;
    if (c->reader->len == 0 && c->state == CONN_HANDSHAKE && saq__tls_record_like(p, n)) {
        char w[300];
        set_last_error(c, "redis at %s answered in TLS: use a rediss:// url for this port",
                       where(c, w, sizeof w));
        char *m = saq__strdup(c->last_error);
        conn_drop(c, SAQ_ETLS, m ? m : "TLS port", 0);
        fail_waiting(c, SAQ_ETLS, m ? m : "TLS port", 0);
        free(m);
        return;
    }
    if (redisReaderFeed(c->reader, p, n) != REDIS_OK) {
        conn_drop(c, SAQ_ENOMEM, "out of memory", 0);
        return;
    }
    c->dispatching++;
    while (c->sock == s) {
        void *rep = NULL;
        if (redisReaderGetReply(c->reader, &rep) != REDIS_OK) {
            char m[320];
            snprintf(m, sizeof m, "redis sent something that is not RESP (or an array of more "
                                  "than %d elements): %s", SAQ__MAX_REPLY_ELEMENTS, c->reader->errstr);
            conn_drop(c, SAQ_ECONN, m, 0);
            break;
        }
        if (!rep)
            break;
        if ((c->on_push && c->on_push(c, rep)) || !answer(c, rep))
            freeReplyObject(rep);
    }
    if (--c->dispatching == 0 && c->sock != s && c->reader) {
        redisReaderFree(c->reader); /* its connection ended meanwhile */
        c->reader = NULL;
    }
}

/* ---- timers: connect deadline, request deadlines, reconnect ---- */

/* A request with `deadline` (0 = none) was sent: the timer only has to move
 * when it would fire after that deadline. Firing early is harmless
 * (conn_timer_cb checks every deadline and re-arms), so most sends skip
 * conn_arm's walk over every request in flight. */
static void conn_arm_sent(saq__conn_t *c, uint64_t deadline)
{
    if (c->closing || !deadline)
        return;
    if (c->timer_init && uv_is_active((uv_handle_t *)&c->timer) &&
        saq__mono_ms() + uv_timer_get_due_in(&c->timer) <= deadline)
        return;
    conn_arm(c);
}

static void conn_arm(saq__conn_t *c)
{
    if (c->closing)
        return;
    ensure_timer(c);
    uint64_t now = saq__mono_ms(), next = 0;
#define CONSIDER(t)                                                                                \
    if ((t) && (!next || (t) < next))                                                              \
    next = (t)
    saq__link_t *k;
    saq__list_each(k, &c->fly)
        CONSIDER(req_of(k)->deadline);
    saq__list_each(k, &c->wait)
        CONSIDER(req_of(k)->deadline);
    if (c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE)
        CONSIDER(c->connect_deadline);
    if (c->state == CONN_DOWN && (!saq__list_empty(&c->wait) || c->persistent))
        CONSIDER(c->retry_at ? c->retry_at : now);
    if (c->rerouting && c->state == CONN_READY)
        CONSIDER(c->reroute_by);
#undef CONSIDER
    if (!next) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, conn_timer_cb, next > now ? next - now : 0, 0);
}

static void fail_waiting(saq__conn_t *c, int err, const char *msg, int only_expired)
{
    uint64_t now = saq__mono_ms();
    saq__link_t *k, *n;
    saq__list_each_safe(k, n, &c->wait) {
        saq__req_t *r = req_of(k);
        if (!only_expired || (r->deadline && r->deadline <= now)) {
            saq__list_remove(&r->link);
            req_answer_err(r, err, msg);
            req_free(r);
        }
    }
}

static void conn_timer_cb(uv_timer_t *t)
{
    saq__conn_t *c = t->data;
    uint64_t now = saq__mono_ms();
    if (c->rerouting && c->state == CONN_READY && c->reroute_by && c->reroute_by <= now) {
        /* the old server keeps its replies (frozen, cut off): go without them */
        conn_drop(c, SAQ_ECONN, "the old redis master did not answer after the route changed", 1);
        return;
    }
    if ((c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE) && c->connect_deadline &&
        c->connect_deadline <= now) {
        char w[300];
        if (c->q->tls && c->sock && saq__sock_connected(c->sock)) { /* TCP is up, TLS is not */
            set_last_error(c, "redis at %s accepted the connection but did not answer the TLS "
                              "handshake within %d ms: is this a plaintext port? (use redis:// "
                              "for it)", where(c, w, sizeof w), c->q->set.connect_timeout_ms);
            char *m = saq__strdup(c->last_error);
            saq__conn_close(c, SAQ_ETLS, m ? m : "TLS handshake timed out");
            fail_waiting(c, SAQ_ETLS, m ? m : "TLS handshake timed out", 0);
            free(m);
            return;
        }
        char *m = saq__sprintf("cannot connect to redis at %s (%s connection): no answer within %d ms",
                               where(c, w, sizeof w), role_name(c->role),
                               c->q->set.connect_timeout_ms);
        saq__conn_close(c, SAQ_ECONN, m ? m : "connect timeout");
        free(m);
        return;
    }
    saq__link_t *k;
    saq__list_each(k, &c->fly) {
        saq__req_t *r = req_of(k);
        if (r->deadline && r->deadline <= now) {
            char *m = saq__sprintf("redis did not answer within %d ms; the %s connection was reset",
                                   c->q->set.command_timeout_ms, role_name(c->role));
            saq__conn_close(c, SAQ_ETIMEDOUT, m ? m : "redis command timed out");
            free(m);
            return;
        }
    }
    if (!saq__list_empty(&c->wait)) {
        char w[300];
        char *m = c->last_error ? NULL
                                : saq__sprintf("no connection to redis at %s within %d ms",
                                               where(c, w, sizeof w), c->q->set.command_timeout_ms);
        fail_waiting(c, c->last_error ? SAQ_ECONN : SAQ_ETIMEDOUT,
                     c->last_error ? c->last_error : m ? m : "redis is not reachable", 1);
        free(m);
    }
    if (c->state == CONN_DOWN && (!saq__list_empty(&c->wait) || c->persistent) &&
        c->retry_at <= now)
        conn_connect(c);
    conn_arm(c);
}

/* ---- connect and handshake ---- */

static void set_last_error(saq__conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    saq__set_vfmt(&c->last_error, fmt, ap);
    va_end(ap);
}

static void schedule_retry(saq__conn_t *c)
{
    uint64_t d = saq__backoff_ms(c->failures, 50, (uint64_t)c->q->set.reconnect_max_ms,
                                 saq__random01());
    if (c->failures < 30)
        c->failures++;
    c->retry_at = saq__mono_ms() + d;
}

static void handshake_reply(saq__req_t *r, redisReply *rep, int err, const char *msg)
{
    saq__conn_t *c = r->conn;
    int what = (int)r->idata;
    if (c->state != CONN_HANDSHAKE || c->handshake_failed)
        return; /* closing this connection answers the other handshake requests: ignore them */
    if (err && saq__hello_optional(c->q, what, msg)) {
        rep = NULL; /* a user not allowed CLIENT SETNAME or INFO (an ACL): not needed */
    } else if (err) {
        c->handshake_failed = 1;
        saq__debug("%s conn: handshake failed: %s", role_name(c->role), msg ? msg : "");
        set_last_error(c, "redis handshake failed (%s): %s", r->aux ? (const char *)r->aux : "?",
                       msg ? msg : saq_strerror(err));
        char *m = saq__strdup(c->last_error);
        if (err == SAQ_ECONN) { /* not ready yet (e.g. LOADING): try again later */
            saq__conn_close(c, SAQ_ECONN, m ? m : "redis handshake failed");
            free(m);
            return;
        }
        /* fail everything waiting: retrying a wrong password would not help */
        saq__conn_close(c, err, m ? m : "redis handshake failed");
        fail_waiting(c, err, m ? m : "redis handshake failed", 0);
        free(m);
        return;
    }
    if (!rep) {
    } else if (what == SAQ__HELLO_INFO && rep->type == REDIS_REPLY_STRING) {
        char why[200], w[300];
        if (saq__hello_info(c->q, rep->str, why, sizeof why)) { /* the wrong kind of url */
            c->handshake_failed = 1;
            set_last_error(c, "redis at %s %s", where(c, w, sizeof w), why);
            char *m = saq__strdup(c->last_error);
            saq__conn_close(c, SAQ_EURL, m ? m : why);
            fail_waiting(c, SAQ_EURL, m ? m : why, 0);
            free(m);
            return;
        }
    } else if (what >= SAQ__HELLO_SCRIPT && rep->type == REDIS_REPLY_STRING && rep->len == 40) {
        memcpy(c->q->sha[what - SAQ__HELLO_SCRIPT], rep->str, 40);
        c->q->sha[what - SAQ__HELLO_SCRIPT][40] = 0;
    } else if (what == SAQ__HELLO_CLIENT_ID && rep->type == REDIS_REPLY_INTEGER) {
        c->client_id = rep->integer;
    } else if (what == SAQ__HELLO_ROLE && !(rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                              rep->element[0]->type == REDIS_REPLY_STRING &&
                              !strcmp(rep->element[0]->str, "master"))) {
        char w[300];
        c->handshake_failed = 1;
        set_last_error(c, "redis at %s is not a master (any more): asking the sentinels again",
                       where(c, w, sizeof w));
        char *m = saq__strdup(c->last_error);
        c->q->route->trouble(c, "READONLY");
        saq__conn_close(c, SAQ_ECONN, m ? m : "not a master");
        free(m);
        return;
    }
    if (--c->handshake_left > 0)
        return;
    c->state = CONN_READY;
    saq__debug("%s conn: ready (%zu waiting)", role_name(c->role),
               (size_t)!saq__list_empty(&c->wait));
    char w[300];
    saq__health_up(c->q, c, where(c, w, sizeof w));
    c->failures = 0;
    c->retry_at = 0;
    free(c->last_error);
    c->last_error = NULL;
    conn_flush(c);
    if (c->on_ready)
        c->on_ready(c);
    conn_arm(c);
}

static void handshake_cmd(saq__conn_t *c, int what, int argc, const char **argv)
{
    saq__req_t *r = req_new(c, handshake_reply, NULL, c->q->set.connect_timeout_ms);
    if (!r || saq__resp_cmd(r, argc, argv, NULL)) {
        free(r);
        return;
    }
    r->idata = what;
    r->aux = (void *)argv[0]; /* static command name, for error messages */
    r->handshake = 1;
    c->handshake_left++;
    if (req_send(c, r)) {
        c->handshake_left--;
        req_free(r);
    }
}

/* The connect attempt failed (refused, unresolvable name, TLS handshake, no
 * memory). Runs on the loop, never inside a submit. */
static void connect_failed(saq__conn_t *c, int err)
{
    char w[300];
    saq__health_down(c->q, c, where(c, w, sizeof w), err, c->last_error, 0);
    c->state = CONN_DOWN;
    schedule_retry(c);
    if (c->q->route && c->role != ROLE_DISC)
        c->q->route->trouble(c, NULL); /* the requests wait for the route's next server */
    else
        fail_waiting(c, err, c->last_error, 0);
    if (c->on_down)
        c->on_down(c, err, c->last_error);
    conn_arm(c);
}

/* The stream is up (TLS included): the Redis handshake. */
static void conn_sock_open(void *ud)
{
    saq__conn_t *c = ud;
    saq__debug("%s conn: connected", role_name(c->role));
    c->state = CONN_HANDSHAKE;
    c->handshake_left = 0;
    c->handshake_failed = 0;
    saq__hello_t h;
    saq__hello_build(c->q, c->role, &h);
    for (int i = 0; i < h.n; i++)
        handshake_cmd(c, h.cmd[i].what, h.cmd[i].argc, h.cmd[i].argv);
    if (!c->handshake_left) { /* nothing to negotiate: ping to make sure it answers */
        const char *av[1] = {"PING"};
        handshake_cmd(c, 0, 1, av);
    }
    conn_arm(c);
}

/* The stream failed (it is closed already). */
static void conn_sock_error(void *ud, int err, const char *msg)
{
    saq__conn_t *c = ud;
    char w[300];
    saq__debug("%s conn: stream failed: %s", role_name(c->role), msg);
    c->sock = NULL;
    if (c->state == CONN_CONNECTING) {
        if (err == SAQ_ECONN && c->next_addr < c->addrs.n && !c->q->set.url.path) {
            /* this address refused: try the host name's next one */
            c->state = CONN_DOWN;
            conn_open(c, c->addrs.a[c->next_addr++]);
            return;
        }
        if (err == SAQ_ETLS)
            set_last_error(c, "TLS handshake with redis at %s failed: %s", where(c, w, sizeof w), msg);
        else
            set_last_error(c, "cannot connect to redis at %s: %s", where(c, w, sizeof w), msg);
        connect_failed(c, err);
        return;
    }
    int was_ready = c->state == CONN_READY;
    if (err == SAQ_ETLS)
        set_last_error(c, "TLS with redis at %s failed: %s", where(c, w, sizeof w), msg);
    else if (!was_ready)
        set_last_error(c, "redis at %s closed the connection during the handshake (%s)%s",
                       where(c, w, sizeof w), msg,
                       c->q->tls ? "" : "; if this port expects TLS, use a rediss:// url");
    else
        set_last_error(c, "redis connection lost: %s", msg);
    char *m = saq__strdup(c->last_error);
    conn_drop(c, err, m ? m : msg, was_ready && err != SAQ_ETLS);
    /* TLS refused, or closed before the handshake was answered (e.g. a
     * plaintext client on a TLS port): as for a refused connect, what waits
     * fails now instead of at its deadline */
    if ((err == SAQ_ETLS || !was_ready) && !(c->q->route && err != SAQ_ETLS))
        fail_waiting(c, err, m ? m : msg, 0);
    free(m);
}

static const saq__sock_cb_t conn_sock_cb = {conn_sock_open, conn_on_data, conn_sock_error};

/* Open the stream to a numeric address (or the unix socket). */
static void conn_open(saq__conn_t *c, const char *ip)
{
    const saq__url_t *u = &c->q->set.url;
    char w[300];
    if (c->reader && !c->dispatching)
        redisReaderFree(c->reader);
    c->reader = NULL;
    if (!(c->reader = saq__reader_new())) {
        set_last_error(c, "cannot connect to redis: out of memory");
        connect_failed(c, SAQ_ENOMEM);
        return;
    }
    int err;
    char *m = NULL;
    saq__sock_t *s = saq__sock_open(&c->q->loop, u->path ? u->path : ip, u->path ? 0 : c->port,
                                    c->q->tls, c->host, &conn_sock_cb, c, &err, &m);
    if (!s && err == SAQ_ECONN && !u->path && c->next_addr < c->addrs.n) {
        free(m);
        conn_open(c, c->addrs.a[c->next_addr++]);
        return;
    }
    if (!s) {
        set_last_error(c, "cannot connect to redis at %s: %s", where(c, w, sizeof w),
                       m ? m : "out of memory");
        free(m);
        connect_failed(c, err);
        return;
    }
    c->sock = s;
    c->state = CONN_CONNECTING;
    conn_arm(c);
}

static void on_resolved(void *data, int status, const saq__addrs_t *a)
{
    saq__conn_t *c = data;
    c->resolving = NULL;
    if (c->closing || c->state != CONN_CONNECTING || c->sock)
        return;
    c->addrs = *a;
    c->next_addr = 0;
    if (!c->addrs.n) {
        set_last_error(c, "cannot connect to redis at %s:%d: cannot resolve the host name (%s)",
                       c->host, c->port, status ? uv_strerror(status) : "no address");
        connect_failed(c, SAQ_ECONN);
        return;
    }
    c->state = CONN_DOWN;
    conn_open(c, c->addrs.a[c->next_addr++]);
}

/* Start a connect attempt. Host names are resolved with uv_getaddrinfo (off
 * the loop thread): hiredis 0.14 would call a blocking getaddrinfo here. */
static void conn_connect(saq__conn_t *c)
{
    if (c->state != CONN_DOWN || c->closing)
        return;
    const saq__url_t *u = &c->q->set.url;
    const char *host = u->host, *why = NULL;
    int port = u->port;
    if (!saq__link_linked(&c->qlink))
        saq__list_push_back(&c->q->conns, &c->qlink);
    if (c->q->route && !c->q->route->target(c, &host, &port, &why)) {
        /* not known yet: the route retargets this connection once it is */
        set_last_error(c, "%s", why ? why : "no redis server known yet");
        c->retry_at = saq__mono_ms() + 1000;
        return;
    }
    if (host && (!c->host || strcmp(c->host, host)) && saq__set_str(&c->host, host)) {
        set_last_error(c, "cannot connect to redis: out of memory");
        connect_failed(c, SAQ_ENOMEM);
        return;
    }
    c->port = port;
    c->connect_deadline = saq__mono_ms() + (uint64_t)c->q->set.connect_timeout_ms;
    unsigned char buf[sizeof(struct in6_addr)];
    if (u->path || inet_pton(AF_INET, c->host, buf) == 1 || inet_pton(AF_INET6, c->host, buf) == 1) {
        c->addrs.n = c->next_addr = 0;
        conn_open(c, u->path ? u->path : c->host);
        return;
    }
    int e;
    c->state = CONN_CONNECTING; /* no stream yet: the deadline covers the lookup */
    if (!(c->resolving = saq__lookup_start(&c->q->loop, c->host, c->port, on_resolved, c, &e))) {
        set_last_error(c, "cannot connect to redis at %s:%d: cannot resolve the host name (%s)",
                       c->host, c->port, uv_strerror(e));
        connect_failed(c, e == UV_ENOMEM ? SAQ_ENOMEM : SAQ_ECONN);
        return;
    }
    conn_arm(c);
}

/* Ask for a connection: it is started from the loop's timer, never inside
 * the caller's submit, so a connect that fails at once (no such socket, no
 * such host) answers waiting requests asynchronously, like any other. */
void saq__conn_kick(saq__conn_t *c) { conn_arm(c); }

/* Send what waited for the connection, in order. A request that cannot be
 * written stays queued for the next connection. */
static void conn_flush(saq__conn_t *c)
{
    while (!saq__list_empty(&c->wait) && c->state == CONN_READY && c->sock && !c->rerouting) {
        saq__req_t *r = saq__list_first_entry(&c->wait, saq__req_t, link);
        saq__list_remove(&r->link);
        if (r->script >= 0 && !r->cmd && saq__resp_eval(c->q, r, 0)) {
            req_answer_err(r, SAQ_ENOMEM, "out of memory");
            req_free(r);
            continue;
        }
        if (req_send(c, r)) { /* back to the front: order is kept */
            saq__list_push_front(&c->wait, &r->link);
            break;
        }
    }
}

/* Drop the connection: close the stream, answer every request in flight
 * with err (ETIMEDOUT only for the ones past their deadline, ECONN for the
 * others), and reconnect after the backoff (`quick`: in 20 ms, for a
 * connection that was working). Requests submitted meanwhile (by the
 * answered callbacks too) wait for the next connection. */
static void conn_drop(saq__conn_t *c, int err, const char *msg, int quick)
{
    saq__debug("%s conn: close (%s): %s", role_name(c->role), saq_err_name(err), msg ? msg : "");
    if (!msg)
        msg = saq_strerror(err);
    if (!c->last_error || (strcmp(c->last_error, msg) && msg != moved_msg))
        set_last_error(c, "%s", msg);
    char *m = saq__strdup(c->last_error);
    const char *text = m ? m : saq_strerror(err);
    int was = c->state;
    saq__sock_close(c->sock);
    c->sock = NULL;
    saq__lookup_cancel(c->resolving); /* a lookup still in flight is dropped */
    c->resolving = NULL;
    c->state = CONN_DOWN;
    if (c->reader && !c->dispatching) {
        redisReaderFree(c->reader);
        c->reader = NULL;
    }
    uint64_t now = saq__mono_ms();
    while (!saq__list_empty(&c->fly)) { /* no stream: nothing joins it meanwhile */
        saq__req_t *r = saq__list_first_entry(&c->fly, saq__req_t, link);
        saq__list_remove(&r->link);
        c->nfly--;
        req_answer_err(r, err == SAQ_ETIMEDOUT && r->deadline && r->deadline <= now
                              ? SAQ_ETIMEDOUT
                              : (err == SAQ_ETIMEDOUT ? SAQ_ECONN : err),
                       text);
        req_free(r);
    }
    while (!saq__list_empty(&c->redo)) { /* refused by a routing error: first on the next one */
        saq__link_t *k = c->redo.prev;
        saq__list_remove(k);
        saq__list_push_front(&c->wait, k);
    }
    c->rerouting = 0;
    c->reroute_by = 0;
    if (was != CONN_DOWN && c->q->route && c->role != ROLE_DISC && err != SAQ_ECLOSED &&
        msg != moved_msg)
        c->q->route->trouble(c, NULL);
    char w[300];
    if (was != CONN_DOWN && err != SAQ_ECLOSED && msg != moved_msg)
        saq__health_down(c->q, c, where(c, w, sizeof w), err, text, was == CONN_READY);
    if (was != CONN_DOWN) {
        if (quick)
            c->retry_at = saq__mono_ms() + 20;
        else
            schedule_retry(c);
        if (c->on_down)
            c->on_down(c, err, text);
    }
    free(m);
    conn_arm(c);
}

void saq__conn_close(saq__conn_t *c, int err, const char *msg) { conn_drop(c, err, msg, 0); }

int saq__conn_lost(int err) { return err == SAQ_ECONN || err == SAQ_ETIMEDOUT || err == SAQ_ETLS; }

static void timer_closed(uv_handle_t *h) { (void)h; }

int saq__conn_shutdown(saq__conn_t *c, uv_close_cb on_closed)
{
    int closing = 0;
    saq__conn_close(c, SAQ_ECLOSED, "queue closed");
    fail_waiting(c, SAQ_ECLOSED, "queue closed", 0);
    c->closing = 1;
    if (c->timer_init) {
        uv_timer_stop(&c->timer);
        uv_close((uv_handle_t *)&c->timer, on_closed ? on_closed : timer_closed);
        c->timer_init = 0;
        closing = 1;
    }
    free(c->last_error);
    c->last_error = NULL;
    free(c->host);
    c->host = NULL;
    if (saq__link_linked(&c->qlink))
        saq__list_remove(&c->qlink);
    return closing;
}

void saq__conn_fail_waiting(saq__conn_t *c, int err, const char *msg)
{
    fail_waiting(c, err, msg, 0);
}

void saq__conn_retarget(saq__conn_t *c)
{
    const char *host = NULL, *why = NULL;
    int port = 0;
    if (c->closing || !c->q->route)
        return;
    if (c->state == CONN_DOWN) {
        c->retry_at = 0;
        c->failures = 0;
        conn_arm(c);
        return;
    }
    if (!c->q->route->target(c, &host, &port, &why) ||
        (c->host && !strcmp(c->host, host) && c->port == port))
        return; /* still right (or nowhere better known) */
    /* a blocked dequeue would wait on the old server for its whole timeout
     * (a demoted master keeps it blocked): it goes at once; a move it made
     * unseen is recovered as any lost move (recovery.c) */
    if (c->state != CONN_READY || c->nfly == 0 || c->role == ROLE_BLOCK) {
        conn_drop(c, SAQ_ECONN, moved_msg, 1);
        c->failures = 0;
        c->retry_at = 0;
        conn_arm(c);
    } else { /* reconnects once the replies are in (reroute_if_idle), or soon without */
        c->rerouting = 1;
        c->reroute_by = saq__mono_ms() + (uint64_t)c->q->set.command_timeout_ms / 4;
        conn_arm(c);
    }
}
