/* SPDX-License-Identifier: MIT */
/* Cron expressions (croniter dialect), evaluated in UTC. See cron.h.
 *
 * The parser follows croniter 7.0.0's reading of an expression item by item
 * (what it accepts, and what each accepted item means, corner cases
 * included); tests/cron/differential.py checks it against croniter itself. */
#include "cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Field positions in the expression: "min hour mday month wday [sec [year]]". */
enum { F_MIN, F_HOUR, F_MDAY, F_MON, F_WDAY, F_SEC, F_YEAR, F_COUNT };

/* Per-field limits: lo..top is croniter's range of the field (where "*" and
 * "n/step" end); shown_hi is the largest value accepted as written (weekday
 * 7 is Sunday). all is how many distinct values make croniter treat a field
 * as "*". */
typedef struct field_spec {
    const char *name;
    int lo, top, shown_hi, all;
    const char *const *names; /* 3-letter aliases for lo.., or NULL */
} field_spec;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_spec specs[F_COUNT] = {
    {"minute", 0, 59, 59, 60, NULL},
    {"hour", 0, 23, 23, 24, NULL},
    {"day-of-month", 1, 31, 31, 31, NULL},
    {"month", 1, 12, 12, 12, month_names},
    {"day-of-week", 0, 6, 7, 7, wday_names},
    {"second", 0, 59, 59, 60, NULL},
    {"year", 1970, 2099, 2099, 130, NULL},
};

#define V_LAST (-1L)      /* day-of-month "L" as a value */
#define NTH_LAST 6        /* day-of-week "Ln": the nth slot meaning "last" */
#define SATURATE 1000000L /* numbers are read up to this: anything larger is out of range */

/* Where and how to report a parse error. */
typedef struct err_ctx {
    const char *expr;
    char *buf;
    size_t len;
} err_ctx;

/* Format "cron '<expr>': <message>" into the error buffer as a single line. */
static int fail(const err_ctx *e, const char *fmt, ...)
{
    if (!e->buf || e->len == 0)
        return -1;
    size_t elen = e->expr ? strlen(e->expr) : 0;
    int n = snprintf(e->buf, e->len, "cron '%.64s%s': ", e->expr ? e->expr : "",
                     elen > 64 ? "..." : "");
    if (n >= 0 && (size_t)n < e->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    for (char *p = e->buf; *p; p++) /* keep it one printable line */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return -1;
}

/* ASCII whitespace, as croniter's field splitter (\S+ with re.ASCII). */
static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* ASCII lower-casing, locale independent. */
static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* s[0..n) is one or more ASCII digits. */
static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

/* Value of the digits s[0..n), saturated at SATURATE. */
static long digits_value(const char *s, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++)
        if (v < SATURATE)
            v = v * 10 + (s[i] - '0');
    return v < SATURATE ? v : SATURATE;
}

/* Case-insensitive comparison of s[0..n) with NUL-terminated (lower-case) word. */
static int word_eq(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (lower(s[i]) != word[i])
            return 0;
    return i == n && word[i] == '\0';
}

/* Index of s[0..n) in a NULL-terminated name list, or -1. */
static int name_index(const char *const *names, const char *s, size_t n)
{
    for (int i = 0; names && names[i]; i++)
        if (word_eq(s, n, names[i]))
            return i;
    return -1;
}

/* Where s[0..n) contains ch, or NULL. */
static const char *find(const char *s, size_t n, char ch)
{
    return n ? memchr(s, ch, n) : NULL;
}

/* What parsing one field has collected. Values are kept as bit (v - lo). */
typedef struct field_acc {
    uint64_t bits[3]; /* plain values */
    int star;         /* a '*' item */
    int last;         /* day-of-month 'L' */
    int nearest;      /* day-of-month 'W' day, 0 = none */
    uint8_t nth_keys; /* day-of-week: weekdays named with '#' or 'L' */
} field_acc;

static void set_bit(uint64_t *b, int i)
{
    b[i / 64] |= (uint64_t)1 << (i % 64);
}

static int popcount3(const uint64_t *b)
{
    return __builtin_popcountll(b[0]) + __builtin_popcountll(b[1]) + __builtin_popcountll(b[2]);
}

/* Add value v (weekday 7 already made 0) of field f, for the k-th (1-5),
 * last (NTH_LAST) or any (0) occurrence. */
