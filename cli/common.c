/* SPDX-License-Identifier: MIT */
/* saq: opening queues, waiting for operations, error lines, formatting, text tables. */
#define _GNU_SOURCE
#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

static saq_cq_t *the_cq;
static uint64_t next_tag = 1;
static int last_status;
static char last_msg[256];

/* one UTF-8 code point at s (NUL-terminated): its length (1..4) with *cp set, or 0 when the
 * bytes are not valid UTF-8 (overlong, surrogate, beyond U+10FFFF, cut short) */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xE0) == 0xC0) {
        len = 2, c = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, c = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

char *cli_clean_n(const char *s, size_t n)
{
    size_t cap = n * 4 + 1, o = 0; /* "\xNN" is the longest form of one byte */
    char *out = malloc(cap);
    if (!out)
        return NULL;
    char *tmp = strndup(s, n);
    if (!tmp) {
        free(out);
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)tmp;
    while (*p) {
        uint32_t cp;
        size_t len = utf8_decode(p, &cp);
        if (len == 0) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", *p);
            p++;
        } else if (cp == '\n') {
            memcpy(out + o, "\\n", 2), o += 2, p++;
        } else if (cp == '\t') {
            memcpy(out + o, "\\t", 2), o += 2, p++;
        } else if (cp == '\r') {
            memcpy(out + o, "\\r", 2), o += 2, p++;
        } else if (cp == 0x1B) {
            memcpy(out + o, "\\e", 2), o += 2, p++;
        } else if (cp < 0x20 || cp == 0x7F) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", (unsigned)cp);
            p++;
        } else if (cp >= 0x80 && cp <= 0x9F) { /* C1 controls (CSI U+009B ...): 2 bytes in */
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", (unsigned)cp);
            p += len;
        } else {
            memcpy(out + o, p, len);
            o += len;
            p += len;
        }
    }
    out[o] = '\0';
    free(tmp);
    return out;
}

char *cli_clean(const char *s)
{
    return cli_clean_n(s ? s : "", strlen(s ? s : ""));
}

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    char *clean = n >= 0 ? cli_clean(msg) : NULL;
    fprintf(stderr, "saq: %s\n", clean ? clean : "(out of memory)");
    free(clean);
    free(msg);
}

void cli_print_json(const cJSON *doc)
{
    char *s = cJSON_Print(doc);
    if (s)
        puts(s);
    free(s);
}

double cli_num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

const char *cli_url_redacted(void)
{
    static char buf[2048];
    const char *u = cli_opts.url;
    const char *scheme = strstr(u, "://");
    size_t n = 0;
    buf[0] = '\0';
    /* userinfo's password */
    if (scheme) {
        const char *auth = scheme + 3;
        size_t hostpart = strcspn(auth, "/?#");
        const char *at = memrchr(auth, '@', hostpart);
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            n = (size_t)snprintf(buf, sizeof buf, "%.*s:***", (int)(colon - u), u);
            u = at;
        }
    }
    /* query parameters named *password (sentinel_password=...) */
    const char *q = strchr(u, '?');
    while (q && n < sizeof buf) {
        const char *name = q + 1, *eq = name + strcspn(name, "=&#");
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%.*s", (int)(name - u), u);
        u = name;
        if (*eq == '=' && eq - name >= 8 && strncmp(eq - 8, "password", 8) == 0) {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%.*s=***", (int)(eq - name), name);
            u = eq + 1 + strcspn(eq + 1, "&#");
        }
        q = strchr(u, '&');
    }
    if (n < sizeof buf)
        snprintf(buf + n, sizeof buf - n, "%s", u);
    return buf;
}

