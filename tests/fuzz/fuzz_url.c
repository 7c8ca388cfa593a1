/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the Redis URL parser (src/url.c), which saq_conf_set("url")
 * and saq_queue_from_url run on the caller's text.
 *
 * For any input: no crash, overread or leak; a refusal has a one-line message.
 * For an accepted URL: the fields are
 * in range, the TLS settings consistent (only rediss:// has any; hostname
 * checking off with cert_reqs=none), and the URL rebuilt from them
 * (percent-encoded; the ssl_* paths twice, as redis-py decodes them twice)
 * parses to the same fields. */
#include "url.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static void check(int cond, const char *what, const char *url)
{
    if (cond)
        return;
    fprintf(stderr, "fuzz_url: %s: %s\n", what, url);
    abort();
}

static void put_enc(char **w, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            *(*w)++ = (char)c;
        } else {
            *(*w)++ = '%';
            *(*w)++ = hex[c >> 4];
            *(*w)++ = hex[c & 15];
        }
    }
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* Append "&name=" and `value` percent-encoded twice (nothing for NULL). */
static void put_param(char **w, const char *name, const char *value)
{
    if (!value)
        return;
    char *once = malloc(3 * strlen(value) + 1), *o = once;
    put_enc(&o, value, 0);
    *o = 0;
    *w += sprintf(*w, "&%s=", name);
    put_enc(w, once, 0);
    free(once);
}

/* The TLS settings of u and v are the same. */
static int same_tls(const saq__tls_opts_t *a, const saq__tls_opts_t *b)
{
    return a->enabled == b->enabled && a->cert_reqs == b->cert_reqs &&
           a->check_hostname == b->check_hostname &&
           a->want_check_hostname == b->want_check_hostname && same(a->ca_certs, b->ca_certs) &&
           same(a->ca_path, b->ca_path) && same(a->certfile, b->certfile) &&
           same(a->keyfile, b->keyfile);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url)
        return 0;
    memcpy(url, data, size);
    url[size] = 0;
    char err[200];
    saq__url_t u;
    if (saq__url_parse(url, &u, err, sizeof err)) {
        check(!strncmp(err, "redis url: ", 11) && strlen(err) > 11, "refused without a message", url);
        for (const char *p = err; *p; p++)
            check((unsigned char)*p >= 0x20 && *p != 0x7f, "control character in the message", url);
        free(url);
        return 0;
    }
    check(u.port >= 1 && u.port <= 65535, "port out of range", url);
    check(u.db >= 0, "negative db", url);
    check((u.host != NULL) != (u.path != NULL), "neither or both of host and path", url);
    if (u.path)
        check(u.path[0] == '/' && strlen(u.path) < sizeof(((struct sockaddr_un *)0)->sun_path),
              "bad unix path", url);
    const saq__tls_opts_t *t = &u.tls;
    check(t->cert_reqs >= SAQ__TLS_REQUIRED && t->cert_reqs <= SAQ__TLS_NONE, "bad cert_reqs", url);
    check(t->want_check_hostname == 0 || t->want_check_hostname == 1, "bad check_hostname", url);
    check(t->check_hostname == (t->want_check_hostname && t->cert_reqs != SAQ__TLS_NONE),
          "check_hostname not resolved", url);
    if (!t->enabled)
        check(t->cert_reqs == SAQ__TLS_REQUIRED && t->want_check_hostname && !t->ca_certs &&
                  !t->ca_path && !t->certfile && !t->keyfile,
              "TLS settings without rediss://", url);
    else
        check(u.host && (!t->ca_certs || *t->ca_certs) && (!t->ca_path || *t->ca_path) &&
                  (!t->certfile || *t->certfile) && (!t->keyfile || *t->keyfile),
              "rediss:// without a host, or an empty path", url);

    /* rebuild and parse again */
    size_t cap = 9 * (size + 64) + 256;
    char *r = malloc(cap), *w = r;
    w += sprintf(w, "%s", u.path ? "unix://" : t->enabled ? "rediss://" : "redis://");
    if (u.username || u.password) {
        if (u.username)
            put_enc(&w, u.username, 0);
        if (u.password) {
            *w++ = ':';
            put_enc(&w, u.password, 0);
        }
        *w++ = '@';
    }
    if (u.path) {
        put_enc(&w, u.path, 1);
        w += sprintf(w, "?db=%d", u.db);
    } else {
        int v6 = strchr(u.host, ':') != NULL;
        w += sprintf(w, "%s%s%s:%d/%d", v6 ? "[" : "", u.host, v6 ? "]" : "", u.port, u.db);
    }
    if (t->enabled) {
        w += sprintf(w, "?ssl_cert_reqs=%s&ssl_check_hostname=%s",
                     saq__tls_cert_reqs_name(t->cert_reqs), t->want_check_hostname ? "Yes" : "F");
        put_param(&w, "ssl_ca_certs", t->ca_certs);
        put_param(&w, "ssl_ca_path", t->ca_path);
        put_param(&w, "ssl_certfile", t->certfile);
        put_param(&w, "ssl_keyfile", t->keyfile);
    }
    *w = 0;
    saq__url_t u2;
    check(saq__url_parse(r, &u2, err, sizeof err) == 0, "the rebuilt URL is refused", r);
    check(same(u.host, u2.host) && same(u.path, u2.path) && same(u.username, u2.username) &&
              same(u.password, u2.password) && u.port == u2.port && u.db == u2.db &&
              same_tls(&u.tls, &u2.tls),
          "the rebuilt URL parses differently", r);
    saq__url_free(&u2);
    saq__url_free(&u);
    free(r);
    free(url);
    return 0;
}
