/* SPDX-License-Identifier: MIT */
/* Unit tests: the job record codec (src/job.c): saq's to_dict omission rules,
 * the tolerant reader, the 0.13 dialect, saq's keyword split and retry delays. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

#include <math.h>

static saq_job_t *parse(const char *s, int *rc)
{
    char err[256];
    saq_job_t *j = calloc(1, sizeof *j);
    saq__job_init(j);
    *rc = saq__job_parse(j, s, strlen(s), err, sizeof err);
    return j;
}

static void test_minimal_record_is_exact(void **state)
{
    (void)state;
    /* checklist 49: only function and key -> exactly these two members */
    saq_job_t *j = saq_job_new("f");
    saq_job_set_key(j, "a");
    assert_string_equal(saq_job_to_json(j), "{\"function\": \"f\", \"key\": \"a\"}");
    saq_job_set_meta(j, "{\"x\": 1}");
    saq__job_set_queue(j, "default");
    assert_string_equal(saq_job_to_json(j),
                        "{\"function\": \"f\", \"queue\": \"default\", \"key\": \"a\", \"meta\": {\"x\": 1}}");
    assert_string_equal(saq_job_id(j), "saq:job:default:a");
    saq_job_set_meta(j, "{}"); /* empty meta is omitted */
    assert_null(saq_job_meta(j));
    saq_job_free(j);
}

static void test_defaults_and_omission(void **state)
{
    (void)state;
    saq_job_t *j = saq_job_new("f");
    saq_job_set_key(j, "k");
    assert_true(saq_job_timeout(j) == 10);
    assert_int_equal(saq_job_retries(j), 1);
    assert_int_equal(saq_job_ttl(j), 600);
    /* values equal to the defaults (Python equality: 10 == 10.0, 0 == False) are omitted */
    saq_job_set_timeout(j, 10.0);
    saq_job_set_retry_backoff(j, 0, 0);
    saq_job_set_progress(j, 0);
    assert_string_equal(saq_job_to_json(j), "{\"function\": \"f\", \"key\": \"k\"}");
    saq_job_set_timeout(j, 0.05);
    saq_job_set_retries(j, 3);
    saq_job_set_retry_delay(j, 2);
    saq_job_set_retry_backoff(j, 1, 0);
    saq_job_set_ttl(j, -1);
    saq_job_set_heartbeat(j, 1);
    assert_string_equal(saq_job_to_json(j),
                        "{\"function\": \"f\", \"key\": \"k\", \"timeout\": 0.05, \"heartbeat\": 1, "
                        "\"retries\": 3, \"ttl\": -1, \"retry_delay\": 2.0, \"retry_backoff\": true}");
    saq_job_set_retry_backoff(j, 1, 30);
    assert_non_null(strstr(saq_job_to_json(j), "\"retry_backoff\": 30"));
    saq_job_set_timeout(j, -1); /* apply()/map() without a timeout store null */
    assert_non_null(strstr(saq_job_to_json(j), "\"timeout\": null"));
    assert_true(saq_job_timeout(j) == 0);
    saq_job_free(j);
}

