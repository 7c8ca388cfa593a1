/* SPDX-License-Identifier: MIT */
/* The queue object and its public API: creation (key names, settings, the
 * I/O thread), close and free, name and dialect, the before-enqueue hook
 * list; and saq's finish and retry steps. */
#include "core.h"

#include <math.h>

/* ---- lifecycle ---- */

static void queue_destroy(saq_queue_t *q)
{
    saq__settings_free(&q->set);
    free(q->k_jobprefix);
    free(q->k_incomplete);
    free(q->k_queued);
    free(q->k_active);
    free(q->k_schedule);
    free(q->k_sweep);
    free(q->k_stats);
    free(q->k_alive);
    free(q->k_watch);
    free(q->k_abortwatch);
    free(q->k_wiprefix);
    free(q->k_statsprefix);
    free(q->k_pattern);
    free(q->hooks);
    free(q->ihooks);
    free(q->chans);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

void saq__queue_unref(saq_queue_t *q)
{
    if (atomic_fetch_sub(&q->refs, 1) == 1)
        queue_destroy(q);
}

SAQ_API int saq_queue_open(saq_queue_t **out, saq_conf_t *conf)
{
    if (!out) {
        saq__conf_seterr(conf, "out must not be NULL");
        return SAQ_EINVAL;
    }
    *out = NULL;
    if (uv_version() < UV_VERSION_HEX) {
        saq__conf_seterr(conf, "libuv %s in this process is older than %d.%d.%d, which libsaq needs",
                         uv_version_string(), UV_VERSION_MAJOR, UV_VERSION_MINOR, UV_VERSION_PATCH);
        return SAQ_EUVVERSION;
    }
    saq_queue_t *q = saq__calloc(1, sizeof *q);
    if (!q) {
        saq__conf_seterr(conf, "out of memory");
        return SAQ_ENOMEM;
    }
    int e = saq__settings_from_conf(&q->set, conf);
    if (e) {
        free(q);
        return e;
    }
    const char *n = q->set.name;
    q->k_jobprefix = saq__sprintf("saq:job:%s:", n);
    q->k_incomplete = saq__sprintf("saq:%s:incomplete", n);
    q->k_queued = saq__sprintf("saq:%s:queued", n);
    q->k_active = saq__sprintf("saq:%s:active", n);
    q->k_schedule = saq__sprintf("saq:%s:schedule", n);
    q->k_sweep = saq__sprintf("saq:%s:sweep", n);
    q->k_stats = saq__sprintf("saq:%s:stats", n);
    q->k_alive = saq__sprintf("saq:%s:libsaq:alive", n);
    q->k_watch = saq__sprintf("saq:%s:libsaq:sweeping", n);
    q->k_abortwatch = saq__sprintf("saq:%s:libsaq:aborting", n);
    q->k_wiprefix = saq__sprintf("saq:%s:worker_info:", n);
    q->k_statsprefix = saq__sprintf("saq:%s:stats:", n);
    q->k_pattern = saq__sprintf("saq:job:%s*", n);
    if (!q->k_jobprefix || !q->k_incomplete || !q->k_queued || !q->k_active || !q->k_schedule ||
        !q->k_sweep || !q->k_stats || !q->k_alive || !q->k_watch || !q->k_abortwatch || !q->k_wiprefix || !q->k_statsprefix || !q->k_pattern) {
        saq__conf_seterr(conf, "out of memory");
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->cv, NULL);
        queue_destroy(q);
        return SAQ_ENOMEM;
    }
    q->jobprefix_len = strlen(q->k_jobprefix);
    q->fork_gen = saq__fork_gen();
    q->created_ms = saq__now_ms();
    saq__uuid1(q->uuid);
    atomic_init(&q->refs, 2); /* the caller and the I/O thread */
    atomic_init(&q->state, Q_OPEN);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    saq__throttle_init(&q->throttle, q->set.max_concurrent_ops);
    saq__conn_init(&q->cmd, q, ROLE_CMD);
    saq__conn_init(&q->sub, q, ROLE_SUB);
    e = saq__loop_init(q);
    if (e) {
        saq__conf_seterr(conf, "cannot create the event loop: %s", uv_strerror(e));
        queue_destroy(q);
        return SAQ_ENOMEM;
    }
    saq__pubsub_init(q);
    saq__op_attach_pending(q);
    /* the I/O thread's reference is dropped when it ends */
    if ((e = saq__loop_start(q, saq__queue_unref))) {
        saq__conf_seterr(conf, "cannot start the I/O thread: %s", strerror(e));
        queue_destroy(q);
        return SAQ_ENOMEM;
    }
    *out = q;
    return SAQ_OK;
}