static int add_value(int f, long v, int nth, field_acc *a, saq__cron_t *x, const err_ctx *e)
{
    const field_spec *fs = &specs[f];
    if (v < fs->lo || v > fs->top)
        return fail(e, "%s value %ld out of range %d-%d", fs->name, v, fs->lo, fs->shown_hi);
    if (nth == 0) {
        set_bit(a->bits, (int)(v - fs->lo));
    } else {
        a->nth_keys |= (uint8_t)(1u << v);
        if (nth == NTH_LAST)
            x->wday_last |= (uint8_t)(1u << v);
        else
            x->wday_nth[v] |= (uint8_t)(1u << nth);
    }
    return 0;
}

/* One value token of field f: digits, a name, or (day-of-month) 'L' as V_LAST.
 * Weekday 7 is returned as 0. */
static int token_value(const char *s, size_t n, int f, long *v, const err_ctx *e)
{
    const field_spec *fs = &specs[f];
    int i;
    if (all_digits(s, n))
        *v = digits_value(s, n);
    else if ((i = name_index(fs->names, s, n)) >= 0)
        *v = fs->lo + i;
    else if (f == F_MDAY && n == 1 && lower(s[0]) == 'l')
        *v = V_LAST;
    else if (n == 0)
        return fail(e, "%s: missing value", fs->name);
    else
        return fail(e, "%s: invalid value '%.*s'", fs->name, (int)(n > 32 ? 32 : n), s);
    if (f == F_WDAY && *v == 7)
        *v = 0;
    return 0;
}

/* croniter's range item "low-high[/step]": s[0..n) has exactly one '-', a
 * non-empty low before it, and after it a non-empty high without '/' and
 * optionally "/digits". */
static int split_range(const char *s, size_t n, size_t *dash, size_t *slash)
{
    const char *d = find(s, n, '-');
    if (!d || d == s)
        return 0;
    size_t p = (size_t)(d - s), rn = n - p - 1;
    const char *r = d + 1;
    if (find(r, rn, '-') || rn == 0)
        return 0;
    const char *sl = find(r, rn, '/');
    if (sl) {
        if (sl == r || !all_digits(sl + 1, rn - (size_t)(sl - r) - 1))
            return 0;
        *slash = p + 1 + (size_t)(sl - r);
    } else {
        *slash = n;
    }
    *dash = p;
    return 1;
}

/* Parse one list item of field f (after the day-of-week '#'/'L' and the
 * day-of-month 'W' forms were taken apart), OR-ing its values into *a; each
 * value is for occurrence nth (see add_value). */
