/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the Redis URL parser (src/url.c), which saq_conf_set("url")
 * and saq_queue_from_url run on the caller's text.
 *
 * For any input: no crash, overread or leak; a refusal has a one-line message.
 * For an accepted URL: the fields are
 * in range, and the URL rebuilt from them (percent-encoded) parses to the
 * same fields. */
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

    /* rebuild and parse again */
    size_t cap = 3 * (size + 64) + 64;
    char *r = malloc(cap), *w = r;
    w += sprintf(w, "%s", u.path ? "unix://" : "redis://");
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
    *w = 0;
    saq__url_t u2;
    check(saq__url_parse(r, &u2, err, sizeof err) == 0, "the rebuilt URL is refused", r);
    check(same(u.host, u2.host) && same(u.path, u2.path) && same(u.username, u2.username) &&
              same(u.password, u2.password) && u.port == u2.port && u.db == u2.db,
          "the rebuilt URL parses differently", r);
    saq__url_free(&u2);
    saq__url_free(&u);
    free(r);
    free(url);
    return 0;
}
