/* SPDX-License-Identifier: MIT */
/* The SAQ worker's public API (saq_worker_*) and its lifecycle: creation
 * and registration, start (the upkeep and recovery timers, the first pump),
 * the graceful stop (no more dequeues, a grace period, then the running jobs
 * are cancelled and written back), the detach from the queue, and the
 * queue teardown's drain. The work itself is in the files core.h lists
 * under "The worker": dequeue.c takes jobs, lease.c runs and settles them,
 * upkeep.c and recovery.c keep the queue healthy. Everything that touches
 * Redis runs on the queue's I/O thread; handlers never do: C handlers run on
 * the worker's pool threads (pool.c), pull-mode jobs are LEASE events on a
 * completion queue, and both settle from any thread. A worker of several
 * queues (saq_worker_add_queue) is its primary plus a member worker per added
 * queue, each on its own queue's thread, sharing one slot budget (group.c):
 * the calls here cover every member. */
#include "worker.h"

#include <signal.h>
#include <time.h>

static void begin_stop(saq_worker_t *w);
static void worker_check_stopped(saq_worker_t *w);
static char *stats_text(saq_worker_t *w);

static void pump_soon_cb(uv_prepare_t *p)
{
    uv_prepare_stop(p);
    saq__dequeue_pump(p->data);
}

/* A zero-delay timer, so before the loop next polls whatever phase the
 * FINISHes were decided in (the settles among its I/O callbacks, a timer's
 * cancel): them as one call, then the dequeue for the slots they freed, both
 * written out when the loop next prepares to poll. */
static void flush_cb(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    saq__worker_ref(w);
    saq__leases_flush(w);
    saq__dequeue_pump(w);
    saq__worker_unref(w);
}

/* saq__worker_poke: the lower layers' news (a slot freed, something ended). */
static void worker_poke(saq_worker_t *w, int what)
{
    if (what & SAQ__POKE_PUMP)
        saq__dequeue_pump(w);
    /* started after the connection's own prepare (sock.c) in this turn, so it
     * runs first (libuv runs the newest first): its dequeue goes out in the
     * same write as what freed the slot */
    else if ((what & SAQ__POKE_PUMP_SOON) && w->attached && !uv_is_closing((uv_handle_t *)&w->p_pump))
        uv_prepare_start(&w->p_pump, pump_soon_cb);
    if ((what & SAQ__POKE_FLUSH) && saq__worker_can_flush(w) && !uv_is_active((uv_handle_t *)&w->t_flush))
        uv_timer_start(&w->t_flush, flush_cb, 0, 0);
    if (what & SAQ__POKE_CHECK)
        worker_check_stopped(w);
}

SAQ_API int saq_worker_open(saq_worker_t **out, saq_queue_t *q, saq_conf_t *conf)
{
    if (!out) {
        saq__conf_seterr(conf, "out must not be NULL");
        return SAQ_EINVAL;
    }
    *out = NULL;
    int e = saq__check_handle(q);
    if (e) {
        saq__conf_seterr(conf, "%s", saq_strerror(e));
        return e;
    }
    saq_worker_t *w = saq__calloc(1, sizeof *w);
    if (!w) {
        saq__conf_seterr(conf, "out of memory");
        return SAQ_ENOMEM;
    }
    saq__list_init(&w->leases);
    saq__list_init(&w->fin_pending);
    if ((e = saq__settings_from_conf(&w->set, conf, 0))) {
        free(w);
        return e;
    }
    if (w->set.burst && !(w->set.dequeue_timeout > 0)) {
        saq__conf_seterr(conf, "burst mode needs dequeue_timeout > 0 (as saq)");
        saq__settings_free(&w->set);
        free(w);
        return SAQ_EINVAL;
    }
    if (w->set.max_burst_jobs && w->set.concurrency > w->set.max_burst_jobs)
        w->set.concurrency = w->set.max_burst_jobs; /* saq caps concurrency in burst mode */
    char id[37];
    saq__uuid1(id);
    w->id = saq__strdup(w->set.worker_id ? w->set.worker_id : id);
    if (!w->id || !(w->eff = saq__settings_export(&q->set, &w->set, w->id))) {
        free(w->id);
        saq__conf_seterr(conf, "out of memory");
        saq__settings_free(&w->set);
        free(w);
        return SAQ_ENOMEM;
    }
    w->q = q;
    saq__ref(&q->refs); /* the worker holds one on its queue */
    atomic_init(&w->refs, 1);
    atomic_init(&w->grace_ms, -1);
    pthread_mutex_init(&w->mu, NULL);
    saq__wmetrics_init(&w->metrics);
    pthread_cond_init(&w->cv, NULL);
    saq__conn_init(&w->block, q, ROLE_BLOCK);
    w->poke = worker_poke;
    *out = w;
    return SAQ_OK;
}

