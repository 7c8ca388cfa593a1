/* SPDX-License-Identifier: MIT */
/* saq_queue_iter_jobs: saq 0.26's Queue.iter_jobs one page at a time. SCAN
 * with MATCH saq:job:<q>:* (the queue name's glob characters escaped) and the
 * caller's COUNT, then MGET of the ids found, keeping the records of the
 * statuses asked for. The cursor is SCAN's, so a job present during the whole
 * scan is returned at least once. A SCAN step that keeps no record (its keys
 * matched nothing, were gone by the MGET, or had other statuses) is followed
 * by the next one in the same operation, so a page is empty only when the
 * scan is over (cursor "0"). In Redis Cluster every job key of the queue
 * carries its hash tag, so the scan of the one master owning that slot (the
 * queue's command connection) sees them all. */
#include "core.h"

typedef struct iter_op {
    saq__op_t op;
    char *pattern;
    char cursor[24];
    char count[16];
    unsigned statuses; /* bit per SAQ_STATUS_* kept */
    char **ids;
    size_t nids;
} iter_op_t;

static void iter_destroy(saq__op_t *op)
{
    iter_op_t *o = (iter_op_t *)op;
    free(o->pattern);
    saq__ids_free(o->ids, o->nids);
}

static void iter_scanned(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg);

static void iter_go(saq__op_t *op)
{
    iter_op_t *o = (iter_op_t *)op;
    const char *argv[6] = {"SCAN", o->cursor, "MATCH", o->pattern, "COUNT", o->count};
    saq__op_cmd(op, iter_scanned, 0, 6, argv, NULL);
}

/* The next SCAN step from o->cursor, after one that kept nothing. */
static void iter_next(saq__op_t *op)
{
    iter_op_t *o = (iter_op_t *)op;
    saq__ids_free(o->ids, o->nids);
    o->ids = NULL;
    o->nids = 0;
    iter_go(op);
}

/* The MGET of the page's ids: the records of the statuses asked for. */
static void iter_records(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    iter_op_t *o = (iter_op_t *)op;
    saq_event_t *ev = op->ev;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "cannot read jobs: %s", msg);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != o->nids) {
        saq__op_fail(op, SAQ_EPROTO, "unexpected MGET reply");
        return;
    }
    if (!(ev->jobs = saq__calloc(o->nids, sizeof *ev->jobs))) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    saq__buf_t b = {0};
    saq__buf_putc(&b, '[');
    for (size_t i = 0; i < o->nids; i++) {
        char e2[240];
        saq_job_t *j = NULL;
        if (saq__job_from_reply(op->q, r->element[i], o->ids[i], &j, e2, sizeof e2))
            continue; /* gone since the scan, or not a record this queue can read */
        if (!(o->statuses & (1u << j->status))) {
            saq_job_free(j);
            continue;
        }
        char *s = saq__job_dump(j, op->q->set.dialect);
        saq__buf_puts(&b, ev->njobs ? ", " : "");
        saq__buf_puts(&b, s ? s : "null");
        free(s);
        ev->jobs[ev->njobs++] = j;
    }
    saq__buf_putc(&b, ']');
    if (!ev->njobs && strcmp(o->cursor, "0")) { /* nothing kept: the scan goes on */
        free(saq__buf_take(&b));
        free(ev->jobs);
        ev->jobs = NULL;
        iter_next(op);
        return;
    }
    if (!(ev->json = saq__buf_take(&b)))
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
    else
        saq__op_complete(op);
}

