/* SPDX-License-Identifier: MIT */
/* Unit tests for cron jobs in IANA time zones: src/tz.c (ICU's zones) and
 * saq__cron_next_in (src/cron.c). The expected times are croniter 7.0.0's
 * with a zoneinfo.ZoneInfo start (tests/cron/differential.py compares many
 * more against croniter itself). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cron.h"
#include "tz.h"

/* Epoch seconds of a civil time at a fixed UTC offset (minutes east), by
 * plain day counting. Years >= 1970. */
static int64_t at(int y, int mo, int d, int h, int mi, int off_min)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t days = 0;
    for (int yy = 1970; yy < y; yy++)
        days += (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0)) ? 366 : 365;
    for (int m = 1; m < mo; m++)
        days += dim[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
    days += d - 1;
    return days * 86400 + h * 3600 + mi * 60 - off_min * 60;
}

static saq__tz_t *zone(const char *name)
{
    char err[256];
    saq__tz_t *z = saq__tz_open(name, err, sizeof err);
    if (!z)
        fail_msg("tz '%s': %s", name, err);
    return z;
}

/* The next n fire times of expr in zone from start must be want[0..n). */
static void expect(const char *zname, const char *expr, int64_t start, const int64_t *want, int n)
{
    saq__cron_t c;
    char err[256];
    if (saq__cron_parse(expr, &c, err, sizeof err))
        fail_msg("parse '%s': %s", expr, err);
    saq__tz_t *z = zone(zname);
    int64_t t = start;
    for (int i = 0; i < n; i++) {
        t = saq__cron_next_in(&c, t, saq__tz_offset, z);
        if (t != want[i])
            fail_msg("'%s' in %s, fire %d: got %lld, want %lld", expr, zname, i, (long long)t,
                     (long long)want[i]);
    }
    saq__tz_free(z);
}

static void test_offsets(void **state)
{
    (void)state;
    saq__tz_t *z = zone("America/New_York");
    assert_string_equal(saq__tz_name(z), "America/New_York");
    assert_int_equal(saq__tz_offset(z, at(2024, 1, 15, 12, 0, 0)), -5 * 3600);
    assert_int_equal(saq__tz_offset(z, at(2024, 7, 15, 12, 0, 0)), -4 * 3600);
    /* the change itself: 2024-03-10 07:00 UTC */
    assert_int_equal(saq__tz_offset(z, at(2024, 3, 10, 6, 59, 0)), -5 * 3600);
    assert_int_equal(saq__tz_offset(z, at(2024, 3, 10, 7, 0, 0)), -4 * 3600);
    saq__tz_free(z);
    z = zone("Australia/Lord_Howe"); /* +10:30, +11 in (southern) summer */
    assert_int_equal(saq__tz_offset(z, at(2024, 7, 1, 0, 0, 0)), 630 * 60);
    assert_int_equal(saq__tz_offset(z, at(2024, 1, 1, 0, 0, 0)), 660 * 60);
    saq__tz_free(z);
    z = zone("UTC");
    assert_int_equal(saq__tz_offset(z, at(2024, 7, 1, 0, 0, 0)), 0);
    saq__tz_free(z);
    z = zone("US/Eastern"); /* an alias (a link in tzdata) */
    assert_int_equal(saq__tz_offset(z, at(2024, 1, 15, 12, 0, 0)), -5 * 3600);
    saq__tz_free(z);
    assert_true(strlen(saq__tz_data_version()) >= 4);
}

static void test_bad_names(void **state)
{
    (void)state;
    const char *bad[] = {"", "Mars/Olympus_Mons", "America/New York", "GMT+05:00",
                         "Europe/Lond\xc3\xb6n", "America/New_York\n", NULL};
    char err[256];
    for (int i = 0; bad[i]; i++) {
        strcpy(err, "untouched");
        assert_null(saq__tz_open(bad[i], err, sizeof err));
        assert_non_null(strstr(err, "cron_tz"));
    }
    assert_null(saq__tz_open("Mars/Olympus_Mons", err, sizeof err));
    assert_non_null(strstr(err, "unknown time zone 'Mars/Olympus_Mons'"));
    assert_null(saq__tz_open(NULL, err, sizeof err));
    char big[300];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_null(saq__tz_open(big, err, sizeof err));
    assert_null(saq__tz_open("Nowhere/Atall", NULL, 0)); /* no buffer: still refused */
}