SAQ_API saq_worker_t *saq_worker_new(saq_queue_t *q, saq_conf_t *conf)
{
    saq_worker_t *w = NULL;
    saq_worker_open(&w, q, conf);
    return w;
}

SAQ_API const char *saq_worker_id(const saq_worker_t *w) { return w ? w->id : NULL; }
SAQ_API const char *saq_worker_errmsg(const saq_worker_t *w) { return w && w->errmsg ? w->errmsg : ""; }
SAQ_API const char *saq_worker_conf_get(const saq_worker_t *w, const char *key)
{
    return w ? saq_conf_get(w->eff, key) : NULL;
}

static int add_fn(saq_worker_t *w, const char *function, saq_handler_fn fn, void *ud)
{
    if (!w)
        return SAQ_EINVAL;
    if (!function || !*function) {
        saq__worker_seterr(w, "function name must be a non-empty string");
        return SAQ_EINVAL;
    }
    if (!saq__utf8_valid(function, strlen(function))) { /* a job's function, read from JSON, never is */
        saq__worker_seterr(w, "function name must be valid UTF-8");
        return SAQ_EINVAL;
    }
    if (atomic_load(&w->started)) {
        saq__worker_seterr(w, "functions must be registered before the worker starts");
        return SAQ_ESTATE;
    }
    saq__fn_entry_t *f = saq__worker_find_fn(w, function);
    if (!f) {
        saq__fn_entry_t *n = saq__realloc(w->fns, (w->nfns + 1) * sizeof *n);
        if (!n)
            return SAQ_ENOMEM;
        w->fns = n;
        f = &w->fns[w->nfns];
        if (!(f->name = saq__strdup(function)))
            return SAQ_ENOMEM;
        w->nfns++;
    }
    f->fn = fn;
    f->ud = ud;
    return SAQ_OK;
}

SAQ_API int saq_worker_register(saq_worker_t *w, const char *function, saq_handler_fn fn,
                                void *userdata)
{
    if (w && !fn) {
        saq__worker_seterr(w, "handler must not be NULL (use saq_worker_register_pull for pull mode)");
        return SAQ_EINVAL;
    }
    return add_fn(w, function, fn, userdata);
}

SAQ_API int saq_worker_register_pull(saq_worker_t *w, const char *function)
{
    return add_fn(w, function, NULL, NULL);
}

SAQ_API int saq_worker_add_cron(saq_worker_t *w, const char *function, const char *cron,
                                const char *options_json)
{
    char err[240];
    int e;
    if (!w)
        return SAQ_EINVAL;
    if (atomic_load(&w->started)) {
        saq__worker_seterr(w, "cron jobs must be added before the worker starts");
        return SAQ_ESTATE;
    }
    if (!function || !*function || !cron) {
        saq__worker_seterr(w, "function and cron expression must be non-empty strings");
        return SAQ_EINVAL;
    }
    saq__cron_entry_t c = {0};
    c.unique = 1;
    if (saq__cron_parse(cron, &c.c, err, sizeof err)) {
        saq__worker_seterr(w, "%s", err);
        return SAQ_ECRON;
    }
    if (options_json && (e = saq__cron_options(&c, options_json, err, sizeof err))) {
        saq__worker_seterr(w, "%s", err);
        free(c.kwargs);
        saq__tz_free(c.tz);
        return e;
    }
    if (!c.tz_given && w->set.cron_tz && !(c.tz = saq__tz_open(w->set.cron_tz, err, sizeof err))) {
        saq__worker_seterr(w, "%s", err); /* (the conf checked it) */
        free(c.kwargs);
        return SAQ_ECRON;
    }
    if (saq__cron_next_in(&c.c, (int64_t)saq__now_s(), c.tz ? saq__tz_offset : NULL, c.tz) < 0) {
        saq__worker_seterr(w, "cron '%.64s' never fires (no matching date in the next 50 years)", cron);
        free(c.kwargs);
        saq__tz_free(c.tz);
        return SAQ_ECRON;
    }
    c.function = saq__strdup(function);
    c.expr = saq__strdup(cron);
    for (size_t i = 0; c.unique && i < w->ncrons; i++) { /* the same key cron:<function>: replaced */
        saq__cron_entry_t *old = &w->crons[i];
        if (!old->unique || strcmp(old->function, function))
            continue;
        if (!c.function || !c.expr) {
            free(c.function);
            free(c.expr);
            free(c.kwargs);
            saq__tz_free(c.tz);
            return SAQ_ENOMEM;
        }
        free(old->function);
        free(old->expr);
        free(old->kwargs);
        saq__tz_free(old->tz);
        *old = c;
        return SAQ_OK;
    }
    saq__cron_entry_t *n = saq__realloc(w->crons, (w->ncrons + 1) * sizeof *n);
    if (!c.function || !c.expr || !n) {
        free(c.function);
        free(c.expr);
        free(c.kwargs);
        saq__tz_free(c.tz);
        if (n)
            w->crons = n;
        return SAQ_ENOMEM;
    }
    w->crons = n;
    w->crons[w->ncrons++] = c;
    return SAQ_OK;
}

