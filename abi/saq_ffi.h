/* SPDX-License-Identifier: MIT */
/*
 * GENERATED from saq.h by abi/gen-ffi-header.py: do not edit (run the script after changing
 * saq.h; `ctest -L abi` fails while this file is stale).
 *
 * libsaq's whole C API as plain declarations, for FFI tools that read C declarations but run no
 * preprocessor: Python cffi's ffi.cdef(), LuaJIT's ffi.cdef(), and the like. No #include, #define
 * or #if, no attributes: the integer constants of saq.h (SAQ_OK, SAQ_E*, SAQ_EVENT_*,
 * SAQ_STATUS_*, ...) are anonymous enums with the same values, and every function and typedef is
 * declared as in saq.h, in the same order. size_t, int64_t and uint64_t are the standard types
 * (<stddef.h>, <stdint.h>; FFI tools know them). SAQ_VERSION_STR is left out: saq_version_str()
 * returns it. Units, ownership, threads and errors of every declaration: saq.h.
 */

enum {
    SAQ_VERSION_MAJOR = 0,
    SAQ_VERSION_MINOR = 2,
    SAQ_VERSION_PATCH = 0,
    SAQ_VERSION_NUMBER = 512
};

unsigned saq_version(void);
const char *saq_version_str(void);

enum {
    SAQ_OK = 0,
    SAQ_EINVAL = -1,
    SAQ_ENOMEM = -2,
    SAQ_ETIMEDOUT = -3,
    SAQ_ECLOSED = -4,
    SAQ_EFORKED = -5,
    SAQ_EREDIS = -6,
    SAQ_EPROTO = -7,
    SAQ_ECONN = -8,
    SAQ_EURL = -9,
    SAQ_EJSON = -10,
    SAQ_ENOTFOUND = -11,
    SAQ_EWRONGQUEUE = -12,
    SAQ_EJOB = -13,
    SAQ_EUNKNOWN_KEY = -14,
    SAQ_ECRON = -15,
    SAQ_ESTATE = -16,
    SAQ_ETOOBIG = -17,
    SAQ_EUVVERSION = -18,
    SAQ_ETLS = -19
};

const char *saq_strerror(int err);
const char *saq_err_name(int err);
typedef struct saq_conf saq_conf_t;
typedef struct saq_queue saq_queue_t;
typedef struct saq_job saq_job_t;
typedef struct saq_cq saq_cq_t;
typedef struct saq_event saq_event_t;
typedef struct saq_worker saq_worker_t;
typedef struct saq_batch saq_batch_t;
typedef struct saq_flow saq_flow_t;
saq_conf_t *saq_conf_new(void);
void saq_conf_free(saq_conf_t *conf);
int saq_conf_set(saq_conf_t *conf, const char *key, const char *value);
const char *saq_conf_get(const saq_conf_t *conf, const char *key);
const char *saq_conf_errmsg(const saq_conf_t *conf);
typedef int (*saq_transform_fn)(const char *in, size_t in_len, char **out, size_t *out_len, void *userdata);
int saq_conf_set_transform(saq_conf_t *conf, saq_transform_fn dump, saq_transform_fn load, void *userdata);
void *saq_alloc(size_t size);

enum {
    SAQ_LOG_ERROR = 3,
    SAQ_LOG_WARNING = 4,
    SAQ_LOG_INFO = 6,
    SAQ_LOG_DEBUG = 7
};

typedef void (*saq_log_fn)(int level, const char *message, const char *fields_json, void *userdata);
int saq_conf_set_log(saq_conf_t *conf, saq_log_fn fn, void *userdata);
int saq_conf_set_log_cq(saq_conf_t *conf, saq_cq_t *cq, uint64_t tag);

enum {
    SAQ_EVENT_ENQUEUE = 1,
    SAQ_EVENT_JOB = 2,
    SAQ_EVENT_JOBS = 3,
    SAQ_EVENT_ABORT = 4,
    SAQ_EVENT_RETRY = 5,
    SAQ_EVENT_FINISH = 6,
    SAQ_EVENT_UPDATE = 7,
    SAQ_EVENT_COUNT = 8,
    SAQ_EVENT_INFO = 9,
    SAQ_EVENT_STATS = 10,
    SAQ_EVENT_LISTEN = 11,
    SAQ_EVENT_LISTEN_END = 12,
    SAQ_EVENT_APPLY = 13,
    SAQ_EVENT_MAP = 14,
    SAQ_EVENT_SCHEDULE = 15,
    SAQ_EVENT_SWEEP = 16,
    SAQ_EVENT_BATCH_ABORT = 17,
    SAQ_EVENT_LEASE = 18,
    SAQ_EVENT_CANCEL = 19,
    SAQ_EVENT_WORKER_STOPPED = 20,
    SAQ_EVENT_PING = 21,
    SAQ_EVENT_OUTCOME = 22,
    SAQ_EVENT_GIVEN_BACK = 23,
    SAQ_EVENT_LOG = 24,
    SAQ_EVENT_OVERVIEW = 25,
    SAQ_EVENT_METRICS = 26,
    SAQ_EVENT_ITER_JOBS = 27,
    SAQ_EVENT_DELETE = 28,
    SAQ_EVENT_ENQUEUE_MANY = 29,
    SAQ_EVENT_FLOW_ENQUEUE = 30,
    SAQ_EVENT_FLOW = 31,
    SAQ_EVENT_LIMITS = 32,
    SAQ_EVENT_PAUSE = 33
};

