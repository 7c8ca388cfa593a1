/* SPDX-License-Identifier: MIT */
/* The typed Redis transitions (core.h, section transition.c): a builder per
 * script that lays out its KEYS and ARGV (the only place that knows the
 * order; scripts.c has the same layout by the Lua text), one decoder of the
 * scripts' status replies, and the primitives that update a job record and
 * write it: finish, retry, recover, requeue, settle-unreadable, the registry
 * write. */
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

/* FINISH's 9 ARGV for one job; a batch's numbers are strings the call owns
 * (its inline number storage holds one job's). */
static void put_finish_argv(saq_queue_t *q, saq__call_t *c, const saq_job_t *j, const char *json, size_t len,
                            const saq__guard_t *guard, int del_marker, int batch)
{
    /* failed_ttl: how long this queue keeps a failed job's record (saq #268) */
    int ttl = j->status == SAQ_STATUS_FAILED && q->set.has_failed_ttl ? q->set.failed_ttl : j->ttl;
    saq__call_putn(c, json, len);
    if (batch)
        saq__call_own(c, saq__sprintf("%d", ttl));
    else
        saq__call_fmt(c, "%d", ttl);
    saq__call_put(c, saq__status_name(j->status));
    if (batch) {
        saq__call_flag(c, guard != NULL);
        saq__call_own(c, saq__sprintf("%d", guard ? guard->attempts : 0));
        saq__call_own(c, saq__sprintf("%lld", guard ? (long long)guard->started : 0LL));
    } else {
        put_guard(c, guard);
    }
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
    put_finish_argv(q, c, j, json, len, guard, del_marker, 0);
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
        put_finish_argv(q, c, a[i].j, a[i].json, a[i].len, a[i].guard, a[i].del_marker, 1);
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
    saq__call_init(c, SCRIPT_ABORT_DUE, 4);
    saq__call_put(c, q->k_abortwatch);
    saq__call_put(c, id);
    saq__call_put(c, q->k_alive);
    saq__call_put(c, q->k_stats);
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
    char *b = c->num[c->nnum++];
    saq__fmt_double(b, now_s);
    saq__call_put(c, b);
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
    saq__call_putn(c, rec, reclen);
    saq__call_putn(c, json, len);
    saq__call_fmt(c, "%d", ttl);
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

/* ---- the primitives ---- */

/* What a primitive's write counts in the queue's counters once it is done. */
typedef enum count {
    COUNT_NONE,     /* a requeue: the job was never run */
    COUNT_RETRIED,  /* n_retried */
    COUNT_FINISHED, /* the finish status's counter */
} count_t;

typedef struct prim {
    saq_queue_t *q;
    saq__done_fn done;
    void *ud;
    int script;
    count_t count;
    int status; /* COUNT_FINISHED: the status written */
    saq__logrec_t *note; /* logged once the write is done (SAQ__TX_OK), or NULL */
} prim_t;

void saq__count_finish(saq_queue_t *q, int status)
{
    if (status == SAQ_STATUS_COMPLETE)
        atomic_fetch_add(&q->n_complete, 1);
    else if (status == SAQ_STATUS_FAILED)
        atomic_fetch_add(&q->n_failed, 1);
    else if (status == SAQ_STATUS_ABORTED)
        atomic_fetch_add(&q->n_aborted, 1);
}

static void prim_reply(saq__req_t *req, redisReply *rep, int err, const char *msg)
{
    prim_t *p = req->data;
    saq__tx_reply_t x = {SAQ__TX_NONE, 0, NULL, NULL};
    saq__tx_t result = err ? SAQ__TX_NONE : saq__tx_decode(p->script, rep, &x);
    if (result == SAQ__TX_ABORTED && x.text)
        msg = x.text;
    if (result == SAQ__TX_OK) {
        saq__log_commit(p->q, p->note);
        p->note = NULL;
        if (p->count == COUNT_FINISHED)
            saq__count_finish(p->q, p->status);
        else if (p->count == COUNT_RETRIED)
            atomic_fetch_add(&p->q->n_retried, 1);
    }
    if (p->done)
        p->done(p->ud, err, msg, result);
    saq__log_discard(p->note);
    free(p);
}

/* Send a built call for a primitive; done learns of a failure to send. `note` (owned; NULL
 * for none) is logged once the script says it wrote (SAQ__TX_OK), else dropped. */
static void prim_send(saq_queue_t *q, saq__call_t *c, saq__done_fn done, void *ud, count_t count,
                      int status, saq__logrec_t *note)
{
    prim_t *p = saq__malloc(sizeof *p);
    if (p) {
        *p = (prim_t){q, done, ud, c->script, count, status, note};
        if (saq__tx_send(q, c, prim_reply, p))
            return;
        free(p);
    } else {
        saq__tx_call_free(c);
    }
    saq__log_discard(note);
    if (done)
        done(ud, SAQ_ENOMEM, "out of memory", SAQ__TX_NONE);
}

char *saq__finish_record(saq_queue_t *q, saq_job_t *j, int status, const char *result, const char *error,
                         size_t *len, int *e, const char **msg)
{
    j->status = status;
    if (saq__set_str(&j->result, result) || saq__set_str(&j->error, error)) {
        *e = SAQ_ENOMEM, *msg = "out of memory";
        return NULL;
    }
    j->completed = saq__now_ms();
    if (status == SAQ_STATUS_COMPLETE)
        j->progress = 1.0;
    saq__job_invalidate(j);
    char *json = saq__dump_job(q, j, len, e);
    if (!json)
        *msg = *e == SAQ_ETOOBIG ? "job result exceeds max_payload_bytes" : saq_strerror(*e);
    return json;
}

void saq__finish_job(saq_queue_t *q, saq_job_t *j, int status, const char *result,
                     const char *error, const saq__guard_t *guard, int flags, saq__done_fn done,
                     void *ud)
{
    int e;
    size_t len;
    const char *msg;
    char *json = saq__finish_record(q, j, status, result, error, &len, &e, &msg);
    if (!json) {
        if (done)
            done(ud, e, msg, SAQ__TX_NONE);
        return;
    }
    saq__call_t c;
    saq__tx_finish(q, j, json, len, guard, flags & SAQ__DEL_MARKER, &c);
    prim_send(q, &c, done, ud, COUNT_FINISHED, status, NULL);
    free(json);
}

typedef struct finishes {
    saq_queue_t *q;
    size_t n;
    struct { saq__done_fn done; void *ud; int status; } it[];
} finishes_t;

static void finishes_reply(saq__req_t *req, redisReply *rep, int err, const char *msg)
{
    finishes_t *f = req->data;
    int whole = !err && rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == f->n;
    for (size_t i = 0; i < f->n; i++) {
        saq__tx_reply_t x = {SAQ__TX_NONE, 0, NULL, NULL};
        saq__tx_t result = whole ? saq__tx_decode(SCRIPT_FINISH, rep->element[i], &x) : SAQ__TX_NONE;
        if (result == SAQ__TX_OK)
            saq__count_finish(f->q, f->it[i].status);
        if (f->it[i].done) /* each as its own FINISH's reply */
            f->it[i].done(f->it[i].ud, whole ? 0 : err ? err : SAQ_EPROTO,
                          result == SAQ__TX_ABORTED && x.text ? x.text : whole ? NULL : msg ? msg : "unexpected reply",
                          result);
    }
    free(f);
}

void saq__finish_jobs(saq_queue_t *q, saq__finish_item_t *items, size_t n)
{
    finishes_t *f = n > 1 ? saq__malloc(sizeof *f + n * sizeof f->it[0]) : NULL;
    saq__tx_finish_t *a = f ? saq__calloc(n, sizeof *a) : NULL;
    if (!a) { /* one (or out of memory): a FINISH each */
        free(f);
        for (size_t i = 0; i < n; i++) {
            saq__call_t c;
            saq__tx_finish(q, items[i].j, items[i].json, items[i].len, items[i].guard,
                           items[i].flags & SAQ__DEL_MARKER, &c);
            prim_send(q, &c, items[i].done, items[i].ud, COUNT_FINISHED, items[i].j->status, NULL);
            free(items[i].json);
            items[i].json = NULL;
        }
        return;
    }
    f->q = q;
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        a[i] = (saq__tx_finish_t){items[i].j, items[i].json, items[i].len, items[i].guard,
                                  items[i].flags & SAQ__DEL_MARKER};
        f->it[i].done = items[i].done;
        f->it[i].ud = items[i].ud;
        f->it[i].status = items[i].j->status;
    }
    saq__call_t c;
    saq__tx_finishes(q, a, n, &c);
    free(a);
    saq__req_t *r = saq__tx_send(q, &c, finishes_reply, f);
    for (size_t i = 0; i < n; i++) {
        free(items[i].json);
        items[i].json = NULL;
    }
    if (r)
        return;
    free(f);
    for (size_t i = 0; i < n; i++)
        if (items[i].done)
            items[i].done(items[i].ud, SAQ_ENOMEM, "out of memory", SAQ__TX_NONE);
}