static void test_tolerant_reader(void **state)
{
    (void)state;
    int rc;
    /* unknown fields kept verbatim, missing ones defaulted, status any case,
     * timeout null = no limit, NaN and big integers kept byte for byte */
    const char *rec = "{\"function\": \"add\", \"kwargs\": {\"n\": 123456789012345678901234567890, \"f\": NaN}, "
                      "\"queue\": \"q\", \"key\": \"k1\", \"timeout\": null, \"status\": \"QUEUED\", "
                      "\"future_field\": [1, 2], \"attempts\": 2.0, \"queued\": 1700000000123, "
                      "\"result\": false, \"meta\": {}}";
    saq_job_t *j = parse(rec, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(saq_job_kwargs(j), "{\"n\": 123456789012345678901234567890, \"f\": NaN}");
    assert_int_equal(saq_job_status_code(j), SAQ_STATUS_QUEUED);
    assert_true(saq_job_timeout(j) == 0);
    assert_int_equal(saq_job_retries(j), 1);
    assert_int_equal(saq_job_attempts(j), 2);
    assert_int_equal(saq_job_queued_ms(j), 1700000000123LL);
    assert_string_equal(saq_job_result(j), "false"); /* falsy results are kept */
    assert_null(saq_job_meta(j));
    const char *out = saq_job_to_json(j);
    assert_non_null(strstr(out, "\"future_field\": [1, 2]"));
    assert_non_null(strstr(out, "\"timeout\": null"));
    assert_non_null(strstr(out, "123456789012345678901234567890"));
    /* a second round trip is byte-identical */
    saq_job_t *j2 = parse(out, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(saq_job_to_json(j2), out);
    saq_job_free(j);
    saq_job_free(j2);
}

static void test_reader_errors(void **state)
{
    (void)state;
    const char *bad[] = {"", "[]", "{\"key\": \"a\"}" /* no function */, "{\"function\": 1}",
                         "{\"function\": \"f\", \"status\": \"deferred\"}", "{\"function\": \"f\"",
                         "{\"function\": \"f\", \"attempts\": \"x\"}", "{\"function\": \"f\"} x",
                         "{\"function\": \"f\", \"kwargs\": [1]}",
                         /* names C would read short, or empty */
                         "{\"function\": \"f\\u0000g\"}", "{\"function\": \"\"}",
                         "{\"function\": \"f\", \"key\": \"\"}", "{\"function\": \"f\", \"key\": \"a\\u0000b\"}",
                         "{\"function\": \"f\", \"queue\": \"q\\u0000x\"}",
                         /* names in invalid UTF-8 (fuzz_job): written back as U+FFFD they
                          * would name another record; Python cannot read them at all */
                         "{\"function\": \"f\", \"key\": \"\xbf\xff" "800\"}",
                         "{\"function\": \"f\xff\", \"key\": \"k\"}",
                         "{\"function\": \"f\", \"queue\": \"q\xed\xa0\x80\"}",
                         "{\"function\": \"f\", \"status\": \"queued\xc3\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        saq_job_t j;
        saq__job_init(&j);
        assert_int_equal(saq__job_parse(&j, bad[i], strlen(bad[i]), err, sizeof err), SAQ_EPROTO);
        assert_true(err[0]);
        saq__job_clear(&j);
    }
}

static void test_dialect_013_never_writes_new_fields(void **state)
{
    (void)state;
    int rc;
    saq_job_t *j = parse("{\"function\": \"f\", \"key\": \"k\", \"worker_id\": \"w1\", \"priority\": 3, "
                         "\"group_key\": \"g\", \"status\": \"active\"}",
                         &rc);
    assert_int_equal(rc, 0);
    char *s26 = saq__job_dump(j, SAQ__DIALECT_026), *s13 = saq__job_dump(j, SAQ__DIALECT_013);
    assert_non_null(strstr(s26, "worker_id"));
    assert_null(strstr(s13, "worker_id"));
    assert_null(strstr(s13, "priority"));
    assert_null(strstr(s13, "group_key"));
    free(s26);
    free(s13);
    saq_job_free(j);
}

static void test_keyword_split(void **state)
{
    (void)state;
    /* checklist 2: job option names set options, the rest goes to kwargs */
    saq_job_t *j = saq_job_new("f");
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"y\": 1, \"timeout\": 1, \"key\": \"k\", \"meta\": {\"m\": 2}}"), 0);
    assert_string_equal(saq_job_kwargs(j), "{\"y\": 1}");
    assert_true(saq_job_timeout(j) == 1);
    assert_true(saq_job_heartbeat(j) == 0);
    assert_string_equal(saq_job_key(j), "k");
    assert_string_equal(saq_job_meta(j), "{\"m\": 2}");
    /* later keywords override earlier ones, keeping the first position */
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"z\": 3, \"y\": 9}"), 0);
    assert_string_equal(saq_job_kwargs(j), "{\"y\": 9, \"z\": 3}");
    /* bad values are refused with a message and change nothing */
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"timeout\": \"soon\", \"q\": 1}"), SAQ_EINVAL);
    assert_true(strlen(saq_job_errmsg(j)) > 0);
    assert_string_equal(saq_job_kwargs(j), "{\"y\": 9, \"z\": 3}");
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"status\": \"complete\"}"), SAQ_EINVAL);
    assert_int_equal(saq_job_set_call_kwargs(j, "{broken"), SAQ_EJSON);
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"retries\": 2.5}"), SAQ_EINVAL);
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"scheduled\": 0.5}"), SAQ_EINVAL); /* saq U6 */
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"key\": \"\"}"), SAQ_EINVAL); /* was random bytes */
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"retries\": 1e21}"), SAQ_EINVAL); /* was clamped */
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"ttl\": -3000000000}"), SAQ_EINVAL);
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"key\": \"a\\u0000b\"}"), SAQ_EINVAL);
    assert_string_equal(saq_job_key(j), "k");
    /* an empty text is an empty text (its buffer was never terminated) */
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"y\": \"\", \"key\": \"k2\"}"), 0);
    assert_string_equal(saq_job_kwargs(j), "{\"y\": \"\", \"z\": 3}");
    saq_job_free(j);
}

