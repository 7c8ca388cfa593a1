/* SPDX-License-Identifier: MIT */
/* The typed Redis transitions (core.h, section transition.c): a builder per
 * script that lays out its KEYS and ARGV (the only place that knows the
 * order; scripts.c has the same layout by the Lua text), one decoder of the
 * scripts' status replies (the primitives that update a record and write it
 * through these are in prim.c). */
#include "core.h"

char *saq__tx_marker(saq_queue_t *q, const char *key)
{
    /* Redis Cluster: in the queue's namespace, so that it shares the queue's
     * hash slot (saq's own name holds no tag, and would cross slots) */
    if (q->set.url.topo == SAQ__TOPO_CLUSTER)
        return saq__sprintf("saq:%s:abort:%s", q->set.name, key);
    return saq__sprintf("saq:abort:%s", key);
}

char *saq__tx_unreadable_key(saq_queue_t *q, const char *key)
{
    return saq__sprintf("saq:%s:libsaq:unreadable:%s", q->set.name, key);
}

static const char *watch_key(saq_queue_t *q, int watch)
{
    return watch == SAQ__TX_WATCH_ABORT ? q->k_abortwatch : q->k_watch;
}

/* ---- the builders: each script's KEYS, then its ARGV ---- */

void saq__tx_enqueue(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len,
                     saq__call_t *c)
{
    saq__call_init(c, SCRIPT_ENQUEUE, 4);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, j->id);
    saq__call_put(c, q->k_queued);
    saq__call_own(c, saq__tx_marker(q, j->key));
    saq__call_putn(c, json, len);
    saq__call_score(c, j->scheduled);
}

void saq__tx_enqueues(saq_queue_t *q, const saq__tx_enqueue_t *a, size_t n, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_ENQUEUES, 2 + 2 * (int)n);
    if (saq__call_reserve(c, (int)(2 + 4 * n)))
        return;
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, q->k_queued);
    for (size_t i = 0; i < n; i++) {
        saq__call_put(c, a[i].j->id);
        saq__call_own(c, saq__tx_marker(q, a[i].j->key));
    }
    for (size_t i = 0; i < n; i++) {
        saq__call_putn(c, a[i].json, a[i].len);
        saq__call_score(c, a[i].j->scheduled);
    }
}

void saq__tx_dequeue(saq_queue_t *q, int max, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_DEQUEUE, 2);
    saq__call_put(c, q->k_queued);
    saq__call_put(c, q->k_active);
    saq__call_fmt(c, "%d", max);
    saq__call_flag(c, q->have_lmove || !q->server_version);
}

void saq__tx_mark(saq_queue_t *q, const saq__tx_mark_t *a, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_MARK, 3);
    saq__call_put(c, q->k_active);
    saq__call_put(c, a->id);
    saq__call_own(c, saq__tx_marker(q, a->key));
    saq__call_putn(c, a->json, a->len);
    saq__call_flag(c, q->set.dialect == SAQ__DIALECT_013);
    saq__call_flag(c, a->opaque || q->set.dump);
    saq__call_putn(c, a->dequeued ? a->dequeued : "", a->dequeued ? a->dequeued_len : 0);
    saq__call_flag(c, a->resent);
}

void saq__tx_marks(saq_queue_t *q, const saq__tx_mark_t *a, size_t n, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_MARKS, 1 + 2 * (int)n);
    saq__call_put(c, q->k_active);
    for (size_t i = 0; i < n; i++) {
        saq__call_put(c, a[i].id);
        saq__call_own(c, saq__tx_marker(q, a[i].key));
    }
    saq__call_flag(c, q->set.dialect == SAQ__DIALECT_013);
    saq__call_flag(c, q->set.dump != NULL);
    for (size_t i = 0; i < n; i++) {
        saq__call_putn(c, a[i].json, a[i].len);
        saq__call_putn(c, a[i].dequeued ? a[i].dequeued : "", a[i].dequeued ? a[i].dequeued_len : 0);
        saq__call_flag(c, a[i].resent);
    }
}

/* The guard's three ARGV (guarded, attempts, started). */
static void put_guard(saq__call_t *c, const saq__guard_t *g)
{
    saq__call_flag(c, g != NULL);
    saq__call_fmt(c, "%d", g ? g->attempts : 0);
    saq__call_fmt(c, "%lld", g ? (long long)g->started : 0LL);
}

