/* SPDX-License-Identifier: MIT */
/* Flows (an extension saq ignores): member jobs and a callback job enqueued
 * exactly once when every member is terminal, with the members' outcomes in
 * its kwargs. The builder (saq_flow_*), the enqueue and read operations, and
 * a worker's side: the note after a terminal outcome and the periodic check.
 * The bookkeeping itself is the FLOW script (scripts.c documents its keys);
 * this file lays out its KEYS and ARGV. */
#include "core.h"

/* Where the callback's kwargs get the outcomes: the record is split around
 * this string (with its quotes) and the script puts the outcomes between. */
#define FLOW_SLOT "@@libsaq.flow.outcomes@@"
#define FLOW_RECHECK_MS "2000" /* an open flow is checked again after this long */
#define FLOW_SWEEP_MAX "50"    /* flows checked per periodic call at most */
#define FLOW_SWEEP_LOOKS "2000" /* members read per periodic call (about): bounds its time in Redis */
#define FLOW_TICK_MS 1000
/* The callback's record leaves this much of max_payload_bytes to the worker
 * (started, touched, attempts, worker_id when it marks the job active), and its
 * outcomes' shortest form (counts only: "omitted") takes at most FLOW_LEAST
 * bytes plus 6 per byte of the flow id (escapes). */
#define FLOW_ROOM 256
#define FLOW_LEAST 256

struct saq_flow {
    saq_job_t *cb;
    saq_job_t **m;
    size_t n, cap;
    int ttl;
    char err[300]; /* why the last call on the flow failed (saq_flow_errmsg) */
};

SAQ_API saq_flow_t *saq_flow_new(const saq_job_t *callback)
{
    if (!callback)
        return NULL;
    saq_flow_t *f = saq__calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->ttl = 86400;
    if (!(f->cb = saq_job_dup(callback))) {
        free(f);
        return NULL;
    }
    return f;
}

SAQ_API int saq_flow_add(saq_flow_t *f, const saq_job_t *member)
{
    if (!f)
        return SAQ_EINVAL;
    f->err[0] = '\0';
    if (!member) {
        snprintf(f->err, sizeof f->err, "flow member is NULL");
        return SAQ_EINVAL;
    }
    if (!strcmp(member->key, f->cb->key)) {
        snprintf(f->err, sizeof f->err, "flow member key '%.200s' is the callback's key (the flow id)",
                 member->key);
        return SAQ_EINVAL;
    }
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(member->key, f->m[i]->key)) {
            snprintf(f->err, sizeof f->err, "flow member key '%.200s' is already in the flow (member %zu)",
                     member->key, i);
            return SAQ_EINVAL;
        }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        saq_job_t **m = saq__realloc(f->m, cap * sizeof *m);
        if (!m) {
            snprintf(f->err, sizeof f->err, "out of memory");
            return SAQ_ENOMEM;
        }
        f->m = m;
        f->cap = cap;
    }
    if (!(f->m[f->n] = saq_job_dup(member))) {
        snprintf(f->err, sizeof f->err, "out of memory");
        return SAQ_ENOMEM;
    }
    f->n++;
    return SAQ_OK;
}

SAQ_API int saq_flow_set_ttl(saq_flow_t *f, int seconds)
{
    if (!f)
        return SAQ_EINVAL;
    f->err[0] = '\0';
    if (seconds < 0) {
        snprintf(f->err, sizeof f->err, "flow ttl must be >= 0 seconds, not %d", seconds);
        return SAQ_EINVAL;
    }
    f->ttl = seconds;
    return SAQ_OK;
}

SAQ_API const char *saq_flow_errmsg(const saq_flow_t *f) { return f ? f->err : ""; }

SAQ_API size_t saq_flow_size(const saq_flow_t *f) { return f ? f->n : 0; }

SAQ_API void saq_flow_free(saq_flow_t *f)
{
    if (!f)
        return;
    saq_job_free(f->cb);
    for (size_t i = 0; i < f->n; i++)
        saq_job_free(f->m[i]);
    free(f->m);
    free(f);
}