typedef int (*saq_event_cb)(saq_event_t *ev, void *userdata);
saq_cq_t *saq_cq_new(void);
saq_cq_t *saq_cq_new_callback(saq_event_cb cb, void *userdata);
saq_event_t *saq_cq_poll(saq_cq_t *cq, int timeout_ms);
saq_event_t *saq_cq_wait(saq_cq_t *cq, uint64_t tag, int timeout_ms);
size_t saq_cq_length(const saq_cq_t *cq);
int saq_cq_fd(const saq_cq_t *cq);
int saq_cq_fd_dup(const saq_cq_t *cq);
void saq_cq_wakeup(saq_cq_t *cq);
void saq_cq_free(saq_cq_t *cq);
int saq_event_type(const saq_event_t *ev);
uint64_t saq_event_tag(const saq_event_t *ev);
int saq_event_status(const saq_event_t *ev);
const char *saq_event_errmsg(const saq_event_t *ev);
int64_t saq_event_int(const saq_event_t *ev);
const char *saq_event_json(const saq_event_t *ev);
const char *saq_event_text(const saq_event_t *ev);
const char *saq_event_key(const saq_event_t *ev);
const char *saq_event_job_status(const saq_event_t *ev);
saq_job_t *saq_event_job(const saq_event_t *ev);
saq_job_t *saq_event_take_job(saq_event_t *ev);
size_t saq_event_job_count(const saq_event_t *ev);
saq_job_t *saq_event_job_at(const saq_event_t *ev, size_t i);
void saq_event_free(saq_event_t *ev);

enum {
    SAQ_STATUS_NEW = 0,
    SAQ_STATUS_QUEUED = 1,
    SAQ_STATUS_ACTIVE = 2,
    SAQ_STATUS_ABORTING = 3,
    SAQ_STATUS_ABORTED = 4,
    SAQ_STATUS_FAILED = 5,
    SAQ_STATUS_COMPLETE = 6
};

int saq_status_terminal(const char *status);

enum {
    SAQ_CANCEL_NONE = 0,
    SAQ_CANCEL_ABORTED = 1,
    SAQ_CANCEL_TIMEOUT = 2,
    SAQ_CANCEL_SHUTDOWN = 3,
    SAQ_CANCEL_HEARTBEAT = 4,
    SAQ_CANCEL_LOST = 5
};

