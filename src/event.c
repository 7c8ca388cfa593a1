/* SPDX-License-Identifier: MIT */
/* Events and completion queues. A polling cq is a mutex-protected FIFO with a
 * condition variable for blocking polls and a non-blocking pipe that is
 * readable while the FIFO is non-empty (a pipe, not an eventfd: Node's
 * net.Socket accepts only pipes). A callback cq hands each event to a C
 * function on the producing I/O thread. Both are reference counted: every
 * pending operation holds a reference, so freeing a cq never races an event. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

struct saq_cq {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    saq_event_t *head, *tail;
    size_t len;
    int fds[2];
    int armed;           /* a byte sits in the pipe */
    int fd_used;         /* saq_cq_fd was called: keep the pipe armed (else
                            nobody can poll it, and pushes skip the syscalls) */
    unsigned wakeups;    /* generation bumped by saq_cq_wakeup */
    int wake_pending;    /* a wakeup no blocked poll consumed yet */
    atomic_int closed;   /* user freed it */
    saq_event_cb cb;
    void *ud;
    unsigned fork_gen;
    int internal; /* libsaq's own (worker upkeep, batch): not drained by close */
};

saq_event_t *saq__event_new(int type, uint64_t tag)
{
    saq_event_t *ev = saq__calloc(1, sizeof *ev);
    if (ev) {
        ev->type = type;
        ev->tag = tag;
    }
    return ev;
}

void saq__event_error(saq_event_t *ev, int status, const char *fmt, ...)
{
    ev->status = status;
    va_list ap;
    va_start(ap, fmt);
    saq__set_vfmt(&ev->errmsg, fmt, ap);
    va_end(ap);
}

void saq__event_outcome(saq_cq_t *cq, uint64_t tag, uint64_t lease_id, const saq_job_t *job,
                        int stored, int err, const char *msg)
{
    saq_event_t *ev = saq__event_new(SAQ_EVENT_OUTCOME, tag);
    if (!ev)
        return;
    ev->ival = (int64_t)lease_id;
    ev->key = saq__strdup(job->key);
    if (stored && !(ev->job = saq_job_dup(job)))
        saq__event_error(ev, SAQ_ENOMEM, "stored, but out of memory for the copy");
    else if (!stored && err)
        saq__event_error(ev, err, "nothing stored: %s", msg && *msg ? msg : saq_strerror(err));
    else if (!stored)
        saq__event_error(ev, SAQ_ESTATE, "nothing stored: the job is no longer this lease's "
                                         "(swept, recovered or run again elsewhere)");
    saq__cq_push(cq, ev);
}

void saq__event_given_back(saq_cq_t *cq, uint64_t tag, uint64_t lease_id, const char *key)
{
    saq_event_t *ev = saq__event_new(SAQ_EVENT_GIVEN_BACK, tag);
    if (ev) {
        ev->ival = (int64_t)lease_id;
        ev->key = saq__strdup(key);
        saq__cq_push(cq, ev);
    }
}

SAQ_API void saq_event_free(saq_event_t *ev)
{
    if (!ev)
        return;
    free(ev->errmsg);
    free(ev->json);
    free(ev->text);
    free(ev->key);
    free(ev->jstatus);
    saq_job_free(ev->job);
    for (size_t i = 0; i < ev->njobs; i++)
        saq_job_free(ev->jobs[i]);
    free(ev->jobs);
    free(ev);
}

SAQ_API int saq_event_type(const saq_event_t *ev) { return ev ? ev->type : 0; }
SAQ_API uint64_t saq_event_tag(const saq_event_t *ev) { return ev ? ev->tag : 0; }
SAQ_API int saq_event_status(const saq_event_t *ev) { return ev ? ev->status : SAQ_EINVAL; }
SAQ_API const char *saq_event_errmsg(const saq_event_t *ev)
{
    if (!ev || ev->status == SAQ_OK)
        return NULL;
    return ev->errmsg ? ev->errmsg : saq_strerror(ev->status);
}
SAQ_API int64_t saq_event_int(const saq_event_t *ev) { return ev ? ev->ival : 0; }
SAQ_API const char *saq_event_json(const saq_event_t *ev) { return ev ? ev->json : NULL; }
SAQ_API const char *saq_event_text(const saq_event_t *ev) { return ev ? ev->text : NULL; }
SAQ_API const char *saq_event_key(const saq_event_t *ev) { return ev ? ev->key : NULL; }
SAQ_API const char *saq_event_job_status(const saq_event_t *ev) { return ev ? ev->jstatus : NULL; }
SAQ_API saq_job_t *saq_event_job(const saq_event_t *ev) { return ev ? ev->job : NULL; }
SAQ_API saq_job_t *saq_event_take_job(saq_event_t *ev)
{
    if (!ev)
        return NULL;
    saq_job_t *j = ev->job;
    ev->job = NULL;
    return j;
}
SAQ_API size_t saq_event_job_count(const saq_event_t *ev) { return ev ? ev->njobs : 0; }
SAQ_API saq_job_t *saq_event_job_at(const saq_event_t *ev, size_t i)
{
    return ev && i < ev->njobs ? ev->jobs[i] : NULL;
}

