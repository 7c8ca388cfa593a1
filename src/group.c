/* SPDX-License-Identifier: MIT */
/* A worker serving several queues (saq #284): a member worker per queue, each
 * on its own queue's I/O thread (in a cluster, on the connections to the
 * master owning that queue's slot), all sharing the primary's concurrency as
 * one budget of slots. The budget lives here, under one mutex: which members
 * may have work ("hungry"), the slots each holds, the slots granted to each
 * and not yet taken, and the queue order that decides who gets a free slot
 * (strict: the first hungry member in order; weighted: smooth weighted round
 * robin over the hungry members). A grant pokes the member's own loop with a
 * message; the member's pump takes it and dequeues. A member that found its
 * queue empty holds no slot while it blocks, so a full budget never stops a
 * higher queue from being watched: a job its blocking dequeue moves while the
 * budget is full is given back to the head of its queue, and the member waits
 * hungry for the next free slot. */
#include "worker.h"

typedef struct member {
    saq_worker_t *w;
    int weight;
    /* under the group's mu */
    int cur;          /* smooth weighted round robin: the current weight */
    int joined;       /* started on its loop (or failed to) */
    int left;         /* takes no more slots (stopping, burst over, failed) */
    int finished;     /* stopped: never poked again */
    int hungry;       /* its queue may have work */
    int grant;        /* slots granted, not yet taken by its pump */
    int held;         /* slots it holds (its w->slots) */
    int poke_pending; /* a pump message is on its way to its loop */
} member_t;

struct saq__group {
    atomic_int refs;  /* the primary's, and one per poke on its way */
    pthread_mutex_t mu;
    member_t *m;
    size_t n;
    int weighted;
    /* under mu */
    int total;        /* the budget: the primary's concurrency */
    int used;         /* slots held or granted */
    size_t njoined, nfinished;
    atomic_ullong next_lease;
};

saq__group_t *saq__group_new(saq_worker_t *primary, int weighted)
{
    saq__group_t *g = saq__calloc(1, sizeof *g);
    if (!g || !(g->m = saq__calloc(1, sizeof *g->m))) {
        free(g);
        return NULL;
    }
    atomic_init(&g->refs, 1);
    pthread_mutex_init(&g->mu, NULL);
    g->m[0].w = primary;
    g->m[0].weight = primary->set.weight;
    g->n = 1;
    g->weighted = weighted;
    g->total = primary->set.concurrency;
    atomic_init(&g->next_lease, 0);
    primary->group = g;
    return g;
}

int saq__group_add(saq__group_t *g, saq_worker_t *m, int weight)
{
    member_t *n = saq__realloc(g->m, (g->n + 1) * sizeof *n);
    if (!n)
        return SAQ_ENOMEM;
    g->m = n;
    g->m[g->n] = (member_t){.w = m, .weight = weight};
    m->gidx = (int)g->n++;
    m->group = g;
    m->owner = g->m[0].w;
    return SAQ_OK;
}

size_t saq__group_size(const saq__group_t *g) { return g ? g->n : 1; }

saq_worker_t *saq__group_member(const saq__group_t *g, size_t i) { return g->m[i].w; }

int saq__group_has_queue(const saq__group_t *g, const saq_queue_t *q)
{
    for (size_t i = 0; g && i < g->n; i++)
        if (g->m[i].w->q == q)
            return 1;
    return 0;
}

void saq__group_unref(saq__group_t *g)
{
    if (!g || !saq__unref(&g->refs))
        return;
    pthread_mutex_destroy(&g->mu);
    free(g->m);
    free(g);
}

/* ---- the budget ---- */

/* A grant's news to a member's loop. It holds a reference on the group, not
 * on the member: a member that has not finished is alive (its loop holds it),
 * and only its own loop, where this runs, can finish it. */
typedef struct poke_msg {
    saq__msg_t msg;
    saq__group_t *g;
    size_t idx;
} poke_msg_t;

