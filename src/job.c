/* SPDX-License-Identifier: MIT */
/* The job record: saq's Job dataclass as libsaq holds it (saq_job_t), its
 * statuses, and its JSON codec in both dialects (parse, dump, the update
 * keywords, saq's enqueue keyword split, kwargs merge, the retry delay). The
 * public saq_job_* accessors are in jobapi.c. */
#include "internal.h"

#include <math.h>

static const char *status_names[] = {"new", "queued", "active", "aborting", "aborted", "failed",
                                     "complete"};

const char *saq__status_name(int st)
{
    return st >= 0 && st <= SAQ_STATUS_COMPLETE ? status_names[st] : "new";
}

int saq__status_parse(const char *s, size_t n)
{
    for (int i = 0; i <= SAQ_STATUS_COMPLETE; i++)
        if (strlen(status_names[i]) == n && !strncasecmp(status_names[i], s, n))
            return i;
    return -1;
}

int saq__status_terminal(int st)
{
    return st == SAQ_STATUS_COMPLETE || st == SAQ_STATUS_FAILED || st == SAQ_STATUS_ABORTED;
}

void saq__job_init(saq_job_t *j)
{
    memset(j, 0, sizeof *j);
    j->timeout = 10;
    j->retries = 1;
    j->ttl = 600;
}

void saq__job_invalidate(saq_job_t *j)
{
    free(j->json_cache);
    j->json_cache = NULL;
}

void saq__job_clear(saq_job_t *j)
{
    free(j->function);
    free(j->key);
    free(j->queue);
    free(j->id);
    free(j->kwargs);
    free(j->result);
    free(j->error);
    free(j->meta);
    free(j->worker_id);
    free(j->group_key);
    free(j->extra);
    free(j->json_cache);
    free(j->errmsg);
    saq__job_owner_t *o = j->owner;
    saq__job_init(j);
    j->owner = o;
}

#define DUPSTR(f)                                                                                  \
    do {                                                                                           \
        if (src->f && !(dst->f = saq__strdup(src->f)))                                                  \
            goto oom;                                                                              \
    } while (0)

int saq__job_copy(saq_job_t *dst, const saq_job_t *src)
{
    *dst = *src;
    dst->function = dst->key = dst->queue = dst->id = dst->kwargs = dst->result = NULL;
    dst->error = dst->meta = dst->worker_id = dst->group_key = dst->extra = NULL;
    dst->json_cache = dst->errmsg = NULL;
    dst->owner = NULL;
    DUPSTR(function);
    DUPSTR(key);
    DUPSTR(queue);
    DUPSTR(id);
    DUPSTR(kwargs);
    DUPSTR(result);
    DUPSTR(error);
    DUPSTR(meta);
    DUPSTR(worker_id);
    DUPSTR(group_key);
    DUPSTR(extra);
    return 0;
oom:
    saq__job_clear(dst);
    return SAQ_ENOMEM;
}

char *saq__job_make_id(const char *queue, const char *key)
{
    return saq__sprintf("saq:job:%s:%s", queue, key);
}

int saq__job_set_queue(saq_job_t *j, const char *queue)
{
    if (j->queue && !strcmp(j->queue, queue) && j->id)
        return 0;
    char *q = saq__strdup(queue), *id = saq__job_make_id(queue, j->key);
    if (!q || !id) {
        free(q);
        free(id);
        return SAQ_ENOMEM;
    }
    free(j->queue);
    free(j->id);
    j->queue = q;
    j->id = id;
    saq__job_invalidate(j);
    return 0;
}

void saq__job_seterr(saq_job_t *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    saq__set_vfmt(&j->errmsg, fmt, ap);
    va_end(ap);
}

/* ---- field setters shared by the parser, the kwargs split and update ---- */

enum {
    F_FUNCTION, F_KWARGS, F_QUEUE, F_KEY, F_TIMEOUT, F_HEARTBEAT, F_RETRIES, F_TTL,
    F_RETRY_DELAY, F_RETRY_BACKOFF, F_SCHEDULED, F_PROGRESS, F_ATTEMPTS, F_COMPLETED, F_QUEUED,
    F_STARTED, F_TOUCHED, F_RESULT, F_ERROR, F_STATUS, F_PRIORITY, F_GROUP_KEY, F_META,
    F_WORKER_ID, F_COUNT
};

