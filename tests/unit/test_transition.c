/* SPDX-License-Identifier: MIT */
/* Unit tests: the typed Redis transitions (src/transition.c). Each builder
 * lays out its script's KEYS and ARGV exactly as the wire has them (the
 * layout saq and libsaq's scripts expect, byte for byte), agrees with the
 * KEYS[n]/ARGV[n] the Lua text reads, and every status reply a script can
 * send decodes to its saq__tx_t. No Redis: builders and decoders are pure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core.h"

static struct saq_queue Q; /* only the key names and settings the builders read */

static int setup(void **state)
{
    (void)state;
    memset(&Q, 0, sizeof Q);
    Q.set.name = "default";
    Q.set.dialect = SAQ__DIALECT_026;
    Q.k_jobprefix = "saq:job:default:";
    Q.jobprefix_len = strlen(Q.k_jobprefix);
    Q.k_incomplete = "saq:default:incomplete";
    Q.k_queued = "saq:default:queued";
    Q.k_active = "saq:default:active";
    Q.k_schedule = "saq:default:schedule";
    Q.k_sweep = "saq:default:sweep";
    Q.k_stats = "saq:default:stats";
    Q.k_alive = "saq:default:libsaq:alive";
    Q.k_watch = "saq:default:libsaq:sweeping";
    Q.k_abortwatch = "saq:default:libsaq:aborting";
    Q.k_samples = "saq:default:libsaq:samples";
    Q.k_paused = "saq:default:libsaq:paused";
    Q.k_wiprefix = "saq:default:worker_info:";
    Q.k_statsprefix = "saq:default:stats:";
    Q.have_lmove = 1;
    Q.server_version = 70200;
    return 0;
}

/* a dump transform (only its presence matters to the builders) */
static int fake_dump(const char *in, size_t in_len, char **out, size_t *out_len, void *ud)
{
    (void)in, (void)in_len, (void)out, (void)out_len, (void)ud;
    return -1;
}

/* Assert the call is `script` with nkeys KEYS and exactly the n arguments of
 * exp (C strings; a NULL entry is followed by a (bytes, length) pair for an
 * argument that is not a C string), then free it. */
static void expect_call(saq__call_t *c, int script, int nkeys, int n, ...)
{
    assert_false(c->oom);
    assert_int_equal(c->script, script);
    assert_int_equal(c->nkeys, nkeys);
    assert_int_equal(c->argc, n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        size_t len;
        if (!s) {
            s = va_arg(ap, const char *);
            len = va_arg(ap, size_t);
        } else {
            len = strlen(s);
        }
        if (c->len[i] != len || memcmp(c->argv[i], s, len))
            fail_msg("argument %d: got '%.*s' (%zu bytes), expected '%.*s' (%zu bytes)", i,
                     (int)c->len[i], c->argv[i], c->len[i], (int)len, s, len);
    }
    va_end(ap);
    saq__tx_call_free(c);
}

static saq_job_t *job(const char *key)
{
    saq_job_t *j = saq_job_new("f");
    saq_job_set_key(j, key);
    saq__job_set_queue(j, "default");
    return j;
}

/* ---- builders: the exact wire layout ---- */

static void test_enqueue(void **state)
{
    (void)state;
    saq_job_t *j = job("k1");
    saq__call_t c;
    static const char rec[] = "{\"a\": \"x\0y\"}"; /* a dump transform's bytes may hold NULs */
    saq__tx_enqueue(&Q, j, rec, sizeof rec - 1, &c);
    expect_call(&c, SCRIPT_ENQUEUE, 4, 6, "saq:default:incomplete", "saq:job:default:k1",
                "saq:default:queued", "saq:abort:k1", NULL, rec, sizeof rec - 1, "0");
    saq_job_set_scheduled(j, 1700000000.5);
    saq__tx_enqueue(&Q, j, "{}", 2, &c);
    expect_call(&c, SCRIPT_ENQUEUE, 4, 6, "saq:default:incomplete", "saq:job:default:k1",
                "saq:default:queued", "saq:abort:k1", "{}", "1700000000.5");
    saq_job_free(j);
}

/* ENQUEUES: incomplete and queued once, each job's id and marker, then each
 * job's json and score exactly as ENQUEUE writes them; ENQUEUE's own body */
static void test_enqueues(void **state)
{
    (void)state;
    saq_job_t *j1 = job("a"), *j2 = job("b");
    j2->scheduled = 1700000000.5;
    saq__tx_enqueue_t a[2] = {{j1, "{\"1\"}", 5}, {j2, "{\"2\"}", 5}};
    saq__call_t c, c1;
    saq__tx_enqueues(&Q, a, 2, &c);
    expect_call(&c, SCRIPT_ENQUEUES, 6, 10, "saq:default:incomplete", "saq:default:queued",
                "saq:job:default:a", "saq:abort:a", "saq:job:default:b", "saq:abort:b", "{\"1\"}", "0",
                "{\"2\"}", "1700000000.5");
    saq__tx_enqueues(&Q, &a[1], 1, &c);
    saq__tx_enqueue(&Q, j2, "{\"2\"}", 5, &c1); /* the same score text as ENQUEUE's */
    assert_int_equal(c.len[5], c1.len[5]);
    assert_memory_equal(c.argv[5], c1.argv[5], c.len[5]);
    saq__tx_call_free(&c);
    saq__tx_call_free(&c1);
    const char *t = saq__script_text[SCRIPT_ENQUEUES], *e = saq__script_text[SCRIPT_ENQUEUE];
    assert_non_null(strstr(t, "for i = 1, (#KEYS - 2) / 2 do"));
    assert_non_null(strstr(t, "enqueue(KEYS[1], KEYS[1 + 2 * i], KEYS[2], KEYS[2 + 2 * i], ARGV[2 * i - 1], ARGV[2 * i])"));
    assert_non_null(strstr(t, "or false"));
    const char *e1 = strstr(e, "\nreturn enqueue("), *e2 = strstr(t, "\nlocal out = {}");
    assert_non_null(e1);
    assert_int_equal(e1 - e, e2 - t);
    assert_memory_equal(e, t, (size_t)(e1 - e));
    saq_job_free(j1);
    saq_job_free(j2);
}

