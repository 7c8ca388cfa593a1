/* SPDX-License-Identifier: MIT */
/* Rate limits and global concurrency (an extension in libsaq's own keys,
 * saq:<queue>:libsaq:limit:*, which Python saq ignores): at most max_jobs
 * starts per period and at most max_running at once, for the whole queue or
 * for one function, over every libsaq worker of the queue. A dequeued batch
 * takes its slots in one LIMIT script before its jobs are marked active
 * (limitscript.c has the script and what it does with a job over a limit); a
 * lease frees its running slots when it ends (LIMIT_RELEASE), and the slots
 * of a worker that died are dropped once its liveness entry expired. This
 * file lays out both scripts' KEYS/ARGV and reads their replies; dequeue.c
 * decides what becomes of each lease. */
#include "worker.h"

#define LIMIT_WAIT_MAX_MS (86400LL * 366 * 1000 + 1)
#define LIMIT_POLL_MS 200    /* how soon a full concurrency limit is asked again */
#define LIMIT_SAFETY_MS 30000 /* a job on a waiting list comes back by itself after this */
#define LIMIT_RELEASE_TRIES 10
#define LIMIT_PUBLISH_TTL_MS 30000 /* the published limits outlive the last worker this long */
#define LIMIT_TICK_MS 1000   /* how often a worker tops up the running slots from the waiting lists */

SAQ_API int saq_worker_set_limit(saq_worker_t *w, const char *function, int max_jobs, double period,
                                 int max_running)
{
    if (!w)
        return SAQ_EINVAL;
    if (atomic_load(&w->started)) {
        saq__worker_seterr(w, "limits must be set before the worker starts");
        return SAQ_ESTATE;
    }
    if (w->owner) {
        saq__worker_seterr(w, "limits are set on the worker, not on an added queue");
        return SAQ_EINVAL;
    }
    if (function && !*function)
        function = NULL;
    if (max_jobs < 0 || max_running < 0) {
        saq__worker_seterr(w, "max_jobs and max_running must be >= 0");
        return SAQ_EINVAL;
    }
    if (max_jobs > 0 && !(period >= 0.001 && period <= 86400 * 366.0)) {
        saq__worker_seterr(w, "period must be between 0.001 and 31622400 seconds");
        return SAQ_EINVAL;
    }
    if (max_running > 0 && !(w->set.t_alive > 0)) {
        saq__worker_seterr(w, "max_running needs timers.liveness > 0 (a dead worker's slots are "
                              "freed when its liveness entry expires)");
        return SAQ_EINVAL;
    }
    size_t i;
    for (i = 0; i < w->nlimits; i++)
        if (!w->limits[i].function ? !function : function && !strcmp(w->limits[i].function, function))
            break;
    if (!max_jobs && !max_running) { /* no limit: remove it */
        if (i < w->nlimits) {
            free(w->limits[i].function);
            w->limits[i] = w->limits[--w->nlimits];
        }
        return SAQ_OK;
    }
    if (i == w->nlimits) {
        saq__limit_t *v = saq__realloc(w->limits, (w->nlimits + 1) * sizeof *v);
        char *f = function ? saq__strdup(function) : NULL;
        if (!v || (function && !f)) {
            if (v)
                w->limits = v;
            free(f);
            saq__worker_seterr(w, "out of memory");
            return SAQ_ENOMEM;
        }
        w->limits = v;
        v[i].function = f;
        w->nlimits++;
    }
    w->limits[i].max_jobs = max_jobs;
    w->limits[i].period_ms = max_jobs ? (int64_t)(period * 1000 + 0.5) : 0;
    if (max_jobs && w->limits[i].period_ms < 1)
        w->limits[i].period_ms = 1;
    w->limits[i].max_running = max_running;
    return SAQ_OK;
}

const saq__limit_t *saq__limit_find(saq_worker_t *w, const char *function)
{
    saq_worker_t *p = saq__worker_public(w);
    for (size_t i = 0; i < p->nlimits; i++) {
        const char *f = p->limits[i].function;
        if (!f ? !function : function && !strcmp(f, function))
            return &p->limits[i];
    }
    return NULL;
}

int saq__limit_applies(saq_worker_t *w, const saq__lease_t *l)
{
    if (!saq__worker_public(w)->nlimits)
        return 0;
    return saq__limit_find(w, NULL) || (l->shadow.function && saq__limit_find(w, l->shadow.function));
}

/* saq:<q>:libsaq:limit:queue:<kind> or saq:<q>:libsaq:limit:fn:<function>:<kind>
 * (in the queue's hash slot, as every key of the queue) */
static char *limit_key(saq_queue_t *q, const char *function, const char *kind)
{
    return function ? saq__sprintf("saq:%s:libsaq:limit:fn:%s:%s", q->set.name, function, kind)
                    : saq__sprintf("saq:%s:libsaq:limit:queue:%s", q->set.name, kind);
}

static void fmt_ll(char *b, long long v) { snprintf(b, 24, "%lld", v); }

