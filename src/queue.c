/* SPDX-License-Identifier: MIT */
/* The queue object: its I/O thread and private libuv loop, the message inbox
 * other threads post to, the operation framework (one completion per
 * operation, exactly once), record loading/dumping, and saq's finish and
 * retry steps. */
#include "core.h"

#include <math.h>

/* ---- handle checks ---- */

int saq__check_handle(const saq_queue_t *q)
{
    if (!q)
        return SAQ_EINVAL;
    if (q->fork_gen != saq__fork_gen())
        return SAQ_EFORKED;
    if (atomic_load(&q->state) != Q_OPEN)
        return SAQ_ECLOSED;
    return SAQ_OK;
}

int saq__on_loop(const saq_queue_t *q) { return pthread_equal(pthread_self(), q->thread); }

char *saq__id_of(saq_queue_t *q, const char *key) { return saq__sprintf("%s%s", q->k_jobprefix, key); }

const char *saq__key_of(saq_queue_t *q, const char *id)
{
    if (!strncmp(id, q->k_jobprefix, q->jobprefix_len))
        return id + q->jobprefix_len;
    return id;
}

/* ---- inbox ---- */

int saq__post(saq_queue_t *q, saq__msg_t *m)
{
    m->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->inbox_closed) {
        pthread_mutex_unlock(&q->mu);
        return SAQ_ECLOSED;
    }
    if (q->in_tail)
        q->in_tail->next = m;
    else
        q->in_head = m;
    q->in_tail = m;
    uv_async_send(&q->wake); /* under the lock: the handle cannot be closed meanwhile */
    pthread_mutex_unlock(&q->mu);
    return 0;
}

static void teardown(saq_queue_t *q);

static void wake_cb(uv_async_t *a)
{
    saq_queue_t *q = a->data;
    pthread_mutex_lock(&q->mu);
    saq__msg_t *m = q->in_head;
    q->in_head = q->in_tail = NULL;
    int td = q->teardown;
    pthread_mutex_unlock(&q->mu);
    while (m) {
        saq__msg_t *n = m->next;
        m->run(q, m);
        m = n;
    }
    if (td)
        teardown(q);
}

static void handle_closed(uv_handle_t *h) { (void)h; }

static void td_timer_cb(uv_timer_t *t)
{
    saq_queue_t *q = t->data;
    q->td_forced = 1; /* the workers did not finish stopping in time (Redis frozen?) */
    teardown(q);
}

/* Called when the last attached worker detached: resume a waiting teardown. */
void saq__queue_workers_gone(saq_queue_t *q)
{
    if (!uv_is_closing((uv_handle_t *)&q->wake))
        uv_async_send(&q->wake);
}

static void teardown(saq_queue_t *q)
{
    if (uv_is_closing((uv_handle_t *)&q->wake))
        return;
    /* Workers still attached (saq_worker_free returns at once, so the usual
     * saq_worker_free + saq_queue_free ends up here): stop them without a
     * grace period and let them write their jobs' outcomes (retried
     * "cancelled") before the connections close, instead of leaving the jobs
     * active under a worker id nobody renews. Bounded by the hard deadline
     * and the command timeout; settles from handlers are still accepted. */
    if (!q->td_forced && saq__workers_drain(q)) {
        if (!q->td_timer_on) {
            uv_timer_init(&q->loop, &q->td_timer);
            q->td_timer.data = q;
            q->td_timer_on = 1;
            uv_timer_start(&q->td_timer, td_timer_cb, saq__workers_drain_ms(q), 0);
        }
        return;
    }
    if (q->td_timer_on) {
        uv_timer_stop(&q->td_timer);
        uv_close((uv_handle_t *)&q->td_timer, handle_closed);
        q->td_timer_on = 0;
    }
    /* refuse posts from now on, and run the ones that came in meanwhile */
    pthread_mutex_lock(&q->mu);
    q->inbox_closed = 1;
    saq__msg_t *m = q->in_head;
    q->in_head = q->in_tail = NULL;
    pthread_mutex_unlock(&q->mu);
    while (m) {
        saq__msg_t *n = m->next;
        m->run(q, m);
        m = n;
    }
    saq__workers_shutdown(q);
    while (q->ops)
        saq__op_fail(q->ops, SAQ_ECLOSED, "queue closed");
    saq__pubsub_shutdown(q);
    saq__conn_shutdown(&q->cmd, NULL);
    saq__conn_shutdown(&q->sub, NULL);
    uv_close((uv_handle_t *)&q->wake, handle_closed);
}

