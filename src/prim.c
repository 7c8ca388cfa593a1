/* SPDX-License-Identifier: MIT */
/* The record primitives (transition.h, section prim.c): a job record updated
 * as saq updates it, dumped, and written by its typed transition (finish,
 * a batch of finishes, retry, recover, requeue, settle-unreadable), the
 * queue's counters following what the script wrote; and the worker registry
 * write. */
#include "core.h"

/* What a primitive's write counts in the queue's counters once it is done. */
typedef enum count {
    COUNT_NONE,     /* a requeue: the job was never run */
    COUNT_RETRIED,  /* n_retried */
    COUNT_FINISHED, /* the finish status's counter */
    COUNT_FINISHED_AGAIN, /* the same, for a FINISH sent again after its reply was lost */
} count_t;

typedef struct prim {
    saq_queue_t *q;
    saq__done_fn done;
    void *ud;
    int script;
    count_t count;
    int status; /* COUNT_FINISHED(_AGAIN): the status written */
    saq__logrec_t *note; /* logged once the write is done (SAQ__TX_OK), or NULL */
    int note_unanswered; /* the note is logged also when no reply came (the outcome unknown) */
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

/* A FINISH's reply counted: OK; or, for a FINISH sent again after its reply
 * was lost (`again`), SAME for complete and failed: that run's outcome found
 * stored is the first write, which landed uncounted, so it counts now (once).
 * Not for `aborted`, which has other writers (the abort watch, a sweep, a
 * recovery) that count their own; nor for a first write, whose SAME is
 * another client's finish of the run (saq's Queue.finish), counted there. */
static void count_written(saq_queue_t *q, int status, saq__tx_t result, int again)
{
    if (result == SAQ__TX_OK || (result == SAQ__TX_SAME && again && status != SAQ_STATUS_ABORTED))
        saq__count_finish(q, status);
}

static void prim_reply(saq__req_t *req, redisReply *rep, int err, const char *msg)
{
    prim_t *p = req->data;
    saq__tx_reply_t x = {SAQ__TX_NONE, 0, NULL, NULL};
    saq__tx_t result = err ? SAQ__TX_NONE : saq__tx_decode(p->script, rep, &x);
    if (result == SAQ__TX_ABORTED && x.text)
        msg = x.text;
    if (result == SAQ__TX_OK || (err && p->note_unanswered)) {
        saq__log_commit(p->q, p->note);
        p->note = NULL;
    }
    if (p->count == COUNT_FINISHED || p->count == COUNT_FINISHED_AGAIN)
        count_written(p->q, p->status, result, p->count == COUNT_FINISHED_AGAIN);
    else if (p->count == COUNT_RETRIED && result == SAQ__TX_OK)
        atomic_fetch_add(&p->q->n_retried, 1);
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
        *p = (prim_t){q, done, ud, c->script, count, status, note, 0};
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
    prim_send(q, &c, done, ud, flags & SAQ__REWRITE ? COUNT_FINISHED_AGAIN : COUNT_FINISHED, status, NULL);
    free(json);
}

typedef struct finishes {
    saq_queue_t *q;
    size_t n;
    struct { saq__done_fn done; void *ud; int status, again; } it[];
} finishes_t;

static void finishes_reply(saq__req_t *req, redisReply *rep, int err, const char *msg)
{
    finishes_t *f = req->data;
    for (size_t i = 0; i < f->n; i++) {
        saq__tx_item_t it = saq__tx_item(rep, err, msg, f->n, i, "unexpected reply to FINISHES");
        saq__tx_reply_t x = {SAQ__TX_NONE, 0, NULL, NULL};
        saq__tx_t result = it.r ? saq__tx_decode(SCRIPT_FINISH, it.r, &x) : SAQ__TX_NONE;
        count_written(f->q, f->it[i].status, result, f->it[i].again);
        if (f->it[i].done) /* each as its own FINISH's reply */
            f->it[i].done(f->it[i].ud, it.err, result == SAQ__TX_ABORTED && x.text ? x.text : it.msg, result);
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
            prim_send(q, &c, items[i].done, items[i].ud,
                      items[i].flags & SAQ__REWRITE ? COUNT_FINISHED_AGAIN : COUNT_FINISHED, items[i].j->status,
                      NULL);
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
        f->it[i].again = (items[i].flags & SAQ__REWRITE) != 0;
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

void saq__settle_wrong_type(saq_queue_t *q, const char *id, const char *type)
{
    char why[120];
    snprintf(why, sizeof why, "its key holds %s%.40s, not a job record", type ? "a " : "another type than a string",
             type ? type : "");
    saq__settle_unreadable(q, id, NULL, 0, why);
}

void saq__settle_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                            const char *why)
{
    enum { KEEP_S = 86400 };
    if (strncmp(id, q->k_jobprefix, q->jobprefix_len) || !id[q->jobprefix_len]) {
        /* not one of this queue's job ids (pushed into the list by hand, or
         * another queue's): drop it from active, touch the key not */
        saq__cmdf(&q->cmd, NULL, NULL, "LREM %s 1 %s", q->k_active, id);
        saq__cmdf(&q->cmd, NULL, NULL, "ZREM %s %s", q->k_incomplete, id); /* as a sweep would */
        saq__log(q, SAQ_LOG_WARNING, SAQ_EPROTO, SAQ__LF(SAQ__LS("id", id)),
                 "'%s' in the queue's lists is not one of its job ids: dropped", id);
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
        /* logged once the script wrote it (a second entry of the id, found
         * settled already, is refused: nothing to say) */
        saq__logrec_t *note =
            saq__log_prepare(q, SAQ_LOG_ERROR, SAQ_EPROTO,
                             SAQ__LF(SAQ__LS("job", key), SAQ__LS("reason", why), SAQ__LS("kept", keep)),
                             "job %s: %s", key, msg ? msg : why);
        /* logged also when the reply is lost: the job may be settled */
        *p = (prim_t){q, NULL, NULL, SCRIPT_UNREADABLE, COUNT_FINISHED, SAQ_STATUS_FAILED, note, 1};
        settling = 1;
        saq__call_t c;
        saq__tx_unreadable(q, id, rec, reclen, json, len, KEEP_S, &c);
        if (!saq__tx_send(q, &c, prim_reply, p)) {
            saq__log_discard(note);
            free(p);
            settling = 0;
        }
    }
    if (!settling)
        saq__log(q, SAQ_LOG_ERROR, SAQ_EPROTO,
                 SAQ__LF(SAQ__LS("job", key), SAQ__LS("reason", why), SAQ__LS("kept", keep)),
                 "job %s: %s (could not be settled: out of memory)", key, msg ? msg : why);
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
