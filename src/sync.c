/* SPDX-License-Identifier: MIT */
/* Blocking convenience forms for C: submit to a private cq, wait for the
 * event with a deadline. */
#include "core.h"

static saq_event_t *sync_wait(saq_queue_t *q, saq_cq_t *cq, int rc, int type, int timeout_ms)
{
    saq_event_t *ev = NULL;
    if (!rc && !(ev = saq_cq_wait(cq, 1, timeout_ms)))
        saq_queue_cancel(q, cq, 1); /* an apply/map/listen stops waiting (and subscribing) */
    if (!ev && (ev = saq__event_new(type, 1))) {
        if (rc)
            saq__event_error(ev, rc, "%s", saq_strerror(rc));
        else
            saq__event_error(ev, SAQ_ETIMEDOUT, "no answer within %d ms", timeout_ms);
    }
    saq_cq_free(cq);
    return ev;
}

/* A blocking form on the I/O thread (in a completion callback) would wait
 * for the loop it blocks: refused at once instead. */
static saq_event_t *on_loop_refused(int type)
{
    saq_event_t *ev = saq__event_new(type, 1);
    if (ev)
        saq__event_error(ev, SAQ_ESTATE,
                         "a blocking call on libsaq's I/O thread (in a completion callback) would "
                         "wait for itself: use the asynchronous form");
    return ev;
}

#define SYNC(type, call)                                                                           \
    if (q && saq__on_loop(q))                                                                      \
        return on_loop_refused(type);                                                              \
    saq_cq_t *cq = saq_cq_new();                                                                   \
    if (!cq)                                                                                       \
        return NULL;                                                                               \
    int rc = (call);                                                                               \
    return sync_wait(q, cq, rc, type, timeout_ms)

SAQ_API saq_event_t *saq_queue_enqueue_sync(saq_queue_t *q, const saq_job_t *job, int timeout_ms)
{
    SYNC(SAQ_EVENT_ENQUEUE, saq_queue_enqueue(q, job, cq, 1));
}

SAQ_API saq_event_t *saq_queue_enqueue_call_sync(saq_queue_t *q, const char *function,
                                                 const char *kwargs_json, int timeout_ms)
{
    SYNC(SAQ_EVENT_ENQUEUE, saq_queue_enqueue_call(q, function, kwargs_json, cq, 1));
}

SAQ_API saq_event_t *saq_queue_job_sync(saq_queue_t *q, const char *key, int timeout_ms)
{
    SYNC(SAQ_EVENT_JOB, saq_queue_job(q, key, cq, 1));
}

SAQ_API saq_event_t *saq_queue_abort_sync(saq_queue_t *q, const char *key, const char *error,
                                          int ttl_s, int timeout_ms)
{
    SYNC(SAQ_EVENT_ABORT, saq_queue_abort(q, key, error, ttl_s, cq, 1));
}

SAQ_API saq_event_t *saq_queue_count_sync(saq_queue_t *q, const char *kind, int timeout_ms)
{
    SYNC(SAQ_EVENT_COUNT, saq_queue_count(q, kind, cq, 1));
}

SAQ_API saq_event_t *saq_queue_info_sync(saq_queue_t *q, int jobs, int offset, int limit,
                                         int timeout_ms)
{
    SYNC(SAQ_EVENT_INFO, saq_queue_info(q, jobs, offset, limit, cq, 1));
}

SAQ_API saq_event_t *saq_queue_stats_sync(saq_queue_t *q, int ttl_s, int timeout_ms)
{
    SYNC(SAQ_EVENT_STATS, saq_queue_stats(q, ttl_s, cq, 1));
}

SAQ_API saq_event_t *saq_queue_apply_sync(saq_queue_t *q, const saq_job_t *job, double timeout_s,
                                          int timeout_ms)
{
    SYNC(SAQ_EVENT_APPLY, saq_queue_apply(q, job, timeout_s, cq, 1));
}

SAQ_API saq_event_t *saq_queue_map_sync(saq_queue_t *q, const char *function,
                                        const char *iter_kwargs_json, const char *defaults_json,
                                        double timeout_s, int return_exceptions, int timeout_ms)
{
    SYNC(SAQ_EVENT_MAP, saq_queue_map(q, function, iter_kwargs_json, defaults_json, timeout_s,
                                      return_exceptions, cq, 1));
}

SAQ_API saq_event_t *saq_queue_enqueue_flow_sync(saq_queue_t *q, const saq_flow_t *f,
                                                 int timeout_ms)
{
    SYNC(SAQ_EVENT_FLOW_ENQUEUE, saq_queue_enqueue_flow(q, f, cq, 1));
}

SAQ_API saq_event_t *saq_queue_flow_sync(saq_queue_t *q, const char *id, int timeout_ms)
{
    SYNC(SAQ_EVENT_FLOW, saq_queue_flow(q, id, cq, 1));
}
