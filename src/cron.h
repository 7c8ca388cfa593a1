/* Cron expressions as saq's croniter accepts them, evaluated in UTC.
 * Pure logic: no I/O, no allocation after parse. Internal (not exported). */
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
    uint8_t mday_star; /* day-of-month field was '*' (or '?') */
    uint8_t wday_star; /* day-of-week field was '*' (or '?') */
    uint8_t has_seconds; /* a 6th (seconds) field was given */
    uint8_t mday_last;   /* day-of-month "L": the last day of the month */
    uint8_t wday_last;   /* bit n: day-of-week "Ln", the last weekday n of the month */
    uint8_t wday_nth[7]; /* bit k of [n]: day-of-week "n#k", the k-th weekday n (k 1-5) */
} saq__cron_t;

/* Parse `expr`. Returns 0, or -1 with a one-line reason in err (NUL-terminated,
 * truncated to errlen). Accepts: 5 fields "min hour mday month wday", or 6 with
 * seconds LAST ("* * * * * *\/10", croniter's order); '*', '?', numbers, ranges
 * a-b, steps *\/n and a-b/n and n/step, lists a,b,c; month names jan-dec and day
 * names sun-sat (case-insensitive); weekday 7 = Sunday; aliases @yearly
 * @annually @monthly @weekly @daily @midnight @hourly; and, as croniter:
 * "L" in day-of-month (last day), "Ln" and "n#k" in day-of-week (last / k-th
 * weekday n of the month; not mixed with plain weekdays), and reversed ranges that wrap around ("5-1" in
 * minutes is 5..59 and 0..1). Anything else is an error. */
int saq__cron_parse(const char *expr, saq__cron_t *out, char *err, size_t errlen);

/* First fire time strictly after `after_s` (epoch seconds, UTC), as epoch
 * seconds; -1 if none within 5 years (e.g. "0 0 30 2 *"). Day matching as
 * croniter/vixie cron: when both mday and wday are restricted, a day matches
 * if EITHER matches; otherwise both must. Without a seconds field, fire times
 * are at second 0. */
int64_t saq__cron_next(const saq__cron_t *c, int64_t after_s);

#endif