static void test_dequeue(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_dequeue(&Q, 7, &c);
    expect_call(&c, SCRIPT_DEQUEUE, 2, 4, "saq:default:queued", "saq:default:active", "7", "1");
    Q.have_lmove = 0; /* Redis before 6.2: RPOPLPUSH */
    saq__tx_dequeue(&Q, 1, &c);
    expect_call(&c, SCRIPT_DEQUEUE, 2, 4, "saq:default:queued", "saq:default:active", "1", "0");
    Q.server_version = 0; /* not known yet: LMOVE */
    saq__tx_dequeue(&Q, 1, &c);
    expect_call(&c, SCRIPT_DEQUEUE, 2, 4, "saq:default:queued", "saq:default:active", "1", "1");
}

static void test_mark(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_mark_t a = {.id = "saq:job:default:k", .key = "k", .json = "{\"s\": 1}", .len = 8,
                        .dequeued = "{\"q\"}xx", .dequeued_len = 5};
    saq__tx_mark(&Q, &a, &c);
    expect_call(&c, SCRIPT_MARK, 3, 8, "saq:default:active", "saq:job:default:k", "saq:abort:k",
                "{\"s\": 1}", "0", "0", "{\"q\"}", "0");
    a.dequeued = NULL; /* not queued when dequeued */
    a.resent = 1;
    a.opaque = 1;
    Q.set.dialect = SAQ__DIALECT_013;
    saq__tx_mark(&Q, &a, &c);
    expect_call(&c, SCRIPT_MARK, 3, 8, "saq:default:active", "saq:job:default:k", "saq:abort:k",
                "{\"s\": 1}", "1", "1", "", "1");
    a.opaque = 0;
    Q.set.dump = fake_dump; /* opaque records: never decoded */
    saq__tx_mark(&Q, &a, &c);
    expect_call(&c, SCRIPT_MARK, 3, 8, "saq:default:active", "saq:job:default:k", "saq:abort:k",
                "{\"s\": 1}", "1", "1", "", "1");
}

/* MARKS: one call for a dequeued batch, each job laid out as MARK lays it
 * (its per-job KEYS and ARGV), the flags once; the Lua reads them so */
static void test_marks(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_mark_t a[2] = {{.id = "saq:job:default:a", .key = "a", .json = "{\"a\"}", .len = 5,
                            .dequeued = "{\"qa\"}", .dequeued_len = 6},
                           {.id = "saq:job:default:b", .key = "b", .json = "{\"b\"}", .len = 5, .resent = 1,
                            .opaque = 1}};
    Q.set.dialect = SAQ__DIALECT_026;
    Q.set.dump = NULL;
    saq__tx_marks(&Q, a, 2, &c);
    expect_call(&c, SCRIPT_MARKS, 5, 13, "saq:default:active", "saq:job:default:a", "saq:abort:a",
                "saq:job:default:b", "saq:abort:b", "0", "0", "{\"a\"}", "{\"qa\"}", "0", "{\"b\"}", "", "1");
    Q.set.dialect = SAQ__DIALECT_013;
    Q.set.dump = fake_dump;
    saq__tx_marks(&Q, a, 1, &c);
    expect_call(&c, SCRIPT_MARKS, 3, 8, "saq:default:active", "saq:job:default:a", "saq:abort:a", "1", "1",
                "{\"a\"}", "{\"qa\"}", "0");
    Q.set.dialect = SAQ__DIALECT_026;
    Q.set.dump = NULL;
    /* the Lua: job i's id and marker are KEYS[2i], KEYS[2i+1]; its ARGV start at 3i */
    const char *t = saq__script_text[SCRIPT_MARKS];
    assert_non_null(strstr(t, "for i = 1, (#KEYS - 1) / 2 do"));
    assert_non_null(strstr(t, "local a = 3 * i"));
    assert_non_null(strstr(t, "mark(KEYS[1], KEYS[2 * i], KEYS[2 * i + 1], ARGV[a], ARGV[1], ARGV[2], ARGV[a + 1]"));
    assert_non_null(strstr(t, "ARGV[a + 2])"));
    /* MARK and MARKS run the same body */
    assert_memory_equal(saq__script_text[SCRIPT_MARK], t, strlen("local function mark("));
    const char *end1 = strstr(saq__script_text[SCRIPT_MARK], "\nend\n"), *end2 = strstr(t, "\nend\n");
    assert_non_null(end1);
    assert_int_equal(end1 - saq__script_text[SCRIPT_MARK], end2 - t);
    assert_memory_equal(saq__script_text[SCRIPT_MARK], t, (size_t)(end1 - saq__script_text[SCRIPT_MARK]));
}

