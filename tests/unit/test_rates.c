/* SPDX-License-Identifier: MIT */
/* Unit tests: the per-minute rates of saq_queue_overview from registry
 * samples (rates.c): growth between samples, a worker restarted under its id,
 * a new worker, one that died, the window and its limits, malformed samples;
 * and the Prometheus writer (prom.c): label escaping, values, HELP/TYPE. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

#include <math.h>
#include <time.h>

static saq__rpoint_t point(const char *json)
{
    saq__rpoint_t p;
    if (saq__rpoint_parse(json, strlen(json), &p))
        fail_msg("cannot parse %s", json);
    return p;
}

static int rates(saq__rpoint_t *pts, size_t n, double out[4], double *win)
{
    int rc = saq__rates(pts, n, out, win);
    for (size_t i = 0; i < n; i++)
        saq__rpoint_free(&pts[i]);
    return rc;
}

static void test_parse(void **state)
{
    (void)state;
    saq__rpoint_t p = point("{\"t\": 1000, \"w\": {\"a\": [1, 2, 3, 4, 5], \"b:\\\"x\": [0, 0, 0, 0, 0]}}");
    assert_int_equal(p.t, 1000);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.w[0].id, "a");
    assert_int_equal(p.w[0].v[3], 4);
    assert_int_equal(p.w[0].v[4], 5);
    assert_string_equal(p.w[1].id, "b:\"x");
    saq__rpoint_free(&p);
    p = point("{\"t\": 5, \"w\": {}}");
    assert_int_equal(p.n, 0);
    saq__rpoint_free(&p);
    const char *bad[] = {"", "[]", "{\"w\": {}}", "{\"t\": 5, \"w\": {\"a\": [1, 2]}}",
                         "{\"t\": 5, \"w\": {\"a\": [1, 2, 3, 4, -5]}}", "{\"t\": 5, \"w\": {\"a\": \"x\"}}",
                         "{\"t\": 0, \"w\": {}}", "{\"t\": 1e20, \"w\": {}}", "{\"t\": 5, \"w\": {\"a\": [1, 2, 3, 4, 5, 6]}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(saq__rpoint_parse(bad[i], strlen(bad[i]), &p), -1);
}

static void test_growth_restart_new_and_gone(void **state)
{
    (void)state;
    double r[4], win;
    saq__rpoint_t pts[3] = {
        point("{\"t\": 100000, \"w\": {\"a\": [10, 1, 0, 0, 50000], \"r\": [100, 0, 0, 0, 900000],"
              " \"gone\": [5, 0, 0, 0, 1000], \"old\": [0, 0, 0, 0, 100]}}"),
        point("{\"t\": 115000, \"w\": {\"a\": [20, 1, 2, 0, 65000], \"r\": [3, 0, 0, 0, 2000],"
              " \"gone\": [9, 0, 0, 0, 16000], \"new\": [4, 0, 0, 1, 3000], \"late\": [50, 0, 0, 0, 600000]}}"),
        point("{\"t\": 130000, \"w\": {\"a\": [40, 2, 2, 0, 80000], \"r\": [6, 0, 0, 0, 17000],"
              " \"new\": [4, 0, 0, 1, 18000], \"late\": [51, 0, 0, 0, 615000]}}"),
    };
    assert_int_equal(rates(pts, 3, r, &win), 0);
    assert_true(win == 30.0);
    /* a: 10 + 20; r: restarted, 3 since, then 3; gone: 4 before it died; new: 4 since it started;
     * late: missed by the first sample (uptime 600 s): only its growth after, 1 */
    assert_true(r[0] == (30 + 6 + 4 + 4 + 1) * 2.0);
    assert_true(r[1] == 1 * 2.0);
    assert_true(r[2] == 2 * 2.0);
    assert_true(r[3] == 1 * 2.0);
}

