/* SPDX-License-Identifier: MIT */
/* The handler thread pool: a FIFO of tasks run by up to `max` threads, which
 * are started on demand and stay until the pool quits. Its whole interface is
 * submit (a task whose `work` runs on a pool thread) and quit; a task still
 * queued when the last reference goes is handed to its `cancel` instead.
 * It knows nothing of jobs or workers: the lease code submits its handler
 * runs and after-hooks as tasks. */
#include "worker.h"

struct saq__pool {
    atomic_int refs;        /* the owner's + one per thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    saq__list_t tasks;      /* FIFO */
    int nthreads, idle, max, quit;
    int waking;             /* a signalled thread has not taken the mutex back yet */
};

saq__pool_t *saq__pool_new(int max)
{
    saq__pool_t *p = saq__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->max = max > 0 ? max : 1;
    saq__list_init(&p->tasks);
    return p;
}

static void pool_unref(saq__pool_t *p)
{
    if (!saq__unref(&p->refs))
        return;
    saq__link_t *k, *tmp;
    saq__list_each_safe(k, tmp, &p->tasks) {
        saq__task_t *t = saq__container_of(k, saq__task_t, link);
        saq__list_remove(k);
        t->cancel(t);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static void *pool_main(void *arg);

/* With p->mu held and tasks queued: make sure one of them is taken soon. At
 * most one idle thread is being woken at a time, and each woken thread passes
 * the wake-up on while tasks remain, so a burst of short jobs is served by the
 * threads already awake instead of one futex wake and context switch per job;
 * when no thread is idle, start one (up to max), so a burst of long jobs
 * still gets a thread per job. Returns 1 when the caller must signal p->cv
 * once it has released p->mu (so the woken thread does not block on it). */
static int pool_kick_locked(saq__pool_t *p)
{
    if (saq__list_empty(&p->tasks) || p->quit)
        return 0;
    if (p->idle > 0) {
        if (p->waking)
            return 0;
        p->waking = 1; /* reset by whichever idle thread wakes next */
        return 1;
    }
    if (p->nthreads < p->max) {
        pthread_t th;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        saq__ref(&p->refs);
        if (pthread_create(&th, &a, pool_main, p) == 0)
            p->nthreads++;
        else
            saq__unref(&p->refs); /* never the last: the owner holds one */
        pthread_attr_destroy(&a);
    }
    return 0;
}

static void *pool_main(void *arg)
{
    saq__pool_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (saq__list_empty(&p->tasks) && !p->quit) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
            p->waking = 0;
        }
        if (saq__list_empty(&p->tasks))
            break;
        saq__task_t *t = saq__list_first_entry(&p->tasks, saq__task_t, link);
        saq__list_remove(&t->link);
        int wake = pool_kick_locked(p);
        pthread_mutex_unlock(&p->mu);
        if (wake)
            pthread_cond_signal(&p->cv);
        t->work(t); /* the task is the work function's now */
        pthread_mutex_lock(&p->mu);
    }
    p->nthreads--;
    pthread_mutex_unlock(&p->mu);
    pool_unref(p);
    return NULL;
}

int saq__pool_submit(saq__pool_t *p, saq__task_t *t)
{
    pthread_mutex_lock(&p->mu);
    saq__list_push_back(&p->tasks, &t->link);
    int wake = pool_kick_locked(p);
    int ok = p->nthreads > 0;
    if (!ok) /* no thread to run it (pthread_create failed): take it back */
        saq__list_remove(&t->link);
    pthread_mutex_unlock(&p->mu);
    if (wake)
        pthread_cond_signal(&p->cv);
    return ok ? 0 : -1;
}

void saq__pool_quit(saq__pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pool_unref(p);
}
