/* SPDX-License-Identifier: MIT */
/* The queue's Redis outages, told to its log (core.h "health.c"): the first failure of an
 * outage is one warning (Redis unreachable at start, a connection lost, a connect, TLS or
 * discovery failure), retries are counted instead of logged, a reminder comes every 30 s at
 * most while the outage lasts, and its end is one info record with the outage's length. A
 * worker's connections (command, pub/sub, dequeue) share the queue's outage: Redis gone is
 * one warning, not one per connection and per retry. Loop thread. */
#include "core.h"

void saq__health_down(saq_queue_t *q, const saq__conn_t *c, const char *addr, int err,
                      const char *why, int lost)
{
    saq__health_t *h = &q->health;
    if (c && c->role == ROLE_DISC)
        return; /* one sentinel or node of several: topo.c tells when a whole round failed */
    uint64_t now = saq__mono_ms();
    if (!why)
        why = saq_strerror(err);
    if (!h->down_since) {
        h->down_since = now;
        h->told_at = now;
        h->attempts = 1;
        saq__log(q, SAQ_LOG_WARNING, err, SAQ__LF(SAQ__LS("address", addr)), "%s%s%s",
                 lost || h->ever_up ? "" : "redis unreachable: ", why,
                 lost ? "; reconnecting" : "; retrying until it answers");
        return;
    }
    h->attempts++;
    if (now - h->told_at < SAQ__HEALTH_REMIND_MS)
        return;
    h->told_at = now;
    saq__log(q, SAQ_LOG_WARNING, err,
             SAQ__LF(SAQ__LS("address", addr), SAQ__LN("attempts", h->attempts),
                     SAQ__LN("outage_ms", now - h->down_since)),
             "redis still unreachable after %llu s (%u attempts): %s",
             (unsigned long long)((now - h->down_since) / 1000), h->attempts, why);
}

void saq__health_up(saq_queue_t *q, const saq__conn_t *c, const char *addr)
{
    saq__health_t *h = &q->health;
    if (c && c->role == ROLE_DISC)
        return;
    h->ever_up = 1;
    if (!h->down_since)
        return;
    uint64_t ms = saq__mono_ms() - h->down_since;
    saq__log(q, SAQ_LOG_INFO, 0,
             SAQ__LF(SAQ__LS("address", addr), SAQ__LN("outage_ms", ms),
                     SAQ__LN("attempts", h->attempts)),
             "redis connection recovered after %llu ms (%u failed attempts)",
             (unsigned long long)ms, h->attempts);
    h->down_since = 0;
    h->attempts = 0;
}
