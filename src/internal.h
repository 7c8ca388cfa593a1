/* SPDX-License-Identifier: MIT */
/* Internal declarations shared by libsaq's sources. Nothing here is API:
 * every non-static symbol is saq__-prefixed and hidden by the version script. */
#ifndef SAQ_INTERNAL_H
#define SAQ_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define SAQ_BUILDING 1
#include "saq.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h" /* url.c's section: the URL parser (pure, also built alone by the fuzzers) */

/* ------------------------------------------------------------------------ */
/* util.c                                                                   */
/* ------------------------------------------------------------------------ */

void *saq__malloc(size_t n);
void *saq__calloc(size_t n, size_t m);
void *saq__realloc(void *p, size_t n);
char *saq__strdup(const char *s);
char *saq__strndup(const char *s, size_t n);
char *saq__sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *saq__vsprintf(const char *fmt, va_list ap);
/* Replace *dst with a copy of src (NULL allowed). Returns 0 or -1 on OOM. */
int saq__set_str(char **dst, const char *src);
/* Replace *dst with the formatted text (formatted first, so the arguments may
 * point into the old text; NULL when out of memory). */
void saq__set_vfmt(char **dst, const char *fmt, va_list ap);

int64_t saq__now_ms(void);   /* wall clock, epoch ms (what goes to Redis) */
double saq__now_s(void);     /* wall clock, epoch seconds */
uint64_t saq__mono_ms(void); /* monotonic ms (timers, deadlines) */
/* A duration in seconds (from a job record: any double) as a libuv timer's
 * ms: 0 for <= 0 or NaN, rounded up, at most 9e15 ms (~285,000 years) so the
 * conversion never overflows. */
uint64_t saq__timer_ms(double seconds);
/* *ts = the time on `clock` ms milliseconds from now (for pthread_cond_timedwait) */
void saq__abstime(struct timespec *ts, clockid_t clock, uint64_t ms);
void saq__uuid1(char out[37]);

/* Reference counts (atomic_int, any thread): take one; drop one, returning 1
 * when it was the last (the caller then frees the object). */
static inline void saq__ref(atomic_int *r) { atomic_fetch_add_explicit(r, 1, memory_order_relaxed); }
static inline int saq__unref(atomic_int *r)
{
    return atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel) == 1;
}
/* The struct holding `member` at address ptr. */
#define saq__container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
double saq__random01(void);  /* uniform [0, 1) */
/* Reconnect delay: min(cap, base * 2^attempt) scaled by a jitter in
 * [0.5, 1.0) given as u in [0,1). */
uint64_t saq__backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, double u);