static void test_window(void **state)
{
    (void)state;
    double r[4], win;
    /* no point 20 s old: no rate */
    saq__rpoint_t a[2] = {point("{\"t\": 100000, \"w\": {}}"), point("{\"t\": 119999, \"w\": {}}")};
    assert_int_equal(rates(a, 2, r, &win), -1);
    /* the oldest point within 65 s is the base */
    saq__rpoint_t b[4] = {point("{\"t\": 10000, \"w\": {\"x\": [1000, 0, 0, 0, 1]}}"),
                          point("{\"t\": 100000, \"w\": {\"x\": [0, 0, 0, 0, 1]}}"),
                          point("{\"t\": 130000, \"w\": {\"x\": [10, 0, 0, 0, 30001]}}"),
                          point("{\"t\": 160000, \"w\": {\"x\": [20, 0, 0, 0, 60001]}}")};
    assert_int_equal(rates(b, 4, r, &win), 0);
    assert_true(win == 60.0);
    assert_true(r[0] == 20.0);
    /* sparse samples: none within the window but one 20 s old; the one before, up to 300 s */
    saq__rpoint_t c[2] = {point("{\"t\": 100000, \"w\": {\"x\": [0, 0, 0, 0, 1]}}"),
                          point("{\"t\": 220000, \"w\": {\"x\": [60, 0, 0, 0, 120001]}}")};
    assert_int_equal(rates(c, 2, r, &win), 0);
    assert_true(win == 120.0);
    assert_true(r[0] == 30.0);
    saq__rpoint_t d[2] = {point("{\"t\": 100000, \"w\": {}}"), point("{\"t\": 400001, \"w\": {}}")};
    assert_int_equal(rates(d, 2, r, &win), -1);
    assert_int_equal(saq__rates(NULL, 0, r, &win), -1);
}

static void test_prom_writer(void **state)
{
    (void)state;
    saq__buf_t b = {0};
    saq__prom_family(&b, "x_total", "counter", "Help with \\ and\nnewline and \"quotes\".");
    const char *l[] = {"queue", "a\"b\\c\nd", "outcome", "complete"};
    saq__prom_sample(&b, "x_total", l, 2, 3);
    saq__prom_sample(&b, "y", NULL, 0, 0.25);
    saq__prom_sample(&b, "y", NULL, 0, INFINITY);
    saq__prom_sample(&b, "y", NULL, 0, -INFINITY);
    saq__prom_sample(&b, "y", NULL, 0, NAN);
    saq__prom_sample(&b, "y", NULL, 0, 1e20);
    char *s = saq__buf_take(&b);
    assert_string_equal(s, "# HELP x_total Help with \\\\ and\\nnewline and \"quotes\".\n"
                           "# TYPE x_total counter\n"
                           "x_total{queue=\"a\\\"b\\\\c\\nd\",outcome=\"complete\"} 3\n"
                           "y 0.25\ny +Inf\ny -Inf\ny NaN\ny 1e+20\n");
    free(s);
}

/* Thousands of workers in every sample: found by id, not scanned (the rates
 * are computed on the queue's I/O thread). */
static void test_many_workers_fast(void **state)
{
    (void)state;
    enum { NW = 20000, NP = 10 };
    saq__rpoint_t pts[NP];
    char id[32];
    for (int p = 0; p < NP; p++) {
        memset(&pts[p], 0, sizeof pts[p]);
        pts[p].t = 1000 + p * 5000;
        for (int i = 0; i < NW; i++) {
            long long v[5] = {p, 0, 0, 0, 1000000};
            snprintf(id, sizeof id, "w%d", (i * 7919) % NW);
            assert_int_equal(saq__rpoint_add(&pts[p], id, v), 0);
        }
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    double out[4], win;
    assert_int_equal(rates(pts, NP, out, &win), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(fabs(win - 45.0) < 1e-9);
    assert_true(fabs(out[0] - (double)NW * 9 * 60.0 / 45.0) < 1e-6);
    if (took > 2.0)
        fail_msg("rates over %d points of %d workers took %.2f s", NP, NW, took);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_growth_restart_new_and_gone),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_prom_writer),
        cmocka_unit_test(test_many_workers_fast),
    };
    return cmocka_run_group_tests_name("rates", tests, NULL, NULL);
}
