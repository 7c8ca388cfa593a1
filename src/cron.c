/* Cron expressions (croniter dialect), evaluated in UTC. See cron.h. */
#include "cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Field positions in the expression: "min hour mday month wday [sec]". */
enum { F_MIN, F_HOUR, F_MDAY, F_MON, F_WDAY, F_SEC, F_COUNT };

/* Per-field limits. `hi` is the largest value accepted as written (weekday 7
 * is Sunday); `top` is where "*" and "n/step" stop (croniter's range). */
typedef struct field_spec {
    const char *name;
    int lo, hi, top;
    const char *const *names; /* 3-letter aliases for lo.., or NULL */
} field_spec;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_spec specs[F_COUNT] = {
    {"minute", 0, 59, 59, NULL},
    {"hour", 0, 23, 23, NULL},
    {"day-of-month", 1, 31, 31, NULL},
    {"month", 1, 12, 12, month_names},
    {"day-of-week", 0, 7, 6, wday_names},
    {"second", 0, 59, 59, NULL},
};

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

/* Case-insensitive comparison of s[0..n) with NUL-terminated word. */
static int word_eq(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (lower(s[i]) != word[i])
            return 0;
    return i == n && word[i] == '\0';
}

/* Parse one value (digits or a name) in s[0..n) for field f into *out. */
static int parse_value(const char *s, size_t n, int f, int *out, const err_ctx *e)
{
    const field_spec *fs = &specs[f];
    if (n == 0)
        return fail(e, "%s: missing value", fs->name);
    if (s[0] >= '0' && s[0] <= '9') {
        long v = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return fail(e, "%s: invalid value '%.*s'", fs->name, (int)(n > 32 ? 32 : n), s);
            if (v < 1000) /* saturate: anything this big is out of range anyway */
                v = v * 10 + (s[i] - '0');
        }
        if (v < fs->lo || v > fs->hi)
            return fail(e, "%s value '%.*s' out of range %d-%d", fs->name,
                        (int)(n > 32 ? 32 : n), s, fs->lo, fs->hi);
        *out = (int)v;
        return 0;
    }
    for (int i = 0; fs->names && fs->names[i]; i++) {
        if (word_eq(s, n, fs->names[i])) {
            *out = fs->lo + i;
            return 0;
        }
    }
    return fail(e, "%s: invalid value '%.*s'", fs->name, (int)(n > 32 ? 32 : n), s);
}

/* Parse a step (a positive integer) in s[0..n) for field f into *out. */
static int parse_step(const char *s, size_t n, int f, int *out, const err_ctx *e)
{
    long v = 0;
    if (n == 0)
        return fail(e, "%s: missing step after '/'", specs[f].name);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(e, "%s: invalid step '%.*s'", specs[f].name, (int)(n > 32 ? 32 : n), s);
        if (v < 1000) /* saturate: any step past the field span selects one value */
            v = v * 10 + (s[i] - '0');
    }
    if (v == 0)
        return fail(e, "%s: step must be at least 1", specs[f].name);
    *out = (int)v;
    return 0;
}

/* Day-of-week "n#k" / "Ln" and day-of-month "L" items (croniter extensions).
 * Returns 1 when the item was one of them (parsed into *x), 0 when it is a
 * plain item, -1 on error. */
static int parse_special(const char *s, size_t n, int f, saq__cron_t *x, const err_ctx *e)
{
    const field_spec *fs = &specs[f];
    if (f == F_MDAY && n == 1 && lower(s[0]) == 'l') {
        x->mday_last = 1;
        return 1;
    }
    if (f != F_WDAY)
        return 0;
    const char *hash = memchr(s, '#', n);
    if (hash) {
        int wd, k;
        size_t an = (size_t)(hash - s), kn = n - an - 1;
        if (parse_value(s, an, f, &wd, e))
            return -1;
        if (kn != 1 || hash[1] < '1' || hash[1] > '5')
            return fail(e, "%s: '%.*s' needs a weekday and an occurrence 1-5 (e.g. 1#2)", fs->name,
                        (int)(n > 32 ? 32 : n), s);
        k = hash[1] - '0';
        x->wday_nth[wd == 7 ? 0 : wd] |= (uint8_t)(1u << k);
        return 1;
    }
    if (n >= 2 && lower(s[0]) == 'l') { /* croniter's "L5": the last Friday */
        int wd;
        for (size_t i = 1; i < n; i++)
            if (s[i] < '0' || s[i] > '9')
                return fail(e, "%s: '%.*s' must be L followed by a weekday number 0-7", fs->name,
                            (int)(n > 32 ? 32 : n), s);
        if (parse_value(s + 1, n - 1, f, &wd, e))
            return -1;
        x->wday_last |= (uint8_t)(1u << (wd == 7 ? 0 : wd));
        return 1;
    }
    return 0;
}