static void test_finish(void **state)
{
    (void)state;
    saq_job_t *j = job("k");
    saq__call_t c;
    j->status = SAQ_STATUS_COMPLETE;
    j->ttl = 600;
    saq__tx_finish(&Q, j, "{}", 2, NULL, 0, &c); /* saq's own, unguarded */
    expect_call(&c, SCRIPT_FINISH, 4, 13, "saq:default:active", "saq:default:incomplete",
                "saq:job:default:k", "saq:abort:k", "{}", "600", "complete", "0", "0", "0", "0", "0",
                "");
    saq__guard_t g = {.attempts = 3, .started = 1700000000123LL, .expect = "{\"e\"}", .expect_len = 5};
    j->status = SAQ_STATUS_ABORTED;
    j->ttl = -1;
    saq__tx_finish(&Q, j, "{}", 2, &g, 1, &c);
    expect_call(&c, SCRIPT_FINISH, 4, 13, "saq:default:active", "saq:default:incomplete",
                "saq:job:default:k", "saq:abort:k", "{}", "-1", "aborted", "1", "3", "1700000000123",
                "0", "1", "{\"e\"}");
    Q.set.dialect = SAQ__DIALECT_013; /* guarded 0.13: the abort marker is checked */
    g.expect = NULL;
    j->status = SAQ_STATUS_FAILED;
    saq__tx_finish(&Q, j, "{}", 2, &g, 0, &c);
    expect_call(&c, SCRIPT_FINISH, 4, 13, "saq:default:active", "saq:default:incomplete",
                "saq:job:default:k", "saq:abort:k", "{}", "-1", "failed", "1", "3", "1700000000123",
                "1", "0", "");
    saq_job_free(j);
}

/* FINISHES: each job's KEYS (id, marker) after active and incomplete, then
 * each job's 9 FINISH arguments exactly as FINISH lays them out; the Lua
 * reads them so and runs FINISH's own body per job */
static void test_finishes(void **state)
{
    (void)state;
    saq_job_t *j1 = job("a"), *j2 = job("b");
    j1->status = SAQ_STATUS_COMPLETE;
    j1->ttl = 600;
    j2->status = SAQ_STATUS_FAILED;
    j2->ttl = -1;
    saq__guard_t g1 = {.attempts = 1, .started = 1700000000123LL, .expect = "{\"m\"}", .expect_len = 5};
    saq__guard_t g2 = {.attempts = 12, .started = 9};
    saq__tx_finish_t a[2] = {{j1, "{\"1\"}", 5, &g1, 0}, {j2, "{\"2\"}", 5, &g2, 1}};
    saq__call_t c;
    saq__tx_finishes(&Q, a, 2, &c);
    expect_call(&c, SCRIPT_FINISHES, 6, 24, "saq:default:active", "saq:default:incomplete",
                "saq:job:default:a", "saq:abort:a", "saq:job:default:b", "saq:abort:b",
                "{\"1\"}", "600", "complete", "1", "1", "1700000000123", "0", "0", "{\"m\"}",
                "{\"2\"}", "-1", "failed", "1", "12", "9", "0", "1", "");
    /* one job: the same arguments as its FINISH */
    saq__call_t c1;
    saq__tx_finishes(&Q, a, 1, &c);
    saq__tx_finish(&Q, j1, "{\"1\"}", 5, &g1, 0, &c1);
    assert_int_equal(c.argc, c1.argc);
    for (int i = 0; i < c.argc; i++)
        assert_true(c.len[i] == c1.len[i] && !memcmp(c.argv[i], c1.argv[i], c.len[i]));
    saq__tx_call_free(&c);
    saq__tx_call_free(&c1);
    const char *t = saq__script_text[SCRIPT_FINISHES], *f = saq__script_text[SCRIPT_FINISH];
    assert_non_null(strstr(t, "for i = 1, (#KEYS - 2) / 2 do"));
    assert_non_null(strstr(t, "local b = 9 * (i - 1)"));
    assert_non_null(strstr(t, "finish(KEYS[1], KEYS[2], KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[b + 1], ARGV[b + 2],"));
    assert_non_null(strstr(t, "ARGV[b + 9])"));
    const char *e1 = strstr(f, "\nreturn finish("), *e2 = strstr(t, "\nlocal out = {}");
    assert_non_null(e1);
    assert_int_equal(e1 - f, e2 - t); /* GUARD and FINISH's body: the same text */
    assert_memory_equal(f, t, (size_t)(e1 - f));
    saq_job_free(j1);
    saq_job_free(j2);
}

static void test_retry(void **state)
{
    (void)state;
    saq_job_t *j = job("k");
    saq__call_t c;
    saq__tx_retry(&Q, j, "{}", 2, 0, NULL, &c); /* due now: score exactly "0", pushed */
    expect_call(&c, SCRIPT_RETRY, 5, 13, "saq:default:active", "saq:default:queued",
                "saq:default:incomplete", "saq:job:default:k", "saq:abort:k", "{}", "0", "1", "0",
                "0", "0", "0", "");
    saq__guard_t g = {.attempts = 1, .started = 5, .expect = "E", .expect_len = 1};
    saq__tx_retry(&Q, j, "{}", 2, 1700000060.25, &g, &c); /* later: scored, not pushed */
    expect_call(&c, SCRIPT_RETRY, 5, 13, "saq:default:active", "saq:default:queued",
                "saq:default:incomplete", "saq:job:default:k", "saq:abort:k", "{}", "1700000060.25",
                "0", "1", "1", "5", "0", "E");
    saq_job_free(j);
}