SAQ_API int saq_worker_add_hook(saq_worker_t *w, int kind, saq_hook_fn fn, void *userdata)
{
    if (!w || !fn || kind < SAQ_HOOK_STARTUP || kind > SAQ_HOOK_AFTER_PROCESS)
        return SAQ_EINVAL;
    if (atomic_load(&w->started))
        return SAQ_ESTATE;
    saq__hook_entry_t *h = saq__realloc(w->hooks, (w->nhooks + 1) * sizeof *h);
    if (!h)
        return SAQ_ENOMEM;
    w->hooks = h;
    w->hooks[w->nhooks++] = (saq__hook_entry_t){kind, fn, userdata};
    return SAQ_OK;
}

static void worker_handle_closed(uv_handle_t *h)
{
    saq_worker_t *w = h->data;
    if (--w->handles_open == 0)
        saq__worker_unref(w); /* the loop's reference */
}

static void block_timer_closed(uv_handle_t *h)
{
    saq_worker_t *w = (saq_worker_t *)((char *)h - offsetof(saq_worker_t, block.timer));
    if (--w->handles_open == 0)
        saq__worker_unref(w); /* the loop's reference */
}

static void close_handles(saq_worker_t *w)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&w->t_schedule,
                         (uv_handle_t *)&w->t_info,   (uv_handle_t *)&w->t_sweep,
                         (uv_handle_t *)&w->t_abort,  (uv_handle_t *)&w->t_dead,
                         (uv_handle_t *)&w->t_grace,  (uv_handle_t *)&w->t_retry,
                         (uv_handle_t *)&w->t_alive,  (uv_handle_t *)&w->t_pause,
                         (uv_handle_t *)&w->p_pump,   (uv_handle_t *)&w->t_flush};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], worker_handle_closed);
}

/* The whole worker has stopped (every member of several): the pool ends after
 * its last tasks, the host hears it, saq_worker_wait returns. Any member's
 * loop thread (the last to stop), or the starting thread. */
static void worker_end(saq_worker_t *w)
{
    if (w->pool) {
        saq__pool_quit(w->pool);
        w->pool = NULL;
    }
    /* The final figures first, then the host hears it: a host may free the worker, and close
     * its queues, as soon as WORKER_STOPPED arrives or saq_worker_wait returns, so w (and the
     * queues the figures read) are not touched after that; the cq is held for the push. */
    saq_cq_t *cq = w->cq;
    uint64_t tag = w->tag;
    if (cq)
        saq__cq_ref(cq);
    char *fin = stats_text(w); /* what saq_worker_stats_json says from now on */
    pthread_mutex_lock(&w->mu);
    w->stopped = 1;
    free(w->final_stats);
    w->final_stats = fin;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (cq) {
        saq__cq_push(cq, saq__event_new(SAQ_EVENT_WORKER_STOPPED, tag));
        saq__cq_unref(cq);
    }
}

/* Tell the log that the worker (one queue's member of several) started or stopped. */
static void log_life(saq_worker_t *w, int started)
{
    saq_worker_t *p = saq__worker_public(w);
    if (!saq__log_on(w->q, SAQ_LOG_INFO))
        return;
    saq__buf_t b = {0};
    for (size_t i = 0; i < p->nfns; i++)
        saq__buf_printf(&b, "%s%s", i ? "," : "", p->fns[i].name);
    char *fns = saq__buf_take(&b);
    if (started)
        saq__log_emit(w->q, SAQ_LOG_INFO, 0,
                      SAQ__LF(SAQ__LS("worker", w->id), SAQ__LN("concurrency", p->set.concurrency),
                              SAQ__LS("functions", fns ? fns : "")),
                      "worker started (concurrency %d; functions: %s)", p->set.concurrency,
                      fns && *fns ? fns : "none");
    else
        saq__log_emit(w->q, SAQ_LOG_INFO, 0, SAQ__LF(SAQ__LS("worker", w->id)),
                      "worker stopped");
    free(fns);
}

