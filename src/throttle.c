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
    if (t->tail)
        t->tail->next = w;
    else
        t->head = w;
    t->tail = w;
    return 0;
}

int saq__throttle_cancel(saq__throttle_t *t, saq__twaiter_t *w)
{
    saq__twaiter_t *prev = NULL;
    for (saq__twaiter_t *x = t->head; x; prev = x, x = x->next) {
        if (x != w)
            continue;
        if (prev)
            prev->next = x->next;
        else
            t->head = x->next;
        if (t->tail == x)
            t->tail = prev;
        x->next = NULL;
        return 1;
    }
    return 0;
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
    t->head = w->next;
    if (!t->head)
        t->tail = NULL;
    w->next = NULL;
    w->grant(w);
}