static void test_update_and_replace(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_update_t a = {.id = "saq:job:default:k", .head = "{\"h\": 1", .err = "", .tail = "\"}",
                          .status = "queued"};
    saq__tx_update(&Q, &a, &c);
    expect_call(&c, SCRIPT_UPDATE, 1, 8, "saq:job:default:k", "{\"h\": 1", "", "\"}", "queued", "0",
                "0", "0");
    saq__guard_t g = {.attempts = 2, .started = 99};
    a.guard = &g;
    a.status = "active";
    a.err = ", \"error\": \"x\"";
    saq__tx_update(&Q, &a, &c);
    expect_call(&c, SCRIPT_UPDATE, 1, 8, "saq:job:default:k", "{\"h\": 1", ", \"error\": \"x\"", "\"}",
                "active", "1", "2", "99");
    saq__tx_replace(&Q, "saq:job:default:k", "A\0B", 3, "active", NULL, 0, &c);
    expect_call(&c, SCRIPT_REPLACE, 1, 4, "saq:job:default:k", NULL, "A\0B", (size_t)3, "active", "");
    saq__tx_replace(&Q, "saq:job:default:k", "AB", 2, "active", "OLD\0", 4, &c);
    expect_call(&c, SCRIPT_REPLACE, 1, 4, "saq:job:default:k", "AB", "active", NULL, "OLD\0", (size_t)4);
}

static void test_abort(void **state)
{
    (void)state;
    saq__call_t c;
    /* saq_queue_abort of a 0.26 record: compare-and-set, watched 2 s in the abort set */
    saq__tx_abort_t a = {.id = "saq:job:default:k", .key = "k", .old = "OLD", .oldlen = 3,
                         .json = "NEW", .len = 3, .ttl = 60, .reason = "stop",
                         .watch = SAQ__TX_WATCH_ABORT, .watch_ms = 2000};
    saq__tx_abort(&Q, &a, &c);
    expect_call(&c, SCRIPT_ABORT, 6, 13, "saq:default:queued", "saq:default:incomplete",
                "saq:job:default:k", "saq:abort:k", "saq:default:active", "saq:default:libsaq:aborting",
                "OLD", "NEW", "60", "stop", "2000", "", "");
    /* the sweep's 0.13 abort: no records, watched in the sweep set */
    a = (saq__tx_abort_t){.id = "saq:job:default:k", .key = "k", .old = "OLD", .oldlen = 3, .ttl = 5,
                          .reason = "swept", .watch = SAQ__TX_WATCH_SWEEP, .watch_ms = 1250.4,
                          .form013 = 1};
    saq__tx_abort(&Q, &a, &c);
    expect_call(&c, SCRIPT_ABORT, 6, 13, "saq:default:queued", "saq:default:incomplete",
                "saq:job:default:k", "saq:abort:k", "saq:default:active", "saq:default:libsaq:sweeping",
                "", "", "5", "swept", "1250", "013", "sweep");
    a.watch_ms = -1; /* not watched */
    a.form013 = 0;
    a.json = "N";
    a.len = 1;
    saq__tx_abort(&Q, &a, &c);
    expect_call(&c, SCRIPT_ABORT, 6, 13, "saq:default:queued", "saq:default:incomplete",
                "saq:job:default:k", "saq:abort:k", "saq:default:active", "saq:default:libsaq:sweeping",
                "OLD", "N", "5", "swept", "", "", "sweep");
}

static void test_recover(void **state)
{
    (void)state;
    saq__call_t c;
    /* an unmarked move put back byte for byte (saq__requeue_unmarked's form) */
    saq__tx_recover_t a = {.id = "saq:job:default:k", .old = "R", .oldlen = 1, .json = "R", .len = 1,
                           .retry = 1, .status = "queued"};
    saq__tx_recover(&Q, &a, &c);
    expect_call(&c, SCRIPT_RECOVER, 4, 11, "saq:default:active", "saq:default:queued",
                "saq:default:incomplete", "saq:job:default:k", "R", "R", "retry", "0", "1", "0",
                "queued");
    /* a sweep's job after its abort, retried later: in no list, dropped from the sweep watch */
    a = (saq__tx_recover_t){.id = "saq:job:default:k", .old = "O", .oldlen = 1, .json = "N", .len = 1,
                            .retry = 1, .score = 1700000001.5, .ttl = 600, .status = "aborted",
                            .watch = SAQ__TX_WATCH_SWEEP};
    saq__tx_recover(&Q, &a, &c);
    expect_call(&c, SCRIPT_RECOVER, 5, 13, "saq:default:active", "saq:default:queued",
                "saq:default:incomplete", "saq:job:default:k", "saq:default:libsaq:sweeping", "O", "N",
                "retry", "1700000001.5", "0", "600", "aborted", "1");
    /* an abort whose worker died: finished aborted (a score is ignored), from the abort watch */
    a.retry = 0;
    a.watch = SAQ__TX_WATCH_ABORT;
    saq__tx_recover(&Q, &a, &c);
    expect_call(&c, SCRIPT_RECOVER, 5, 13, "saq:default:active", "saq:default:queued",
                "saq:default:incomplete", "saq:job:default:k", "saq:default:libsaq:aborting", "O", "N",
                "finish", "0", "1", "600", "aborted", "1");
}

static void test_upkeep(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_schedule(&Q, 900, 1700000000.25, &c);
    expect_call(&c, SCRIPT_SCHEDULE, 3, 5, "saq:default:schedule", "saq:default:incomplete",
                "saq:default:queued", "900", "1700000000.25");
    saq__tx_sweep(&Q, 54000, &c);
    expect_call(&c, SCRIPT_SWEEP, 2, 3, "saq:default:sweep", "saq:default:active", "54000");
    saq__tx_abort_due(&Q, "saq:job:default:k", &c);
    expect_call(&c, SCRIPT_ABORT_DUE, 5, 7, "saq:default:libsaq:aborting", "saq:job:default:k",
                "saq:default:libsaq:alive", "saq:default:stats", "saq:default:active",
                "saq:default:worker_info:", "saq:default:stats:");
    saq__tx_unreadable(&Q, "saq:job:default:k", "BAD\0", 4, "{}", 2, 86400, &c);
    expect_call(&c, SCRIPT_UNREADABLE, 4, 8, "saq:default:active", "saq:default:incomplete",
                "saq:job:default:k", "saq:default:libsaq:unreadable:k", NULL, "BAD\0", (size_t)4, "{}",
                "86400", "0");
    /* a key of another type than a string: no bytes to compare, the key itself is kept */
    saq__tx_unreadable(&Q, "saq:job:default:k", NULL, 0, "{}", 2, 86400, &c);
    expect_call(&c, SCRIPT_UNREADABLE, 4, 8, "saq:default:active", "saq:default:incomplete",
                "saq:job:default:k", "saq:default:libsaq:unreadable:k", "", "{}", "86400", "1");
}

