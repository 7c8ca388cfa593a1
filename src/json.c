/* SPDX-License-Identifier: MIT */
/* A small lossless JSON scanner and writer.
 *
 * Why not cJSON for job records: saq records may hold values cJSON cannot keep
 * (NaN/Infinity written by Python, integers beyond 2^53 in kwargs and results),
 * and a record must round-trip through libsaq without changing user data. The
 * scanner validates and finds members without converting values; opaque
 * values (kwargs, result, meta, unknown fields) are kept as their exact text. */
#include "internal.h"

#include <math.h>

/* Containers open at once in a JSON text. Python's json reads about 990
 * levels on 3.11 (its recursion limit) and more on later versions; Redis's
 * cjson decodes 1000; Go's encoding/json stops at 10000. Deeper input is
 * refused with an error, never a stack overflow (the scanner is iterative). */
#define MAX_DEPTH 10000
#define SAQ__STR_(x) #x
#define SAQ__STR(x) SAQ__STR_(x)

static void seterr(char *err, size_t errlen, const char *msg, const char *at, const char *start)
{
    if (err && errlen)
        snprintf(err, errlen, "%s at offset %zu", msg, (size_t)(at - start));
}

const char *saq__json_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of a valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    int n;
    unsigned min;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        c &= 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        c &= 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    } else
        return 0;
    if (end - p < n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return n;
}

int saq__utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        int l = utf8_len(p, end);
        if (!l)
            return 0;
        p += l;
    }
    return 1;
}

static int skip_string(const char **pp, const char *end, int strict, const char *start, char *err,
                       size_t errlen)
{
    const char *p = *pp + 1;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *pp = p + 1;
            return 0;
        }
        if (c == '\\') {
            if (p + 1 >= end)
                break;
            char e = p[1];
            if (e == 'u') {
                if (end - p < 6 || hexval(p[2]) < 0 || hexval(p[3]) < 0 || hexval(p[4]) < 0 ||
                    hexval(p[5]) < 0) {
                    seterr(err, errlen, "bad \\u escape", p, start);
                    return -1;
                }
                p += 6;
                continue;
            }
            if (!e || !strchr("\"\\/bfnrt", e)) { /* strchr finds the NUL terminator */
                seterr(err, errlen, "bad escape", p, start);
                return -1;
            }
            p += 2;
            continue;
        }
        if (c < 0x20) {
            seterr(err, errlen, "control character in string", p, start);
            return -1;
        }
        if (c >= 0x80 && strict) {
            int n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
            if (!n) {
                seterr(err, errlen, "invalid UTF-8 in string", p, start);
                return -1;
            }
            p += n;
            continue;
        }
        p++;
    }
    seterr(err, errlen, "unterminated string", *pp, start);
    return -1;
}

static int lit(const char **pp, const char *end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(end - *pp) >= n && memcmp(*pp, word, n) == 0) {
        *pp += n;
        return 1;
    }
    return 0;
}

static int skip_number(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == 'I')
        return lit(&p, end, "Infinity") ? (*pp = p, 0) : -1;
    if (p >= end)
        return -1;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return -1;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    *pp = p;
    return 0;
}

/* Move past an object key and its ':' (at p: optional whitespace, then the key). */
static int skip_member_key(const char **pp, const char *end, int strict, const char *start,
                           char *err, size_t errlen)
{
    const char *p = saq__json_ws(*pp, end);
    if (p >= end || *p != '"') {
        seterr(err, errlen, "expected object key", p, start);
        return -1;
    }
    if (skip_string(&p, end, strict, start, err, errlen))
        return -1;
    p = saq__json_ws(p, end);
    if (p >= end || *p != ':') {
        seterr(err, errlen, "expected ':'", p, start);
        return -1;
    }
    *pp = p + 1;
    return 0;
}

/* Skip one value. Iterative: the only state per open container is one bit
 * (object or array), so the nesting limit costs MAX_DEPTH / 8 bytes of stack
 * whatever the thread's stack size. `depth` = containers already open around
 * the value (the record object for a member value). */