static void poke_run(saq_queue_t *q, saq__msg_t *msg)
{
    poke_msg_t *p = (poke_msg_t *)msg;
    saq__group_t *g = p->g;
    member_t *m = &g->m[p->idx];
    (void)q;
    free(p);
    pthread_mutex_lock(&g->mu);
    m->poke_pending = 0;
    int alive = !m->finished;
    pthread_mutex_unlock(&g->mu);
    if (alive)
        m->w->poke(m->w, SAQ__POKE_PUMP); /* worker.c's, through the worker (it is above us) */
    saq__group_unref(g); /* the message's */
}

static int eligible(const member_t *m) { return m->joined && !m->left && !m->finished && m->hungry; }

/* The member the next free slot goes to, or NULL (mu held). */
static member_t *pick(saq__group_t *g)
{
    member_t *best = NULL;
    int sum = 0;
    for (size_t i = 0; i < g->n; i++) {
        member_t *m = &g->m[i];
        if (!eligible(m))
            continue;
        if (!g->weighted)
            return m; /* strict: the first queue in order that may have work */
        m->cur += m->weight;
        sum += m->weight;
        if (!best || m->cur > best->cur)
            best = m;
    }
    if (best)
        best->cur -= sum;
    return best;
}

/* Grant the free slots (mu held) and collect the members to poke, at most
 * one pending poke per member. */
static size_t dispatch_locked(saq__group_t *g, size_t *poke)
{
    size_t np = 0;
    if (g->njoined < g->n)
        return 0; /* not every queue is watched yet: the order could not hold */
    while (g->used < g->total) {
        member_t *m = pick(g);
        if (!m)
            break;
        m->grant++;
        g->used++;
    }
    for (size_t i = 0; i < g->n; i++) {
        member_t *m = &g->m[i];
        if (m->grant > 0 && !m->poke_pending && !m->finished) {
            m->poke_pending = 1;
            poke[np++] = i;
        }
    }
    return np;
}

/* Unlock, then post the collected pokes to their loops. */
static void unlock_and_poke(saq__group_t *g, size_t *poke, size_t np)
{
    /* the members' queues, held from here (a member may finish and go once mu
     * is released; its queue stays until its last reference) */
    saq_queue_t **qs = np ? saq__calloc(np, sizeof *qs) : NULL;
    if (!qs) { /* none to poke, or out of memory: each member's next pump takes its grant */
        for (size_t i = 0; i < np; i++)
            g->m[poke[i]].poke_pending = 0;
        np = 0;
    }
    for (size_t i = 0; i < np; i++) {
        saq__ref(&g->refs); /* each message's */
        qs[i] = g->m[poke[i]].w->q;
        saq__ref(&qs[i]->refs);
    }
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < np; i++) {
        poke_msg_t *m = saq__calloc(1, sizeof *m);
        if (m) {
            m->msg.run = poke_run;
            m->g = g;
            m->idx = poke[i];
            int e = saq__post(qs[i], &m->msg);
            saq__queue_unref(qs[i]);
            if (e == 0)
                continue; /* the message holds the reference */
            free(m);
        } else {
            saq__queue_unref(qs[i]);
        }
        /* its loop is gone (it stops) or out of memory: its next pump takes the grant */
        pthread_mutex_lock(&g->mu);
        g->m[poke[i]].poke_pending = 0;
        pthread_mutex_unlock(&g->mu);
        saq__unref(&g->refs); /* never the last: the caller's worker holds one */
    }
    free(qs);
    free(poke);
}

/* Lock the group and make room for the pokes of a dispatch. */
static size_t *lock_for_dispatch(saq__group_t *g)
{
    size_t *poke = saq__calloc(g->n, sizeof *poke); /* NULL: no pokes this time */
    pthread_mutex_lock(&g->mu);
    return poke;
}

/* Return m's grant to the budget (mu held). */
static void drop_grant(saq__group_t *g, member_t *m)
{
    g->used -= m->grant;
    m->grant = 0;
}

