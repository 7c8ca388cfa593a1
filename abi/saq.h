/* SPDX-License-Identifier: MIT */
/*
 * libsaq: the SAQ ("Simple Async Queue") job queue as a C library.
 *
 * This is the whole public API. Anything not declared here is not API.
 * libsaq is wire-compatible with Python saq's Redis backend: saq 0.26.x by
 * default, the 0.13 dialect on request (conf key "dialect").
 *
 * ---------------------------------------------------------------------------
 * Conventions (they hold for every declaration below unless its comment says
 * otherwise)
 * ---------------------------------------------------------------------------
 * Errors     Functions that can fail return int: SAQ_OK (0) or a negative
 *            SAQ_E* code. Codes never change value. saq_strerror() and
 *            saq_err_name() describe a code. Details of a failed synchronous
 *            call are kept on the object it was made on (saq_conf_errmsg,
 *            saq_job_errmsg, saq_worker_errmsg; the constructors
 *            saq_queue_open and saq_worker_open write theirs to their conf,
 *            saq_job_parse to a buffer of the caller); details of a failed
 *            asynchronous operation travel in its event (saq_event_errmsg).
 *            There is no thread-local "last error". The older constructors
 *            that return NULL on failure (saq_queue_new, saq_worker_new,
 *            saq_job_from_json) are kept; they report no code.
 * Async ops  An operation on a queue takes (saq_cq_t *cq, uint64_t tag). If it
 *            returns SAQ_OK, exactly one completion event carrying `tag` is
 *            delivered to `cq` later (on disconnect, timeout and close too).
 *            If it returns an error, no event is ever delivered. Bad
 *            arguments that can be explained (an unknown count kind, JSON that
 *            does not parse, ...) are reported through the event, with a
 *            message; a submit itself fails only when there is nowhere to
 *            deliver an event: SAQ_EINVAL (NULL queue; NULL cq, or a cq
 *            already freed or inherited across fork), SAQ_ECLOSED (queue
 *            closing or closed), SAQ_EFORKED or SAQ_ENOMEM. Besides the codes
 *            each operation lists, any event may carry SAQ_ECONN (Redis
 *            unreachable or the connection lost), SAQ_ETLS (rediss://: the
 *            TLS handshake failed or the server refused this client; the
 *            message says why: untrusted CA, host name mismatch, expired
 *            certificate, client certificate required or refused, a plaintext
 *            port), SAQ_ETIMEDOUT (a command
 *            unanswered for command_timeout_ms), SAQ_EREDIS (an error reply),
 *            SAQ_EPROTO (an unexpected reply, or a failed dump/load
 *            transform), SAQ_ECLOSED (the queue was closed or freed before the
 *            operation ended) and SAQ_ENOMEM.
 *            Tags are opaque to libsaq; keep them below 2^53 if JavaScript
 *            must see them exactly.
 * Threads    Every function is safe to call from any thread, except that
 *            *_free must be the caller's last use of that handle, and
 *            functions documented as blocking must not be called from an
 *            event callback or a worker hook (they would wait on the thread
 *            that has to wake them). Each queue owns one private libuv loop
 *            running on one thread that libsaq creates (the "I/O thread").
 *            libsaq never touches libuv's default loop.
 * Ownership  Every `const char *` argument is copied before the call returns.
 *            Strings returned by getters are borrowed from the object they
 *            were read from and stay valid until that object is freed or
 *            changed. Objects returned by *_new, *_dup, saq_cq_poll,
 *            saq_cq_wait and saq_event_take_job, and those stored in *out by
 *            saq_queue_open, saq_worker_open and saq_job_parse, belong to the
 *            caller and are released with their type's *_free. libsaq never frees caller
 *            memory; callers never free() libsaq memory. *_free(NULL) is a
 *            no-op; no *_free ever blocks.
 * Units      Durations and times carry their unit in the name or the comment.
 *            The SAQ wire mixes units: job timeout, heartbeat, ttl,
 *            retry_delay and scheduled are seconds (scheduled is epoch
 *            seconds); queued, started, touched and completed are epoch
 *            milliseconds. libsaq keeps the wire's unit for each job field.
 *            Timeouts of blocking calls are milliseconds; -1 waits forever.
 * JSON       kwargs, results, meta and the info/stats documents are UTF-8
 *            JSON text. libsaq accepts what Python's json.loads accepts
 *            (including NaN and Infinity) and keeps such values byte for byte.
 * Fork       A handle used in a forked child returns SAQ_EFORKED (the threads
 *            behind it do not exist there); the child makes its own handles.
 *            Freeing an inherited conf, cq, event or job in the child only
 *            releases memory; freeing an inherited queue, worker or batch
 *            releases nothing (the parent's threads may have held its locks).
 */
#ifndef SAQ_H
#define SAQ_H

#include <stddef.h>
#include <stdint.h>

#if defined(SWIG)
#define SAQ_API
#elif defined(__GNUC__) && defined(SAQ_BUILDING)
#define SAQ_API __attribute__((visibility("default")))
#else
#define SAQ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Versions                                                                 */
/* ------------------------------------------------------------------------ */

/** Version of these headers (compile time); compare with saq_version() at run time. */
#define SAQ_VERSION_MAJOR 0
#define SAQ_VERSION_MINOR 2
#define SAQ_VERSION_PATCH 0
#define SAQ_VERSION_STR "0.2.0"
/** (major << 16) | (minor << 8) | patch of these headers. */
#define SAQ_VERSION_NUMBER ((SAQ_VERSION_MAJOR << 16) | (SAQ_VERSION_MINOR << 8) | SAQ_VERSION_PATCH)

/** Version of the loaded library, encoded as SAQ_VERSION_NUMBER. Bindings
 *  check saq_version() >= the SAQ_VERSION_NUMBER they were built with.
 *  Any thread. Never fails. */
SAQ_API unsigned saq_version(void);

/** Version of the loaded library as static text, e.g. "0.2.0" (never NULL, never freed). Any
 *  thread. */
