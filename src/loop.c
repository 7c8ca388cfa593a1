/* SPDX-License-Identifier: MIT */
/* The queue's I/O thread and its private libuv loop: the inbox other threads
 * post messages to, the wake-up, whether the queue still takes work, the
 * teardown, and waiting for the thread to end. */
#include "core.h"

#include <signal.h>

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

/* ---- attachments ---- */

void saq__loop_attach(saq_queue_t *q, saq__attachment_t *a, const saq__attachment_vt_t *vt)
{
    a->vt = vt;
    saq__list_push_front(&q->attachments, &a->link); /* newest first */
}

static saq__attachment_t *att_of(saq__link_t *k) { return saq__container_of(k, saq__attachment_t, link); }

/* Is any attachment with a drain still attached? */
static int draining(const saq_queue_t *q)
{
    saq__link_t *k;
    saq__list_each(k, &q->attachments)
        if (att_of(k)->vt->drain)
            return 1;
    return 0;
}

void saq__loop_detach(saq_queue_t *q, saq__attachment_t *a)
{
    if (!saq__list_remove(&a->link))
        return;
    /* the last one to drain is gone: resume a waiting teardown */
    if (a->vt->drain && !draining(q) && !uv_is_closing((uv_handle_t *)&q->wake))
        uv_async_send(&q->wake);
}

/* Drain every attachment; returns 1 while one with a drain is attached. */
static int drain(saq_queue_t *q)
{
    saq__link_t *k, *tmp;
    saq__list_each_safe(k, tmp, &q->attachments) { /* a drain may detach its attachment */
        saq__attachment_t *a = att_of(k);
        if (a->vt->drain)
            a->vt->drain(a);
    }
    return draining(q);
}

/* The longest drain_ms of the attachments (how long a teardown waits). */
static uint64_t drain_ms(saq_queue_t *q)
{
    uint64_t ms = 0;
    saq__link_t *k;
    saq__list_each(k, &q->attachments) {
        saq__attachment_t *a = att_of(k);
        uint64_t m = a->vt->drain && a->vt->drain_ms ? a->vt->drain_ms(a) : 0;
        if (m > ms)
            ms = m;
    }
    return ms;
}

/* ---- teardown ---- */

static void handle_closed(uv_handle_t *h) { (void)h; }

static void td_timer_cb(uv_timer_t *t)
{
    saq_queue_t *q = t->data;
    q->td_forced = 1; /* the workers did not finish stopping in time (Redis frozen?) */
    teardown(q);
}

static void teardown(saq_queue_t *q)
{
    if (uv_is_closing((uv_handle_t *)&q->wake))
        return;
    /* Workers still attached (saq_worker_free returns at once, so the usual
     * saq_worker_free + saq_queue_free ends up here): their attachment's
     * drain stops them without a grace period and lets them write their
     * jobs' outcomes (retried "cancelled") before the connections close,
     * instead of leaving the jobs active under a worker id nobody renews.
     * Bounded by the hard deadline and the command timeout (drain_ms);
     * settles from handlers are still accepted. */
    if (!q->td_forced && drain(q)) {
        if (!q->td_timer_on) {
            uv_timer_init(&q->loop, &q->td_timer);
            q->td_timer.data = q;
            q->td_timer_on = 1;
            uv_timer_start(&q->td_timer, td_timer_cb, drain_ms(q), 0);
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
    /* then end the attachments (the workers, newest first, and last the
     * pending operations) */
    while (!saq__list_empty(&q->attachments)) {
        saq__attachment_t *a = att_of(saq__list_first(&q->attachments));
        saq__list_remove(&a->link);
        a->vt->shutdown(a);
    }
    saq__pubsub_shutdown(q);
    saq__conn_shutdown(&q->cmd, NULL);
    saq__conn_shutdown(&q->sub, NULL);
    saq__topo_shutdown(q);
    uv_close((uv_handle_t *)&q->wake, handle_closed);
}

void saq__loop_stop(saq_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    if (!q->teardown) {
        q->teardown = 1;
        if (!q->io_done)
            uv_async_send(&q->wake);
    }
    pthread_mutex_unlock(&q->mu);
}

/* ---- the thread ---- */

static void *io_main(void *arg)
{
    saq_queue_t *q = arg;
    uv_run(&q->loop, UV_RUN_DEFAULT);
    /* run once more so close callbacks of late handles complete */
    while (uv_loop_close(&q->loop) == UV_EBUSY)
        uv_run(&q->loop, UV_RUN_NOWAIT);
    saq__tls_thread_end();
    pthread_mutex_lock(&q->mu);
    q->io_done = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    q->loop_exited(q);
    return NULL;
}

int saq__loop_init(saq_queue_t *q)
{
    saq__list_init(&q->attachments);
    saq__list_init(&q->conns);
    int e = uv_loop_init(&q->loop);
    if (e)
        return e; /* a failed init undoes itself: no loop to close */
    if ((e = uv_async_init(&q->loop, &q->wake, wake_cb))) {
        uv_loop_close(&q->loop);
        return e;
    }
    q->wake.data = q;
    return 0;
}

int saq__loop_start(saq_queue_t *q, void (*exited)(saq_queue_t *q))
{
    q->loop_exited = exited;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* the I/O thread runs with every signal blocked: the host's handlers run
     * on its own threads, and a write to a socket the server reset fails
     * with EPIPE instead of killing the process with SIGPIPE */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&q->thread, &attr, io_main, q);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (e) {
        uv_close((uv_handle_t *)&q->wake, NULL);
        uv_run(&q->loop, UV_RUN_NOWAIT);
        uv_loop_close(&q->loop);
    }
    return e;
}

int saq__loop_wait(saq_queue_t *q, int inflight, uint64_t deadline)
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
