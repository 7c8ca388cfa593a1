/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the cron parser and evaluator (src/cron.c).
 *
 * Input: 5 bytes of start time (little-endian, mapped to about 1426..2514;
 * times before 1970 are negative epoch seconds),
 * then the expression (up to a NUL byte, if any). Properties checked:
 *  - saq__cron_parse never crashes, returns 0 or -1, and on -1 leaves a
 *    NUL-terminated, printable, one-line message that names the expression;
 *  - for a parsed expression, each of three consecutive saq__cron_next
 *    results is -1 or strictly after its start, at second 0 without a
 *    seconds field, within croniter's 50-year horizon, matches the parsed
 *    masks (checked here with an independent calendar and day rule), and is
 *    the FIRST matching second after the start (a day-by-day walk finds no
 *    earlier one); a -1 has no match in the next 3 days unless croniter's OR
 *    with "#"/"L"/"W" (which fails outright when one half never matches).
 *
 * One-off build (see tests/cron/README.md):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined,float-cast-overflow \
 *     -Iabi -Isrc tests/fuzz/fuzz_cron.c src/cron.c -o /tmp/fuzz_cron
 *   /tmp/fuzz_cron -runs=10000000 tests/fuzz/corpus/cron */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "fuzz_cron: %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* ---- an independent calendar: day counting by whole years and months ---- */

