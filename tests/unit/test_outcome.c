/* SPDX-License-Identifier: MIT */
/* Unit tests: the outcome decision (outcome.c). Every cancel reason and
 * every settle kind, at the retry boundary (retries > attempts retries),
 * with and without a stop; and the shrink of an outcome larger than
 * max_payload_bytes. The texts are saq's, as the bindings show them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "worker.h"

static saq__outcome_in_t base(void)
{
    saq__outcome_in_t in = {
        .cancelled = SAQ_CANCEL_NONE,
        .settle = SAQ__SETTLE_FAIL,
        .settle_text = "ValueError: boom",
        .swept_msg = "swept (custom)",
        .key = "k1",
        .timeout = 10,
        .retries = 1,
        .attempts = 1,
    };
    return in;
}

/* (the outcome may point into itself: it is filled in place, never copied) */
static void decide(const saq__outcome_in_t *in, saq__outcome_t *out)
{
    memset(out, 0x5a, sizeof *out); /* decide must set every field */
    saq__outcome_decide(in, out);
}

static void test_complete(void **state)
{
    (void)state;
    saq__outcome_in_t in = base();
    in.settle = SAQ__SETTLE_COMPLETE;
    in.settle_text = "{\"a\": 1}";
    saq__outcome_t o;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_FINISH);
    assert_int_equal(o.status, SAQ_STATUS_COMPLETE);
    assert_string_equal(o.result, "{\"a\": 1}");
    assert_null(o.error);
    assert_int_equal(o.flags, 0);
    in.settle_text = NULL; /* None */
    decide(&in, &o);
    assert_int_equal(o.status, SAQ_STATUS_COMPLETE);
    assert_null(o.result);
}

static void test_fail_retries_while_retries_exceed_attempts(void **state)
{
    (void)state;
    saq__outcome_in_t in = base();
    in.retries = 2, in.attempts = 1;
    saq__outcome_t o;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_RETRY);
    assert_string_equal(o.error, "ValueError: boom");
    in.retries = 2, in.attempts = 2; /* the last attempt: failed */
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_FINISH);
    assert_int_equal(o.status, SAQ_STATUS_FAILED);
    assert_string_equal(o.error, "ValueError: boom");
    in.settle_text = NULL;
    decide(&in, &o);
    assert_string_equal(o.error, "job failed");
}

static void test_abort(void **state)
{
    (void)state;
    saq__outcome_in_t in = base();
    in.cancelled = SAQ_CANCEL_ABORTED;
    in.retries = 5; /* an abort never retries */
    in.abort_error = "stop it";
    saq__outcome_t o;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_FINISH);
    assert_int_equal(o.status, SAQ_STATUS_ABORTED);
    assert_string_equal(o.error, "stop it");
    assert_int_equal(o.flags, SAQ__DEL_MARKER);
    in.abort_error = NULL;
    decide(&in, &o);
    assert_string_equal(o.error, "abort");
    in.settle = SAQ__SETTLE_COMPLETE; /* the cancel reason wins over what the host said */
    decide(&in, &o);
    assert_int_equal(o.status, SAQ_STATUS_ABORTED);
}

static void test_lost_writes_nothing(void **state)
{
    (void)state;
    saq__outcome_in_t in = base();
    in.cancelled = SAQ_CANCEL_LOST;
    in.settle = SAQ__SETTLE_COMPLETE;
    saq__outcome_t o;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_NONE);
}

static void test_shutdown_retries_whatever_the_retries(void **state)
{
    (void)state;
    saq__outcome_in_t in = base();
    in.cancelled = SAQ_CANCEL_SHUTDOWN;
    in.retries = 0, in.attempts = 3;
    saq__outcome_t o;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_RETRY);
    assert_string_equal(o.error, "cancelled");
}