/* fork detection: incremented in every forked child (pthread_atfork) */
unsigned saq__fork_gen(void);
/* Trace to stderr when SAQ_DEBUG is set (diagnostics only). */
void saq__debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Growable byte buffer. On OOM `oom` is set and further writes are ignored. */
typedef struct saq__buf {
    char *p;
    size_t len, cap;
    int oom;
} saq__buf_t;
void saq__buf_put(saq__buf_t *b, const char *s, size_t n);
void saq__buf_puts(saq__buf_t *b, const char *s);
void saq__buf_putc(saq__buf_t *b, char c);
void saq__buf_printf(saq__buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Take the NUL-terminated contents (NULL on OOM); the buffer is reset. */
char *saq__buf_take(saq__buf_t *b);
void saq__buf_free(saq__buf_t *b);

/* ------------------------------------------------------------------------ */
/* list: the one intrusive list (header only)                               */
/* ------------------------------------------------------------------------ */

/* A doubly linked, circular list threaded through the listed structs: each
 * embeds a saq__link_t and is found again from it with saq__container_of.
 * No allocation, O(1) insert and remove. Not thread-safe: each list says
 * which thread (or lock) owns it. A link is either on exactly one list or
 * unlinked ({NULL, NULL}, which is what calloc or `= {0}` makes); unlinking
 * resets it, so removing an unlinked link is a harmless no-op. */
typedef struct saq__link {
    struct saq__link *prev, *next;
} saq__link_t;

/* A list head: a link of its own that the first and last members point back
 * to. Unlike a link, a head must be set up with saq__list_init before use
 * (a zeroed head is not an empty list), and it must not move in memory while
 * anything is listed on it. It is the link type itself, not a struct wrapping
 * one: GCC 12.2 at -O2 miscompiles a loop that moves every member of one
 * wrapped head to another (loop invariant motion takes the stores through a
 * member's link for ones that cannot touch the wrapper's head, and the loop
 * never ends); tests/unit/test_list.c has that loop. */
typedef saq__link_t saq__list_t;

/* Make `l` an empty list (what it holds, if anything, is forgotten). */
static inline void saq__list_init(saq__list_t *l) { l->prev = l->next = l; }

/* 1 when nothing is listed on `l`, else 0. */
static inline int saq__list_empty(const saq__list_t *l) { return l->next == l; }

/* 1 when `k` is on a list, 0 when it is unlinked (never linked or removed). */
static inline int saq__link_linked(const saq__link_t *k) { return k->next != NULL; }

/* Link `k` between `prev` and `next`, which are adjacent (internal). */
static inline void saq__link_between(saq__link_t *k, saq__link_t *prev, saq__link_t *next)
{
    k->prev = prev;
    k->next = next;
    prev->next = k;
    next->prev = k;
}

/* Put the unlinked `k` first on `l` (it is the next saq__list_first). */
static inline void saq__list_push_front(saq__list_t *l, saq__link_t *k)
{
    saq__link_between(k, l, l->next);
}

/* Put the unlinked `k` last on `l` (FIFO order with saq__list_first). */
static inline void saq__list_push_back(saq__list_t *l, saq__link_t *k)
{
    saq__link_between(k, l->prev, l);
}

/* Take `k` off whatever list it is on (no need to know which) and leave it
 * unlinked. Returns 1 when it was linked, 0 when it was not (then nothing is
 * touched: safe on a zeroed, never-linked link and twice in a row). */
static inline int saq__list_remove(saq__link_t *k)
{
    if (!k->next)
        return 0;
    k->prev->next = k->next;
    k->next->prev = k->prev;
    k->prev = k->next = NULL;
    return 1;
}

/* The first link on `l`, or NULL when it is empty. */
static inline saq__link_t *saq__list_first(const saq__list_t *l)
{
    return saq__list_empty(l) ? NULL : l->next;
}

/* The struct of `type` whose `member` (a saq__link_t) is on `l` first, or
 * NULL when `l` is empty. `l` is evaluated twice. */
#define saq__list_first_entry(l, type, member)                                                     \
    (saq__list_empty(l) ? (type *)NULL : saq__container_of((l)->next, type, member))

/* for (each link `pos` (a saq__link_t *, declared by the caller) of the list
 * at `l`, first to last). The body must not unlink `pos` (see
 * saq__list_each_safe); links added meanwhile are visited when they land
 * after `pos`. */
#define saq__list_each(pos, l) for ((pos) = (l)->next; (pos) != (l); (pos) = (pos)->next)

/* The same, where the body may unlink (and free) `pos`: `tmp` (another
 * saq__link_t *) holds the next link, fetched before the body runs, so the
 * body must not unlink that one. */
#define saq__list_each_safe(pos, tmp, l)                                                           \
    for ((pos) = (l)->next, (tmp) = (pos)->next; (pos) != (l);                                  \
         (pos) = (tmp), (tmp) = (pos)->next)

/* ------------------------------------------------------------------------ */
/* json.c: a lossless scanner for records and a writer                      */
/* ------------------------------------------------------------------------ */

/* Skip one JSON value starting at *p (after whitespace). Accepts Python's
 * NaN, Infinity, -Infinity. With `strict_utf8`, strings must be valid UTF-8.
 * Returns 0 and advances *p past the value, or -1 with a message in err. */
int saq__json_skip(const char **p, const char *end, int strict_utf8, char *err, size_t errlen);
const char *saq__json_ws(const char *p, const char *end);
/* Validate that [s, s+n) is exactly one JSON value (surrounding whitespace
 * allowed). kind: 0 any, 'o' object, 'a' array. */
int saq__json_validate(const char *s, size_t n, int kind, char *err, size_t errlen);
/* Is [s, s+n) valid UTF-8? */
int saq__utf8_valid(const char *s, size_t n);
/* Decode a JSON string token (with quotes) into a malloc'd UTF-8 string. */
char *saq__json_unquote(const char *tok, size_t n);
/* The same, with the decoded length in *len (it can hold \u0000). */
char *saq__json_unquote_len(const char *tok, size_t n, size_t *len);
/* A JSON string token as a C string name: NULL when it is not a string,
 * holds \u0000 (a C string would cut it short: another name) or on ENOMEM. */
char *saq__json_name(const char *tok, size_t n);
/* Is this value token an empty object ("{ }")? */
int saq__json_is_empty_object(const char *s, size_t n);
/* Iterate the members of a JSON object. Returns 1 with key/value spans, 0 at
 * the end, -1 on malformed input (message in err). */
typedef struct saq__jobj_iter {
    const char *p, *end;
    int first;
} saq__jobj_iter_t;
int saq__jobj_begin(saq__jobj_iter_t *it, const char *s, size_t n, char *err, size_t errlen);
int saq__jobj_next(saq__jobj_iter_t *it, const char **k, size_t *kn, const char **v, size_t *vn,
                   char *err, size_t errlen);
/* Iterate the elements of a JSON array, same contract. */
int saq__jarr_begin(saq__jobj_iter_t *it, const char *s, size_t n, char *err, size_t errlen);
int saq__jarr_next(saq__jobj_iter_t *it, const char **v, size_t *vn, char *err, size_t errlen);
/* Parse a number token (also true/false as 1/0). Returns 0 or -1. */
int saq__json_number(const char *s, size_t n, double *out);
/* Python's str() of what json.loads makes of the number token [v, v+n)
 * ("42", "4.2", "1e+16", "inf", "nan"): SAQ__KEY_INT or SAQ__KEY_FLOAT with a
 * malloc'd *out, 0 when the token is not a number, -1 when out of memory. */
int saq__json_pystr(const char *v, size_t n, char **out);
/* Python's repr(float) of v: "4.2", "100.0", "1e+16", "1e-05", "inf", "nan". */
void saq__fmt_pyfloat(char out[40], double v);

/* Writer helpers */
void saq__buf_json_str(saq__buf_t *b, const char *s);            /* quoted, escaped, ASCII-only */
void saq__buf_json_strn(saq__buf_t *b, const char *s, size_t n);
void saq__buf_json_num(saq__buf_t *b, double v);                 /* Python-repr-like, shortest round trip */
void saq__buf_json_float(saq__buf_t *b, double v);               /* like num, but integral values get ".0" */
void saq__fmt_double(char out[40], double v);                    /* shortest round-trip text, integers without ".0" */

/* ------------------------------------------------------------------------ */
/* traceparent.c: W3C Trace Context in a job's meta (pure)                  */
/* ------------------------------------------------------------------------ */

#define SAQ__TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */
/* Is [s, s+n) a version-00 traceparent: lower-case hex, trace and parent ids not all zeros? */
int saq__traceparent_valid(const char *s, size_t n);
/* The meta object's (JSON text or NULL) "traceparent" string into out when it is a valid one
 * (the last member of that name counts), else "". */
void saq__traceparent_scan(const char *meta, char out[SAQ__TRACEPARENT_LEN + 1]);
/* meta (a JSON object text or NULL) with its "traceparent" member set to `tp` (in its place,
 * or last when new; later duplicates dropped) or removed (tp NULL): *out is the new text,
 * malloc'd, or NULL when nothing is left (empty meta). SAQ_OK; SAQ_EINVAL with a message in
 * err (tp malformed, meta not an object); SAQ_ENOMEM. */
int saq__traceparent_put(const char *meta, const char *tp, char **out, char *err, size_t errlen);

/* ------------------------------------------------------------------------ */
/* job.c                                                                    */
/* ------------------------------------------------------------------------ */

#define SAQ__DIALECT_026 0
#define SAQ__DIALECT_013 1

/* Who holds a job handed to a handler (a worker's lease). saq_job_free of
 * such a job calls release(owner, job) on the freeing thread; the owner clears
 * job->owner. job.c knows nothing else of it. */
typedef struct saq__job_owner {
    void (*release)(struct saq__job_owner *o, saq_job_t *job);
} saq__job_owner_t;

struct saq_job {
    char *function, *key, *queue, *id;
    int key_num;    /* the record's key was a JSON number: SAQ__KEY_INT or SAQ__KEY_FLOAT
                     * (key holds Python's str() of it; it is written back as a number) */
    char *kwargs;   /* raw JSON object or NULL */
    char *result;   /* raw JSON or NULL (None) */
    char *error;    /* text or NULL */
    char *meta;     /* raw JSON object or NULL (empty) */
    char traceparent[SAQ__TRACEPARENT_LEN + 1]; /* meta's valid "traceparent", or "": kept by
                                                 * every change of meta (saq__traceparent_scan) */
    char *worker_id;
    char *group_key;
    char *extra;    /* raw unknown members ("\"k\": v, ...") or NULL */
    double timeout;
    int timeout_null;
    double heartbeat;
    int retries;
    int ttl;
    double retry_delay;
    int backoff;    /* 0 false, 1 true (no cap), 2 number (backoff_cap) */
    double backoff_cap;
    double scheduled;
    double progress;
    int attempts;
    int64_t completed, queued, started, touched;
    int status;     /* SAQ_STATUS_* */
    int64_t priority;
    unsigned given; /* SAQ__GIVEN_*: the fields set explicitly (a setter, the caller's kwargs, a
                     * record that holds them), which a queue's defaults.* keys leave alone */
    char *json_cache;
    char *errmsg;
    saq__job_owner_t *owner; /* NULL unless leased to a handler */
};

enum { SAQ__KEY_STR, SAQ__KEY_INT, SAQ__KEY_FLOAT };
/* saq_job.given bits */
enum {
    SAQ__GIVEN_TIMEOUT = 1,
    SAQ__GIVEN_RETRIES = 2,
    SAQ__GIVEN_TTL = 4,
    SAQ__GIVEN_RETRY_DELAY = 8,
    SAQ__GIVEN_RETRY_BACKOFF = 16
};

void saq__job_init(saq_job_t *j);
void saq__job_clear(saq_job_t *j); /* free owned strings, keep the struct */
int saq__job_copy(saq_job_t *dst, const saq_job_t *src); /* dst must be cleared/inited */
/* Parse a record. Returns 0, or a SAQ_E* code with a message in err. */
int saq__job_parse(saq_job_t *j, const char *s, size_t n, char *err, size_t errlen);
/* Serialize for a dialect. Returns malloc'd JSON or NULL on OOM. */
char *saq__job_dump(const saq_job_t *j, int dialect);
/* The same, in pieces for the status-preserving update (SCRIPT_UPDATE):
 * head + err + ", \"status\": \"" + <status> + tail, where err is the error
 * member (", \"error\": ...") or "". */
int saq__job_dump_split(const saq_job_t *j, int dialect, char **head, char **err, char **tail);
/* id helpers */
char *saq__job_make_id(const char *queue, const char *key);
int saq__job_set_queue(saq_job_t *j, const char *queue);
const char *saq__status_name(int st);
int saq__status_parse(const char *s, size_t n); /* -1 when unknown */
int saq__status_terminal(int st);
void saq__job_seterr(saq_job_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void saq__job_invalidate(saq_job_t *j);
/* Apply {"progress":..,"meta":..,...} (saq's Job.update keywords). */
int saq__job_apply_fields(saq_job_t *j, const char *json, size_t n, int call_mode, saq__buf_t *rest,
                          char *err, size_t errlen);
/* Merge two JSON objects (the item's members win). Returns malloc'd JSON or NULL. */
char *saq__merge_kwargs(const char *defaults, const char *item);
/* saq's enqueue keyword split (saq_job_set_call_kwargs): the Job fields in
 * `json` set the job, the rest merge into its kwargs; all or nothing.
 * SAQ_OK, or a code with the job's errmsg set. */
int saq__job_call_kwargs(saq_job_t *j, const char *json);
/* saq's retry delay for the job's current attempts (U in [0,1) supplied). */
double saq__retry_delay(const saq_job_t *j, double u);
/* The delay of a retry a queue schedules: saq__retry_delay with its retry.jitter (0: u = 1, the
 * whole backoff delay) and no less than its retry.min_delay (seconds). */
double saq__retry_delay_with(const saq_job_t *j, int jitter, double min_delay);

/* ------------------------------------------------------------------------ */
/* jobapi.c: the public saq_job_* API (saq.h "Jobs"; nothing internal)      */
/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ */
/* conf.c                                                                   */
/* ------------------------------------------------------------------------ */

/* Where a queue's log records go (saq_conf_set_log, saq_conf_set_log_cq): to fn(ud), or as
 * SAQ_EVENT_LOG events with `tag` to cq (a reference held: saq__settings_free drops it), or,
 * with neither, to stderr (log.c); `level`: the least severe SAQ_LOG_* level passed (0: off;
 * the conf key log_level, else SAQ_LOG_LEVEL from the environment, else SAQ_LOG_WARNING). */
typedef struct saq__log_sink {
    saq_log_fn fn;
    void *ud;
    saq_cq_t *cq;
    uint64_t tag;
    int level;
} saq__log_sink_t;

typedef struct saq__settings {
    /* queue */
    saq__url_t url;
    char *url_text;
    char *name;
    int dialect;
    int max_concurrent_ops;
    int command_timeout_ms;
    int connect_timeout_ms;
    int reconnect_max_ms;
    size_t max_payload;
    int min_replicas;            /* enqueue and finish wait for this many replicas (WAIT); 0: no */
    int min_replicas_timeout_ms; /* how long they wait, ms */
    saq_transform_fn dump, load;
    void *transform_ud;
    saq__log_sink_t log; /* the queue's log sink and level (a worker logs through its queue's) */
    /* job defaults (defaults.*): applied at enqueue to the fields a job was not given */
    unsigned def_set;            /* SAQ__GIVEN_* bits of the defaults.* keys set */
    double def_timeout;
    int def_retries, def_ttl;
    double def_retry_delay;
    int def_backoff;             /* as saq_job.backoff: 0 false, 1 true, 2 capped */
    double def_backoff_cap;
    int has_failed_ttl, failed_ttl; /* failed_ttl: a failed job's record is kept this long */
    double retry_min_delay;      /* retry.min_delay, s: no retry is scheduled sooner */
    int retry_jitter;            /* retry.jitter: saq's full jitter on backoff delays (1) or none */
    /* worker */
    int concurrency;
    double dequeue_timeout;
    double t_schedule, t_worker_info, t_sweep, t_abort;
    int burst;
    int max_burst_jobs;
    double grace_s;
    double hard_deadline_s;
    char *worker_id;
    char *metadata; /* raw JSON object or NULL */
    char *swept_msg;
    double dead_worker_check;
    double t_alive;         /* libsaq liveness period, s (0: off); the entry lives 4 periods */
    int weighted;           /* queue_order: 1 weighted, 0 strict (a worker of several queues) */
    int weight;             /* queue_weight: the worker's own queue's weight (weighted order) */
    double t_pause;         /* timers.pause: how often a worker reads its queue's pause flag (0: never) */
    char *cron_tz;          /* the cron jobs' default time zone (NULL: UTC) */
} saq__settings_t;

void saq__settings_defaults(saq__settings_t *s);
void saq__settings_free(saq__settings_t *s);
/* Build settings from a conf (NULL = defaults); message in the conf on error. The tls.* keys
 * replace the url's ssl_* query values in s->url.tls (check_hostname resolved again). `queue`:
 * 1 for saq_queue_open, where a tls.* key with a url that is not rediss:// fails with
 * SAQ_EINVAL; 0 for a worker, whose queue keys are ignored. SAQ_OK, SAQ_EURL, SAQ_EINVAL or
 * SAQ_ENOMEM (s then holds nothing to free). */
int saq__settings_from_conf(saq__settings_t *s, saq_conf_t *conf, int queue);
void saq__conf_seterr(saq_conf_t *conf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The settings in effect as a conf, every key set (saq_worker_conf_get): queue keys from `q`,
 * worker keys from `w`, the id `worker_id`. Owned by the caller; NULL on OOM. */
saq_conf_t *saq__settings_export(const saq__settings_t *q, const saq__settings_t *w,
                                 const char *worker_id);

/* ------------------------------------------------------------------------ */
/* event.c: events and completion queues                                    */
/* ------------------------------------------------------------------------ */

struct saq_event {
    int type;
    uint64_t tag;
    int status;
    char *errmsg;
    int64_t ival;
    char *json;
    char *text;     /* saq_event_text: a LOG record's message, a METRICS exposition */
    char *key;
    char *jstatus;
    saq_job_t *job;
    saq_job_t **jobs;
    size_t njobs;
    struct saq_event *next;
};

saq_event_t *saq__event_new(int type, uint64_t tag);
void saq__event_error(saq_event_t *ev, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A pull-mode worker's OUTCOME event for lease `lease_id` of `job` (the worker's copy, read only):
 * with a copy of `job` when `stored`, else with error `err` (SAQ_ESTATE when 0) and `msg` (may
 * be NULL). Pushed on cq; dropped on OOM. Loop thread. */
void saq__event_outcome(saq_cq_t *cq, uint64_t tag, uint64_t lease_id, const saq_job_t *job,
                        int stored, int err, const char *msg);
/* A pull-mode worker's GIVEN_BACK event for lease `lease_id` of job `key`. Pushed on cq;
 * dropped on OOM. Loop thread. */
void saq__event_given_back(saq_cq_t *cq, uint64_t tag, uint64_t lease_id, const char *key);
void saq__cq_ref(saq_cq_t *cq);
void saq__cq_unref(saq_cq_t *cq);
/* Deliver an event (takes ownership). Returns the callback's return value
 * for callback cqs, else 0. Thread: any (libsaq threads only). */
int saq__cq_push(saq_cq_t *cq, saq_event_t *ev);
int saq__cq_usable(const saq_cq_t *cq);
void saq__cq_set_internal(saq_cq_t *cq);
int saq__cq_internal(const saq_cq_t *cq);

/* ------------------------------------------------------------------------ */
/* log.c: log records to the queue's sink (saq.h "Logging")                 */
/* ------------------------------------------------------------------------ */

/* A structured field of a record: a string (NULL: the field is left out) or a number. Write
 * them with SAQ__LS (string) and SAQ__LN (number) in SAQ__LF(...), the list a record takes
 * (NULL for none):
 *     saq__log(q, SAQ_LOG_WARNING, SAQ_ECONN,
 *              SAQ__LF(SAQ__LS("address", addr), SAQ__LN("attempts", n)),
 *              "cannot connect to redis at %s: %s", addr, why);
 * Every record's fields start with "queue" (the queue's name) and end with "error" (the
 * SAQ_E* name) and "code" (the number) when `err` is not 0. Keys in use: queue, worker, job
 * (the job's key), function, error, code, address ("host:port" or a socket path), connection
 * (command, pub/sub, dequeue), outage_ms, attempts, concurrency, functions, reason (the text a
 * job failed or was recovered with), hook, master. */
typedef struct saq__logfield {
    const char *key;
    const char *str;
    double num;
    int is_num;
} saq__logfield_t;
#define SAQ__LS(k, v) {(k), (v), 0, 0}
#define SAQ__LN(k, v) {(k), NULL, (double)(v), 1}
#define SAQ__LF(...) ((const saq__logfield_t[]){__VA_ARGS__, {NULL, NULL, 0, 0}})

/* Does queue q pass records of `level` (SAQ_LOG_*)? One comparison; a macro, so files that see
 * struct saq_queue (core.h) only. */
#define saq__log_on(q_, lv_) ((lv_) <= (q_)->set.log.level)
/* Log a record (printf-style message) to q's sink, when q passes its level: nothing is
 * evaluated or formatted otherwise. The sink runs on the calling thread; it must not block
 * (the default, stderr, is one write()). Any thread; takes no lock of libsaq's but a log cq's. */
#define saq__log(q_, lv_, err_, fields_, ...)                                                      \
    do {                                                                                           \
        if (saq__log_on((q_), (lv_)))                                                              \
            saq__log_emit((q_), (lv_), (err_), (fields_), __VA_ARGS__);                            \
    } while (0)
void saq__log_emit(saq_queue_t *q, int level, int err, const saq__logfield_t *fields,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A record built now and logged later, once what it tells has happened (a recovery whose
 * compare-and-set won): NULL when q does not pass `level` (or out of memory). commit logs it
 * and frees it; discard frees it unlogged. Both take NULL. Any thread. */
typedef struct saq__logrec saq__logrec_t;
saq__logrec_t *saq__log_prepare(saq_queue_t *q, int level, int err, const saq__logfield_t *fields,
                                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void saq__log_commit(saq_queue_t *q, saq__logrec_t *r);
void saq__log_discard(saq__logrec_t *r);

/* ------------------------------------------------------------------------ */
/* throttle.c: saq's max_concurrent_ops semaphore (FIFO, loop thread)       */
/* ------------------------------------------------------------------------ */

/* A waiter for a permit, embedded in what waits (zeroed before its first
 * acquire). */
typedef struct saq__twaiter {
    saq__link_t link; /* on the throttle's waiters while queued */
    void (*grant)(struct saq__twaiter *w);
} saq__twaiter_t;

typedef struct saq__throttle {
    int max, used;
    saq__list_t waiters; /* oldest first */
} saq__throttle_t;

void saq__throttle_init(saq__throttle_t *t, int max);
/* Returns 1 if a permit was taken now (grant is NOT called), 0 if queued
 * (grant will be called from a later release). */
int saq__throttle_acquire(saq__throttle_t *t, saq__twaiter_t *w);
/* Remove a queued waiter (returns 1 if it was queued). */
int saq__throttle_cancel(saq__throttle_t *t, saq__twaiter_t *w);
/* Release a permit; hands it to the next waiter (calling its grant). */
void saq__throttle_release(saq__throttle_t *t);

/* ------------------------------------------------------------------------ */
/* prom.c: the Prometheus text exposition format 0.0.4 (pure)               */
/* ------------------------------------------------------------------------ */

/* A metric family's "# HELP name help" and "# TYPE name type" lines (type:
 * "counter", "gauge", "histogram"; help escaped as the format says). */
void saq__prom_family(saq__buf_t *b, const char *name, const char *type, const char *help);
/* A label value, quoted, with backslash, double quote and line feed escaped. */
void saq__prom_label_value(saq__buf_t *b, const char *v);
/* A sample value: shortest round-trip decimal, +Inf, -Inf or NaN. */
void saq__prom_value(saq__buf_t *b, double v);
/* One sample line: name{labels[0]="labels[1]",...} value, with `npairs`
 * name/value pairs in labels (0: no braces). */
void saq__prom_sample(saq__buf_t *b, const char *name, const char *const *labels, size_t npairs,
                      double v);

/* ------------------------------------------------------------------------ */
/* rates.c: per-minute rates from registry samples (pure)                   */
/* ------------------------------------------------------------------------ */

/* A point: the registry's counters at time t (ms, Redis's clock), per
 * worker id: v = complete, failed, retried, aborted, uptime ms. */
typedef struct saq__rworker {
    char *id;
    long long v[5];
} saq__rworker_t;
typedef struct saq__rpoint {
    int64_t t;
    saq__rworker_t *w;
    size_t n, cap; /* workers in w, room for */
} saq__rpoint_t;
#define SAQ__RATE_WINDOW_MS 65000 /* the oldest point used is at most this old */
#define SAQ__RATE_MIN_MS 20000    /* no rate until a point is this old */
#define SAQ__RATE_MAX_MS 300000   /* ... or older, up to this, when none is in the window */
#define SAQ__RATE_SLACK_MS 2000   /* a new id started within an interval (uptime) */
/* Parse a sample as the OVERVIEW script writes it ({"t": ms, "w": {"<id>":
 * [c, f, r, a, uptime], ...}}) into *p (zeroed first). 0, or -1 when it is
 * malformed or out of memory (p then holds nothing). */
int saq__rpoint_parse(const char *s, size_t n, saq__rpoint_t *p);
/* Add worker `id` with counters v to p. 0 or -1 (ENOMEM). */
int saq__rpoint_add(saq__rpoint_t *p, const char *id, const long long v[5]);
void saq__rpoint_free(saq__rpoint_t *p);
/* Rates over pts[0 .. n), oldest first, the last one "now": per minute, of
 * complete, failed, retried, aborted, over the window from the oldest point
 * at most SAQ__RATE_WINDOW_MS old, or when that one is younger than
 * SAQ__RATE_MIN_MS, from the newest older one up to SAQ__RATE_MAX_MS old
 * (*window_s, seconds). 0, or -1 when no point fits. Sorts each point's
 * workers by id. */
int saq__rates(saq__rpoint_t *pts, size_t n, double per_min[4], double *window_s);

#endif
