/* SPDX-License-Identifier: MIT */
/* saq's max_concurrent_ops: a counting semaphore with a FIFO of waiters. It
 * lives on the I/O thread, so it needs no locking; a waiter's grant callback
 * runs when a permit is handed to it. */
#include "internal.h"

void saq__throttle_init(saq__throttle_t *t, int max)
{
    t->max = max > 0 ? max : 1;
    t->used = 0;
    t->head = t->tail = NULL;
}

int saq__throttle_acquire(saq__throttle_t *t, saq__twaiter_t *w)
{
    if (t->used < t->max && !t->head) {
        t->used++;
        return 1;
    }
    w->next = NULL;
    w->prev = t->tail;
    if (t->tail)
        t->tail->next = w;
    else
        t->head = w;
    t->tail = w;
    w->queued = 1;
    return 0;
}

static void unlink_waiter(saq__throttle_t *t, saq__twaiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        t->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        t->tail = w->prev;
    w->next = w->prev = NULL;
    w->queued = 0;
}

int saq__throttle_cancel(saq__throttle_t *t, saq__twaiter_t *w)
{
    if (!w->queued) /* O(1): thousands of waiters may give up at once (close) */
        return 0;
    unlink_waiter(t, w);
    return 1;
}

void saq__throttle_release(saq__throttle_t *t)
{
    saq__twaiter_t *w = t->head;
    if (!w) {
        if (t->used > 0)
            t->used--;
        return;
    }
    /* the permit passes straight to the oldest waiter */
    unlink_waiter(t, w);
    w->grant(w);
}