static void *io_main(void *arg)
{
    saq_queue_t *q = arg;
    uv_run(&q->loop, UV_RUN_DEFAULT);
    /* run once more so close callbacks of late handles complete */
    while (uv_loop_close(&q->loop) == UV_EBUSY)
        uv_run(&q->loop, UV_RUN_NOWAIT);
    pthread_mutex_lock(&q->mu);
    q->io_done = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    saq__queue_unref(q);
    return NULL;
}

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
    free(q->batches);
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
    e = uv_loop_init(&q->loop);
    if (!e && (e = uv_async_init(&q->loop, &q->wake, wake_cb)))
        uv_loop_close(&q->loop); /* only a loop that was made (a failed init undoes itself) */
    if (e) {
        saq__conf_seterr(conf, "cannot create the event loop: %s", uv_strerror(e));
        queue_destroy(q);
        return SAQ_ENOMEM;
    }
    q->wake.data = q;
    saq__pubsub_init(q);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    e = pthread_create(&q->thread, &attr, io_main, q);
    pthread_attr_destroy(&attr);
    if (e) {
        saq__conf_seterr(conf, "cannot start the I/O thread: %s", strerror(e));
        uv_close((uv_handle_t *)&q->wake, NULL);
        uv_run(&q->loop, UV_RUN_NOWAIT);
        uv_loop_close(&q->loop);
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

static void request_teardown(saq_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    if (!q->teardown) {
        q->teardown = 1;
        if (!q->io_done)
            uv_async_send(&q->wake);
    }
    pthread_mutex_unlock(&q->mu);
}

/* Wait until the I/O thread is done (and, with `inflight`, until no operation
 * is in flight either), or until `deadline` (monotonic ms, 0 = none).
 * Returns 0, or -1 when the deadline passed first. */
static int wait_io(saq_queue_t *q, int inflight, uint64_t deadline)
{
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    while ((!inflight || q->inflight > 0) && !q->io_done) {
        uint64_t now = saq__mono_ms();
        if (!deadline) {
            pthread_cond_wait(&q->cv, &q->mu);
        } else if (now >= deadline) {
            rc = -1;
            break;
        } else {
            struct timespec ts;
            saq__abstime(&ts, CLOCK_REALTIME, deadline - now);
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
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
    if (wait_io(q, 1, deadline))
        rc = SAQ_ETIMEDOUT;
    request_teardown(q);
    /* the teardown itself is quick; still, never wait past the deadline by
     * more than a moment (a user callback might be stuck on the I/O thread) */
    uint64_t now = saq__mono_ms();
    if (wait_io(q, 0, deadline ? (now > deadline ? now : deadline) + 2000 : 0))
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
    request_teardown(q);
    saq__queue_unref(q);
}

/* ---- before-enqueue hooks and batches ---- */

SAQ_API int saq_queue_add_before_enqueue(saq_queue_t *q, saq_job_hook_fn fn, void *userdata)
{
    if (!q || !fn)
        return SAQ_EINVAL;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->nhooks; i++) {
        if (q->hooks[i].fn == fn && q->hooks[i].ud == userdata) {
            pthread_mutex_unlock(&q->mu);
            return SAQ_OK;
        }
    }
    saq__hook_t *h = realloc(q->hooks, (q->nhooks + 1) * sizeof *h);
    if (!h) {
        pthread_mutex_unlock(&q->mu);
        return SAQ_ENOMEM;
    }
    q->hooks = h;
    q->hooks[q->nhooks++] = (saq__hook_t){fn, userdata};
    pthread_mutex_unlock(&q->mu);
    return SAQ_OK;
}

SAQ_API int saq_queue_remove_before_enqueue(saq_queue_t *q, saq_job_hook_fn fn, void *userdata)
{
    if (!q || !fn)
        return SAQ_EINVAL;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->nhooks; i++) {
        if (q->hooks[i].fn == fn && q->hooks[i].ud == userdata) {
            memmove(&q->hooks[i], &q->hooks[i + 1], (q->nhooks - i - 1) * sizeof *q->hooks);
            q->nhooks--;
            pthread_mutex_unlock(&q->mu);
            return SAQ_OK;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return SAQ_ENOTFOUND;
}

void saq__batch_record(saq_queue_t *q, const char *key); /* batch.c, mu held */

int saq__prepare_enqueue(saq_queue_t *q, saq_job_t *j, char **msg)
{
    if (j->queue && strcmp(j->queue, q->set.name)) {
        *msg = saq__sprintf("job %s is registered to queue '%s', not '%s'", j->key, j->queue,
                            q->set.name);
        return SAQ_EWRONGQUEUE;
    }
    if (saq__job_set_queue(j, q->set.name))
        return SAQ_ENOMEM;
    j->queued = saq__now_ms();
    j->status = SAQ_STATUS_QUEUED;
    saq__job_invalidate(j);
    pthread_mutex_lock(&q->mu);
    size_t n = q->nhooks;
    saq__hook_t *hooks = n ? saq__malloc(n * sizeof *hooks) : NULL;
    if (n && !hooks) {
        pthread_mutex_unlock(&q->mu);
        return SAQ_ENOMEM;
    }
    if (n)
        memcpy(hooks, q->hooks, n * sizeof *hooks);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < n; i++) {
        if (hooks[i].fn(j, hooks[i].ud)) {
            free(hooks);
            *msg = saq__sprintf("a before-enqueue hook refused job %s", j->key);
            return SAQ_EINVAL;
        }
    }
    free(hooks);
    /* a hook may have changed the key or queue */
    if (j->queue && strcmp(j->queue, q->set.name)) {
        *msg = saq__sprintf("a before-enqueue hook moved job %s to queue '%s'", j->key, j->queue);
        return SAQ_EWRONGQUEUE;
    }
    if (saq__job_set_queue(j, q->set.name))
        return SAQ_ENOMEM;
    free(j->id);
    if (!(j->id = saq__job_make_id(q->set.name, j->key)))
        return SAQ_ENOMEM;
    saq__job_invalidate(j);
    pthread_mutex_lock(&q->mu);
    saq__batch_record(q, j->key);
    pthread_mutex_unlock(&q->mu);
    return SAQ_OK;
}

/* ---- records ---- */

int saq__load_job(saq_queue_t *q, const char *id, const char *data, size_t len, saq_job_t *out,
                  char *err, size_t errlen)
{
    int e;
    if (q->set.load) {
        char *o = NULL;
        size_t ol = 0;
        if (q->set.load(data, len, &o, &ol, q->set.transform_ud) || !o) {
            free(o);
            snprintf(err, errlen, "the load transform failed on a job record");
            return SAQ_EPROTO;
        }
        e = saq__job_parse(out, o, ol, err, errlen);
        free(o);
    } else {
        e = saq__job_parse(out, data, len, err, errlen);
    }
    if (e)
        return e;
    if (!out->queue) {
        if (saq__job_set_queue(out, q->set.name))
            return SAQ_ENOMEM;
    } else if (strcmp(out->queue, q->set.name)) {
        snprintf(err, errlen, "job record %s belongs to queue '%.100s', not '%.100s'",
                 out->key ? out->key : "?", out->queue, q->set.name);
        return SAQ_EWRONGQUEUE;
    }
    if (id) { /* the record must be the one its key names */
        const char *key = saq__key_of(q, id);
        if (!out->key) { /* saq would invent a new key (U15): take the id's */
            if (!(out->key = strdup(key)))
                return SAQ_ENOMEM;
        } else if (strcmp(out->key, key)) {
            snprintf(err, errlen, "the record stored under %.200s says its key is '%.100s'", id,
                     out->key);
            return SAQ_EPROTO;
        }
        free(out->id);
        if (!(out->id = saq__job_make_id(q->set.name, out->key)))
            return SAQ_ENOMEM;
    }
    return 0;
}

char *saq__dump_job(saq_queue_t *q, const saq_job_t *j, size_t *len, int *err)
{
    char *s = saq__job_dump(j, q->set.dialect);
    if (!s) {
        *err = SAQ_ENOMEM;
        return NULL;
    }
    size_t n = strlen(s);
    if (q->set.dump) {
        char *o = NULL;
        size_t ol = 0;
        int r = q->set.dump(s, n, &o, &ol, q->set.transform_ud);
        free(s);
        if (r || !o) {
            free(o);
            *err = SAQ_EPROTO;
            return NULL;
        }
        s = o;
        n = ol;
    }
    if (n > q->set.max_payload) {
        free(s);
        *err = SAQ_ETOOBIG;
        return NULL;
    }
    *len = n;
    *err = 0;
    return s;
}

/* ---- the operation framework ---- */

static void op_run(saq_queue_t *q, saq__msg_t *m)
{
    saq__op_t *op = (saq__op_t *)m;
    op->next = q->ops;
    op->prev = NULL;
    if (q->ops)
        q->ops->prev = op;
    q->ops = op;
    op->linked = 1;
    if (op->ev->status || !op->start)
        saq__op_complete(op);
    else
        op->start(op);
}

saq__op_t *saq__op_new(saq_queue_t *q, size_t size, int type, saq_cq_t *cq, uint64_t tag,
                       void (*start)(saq__op_t *), void (*destroy)(saq__op_t *))
{
    saq__op_t *op = saq__calloc(1, size);
    if (!op)
        return NULL;
    op->ev = saq__event_new(type, tag);
    if (!op->ev) {
        free(op);
        return NULL;
    }
    op->q = q;
    op->cq = cq;
    op->tag = tag;
    op->refs = 1;
    op->start = start;
    op->destroy = destroy;
    op->msg.run = op_run;
    saq__cq_ref(cq);
    return op;
}

static void op_free(saq__op_t *op)
{
    if (op->destroy)
        op->destroy(op);
    saq_event_free(op->ev);
    if (op->cq)
        saq__cq_unref(op->cq);
    free(op);
}

int saq__op_submit(saq__op_t *op)
{
    saq_queue_t *q = op->q;
    int e = saq__check_handle(q);
    if (!e && !saq__cq_usable(op->cq))
        e = SAQ_EINVAL;
    if (!e) {
        op->counted = !saq__cq_internal(op->cq);
        if (op->counted) {
            pthread_mutex_lock(&q->mu);
            q->inflight++;
            pthread_mutex_unlock(&q->mu);
        }
        e = saq__post(q, &op->msg);
        if (e && op->counted) {
            pthread_mutex_lock(&q->mu);
            q->inflight--;
            pthread_cond_broadcast(&q->cv);
            pthread_mutex_unlock(&q->mu);
            op->counted = 0;
        }
    }
    if (e)
        op_free(op);
    return e;
}

void saq__op_ref(saq__op_t *op) { op->refs++; }

void saq__op_unref(saq__op_t *op)
{
    if (--op->refs == 0)
        op_free(op);
}

static void permit_granted(saq__twaiter_t *w)
{
    saq__op_t *op = (saq__op_t *)((char *)w - offsetof(saq__op_t, tw));
    op->permit = 1;
    op->granted(op);
}

void saq__op_with_permit(saq__op_t *op, void (*fn)(saq__op_t *op))
{
    op->granted = fn;
    op->tw.grant = permit_granted;
    if (saq__throttle_acquire(&op->q->throttle, &op->tw)) {
        op->permit = 1;
        fn(op);
    } else {
        op->permit = -1;
    }
}

void saq__op_release_permit(saq__op_t *op)
{
    if (op->permit == 1) {
        op->permit = 0;
        saq__throttle_release(&op->q->throttle);
    } else if (op->permit == -1) {
        op->permit = 0;
        saq__throttle_cancel(&op->q->throttle, &op->tw);
    }
}

void saq__op_complete(saq__op_t *op)
{
    if (op->done)
        return;
    op->done = 1;
    saq_queue_t *q = op->q;
    saq__op_release_permit(op);
    if (op->linked) {
        if (op->prev)
            op->prev->next = op->next;
        else
            q->ops = op->next;
        if (op->next)
            op->next->prev = op->prev;
        op->linked = 0;
    }
    saq_event_t *ev = op->ev;
    op->ev = NULL;
    saq__cq_push(op->cq, ev);
    saq__cq_unref(op->cq);
    op->cq = NULL;
    if (op->counted) {
        pthread_mutex_lock(&q->mu);
        q->inflight--;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        op->counted = 0;
    }
    saq__op_unref(op);
}

void saq__op_fail(saq__op_t *op, int err, const char *fmt, ...)
{
    if (op->done)
        return;
    op->ev->status = err;
    free(op->ev->errmsg);
    va_list ap;
    va_start(ap, fmt);
    op->ev->errmsg = saq__vsprintf(fmt, ap);
    va_end(ap);
    saq__op_complete(op);
}

static void op_tramp(saq__req_t *req, redisReply *reply, int err, const char *msg)
{
    saq__op_t *op = req->data;
    saq__op_reply_fn fn = (saq__op_reply_fn)req->aux;
    if (!op->done)
        fn(op, req, reply, err, msg);
    saq__op_unref(op);
}

saq__req_t *saq__op_cmd(saq__op_t *op, saq__op_reply_fn cb, intptr_t idata, int argc,
                        const char **argv, const size_t *argvlen)
{
    op->refs++;
    saq__req_t *r = saq__cmd(&op->q->cmd, op_tramp, op, 0, argc, argv, argvlen);
    if (!r) {
        op->refs--;
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return NULL;
    }
    r->aux = (void *)cb;
    r->idata = idata;
    return r;
}

saq__req_t *saq__op_eval(saq__op_t *op, int script, saq__op_reply_fn cb, intptr_t idata, int nkeys,
                         int nargs, const char **argv, const size_t *argvlen)
{
    op->refs++;
    saq__req_t *r = saq__eval(&op->q->cmd, script, op_tramp, op, nkeys, nargs, argv, argvlen);
    if (!r) {
        op->refs--;
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return NULL;
    }
    r->aux = (void *)cb;
    r->idata = idata;
    return r;
}