/* Detach from the queue: the worker has stopped. */
static void worker_finish(saq_worker_t *w)
{
    if (!w->attached)
        return;
    w->attached = 0;
    log_life(w, 0);
    saq_queue_t *q = w->q;
    saq__loop_detach(q, &w->att); /* a teardown may be waiting for this */
    /* the dequeue connection's timer lives inside the worker: count its close
     * like the worker's own handles, so the worker outlives it */
    if (saq__conn_shutdown(&w->block, block_timer_closed))
        w->handles_open++;
    if (w->icq) {
        saq_cq_free(w->icq);
        w->icq = NULL;
    }
    /* a member of several: the whole worker ends with the last one */
    int last = !w->group || saq__group_finished(w);
    close_handles(w);
    if (last)
        worker_end(saq__worker_public(w));
}

static void worker_check_stopped(saq_worker_t *w)
{
    if (!w->attached)
        return;
    if (w->burst_done && !w->stopping && saq__list_empty(&w->leases) && !w->slots) {
        begin_stop(w); /* burst: drained and everything finished */
        return;
    }
    if (w->stopping && saq__list_empty(&w->leases) && !w->slots && !w->dequeuing && !w->blocking &&
        !w->giving && !w->limit_pending)
        worker_finish(w);
}

static void grace_expired(uv_timer_t *t)
{
    saq_worker_t *w = t->data;
    w->grace_over = 1;
    saq__link_t *k, *tmp;
    saq__list_each_safe(k, tmp, &w->leases) { /* a cancel may end the lease at once */
        saq__lease_t *l = saq__container_of(k, saq__lease_t, link);
        if (l->state == SAQ__LEASE_RUNNING)
            saq__lease_cancel(l, SAQ_CANCEL_SHUTDOWN, NULL);
    }
}

static void begin_stop(saq_worker_t *w)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    saq__group_leave(w); /* a member's grant goes to the others */
    uv_timer_stop(&w->t_schedule);
    uv_timer_stop(&w->t_info);
    uv_timer_stop(&w->t_sweep);
    uv_timer_stop(&w->t_dead);
    uv_timer_stop(&w->t_alive);
    uv_timer_stop(&w->t_pause);
    uv_timer_stop(&w->t_retry);
    saq__dequeue_unblock(w);
    int g = atomic_load(&w->grace_ms);
    double grace = g >= 0 ? g / 1000.0 : w->set.grace_s;
    uv_timer_start(&w->t_grace, grace_expired, saq__timer_ms(grace), 0);
    worker_check_stopped(w);
}

typedef struct stop_msg {
    saq__msg_t msg;
    saq_worker_t *w;
} stop_msg_t;

static void stop_run(saq_queue_t *q, saq__msg_t *m)
{
    saq_worker_t *w = ((stop_msg_t *)m)->w;
    (void)q;
    free(m);
    if (w->attached && w->stopping) {
        /* a later stop with a shorter grace (a second Ctrl-C) shortens it */
        int g = atomic_load(&w->grace_ms);
        uint64_t due = uv_timer_get_due_in(&w->t_grace);
        if (g >= 0 && (uint64_t)g < due)
            uv_timer_start(&w->t_grace, grace_expired, (uint64_t)g, 0);
    } else if (w->attached) {
        begin_stop(w);
    }
    saq__worker_unref(w);
}

static void start_timer(saq_worker_t *w, uv_timer_t *t, uv_timer_cb cb, double every_s)
{
    uv_timer_init(&w->q->loop, t);
    t->data = w;
    w->handles_open++;
    if (cb && every_s > 0)
        uv_timer_start(t, cb, 0, saq__timer_ms(every_s)); /* immediately, then every period */
}

typedef struct start_msg {
    saq__msg_t msg;
    saq_worker_t *w;
} start_msg_t;

static void worker_drain(saq__attachment_t *a);
static uint64_t worker_drain_ms(saq__attachment_t *a);
static void worker_shutdown(saq__attachment_t *a);
static const saq__attachment_vt_t worker_attachment = {worker_drain, worker_drain_ms, worker_shutdown};

