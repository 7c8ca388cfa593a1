/* SPDX-License-Identifier: MIT */
/* saq_queue_overview and saq_queue_metrics: the queue-wide figures any
 * process can read, from saq's own keys and worker registry (so Python saq
 * workers count), in one OVERVIEW script call (one snapshot on Redis's
 * clock): the counts by state, the age of the oldest queued job (its record's
 * `queued`), the live workers with their counters, and per-minute rates from
 * the registry samples kept in saq:<q>:libsaq:samples (rates.c). Rendered as
 * JSON (OVERVIEW event) or as a Prometheus exposition (METRICS event). */
#include "core.h"

#include <math.h>

typedef struct ov_worker {
    char *id;
    long long v[5];  /* complete, failed, retried, aborted, uptime ms */
    char *metadata;  /* raw JSON, or NULL */
    int libsaq;
} ov_worker_t;

typedef struct ov_op {
    saq__op_t op;
    int metrics;     /* render the Prometheus text instead of JSON */
    int64_t now;
    long long queued, active, incomplete, scheduled;
    int has_age;
    double age_s;
    ov_worker_t *w;
    size_t nw;
    int has_rates;
    double rate[4], window_s;
    int paused;      /* saq_queue_pause's flag is set */
    double paused_ms; /* its value (the epoch ms of the pause), 0 when not a number */
} ov_op_t;

static const char *const outcome_names[4] = {"complete", "failed", "retried", "aborted"};

static void ov_destroy(saq__op_t *op)
{
    ov_op_t *o = (ov_op_t *)op;
    for (size_t i = 0; i < o->nw; i++) {
        free(o->w[i].id);
        free(o->w[i].metadata);
    }
    free(o->w);
}

static int is_int(const redisReply *r) { return r && r->type == REDIS_REPLY_INTEGER; }

/* A registry record: saq 0.26's {"stats": {...}, "metadata": ...} or, flat,
 * 0.13's stats object. Counters that are missing or not numbers read as 0. */
static int parse_record(const char *s, size_t n, int flat, ov_worker_t *w)
{
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    int more;
    if (saq__jobj_begin(&it, s, n, NULL, 0))
        return -1;
    while ((more = saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0)) == 1) {
        if (!flat && kn == 7 && !memcmp(k, "\"stats\"", 7)) {
            if (v[0] == '{' && parse_record(v, vn, 1, w))
                return -1;
        } else if (!flat && kn == 10 && !memcmp(k, "\"metadata\"", 10)) {
            free(w->metadata);
            w->metadata = NULL;
            if (!(vn == 4 && !memcmp(v, "null", 4)) && !(w->metadata = saq__strndup(v, vn)))
                return -1;
        } else if (flat) {
            static const char *const names[5] = {"\"complete\"", "\"failed\"", "\"retried\"", "\"aborted\"",
                                                 "\"uptime\""};
            for (int i = 0; i < 5; i++) {
                double d;
                if (kn == strlen(names[i]) && !memcmp(k, names[i], kn) && !saq__json_number(v, vn, &d) &&
                    d >= 0 && d <= 1e15)
                    w->v[i] = (long long)d;
            }
        }
    }
    return more < 0 ? -1 : 0;
}

/* The registry part of the reply: ids, records, libsaq flags. */
static int read_workers(ov_op_t *o, const redisReply *ids, const redisReply *recs, const redisReply *flags)
{
    size_t n = ids->elements;
    if (recs->elements != n || flags->elements != n)
        return SAQ_EPROTO;
    o->w = saq__calloc(n ? n : 1, sizeof *o->w);
    if (!o->w)
        return SAQ_ENOMEM;
    int flat = o->op.q->set.dialect == SAQ__DIALECT_013;
    for (size_t i = 0; i < n; i++) {
        const redisReply *id = ids->element[i], *rec = recs->element[i];
        if (id->type != REDIS_REPLY_STRING || rec->type != REDIS_REPLY_STRING)
            continue;
        ov_worker_t *w = &o->w[o->nw];
        memset(w, 0, sizeof *w);
        if (parse_record(rec->str, rec->len, flat, w)) { /* not a record saq could read either */
            free(w->metadata);
            continue;
        }
        if (!(w->id = saq__strndup(id->str, id->len))) {
            free(w->metadata);
            return SAQ_ENOMEM;
        }
        w->libsaq = is_int(flags->element[i]) && flags->element[i]->integer == 1;
        o->nw++;
    }
    return SAQ_OK;
}

/* The oldest queued job's age, from its record's `queued` (ms). */
static void read_head(ov_op_t *o, const redisReply *head)
{
    if (head->type != REDIS_REPLY_ARRAY || head->elements != 2 ||
        head->element[0]->type != REDIS_REPLY_STRING || head->element[1]->type != REDIS_REPLY_STRING)
        return;
    saq_job_t j;
    char err[200];
    saq__job_init(&j);
    char *id = saq__strndup(head->element[0]->str, head->element[0]->len);
    if (id && !saq__load_job(o->op.q, id, head->element[1]->str, head->element[1]->len, &j, err, sizeof err) &&
        j.queued > 0) {
        o->has_age = 1;
        o->age_s = o->now > j.queued ? (double)(o->now - j.queued) / 1000.0 : 0.0;
    }
    free(id);
    saq__job_clear(&j);
}

