/* SPDX-License-Identifier: MIT */
/* Where a queue's connections go on Redis Sentinel and Redis Cluster.
 *
 * A queue talks to one master: the one the sentinels name (Sentinel), or the
 * one that owns the hash slot of the queue's hash tag (Cluster: every key of
 * a queue shares that slot, so the queue never needs another node). One
 * discovery connection asks: SENTINEL get-master-addr-by-name, then a
 * subscription to +switch-master on the same sentinel; or CLUSTER SLOTS on a
 * cluster node. It goes round the sentinels / nodes when one fails.
 *
 * The queue's connections ask the route where to connect (route.target) and
 * report trouble (route.trouble): a lost or refused connection, READONLY,
 * UNBLOCKED, CLUSTERDOWN... start a new question (at most one at a time, at
 * most one every 200 ms); MOVED names the new owner at once. When the master
 * changes, every connection of the queue is retargeted (saq__conn_retarget):
 * it reconnects there, re-blocks and re-subscribes as after any reconnect. */
#include "core.h"

#include <stdio.h>
#include <string.h>

#define MAX_NODES 64
#define QUERY_GAP_MS 200

struct saq__topo {
    saq_queue_t *q;
    int mode;                  /* SAQ__TOPO_SENTINEL or SAQ__TOPO_CLUSTER */
    saq__route_t route;
    char *host;                /* the master now, or NULL while not known */
    int port;
    char *error;               /* why no master is known (the last answer's trouble) */
    saq__conn_t disc;          /* the discovery connection (ROLE_DISC) */
    saq__hostport_t nodes[MAX_NODES]; /* the url's hosts, then the cluster nodes learned */
    int nnodes, node;          /* disc goes to nodes[node] */
    int slot;                  /* Cluster: the queue's hash slot */
    int asking;                /* a question is in flight */
    int again;                 /* ask once more when it is answered */
    int failed;                /* nodes in a row that could not answer */
    int subscribed;            /* Sentinel: disc is subscribed to +switch-master */
    int closing_counted;       /* disc is being closed by topo itself: disc_down counts nothing */
    uint64_t asked_at;         /* mono ms of the last question */
    uint64_t lost_at;          /* mono ms a connection last lost or missed the master */
    uv_timer_t timer;          /* a question that waits for QUERY_GAP_MS */
    int timer_init;
};

/* ---- hash slots ---- */

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), Redis Cluster's key hash. */
static unsigned crc16(const char *p, size_t n)
{
    unsigned crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned)(unsigned char)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
        crc &= 0xffff;
    }
    return crc;
}

const char *saq__topo_hashtag(const char *name, size_t *len)
{
    const char *open = strchr(name, '{');
    const char *close = open ? strchr(open + 1, '}') : NULL;
    if (!close || close == open + 1)
        return NULL;
    *len = (size_t)(close - open - 1);
    return open + 1;
}

int saq__topo_slot(const char *key)
{
    size_t n;
    const char *tag = saq__topo_hashtag(key, &n);
    if (!tag)
        n = strlen(tag = key);
    return (int)(crc16(tag, n) % 16384);
}

/* ---- the master ---- */

/* An address a server named: a host of 1-255 bytes and a port in 1-65535
 * (a hostile or broken answer must not send the queue elsewhere: a port of
 * 93571 would wrap to 28035 at connect time). */
static int good_addr(const char *host, long port)
{
    size_t n = host ? strlen(host) : 0;
    return n > 0 && n <= 255 && port > 0 && port <= 65535;
}

static void ask_later(saq__topo_t *t, uint64_t ms);