static void test_heartbeat_uses_swept_message(void **state)
{
    (void)state;
    saq__outcome_in_t in = base();
    in.cancelled = SAQ_CANCEL_HEARTBEAT;
    in.retries = 2, in.attempts = 1;
    saq__outcome_t o;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_RETRY);
    assert_string_equal(o.error, "swept (custom)");
    in.retries = 1;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_FINISH);
    assert_int_equal(o.status, SAQ_STATUS_ABORTED);
    assert_string_equal(o.error, "swept (custom)");
    assert_int_equal(o.flags, 0); /* no abort marker to delete */
}

static void test_timeout_text_is_saqs(void **state)
{
    (void)state;
    saq__outcome_in_t in = base();
    in.cancelled = SAQ_CANCEL_TIMEOUT;
    saq__outcome_t o;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_FINISH);
    assert_int_equal(o.status, SAQ_STATUS_FAILED);
    /* Python's f"{timeout}" of the int saq stores: "10", not "10.0" */
    assert_string_equal(o.error, "TimeoutError: job k1 timed out after 10 seconds");
    assert_ptr_equal(o.error, o.text);
    in.timeout = 0.25, in.retries = 3;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_RETRY);
    assert_string_equal(o.error, "TimeoutError: job k1 timed out after 0.25 seconds");
}

static void test_release_and_dropped(void **state)
{
    (void)state;
    saq__outcome_in_t in = base();
    in.settle = SAQ__SETTLE_RELEASE;
    in.retries = 0;
    saq__outcome_t o;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_RETRY);
    assert_string_equal(o.error, "cancelled");
    in.settle = SAQ__SETTLE_DROPPED; /* a handler bug: counts against retries */
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_FINISH);
    assert_int_equal(o.status, SAQ_STATUS_FAILED);
    assert_true(o.settle_as_fail);
    assert_non_null(strstr(o.error, "released the job without settling it"));
    in.retries = 2;
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_RETRY);
    in.stopping = 1; /* ...unless the worker is stopping: as saq's cancelled job */
    decide(&in, &o);
    assert_int_equal(o.action, SAQ__OUTCOME_RETRY);
    assert_string_equal(o.error, "cancelled");
    assert_false(o.settle_as_fail);
}

static void test_shrink(void **state)
{
    (void)state;
    char *t = saq__outcome_shrink(SAQ__SETTLE_COMPLETE, "[1,2,3]", 0, 1000, 100);
    assert_string_equal(t, "ValueError: the job's result is larger than max_payload_bytes (1000)");
    free(t);
    /* an error text is cut to a quarter of the room left, on a UTF-8 boundary */
    char big[1001];
    memset(big, 'x', 1000);
    big[1000] = 0;
    big[199] = (char)0xc3, big[200] = (char)0xa9; /* é across the cut */
    t = saq__outcome_shrink(SAQ__SETTLE_FAIL, big, 0, 1064, 200);
    /* room: 1064 - 200 - 64 = 800, a quarter: 200; byte 200 continues the é at 199 */
    assert_non_null(strstr(t, " [... cut to fit max_payload_bytes (1064)]"));
    assert_int_equal(strstr(t, " [...") - t, 199);
    free(t);
    t = saq__outcome_shrink(SAQ__SETTLE_FAIL, big, 1, 1064, 200); /* cut once already */
    assert_string_equal(t, "ValueError: the job's error text is larger than max_payload_bytes (1064)");
    free(t);
    t = saq__outcome_shrink(SAQ__SETTLE_FAIL, big, 0, 300, 250); /* no room to cut into */
    assert_string_equal(t, "ValueError: the job's error text is larger than max_payload_bytes (300)");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_fail_retries_while_retries_exceed_attempts),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_lost_writes_nothing),
        cmocka_unit_test(test_shutdown_retries_whatever_the_retries),
        cmocka_unit_test(test_heartbeat_uses_swept_message),
        cmocka_unit_test(test_timeout_text_is_saqs),
        cmocka_unit_test(test_release_and_dropped),
        cmocka_unit_test(test_shrink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