SAQ_API saq_queue_t *saq_queue_new(saq_conf_t *conf)
{
    saq_queue_t *q = NULL;
    saq_queue_open(&q, conf);
    return q;
}

SAQ_API saq_queue_t *saq_queue_from_url(const char *url, const char *name)
{
    saq_conf_t *c = saq_conf_new();
    if (!c)
        return NULL;
    saq_queue_t *q = NULL;
    if ((!url || saq_conf_set(c, "url", url) == 0) && (!name || saq_conf_set(c, "name", name) == 0))
        q = saq_queue_new(c);
    saq_conf_free(c);
    return q;
}

SAQ_API const char *saq_queue_name(const saq_queue_t *q) { return q ? q->set.name : NULL; }

SAQ_API const char *saq_queue_dialect(const saq_queue_t *q)
{
    return !q ? NULL : q->set.dialect == SAQ__DIALECT_013 ? "0.13" : "0.26";
}

SAQ_API int saq_queue_close(saq_queue_t *q, int timeout_ms)
{
    if (!q)
        return SAQ_EINVAL;
    if (q->fork_gen != saq__fork_gen())
        return SAQ_EFORKED;
    if (saq__on_loop(q))
        return SAQ_ESTATE;
    int expected = Q_OPEN;
    atomic_compare_exchange_strong(&q->state, &expected, Q_CLOSING);
    int rc = SAQ_OK;
    uint64_t deadline = timeout_ms < 0 ? 0 : saq__mono_ms() + (uint64_t)timeout_ms;
    if (saq__loop_wait(q, 1, deadline))
        rc = SAQ_ETIMEDOUT;
    saq__loop_stop(q);
    /* the teardown itself is quick; still, never wait past the deadline by
     * more than a moment (a user callback might be stuck on the I/O thread) */
    uint64_t now = saq__mono_ms();
    if (saq__loop_wait(q, 0, deadline ? (now > deadline ? now : deadline) + 2000 : 0))
        rc = SAQ_ETIMEDOUT;
    atomic_store(&q->state, Q_DEAD);
    return rc;
}

SAQ_API void saq_queue_free(saq_queue_t *q)
{
    if (!q)
        return;
    if (q->fork_gen != saq__fork_gen()) {
        /* in a forked child the I/O thread does not exist: keep the memory
         * (another thread of the parent may have held locks), release nothing
         * that the parent still uses */
        return;
    }
    atomic_store(&q->state, Q_DEAD);
    saq__loop_stop(q);
    saq__queue_unref(q);
}

/* ---- before-enqueue hooks ---- */

/* Add (fn, ud) to a hook list unless it is there already (q->mu held). */
static int hook_add(saq__hook_t **hooks, size_t *n, saq_job_hook_fn fn, void *ud)
{
    for (size_t i = 0; i < *n; i++)
        if ((*hooks)[i].fn == fn && (*hooks)[i].ud == ud)
            return SAQ_OK;
    saq__hook_t *h = realloc(*hooks, (*n + 1) * sizeof *h);
    if (!h)
        return SAQ_ENOMEM;
    *hooks = h;
    h[(*n)++] = (saq__hook_t){fn, ud};
    return SAQ_OK;
}

/* Remove (fn, ud) from a hook list, keeping the order (q->mu held). */
static int hook_remove(saq__hook_t *hooks, size_t *n, saq_job_hook_fn fn, void *ud)
{
    for (size_t i = 0; i < *n; i++) {
        if (hooks[i].fn == fn && hooks[i].ud == ud) {
            memmove(&hooks[i], &hooks[i + 1], (*n - i - 1) * sizeof *hooks);
            (*n)--;
            return SAQ_OK;
        }
    }
    return SAQ_ENOTFOUND;
}

SAQ_API int saq_queue_add_before_enqueue(saq_queue_t *q, saq_job_hook_fn fn, void *userdata)
{
    if (!q || !fn)
        return SAQ_EINVAL;
    pthread_mutex_lock(&q->mu);
    int e = hook_add(&q->hooks, &q->nhooks, fn, userdata);
    pthread_mutex_unlock(&q->mu);
    return e;
}