saq__req_t *saq__limit_take(saq_worker_t *w, saq__lease_t **ls, size_t n, saq__reply_fn cb, void *data)
{
    saq_queue_t *q = w->q;
    size_t nkeys = 6 + 4 * n, nargs = 7 + 4 * n, total = nkeys + nargs;
    char **v = saq__calloc(total, sizeof *v);
    saq__req_t *r = NULL;
    int oom = !v;
    const saq__limit_t *ql = saq__limit_find(w, NULL);
    if (v) {
        v[0] = saq__strdup(q->k_active);
        v[1] = saq__strdup(q->k_queued);
        v[2] = saq__strdup(q->k_incomplete);
        v[3] = saq__strdup(q->k_alive);
        v[4] = limit_key(q, NULL, "starts");
        v[5] = limit_key(q, NULL, "running");
        char **a = v + nkeys;
        a[0] = saq__strdup(w->id);
        a[1] = saq__calloc(1, 24), a[2] = saq__calloc(1, 24), a[3] = saq__calloc(1, 24);
        a[4] = saq__calloc(1, 24), a[5] = saq__calloc(1, 24), a[6] = saq__calloc(1, 24);
        if (a[1] && a[2] && a[3] && a[4] && a[5] && a[6]) {
            fmt_ll(a[1], ql ? ql->max_jobs : 0);
            fmt_ll(a[2], ql ? (long long)ql->period_ms : 0);
            fmt_ll(a[3], ql ? ql->max_running : 0);
            fmt_ll(a[4], SAQ__LIMIT_GRACE_MS);
            fmt_ll(a[5], LIMIT_POLL_MS);
            fmt_ll(a[6], LIMIT_SAFETY_MS);
        }
        for (size_t j = 0; j < n; j++) {
            const char *fn = ls[j]->shadow.function;
            const saq__limit_t *fl = fn ? saq__limit_find(w, fn) : NULL;
            char **k = v + 6 + 4 * j, **g = a + 7 + 4 * j;
            /* a job without a limit of its function names the queue's keys (never touched) */
            k[0] = limit_key(q, fl ? fn : NULL, "starts");
            k[1] = limit_key(q, fl ? fn : NULL, "running");
            k[2] = limit_key(q, fl ? fn : NULL, "next");
            k[3] = limit_key(q, fl ? fn : NULL, "waiting");
            g[0] = saq__strdup(ls[j]->shadow.id);
            g[1] = saq__calloc(1, 24), g[2] = saq__calloc(1, 24), g[3] = saq__calloc(1, 24);
            if (g[1] && g[2] && g[3]) {
                fmt_ll(g[1], fl ? fl->max_jobs : 0);
                fmt_ll(g[2], fl ? (long long)fl->period_ms : 0);
                fmt_ll(g[3], fl ? fl->max_running : 0);
            }
        }
        for (size_t i = 0; i < total; i++)
            oom |= !v[i];
    }
    if (!oom)
        r = saq__eval(&q->cmd, SCRIPT_LIMIT, cb, data, (int)nkeys, (int)total, (const char **)v, NULL);
    if (v)
        saq__strv_free(v, total);
    return r;
}

static long long reply_int(const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return -1;
}

/* The queue's limit is full: no dequeue before `qwait` ms from now (with a
 * little jitter, so the workers waiting on it do not ask all at once). */
static void limit_wait(saq_worker_t *w, long long qwait)
{
    if (qwait < 1)
        qwait = 1;
    if (qwait > LIMIT_WAIT_MAX_MS) /* a period is at most 366 days: a longer wait is not one the script meant */
        qwait = LIMIT_WAIT_MAX_MS;
    uint64_t until = saq__mono_ms() + (uint64_t)qwait + (uint64_t)(saq__random01() * (double)(qwait / 4 + 5));
    if (until > w->limit_until)
        w->limit_until = until;
    w->limit_room = 0;
}

int saq__limit_room_reply(saq_worker_t *w, redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return -1;
    long long room = reply_int(r->element[0]), qwait = reply_int(r->element[1]);
    if (room < 0)
        return -1;
    w->limit_room = room > INT32_MAX ? INT32_MAX : (int)room;
    if (!room)
        limit_wait(w, qwait);
    return w->limit_room;
}

int saq__limit_reply(saq_worker_t *w, redisReply *r, size_t n, size_t i, saq__lease_t *l)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 + 2 * n)
        return -1;
    long long room = reply_int(r->element[0]), qwait = reply_int(r->element[1]);
    long long code = reply_int(r->element[2 + 2 * i]);
    if (i == 0 && room >= 0)
        w->limit_room = room > INT32_MAX ? INT32_MAX : (int)room;
    if (code == SAQ__LIMIT_TAKEN) {
        const saq__limit_t *ql = saq__limit_find(w, NULL);
        const saq__limit_t *fl = l->shadow.function ? saq__limit_find(w, l->shadow.function) : NULL;
        l->limit_held |= (ql && ql->max_running ? SAQ__LIMIT_HELD_QUEUE : 0) |
                         (fl && fl->max_running ? SAQ__LIMIT_HELD_FN : 0);
    } else if (code == SAQ__LIMIT_BACK) {
        limit_wait(w, qwait);
    }
    return code >= SAQ__LIMIT_BACK && code <= SAQ__LIMIT_GONE ? (int)code : -1;
}