void saq__retry_job(saq_queue_t *q, saq_job_t *j, const char *error, const saq__guard_t *guard,
                    saq__done_fn done, void *ud)
{
    int e;
    size_t len;
    j->status = SAQ_STATUS_QUEUED;
    if (saq__set_str(&j->error, error)) {
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", SAQ__TX_NONE);
        return;
    }
    j->completed = 0;
    j->started = 0;
    j->progress = 0;
    j->touched = saq__now_ms();
    saq__job_invalidate(j);
    double delay = saq__retry_delay_with(j, q->set.retry_jitter, q->set.retry_min_delay);
    /* pushed now: score 0, never promoted twice (saq U1) */
    double score = delay > 0 ? saq__now_s() + delay : 0;
    char *json = saq__dump_job(q, j, &len, &e);
    if (!json) {
        if (done)
            done(ud, e, saq_strerror(e), SAQ__TX_NONE);
        return;
    }
    saq__call_t c;
    saq__tx_retry(q, j, json, len, score, guard, &c);
    prim_send(q, &c, done, ud, COUNT_RETRIED, 0, NULL);
    free(json);
}

void saq__requeue_unmarked(saq_queue_t *q, const char *id, const char *rec, size_t reclen)
{
    saq__call_t c;
    saq__tx_recover(q,
                    &(saq__tx_recover_t){.id = id, .old = rec, .oldlen = reclen, .json = rec,
                                         .len = reclen, .retry = 1, .score = 0, .ttl = 0,
                                         .status = "queued", .watch = SAQ__TX_WATCH_NONE},
                    &c);
    const char *key = saq__key_of(q, id);
    prim_send(q, &c, NULL, NULL, COUNT_NONE, 0,
              saq__log_prepare(q, SAQ_LOG_INFO, 0, SAQ__LF(SAQ__LS("job", key)),
                               "job %s put back in the queue: it was moved to active, but the "
                               "reply of that move was lost (a dropped connection or a dead "
                               "worker)", key));
}

