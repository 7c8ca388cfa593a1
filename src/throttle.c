/* SPDX-License-Identifier: MIT */
/* saq's max_concurrent_ops: a counting semaphore with a FIFO of waiters. It
 * lives on the I/O thread, so it needs no locking; a waiter's grant callback
 * runs when a permit is handed to it. */
#include "internal.h"

void saq__throttle_init(saq__throttle_t *t, int max)
{
    t->max = max > 0 ? max : 1;
    t->used = 0;
    saq__list_init(&t->waiters);
}

int saq__throttle_acquire(saq__throttle_t *t, saq__twaiter_t *w)
{
    if (t->used < t->max && saq__list_empty(&t->waiters)) {
        t->used++;
        return 1;
    }
    saq__list_push_back(&t->waiters, &w->link);
    return 0;
}

int saq__throttle_cancel(saq__throttle_t *t, saq__twaiter_t *w)
{
    (void)t;
    /* O(1): thousands of waiters may give up at once (close) */
    return saq__list_remove(&w->link);
}

void saq__throttle_release(saq__throttle_t *t)
{
    saq__twaiter_t *w = saq__list_first_entry(&t->waiters, saq__twaiter_t, link);
    if (!w) {
        if (t->used > 0)
            t->used--;
        return;
    }
    /* the permit passes straight to the oldest waiter */
    saq__list_remove(&w->link);
    w->grant(w);
}