static const char *field_names[F_COUNT] = {
    "function", "kwargs", "queue", "key", "timeout", "heartbeat", "retries", "ttl",
    "retry_delay", "retry_backoff", "scheduled", "progress", "attempts", "completed", "queued",
    "started", "touched", "result", "error", "status", "priority", "group_key", "meta",
    "worker_id"};

static int field_lookup(const char *k, size_t n)
{
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(field_names[i]) == n && !memcmp(field_names[i], k, n))
            return i;
    return -1;
}

static int is_null(const char *v, size_t n) { return n == 4 && !memcmp(v, "null", 4); }

/* How a string field is read: a free text (error, worker_id, group_key: null
 * allowed, kept up to a NUL as C reads it) or a name that selects something
 * (a handler, a record, a queue, a state: read in full, non-empty and valid
 * UTF-8, so C never acts on a shorter or another one), with or without null. */
enum { STR_TEXT, STR_NAME, STR_NAME_OR_NULL };

/* Parse a string (or null, when the kind allows it) into *dst (NULL for null). */
static int take_string(char **dst, const char *v, size_t n, int kind, const char *name, char *err,
                       size_t errlen)
{
    if (kind != STR_NAME && is_null(v, n)) {
        free(*dst);
        *dst = NULL;
        return 0;
    }
    if (n < 2 || v[0] != '"') {
        snprintf(err, errlen, "field '%s' must be a string", name);
        return SAQ_EPROTO;
    }
    size_t len = 0;
    char *s = saq__json_unquote_len(v, n, &len);
    if (!s) {
        snprintf(err, errlen, "field '%s' is not a valid JSON string", name);
        return SAQ_EPROTO;
    }
    /* a name is used as it is read: invalid UTF-8 would be written back as
     * U+FFFD (another key, another id), and Python cannot read it at all */
    const char *why = kind == STR_TEXT            ? NULL
                      : strlen(s) != len        ? "contains a NUL character (\\u0000)"
                      : !len                    ? "must be a non-empty string"
                      : !saq__utf8_valid(s, len) ? "is not valid UTF-8"
                                                : NULL;
    if (why) {
        snprintf(err, errlen, "field '%s' %s", name, why);
        free(s);
        return SAQ_EPROTO;
    }
    free(*dst);
    *dst = s;
    return 0;
}

static int take_raw(char **dst, const char *v, size_t n, int drop_empty_object)
{
    char *s = NULL;
    if (!is_null(v, n) && !(drop_empty_object && saq__json_is_empty_object(v, n))) {
        if (!(s = saq__strndup(v, n)))
            return SAQ_ENOMEM;
    }
    free(*dst);
    *dst = s;
    return 0;
}

static int take_num(double *dst, const char *v, size_t n, const char *name, char *err, size_t errlen)
{
    if (saq__json_number(v, n, dst)) {
        snprintf(err, errlen, "field '%s' must be a number", name);
        return SAQ_EPROTO;
    }
    return 0;
}

/* A double as int64 without undefined behaviour for huge values or NaN. */
static int64_t clamp64(double d)
{
    if (isnan(d))
        return 0;
    if (d >= 9.2e18)
        return INT64_MAX;
    if (d <= -9.2e18)
        return INT64_MIN;
    return (int64_t)d;
}

/* Set one field from its JSON value. `user` = the value comes from the API
 * (stricter checks, SAQ_EINVAL/SAQ_EJSON codes) rather than from Redis. */
static int set_value(saq_job_t *j, int f, const char *v, size_t n, int user, char *err, size_t errlen);

/* set_value, and note the fields a queue's defaults must leave alone (saq_job.given). */
static int set_field(saq_job_t *j, int f, const char *v, size_t n, int user, char *err, size_t errlen)
{
    int e = set_value(j, f, v, n, user, err, errlen);
    if (!e)
        j->given |= f == F_TIMEOUT         ? SAQ__GIVEN_TIMEOUT
                    : f == F_RETRIES       ? SAQ__GIVEN_RETRIES
                    : f == F_TTL           ? SAQ__GIVEN_TTL
                    : f == F_RETRY_DELAY   ? SAQ__GIVEN_RETRY_DELAY
                    : f == F_RETRY_BACKOFF ? SAQ__GIVEN_RETRY_BACKOFF
                                           : 0u;
    return e;
}

