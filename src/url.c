/* SPDX-License-Identifier: MIT */
/* Redis URL parsing (redis-py from_url subset). See url.h. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* Parse the comma-separated "host[:port]" list s[0..n) of a sentinel or
 * cluster url into u->seeds (each port defaulting to defport); u->host and
 * u->port are the first one's. */
static int parse_seeds(const char *s, size_t n, int defport, saq__url_t *u, char *err,
                       size_t errlen)
{
    if (!(u->seeds = saq__calloc(SAQ__MAX_SEEDS, sizeof *u->seeds)))
        return fail(err, errlen, "out of memory");
    const char *p = s, *end = s + n;
    while (1) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *e = comma ? comma : end;
        if (e == p)
            return fail(err, errlen, "empty host in the host list");
        if (u->nseeds == SAQ__MAX_SEEDS)
            return fail(err, errlen, "more than %d hosts", SAQ__MAX_SEEDS);
        saq__url_t one = {.port = defport};
        if (parse_hostport(p, (size_t)(e - p), &one, err, errlen))
            return -1;
        u->seeds[u->nseeds++] = (saq__hostport_t){one.host, one.port};
        if (!comma)
            break;
        p = comma + 1;
    }
    u->port = u->seeds[0].port;
    u->host = copy_str(u->seeds[0].host, strlen(u->seeds[0].host));
    return u->host ? 0 : fail(err, errlen, "out of memory");
}

/* The path of a sentinel url, "/master-name[/db]" (pathn > 0): the name into
 * u->master_name, the db into u->db. */
static int parse_master(const char *path, size_t pathn, saq__url_t *u, char *err, size_t errlen)
{
    const char *name = path + 1, *end = path + pathn;
    const char *slash = memchr(name, '/', (size_t)(end - name));
    const char *ne = slash ? slash : end;
    if (ne == name)
        return fail(err, errlen, "the master name is missing (redis+sentinel://host:port/"
                                 "master-name)");
    if (decode(name, (size_t)(ne - name), &u->master_name, "master name", err, errlen))
        return -1;
    if (slash && end - slash > 1 && number(slash + 1, (size_t)(end - slash - 1), 0, 2147483647,
                                           &u->db))
        return fail(err, errlen, "db after the master name is not a number in 0-2147483647");
    return 0;
}

/* Python's unquote (parse_qs's when `plus`: '+' is a space too) of s[0..n):
 * "%XX" becomes its byte, an invalid escape stays as it is. A new string in
 * *out (NULL on OOM); -1 when it would hold a NUL byte. */
static int unquote(const char *s, size_t n, int plus, char **out)
{
    char *r = saq__malloc(n + 1), *w = r;
    *out = r;
    if (!r)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int hi = s[i] == '%' && i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (lo >= 0) {
            *w++ = (char)(hi * 16 + lo);
            i += 2;
        } else
            *w++ = plus && s[i] == '+' ? ' ' : s[i];
    }
    *w = '\0';
    return strlen(r) == (size_t)(w - r) ? 0 : -1;
}

/* SAQ__TLS_* of a cert_reqs word; see url.h. */
int saq__tls_cert_reqs(const char *word)
{
    static const char *const words[] = {"required", "optional", "none"};
    for (int i = 0; word && i < 3; i++)
        if (!strcmp(word, words[i]))
            return i; /* SAQ__TLS_REQUIRED, _OPTIONAL, _NONE in this order */
    return -1;
}

/* The word of a SAQ__TLS_* value; see url.h. */
const char *saq__tls_cert_reqs_name(int cert_reqs)
{
    return cert_reqs == SAQ__TLS_NONE       ? "none"
           : cert_reqs == SAQ__TLS_OPTIONAL ? "optional"
                                            : "required";
}

/* redis-py's to_bool on a non-empty value, minus its surprises: 1 or 0, or -1
 * for a word that is neither (redis-py reads every such word as true). */
static int url_bool(const char *v)
{
    static const char *const yes[] = {"1", "t", "true", "y", "yes", "on"};
    static const char *const no[] = {"0", "f", "false", "n", "no"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!strcasecmp(v, yes[i]))
            return 1;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (!strcasecmp(v, no[i]))
            return 0;
    return -1;
}