static void test_setters_validate(void **state)
{
    (void)state;
    saq_job_t *j = saq_job_new("f");
    assert_null(saq_job_new(NULL));
    assert_null(saq_job_new(""));
    assert_int_equal(saq_job_set_timeout(j, NAN), SAQ_EINVAL);
    assert_int_equal(saq_job_set_heartbeat(j, -1), SAQ_EINVAL);
    assert_int_equal(saq_job_set_retries(j, -1), SAQ_EINVAL);
    assert_int_equal(saq_job_set_key(j, ""), SAQ_EINVAL);
    assert_int_equal(saq_job_set_kwargs(j, "[1]"), SAQ_EJSON);
    assert_int_equal(saq_job_set_kwargs(j, "{\"a\": NaN}"), 0); /* Python can write it, so can we */
    assert_int_equal(saq_job_set_key(NULL, "x"), SAQ_EINVAL);
    assert_int_equal(saq_job_complete(j, "1"), SAQ_EINVAL); /* not leased */
    saq_job_free(j);
}

static void test_retry_delays(void **state)
{
    (void)state;
    /* checklist 15 (u = 1 stands for "no jitter") */
    saq_job_t *j = saq_job_new("f");
    saq_job_set_retry_delay(j, 1.0);
    assert_true(saq__retry_delay(j, 0.3) == 1.0); /* no backoff: no jitter either */
    saq_job_set_retry_backoff(j, 1, 10);
    double want[] = {1, 2, 4, 8, 10};
    for (int a = 1; a <= 5; a++) {
        j->attempts = a;
        assert_true(saq__retry_delay(j, 1.0) == want[a - 1]);
    }
    j->attempts = 3;
    saq_job_set_retry_backoff(j, 1, 0); /* true: no cap */
    double d = saq__retry_delay(j, 0.5);
    assert_true(d >= 0 && d < 4);
    saq_job_set_retry_delay(j, 0);
    assert_true(saq__retry_delay(j, 0.9) == 0);
    saq_job_free(j);
}

