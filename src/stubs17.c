/* SPDX-License-Identifier: MIT */
/* Placeholders for the 0.2 operability API (issue 17) while it is being written: each is
 * replaced by its real implementation in its own file, and this file goes. */
#include "internal.h"

int saq_queue_overview(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    (void)q;
    (void)cq;
    (void)tag;
    return SAQ_ESTATE;
}

int saq_queue_metrics(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    (void)q;
    (void)cq;
    (void)tag;
    return SAQ_ESTATE;
}

int saq_queue_iter_jobs(saq_queue_t *q, const char *statuses, const char *cursor, int count,
                        saq_cq_t *cq, uint64_t tag)
{
    (void)q;
    (void)statuses;
    (void)cursor;
    (void)count;
    (void)cq;
    (void)tag;
    return SAQ_ESTATE;
}

const char *saq_worker_metrics(saq_worker_t *w)
{
    (void)w;
    return NULL;
}