/* Parse one list item ("*", "v", "a-b", each optionally "/step") of field f,
 * OR-ing its values into *mask. Sets *bare_star for a plain "*". A reversed
 * range wraps around the field, as in croniter 2+. */
static int parse_item(const char *s, size_t n, int f, uint64_t *mask, int *bare_star,
                      saq__cron_t *x, const err_ctx *e)
{
    const field_spec *fs = &specs[f];
    const char *slash = memchr(s, '/', n);
    size_t rn = slash ? (size_t)(slash - s) : n;
    int lo, hi, step = 1;

    if (n == 0)
        return fail(e, "%s: empty list item", fs->name);
    if (!slash) {
        int sp = parse_special(s, n, f, x, e);
        if (sp)
            return sp < 0 ? -1 : 0;
    }
    if (slash) {
        size_t sn = n - rn - 1;
        if (memchr(slash + 1, '/', sn))
            return fail(e, "%s: invalid item '%.*s'", fs->name, (int)(n > 32 ? 32 : n), s);
        if (parse_step(slash + 1, sn, f, &step, e))
            return -1;
    }
    if (rn == 1 && s[0] == '*') {
        lo = fs->lo;
        hi = fs->top;
        if (!slash)
            *bare_star = 1;
    } else {
        const char *dash = memchr(s, '-', rn);
        if (dash) {
            size_t an = (size_t)(dash - s);
            if (parse_value(s, an, f, &lo, e) || parse_value(dash + 1, rn - an - 1, f, &hi, e))
                return -1;
            if (f == F_WDAY) { /* 7 is Sunday: as the start of a range it is 0 */
                if (lo == 7)
                    lo = 0;
                if (hi == 7 && lo > 0)
                    hi = 6, *mask |= 1; /* "n-7" = n..sat plus sun */
            }
            if (lo > hi) { /* wraps: lo..top, then the field's start..hi */
                int span = (fs->top - lo + 1) + (hi - fs->lo + 1);
                for (int p = 0; p < span; p += step) {
                    int v = lo + p <= fs->top ? lo + p : fs->lo + (p - (fs->top - lo + 1));
                    *mask |= (uint64_t)1 << v;
                }
                return 0;
            }
        } else {
            if (parse_value(s, rn, f, &lo, e))
                return -1;
            hi = slash && lo < fs->top ? fs->top : lo; /* "n/step" runs to the top */
        }
    }
    for (int v = lo; v <= hi; v += step)
        *mask |= (uint64_t)1 << (f == F_WDAY && v == 7 ? 0 : v);
    return 0;
}

/* Parse field f from s[0..n) into *mask; *bare_star tells if it was '*'/'?'
 * (or listed a bare '*', which croniter also treats as a wildcard). */
static int parse_field(const char *s, size_t n, int f, uint64_t *mask, int *bare_star,
                       saq__cron_t *x, const err_ctx *e)
{
    *mask = 0;
    *bare_star = 0;
    if (n == 1 && s[0] == '?') {
        if (f != F_MDAY && f != F_WDAY)
            return fail(e, "%s: '?' is only allowed in day-of-month and day-of-week",
                        specs[f].name);
        s = "*";
    }
    const char *end = s + n;
    int nth_before = 0, plain = 0;
    for (int i = 0; i < 7; i++)
        nth_before |= x->wday_nth[i];
    nth_before |= x->wday_last;
    for (const char *p = s;; ) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *q = comma ? comma : end;
        uint64_t before = *mask;
        if (parse_item(p, (size_t)(q - p), f, mask, bare_star, x, e))
            return -1;
        plain |= *mask != before || *bare_star;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (f == F_WDAY && plain) {
        int nth = 0;
        for (int i = 0; i < 7; i++)
            nth |= x->wday_nth[i];
        if ((nth | x->wday_last) != nth_before) /* as croniter: no "1#2,3" */
            return fail(e, "%s: '#' and 'L' items cannot be mixed with plain weekdays", specs[f].name);
    }
    return 0;
}

