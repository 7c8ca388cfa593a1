/* SPDX-License-Identifier: MIT */
/* transition.c's section of the I/O core (included by core.h, at its end):
 * the typed Redis transitions, each a script's KEYS and ARGV, and the
 * primitives that pair them with their record updates. */
#ifndef SAQ_TRANSITION_H
#define SAQ_TRANSITION_H

#include "core.h"

/* ---- txcall.c: a script call's arguments, and sending it ----
 * The builders of transition.c lay out their calls with these (pure, any
 * thread); sending: loop thread. */

/* A script call as its builder laid it out: `nkeys` KEYS, then the ARGV, in
 * argv[0 .. argc) with their lengths. Lives on the caller's stack between a
 * builder and saq__tx_send / saq__tx_send_op (or saq__tx_call_free); argv
 * may point into the struct, so it is never copied. */
#define SAQ__TX_INLINE 13 /* the most any script but ALIVE takes */
#define SAQ__TX_NUMS 4    /* numbers kept inline: one job's */
typedef struct saq__call {
    int script;
    int nkeys, argc;
    int oom;            /* a builder ran out of memory: sending fails as saq__eval does */
    const char **argv;  /* av, or the heap beyond SAQ__TX_INLINE */
    size_t *len;
    int cap;
    const char *av[SAQ__TX_INLINE];
    size_t al[SAQ__TX_INLINE];
    char num[SAQ__TX_NUMS][40]; /* numbers formatted for the call (beyond: owned, on the heap) */
    int nnum;
    char *own[2];       /* names the call allocated (abort marker, kept record) */
    char **more;        /* and beyond two (a batch's markers), on the heap */
    int nmore;
} saq__call_t;

/* Send a built call on the queue's command connection (EVALSHA, EVAL on
 * NOSCRIPT). The call is consumed. Returns the request, or NULL when out of
 * memory (then cb is not called). */
saq__req_t *saq__tx_send(saq_queue_t *q, saq__call_t *c, saq__reply_fn cb, void *data);
/* The same for an operation (saq__op_eval: holds an op reference; out of
 * memory fails the op and returns NULL). */
saq__req_t *saq__tx_send_op(saq__op_t *op, saq__call_t *c, saq__op_reply_fn cb, intptr_t idata);
/* Release a built call that is not sent. */
void saq__tx_call_free(saq__call_t *c);
/* Start laying out a call of `script` whose first nkeys arguments are KEYS. */
void saq__call_init(saq__call_t *c, int script, int nkeys);
/* Make room for n more arguments: 0, or -1 out of memory (the call fails). */
int saq__call_reserve(saq__call_t *c, int n);
/* Append bytes s[0 .. n) (s NULL: out of memory upstream; the call fails). */
void saq__call_putn(saq__call_t *c, const char *s, size_t n);
/* Append a NUL-terminated string. */
void saq__call_put(saq__call_t *c, const char *s);
/* Append "1" or "0". */
void saq__call_flag(saq__call_t *c, int on);
/* Append a number formatted into the call's own storage (inline for the
 * first SAQ__TX_NUMS, on the heap beyond; out of memory: the call fails). */
