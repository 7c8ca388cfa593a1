/* SPDX-License-Identifier: MIT */
/* No job left behind by a dead worker (spec 4.5 and libsaq's extensions,
 * tests/interop/README.md "libsaq's own keys"): the dead-worker passes, the
 * lost moves (moved to active, never marked), this worker's own jobs that
 * no lease holds, the liveness refresh that tells libsaq workers apart from
 * dead ones within seconds, and the watched sweep aborts and aborts whose
 * worker died. Every write here is a compare-and-set primitive, so several
 * workers recovering the same job end it once. */
#include "worker.h"

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

static void dead_free(dead_ctx_t *d)
{
    saq__strv_free(d->live, d->nlive);
    saq__strv_free(d->ids, d->nids);
    saq__strv_free(d->dead, d->ndead);
    d->w->pass_running = 0;
    saq__worker_unref(d->w);
    free(d);
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
 * it was seen `after_ms` ago or more (then it is freed: act on it now). */
static int seen_for(saq_worker_t *w, char *tag, int64_t after_ms, char **next, int64_t *next_ms,
                    size_t *n, int64_t now)
{
    int64_t t = first_seen(w->orphans, w->orphan_ms, w->norphans, tag, now);
    if (now - t >= after_ms && worker_trusts(w)) {
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
        if (saq__job_from_reply(w->q, e, d->ids[i], &j, e2, sizeof e2)) {
            /* a record in active that this worker cannot read (not JSON, not
             * this job's, another transform): nobody can finish it. The same
             * bytes still there after as long as a registry suspect gets (10 s
             * by default; a worker running it would have written them): failed,
             * visibly, its bytes kept, as the dequeue does with such records */
            char *tag = e->type == REDIS_REPLY_STRING && !saq__lease_find(w, d->ids[i], 0)
                            ? saq__sprintf("bad\n%s\n%.*s", d->ids[i], (int)e->len, e->str)
                            : NULL;
            if (tag && seen_for(w, tag, (int64_t)(SUSPECT_CHECKS * 1000.0 * w->set.dead_worker_check),
                                orphans, orphan_ms, &norphans, now))
                saq__settle_unreadable(w->q, d->ids[i], e->str, e->len, e2);
            continue;
        }
        const char *wid = j->worker_id;
        if (j->status == SAQ_STATUS_QUEUED) {
            /* moved to active but never marked: a move whose reply was lost
             * (a crash or a dropped connection between the move and the
             * mark). Unchanged a second later: put it back in the queue,
             * unchanged (no attempt was used). */
            char *tag = saq__sprintf("%s\n%.*s", d->ids[i], (int)e->len, e->str);
            if (tag && seen_for(w, tag, SEEN_AGAIN_MS, orphans, orphan_ms, &norphans, now))
                saq__requeue_unmarked(w->q, d->ids[i], e->str, e->len);
        } else if (j->status == SAQ_STATUS_ACTIVE && wid && !strcmp(wid, w->id) &&
                   !saq__lease_find(w, d->ids[i], 0)) {
            /* marked active by this worker, but no lease holds it: a reply
             * was lost after the write. Seen again a second later: recover it */
            char *tag = saq__sprintf("own\n%s\n%.*s", d->ids[i], (int)e->len, e->str);
            if (tag && seen_for(w, tag, SEEN_AGAIN_MS, orphans, orphan_ms, &norphans, now))
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
            if (k == nmissing && (missing[k] = saq__strdup(wid)))
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
        saq__strv_free(w->suspects, w->nsuspects);
        free(w->suspect_ms);
        w->suspects = missing;
        w->suspect_ms = missing_ms;
        w->nsuspects = nmissing;
        missing = NULL;
        missing_ms = NULL;
    } else {
        /* the dead ones are dealt with: the next refresh forgets them */
        saq__strv_free(w->forget, w->nforget);
        w->forget = d->dead;
        w->nforget = d->ndead;
        d->dead = NULL;
        d->ndead = 0;
    }
    saq__strv_free(missing, nmissing);
    free(missing_ms);
    saq__strv_free(w->orphans, w->norphans);
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
            saq__strv_free(d->w->forget, d->w->nforget);
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
        d->ids[i] = r->element[i]->str ? saq__strdup(r->element[i]->str) : saq__strdup("");
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
        d->live[d->nlive++] = saq__strdup(c ? c + 1 : m);
    }
    /* the active jobs are read only when a worker left the registry since the
     * last check, while one is suspected, or every FULL_PASS_MS */
    int gone = 0;
    for (size_t i = 0; i < w->nprev_live && !gone; i++)
        gone = w->prev_live[i] && !in_list(d->live, d->nlive, w->prev_live[i]);
    saq__strv_free(w->prev_live, w->nprev_live);
    w->prev_live = NULL;
    w->nprev_live = 0;
    char **copy = d->live ? saq__calloc(d->nlive + 1, sizeof *copy) : NULL;
    for (size_t i = 0; copy && i < d->nlive; i++)
        copy[i] = d->live[i] ? saq__strdup(d->live[i]) : NULL;
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
    saq__worker_ref(w);
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

void saq__recovery_dead_tick(uv_timer_t *t)
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
    saq__worker_unref(w);
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
    saq__worker_unref(w);
}

static void watch_check(saq_worker_t *w, const char *id, size_t len)
{
    char *c = saq__strndup(id, len);
    if (!c)
        return;
    const char *argv[2] = {"GET", c};
    saq__worker_ref(w);
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
    saq__tx_reply_t x;
    (void)msg;
    req->aux = NULL;
    if (!err && saq__tx_decode(SCRIPT_ABORT_DUE, r, &x) == SAQ__TX_DUE) {
        if (saq__job_from_reply(w->q, x.record, id, &j, e2, sizeof e2) == 0)
            saq__recover_job(w->q, x.record->str, x.record->len, j, NULL,
                             SAQ__RECOVER_ABORTED, NULL, NULL);
        else { /* aborting, and unreadable to libsaq: failed, visibly, and unwatched */
            saq__settle_unreadable(w->q, id, x.record->str, x.record->len, e2);
            saq__cmdf(&w->q->cmd, NULL, NULL, "ZREM %s %s", w->q->k_abortwatch, id);
        }
        saq_job_free(j);
    } else if (err == SAQ_EREDIS) {
        saq__cmdf(&w->q->cmd, NULL, NULL, "ZREM %s %s", w->q->k_abortwatch, id);
    }
    free(id);
    saq__worker_unref(w);
}

static void abort_due(saq_worker_t *w, const char *id, size_t len)
{
    saq_queue_t *q = w->q;
    char *c = saq__strndup(id, len);
    if (!c)
        return;
    saq__call_t call;
    saq__tx_abort_due(q, c, &call);
    saq__worker_ref(w);
    id_request(w, c, saq__tx_send(q, &call, abort_due_reply, w));
}

/* ---- liveness ---- */

static void alive_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    saq__tx_alive_reply_t x;
    (void)msg;
    w->alive_pending = 0;
    if (err || saq__tx_alive_decode(r, &x) || w->stopping) {
        saq__worker_unref(w);
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
        saq__strv_free(w->orphans, w->norphans);
        free(w->orphan_ms);
        w->orphans = NULL;
        w->orphan_ms = NULL;
        w->norphans = 0;
        saq__strv_free(w->suspects, w->nsuspects);
        free(w->suspect_ms);
        w->suspects = NULL;
        w->suspect_ms = NULL;
        w->nsuspects = 0;
    }
    w->alive_ok_ms = now;
    if (x.has_now)
        w->alive_ok_server = x.now;
    saq__strv_free(w->forget, w->nforget); /* sent with this refresh */
    w->forget = NULL;
    w->nforget = 0;
    redisReply *dead = x.dead, *due = x.due, *aborts = x.aborts;
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
    saq__strv_free(ids, n);
    if (trusted) {
        for (size_t i = 0; i < due->elements; i++)
            if (due->element[i]->type == REDIS_REPLY_STRING)
                watch_check(w, due->element[i]->str, due->element[i]->len);
        for (size_t i = 0; i < aborts->elements; i++)
            if (aborts->element[i]->type == REDIS_REPLY_STRING)
                abort_due(w, aborts->element[i]->str, aborts->element[i]->len);
    }
    saq__worker_unref(w);
}

void saq__recovery_alive_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    if (w->stopping || w->alive_pending)
        return;
    saq__limit_tick(w); /* limit.c's waiting lists: topped up every second */
    saq__call_t c;
    saq__tx_alive(w->q, w->id, (unsigned long long)(4 * saq__timer_ms(w->set.t_alive)), w->forget,
                  w->nforget, &c);
    saq__worker_ref(w);
    w->alive_pending = 1;
    if (!saq__tx_send(w->q, &c, alive_reply, w)) {
        w->alive_pending = 0;
        saq__unref(&w->refs); /* never the last: the timer's holds one */
    }
}