/* Mask with bits lo..hi set. */
static uint64_t bits(int lo, int hi)
{
    return ((hi == 63 ? 0 : (uint64_t)1 << (hi + 1)) - 1) & ~(((uint64_t)1 << lo) - 1);
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
        if (word_eq(expr, strlen(expr), aliases[i].alias))
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
    if (nf != 5 && nf != 6)
        return fail(&e, "expected 5 or 6 fields, got %d", nf);

    uint64_t mask[F_COUNT];
    int star[F_COUNT];
    saq__cron_t c = {0};
    for (int f = 0; f < nf; f++)
        if (parse_field(fs[f], fn[f], f, &mask[f], &star[f], &c, &e))
            return -1;

    c.minutes = mask[F_MIN];
    c.hours = (uint32_t)mask[F_HOUR];
    c.mdays = (uint32_t)mask[F_MDAY];
    c.months = (uint16_t)mask[F_MON];
    c.wdays = (uint8_t)mask[F_WDAY];
    c.has_seconds = nf == 6;
    c.seconds = nf == 6 ? mask[F_SEC] : 1;
    /* croniter also treats a field listing every value as '*', except that a
     * full day field stays restricted unless the other day field contains a
     * '*' ("0 0 1-31 * mon" fires daily; "0 0 1-31 * *\/2" on even weekdays). */
    c.mday_star = star[F_MDAY] ||
                  (mask[F_MDAY] == bits(1, 31) && memchr(fs[F_WDAY], '*', fn[F_WDAY]));
    c.wday_star = star[F_WDAY] ||
                  (mask[F_WDAY] == bits(0, 6) && memchr(fs[F_MDAY], '*', fn[F_MDAY]));
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

/* Lowest set bit n of mask with n >= from, or -1. */
static int next_bit(uint64_t mask, int from)
{
    if (from > 63)
        return -1;
    mask &= ~(uint64_t)0 << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

/* Whether y-m-d passes the day-of-month / day-of-week rule. */
static int day_matches(const saq__cron_t *c, int64_t y, int m, int d)
{
    int64_t z = days_from_civil(y, m, d);
    int wd = (int)(((z % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int dim = days_in_month(y, m);
    int dom = ((c->mdays >> d) & 1) || (c->mday_last && d == dim);
    int dow = ((c->wdays >> wd) & 1) || ((c->wday_nth[wd] >> ((d - 1) / 7 + 1)) & 1) ||
              (((c->wday_last >> wd) & 1) && d + 7 > dim);
    if (c->mday_star && c->wday_star)
        return 1;
    if (c->mday_star)
        return dow;
    if (c->wday_star)
        return dom;
    return dom || dow;
}

/* First fire time strictly after after_s; see cron.h. Searches 8 years ahead,
 * the longest gap a satisfiable expression can have (Feb 29, 2096 -> 2104). */
int64_t saq__cron_next(const saq__cron_t *c, int64_t after_s)
{
    const int64_t lim = (int64_t)1 << 52; /* keep the arithmetic far from overflow */
    if (!c || after_s < -lim || after_s > lim)
        return -1;
    int64_t t = after_s + 1;
    int64_t z = (t >= 0 ? t : t - 86399) / 86400, sod = t - z * 86400;
    int64_t y;
    int mo, d, h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), s = (int)(sod % 60);
    civil_from_days(z, &y, &mo, &d);
    const int64_t ylast = y + 8;

    while (y <= ylast) {
        int v;
        if (!((c->months >> mo) & 1)) { /* jump to the next allowed month */
            if ((v = next_bit(c->months, mo + 1)) < 0 || v > 12) {
                y++;
                v = next_bit(c->months, 1);
                if (v < 0 || v > 12)
                    return -1;
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
        if (!day_matches(c, y, mo, d)) {
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
    return -1;
}