static int skip_value(const char **pp, const char *end, int strict, int depth, const char *start,
                      char *err, size_t errlen)
{
    unsigned char is_obj[MAX_DEPTH / 8 + 1];
    int top = 0; /* containers opened here and not yet closed */
    const char *p = *pp;
    for (;;) {
        /* a value starts at p */
        p = saq__json_ws(p, end);
        if (p >= end) {
            seterr(err, errlen, "unexpected end of JSON", p, start);
            return -1;
        }
        if (*p == '{' || *p == '[') {
            int obj = *p == '{';
            if (depth + top >= MAX_DEPTH) {
                seterr(err, errlen, "JSON nested too deeply (more than " SAQ__STR(MAX_DEPTH)
                       " levels)", p, start);
                return -1;
            }
            if (obj)
                is_obj[top / 8] |= (unsigned char)(1u << (top % 8));
            else
                is_obj[top / 8] &= (unsigned char)~(1u << (top % 8));
            top++;
            p = saq__json_ws(p + 1, end);
            if (p < end && *p == (obj ? '}' : ']')) {
                p++;
                top--;
            } else {
                if (obj && skip_member_key(&p, end, strict, start, err, errlen))
                    return -1;
                continue; /* the first element */
            }
        } else if (*p == '"') {
            if (skip_string(&p, end, strict, start, err, errlen))
                return -1;
        } else if (!lit(&p, end, "true") && !lit(&p, end, "false") && !lit(&p, end, "null") &&
                   !lit(&p, end, "NaN") && skip_number(&p, end)) {
            seterr(err, errlen, "invalid JSON value", p, start);
            return -1;
        }
        /* a value ended at p: close containers until one has another element */
        for (;;) {
            if (!top) {
                *pp = p;
                return 0;
            }
            int obj = (is_obj[(top - 1) / 8] >> ((top - 1) % 8)) & 1;
            p = saq__json_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                if (obj && skip_member_key(&p, end, strict, start, err, errlen))
                    return -1;
                break; /* the next element */
            }
            if (p < end && *p == (obj ? '}' : ']')) {
                p++;
                top--;
                continue;
            }
            seterr(err, errlen, obj ? "expected ',' or '}'" : "expected ',' or ']'", p, start);
            return -1;
        }
    }
}

int saq__json_skip(const char **p, const char *end, int strict_utf8, char *err, size_t errlen)
{
    return skip_value(p, end, strict_utf8, 0, *p, err, errlen);
}

int saq__json_validate(const char *s, size_t n, int kind, char *err, size_t errlen)
{
    if (!s) {
        if (err)
            snprintf(err, errlen, "JSON text is NULL");
        return -1;
    }
    const char *p = s, *end = s + n;
    p = saq__json_ws(p, end);
    if (kind == 'o' && (p >= end || *p != '{')) {
        if (err)
            snprintf(err, errlen, "expected a JSON object");
        return -1;
    }
    if (kind == 'a' && (p >= end || *p != '[')) {
        if (err)
            snprintf(err, errlen, "expected a JSON array");
        return -1;
    }
    if (skip_value(&p, end, 1, 0, s, err, errlen))
        return -1;
    p = saq__json_ws(p, end);
    if (p != end) {
        seterr(err, errlen, "trailing characters after JSON value", p, s);
        return -1;
    }
    return 0;
}

static void put_utf8(saq__buf_t *b, unsigned cp)
{
    char t[4];
    if (cp < 0x80) {
        saq__buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        saq__buf_put(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        saq__buf_put(b, t, 3);
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        saq__buf_put(b, t, 4);
    }
}

char *saq__json_unquote(const char *tok, size_t n) { return saq__json_unquote_len(tok, n, NULL); }

char *saq__json_unquote_len(const char *tok, size_t n, size_t *len)
{
    if (n < 2 || tok[0] != '"' || tok[n - 1] != '"')
        return NULL;
    saq__buf_t b = {0};
    const char *p = tok + 1, *end = tok + n - 1;
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '\\')
            q++;
        saq__buf_put(&b, p, (size_t)(q - p));
        if (q >= end)
            break;
        char e = q[1];
        p = q + 2;
        switch (e) {
        case 'b': saq__buf_putc(&b, '\b'); break;
        case 'f': saq__buf_putc(&b, '\f'); break;
        case 'n': saq__buf_putc(&b, '\n'); break;
        case 'r': saq__buf_putc(&b, '\r'); break;
        case 't': saq__buf_putc(&b, '\t'); break;
        case 'u': {
            if (end - q < 6)
                goto bad;
            unsigned cp = 0;
            for (int i = 2; i < 6; i++) {
                int h = hexval(q[i]);
                if (h < 0)
                    goto bad;
                cp = cp * 16 + (unsigned)h;
            }
            p = q + 6;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = 0;
                int ok = 1;
                for (int i = 2; i < 6; i++) {
                    int h = hexval(p[i]);
                    if (h < 0)
                        ok = 0;
                    lo = lo * 16 + (unsigned)(h < 0 ? 0 : h);
                }
                if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD; /* lone surrogate: not representable in UTF-8 */
            put_utf8(&b, cp);
            break;
        }
        default:
            saq__buf_putc(&b, e);
        }
    }
    if (len)
        *len = b.len;
    return saq__buf_take(&b);