static int set_value(saq_job_t *j, int f, const char *v, size_t n, int user, char *err, size_t errlen)
{
    const char *name = field_names[f];
    int bad = user ? SAQ_EINVAL : SAQ_EPROTO;
    double d = 0;
    int r;
    switch (f) {
    case F_FUNCTION:
        r = take_string(&j->function, v, n, STR_NAME, name, err, errlen);
        return r ? bad : 0;
    case F_QUEUE:
        r = take_string(&j->queue, v, n, STR_NAME_OR_NULL, name, err, errlen);
        return r ? bad : 0;
    case F_KEY: {
        /* saq takes any key: Python's key=42 is stored as "key": 42 under the
         * id saq:job:<queue>:42 (its f-string), so a number reads as Python's
         * str() of it and is written back as the same number */
        char *s = NULL;
        int kind = n && v[0] != '"' && !is_null(v, n) ? saq__json_pystr(v, n, &s) : 0;
        if (kind < 0)
            return SAQ_ENOMEM;
        if (kind) {
            free(j->key);
            j->key = s;
            j->key_num = kind;
            return 0;
        }
        r = take_string(&j->key, v, n, STR_NAME, name, err, errlen);
        if (r && (!n || v[0] != '"'))
            snprintf(err, errlen, "field 'key' must be a string or a number");
        else if (!r)
            j->key_num = SAQ__KEY_STR;
        return r ? bad : 0;
    }
    case F_ERROR:
        r = take_string(&j->error, v, n, STR_TEXT, name, err, errlen);
        return r ? bad : 0;
    case F_WORKER_ID:
        r = take_string(&j->worker_id, v, n, STR_TEXT, name, err, errlen);
        return r ? bad : 0;
    case F_GROUP_KEY:
        r = take_string(&j->group_key, v, n, STR_TEXT, name, err, errlen);
        return r ? bad : 0;
    case F_STATUS: {
        char *s = NULL;
        if (is_null(v, n)) {
            j->status = SAQ_STATUS_NEW;
            return 0;
        }
        if (take_string(&s, v, n, STR_NAME, name, err, errlen))
            return bad;
        int st = saq__status_parse(s, strlen(s));
        if (st < 0) {
            snprintf(err, errlen, "unknown job status '%.40s'", s);
            free(s);
            return bad;
        }
        free(s);
        j->status = st;
        return 0;
    }
    case F_KWARGS:
    case F_META:
        if (!is_null(v, n) && v[0] != '{') {
            snprintf(err, errlen, "field '%s' must be a JSON object", name);
            return user ? SAQ_EJSON : SAQ_EPROTO;
        }
        if ((r = take_raw(f == F_KWARGS ? &j->kwargs : &j->meta, v, n, f == F_META)) == 0 &&
            f == F_META)
            saq__traceparent_scan(j->meta, j->traceparent);
        return r;
    case F_RESULT:
        return take_raw(&j->result, v, n, 0);
    case F_TIMEOUT:
        if (is_null(v, n)) {
            j->timeout = 0;
            j->timeout_null = 1;
            return 0;
        }
        if (take_num(&d, v, n, name, err, errlen))
            return bad;
        if (isnan(d) || (user && d < 0)) {
            snprintf(err, errlen, "field 'timeout' must be >= 0 seconds or null");
            return bad;
        }
        j->timeout = d < 0 ? 0 : d;
        j->timeout_null = 0;
        return 0;
    case F_RETRY_BACKOFF:
        if (n == 4 && !memcmp(v, "true", 4)) {
            j->backoff = 1;
            j->backoff_cap = 0;
            return 0;
        }
        if ((n == 5 && !memcmp(v, "false", 5)) || is_null(v, n)) {
            j->backoff = 0;
            j->backoff_cap = 0;
            return 0;
        }
        if (take_num(&d, v, n, name, err, errlen))
            return bad;
        if (!isfinite(d) || d < 0) {
            snprintf(err, errlen, "field 'retry_backoff' must be a bool or seconds >= 0");
            return bad;
        }
        j->backoff = d == 0 ? 0 : 2;
        j->backoff_cap = d;
        return 0;
    default:
        break;
    }
    /* remaining fields are numbers; null keeps the default */
    if (is_null(v, n) && !user)
        return 0;
    if (take_num(&d, v, n, name, err, errlen))
        return bad;
    if (!isfinite(d)) {
        snprintf(err, errlen, "field '%s' must be a finite number", name);
        return bad;
    }
    switch (f) {
    case F_HEARTBEAT:
        if (user && d < 0)
            goto neg;
        j->heartbeat = d;
        break;
    case F_RETRIES:
        if (user && (d < 0 || d != floor(d)))
            goto nonint;
        if (user && d > INT32_MAX)
            goto range; /* a stored record is clamped; a caller's value is refused */
        /* a stored record is clamped to int (both ways: (int)-3e9 is undefined) */
        j->retries = d > INT32_MAX ? INT32_MAX : d < INT32_MIN ? INT32_MIN : (int)d;
        break;
    case F_TTL:
        if (user && d != floor(d))
            goto nonint;
        if (user && (d > INT32_MAX || d < INT32_MIN))
            goto range;
        j->ttl = d > INT32_MAX ? INT32_MAX : d < INT32_MIN ? INT32_MIN : (int)d;
        break;
    case F_RETRY_DELAY:
        if (user && d < 0)
            goto neg;
        j->retry_delay = d;
        break;
    case F_SCHEDULED:
        if (user && (d < 0 || (d > 0 && d < 1))) {
            snprintf(err, errlen, "field 'scheduled' must be 0 (now) or epoch seconds >= 1");
            return bad;
        }
        j->scheduled = d;
        break;
    case F_PROGRESS:
        j->progress = d;
        break;
    case F_ATTEMPTS:
        j->attempts = d > INT32_MAX ? INT32_MAX : d < 0 ? 0 : (int)d;
        break;
    case F_COMPLETED: j->completed = clamp64(d); break;
    case F_QUEUED: j->queued = clamp64(d); break;
    case F_STARTED: j->started = clamp64(d); break;
    case F_TOUCHED: j->touched = clamp64(d); break;
    case F_PRIORITY: j->priority = clamp64(d); break;
    }
    return 0;
neg:
    snprintf(err, errlen, "field '%s' must be >= 0", name);
    return bad;
nonint:
    snprintf(err, errlen, "field '%s' must be %s integer", name, f == F_TTL ? "an" : "a non-negative");
    return bad;
range:
    snprintf(err, errlen, "field '%s' is out of range (at most 2147483647 in magnitude)", name);
    return bad;
}