static void put_expect(saq__call_t *c, const saq__guard_t *g)
{
    saq__call_putn(c, g && g->expect ? g->expect : "", g && g->expect ? g->expect_len : 0);
}

/* FINISH's 9 ARGV for one job (FINISHES: of each job in turn). */
static void put_finish_argv(saq_queue_t *q, saq__call_t *c, const saq_job_t *j, const char *json, size_t len,
                            const saq__guard_t *guard, int del_marker)
{
    /* failed_ttl: how long this queue keeps a failed job's record (saq #268) */
    int ttl = j->status == SAQ_STATUS_FAILED && q->set.has_failed_ttl ? q->set.failed_ttl : j->ttl;
    saq__call_putn(c, json, len);
    saq__call_fmt(c, "%d", ttl);
    saq__call_put(c, saq__status_name(j->status));
    put_guard(c, guard);
    saq__call_flag(c, guard && q->set.dialect == SAQ__DIALECT_013);
    saq__call_flag(c, del_marker);
    put_expect(c, guard);
}

void saq__tx_finish(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len,
                    const saq__guard_t *guard, int del_marker, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_FINISH, 4);
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, j->id);
    saq__call_own(c, saq__tx_marker(q, j->key));
    put_finish_argv(q, c, j, json, len, guard, del_marker);
}

void saq__tx_finishes(saq_queue_t *q, const saq__tx_finish_t *a, size_t n, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_FINISHES, 2 + 2 * (int)n);
    if (saq__call_reserve(c, (int)(2 + 11 * n)))
        return;
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_incomplete);
    for (size_t i = 0; i < n; i++) {
        saq__call_put(c, a[i].j->id);
        saq__call_own(c, saq__tx_marker(q, a[i].j->key));
    }
    for (size_t i = 0; i < n; i++)
        put_finish_argv(q, c, a[i].j, a[i].json, a[i].len, a[i].guard, a[i].del_marker);
}

void saq__tx_retry(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len, double score,
                   const saq__guard_t *guard, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_RETRY, 5);
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_queued);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, j->id);
    saq__call_own(c, saq__tx_marker(q, j->key));
    saq__call_putn(c, json, len);
    saq__call_score(c, score);
    saq__call_flag(c, !(score > 0)); /* push: due now */
    put_guard(c, guard);
    saq__call_flag(c, guard && q->set.dialect == SAQ__DIALECT_013);
    put_expect(c, guard);
}

void saq__tx_update(saq_queue_t *q, const saq__tx_update_t *a, saq__call_t *c)
{
    (void)q;
    saq__call_init(c, SCRIPT_UPDATE, 1);
    saq__call_put(c, a->id);
    saq__call_put(c, a->head);
    saq__call_put(c, a->err);
    saq__call_put(c, a->tail);
    saq__call_put(c, a->status);
    put_guard(c, a->guard);
}

void saq__tx_replace(saq_queue_t *q, const char *id, const char *json, size_t len,
                     const char *status, const char *expect, size_t expect_len, saq__call_t *c)
{
    (void)q;
    saq__call_init(c, SCRIPT_REPLACE, 1);
    saq__call_put(c, id);
    saq__call_putn(c, json, len);
    saq__call_put(c, status);
    saq__call_putn(c, expect ? expect : "", expect ? expect_len : 0);
}

void saq__tx_abort(saq_queue_t *q, const saq__tx_abort_t *a, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_ABORT, 6);
    saq__call_put(c, q->k_queued);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, a->id);
    saq__call_own(c, saq__tx_marker(q, a->key));
    saq__call_put(c, q->k_active);
    saq__call_put(c, watch_key(q, a->watch));
    saq__call_putn(c, a->form013 ? "" : a->old, a->form013 ? 0 : a->oldlen);
    saq__call_putn(c, a->form013 ? "" : a->json, a->form013 ? 0 : a->len);
    saq__call_fmt(c, "%d", a->ttl);
    saq__call_put(c, a->reason);
    if (a->watch_ms < 0)
        saq__call_put(c, "");
    else
        saq__call_fmt(c, "%.0f", a->watch_ms);
    saq__call_put(c, a->form013 ? "013" : "");
    saq__call_put(c, a->watch == SAQ__TX_WATCH_SWEEP ? "sweep" : "");
}