bad:
    saq__buf_free(&b);
    return NULL;
}

int saq__json_is_empty_object(const char *s, size_t n)
{
    const char *end = s + n;
    const char *p = saq__json_ws(s, end);
    if (p >= end || *p != '{')
        return 0;
    p = saq__json_ws(p + 1, end);
    return p < end && *p == '}';
}

static int iter_begin(saq__jobj_iter_t *it, const char *s, size_t n, char open, char *err,
                      size_t errlen)
{
    it->end = s + n;
    it->p = saq__json_ws(s, it->end);
    it->first = 1;
    if (it->p >= it->end || *it->p != open) {
        if (err)
            snprintf(err, errlen, open == '{' ? "expected a JSON object" : "expected a JSON array");
        return -1;
    }
    it->p++;
    return 0;
}

int saq__jobj_begin(saq__jobj_iter_t *it, const char *s, size_t n, char *err, size_t errlen)
{
    return iter_begin(it, s, n, '{', err, errlen);
}

int saq__jarr_begin(saq__jobj_iter_t *it, const char *s, size_t n, char *err, size_t errlen)
{
    return iter_begin(it, s, n, '[', err, errlen);
}

/* Move past the separator before the next element; 1 more, 0 end, -1 error. */
static int iter_sep(saq__jobj_iter_t *it, char close, char *err, size_t errlen)
{
    it->p = saq__json_ws(it->p, it->end);
    if (it->p < it->end && *it->p == close) {
        it->p++;
        return 0;
    }
    if (!it->first) {
        if (it->p >= it->end || *it->p != ',') {
            if (err)
                snprintf(err, errlen, "expected ',' or '%c'", close);
            return -1;
        }
        it->p = saq__json_ws(it->p + 1, it->end);
    }
    it->first = 0;
    return 1;
}

int saq__jobj_next(saq__jobj_iter_t *it, const char **k, size_t *kn, const char **v, size_t *vn,
                   char *err, size_t errlen)
{
    int r = iter_sep(it, '}', err, errlen);
    if (r <= 0)
        return r;
    const char *p = it->p;
    if (p >= it->end || *p != '"') {
        if (err)
            snprintf(err, errlen, "expected object key");
        return -1;
    }
    const char *ks = p;
    if (skip_string(&p, it->end, 0, ks, err, errlen))
        return -1;
    *k = ks;
    *kn = (size_t)(p - ks);
    p = saq__json_ws(p, it->end);
    if (p >= it->end || *p != ':') {
        if (err)
            snprintf(err, errlen, "expected ':' after object key");
        return -1;
    }
    p = saq__json_ws(p + 1, it->end);
    const char *vs = p;
    if (skip_value(&p, it->end, 0, 1, vs, err, errlen))
        return -1;
    *v = vs;
    *vn = (size_t)(p - vs);
    it->p = p;
    return 1;
}

int saq__jarr_next(saq__jobj_iter_t *it, const char **v, size_t *vn, char *err, size_t errlen)
{
    int r = iter_sep(it, ']', err, errlen);
    if (r <= 0)
        return r;
    const char *p = it->p, *vs = p;
    if (skip_value(&p, it->end, 0, 1, vs, err, errlen))
        return -1;
    *v = vs;
    *vn = (size_t)(p - vs);
    it->p = p;
    return 1;
}

int saq__json_number(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 4 && !memcmp(s, "true", 4)) {
        *out = 1;
        return 0;
    }
    if (n == 5 && !memcmp(s, "false", 5)) {
        *out = 0;
        return 0;
    }
    if (n == 3 && !memcmp(s, "NaN", 3)) {
        *out = NAN;
        return 0;
    }
    if (n == 8 && !memcmp(s, "Infinity", 8)) {
        *out = INFINITY;
        return 0;
    }
    if (n == 9 && !memcmp(s, "-Infinity", 9)) {
        *out = -INFINITY;
        return 0;
    }
    if (n == 0)
        return -1;
    const char *p = s;
    if (skip_number(&p, s + n) || p != s + n)
        return -1;
    /* a long token (Python writes any number of digits, e.g. 0.1000...0001) is
     * read from a heap copy: refusing it would refuse a record Python reads */
    char *c = n < sizeof tmp ? tmp : saq__malloc(n + 1);
    if (!c)
        return -1;
    memcpy(c, s, n);
    c[n] = 0;
    *out = strtod(c, NULL);
    if (c != tmp)
        free(c);
    return 0;
}