int saq__job_parse(saq_job_t *j, const char *s, size_t n, char *err, size_t errlen)
{
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    int r, has_function = 0;
    saq__buf_t extra = {0};
    char kerr[160];

    saq__job_clear(j);
    if (saq__jobj_begin(&it, s, n, kerr, sizeof kerr)) {
        snprintf(err, errlen, "job record is not a JSON object");
        return SAQ_EPROTO;
    }
    while ((r = saq__jobj_next(&it, &k, &kn, &v, &vn, kerr, sizeof kerr)) == 1) {
        size_t nl;
        char *name = saq__json_unquote_len(k, kn, &nl);
        if (!name) {
            r = -1;
            snprintf(kerr, sizeof kerr, "bad member name");
            break;
        }
        /* the full name: "function\u0000x" is another member, as in Python */
        int f = field_lookup(name, nl);
        free(name);
        if (f < 0) { /* unknown field: kept verbatim, otherwise ignored */
            if (extra.len)
                saq__buf_puts(&extra, ", ");
            saq__buf_put(&extra, k, kn);
            saq__buf_puts(&extra, ": ");
            saq__buf_put(&extra, v, vn);
            continue;
        }
        if (f == F_FUNCTION)
            has_function = 1;
        int e = set_field(j, f, v, vn, 0, err, errlen);
        if (e) {
            saq__buf_free(&extra);
            saq__job_clear(j);
            return e == SAQ_ENOMEM ? e : SAQ_EPROTO;
        }
    }
    if (r < 0 || saq__json_ws(it.p, it.end) != it.end) {
        snprintf(err, errlen, "malformed job JSON: %s", r < 0 ? kerr : "trailing characters");
        saq__buf_free(&extra);
        saq__job_clear(j);
        return SAQ_EPROTO;
    }
    if (!has_function) {
        snprintf(err, errlen, "job record has no 'function'");
        saq__buf_free(&extra);
        saq__job_clear(j);
        return SAQ_EPROTO;
    }
    if (extra.len)
        j->extra = saq__buf_take(&extra);
    saq__buf_free(&extra);
    if (j->queue && j->key && !(j->id = saq__job_make_id(j->queue, j->key))) {
        saq__job_clear(j);
        return SAQ_ENOMEM;
    }
    return 0;
}

