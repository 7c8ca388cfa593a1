/* SPDX-License-Identifier: MIT */
/* The queue object and its public API: creation (key names, settings, the
 * I/O thread), close and free, name and dialect, the before-enqueue hook
 * list; and saq's finish and retry steps. */
#include "core.h"

#include <math.h>

/* ---- lifecycle ---- */

static void queue_destroy(saq_queue_t *q)
{
    saq__topo_free(q);
    saq__enq_batch_free(q);
    saq__settings_free(&q->set);
    saq__tls_ctx_free(q->tls);
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
    free(q->k_samples);
    free(q->k_paused);
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
    if (saq__unref(&q->refs))
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
    int e = saq__settings_from_conf(&q->set, conf, 1);
    if (e) {
        free(q);
        return e;
    }
    if (q->set.url.tls.enabled) { /* certificate and key files are read now */
        char *m = NULL;
        if ((e = saq__tls_ctx_new(&q->set.url.tls, &q->tls, &m))) {
            saq__conf_seterr(conf, "%s", m ? m : "out of memory");
            free(m);
            saq__settings_free(&q->set);
            free(q);
            return e;
        }
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
    q->k_samples = saq__sprintf("saq:%s:libsaq:samples", n);
    q->k_paused = saq__sprintf("saq:%s:libsaq:paused", n);
    q->k_wiprefix = saq__sprintf("saq:%s:worker_info:", n);
    q->k_statsprefix = saq__sprintf("saq:%s:stats:", n);
    q->k_pattern = saq__sprintf("saq:job:%s*", n);
    if (!q->k_jobprefix || !q->k_incomplete || !q->k_queued || !q->k_active || !q->k_schedule ||
        !q->k_sweep || !q->k_stats || !q->k_alive || !q->k_watch || !q->k_abortwatch || !q->k_samples || !q->k_paused || !q->k_wiprefix || !q->k_statsprefix || !q->k_pattern) {
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
    char *tm = NULL;
    if ((e = saq__topo_init(q, &tm))) {
        saq__conf_seterr(conf, "%s", tm ? tm : "out of memory");
        free(tm);
        queue_destroy(q);
        return e;
    }
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
    saq__hook_t *h = saq__realloc(*hooks, (*n + 1) * sizeof *h);
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