void saq__call_fmt(saq__call_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a score: epoch seconds as saq writes them, or exactly "0" (due now). */
void saq__call_score(saq__call_t *c, double score);
/* Append a string the call allocated (freed with the call; NULL: out of memory). */
void saq__call_own(saq__call_t *c, char *s);

/* One item's reply out of a batched call's (MARKS, FINISHES, ENQUEUES answer
 * an array of n elements, each what the item's own script would answer): r
 * is that element; or r is NULL and err, msg say what answers the item
 * instead: the call's own error, SAQ_EPROTO with `what` when the reply is not
 * an array of n, SAQ_EREDIS with the element's text when it is an error. */
typedef struct saq__tx_item {
    redisReply *r;
    int err;
    const char *msg;
} saq__tx_item_t;
saq__tx_item_t saq__tx_item(redisReply *r, int err, const char *msg, size_t n, size_t i, const char *what);

/* ---- transition.c: the typed Redis transitions ----
 * Every state change libsaq makes in Redis goes through one function here:
 * enqueue, dequeue, mark, give-back, finish, retry, recover, requeue, update,
 * replace, abort, abort-due, schedule, sweep, alive, unreadable, delete, and the
 * worker registry write. A script's KEYS and ARGV are laid out by its
 * builder (saq__tx_<script>) and nowhere else; scripts.c documents the same
 * layout next to the Lua text. A script's status reply is decoded by
 * saq__tx_decode and nowhere else, into a saq__tx_t instead of the scripts'
 * numbers. (librdkafka's typed requests, src/rdkafka_request.h, are the
 * model: one builder per wire request, one decoder per reply.)
 * Builders and decoders are pure: any thread (they read only the queue's key
 * names and settings, fixed at open). Sending and the primitives: loop thread. */

/* What a transition's script answered. */
typedef enum saq__tx {
    /* no usable reply: the request failed (err), or the reply has a shape the
     * script never sends */
    SAQ__TX_NONE = 0,
    /* done as asked. ABORT 0: written, and the job was not waiting (its worker
     * or the abort watch ends it); ABORT_DUE {0}: nothing for the caller (it
     * was done, or is watched a little longer) */
    SAQ__TX_OK,
    /* FINISH/RETRY {3}: the same outcome is stored already (a write sent again
     * after a lost reply): nothing written */
    SAQ__TX_SAME,
    /* FINISH/RETRY {-1, error}, MARK {-1, 'aborting', record[, marker text]}:
     * the job was aborted meanwhile, nothing written; the reason is in the
     * reply's text (NULL from MARK: the record's own error is the reason) */
    SAQ__TX_ABORTED,
    /* FINISH/RETRY {-2}: the record belongs to another run of the job (the
     * lease was lost): nothing written */
    SAQ__TX_LOST,
    /* MARK {-1, status, record}: running elsewhere or finished, not this
     * worker's to run (MARK dropped this move's entry of `active` when it was
     * a duplicate or the job is finished); text = the stored status */
    SAQ__TX_TAKEN,
    /* MARK {-3}: Lua cannot decode the stored record: mark it again opaque */
    SAQ__TX_OPAQUE,
    /* a precondition did not hold, nothing written: ENQUEUE nil (the id is
     * incomplete already, or its abort marker is set); MARK {0} (gone from
     * `active`, or no record); UPDATE, REPLACE, RECOVER, UNREADABLE 0 (gone,
     * finished, another run's, or not the record expected); ABORT -2 (the
     * sweep's abort of a job no longer in `active`) */
    SAQ__TX_REFUSED,
    /* ABORT -1: the record is no longer the one read: read it again */
    SAQ__TX_CHANGED,
    /* ABORT n > 0: written, and the job was waiting in `queued` (taken out,
     * n entries): the caller finishes it aborted */
    SAQ__TX_DEQUEUED,
    /* ABORT_DUE {1, record}: aborting, and no live worker holds it: the
     * caller finishes it aborted (compare-and-set on the record) */
    SAQ__TX_DUE,
} saq__tx_t;

/* A decoded status reply. The pointers are into the redisReply: valid during
 * the reply callback only. */
typedef struct saq__tx_reply {
    saq__tx_t code;
    long long n;        /* DEQUEUED: the entries taken out of `queued` */
    const char *text;   /* ABORTED: the reason (or NULL); TAKEN: the stored status */
    redisReply *record; /* MARK's (GIVE_BACK's) ABORTED/TAKEN, ABORT_DUE's DUE: the record as stored */
} saq__tx_reply_t;

/* Decode the reply of `script` (SCRIPT_ENQUEUE, MARK, FINISH, RETRY, UPDATE,
 * REPLACE, ABORT, RECOVER, UNREADABLE, ABORT_DUE, DELETE, GIVE_BACK; any other gives
 * SAQ__TX_NONE). r may be NULL (SAQ__TX_NONE); out may be NULL. Pure. */
saq__tx_t saq__tx_decode(int script, const redisReply *r, saq__tx_reply_t *out);


/* "saq:abort:<key>": saq's abort marker of the job with this key; in Redis
 * Cluster "saq:<queue>:abort:<key>", in the queue's hash slot (malloc'd,
 * NULL when out of memory). */
char *saq__tx_marker(saq_queue_t *q, const char *key);

/* Which watch set an abort (or the recovery of one) uses. */
enum {
    SAQ__TX_WATCH_NONE,  /* RECOVER: the job is in `active` (4 keys, no watch) */
    SAQ__TX_WATCH_SWEEP, /* the sweep's aborts until their retry (q->k_watch) */
    SAQ__TX_WATCH_ABORT, /* saq_queue_abort of a job that was not waiting (q->k_abortwatch) */
};

/* ENQUEUE j (its id and key; scheduled <= 0: pushed to `queued` now, with
 * score "0" exactly, saq's push-now test) as the record json[0 .. len).
 * KEYS incomplete, id, queued, abort marker; ARGV json, score.
 * Reply: OK, or REFUSED (already there, or its abort marker is set). */
void saq__tx_enqueue(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len,
                     saq__call_t *c);
/* ENQUEUES: the ENQUEUEs of a[0 .. n) in one call (n >= 1). KEYS incomplete,
 * queued, then each job's id and abort marker; ARGV each job's json and
 * score. Its reply is an array of n ENQUEUE replies (an element may be an
 * error reply), each decoded as SCRIPT_ENQUEUE's. */
typedef struct saq__tx_enqueue {
    const saq_job_t *j;
    const char *json;
    size_t len;
} saq__tx_enqueue_t;
void saq__tx_enqueues(saq_queue_t *q, const saq__tx_enqueue_t *a, size_t n, saq__call_t *c);

/* DEQUEUE up to max jobs (LMOVE when the server has it, or its version is not
 * known yet; RPOPLPUSH before Redis 6.2). KEYS queued, active; ARGV max,
 * '1' = LMOVE. Reply: {id, record, id, record, ...} (a record is nil when
 * missing, {type} when its key is not a string: saq__tx_key_type): read
 * with saq__tx_dequeued*. */
void saq__tx_dequeue(saq_queue_t *q, int max, saq__call_t *c);
/* The jobs a DEQUEUE reply moved (0 for anything but an array). */
size_t saq__tx_dequeued(const redisReply *r);
/* The i-th moved job's id and record (i < saq__tx_dequeued(r)). */
redisReply *saq__tx_dequeued_id(const redisReply *r, size_t i);
redisReply *saq__tx_dequeued_record(const redisReply *r, size_t i);
/* DEQUEUE's and SWEEP's {type} in place of a record, for a key of another
 * type than a string: that type's name (in r), or NULL when r is no such
 * reply (or names none). */
const char *saq__tx_key_type(const redisReply *r);

/* MARK a dequeued job active. */
typedef struct saq__tx_mark {
    const char *id, *key;
    const char *json;     /* the record as active */
    size_t len;
    const char *dequeued; /* the record as dequeued; NULL when it was not queued */
    size_t dequeued_len;
    int opaque;           /* mark without decoding (after SAQ__TX_OPAQUE); a queue with a
                           * dump transform always does */
    int resent;           /* sent again after a lost reply (a MARK that finds its own record succeeds) */
} saq__tx_mark_t;
/* KEYS active, id, abort marker; ARGV json, check marker ('1': the 0.13
 * dialect), opaque, dequeued ('' when not queued), resent.
 * Reply: OK, REFUSED, ABORTED, TAKEN or OPAQUE. */
void saq__tx_mark(saq_queue_t *q, const saq__tx_mark_t *a, saq__call_t *c);
/* MARKS: the MARKs of a[0 .. n) in one call (n >= 1; each a[i].opaque is
 * ignored: the first mark of a batch is never opaque). Its reply is an array
 * of n MARK replies, each decoded as SCRIPT_MARK's. */
void saq__tx_marks(saq_queue_t *q, const saq__tx_mark_t *a, size_t n, saq__call_t *c);

/* Put a job moved to `active` that the worker will not run (it stops, its
 * queue was paused, a group's budget is full) back at the head of `queued`,
 * exactly where it was, only while it is still that move: `rec` (reclen
 * bytes) is its record as dequeued ("" when not read); the record must also
 * still read as queued (when Lua can decode it). A record changed since the move (a sweep's or any
 * abort; in the 0.13 dialect, an abort marker) or an id no longer in `active`
 * is left to whoever changed it. KEYS active, queued, id, abort marker; ARGV
 * rec, check marker. Decoded with MARK's shapes: OK (given back), REFUSED (no
 * longer in active, or no record), ABORTED (text = the 0.13 marker's text) or
 * TAKEN (changed), both with record = the stored record. */
void saq__tx_give_back(saq_queue_t *q, const char *id, const char *rec, size_t reclen, saq__call_t *c);

/* A lease's guard on an outcome write: the run (attempts, started) the
 * record must still belong to, and the record as the lease last wrote it
 * (expect, or NULL: then Lua decodes the record to compare). */
typedef struct saq__guard {
    int attempts;
    int64_t started;
    const char *expect;
    size_t expect_len;
} saq__guard_t;

/* FINISH j with its status and ttl as the record json[0 .. len). guard NULL:
 * unguarded (saq's own finish). del_marker: also delete the abort marker.
 * KEYS active, incomplete, id, abort marker; ARGV json, ttl, status, guarded,
 * attempts, started, check marker (guarded in the 0.13 dialect), delete
 * marker, expect ('' = unknown). Reply: OK, or guarded SAME, ABORTED, LOST. */
void saq__tx_finish(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len,
                    const saq__guard_t *guard, int del_marker, saq__call_t *c);
/* FINISHES: the FINISHes of a[0 .. n) in one call (n >= 1). KEYS active,
 * incomplete, then each job's id and abort marker; ARGV each job's 9 FINISH
 * arguments. Its reply is an array of n FINISH replies, each decoded as
 * SCRIPT_FINISH's. */
typedef struct saq__tx_finish {
    const saq_job_t *j;
    const char *json;
    size_t len;
    const saq__guard_t *guard;
    int del_marker;
} saq__tx_finish_t;
void saq__tx_finishes(saq_queue_t *q, const saq__tx_finish_t *a, size_t n, saq__call_t *c);

/* RETRY j as the record json[0 .. len), due at `score` (epoch s; <= 0: now,
 * pushed to `queued` with score "0"). KEYS active, queued, incomplete, id,
 * abort marker; ARGV json, score, push, guarded, attempts, started, check
 * marker, expect. Reply: as FINISH. */
void saq__tx_retry(saq_queue_t *q, const saq_job_t *j, const char *json, size_t len, double score,
                   const saq__guard_t *guard, saq__call_t *c);

/* UPDATE a record keeping its stored status (and, while it is aborting, its
 * stored error): head .. err .. status .. tail (saq__job_dump_split). */
typedef struct saq__tx_update {
    const char *id;
    const char *head, *err, *tail;
    const char *status;         /* written when the stored one cannot be read */
    const saq__guard_t *guard;  /* a lease's (refused when the record is another run's), or NULL */
} saq__tx_update_t;
/* KEYS id; ARGV head, err, tail, fallback status, guarded, attempts, started.
 * Reply: OK or REFUSED (gone, finished, another run's). */
void saq__tx_update(saq_queue_t *q, const saq__tx_update_t *a, saq__call_t *c);

/* REPLACE an opaque record (a dump transform's, which Lua cannot read) with
 * json[0 .. len) only if it is still there and, when expect is known, still
 * exactly expect[0 .. expect_len). KEYS id; ARGV json, status to publish,
 * expect ('' = unknown). Reply: OK or REFUSED. */
void saq__tx_replace(saq_queue_t *q, const char *id, const char *json, size_t len,
                     const char *status, const char *expect, size_t expect_len, saq__call_t *c);

/* ABORT a job: saq's abort pipeline, atomic. */
typedef struct saq__tx_abort {
    const char *id, *key;
    const char *old;   /* the record as read (compare-and-set); unused in the 0.13 form */
    size_t oldlen;
    const char *json;  /* the record as aborting; unused in the 0.13 form */
    size_t len;
    int ttl;           /* the abort marker's ttl, s */
    const char *reason;/* the abort marker's text */
    int watch;         /* SAQ__TX_WATCH_SWEEP or _ABORT: where a job that was not waiting is watched */
    double watch_ms;   /* for how long ("%.0f" ms; < 0: not watched) */
    int form013;       /* saq 0.13's form: no compare-and-set, no status change, the
                        * record expires after ttl + 1 s */
} saq__tx_abort_t;
/* KEYS queued, incomplete, id, abort marker, active, watch; ARGV old, json,
 * marker ttl, reason, watch ms ('' = none), '013' or ''. Reply: OK (it was
 * not waiting), DEQUEUED (it was waiting) or CHANGED (0.26 form: the record
 * is no longer `old`). */
void saq__tx_abort(saq_queue_t *q, const saq__tx_abort_t *a, saq__call_t *c);

/* saq 0.13's abort of a job, as saq 0.13 writes it (not a script): MULTI,
 * LREM queued 0 id, ZREM incomplete id, EXPIRE id ttl + 1, SETEX marker ttl
 * reason, EXEC; issued by op, cb gets the EXEC reply (read it with
 * saq__tx_abort013_decode). Out of memory fails the op. */
void saq__tx_abort013_op(saq__op_t *op, const char *id, const char *key, int ttl, const char *reason,
                         saq__op_reply_fn cb);
/* The EXEC reply of saq__tx_abort013_op: DEQUEUED (it was waiting: n entries
 * taken out of `queued`) or OK (it was not). Pure. */
saq__tx_t saq__tx_abort013_decode(const redisReply *r, saq__tx_reply_t *out);

/* saq's blind update of an opaque record (a dump transform's, which Lua
 * cannot read): SET id json[0 .. len), PUBLISH id status; issued by op, cb
 * gets the PUBLISH reply. */
void saq__tx_overwrite_op(saq__op_t *op, const char *id, const char *json, size_t len,
                          const char *status, saq__op_reply_fn cb);

/* DELETE job id (its key: the abort marker's and the kept unreadable bytes'
 * names) whose record was rec[0 .. reclen) (NULL: none): the record, its
 * entries of queued, incomplete, active and the watch sets, the kept bytes,
 * and with del_marker its abort marker. check_active: refused while the id is
 * in `active`. KEYS id, queued, incomplete, active, sweep watch, abort watch,
 * abort marker, kept; ARGV rec ('' = none), check, del marker. Reply: OK or
 * DEQUEUED (n: the keys and entries removed), REFUSED (in `active`), CHANGED
 * (the record is no longer rec). */
void saq__tx_delete(saq_queue_t *q, const char *id, const char *key, const char *rec, size_t reclen,
                    int check_active, int del_marker, saq__call_t *c);

/* ABORT_DUE: an abort past its watch deadline (id from the abort watch set).
 * KEYS abort watch, id, alive, registry, active; ARGV the 0.26 and 0.13 registry
 * member prefixes. Reply: OK or DUE (with the record). */
void saq__tx_abort_due(saq_queue_t *q, const char *id, saq__call_t *c);

/* SCHEDULE: move the scheduled jobs due at now_s (epoch s) to `queued`,
 * under a lock of lock_ms. KEYS schedule lock, incomplete, queued; ARGV lock
 * ms, now. Reply: the ids moved (an array; nil when the lock was held). */
void saq__tx_schedule(saq_queue_t *q, long long lock_ms, double now_s, saq__call_t *c);

/* SWEEP: list `active` with the records, under a lock of lock_ms. KEYS sweep
 * lock, active; ARGV lock ms. Reply: {{id, record or nil}, ...} (empty when
 * the lock was held). */
void saq__tx_sweep(saq_queue_t *q, long long lock_ms, saq__call_t *c);

/* RECOVER a job whose record was `old` (compare-and-set): back to the queue,
 * or finished. */
typedef struct saq__tx_recover {
    const char *id;
    const char *old;    /* the record as read */
    size_t oldlen;
    const char *json;   /* the new record */
    size_t len;
    int retry;          /* 1: back to the queue, due at score; 0: finished with status and ttl */
    double score;       /* retry: epoch s; <= 0: pushed now (score "0") */
    int ttl;            /* finish: the record's ttl (> 0 expires, 0 kept, < 0 deleted) */
    const char *status; /* finish: the status published */
    int watch;          /* SAQ__TX_WATCH_NONE: the job is in `active`; _SWEEP or _ABORT:
                         * also when it is in no list, and dropped from that watch set */
} saq__tx_recover_t;
/* KEYS active, queued, incomplete, id[, watch]; ARGV old, json,
 * 'retry'|'finish', score, push, ttl, status[, '1']. Reply: OK or REFUSED. */
void saq__tx_recover(saq_queue_t *q, const saq__tx_recover_t *a, saq__call_t *c);

/* ALIVE: refresh worker wid's liveness entry for entry_ms, forgetting the
 * expired entries of forget[0 .. nforget) (NULL entries are sent as '').
 * KEYS alive, sweep watch, abort watch; ARGV wid, entry ms, forget...
 * Reply: read with saq__tx_alive_decode. */
void saq__tx_alive(saq_queue_t *q, const char *wid, unsigned long long entry_ms,
                   char *const *forget, size_t nforget, saq__call_t *c);
typedef struct saq__tx_alive_reply {
    redisReply *dead;   /* {wid, expiry ms, ...}: libsaq workers whose entry expired */
    redisReply *due;    /* sweep aborts past their watch deadline (ids) */
    redisReply *aborts; /* aborts past their watch deadline (ids) */
    int has_now;
    long long now;      /* the server's time, ms (when has_now) */
} saq__tx_alive_reply_t;
/* 0 when r is an ALIVE reply (then out is filled), -1 otherwise. Pure. */
int saq__tx_alive_decode(const redisReply *r, saq__tx_alive_reply_t *out);

/* OVERVIEW: the queue's figures in one snapshot (`figures` 1) or only the
 * registry sample behind its rates (0: what workers send at their registry
 * write). Samples are taken at most every SAQ__SAMPLE_SPACING_MS; the newest
 * SAQ__SAMPLES_KEPT are kept, for SAQ__SAMPLES_TTL_S after the last one.
 * KEYS queued, active, incomplete, registry, alive, samples; ARGV mode,
 * registry prefix, the other family's prefix, flat, spacing, kept, ttl.
 * Reply: see the script (scripts.c); read by overview.c. */
#define SAQ__SAMPLE_SPACING_MS 5000
#define SAQ__SAMPLES_KEPT 32
#define SAQ__SAMPLES_TTL_S 600
void saq__tx_overview(saq_queue_t *q, int figures, saq__call_t *c);

/* "saq:<queue>:libsaq:unreadable:<key>": where UNREADABLE keeps a record's
 * original bytes (malloc'd, NULL when out of memory). */
char *saq__tx_unreadable_key(saq_queue_t *q, const char *key);
/* UNREADABLE: settle failed a record `id` (one of this queue's job ids) that
 * a worker cannot use: json[0 .. len) replaces rec[0 .. reclen) (compare-and-
 * set), the original bytes are kept for ttl s; rec NULL: the key holds
 * another type than a string, and is kept itself (renamed). KEYS active,
 * incomplete, id, kept; ARGV rec, json, ttl, '1' for another type. Reply: OK
 * or REFUSED. */
void saq__tx_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                        const char *json, size_t len, int ttl, saq__call_t *c);