static void test_deep_kwargs(void **state)
{
    (void)state;
    int rc;
    char err[256];
    /* 990 levels in all (record, kwargs, 988 arrays): Python 3.11 reads and
     * writes it; libsaq loads it and dumps it back byte for byte */
    saq__buf_t b = {0};
    saq__buf_puts(&b, "{\"function\": \"f\", \"kwargs\": {\"a\": ");
    for (int i = 0; i < 988; i++)
        saq__buf_putc(&b, '[');
    for (int i = 0; i < 988; i++)
        saq__buf_putc(&b, ']');
    saq__buf_puts(&b, "}, \"key\": \"k\"}");
    saq_job_t *j = parse(b.p, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(saq_job_to_json(j), b.p);
    saq_job_free(j);
    saq__buf_free(&b);
    /* hostile: 100000 levels in kwargs get a clear error, no crash */
    saq__buf_puts(&b, "{\"function\": \"f\", \"key\": \"k\", \"kwargs\": {\"a\": ");
    for (int i = 0; i < 100000; i++)
        saq__buf_putc(&b, '[');
    for (int i = 0; i < 100000; i++)
        saq__buf_putc(&b, ']');
    saq__buf_puts(&b, "}}");
    saq_job_t jj;
    saq__job_init(&jj);
    err[0] = 0;
    assert_int_equal(saq__job_parse(&jj, b.p, b.len, err, sizeof err), SAQ_EPROTO);
    assert_non_null(strstr(err, "nested too deeply"));
    saq__job_clear(&jj);
    j = saq_job_new("f");
    assert_int_equal(saq_job_set_json(j, b.p), SAQ_EJSON);
    assert_non_null(strstr(saq_job_errmsg(j), "nested too deeply"));
    assert_null(saq_job_from_json(b.p));
    saq_job_free(j);
    saq__buf_free(&b);
}

static void test_number_keys(void **state)
{
    (void)state;
    int rc;
    /* Python's enqueue("f", key=42) writes "key": 42 under saq:job:<queue>:42
     * (f-string: str() of the key); the key reads as that text and is written
     * back as the same number, so a Python reader sees the record it wrote */
    static const struct {
        const char *json, *key, *back;
    } cases[] = {
        {"42", "42", "42"},
        {"-7", "-7", "-7"},
        {"0", "0", "0"},
        {"-0", "0", "0"}, /* int("-0") */
        {"123456789012345678901234567890", "123456789012345678901234567890",
         "123456789012345678901234567890"},
        {"4.2", "4.2", "4.2"},
        {"4.20", "4.2", "4.2"},
        {"1E2", "100.0", "100.0"},
        {"1e16", "1e+16", "1e+16"},
        {"0.00001", "1e-05", "1e-05"},
        {"1e400", "inf", "Infinity"},
        {"-1e400", "-inf", "-Infinity"},
        {"Infinity", "inf", "Infinity"},
        {"NaN", "nan", "NaN"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rec[256], want[256], id[128];
        snprintf(rec, sizeof rec, "{\"function\": \"echo\", \"queue\": \"default\", \"key\": %s, "
                                  "\"status\": \"queued\"}", cases[i].json);
        snprintf(want, sizeof want, "{\"function\": \"echo\", \"queue\": \"default\", \"key\": %s, "
                                    "\"status\": \"queued\"}", cases[i].back);
        snprintf(id, sizeof id, "saq:job:default:%s", cases[i].key);
        saq_job_t *j = parse(rec, &rc);
        assert_int_equal(rc, 0);
        assert_string_equal(saq_job_key(j), cases[i].key);
        assert_string_equal(saq_job_id(j), id);
        assert_string_equal(saq_job_to_json(j), want);
        /* the status-preserving update writes the key the same way */
        char *head, *e, *tail;
        assert_int_equal(saq__job_dump_split(j, SAQ__DIALECT_026, &head, &e, &tail), 0);
        char kw[64];
        snprintf(kw, sizeof kw, "\"key\": %s", cases[i].back);
        assert_non_null(strstr(head, kw));
        free(head);
        free(e);
        free(tail);
        /* and a copy keeps it a number */
        saq_job_t *d = saq_job_dup(j);
        assert_string_equal(saq_job_to_json(d), want);
        saq_job_free(d);
        /* a key set through the API is a string again */
        assert_int_equal(saq_job_set_key(j, cases[i].key), 0);
        snprintf(want, sizeof want, "\"key\": \"%s\"", cases[i].key);
        assert_non_null(strstr(saq_job_to_json(j), want));
        saq_job_free(j);
    }
    /* the 0.13 dialect too */
    saq_job_t *j = parse("{\"function\": \"f\", \"key\": 42}", &rc);
    assert_int_equal(rc, 0);
    char *s13 = saq__job_dump(j, SAQ__DIALECT_013);
    assert_string_equal(s13, "{\"function\": \"f\", \"key\": 42}");
    free(s13);
    saq_job_free(j);
    /* enqueue keywords: Python's enqueue("f", key=42) */
    j = saq_job_new("f");
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"key\": 42, \"x\": 1}"), 0);
    assert_string_equal(saq_job_key(j), "42");
    assert_string_equal(saq_job_to_json(j), "{\"function\": \"f\", \"kwargs\": {\"x\": 1}, \"key\": 42}");
    saq_job_free(j);
    /* other non-strings stay refused with a message */
    const char *bad[] = {"true", "null", "[42]", "{}", "\"\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char rec[128], err[256] = "";
        snprintf(rec, sizeof rec, "{\"function\": \"f\", \"key\": %s}", bad[i]);
        saq_job_t jj;
        saq__job_init(&jj);
        assert_int_equal(saq__job_parse(&jj, rec, strlen(rec), err, sizeof err), SAQ_EPROTO);
        assert_non_null(strstr(err, "'key'"));
        saq__job_clear(&jj);
    }
}