static void start_run(saq_queue_t *q, saq__msg_t *m)
{
    saq_worker_t *w = ((start_msg_t *)m)->w;
    free(m);
    w->attached = 1;
    saq__loop_attach(q, &w->att, &worker_attachment);
    saq__worker_ref(w); /* the loop's reference, dropped when handles are closed */
    start_timer(w, &w->t_schedule, saq__upkeep_schedule_tick, w->set.t_schedule);
    start_timer(w, &w->t_info, saq__upkeep_info_tick, saq__upkeep_info_every(w));
    start_timer(w, &w->t_sweep, saq__upkeep_sweep_tick, w->set.t_sweep);
    start_timer(w, &w->t_abort, saq__upkeep_abort_tick, w->set.t_abort);
    start_timer(w, &w->t_dead, saq__recovery_dead_tick, w->set.dead_worker_check);
    start_timer(w, &w->t_alive, saq__recovery_alive_tick, w->set.t_alive);
    start_timer(w, &w->t_grace, NULL, 0);
    start_timer(w, &w->t_retry, NULL, 0);
    start_timer(w, &w->t_pause, NULL, 0);
    uv_prepare_init(&q->loop, &w->p_pump);
    w->p_pump.data = w;
    uv_timer_init(&q->loop, &w->t_flush);
    w->t_flush.data = w;
    w->handles_open += 2;
    /* no job before the queue's pause flag was read; a member joins its group then (the
     * budget is shared once all have joined) */
    if (!saq__pause_watch(w))
        saq__group_join(w, 0);
    log_life(w, 1);
    if (atomic_load(&w->stop_req))
        begin_stop(w);
    else
        saq__dequeue_pump(w);
    saq__worker_unref(w); /* the start message's reference */
}

/* A start that could not reach the I/O thread: the worker counts as stopped,
 * so saq_worker_wait returns instead of waiting for a loop that never ran. */
static void start_failed(saq_worker_t *w, int startup_ran)
{
    pthread_mutex_lock(&w->mu);
    w->stopped = 1;
    if (!startup_ran)
        w->shutdown_ran = 1; /* no SHUTDOWN hooks without STARTUP ones */
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* A member that could not start: counted as stopped by its group (the last
 * one to stop ends the whole worker). */
static void member_start_failed(saq_worker_t *m)
{
    saq__group_join(m, 1);
    if (saq__group_finished(m))
        worker_end(saq__worker_public(m));
}

/* Give member i >= 1 of w's group what it shares with the primary (the cq,
 * the pool) and its own internal cq. SAQ_ENOMEM, or SAQ_OK. */
static int member_prepare(saq_worker_t *w, saq_worker_t *m)
{
    m->cq = w->cq;
    m->tag = w->tag;
    if (m->cq)
        saq__cq_ref(m->cq);
    m->pool = w->pool; /* borrowed: the primary's group quits it with its last member */
    m->icq = saq_cq_new_callback(saq__upkeep_icq_cb, m);
    if (!m->icq)
        return SAQ_ENOMEM;
    saq__cq_set_internal(m->icq);
    atomic_store(&m->started, 1);
    return SAQ_OK;
}

SAQ_API int saq_worker_start(saq_worker_t *w, saq_cq_t *cq, uint64_t tag)
{
    if (!w)
        return SAQ_EINVAL;
    size_t n = saq__group_size(w->group);
    for (size_t i = 0; i < n; i++) { /* every queue must be usable before anything starts */
        int e = saq__check_handle(i ? saq__group_member(w->group, i)->q : w->q);
        if (e)
            return e;
    }
    int need_cq = 0, need_pool = 0;
    for (size_t i = 0; i < w->nfns; i++) {
        if (!w->fns[i].fn)
            need_cq = 1;
        else
            need_pool = 1;
    }
    if (need_cq && !saq__cq_usable(cq)) {
        saq__worker_seterr(w, "pull-mode functions need a completion queue");
        return SAQ_EINVAL;
    }
    for (size_t i = 0; i < w->ncrons; i++) {
        if (!saq__worker_find_fn(w, w->crons[i].function)) {
            saq__worker_seterr(w, "cron job '%s' has no registered function", w->crons[i].function);
            return SAQ_EINVAL;
        }
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&w->started, &expected, 1)) {
        saq__worker_seterr(w, "the worker was already started");
        return SAQ_ESTATE;
    }
    w->cq = cq;
    w->tag = tag;
    if (cq)
        saq__cq_ref(cq);
    w->icq = saq_cq_new_callback(saq__upkeep_icq_cb, w);
    if (w->icq)
        saq__cq_set_internal(w->icq);
    if (need_pool) /* one pool for every queue: concurrency is the total */
        w->pool = saq__pool_new(w->set.concurrency);
    start_msg_t **ms = saq__calloc(n, sizeof *ms);
    int oom = !w->icq || (need_pool && !w->pool) || !ms;
    for (size_t i = 0; !oom && i < n; i++)
        oom = !(ms[i] = saq__calloc(1, sizeof *ms[i])) ||
              (i && member_prepare(w, saq__group_member(w->group, i)));
    if (oom) {
        for (size_t i = 0; ms && i < n; i++)
            free(ms[i]);
        free(ms);
        saq__worker_seterr(w, "out of memory");
        for (size_t i = 1; i < n; i++) { /* never attached: their internal cqs go now */
            saq_worker_t *m = saq__group_member(w->group, i);
            saq_cq_free(m->icq);
            m->icq = NULL;
        }
        start_failed(w, 0);
        return SAQ_ENOMEM;
    }
    saq__worker_run_hooks(w, SAQ_HOOK_STARTUP, NULL);
    int rc = SAQ_OK;
    for (size_t i = 0; i < n; i++) {
        saq_worker_t *m = i ? saq__group_member(w->group, i) : w;
        ms[i]->msg.run = start_run;
        ms[i]->w = m;
        saq__worker_ref(m);
        int e = saq__post(m->q, &ms[i]->msg);
        if (!e)
            continue;
        saq__unref(&m->refs); /* never the last: the caller (or the group) holds one */
        free(ms[i]);
        rc = e;
        saq__worker_seterr(w, "the queue was closed while the worker started");
        if (!w->group) {
            start_failed(w, 1); /* its SHUTDOWN hooks run in saq_worker_wait, after the STARTUP ones */
        } else {
            member_start_failed(m);
        }
    }
    free(ms);
    if (rc && w->group)
        saq_worker_stop(w, 0); /* the other queues stop too */
    return rc;
}