/* issue 19: DELETE's KEYS (the record, every list and set, the marker, the
 * kept bytes) and ARGV (the record as read, check active, delete marker) */
static void test_delete(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_delete(&Q, "saq:job:default:k", "k", "{\"a\"}", 5, 1, 1, &c);
    expect_call(&c, SCRIPT_DELETE, 8, 11, "saq:job:default:k", "saq:default:queued",
                "saq:default:incomplete", "saq:default:active", "saq:default:libsaq:sweeping",
                "saq:default:libsaq:aborting", "saq:abort:k", "saq:default:libsaq:unreadable:k",
                "{\"a\"}", "1", "1");
    /* no record read; in a cluster the marker is in the queue's slot */
    Q.set.url.topo = SAQ__TOPO_CLUSTER;
    saq__tx_delete(&Q, "saq:job:default:k", "k", NULL, 0, 0, 0, &c);
    expect_call(&c, SCRIPT_DELETE, 8, 11, "saq:job:default:k", "saq:default:queued",
                "saq:default:incomplete", "saq:default:active", "saq:default:libsaq:sweeping",
                "saq:default:libsaq:aborting", "saq:default:abort:k", "saq:default:libsaq:unreadable:k",
                "", "0", "0");
}

static void max_index(const char *text, const char *what, int *out);

/* GIVE_BACK's KEYS (active, queued, the id, its abort marker) and ARGV (the
 * record as dequeued, check marker: the 0.13 dialect) */
static void test_give_back(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_give_back(&Q, "saq:job:default:k", "{\"q\"}", 5, &c);
    expect_call(&c, SCRIPT_GIVE_BACK, 4, 6, "saq:default:active", "saq:default:queued", "saq:job:default:k",
                "saq:abort:k", "{\"q\"}", "0");
    Q.set.dialect = SAQ__DIALECT_013; /* its aborts leave the record: the marker tells */
    saq__tx_give_back(&Q, "saq:job:default:k", "", 0, &c);
    expect_call(&c, SCRIPT_GIVE_BACK, 4, 6, "saq:default:active", "saq:default:queued", "saq:job:default:k",
                "saq:abort:k", "", "1");
    int keys, args;
    max_index(saq__script_text[SCRIPT_GIVE_BACK], "KEYS", &keys);
    max_index(saq__script_text[SCRIPT_GIVE_BACK], "ARGV", &args);
    assert_int_equal(keys, 4);
    assert_int_equal(args, 2);
}

static void test_overview(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_overview(&Q, 1, &c);
    expect_call(&c, SCRIPT_OVERVIEW, 7, 14, "saq:default:queued", "saq:default:active",
                "saq:default:incomplete", "saq:default:stats", "saq:default:libsaq:alive",
                "saq:default:libsaq:samples", "saq:default:libsaq:paused", "o", "saq:default:worker_info:", "saq:default:stats:", "0",
                "5000", "32", "600");
    /* a worker's sample; 0.13 reads the flat stats family first */
    Q.set.dialect = SAQ__DIALECT_013;
    saq__tx_overview(&Q, 0, &c);
    expect_call(&c, SCRIPT_OVERVIEW, 7, 14, "saq:default:queued", "saq:default:active",
                "saq:default:incomplete", "saq:default:stats", "saq:default:libsaq:alive",
                "saq:default:libsaq:samples", "saq:default:libsaq:paused", "s", "saq:default:stats:", "saq:default:worker_info:", "1",
                "5000", "32", "600");
}

static void test_alive(void **state)
{
    (void)state;
    saq__call_t c;
    saq__tx_alive(&Q, "w1", 2000, NULL, 0, &c);
    expect_call(&c, SCRIPT_ALIVE, 3, 5, "saq:default:libsaq:alive", "saq:default:libsaq:sweeping",
                "saq:default:libsaq:aborting", "w1", "2000");
    /* more ids to forget than the call holds inline: all sent, in order */
    char *forget[20], names[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "d%d", i);
        forget[i] = names[i];
    }
    forget[3] = NULL; /* sent as '' */
    saq__tx_alive(&Q, "w1", 18446744073709551615ULL, forget, 20, &c);
    assert_false(c.oom);
    assert_int_equal(c.argc, 25);
    assert_int_equal(c.nkeys, 3);
    assert_string_equal(c.argv[4], "18446744073709551615");
    for (int i = 0; i < 20; i++)
        assert_string_equal(c.argv[5 + i], i == 3 ? "" : names[i]);
    saq__tx_call_free(&c);
}

/* Every builder's KEYS and ARGV counts are the highest KEYS[n] and ARGV[n]
 * its script's Lua text reads (the layout and the text agree). */
static void max_index(const char *text, const char *what, int *out)
{
    *out = 0;
    size_t n = strlen(what);
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) {
        int v;
        if (p[n] == '[' && sscanf(p + n + 1, "%d]", &v) == 1 && v > *out)
            *out = v;
    }
}