static void test_number_field_bounds(void **state)
{
    (void)state;
    int rc;
    /* stored records: out-of-range integers are clamped both ways (a cast of
     * -3e9 to int is undefined behaviour), non-finite ones are refused */
    static const struct {
        const char *field, *value;
        int ok;
        long long want;
    } cases[] = {
        {"retries", "-3e9", 1, INT32_MIN}, {"retries", "3e9", 1, INT32_MAX},
        {"retries", "-3000000000", 1, INT32_MIN}, {"retries", "1e400", 0, 0},
        {"retries", "-1e400", 0, 0}, {"retries", "NaN", 0, 0}, {"retries", "-Infinity", 0, 0},
        {"ttl", "-3e9", 1, INT32_MIN}, {"ttl", "3e9", 1, INT32_MAX}, {"ttl", "1e400", 0, 0},
        {"ttl", "NaN", 0, 0}, {"attempts", "-3e9", 1, 0}, {"attempts", "3e9", 1, INT32_MAX},
        {"attempts", "-1e400", 0, 0}, {"attempts", "NaN", 0, 0},
        {"queued", "-3e30", 1, INT64_MIN}, {"queued", "3e30", 1, INT64_MAX},
        {"queued", "1e400", 0, 0}, {"queued", "NaN", 0, 0}, {"priority", "-1e19", 1, INT64_MIN},
        {"started", "1e19", 1, INT64_MAX}, {"touched", "-1e400", 0, 0},
        {"completed", "NaN", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rec[160];
        snprintf(rec, sizeof rec, "{\"function\": \"f\", \"key\": \"k\", \"%s\": %s}", cases[i].field,
                 cases[i].value);
        saq_job_t *j = parse(rec, &rc);
        if (!cases[i].ok) {
            assert_int_equal(rc, SAQ_EPROTO);
            saq_job_free(j);
            continue;
        }
        assert_int_equal(rc, 0);
        long long got = !strcmp(cases[i].field, "retries")    ? saq_job_retries(j)
                        : !strcmp(cases[i].field, "ttl")      ? saq_job_ttl(j)
                        : !strcmp(cases[i].field, "attempts") ? saq_job_attempts(j)
                        : !strcmp(cases[i].field, "queued")   ? saq_job_queued_ms(j)
                        : !strcmp(cases[i].field, "started")  ? saq_job_started_ms(j)
                                                              : j->priority;
        assert_true(got == cases[i].want);
        saq_job_free(j);
    }
    /* a caller's values are refused, not clamped */
    saq_job_t *j = saq_job_new("f");
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"retries\": -3e9}"), SAQ_EINVAL);
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"retries\": 3e9}"), SAQ_EINVAL);
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"ttl\": 1e400}"), SAQ_EINVAL);
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"ttl\": NaN}"), SAQ_EINVAL);
    assert_int_equal(saq_job_retries(j), 1);
    saq_job_free(j);
}