/* ---- serialization (saq's to_dict: fields equal to their default are omitted) ---- */

static void member(saq__buf_t *b, int *first, const char *name)
{
    if (!*first)
        saq__buf_puts(b, ", ");
    *first = 0;
    saq__buf_putc(b, '"');
    saq__buf_puts(b, name);
    saq__buf_puts(b, "\": ");
}

/* With `split`, marks[0] is where the error member starts, marks[1] where it
 * ends (both equal when there is none), marks[2] is inside the status value's
 * quotes (status-preserving update, see SCRIPT_UPDATE). */
static void dump_into(saq__buf_t *b, const saq_job_t *j, int dialect, int split, size_t *marks)
{
    int first = 1;
    saq__buf_putc(b, '{');
    member(b, &first, "function");
    saq__buf_json_str(b, j->function);
    if (j->kwargs) {
        member(b, &first, "kwargs");
        saq__buf_puts(b, j->kwargs);
    }
    if (j->queue) {
        member(b, &first, "queue");
        saq__buf_json_str(b, j->queue);
    }
    member(b, &first, "key");
    if (j->key_num && j->key) /* a number stays a number (what Python's json.dumps writes) */
        saq__buf_puts(b, !strcmp(j->key, "inf")    ? "Infinity"
                         : !strcmp(j->key, "-inf") ? "-Infinity"
                         : !strcmp(j->key, "nan")  ? "NaN"
                                                   : j->key);
    else
        saq__buf_json_str(b, j->key);
    if (j->timeout_null) {
        member(b, &first, "timeout");
        saq__buf_puts(b, "null");
    } else if (j->timeout != 10) {
        member(b, &first, "timeout");
        saq__buf_json_num(b, j->timeout);
    }
    if (j->heartbeat != 0) {
        member(b, &first, "heartbeat");
        saq__buf_json_num(b, j->heartbeat);
    }
    if (j->retries != 1) {
        member(b, &first, "retries");
        saq__buf_printf(b, "%d", j->retries);
    }
    if (j->ttl != 600) {
        member(b, &first, "ttl");
        saq__buf_printf(b, "%d", j->ttl);
    }
    if (j->retry_delay != 0) {
        member(b, &first, "retry_delay");
        saq__buf_json_float(b, j->retry_delay);
    }
    if (j->backoff == 1) {
        member(b, &first, "retry_backoff");
        saq__buf_puts(b, "true");
    } else if (j->backoff == 2 && j->backoff_cap != 0) {
        member(b, &first, "retry_backoff");
        saq__buf_json_num(b, j->backoff_cap);
    }
    if (j->scheduled != 0) {
        member(b, &first, "scheduled");
        saq__buf_json_num(b, j->scheduled);
    }
    if (j->progress != 0) {
        member(b, &first, "progress");
        saq__buf_json_float(b, j->progress);
    }
    if (j->attempts) {
        member(b, &first, "attempts");
        saq__buf_printf(b, "%d", j->attempts);
    }
#define MS(f)                                                                                      \
    if (j->f) {                                                                                    \
        member(b, &first, #f);                                                                     \
        saq__buf_printf(b, "%lld", (long long)j->f);                                               \
    }
    MS(completed)
    MS(queued)
    MS(started)
    MS(touched)
#undef MS
    if (j->result) {
        member(b, &first, "result");
        saq__buf_puts(b, j->result);
    }
    if (split)
        marks[0] = marks[1] = b->len;
    if (j->error) {
        member(b, &first, "error");
        saq__buf_json_str(b, j->error);
        if (split)
            marks[1] = b->len;
    }
    if (split) {
        member(b, &first, "status");
        saq__buf_putc(b, '"');
        marks[2] = b->len;
        saq__buf_putc(b, '"');
    } else if (j->status != SAQ_STATUS_NEW) {
        member(b, &first, "status");
        saq__buf_json_str(b, saq__status_name(j->status));
    }
    if (dialect == SAQ__DIALECT_026) {
        if (j->priority) {
            member(b, &first, "priority");
            saq__buf_printf(b, "%lld", (long long)j->priority);
        }
        if (j->group_key) {
            member(b, &first, "group_key");
            saq__buf_json_str(b, j->group_key);
        }
    }
    if (j->meta) {
        member(b, &first, "meta");
        saq__buf_puts(b, j->meta);
    }
    if (dialect == SAQ__DIALECT_026 && j->worker_id) {
        member(b, &first, "worker_id");
        saq__buf_json_str(b, j->worker_id);
    }
    if (j->extra) {
        if (!first)
            saq__buf_puts(b, ", ");
        saq__buf_puts(b, j->extra);
    }
    saq__buf_putc(b, '}');
}

char *saq__job_dump(const saq_job_t *j, int dialect)
{
    saq__buf_t b = {0};
    dump_into(&b, j, dialect, 0, NULL);
    return saq__buf_take(&b);
}

int saq__job_dump_split(const saq_job_t *j, int dialect, char **head, char **err, char **tail)
{
    saq__buf_t b = {0};
    size_t m[3] = {0, 0, 0};
    dump_into(&b, j, dialect, 1, m);
    if (b.oom) {
        saq__buf_free(&b);
        return SAQ_ENOMEM;
    }
    /* head | err (", \"error\": ..." or "") | , "status": " | <status> | tail */
    *head = saq__strndup(b.p, m[0]);
    *err = saq__strndup(b.p + m[0], m[1] - m[0]);
    *tail = saq__strdup(b.p + m[2]);
    saq__buf_free(&b);
    if (!*head || !*err || !*tail) {
        free(*head);
        free(*err);
        free(*tail);
        return SAQ_ENOMEM;
    }
    return 0;
}

/* ---- kwargs split and update fields ---- */

/* Fields a caller may set through enqueue keywords or update(). */
static int settable(int f, int call_mode)
{
    switch (f) {
    case F_KEY: case F_TIMEOUT: case F_HEARTBEAT: case F_RETRIES: case F_TTL: case F_RETRY_DELAY:
    case F_RETRY_BACKOFF: case F_SCHEDULED: case F_META: case F_PROGRESS: case F_KWARGS:
        return 1;
    case F_RESULT: case F_ERROR:
    case F_ATTEMPTS: /* saq's update(**kwargs) sets any job attribute (spec 6 item 37) */
        return !call_mode;
    default:
        return 0;
    }
}

int saq__job_apply_fields(saq_job_t *j, const char *json, size_t n, int call_mode, saq__buf_t *rest,
                          char *err, size_t errlen)
{
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    int r;
    char e2[160];
    if (saq__json_validate(json, n, 'o', e2, sizeof e2)) {
        snprintf(err, errlen, "%s: %s", call_mode ? "kwargs" : "fields", e2);
        return SAQ_EJSON;
    }
    saq__jobj_begin(&it, json, n, NULL, 0);
    while ((r = saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0)) == 1) {
        size_t nl;
        char *name = saq__json_unquote_len(k, kn, &nl);
        if (!name)
            return SAQ_ENOMEM;
        int f = field_lookup(name, nl);
        if (f < 0 && call_mode) { /* a plain keyword argument of the function */
            free(name);
            if (rest) {
                if (rest->len)
                    saq__buf_puts(rest, ", ");
                saq__buf_put(rest, k, kn);
                saq__buf_puts(rest, ": ");
                saq__buf_put(rest, v, vn);
            }
            continue;
        }
        if (f < 0 || !settable(f, call_mode)) {
            snprintf(err, errlen, "'%.60s' is %s", name,
                     f < 0 ? "not a job field" : "a job field that cannot be set here");
            free(name);
            return SAQ_EINVAL;
        }
        free(name);
        int e = set_field(j, f, v, vn, 1, err, errlen);
        if (e)
            return e;
    }
    return 0;
}

