/* SPDX-License-Identifier: MIT */
#define _DEFAULT_SOURCE /* timegm */
/* Unit tests for cron jobs in IANA time zones: src/tz.cc (the system's tz
 * database, as Python's zoneinfo reads it) and
 * saq__cron_next_in (src/cron.c). The expected times are croniter 7.0.0's
 * with a zoneinfo.ZoneInfo start (tests/cron/differential.py compares many
 * more against croniter itself). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cron.h"
#include "saq.h"
#include "tz.h"

/* Epoch seconds of a civil time at a fixed UTC offset (minutes east);
 * timegm does not depend on TZ. */
static int64_t at(int y, int mo, int d, int h, int mi, int off_min)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) - off_min * 60;
}

static saq__tz_t *zone(const char *name)
{
    char err[256];
    saq__tz_t *z = saq__tz_open(name, err, sizeof err);
    if (!z)
        fail_msg("tz '%s': %s", name, err);
    return z;
}

/* A zone, an expression, a start and the fire times expected after it. */
typedef struct wall {
    int y, mo, d, h, mi, off; /* off: minutes east of UTC; y = 0 ends a list */
} wall;
typedef struct zcase {
    const char *zone, *expr, *why;
    wall start, want[7];
} zcase;

static int64_t at_wall(wall w)
{
    return at(w.y, w.mo, w.d, w.h, w.mi, w.off);
}

#define W(y, mo, d, h, mi, off) {y, mo, d, h, mi, off}

/* Each case's fire times, consecutively from its start, must be its want[] (up to a 0). */
static void expect_all(const zcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const zcase *k = &cases[i];
        saq__cron_t c;
        char err[256];
        if (saq__cron_parse(k->expr, &c, err, sizeof err))
            fail_msg("parse '%s': %s", k->expr, err);
        saq__tz_t *z = zone(k->zone);
        int64_t t = at_wall(k->start);
        for (int j = 0; j < 7 && k->want[j].y; j++) {
            t = saq__cron_next_in(&c, t, saq__tz_offset, z);
            if (t != at_wall(k->want[j]))
                fail_msg("'%s' in %s (%s), fire %d: got %lld, want %lld", k->expr, k->zone, k->why, j,
                         (long long)t, (long long)at_wall(k->want[j]));
        }
        saq__tz_free(z);
    }
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
    /* rules changed after tz 2022e (ICU 72's copy): Mexico has had no summer
     * time since October 2022, America/Ciudad_Juarez appeared in 2022g */
    z = zone("America/Mexico_City");
    assert_int_equal(saq__tz_offset(z, at(2025, 7, 15, 12, 0, 0)), -6 * 3600);
    assert_int_equal(saq__tz_offset(z, at(2022, 7, 15, 12, 0, 0)), -5 * 3600);
    saq__tz_free(z);
    z = zone("America/Ciudad_Juarez");
    assert_int_equal(saq__tz_offset(z, at(2025, 1, 15, 12, 0, 0)), -7 * 3600);
    assert_int_equal(saq__tz_offset(z, at(2025, 7, 15, 12, 0, 0)), -6 * 3600);
    saq__tz_free(z);
    /* the version is the system's tzdata.zi's ("# version 2025b") */
    char line[64] = "", want[32] = "?";
    FILE *f = fopen("/usr/share/zoneinfo/tzdata.zi", "r");
    if (f && fgets(line, sizeof line, f))
        sscanf(line, "# version %31s", want);
    if (f)
        fclose(f);
    if (!getenv("TZDIR"))
        assert_string_equal(saq_tzdata_version(), want);
}