/* Ask one worker (a member of several, or the only one) to stop. */
static int stop_one(saq_worker_t *w, int grace_ms)
{
    if (grace_ms >= 0)
        atomic_store(&w->grace_ms, grace_ms);
    int again = atomic_exchange(&w->stop_req, 1);
    if (!atomic_load(&w->started) || (again && grace_ms < 0))
        return SAQ_OK; /* the start message will see the flag, or nothing new to say */
    stop_msg_t *m = saq__calloc(1, sizeof *m);
    if (!m)
        return SAQ_ENOMEM;
    m->msg.run = stop_run;
    m->w = w;
    saq__worker_ref(w);
    if (saq__post(w->q, &m->msg)) { /* queue gone: the worker is already stopped */
        saq__unref(&w->refs); /* never the last: the caller holds one */
        free(m);
    }
    return SAQ_OK;
}

SAQ_API int saq_worker_stop(saq_worker_t *w, int grace_ms)
{
    if (!w)
        return SAQ_EINVAL;
    if (w->q->fork_gen != saq__fork_gen())
        return SAQ_EFORKED;
    int rc = stop_one(w, grace_ms);
    for (size_t i = 1; i < saq__group_size(w->group); i++) {
        int e = stop_one(saq__group_member(w->group, i), grace_ms);
        rc = rc ? rc : e;
    }
    return rc;
}

