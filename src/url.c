/* SPDX-License-Identifier: MIT */
/* Redis URL parsing (redis-py from_url subset). See url.h. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* Write "redis url: <message>" into err (if any). Never echoes the URL,
 * which may carry a password. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return -1;
    int n = snprintf(err, errlen, "redis url: ");
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Case-insensitive ASCII prefix test; returns the length matched or 0. */
static size_t prefix(const char *s, const char *pre)
{
    size_t i = 0;
    for (; pre[i]; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != pre[i])
            return 0;
    }
    return i;
}

/* Value of hex digit ch, or -1. */
static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into a new string (*out; NULL when n == 0). */
static int decode(const char *s, size_t n, char **out, const char *what, char *err, size_t errlen)
{
    *out = NULL;
    if (n == 0)
        return 0;
    char *r = saq__malloc(n + 1), *w = r;
    if (!r)
        return fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *w++ = s[i];
            continue;
        }
        int hi = -1, lo = -1;
        if (i + 2 < n) {
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
        }
        if (hi < 0 || lo < 0 || hi * 16 + lo == 0) {
            free(r);
            return fail(err, errlen, "invalid percent-escape in %s", what);
        }
        *w++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *w = '\0';
    *out = r;
    return 0;
}

/* Parse a decimal in s[0..n) within [min, max] into *out; -1 if malformed. */
static int number(const char *s, size_t n, long long min, long long max, int *out)
{
    long long v = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > max)
            return -1;
    }
    if (v < min)
        return -1;
    *out = (int)v;
    return 0;
}

/* Whether ch may appear in a (non-bracketed) host name or IPv4 address. */
static int host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

/* Copy s[0..n) into a new NUL-terminated string. */
static char *copy_str(const char *s, size_t n)
{
    char *r = saq__malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

/* Parse "host[:port]" (host possibly "[v6]") of a redis:// URL into u. */
static int parse_hostport(const char *s, size_t n, saq__url_t *u, char *err, size_t errlen)
{
    const char *host = s, *rest;
    size_t hn;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return fail(err, errlen, "unterminated '[' in IPv6 host");
        host = s + 1;
        hn = (size_t)(close - host);
        if (hn == 0 || !memchr(host, ':', hn))
            return fail(err, errlen, "invalid IPv6 host");
        for (size_t i = 0; i < hn; i++)
            if (hexval(host[i]) < 0 && host[i] != ':' && host[i] != '.')
                return fail(err, errlen, "invalid IPv6 host");
        rest = close + 1;
        if (rest < s + n && *rest != ':')
            return fail(err, errlen, "unexpected characters after ']'");
    } else {
        const char *colon = memchr(s, ':', n);
        hn = colon ? (size_t)(colon - s) : n;
        for (size_t i = 0; i < hn; i++)
            if (!host_char(host[i]))
                return fail(err, errlen, "invalid character in host");
        rest = s + hn;
    }
    if (rest < s + n) { /* ":port" */
        size_t pn = (size_t)(s + n - rest - 1);
        if (number(rest + 1, pn, 1, 65535, &u->port))
            return fail(err, errlen, "invalid port (expected 1-65535)");
    }
    u->host = hn ? copy_str(host, hn) : copy_str("localhost", 9);
    return u->host ? 0 : fail(err, errlen, "out of memory");
}

/* Take "db=N" from the query q[0..n) into u->db (the first occurrence wins,
 * as in redis-py). Other parameters are ignored. */
static int parse_query(const char *q, size_t n, saq__url_t *u, char *err, size_t errlen)
{
    const char *end = q + n;
    for (const char *p = q; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe - p >= 3 && memcmp(p, "db=", 3) == 0) {
            char *v;
            if (decode(p + 3, (size_t)(pe - p - 3), &v, "db", err, errlen))
                return -1;
            int bad = !v || number(v, strlen(v), 0, 2147483647, &u->db);
            free(v);
            return bad ? fail(err, errlen, "invalid db= query value (expected 0-2147483647)")
                       : 0;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* Parse `url`; see url.h. */
int saq__url_parse(const char *url, saq__url_t *out, char *err, size_t errlen)
{
    saq__url_t u = {.port = 6379};
    size_t n;
    int is_unix;

    if (err && errlen)
        err[0] = '\0';
    if (out)
        memset(out, 0, sizeof *out);
    if (!url || !out)
        return fail(err, errlen, "%s is NULL", url ? "output" : "url");
    for (n = 0; url[n]; n++)
        if ((unsigned char)url[n] < 0x20 || url[n] == 0x7f)
            return fail(err, errlen, "control character at offset %zu", n);
    if (n == 0)
        return fail(err, errlen, "empty url");
    if (memchr(url, '#', n))
        return fail(err, errlen, "unexpected '#' (percent-encode it as %%23)");

    size_t sl;
    if ((sl = prefix(url, "rediss://")))
        return fail(err, errlen, "rediss:// (TLS) is not supported");
    if ((sl = prefix(url, "redis://")))
        is_unix = 0;
    else if ((sl = prefix(url, "unix://")))
        is_unix = 1;
    else
        return fail(err, errlen, "unsupported or missing scheme (expected redis:// or unix://)");

    /* Split authority / path / query. */
    const char *auth = url + sl, *end = url + n;
    const char *query = memchr(auth, '?', (size_t)(end - auth));
    const char *pend = query ? query : end;
    const char *path = memchr(auth, '/', (size_t)(pend - auth));
    const char *aend = path ? path : pend;
    size_t pathn = path ? (size_t)(pend - path) : 0;

    /* Userinfo: up to the last '@' of the authority; user ':' password. */
    const char *at = NULL;
    for (const char *p = auth; p < aend; p++)
        if (*p == '@')
            at = p;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *ue = colon ? colon : at;
        if (decode(auth, (size_t)(ue - auth), &u.username, "username", err, errlen) ||
            (colon && decode(colon + 1, (size_t)(at - colon - 1), &u.password, "password", err,
                             errlen)))
            goto fail;
        auth = at + 1;
    }

    if (is_unix) {
        if (auth != aend) {
            fail(err, errlen, "unix socket path must be absolute (unix:///path/to.sock)");
            goto fail;
        }
        if (pathn == 0) {
            fail(err, errlen, "unix socket path is empty");
            goto fail;
        }
        if (decode(path, pathn, &u.path, "path", err, errlen))
            goto fail;
        if (strlen(u.path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            /* the kernel would connect to a shorter path: another socket, or a wrong error */
            fail(err, errlen, "unix socket path is longer than %zu bytes",
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            goto fail;
        }
    } else {
        if (memchr(aend, '@', (size_t)(end - aend))) { /* likely an unencoded password */
            fail(err, errlen, "'@' after the host (percent-encode '/', '?' and '@' in "
                              "credentials)");
            goto fail;
        }
        if (parse_hostport(auth, (size_t)(aend - auth), &u, err, errlen))
            goto fail;
        if (pathn > 1 && number(path + 1, pathn - 1, 0, 2147483647, &u.db)) {
            fail(err, errlen, "db in path is not a number in 0-2147483647");
            goto fail;
        }
    }
    if (query && parse_query(query + 1, (size_t)(end - query - 1), &u, err, errlen))
        goto fail;
    *out = u;
    return 0;

fail:
    saq__url_free(&u);
    return -1;
}

/* Free the strings of a parsed URL and reset them; see url.h. */
void saq__url_free(saq__url_t *u)
{
    if (!u)
        return;
    free(u->host);
    free(u->path);
    free(u->username);
    free(u->password);
    u->host = u->path = u->username = u->password = NULL;
}