/* Every connection of the queue but the discovery one goes to host:port. */
static void set_master(saq__topo_t *t, const char *host, int port)
{
    free(t->error);
    t->error = NULL;
    t->failed = 0;
    if (t->host && !strcmp(t->host, host) && t->port == port) {
        /* the same master, while connections cannot reach it (a failover
         * under way): ask again soon, not only when a reconnect (backing
         * off up to reconnect_max_ms) fails next */
        if (t->lost_at &&
            saq__mono_ms() < t->lost_at + 2 * (uint64_t)t->q->set.reconnect_max_ms + 1000) {
            /* and ask another node: this one may be a step behind (a node
             * cut off from the failover, a sentinel out of the quorum) */
            if (t->nnodes > 1) {
                t->closing_counted = t->disc.state != CONN_DOWN;
                saq__conn_close(&t->disc, SAQ_ECONN, "asking another node");
            }
            ask_later(t, QUERY_GAP_MS);
        }
        return;
    }
    char was[300], now[300];
    snprintf(was, sizeof was, "%s:%d", t->host ? t->host : "", t->port);
    snprintf(now, sizeof now, "%s:%d", host, port);
    int moved = t->host != NULL;
    if (saq__set_str(&t->host, host))
        return; /* out of memory: keep the old one; the next trouble asks again */
    t->port = port;
    saq__debug("topo: the master of queue %s is %s:%d", t->q->set.name, host, port);
    saq__log(t->q, moved ? SAQ_LOG_INFO : SAQ_LOG_DEBUG, 0,
             SAQ__LF(SAQ__LS("master", now), SAQ__LS("previous", moved ? was : NULL)),
             moved ? "the queue's redis master moved from %s to %s (a failover, a resharding): "
                     "following it" : "%s%s is the queue's redis master",
             moved ? was : "", now);
    size_t n = 0, i = 0;
    saq__link_t *k;
    saq__list_each(k, &t->q->conns)
        n++;
    saq__conn_t **all = saq__calloc(n ? n : 1, sizeof *all);
    if (!all)
        return;
    /* a snapshot: retargeting may close connections, and so change the list */
    saq__list_each(k, &t->q->conns)
        all[i++] = saq__container_of(k, saq__conn_t, qlink);
    for (i = 0; i < n; i++)
        if (all[i]->role != ROLE_DISC)
            saq__conn_retarget(all[i]);
    free(all);
}

/* A node could not answer: go to the next; after a whole round, the
 * requests that wait for a master fail with `why` (instead of at their
 * deadline). */
static void node_failed(saq__topo_t *t, const char *why)
{
    saq__set_str(&t->error, why);
    if (++t->failed < t->nnodes || t->host)
        return;
    t->failed = 0;
    char m[500];
    snprintf(m, sizeof m, "no %s could name the queue's redis master (%d asked); the last said: %s",
             t->mode == SAQ__TOPO_SENTINEL ? "sentinel" : "cluster node", t->nnodes, why);
    saq__health_down(t->q, NULL, NULL, SAQ_ECONN, m, 0);
    saq__link_t *k;
    saq__list_each(k, &t->q->conns) {
        saq__conn_t *c = saq__container_of(k, saq__conn_t, qlink);
        if (c->role != ROLE_DISC && c->state == CONN_DOWN)
            saq__conn_fail_waiting(c, SAQ_ECONN, why);
    }
    saq__pubsub_fail_waiting(t->q, SAQ_ECONN, why); /* apply, listen: the same reason */
}

/* ---- questions ---- */

static void ask(saq__topo_t *t);

static void timer_cb(uv_timer_t *h) { ask(h->data); }

/* Ask again in `ms` (or sooner, when already due). */
static void ask_later(saq__topo_t *t, uint64_t ms)
{
    if (t->disc.closing)
        return;
    if (!t->timer_init) {
        uv_timer_init(&t->q->loop, &t->timer);
        t->timer.data = t;
        t->timer_init = 1;
    }
    if (!uv_is_active((uv_handle_t *)&t->timer) || uv_timer_get_due_in(&t->timer) > ms)
        uv_timer_start(&t->timer, timer_cb, ms, 0);
}