SAQ_API const char *saq_version_str(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** Error codes (negative; SAQ_OK is 0). Values never change; new codes are added at the end.
 *  An operation that writes (enqueue, abort, update, ...) and fails with SAQ_ECONN or
 *  SAQ_ETIMEDOUT after its command was sent has an unknown outcome: Redis may have run it
 *  before the connection was lost or reset (a frozen Redis runs what it had received once it
 *  wakes). Before enqueueing again after such an error, look the job up (saq_queue_job by its
 *  key), or enqueue with a key of your own so that a second enqueue of it is refused. */
#define SAQ_OK 0             /**< success */
#define SAQ_EINVAL (-1)      /**< an argument is NULL, out of range or of the wrong type */
#define SAQ_ENOMEM (-2)      /**< out of memory */
#define SAQ_ETIMEDOUT (-3)   /**< a deadline passed (command, listen, apply, map, close, wait) */
#define SAQ_ECLOSED (-4)     /**< the queue or worker is closing or closed */
#define SAQ_EFORKED (-5)     /**< a handle inherited across fork() was used in the child */
#define SAQ_EREDIS (-6)      /**< Redis answered with an error reply */
#define SAQ_EPROTO (-7)      /**< a record in Redis is malformed or of an unexpected type */
#define SAQ_ECONN (-8)       /**< the connection to Redis failed or was lost mid-operation */
#define SAQ_EURL (-9)        /**< the Redis URL cannot be used */
#define SAQ_EJSON (-10)      /**< caller-supplied JSON does not parse or has the wrong shape */
#define SAQ_ENOTFOUND (-11)  /**< the job does not exist in Redis */
#define SAQ_EWRONGQUEUE (-12)/**< the job belongs to another queue */
#define SAQ_EJOB (-13)       /**< the job ended failed or aborted (apply, map); the event carries it */
#define SAQ_EUNKNOWN_KEY (-14) /**< saq_conf_set: no such configuration key */
#define SAQ_ECRON (-15)      /**< a cron expression does not parse */
#define SAQ_ESTATE (-16)     /**< the call is not valid in the object's current state */
#define SAQ_ETOOBIG (-17)    /**< a record or result exceeds max_payload_bytes */
#define SAQ_EUVVERSION (-18) /**< the process's libuv is older than the one libsaq was built against */
#define SAQ_ETLS (-19)       /**< TLS failed: a certificate or key file cannot be used, the server's
                                  certificate was refused, or the TLS handshake failed. Since 0.2. */

/** Static English description of an error code; "unknown error" for codes
 *  this version does not know. Never NULL. Any thread. */
SAQ_API const char *saq_strerror(int err);

/** Static stable name of an error code ("SAQ_ETIMEDOUT"), for bindings that
 *  map codes to exception classes; "SAQ_E?" for unknown codes. Any thread. */
SAQ_API const char *saq_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Opaque handles                                                           */
/* ------------------------------------------------------------------------ */

typedef struct saq_conf saq_conf_t;     /**< string key/value configuration */
typedef struct saq_queue saq_queue_t;   /**< a SAQ Queue: one Redis queue name, its connections and I/O thread */
typedef struct saq_job saq_job_t;       /**< a job record (or a job leased to a worker) */
typedef struct saq_cq saq_cq_t;         /**< a completion queue: where asynchronous results arrive */
typedef struct saq_event saq_event_t;   /**< one completion or notification */
typedef struct saq_worker saq_worker_t; /**< a SAQ worker bound to one queue */
typedef struct saq_batch saq_batch_t;   /**< a batch scope (saq's Queue.batch) */
typedef struct saq_flow saq_flow_t;     /**< a flow being built: member jobs and a callback job */

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/** New empty configuration (every key at its default). Owned by the caller (saq_conf_free); the
 *  queue and worker constructors copy what they need, so a conf can be freed or reused right
 *  after. Returns NULL only when out of memory. Any thread. A conf is not thread-safe: use one
 *  from one thread at a time (saq_conf_set, saq_conf_get, saq_conf_errmsg and the queue and
 *  worker constructors all read or write it). */
SAQ_API saq_conf_t *saq_conf_new(void);

/** Release a configuration and every string borrowed from it. NULL is a no-op. Never blocks;
 *  queues and workers made from it are not affected. */
SAQ_API void saq_conf_free(saq_conf_t *conf);

/** Set `key` to `value` (text; numbers in decimal). The value is checked at
 *  once. Queue keys:
 *   - url                 redis://[[user]:password@]host[:port][/db][?db=N]
 *                         or rediss://... (the same over TLS; port 6379 by
 *                         default, as redis-py) or
 *                         unix://[[user]:password@]/path/to.sock[?db=N]
 *                         (default redis://localhost:6379/0). Userinfo and
 *                         path are percent-decoded. A rediss:// url reads
 *                         redis-py 6.4's TLS query parameters, so one url
 *                         works in Python saq and libsaq: ssl_cert_reqs,
 *                         ssl_check_hostname, ssl_ca_certs, ssl_ca_path,
 *                         ssl_certfile, ssl_keyfile (meanings and defaults:
 *                         the tls.* keys below; ssl_cert_reqs takes the same
 *                         three lower-case words; ssl_check_hostname takes
 *                         1/t/true/y/yes/on or 0/f/false/n/no in any case).
 *                         Their values are decoded as redis-py does: '+' is
 *                         a space and escapes are decoded twice (a literal
 *                         '%' is %2525, '+' is %252B); a parameter with an
 *                         empty value is skipped; the first of a repeated
 *                         one counts. Refused with SAQ_EURL: a bad value, an
 *                         ssl_check_hostname word redis-py would silently
 *                         read as true ("off"), any other ssl or ssl_*
 *                         parameter (ssl_ciphers, ssl_password, ...: libsaq
 *                         does not implement them), and any ssl/ssl_*
 *                         parameter on redis:// or unix:// (redis-py fails
 *                         those too). Other query parameters are ignored.
 *                         Messages never repeat the url (it may hold a
 *                         password).
 *                         Since 0.2, Redis Sentinel and Redis Cluster:
 *                         redis+sentinel://[[user]:password@]h1[:p1],h2[:p2]
 *                         .../master-name[/db][?db=N] (also sentinel://;
 *                         rediss+sentinel:// for TLS to the sentinels and the
 *                         master): sentinel ports default to 26379, at most 16
 *                         hosts, the master name is required. user:password
 *                         are the data nodes'; the sentinels' own are the
 *                         query parameters sentinel_username= and
 *                         sentinel_password= (percent-decoded once) or the
 *                         sentinel.* keys. The master is asked with SENTINEL
 *                         get-master-addr-by-name, followed on +switch-master,
 *                         and checked with ROLE on each connection.
 *                         redis+cluster://[[user]:password@]h1[:p1],h2[:p2]...
 *                         [/0] (also cluster://; rediss+cluster:// for TLS):
 *                         any nodes of the cluster (db 0 only); each queue
 *                         goes to the master of its name's hash slot, and its
 *                         name must hold a hash tag ("{orders}"): saq_queue_open
 *                         refuses one without (SAQ_EINVAL). In cluster mode
 *                         the abort marker is saq:<name>:abort:<key> (saq's
 *                         saq:abort:<key> would hash elsewhere). On both, a
 *                         failover or resharding moves every connection of
 *                         the queue and its workers to the new master;
 *                         commands refused by MOVED, ASK, TRYAGAIN, READONLY,
 *                         UNBLOCKED, CLUSTERDOWN, MASTERDOWN or LOADING are
 *                         sent again there (they did not run); commands
 *                         waiting for a master fail after command_timeout_ms
 *                         with SAQ_ECONN and the reason.
 *   - name                queue name (default "default"), 1..1000 bytes; no
 *                         ':', no glob characters * ? [ ] (saq #8 of spec 7),
 *                         no spaces and no control characters, valid UTF-8
 *                         (a job record names its queue in JSON). With a
 *                         redis+cluster:// url it must hold a hash tag: a
 *                         non-empty part between its first '{' and the next
 *                         '}'.
 *   - dialect             "0.26" (default) or "0.13": which Python saq the
 *                         records, registry keys and aborts are written for.
 *   - max_concurrent_ops  >= 1, default 20: saq's throttle on enqueue, single
 *                         job reads and abort.
 *   - command_timeout_ms  1..86400000 ms, default 5000: a Redis command
 *                         unanswered this long fails with SAQ_ETIMEDOUT and its
 *                         connection is dropped and re-established.
 *   - connect_timeout_ms  1..86400000 ms, default 2000.
 *   - reconnect_max_ms    10..86400000 ms, default 2000: cap of the reconnect
 *                         backoff.
 *   - max_payload_bytes   1024..536870912 (Redis's limit), default 16777216
 *                         (16 MiB): larger records are refused with
 *                         SAQ_ETOOBIG before anything is sent.
 *   - log_level           "debug", "info", "warning" (also "warn"), "error" or
 *                         "off" (any case): the least severe log record passed
 *                         to the queue's log sink (saq_conf_set_log). Default:
 *                         the environment variable SAQ_LOG_LEVEL (read at
 *                         saq_queue_open) when it holds one of these words,
 *                         else "warning". Since 0.2.
 *  TLS keys (queue keys; since 0.2). Each replaces the rediss:// url's query
 *  parameter of the same meaning; setting any of them with a url that is not
 *  rediss:// makes saq_queue_open fail with SAQ_EINVAL ("tls.<key> needs a
 *  rediss:// url"), since only rediss:// turns TLS on. Files are read when the
 *  queue opens (a missing or unusable one: SAQ_ETLS there), not here. Every
 *  connection of a rediss:// queue uses TLS 1.2 or later, sends the url's host
 *  as SNI (server name indication; not for an IP address) and, without
 *  tls.ca_certs and tls.ca_path, trusts the system's CA store (OpenSSL's
 *  default paths, e.g. /etc/ssl/certs on Debian).
 *   - tls.cert_reqs       "required" (default), "optional" or "none" (lower
 *                         case). required: the server's certificate must
 *                         verify against the trusted CAs. optional: the same
 *                         for a client (as in Python's ssl module, which
 *                         redis-py uses: a server always sends a certificate
 *                         and one that fails verification ends the
 *                         handshake). none: the certificate is not verified
 *                         at all (encrypted, but anyone can pose as the
 *                         server; also turns tls.check_hostname off).
 *   - tls.check_hostname  true (default) / false (true/false, 1/0, yes/no,
 *                         on/off): the server's certificate must name the
 *                         url's host (its DNS name, or its IP address for an
 *                         IP host). Always off with cert_reqs none, as
 *                         redis-py.
 *   - tls.ca_certs        path of a PEM file of trusted CA certificates
 *                         (redis-py's ssl_ca_certs); "" = none.
 *   - tls.ca_path         directory of CA certificates named by subject hash
 *                         (c_rehash / openssl rehash; ssl_ca_path); "" = none.
 *   - tls.certfile        path of the client certificate PEM (with its chain),
 *                         for servers that require one (tls-auth-clients);
 *                         "" = none.
 *   - tls.keyfile         path of the client certificate's private key PEM
 *                         (unencrypted); "" or unset: the key is read from
 *                         tls.certfile.
 *  The paths are at most 4095 bytes, taken as given (relative paths from the
 *  process's working directory when the queue opens).
 *  Replication and Sentinel keys (queue keys; since 0.2):
 *   - min_replicas        0..1000, default 0: enqueue (saq_queue_enqueue and
 *                         what uses it: apply, map, batches) and a worker's
 *                         finish wait until this many replicas acknowledged
 *                         the write (Redis WAIT), so that a failover cannot
 *                         lose it. An enqueue fewer replicas acknowledged in
 *                         time fails with SAQ_ETIMEDOUT ("written on the
 *                         master, but only k of min_replicas=n replicas
 *                         acknowledged it"): the job exists on the master. A
 *                         finish asks WAIT again, on the connection that wrote
 *                         it, up to 30 times, and is written again on the new
 *                         master if that connection drops (a finish lost in a
 *                         failover makes the job active again, and it would be
 *                         recovered as lost: retried, or aborted); then it
 *                         goes on.
 *   - min_replicas_timeout_ms  1..86400000 ms, default 1000: how long WAIT waits.
 *   - sentinel.username, sentinel.password  the sentinels' own credentials
 *                         (AUTH to each sentinel; "" = none); they replace
 *                         the url's sentinel_username/sentinel_password. With
 *                         a url that is not redis+sentinel:// or
 *                         rediss+sentinel://, saq_queue_open fails with
 *                         SAQ_EINVAL.
 *  Job defaults and retries (queue keys; since 0.2; extensions, see README "Extensions"):
 *   - defaults.timeout, defaults.retries, defaults.ttl, defaults.retry_delay,
 *     defaults.retry_backoff   a value for the job field of that name, given at
 *                         enqueue (saq_queue_enqueue*, apply, map, batches, a
 *                         worker's cron jobs) to each job that was not given one
 *                         (by a saq_job_set_* setter, the enqueue's kwargs, the
 *                         cron options, or a record that holds the field), before
 *                         the before-enqueue hooks; the record carries it, so
 *                         every worker runs the job with it, Python saq's too
 *                         (saq #302). timeout: seconds 0..31536000 (0 = none);
 *                         retries: 0..2^31-1; ttl: seconds -1..2^31-1 (0 = kept
 *                         forever, -1 = deleted at once); retry_delay: seconds
 *                         0..31536000; retry_backoff: true, false, or a cap in
 *                         seconds 0..31536000 (0 = false).
 *   - failed_ttl          -1..2^31-1 seconds (unset: the job's ttl): how long a
 *                         job that ends failed is kept (saq #268), as ttl (0 =
 *                         forever, -1 = deleted at once), when this queue writes
 *                         the failure (its workers, saq_queue_finish). A Python
 *                         saq worker keeps its failures for the job's ttl.
 *   - retry.min_delay     0..86400 seconds (default 0): no retry this queue
 *                         schedules (its workers' retries and recoveries,
 *                         saq_queue_retry) is due sooner (saq #289).
 *   - retry.jitter        true (default) / false: saq's full jitter on a
 *                         backoff delay (a uniform draw from 0 to the delay);
 *                         false uses the whole delay (saq #289).
 *  Worker keys (read by saq_worker_open; all durations in seconds, fractions
 *  allowed, at most 86400; defaults in parentheses):
 *   - concurrency (10; 1..100000), dequeue_timeout (0 = block until a job or
 *     stop), timers.schedule (1), timers.worker_info (10; alias timers.stats: saq's
 *     registry entry is written every period with saq's ttl, period + 1 s, and
 *     also within about 1 s of a change of the counters; since 0.2),
 *     timers.sweep (60), timers.abort (1) (timers >= 0.001), burst (false;
 *     true/false, 1/0, yes/no, on/off), max_burst_jobs (0 = none; also caps
 *     concurrency, as saq), shutdown_grace_period (0), cancellation_hard_deadline
 *     (1), id (a uuid1; 1..200 characters without ':'), metadata (JSON object
 *     or null), swept_error_message ("swept"; a worker uses its own for its
 *     missed heartbeats and its sweep timer; saq_queue_open reads it for
 *     saq_queue_sweep called directly), dead_worker_check (1; 0 disables it): how
 *     often saq's worker registry is checked; a worker whose entry has been
 *     missing for 10 checks (10 s) is gone (e.g. a killed Python worker: its entry lives
 *     11 s after its last write) and its running jobs are recovered (retried,
 *     or aborted when out of retries); the active jobs are read only when a
 *     worker left the registry, or every 10 s; timers.liveness (0.5; 0..3600, 0 = off): how often
 *     a libsaq worker refreshes its liveness entry (saq:<q>:libsaq:alive, which
 *     lives 4 periods) and looks for libsaq workers whose entry expired: their
 *     running jobs are recovered (retried, or aborted when out of retries) about
 *     2-3 s after the worker died, and so are the sweep's jobs whose sweeping
 *     process died between the abort and the retry.
 *   - timers.pause (0.5; 0..3600, 0 = never): how often the worker reads its
 *     queue's pause flag (saq_queue_pause; a fifth of it while paused); with 0
 *     it ignores pauses. Since 0.2.
 *   - queue_order ("strict"; or "weighted"): how a worker serving several
 *     queues (saq_worker_add_queue) shares its concurrency among them;
 *     queue_weight (1; 1..1000000): the weight of the worker's own queue in
 *     weighted order (added queues take theirs from saq_worker_add_queue).
 *   - cron_tz ("" = UTC): the IANA time zone of the worker's cron jobs, as
 *     saq 0.26's Worker(cron_tz=...): each saq_worker_add_cron without its own
 *     "cron_tz" option reads its expression in this zone's wall clock (see
 *     there). A name the system's tz database does not have: SAQ_EINVAL
 *     ("cron_tz: unknown time zone '...'").
 *  Setting a key again replaces its value; on failure the conf is unchanged.
 *  Returns SAQ_OK, SAQ_EINVAL (NULL argument or bad value), SAQ_EUNKNOWN_KEY,
 *  SAQ_EURL (bad url) or SAQ_ENOMEM; saq_conf_errmsg() tells why (except for
 *  SAQ_ENOMEM and a NULL conf). */
SAQ_API int saq_conf_set(saq_conf_t *conf, const char *key, const char *value);

/** Current text value of `key` as last set (borrowed, valid until the next saq_conf_set of that
 *  key or saq_conf_free), or NULL when unset (defaults are not reported), unknown, or when conf or
 *  key is NULL. "timers.stats" reads timers.worker_info. */
SAQ_API const char *saq_conf_get(const saq_conf_t *conf, const char *key);

/** Message of the last failed call made with this conf (saq_conf_set, saq_conf_set_transform,
 *  saq_queue_open, saq_worker_open and their older forms), or "" if none or conf is NULL. Never NULL. Borrowed: valid
 *  until the next failing call with this conf or saq_conf_free. A successful call does not clear
 *  it. */
SAQ_API const char *saq_conf_errmsg(const saq_conf_t *conf);

/** Byte transform applied around the canonical job JSON (saq's dump/load).
 *  `in` is `in_len` bytes (borrowed for the call, not NUL-terminated); the
 *  function stores a buffer obtained from saq_alloc() in *out (libsaq frees
 *  it) and its length in *out_len and returns 0, or returns non-zero (or
 *  leaves *out NULL) to fail the operation with SAQ_EPROTO. A dumped record
 *  larger than max_payload_bytes fails with SAQ_ETOOBIG. load runs on the I/O
 *  thread; dump runs on the thread that submits an enqueue, apply or map, and
 *  on the I/O thread for every other write (abort, retry, finish, update, a
 *  worker's outcomes and cron jobs), so both may run concurrently and must be
 *  thread-safe and must not block. Records written through a custom dump are
 *  not readable by Python saq unless Python uses the same transform. C only
 *  (ignored by the bindings). */
typedef int (*saq_transform_fn)(const char *in, size_t in_len, char **out, size_t *out_len,
                                void *userdata);

/** Install a dump/load pair on a conf (both or neither; NULL, NULL removes) for the queues
 *  created from it afterwards. `userdata` is passed to both and must stay valid until those
 *  queues are freed. Returns SAQ_OK, or SAQ_EINVAL (NULL conf, or only one of the pair, with a
 *  message in saq_conf_errmsg). Same thread rule as saq_conf_set. C only. */
SAQ_API int saq_conf_set_transform(saq_conf_t *conf, saq_transform_fn dump, saq_transform_fn load,
                                   void *userdata);

/** Memory for saq_transform_fn outputs (malloc; size 0 allowed); libsaq frees it once it is
 *  handed over in *out. NULL on OOM. Any thread. */
SAQ_API void *saq_alloc(size_t size);

/* ------------------------------------------------------------------------ */
/* Logging (since 0.2)                                                      */
/* ------------------------------------------------------------------------ */

/** Log levels (syslog's numbers: a smaller number is more severe). */
#define SAQ_LOG_ERROR 3   /**< work was lost or cannot go on: a job or write given up, a
                               record that cannot be read */
#define SAQ_LOG_WARNING 4 /**< trouble libsaq is working through: Redis unreachable, a connection
                               lost, a job recovered from a dead worker or swept, a handler that
                               raised, a hook that failed */
#define SAQ_LOG_INFO 6    /**< life cycle: worker started and stopped, a connection recovered
                               (with the outage's length), a failover followed */
#define SAQ_LOG_DEBUG 7   /**< details for the curious */

/** A log sink. `level` is a SAQ_LOG_* level; `message` one line of English without a trailing
 *  newline; `fields_json` a flat JSON object of structured fields with string or number values,
 *  e.g. {"queue": "default", "worker": "<id>", "job": "<key>", "function": "send_mail",
 *  "error": "SAQ_ECONN", "code": -8, "address": "10.0.0.7:6379", "outage_ms": 2310}; which fields
 *  appear depends on the record ("queue" always comes first; "reason": the text a job failed or
 *  was recovered with; "attempts"; "hook"). Both are borrowed for the call. A Redis outage is
 *  one warning (its first failure), at most one reminder every 30 s while it lasts (with
 *  "attempts") and one info record when it ends (with "outage_ms"), not one record per retry. It runs on the thread that
 *  logs (mostly the queue's I/O thread; a handler thread or the caller's thread for some
 *  records), and records of several queues may arrive at once from their I/O threads: the sink
 *  must be thread-safe, must not block and must not call blocking libsaq functions. */
typedef void (*saq_log_fn)(int level, const char *message, const char *fields_json,
                           void *userdata);

/** Send the log records of the queues made from this conf afterwards, and of their workers, to
 *  `fn` (with `userdata`, which must stay valid until those queues are freed), filtered by the
 *  conf key log_level. fn NULL restores the default sink: one line per record on stderr, written with one
 *  write(), "saq: <LEVEL> <message> key=value ..." (a value with spaces, quotes or '=' is a JSON
 *  string), for warnings and errors unless log_level says otherwise (log_level "off" silences every sink). Replaces a log cq set earlier. Returns
 *  SAQ_OK or SAQ_EINVAL (NULL conf). Same thread rule as saq_conf_set. C only. Since 0.2. */
SAQ_API int saq_conf_set_log(saq_conf_t *conf, saq_log_fn fn, void *userdata);

/** Deliver the log records of the queues made from this conf afterwards, and of their workers,
 *  as SAQ_EVENT_LOG events carrying `tag` to `cq` (the form bindings use; status SAQ_OK, int the
 *  level, text the message, json the fields), filtered by log_level. The cq must outlive those queues.
 *  cq NULL restores the default sink. Replaces a sink set earlier. Returns SAQ_OK or SAQ_EINVAL
 *  (NULL conf). Same thread rule as saq_conf_set. Since 0.2. */
SAQ_API int saq_conf_set_log_cq(saq_conf_t *conf, saq_cq_t *cq, uint64_t tag);

/* ------------------------------------------------------------------------ */
/* Events and completion queues                                             */
/* ------------------------------------------------------------------------ */

/** What an event reports (saq_event_type). */
#define SAQ_EVENT_ENQUEUE 1      /**< saq_queue_enqueue*, saq_batch_enqueue */
#define SAQ_EVENT_JOB 2          /**< saq_queue_job */
#define SAQ_EVENT_JOBS 3         /**< saq_queue_jobs */
#define SAQ_EVENT_ABORT 4        /**< saq_queue_abort */
#define SAQ_EVENT_RETRY 5        /**< saq_queue_retry */
#define SAQ_EVENT_FINISH 6       /**< saq_queue_finish */
#define SAQ_EVENT_UPDATE 7       /**< saq_queue_update */
#define SAQ_EVENT_COUNT 8        /**< saq_queue_count */
#define SAQ_EVENT_INFO 9         /**< saq_queue_info */
#define SAQ_EVENT_STATS 10       /**< saq_queue_stats */
#define SAQ_EVENT_LISTEN 11      /**< one status message of a saq_queue_listen (not a completion) */
#define SAQ_EVENT_LISTEN_END 12  /**< the completion of a saq_queue_listen */
#define SAQ_EVENT_APPLY 13       /**< saq_queue_apply */
#define SAQ_EVENT_MAP 14         /**< saq_queue_map */
#define SAQ_EVENT_SCHEDULE 15    /**< saq_queue_schedule */
#define SAQ_EVENT_SWEEP 16       /**< saq_queue_sweep */
#define SAQ_EVENT_BATCH_ABORT 17 /**< saq_batch_abort */
#define SAQ_EVENT_LEASE 18       /**< worker: a job to run (saq_event_take_job); int = lease id */
/** worker: a leased job must stop (key; int = SAQ_CANCEL_*). The key alone may name two leases
 *  of a worker of several queues (saq_worker_add_queue) when their queues hold the same key: the
 *  lease meant is the one whose job's saq_job_cancelled is already set when the event comes. */
#define SAQ_EVENT_CANCEL 19
#define SAQ_EVENT_WORKER_STOPPED 20 /**< worker: it stopped; no more lease events follow */
#define SAQ_EVENT_PING 21        /**< saq_queue_ping */
/** worker, pull mode: the outcome libsaq stored for a leased job (key; int = lease id; job = the
 *  record as stored, or NULL with an error status when nothing was stored). Since 0.2. */
#define SAQ_EVENT_OUTCOME 22
/** worker, pull mode: libsaq let go of a leased job its host still holds (key; int = lease id):
 *  past the hard deadline it stored the outcome without the host. Since 0.2. */
#define SAQ_EVENT_GIVEN_BACK 23
/** a log record, on the cq given to saq_conf_set_log_cq (not a completion): int = SAQ_LOG_*
 *  level, text = the message, json = its fields. Since 0.2. */
#define SAQ_EVENT_LOG 24
#define SAQ_EVENT_OVERVIEW 25    /**< saq_queue_overview. Since 0.2. */
#define SAQ_EVENT_METRICS 26     /**< saq_queue_metrics (text = the exposition). Since 0.2. */
#define SAQ_EVENT_ITER_JOBS 27   /**< saq_queue_iter_jobs. Since 0.2. */
#define SAQ_EVENT_DELETE 28      /**< saq_queue_delete. Since 0.2. */
#define SAQ_EVENT_ENQUEUE_MANY 29 /**< saq_queue_enqueue_many. Since 0.2. */
#define SAQ_EVENT_FLOW_ENQUEUE 30 /**< saq_queue_enqueue_flow. Since 0.2. */
#define SAQ_EVENT_FLOW 31        /**< saq_queue_flow. Since 0.2. */
#define SAQ_EVENT_LIMITS 32      /**< saq_queue_limits. Since 0.2. */
#define SAQ_EVENT_PAUSE 33       /**< saq_queue_pause, saq_queue_resume, saq_queue_paused. Since 0.2. */

/** Event callback for callback-mode completion queues (C only). Runs on the
 *  I/O thread of the queue that produced the event and takes ownership of
 *  `ev` (release it with saq_event_free, now or later). It must not block,
 *  must not call blocking libsaq functions, and must not free the queue the
 *  event came from. It may submit new operations. For SAQ_EVENT_LISTEN
 *  events a non-zero return stops that listen (saq's "truthy return breaks");
 *  otherwise the return value is ignored. */
typedef int (*saq_event_cb)(saq_event_t *ev, void *userdata);

/** New polling completion queue. Events wait in it until saq_cq_poll or
 *  saq_cq_wait takes them. A cq may collect events of many queues and
 *  workers. Owned by the caller (saq_cq_free); returns NULL when out of
 *  memory or out of file descriptors (it owns a pipe). Any thread. */
SAQ_API saq_cq_t *saq_cq_new(void);

/** New callback completion queue: each event is handed to `cb` on the I/O
 *  thread instead of being queued; poll/wait/fd/length/wakeup do not apply to
 *  it. `userdata` must stay valid until the cq is freed and its pending
 *  operations have ended. C only. Returns NULL when `cb` is NULL or out of
 *  memory. Any thread. */
SAQ_API saq_cq_t *saq_cq_new_callback(saq_event_cb cb, void *userdata);

/** Take the oldest event, waiting up to `timeout_ms` (0 = do not wait,
 *  -1 or any negative value = forever). Returns an owned event (saq_event_free),
 *  or NULL on timeout, on saq_cq_wakeup, for a NULL or callback cq, in a
 *  forked child, or after saq_cq_free began. Blocking unless timeout_ms is 0;
 *  any thread (several threads may poll one cq). */
SAQ_API saq_event_t *saq_cq_poll(saq_cq_t *cq, int timeout_ms);

/** Take the oldest event carrying `tag`, leaving other events queued (the fd
 *  stays readable for them); waits and returns NULL like saq_cq_poll. Any
 *  thread. */
SAQ_API saq_event_t *saq_cq_wait(saq_cq_t *cq, uint64_t tag, int timeout_ms);

/** Number of events waiting in the cq (a snapshot); 0 for a NULL or callback cq. Any thread. */
SAQ_API size_t saq_cq_length(const saq_cq_t *cq);

/** Read end of a non-blocking pipe that is readable while the cq holds
 *  events (librdkafka's IO-event idea; the first call turns the signalling
 *  on). Drain with saq_cq_poll(cq, 0) until NULL; libsaq empties the pipe
 *  itself. Owned by the cq and valid until saq_cq_free: do not close or read
 *  it. Returns -1 for a callback cq or NULL. Any thread. */
SAQ_API int saq_cq_fd(const saq_cq_t *cq);

/** Close-on-exec dup() of saq_cq_fd, owned by the caller, who closes it (for hosts whose fd
 *  wrapper closes the fd, such as Node's net.Socket). -1 for a callback or NULL cq, or when dup
 *  fails (errno tells why). Any thread. */
SAQ_API int saq_cq_fd_dup(const saq_cq_t *cq);

/** Make the blocked saq_cq_poll/saq_cq_wait calls on this cq return NULL;
 *  when none is blocked, the next one that finds no event returns NULL at
 *  once (the wakeup is not lost). No-op for a NULL or callback cq. Any thread
 *  (not async-signal-safe). Used as Ruby's unblocking function and by Go's
 *  Close. */
SAQ_API void saq_cq_wakeup(saq_cq_t *cq);

/** Release the caller's reference. Queued events are freed; events still to
 *  come for this cq are discarded when they arrive (a callback cq's callback
 *  is not called again); pending polls return NULL. Operations in flight keep
 *  the memory alive, so this may be called at any time. NULL is a no-op.
 *  Never blocks; any thread. */
SAQ_API void saq_cq_free(saq_cq_t *cq);

/* Event getters. Any thread; they only read the event, so concurrent getters are fine, but not
 * concurrently with saq_event_take_job or saq_event_free. Strings and jobs they return are
 * borrowed from the event and stay valid until saq_event_free (a job: until it is taken). A NULL
 * event gives 0 / NULL (saq_event_status: SAQ_EINVAL). */

/** SAQ_EVENT_* of an event. */
SAQ_API int saq_event_type(const saq_event_t *ev);
/** The tag given at submission (for LEASE, CANCEL, OUTCOME, GIVEN_BACK and WORKER_STOPPED: the
 *  tag given to saq_worker_start). */
SAQ_API uint64_t saq_event_tag(const saq_event_t *ev);
/** SAQ_OK or the negative error code of the operation. OUTCOME: SAQ_OK when the outcome was
 *  stored; otherwise nothing was stored and the job stays where it is in Redis for a sweep or
 *  another worker to recover: SAQ_ESTATE (the job is no longer this lease's: swept, recovered
 *  or run again elsewhere), SAQ_ECONN / SAQ_ETIMEDOUT (Redis unreachable; given up after about
 *  10 s, or once a stopping worker's grace period is over), SAQ_ETOOBIG (even the shortest
 *  outcome does not fit in max_payload_bytes: the record is failed with its bytes kept as they
 *  were), or another Redis error; SAQ_ENOMEM: stored, but no memory for the event's copy. */
SAQ_API int saq_event_status(const saq_event_t *ev);
/** Human-readable error message (borrowed), or NULL when status is SAQ_OK; never NULL when the
 *  status is an error. */
SAQ_API const char *saq_event_errmsg(const saq_event_t *ev);
/** Integer result. ENQUEUE: 1 enqueued, 0 already enqueued (saq returns
 *  None). COUNT: the count. ABORT: 1 abort requested, 2 aborted at once (it
 *  was waiting), 0 already terminal (nothing changed). RETRY, FINISH,
 *  UPDATE: 1 written, 0 nothing written (job gone or already terminal).
 *  SCHEDULE, SWEEP: number of ids. CANCEL: the SAQ_CANCEL_* reason. MAP:
 *  number of distinct jobs (duplicate keys collapse). BATCH_ABORT: jobs
 *  aborted. PING: the server version. LEASE, OUTCOME, GIVEN_BACK: the lease id
 *  (saq_job_lease_id of the leased job). DELETE: 1, 2 or 3 (see saq_queue_delete; with
 *  SAQ_ENOTFOUND the stray entries removed). 0 otherwise. */
SAQ_API int64_t saq_event_int(const saq_event_t *ev);
/** JSON document (borrowed) or NULL (always NULL on error). INFO and STATS:
 *  the object saq returns. APPLY: the job's result (JSON null when it has
 *  none). MAP: array of results, one per distinct job in item order (failed
 *  entries null when return_exceptions). SCHEDULE, SWEEP: array of job ids.
 *  JOBS: array with the record of each key, in the queue's dialect, or null
 *  where missing or unreadable. */
SAQ_API const char *saq_event_json(const saq_event_t *ev);
/** Text document (borrowed) or NULL: LOG: the message (one line, no newline); METRICS: the
 *  Prometheus text exposition (format 0.0.4). NULL for other events and on error. Since 0.2. */
SAQ_API const char *saq_event_text(const saq_event_t *ev);
/** Job key (borrowed) for LISTEN, LEASE, CANCEL, OUTCOME, GIVEN_BACK, JOB, ABORT, RETRY, FINISH,
 *  UPDATE and DELETE events; for ITER_JOBS the cursor to pass next ("0" when the scan is over); else
 *  NULL. */
SAQ_API const char *saq_event_key(const saq_event_t *ev);
/** Status text for LISTEN events ("active", "complete", ...), else NULL. */
SAQ_API const char *saq_event_job_status(const saq_event_t *ev);
/** The job the event is about (borrowed), or NULL. ENQUEUE: the copy that
 *  was submitted (queue, queued, status and hook changes applied). JOB, ABORT,
 *  RETRY, FINISH, UPDATE: the stored record after the operation. APPLY: the
 *  final record (also on SAQ_EJOB). MAP: the failed job on SAQ_EJOB. LEASE:
 *  the leased job; take it to run it past the event's life (freeing the event
 *  with the job still in it releases the lease as saq_job_free does).
 *  OUTCOME: a copy of the record exactly as stored (not leased): its status
 *  (complete, failed, aborted, or queued for a retry), error, result, attempts
 *  and times; NULL when nothing was stored (saq_event_status says why). DELETE: the record as
 *  last read before it was deleted. */
SAQ_API saq_job_t *saq_event_job(const saq_event_t *ev);
/** Move saq_event_job's job out of the event; the caller owns it (saq_job_free) and
 *  saq_event_job returns NULL afterwards. NULL when none. Jobs of saq_event_job_at cannot be
 *  taken (use saq_job_dup). Not concurrently with other use of the event. */
SAQ_API saq_job_t *saq_event_take_job(saq_event_t *ev);
/** Number of jobs carried (JOBS: one per key; MAP: one per distinct job; entries may be NULL;
 *  ITER_JOBS: the jobs of this page, none NULL); 0 for other events. */
SAQ_API size_t saq_event_job_count(const saq_event_t *ev);
/** i-th job (borrowed) or NULL when missing or out of range. */
SAQ_API saq_job_t *saq_event_job_at(const saq_event_t *ev, size_t i);
/** Release an event and everything borrowed from it (a leased job still in it gives its lease
 *  back, as saq_job_free). NULL is a no-op. Never blocks; any thread. */
SAQ_API void saq_event_free(saq_event_t *ev);

/* ------------------------------------------------------------------------ */
/* Jobs                                                                     */
/* ------------------------------------------------------------------------ */

/** Job statuses as returned by saq_job_status_code (saq's Status; the text forms are
 *  "new", "queued", "active", "aborting", "aborted", "failed", "complete"). */
#define SAQ_STATUS_NEW 0
#define SAQ_STATUS_QUEUED 1
#define SAQ_STATUS_ACTIVE 2
#define SAQ_STATUS_ABORTING 3
#define SAQ_STATUS_ABORTED 4
#define SAQ_STATUS_FAILED 5
#define SAQ_STATUS_COMPLETE 6

/** Non-zero when `status` (a status text as saq_job_status returns it, any case) is a final
 *  one: "complete", "failed" or "aborted"; 0 for the others, unknown texts and NULL. Pure; any
 *  thread. Since 0.2. */
SAQ_API int saq_status_terminal(const char *status);

/** Why a leased job was cancelled (saq_job_cancelled, SAQ_EVENT_CANCEL). */
#define SAQ_CANCEL_NONE 0
#define SAQ_CANCEL_ABORTED 1   /**< aborted (status aborting/aborted in Redis) */
#define SAQ_CANCEL_TIMEOUT 2   /**< ran longer than its timeout */
#define SAQ_CANCEL_SHUTDOWN 3  /**< the worker is stopping past its grace period */
#define SAQ_CANCEL_HEARTBEAT 4 /**< missed its heartbeat */
#define SAQ_CANCEL_LOST 5      /**< the lease was lost (swept by another process) */

/** New job for `function` with saq's defaults (timeout 10 s, heartbeat 0,
 *  retries 1, ttl 600 s, retry_delay 0, no backoff, scheduled 0) and a fresh
 *  uuid1 key. Owned by the caller (saq_job_free). NULL when function is NULL
 *  or empty, or out of memory. Any thread. A job is not thread-safe: a job
 *  may be read (getters, saq_job_dup) from several threads at once, but
 *  setters, saq_job_to_json and saq_job_free need exclusive use. */
SAQ_API saq_job_t *saq_job_new(const char *function);

/** Decode a job from a record's JSON (the tolerant reader used for Redis:
 *  unknown fields are kept and ignored, missing or null fields take saq's
 *  defaults, "timeout": null means no limit, status in any case; a record
 *  without "key" gets a fresh uuid1 key) and store it in *out, owned by the
 *  caller (saq_job_free). On failure *out is set to NULL (when out is not
 *  NULL) and nothing is allocated. Returns SAQ_OK, SAQ_EINVAL (out or json
 *  NULL), SAQ_EJSON (json does not parse, is not an object, lacks
 *  "function", or has a known field of the wrong type) or SAQ_ENOMEM. Unless
 *  errbuf is NULL or errbuf_size is 0, the message of a failure (which field
 *  is wrong, ...) is written to errbuf, truncated to errbuf_size bytes and
 *  NUL-terminated, and "" on success; 200 bytes hold every message. Any
 *  thread. Since 0.2 (SAQ_0.2). */
SAQ_API int saq_job_parse(saq_job_t **out, const char *json, char *errbuf, size_t errbuf_size);

/** saq_job_parse without the code and the message: the job, or NULL on any failure. Any
 *  thread. */
SAQ_API saq_job_t *saq_job_from_json(const char *json);

/** Deep copy (without any worker lease), owned by the caller. NULL when job is NULL or on OOM.
 *  Any thread. */
SAQ_API saq_job_t *saq_job_dup(const saq_job_t *job);

/** Release a job. NULL is a no-op. Never blocks; any thread. For a leased
 *  job that was never settled, the lease is given back: while its worker is
 *  stopping, the job is retried with error "cancelled" (as saq does for a job
 *  whose worker is cancelled); otherwise this is a handler bug and the job
 *  fails with a RuntimeError text (retried if retries > attempts, as
 *  saq_job_fail). */
SAQ_API void saq_job_free(saq_job_t *job);

/* Getters. Any thread (see saq_job_new for concurrent use). Strings are borrowed (valid until
 * the job changes or is freed). Returns NULL / 0 for a NULL job. For a leased job they read the
 * host's copy, which settling and touching do not change. Units follow the wire: seconds for
 * durations and scheduled, epoch milliseconds for the *_ms timestamps. */
SAQ_API const char *saq_job_function(const saq_job_t *job);
/* The key. A record whose key is a JSON number (Python's enqueue(..., key=42)) gives Python's
 * str() of it ("42", "4.2", "1e+16"), the text in its id saq:job:<queue>:<key>; the job writes it
 * back as the same number, until saq_job_set_key makes it a string. */
SAQ_API const char *saq_job_key(const saq_job_t *job);
/** "saq:job:<queue>:<key>", or NULL until the job has a queue. */
SAQ_API const char *saq_job_id(const saq_job_t *job);
/** Queue name, or NULL until enqueued. */
SAQ_API const char *saq_job_queue(const saq_job_t *job);
/** kwargs as a JSON object text, or NULL when none. */
SAQ_API const char *saq_job_kwargs(const saq_job_t *job);
/** result as JSON text, or NULL when the job has none (saq's None). */
SAQ_API const char *saq_job_result(const saq_job_t *job);
/** error text (a traceback in Python saq), or NULL. */
SAQ_API const char *saq_job_error(const saq_job_t *job);
/** meta as a JSON object text, or NULL when empty. */
SAQ_API const char *saq_job_meta(const saq_job_t *job);
/** worker_id (0.26.1+), or NULL. */
SAQ_API const char *saq_job_worker_id(const saq_job_t *job);
/** Status as lower-case saq text ("new", "queued", "active", ...), static. */
SAQ_API const char *saq_job_status(const saq_job_t *job);
/** Status as SAQ_STATUS_* (SAQ_STATUS_NEW, i.e. 0, for a NULL job). */
SAQ_API int saq_job_status_code(const saq_job_t *job);
/** Timeout in seconds; 0 means no limit (also for "timeout": null). */
SAQ_API double saq_job_timeout(const saq_job_t *job);
/** Heartbeat in seconds; 0 = off. */
SAQ_API double saq_job_heartbeat(const saq_job_t *job);
/** Maximum total attempts (saq's "retries": the job runs at most this many times). */
SAQ_API int saq_job_retries(const saq_job_t *job);
/** Seconds to keep the record after it ends; 0 forever, < 0 delete at once. */
SAQ_API int saq_job_ttl(const saq_job_t *job);
/** Base retry delay in seconds. */
SAQ_API double saq_job_retry_delay(const saq_job_t *job);
/** 0 = no backoff; 1 = exponential backoff, capped or not (see saq_job_retry_backoff_cap). */
SAQ_API int saq_job_retry_backoff(const saq_job_t *job);
/** Cap of the backoff in seconds; 0 = no cap. */
SAQ_API double saq_job_retry_backoff_cap(const saq_job_t *job);
/** Due time in epoch seconds; 0 = now. */
SAQ_API double saq_job_scheduled(const saq_job_t *job);
/** Progress as stored (0..1 by saq's convention; not checked). */
SAQ_API double saq_job_progress(const saq_job_t *job);
/** Processing attempts started. */
SAQ_API int saq_job_attempts(const saq_job_t *job);
/** Epoch milliseconds of the last enqueue, current start, terminal state and
 *  last touch (0 = unset). */
SAQ_API int64_t saq_job_queued_ms(const saq_job_t *job);
SAQ_API int64_t saq_job_started_ms(const saq_job_t *job);
SAQ_API int64_t saq_job_completed_ms(const saq_job_t *job);
SAQ_API int64_t saq_job_touched_ms(const saq_job_t *job);

/** The record as JSON in the 0.26 dialect (what saq's to_dict + json.dumps
 *  would store, compact), without any dump transform. Borrowed, valid until
 *  the job changes or is freed. NULL for a NULL job or on OOM. Not const: it
 *  caches the text in the job, so it needs exclusive use of the job. */
SAQ_API const char *saq_job_to_json(saq_job_t *job);

/* Setters for job options, used before enqueue. Each returns SAQ_OK,
 * SAQ_EINVAL (NULL job, NaN or infinity, a value out of the range below) or
 * SAQ_ENOMEM; on failure saq_job_errmsg says why (not for a NULL job or OOM)
 * and the job is unchanged. Any thread, with exclusive use of the job. On a
 * leased job they change only the host's copy, never Redis. Ranges: key
 * non-empty valid UTF-8; heartbeat, retry_delay >= 0 s; retries >= 0; ttl any
 * (0 = keep forever, < 0 = delete at once); progress any finite number. */
SAQ_API int saq_job_set_key(saq_job_t *job, const char *key);
/** kwargs_json: a JSON object, or NULL to clear. SAQ_EJSON if malformed or not an object. */
SAQ_API int saq_job_set_kwargs(saq_job_t *job, const char *kwargs_json);
/** Seconds (fractions allowed); 0 = no limit. < 0 writes "timeout": null (also no limit). */
SAQ_API int saq_job_set_timeout(saq_job_t *job, double seconds);
SAQ_API int saq_job_set_heartbeat(saq_job_t *job, double seconds);
SAQ_API int saq_job_set_retries(saq_job_t *job, int retries);
SAQ_API int saq_job_set_ttl(saq_job_t *job, int seconds);
SAQ_API int saq_job_set_retry_delay(saq_job_t *job, double seconds);
/** enabled 0: no backoff. enabled non-zero: exponential backoff capped at cap_s
 *  seconds, or uncapped (JSON true) when cap_s <= 0. cap_s must be finite. */
SAQ_API int saq_job_set_retry_backoff(saq_job_t *job, int enabled, double cap_s);
/** Epoch seconds (fractions allowed); 0 = now. Must be 0 or >= 1 (SAQ_EINVAL otherwise). */
SAQ_API int saq_job_set_scheduled(saq_job_t *job, double epoch_s);
/** meta_json: a JSON object, or NULL (or {}) to clear. SAQ_EJSON if malformed or not an
 *  object. */
SAQ_API int saq_job_set_meta(saq_job_t *job, const char *meta_json);
/** W3C Trace Context: store `traceparent` as the "traceparent" field of the job's meta (other
 *  meta fields are kept; meta becomes an object if it was null), so that a handler in any
 *  language can continue the producer's trace; saq keeps meta as it is, so the field travels
 *  through Python saq too. The value must be a version-00 traceparent,
 *  "00-<32 lower-case hex trace id>-<16 lower-case hex parent id>-<2 lower-case hex flags>", with
 *  ids not all zeros. NULL removes the field. Returns SAQ_OK, SAQ_EINVAL (NULL job, a malformed value,
 *  or meta that is not an object or null; saq_job_errmsg says which) or SAQ_ENOMEM. Same thread
 *  rules as the other setters. Since 0.2. */
SAQ_API int saq_job_set_traceparent(saq_job_t *job, const char *traceparent);
/** The job meta's "traceparent" string when it is a well-formed version-00 traceparent, else
 *  NULL (also for a NULL job). Borrowed: valid until the job is changed or freed. Any thread.
 *  Since 0.2. */
SAQ_API const char *saq_job_traceparent(const saq_job_t *job);
SAQ_API int saq_job_set_progress(saq_job_t *job, double progress);

/** saq's keyword split: `kwargs_json` is a JSON object of keyword arguments
 *  as given to Python's Queue.enqueue(func, **kwargs). Names that are job
 *  fields (key, timeout, heartbeat, retries, ttl, retry_delay, retry_backoff,
 *  scheduled, meta, progress, kwargs) set those options, checked as the
 *  setters check them (timeout >= 0 or null; retries and ttl integers within
 *  32 bits); every other name is merged into the job's kwargs. Job fields
 *  that cannot be set this way (function, queue, status, result, error,
 *  attempts, ...) are SAQ_EINVAL. Returns SAQ_OK, SAQ_EJSON (malformed, not an
 *  object, or kwargs/meta not an object), SAQ_EINVAL (NULL argument, bad
 *  value) or SAQ_ENOMEM, with a message; the job is unchanged then. Same
 *  thread rule as the setters. */
SAQ_API int saq_job_set_call_kwargs(saq_job_t *job, const char *kwargs_json);

/** Replace every field from a record JSON, read exactly as saq_job_parse
 *  reads Redis records (a known field of the wrong type is refused, unknown
 *  fields are kept and ignored, missing fields take saq's defaults; the
 *  setters' range checks do not apply). The job keeps its key when the record
 *  has none, and keeps its lease. Returns SAQ_OK, SAQ_EINVAL (NULL argument),
 *  SAQ_EJSON (malformed, not an object, no "function", a bad field) or
 *  SAQ_ENOMEM, with a message; the job is unchanged on failure. Same thread
 *  rule as the setters. */
SAQ_API int saq_job_set_json(saq_job_t *job, const char *json);

/** Message of the last failed call on this job (setters, saq_job_complete, saq_job_fail,
 *  saq_job_touch), or "" if none or job is NULL. Never NULL. Borrowed: valid until the next
 *  failing call on the job or saq_job_free. */
SAQ_API const char *saq_job_errmsg(const saq_job_t *job);

/* Leased jobs (inside a worker). A job handed out by a worker (C handler
 * argument or SAQ_EVENT_LEASE) carries a lease; these calls settle it. They
 * are thread-safe, never block, and may be called from any thread; a job is
 * settled once (complete or fail). They do not free the job (saq_job_free
 * still must). Besides the codes listed, settling returns SAQ_EFORKED in a
 * forked child, SAQ_ECLOSED when the queue is already torn down, and
 * SAQ_ENOMEM. Once the worker has cancelled the job (saq_job_cancelled != 0)
 * the cancellation decides the outcome (abort: aborted; timeout: failed or
 * retried; missed heartbeat: retried or aborted with swept_error_message;
 * shutdown: retried; lost lease: nothing written) and the settle only
 * releases the lease. A job cancelled for a timeout, a missed heartbeat or a
 * shutdown that its handler has not settled within cancellation_hard_deadline
 * is settled without the handler, and the lease is given back (the job no
 * longer counts against concurrency; a late settle returns SAQ_ESTATE): in
 * pull mode at once, with SAQ_EVENT_GIVEN_BACK, as saq lets go of a task that
 * ignores its cancellation; for a C handler, whose thread stays taken, only
 * once the worker is stopping. Pull mode reports every stored outcome with
 * SAQ_EVENT_OUTCOME. */

/** Finish the leased job successfully with `result_json` (NULL or "null" =
 *  no result, which saq stores by omitting the field). If the job was
 *  aborted meanwhile it ends aborted instead (once). Returns SAQ_OK,
 *  SAQ_EINVAL (NULL or not leased; or malformed JSON, in which case the job
 *  is failed with a ValueError message), SAQ_ETOOBIG (the result and the
 *  job's record together exceed max_payload_bytes: the job is failed with a
 *  ValueError message; a result that fits only just is checked when the
 *  outcome is written, and a record that ends up over the limit fails the
 *  job the same way), SAQ_ESTATE (already settled, or the worker gave the
 *  job back after its hard deadline), SAQ_ECLOSED, SAQ_EFORKED, SAQ_ENOMEM. */
SAQ_API int saq_job_complete(saq_job_t *job, const char *result_json);

/** Report a job error with `error_text` (a traceback or message; NULL =
 *  "job failed"). The worker retries it if retries > attempts (retry_delay,
 *  backoff with jitter), otherwise finishes it failed, exactly as saq does
 *  for an exception. Returns SAQ_OK, SAQ_EINVAL (NULL or not leased),
 *  SAQ_ESTATE (already settled, or given back after the hard deadline),
 *  SAQ_ECLOSED, SAQ_EFORKED, SAQ_ENOMEM. */
SAQ_API int saq_job_fail(saq_job_t *job, const char *error_text);

/** Non-zero SAQ_CANCEL_* when the worker wants this leased job to stop
 *  (abort, timeout, shutdown, missed heartbeat, lost lease); 0 otherwise,
 *  and for a NULL or unleased job. Cheap (an atomic load); any thread; poll
 *  it in long handlers. */
SAQ_API int saq_job_cancelled(const saq_job_t *job);

/** Heartbeat and progress for a leased job (saq's Job.update from inside
 *  the job): touches the stored record (touched = now ms) and, when
 *  `fields_json` is not NULL, applies its fields ({"progress": x, "meta":
 *  {...}}, or any field saq_queue_update accepts) first. Fire-and-forget on
 *  the I/O thread, status-preserving (never overwrites aborting); the host's
 *  job object is not changed. Field names and values are checked here
 *  (SAQ_EINVAL with saq_job_errmsg); a touch arriving once the outcome is
 *  being written is dropped. With a dump transform installed (records Lua
 *  cannot read) the record is replaced only while it is still exactly what
 *  this worker last wrote, so an abort in between is never overwritten.
 *  Returns SAQ_OK, SAQ_EINVAL (NULL or not leased, fields_json not a JSON
 *  object, or a field refused), SAQ_ESTATE (settled), SAQ_EFORKED,
 *  SAQ_ECLOSED, SAQ_ENOMEM. */
SAQ_API int saq_job_touch(saq_job_t *job, const char *fields_json);

/** Lease id of a leased job (the int of its LEASE event; CANCEL events name the job by key),
 *  below 2^53; 0 for a NULL or unleased job. Any thread. */
SAQ_API uint64_t saq_job_lease_id(const saq_job_t *job);

/* ------------------------------------------------------------------------ */
/* Queue                                                                    */
/* ------------------------------------------------------------------------ */

/** Make a queue from a conf (url, name, dialect, ...; NULL = all defaults) and store it in
 *  *out, owned by the caller (saq_queue_close, then saq_queue_free). Starts the I/O thread;
 *  connects lazily (the first operation connects, and every operation reconnects with backoff
 *  after a loss), so an unreachable Redis is not an error here. Worker keys in conf other than
 *  swept_error_message (used by saq_queue_sweep called directly) are ignored here. conf is
 *  only read (and its message written) and may be freed afterwards. On failure *out is set to
 *  NULL (when out is not NULL), nothing is left running, and saq_conf_errmsg(conf) says why
 *  (when conf is not NULL). Returns SAQ_OK, SAQ_EINVAL (out is NULL, or tls.* keys set with a
 *  url that is not rediss://), SAQ_ETLS (rediss://: a CA, certificate or key file cannot be
 *  read or used, or the key does not belong to the certificate; the message names the setting
 *  and the file), SAQ_EUVVERSION (the process's libuv is older than the one
 *  libsaq was built against), or SAQ_ENOMEM (out of memory, or the event loop or the I/O
 *  thread could not be created: no file descriptors or threads left; the message names
 *  which). The conf's values were checked by saq_conf_set (a bad url is its SAQ_EURL). Any
 *  thread. Since 0.2 (SAQ_0.2). */
SAQ_API int saq_queue_open(saq_queue_t **out, saq_conf_t *conf);

/** saq_queue_open without the code: the queue, or NULL (with the message in
 *  saq_conf_errmsg(conf)). Any thread. */
SAQ_API saq_queue_t *saq_queue_new(saq_conf_t *conf);

/** saq's Queue.from_url(url, name=...): shorthand for a conf with url and
 *  name (url NULL = redis://localhost:6379/0, name NULL = "default"). Owned by
 *  the caller. NULL on any error; use saq_conf_set and saq_queue_open for the
 *  code and a message. Any thread. */
SAQ_API saq_queue_t *saq_queue_from_url(const char *url, const char *name);

/** Queue name (borrowed from the queue, valid until saq_queue_free), or NULL for a NULL queue.
 *  Any thread. */
SAQ_API const char *saq_queue_name(const saq_queue_t *q);

/** Dialect in use: "0.26" or "0.13" (static), or NULL for a NULL queue. Any thread. */
SAQ_API const char *saq_queue_dialect(const saq_queue_t *q);

/** Before-enqueue hook (C only; saq's register_before_enqueue): called for
 *  every enqueue on this queue (saq_queue_enqueue*, each job of apply and
 *  map, a worker's cron jobs), after queue/queued/status are set and before
 *  the record is written, also for enqueues that turn out to be duplicates.
 *  It runs on the thread that submits the enqueue, which is the I/O thread
 *  for cron jobs, so it must not block or call blocking libsaq functions.
 *  `job` is libsaq's copy, borrowed for the call: the hook may change it
 *  (meta, ...) but must not free it. A non-zero return fails that enqueue
 *  with SAQ_EINVAL; a hook that moves the job to another queue fails it with
 *  SAQ_EWRONGQUEUE. */
typedef int (*saq_job_hook_fn)(saq_job_t *job, void *userdata);

/** Register a before-enqueue hook; hooks run in registration order. Adding
 *  the same (fn, userdata) twice is a no-op (saq keys hooks by identity).
 *  `userdata` must stay valid until the hook is removed or the queue freed.
 *  Returns SAQ_OK, SAQ_EINVAL (NULL queue or fn), SAQ_ENOMEM. Any thread,
 *  including from a hook; enqueues already past their hooks are not
 *  affected. */
SAQ_API int saq_queue_add_before_enqueue(saq_queue_t *q, saq_job_hook_fn fn, void *userdata);
/** Remove a hook added with the same (fn, userdata) pair. Returns SAQ_OK, SAQ_EINVAL (NULL
 *  queue or fn) or SAQ_ENOTFOUND if absent. Any thread; a hook being run by another thread may
 *  still be called once after this returns. */
SAQ_API int saq_queue_remove_before_enqueue(saq_queue_t *q, saq_job_hook_fn fn, void *userdata);

/** Round trip to Redis (connects if needed). Event PING, int = the server's
 *  version as (major << 16) | (minor << 8) | patch. Errors: only the common
 *  ones (see Async ops). */
SAQ_API int saq_queue_ping(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.enqueue(job): write the job to Redis unless a job with its
 *  key is still incomplete or its abort marker exists (then int 0: "already
 *  enqueued", not an error). The job is copied (the caller's job is not
 *  changed); on the copy it sets queue, queued = now ms and status queued,
 *  runs the before-enqueue hooks (on this thread), then the ENQUEUE script; a
 *  job with scheduled > now waits in incomplete until due. Event ENQUEUE
 *  with the job as sent. Errors in the event: SAQ_EINVAL (job NULL, or a hook
 *  refused), SAQ_EWRONGQUEUE (job of another queue), SAQ_ETOOBIG (record over
 *  max_payload_bytes; nothing written), the common ones. Holds one of
 *  max_concurrent_ops. saq_queue_cancel withdraws an enqueue still waiting
 *  for that permit: SAQ_ECLOSED in the event, nothing written (since 0.2);
 *  once the script is sent the enqueue completes as usual. */
SAQ_API int saq_queue_enqueue(saq_queue_t *q, const saq_job_t *job, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.enqueue("function", **kwargs): `kwargs_json` (NULL = {}) is
 *  split as in saq_job_set_call_kwargs. Event ENQUEUE as above; SAQ_EJSON or
 *  SAQ_EINVAL (also for a NULL or empty function) in the event for bad
 *  arguments. */
SAQ_API int saq_queue_enqueue_call(saq_queue_t *q, const char *function, const char *kwargs_json,
                                   saq_cq_t *cq, uint64_t tag);

/** Bulk enqueue (BullMQ's addBulk, Sidekiq's push_bulk): the `n` jobs of
 *  `jobs` in one operation, each exactly as saq_queue_enqueue would (copied,
 *  queue/queued/status set, before-enqueue hooks run on this thread, then
 *  saq's ENQUEUE script, atomic per job), their scripts pipelined on the
 *  queue's connection (many jobs per round trip). The caller's jobs are not
 *  changed and may be freed on return. A job that cannot be sent (NULL, of
 *  another queue, refused by a hook, over max_payload_bytes) refuses the whole
 *  call with SAQ_EINVAL, SAQ_EWRONGQUEUE or SAQ_ETOOBIG naming its index:
 *  nothing is written. Jobs with the same key: the first is enqueued, the
 *  others are duplicates. Event ENQUEUE_MANY: saq_event_job_at(i) = job i as
 *  sent; json = an array of n outcomes in job order: 1 enqueued, 0 already
 *  enqueued (its key was still incomplete or its abort marker existed, as
 *  saq_queue_enqueue's int 0; not an error), null not known; int = how many
 *  were enqueued. A Redis error while the replies come in (connection lost,
 *  command_timeout_ms) gives that error with a message counting what was
 *  enqueued, and null for every job whose reply did not come (it may or may
 *  not have been written: read it with saq_queue_job). n 0 completes at once
 *  with []. Holds one max_concurrent_ops permit for the whole call;
 *  saq_queue_cancel withdraws it while it waits for the permit (SAQ_ECLOSED,
 *  nothing written). Returns SAQ_OK (the event follows) or the common submit
 *  errors (SAQ_EINVAL for a NULL queue or unusable cq, SAQ_ECLOSED, SAQ_ENOMEM).
 *  Since 0.2. */
SAQ_API int saq_queue_enqueue_many(saq_queue_t *q, saq_job_t *const *jobs, size_t n, saq_cq_t *cq,
                                   uint64_t tag);

/** saq's Queue.job(key): read one record. Event JOB with the job, or
 *  SAQ_ENOTFOUND; SAQ_EINVAL for a NULL or empty key, SAQ_EPROTO for a
 *  malformed record, SAQ_EWRONGQUEUE for a record of another queue. Holds one
 *  of max_concurrent_ops. */
SAQ_API int saq_queue_job(saq_queue_t *q, const char *key, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.jobs(keys): `keys_json` is a JSON array of job keys (non-empty
 *  strings). Event JOBS: jobs in order (saq_event_job_at; NULL where missing
 *  or unreadable), and the records as a JSON array (null where missing or
 *  unreadable). One MGET; does not hold a max_concurrent_ops slot. Errors in
 *  the event: SAQ_EINVAL (keys_json NULL), SAQ_EJSON (not an array of
 *  non-empty strings), the common ones. */
SAQ_API int saq_queue_jobs(saq_queue_t *q, const char *keys_json, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.abort(job, error, ttl): `error` (the reason, required)
 *  becomes the job's error; a waiting job ends aborted at once (int 2); a
 *  scheduled or running job is marked aborting (0.26) and its worker stops it
 *  (int 1); the abort marker saq:abort:<key> holds `error` for `ttl_s`
 *  seconds (>= 1; saq's default 5) and blocks re-enqueue meanwhile. Unlike
 *  saq (bug U3) it patches the current record instead of writing a stale
 *  copy, and leaves terminal jobs alone (int 0). 0.13 dialect: saq 0.13's
 *  abort (marker + EXPIRE, no aborting status). Event ABORT with the record
 *  after. Errors in the event: SAQ_EINVAL (NULL or empty key, NULL error,
 *  ttl_s < 1), SAQ_ENOTFOUND (no such job), SAQ_EPROTO / SAQ_EWRONGQUEUE (bad
 *  record), SAQ_ETIMEDOUT (the record kept changing: gave up after 8
 *  compare-and-set tries), the common ones. Holds one of max_concurrent_ops
 *  for the whole operation. */
SAQ_API int saq_queue_abort(saq_queue_t *q, const char *key, const char *error, int ttl_s,
                            saq_cq_t *cq, uint64_t tag);

/** saq's Queue.retry(job, error): put the job back (status queued, error
 *  set to `error`, NULL clears it, started/completed/progress reset) after
 *  retry_delay/backoff from its attempts, raising the retried counter. Never
 *  checks retries (as saq). Immediate retries get incomplete score 0 (fix
 *  for saq's U1). Does not hold a max_concurrent_ops slot (as saq). Event
 *  RETRY; errors in the event: SAQ_EINVAL (NULL or empty key),
 *  SAQ_ENOTFOUND, SAQ_EPROTO / SAQ_EWRONGQUEUE (bad record), SAQ_ETOOBIG, the
 *  common ones. */
SAQ_API int saq_queue_retry(saq_queue_t *q, const char *key, const char *error, saq_cq_t *cq,
                            uint64_t tag);

/** saq's Queue.finish(job, status, result, error): end the job with status
 *  "complete", "failed" or "aborted", optional result JSON (NULL or "null" =
 *  none) and error text (NULL = none), completed = now ms, kept for its ttl
 *  (seconds), and publish the status. Does not hold a max_concurrent_ops
 *  slot. Event FINISH; errors in the event: SAQ_EINVAL (NULL or empty key,
 *  bad or NULL status), SAQ_EJSON (result), SAQ_ENOTFOUND, SAQ_EPROTO /
 *  SAQ_EWRONGQUEUE (bad record), SAQ_ETOOBIG, the common ones. */
SAQ_API int saq_queue_finish(saq_queue_t *q, const char *key, const char *status,
                             const char *result_json, const char *error, saq_cq_t *cq,
                             uint64_t tag);

/** saq's Job.update(**fields): apply `fields_json` (a JSON object of job
 *  fields: the ones saq_job_set_call_kwargs sets, plus result, error and
 *  attempts; NULL = none) to the stored record, set touched = now ms, keep the
 *  stored status (a heartbeat never overwrites aborting), and publish the
 *  status. Unlike saq (U4) it never re-creates a deleted or terminal record
 *  (int 0). With a dump transform the write is saq's plain GET then SET (not
 *  atomic). Event UPDATE; errors in the event: SAQ_EINVAL (NULL or empty key,
 *  unknown or unsettable field, bad value), SAQ_EJSON (not an object),
 *  SAQ_ENOTFOUND, SAQ_EPROTO / SAQ_EWRONGQUEUE (bad record), SAQ_ETOOBIG, the
 *  common ones. */
SAQ_API int saq_queue_update(saq_queue_t *q, const char *key, const char *fields_json,
                             saq_cq_t *cq, uint64_t tag);

/** saq's Queue.count(kind): kind "queued", "active" or "incomplete" (queued,
 *  scheduled and active jobs). Event COUNT with the number; SAQ_EINVAL (in
 *  the event) for another kind or NULL. */
SAQ_API int saq_queue_count(saq_queue_t *q, const char *kind, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.info(jobs, offset, limit): event INFO with the JSON object
 *  {"workers": {...}, "name", "queued", "active", "scheduled", "jobs": [...]}
 *  that saq returns, plus "paused": true|false (saq_queue_pause; since 0.2), workers read from the dialect's registry. With jobs,
 *  lists active then incomplete jobs, de-duplicated, from `offset`, at most
 *  `limit` (offset + limit paginates correctly, unlike saq's U7); records in
 *  the queue's dialect, unreadable ones skipped. `offset` and `limit` are
 *  ignored when `jobs` is 0. Errors in the event: SAQ_EINVAL (jobs with
 *  offset < 0 or limit < 1), the common ones. */
SAQ_API int saq_queue_info(saq_queue_t *q, int jobs, int offset, int limit, saq_cq_t *cq,
                           uint64_t tag);

/** saq's Queue.stats(ttl): write this queue object's counters to the worker
 *  registry (saq:<q>:stats, with the dialect's record key, under this queue
 *  object's own uuid, for `ttl_s` seconds, >= 1) and return them. Event STATS
 *  with {"complete", "failed", "retried", "aborted", "uptime"} (uptime in ms
 *  since the queue was made). Errors in the event: SAQ_EINVAL (ttl_s < 1), the
 *  common ones. */
SAQ_API int saq_queue_stats(saq_queue_t *q, int ttl_s, saq_cq_t *cq, uint64_t tag);

/** Queue-wide figures read from Redis, the same from any process (a producer, a CLI, a
 *  worker), built from saq's own keys and worker registry so that Python saq workers count too,
 *  in one script call (one snapshot, on Redis's clock). Event OVERVIEW whose JSON is
 *  {"queue": name, "time_ms": Redis's clock (epoch ms),
 *   "jobs": {"queued": n, "active": n, "scheduled": n, "incomplete": n},
 *   "oldest_queued_age_s": seconds since the job at the head of the queue (the next to run)
 *                          was enqueued (its record's "queued"), or null (none queued),
 *   "workers": [{"id", "complete", "failed", "retried", "aborted", "uptime_ms",
 *                "metadata" (the registry's, or null), "libsaq": true when the worker is a
 *                libsaq one}, ...],
 *   "workers_alive": n,
 *   "totals": {"complete", "failed", "retried", "aborted"} (sums over the live workers' counters,
 *             which start at 0 when a worker starts; a worker reports its queue object's
 *             counters, as saq does, so two workers made on one queue object count its jobs
 *             twice: give each worker its own queue object),
 *   "per_minute": {"complete", "failed", "retried", "aborted", "window_s"} or null,
 *   "paused": true|false (saq_queue_pause), "paused_since_ms": epoch ms of the pause or null}.
 *  "incomplete" is every job not finished; "scheduled" the incomplete jobs not yet due (a future
 *  scheduled time or a retry delay; due ones waiting for the next schedule tick are in
 *  incomplete only). Workers are the dialect's registry entries alive now (saq's info()); a
 *  libsaq worker is told apart by what it writes anyway (both registry key families, its
 *  liveness entry), nothing in saq's wire format. per_minute is the rate over the last window_s
 *  seconds (20 to 65; up to 300 when samples are sparse), rounded to 0.01, from samples of
 *  the registry's counters kept in saq:<q>:libsaq:samples (a list of at most 32, expiring
 *  600 s after the last one), written by libsaq workers at their registry writes and by this
 *  call, at most one per 5 s whoever writes it (best effort: a Redis user that may not write
 *  gets the rest of the figures); null until a sample 20 s old exists. A worker that restarted (its counters or uptime went
 *  down) counts what it did since; a new worker what it did since it started within the
 *  window; a worker that died what it did up to its last sample. Finished jobs are not
 *  counted by state (saq keeps no index of them: see saq_queue_iter_jobs). Errors in the
 *  event: the common ones. Since 0.2. */
SAQ_API int saq_queue_overview(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** The rate limits and global concurrency of the queue (saq_worker_set_limit)
 *  as its libsaq workers publish them (saq:<queue>:libsaq:limits, refreshed
 *  every second by each running worker that has limits and kept 30 s after
 *  the last one stopped), with their state now, read in one Lua script: event
 *  SAQ_EVENT_LIMITS whose saq_event_json() is {"queue": name, "limits":
 *  [{"function": name or null (the whole queue), "max_jobs", "period"
 *  (seconds), "max_running", "running" (slots held now by live workers: a
 *  slot of a worker whose liveness entry expired is not counted, as the
 *  limit does not count it), "started" (starts in the last period; 0 without
 *  a rate limit), "waiting" (jobs of the function waiting for a running
 *  slot)}, ...]} (an empty list when no worker publishes limits). A
 *  published entry that is not "<max_jobs> <period ms> <max_running>" in the
 *  ranges saq_worker_set_limit accepts (not written by a libsaq worker) is
 *  listed with "invalid": its text as stored, and null max_jobs, period,
 *  max_running and started. Errors in the event: the common ones. Since 0.2
 *  (SAQ_0.2). */
SAQ_API int saq_queue_limits(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** The figures of saq_queue_overview as a Prometheus text exposition (format 0.0.4): event
 *  METRICS, the text in saq_event_text. Metrics (all labelled queue="<name>"):
 *  saq_queue_jobs{state="queued|active|scheduled"} (gauge), saq_queue_oldest_job_age_seconds
 *  (gauge; 0 when nothing is queued), saq_queue_workers (gauge, workers alive),
 *  saq_worker_jobs_total{worker, outcome="complete|failed|retried|aborted"} (counter, per live
 *  worker, from the registry; a counter that restarts at 0 with its worker),
 *  saq_worker_uptime_seconds{worker} (gauge), saq_queue_paused (gauge: 1 while the queue is
 *  paused, saq_queue_pause). Each metric has its # HELP and # TYPE lines
 *  (`promtool check metrics` finds nothing to say); label values are escaped as the format
 *  requires (backslash, double quote, line feed). Rates are left to Prometheus (rate() over the
 *  counters). Errors in the event: the common ones. Since 0.2. */
SAQ_API int saq_queue_metrics(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** saq 0.26's Queue.iter_jobs, one page at a time: the records of this queue's jobs of any
 *  status, finished ones included (saq keeps those until their ttl), found by SCAN over the
 *  queue's job keys. `statuses`: comma-separated statuses to keep ("queued,active,complete",
 *  ...; NULL or "" = all); `cursor`: "0" (or NULL) to start, then the event's key until it is
 *  "0"; `count`: SCAN's COUNT hint, 1..10000 (a page may hold fewer or more jobs; a SCAN
 *  step that finds no record to keep is followed by the next one within the call, so a page is
 *  empty only when the scan is over: its cursor is "0"). Event ITER_JOBS: the page's jobs (saq_event_job_count,
 *  saq_event_job_at; records that cannot be read, or of another queue whose name extends this
 *  one's, are skipped), their records as a JSON array in the queue's dialect (saq_event_json)
 *  and the next cursor (saq_event_key). As SCAN, a job present during the whole scan is
 *  returned at least once (maybe more than once). Redis Cluster: the queue's job keys share its
 *  hash tag, so the scan of the master owning that slot sees them all.
 *  Errors in the event: SAQ_EINVAL (count out of range, a cursor that is not a decimal
 *  number, an unknown status), the common ones. Since 0.2. */
SAQ_API int saq_queue_iter_jobs(saq_queue_t *q, const char *statuses, const char *cursor,
                                int count, saq_cq_t *cq, uint64_t tag);

/** Delete a job: its record and every entry of it in Redis (`queued`, `incomplete` (which is
 *  also the schedule), `active`, libsaq's sweep and abort watch sets, the bytes kept of an
 *  unreadable record, and its abort marker), in one script call, compare-and-set on the record
 *  as read (an extension: saq has no delete; a Python saq worker never sees a deleted job
 *  again). A job that runs (status active or aborting, or in `active`: handed to a worker) is
 *  refused, SAQ_ESTATE, unless `force`: then it is aborted first (as saq_queue_abort with the
 *  reason "deleted", unless it is aborting already), so that its worker stops it (a libsaq or
 *  Python saq worker notices within its abort check, 1 s by default), and deleted once its
 *  record is terminal (its worker finished it aborted), or after `wait_ms` milliseconds
 *  (0..3600000; 0 = do not wait) in any case; the abort marker of a job that did not end in
 *  that time is left to expire, and a worker that ends that job later writes its terminal
 *  record again (kept for the job's ttl; in no list). No status is published: a listen or
 *  apply on a deleted job waits for its own timeout. Event DELETE: key = the job's key, job =
 *  the record as last read (NULL when it could not be read), int = 1 deleted (it did not run),
 *  2 deleted after its worker stopped it, 3 deleted after wait_ms without its worker ending
 *  it. Errors in the event: SAQ_EINVAL (NULL or empty key, wait_ms out of range),
 *  SAQ_ENOTFOUND (no record; entries of the key left in the lists are removed all the same,
 *  int = how many), SAQ_ESTATE (it runs and force is 0; nothing changed), SAQ_ETIMEDOUT (the
 *  record kept changing: gave up after 8 compare-and-set tries), the common ones. Holds one of
 *  max_concurrent_ops until it deletes or starts waiting. Since 0.2. */
SAQ_API int saq_queue_delete(saq_queue_t *q, const char *key, int force, int wait_ms, saq_cq_t *cq,
                             uint64_t tag);

/** Pause the queue (an extension: Python saq does not know it). Every libsaq worker of the
 *  queue, in any process, reads the queue's pause flag every timers.pause (0.5 s by default),
 *  so the pause takes effect within timers.pause, not at once (a job may still start until
 *  then): once it sees it, it takes no more jobs from the queue (a blocked dequeue is interrupted; a
 *  job its dequeue still moved is put back at the head of the queue, untouched), lets the jobs
 *  it is running finish, and waits; a worker started on a paused queue takes no job at all; a
 *  burst worker ends its burst; a worker of several queues (saq_worker_add_queue) gives its
 *  slots to its other queues. Everything else goes on: enqueue, scheduled jobs becoming due,
 *  cron, sweeps, aborts, heartbeats. The flag is the key saq:<q>:libsaq:paused (the epoch ms
 *  of the pause, no expiry), in the queue's hash slot in Redis Cluster. Python saq workers on
 *  the queue do not read it: they go on taking its jobs. Event PAUSE, int 1 when this call
 *  paused the queue, 0 when it was paused already. Errors in the event: the common ones.
 *  Since 0.2. */
SAQ_API int saq_queue_pause(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** Resume a paused queue: delete its pause flag. Paused libsaq workers see it within a fifth
 *  of timers.pause (0.1 s by default) and dequeue at once. Event PAUSE, int 1 when this call
 *  resumed the queue, 0 when it was not paused. Errors in the event: the common ones. Since
 *  0.2. */
SAQ_API int saq_queue_resume(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** Read the queue's pause flag. Event PAUSE, int 1 when the queue is paused, 0 when not; its
 *  JSON is {"paused": true|false, "since_ms": epoch ms of the pause, or null}. saq_queue_info
 *  and saq_queue_overview say "paused" too. Errors in the event: the common ones. Since 0.2. */
SAQ_API int saq_queue_paused(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.listen(job_keys, callback, timeout): every status message
 *  published for one of the keys (`keys_json`, a JSON array of non-empty
 *  strings) becomes a LISTEN event (key, job_status, the listen's tag), on
 *  the I/O thread for a callback cq. Ends with one LISTEN_END: SAQ_OK when
 *  stopped (callback returned non-zero, or saq_queue_listen_stop), or
 *  SAQ_ETIMEDOUT when no message came for `timeout_s` seconds (fractions
 *  allowed; 0 or +infinity = never), or SAQ_ECONN when the pub/sub
 *  connection fails before the subscription is confirmed (Redis
 *  unreachable); SAQ_EINVAL (keys_json NULL, timeout_s negative or NaN) or
 *  SAQ_EJSON (bad keys) at once. The pattern subscription is confirmed
 *  before the listen starts, and all listens share one subscription per
 *  queue; once confirmed, a lost connection is re-subscribed, not an error. */
SAQ_API int saq_queue_listen(saq_queue_t *q, const char *keys_json, double timeout_s,
                             saq_cq_t *cq, uint64_t tag);

/** Stop the listen submitted with (cq, tag); it ends with LISTEN_END
 *  SAQ_OK. The same call as saq_queue_cancel: it also cancels an apply or
 *  map submitted with that pair, and when several of them share the pair it
 *  stops the oldest still pending (submitted first), one per call. Returns
 *  SAQ_OK once the request is queued (a listen that already ended is left
 *  alone), SAQ_EINVAL (NULL queue or cq), SAQ_ECLOSED, SAQ_EFORKED,
 *  SAQ_ENOMEM. Any thread, including an event callback. */
SAQ_API int saq_queue_listen_stop(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** Stop waiting for the apply, map or listen submitted with (cq, tag): an
 *  apply or map completes with SAQ_ECLOSED ("cancelled"), a listen ends with
 *  LISTEN_END SAQ_OK. Jobs already enqueued are left alone (saq's
 *  asyncio cancellation of apply/map behaves the same). An enqueue still
 *  waiting for its max_concurrent_ops permit is withdrawn (SAQ_ECLOSED,
 *  nothing written; since 0.2); one already sent, and other operations,
 *  are short and are not affected. When several such operations share (cq, tag)
 *  only the oldest still pending (submitted first) is stopped: one call per
 *  operation, in submission order. Returns SAQ_OK once the request is
 *  queued (nothing happens when the operation already completed),
 *  SAQ_EINVAL (NULL queue or cq), SAQ_ECLOSED, SAQ_EFORKED, SAQ_ENOMEM. Any
 *  thread, including an event callback; never blocks. */
SAQ_API int saq_queue_cancel(saq_queue_t *q, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.apply(job, timeout): enqueue a copy of the job (after
 *  subscribing; before-enqueue hooks run on this thread at submit) and wait
 *  for it to end. timeout_s (seconds, fractions allowed) > 0 bounds the wait
 *  and also becomes the job's timeout (as saq's map does); 0 (or +infinity)
 *  waits forever and stores "timeout": null. Event APPLY: json = the result,
 *  job = the final record; SAQ_EJOB with the job when it failed or was
 *  aborted; SAQ_ETIMEDOUT; SAQ_ECLOSED when cancelled (saq_queue_cancel);
 *  SAQ_ECONN when Redis cannot be reached before the job is enqueued (the
 *  subscription comes first; a connection lost after that is recovered and
 *  the wait goes on); SAQ_EINVAL (job NULL, timeout_s negative or NaN, a hook
 *  refused), SAQ_EWRONGQUEUE, SAQ_ETOOBIG as saq_queue_enqueue; SAQ_EPROTO for
 *  an unreadable record. A job whose record is gone when it ends (ttl < 0)
 *  gives a JSON null result and no job. An existing incomplete job with the
 *  same key is waited on, not enqueued again. Holds one of
 *  max_concurrent_ops while enqueuing. */
SAQ_API int saq_queue_apply(saq_queue_t *q, const saq_job_t *job, double timeout_s,
                            saq_cq_t *cq, uint64_t tag);

/** saq's Queue.map(function, iter_kwargs, timeout, return_exceptions,
 *  **defaults): one job per element of `iter_kwargs_json` (a JSON array of
 *  objects), each built from `defaults_json` (object or NULL) overridden by
 *  the element, split as saq_job_set_call_kwargs; each job's timeout is
 *  timeout_s (null when 0) unless the element or defaults set "timeout".
 *  Waits for all under one deadline of `timeout_s` seconds (0 or +infinity =
 *  none). Event MAP: json = results array in item order, jobs = final
 *  records (saq_event_job_at), one entry per distinct job. Without
 *  return_exceptions the first failed/aborted job ends the map with SAQ_EJOB
 *  (event job = that job); with it, failed entries are null in json and
 *  their jobs tell why. Duplicate keys collapse into one job. An empty array
 *  completes at once with []. Errors as saq_queue_apply, plus SAQ_EJSON
 *  (iter_kwargs_json NULL or not an array of objects, defaults_json not an
 *  object) and SAQ_EINVAL (NULL or empty function, an element or the
 *  defaults refused by saq_job_set_call_kwargs). */
SAQ_API int saq_queue_map(saq_queue_t *q, const char *function, const char *iter_kwargs_json,
                          const char *defaults_json, double timeout_s, int return_exceptions,
                          saq_cq_t *cq, uint64_t tag);

/** saq's Queue.schedule(lock): promote due scheduled jobs to queued unless
 *  another process did within `lock_s` seconds (>= 1). Event SCHEDULE: json =
 *  the promoted ids, int = their number; SAQ_EINVAL in the event for
 *  lock_s < 1. */
SAQ_API int saq_queue_schedule(saq_queue_t *q, int lock_s, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.sweep(lock, abort): recover stuck jobs of the active list
 *  (missing records, not marked active, past timeout or heartbeat) unless
 *  another process swept within `lock_s` seconds: abort each, wait up to
 *  `abort_s` seconds for its worker, then retry it or finish it aborted with
 *  the swept message (swept_error_message of the queue's conf, default
 *  "swept"). A job dequeued but not yet marked active gets a short grace before
 *  it counts as stuck (saq #277). Event SWEEP: json = ids, int = their number;
 *  SAQ_EINVAL in the event for lock_s < 1 or abort_s negative or NaN. */
SAQ_API int saq_queue_sweep(saq_queue_t *q, int lock_s, double abort_s, saq_cq_t *cq, uint64_t tag);

/** saq's Queue.disconnect, as a graceful drain: stop accepting operations
 *  (new submits return SAQ_ECLOSED), wait up to `timeout_ms` (any negative
 *  value = forever) for in-flight ones (a listen, apply or map waits until it
 *  ends), then close the connections and stop the I/O thread (up to about 2 s
 *  more). Operations still pending at the deadline complete with SAQ_ECLOSED;
 *  workers on the queue are stopped at once and first put their running jobs
 *  back (see saq_queue_free); when that outlasts the extra 2 s (a frozen
 *  Redis) close returns SAQ_ETIMEDOUT and the I/O thread finishes on its own. Returns SAQ_OK, SAQ_ETIMEDOUT
 *  (deadline hit), SAQ_EINVAL (NULL queue), SAQ_ESTATE (called on the queue's
 *  I/O thread) or SAQ_EFORKED. Blocking; not from an event callback or hook.
 *  Idempotent. saq_queue_free is still needed afterwards. */
SAQ_API int saq_queue_close(saq_queue_t *q, int timeout_ms);

/** Release the queue. NULL is a no-op. Never blocks: pending operations
 *  complete with SAQ_ECLOSED on the I/O thread, which then exits on its own.
 *  Workers built on this queue must be freed first; a worker still stopping
 *  (its running jobs are retried "cancelled") is let finish first on the I/O
 *  thread, for at most its cancellation_hard_deadline plus twice
 *  command_timeout_ms and a second. An
 *  open batch may be freed later (it keeps the memory). Strings borrowed from
 *  the queue become invalid. Any thread except the queue's own I/O thread. */
SAQ_API void saq_queue_free(saq_queue_t *q);

/* Blocking convenience forms (C only). Each submits the operation to a
 * private cq and waits up to `timeout_ms` (any negative value = forever) for
 * its event, which it returns (owned: saq_event_free; tag 1; check
 * saq_event_status). A submit that fails returns an event with that status
 * (SAQ_EINVAL, SAQ_ECLOSED, SAQ_EFORKED, SAQ_ENOMEM). On a timeout the event
 * has status SAQ_ETIMEDOUT: an apply or map stops waiting (as
 * saq_queue_cancel; a job already enqueued is left alone), a short operation
 * runs on and its event is discarded. Returns NULL only when the private cq or
 * the event cannot be created (out of memory or file descriptors). Any
 * thread except an event callback or hook (blocking); called on the queue's
 * own I/O thread (in a completion callback) it returns an event with status
 * SAQ_ESTATE at once instead of blocking the loop it waits for (since 0.2).
 * Other arguments,
 * units and event contents as in the asynchronous form of the same name. */
SAQ_API saq_event_t *saq_queue_enqueue_sync(saq_queue_t *q, const saq_job_t *job, int timeout_ms);
SAQ_API saq_event_t *saq_queue_enqueue_call_sync(saq_queue_t *q, const char *function,
                                                 const char *kwargs_json, int timeout_ms);
SAQ_API saq_event_t *saq_queue_job_sync(saq_queue_t *q, const char *key, int timeout_ms);
SAQ_API saq_event_t *saq_queue_abort_sync(saq_queue_t *q, const char *key, const char *error,
                                          int ttl_s, int timeout_ms);
SAQ_API saq_event_t *saq_queue_count_sync(saq_queue_t *q, const char *kind, int timeout_ms);
SAQ_API saq_event_t *saq_queue_info_sync(saq_queue_t *q, int jobs, int offset, int limit,
                                         int timeout_ms);
SAQ_API saq_event_t *saq_queue_stats_sync(saq_queue_t *q, int ttl_s, int timeout_ms);
SAQ_API saq_event_t *saq_queue_apply_sync(saq_queue_t *q, const saq_job_t *job, double timeout_s,
                                          int timeout_ms);
SAQ_API saq_event_t *saq_queue_map_sync(saq_queue_t *q, const char *function,
                                        const char *iter_kwargs_json, const char *defaults_json,
                                        double timeout_s, int return_exceptions, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Batch                                                                    */
/* ------------------------------------------------------------------------ */

/** Begin a batch scope on `q` (saq's `async with queue.batch()`): from now
 *  until saq_batch_free or saq_batch_abort, every enqueue made on `q` (by
 *  any thread, duplicates included, as saq's hook does) is recorded (best
 *  effort: a key that cannot be copied for lack of memory is not). Several
 *  batches may be open at once; each records every enqueue. Owned by the
 *  caller (saq_batch_free, also after saq_batch_abort); it keeps the queue's
 *  memory alive until then. NULL on OOM, NULL queue, closed queue or fork.
 *  Any thread. */
SAQ_API saq_batch_t *saq_queue_batch(saq_queue_t *q);

/** Number of jobs recorded so far (0 for NULL, and after saq_batch_abort took them). Any
 *  thread. */
SAQ_API size_t saq_batch_size(const saq_batch_t *b);

/** The scope failed: stop recording and abort every recorded job with
 *  `reason` (NULL = "cancelled"), as saq_queue_abort with saq's marker ttl of
 *  5 s, ignoring individual failures. Event BATCH_ABORT, int = jobs whose
 *  abort changed something (int > 0). Returns SAQ_OK, SAQ_EINVAL (NULL batch,
 *  or cq NULL/freed/forked), SAQ_ECLOSED, SAQ_EFORKED, SAQ_ESTATE (already
 *  aborted), SAQ_ENOMEM (the scope has ended anyway). Any thread, but not
 *  concurrently with another saq_batch_abort or saq_batch_free of the same
 *  batch. The batch must still be freed. */
SAQ_API int saq_batch_abort(saq_batch_t *b, const char *reason, saq_cq_t *cq, uint64_t tag);

/** End the scope (successfully, if not aborted; recorded jobs are left alone) and release it.
 *  NULL is a no-op; never blocks; any thread. In a forked child it does nothing. */
SAQ_API void saq_batch_free(saq_batch_t *b);

/* ------------------------------------------------------------------------ */
/* Flows: member jobs and a completion callback (an extension; since 0.2)   */
/* ------------------------------------------------------------------------ */

/* A flow is a group of member jobs and a callback job, all on one queue. The
 * callback is enqueued exactly once, when every member is terminal (complete,
 * failed or aborted; a member whose record is gone, deleted or expired, counts
 * as terminal with status "missing"), with the members' outcomes merged into
 * its kwargs as "flow": {"id": <flow id>, "members": [{"key", "status",
 * "result" (the stored JSON value, exact), "error"}, ... in the order they
 * were added]}. The flow id is the callback's key. When the outcomes would
 * make the callback's record larger than the enqueuing queue's
 * max_payload_bytes less 256 bytes (room for the worker's own fields), the
 * callback still runs, once, with less: first every "result" is null, then
 * every "error" too, and last "members" is [] with "total": n and
 * "statuses": {"complete": count, "failed": ..., ...} (statuses present only);
 * "flow" then has "omitted": ["result"], ["result", "error"] or ["result",
 * "error", "members"] (no "omitted" member when nothing was left out). The
 * full outcomes stay readable with saq_queue_flow until the flow's ttl. A
 * member whose recorded outcome is malformed (written to Redis by something
 * else) has status "unknown" and an error saying so. Bookkeeping is in Redis
 * (Lua; keys saq:<queue>:libsaq:flow:<id>, :flow:<id>:pending,
 * :libsaq:flows, :libsaq:flowof, in the queue's hash slot): a libsaq worker
 * that stores a member's terminal outcome records it at once; libsaq workers
 * also re-check each open flow about every 2 s (members finished by Python saq
 * workers, by a sweep, by saq_queue_finish or saq_queue_abort, or by a worker
 * that died before recording), and saq_queue_flow checks the flow it reads. Python saq workers run members
 * and the callback as ordinary jobs but do not record outcomes themselves: a
 * queue served only by Python saq workers completes its flows only when
 * saq_queue_flow (or `saq flow`) is called. Members' records must be read in
 * time: a member whose ttl expires before any check is "missing". A queue
 * with a dump transform cannot use flows (Lua cannot read its records). */

/** A new flow whose callback is a copy of `callback` (its key, which becomes
 *  the flow id, function, kwargs and options; its kwargs must not have a
 *  "flow" member). Owned by the caller (saq_flow_free). NULL when callback is
 *  NULL or out of memory. Any thread; a flow is not thread-safe. */
SAQ_API saq_flow_t *saq_flow_new(const saq_job_t *callback);

/** Add a copy of `member` to the flow (its key must differ from the
 *  callback's and the other members'). Returns SAQ_OK, SAQ_EINVAL (NULL
 *  argument, or a key already in the flow) or SAQ_ENOMEM; on failure with a
 *  flow, saq_flow_errmsg says why (the key, and which member has it). */
SAQ_API int saq_flow_add(saq_flow_t *f, const saq_job_t *member);

/** Seconds the flow's record (its outcomes, for saq_queue_flow) is kept
 *  after the callback was enqueued (default 86400; 0 = forever). Returns
 *  SAQ_OK or SAQ_EINVAL (NULL flow, negative seconds: saq_flow_errmsg). */
SAQ_API int saq_flow_set_ttl(saq_flow_t *f, int seconds);

/** Why the last saq_flow_add or saq_flow_set_ttl on `f` failed ("" after a
 *  success; "" for NULL). Owned by the flow, valid until its next call or
 *  saq_flow_free. Same thread rule as the flow. Since 0.2. */
SAQ_API const char *saq_flow_errmsg(const saq_flow_t *f);

/** Number of members added (0 for NULL). */
SAQ_API size_t saq_flow_size(const saq_flow_t *f);

/** Release a flow. NULL is a no-op. */
SAQ_API void saq_flow_free(saq_flow_t *f);

/** Enqueue the flow's members (each as saq_queue_enqueue would: queue,
 *  queued = now, status queued, the before-enqueue hooks) and record the flow,
 *  all in one Lua script: either everything is written or nothing. The flow
 *  is copied: it may be freed at once. Event FLOW_ENQUEUE: key = the flow id;
 *  int = 1 when enqueued, 0 when a flow with that id is already recorded
 *  (nothing written); json = {"id": ..., "callback": <key>, "members":
 *  [<keys>]}. Errors in the event: SAQ_EINVAL (f NULL, no member, a hook
 *  refused, the callback's kwargs have "flow", the queue has a dump
 *  transform), SAQ_ESTATE (a member key is already incomplete or has an abort
 *  marker: nothing written; the message names it), SAQ_EWRONGQUEUE,
 *  SAQ_ETOOBIG (a record over max_payload_bytes, or a callback whose record
 *  leaves no room for its outcomes' shortest form: about 512 bytes plus 6 per
 *  byte of its key under max_payload_bytes), SAQ_ETIMEDOUT with
 *  min_replicas as saq_queue_enqueue (written, not acknowledged by enough
 *  replicas in time), the common ones. Returns as saq_queue_enqueue. Holds
 *  one of max_concurrent_ops. */
SAQ_API int saq_queue_enqueue_flow(saq_queue_t *q, const saq_flow_t *f, saq_cq_t *cq,
                                   uint64_t tag);

/** Read a flow (after recording the outcome of any member found terminal,
 *  and enqueuing the callback when that was the last one). Event FLOW: key =
 *  the id, json = {"id", "state": "open"|"done", "callback": <key>,
 *  "total": n, "pending": members not terminal yet, "created_ms",
 *  "done_ms" (0 while open), "members": [{"key", "status", "result",
 *  "error"}, ...]} (a pending member has its current status and null result
 *  and error; all of them, whatever the callback got). A member whose
 *  recorded outcome is malformed in Redis (not a JSON object, not UTF-8, a
 *  status that is not a string, an error that is not a string or null) has
 *  status "unknown", result null and an error saying what is wrong; the
 *  document is always valid JSON (UTF-8). SAQ_ENOTFOUND when no flow has that
 *  id (never enqueued, or expired after its ttl); SAQ_EPROTO when the flow's
 *  own fields in Redis are malformed (not a hash, its state, callback, member
 *  count or times; the message names which); SAQ_EINVAL for a NULL or empty
 *  id. Holds one of max_concurrent_ops. */
SAQ_API int saq_queue_flow(saq_queue_t *q, const char *id, saq_cq_t *cq, uint64_t tag);

/** Blocking forms of the two above (see the other _sync forms). */
SAQ_API saq_event_t *saq_queue_enqueue_flow_sync(saq_queue_t *q, const saq_flow_t *f,
                                                 int timeout_ms);
SAQ_API saq_event_t *saq_queue_flow_sync(saq_queue_t *q, const char *id, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Worker                                                                   */
/* ------------------------------------------------------------------------ */

/** C job handler: runs on one of the worker's handler threads (never the
 *  I/O thread; at most `concurrency` at once) with a leased job, which it
 *  owns: it must settle it once with saq_job_complete or saq_job_fail, now
 *  or later from any thread, and free it with saq_job_free (freeing it
 *  unsettled fails it, see saq_job_free). Check saq_job_cancelled in long
 *  handlers. It must not call saq_worker_wait or saq_worker_run of its own
 *  worker (the worker waits for it). */
typedef void (*saq_handler_fn)(saq_job_t *job, void *userdata);

/** Worker hooks (C only), saq's startup/shutdown/before_process/
 *  after_process. STARTUP runs on the thread that calls saq_worker_start,
 *  before processing starts; SHUTDOWN runs once on the thread that calls
 *  saq_worker_wait (or saq_worker_run) after the worker stopped and its
 *  running jobs were settled (job NULL for both). BEFORE and AFTER run on a
 *  handler thread around each job of a C handler; BEFORE gets the leased job
 *  (borrowed: do not settle or free it), AFTER a copy of the job as stored at
 *  the end (complete, failed, aborted or queued for a retry), borrowed for
 *  the call. A non-zero return from a BEFORE hook is a job error ("before_process
 *  hook failed", retried or failed as saq_job_fail; the handler is not
 *  called); other return values are ignored. Hooks of one kind run in the
 *  order added. Pull-mode hosts run their own hooks (but AFTER hooks also
 *  run for pull-mode jobs of a worker that has C handlers too). */
typedef int (*saq_hook_fn)(saq_worker_t *w, saq_job_t *job, void *userdata);
/** Hook kinds for saq_worker_add_hook (saq's startup, shutdown, before_process,
 *  after_process). */
#define SAQ_HOOK_STARTUP 1
#define SAQ_HOOK_SHUTDOWN 2
#define SAQ_HOOK_BEFORE_PROCESS 3
#define SAQ_HOOK_AFTER_PROCESS 4

/** Make a worker for queue `q` configured by the worker keys of `conf` (NULL
 *  = saq's defaults; queue keys are ignored; conf may be freed afterwards)
 *  and store it in *out, owned by the caller (saq_worker_free, before
 *  saq_queue_free). It shares q's I/O thread and uses one extra Redis
 *  connection for the blocking dequeue (connected when the worker starts).
 *  On failure *out is set to NULL (when out is not NULL) and
 *  saq_conf_errmsg(conf) says why (when conf is not NULL). Returns SAQ_OK,
 *  SAQ_EINVAL (out or q NULL, or a setting the worker refuses: burst needs
 *  dequeue_timeout > 0, as saq), SAQ_ECLOSED (q is closing or closed),
 *  SAQ_EFORKED (q was inherited across fork) or SAQ_ENOMEM. Any thread. The
 *  setup calls below (register, add_cron, add_hook, start) must come from one
 *  thread at a time. Since 0.2 (SAQ_0.2). */
SAQ_API int saq_worker_open(saq_worker_t **out, saq_queue_t *q, saq_conf_t *conf);

/** saq_worker_open without the code: the worker, or NULL (with the message in
 *  saq_conf_errmsg(conf)). Any thread. */
SAQ_API saq_worker_t *saq_worker_new(saq_queue_t *q, saq_conf_t *conf);

/** Worker id (uuid1 unless set by the conf's "id"), borrowed until saq_worker_free; NULL for
 *  a NULL worker. Appears in the job's worker_id and in saq's info()/web UI. Any thread. */
SAQ_API const char *saq_worker_id(const saq_worker_t *w);

/** Message of the last failed call on this worker (register, add_cron, start), or "" if none
 *  or w is NULL. Never NULL. Borrowed: valid until the next failing call on the worker or
 *  saq_worker_free. */
SAQ_API const char *saq_worker_errmsg(const saq_worker_t *w);

/** Effective value of configuration `key` for this worker, as text: what the worker runs with,
 *  defaults included, after its own adjustments (the generated id; concurrency capped by
 *  max_burst_jobs). Worker keys come from the worker's conf, queue keys (url, name, dialect,
 *  max_concurrent_ops, *_timeout_ms, reconnect_max_ms, max_payload_bytes, tls.*) from its
 *  queue's. The tls.* keys are reported for a rediss:// queue only (NULL otherwise), with the
 *  url's values and the keys over them: tls.check_hostname as in effect ("false" with
 *  cert_reqs none), a path not given as "".
 *  Numbers in their shortest exact form ("1", "0.25"), booleans "true"/"false", metadata
 *  "null" when unset; "timers.stats" reads timers.worker_info. Borrowed: valid until
 *  saq_worker_free (the values never change). NULL for a NULL worker or key or an unknown key.
 *  Any thread. Since 0.2. */
SAQ_API const char *saq_worker_conf_get(const saq_worker_t *w, const char *key);

/** Serve queue `q` too (saq #284: one worker, several queues, in strict or
 *  weighted order). The worker's own queue (saq_worker_open's) comes first;
 *  each call adds the next queue in order, with `weight` (at least 1) used by
 *  queue_order "weighted" and ignored by "strict" (the worker's own queue's
 *  weight is the conf's queue_weight). Every queue is served with
 *  the worker's functions, hooks and settings; `concurrency` is the total over
 *  all queues (one handler pool, one budget of slots), and queue_order decides
 *  who gets a free slot: "strict" (default) gives it to the first queue in
 *  order that may have jobs (a later queue only runs jobs while every earlier
 *  one is found empty); "weighted" shares the free slots among the queues that
 *  have jobs in proportion to their weights (smooth weighted round robin; a
 *  queue without jobs never holds slots back). Each queue keeps its own I/O
 *  thread and connections (in a cluster, to the master owning its hash slot),
 *  its own blocking dequeue (which holds no slot: a job it takes while every
 *  slot is busy is put back at the head of its queue until a slot is free),
 *  registry entry, upkeep timers and recovery, so saq's info() and web UI of
 *  each queue list the worker, and Python saq workers on any of the queues
 *  work next to it. On an added queue the worker's id is saq_worker_id() with
 *  ".<n>" appended (n = 1, 2, ... in the order added): the registry entry and
 *  jobs' worker_id there carry that id. Cron jobs and the STARTUP and SHUTDOWN
 *  hooks belong to the worker's own queue and run once; BEFORE and AFTER hooks
 *  run for every queue's jobs and get `w`. Start, stop, wait, run, free and
 *  saq_worker_stats_json cover every queue; closing any of the queues stops
 *  the whole worker without a grace period. max_burst_jobs counts per queue.
 *  The queue is not owned: it must outlive the worker (free the worker first),
 *  like the worker's own. Before saq_worker_start only; from the setup thread.
 *  Returns SAQ_OK, SAQ_EINVAL (NULL worker, the worker's queue or a queue
 *  already added, weight < 1), SAQ_ESTATE (started), SAQ_ECLOSED or
 *  SAQ_EFORKED (q unusable), SAQ_ENOMEM; with a message in saq_worker_errmsg
 *  (except for a NULL worker). Since 0.2 (SAQ_0.2). */
SAQ_API int saq_worker_add_queue(saq_worker_t *w, saq_queue_t *q, int weight);

/** Register a C handler for jobs whose function is `function` (saq's
 *  functions list). Registering a name again replaces its handler (or its
 *  pull registration). `userdata` must outlive the worker. Before start
 *  only. Returns SAQ_OK, SAQ_EINVAL (NULL worker or fn, NULL or empty
 *  function, or not valid UTF-8), SAQ_ESTATE (started), SAQ_ENOMEM. C only. */
SAQ_API int saq_worker_register(saq_worker_t *w, const char *function, saq_handler_fn fn,
                                void *userdata);

/** Register `function` for pull mode: its jobs are delivered as LEASE
 *  events to the cq given to saq_worker_start; the host takes each job
 *  (saq_event_take_job), runs it, settles it with saq_job_complete or
 *  saq_job_fail and frees it. Registering a name again replaces its C handler.
 *  Before start only. Returns SAQ_OK, SAQ_EINVAL (NULL worker, NULL or empty
 *  function), SAQ_ESTATE (started), SAQ_ENOMEM. */
SAQ_API int saq_worker_register_pull(saq_worker_t *w, const char *function);

/** Add a cron job (saq's CronJob): `cron` is 5 fields (minute hour day month
 *  weekday), 6 with seconds last or 7 with seconds and then the year, or an
 *  alias (@hourly ...), read and evaluated exactly as croniter 7.0.0 (saq
 *  0.26.3's parser) does, in UTC unless cron_tz is set, except that
 *  croniter's random "R" values are refused; an expression that never fires
 *  within croniter's 50-year horizon (e.g. "0 0 31 2 *") is refused too.
 *  `options_json` (NULL = none) may set kwargs (object or null), timeout and
 *  heartbeat (seconds >= 0), retries (integer >= 0), ttl (integer seconds),
 *  "unique" (bool, default true: key cron:<function>) and "cron_tz" (string;
 *  null or "" = UTC; default the worker's conf key cron_tz, else UTC): the IANA
 *  time zone whose wall clock the fields are read
 *  in ("America/New_York"; aliases such as "US/Eastern" and "UTC" too), as
 *  saq 0.26's Worker(cron_tz=ZoneInfo(...)), with croniter's behaviour on
 *  clock changes: a time in a spring-forward gap fires at the first existing
 *  minute after it (02:30 -> 03:00), except that with '*' hours the gap's
 *  times are skipped; a time that occurs twice (fall back) fires at both
 *  occurrences. Zones come from the system's tz database (the TZif files in
 *  $TZDIR or /usr/share/zoneinfo, which Python's zoneinfo reads too), never
 *  from the process's TZ. The
 *  worker enqueues each run itself (on the I/O
 *  thread, with scheduled = the next fire time in epoch seconds). The
 *  function must be registered (either mode), before or after this call.
 *  A unique cron job replaces an earlier unique one of the same function on
 *  this worker (the last call decides, e.g. a new cron_tz); and at its first
 *  schedule tick the worker moves the run stored under cron:<function> (by an
 *  earlier worker with another expression or zone) to its own next fire time
 *  when that run still waits: status queued, never tried, due more than 5 s
 *  later (deleted as saq_queue_delete does, then enqueued again).
 *  Returns SAQ_OK, SAQ_ECRON for a bad expression or a cron_tz that names
 *  no zone in the system's tz database, SAQ_EJSON for options
 *  that are not an object or a bad option value, SAQ_EINVAL (NULL worker,
 *  NULL or empty function or cron, unknown option), SAQ_ESTATE after start,
 *  SAQ_ENOMEM; with a message in saq_worker_errmsg. */
SAQ_API int saq_worker_add_cron(saq_worker_t *w, const char *function, const char *cron,
                                const char *options_json);

/** The fire times of a cron job as a worker schedules them (saq_worker_add_cron with the same
 *  expression and "cron_tz"), to preview a schedule: the first `n` times strictly after
 *  `after_s` (epoch seconds), each found from the one before it, into times[0..n) (epoch
 *  seconds) and, when `utc_offsets` is not NULL, the zone's UTC offset at each (seconds east of
 *  UTC; 0 in UTC) into utc_offsets[0..n). `cron_tz`: an IANA zone name, or NULL or "" for UTC.
 *  Pure computation (no Redis); any thread. Returns how many times were written (0..n: fewer
 *  when the expression has no later fire time within croniter's 50-year horizon), or a negative
 *  SAQ_ECRON (the expression does not parse, or cron_tz names no zone in the system's tz database) or SAQ_EINVAL
 *  (NULL expr, n < 0, or NULL times with n > 0), with a one-line message in err
 *  (NUL-terminated, truncated to errlen; err may be NULL with errlen 0). C and C++ only (the
 *  `saq cron` command prints it). */
SAQ_API int saq_cron_next(const char *expr, const char *cron_tz, int64_t after_s, int n,
                          int64_t *times, int32_t *utc_offsets, char *err, size_t errlen);

/** The version of the time zone data that cron_tz and saq_cron_next use: the system's tz
 *  database (Debian's tzdata package, e.g. "2025b"; the first line of tzdata.zi in $TZDIR or
 *  /usr/share/zoneinfo), the data Python saq's zoneinfo reads too, or "?" when it names none.
 *  Static string, read once; any thread. C and C++ only (`saq cron` prints it). */
SAQ_API const char *saq_tzdata_version(void);
/** Limit the jobs of `function` (NULL or "": every job of the queue) to at
 *  most `max_jobs` starts per `period` seconds (a sliding window: never more
 *  than max_jobs in any period; 0 = no rate limit) and at most `max_running`
 *  running at once (0 = no concurrency limit), counted over every libsaq
 *  worker of the queue that sets the same limit (an extension: the state is
 *  kept in Redis, in saq:<queue>:libsaq:limit:*, by Lua scripts; give every
 *  worker of the queue the same limits, each enforces the numbers it was
 *  given). A job over a limit waits and is never failed: over the queue's
 *  limit it stays at the head of `queued` and the worker dequeues again when
 *  the limit has room (it asks the limit, moving no job, at the rate's next
 *  free start or every 200 ms while the running slots are full); over its function's rate it is deferred to its next
 *  free start (a score in saq's `incomplete` set, which saq's schedule
 *  brings back like any scheduled job; its record is not changed); over its
 *  function's max_running it waits in saq:<queue>:libsaq:limit:fn:<name>:waiting
 *  and comes back to the head of `queued` when a slot of the function frees
 *  (each worker also tops the slots up from that list every second, for the
 *  wake-ups a release could not give, e.g. a waiting job a Python worker
 *  ran; and it comes back by itself after 30 s at the latest, from
 *  `incomplete`). Each worker publishes its limits every second for
 *  saq_queue_limits (both ride on its liveness timer). The slots of
 *  a worker that died are freed once its liveness entry expires (about
 *  4 x timers.liveness), so max_running needs timers.liveness > 0. A worker
 *  serving several queues applies its limits to each queue separately.
 *  Python saq workers on the same queue do not honour the limits (their jobs
 *  are not counted). Setting a function's limit again replaces it; both 0
 *  removes it. Before saq_worker_start only (on the worker saq_worker_open
 *  returned). Returns SAQ_OK, SAQ_EINVAL (NULL worker, max_jobs or
 *  max_running < 0, max_jobs > 0 with a period not in 0.001..31622400,
 *  max_running > 0 with timers.liveness 0), SAQ_ESTATE (started),
 *  SAQ_ENOMEM; with a message in saq_worker_errmsg (except for a NULL
 *  worker). Since 0.2 (SAQ_0.2). */
SAQ_API int saq_worker_set_limit(saq_worker_t *w, const char *function, int max_jobs, double period,
                                 int max_running);

/** Add a hook of kind SAQ_HOOK_*; `userdata` must outlive the worker. Before start only.
 *  Returns SAQ_OK, SAQ_EINVAL (NULL worker or fn, unknown kind), SAQ_ESTATE (started),
 *  SAQ_ENOMEM. C only. */
SAQ_API int saq_worker_add_hook(saq_worker_t *w, int kind, saq_hook_fn fn, void *userdata);

/** Start processing: run the STARTUP hooks on this thread, then register the
 *  worker, start the timers (schedule, worker_info, sweep, abort) and the
 *  dequeue on the I/O thread. `cq` receives LEASE, CANCEL, OUTCOME,
 *  GIVEN_BACK and WORKER_STOPPED events (with `tag`; CANCEL events for
 *  C-handler jobs too). For each LEASE, OUTCOME follows once the outcome is
 *  written (or could not be), GIVEN_BACK when libsaq settled it without the
 *  host (see the leased jobs above); a queue torn down first ends the stream
 *  with WORKER_STOPPED without them. It may be NULL when every function has a C handler, and may be a
 *  callback cq (events then arrive on the I/O thread). Any thread; the worker
 *  runs once (it cannot be restarted). Returns SAQ_OK,
 *  SAQ_EINVAL (NULL worker, a pull function without a usable cq, a cron job
 *  whose function is unregistered), SAQ_ESTATE (already started), SAQ_ECLOSED
 *  (queue closing or closed), SAQ_EFORKED, SAQ_ENOMEM; with a message in
 *  saq_worker_errmsg for the first three. */
SAQ_API int saq_worker_start(saq_worker_t *w, saq_cq_t *cq, uint64_t tag);

/** Ask the worker to stop: no new jobs are taken (a blocked dequeue is
 *  interrupted with CLIENT UNBLOCK; a job it had already moved is put back
 *  at the head of the queue, except one whose move's reply was lost with
 *  a killed connection: the worker cannot know it moved that job, which
 *  stays in `active` until the liveness pass of any libsaq worker of the
 *  queue (or saq's sweep) queues it again); running jobs get `grace_ms` (negative = the
 *  conf's shutdown_grace_period) to finish, then they are cancelled
 *  (SAQ_CANCEL_SHUTDOWN) and, after cancellation_hard_deadline, retried with
 *  error "cancelled" as saq does. An outcome that cannot be written
 *  because Redis is unreachable is retried until the grace period is over,
 *  then given up: the job stays active under this worker's id and another
 *  worker recovers it once this one's registry entry expires, so a stop
 *  with Redis gone still ends. Returns at once; any thread (not a signal
 *  handler: use saq_worker_run, or set a flag and call this from a thread).
 *  Before saq_worker_start it makes the worker stop as soon as it starts.
 *  Idempotent; a later call with grace_ms >= 0 replaces the grace period.
 *  Returns SAQ_OK, SAQ_EINVAL (NULL worker), SAQ_EFORKED or SAQ_ENOMEM. */
SAQ_API int saq_worker_stop(saq_worker_t *w, int grace_ms);

/** Wait up to `timeout_ms` (0 = just check, any negative value = forever)
 *  until the worker has stopped (after saq_worker_stop, the end of a burst,
 *  or the queue's close), then run the SHUTDOWN hooks once, on the first
 *  thread that sees the stop. Returns SAQ_OK, SAQ_ETIMEDOUT, SAQ_EINVAL
 *  (NULL worker), SAQ_ESTATE (never started, or called on the I/O thread),
 *  SAQ_EFORKED. Blocking; not from an event callback, hook or handler. */
SAQ_API int saq_worker_wait(saq_worker_t *w, int timeout_ms);

/** saq's Worker.start for a C main(): start without a cq (so every function
 *  needs a C handler), stop on SIGINT/SIGTERM with the conf's
 *  shutdown_grace_period (the process-wide handlers are installed for the
 *  duration and restored after), wait, run the shutdown hooks. Blocking; call
 *  it from one thread (normally the main thread); not from a callback, hook
 *  or handler. Returns SAQ_OK after a clean stop, or the error code of
 *  saq_worker_start (or saq_worker_wait) when the worker could not start. */
SAQ_API int saq_worker_run(saq_worker_t *w);

/** Counters as JSON {"complete", "failed", "retried", "aborted", "uptime",
 *  "running", "errors"}: the first five are the queue object's (shared by
 *  every worker and operation on it; uptime in ms since the queue was made),
 *  "running" is this worker's jobs in progress and "errors" the Redis errors
 *  its own writes and upkeep operations met. Once the worker has stopped
 *  (saq_worker_wait returned SAQ_OK), the final figures, taken when it stopped,
 *  are returned unchanged (uptime included; later operations on the queue
 *  object do not change them) until saq_worker_free (since 0.2). A worker of several queues
 *  (saq_worker_add_queue) reports the sums over its queues (uptime: its own
 *  queue's) and "queues": [{"name", "id", "complete", "failed", "retried",
 *  "aborted", "running", "errors"}, ...], one object per queue in order. Borrowed until the next call on this worker or
 *  saq_worker_free; NULL for a NULL worker or on OOM. Any thread, but the
 *  previous text is freed by each call, so one thread at a time. */
SAQ_API const char *saq_worker_stats_json(saq_worker_t *w);

/** This worker's own metrics, kept in this process, as a Prometheus text exposition (format
 *  0.0.4), for a host that serves /metrics itself: saq_jobs_processed_total{queue, function,
 *  outcome="complete|failed|retried|aborted"} (counter), saq_job_duration_seconds{queue,
 *  function} (histogram of run times in seconds, buckets 0.005 .. 300 and +Inf),
 *  saq_jobs_running{queue} (gauge), saq_worker_errors_total{queue} (counter: Redis errors met).
 *  An outcome is counted once it is stored in Redis (C handlers and pull mode alike); the run
 *  time goes from the hand-over to the handler (or the LEASE event) to the outcome's decision
 *  (a job whose function is not registered is counted failed, without a run time, under
 *  function="(unregistered)": one series whatever the names such jobs carry). Every
 *  registered function has its series from the start (at 0); a worker of several queues labels
 *  each queue's series with its name. Queue-wide figures come from saq_queue_metrics. Valid before, during and after a run (the
 *  figures of the last run stay readable after the worker stopped, as saq_worker_stats_json's).
 *  Borrowed until the next call of this function or saq_worker_stats_json on this worker, or
 *  saq_worker_free; NULL for a NULL worker or on OOM. Same thread rule as
 *  saq_worker_stats_json. Since 0.2. */
SAQ_API const char *saq_worker_metrics(saq_worker_t *w);

/** Release a worker. If it is running it is stopped without a grace period
 *  first (running jobs are cancelled with SAQ_CANCEL_SHUTDOWN and retried with
 *  "cancelled"; leased jobs the host still holds stay valid until freed).
 *  SHUTDOWN hooks that no saq_worker_wait ran are not run. NULL is a no-op;
 *  never blocks; not concurrently with other calls on the worker. In a forked
 *  child it does nothing. */
SAQ_API void saq_worker_free(saq_worker_t *w);

#ifdef __cplusplus
}
#endif

#endif /* SAQ_H */