SAQ_API int saq_queue_remove_before_enqueue(saq_queue_t *q, saq_job_hook_fn fn, void *userdata)
{
    if (!q || !fn)
        return SAQ_EINVAL;
    pthread_mutex_lock(&q->mu);
    int e = hook_remove(q->hooks, &q->nhooks, fn, userdata);
    pthread_mutex_unlock(&q->mu);
    return e;
}

int saq__queue_add_hook(saq_queue_t *q, saq_job_hook_fn fn, void *ud)
{
    pthread_mutex_lock(&q->mu);
    int e = hook_add(&q->ihooks, &q->nihooks, fn, ud);
    pthread_mutex_unlock(&q->mu);
    return e;
}

int saq__queue_remove_hook(saq_queue_t *q, saq_job_hook_fn fn, void *ud)
{
    pthread_mutex_lock(&q->mu);
    int e = hook_remove(q->ihooks, &q->nihooks, fn, ud);
    pthread_mutex_unlock(&q->mu);
    return e;
}

/* ---- finish / retry / recover primitives ---- */

typedef struct prim {
    saq_queue_t *q;
    saq__done_fn done;
    void *ud;
    int status;     /* finish: the status; retry: -1 */
} prim_t;

void saq__count_finish(saq_queue_t *q, int status)
{
    if (status == SAQ_STATUS_COMPLETE)
        atomic_fetch_add(&q->n_complete, 1);
    else if (status == SAQ_STATUS_FAILED)
        atomic_fetch_add(&q->n_failed, 1);
    else if (status == SAQ_STATUS_ABORTED)
        atomic_fetch_add(&q->n_aborted, 1);
}

static void prim_reply(saq__req_t *req, redisReply *rep, int err, const char *msg)
{
    prim_t *p = req->data;
    long long result = 0;
    const char *m = msg;
    if (!err && rep) {
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
            rep->element[0]->type == REDIS_REPLY_INTEGER) {
            result = rep->element[0]->integer;
            if (rep->elements > 1 && rep->element[1]->type == REDIS_REPLY_STRING)
                m = rep->element[1]->str;
        } else if (rep->type == REDIS_REPLY_INTEGER) {
            result = rep->integer;
        }
        if (result == 1) {
            if (p->status >= 0)
                saq__count_finish(p->q, p->status);
            else if (p->status == -1)
                atomic_fetch_add(&p->q->n_retried, 1);
            else if (p->status == -2)
                atomic_fetch_add(&p->q->n_retried, 1);
        }
    }
    if (p->done)
        p->done(p->ud, err, m, result);
    free(p);
}

static prim_t *prim_new(saq_queue_t *q, saq__done_fn done, void *ud, int status)
{
    prim_t *p = saq__malloc(sizeof *p);
    if (p)
        *p = (prim_t){q, done, ud, status};
    else if (done)
        done(ud, SAQ_ENOMEM, "out of memory", 0);
    return p;
}

void saq__finish_job(saq_queue_t *q, saq_job_t *j, int status, const char *result,
                     const char *error, const saq__guard_t *guard, int flags, saq__done_fn done,
                     void *ud)
{
    int e;
    size_t len;
    j->status = status;
    if (saq__set_str(&j->result, result) || saq__set_str(&j->error, error)) {
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", 0);
        return;
    }
    j->completed = saq__now_ms();
    if (status == SAQ_STATUS_COMPLETE)
        j->progress = 1.0;
    saq__job_invalidate(j);
    char *json = saq__dump_job(q, j, &len, &e);
    if (!json) {
        if (done)
            done(ud, e, e == SAQ_ETOOBIG ? "job result exceeds max_payload_bytes" : saq_strerror(e), 0);
        return;
    }
    prim_t *p = prim_new(q, done, ud, status);
    if (!p) {
        free(json);
        return;
    }
    char ttl[24], att[24], st[24];
    snprintf(ttl, sizeof ttl, "%d", j->ttl);
    snprintf(att, sizeof att, "%d", guard ? guard->attempts : 0);
    snprintf(st, sizeof st, "%lld", guard ? (long long)guard->started : 0LL);
    char *marker = saq__sprintf("saq:abort:%s", j->key);
    const char *argv[13] = {q->k_active, q->k_incomplete, j->id, marker ? marker : "",
                            json, ttl, saq__status_name(status), guard ? "1" : "0", att, st,
                            guard && q->set.dialect == SAQ__DIALECT_013 ? "1" : "0",
                            (flags & SAQ__DEL_MARKER) ? "1" : "0",
                            guard && guard->expect ? guard->expect : ""};
    size_t lens[13];
    for (int i = 0; i < 13; i++)
        lens[i] = i == 4 ? len : i == 12 && guard && guard->expect ? guard->expect_len : strlen(argv[i]);
    if (!saq__eval(&q->cmd, SCRIPT_FINISH, prim_reply, p, 4, 13, argv, lens)) {
        free(p);
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", 0);
    }
    free(marker);
    free(json);
}