static void test_layouts_match_the_lua(void **state)
{
    (void)state;
    saq_job_t *j = job("k");
    saq__call_t calls[SCRIPT_COUNT_];
    saq__tx_enqueue(&Q, j, "{}", 2, &calls[SCRIPT_ENQUEUE]);
    saq__tx_dequeue(&Q, 1, &calls[SCRIPT_DEQUEUE]);
    saq__tx_mark(&Q, &(saq__tx_mark_t){.id = "i", .key = "k", .json = "{}", .len = 2}, &calls[SCRIPT_MARK]);
    saq__tx_finish(&Q, j, "{}", 2, NULL, 0, &calls[SCRIPT_FINISH]);
    saq__tx_retry(&Q, j, "{}", 2, 0, NULL, &calls[SCRIPT_RETRY]);
    saq__tx_update(&Q, &(saq__tx_update_t){.id = "i", .head = "", .err = "", .tail = "", .status = "s"},
                   &calls[SCRIPT_UPDATE]);
    saq__tx_abort(&Q, &(saq__tx_abort_t){.id = "i", .key = "k", .old = "", .json = "", .reason = "r"},
                  &calls[SCRIPT_ABORT]);
    saq__tx_schedule(&Q, 1, 1, &calls[SCRIPT_SCHEDULE]);
    saq__tx_sweep(&Q, 1, &calls[SCRIPT_SWEEP]);
    saq__tx_recover(&Q, &(saq__tx_recover_t){.id = "i", .old = "", .json = "", .status = "s",
                                             .watch = SAQ__TX_WATCH_SWEEP},
                    &calls[SCRIPT_RECOVER]); /* the full form: the optional key and argument too */
    saq__tx_replace(&Q, "i", "", 0, "s", NULL, 0, &calls[SCRIPT_REPLACE]);
    saq__tx_alive(&Q, "w", 1, NULL, 0, &calls[SCRIPT_ALIVE]);
    saq__tx_unreadable(&Q, "saq:job:default:k", "", 0, "", 0, 1, &calls[SCRIPT_UNREADABLE]);
    saq__tx_abort_due(&Q, "i", &calls[SCRIPT_ABORT_DUE]);
    saq__tx_overview(&Q, 1, &calls[SCRIPT_OVERVIEW]);
    saq__tx_delete(&Q, "i", "k", "{}", 2, 1, 1, &calls[SCRIPT_DELETE]);
    /* LIMIT, LIMIT_RELEASE and LIMIT_INFO (after DELETE) are laid out by the worker's limit.c
     * (a batch's per-job keys) and limitinfo.c; integration-limit runs them */
    for (int s = 0; s <= SCRIPT_DELETE; s++) {
        int keys, args;
        max_index(saq__script_text[s], "KEYS", &keys);
        max_index(saq__script_text[s], "ARGV", &args);
        if (s == SCRIPT_FLOW) {
            /* flow.c lays FLOW out (4 KEYS; create's fixed ARGV end at 11, its
             * members follow in fours): integration-flow runs every op */
            assert_int_equal(keys, 4);
            assert_int_equal(args, 11);
            continue;
        }
        if (calls[s].script != s || calls[s].nkeys != keys || calls[s].argc - calls[s].nkeys != args)
            fail_msg("script %d: builder has %d KEYS and %d ARGV, the Lua reads KEYS[%d] and ARGV[%d]",
                     s, calls[s].nkeys, calls[s].argc - calls[s].nkeys, keys, args);
        saq__tx_call_free(&calls[s]);
    }
    saq_job_free(j);
}

/* ---- decoding every reply a script sends ---- */

static redisReply R_int(long long v) { return (redisReply){.type = REDIS_REPLY_INTEGER, .integer = v}; }
static redisReply R_str(const char *s)
{
    return (redisReply){.type = REDIS_REPLY_STRING, .str = (char *)s, .len = strlen(s)};
}
static redisReply R_nil(void) { return (redisReply){.type = REDIS_REPLY_NIL}; }
static redisReply R_arr(redisReply **e, size_t n)
{
    return (redisReply){.type = REDIS_REPLY_ARRAY, .element = e, .elements = n};
}