/* ---- prim.c: the transitions with their record updates ----
 * `j` is updated in place as saq does (status, result, error, completed,
 * ...), dumped and written; the queue's counters follow what was written.
 * done (may be NULL) runs once, on the loop thread: err is 0 or a SAQ_E*
 * code with msg; result is what the script answered (SAQ__TX_NONE on err;
 * SAQ__TX_ABORTED has msg = the abort reason). */
typedef void (*saq__done_fn)(void *ud, int err, const char *msg, saq__tx_t result);
#define SAQ__DEL_MARKER 1
#define SAQ__REWRITE 2 /* sent again after its reply was lost (the counters take its SAME answer) */
void saq__finish_job(saq_queue_t *q, saq_job_t *j, int status, const char *result,
                     const char *error, const saq__guard_t *guard, int flags, saq__done_fn done,
                     void *ud);
/* saq__finish_job's first half: j updated as saq does (status, result,
 * error, completed, progress) and dumped: the record FINISH writes
 * (malloc'd; *len). NULL on failure: *e and *msg (static) say why. */
char *saq__finish_record(saq_queue_t *q, saq_job_t *j, int status, const char *result, const char *error,
                         size_t *len, int *e, const char **msg);
/* One finish of a batch: j as saq__finish_record left it, with its record
 * (owned: saq__finish_jobs frees it). */