/* ---- the script's arguments ---- */

/* A growing argument vector of owned strings. */
typedef struct args {
    char **v;
    size_t *len;
    int n, cap;
    int oom;
} args_t;

static void args_putn(args_t *a, const char *s, size_t n)
{
    if (a->oom)
        return;
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        char **v = saq__realloc(a->v, (size_t)cap * sizeof *v);
        if (v)
            a->v = v;
        size_t *l = v ? saq__realloc(a->len, (size_t)cap * sizeof *l) : NULL;
        if (!v || !l) {
            a->oom = 1;
            return;
        }
        a->len = l;
        a->cap = cap;
    }
    char *c = s ? saq__strndup(s, n) : NULL;
    if (!c) {
        a->oom = 1;
        return;
    }
    a->v[a->n] = c;
    a->len[a->n++] = n;
}

static void args_put(args_t *a, const char *s)
{
    if (!s)
        a->oom = 1;
    else
        args_putn(a, s, strlen(s));
}

/* Take s (malloc'd; NULL: out of memory). */
static void args_put_own(args_t *a, char *s)
{
    args_put(a, s);
    free(s);
}

static void args_free(args_t *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof *a);
}

/* KEYS flows, flowof, incomplete, queued; ARGV op, flow prefix, job id
 * prefix, recheck ms. */
static void args_head(args_t *a, saq_queue_t *q, const char *op)
{
    const char *n = q->set.name;
    args_put_own(a, saq__sprintf("saq:%s:libsaq:flows", n));
    args_put_own(a, saq__sprintf("saq:%s:libsaq:flowof", n));
    args_put(a, q->k_incomplete);
    args_put(a, q->k_queued);
    args_put(a, op);
    args_put_own(a, saq__sprintf("saq:%s:libsaq:flow:", n));
    args_put(a, q->k_jobprefix);
    args_put(a, FLOW_RECHECK_MS);
}

static void args_score(args_t *a, double scheduled)
{
    char b[40];
    if (scheduled > 0)
        saq__fmt_double(b, scheduled);
    else
        strcpy(b, "0"); /* saq's push-now test compares the text */
    args_put(a, b);
}

/* ---- saq_queue_enqueue_flow ---- */

typedef struct flow_op {
    saq__op_t op;
    args_t a;
} flow_op_t;

static void flow_destroy(saq__op_t *op)
{
    flow_op_t *f = (flow_op_t *)op;
    args_free(&f->a);
}

/* Send the op's call. A create waits for min_replicas as an enqueue does (conn.c decides
 * that by script for the others; FLOW's ops share one script). */
static void flow_send(saq__op_t *op, saq__op_reply_fn cb, int create)
{
    flow_op_t *f = (flow_op_t *)op;
    op->cancel = NULL;
    saq__req_t *r = saq__op_eval(op, SCRIPT_FLOW, cb, 0, 4, f->a.n, (const char **)f->a.v, f->a.len);
    if (r && create && op->q->set.min_replicas)
        r->wait_replicas = 1; /* read when the reply comes, on this thread */
}

static void enqf_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    long long v = 0;
    (void)req;
    saq__op_release_permit(op);
    if (err) {
        saq__op_fail(op, err, "flow enqueue failed: %s", msg);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || saq__reply_int(r->element[0], &v)) {
        saq__op_fail(op, SAQ_EPROTO, "unexpected reply to the flow enqueue");
        return;
    }
    if (v < 0) {
        const char *id = r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING
                             ? r->element[1]->str : "?";
        saq__op_fail(op, SAQ_ESTATE,
                     "job %s is already enqueued (or has an abort marker); nothing was written",
                     saq__key_of(op->q, id));
        return;
    }
    op->ev->ival = v;
    if (v)
        atomic_store(&op->q->flows_seen, 1);
    saq__op_complete(op);
}

