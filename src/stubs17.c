/* SPDX-License-Identifier: MIT */
/* Placeholders for the 0.2 operability API (issue 17) while it is being written: each is
 * replaced by its real implementation in its own file, and this file goes. */
#include "internal.h"

int saq_conf_set_log(saq_conf_t *conf, saq_log_fn fn, void *userdata)
{
    (void)fn;
    (void)userdata;
    return conf ? SAQ_OK : SAQ_EINVAL;
}

int saq_conf_set_log_cq(saq_conf_t *conf, saq_cq_t *cq, uint64_t tag)
{
    (void)cq;
    (void)tag;
    return conf ? SAQ_OK : SAQ_EINVAL;
}

int saq_job_set_traceparent(saq_job_t *job, const char *traceparent)
{
    (void)job;
    (void)traceparent;
    return SAQ_EINVAL;
}

const char *saq_job_traceparent(const saq_job_t *job)
{
    (void)job;
    return NULL;
}