static void test_decode_status_replies(void **state)
{
    (void)state;
    saq__tx_reply_t x;
    redisReply one = R_int(1), zero = R_int(0), m1 = R_int(-1), m2 = R_int(-2), m3 = R_int(-3),
               three = R_int(3), two = R_int(2), nil = R_nil();
    redisReply st_aborting = R_str("aborting"), st_active = R_str("active"), rec = R_str("{\"r\"}"),
               marker = R_str("stopped by hand"), err = R_str("the reason");

    /* ENQUEUE: 1 or nil */
    assert_int_equal(saq__tx_decode(SCRIPT_ENQUEUE, &one, NULL), SAQ__TX_OK);
    assert_int_equal(saq__tx_decode(SCRIPT_ENQUEUE, &nil, NULL), SAQ__TX_REFUSED);
    assert_int_equal(saq__tx_decode(SCRIPT_ENQUEUE, NULL, NULL), SAQ__TX_NONE);

    /* FINISH and RETRY: {1}, {3}, {-2}, {-1, error} */
    for (int s = SCRIPT_FINISH; s <= SCRIPT_RETRY; s++) {
        redisReply *e1[] = {&one}, *e3[] = {&three}, *e2[] = {&m2}, *ea[] = {&m1, &err};
        redisReply a1 = R_arr(e1, 1), a3 = R_arr(e3, 1), a2 = R_arr(e2, 1), aa = R_arr(ea, 2),
                   empty = R_arr(NULL, 0);
        assert_int_equal(saq__tx_decode(s, &a1, &x), SAQ__TX_OK);
        assert_int_equal(saq__tx_decode(s, &a3, &x), SAQ__TX_SAME);
        assert_int_equal(saq__tx_decode(s, &a2, &x), SAQ__TX_LOST);
        assert_int_equal(saq__tx_decode(s, &aa, &x), SAQ__TX_ABORTED);
        assert_int_equal(x.code, SAQ__TX_ABORTED);
        assert_string_equal(x.text, "the reason");
        assert_int_equal(saq__tx_decode(s, &empty, &x), SAQ__TX_NONE);
        assert_int_equal(saq__tx_decode(s, &one, &x), SAQ__TX_NONE); /* not the script's shape */
    }

    /* MARK: {1}, {0}, {-3}, {-1, 'aborting', record[, marker]}, {-1, status, record} */
    {
        redisReply *e1[] = {&one}, *e0[] = {&zero}, *e3[] = {&m3};
        redisReply *eab[] = {&m1, &st_aborting, &rec}, *eabm[] = {&m1, &st_aborting, &rec, &marker};
        redisReply *etk[] = {&m1, &st_active, &rec}, *ebad[] = {&two};
        redisReply a1 = R_arr(e1, 1), a0 = R_arr(e0, 1), a3 = R_arr(e3, 1), aab = R_arr(eab, 3),
                   aabm = R_arr(eabm, 4), atk = R_arr(etk, 3), abad = R_arr(ebad, 1);
        assert_int_equal(saq__tx_decode(SCRIPT_MARK, &a1, &x), SAQ__TX_OK);
        assert_int_equal(saq__tx_decode(SCRIPT_MARK, &a0, &x), SAQ__TX_REFUSED);
        assert_int_equal(saq__tx_decode(SCRIPT_MARK, &a3, &x), SAQ__TX_OPAQUE);
        assert_int_equal(saq__tx_decode(SCRIPT_MARK, &aab, &x), SAQ__TX_ABORTED);
        assert_ptr_equal(x.record, &rec);
        assert_null(x.text); /* no marker: the record's own error is the reason */
        assert_int_equal(saq__tx_decode(SCRIPT_MARK, &aabm, &x), SAQ__TX_ABORTED);
        assert_ptr_equal(x.record, &rec);
        assert_string_equal(x.text, "stopped by hand");
        assert_int_equal(saq__tx_decode(SCRIPT_MARK, &atk, &x), SAQ__TX_TAKEN);
        assert_string_equal(x.text, "active");
        assert_ptr_equal(x.record, &rec);
        assert_int_equal(saq__tx_decode(SCRIPT_MARK, &abad, &x), SAQ__TX_NONE);
        /* GIVE_BACK answers in MARK's shapes: {1} given back, {0} gone, {-1, 'aborting', record,
         * marker} (0.13's marker), {-1, 'changed', record} */
        redisReply st_changed = R_str("changed");
        redisReply *ech[] = {&m1, &st_changed, &rec};
        redisReply ach = R_arr(ech, 3);
        assert_int_equal(saq__tx_decode(SCRIPT_GIVE_BACK, &a1, &x), SAQ__TX_OK);
        assert_int_equal(saq__tx_decode(SCRIPT_GIVE_BACK, &a0, &x), SAQ__TX_REFUSED);
        assert_int_equal(saq__tx_decode(SCRIPT_GIVE_BACK, &aabm, &x), SAQ__TX_ABORTED);
        assert_ptr_equal(x.record, &rec);
        assert_string_equal(x.text, "stopped by hand");
        assert_int_equal(saq__tx_decode(SCRIPT_GIVE_BACK, &ach, &x), SAQ__TX_TAKEN);
        assert_ptr_equal(x.record, &rec);
    }

    /* UPDATE, REPLACE, RECOVER, UNREADABLE: 1 or 0 */
    int flat[] = {SCRIPT_UPDATE, SCRIPT_REPLACE, SCRIPT_RECOVER, SCRIPT_UNREADABLE};
    for (size_t i = 0; i < sizeof flat / sizeof flat[0]; i++) {
        assert_int_equal(saq__tx_decode(flat[i], &one, NULL), SAQ__TX_OK);
        assert_int_equal(saq__tx_decode(flat[i], &zero, NULL), SAQ__TX_REFUSED);
        assert_int_equal(saq__tx_decode(flat[i], &two, NULL), SAQ__TX_NONE);
        assert_int_equal(saq__tx_decode(flat[i], &nil, NULL), SAQ__TX_NONE);
    }

    /* ABORT: -1, -2, 0, n > 0 */
    assert_int_equal(saq__tx_decode(SCRIPT_ABORT, &m1, &x), SAQ__TX_CHANGED);
    assert_int_equal(saq__tx_decode(SCRIPT_ABORT, &m2, &x), SAQ__TX_REFUSED);
    assert_int_equal(saq__tx_decode(SCRIPT_ABORT, &zero, &x), SAQ__TX_OK);
    assert_int_equal(saq__tx_decode(SCRIPT_ABORT, &two, &x), SAQ__TX_DEQUEUED);
    assert_int_equal(x.n, 2);
    assert_int_equal(saq__tx_decode(SCRIPT_ABORT, &nil, &x), SAQ__TX_NONE);
    /* DELETE: -1 changed, -2 in `active`, n >= 0 the keys and entries removed */
    assert_int_equal(saq__tx_decode(SCRIPT_DELETE, &m1, &x), SAQ__TX_CHANGED);
    assert_int_equal(saq__tx_decode(SCRIPT_DELETE, &m2, &x), SAQ__TX_REFUSED);
    assert_int_equal(saq__tx_decode(SCRIPT_DELETE, &zero, &x), SAQ__TX_OK);
    assert_int_equal(x.n, 0);
    assert_int_equal(saq__tx_decode(SCRIPT_DELETE, &two, &x), SAQ__TX_DEQUEUED);
    assert_int_equal(x.n, 2);
    assert_int_equal(saq__tx_decode(SCRIPT_DELETE, &nil, &x), SAQ__TX_NONE);

    /* ABORT_DUE: {0}, {1, record} */
    {
        redisReply *e0[] = {&zero}, *e1[] = {&one, &rec}, *e1n[] = {&one, &nil};
        redisReply a0 = R_arr(e0, 1), a1 = R_arr(e1, 2), a1n = R_arr(e1n, 2);
        assert_int_equal(saq__tx_decode(SCRIPT_ABORT_DUE, &a0, &x), SAQ__TX_OK);
        assert_int_equal(saq__tx_decode(SCRIPT_ABORT_DUE, &a1, &x), SAQ__TX_DUE);
        assert_ptr_equal(x.record, &rec);
        assert_int_equal(saq__tx_decode(SCRIPT_ABORT_DUE, &a1n, &x), SAQ__TX_NONE);
    }

    /* scripts whose replies are not status codes */
    assert_int_equal(saq__tx_decode(SCRIPT_DEQUEUE, &one, &x), SAQ__TX_NONE);
    assert_int_equal(saq__tx_decode(SCRIPT_SCHEDULE, &one, &x), SAQ__TX_NONE);
}