/* New York springs forward at 02:00 EST to 03:00 EDT, falls back at 02:00 EDT to 01:00 EST */
static void test_new_york(void **state)
{
    (void)state;
    const int EST = -300, EDT = -240;
    /* a time in the gap fires at the first minute after it */
    const int64_t daily_gap[] = {at(2024, 3, 10, 3, 0, EDT), at(2024, 3, 11, 2, 30, EDT),
                                 at(2024, 3, 12, 2, 30, EDT)};
    expect("America/New_York", "30 2 * * *", at(2024, 3, 9, 12, 0, EST), daily_gap, 3);
    /* but with every hour in the expression, the gap's times are skipped */
    const int64_t quarter[] = {at(2024, 3, 10, 1, 45, EST), at(2024, 3, 10, 3, 0, EDT),
                               at(2024, 3, 10, 3, 15, EDT)};
    expect("America/New_York", "*/15 * * * *", at(2024, 3, 10, 1, 40, EST), quarter, 3);
    /* a time that occurs twice fires twice */
    const int64_t daily_overlap[] = {at(2024, 11, 3, 1, 0, EDT), at(2024, 11, 3, 1, 0, EST),
                                     at(2024, 11, 4, 1, 0, EST)};
    expect("America/New_York", "0 1 * * *", at(2024, 11, 2, 12, 0, EDT), daily_overlap, 3);
    const int64_t twenty[] = {at(2024, 11, 3, 1, 0, EDT),  at(2024, 11, 3, 1, 20, EDT),
                              at(2024, 11, 3, 1, 40, EDT), at(2024, 11, 3, 1, 0, EST),
                              at(2024, 11, 3, 1, 20, EST), at(2024, 11, 3, 1, 40, EST),
                              at(2024, 11, 3, 2, 0, EST)};
    expect("America/New_York", "*/20 * * * *", at(2024, 11, 3, 0, 50, EDT), twenty, 7);
}

static void test_london_and_lord_howe(void **state)
{
    (void)state;
    const int GMT = 0, BST = 60, LHST = 630, LHDT = 660;
    const int64_t spring[] = {at(2024, 3, 31, 2, 0, BST), at(2024, 4, 1, 1, 30, BST)};
    expect("Europe/London", "30 1 * * *", at(2024, 3, 30, 12, 0, GMT), spring, 2);
    const int64_t autumn[] = {at(2024, 10, 27, 1, 30, BST), at(2024, 10, 27, 1, 30, GMT),
                              at(2024, 10, 28, 1, 30, GMT)};
    expect("Europe/London", "30 1 * * *", at(2024, 10, 26, 12, 0, BST), autumn, 3);
    /* Lord Howe's clock moves by 30 minutes: 02:00 -> 02:30 in October */
    const int64_t ten[] = {at(2024, 10, 6, 1, 50, LHST), at(2024, 10, 6, 2, 30, LHDT),
                           at(2024, 10, 6, 2, 40, LHDT)};
    expect("Australia/Lord_Howe", "*/10 * * * *", at(2024, 10, 6, 1, 45, LHST), ten, 3);
    const int64_t gap[] = {at(2024, 10, 6, 2, 30, LHDT), at(2024, 10, 7, 2, 15, LHDT)};
    expect("Australia/Lord_Howe", "15 2 * * *", at(2024, 10, 5, 12, 0, LHST), gap, 2);
    /* and back, 02:00 -> 01:30 in April: 01:45 occurs twice */
    const int64_t twice[] = {at(2024, 4, 7, 1, 45, LHDT), at(2024, 4, 7, 1, 45, LHST),
                             at(2024, 4, 8, 1, 45, LHST)};
    expect("Australia/Lord_Howe", "45 1 * * *", at(2024, 4, 6, 12, 0, LHDT), twice, 3);
    /* no zone is UTC, the same as saq__cron_next */
    saq__cron_t c;
    char err[128];
    assert_int_equal(saq__cron_parse("0 3 * * *", &c, err, sizeof err), 0);
    int64_t s = at(2024, 6, 1, 12, 0, 0);
    assert_int_equal(saq__cron_next_in(&c, s, NULL, NULL), saq__cron_next(&c, s));
    assert_int_equal(saq__cron_next(&c, s), at(2024, 6, 2, 3, 0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_london_and_lord_howe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