static void enqf_go(saq__op_t *op) { flow_send(op, enqf_reply, 1); }
static void enqf_start(saq__op_t *op) { saq__op_with_permit(op, enqf_go); }

static void enqf_cancel(saq__op_t *op)
{
    saq__op_fail(op, SAQ_ECLOSED, "flow enqueue cancelled before it was sent; nothing was written");
}

static int cmp_keys(const void *x, const void *y)
{
    return strcmp((*(saq_job_t *const *)x)->key, (*(saq_job_t *const *)y)->key);
}

/* Does the kwargs object have a member "flow"? */
static int has_flow_kwarg(const char *kwargs)
{
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    if (!kwargs || saq__jobj_begin(&it, kwargs, strlen(kwargs), NULL, 0))
        return 0;
    while (saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0) == 1)
        if (kn == 6 && !memcmp(k, "\"flow\"", 6))
            return 1;
    return 0;
}

/* The callback's record split around its outcomes: args head, tail. */
static int put_callback(saq_queue_t *q, saq_job_t *cb, args_t *a, char **msg)
{
    if (has_flow_kwarg(cb->kwargs)) {
        *msg = saq__sprintf("the callback's kwargs must not have \"flow\" (the outcomes go there)");
        return SAQ_EINVAL;
    }
    char *kw = saq__merge_kwargs(cb->kwargs ? cb->kwargs : "{}", "{\"flow\": \"" FLOW_SLOT "\"}");
    if (!kw)
        return SAQ_ENOMEM;
    free(cb->kwargs);
    cb->kwargs = kw;
    saq__job_invalidate(cb);
    size_t len;
    int code;
    char *json = saq__dump_job(q, cb, &len, &code);
    if (!json)
        return code;
    const char *slot = "\"" FLOW_SLOT "\"";
    char *p = strstr(json, slot);
    if (!p || strstr(p + 1, slot)) {
        free(json);
        *msg = saq__sprintf("the callback's record holds the text " FLOW_SLOT);
        return SAQ_EINVAL;
    }
    size_t limit = q->set.max_payload - FLOW_ROOM;
    if (len - strlen(slot) + FLOW_LEAST + 6 * strlen(cb->key) > limit) {
        free(json);
        *msg = saq__sprintf("the callback's record (%zu bytes) leaves no room for the flow's "
                            "outcomes under max_payload_bytes (%zu)", len, q->set.max_payload);
        return SAQ_ETOOBIG;
    }
    args_putn(a, json, (size_t)(p - json));
    args_put(a, p + strlen(slot));
    free(json);
    return SAQ_OK;
}

