/* SPDX-License-Identifier: MIT */
/* The PubSubMultiplexer: one pub/sub connection per queue with ONE pattern
 * subscription (PSUBSCRIBE saq:job:<q>*, as saq), routed in-process by the
 * exact channel (job id) to listeners. The subscription is confirmed before
 * listeners are told they are live, re-established after a reconnect (each
 * listener is told again, so it can re-read what it may have missed), and
 * dropped a few seconds after the last listener leaves. */
#include "core.h"

#define LINGER_MS 5000

struct saq__chan {
    saq__chan_t *next;
    char *id;
    saq__listener_t **ls;
    size_t n, cap;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static saq__chan_t **bucket(saq_queue_t *q, const char *id)
{
    return &q->chans[hash_str(id) & (q->nchans_buckets - 1)];
}

static int grow_table(saq_queue_t *q)
{
    size_t nb = q->nchans_buckets ? q->nchans_buckets * 2 : 64;
    saq__chan_t **t = saq__calloc(nb, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < q->nchans_buckets; i++) {
        saq__chan_t *c = q->chans[i];
        while (c) {
            saq__chan_t *n = c->next;
            saq__chan_t **b = &t[hash_str(c->id) & (nb - 1)];
            c->next = *b;
            *b = c;
            c = n;
        }
    }
    free(q->chans);
    q->chans = t;
    q->nchans_buckets = nb;
    return 0;
}

static saq__chan_t *chan_find(saq_queue_t *q, const char *id)
{
    if (!q->nchans_buckets)
        return NULL;
    for (saq__chan_t *c = *bucket(q, id); c; c = c->next)
        if (!strcmp(c->id, id))
            return c;
    return NULL;
}

static int chan_add(saq_queue_t *q, const char *id, saq__listener_t *l)
{
    if (q->nchans >= q->nchans_buckets && grow_table(q))
        return -1;
    saq__chan_t *c = chan_find(q, id);
    if (!c) {
        c = saq__calloc(1, sizeof *c);
        if (!c || !(c->id = saq__strdup(id))) {
            free(c);
            return -1;
        }
        saq__chan_t **b = bucket(q, id);
        c->next = *b;
        *b = c;
        q->nchans++;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 2;
        saq__listener_t **ls = saq__realloc(c->ls, cap * sizeof *ls);
        if (!ls)
            return -1;
        c->ls = ls;
        c->cap = cap;
    }
    c->ls[c->n++] = l;
    return 0;
}

static void chan_del(saq_queue_t *q, const char *id, saq__listener_t *l)
{
    if (!q->nchans_buckets)
        return;
    saq__chan_t **pp = bucket(q, id);
    for (saq__chan_t *c = *pp; c; pp = &c->next, c = c->next) {
        if (strcmp(c->id, id))
            continue;
        for (size_t i = 0; i < c->n; i++) {
            if (c->ls[i] == l) {
                c->ls[i] = c->ls[--c->n];
                break;
            }
        }
        if (!c->n) {
            *pp = c->next;
            free(c->id);
            free(c->ls);
            free(c);
            q->nchans--;
        }
        return;
    }
}

/* ---- subscription ---- */

/* The first listener on `list`, or NULL. */
static saq__listener_t *first(saq__list_t *list)
{
    return saq__list_first_entry(list, saq__listener_t, link);
}

/* Move l (from whatever list it is on) to the front of `to`. */
static void move_front(saq__list_t *to, saq__listener_t *l)
{
    saq__list_remove(&l->link);
    saq__list_push_front(to, &l->link);
}

/* Tell every listener the subscription is live. Callbacks may add listeners
 * (told at once, since sub_confirmed is set) or remove any listener: the ones
 * still to be told wait on their own list, so each is told once, in O(n). */
static void notify_subscribed(saq_queue_t *q)
{
    saq__listener_t *l;
    while ((l = first(&q->listeners))) /* move everyone to the to-notify list */
        move_front(&q->to_notify, l);
    while ((l = first(&q->to_notify))) {
        move_front(&q->listeners, l);
        l->confirmed = l->ever_confirmed = 1;
        if (l->on_subscribed)
            l->on_subscribed(l);
    }
}

static void route(saq_queue_t *q, const char *id, const char *status)
{
    saq__chan_t *c = chan_find(q, id);
    if (!c || !c->n)
        return;
    size_t n = c->n;
    saq__listener_t **snap = saq__malloc(n * sizeof *snap);
    if (!snap)
        return;
    memcpy(snap, c->ls, n * sizeof *snap);
    for (size_t i = 0; i < n; i++) {
        /* re-check membership: an earlier callback may have removed it */
        saq__chan_t *cc = chan_find(q, id);
        int alive = 0;
        for (size_t k = 0; cc && k < cc->n; k++)
            if (cc->ls[k] == snap[i])
                alive = 1;
        if (alive && snap[i]->on_message)
            snap[i]->on_message(snap[i], id, status);
    }
    free(snap);
}

/* A message on the pub/sub connection (["pmessage", pattern, channel,
 * status]): routed to the listeners of the channel (a job id). */
static int sub_push(saq__conn_t *c, redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "pmessage"))
        return 0; /* the subscription's confirmation: the PSUBSCRIBE request's reply */
    if (r->elements >= 4 && r->element[2]->type == REDIS_REPLY_STRING &&
        r->element[3]->type == REDIS_REPLY_STRING) {
        char st[32];
        size_t n = r->element[3]->len < sizeof st - 1 ? r->element[3]->len : sizeof st - 1;
        for (size_t i = 0; i < n; i++)
            st[i] = (char)(r->element[3]->str[i] >= 'A' && r->element[3]->str[i] <= 'Z'
                               ? r->element[3]->str[i] + 32
                               : r->element[3]->str[i]);
        st[n] = 0;
        route(c->q, r->element[2]->str, st);
    }
    return 1;
}