void saq__recover_job(saq_queue_t *q, const char *old, size_t oldlen, saq_job_t *j,
                      const char *error, int flags, saq__done_fn done, void *ud)
{
    int e, retry = j->retries > j->attempts && !(flags & SAQ__RECOVER_ABORTED);
    size_t len;
    double score = 0;
    if (error && saq__set_str(&j->error, error)) {
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", SAQ__TX_NONE);
        return;
    }
    if (retry) {
        j->status = SAQ_STATUS_QUEUED;
        j->completed = j->started = 0;
        j->progress = 0;
        j->touched = saq__now_ms();
        double delay = saq__retry_delay_with(j, q->set.retry_jitter, q->set.retry_min_delay);
        if (delay > 0)
            score = saq__now_s() + delay;
    } else {
        j->status = SAQ_STATUS_ABORTED;
        free(j->result);
        j->result = NULL;
        j->completed = saq__now_ms();
    }
    saq__job_invalidate(j);
    char *json = saq__dump_job(q, j, &len, &e);
    if (!json) {
        if (e == SAQ_ETOOBIG) /* the recovered record would not fit: settle it failed */
            saq__settle_unreadable(q, j->id, old, oldlen, "it does not fit in max_payload_bytes once recovered");
        if (done)
            done(ud, e, saq_strerror(e), SAQ__TX_NONE);
        return;
    }
    int watch = flags & SAQ__RECOVER_ABORTED    ? SAQ__TX_WATCH_ABORT
                : flags & SAQ__RECOVER_UNLISTED ? SAQ__TX_WATCH_SWEEP
                                                : SAQ__TX_WATCH_NONE;
    char of[240] = ""; /* " of worker <id>", when the record names one */
    if (j->worker_id)
        snprintf(of, sizeof of, " of worker %.200s", j->worker_id);
    const char *then = retry ? "queued again" : "aborted (no retries left)";
    saq__logrec_t *note = saq__log_prepare(
        q, SAQ_LOG_WARNING, 0,
        SAQ__LF(SAQ__LS("job", j->key), SAQ__LS("function", j->function),
                SAQ__LS("worker", j->worker_id), SAQ__LS("reason", j->error),
                SAQ__LN("attempts", j->attempts)),
        flags & SAQ__RECOVER_UNLISTED  ? "job %s (%s)%s was stuck in active: swept%.0s; %s"
        : flags & SAQ__RECOVER_ABORTED ? "job %s (%s)%s finished aborted (%s): its worker is "
                                         "gone%.0s"
                                       : "job %s (%s)%s recovered: %s; %s",
        j->key, j->function, of, j->error ? j->error : "", then);
    saq__call_t c;
    saq__tx_recover(q,
                    &(saq__tx_recover_t){.id = j->id, .old = old, .oldlen = oldlen, .json = json,
                                         .len = len, .retry = retry, .score = score, .ttl = j->ttl,
                                         .status = "aborted", .watch = watch},
                    &c);
    prim_send(q, &c, done, ud, retry ? COUNT_RETRIED : COUNT_FINISHED, SAQ_STATUS_ABORTED, note);
    free(json);
}