/* ---- completion queues ---- */

static saq_cq_t *cq_alloc(void)
{
    saq_cq_t *cq = saq__calloc(1, sizeof *cq);
    if (!cq)
        return NULL;
    atomic_init(&cq->refs, 1);
    pthread_mutex_init(&cq->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cq->cv, &ca);
    pthread_condattr_destroy(&ca);
    cq->fds[0] = cq->fds[1] = -1;
    cq->fork_gen = saq__fork_gen();
    return cq;
}

SAQ_API saq_cq_t *saq_cq_new(void)
{
    saq_cq_t *cq = cq_alloc();
    if (!cq)
        return NULL;
    if (pipe2(cq->fds, O_NONBLOCK | O_CLOEXEC)) {
        saq_cq_free(cq);
        return NULL;
    }
    return cq;
}

SAQ_API saq_cq_t *saq_cq_new_callback(saq_event_cb cb, void *userdata)
{
    if (!cb)
        return NULL;
    saq_cq_t *cq = cq_alloc();
    if (cq) {
        cq->cb = cb;
        cq->ud = userdata;
    }
    return cq;
}

void saq__cq_ref(saq_cq_t *cq) { saq__ref(&cq->refs); }

static void cq_destroy(saq_cq_t *cq)
{
    saq_event_t *ev = cq->head;
    while (ev) {
        saq_event_t *n = ev->next;
        saq_event_free(ev);
        ev = n;
    }
    if (cq->fds[0] >= 0)
        close(cq->fds[0]);
    if (cq->fds[1] >= 0)
        close(cq->fds[1]);
    pthread_mutex_destroy(&cq->mu);
    pthread_cond_destroy(&cq->cv);
    free(cq);
}

void saq__cq_unref(saq_cq_t *cq)
{
    if (cq && saq__unref(&cq->refs))
        cq_destroy(cq);
}

void saq__cq_set_internal(saq_cq_t *cq) { cq->internal = 1; }
int saq__cq_internal(const saq_cq_t *cq) { return cq && cq->internal; }

int saq__cq_usable(const saq_cq_t *cq)
{
    return cq && !cq->closed && cq->fork_gen == saq__fork_gen();
}

int saq__cq_push(saq_cq_t *cq, saq_event_t *ev)
{
    if (!ev)
        return 0;
    if (cq->cb) {
        if (cq->closed) {
            saq_event_free(ev);
            return 0;
        }
        return cq->cb(ev, cq->ud);
    }
    ev->next = NULL;
    pthread_mutex_lock(&cq->mu);
    if (cq->closed) {
        pthread_mutex_unlock(&cq->mu);
        saq_event_free(ev);
        return 0;
    }
    if (cq->tail)
        cq->tail->next = ev;
    else
        cq->head = ev;
    cq->tail = ev;
    cq->len++;
    if (cq->fd_used && !cq->armed) {
        cq->armed = 1;
        ssize_t w;
        do
            w = write(cq->fds[1], "!", 1);
        while (w < 0 && errno == EINTR);
    }
    pthread_cond_broadcast(&cq->cv);
    pthread_mutex_unlock(&cq->mu);
    return 0;
}

/* Empty the notification pipe once the FIFO is empty (lock held). */
static void disarm(saq_cq_t *cq)
{
    if (cq->head || !cq->armed)
        return;
    char buf[64];
    while (read(cq->fds[0], buf, sizeof buf) > 0)
        ;
    cq->armed = 0;
}