/* The shortest decimal digits that read back as v (finite, > 0): digits
 * without trailing zeros into dig, v = 0.dig * 10^*decpt. Like Python's
 * repr (David Gay's mode 0): among the shortest, the nearest to v. */
static void shortest_digits(double v, char dig[20], int *decpt)
{
    char t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*e", prec - 1, v); /* the nearest prec-digit decimal */
        double r = strtod(t, NULL);
        int ok = r == v;
        /* d.ddd e X -> digits and exponent */
        char d[20];
        int nd = 0;
        const char *q = t;
        for (; *q && *q != 'e'; q++)
            if (*q >= '0' && *q <= '9')
                d[nd++] = *q;
        int e = atoi(q + 1);
        if (!ok && prec < 17) {
            /* at a power of two the interval that reads back as v is lopsided:
             * the nearest decimal may miss it on the short side while its
             * neighbour on the other side of v is inside */
            char d2[20];
            int e2 = e;
            memcpy(d2, d, (size_t)nd);
            int i = nd - 1;
            if (r < v) { /* next one up */
                while (i >= 0 && d2[i] == '9')
                    d2[i--] = '0';
                if (i < 0) {
                    d2[0] = '1';
                    e2++;
                } else
                    d2[i]++;
            } else { /* next one down */
                while (i >= 0 && d2[i] == '0')
                    d2[i--] = '9';
                d2[i]--; /* d[0] is 1-9, so i >= 0 here */
                if (d2[0] == '0') {
                    memmove(d2, d2 + 1, (size_t)nd - 1);
                    d2[nd - 1] = '9';
                    e2--;
                }
            }
            char t2[48];
            snprintf(t2, sizeof t2, "%c.%.*se%d", d2[0], nd - 1, d2 + 1, e2);
            if (nd == 1)
                snprintf(t2, sizeof t2, "%ce%d", d2[0], e2);
            if (strtod(t2, NULL) == v) {
                memcpy(d, d2, (size_t)nd);
                e = e2;
                ok = 1;
            }
        }
        if (ok || prec == 17) {
            while (nd > 1 && d[nd - 1] == '0')
                nd--;
            memcpy(dig, d, (size_t)nd);
            dig[nd] = 0;
            *decpt = e + 1;
            return;
        }
    }
}

void saq__fmt_pyfloat(char out[40], double v)
{
    if (isnan(v)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v > 0 ? "inf" : "-inf");
        return;
    }
    char *o = out;
    if (signbit(v))
        *o++ = '-';
    v = fabs(v);
    if (v == 0) {
        strcpy(o, "0.0");
        return;
    }
    char dig[20];
    int decpt, nd;
    shortest_digits(v, dig, &decpt);
    nd = (int)strlen(dig);
    if (decpt > -4 && decpt <= 16) { /* fixed notation, as float_repr_style 'short' */
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++)
                *o++ = '0';
            memcpy(o, dig, (size_t)nd);
            o += nd;
        } else if (decpt >= nd) {
            memcpy(o, dig, (size_t)nd);
            o += nd;
            for (int i = nd; i < decpt; i++)
                *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            memcpy(o, dig, (size_t)decpt);
            o += decpt;
            *o++ = '.';
            memcpy(o, dig + decpt, (size_t)(nd - decpt));
            o += nd - decpt;
        }
        *o = 0;
        return;
    }
    *o++ = dig[0];
    if (nd > 1) {
        *o++ = '.';
        memcpy(o, dig + 1, (size_t)nd - 1);
        o += nd - 1;
    }
    int e = decpt - 1;
    *o++ = 'e';
    *o++ = e < 0 ? '-' : '+';
    e = e < 0 ? -e : e; /* at most 308 */
    if (e >= 100)
        *o++ = (char)('0' + e / 100);
    *o++ = (char)('0' + e / 10 % 10);
    *o++ = (char)('0' + e % 10);
    *o = 0;
}