/* Merge object members into one object text; later keys win, keeping the
 * position of the first occurrence (Python dict update order). */
static char *merge_objects(const char *const *parts, const size_t *lens, int nparts)
{
    struct m {
        char *key;
        size_t keylen; /* decoded: a key can hold \u0000 */
        const char *k, *v;
        size_t kn, vn;
    } *ms = NULL;
    size_t cnt = 0, cap = 0;
    char *out = NULL;
    for (int i = 0; i < nparts; i++) {
        if (!parts[i])
            continue;
        saq__jobj_iter_t it;
        const char *k, *v;
        size_t kn, vn;
        if (saq__jobj_begin(&it, parts[i], lens[i], NULL, 0))
            goto done;
        while (saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0) == 1) {
            size_t keylen;
            char *key = saq__json_unquote_len(k, kn, &keylen);
            if (!key)
                goto done;
            size_t x;
            for (x = 0; x < cnt; x++)
                if (ms[x].keylen == keylen && !memcmp(ms[x].key, key, keylen))
                    break;
            if (x == cnt) {
                if (cnt == cap) {
                    cap = cap ? cap * 2 : 8;
                    struct m *nm = saq__realloc(ms, cap * sizeof *ms);
                    if (!nm) {
                        free(key);
                        goto done;
                    }
                    ms = nm;
                }
                ms[cnt++] = (struct m){key, keylen, k, v, kn, vn};
            } else {
                free(key);
                ms[x].k = k, ms[x].kn = kn, ms[x].v = v, ms[x].vn = vn;
            }
        }
    }
    saq__buf_t b = {0};
    saq__buf_putc(&b, '{');
    for (size_t x = 0; x < cnt; x++) {
        if (x)
            saq__buf_puts(&b, ", ");
        saq__buf_put(&b, ms[x].k, ms[x].kn);
        saq__buf_puts(&b, ": ");
        saq__buf_put(&b, ms[x].v, ms[x].vn);
    }
    saq__buf_putc(&b, '}');
    out = saq__buf_take(&b);