/* Run a dispatch and post its pokes (mu held on entry, released). */
static void dispatch_unlock(saq__group_t *g, size_t *poke)
{
    size_t np = poke ? dispatch_locked(g, poke) : 0;
    unlock_and_poke(g, poke, np);
}

void saq__group_join(saq_worker_t *w, int failed)
{
    saq__group_t *g = w->group;
    if (!g)
        return;
    size_t *poke = lock_for_dispatch(g);
    member_t *m = &g->m[w->gidx];
    if (!m->joined) {
        m->joined = 1;
        g->njoined++;
    }
    m->hungry = !failed;
    if (failed) {
        m->left = 1;
        drop_grant(g, m);
    }
    dispatch_unlock(g, poke);
}

/* w takes no grant for now (found empty) or from now on (`leave`): its grant
 * goes to the others. */
static void member_idle(saq_worker_t *w, int leave)
{
    saq__group_t *g = w->group;
    if (!g)
        return;
    size_t *poke = lock_for_dispatch(g);
    member_t *m = &g->m[w->gidx];
    m->left |= leave;
    m->hungry = 0;
    drop_grant(g, m);
    dispatch_unlock(g, poke);
}

void saq__group_leave(saq_worker_t *w) { member_idle(w, 1); }

int saq__group_finished(saq_worker_t *w)
{
    saq__group_t *g = w->group;
    pthread_mutex_lock(&g->mu);
    member_t *m = &g->m[w->gidx];
    int last = 0;
    if (!m->finished) {
        m->finished = 1;
        m->left = 1;
        drop_grant(g, m);
        last = ++g->nfinished == g->n;
    }
    pthread_mutex_unlock(&g->mu);
    return last;
}

int saq__group_take(saq_worker_t *w)
{
    saq__group_t *g = w->group;
    pthread_mutex_lock(&g->mu);
    member_t *m = &g->m[w->gidx];
    int n = m->left ? 0 : m->grant;
    m->grant -= n;
    m->held += n;
    pthread_mutex_unlock(&g->mu);
    w->slots += n;
    return n;
}

int saq__group_take_one(saq_worker_t *w)
{
    saq__group_t *g = w->group;
    size_t *poke = lock_for_dispatch(g);
    member_t *m = &g->m[w->gidx];
    int got = 0;
    if (!m->left) {
        m->hungry = 1; /* where one job came from, more may follow */
        if (m->grant > 0) {
            m->grant--;
            got = 1;
        } else if (g->used < g->total) {
            g->used++;
            got = 1;
        }
        m->held += got;
    }
    dispatch_unlock(g, poke);
    w->slots += got;
    return got;
}

int saq__group_hungry(saq_worker_t *w)
{
    saq__group_t *g = w->group;
    pthread_mutex_lock(&g->mu);
    int h = g->m[w->gidx].hungry;
    pthread_mutex_unlock(&g->mu);
    return h;
}

void saq__group_empty(saq_worker_t *w) { member_idle(w, 0); }

void saq__group_wake(saq_worker_t *w)
{
    saq__group_t *g = w->group;
    if (!g)
        return;
    size_t *poke = lock_for_dispatch(g);
    member_t *m = &g->m[w->gidx];
    if (!m->left && !m->finished)
        m->hungry = 1;
    dispatch_unlock(g, poke);
}

void saq__slots_put(saq_worker_t *w, int n)
{
    saq__group_t *g = w->group;
    w->slots -= n;
    if (!g || n <= 0)
        return;
    size_t *poke = lock_for_dispatch(g);
    g->m[w->gidx].held -= n;
    g->used -= n;
    dispatch_unlock(g, poke);
}

uint64_t saq__group_lease_id(saq_worker_t *w)
{
    if (!w->group)
        return ++w->next_lease;
    return atomic_fetch_add(&w->group->next_lease, 1) + 1;
}