static int parse_item(const char *s, size_t n, int f, int nth, field_acc *a, saq__cron_t *x,
                      const err_ctx *e)
{
    const field_spec *fs = &specs[f];
    long low, high, step = 1;
    int start_with_step = 0;
    size_t dash, slash;

    if (n >= 3 && s[0] == '*' && s[1] == '/' && all_digits(s + 2, n - 2)) {
        low = fs->lo; /* "*\/n" is "lo-top/n" */
        high = fs->top;
        step = digits_value(s + 2, n - 2);
    } else if (!(n >= 2 && s[0] == '*' && s[1] == '/') && split_range(s, n, &dash, &slash)) {
        const char *hs = s + dash + 1;
        size_t hn = slash - dash - 1;
        if (token_value(s, dash, f, &low, e))
            return -1;
        if (f == F_MDAY && hn == 1 && lower(hs[0]) == 'l')
            high = fs->top; /* "n-L": to the 31st */
        else if (token_value(hs, hn, f, &high, e))
            return -1;
        if (low == V_LAST || high == V_LAST)
            return fail(e, "%s: 'L' cannot start a range", fs->name);
        if (slash < n)
            step = digits_value(s + slash + 1, n - slash - 1);
    } else {
        /* "start/step" is "start-top/step": start must have no '-' */
        const char *sl = NULL;
        for (size_t i = n; i-- > 0;)
            if (s[i] == '/') {
                sl = s + i;
                break;
            }
        if (sl) {
            size_t an = (size_t)(sl - s), sn = n - an - 1;
            if (an == 0 || sn == 0)
                return fail(e, "%s: invalid item '%.*s'", fs->name, (int)(n > 32 ? 32 : n), s);
            if (find(s, an, '-') || !all_digits(sl + 1, sn))
                return fail(e, "%s: invalid item '%.*s'", fs->name, (int)(n > 32 ? 32 : n), s);
            if (token_value(s, an, f, &low, e))
                return -1;
            if (low == V_LAST)
                return fail(e, "%s: 'L' cannot take a step", fs->name);
            high = fs->top;
            step = digits_value(sl + 1, sn);
            start_with_step = 1;
        } else {
            /* a single value, '*' or 'L' */
            long v;
            if (n == 0)
                return fail(e, "%s: empty list item", fs->name);
            if (s[0] == '-')
                return fail(e, "%s: negative value '%.*s'", fs->name, (int)(n > 32 ? 32 : n), s);
            if (n == 1 && s[0] == '*') {
                a->star = 1;
                return 0;
            }
            if (token_value(s, n, f, &v, e))
                return -1;
            if (v == V_LAST) {
                a->last = 1;
                return 0;
            }
            return add_value(f, v, nth, a, x, e);
        }
    }
    if (step == 0)
        return fail(e, "%s: step must be at least 1", fs->name);
    if (low > fs->top || high > fs->top)
        return fail(e, "%s: range %ld-%ld out of range %d-%d", fs->name, low, high, fs->lo,
                    fs->shown_hi);
    if (low == high && start_with_step) /* "59/15" is just 59 */
        return add_value(f, low, nth, a, x, e);
    if (low == high) /* croniter: a range with equal ends ("5-5", "jan-jan") is the whole field */
        low = fs->lo, high = fs->top;
    if (low > high) {
        /* Wraps: low..top by step, then from the field's start to high. Where
         * the second part starts is croniter's: past lo by what the step has
         * left over at the top, or at lo when that is just one. */
        long v = low, lastv = low;
        for (; v <= fs->top; v += step)
            if (add_value(f, lastv = v, nth, a, x, e))
                return -1;
        long k = step - (fs->top - lastv);
        for (v = fs->lo + (k > 1 ? k : 0); v <= high; v += step)
            if (add_value(f, v, nth, a, x, e))
                return -1;
        return 0;
    }
    for (long v = low; v <= high; v += step)
        if (add_value(f, v, nth, a, x, e))
            return -1;
    return 0;
}

/* croniter's day-of-week "X#k" head: \w+ (ASCII letters, digits, '_'), or a
 * range of two weekday names or of two month names. */