typedef struct saq__finish_item {
    saq_job_t *j;
    char *json;
    size_t len;
    const saq__guard_t *guard;
    int flags;          /* SAQ__DEL_MARKER, SAQ__REWRITE */
    saq__done_fn done;
    void *ud;
} saq__finish_item_t;
/* FINISH items[0 .. n) in one FINISHES call (one item, or out of memory: a
 * FINISH each); each done runs as saq__finish_job's would. The records are
 * freed; the array stays the caller's. */
void saq__finish_jobs(saq_queue_t *q, saq__finish_item_t *items, size_t n);
void saq__retry_job(saq_queue_t *q, saq_job_t *j, const char *error, const saq__guard_t *guard,
                    saq__done_fn done, void *ud);
/* Put back in the queue a job moved to `active` but never marked (lost move),
 * byte for byte as it is (compare-and-set on the record as read). */
void saq__requeue_unmarked(saq_queue_t *q, const char *id, const char *rec, size_t reclen);
/* Recover a job whose record was `old` (compare-and-set): retry or finish
 * aborted. It must be in `active`, unless flags has SAQ__RECOVER_UNLISTED (a
 * sweep's job after its abort, in no list; also dropped from the watch set). */
#define SAQ__RECOVER_UNLISTED 1
/* ...or finish it aborted (error NULL: keep the record's), whatever its
 * retries: an abort whose worker died (dropped from the abort watch set) */
