/* SPDX-License-Identifier: MIT */
/* The worker's periodic duties (spec 4.4): cron jobs and the scheduled-job
 * move (schedule timer), the saq registry entry (worker_info), the sweep,
 * and the abort and heartbeat checks of the running leases (abort timer).
 * Each is a timer callback with the worker in t->data; what they enqueue or
 * run goes through the queue's ordinary operations on the worker's internal
 * completion queue, whose failures are counted in the worker's errors. */
#include "worker.h"

#include <math.h>

/* Tags of the worker's own cron bookkeeping on its internal cq (the low 32
 * bits: the cron job's index); its other requests carry tag 0. */
#define CRON_CHECK_TAG (UINT64_C(1) << 62) /* the read of a unique cron job's stored run */
#define CRON_MOVE_TAG (UINT64_C(1) << 61)  /* the delete of a stored run due at another time */
#define CRON_TAG_INDEX(t) ((size_t)((t) & 0xffffffffu))
/* A stored run due later than this many seconds from now can be moved: the
 * schedule timer cannot have handed it to a worker before the delete lands. */
#define CRON_MOVE_MARGIN_S 5

static void enqueue_cron(saq_worker_t *w, size_t i, int64_t now_s)
{
    saq__cron_entry_t *c = &w->crons[i];
    int64_t next = saq__cron_next_in(&c->c, now_s, c->tz ? saq__tz_offset : NULL, c->tz);
    if (next < 0)
        return;
    saq_job_t *j = saq_job_new(c->function);
    if (!j)
        return;
    char *k = c->unique ? saq__sprintf("cron:%s", c->function) : NULL;
    if (k)
        saq_job_set_key(j, k);
    saq_job_set_scheduled(j, (double)next);
    if (c->kwargs)
        saq_job_set_kwargs(j, c->kwargs);
    if (c->has_timeout)
        saq_job_set_timeout(j, c->timeout);
    if (c->has_heartbeat)
        saq_job_set_heartbeat(j, c->heartbeat);
    if (c->has_retries)
        saq_job_set_retries(j, c->retries);
    if (c->has_ttl)
        saq_job_set_ttl(j, c->ttl);
    saq_queue_enqueue(w->q, j, w->icq, 0);
    saq_job_free(j);
    /* the first time: read the stored run (the enqueue above kept one that exists), which a
     * worker with another expression or zone for this function may have scheduled */
    if (k && !c->checked) {
        c->checked = 1;
        saq_queue_job(w->q, k, w->icq, CRON_CHECK_TAG | i);
    }
    free(k);
}

/* The stored run of unique cron job i, read at the worker's first schedule tick: when it still
 * waits (queued, never tried, due later than CRON_MOVE_MARGIN_S) for another time than this
 * worker's expression and zone give, it is deleted and enqueued again at this worker's time,
 * so the cron job registered last (a new cron_tz, a new expression) decides the next run. */
static void cron_stored(saq_worker_t *w, uint64_t tag, const saq_job_t *j)
{
    size_t i = CRON_TAG_INDEX(tag);
    if (i >= w->ncrons)
        return;
    saq__cron_entry_t *c = &w->crons[i];
    int64_t now_s = (int64_t)floor(saq__now_s());
    if (tag & CRON_MOVE_TAG) { /* deleted: at this worker's time now */
        enqueue_cron(w, i, now_s);
        return;
    }
    int64_t next = saq__cron_next_in(&c->c, now_s, c->tz ? saq__tz_offset : NULL, c->tz);
    if (!j || next < 0 || j->status != SAQ_STATUS_QUEUED || j->attempts || !j->function ||
        strcmp(j->function, c->function) || j->scheduled < (double)(now_s + CRON_MOVE_MARGIN_S) ||
        llround(j->scheduled) == next)
        return;
    saq_queue_delete(w->q, j->key, 0, 0, w->icq, CRON_MOVE_TAG | i);
}

int saq__upkeep_icq_cb(saq_event_t *ev, void *ud)
{
    saq_worker_t *w = ud;
    uint64_t tag = saq_event_tag(ev);
    int st = saq_event_status(ev);
    if ((tag & (CRON_CHECK_TAG | CRON_MOVE_TAG)) && !st)
        cron_stored(w, tag, saq_event_job(ev));
    else if (st && st != SAQ_ECLOSED &&
             !((tag & (CRON_CHECK_TAG | CRON_MOVE_TAG)) && (st == SAQ_ENOTFOUND || st == SAQ_ESTATE)))
        w->errors++; /* (a stored run that is gone, or runs, is not moved: no error) */
    saq_event_free(ev);
    return 0;
}

static int lock_s(double t) { return t < 1 ? 1 : (int)ceil(t); }

/* A lock a little shorter than the timer period: with a lock as long as the
 * period (saq's choice), a tick that lands a hair before the previous lock
 * expires is skipped, and the work happens every other period. */