/* Prepare the copies (hooks, ids) and lay out the create call. */
static int flow_build(saq_queue_t *q, const saq_flow_t *f, flow_op_t *o, saq__buf_t *ev, char **msg)
{
    int code;
    saq_job_t *cb = saq_job_dup(f->cb);
    saq_job_t **m = saq__calloc(f->n, sizeof *m);
    saq_job_t **sorted = saq__calloc(f->n + 1, sizeof *sorted);
    code = cb && m && sorted ? SAQ_OK : SAQ_ENOMEM;
    for (size_t i = 0; !code && i < f->n; i++)
        code = (m[i] = saq_job_dup(f->m[i])) ? saq__prepare_enqueue(q, m[i], msg) : SAQ_ENOMEM;
    if (!code)
        code = saq__prepare_enqueue(q, cb, msg);
    if (!code) { /* a hook may have changed keys: they must still differ */
        memcpy(sorted, m, f->n * sizeof *m);
        sorted[f->n] = cb;
        qsort(sorted, f->n + 1, sizeof *sorted, cmp_keys);
        for (size_t i = 1; !code && i <= f->n; i++)
            if (!strcmp(sorted[i - 1]->key, sorted[i]->key)) {
                *msg = saq__sprintf("the flow has the key %s twice", sorted[i]->key);
                code = SAQ_EINVAL;
            }
    }
    if (!code) {
        args_head(&o->a, q, "create");
        args_put(&o->a, cb->key);
        args_put(&o->a, cb->id);
        code = put_callback(q, cb, &o->a, msg);
    }
    if (!code) {
        char ttl[24];
        snprintf(ttl, sizeof ttl, "%d", f->ttl);
        args_put(&o->a, ttl);
        args_score(&o->a, cb->scheduled);
        args_put_own(&o->a, saq__tx_marker(q, cb->key));
        char limit[24];
        snprintf(limit, sizeof limit, "%zu", q->set.max_payload - FLOW_ROOM);
        args_put(&o->a, limit);
        saq__buf_puts(ev, "{\"id\": ");
        saq__buf_json_str(ev, cb->key);
        saq__buf_puts(ev, ", \"callback\": ");
        saq__buf_json_str(ev, cb->key);
        saq__buf_puts(ev, ", \"members\": [");
    }
    for (size_t i = 0; !code && i < f->n; i++) {
        size_t len;
        char *json = saq__dump_job(q, m[i], &len, &code);
        if (!json) {
            if (code == SAQ_ETOOBIG)
                *msg = saq__sprintf("job %s is larger than max_payload_bytes (%zu bytes); "
                                    "nothing was written", m[i]->key, q->set.max_payload);
            break;
        }
        args_put(&o->a, m[i]->id);
        args_putn(&o->a, json, len);
        free(json);
        args_score(&o->a, m[i]->scheduled);
        args_put_own(&o->a, saq__tx_marker(q, m[i]->key));
        saq__buf_puts(ev, i ? ", " : "");
        saq__buf_json_str(ev, m[i]->key);
    }
    saq__buf_puts(ev, "]}");
    if (!code && (o->a.oom || ev->oom))
        code = SAQ_ENOMEM;
    for (size_t i = 0; m && i < f->n; i++)
        saq_job_free(m[i]);
    free(m);
    free(sorted);
    saq_job_free(cb);
    return code;
}

SAQ_API int saq_queue_enqueue_flow(saq_queue_t *q, const saq_flow_t *f, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(flow_op_t), SAQ_EVENT_FLOW_ENQUEUE, cq, tag,
                                   enqf_start, flow_destroy, &err);
    if (!op)
        return err;
    op->cancel = enqf_cancel;
    if (!f || !f->n) {
        saq__event_error(op->ev, SAQ_EINVAL, f ? "a flow needs at least one member" : "flow is NULL");
        return saq__op_submit(op);
    }
    if (q->set.dump) {
        saq__event_error(op->ev, SAQ_EINVAL,
                         "flows need JSON records: this queue has a dump transform");
        return saq__op_submit(op);
    }
    char *msg = NULL;
    saq__buf_t ev = {0};
    int code = flow_build(q, f, (flow_op_t *)op, &ev, &msg);
    if (code) {
        saq__event_error(op->ev, code, "%s", msg ? msg : saq_strerror(code));
        saq__buf_free(&ev);
        free(msg);
        return saq__op_submit(op);
    }
    op->ev->json = saq__buf_take(&ev);
    op->ev->key = saq__strdup(f->cb->key);
    if (!op->ev->json || !op->ev->key)
        saq__event_error(op->ev, SAQ_ENOMEM, "out of memory");
    return saq__op_submit(op);
}

/* ---- saq_queue_flow ---- */

/* A member's entry in the flow document: its stored outcome rewritten (key from its id; status,
 * result and error as stored) when that is a JSON object with a string status and a string or
 * null error; else status "unknown" and an error saying what is wrong. */
