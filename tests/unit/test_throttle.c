/* SPDX-License-Identifier: MIT */
/* Unit tests: saq's max_concurrent_ops throttle, the reconnect backoff and
 * configuration validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

static int granted[16];
static int order[16], norder;

typedef struct w {
    saq__twaiter_t tw;
    int id;
} w_t;

static void grant(saq__twaiter_t *t)
{
    w_t *w = (w_t *)t;
    granted[w->id] = 1;
    order[norder++] = w->id;
}

static void test_throttle_fifo(void **state)
{
    (void)state;
    saq__throttle_t t;
    saq__throttle_init(&t, 2);
    w_t ws[6];
    for (int i = 0; i < 6; i++) {
        ws[i].tw.grant = grant;
        ws[i].id = i;
    }
    memset(granted, 0, sizeof granted);
    norder = 0;
    assert_int_equal(saq__throttle_acquire(&t, &ws[0].tw), 1);
    assert_int_equal(saq__throttle_acquire(&t, &ws[1].tw), 1);
    assert_int_equal(saq__throttle_acquire(&t, &ws[2].tw), 0); /* full: waits */
    assert_int_equal(saq__throttle_acquire(&t, &ws[3].tw), 0);
    assert_int_equal(saq__throttle_acquire(&t, &ws[4].tw), 0);
    assert_int_equal(saq__throttle_cancel(&t, &ws[3].tw), 1);  /* a waiter that gave up */
    saq__throttle_release(&t);                                  /* hands its permit to 2 */
    assert_true(granted[2] && !granted[4]);
    saq__throttle_release(&t);
    assert_true(granted[4]);
    assert_false(granted[3]);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 4);
    saq__throttle_release(&t);
    saq__throttle_release(&t);
    assert_int_equal(t.used, 0);
    saq__throttle_release(&t); /* never goes negative */
    assert_int_equal(t.used, 0);
    /* a new arrival does not overtake queued waiters */
    saq__throttle_init(&t, 1);
    assert_int_equal(saq__throttle_acquire(&t, &ws[0].tw), 1);
    assert_int_equal(saq__throttle_acquire(&t, &ws[1].tw), 0);
    saq__throttle_release(&t);
    assert_int_equal(saq__throttle_acquire(&t, &ws[2].tw), 0);
}

static void test_backoff(void **state)
{
    (void)state;
    /* jitter in [0.5, 1.0) of min(cap, base * 2^attempt) */
    assert_int_equal(saq__backoff_ms(0, 50, 2000, 0.0), 25);
    assert_int_equal(saq__backoff_ms(0, 50, 2000, 0.999999), 49);
    assert_int_equal(saq__backoff_ms(3, 50, 2000, 0.0), 200);
    assert_int_equal(saq__backoff_ms(10, 50, 2000, 0.0), 1000);
    assert_true(saq__backoff_ms(60, 50, 2000, 0.999) < 2000); /* no overflow for huge attempts */
    assert_true(saq__backoff_ms(5, 50, 2000, 5.0) < 2000);    /* u is clamped */
}

static void test_conf(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "name", "jobs"), 0);
    assert_string_equal(saq_conf_get(c, "name"), "jobs");
    assert_int_equal(saq_conf_set(c, "nope", "1"), SAQ_EUNKNOWN_KEY);
    assert_non_null(strstr(saq_conf_errmsg(c), "nope"));
    assert_int_equal(saq_conf_set(c, "name", "a:b"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "name", "a*"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "name", ""), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "url", "http://x"), SAQ_EURL);
    assert_int_equal(saq_conf_set(c, "url", "rediss://x"), SAQ_EURL);
    assert_non_null(strstr(saq_conf_errmsg(c), "TLS"));
    assert_int_equal(saq_conf_set(c, "max_concurrent_ops", "0"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "concurrency", "2.5"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "dialect", "0.14"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "metadata", "[1]"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "id", "has:colon"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "timers.stats", "5"), 0); /* saq 0.13's name */
    assert_string_equal(saq_conf_get(c, "timers.worker_info"), "5");
    assert_int_equal(saq_conf_set(c, NULL, "x"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(NULL, "name", "x"), SAQ_EINVAL);
    assert_string_equal(saq_conf_get(c, "name"), "jobs"); /* failed sets changed nothing */
    saq__settings_t s;
    assert_int_equal(saq__settings_from_conf(&s, c), 0);
    assert_string_equal(s.name, "jobs");
    assert_int_equal(s.max_concurrent_ops, 20);
    assert_true(s.t_worker_info == 5);
    saq__settings_free(&s);
    saq_conf_free(c);
    saq_conf_free(NULL);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(saq_err_name(SAQ_ETIMEDOUT), "SAQ_ETIMEDOUT");
    assert_string_equal(saq_strerror(12345), "unknown error");
    assert_string_equal(saq_err_name(12345), "SAQ_E?");
    for (int e = 0; e >= SAQ_ETLS; e--)
        assert_string_not_equal(saq_err_name(e), "SAQ_E?"); /* every code has a name */
    assert_int_equal(saq_version(), SAQ_VERSION_NUMBER);
    assert_string_equal(saq_version_str(), SAQ_VERSION_STR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttle_fifo),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("throttle_backoff_conf", tests, NULL, NULL);
}