int saq__limit_waiting(saq_worker_t *w)
{
    if (!w->limit_until)
        return 0;
    if (saq__mono_ms() >= w->limit_until) {
        w->limit_until = 0;
        return 0;
    }
    return 1;
}

int saq__limit_cap(saq_worker_t *w, int free_slots)
{
    if (!saq__limit_find(w, NULL) || w->limit_room <= 0)
        return free_slots;
    return free_slots < w->limit_room ? free_slots : w->limit_room;
}

/* ---- release ---- */

typedef struct release {
    saq_worker_t *w;
    char *v[8]; /* the script's keys and args */
    int tries;
} release_t;

static void release_free(release_t *x)
{
    for (int i = 0; i < 8; i++)
        free(x->v[i]);
    saq__worker_unref(x->w);
    free(x);
}

static int release_send(release_t *x);

static void release_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    release_t *x = req->data;
    (void)r, (void)msg;
    /* the reply was lost with the connection: the ZREMs are idempotent, so
     * send it again (a slot left behind would hold a live worker's share) */
    if (saq__conn_lost(err) && ++x->tries < LIMIT_RELEASE_TRIES && release_send(x))
        return;
    release_free(x);
}

static int release_send(release_t *x)
{
    return saq__eval(&x->w->q->cmd, SCRIPT_LIMIT_RELEASE, release_reply, x, 5, 8, (const char **)x->v,
                     NULL) != NULL;
}

/* Send LIMIT_RELEASE for `member` holding `held` of the function fn's
 * limit (NULL: the queue's), with the top-up of max_running. */
static void release_send_new(saq_worker_t *w, const char *fn, const char *member, int held, int max_running)
{
    saq_queue_t *q = w->q;
    release_t *x = saq__calloc(1, sizeof *x);
    if (!x)
        return; /* out of memory: a slot stays until this worker's liveness entry expires */
    x->w = w;
    saq__worker_ref(w);
    x->v[0] = saq__strdup(q->k_incomplete);
    x->v[1] = saq__strdup(q->k_queued);
    x->v[2] = limit_key(q, NULL, "running");
    x->v[3] = limit_key(q, fn, "running");
    x->v[4] = limit_key(q, fn, "waiting");
    x->v[5] = saq__strdup(member);
    x->v[6] = saq__sprintf("%d", held);
    x->v[7] = saq__sprintf("%d", max_running);
    int ok = 1;
    for (int i = 0; i < 8; i++)
        ok &= x->v[i] != NULL;
    if (!ok || !release_send(x))
        release_free(x);
}

void saq__limit_release(saq__lease_t *l)
{
    saq_worker_t *w = l->w;
    int held = l->limit_held;
    if (!held || !l->shadow.id)
        return;
    l->limit_held = 0;
    /* another lease of this worker holds the same job (a new run, moved while
     * this one's outcome was being confirmed): the running slots' member
     * "<worker>:<job>" is the same, so it stays until that lease ends (it
     * then releases it, whether its own take succeeded or not) */
    saq__link_t *k;
    saq__list_each(k, &w->leases) {
        saq__lease_t *o = saq__container_of(k, saq__lease_t, link);
        if (o != l && o->shadow.id && !strcmp(o->shadow.id, l->shadow.id)) {
            o->limit_held |= held;
            return;
        }
    }
    if (held & SAQ__LIMIT_HELD_QUEUE)
        w->limit_until = 0; /* a slot of the queue's limit is free now: no need to wait */
    char *member = saq__sprintf("%s:%s", w->id, l->shadow.id);
    if (member)
        release_send_new(w, held & SAQ__LIMIT_HELD_FN ? l->shadow.function : NULL, member, held, 0);
    free(member);
}

void saq__limit_tick(saq_worker_t *w)
{
    saq_worker_t *p = saq__worker_public(w);
    uint64_t now = saq__mono_ms();
    if (!p->nlimits || now < w->limit_tick_at)
        return;
    w->limit_tick_at = now + LIMIT_TICK_MS;
    saq_queue_t *q = w->q;
    char *k = saq__sprintf("saq:%s:libsaq:limits", q->set.name);
    for (size_t i = 0; k && i < p->nlimits; i++) {
        const saq__limit_t *l = &p->limits[i];
        if (l->function && l->max_running)
            release_send_new(w, l->function, "", 0, l->max_running);
        /* published for operators (saq_queue_limits, `saq limits`) */
        char v[80];
        snprintf(v, sizeof v, "%d %lld %d", l->max_jobs, (long long)l->period_ms, l->max_running);
        const char *argv[4] = {"HSET", k, l->function ? l->function : "", v};
        saq__cmd(&q->cmd, NULL, NULL, 0, 4, argv, NULL);
    }
    if (k)
        saq__cmdf(&q->cmd, NULL, NULL, "PEXPIRE %s %d", k, LIMIT_PUBLISH_TTL_MS);
    free(k);
}