#define SAQ__RECOVER_ABORTED 2
void saq__recover_job(saq_queue_t *q, const char *old, size_t oldlen, saq_job_t *j,
                      const char *error, int flags, saq__done_fn done, void *ud);
/* Settle failed a record a worker dequeued but cannot use (`why` says why),
 * keeping the original bytes in saq:<q>:libsaq:unreadable:<key> for a day.
 * Compare-and-set on the record as read (rec NULL: its key holds another
 * type than a string, and is renamed there). An id that is not one of this
 * queue's job ids is only dropped from `active`. */
void saq__settle_unreadable(saq_queue_t *q, const char *id, const char *rec, size_t reclen,
                            const char *why);
/* saq__settle_unreadable of an id whose key holds another type than a
 * string: `type` (NULL: not known) named in the job's error. */
void saq__settle_wrong_type(saq_queue_t *q, const char *id, const char *type);
/* Count a finished job in the queue's counters (complete, failed, aborted). */
void saq__count_finish(saq_queue_t *q, int status);
/* Write the registry entry for `wid` (spec 3.13): both key families when
 * dual (a worker makes itself visible to 0.13 and 0.26 readers with one zset
 * member). stats and metadata are raw JSON (metadata NULL: null); ttl in s.
 * done gets the EXEC's outcome (SAQ__TX_OK). */
void saq__write_registry(saq_queue_t *q, const char *wid, const char *stats, const char *metadata,
                         int ttl, int dual, saq__done_fn done, void *ud);

#endif