static int by_time(const void *a, const void *b)
{
    int64_t x = ((const saq__rpoint_t *)a)->t, y = ((const saq__rpoint_t *)b)->t;
    return x < y ? -1 : x > y;
}

/* per_minute: the stored samples (in time order: several writers push them),
 * then the registry now. */
static int read_rates(ov_op_t *o, const redisReply *samples)
{
    size_t n = samples->elements;
    saq__rpoint_t *pts = saq__calloc(n + 1, sizeof *pts);
    if (!pts)
        return SAQ_ENOMEM;
    size_t np = 0;
    int rc = SAQ_OK;
    for (size_t i = n; i-- > 0;) {
        const redisReply *s = samples->element[i];
        if (s->type != REDIS_REPLY_STRING || saq__rpoint_parse(s->str, s->len, &pts[np]))
            continue;
        if (pts[np].t <= o->now)
            np++;
        else /* from a later clock (a failover to a server whose clock is behind) */
            saq__rpoint_free(&pts[np]);
    }
    qsort(pts, np, sizeof *pts, by_time);
    pts[np].t = o->now;
    for (size_t i = 0; i < o->nw && !rc; i++)
        if (saq__rpoint_add(&pts[np], o->w[i].id, o->w[i].v))
            rc = SAQ_ENOMEM;
    np++;
    if (!rc)
        o->has_rates = !saq__rates(pts, np, o->rate, &o->window_s);
    for (size_t i = 0; i < np; i++)
        saq__rpoint_free(&pts[i]);
    free(pts);
    return rc;
}

static int decode(ov_op_t *o, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 11)
        return SAQ_EPROTO;
    redisReply *const *e = r->element;
    for (int i = 0; i < 5; i++)
        if (!is_int(e[i]))
            return SAQ_EPROTO;
    for (int i = 5; i < 10; i++)
        if (e[i]->type != REDIS_REPLY_ARRAY)
            return SAQ_EPROTO;
    o->now = e[0]->integer;
    o->queued = e[1]->integer;
    o->active = e[2]->integer;
    o->incomplete = e[3]->integer;
    o->scheduled = e[4]->integer;
    read_head(o, e[5]);
    if ((o->paused = e[10]->type == REDIS_REPLY_STRING) &&
        (saq__json_number(e[10]->str, e[10]->len, &o->paused_ms) || !(o->paused_ms > 0)))
        o->paused_ms = 0;
    int rc = read_workers(o, e[6], e[7], e[8]);
    return rc ? rc : read_rates(o, e[9]);
}

static void put_rate(saq__buf_t *b, double v) { saq__buf_json_num(b, round(v * 100.0) / 100.0); }

static char *render_json(const ov_op_t *o)
{
    saq__buf_t b = {0};
    long long tot[4] = {0, 0, 0, 0};
    saq__buf_puts(&b, "{\"queue\": ");
    saq__buf_json_str(&b, o->op.q->set.name);
    saq__buf_printf(&b, ", \"time_ms\": %lld, \"jobs\": {\"queued\": %lld, \"active\": %lld, \"scheduled\": %lld, "
                        "\"incomplete\": %lld}, \"oldest_queued_age_s\": ",
                    (long long)o->now, o->queued, o->active, o->scheduled, o->incomplete);
    if (o->has_age)
        saq__buf_json_num(&b, round(o->age_s * 1000.0) / 1000.0);
    else
        saq__buf_puts(&b, "null");
    saq__buf_puts(&b, ", \"workers\": [");
    for (size_t i = 0; i < o->nw; i++) {
        const ov_worker_t *w = &o->w[i];
        saq__buf_puts(&b, i ? ", {\"id\": " : "{\"id\": ");
        saq__buf_json_str(&b, w->id);
        for (int k = 0; k < 4; k++) {
            saq__buf_printf(&b, ", \"%s\": %lld", outcome_names[k], w->v[k]);
            tot[k] += w->v[k];
        }
        saq__buf_printf(&b, ", \"uptime_ms\": %lld, \"metadata\": %s, \"libsaq\": %s}", w->v[4],
                        w->metadata ? w->metadata : "null", w->libsaq ? "true" : "false");
    }
    saq__buf_printf(&b, "], \"workers_alive\": %zu, \"totals\": {", o->nw);
    for (int k = 0; k < 4; k++)
        saq__buf_printf(&b, "%s\"%s\": %lld", k ? ", " : "", outcome_names[k], tot[k]);
    saq__buf_puts(&b, "}, \"per_minute\": ");
    if (o->has_rates) {
        for (int k = 0; k < 4; k++) {
            saq__buf_printf(&b, "%s\"%s\": ", k ? ", " : "{", outcome_names[k]);
            put_rate(&b, o->rate[k]);
        }
        saq__buf_puts(&b, ", \"window_s\": ");
        put_rate(&b, o->window_s);
        saq__buf_putc(&b, '}');
    } else {
        saq__buf_puts(&b, "null");
    }
    saq__buf_printf(&b, ", \"paused\": %s, \"paused_since_ms\": ", o->paused ? "true" : "false");
    if (o->paused_ms > 0)
        saq__buf_printf(&b, "%.0f}", o->paused_ms);
    else
        saq__buf_puts(&b, "null}");
    return saq__buf_take(&b);
}