static void test_bad_names(void **state)
{
    (void)state;
    const char *bad[] = {"", "Mars/Olympus_Mons", "America/New York", "GMT+05:00",
                         "Europe/Lond\xc3\xb6n", "America/New_York\n",
                         /* not names in the database: paths, Abseil's own fixed offsets, a non-TZif file */
                         "/etc/localtime", "../zoneinfo/UTC", "America/../Europe/London", "./UTC",
                         "America//New_York", "America/", "Fixed/UTC+01:00", "file:/etc/localtime",
                         "zone.tab", NULL};
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

/* A zone is a regular file of the tz database, as for Python's zoneinfo:
 * "localtime" is $TZDIR/localtime (not Abseil's $LOCALTIME or
 * /etc/localtime), a FIFO there is refused at once (Abseil would block
 * reading it), and UTC needs no database. */
static void test_zone_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/saq-tzdir-XXXXXX", path[512], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/localtime", dir);
    assert_int_equal(symlink("/usr/share/zoneinfo/Asia/Tokyo", path), 0);
    snprintf(path, sizeof path, "%s/Fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    char *old = getenv("TZDIR") ? strdup(getenv("TZDIR")) : NULL;
    setenv("TZDIR", dir, 1);
    setenv("LOCALTIME", "/usr/share/zoneinfo/America/New_York", 1);
    saq__tz_t *z = saq__tz_open("localtime", err, sizeof err);
    assert_non_null(z);
    assert_int_equal(saq__tz_offset(z, 1751328000), 9 * 3600); /* Tokyo's, from $TZDIR */
    saq__tz_free(z);
    assert_null(saq__tz_open("Fifo", err, sizeof err));
    assert_non_null(strstr(err, "unknown time zone 'Fifo'"));
    z = saq__tz_open("UTC", err, sizeof err); /* not in this TZDIR */
    assert_non_null(z);
    assert_int_equal(saq__tz_offset(z, 1751328000), 0);
    saq__tz_free(z);
    assert_null(saq__tz_open("Europe/London", err, sizeof err));
    unsetenv("LOCALTIME");
    if (old)
        setenv("TZDIR", old, 1);
    else
        unsetenv("TZDIR");
    free(old);
    unlink(path);
    snprintf(path, sizeof path, "%s/localtime", dir);
    unlink(path);
    rmdir(dir);
}

enum { EST = -300, EDT = -240, GMT = 0, BST = 60, LHST = 630, LHDT = 660 };

/* New York springs forward at 02:00 EST to 03:00 EDT, falls back at 02:00 EDT to 01:00 EST;
 * London at 01:00 GMT / 02:00 BST; Lord Howe by 30 minutes, 02:00 -> 02:30 and 02:00 -> 01:30 */
static const zcase dst_cases[] = {
    {"America/New_York", "30 2 * * *", "a time in the gap fires at the first minute after it",
     W(2024, 3, 9, 12, 0, EST), {W(2024, 3, 10, 3, 0, EDT), W(2024, 3, 11, 2, 30, EDT)}},
    {"America/New_York", "*/15 * * * *", "with every hour, the gap's times are skipped",
     W(2024, 3, 10, 1, 40, EST), {W(2024, 3, 10, 1, 45, EST), W(2024, 3, 10, 3, 0, EDT),
                                   W(2024, 3, 10, 3, 15, EDT)}},
    {"America/New_York", "0 1 * * *", "a time that occurs twice fires twice",
     W(2024, 11, 2, 12, 0, EDT), {W(2024, 11, 3, 1, 0, EDT), W(2024, 11, 3, 1, 0, EST),
                                   W(2024, 11, 4, 1, 0, EST)}},
    {"America/New_York", "*/20 * * * *", "the repeated hour runs twice",
     W(2024, 11, 3, 0, 50, EDT), {W(2024, 11, 3, 1, 0, EDT), W(2024, 11, 3, 1, 20, EDT),
                                   W(2024, 11, 3, 1, 40, EDT), W(2024, 11, 3, 1, 0, EST),
                                   W(2024, 11, 3, 1, 20, EST), W(2024, 11, 3, 1, 40, EST),
                                   W(2024, 11, 3, 2, 0, EST)}},
    {"Europe/London", "30 1 * * *", "spring gap", W(2024, 3, 30, 12, 0, GMT),
     {W(2024, 3, 31, 2, 0, BST), W(2024, 4, 1, 1, 30, BST)}},
    {"Europe/London", "30 1 * * *", "autumn overlap", W(2024, 10, 26, 12, 0, BST),
     {W(2024, 10, 27, 1, 30, BST), W(2024, 10, 27, 1, 30, GMT), W(2024, 10, 28, 1, 30, GMT)}},
    {"Australia/Lord_Howe", "*/10 * * * *", "a 30-minute gap, every hour",
     W(2024, 10, 6, 1, 45, LHST), {W(2024, 10, 6, 1, 50, LHST), W(2024, 10, 6, 2, 30, LHDT),
                                    W(2024, 10, 6, 2, 40, LHDT)}},
    {"Australia/Lord_Howe", "15 2 * * *", "a 30-minute gap", W(2024, 10, 5, 12, 0, LHST),
     {W(2024, 10, 6, 2, 30, LHDT), W(2024, 10, 7, 2, 15, LHDT)}},
    {"Australia/Lord_Howe", "45 1 * * *", "a 30-minute overlap", W(2024, 4, 6, 12, 0, LHDT),
     {W(2024, 4, 7, 1, 45, LHDT), W(2024, 4, 7, 1, 45, LHST), W(2024, 4, 8, 1, 45, LHST)}},
};