done:
    for (size_t x = 0; x < cnt; x++)
        free(ms[x].key);
    free(ms);
    return out;
}

/* saq's enqueue keyword split into a scratch copy, committed only on success. */
int saq__job_call_kwargs(saq_job_t *j, const char *json)
{
    char err[256] = "";
    saq_job_t tmp;
    saq__buf_t rest = {0};
    if (saq__job_copy(&tmp, j))
        return SAQ_ENOMEM;
    int e = saq__job_apply_fields(&tmp, json, strlen(json), 1, &rest, err, sizeof err);
    if (!e && rest.len) {
        saq__buf_t ro = {0};
        saq__buf_putc(&ro, '{');
        saq__buf_put(&ro, rest.p, rest.len);
        saq__buf_putc(&ro, '}');
        const char *parts[2] = {tmp.kwargs, ro.p};
        size_t lens[2] = {tmp.kwargs ? strlen(tmp.kwargs) : 0, ro.len};
        char *merged = ro.oom ? NULL : merge_objects(parts, lens, 2);
        saq__buf_free(&ro);
        if (!merged)
            e = SAQ_ENOMEM;
        else {
            free(tmp.kwargs);
            tmp.kwargs = merged;
        }
    }
    saq__buf_free(&rest);
    if (e) {
        saq__job_clear(&tmp);
        saq__job_seterr(j, "%s", err[0] ? err : saq_strerror(e));
        return e;
    }
    saq__job_owner_t *o = j->owner;
    char *id = tmp.id;
    tmp.id = NULL;
    saq__job_clear(j);
    *j = tmp;
    j->owner = o;
    j->id = id;
    if (j->queue && j->key) {
        free(j->id);
        j->id = saq__job_make_id(j->queue, j->key);
    }
    saq__job_invalidate(j);
    return 0;
}

char *saq__merge_kwargs(const char *defaults, const char *item)
{
    const char *parts[2] = {defaults, item};
    size_t lens[2] = {defaults ? strlen(defaults) : 0, item ? strlen(item) : 0};
    return merge_objects(parts, lens, 2);
}

/* saq's retry delay (spec 3.8). */
double saq__retry_delay(const saq_job_t *j, double u)
{
    if (!j->backoff)
        return j->retry_delay;
    double cap = j->backoff == 1 ? INFINITY : j->backoff_cap;
    int e = j->attempts - 1;
    if (e < 0)
        e = 0;
    double d = j->retry_delay * pow(2.0, e);
    if (d > cap)
        d = cap;
    return d * u;
}

double saq__retry_delay_with(const saq_job_t *j, int jitter, double min_delay)
{
    double d = saq__retry_delay(j, jitter ? saq__random01() : 1.0);
    return d < min_delay ? min_delay : d;
}