void saq__tx_delete(saq_queue_t *q, const char *id, const char *key, const char *rec, size_t reclen,
                    int check_active, int del_marker, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_DELETE, 8);
    saq__call_put(c, id);
    saq__call_put(c, q->k_queued);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_watch);
    saq__call_put(c, q->k_abortwatch);
    saq__call_own(c, saq__tx_marker(q, key));
    saq__call_own(c, saq__tx_unreadable_key(q, key));
    saq__call_putn(c, rec ? rec : "", rec ? reclen : 0);
    saq__call_flag(c, check_active);
    saq__call_flag(c, del_marker);
}

void saq__tx_abort_due(saq_queue_t *q, const char *id, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_ABORT_DUE, 5);
    saq__call_put(c, q->k_abortwatch);
    saq__call_put(c, id);
    saq__call_put(c, q->k_alive);
    saq__call_put(c, q->k_stats);
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_wiprefix);
    saq__call_put(c, q->k_statsprefix);
}

void saq__tx_schedule(saq_queue_t *q, long long lock_ms, double now_s, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_SCHEDULE, 3);
    saq__call_put(c, q->k_schedule);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, q->k_queued);
    saq__call_fmt(c, "%lld", lock_ms);
    saq__call_score(c, now_s); /* now: always > 0 */
}

void saq__tx_sweep(saq_queue_t *q, long long lock_ms, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_SWEEP, 2);
    saq__call_put(c, q->k_sweep);
    saq__call_put(c, q->k_active);
    saq__call_fmt(c, "%lld", lock_ms);
}

void saq__tx_recover(saq_queue_t *q, const saq__tx_recover_t *a, saq__call_t *c)
{
    int watched = a->watch != SAQ__TX_WATCH_NONE;
    saq__call_init(c, SCRIPT_RECOVER, watched ? 5 : 4);
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_queued);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, a->id);
    if (watched)
        saq__call_put(c, watch_key(q, a->watch));
    saq__call_putn(c, a->old, a->oldlen);
    saq__call_putn(c, a->json, a->len);
    saq__call_put(c, a->retry ? "retry" : "finish");
    saq__call_score(c, a->retry ? a->score : 0);
    saq__call_flag(c, !(a->retry && a->score > 0)); /* push: due now */
    saq__call_fmt(c, "%d", a->ttl);
    saq__call_put(c, a->status);
    if (watched)
        saq__call_put(c, "1"); /* also when the id is in no list */
}

void saq__tx_alive(saq_queue_t *q, const char *wid, unsigned long long entry_ms,
                   char *const *forget, size_t nforget, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_ALIVE, 3);
    if (nforget > (size_t)(1 << 20) || saq__call_reserve(c, 5 + (int)nforget)) {
        c->oom = 1;
        return;
    }
    saq__call_put(c, q->k_alive);
    saq__call_put(c, q->k_watch);
    saq__call_put(c, q->k_abortwatch);
    saq__call_put(c, wid);
    saq__call_fmt(c, "%llu", entry_ms);
    for (size_t i = 0; i < nforget; i++)
        saq__call_put(c, forget[i] ? forget[i] : "");
}

void saq__tx_overview(saq_queue_t *q, int figures, saq__call_t *c)
{
    int is13 = q->set.dialect == SAQ__DIALECT_013;
    saq__call_init(c, SCRIPT_OVERVIEW, 7);
    saq__call_put(c, q->k_queued);
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, q->k_stats);
    saq__call_put(c, q->k_alive);
    saq__call_put(c, q->k_samples);
    saq__call_put(c, q->k_paused);
    saq__call_put(c, figures ? "o" : "s");
    saq__call_put(c, is13 ? q->k_statsprefix : q->k_wiprefix);
    saq__call_put(c, is13 ? q->k_wiprefix : q->k_statsprefix);
    saq__call_flag(c, is13);
    saq__call_fmt(c, "%d", SAQ__SAMPLE_SPACING_MS);
    saq__call_fmt(c, "%d", SAQ__SAMPLES_KEPT);
    saq__call_fmt(c, "%d", SAQ__SAMPLES_TTL_S);
}