static int nth_head_ok(const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n; i++) {
        char ch = lower(s[i]);
        if (!((ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_'))
            break;
    }
    if (n > 0 && i == n)
        return 1;
    if (n == 7 && s[3] == '-')
        return (name_index(wday_names, s, 3) >= 0 && name_index(wday_names, s + 4, 3) >= 0) ||
               (name_index(month_names, s, 3) >= 0 && name_index(month_names, s + 4, 3) >= 0);
    return 0;
}

/* Parse one list item of field f, with the special forms of the day fields. */
static int parse_list_item(const char *s, size_t n, int f, int items, field_acc *a,
                           saq__cron_t *x, const err_ctx *e)
{
    const field_spec *fs = &specs[f];
    if (f == F_WDAY) {
        const char *hash = find(s, n, '#');
        if (hash && nth_head_ok(s, (size_t)(hash - s)) &&
            all_digits(hash + 1, n - (size_t)(hash - s) - 1)) {
            long k = digits_value(hash + 1, n - (size_t)(hash - s) - 1);
            if (k < 1 || k > 5)
                return fail(e, "%s: '%.*s' needs an occurrence 1-5 after '#' (e.g. 1#2)",
                            fs->name, (int)(n > 32 ? 32 : n), s);
            return parse_item(s, (size_t)(hash - s), f, (int)k, a, x, e);
        }
        if (!hash && n >= 2 && lower(s[0]) == 'l' && all_digits(s + 1, n - 1))
            return parse_item(s + 1, n - 1, f, NTH_LAST, a, x, e);
    }
    if (f == F_MDAY && n >= 2) {
        const char *digits = NULL;
        if (lower(s[n - 1]) == 'w' && all_digits(s, n - 1))
            digits = s;
        else if (lower(s[0]) == 'w' && all_digits(s + 1, n - 1))
            digits = s + 1;
        if (digits) {
            long w = digits_value(digits, n - 1);
            if (w < 1 || w > 31)
                return fail(e, "%s: 'W' day %ld out of range 1-31", fs->name, w);
            if (items != 1)
                return fail(e, "%s: 'W' must be the only item of the field", fs->name);
            a->nearest = (int)w;
            return 0;
        }
    }
    return parse_item(s, n, f, 0, a, x, e);
}

/* Parse field f from s[0..n) into *a. */
static int parse_field(const char *s, size_t n, int f, field_acc *a, saq__cron_t *x,
                       const err_ctx *e)
{
    memset(a, 0, sizeof *a);
    if (lower(s[0]) == 'h' || lower(s[0]) == 'r') {
        /* croniter's hashed / random values: "H", "R", "H(0-29)/5", ... */
        size_t i = 1;
        if (i < n && s[i] == '(') {
            size_t j = ++i;
            while (i < n && is_digit(s[i]))
                i++;
            if (i == j || i >= n || s[i] != '-')
                goto plain;
            j = ++i;
            while (i < n && is_digit(s[i]))
                i++;
            if (i == j || i >= n || s[i] != ')')
                goto plain;
            i++;
        }
        if (i < n && (s[i] != '/' || !all_digits(s + i + 1, n - i - 1)))
            goto plain;
        if (lower(s[0]) == 'h')
            return fail(e, "%s: hashed 'H' values need a hash id, which saq does not pass",
                        specs[f].name);
        return fail(e, "%s: random 'R' values are not supported", specs[f].name);
    }
plain:
    if (find(s, n, '?')) {
        if (n != 1)
            return fail(e, "%s: '?' cannot be combined with anything", specs[f].name);
        if (f != F_MDAY && f != F_WDAY)
            return fail(e, "%s: '?' is only allowed in day-of-month and day-of-week",
                        specs[f].name);
        a->star = 1;
        return 0;
    }
    int items = 1;
    for (size_t i = 0; i < n; i++)
        items += s[i] == ',';
    const char *end = s + n;
    for (const char *p = s;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *q = comma ? comma : end;
        if (parse_list_item(p, (size_t)(q - p), f, items, a, x, e))
            return -1;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (f == F_WDAY && a->nth_keys) {
        /* as croniter: no "1#2,3" - plain weekdays only with '#'/'L' on the same
         * weekdays, or when the field names all seven */
        uint8_t plain = (uint8_t)a->bits[0];
        int distinct = __builtin_popcount((unsigned)(plain | a->nth_keys)) + a->star;
        if ((plain & (uint8_t)~a->nth_keys) && distinct != 7)
            return fail(e, "%s: '#' and 'L' items cannot be mixed with other plain weekdays",
                        specs[f].name);
    }
    return 0;
}

/* Kelvin sign (U+212A): Python lower-cases it to 'k', so "@wee\u212Aly" is
 * "@weekly" to croniter. Compare s (NUL-terminated) to an alias that way. */
static int alias_eq(const char *s, const char *alias)
{
    for (;; alias++) {
        if (!*alias)
            return !*s;
        if (*alias == 'k' && (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x84 &&
            (unsigned char)s[2] == 0xAA)
            s += 3;
        else if (lower(*s) == *alias)
            s++;
        else
            return 0;
    }
}

/* Parse `expr`; see cron.h. */
int saq__cron_parse(const char *expr, saq__cron_t *out, char *err, size_t errlen)
{
    static const struct { const char *alias, *expr; } aliases[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    err_ctx e = {expr, err, errlen};
    const char *text = expr, *fs[F_COUNT];
    size_t fn[F_COUNT];
    int nf = 0;

    if (err && errlen)
        err[0] = '\0';
    if (!expr) {
        e.expr = "(null)";
        return fail(&e, "expression is NULL");
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (alias_eq(expr, aliases[i].alias))
            text = aliases[i].expr;

    for (const char *p = text; *p;) {
        while (is_space(*p))
            p++;
        if (!*p)
            break;
        const char *q = p;
        while (*q && !is_space(*q))
            q++;
        if (nf < F_COUNT) {
            fs[nf] = p;
            fn[nf] = (size_t)(q - p);
        }
        nf++;
        p = q;
    }
    if (nf < 5 || nf > 7)
        return fail(&e, "expected 5, 6 or 7 fields, got %d", nf);

    field_acc acc[F_COUNT];
    saq__cron_t c;
    memset(&c, 0, sizeof c);
    for (int f = 0; f < nf; f++)
        if (parse_field(fs[f], fn[f], f, &acc[f], &c, &e))
            return -1;

    /* A field counts as '*' with a '*' item or when it lists every value;
     * for a day field, the latter only when the other day field has a '*'
     * somewhere ("0 0 1-31 * mon" stays restricted: OR, so daily). */
    int star[F_COUNT];
    for (int f = 0; f < nf; f++) {
        int count = popcount3(acc[f].bits) + acc[f].last + (acc[f].nearest > 0) +
                    __builtin_popcount(acc[f].nth_keys & (uint8_t)~acc[f].bits[0]);
        int full = count == specs[f].all;
        if (f == F_MDAY && !find(fs[F_WDAY], fn[F_WDAY], '*'))
            full = 0;
        if (f == F_WDAY && !find(fs[F_MDAY], fn[F_MDAY], '*'))
            full = 0;
        star[f] = acc[f].star || full;
    }
    if (nf < 7)
        star[F_YEAR] = 1;
    uint64_t full60 = ((uint64_t)1 << 60) - 1;
    c.minutes = star[F_MIN] ? full60 : acc[F_MIN].bits[0];
    c.hours = star[F_HOUR] ? 0xFFFFFFu : (uint32_t)acc[F_HOUR].bits[0];
    c.mdays = (uint32_t)acc[F_MDAY].bits[0] << 1;
    c.months = star[F_MON] ? 0x1FFEu : (uint16_t)(acc[F_MON].bits[0] << 1);
    c.wdays = (uint8_t)acc[F_WDAY].bits[0];
    c.mday_star = (uint8_t)star[F_MDAY];
    c.wday_star = (uint8_t)star[F_WDAY];
    c.mday_last = (uint8_t)acc[F_MDAY].last;
    c.mday_nearest = (uint8_t)acc[F_MDAY].nearest;
    c.has_seconds = nf >= 6;
    c.seconds = nf < 6 ? 1 : star[F_SEC] ? full60 : acc[F_SEC].bits[0];
    c.has_years = !star[F_YEAR];
    if (c.has_years)
        memcpy(c.years, acc[F_YEAR].bits, sizeof c.years);
    if (out)
        *out = c;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Number of days in month m of year y. */
static int days_in_month(int64_t y, int m)
{
    static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return dim[m];
}

/* Weekday of y-m-d, 0 = Sunday. */
static int weekday(int64_t y, int m, int d)
{
    int64_t z = days_from_civil(y, m, d);
    return (int)(((z % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
}

/* Lowest set bit n of mask with n >= from, or -1. */
static int next_bit(uint64_t mask, int from)
{
    if (from > 63)
        return -1;
    mask &= ~(uint64_t)0 << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

/* First year >= y in the year mask, or -1. */
static int64_t next_year(const saq__cron_t *c, int64_t y)
{
    int64_t i = y < 1970 ? 0 : y - 1970;
    for (; i < 130; i++)
        if ((c->years[i / 64] >> (i % 64)) & 1)
            return 1970 + i;
    return -1;
}

/* Day-of-month "nW": the weekday (Mon-Fri) nearest day n (or the month's
 * last day when shorter), without leaving the month. */
static int nearest_weekday(int64_t y, int m, int n)
{
    int dim = days_in_month(y, m);
    if (n > dim)
        n = dim;
    int wd = weekday(y, m, n);
    if (wd == 6) /* Saturday: the Friday before, or Monday the 3rd */
        return n > 1 ? n - 1 : n + 2;
    if (wd == 0) /* Sunday: the Monday after, or the Friday before the month's end */
        return n < dim ? n + 1 : n - 2;
    return n;
}

/* Whether y-m-d passes the day rule. use_dom / use_dow: whether the plain
 * day-of-month / day-of-week lists take part (croniter replaces one of them
 * by '*' for each half of its OR); "W" and "#"/"L" weekdays always do. */
static int day_matches(const saq__cron_t *c, int64_t y, int m, int d, int use_dom, int use_dow)
{
    int dom, dow;
    if (c->mday_nearest)
        dom = d == nearest_weekday(y, m, c->mday_nearest);
    else if (!use_dom || c->mday_star)
        dom = 1;
    else
        dom = ((c->mdays >> d) & 1) || (c->mday_last && d == days_in_month(y, m));
    if (!dom)
        return 0;
    int nth = c->wday_last;
    for (int i = 0; i < 7; i++)
        nth |= c->wday_nth[i];
    int wd = weekday(y, m, d);
    if (nth)
        dow = ((c->wday_nth[wd] >> ((d - 1) / 7 + 1)) & 1) ||
              (((c->wday_last >> wd) & 1) && d + 7 > days_in_month(y, m));
    else if (!use_dow || c->wday_star)
        dow = 1;
    else
        dow = (c->wdays >> wd) & 1;
    return dow;
}

#define NONE INT64_MIN /* search() found nothing (-1 is a valid time: 1969-12-31 23:59:59) */

/* First second >= t (epoch) that matches, with years up to ylast; NONE if none. */
static int64_t search(const saq__cron_t *c, int64_t t, int64_t ylast, int use_dom, int use_dow)
{
    int64_t z = (t >= 0 ? t : t - 86399) / 86400, sod = t - z * 86400;
    int64_t y;
    int mo, d, h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), s = (int)(sod % 60);
    civil_from_days(z, &y, &mo, &d);

    while (y <= ylast) {
        int v;
        if (c->has_years) {
            int64_t ny = next_year(c, y);
            if (ny < 0)
                return NONE;
            if (ny != y) {
                y = ny, mo = 1, d = 1, h = mi = s = 0;
                continue;
            }
        }
        if (!((c->months >> mo) & 1)) { /* jump to the next allowed month */
            if ((v = next_bit(c->months, mo + 1)) < 0 || v > 12) {
                y++;
                v = next_bit(c->months, 1);
                if (v < 0 || v > 12)
                    return NONE;
            }
            mo = v, d = 1, h = mi = s = 0;
            continue;
        }
        if (d > days_in_month(y, mo)) { /* past month end: first of next month */
            if (++mo > 12)
                mo = 1, y++;
            d = 1, h = mi = s = 0;
            continue;
        }
        if (!day_matches(c, y, mo, d, use_dom, use_dow)) {
            d++, h = mi = s = 0;
            continue;
        }
        if ((v = next_bit(c->hours, h)) < 0 || v > 23) {
            d++, h = mi = s = 0;
            continue;
        }
        if (v != h)
            h = v, mi = s = 0;
        if ((v = next_bit(c->minutes, mi)) < 0 || v > 59) {
            if (++h > 23)
                d++, h = 0;
            mi = s = 0;
            continue;
        }
        if (v != mi)
            mi = v, s = 0;
        if ((v = next_bit(c->seconds, s)) < 0 || v > 59) {
            if (++mi > 59) {
                mi = 0;
                if (++h > 23)
                    d++, h = 0;
            }
            s = 0;
            continue;
        }
        s = v;
        return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    }
    return NONE;
}

/* Where croniter starts looking after `after` (a start time, read as UTC or
 * as a naive wall time): the next second with a seconds field, else the next
 * whole minute. Then the first match from there, with croniter's horizon of
 * 50 years after that start's year; NONE if there is none. */
static int64_t naive_next(const saq__cron_t *c, int64_t after, int use_dom, int use_dow)
{
    int64_t t = c->has_seconds ? after + 1 : (after >= 0 ? after / 60 : (after - 59) / 60) * 60 + 60;
    int64_t z = (t >= 0 ? t : t - 86399) / 86400, y0;
    int mo, d;
    civil_from_days(z, &y0, &mo, &d);
    return search(c, t, y0 + 50, use_dom, use_dow);
}

/* ---- time zones (croniter's _calc with an aware start) ---- */

typedef struct zone {
    saq__utcoff_fn off;
    const void *z;
} zone;

/* A wall time in the zone with the instant it stands for; exists = 0 when it
 * was moved forward out of a gap. */
typedef struct aware {
    int64_t wall, inst;
    int exists;
} aware;

/* The instants whose wall time is w: *t0 the earlier (Python's fold=0), *t1
 * the later (fold=1, the same unless w occurs twice). 0 when w is in a gap. */
static int wall_instants(const zone *z, int64_t w, int64_t *t0, int64_t *t1)
{
    int32_t before = z->off(z->z, w - 86400), after = z->off(z->z, w + 86400);
    int vb = z->off(z->z, w - before) == before, va = z->off(z->z, w - after) == after;
    if (!vb && !va)
        return 0;
    *t0 = vb ? w - before : w - after;
    *t1 = va ? w - after : w - before;
    return 1;
}

/* croniter's _add_tzinfo(w, now) for a zoneinfo zone: in a gap, the first
 * existing wall time a whole number of minutes later (exists = 0); a wall
 * time that occurs twice is its first occurrence unless that is not after
 * now, then its second. */
static aware add_tz(const zone *z, int64_t w, int64_t now)
{
    int64_t t0, t1;
    if (!wall_instants(z, w, &t0, &t1)) {
        do
            w += 60;
        while (!wall_instants(z, w, &t0, &t1));
        return (aware){w, t0, 0};
    }
    return (aware){w, t0 > now || t0 == t1 ? t0 : t1, 1};
}

/* croniter's _calc from the aware time `now` (one half of its day OR when
 * use_dom/use_dow say so): the naive match after now's wall time, placed in
 * the zone, then croniter's corrections for gaps and for a change of UTC
 * offset between now and it. 0 and *out, or -1 where croniter raises. */
static int calc_in(const saq__cron_t *c, const zone *z, int64_t now, int use_dom, int use_dow,
                   aware *out)
{
    int32_t now_off = z->off(z->z, now);
    int64_t w = naive_next(c, now + now_off, use_dom, use_dow);
    if (w == NONE)
        return -1;
    aware a = add_tz(z, w, now), alt;
    if (!a.exists && (a.inst <= now || c->hours == 0xFFFFFFu)) {
        while (!a.exists) { /* skip the times in the gap */
            if ((w = naive_next(c, w, use_dom, use_dow)) == NONE)
                return -1;
            a = add_tz(z, w, now);
        }
    }
    int64_t delta = (a.wall - a.inst) - now_off;
    *out = a;
    if (delta == 0)
        return 0;
    /* the offset changed: is there an earlier match under the other offset? */
    if ((w = naive_next(c, now + now_off + delta, use_dom, use_dow)) == NONE)
        return -1;
    alt = add_tz(z, w, now);
    if (alt.exists && alt.inst > now && a.inst > alt.inst)
        *out = alt;
    return 0;
}

/* First fire time strictly after after_s; see cron.h. As croniter: the
 * search starts at the next second (with a seconds field) or the next whole
 * minute, and gives up past 50 years after that start's year. */
int64_t saq__cron_next_in(const saq__cron_t *c, int64_t after_s, saq__utcoff_fn off,
                          const void *zone_ud)
{
    const int64_t lim = (int64_t)1 << 52; /* keep the arithmetic far from overflow */
    if (!c || after_s < -lim || after_s > lim)
        return -1;
    zone z = {off, zone_ud};
    int both = !c->mday_star && !c->wday_star;
    /* Both day fields restricted: croniter's OR, as the earlier of a search
     * with the weekday list as '*' and one with the day-of-month list as '*'.
     * With "W" or "#"/"L" weekdays, each half is still an intersection, and
     * croniter fails outright when either half finds nothing. */
    int special = c->mday_nearest || c->wday_last;
    for (int i = 0; i < 7; i++)
        special |= c->wday_nth[i];
    int64_t r[2] = {NONE, NONE}, wall[2] = {0, 0};
    for (int half = 0; half < (both ? 2 : 1); half++) {
        int use_dom = !both || half == 0, use_dow = !both || half == 1;
        if (!off) {
            r[half] = wall[half] = naive_next(c, after_s, use_dom, use_dow);
        } else {
            aware a;
            if (calc_in(c, &z, after_s, use_dom, use_dow, &a) == 0)
                r[half] = a.inst, wall[half] = a.wall;
        }
    }
    if (both && special && (r[0] == NONE || r[1] == NONE))
        return -1;
    /* croniter compares the halves as datetimes of one zone: by wall time,
     * the second on a tie */
    int64_t best = r[0] == NONE ? r[1] : r[1] == NONE ? r[0] : wall[0] < wall[1] ? r[0] : r[1];
    return best == NONE ? -1 : best;
}

int64_t saq__cron_next(const saq__cron_t *c, int64_t after_s)
{
    return saq__cron_next_in(c, after_s, NULL, NULL);
}