void saq__retry_job(saq_queue_t *q, saq_job_t *j, const char *error, const saq__guard_t *guard,
                    saq__done_fn done, void *ud)
{
    int e;
    size_t len;
    j->status = SAQ_STATUS_QUEUED;
    if (saq__set_str(&j->error, error)) {
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", 0);
        return;
    }
    j->completed = 0;
    j->started = 0;
    j->progress = 0;
    j->touched = saq__now_ms();
    saq__job_invalidate(j);
    double delay = saq__retry_delay(j, saq__random01());
    char score[40];
    if (delay > 0)
        saq__fmt_double(score, saq__now_s() + delay);
    else
        strcpy(score, "0"); /* pushed now: score 0, never promoted twice (saq U1) */
    char *json = saq__dump_job(q, j, &len, &e);
    if (!json) {
        if (done)
            done(ud, e, saq_strerror(e), 0);
        return;
    }
    prim_t *p = prim_new(q, done, ud, -1);
    if (!p) {
        free(json);
        return;
    }
    char att[24], st[24];
    snprintf(att, sizeof att, "%d", guard ? guard->attempts : 0);
    snprintf(st, sizeof st, "%lld", guard ? (long long)guard->started : 0LL);
    char *marker = saq__sprintf("saq:abort:%s", j->key);
    const char *argv[13] = {q->k_active, q->k_queued, q->k_incomplete, j->id, marker ? marker : "",
                            json, score, delay > 0 ? "0" : "1", guard ? "1" : "0", att, st,
                            guard && q->set.dialect == SAQ__DIALECT_013 ? "1" : "0",
                            guard && guard->expect ? guard->expect : ""};
    size_t lens[13];
    for (int i = 0; i < 13; i++)
        lens[i] = i == 5 ? len : i == 12 && guard && guard->expect ? guard->expect_len : strlen(argv[i]);
    if (!saq__eval(&q->cmd, SCRIPT_RETRY, prim_reply, p, 5, 13, argv, lens)) {
        free(p);
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", 0);
    }
    free(marker);
    free(json);
}

/* Put a job that was moved to `active` but never marked back in the queue,
 * byte for byte as it is (compare-and-set on the record as read). */
void saq__requeue_unmarked(saq_queue_t *q, const char *id, const char *rec, size_t reclen)
{
    prim_t *p = prim_new(q, NULL, NULL, -3);
    if (!p)
        return;
    const char *argv[11] = {q->k_active, q->k_queued, q->k_incomplete, id, rec, rec,
                            "retry", "0", "1", "0", "queued"};
    size_t lens[11];
    for (int i = 0; i < 11; i++)
        lens[i] = i == 4 || i == 5 ? reclen : strlen(argv[i]);
    if (!saq__eval(&q->cmd, SCRIPT_RECOVER, prim_reply, p, 4, 11, argv, lens))
        free(p);
}

