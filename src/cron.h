/* SPDX-License-Identifier: MIT */
/* Cron expressions exactly as saq's croniter (7.0.0) accepts and evaluates
 * them, in UTC or in a time zone given as a function (saq's cron_tz; tz.cc
 * reads the system's tz database). Pure logic: no I/O, no allocation. Internal (not exported).
 * tests/cron/ compares this against croniter itself; its README lists where
 * libsaq knowingly differs (croniter's random "R" values are refused). */
#ifndef SAQ_CRON_H
#define SAQ_CRON_H
#include <stdint.h>
#include <stddef.h>

typedef struct saq__cron {
    uint64_t seconds;  /* bit n set: second n (0-59) matches */
    uint64_t minutes;  /* 0-59 */
    uint32_t hours;    /* 0-23 */
    uint32_t mdays;    /* bit n: day-of-month n (1-31) */
    uint16_t months;   /* bit n: month n (1-12) */
    uint8_t wdays;     /* bit n: weekday n (0 = Sunday .. 6 = Saturday) */
    uint8_t mday_star; /* day-of-month counts as '*' (croniter's expanded "*") */
    uint8_t wday_star; /* day-of-week counts as '*' */
    uint8_t has_seconds; /* a 6th (seconds) field was given */
    uint8_t mday_last;   /* day-of-month "L": the last day of the month */
    uint8_t wday_last;   /* bit n: day-of-week "Ln", the last weekday n of the month */
    uint8_t wday_nth[7]; /* bit k of [n]: day-of-week "n#k", the k-th weekday n (k 1-5) */
    uint8_t mday_nearest; /* day-of-month "nW" / "Wn": the weekday nearest day n (0 = none) */
    uint8_t has_years;    /* a 7th (year) field was given and is not '*' */
    uint64_t years[3];    /* bit n: year 1970 + n (1970-2099) */
} saq__cron_t;

/* Parse `expr`. Returns 0, or -1 with a one-line reason in err (NUL-terminated,
 * truncated to errlen). Accepts what croniter.is_valid accepts (saq's check):
 * 5 fields "min hour mday month wday", 6 with seconds LAST, 7 with seconds
 * and then the year (1970-2099); '*', '?' (day fields), numbers, ranges a-b,
 * steps *\/n, a-b/n and n/step, lists; month and day names (3 letters,
 * case-insensitive); weekday 7 = Sunday; the aliases @yearly @annually
 * @monthly @weekly @daily @midnight @hourly; "L" and "nW"/"Wn" in
 * day-of-month; "Ln" and "n#k" in day-of-week. With croniter's readings of
 * the corner cases: a range written with equal ends ("5-5") is the whole
 * field, a reversed range wraps around ("5-1/2" in minutes is 5,7,..,59),
 * "n/step" starting at the field's top is just n. Refused: croniter's
 * hashed "H" (saq passes no hash id) and random "R" values. */
int saq__cron_parse(const char *expr, saq__cron_t *out, char *err, size_t errlen);

/* First fire time strictly after `after_s` (epoch seconds, UTC), as epoch
 * seconds, found as croniter's get_next finds it: -1 if there is none within
 * 50 years (croniter raises CroniterBadDateError; e.g. "0 0 30 2 *"). Day
 * matching: when both day fields are restricted, a day matches if either
 * does (and, as croniter, none is found at all when one side is "n#k"/"Ln"
 * or "W" and the other side can never match together with it); otherwise
 * both must. Without a seconds field, fire times are at second 0. */
int64_t saq__cron_next(const saq__cron_t *c, int64_t after_s);

/* A time zone for saq__cron_next_in: the UTC offset (seconds east of UTC,
 * DST included) in force at epoch second t. */
typedef int32_t (*saq__utcoff_fn)(const void *zone, int64_t t);

/* saq__cron_next with the fields read as wall-clock time in a zone (off NULL:
 * UTC, the same as saq__cron_next), as croniter 7.0.0 computes get_next from
 * a start that is an aware datetime in a zoneinfo.ZoneInfo (saq 0.26's
 * croniter(expr, datetime.now(cron_tz))). On the days the clock changes:
 * - a wall time in a gap (spring forward) fires at the first existing minute
 *   after it (02:30 in New York on a spring day fires at 03:00 EDT), unless
 *   the hour field is '*' (all hours): then that time is skipped;
 * - a wall time that occurs twice (fall back) fires at its first occurrence,
 *   and also at its second when the next fire time would otherwise be later
 *   (croniter's "alternative" under the other UTC offset): "0 1 * * *" in New
 *   York fires at 01:00 EDT and again at 01:00 EST on a fall-back day;
 * - day matching, the 50-year horizon and -1 for "none" are as saq__cron_next.
 * Assumes a zone changes its offset at most once within any two days (every
 * IANA zone since 1970). */
int64_t saq__cron_next_in(const saq__cron_t *c, int64_t after_s, saq__utcoff_fn off,
                          const void *zone);

#endif