static void sentinel_reply(saq__req_t *r, redisReply *rep, int err, const char *msg)
{
    saq__topo_t *t = r->data;
    char why[400];
    t->asking = 0;
    if (err == SAQ_ECLOSED)
        return;
    if (!err && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_STRING &&
        good_addr(rep->element[0]->str, strtol(rep->element[1]->str, NULL, 10))) {
        set_master(t, rep->element[0]->str, atoi(rep->element[1]->str));
    } else {
        const char *name = t->q->set.url.master_name;
        if (err == SAQ_EREDIS && msg && strstr(msg, "unknown command"))
            snprintf(why, sizeof why, "redis at %s:%d is not a sentinel (for one server use a "
                     "redis:// url, for a cluster redis+cluster://): %s", t->nodes[t->node].host,
                     t->nodes[t->node].port, msg);
        else if (err)
            snprintf(why, sizeof why, "sentinel at %s:%d: %s", t->nodes[t->node].host,
                     t->nodes[t->node].port, msg ? msg : saq_strerror(err));
        else if (rep && rep->type == REDIS_REPLY_ARRAY)
            snprintf(why, sizeof why, "sentinel at %s:%d named no usable address for master '%s'",
                     t->nodes[t->node].host, t->nodes[t->node].port, name);
        else
            snprintf(why, sizeof why, "sentinel at %s:%d does not know a master named '%s'%s",
                     t->nodes[t->node].host, t->nodes[t->node].port, name,
                     strspn(name, "0123456789") == strlen(name)
                         ? " (the master's name comes first, then the db: "
                           "redis+sentinel://host:26379/mymaster/0)"
                         : "");
        node_failed(t, why);
        t->closing_counted = t->disc.state != CONN_DOWN;
        saq__conn_close(&t->disc, SAQ_ECONN, why); /* the next sentinel (disc_down) */
        return;
    }
    if (t->again) {
        t->again = 0;
        ask_later(t, QUERY_GAP_MS);
    }
}

/* One element of a CLUSTER SLOTS node entry: [host, port, id, ...]. */
static int node_of(const redisReply *n, const char **host, int *port)
{
    if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 || n->element[0]->type != REDIS_REPLY_STRING ||
        n->element[1]->type != REDIS_REPLY_INTEGER)
        return 0;
    *host = n->element[0]->str;
    *port = (int)n->element[1]->integer;
    return good_addr(*host, n->element[1]->integer) || (!**host && *port > 0 && *port < 65536);
}

static void learn_node(saq__topo_t *t, const char *host, int port)
{
    for (int i = 0; i < t->nnodes; i++)
        if (t->nodes[i].port == port && !strcmp(t->nodes[i].host, host))
            return;
    if (t->nnodes < MAX_NODES && (t->nodes[t->nnodes].host = saq__strdup(host)))
        t->nodes[t->nnodes++].port = port;
}

static void slots_reply(saq__req_t *r, redisReply *rep, int err, const char *msg)
{
    saq__topo_t *t = r->data;
    char why[400];
    const char *mh = NULL;
    int mp = 0;
    t->asking = 0;
    if (err == SAQ_ECLOSED)
        return;
    const char *asked = t->nodes[t->node].host;
    if (!err && rep->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < rep->elements; i++) {
            const redisReply *e = rep->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
                e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER)
                continue;
            for (size_t j = 2; j < e->elements; j++) {
                const char *h;
                int p;
                if (!node_of(e->element[j], &h, &p))
                    continue;
                if (!*h)
                    h = asked; /* "" is the node that answered */
                learn_node(t, h, p);
                if (j == 2 && e->element[0]->integer <= t->slot && t->slot <= e->element[1]->integer)
                    mh = h, mp = p;
            }
        }
    }
    if (mh) {
        set_master(t, mh, mp);
        if (t->again) {
            t->again = 0;
            ask_later(t, QUERY_GAP_MS);
        }
        return;
    }
    if (err == SAQ_EREDIS && msg && strstr(msg, "cluster support disabled"))
        snprintf(why, sizeof why, "redis at %s:%d is not a cluster node (for one server, use a "
                 "redis:// url)", t->nodes[t->node].host, t->nodes[t->node].port);
    else if (err)
        snprintf(why, sizeof why, "cluster node %s:%d: %s", t->nodes[t->node].host,
                 t->nodes[t->node].port, msg ? msg : saq_strerror(err));
    else
        snprintf(why, sizeof why, "cluster node %s:%d says no master serves hash slot %d (of "
                 "queue %s)", t->nodes[t->node].host, t->nodes[t->node].port, t->slot,
                 t->q->set.name);
    node_failed(t, why);
    if (err != SAQ_ECONN && err != SAQ_ETIMEDOUT && err != SAQ_ETLS)
        saq__conn_close(&t->disc, SAQ_ECONN, why); /* the next node (disc_down) */
    ask_later(t, QUERY_GAP_MS);
}