static long long lock_ms_for(double period_s)
{
    long long ms = (long long)(period_s * 1000 * 0.9);
    return ms < 50 ? 50 : ms;
}

void saq__upkeep_schedule_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    int64_t now_s = (int64_t)floor(saq__now_s());
    for (size_t i = 0; i < w->ncrons; i++)
        enqueue_cron(w, i, now_s);
    saq__queue_schedule_ms(w->q, lock_ms_for(w->set.t_schedule), w->icq, 0);
}

double saq__upkeep_info_every(const saq_worker_t *w)
{
    return w->set.t_worker_info > 1 ? 1.0 : w->set.t_worker_info;
}

void saq__upkeep_info_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    saq_queue_t *q = w->q;
    saq__flow_tick(q); /* flows' periodic check (about once a second) */
    long long seen[4] = {atomic_load(&q->n_complete), atomic_load(&q->n_failed), atomic_load(&q->n_retried),
                         atomic_load(&q->n_aborted)};
    uint64_t now = saq__mono_ms();
    /* saq's period, or sooner when the counters changed since the last write */
    if (w->info_at && now - w->info_at + 50 < saq__timer_ms(w->set.t_worker_info) &&
        !memcmp(seen, w->info_seen, sizeof seen))
        return;
    char *stats = saq__stats_json(q);
    if (!stats)
        return;
    saq__write_registry(q, w->id, stats, w->set.metadata, lock_s(w->set.t_worker_info + 1), 1, NULL, NULL);
    saq__overview_sample(q); /* after the write, so the sample has this worker's counters */
    free(stats);
    w->info_at = now;
    memcpy(w->info_seen, seen, sizeof seen);
}

void saq__upkeep_sweep_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    saq__queue_sweep_ms(w->q, lock_ms_for(w->set.t_sweep), 5.0, w->set.swept_msg, w->icq, 0);
}

/* ---- abort and heartbeat checks ---- */

/* The lease of w numbered `id` (saq__lease.id), or NULL when it is gone. */
static saq__lease_t *lease_by_id(saq_worker_t *w, uint64_t id)
{
    saq__link_t *k;
    saq__list_each(k, &w->leases) {
        saq__lease_t *l = saq__container_of(k, saq__lease_t, link);
        if (l->id == id)
            return l;
    }
    return NULL;
}

static void abort_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_worker_t *w = req->data;
    uint64_t *ids = req->aux;
    size_t n = (size_t)req->idata;
    (void)msg;
    if (!err && r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements && i < n; i++) {
            saq__lease_t *l = lease_by_id(w, ids[i]);
            redisReply *e = r->element[i];
            if (!l || e->type != REDIS_REPLY_STRING || l->state != SAQ__LEASE_RUNNING)
                continue;
            if (w->q->set.dialect == SAQ__DIALECT_013) { /* a marker exists */
                saq__lease_cancel(l, SAQ_CANCEL_ABORTED, e->str);
                continue;
            }
            saq_job_t *j = NULL;
            char e2[200];
            if (saq__job_from_reply(w->q, e, l->shadow.id, &j, e2, sizeof e2))
                continue;
            if (j->status == SAQ_STATUS_ABORTING || j->status == SAQ_STATUS_ABORTED)
                saq__lease_cancel(l, SAQ_CANCEL_ABORTED, j->error ? j->error : "abort");
            else if (j->attempts != l->guard.attempts || j->started != l->guard.started)
                saq__lease_cancel(l, SAQ_CANCEL_LOST, NULL); /* swept and restarted elsewhere */
            saq_job_free(j);
        }
    }
    free(ids);
    saq__worker_unref(w);
}