saq_job_t *saq_job_new(const char *function);
int saq_job_parse(saq_job_t **out, const char *json, char *errbuf, size_t errbuf_size);
saq_job_t *saq_job_from_json(const char *json);
saq_job_t *saq_job_dup(const saq_job_t *job);
void saq_job_free(saq_job_t *job);
const char *saq_job_function(const saq_job_t *job);
const char *saq_job_key(const saq_job_t *job);
const char *saq_job_id(const saq_job_t *job);
const char *saq_job_queue(const saq_job_t *job);
const char *saq_job_kwargs(const saq_job_t *job);
const char *saq_job_result(const saq_job_t *job);
const char *saq_job_error(const saq_job_t *job);
const char *saq_job_meta(const saq_job_t *job);
const char *saq_job_worker_id(const saq_job_t *job);
const char *saq_job_status(const saq_job_t *job);
int saq_job_status_code(const saq_job_t *job);
double saq_job_timeout(const saq_job_t *job);
double saq_job_heartbeat(const saq_job_t *job);
int saq_job_retries(const saq_job_t *job);
int saq_job_ttl(const saq_job_t *job);
double saq_job_retry_delay(const saq_job_t *job);
int saq_job_retry_backoff(const saq_job_t *job);
double saq_job_retry_backoff_cap(const saq_job_t *job);
double saq_job_scheduled(const saq_job_t *job);
double saq_job_progress(const saq_job_t *job);
int saq_job_attempts(const saq_job_t *job);
int64_t saq_job_queued_ms(const saq_job_t *job);
int64_t saq_job_started_ms(const saq_job_t *job);
int64_t saq_job_completed_ms(const saq_job_t *job);
int64_t saq_job_touched_ms(const saq_job_t *job);
const char *saq_job_to_json(saq_job_t *job);
int saq_job_set_key(saq_job_t *job, const char *key);
int saq_job_set_kwargs(saq_job_t *job, const char *kwargs_json);
int saq_job_set_timeout(saq_job_t *job, double seconds);
int saq_job_set_heartbeat(saq_job_t *job, double seconds);
int saq_job_set_retries(saq_job_t *job, int retries);
int saq_job_set_ttl(saq_job_t *job, int seconds);
int saq_job_set_retry_delay(saq_job_t *job, double seconds);
int saq_job_set_retry_backoff(saq_job_t *job, int enabled, double cap_s);
int saq_job_set_scheduled(saq_job_t *job, double epoch_s);
int saq_job_set_meta(saq_job_t *job, const char *meta_json);
int saq_job_set_traceparent(saq_job_t *job, const char *traceparent);
const char *saq_job_traceparent(const saq_job_t *job);
int saq_job_set_progress(saq_job_t *job, double progress);
int saq_job_set_call_kwargs(saq_job_t *job, const char *kwargs_json);
int saq_job_set_json(saq_job_t *job, const char *json);
const char *saq_job_errmsg(const saq_job_t *job);
int saq_job_complete(saq_job_t *job, const char *result_json);
int saq_job_fail(saq_job_t *job, const char *error_text);
int saq_job_cancelled(const saq_job_t *job);
int saq_job_touch(saq_job_t *job, const char *fields_json);
uint64_t saq_job_lease_id(const saq_job_t *job);
int saq_queue_open(saq_queue_t **out, saq_conf_t *conf);
saq_queue_t *saq_queue_new(saq_conf_t *conf);
saq_queue_t *saq_queue_from_url(const char *url, const char *name);
const char *saq_queue_name(const saq_queue_t *q);
const char *saq_queue_dialect(const saq_queue_t *q);
typedef int (*saq_job_hook_fn)(saq_job_t *job, void *userdata);
int saq_queue_add_before_enqueue(saq_queue_t *q, saq_job_hook_fn fn, void *userdata);
int saq_queue_remove_before_enqueue(saq_queue_t *q, saq_job_hook_fn fn, void *userdata);
int saq_queue_ping(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_enqueue(saq_queue_t *q, const saq_job_t *job, saq_cq_t *cq, uint64_t tag);
int saq_queue_enqueue_call(saq_queue_t *q, const char *function, const char *kwargs_json, saq_cq_t *cq, uint64_t tag);
int saq_queue_enqueue_many(saq_queue_t *q, saq_job_t *const *jobs, size_t n, saq_cq_t *cq, uint64_t tag);
int saq_queue_job(saq_queue_t *q, const char *key, saq_cq_t *cq, uint64_t tag);
int saq_queue_jobs(saq_queue_t *q, const char *keys_json, saq_cq_t *cq, uint64_t tag);
int saq_queue_abort(saq_queue_t *q, const char *key, const char *error, int ttl_s, saq_cq_t *cq, uint64_t tag);
int saq_queue_retry(saq_queue_t *q, const char *key, const char *error, saq_cq_t *cq, uint64_t tag);
int saq_queue_finish(saq_queue_t *q, const char *key, const char *status, const char *result_json, const char *error, saq_cq_t *cq, uint64_t tag);
int saq_queue_update(saq_queue_t *q, const char *key, const char *fields_json, saq_cq_t *cq, uint64_t tag);
int saq_queue_count(saq_queue_t *q, const char *kind, saq_cq_t *cq, uint64_t tag);
int saq_queue_info(saq_queue_t *q, int jobs, int offset, int limit, saq_cq_t *cq, uint64_t tag);
int saq_queue_stats(saq_queue_t *q, int ttl_s, saq_cq_t *cq, uint64_t tag);
int saq_queue_overview(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_limits(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_metrics(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_iter_jobs(saq_queue_t *q, const char *statuses, const char *cursor, int count, saq_cq_t *cq, uint64_t tag);
int saq_queue_delete(saq_queue_t *q, const char *key, int force, int wait_ms, saq_cq_t *cq, uint64_t tag);
int saq_queue_pause(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_resume(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_paused(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_listen(saq_queue_t *q, const char *keys_json, double timeout_s, saq_cq_t *cq, uint64_t tag);
int saq_queue_listen_stop(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_cancel(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);
int saq_queue_apply(saq_queue_t *q, const saq_job_t *job, double timeout_s, saq_cq_t *cq, uint64_t tag);
int saq_queue_map(saq_queue_t *q, const char *function, const char *iter_kwargs_json, const char *defaults_json, double timeout_s, int return_exceptions, saq_cq_t *cq, uint64_t tag);
int saq_queue_schedule(saq_queue_t *q, int lock_s, saq_cq_t *cq, uint64_t tag);
int saq_queue_sweep(saq_queue_t *q, int lock_s, double abort_s, saq_cq_t *cq, uint64_t tag);
int saq_queue_close(saq_queue_t *q, int timeout_ms);
void saq_queue_free(saq_queue_t *q);
saq_event_t *saq_queue_enqueue_sync(saq_queue_t *q, const saq_job_t *job, int timeout_ms);
saq_event_t *saq_queue_enqueue_call_sync(saq_queue_t *q, const char *function, const char *kwargs_json, int timeout_ms);
saq_event_t *saq_queue_job_sync(saq_queue_t *q, const char *key, int timeout_ms);
saq_event_t *saq_queue_abort_sync(saq_queue_t *q, const char *key, const char *error, int ttl_s, int timeout_ms);
saq_event_t *saq_queue_count_sync(saq_queue_t *q, const char *kind, int timeout_ms);
saq_event_t *saq_queue_info_sync(saq_queue_t *q, int jobs, int offset, int limit, int timeout_ms);
saq_event_t *saq_queue_stats_sync(saq_queue_t *q, int ttl_s, int timeout_ms);
saq_event_t *saq_queue_apply_sync(saq_queue_t *q, const saq_job_t *job, double timeout_s, int timeout_ms);
saq_event_t *saq_queue_map_sync(saq_queue_t *q, const char *function, const char *iter_kwargs_json, const char *defaults_json, double timeout_s, int return_exceptions, int timeout_ms);
saq_batch_t *saq_queue_batch(saq_queue_t *q);
size_t saq_batch_size(const saq_batch_t *b);
int saq_batch_abort(saq_batch_t *b, const char *reason, saq_cq_t *cq, uint64_t tag);
void saq_batch_free(saq_batch_t *b);
saq_flow_t *saq_flow_new(const saq_job_t *callback);
int saq_flow_add(saq_flow_t *f, const saq_job_t *member);
int saq_flow_set_ttl(saq_flow_t *f, int seconds);
const char *saq_flow_errmsg(const saq_flow_t *f);
size_t saq_flow_size(const saq_flow_t *f);
void saq_flow_free(saq_flow_t *f);
int saq_queue_enqueue_flow(saq_queue_t *q, const saq_flow_t *f, saq_cq_t *cq, uint64_t tag);
int saq_queue_flow(saq_queue_t *q, const char *id, saq_cq_t *cq, uint64_t tag);
saq_event_t *saq_queue_enqueue_flow_sync(saq_queue_t *q, const saq_flow_t *f, int timeout_ms);
saq_event_t *saq_queue_flow_sync(saq_queue_t *q, const char *id, int timeout_ms);
typedef void (*saq_handler_fn)(saq_job_t *job, void *userdata);
typedef int (*saq_hook_fn)(saq_worker_t *w, saq_job_t *job, void *userdata);

enum {
    SAQ_HOOK_STARTUP = 1,
    SAQ_HOOK_SHUTDOWN = 2,
    SAQ_HOOK_BEFORE_PROCESS = 3,
    SAQ_HOOK_AFTER_PROCESS = 4
};

int saq_worker_open(saq_worker_t **out, saq_queue_t *q, saq_conf_t *conf);
saq_worker_t *saq_worker_new(saq_queue_t *q, saq_conf_t *conf);
const char *saq_worker_id(const saq_worker_t *w);
const char *saq_worker_errmsg(const saq_worker_t *w);
const char *saq_worker_conf_get(const saq_worker_t *w, const char *key);
int saq_worker_add_queue(saq_worker_t *w, saq_queue_t *q, int weight);
int saq_worker_register(saq_worker_t *w, const char *function, saq_handler_fn fn, void *userdata);
int saq_worker_register_pull(saq_worker_t *w, const char *function);
int saq_worker_add_cron(saq_worker_t *w, const char *function, const char *cron, const char *options_json);
int saq_cron_next(const char *expr, const char *cron_tz, int64_t after_s, int n, int64_t *times, int32_t *utc_offsets, char *err, size_t errlen);
const char *saq_tzdata_version(void);
int saq_worker_set_limit(saq_worker_t *w, const char *function, int max_jobs, double period, int max_running);
int saq_worker_add_hook(saq_worker_t *w, int kind, saq_hook_fn fn, void *userdata);
int saq_worker_start(saq_worker_t *w, saq_cq_t *cq, uint64_t tag);
int saq_worker_stop(saq_worker_t *w, int grace_ms);
int saq_worker_wait(saq_worker_t *w, int timeout_ms);
int saq_worker_run(saq_worker_t *w);
const char *saq_worker_stats_json(saq_worker_t *w);
const char *saq_worker_metrics(saq_worker_t *w);
void saq_worker_free(saq_worker_t *w);