/* Send the question (sentinel: on a ready connection; its subscription is
 * suspended for it). */
static void send_sentinel_question(saq__topo_t *t)
{
    const char *unsub[2] = {"UNSUBSCRIBE", "+switch-master"};
    const char *av[3] = {"SENTINEL", "get-master-addr-by-name", t->q->set.url.master_name};
    const char *sub[2] = {"SUBSCRIBE", "+switch-master"};
    if (t->subscribed)
        saq__cmd(&t->disc, NULL, NULL, 0, 2, unsub, NULL);
    t->asking = saq__cmd(&t->disc, sentinel_reply, t, 0, 3, av, NULL) != NULL;
    t->subscribed = saq__cmd(&t->disc, NULL, NULL, -1, 2, sub, NULL) != NULL;
    t->asked_at = saq__mono_ms();
}

static void ask(saq__topo_t *t)
{
    if (t->disc.closing)
        return;
    if (t->asking) {
        t->again = 1;
        return;
    }
    uint64_t now = saq__mono_ms();
    if (t->asked_at && now < t->asked_at + QUERY_GAP_MS) {
        ask_later(t, t->asked_at + QUERY_GAP_MS - now);
        return;
    }
    if (t->mode == SAQ__TOPO_SENTINEL) {
        if (t->disc.state == CONN_READY)
            send_sentinel_question(t);
        else
            saq__conn_kick(&t->disc); /* it asks once connected (disc_ready) */
        return;
    }
    const char *av[2] = {"CLUSTER", "SLOTS"};
    t->asked_at = now;
    t->asking = saq__cmd(&t->disc, slots_reply, t, 0, 2, av, NULL) != NULL;
}

/* ---- the discovery connection ---- */

static void disc_ready(saq__conn_t *c)
{
    saq__topo_t *t = c->owner;
    if (t->mode == SAQ__TOPO_SENTINEL && !t->asking) {
        t->subscribed = 0;
        send_sentinel_question(t);
    }
}

static void disc_down(saq__conn_t *c, int err, const char *msg)
{
    saq__topo_t *t = c->owner;
    char why[400];
    (void)err;
    t->subscribed = 0;
    /* a sentinel that failed us (cluster nodes are counted by slots_reply) */
    if (t->mode == SAQ__TOPO_SENTINEL && !t->closing_counted) {
        snprintf(why, sizeof why, "sentinel at %s:%d: %s", t->nodes[t->node].host,
                 t->nodes[t->node].port, msg ? msg : "connection lost");
        node_failed(t, why);
    }
    t->closing_counted = 0;
    t->node = (t->node + 1) % t->nnodes;
}

/* Sentinel: "+switch-master" "<name> <old-ip> <old-port> <new-ip> <new-port>". */
static int disc_push(saq__conn_t *c, redisReply *r)
{
    saq__topo_t *t = c->owner;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "message"))
        return 0;
    if (r->element[2]->type == REDIS_REPLY_STRING) {
        char name[256], oh[256], nh[256];
        int op, np;
        if (sscanf(r->element[2]->str, "%255s %255s %d %255s %d", name, oh, &op, nh, &np) == 5 &&
            !strcmp(name, t->q->set.url.master_name) && good_addr(nh, np)) {
            saq__debug("topo: +switch-master %s %s:%d -> %s:%d", name, oh, op, nh, np);
            set_master(t, nh, np);
        }
    }
    return 1;
}

/* ---- the route ---- */

static int route_target(saq__conn_t *c, const char **host, int *port, const char **why)
{
    saq__topo_t *t = c->q->topo;
    if (c->role == ROLE_DISC) {
        *host = t->nodes[t->node].host;
        *port = t->nodes[t->node].port;
        return 1;
    }
    if (t->host) {
        *host = t->host;
        *port = t->port;
        return 1;
    }
    ask(t);
    *why = t->error ? t->error
           : t->mode == SAQ__TOPO_SENTINEL ? "asking the sentinels where the master is"
                                           : "asking the cluster which node owns the queue's slot";
    return 0;
}