static char *render_metrics(const ov_op_t *o)
{
    saq__buf_t b = {0};
    const char *qn = o->op.q->set.name;
    static const char *const states[3] = {"queued", "active", "scheduled"};
    const long long counts[3] = {o->queued, o->active, o->scheduled};
    saq__prom_family(&b, "saq_queue_jobs", "gauge",
                     "Jobs in the queue by state: queued (waiting to run), active (handed to a worker), "
                     "scheduled (not due yet, or waiting for a retry).");
    for (int i = 0; i < 3; i++) {
        const char *l[] = {"queue", qn, "state", states[i]};
        saq__prom_sample(&b, "saq_queue_jobs", l, 2, (double)counts[i]);
    }
    const char *lq[] = {"queue", qn};
    saq__prom_family(&b, "saq_queue_oldest_job_age_seconds", "gauge",
                     "Seconds since the job at the head of the queue was enqueued (0 when none is queued).");
    saq__prom_sample(&b, "saq_queue_oldest_job_age_seconds", lq, 1, o->has_age ? o->age_s : 0.0);
    saq__prom_family(&b, "saq_queue_paused", "gauge",
                     "1 while the queue is paused (libsaq workers take no jobs from it), else 0.");
    saq__prom_sample(&b, "saq_queue_paused", lq, 1, o->paused ? 1.0 : 0.0);
    saq__prom_family(&b, "saq_queue_workers", "gauge", "Workers alive in the queue's registry.");
    saq__prom_sample(&b, "saq_queue_workers", lq, 1, (double)o->nw);
    saq__prom_family(&b, "saq_worker_jobs_total", "counter",
                     "Jobs each live worker finished or retried, by outcome, from the registry "
                     "(reset when the worker restarts).");
    for (size_t i = 0; i < o->nw; i++)
        for (int k = 0; k < 4; k++) {
            const char *l[] = {"queue", qn, "worker", o->w[i].id, "outcome", outcome_names[k]};
            saq__prom_sample(&b, "saq_worker_jobs_total", l, 3, (double)o->w[i].v[k]);
        }
    saq__prom_family(&b, "saq_worker_uptime_seconds", "gauge",
                     "Seconds since each live worker started, from the registry.");
    for (size_t i = 0; i < o->nw; i++) {
        const char *l[] = {"queue", qn, "worker", o->w[i].id};
        saq__prom_sample(&b, "saq_worker_uptime_seconds", l, 2, (double)o->w[i].v[4] / 1000.0);
    }
    return saq__buf_take(&b);
}

static void ov_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    ov_op_t *o = (ov_op_t *)op;
    (void)req;
    saq__op_release_permit(op);
    if (err) {
        saq__op_fail(op, err, "overview failed: %s", msg);
        return;
    }
    int rc = decode(o, r);
    if (rc) {
        saq__op_fail(op, rc, rc == SAQ_ENOMEM ? "out of memory" : "unexpected OVERVIEW reply");
        return;
    }
    char *s = o->metrics ? render_metrics(o) : render_json(o);
    if (!s) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    if (o->metrics)
        op->ev->text = s;
    else
        op->ev->json = s;
    saq__op_complete(op);
}

static void ov_go(saq__op_t *op)
{
    saq__call_t c;
    saq__tx_overview(op->q, 1, &c);
    saq__tx_send_op(op, &c, ov_reply, 0);
}

static void ov_start(saq__op_t *op) { saq__op_with_permit(op, ov_go); }

static int submit(saq_queue_t *q, int metrics, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(ov_op_t), metrics ? SAQ_EVENT_METRICS : SAQ_EVENT_OVERVIEW, cq,
                                   tag, ov_start, ov_destroy, &err);
    if (!op)
        return err;
    ((ov_op_t *)op)->metrics = metrics;
    return saq__op_submit(op);
}

SAQ_API int saq_queue_overview(saq_queue_t *q, saq_cq_t *cq, uint64_t tag) { return submit(q, 0, cq, tag); }

SAQ_API int saq_queue_metrics(saq_queue_t *q, saq_cq_t *cq, uint64_t tag) { return submit(q, 1, cq, tag); }

/* The worker's sample at its registry write (upkeep.c): the reply is not needed. */
static void sample_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req, (void)r, (void)err, (void)msg;
}

void saq__overview_sample(saq_queue_t *q)
{
    saq__call_t c;
    saq__tx_overview(q, 0, &c);
    saq__tx_send(q, &c, sample_reply, NULL);
}