SAQ_API int saq_worker_wait(saq_worker_t *w, int timeout_ms)
{
    if (!w)
        return SAQ_EINVAL;
    if (w->q->fork_gen != saq__fork_gen())
        return SAQ_EFORKED;
    if (!atomic_load(&w->started))
        return SAQ_ESTATE;
    for (size_t i = 0; i < saq__group_size(w->group); i++)
        if (saq__on_loop(i ? saq__group_member(w->group, i)->q : w->q))
            return SAQ_ESTATE;
    struct timespec ts;
    saq__abstime(&ts, CLOCK_REALTIME, timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
    pthread_mutex_lock(&w->mu);
    while (!w->stopped) {
        if (timeout_ms == 0)
            break;
        if (timeout_ms < 0)
            pthread_cond_wait(&w->cv, &w->mu);
        else if (pthread_cond_timedwait(&w->cv, &w->mu, &ts))
            break;
    }
    int stopped = w->stopped, run = stopped && !w->shutdown_ran;
    if (run)
        w->shutdown_ran = 1;
    pthread_mutex_unlock(&w->mu);
    if (run)
        saq__worker_run_hooks(w, SAQ_HOOK_SHUTDOWN, NULL);
    return stopped ? SAQ_OK : SAQ_ETIMEDOUT;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

SAQ_API int saq_worker_run(saq_worker_t *w)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int e = saq_worker_start(w, NULL, 0);
    if (e)
        return e;
    got_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* the handler only sets a flag; this thread turns it into a stop */
    while ((e = saq_worker_wait(w, 100)) == SAQ_ETIMEDOUT)
        if (got_signal)
            saq_worker_stop(w, -1);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return e;
}

/* A multi-queue worker's counters: the sums over its queues, then each
 * queue's own (name, member id, counters, running, errors). */
static char *group_stats_json(saq_worker_t *w)
{
    saq__buf_t b = {0}, per = {0};
    long long sum[4] = {0}, errors = 0;
    int running = 0;
    saq__buf_putc(&per, '[');
    for (size_t i = 0; i < saq__group_size(w->group); i++) {
        saq_worker_t *m = i ? saq__group_member(w->group, i) : w;
        saq_queue_t *q = m->q;
        long long c[4] = {atomic_load(&q->n_complete), atomic_load(&q->n_failed), atomic_load(&q->n_retried),
                          atomic_load(&q->n_aborted)};
        int r = atomic_load(&m->running);
        long long e = atomic_load(&m->errors);
        for (int k = 0; k < 4; k++)
            sum[k] += c[k];
        running += r;
        errors += e;
        saq__buf_puts(&per, i ? ", {\"name\": " : "{\"name\": ");
        saq__buf_json_str(&per, q->set.name);
        saq__buf_puts(&per, ", \"id\": ");
        saq__buf_json_str(&per, m->id);
        saq__buf_printf(&per, ", \"complete\": %lld, \"failed\": %lld, \"retried\": %lld, \"aborted\": %lld, "
                              "\"running\": %d, \"errors\": %lld}",
                        c[0], c[1], c[2], c[3], r, e);
    }
    saq__buf_putc(&per, ']');
    char *list = saq__buf_take(&per);
    if (list)
        saq__buf_printf(&b, "{\"complete\": %lld, \"failed\": %lld, \"retried\": %lld, \"aborted\": %lld, "
                            "\"uptime\": %lld, \"running\": %d, \"errors\": %lld, \"queues\": %s}",
                        sum[0], sum[1], sum[2], sum[3], (long long)(saq__now_ms() - w->q->created_ms), running,
                        errors, list);
    free(list);
    return list ? saq__buf_take(&b) : NULL;
}

/* The counters now (saq_worker_stats_json's text while the worker has not stopped). */
static char *stats_text(saq_worker_t *w)
{
    char *base = w->group ? NULL : saq__stats_json(w->q);
    char *s = w->group ? group_stats_json(w)
              : base   ? saq__sprintf("%.*s, \"running\": %d, \"errors\": %lld}", (int)strlen(base) - 1, base,
                                      atomic_load(&w->running), (long long)atomic_load(&w->errors))
                       : NULL;
    free(base);
    return s;
}

SAQ_API const char *saq_worker_stats_json(saq_worker_t *w)
{
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->mu);
    char *s = w->final_stats ? saq__strdup(w->final_stats) : NULL;
    int stopped = w->final_stats != NULL;
    pthread_mutex_unlock(&w->mu);
    if (!stopped) /* the counters go on; once stopped, the final ones stay */
        s = stats_text(w);
    pthread_mutex_lock(&w->mu);
    free(w->stats_cache);
    w->stats_cache = s;
    pthread_mutex_unlock(&w->mu);
    return w->stats_cache;
}