void saq__upkeep_abort_tick(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    int64_t now = saq__now_ms();
    size_t n = 0;
    saq__link_t *lk, *tmp;
    saq__list_each_safe(lk, tmp, &w->leases) { /* a cancel may end the lease at once */
        saq__lease_t *l = saq__container_of(lk, saq__lease_t, link);
        if (l->state != SAQ__LEASE_RUNNING)
            continue;
        /* heartbeat enforced locally: the handler must touch within `heartbeat` s */
        if (l->shadow.heartbeat > 0 && !atomic_load(&l->cancelled) &&
            (now - l->touched_ms) / 1000.0 > l->shadow.heartbeat) {
            saq__lease_cancel(l, SAQ_CANCEL_HEARTBEAT, NULL);
            continue;
        }
        if (now - l->guard.started >= w->set.t_abort * 1000)
            n++;
    }
    if (!n)
        return;
    const char **argv = saq__malloc((n + 1) * sizeof *argv);
    char **keys = saq__calloc(n, sizeof *keys);
    uint64_t *ids = saq__malloc(n * sizeof *ids);
    if (!argv || !keys || !ids)
        goto out;
    argv[0] = "MGET";
    size_t k = 0;
    saq__list_each(lk, &w->leases) {
        saq__lease_t *l = saq__container_of(lk, saq__lease_t, link);
        if (k >= n)
            break;
        if (l->state != SAQ__LEASE_RUNNING ||
            now - l->guard.started < w->set.t_abort * 1000 ||
            (l->shadow.heartbeat > 0 && atomic_load(&l->cancelled) == SAQ_CANCEL_HEARTBEAT))
            continue;
        keys[k] = w->q->set.dialect == SAQ__DIALECT_013 ? saq__tx_marker(w->q, l->shadow.key)
                                                         : saq__strdup(l->shadow.id);
        argv[k + 1] = keys[k] ? keys[k] : "";
        ids[k] = l->id;
        k++;
    }
    if (!k)
        goto out;
    saq__worker_ref(w);
    saq__req_t *r = saq__cmd(&w->q->cmd, abort_reply, w, 0, (int)k + 1, argv, NULL);
    if (r) {
        r->aux = ids;
        r->idata = (intptr_t)k;
        ids = NULL;
    } else {
        saq__unref(&w->refs); /* never the last: the timer's holds one */
    }
out:
    for (size_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    free(argv);
    free(ids);
}

/* The cron_tz option: a zone name (string), or null or "" for UTC. 1, 0 for a
 * bad value, -2 for a name that is no zone (the reason in err). */
static int cron_tz_option(saq__cron_entry_t *c, const char *v, size_t vn, char *err, size_t errlen)
{
    saq__tz_free(c->tz);
    c->tz = NULL;
    c->tz_given = 1;
    if (vn == 4 && !memcmp(v, "null", 4))
        return 1;
    char *zone = saq__json_name(v, vn);
    if (!zone)
        return 0;
    if (!*zone) {
        free(zone);
        return 1;
    }
    c->tz = saq__tz_open(zone, err, errlen);
    free(zone);
    return c->tz ? 1 : -2;
}

int saq__cron_options(saq__cron_entry_t *c, const char *options_json, char *err, size_t errlen)
{
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    char e2[200];
    if (saq__json_validate(options_json, strlen(options_json), 'o', e2, sizeof e2)) {
        snprintf(err, errlen, "cron options: %s", e2);
        return SAQ_EJSON;
    }
    saq__jobj_begin(&it, options_json, strlen(options_json), NULL, 0);
    while (saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0) == 1) {
        char *name = saq__json_name(k, kn);
        double d = 0;
        int num = saq__json_number(v, vn, &d) == 0 && isfinite(d);
        int ok = 1;
        if (!name) { /* or out of memory */
            snprintf(err, errlen, "cron option names must be strings without \\u0000");
            return SAQ_EINVAL;
        }
        if (!strcmp(name, "kwargs")) {
            ok = v[0] == '{' || (vn == 4 && !memcmp(v, "null", 4));
            free(c->kwargs);
            c->kwargs = NULL;
            if (ok && v[0] == '{' && !(c->kwargs = saq__strndup(v, vn)))
                ok = 0;
        } else if (!strcmp(name, "timeout"))
            ok = num && d >= 0, c->timeout = d, c->has_timeout = 1;
        else if (!strcmp(name, "heartbeat"))
            ok = num && d >= 0, c->heartbeat = d, c->has_heartbeat = 1;
        else if (!strcmp(name, "retries"))
            ok = num && d >= 0 && d <= INT32_MAX && d == floor(d),
            c->retries = ok ? (int)d : 0, c->has_retries = 1;
        else if (!strcmp(name, "ttl"))
            ok = num && d >= INT32_MIN && d <= INT32_MAX && d == floor(d),
            c->ttl = ok ? (int)d : 0, c->has_ttl = 1;
        else if (!strcmp(name, "unique"))
            ok = (vn == 4 && !memcmp(v, "true", 4)) || (vn == 5 && !memcmp(v, "false", 5)),
            c->unique = v[0] == 't';
        else if (!strcmp(name, "cron_tz"))
            ok = cron_tz_option(c, v, vn, err, errlen);
        else
            ok = -1;
        if (ok == -2) { /* a string naming no zone: err has the reason */
            free(name);
            return SAQ_ECRON;
        }
        if (ok != 1) {
            snprintf(err, errlen,
                     ok < 0                       ? "cron option '%s' is not one of kwargs, timeout, heartbeat, retries, ttl, unique, cron_tz"
                     : !strcmp(name, "cron_tz") ? "cron option '%s' must be a string (an IANA zone name) or null"
                                                  : "cron option '%s' has a bad value",
                     name);
            free(name);
            return ok < 0 ? SAQ_EINVAL : SAQ_EJSON;
        }
        free(name);
    }
    return SAQ_OK;
}