void saq__tx_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                        const char *json, size_t len, int ttl, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_UNREADABLE, 4);
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_incomplete);
    saq__call_put(c, id);
    saq__call_own(c, saq__tx_unreadable_key(q, id + q->jobprefix_len));
    saq__call_putn(c, rec ? rec : "", rec ? reclen : 0);
    saq__call_putn(c, json, len);
    saq__call_fmt(c, "%d", ttl);
    saq__call_flag(c, rec == NULL);
}

void saq__tx_give_back(saq_queue_t *q, const char *id, const char *rec, size_t reclen, saq__call_t *c)
{
    saq__call_init(c, SCRIPT_GIVE_BACK, 4);
    saq__call_put(c, q->k_active);
    saq__call_put(c, q->k_queued);
    saq__call_put(c, id);
    saq__call_own(c, saq__tx_marker(q, saq__key_of(q, id)));
    saq__call_putn(c, rec, reclen);
    saq__call_flag(c, q->set.dialect == SAQ__DIALECT_013);
}

/* ---- pipelines of an operation (MULTI/EXEC and plain commands) ---- */

static void ignore_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)op, (void)req, (void)r, (void)err, (void)msg;
}

void saq__tx_abort013_op(saq__op_t *op, const char *id, const char *key, int ttl, const char *reason,
                         saq__op_reply_fn cb)
{
    saq_queue_t *q = op->q;
    char *marker = saq__tx_marker(q, key);
    if (!marker) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    char ttls[24], ttl1[24];
    snprintf(ttls, sizeof ttls, "%d", ttl);
    snprintf(ttl1, sizeof ttl1, "%lld", (long long)ttl + 1);
    const char *a1[1] = {"MULTI"};
    const char *a2[4] = {"LREM", q->k_queued, "0", id};
    const char *a3[3] = {"ZREM", q->k_incomplete, id};
    const char *a4[3] = {"EXPIRE", id, ttl1};
    const char *a5[4] = {"SETEX", marker, ttls, reason};
    const char *a6[1] = {"EXEC"};
    saq__op_cmd(op, ignore_reply, 0, 1, a1, NULL);
    saq__op_cmd(op, ignore_reply, 0, 4, a2, NULL);
    saq__op_cmd(op, ignore_reply, 0, 3, a3, NULL);
    saq__op_cmd(op, ignore_reply, 0, 3, a4, NULL);
    saq__op_cmd(op, ignore_reply, 0, 4, a5, NULL);
    saq__op_cmd(op, cb, 0, 1, a6, NULL);
    free(marker);
}

void saq__tx_overwrite_op(saq__op_t *op, const char *id, const char *json, size_t len,
                          const char *status, saq__op_reply_fn cb)
{
    const char *a1[3] = {"SET", id, json};
    size_t l1[3] = {3, strlen(id), len};
    const char *a2[3] = {"PUBLISH", id, status};
    saq__op_cmd(op, ignore_reply, 0, 3, a1, l1);
    saq__op_cmd(op, cb, 0, 3, a2, NULL);
}

/* ---- decoding the replies ---- */

static int is_int(const redisReply *r) { return r && r->type == REDIS_REPLY_INTEGER; }
static int is_str(const redisReply *r) { return r && r->type == REDIS_REPLY_STRING; }

/* {code, ...}: the leading integer of an array reply */
static int lead_int(const redisReply *r, long long *v)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !is_int(r->element[0]))
        return -1;
    *v = r->element[0]->integer;
    return 0;
}