SAQ_API const char *saq_worker_metrics(saq_worker_t *w)
{
    if (!w)
        return NULL;
    w = saq__worker_public(w);
    size_t nq = w->group ? saq__group_size(w->group) : 1;
    saq__buf_t b = {0};
    for (size_t i = 0; i < nq; i++) /* every registered function has its series from the start */
        for (size_t f = 0; f < w->nfns; f++)
            saq__wmetrics_touch(&w->metrics, (i ? saq__group_member(w->group, i) : w)->q->set.name,
                                w->fns[f].name);
    saq__wmetrics_render(&w->metrics, &b);
    saq__prom_family(&b, "saq_jobs_running", "gauge", "Jobs this worker is running now, by queue.");
    for (size_t i = 0; i < nq; i++) {
        saq_worker_t *m = i ? saq__group_member(w->group, i) : w;
        const char *l[] = {"queue", m->q->set.name};
        saq__prom_sample(&b, "saq_jobs_running", l, 1, (double)atomic_load(&m->running));
    }
    saq__prom_family(&b, "saq_worker_errors_total", "counter",
                     "Redis errors this worker's writes and upkeep operations met, by queue.");
    for (size_t i = 0; i < nq; i++) {
        saq_worker_t *m = i ? saq__group_member(w->group, i) : w;
        const char *l[] = {"queue", m->q->set.name};
        saq__prom_sample(&b, "saq_worker_errors_total", l, 1, (double)atomic_load(&m->errors));
    }
    char *s = saq__buf_take(&b);
    pthread_mutex_lock(&w->mu);
    free(w->stats_cache);
    w->stats_cache = s;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* The worker's attachment to its queue's loop (loop.c's teardown). */
static saq_worker_t *worker_of(saq__attachment_t *a) { return saq__container_of(a, saq_worker_t, att); }

/* Queue teardown with the worker still attached: ask it to stop with no grace
 * period (jobs are cancelled, then written back "cancelled" after the hard
 * deadline); it detaches once stopped. */
static void worker_drain(saq__attachment_t *a)
{
    saq_worker_t *w = worker_of(a);
    atomic_store(&w->grace_ms, 0);
    if (!w->stopping)
        begin_stop(w);
    else if (w->attached && !w->grace_over)
        uv_timer_start(&w->t_grace, grace_expired, 0, 0);
    if (w->group) /* one of its queues closes: the whole worker stops, as this part of it */
        saq_worker_stop(saq__worker_public(w), 0);
}

/* How long a teardown waits for the drain before dropping the worker. */
static uint64_t worker_drain_ms(saq__attachment_t *a)
{
    saq_worker_t *w = worker_of(a);
    return saq__timer_ms(w->set.hard_deadline_s) + 2 * (uint64_t)w->q->set.command_timeout_ms + 1000;
}

/* Queue teardown with the worker still attached: stop it at once. */
static void worker_shutdown(saq__attachment_t *a)
{
    saq_worker_t *w = worker_of(a);
    w->stopping = 1;
    saq__leases_detach(w);
    saq__group_leave(w);
    saq__slots_put(w, w->slots);
    w->dequeuing = w->blocking = w->giving = 0;
    worker_finish(w);
}

SAQ_API void saq_worker_free(saq_worker_t *w)
{
    if (!w)
        return;
    if (w->q->fork_gen != saq__fork_gen())
        return;
    size_t n = saq__group_size(w->group);
    for (size_t i = 0; i < n; i++)
        atomic_store(&(i ? saq__group_member(w->group, i) : w)->freed, 1);
    if (atomic_load(&w->started))
        saq_worker_stop(w, 0);
    /* the members live on while they run (each holds the primary), then go */
    for (size_t i = 1; i < n; i++)
        saq__worker_unref(saq__group_member(w->group, i));
    saq__worker_unref(w);
}

SAQ_API int saq_worker_add_queue(saq_worker_t *w, saq_queue_t *q, int weight)
{
    if (!w)
        return SAQ_EINVAL;
    if (w->owner)
        return SAQ_EINVAL; /* not a handle the host holds */
    if (atomic_load(&w->started)) {
        saq__worker_seterr(w, "queues must be added before the worker starts");
        return SAQ_ESTATE;
    }
    int e = saq__check_handle(q);
    if (e) {
        saq__worker_seterr(w, "queue: %s", saq_strerror(e));
        return e;
    }
    if (weight < 1) {
        saq__worker_seterr(w, "weight must be at least 1, got %d", weight);
        return SAQ_EINVAL;
    }
    if (q == w->q || saq__group_has_queue(w->group, q)) {
        saq__worker_seterr(w, "the worker already serves this queue ('%s')", q->set.name);
        return SAQ_EINVAL;
    }
    /* a member with the primary's settings (its effective conf); its id is
     * the primary's with the member's index, so each queue's registry and job
     * records name the part of the worker that ran the job */
    saq_worker_t *m = NULL;
    char *id = saq__sprintf("%s.%zu", w->id, saq__group_size(w->group));
    if (!id || (e = saq_worker_open(&m, q, w->eff))) {
        free(id);
        saq__worker_seterr(w, "%s", e ? saq_strerror(e) : "out of memory");
        return e ? e : SAQ_ENOMEM;
    }
    free(m->id);
    m->id = id;
    m->poke = w->poke;
    if ((!w->group && !saq__group_new(w, w->set.weighted)) || saq__group_add(w->group, m, weight)) {
        saq__worker_unref(m);
        saq__worker_seterr(w, "out of memory");
        return SAQ_ENOMEM;
    }
    saq__worker_ref(w); /* the member's, on its primary (worker_destroy drops it) */
    return SAQ_OK;
}