int cli_open(const char *name, saq_queue_t **out)
{
    *out = NULL;
    saq_conf_t *conf = saq_conf_new();
    if (!conf) {
        cli_errorf("out of memory");
        return CLI_ERR;
    }
    char ms[32];
    long t = lround(cli_opts.timeout_s * 1000);
    int rc = saq_conf_set(conf, "url", cli_opts.url);
    if (rc) {
        cli_errorf("bad url '%s': %s", cli_url_redacted(), saq_conf_errmsg(conf));
        goto fail;
    }
    rc = saq_conf_set(conf, "name", name);
    if (rc) {
        cli_errorf("bad queue name '%s': %s", name, saq_conf_errmsg(conf));
        goto fail;
    }
    if (cli_opts.dialect && (rc = saq_conf_set(conf, "dialect", cli_opts.dialect))) {
        cli_errorf("bad --dialect '%s': %s", cli_opts.dialect, saq_conf_errmsg(conf));
        goto fail;
    }
    snprintf(ms, sizeof ms, "%ld", t < 1 ? 1 : t);
    saq_conf_set(conf, "command_timeout_ms", ms);
    snprintf(ms, sizeof ms, "%ld", t < 1 ? 1 : t > 2000 ? 2000 : t);
    saq_conf_set(conf, "connect_timeout_ms", ms);
    /* the tool reports failures itself: library log lines only when asked for with
     * SAQ_LOG_LEVEL (older libraries without the key ignore this) */
    const char *lvl = getenv("SAQ_LOG_LEVEL");
    if (!lvl || !*lvl)
        saq_conf_set(conf, "log_level", "off");
    rc = saq_queue_open(out, conf);
    if (rc) {
        cli_errorf("cannot open queue '%s': %s", name, saq_conf_errmsg(conf));
        goto fail;
    }
    saq_conf_free(conf);
    return CLI_OK;
fail:
    saq_conf_free(conf);
    return CLI_ERR;
}

void cli_close(saq_queue_t *q)
{
    if (!q)
        return;
    saq_queue_close(q, 500);
    saq_queue_free(q);
}

saq_cq_t *cli_cq(void)
{
    if (!the_cq)
        the_cq = saq_cq_new();
    return the_cq;
}

uint64_t cli_tag(void)
{
    return next_tag++;
}

saq_event_t *cli_await_ms(int rc, uint64_t tag, int timeout_ms)
{
    if (rc != SAQ_OK) {
        last_status = rc;
        snprintf(last_msg, sizeof last_msg, "%s", saq_strerror(rc));
        return NULL;
    }
    saq_event_t *ev = saq_cq_wait(cli_cq(), tag, timeout_ms);
    if (!ev) {
        last_status = SAQ_ETIMEDOUT;
        snprintf(last_msg, sizeof last_msg, "no answer within %g s", timeout_ms / 1000.0);
    }
    return ev;
}

int cli_wait_ms(void)
{
    /* a little over the command timeout, so that the library's own error comes first */
    return (int)lround(cli_opts.timeout_s * 1000) + 250;
}

saq_event_t *cli_await(int rc, uint64_t tag)
{
    return cli_await_ms(rc, tag, cli_wait_ms());
}

int cli_last_status(void)
{
    return last_status;
}

const char *cli_last_msg(void)
{
    return last_msg;
}

int cli_ev_status(const saq_event_t *ev)
{
    return ev ? saq_event_status(ev) : last_status;
}

const char *cli_ev_msg(const saq_event_t *ev)
{
    if (!ev)
        return last_msg;
    const char *m = saq_event_errmsg(ev);
    return m ? m : saq_strerror(saq_event_status(ev));
}

int cli_is_conn_error(int status)
{
    return status == SAQ_ECONN || status == SAQ_ETLS || status == SAQ_ETIMEDOUT;
}

int cli_report(const saq_event_t *ev, const char *what)
{
    int st = cli_ev_status(ev);
    if (cli_is_conn_error(st))
        cli_errorf("cannot reach Redis at %s: %s", cli_url_redacted(), cli_ev_msg(ev));
    else
        cli_errorf("%s: %s", what, cli_ev_msg(ev));
    return st == SAQ_ENOTFOUND ? CLI_NONE : CLI_ERR;
}

int cli_not_found(const char *what, const char *id, const char *queue)
{
    cli_errorf("%s '%s' not found in queue '%s'", what, id, queue);
    return CLI_NONE;
}

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *cli_fmt_dur(double s, char *buf, size_t n)
{
    if (!(s >= 0))
        snprintf(buf, n, "-");
    else if (s < 1)
        snprintf(buf, n, "%dms", (int)(s * 1000));
    else if (s < 60)
        snprintf(buf, n, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else if (s < 86400)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s, 3600) / 60);
    else
        snprintf(buf, n, "%dd%02dh", (int)(s / 86400), (int)fmod(s, 86400) / 3600);
    return buf;
}

double cli_parse_when(const char *s)
{
    double v = cli_parse_seconds(s);
    if (v >= 0)
        return v;
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!end || (*end && strcmp(end, "Z") != 0))
        return -1;
    return (double)timegm(&tm);
}