static int leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int mdays(int64_t y, int m)
{
    static const int n[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 ? 28 + leap(y) : n[m];
}

typedef struct date {
    int64_t y;
    int m, d, wd; /* wd: 0 = Sunday */
} date;

/* Date of epoch day `days` (1970-01-01 = day 0, a Thursday). */
static date from_days(int64_t days)
{
    date t = {1970, 1, 1, (int)(((days % 7) + 7 + 4) % 7)};
    int64_t cycles = days / 146097; /* 400 Gregorian years */
    days -= cycles * 146097;
    if (days < 0)
        days += 146097, cycles--;
    t.y += cycles * 400;
    while (days >= 365 + leap(t.y))
        days -= 365 + leap(t.y++);
    while (days >= mdays(t.y, t.m))
        days -= mdays(t.y, t.m++);
    t.d = (int)days + 1;
    return t;
}

static void next_day(date *t)
{
    t->wd = (t->wd + 1) % 7;
    if (++t->d > mdays(t->y, t->m)) {
        t->d = 1;
        if (++t->m > 12)
            t->m = 1, t->y++;
    }
}

/* The weekday (Mon-Fri) nearest day n of the month, within the month. */
static int nearest(const date *t, int n)
{
    int dim = mdays(t->y, t->m);
    if (n > dim)
        n = dim;
    int wd = (t->wd + (n - t->d) % 7 + 7) % 7;
    if (wd == 6)
        return n == 1 ? 3 : n - 1;
    if (wd == 0)
        return n == dim ? n - 2 : n + 1;
    return n;
}

/* croniter's day rule, written out per case. */
static int day_ok(const saq__cron_t *c, const date *t)
{
    int dim = mdays(t->y, t->m), nth_any = c->wday_last != 0;
    for (int i = 0; i < 7; i++)
        nth_any |= c->wday_nth[i] != 0;
    int w_ok = !c->mday_nearest || t->d == nearest(t, c->mday_nearest);
    int n_ok = !nth_any || ((c->wday_nth[t->wd] >> ((t->d + 6) / 7)) & 1) ||
               (((c->wday_last >> t->wd) & 1) && t->d > dim - 7);
    int dom_list = ((c->mdays >> t->d) & 1) || (c->mday_last && t->d == dim);
    int dow_list = (c->wdays >> t->wd) & 1;
    int dom = c->mday_nearest ? w_ok : (c->mday_star || dom_list);
    int dow = nth_any ? n_ok : (c->wday_star || dow_list);
    if (!c->mday_star && !c->wday_star) /* OR of "weekdays as *" and "days as *" */
        return ((c->mday_nearest ? w_ok : dom_list) && n_ok) ||
               (w_ok && (nth_any ? n_ok : dow_list));
    return dom && dow;
}

static int date_ok(const saq__cron_t *c, const date *t)
{
    if (c->has_years) {
        int64_t i = t->y - 1970;
        if (i < 0 || i >= 130 || !((c->years[i / 64] >> (i % 64)) & 1))
            return 0;
    }
    return ((c->months >> t->m) & 1) && day_ok(c, t);
}

/* Earliest second of the day >= from (0..86399) that the time masks accept, or -1. */
static int64_t first_second(const saq__cron_t *c, int64_t from)
{
    int fh = (int)(from / 3600), fm = (int)(from / 60 % 60), fs = (int)(from % 60);
    for (int h = fh; h < 24; h++) {
        if (!((c->hours >> h) & 1))
            continue;
        for (int m = h == fh ? fm : 0; m < 60; m++) {
            if (!((c->minutes >> m) & 1))
                continue;
            for (int s = h == fh && m == fm ? fs : 0; s < 60; s++)
                if ((c->seconds >> s) & 1)
                    return h * 3600 + m * 60 + s;
        }
    }
    return -1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* First matching second after `after`, walking day by day up to `max_days`
 * days; -2 when the walk ends without one. */
static int64_t walk(const saq__cron_t *c, int64_t after, int64_t max_days)
{
    int64_t t = after + 1, day = floor_div(t, 86400), sod = t - day * 86400;
    date d = from_days(day);
    for (int64_t i = 0; i <= max_days; i++, day++, sod = 0, next_day(&d)) {
        if (!date_ok(c, &d))
            continue;
        int64_t s = first_second(c, sod);
        if (s >= 0)
            return day * 86400 + s;
    }
    return -2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5 || size > 4096)
        return 0;
    uint64_t raw = 0;
    for (int i = 0; i < 5; i++)
        raw |= (uint64_t)data[i] << (8 * i);
    int64_t start = (int64_t)(raw % ((uint64_t)1 << 35)) - ((int64_t)1 << 34);
    char expr[4096];
    size_t n = size - 5;
    memcpy(expr, data + 5, n);
    expr[n] = '\0';

    saq__cron_t c;
    char err[200];
    memset(err, 'x', sizeof err);
    int rc = saq__cron_parse(expr, &c, err, sizeof err);
    CHECK(rc == 0 || rc == -1, "rc %d", rc);
    if (rc) {
        size_t len = strnlen(err, sizeof err);
        CHECK(len < sizeof err, "error not terminated");
        CHECK(strncmp(err, "cron '", 6) == 0, "error '%s'", err);
        for (size_t i = 0; i < len; i++)
            CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f, "unprintable error byte");
        return 0;
    }
    CHECK(err[0] == '\0', "error text on success");
    CHECK(c.minutes && c.hours && c.months && c.seconds, "a time mask is empty");

    int special = c.mday_nearest || c.wday_last;
    for (int i = 0; i < 7; i++)
        special |= c.wday_nth[i];
    int or_special = special && !c.mday_star && !c.wday_star;

    int64_t t = start;
    for (int k = 0; k < 3; k++) {
        int64_t next = saq__cron_next(&c, t);
        if (next == -1) { /* none (or 1969-12-31 23:59:59, which -1 also is) */
            int64_t w = or_special ? -2 : walk(&c, t, 3);
            CHECK(w == -2 || w == -1, "'%s' after %lld: -1, but %lld matches", expr,
                  (long long)t, (long long)w);
            return 0;
        }
        CHECK(next > t, "'%s': %lld not after %lld", expr, (long long)next, (long long)t);
        CHECK(c.has_seconds || next % 60 == 0, "'%s': %lld not at second 0", expr,
              (long long)next);
        date dt = from_days(floor_div(next, 86400)), d0 = from_days(floor_div(t + 60, 86400));
        CHECK(dt.y <= d0.y + 50, "'%s': %lld past the 50-year horizon", expr, (long long)next);
        CHECK(date_ok(&c, &dt) && first_second(&c, next - floor_div(next, 86400) * 86400) ==
                                      next - floor_div(next, 86400) * 86400,
              "'%s': %lld does not match", expr, (long long)next);
        int64_t days = floor_div(next, 86400) - floor_div(t + 1, 86400);
        int64_t w = walk(&c, t, days);
        CHECK(w == next, "'%s' after %lld: next %lld, first match %lld", expr, (long long)t,
              (long long)next, (long long)w);
        t = next;
    }
    return 0;
}