static void test_decode_other_replies(void **state)
{
    (void)state;
    saq__tx_reply_t x;
    redisReply id1 = R_str("saq:job:default:a"), rec1 = R_str("{}"), id2 = R_str("saq:job:default:b"),
               nil = R_nil(), one = R_int(1), zero = R_int(0), now = R_int(1700000000123LL);
    /* DEQUEUE: {id, record, ...} */
    redisReply *pairs[] = {&id1, &rec1, &id2, &nil};
    redisReply dq = R_arr(pairs, 4);
    assert_int_equal(saq__tx_dequeued(&dq), 2);
    assert_ptr_equal(saq__tx_dequeued_id(&dq, 1), &id2);
    assert_ptr_equal(saq__tx_dequeued_record(&dq, 0), &rec1);
    assert_ptr_equal(saq__tx_dequeued_record(&dq, 1), &nil);
    assert_int_equal(saq__tx_dequeued(&one), 0);
    assert_int_equal(saq__tx_dequeued(NULL), 0);

    /* saq 0.13's abort pipeline: EXEC [LREM, ZREM, EXPIRE, SETEX] */
    redisReply *w[] = {&one, &one, &one, &one}, *nw[] = {&zero, &one, &one, &one};
    redisReply waiting = R_arr(w, 4), running = R_arr(nw, 4);
    assert_int_equal(saq__tx_abort013_decode(&waiting, &x), SAQ__TX_DEQUEUED);
    assert_int_equal(x.n, 1);
    assert_int_equal(saq__tx_abort013_decode(&running, &x), SAQ__TX_OK);
    assert_int_equal(saq__tx_abort013_decode(&nil, &x), SAQ__TX_OK);

    /* ALIVE: {expired, sweep watch due, now, abort watch due} */
    redisReply *dead_e[] = {&id1, &rec1};
    redisReply dead = R_arr(dead_e, 2), due = R_arr(NULL, 0), ab = R_arr(NULL, 0);
    redisReply *al[] = {&dead, &due, &now, &ab};
    redisReply alive = R_arr(al, 4);
    saq__tx_alive_reply_t a;
    assert_int_equal(saq__tx_alive_decode(&alive, &a), 0);
    assert_ptr_equal(a.dead, &dead);
    assert_ptr_equal(a.due, &due);
    assert_ptr_equal(a.aborts, &ab);
    assert_true(a.has_now);
    assert_int_equal(a.now, 1700000000123LL);
    al[2] = &nil; /* no server time: the rest is still read */
    assert_int_equal(saq__tx_alive_decode(&alive, &a), 0);
    assert_false(a.has_now);
    al[3] = &one; /* not an ALIVE reply */
    assert_int_equal(saq__tx_alive_decode(&alive, &a), -1);
    alive.elements = 3;
    assert_int_equal(saq__tx_alive_decode(&alive, &a), -1);
    assert_int_equal(saq__tx_alive_decode(NULL, &a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_enqueue, setup),
        cmocka_unit_test_setup(test_enqueues, setup),
        cmocka_unit_test_setup(test_dequeue, setup),
        cmocka_unit_test_setup(test_mark, setup),
        cmocka_unit_test_setup(test_marks, setup),
        cmocka_unit_test_setup(test_finish, setup),
        cmocka_unit_test_setup(test_finishes, setup),
        cmocka_unit_test_setup(test_retry, setup),
        cmocka_unit_test_setup(test_update_and_replace, setup),
        cmocka_unit_test_setup(test_abort, setup),
        cmocka_unit_test_setup(test_recover, setup),
        cmocka_unit_test_setup(test_upkeep, setup),
        cmocka_unit_test_setup(test_alive, setup),
        cmocka_unit_test_setup(test_overview, setup),
        cmocka_unit_test_setup(test_delete, setup),
        cmocka_unit_test_setup(test_give_back, setup),
        cmocka_unit_test_setup(test_layouts_match_the_lua, setup),
        cmocka_unit_test_setup(test_decode_status_replies, setup),
        cmocka_unit_test_setup(test_decode_other_replies, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