char *cli_fmt_time_ms(int64_t ms, char *buf, size_t n)
{
    if (ms <= 0) {
        snprintf(buf, n, "-");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

double cli_parse_seconds(const char *s)
{
    char *end;
    if (!s || !*s)
        return -1;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || v < 0)
        return -1;
    return v;
}

int cli_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* the allocated size of a cli_appendf buffer holding `len` bytes and its NUL */
static size_t buf_cap(size_t len)
{
    size_t c = 64;
    while (c < len + 1)
        c *= 2;
    return c;
}

void cli_appendf(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* the buffer's size is the power of two above its length (64 at least), so a table of
     * many rows is not copied at every append (quadratic: minutes and gigabytes for jobs
     * --limit 100000 under ASan, whose realloc always moves) */
    size_t have = *buf ? buf_cap(*len) : 0, need = *len + (size_t)n + 1;
    char *nb = *buf;
    if (need > have) {
        nb = realloc(*buf, buf_cap(need - 1));
        if (!nb) {
            free(s);
            return;
        }
    }
    memcpy(nb + *len, s, (size_t)n + 1);
    *buf = nb;
    *len += (size_t)n;
    free(s);
}

struct cli_table {
    int ncols;
    char **cells; /* rows * ncols, row 0 = headers */
    size_t rows, cap;
};

static void table_add(cli_table_t *t, const char *const *cells)
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **nc = realloc(t->cells, cap * (size_t)t->ncols * sizeof *nc);
        if (!nc)
            return;
        t->cells = nc;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++) {
        const char *c = cells[i] ? cells[i] : ""; /* a header's '>' is kept: emit reads it */
        t->cells[t->rows * (size_t)t->ncols + (size_t)i] = cli_clean(c);
    }
    t->rows++;
}

cli_table_t *cli_table_new(int ncols, const char *const *headers)
{
    cli_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    table_add(t, headers);
    return t;
}

void cli_table_row(cli_table_t *t, const char *const *cells)
{
    if (t)
        table_add(t, cells);
}

size_t cli_table_rows(const cli_table_t *t)
{
    return t && t->rows ? t->rows - 1 : 0;
}

/* columns of the code point at p (length *len, at least 1) on a terminal */
static size_t char_width(const unsigned char *p, size_t *len)
{
    uint32_t cp;
    *len = utf8_decode(p, &cp);
    if (!*len) {
        *len = 1;
        return 1;
    }
    int cw = cp < 0x80 ? 1 : wcwidth((wchar_t)cp);
    return cw < 0 ? 1 : (size_t)cw;
}

size_t cli_fit_cols(const char *s, size_t n, size_t cols, size_t *used)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, w = 0;
    while (i < n && p[i]) {
        size_t len, cw = char_width(p + i, &len);
        if (w + cw > cols || i + len > n)
            break;
        w += cw;
        i += len;
    }
    if (used)
        *used = w;
    return i;
}

/* display width of cleaned UTF-8 text (cli_clean): columns on a terminal, wide (East Asian)
 * characters 2, combining marks 0, per wcwidth in a UTF-8 LC_CTYPE (main sets one) */
static size_t text_width(const char *s)
{
    size_t w;
    cli_fit_cols(s, strlen(s), (size_t)-1, &w);
    return w;
}

void cli_table_emit(cli_table_t *t, char **buf, size_t *len)
{
    if (!t)
        return;
    size_t *width = calloc((size_t)t->ncols, sizeof *width);
    char *local = NULL;
    size_t llen = 0;
    char **out = buf ? buf : &local;
    size_t *olen = buf ? len : &llen;
    for (size_t r = 0; r < t->rows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (!s)
                continue;
            size_t w = text_width(r == 0 && s[0] == '>' ? s + 1 : s);
            if (width && w > width[c])
                width[c] = w;
        }
    for (size_t r = 0; r < t->rows && width; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *h = t->cells[(size_t)c];
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            int right = h && h[0] == '>';
            if (!s)
                s = "";
            if (r == 0 && right)
                s++;
            size_t pad = width[c] - text_width(s);
            int last = c == t->ncols - 1;
            if (right)
                cli_appendf(out, olen, "%*s%s%s", (int)pad, "", s, last ? "" : "  ");
            else if (last)
                cli_appendf(out, olen, "%s", s);
            else
                cli_appendf(out, olen, "%s%*s  ", s, (int)pad, "");
        }
        cli_appendf(out, olen, "\n");
    }
    if (!buf && local)
        fputs(local, stdout);
    free(local);
    free(width);
    cli_table_free(t);
}

void cli_table_free(cli_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