/* The ssl_* parameters libsaq reads, in the order of the bits of `seen`. */
static const char *const tls_params[] = {"ssl_cert_reqs", "ssl_check_hostname", "ssl_ca_certs",
                                         "ssl_ca_path", "ssl_certfile", "ssl_keyfile"};

/* Apply the TLS query parameter `name` (decoded once) with its raw value
 * v[0..n) (not empty) to u->tls; *seen marks the ones already applied. */
static int tls_param(const char *name, const char *v, size_t n, saq__url_t *u, unsigned *seen,
                     char *err, size_t errlen)
{
    size_t i = 0, np = sizeof tls_params / sizeof tls_params[0];
    while (i < np && strcmp(name, tls_params[i]))
        i++;
    if (i == np) {
        size_t k = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
        return fail(err, errlen, "%.40s is not supported (libsaq reads ssl_cert_reqs, "
                    "ssl_check_hostname, ssl_ca_certs, ssl_ca_path, ssl_certfile and ssl_keyfile)",
                    name[k] || k > 40 ? "this ssl_* query parameter" : name);
    }
    if (!u->tls.enabled)
        return fail(err, errlen, "%s needs TLS (a rediss://, rediss+sentinel:// or "
                    "rediss+cluster:// url)", tls_params[i]);
    if (*seen & (1u << i))
        return 0; /* the first occurrence counts, as in redis-py */
    *seen |= 1u << i;
    char *once, *val = NULL;
    int bad = unquote(v, n, 1, &once);
    if (once && !bad)
        bad = unquote(once, strlen(once), 0, &val);
    free(once);
    if (!once || (!bad && !val))
        return fail(err, errlen, "out of memory");
    if (bad) {
        free(val);
        return fail(err, errlen, "%s holds a NUL byte (%%00)", tls_params[i]);
    }
    int r = 0;
    char **dst[] = {NULL, NULL, &u->tls.ca_certs, &u->tls.ca_path, &u->tls.certfile,
                    &u->tls.keyfile};
    if (i == 0) {
        if ((u->tls.cert_reqs = saq__tls_cert_reqs(val)) < 0)
            r = fail(err, errlen, "ssl_cert_reqs must be none, optional or required (lower "
                                  "case, as redis-py)");
    } else if (i == 1) {
        if ((u->tls.want_check_hostname = url_bool(val)) < 0)
            r = fail(err, errlen, "ssl_check_hostname must be one of 1, t, true, y, yes, on "
                                  "or 0, f, false, n, no (redis-py reads any other word as "
                                  "true)");
    } else {
        *dst[i] = val;
        val = NULL;
    }
    free(val);
    return r;
}

/* sentinel_username= / sentinel_password= (value v[0..n), not empty):
 * percent-decoded once ('+' stays a '+'); the first occurrence counts. */
static int sentinel_param(const char *name, const char *v, size_t n, saq__url_t *u, char *err,
                          size_t errlen)
{
    if (u->topo != SAQ__TOPO_SENTINEL)
        return fail(err, errlen, "%s needs a redis+sentinel:// url", name);
    char **dst = name[9] == 'u' ? &u->sentinel_username : &u->sentinel_password;
    if (*dst)
        return 0;
    return decode(v, n, dst, name, err, errlen);
}

/* Read the query q[0..n) into u: "db=N" (the first occurrence wins, as in
 * redis-py) and the TLS parameters (see url.h); other parameters are ignored. */
static int parse_query(const char *q, size_t n, saq__url_t *u, char *err, size_t errlen)
{
    const char *end = q + n;
    unsigned seen = 0;
    int have_db = 0;
    for (const char *p = q; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *start = p;
        const char *pe = amp ? amp : end, *eq = memchr(p, '=', (size_t)(pe - p));
        p = amp ? amp + 1 : end;
        if (!have_db && pe - start >= 3 && memcmp(start, "db=", 3) == 0) {
            char *v;
            have_db = 1;
            if (decode(start + 3, (size_t)(pe - start - 3), &v, "db", err, errlen))
                return -1;
            int bad = !v || number(v, strlen(v), 0, 2147483647, &u->db);
            free(v);
            if (bad)
                return fail(err, errlen, "invalid db= query value (expected 0-2147483647)");
            continue;
        }
        if (!eq || eq + 1 == pe)
            continue; /* no value: parse_qs skips the parameter */
        char *name;
        int bad = unquote(start, (size_t)(eq - start), 1, &name), r = 0;
        if (!name)
            return fail(err, errlen, "out of memory");
        if (bad)
            r = fail(err, errlen, "a query parameter name holds a NUL byte (%%00)");
        else if (!strcmp(name, "ssl"))
            r = fail(err, errlen, "the ssl query parameter is not supported: a rediss:// url "
                                  "asks for TLS");
        else if (!strncmp(name, "ssl_", 4))
            r = tls_param(name, eq + 1, (size_t)(pe - eq - 1), u, &seen, err, errlen);
        else if (!strcmp(name, "sentinel_username") || !strcmp(name, "sentinel_password"))
            r = sentinel_param(name, eq + 1, (size_t)(pe - eq - 1), u, err, errlen);
        free(name);
        if (r)
            return -1;
    }
    u->tls.check_hostname = u->tls.want_check_hostname && u->tls.cert_reqs != SAQ__TLS_NONE;
    return 0;
}