static void put_member(saq__buf_t *b, saq_queue_t *q, const redisReply *id, const redisReply *o)
{
    char why[200] = "", e[160];
    const char *st = NULL, *res = "null", *er = "null";
    size_t stn = 0, resn = 4, ern = 4;
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    if (o->type != REDIS_REPLY_STRING || !o->len)
        snprintf(why, sizeof why, "no outcome recorded");
    else if (saq__json_validate(o->str, o->len, 'o', e, sizeof e) ||
             saq__jobj_begin(&it, o->str, o->len, e, sizeof e))
        snprintf(why, sizeof why, "not a JSON object: %s", e);
    else
        while (saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0) == 1) {
            if (kn == 8 && !memcmp(k, "\"status\"", 8) && *v == '"')
                st = v, stn = vn;
            else if (kn == 8 && !memcmp(k, "\"result\"", 8))
                res = v, resn = vn;
            else if (kn == 7 && !memcmp(k, "\"error\"", 7)) {
                if (*v == '"' || (vn == 4 && !memcmp(v, "null", 4)))
                    er = v, ern = vn;
                else
                    snprintf(why, sizeof why, "its error is not a string");
            }
        }
    if (!*why && !st)
        snprintf(why, sizeof why, "it has no status string");
    saq__buf_puts(b, "{\"key\":");
    if (id->type == REDIS_REPLY_STRING && id->len)
        saq__buf_json_strn(b, saq__key_of(q, id->str), strlen(saq__key_of(q, id->str)));
    else
        saq__buf_puts(b, "null");
    saq__buf_puts(b, ",\"status\":");
    if (*why) {
        saq__buf_puts(b, "\"unknown\",\"result\":null,\"error\":");
        char *m = saq__sprintf("libsaq: the flow's record of this member's outcome is malformed (%s)", why);
        saq__buf_json_str(b, m ? m : "libsaq: malformed outcome");
        free(m);
    } else {
        saq__buf_put(b, st, stn);
        saq__buf_puts(b, ",\"result\":");
        saq__buf_put(b, res, resn);
        saq__buf_puts(b, ",\"error\":");
        saq__buf_put(b, er, ern);
    }
    saq__buf_puts(b, "}");
}

/* A whole number stored as text (a time in ms), or -1. */
static long long ms_of(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_STRING || !r->len || r->len > 18)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return -1;
        v = v * 10 + (r->str[i] - '0');
    }
    return v;
}

/* The flow document from the get op's reply {1, state, cb, n, pending, created, done, then id,
 * outcome per member}; NULL with *why set when the flow's hash is malformed. */
static char *flow_doc(saq_queue_t *q, const char *fid, redisReply *r, const char **why)
{
    redisReply **x = r->element;
    long long n = -1, pending = -1, created = ms_of(x[5]), done = ms_of(x[6]);
    int open = x[1]->type == REDIS_REPLY_STRING && !strcmp(x[1]->str, "open");
    int closed = x[1]->type == REDIS_REPLY_STRING && !strcmp(x[1]->str, "done");
    saq__reply_int(x[3], &n);
    saq__reply_int(x[4], &pending);
    if (!open && !closed)
        *why = "its state is not open or done";
    else if (x[2]->type != REDIS_REPLY_STRING || !x[2]->len)
        *why = "its callback (field cb) is missing";
    else if (created < 0 || done < 0)
        *why = "its created or done time is not a number of ms";
    else if (n < 0 || pending < 0 || r->elements != 7 + 2 * (size_t)n)
        *why = "its members do not add up";
    else
        *why = NULL;
    if (*why)
        return NULL;
    saq__buf_t b = {0};
    saq__buf_puts(&b, "{\"id\":");
    saq__buf_json_str(&b, fid);
    saq__buf_puts(&b, open ? ",\"state\":\"open\",\"callback\":" : ",\"state\":\"done\",\"callback\":");
    saq__buf_json_strn(&b, saq__key_of(q, x[2]->str), strlen(saq__key_of(q, x[2]->str)));
    char t[160];
    snprintf(t, sizeof t,
             ",\"total\":%lld,\"pending\":%lld,\"created_ms\":%lld,\"done_ms\":%lld,\"members\":[", n,
             pending, created, done);
    saq__buf_puts(&b, t);
    for (long long i = 0; i < n; i++) {
        saq__buf_puts(&b, i ? "," : "");
        put_member(&b, q, x[7 + 2 * i], x[8 + 2 * i]);
    }
    saq__buf_puts(&b, "]}");
    return saq__buf_take(&b);
}

