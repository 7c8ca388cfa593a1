/* SPDX-License-Identifier: MIT */
/* saq_queue_limits: the rate limits and global concurrency of a queue as its
 * libsaq workers published them (saq:<q>:libsaq:limits, refreshed every
 * second by each worker that has limits, kept 30 s), with how many jobs run
 * against each, started in its current window and wait on its waiting
 * list, read in one LIMIT_INFO script (for `saq limits`). */
#include "core.h"

static void limits_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req;
    if (err) {
        saq__op_fail(op, err, "%s", msg);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        saq__op_fail(op, SAQ_EPROTO, "unexpected reply to the limits script");
        return;
    }
    saq__buf_t b = {0};
    saq__buf_puts(&b, "{\"queue\": ");
    saq__buf_json_str(&b, op->q->set.name);
    saq__buf_puts(&b, ", \"limits\": [");
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        long long v[6];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 7 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        int ok = 1;
        for (int k = 0; k < 6; k++)
            ok &= saq__reply_int(e->element[k + 1], &v[k]) == 0;
        if (!ok)
            continue;
        saq__buf_puts(&b, n++ ? ", {\"function\": " : "{\"function\": ");
        if (e->element[0]->len)
            saq__buf_json_strn(&b, e->element[0]->str, e->element[0]->len);
        else
            saq__buf_puts(&b, "null");
        saq__buf_printf(&b, ", \"max_jobs\": %lld, \"period\": ", v[0]);
        saq__buf_json_num(&b, (double)v[1] / 1000.0);
        saq__buf_printf(&b, ", \"max_running\": %lld, \"running\": %lld, \"started\": %lld, \"waiting\": %lld}",
                        v[2], v[3], v[4], v[5]);
    }
    saq__buf_puts(&b, "]}");
    char *s = saq__buf_take(&b);
    if (!s) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    op->ev->json = s;
    saq__op_complete(op);
}

static void limits_start(saq__op_t *op)
{
    saq_queue_t *q = op->q;
    char *k = saq__sprintf("saq:%s:libsaq:limits", q->set.name);
    char *prefix = saq__sprintf("saq:%s:libsaq:limit:", q->set.name);
    if (!k || !prefix) {
        free(k);
        free(prefix);
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    const char *argv[2] = {k, prefix};
    saq__op_eval(op, SCRIPT_LIMIT_INFO, limits_reply, 0, 1, 2, argv, NULL);
    free(k);
    free(prefix);
}

SAQ_API int saq_queue_limits(saq_queue_t *q, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(saq__op_t), SAQ_EVENT_LIMITS, cq, tag, limits_start, NULL, &err);
    if (!op)
        return err;
    return saq__op_submit(op);
}