static void iter_scanned(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    iter_op_t *o = (iter_op_t *)op;
    (void)req;
    if (err) {
        saq__op_fail(op, err, "cannot scan jobs: %s", msg);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY || r->element[0]->len >= sizeof o->cursor) {
        saq__op_fail(op, SAQ_EPROTO, "unexpected SCAN reply");
        return;
    }
    redisReply *keys = r->element[1];
    memcpy(o->cursor, r->element[0]->str, r->element[0]->len);
    o->cursor[r->element[0]->len] = 0;
    free(op->ev->key);
    if (!(op->ev->key = saq__strdup(o->cursor)) || !(o->ids = saq__calloc(keys->elements + 1, sizeof *o->ids))) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < keys->elements; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING)
            continue;
        if (!(o->ids[o->nids] = saq__strndup(keys->element[i]->str, keys->element[i]->len))) {
            saq__op_fail(op, SAQ_ENOMEM, "out of memory");
            return;
        }
        o->nids++;
    }
    if (!o->nids) {
        if (strcmp(o->cursor, "0")) { /* no key in this step: the scan goes on */
            iter_next(op);
            return;
        }
        op->ev->json = saq__strdup("[]");
        if (!op->ev->json)
            saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        else
            saq__op_complete(op);
        return;
    }
    const char **argv = saq__malloc((o->nids + 1) * sizeof *argv);
    if (!argv) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    argv[0] = "MGET";
    for (size_t i = 0; i < o->nids; i++)
        argv[i + 1] = o->ids[i];
    saq__op_cmd(op, iter_records, 0, (int)o->nids + 1, argv, NULL);
    free(argv);
}

static void iter_start(saq__op_t *op) { saq__op_with_permit(op, iter_go); }

/* "saq:job:<name>:*" with the glob characters of the name escaped. */
static char *job_pattern(const char *name)
{
    saq__buf_t b = {0};
    saq__buf_puts(&b, "saq:job:");
    for (const char *p = name; *p; p++) {
        if (strchr("*?[]\\", *p))
            saq__buf_putc(&b, '\\');
        saq__buf_putc(&b, *p);
    }
    saq__buf_puts(&b, ":*");
    return saq__buf_take(&b);
}

/* The statuses to keep: a bit per SAQ_STATUS_*. 0 for an unknown name (its
 * text in bad). */
static unsigned parse_statuses(const char *s, char *bad, size_t badlen)
{
    unsigned bits = 0;
    if (!s || !*s)
        return (1u << (SAQ_STATUS_COMPLETE + 1)) - 1;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if (e > s) {
            int st = saq__status_parse(s, (size_t)(e - s));
            if (st < 0) {
                snprintf(bad, badlen, "%.*s", (int)(e - s), s);
                return 0;
            }
            bits |= 1u << st;
        }
        s = e;
    }
    if (!bits)
        snprintf(bad, badlen, "(none)");
    return bits;
}

SAQ_API int saq_queue_iter_jobs(saq_queue_t *q, const char *statuses, const char *cursor, int count,
                                saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(iter_op_t), SAQ_EVENT_ITER_JOBS, cq, tag, iter_start,
                                   iter_destroy, &err);
    if (!op)
        return err;
    iter_op_t *o = (iter_op_t *)op;
    char bad[64];
    if (count < 1 || count > 10000) {
        saq__event_error(op->ev, SAQ_EINVAL, "count must be 1..10000, got %d", count);
        return saq__op_submit(op);
    }
    if (!cursor || !*cursor)
        cursor = "0";
    size_t n = strspn(cursor, "0123456789");
    /* SCAN's cursor is an unsigned 64-bit number: a longer one is refused here, not by Redis */
    if (cursor[n] || n > 20 || (n == 20 && strcmp(cursor, "18446744073709551615") > 0)) {
        saq__event_error(op->ev, SAQ_EINVAL, "cursor '%.40s' is not a scan cursor (a decimal number)", cursor);
        return saq__op_submit(op);
    }
    if (!(o->statuses = parse_statuses(statuses, bad, sizeof bad))) {
        saq__event_error(op->ev, SAQ_EINVAL,
                         "unknown job status '%s' (expected new, queued, active, aborting, aborted, failed "
                         "or complete)",
                         bad);
        return saq__op_submit(op);
    }
    memcpy(o->cursor, cursor, n + 1);
    snprintf(o->count, sizeof o->count, "%d", count);
    if (!(o->pattern = job_pattern(q->set.name))) {
        saq__event_error(op->ev, SAQ_ENOMEM, "out of memory");
        return saq__op_submit(op);
    }
    return saq__op_submit(op);
}