static saq_event_t *take(saq_cq_t *cq, int by_tag, uint64_t tag)
{
    saq_event_t *prev = NULL, *ev = cq->head;
    while (ev && by_tag && ev->tag != tag) {
        prev = ev;
        ev = ev->next;
    }
    if (!ev)
        return NULL;
    if (prev)
        prev->next = ev->next;
    else
        cq->head = ev->next;
    if (cq->tail == ev)
        cq->tail = prev;
    ev->next = NULL;
    cq->len--;
    disarm(cq);
    return ev;
}

static saq_event_t *wait_event(saq_cq_t *cq, int by_tag, uint64_t tag, int timeout_ms)
{
    if (!cq || cq->cb || cq->fork_gen != saq__fork_gen())
        return NULL;
    struct timespec dl;
    if (timeout_ms > 0)
        saq__abstime(&dl, CLOCK_MONOTONIC, (uint64_t)timeout_ms);
    pthread_mutex_lock(&cq->mu);
    unsigned gen = cq->wakeups;
    saq_event_t *ev;
    for (;;) {
        if ((ev = take(cq, by_tag, tag)) || cq->closed)
            break;
        if (cq->wakeups != gen || cq->wake_pending) {
            cq->wake_pending = 0;
            break;
        }
        if (timeout_ms == 0)
            break;
        if (timeout_ms < 0)
            pthread_cond_wait(&cq->cv, &cq->mu);
        else if (pthread_cond_timedwait(&cq->cv, &cq->mu, &dl) == ETIMEDOUT) {
            ev = take(cq, by_tag, tag);
            break;
        }
    }
    pthread_mutex_unlock(&cq->mu);
    return ev;
}

SAQ_API saq_event_t *saq_cq_poll(saq_cq_t *cq, int timeout_ms)
{
    return wait_event(cq, 0, 0, timeout_ms);
}

SAQ_API saq_event_t *saq_cq_wait(saq_cq_t *cq, uint64_t tag, int timeout_ms)
{
    return wait_event(cq, 1, tag, timeout_ms);
}

SAQ_API size_t saq_cq_length(const saq_cq_t *cq)
{
    if (!cq || cq->cb)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&cq->mu);
    size_t n = cq->len;
    pthread_mutex_unlock((pthread_mutex_t *)&cq->mu);
    return n;
}

SAQ_API int saq_cq_fd(const saq_cq_t *ccq)
{
    saq_cq_t *cq = (saq_cq_t *)ccq; /* allocated mutable; the pipe is armed lazily */
    if (!cq || cq->cb)
        return -1;
    pthread_mutex_lock(&cq->mu);
    if (!cq->fd_used) {
        cq->fd_used = 1;
        if (cq->head && !cq->armed) { /* events already wait: readable from now on */
            cq->armed = 1;
            ssize_t w;
            do
                w = write(cq->fds[1], "!", 1);
            while (w < 0 && errno == EINTR);
        }
    }
    pthread_mutex_unlock(&cq->mu);
    return cq->fds[0];
}

SAQ_API int saq_cq_fd_dup(const saq_cq_t *cq)
{
    int fd = saq_cq_fd(cq);
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

SAQ_API void saq_cq_wakeup(saq_cq_t *cq)
{
    if (!cq || cq->cb)
        return;
    pthread_mutex_lock(&cq->mu);
    cq->wakeups++;
    cq->wake_pending = 1;
    pthread_cond_broadcast(&cq->cv);
    pthread_mutex_unlock(&cq->mu);
}

SAQ_API void saq_cq_free(saq_cq_t *cq)
{
    if (!cq)
        return;
    if (cq->fork_gen != saq__fork_gen()) {
        /* forked child: no other thread exists; just drop the memory */
        if (saq__unref(&cq->refs))
            cq_destroy(cq);
        return;
    }
    pthread_mutex_lock(&cq->mu);
    cq->closed = 1;
    saq_event_t *ev = cq->head;
    cq->head = cq->tail = NULL;
    cq->len = 0;
    pthread_cond_broadcast(&cq->cv);
    pthread_mutex_unlock(&cq->mu);
    while (ev) {
        saq_event_t *n = ev->next;
        saq_event_free(ev);
        ev = n;
    }
    saq__cq_unref(cq);
}