/* Parse `url`; see url.h. */
int saq__url_parse(const char *url, saq__url_t *out, char *err, size_t errlen)
{
    saq__url_t u = {.port = 6379, .tls = {.cert_reqs = SAQ__TLS_REQUIRED, .check_hostname = 1,
                                          .want_check_hostname = 1}};
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
    is_unix = 0;
    if ((sl = prefix(url, "rediss://")))
        u.tls.enabled = 1;
    else if ((sl = prefix(url, "redis://")))
        ;
    else if ((sl = prefix(url, "unix://")))
        is_unix = 1;
    else if ((sl = prefix(url, "redis+sentinel://")) || (sl = prefix(url, "sentinel://")))
        u.topo = SAQ__TOPO_SENTINEL;
    else if ((sl = prefix(url, "rediss+sentinel://")))
        u.topo = SAQ__TOPO_SENTINEL, u.tls.enabled = 1;
    else if ((sl = prefix(url, "redis+cluster://")) || (sl = prefix(url, "cluster://")))
        u.topo = SAQ__TOPO_CLUSTER;
    else if ((sl = prefix(url, "rediss+cluster://")))
        u.topo = SAQ__TOPO_CLUSTER, u.tls.enabled = 1;
    else
        return fail(err, errlen, "unsupported or missing scheme (expected redis://, rediss://, "
                                 "unix://, redis+sentinel://, rediss+sentinel://, "
                                 "redis+cluster:// or rediss+cluster://)");

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
        if (u.topo == SAQ__TOPO_SENTINEL) {
            if (parse_seeds(auth, (size_t)(aend - auth), 26379, &u, err, errlen))
                goto fail;
            if (pathn <= 1) {
                fail(err, errlen, "the master name is missing (redis+sentinel://host:port/"
                                  "master-name)");
                goto fail;
            }
            if (parse_master(path, pathn, &u, err, errlen))
                goto fail;
            pathn = 0; /* read */
        } else if (u.topo == SAQ__TOPO_CLUSTER) {
            if (parse_seeds(auth, (size_t)(aend - auth), 6379, &u, err, errlen))
                goto fail;
        } else if (parse_hostport(auth, (size_t)(aend - auth), &u, err, errlen))
            goto fail;
        if (pathn > 1 && number(path + 1, pathn - 1, 0, 2147483647, &u.db)) {
            fail(err, errlen, "db in path is not a number in 0-2147483647");
            goto fail;
        }
    }
    if (parse_query(query ? query + 1 : end, query ? (size_t)(end - query - 1) : 0, &u, err,
                    errlen))
        goto fail;
    if (u.topo == SAQ__TOPO_CLUSTER && u.db != 0) {
        fail(err, errlen, "redis cluster has only db 0");
        goto fail;
    }
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
    free(u->tls.ca_certs);
    free(u->tls.ca_path);
    free(u->tls.certfile);
    free(u->tls.keyfile);
    for (int i = 0; i < u->nseeds; i++)
        free(u->seeds[i].host);
    free(u->seeds);
    free(u->master_name);
    free(u->sentinel_username);
    free(u->sentinel_password);
    u->seeds = NULL;
    u->nseeds = 0;
    u->master_name = u->sentinel_username = u->sentinel_password = NULL;
    u->host = u->path = u->username = u->password = NULL;
    u->tls.ca_certs = u->tls.ca_path = u->tls.certfile = u->tls.keyfile = NULL;
}