void saq__recover_job(saq_queue_t *q, const char *old, size_t oldlen, saq_job_t *j,
                      const char *error, int flags, saq__done_fn done, void *ud)
{
    int e, retry = j->retries > j->attempts && !(flags & SAQ__RECOVER_ABORTED);
    size_t len;
    char score[40] = "0";
    int push = 1;
    if (error && saq__set_str(&j->error, error)) {
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", 0);
        return;
    }
    if (retry) {
        j->status = SAQ_STATUS_QUEUED;
        j->completed = j->started = 0;
        j->progress = 0;
        j->touched = saq__now_ms();
        double delay = saq__retry_delay(j, saq__random01());
        if (delay > 0) {
            saq__fmt_double(score, saq__now_s() + delay);
            push = 0;
        }
    } else {
        j->status = SAQ_STATUS_ABORTED;
        free(j->result);
        j->result = NULL;
        j->completed = saq__now_ms();
    }
    saq__job_invalidate(j);
    char *json = saq__dump_job(q, j, &len, &e);
    if (!json) {
        if (e == SAQ_ETOOBIG) /* the recovered record would not fit: settle it failed */
            saq__settle_unreadable(q, j->id, old, oldlen, "it does not fit in max_payload_bytes once recovered");
        if (done)
            done(ud, e, saq_strerror(e), 0);
        return;
    }
    prim_t *p = prim_new(q, done, ud, retry ? -2 : SAQ_STATUS_ABORTED);
    if (!p) {
        free(json);
        return;
    }
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", j->ttl);
    int unlisted = flags & (SAQ__RECOVER_UNLISTED | SAQ__RECOVER_ABORTED);
    const char *watch = flags & SAQ__RECOVER_ABORTED ? q->k_abortwatch : q->k_watch;
    const char *argv[13] = {q->k_active, q->k_queued, q->k_incomplete, j->id, watch, old, json,
                            retry ? "retry" : "finish", score, push ? "1" : "0", ttl, "aborted", "1"};
    size_t lens[13];
    for (int i = 0; i < 13; i++)
        lens[i] = i == 5 ? oldlen : i == 6 ? len : strlen(argv[i]);
    /* without UNLISTED: 4 keys and 7 arguments (the watch set is not touched) */
    const char *argv4[11];
    size_t lens4[11];
    for (int i = 0, k = 0; i < 13; i++)
        if (i != 4 && i != 12)
            argv4[k] = argv[i], lens4[k++] = lens[i];
    if (!(unlisted ? saq__eval(&q->cmd, SCRIPT_RECOVER, prim_reply, p, 5, 13, argv, lens)
                   : saq__eval(&q->cmd, SCRIPT_RECOVER, prim_reply, p, 4, 11, argv4, lens4))) {
        free(p);
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", 0);
    }
    free(json);
}

void saq__settle_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                            const char *why)
{
    enum { KEEP_S = 86400 };
    if (strncmp(id, q->k_jobprefix, q->jobprefix_len) || !id[q->jobprefix_len]) {
        /* not one of this queue's job ids (pushed into the list by hand, or
         * another queue's): drop it from active, touch the key not */
        saq__cmdf(&q->cmd, NULL, NULL, "LREM %s 1 %s", q->k_active, id);
        fprintf(stderr, "libsaq: warning: queue %s: '%s' in its list is not one of its job ids; dropped\n",
                q->set.name, id);
        return;
    }
    saq_job_t j;
    saq__job_init(&j);
    const char *key = id + q->jobprefix_len;
    char *msg = saq__sprintf("libsaq: the job's record cannot be read (%s); it was failed instead of "
                             "being left in active. The record as it was is kept for %d s in "
                             "saq:%s:libsaq:unreadable:%s",
                             why, KEEP_S, q->set.name, key);
    char *keep = saq__sprintf("saq:%s:libsaq:unreadable:%s", q->set.name, key);
    int e = 0;
    size_t len = 0;
    char *json = NULL;
    if (msg && keep && !saq__set_str(&j.id, id) && !saq__set_str(&j.key, key) &&
        !saq__set_str(&j.queue, q->set.name) && !saq__set_str(&j.function, "?") &&
        !saq__set_str(&j.error, msg)) {
        j.status = SAQ_STATUS_FAILED;
        j.completed = j.touched = saq__now_ms();
        j.ttl = KEEP_S;
        json = saq__dump_job(q, &j, &len, &e);
    }
    prim_t *p = json ? prim_new(q, NULL, NULL, SAQ_STATUS_FAILED) : NULL;
    if (p) {
        char ttl[16];
        snprintf(ttl, sizeof ttl, "%d", (int)KEEP_S);
        const char *argv[7] = {q->k_active, q->k_incomplete, id, keep, rec, json, ttl};
        size_t lens[7];
        for (int i = 0; i < 7; i++)
            lens[i] = i == 4 ? reclen : i == 5 ? len : strlen(argv[i]);
        if (!saq__eval(&q->cmd, SCRIPT_UNREADABLE, prim_reply, p, 4, 7, argv, lens))
            free(p);
    }
    fprintf(stderr, "libsaq: warning: queue %s: job %s: %s%s\n", q->set.name, id, msg ? msg : why,
            p ? "" : " (could not be settled: out of memory)");
    free(json);
    free(msg);
    free(keep);
    saq__job_clear(&j);
}