static void test_member_names_with_nul(void **state)
{
    (void)state;
    int rc;
    /* a member name is compared in full: "function\u0000x" is another member
     * (Python's dict keeps both), not the function (it was cut at the NUL) */
    saq_job_t *j = parse("{\"function\": \"f\", \"key\": \"k\", \"function\\u0000x\": \"g\", "
                         "\"key\\u0000\": 5}", &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(saq_job_function(j), "f");
    assert_string_equal(saq_job_key(j), "k");
    assert_string_equal(saq_job_to_json(j), "{\"function\": \"f\", \"key\": \"k\", "
                                            "\"function\\u0000x\": \"g\", \"key\\u0000\": 5}");
    saq_job_free(j);
    /* enqueue keywords: "key\u0000" is a plain keyword argument, not the key */
    j = saq_job_new("f");
    saq_job_set_key(j, "k");
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"key\\u0000\": \"x\", \"y\": 1}"), 0);
    assert_string_equal(saq_job_key(j), "k");
    assert_string_equal(saq_job_kwargs(j), "{\"key\\u0000\": \"x\", \"y\": 1}");
    /* and keys differing after a NUL are different keys when merged */
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"a\\u0000b\": 1}"), 0);
    assert_int_equal(saq_job_set_call_kwargs(j, "{\"a\\u0000c\": 2}"), 0);
    assert_string_equal(saq_job_kwargs(j),
                        "{\"key\\u0000\": \"x\", \"y\": 1, \"a\\u0000b\": 1, \"a\\u0000c\": 2}");
    saq_job_free(j);
    char *m = saq__merge_kwargs("{\"a\\u0000b\": 1, \"z\": 0}", "{\"a\\u0000c\": 2, \"z\": 3}");
    assert_string_equal(m, "{\"a\\u0000b\": 1, \"z\": 3, \"a\\u0000c\": 2}");
    free(m);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_int_equal(saq__status_parse("NEW", 3), SAQ_STATUS_NEW);
    assert_int_equal(saq__status_parse("Aborting", 8), SAQ_STATUS_ABORTING);
    assert_int_equal(saq__status_parse("deferred", 8), -1);
    assert_true(saq__status_terminal(SAQ_STATUS_ABORTED));
    assert_false(saq__status_terminal(SAQ_STATUS_ABORTING));
}

/* The exported predicate the bindings use instead of their own lists. */
static void test_status_terminal(void **state)
{
    (void)state;
    const char *yes[] = {"complete", "failed", "aborted", "COMPLETE", "Aborted"};
    const char *no[] = {"new", "queued", "active", "aborting", "deferred", "", "complete ", NULL};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(saq_status_terminal(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(saq_status_terminal(no[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_record_is_exact),
        cmocka_unit_test(test_defaults_and_omission),
        cmocka_unit_test(test_tolerant_reader),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_dialect_013_never_writes_new_fields),
        cmocka_unit_test(test_keyword_split),
        cmocka_unit_test(test_setters_validate),
        cmocka_unit_test(test_retry_delays),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_status_terminal),
        cmocka_unit_test(test_deep_kwargs),
        cmocka_unit_test(test_number_keys),
        cmocka_unit_test(test_number_field_bounds),
        cmocka_unit_test(test_member_names_with_nul),
    };
    return cmocka_run_group_tests_name("job", tests, NULL, NULL);
}