int saq__json_pystr(const char *v, size_t n, char **out)
{
    *out = NULL;
    double d;
    const char *p = v;
    if (n == 3 && !memcmp(v, "NaN", 3))
        d = NAN;
    else if (n == 8 && !memcmp(v, "Infinity", 8))
        d = INFINITY;
    else if (n == 9 && !memcmp(v, "-Infinity", 9))
        d = -INFINITY;
    else if (!n || skip_number(&p, v + n) || p != v + n)
        return 0;
    else if (!memchr(v, '.', n) && !memchr(v, 'e', n) && !memchr(v, 'E', n)) {
        /* an int: JSON's digits are Python's str() of it, but for -0 */
        *out = n == 2 && v[0] == '-' && v[1] == '0' ? saq__strdup("0") : saq__strndup(v, n);
        return *out ? SAQ__KEY_INT : -1;
    } else if (saq__json_number(v, n, &d))
        return 0;
    char t[40];
    saq__fmt_pyfloat(t, d);
    *out = saq__strdup(t);
    return *out ? SAQ__KEY_FLOAT : -1;
}

/* ---- writer ---- */

void saq__buf_json_strn(saq__buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    saq__buf_putc(b, '"');
    while (p < end) {
        const unsigned char *q = p;
        while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
            q++;
        saq__buf_put(b, (const char *)p, (size_t)(q - p));
        if (q >= end)
            break;
        p = q;
        unsigned c = *p;
        char t[13];
        switch (c) {
        case '"': saq__buf_put(b, "\\\"", 2); p++; continue;
        case '\\': saq__buf_put(b, "\\\\", 2); p++; continue;
        case '\n': saq__buf_put(b, "\\n", 2); p++; continue;
        case '\r': saq__buf_put(b, "\\r", 2); p++; continue;
        case '\t': saq__buf_put(b, "\\t", 2); p++; continue;
        case '\b': saq__buf_put(b, "\\b", 2); p++; continue;
        case '\f': saq__buf_put(b, "\\f", 2); p++; continue;
        }
        unsigned cp;
        if (c < 0x80) {
            cp = c;
            p++;
        } else {
            int l = utf8_len(p, end);
            if (!l) {
                cp = 0xFFFD; /* invalid UTF-8 byte: Python could not load it */
                p++;
            } else {
                cp = c & (l == 2 ? 0x1F : l == 3 ? 0x0F : 0x07);
                for (int i = 1; i < l; i++)
                    cp = (cp << 6) | (p[i] & 0x3F);
                p += l;
            }
        }
        if (cp >= 0x10000) {
            unsigned v = cp - 0x10000, hi = 0xD800 + (v >> 10), lo = 0xDC00 + (v & 0x3FF);
            t[0] = '\\', t[1] = 'u', t[2] = hex[hi >> 12], t[3] = hex[(hi >> 8) & 15],
            t[4] = hex[(hi >> 4) & 15], t[5] = hex[hi & 15];
            t[6] = '\\', t[7] = 'u', t[8] = hex[lo >> 12], t[9] = hex[(lo >> 8) & 15],
            t[10] = hex[(lo >> 4) & 15], t[11] = hex[lo & 15];
            saq__buf_put(b, t, 12);
        } else {
            t[0] = '\\', t[1] = 'u', t[2] = hex[cp >> 12], t[3] = hex[(cp >> 8) & 15],
            t[4] = hex[(cp >> 4) & 15], t[5] = hex[cp & 15];
            saq__buf_put(b, t, 6);
        }
    }
    saq__buf_putc(b, '"');
}

void saq__buf_json_str(saq__buf_t *b, const char *s)
{
    if (!s) {
        saq__buf_puts(b, "null");
        return;
    }
    saq__buf_json_strn(b, s, strlen(s));
}

void saq__fmt_double(char out[40], double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(out, 40, "%.0f", v);
        if (!strcmp(out, "-0"))
            strcpy(out, "0");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

void saq__buf_json_num(saq__buf_t *b, double v)
{
    char t[40];
    saq__fmt_double(t, v);
    saq__buf_puts(b, t);
}

void saq__buf_json_float(saq__buf_t *b, double v)
{
    char t[40];
    saq__fmt_double(t, v);
    saq__buf_puts(b, t);
    if (isfinite(v) && !strpbrk(t, ".eE"))
        saq__buf_puts(b, ".0");
}

char *saq__json_name(const char *tok, size_t n)
{
    size_t len = 0;
    char *s = n && tok[0] == '"' ? saq__json_unquote_len(tok, n, &len) : NULL;
    if (s && strlen(s) != len) {
        free(s);
        return NULL;
    }
    return s;
}
