/* SPDX-License-Identifier: MIT */
/* Unit tests: W3C traceparent in a job's meta (src/traceparent.c, saq_job_set_traceparent,
 * saq_job_traceparent): validation, the meta's other members kept in place, records read
 * with one, copies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TP2 "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"

static void test_set_and_get(void **state)
{
    (void)state;
    saq_job_t *j = saq_job_new("f");
    assert_null(saq_job_traceparent(j));
    assert_int_equal(saq_job_set_traceparent(j, TP), SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), TP);
    assert_string_equal(saq_job_meta(j), "{\"traceparent\": \"" TP "\"}");
    assert_non_null(strstr(saq_job_to_json(j), "\"meta\": {\"traceparent\": \"" TP "\"}"));
    saq_job_t *d = saq_job_dup(j);
    assert_string_equal(saq_job_traceparent(d), TP);
    saq_job_free(d);
    /* removed: meta is empty again */
    assert_int_equal(saq_job_set_traceparent(j, NULL), SAQ_OK);
    assert_null(saq_job_traceparent(j));
    assert_null(saq_job_meta(j));
    assert_int_equal(saq_job_set_traceparent(NULL, TP), SAQ_EINVAL);
    assert_null(saq_job_traceparent(NULL));
    saq_job_free(j);
}

static void test_malformed_values_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       /* no flags */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    /* another version */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    /* zero parent id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx", /* too long */
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",    /* separators */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    /* not hex */
    };
    saq_job_t *j = saq_job_new("f");
    assert_int_equal(saq_job_set_meta(j, "{\"a\": 1}"), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(saq_job_set_traceparent(j, bad[i]), SAQ_EINVAL);
        assert_non_null(strstr(saq_job_errmsg(j), "traceparent"));
        assert_string_equal(saq_job_meta(j), "{\"a\": 1}"); /* unchanged */
        assert_null(saq_job_traceparent(j));
    }
    saq_job_free(j);
}

static void test_other_meta_members_kept(void **state)
{
    (void)state;
    saq_job_t *j = saq_job_new("f");
    assert_int_equal(saq_job_set_meta(j, "{\"a\": 1, \"traceparent\": \"junk\", \"b\": [2, {\"c\": null}]}"), 0);
    assert_null(saq_job_traceparent(j)); /* there, but not a traceparent */
    assert_int_equal(saq_job_set_traceparent(j, TP), SAQ_OK);
    assert_string_equal(saq_job_meta(j),
                        "{\"a\": 1, \"traceparent\": \"" TP "\", \"b\": [2, {\"c\": null}]}");
    assert_int_equal(saq_job_set_traceparent(j, TP2), SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), TP2);
    assert_int_equal(saq_job_set_traceparent(j, NULL), SAQ_OK);
    assert_string_equal(saq_job_meta(j), "{\"a\": 1, \"b\": [2, {\"c\": null}]}");
    /* set_meta replaces it as any member */
    assert_int_equal(saq_job_set_meta(j, "{\"traceparent\": \"" TP2 "\"}"), 0);
    assert_string_equal(saq_job_traceparent(j), TP2);
    assert_int_equal(saq_job_set_meta(j, NULL), 0);
    assert_null(saq_job_traceparent(j));
    saq_job_free(j);
}

static void test_records_read_with_one(void **state)
{
    (void)state;
    saq_job_t *j = NULL;
    char err[200];
    /* as Python saq writes it (enqueue(..., meta={...})); the last duplicate counts */
    assert_int_equal(saq_job_parse(&j, "{\"function\": \"f\", \"key\": \"k\", \"meta\": "
                                       "{\"traceparent\": \"x\", \"traceparent\": \"" TP "\"}}",
                                   err, sizeof err),
                     SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), TP);
    saq_job_free(j);
    assert_int_equal(saq_job_parse(&j, "{\"function\": \"f\", \"meta\": {\"traceparent\": 5}}", err,
                                   sizeof err),
                     SAQ_OK);
    assert_null(saq_job_traceparent(j));
    saq_job_free(j);
    /* an update's meta (saq's Job.update(meta=...)) */
    j = saq_job_new("f");
    assert_int_equal(saq_job_set_traceparent(j, TP), SAQ_OK);
    assert_int_equal(saq__job_apply_fields(j, "{\"meta\": {\"traceparent\": \"" TP2 "\"}}",
                                           strlen("{\"meta\": {\"traceparent\": \"" TP2 "\"}}"), 0,
                                           NULL, err, sizeof err),
                     SAQ_OK);
    assert_string_equal(saq_job_traceparent(j), TP2);
    saq_job_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_get),
        cmocka_unit_test(test_malformed_values_refused),
        cmocka_unit_test(test_other_meta_members_kept),
        cmocka_unit_test(test_records_read_with_one),
    };
    return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
