/* SPDX-License-Identifier: MIT */
/* saq_queue_limits: the rate limits and global concurrency of a queue as its
 * libsaq workers published them (saq:<q>:libsaq:limits, refreshed every
 * second by each worker that has limits, kept 30 s), with how many jobs run
 * against each (live workers' slots only), started in its current window and
 * still wait on its waiting list, read in one LIMIT_INFO script (for `saq
 * limits`). A published entry that is not what a worker writes is shown as
 * invalid, its text as stored, never as a number made up from it. */
#include "core.h"

/* One published field: a decimal number of at most `max` (digits only, as
 * the workers write it). Returns 0, or -1 for anything else. */
static int config_field(const char **p, long long max, long long *v)
{
    const char *s = *p;
    long long n = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (n > (max - (*s - '0')) / 10)
            return -1;
        n = n * 10 + (*s - '0');
    }
    *v = n, *p = s;
    return 0;
}

/* A published limit "<max_jobs> <period ms> <max_running>" in the ranges
 * saq_worker_set_limit accepts (a period of 1 ms to 366 days with a rate,
 * max_jobs and max_running up to INT_MAX). Returns 0 or -1 (anything else:
 * someone else wrote it). */
static int parse_config(const redisReply *e, long long v[3])
{
    char buf[64];
    if (e->type != REDIS_REPLY_STRING || e->len >= sizeof buf)
        return -1;
    memcpy(buf, e->str, e->len);
    buf[e->len] = 0;
    const char *p = buf;
    if (config_field(&p, INT_MAX, &v[0]) || *p++ != ' ' || config_field(&p, 86400LL * 366 * 1000, &v[1]) ||
        *p++ != ' ' || config_field(&p, INT_MAX, &v[2]) || *p)
        return -1;
    return v[0] > 0 && v[1] < 1 ? -1 : 0;
}

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
        long long c[3], v[3]; /* the config; running, started (-1: unknown), waiting */
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 5 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        int ok = 1;
        for (int k = 0; k < 3; k++)
            ok &= saq__reply_int(e->element[k + 2], &v[k]) == 0 && v[k] >= -1 && v[k] <= INT64_MAX / 2;
        if (!ok || v[0] < 0 || v[2] < 0)
            continue;
        saq__buf_puts(&b, n++ ? ", {\"function\": " : "{\"function\": ");
        if (e->element[0]->len)
            saq__buf_json_strn(&b, e->element[0]->str, e->element[0]->len);
        else
            saq__buf_puts(&b, "null");
        if (parse_config(e->element[1], c)) {
            /* not what a worker writes: shown as it is, no number made up */
            saq__buf_puts(&b, ", \"invalid\": ");
            if (e->element[1]->type == REDIS_REPLY_STRING)
                saq__buf_json_strn(&b, e->element[1]->str, e->element[1]->len);
            else
                saq__buf_puts(&b, "\"\"");
            saq__buf_printf(&b, ", \"max_jobs\": null, \"period\": null, \"max_running\": null, "
                                "\"running\": %lld, \"started\": null, \"waiting\": %lld}",
                            v[0], v[2]);
            continue;
        }
        saq__buf_printf(&b, ", \"max_jobs\": %lld, \"period\": ", c[0]);
        saq__buf_json_num(&b, (double)c[1] / 1000.0);
        saq__buf_printf(&b, ", \"max_running\": %lld, \"running\": %lld, \"started\": %lld, \"waiting\": %lld}",
                        c[2], v[0], v[1] < 0 ? 0 : v[1], v[2]);
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
    char grace[24];
    snprintf(grace, sizeof grace, "%d", SAQ__LIMIT_GRACE_MS);
    const char *argv[5] = {k, q->k_alive, q->k_incomplete, prefix, grace};
    saq__op_eval(op, SCRIPT_LIMIT_INFO, limits_reply, 0, 3, 5, argv, NULL);
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