static void psub_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq__conn_t *c = req->conn;
    if (err == SAQ_EREDIS) { /* e.g. an ACL user without &channel rights: say so to the listeners */
        saq__conn_close(c, err, msg);
        return;
    }
    if (err || r->type != REDIS_REPLY_ARRAY)
        return; /* the connection dropped: it subscribes again when it is back */
    c->q->sub_confirmed = 1;
    notify_subscribed(c->q);
}

static void sub_ready(saq__conn_t *c)
{
    const char *av[2] = {"PSUBSCRIBE", c->q->k_pattern};
    saq__cmd(c, psub_reply, NULL, 0, 2, av, NULL);
}

/* The connection failed: listeners that were never confirmed are told it
 * failed. Callbacks may remove any listener: the ones still to be told wait
 * on a list of their own, so each is told once, in O(n). */
static void fail_unconfirmed(saq_queue_t *q, int err, const char *msg)
{
    saq__list_t failing;
    saq__listener_t *l;
    saq__link_t *k, *n;
    saq__list_init(&failing);
    saq__list_each_safe(k, n, &q->listeners) {
        l = saq__container_of(k, saq__listener_t, link);
        if (!l->ever_confirmed && !l->failed && l->on_failed)
            move_front(&failing, l);
    }
    while ((l = first(&failing))) {
        move_front(&q->listeners, l);
        l->failed = 1;
        l->on_failed(l, err, msg);
    }
}

void saq__pubsub_fail_waiting(saq_queue_t *q, int err, const char *msg)
{
    fail_unconfirmed(q, err, msg);
}

static void sub_down(saq__conn_t *c, int err, const char *msg)
{
    saq_queue_t *q = c->q;
    int was = q->sub_confirmed;
    q->sub_confirmed = 0;
    if (was) {
        saq__link_t *k;
        saq__list_each(k, &q->listeners) {
            saq__listener_t *l = saq__container_of(k, saq__listener_t, link);
            l->confirmed = 0;
            if (l->on_lost)
                l->on_lost(l, err, msg);
        }
    }
    /* on Sentinel or Cluster a lost or refused connection is a failover
     * under way: the listeners wait for the next master (to their own
     * deadlines) instead of failing now */
    if (err != SAQ_ECLOSED && !(q->route && saq__conn_lost(err)))
        fail_unconfirmed(q, err, msg ? msg : saq_strerror(err));
}

static void linger_cb(uv_timer_t *t)
{
    saq_queue_t *q = t->data;
    if (!saq__list_empty(&q->listeners) || !saq__list_empty(&q->to_notify))
        return;
    q->sub.persistent = 0;
    q->sub_confirmed = 0;
    saq__conn_close(&q->sub, SAQ_ECLOSED, "pub/sub idle");
    q->sub.retry_at = 0;
    q->sub.failures = 0;
}

void saq__pubsub_init(saq_queue_t *q)
{
    q->sub.on_ready = sub_ready;
    q->sub.on_down = sub_down;
    q->sub.on_push = sub_push;
    saq__list_init(&q->listeners);
    saq__list_init(&q->to_notify);
    uv_timer_init(&q->loop, &q->sub_linger);
    q->sub_linger.data = q;
    q->sub_linger_init = 1;
}

int saq__listen_add(saq_queue_t *q, saq__listener_t *l, char **ids, size_t nids)
{
    l->ids = ids;
    l->nids = nids;
    l->confirmed = l->ever_confirmed = l->failed = 0;
    for (size_t i = 0; i < nids; i++) {
        if (chan_add(q, ids[i], l)) {
            while (i-- > 0)
                chan_del(q, ids[i], l);
            return SAQ_ENOMEM;
        }
    }
    saq__list_push_front(&q->listeners, &l->link);
    uv_timer_stop(&q->sub_linger);
    q->sub.persistent = 1;
    if (q->sub_confirmed) {
        l->confirmed = l->ever_confirmed = 1;
        if (l->on_subscribed)
            l->on_subscribed(l);
    } else {
        saq__conn_kick(&q->sub);
    }
    return 0;
}

void saq__listen_remove(saq_queue_t *q, saq__listener_t *l)
{
    if (!saq__link_linked(&l->link))
        return; /* not listening */
    for (size_t i = 0; i < l->nids; i++)
        chan_del(q, l->ids[i], l);
    saq__list_remove(&l->link);
    if (saq__list_empty(&q->listeners) && saq__list_empty(&q->to_notify) && q->sub_linger_init)
        uv_timer_start(&q->sub_linger, linger_cb, LINGER_MS, 0);
}

static void linger_closed(uv_handle_t *h) { (void)h; }

void saq__pubsub_shutdown(saq_queue_t *q)
{
    saq__listener_t *l;
    while ((l = first(&q->listeners)))
        saq__listen_remove(q, l);
    while ((l = first(&q->to_notify)))
        saq__listen_remove(q, l);
    if (q->sub_linger_init) {
        uv_timer_stop(&q->sub_linger);
        uv_close((uv_handle_t *)&q->sub_linger, linger_closed);
        q->sub_linger_init = 0;
    }
    q->sub.persistent = 0;
}