static void getf_reply(saq__op_t *op, saq__req_t *req, redisReply *r, int err, const char *msg)
{
    long long v = -1;
    (void)req;
    saq__op_release_permit(op);
    if (err) {
        saq__op_fail(op, err, "cannot read flow %s: %s", op->ev->key, msg);
        return;
    }
    if (r && r->type == REDIS_REPLY_NIL) {
        saq__op_fail(op, SAQ_ENOTFOUND, "flow '%s' not found in queue '%s'", op->ev->key,
                     op->q->set.name);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || saq__reply_int(r->element[0], &v) ||
        (v == 0 && r->element[1]->type != REDIS_REPLY_STRING) || (v == 1 && r->elements < 7)) {
        saq__op_fail(op, SAQ_EPROTO, "unexpected reply to the flow read");
        return;
    }
    const char *why = v ? NULL : r->element[1]->str;
    char *doc = v ? flow_doc(op->q, op->ev->key, r, &why) : NULL;
    if (why) {
        saq__op_fail(op, SAQ_EPROTO, "flow '%s' in queue '%s' is malformed in Redis: %s", op->ev->key,
                     op->q->set.name, why);
        return;
    }
    if (!(op->ev->json = doc)) {
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
        return;
    }
    saq__op_complete(op);
}

static void getf_go(saq__op_t *op) { flow_send(op, getf_reply, 0); }
static void getf_start(saq__op_t *op) { saq__op_with_permit(op, getf_go); }

SAQ_API int saq_queue_flow(saq_queue_t *q, const char *id, saq_cq_t *cq, uint64_t tag)
{
    int err;
    saq__op_t *op = saq__op_create(q, sizeof(flow_op_t), SAQ_EVENT_FLOW, cq, tag, getf_start,
                                   flow_destroy, &err);
    if (!op)
        return err;
    if (!id || !*id) {
        saq__event_error(op->ev, SAQ_EINVAL, "flow id must be a non-empty string");
        return saq__op_submit(op);
    }
    flow_op_t *f = (flow_op_t *)op;
    args_head(&f->a, q, "get");
    args_put(&f->a, id);
    if (f->a.oom || !(op->ev->key = saq__strdup(id)))
        saq__event_error(op->ev, SAQ_ENOMEM, "out of memory");
    return saq__op_submit(op);
}

/* ---- a worker's side ---- */

static void ignore_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    (void)req, (void)r, (void)err, (void)msg; /* the periodic check covers a lost note */
}

void saq__flow_note(saq_queue_t *q, const char *id, const char *status)
{
    if (!atomic_load(&q->flows_seen))
        return;
    args_t a = {0};
    args_head(&a, q, "note");
    args_put(&a, id);
    args_put(&a, status ? status : "");
    if (!a.oom)
        saq__eval(&q->cmd, SCRIPT_FLOW, ignore_reply, NULL, 4, a.n, (const char **)a.v, a.len);
    args_free(&a);
}

static void tick_reply(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    saq_queue_t *q = req->data;
    long long open = 0;
    (void)msg;
    if (!err && r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        !saq__reply_int(r->element[0], &open))
        atomic_store(&q->flows_seen, open > 0);
}

void saq__flow_tick(saq_queue_t *q)
{
    uint64_t now = saq__mono_ms();
    if (q->flow_tick_at && now - q->flow_tick_at < FLOW_TICK_MS)
        return;
    q->flow_tick_at = now;
    args_t a = {0};
    args_head(&a, q, "sweep");
    args_put(&a, FLOW_SWEEP_MAX);
    args_put(&a, FLOW_SWEEP_LOOKS);
    if (!a.oom)
        saq__eval(&q->cmd, SCRIPT_FLOW, tick_reply, q, 4, a.n, (const char **)a.v, a.len);
    args_free(&a);
}