saq__tx_t saq__tx_decode(int script, const redisReply *r, saq__tx_reply_t *out)
{
    saq__tx_reply_t x = {SAQ__TX_NONE, 0, NULL, NULL};
    long long v;
    if (!r)
        goto out;
    switch (script) {
    case SCRIPT_ENQUEUE: /* 1, or nil */
        if (is_int(r) && r->integer == 1)
            x.code = SAQ__TX_OK;
        else if (r->type == REDIS_REPLY_NIL)
            x.code = SAQ__TX_REFUSED;
        break;
    case SCRIPT_MARK: /* {1}, {0}, {-3}, {-1, status, record[, marker text]} */
    case SCRIPT_GIVE_BACK:
        if (lead_int(r, &v))
            break;
        if (v == 1)
            x.code = SAQ__TX_OK;
        else if (v == 0)
            x.code = SAQ__TX_REFUSED;
        else if (v == -3)
            x.code = SAQ__TX_OPAQUE;
        else if (v == -1) {
            const char *st = r->elements >= 2 && is_str(r->element[1]) ? r->element[1]->str : NULL;
            x.record = r->elements >= 3 ? r->element[2] : NULL;
            if (st && x.record && !strcmp(st, "aborting")) {
                x.code = SAQ__TX_ABORTED;
                x.text = r->elements >= 4 && is_str(r->element[3]) ? r->element[3]->str : NULL;
            } else {
                x.code = SAQ__TX_TAKEN;
                x.text = st;
            }
        }
        break;
    case SCRIPT_FINISH: /* {1}, {3}, {-2}, {-1, error} */
    case SCRIPT_RETRY:
        if (lead_int(r, &v))
            break;
        if (v == 1)
            x.code = SAQ__TX_OK;
        else if (v == 3)
            x.code = SAQ__TX_SAME;
        else if (v == -2)
            x.code = SAQ__TX_LOST;
        else if (v == -1) {
            x.code = SAQ__TX_ABORTED;
            x.text = r->elements >= 2 && is_str(r->element[1]) ? r->element[1]->str : NULL;
        }
        break;
    case SCRIPT_UPDATE: /* 1 or 0 */
    case SCRIPT_REPLACE:
    case SCRIPT_RECOVER:
    case SCRIPT_UNREADABLE:
        if (is_int(r) && (r->integer == 1 || r->integer == 0))
            x.code = r->integer == 1 ? SAQ__TX_OK : SAQ__TX_REFUSED;
        break;
    case SCRIPT_DELETE: /* -1, -2, or the keys and entries removed (OK or DEQUEUED) */
    case SCRIPT_ABORT:  /* -1, -2, or the entries removed from queued */
        if (!is_int(r))
            break;
        x.n = r->integer;
        x.code = r->integer == -2  ? SAQ__TX_REFUSED
                 : r->integer < 0  ? SAQ__TX_CHANGED
                 : r->integer == 0 ? SAQ__TX_OK
                                   : SAQ__TX_DEQUEUED;
        if (x.n < 0)
            x.n = 0;
        break;
    case SCRIPT_ABORT_DUE: /* {0}, or {1, record} */
        if (lead_int(r, &v))
            break;
        if (v == 0)
            x.code = SAQ__TX_OK;
        else if (v == 1 && r->elements == 2 && is_str(r->element[1])) {
            x.code = SAQ__TX_DUE;
            x.record = r->element[1];
        }
        break;
    default:
        break;
    }
out:
    if (out)
        *out = x;
    return x.code;
}

saq__tx_t saq__tx_abort013_decode(const redisReply *r, saq__tx_reply_t *out)
{
    saq__tx_reply_t x = {SAQ__TX_OK, 0, NULL, NULL};
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && is_int(r->element[0]) &&
        r->element[0]->integer > 0) {
        x.code = SAQ__TX_DEQUEUED;
        x.n = r->element[0]->integer;
    }
    if (out)
        *out = x;
    return x.code;
}

size_t saq__tx_dequeued(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
}

redisReply *saq__tx_dequeued_id(const redisReply *r, size_t i) { return r->element[2 * i]; }

redisReply *saq__tx_dequeued_record(const redisReply *r, size_t i) { return r->element[2 * i + 1]; }

const char *saq__tx_key_type(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_STRING
               ? r->element[0]->str
               : NULL;
}

int saq__tx_alive_decode(const redisReply *r, saq__tx_alive_reply_t *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY ||
        r->element[3]->type != REDIS_REPLY_ARRAY)
        return -1;
    out->dead = r->element[0];
    out->due = r->element[1];
    out->aborts = r->element[3];
    out->has_now = is_int(r->element[2]);
    out->now = out->has_now ? r->element[2]->integer : 0;
    return 0;
}