static void test_dst_days(void **state)
{
    (void)state;
    expect_all(dst_cases, sizeof dst_cases / sizeof dst_cases[0]);
}

static void test_no_zone_is_utc(void **state)
{
    (void)state;
    saq__cron_t c;
    char err[128];
    assert_int_equal(saq__cron_parse("0 3 * * *", &c, err, sizeof err), 0);
    int64_t s = at(2024, 6, 1, 12, 0, 0);
    assert_int_equal(saq__cron_next_in(&c, s, NULL, NULL), saq__cron_next(&c, s));
    assert_int_equal(saq__cron_next(&c, s), at(2024, 6, 2, 3, 0, 0));
}

/* saq_cron_next: the public preview (saq.h) */
static void test_saq_cron_next(void **state)
{
    (void)state;
    int64_t times[4] = {0};
    int32_t offs[4] = {1, 1, 1, 1};
    char err[200];
    assert_int_equal(saq_cron_next("30 2 * * *", "America/New_York", at(2024, 3, 9, 12, 0, EST), 3,
                                   times, offs, err, sizeof err), 3);
    assert_int_equal(times[0], at(2024, 3, 10, 3, 0, EDT));
    assert_int_equal(times[1], at(2024, 3, 11, 2, 30, EDT));
    assert_int_equal(times[2], at(2024, 3, 12, 2, 30, EDT));
    assert_int_equal(offs[0], -4 * 3600);
    assert_int_equal(offs[3], 1); /* only n written */
    /* UTC: NULL or "" */
    assert_int_equal(saq_cron_next("30 2 * * *", NULL, at(2024, 3, 9, 12, 0, 0), 1, times, offs, NULL, 0), 1);
    assert_int_equal(times[0], at(2024, 3, 10, 2, 30, 0));
    assert_int_equal(offs[0], 0);
    assert_int_equal(saq_cron_next("30 2 * * *", "", at(2024, 3, 9, 12, 0, 0), 1, times, NULL, NULL, 0), 1);
    assert_int_equal(times[0], at(2024, 3, 10, 2, 30, 0));
    /* no fire time at all: 0; n = 0: nothing to do */
    assert_int_equal(saq_cron_next("0 0 31 2 *", "Europe/London", 0, 4, times, NULL, err, sizeof err), 0);
    assert_int_equal(saq_cron_next("* * * * *", NULL, 0, 0, NULL, NULL, err, sizeof err), 0);
    /* refusals, with a message */
    assert_int_equal(saq_cron_next("30 2 * * *", "Mars/Olympus", 0, 1, times, NULL, err, sizeof err), SAQ_ECRON);
    assert_non_null(strstr(err, "unknown time zone 'Mars/Olympus'"));
    assert_int_equal(saq_cron_next("61 * * * *", NULL, 0, 1, times, NULL, err, sizeof err), SAQ_ECRON);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(saq_cron_next(NULL, NULL, 0, 1, times, NULL, err, sizeof err), SAQ_EINVAL);
    assert_int_equal(saq_cron_next("* * * * *", NULL, 0, -1, times, NULL, err, sizeof err), SAQ_EINVAL);
    assert_int_equal(saq_cron_next("* * * * *", NULL, 0, 1, NULL, NULL, NULL, 0), SAQ_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_zone_files),
        cmocka_unit_test(test_dst_days),
        cmocka_unit_test(test_no_zone_is_utc),
        cmocka_unit_test(test_saq_cron_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