void saq__settle_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                            const char *why)
{
    enum { KEEP_S = 86400 };
    if (strncmp(id, q->k_jobprefix, q->jobprefix_len) || !id[q->jobprefix_len]) {
        /* not one of this queue's job ids (pushed into the list by hand, or
         * another queue's): drop it from active, touch the key not */
        saq__cmdf(&q->cmd, NULL, NULL, "LREM %s 1 %s", q->k_active, id);
        saq__log(q, SAQ_LOG_WARNING, SAQ_EPROTO, SAQ__LF(SAQ__LS("id", id)),
                 "'%s' in the queue's active list is not one of its job ids: dropped", id);
        return;
    }
    saq_job_t j;
    saq__job_init(&j);
    const char *key = id + q->jobprefix_len;
    char *keep = saq__tx_unreadable_key(q, key);
    char *msg = saq__sprintf("libsaq: the job's record cannot be read (%s); it was failed instead of "
                             "being left in active. The record as it was is kept for %d s in %s",
                             why, KEEP_S, keep ? keep : "?");
    int e = 0, settling = 0;
    size_t len = 0;
    char *json = NULL;
    if (msg && keep && !saq__set_str(&j.id, id) && !saq__set_str(&j.key, key) &&
        !saq__set_str(&j.queue, q->set.name) && !saq__set_str(&j.function, "?") &&
        !saq__set_str(&j.error, msg)) {
        j.status = SAQ_STATUS_FAILED;
        j.completed = j.touched = saq__now_ms();
        j.ttl = KEEP_S;
        json = saq__dump_job(q, &j, &len, &e);
    }
    prim_t *p = json ? saq__malloc(sizeof *p) : NULL;
    if (p) {
        *p = (prim_t){q, NULL, NULL, SCRIPT_UNREADABLE, COUNT_FINISHED, SAQ_STATUS_FAILED, NULL};
        settling = 1;
        saq__call_t c;
        saq__tx_unreadable(q, id, rec, reclen, json, len, KEEP_S, &c);
        if (!saq__tx_send(q, &c, prim_reply, p))
            free(p);
    }
    saq__log(q, SAQ_LOG_ERROR, SAQ_EPROTO,
             SAQ__LF(SAQ__LS("job", key), SAQ__LS("reason", why), SAQ__LS("kept", keep)),
             "job %s: %s%s", key, msg ? msg : why,
             settling ? "" : " (could not be settled: out of memory)");
    free(json);
    free(msg);
    free(keep);
    saq__job_clear(&j);
}