static void route_trouble(saq__conn_t *c, const char *err)
{
    saq__topo_t *t = c->q->topo;
    char host[256];
    int slot;
    if (err && !strncmp(err, "MOVED ", 6)) {
        /* "MOVED <slot> <host>:<port>" (the last ':' splits: IPv6 hosts hold some) */
        const char *a = strchr(err + 6, ' ');
        const char *colon = a ? strrchr(a, ':') : NULL;
        if (colon && sscanf(err + 6, "%d", &slot) == 1 && slot == t->slot &&
            (size_t)(colon - a - 1) < sizeof host) {
            long p = strtol(colon + 1, NULL, 10);
            memcpy(host, a + 1, (size_t)(colon - a - 1));
            host[colon - a - 1] = 0;
            if (good_addr(*host ? host : c->host, p))
                set_master(t, *host ? host : c->host, (int)p);
        }
        ask(t); /* the whole map may have changed (a failover, a resharding) */
        return;
    }
    if (err && (!strncmp(err, "ASK ", 4) || !strncmp(err, "TRYAGAIN ", 9)))
        return; /* the slot is moving: the same node again, shortly, until MOVED */
    if (!err)
        t->lost_at = saq__mono_ms();
    ask(t);
}

int saq__topo_init(saq_queue_t *q, char **msg)
{
    const saq__url_t *u = &q->set.url;
    size_t n;
    *msg = NULL;
    if (u->topo == SAQ__TOPO_SINGLE)
        return SAQ_OK;
    if (u->topo == SAQ__TOPO_CLUSTER && !saq__topo_hashtag(q->set.name, &n)) {
        *msg = saq__sprintf("queue name '%.200s' has no hash tag: in Redis Cluster every key of a "
                            "queue must hash to one slot, so the name must hold a tag in braces, "
                            "e.g. '{%.200s}' (BullMQ and asynq ask the same)", q->set.name,
                            q->set.name);
        return SAQ_EINVAL;
    }
    saq__topo_t *t = saq__calloc(1, sizeof *t);
    if (!t)
        return SAQ_ENOMEM;
    t->q = q;
    t->mode = u->topo;
    for (int i = 0; i < u->nseeds; i++)
        learn_node(t, u->seeds[i].host, u->seeds[i].port);
    if (!t->nnodes) {
        free(t);
        return SAQ_ENOMEM;
    }
    t->slot = saq__topo_slot(q->set.name);
    t->route.target = route_target;
    t->route.trouble = route_trouble;
    if (t->mode == SAQ__TOPO_SENTINEL) {
        t->route.disc_user = u->sentinel_username;
        t->route.disc_pass = u->sentinel_password;
        t->route.check_role = 1;
    } else { /* cluster nodes take the data credentials */
        t->route.disc_user = u->username;
        t->route.disc_pass = u->password;
    }
    saq__conn_init(&t->disc, q, ROLE_DISC);
    t->disc.owner = t;
    t->disc.on_ready = disc_ready;
    t->disc.on_down = disc_down;
    if (t->mode == SAQ__TOPO_SENTINEL) {
        t->disc.on_push = disc_push;
        t->disc.persistent = 1; /* it keeps the +switch-master subscription */
    }
    q->topo = t;
    q->route = &t->route;
    return SAQ_OK;
}

static void timer_closed(uv_handle_t *h) { (void)h; }

void saq__topo_shutdown(saq_queue_t *q)
{
    saq__topo_t *t = q->topo;
    if (!t)
        return;
    saq__conn_shutdown(&t->disc, NULL);
    if (t->timer_init) {
        uv_close((uv_handle_t *)&t->timer, timer_closed);
        t->timer_init = 0;
    }
}

void saq__topo_free(saq_queue_t *q)
{
    saq__topo_t *t = q->topo;
    if (!t)
        return;
    for (int i = 0; i < t->nnodes; i++)
        free(t->nodes[i].host);
    free(t->host);
    free(t->error);
    free(t);
    q->topo = NULL;
    q->route = NULL;
}