/* ---- the worker registry write (MULTI/EXEC) ---- */

static void registry_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq__done_fn done = (saq__done_fn)req->aux;
    (void)r;
    if (done)
        done(req->data, err, msg, err ? SAQ__TX_NONE : SAQ__TX_OK);
}

void saq__write_registry(saq_queue_t *q, const char *wid, const char *stats, const char *metadata,
                         int ttl, int dual, saq__done_fn done, void *ud)
{
    char ttls[24], score[32], now[32];
    int64_t nowms = saq__now_ms();
    snprintf(ttls, sizeof ttls, "%d", ttl);
    snprintf(now, sizeof now, "%lld", (long long)nowms);
    snprintf(score, sizeof score, "%lld", (long long)nowms + (long long)ttl * 1000);
    char *k26 = saq__sprintf("%s%s", q->k_wiprefix, wid);
    char *k13 = saq__sprintf("%s%s", q->k_statsprefix, wid);
    saq__buf_t b = {0};
    saq__buf_puts(&b, "{\"stats\": ");
    saq__buf_puts(&b, stats);
    saq__buf_puts(&b, ", \"queue_key\": ");
    saq__buf_json_str(&b, q->set.name);
    saq__buf_puts(&b, ", \"metadata\": ");
    saq__buf_puts(&b, metadata ? metadata : "null");
    saq__buf_putc(&b, '}');
    char *info = saq__buf_take(&b);
    int is13 = q->set.dialect == SAQ__DIALECT_013;
    if (!k26 || !k13 || !info) {
        if (done)
            done(ud, SAQ_ENOMEM, "out of memory", SAQ__TX_NONE);
        goto out;
    }
    const char *member = is13 ? k13 : k26;
    saq__cmdf(&q->cmd, registry_reply, NULL, "MULTI");
    if (!is13 || dual)
        saq__cmdf(&q->cmd, registry_reply, NULL, "SETEX %s %s %s", k26, ttls, info);
    if (is13 || dual)
        saq__cmdf(&q->cmd, registry_reply, NULL, "SETEX %s %s %s", k13, ttls, stats);
    saq__cmdf(&q->cmd, registry_reply, NULL, "ZREMRANGEBYSCORE %s 0 %s", q->k_stats, now);
    saq__cmdf(&q->cmd, registry_reply, NULL, "ZADD %s %s %s", q->k_stats, score, member);
    saq__cmdf(&q->cmd, registry_reply, NULL, "EXPIRE %s %s", q->k_stats, ttls);
    saq__req_t *r = saq__cmdf(&q->cmd, registry_reply, ud, "EXEC");
    if (r)
        r->aux = (void *)done;
    else if (done)
        done(ud, SAQ_ENOMEM, "out of memory", SAQ__TX_NONE);
out:
    free(k26);
    free(k13);
    free(info);
}
