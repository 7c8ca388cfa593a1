/* SPDX-License-Identifier: MIT */
/* Unit tests for Redis URL parsing (src/url.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "url.h"

/* Compare a possibly-NULL string with an expected possibly-NULL value. */
static void check_str(const char *got, const char *want, const char *what, const char *url)
{
    if (!want && !got)
        return;
    if (!want || !got || strcmp(got, want) != 0)
        fail_msg("%s: %s = '%s', want '%s'", url, what, got ? got : "(null)",
                 want ? want : "(null)");
}

/* Parse `url`, which must succeed with exactly these fields. */
static void expect_ok(const char *url, const char *host, int port, const char *path,
                      const char *user, const char *pass, int db)
{
    saq__url_t u;
    char err[256];
    if (saq__url_parse(url, &u, err, sizeof err) != 0)
        fail_msg("%s: unexpected error: %s", url, err);
    check_str(u.host, host, "host", url);
    check_str(u.path, path, "path", url);
    check_str(u.username, user, "username", url);
    check_str(u.password, pass, "password", url);
    if (u.port != port || u.db != db)
        fail_msg("%s: port/db = %d/%d, want %d/%d", url, u.port, u.db, port, db);
    saq__url_free(&u);
    assert_null(u.host);
    saq__url_free(&u); /* freeing twice is harmless */
}

/* The examples from the brief and redis-py's from_url conventions. */
static void test_redis_ok(void **state)
{
    (void)state;
    expect_ok("redis://localhost:6379/0", "localhost", 6379, NULL, NULL, NULL, 0);
    expect_ok("redis://localhost", "localhost", 6379, NULL, NULL, NULL, 0);
    expect_ok("redis://:secret@127.0.0.1:6380/2", "127.0.0.1", 6380, NULL, NULL, "secret", 2);
    expect_ok("redis://user:p%40ss@host/3", "host", 6379, NULL, "user", "p@ss", 3);
    expect_ok("redis://[::1]:6379", "::1", 6379, NULL, NULL, NULL, 0);
    expect_ok("redis://[::1]", "::1", 6379, NULL, NULL, NULL, 0);
    expect_ok("redis://[2001:db8::7]:7000/5", "2001:db8::7", 7000, NULL, NULL, NULL, 5);
    expect_ok("redis://host?db=4", "host", 6379, NULL, NULL, NULL, 4);
    expect_ok("redis://host/1?db=4", "host", 6379, NULL, NULL, NULL, 4); /* query wins */
    expect_ok("redis://host/?foo=bar&db=5&db=6", "host", 6379, NULL, NULL, NULL, 5);
    expect_ok("redis://host?socket_timeout=5", "host", 6379, NULL, NULL, NULL, 0);
    expect_ok("redis://host/", "host", 6379, NULL, NULL, NULL, 0);
    expect_ok("redis://", "localhost", 6379, NULL, NULL, NULL, 0);
    expect_ok("redis://:pw@:6390", "localhost", 6390, NULL, NULL, "pw", 0);
    expect_ok("REDIS://Cache-1.example.com:1/2147483647", "Cache-1.example.com", 1, NULL, NULL,
              NULL, 2147483647);
    expect_ok("redis://host:65535", "host", 65535, NULL, NULL, NULL, 0);
    expect_ok("redis://user@host", "host", 6379, NULL, "user", NULL, 0);
    expect_ok("redis://:@host", "host", 6379, NULL, NULL, NULL, 0);
    expect_ok("redis://us%3Aer:pa%3As%2fs@host", "host", 6379, NULL, "us:er", "pa:s/s", 0);
    expect_ok("redis://:p:w@host", "host", 6379, NULL, NULL, "p:w", 0);
    expect_ok("redis://:a@b@host", "host", 6379, NULL, NULL, "a@b", 0); /* last '@' */
    expect_ok("redis://:sp ace%20x@host", "host", 6379, NULL, NULL, "sp ace x", 0);
}

/* unix:// sockets: absolute, percent-decoded path; db only from the query. */
static void test_unix_ok(void **state)
{
    (void)state;
    expect_ok("unix:///tmp/redis.sock", NULL, 6379, "/tmp/redis.sock", NULL, NULL, 0);
    expect_ok("unix://:pw@/tmp/r.sock?db=2", NULL, 6379, "/tmp/r.sock", NULL, "pw", 2);
    expect_ok("unix://u:pw@/tmp/r.sock", NULL, 6379, "/tmp/r.sock", "u", "pw", 0);
    expect_ok("unix:///tmp/my%20redis.sock", NULL, 6379, "/tmp/my redis.sock", NULL, NULL, 0);
    expect_ok("unix:///run/a@b.sock", NULL, 6379, "/run/a@b.sock", NULL, NULL, 0);
}

/* Parse `url`, which must fail with `want` in the message, and leave the
 * output zeroed; the secret "hunter2" must never appear in the message. */
static void expect_fail(const char *url, const char *want)
{
    saq__url_t u;
    char err[256];
    memset(&u, 0xAB, sizeof u);
    memset(err, 0, sizeof err);
    int rc = saq__url_parse(url, &u, err, sizeof err);
    if (rc != -1 || !strstr(err, want))
        fail_msg("%s: rc=%d err='%s', want '%s'", url ? url : "(NULL)", rc, err, want);
    assert_null(u.host);
    assert_null(u.path);
    assert_null(u.username);
    assert_null(u.password);
    assert_null(u.tls.ca_certs);
    assert_null(u.tls.ca_path);
    assert_null(u.tls.certfile);
    assert_null(u.tls.keyfile);
    assert_int_equal(u.tls.enabled, 0);
    assert_null(strstr(err, "hunter2"));
    assert_null(strchr(err, '\n'));
    saq__url_free(&u);
}

/* Malformed, unsupported and out-of-range URLs. */
static void test_reject(void **state)
{
    (void)state;
    expect_fail(NULL, "url is NULL");
    /* longer than sun_path (108): the kernel would use a shorter path */
    expect_fail("unix:///tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock",
                "unix socket path is longer than 107 bytes");
    expect_fail("", "empty url");
    expect_fail("localhost:6379", "unsupported or missing scheme");
    expect_fail("http://x", "unsupported or missing scheme");
    expect_fail("redis:/x", "unsupported or missing scheme");
    expect_fail("redis", "unsupported or missing scheme");
    expect_fail("redi://x", "unsupported or missing scheme (expected redis://, rediss://, "
                            "unix://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or "
                            "rediss+cluster://)");
    expect_fail("rediss:/x", "unsupported or missing scheme");
    expect_fail("rediss//:hunter2@x", "unsupported or missing scheme");
    expect_fail("rediss://:hunter2@host:0", "invalid port");
    expect_fail("redis://host:0", "invalid port (expected 1-65535)");
    expect_fail("redis://host:65536", "invalid port");
    expect_fail("redis://host:abc", "invalid port");
    expect_fail("redis://host:", "invalid port");
    expect_fail("redis://host:-1", "invalid port");
    expect_fail("redis://host:6379:1", "invalid port");
    expect_fail("redis://host:99999999999999999999999", "invalid port");
    expect_fail("redis://host/abc", "db in path is not a number");
    expect_fail("redis://host/-1", "db in path");
    expect_fail("redis://host/1/2", "db in path");
    expect_fail("redis://host/2147483648", "db in path");
    expect_fail("redis://host/99999999999999999999999", "db in path");
    expect_fail("redis://host?db=abc", "invalid db= query value");
    expect_fail("redis://host?db=", "invalid db= query value");
    expect_fail("redis://host?db=-1", "invalid db= query value");
    expect_fail("redis://host?db=2147483648", "invalid db= query value");
    expect_fail("redis://host?db=%zz", "invalid percent-escape in db");
    expect_fail("unix://relative/path", "unix socket path must be absolute");
    expect_fail("unix://host:1/tmp/x.sock", "unix socket path must be absolute");
    expect_fail("unix://", "unix socket path is empty");
    expect_fail("unix://:hunter2@", "unix socket path is empty");
    expect_fail("unix:///tmp/x%00.sock", "invalid percent-escape in path");
    expect_fail("redis://[::1", "unterminated '['");
    expect_fail("redis://[::1]x", "unexpected characters after ']'");
    expect_fail("redis://[]", "invalid IPv6 host");
    expect_fail("redis://[localhost]", "invalid IPv6 host");
    expect_fail("redis://::1", "invalid port");
    expect_fail("redis://ho st", "invalid character in host");
    expect_fail("redis://ho%41st", "invalid character in host");
    expect_fail("redis://host]", "invalid character in host");
    expect_fail("redis://host\n", "control character at offset 12");
    expect_fail("redis://ho\tst", "control character");
    expect_fail("redis://\x7fhost", "control character");
    expect_fail("\x01redis://host", "control character at offset 0");
    expect_fail("redis://:hunter2%zz@host", "invalid percent-escape in password");
    expect_fail("redis://:hunter2%4@host", "invalid percent-escape in password");
    expect_fail("redis://:hunter2%00@host", "invalid percent-escape in password");
    expect_fail("redis://us%g0:x@host", "invalid percent-escape in username");
    expect_fail("redis://:hunter2#x@host", "'#'");
    expect_fail("redis://:hunt/er2@host", "'@' after the host");
    expect_fail("redis://:hunt?er2@host", "'@' after the host");
    /* Failures after the credentials were decoded must free them (ASan/LSan). */
    expect_fail("redis://user:hunter2@host:0", "invalid port");
    expect_fail("redis://user:hunter2@host/x", "db in path");
    expect_fail("redis://user:hunter2@host?db=x", "invalid db= query value");
    expect_fail("redis://user:hunter2%zz@host", "invalid percent-escape in password");
    expect_fail("unix://user:hunter2@relative", "unix socket path must be absolute");
    expect_fail("unix://user:hunter2@/tmp/x.sock?db=x", "invalid db= query value");
}

/* The TLS settings expected of a parse. */
typedef struct {
    int enabled, cert_reqs, check_hostname;
    const char *ca_certs, *ca_path, *certfile, *keyfile;
} tls_want_t;

/* Parse `url`, which must succeed with exactly these TLS settings. */
static void expect_tls(const char *url, tls_want_t want)
{
    saq__url_t u;
    char err[256];
    if (saq__url_parse(url, &u, err, sizeof err) != 0)
        fail_msg("%s: unexpected error: %s", url, err);
    if (u.tls.enabled != want.enabled || u.tls.cert_reqs != want.cert_reqs ||
        u.tls.check_hostname != want.check_hostname)
        fail_msg("%s: enabled/cert_reqs/check_hostname = %d/%d/%d, want %d/%d/%d", url,
                 u.tls.enabled, u.tls.cert_reqs, u.tls.check_hostname, want.enabled,
                 want.cert_reqs, want.check_hostname);
    check_str(u.tls.ca_certs, want.ca_certs, "ca_certs", url);
    check_str(u.tls.ca_path, want.ca_path, "ca_path", url);
    check_str(u.tls.certfile, want.certfile, "certfile", url);
    check_str(u.tls.keyfile, want.keyfile, "keyfile", url);
    saq__url_free(&u);
    assert_null(u.tls.ca_certs);
    assert_null(u.tls.keyfile);
    saq__url_free(&u);
}

#define REQ SAQ__TLS_REQUIRED
#define OPT SAQ__TLS_OPTIONAL
#define NONE SAQ__TLS_NONE

/* rediss://: the redis:// syntax, port 6379 by default, TLS on with redis-py 6.4's defaults
 * (certificate required, host name checked, system trust store, no client certificate). */
static void test_rediss_ok(void **state)
{
    (void)state;
    tls_want_t dflt = {1, REQ, 1, NULL, NULL, NULL, NULL};
    expect_ok("rediss://localhost", "localhost", 6379, NULL, NULL, NULL, 0);
    expect_ok("rediss://u:p%40w@cache.example.com:6380/3", "cache.example.com", 6380, NULL, "u",
              "p@w", 3);
    expect_ok("REDISS://[::1]:7000?db=2", "::1", 7000, NULL, NULL, NULL, 2);
    expect_ok("rediss://", "localhost", 6379, NULL, NULL, NULL, 0);
    expect_tls("rediss://localhost", dflt);
    expect_tls("RediSS://h/1", dflt);
    expect_tls("rediss://h?socket_timeout=5&health_check_interval=10", dflt); /* ignored */
    /* plain urls: TLS off, nothing set */
    expect_tls("redis://h", (tls_want_t){0, REQ, 1, NULL, NULL, NULL, NULL});
    expect_tls("unix:///tmp/r.sock?db=1", (tls_want_t){0, REQ, 1, NULL, NULL, NULL, NULL});
}

/* Each ssl_* query parameter, the cert_reqs / check_hostname interplay, and the decoding. */
static void test_rediss_params(void **state)
{
    (void)state;
    expect_tls("rediss://h?ssl_cert_reqs=required", (tls_want_t){1, REQ, 1, NULL, NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_cert_reqs=optional", (tls_want_t){1, OPT, 1, NULL, NULL, NULL, NULL});
    /* none: hostname checking ends up off, even when asked for (redis-py 6.4 does the same) */
    expect_tls("rediss://h?ssl_cert_reqs=none", (tls_want_t){1, NONE, 0, NULL, NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_check_hostname=true&ssl_cert_reqs=none",
               (tls_want_t){1, NONE, 0, NULL, NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_cert_reqs=optional&ssl_check_hostname=false",
               (tls_want_t){1, OPT, 0, NULL, NULL, NULL, NULL});
    /* to_bool's forms, any case; "on" is also true */
    const char *yes[] = {"1", "t", "T", "true", "TRUE", "True", "y", "Y", "yes", "YES", "on", "On"};
    const char *no[] = {"0", "f", "F", "false", "FALSE", "False", "n", "N", "no", "NO", "No"};
    char url[128];
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        snprintf(url, sizeof url, "rediss://h?ssl_check_hostname=%s", yes[i]);
        expect_tls(url, (tls_want_t){1, REQ, 1, NULL, NULL, NULL, NULL});
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        snprintf(url, sizeof url, "rediss://h?ssl_check_hostname=%s", no[i]);
        expect_tls(url, (tls_want_t){1, REQ, 0, NULL, NULL, NULL, NULL});
    }
    expect_tls("rediss://h?ssl_ca_certs=/etc/ssl/ca.pem&ssl_ca_path=/etc/ssl/certs"
               "&ssl_certfile=/c/client.crt&ssl_keyfile=/c/client.key",
               (tls_want_t){1, REQ, 1, "/etc/ssl/ca.pem", "/etc/ssl/certs", "/c/client.crt",
                            "/c/client.key"});
    expect_tls("rediss://:pw@h:6380/2?ssl_certfile=/c/both.pem",
               (tls_want_t){1, REQ, 1, NULL, NULL, "/c/both.pem", NULL});
    /* percent-decoding, as redis-py: parse_qs ('+' is a space) then unquote again */
    expect_tls("rediss://h?ssl_ca_certs=/my%20certs/ca+1.pem",
               (tls_want_t){1, REQ, 1, "/my certs/ca 1.pem", NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_ca_certs=/a%2Bb.pem", /* '+' itself is %2B */
               (tls_want_t){1, REQ, 1, "/a+b.pem", NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_ca_certs=/a%2526b%2541", /* decoded twice: %2526 -> %26 -> & */
               (tls_want_t){1, REQ, 1, "/a&bA", NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_ca_certs=/100%25.pem&ssl_keyfile=/k%zz%4", /* invalid escapes stay */
               (tls_want_t){1, REQ, 1, "/100%.pem", NULL, NULL, "/k%zz%4"});
    expect_tls("rediss://h?ssl_cert_reqs=%6Eone", (tls_want_t){1, NONE, 0, NULL, NULL, NULL, NULL});
    expect_tls("rediss://h?ssl%5Fcert_reqs=none", /* names are decoded too */
               (tls_want_t){1, NONE, 0, NULL, NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_ca_certs=%2Fa%3Fb%3Dc%23d%40e", /* '?', '=', '#', '@' escaped */
               (tls_want_t){1, REQ, 1, "/a?b=c#d@e", NULL, NULL, NULL});
    /* the first occurrence counts; a parameter without a value is skipped (parse_qs) */
    expect_tls("rediss://h?ssl_cert_reqs=none&ssl_cert_reqs=required",
               (tls_want_t){1, NONE, 0, NULL, NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_cert_reqs=&ssl_cert_reqs=optional",
               (tls_want_t){1, OPT, 1, NULL, NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_ca_certs=/a&ssl_ca_certs=/b&ssl_keyfile&ssl_certfile=",
               (tls_want_t){1, REQ, 1, "/a", NULL, NULL, NULL});
    expect_tls("rediss://h?ssl_cert_reqs=&ssl_check_hostname=", /* blank: the defaults */
               (tls_want_t){1, REQ, 1, NULL, NULL, NULL, NULL});
    expect_tls("rediss://h?&&ssl_cert_reqs=none&", (tls_want_t){1, NONE, 0, NULL, NULL, NULL, NULL});
    /* db and TLS parameters together, in any order */
    expect_ok("rediss://h?ssl_cert_reqs=none&db=7&db=8", "h", 6379, NULL, NULL, NULL, 7);
    expect_tls("rediss://h?db=7&ssl_cert_reqs=none&db=8",
               (tls_want_t){1, NONE, 0, NULL, NULL, NULL, NULL});
    expect_ok("rediss://h?db=7&ssl_cert_reqs=none", "h", 6379, NULL, NULL, NULL, 7);
    /* blank ssl_* parameters are skipped before the scheme matters, as in redis-py */
    expect_tls("redis://h?ssl_cert_reqs=", (tls_want_t){0, REQ, 1, NULL, NULL, NULL, NULL});
    expect_tls("redis://h?ssl_ca_certs", (tls_want_t){0, REQ, 1, NULL, NULL, NULL, NULL});
    /* other parameters, even close names, are ignored as before */
    expect_tls("rediss://h?SSL_CERT_REQS=none&sslx=1&xssl_cert_reqs=none",
               (tls_want_t){1, REQ, 1, NULL, NULL, NULL, NULL});
}

/* Refused TLS parameters: each with its own message, never the value or the URL. */
static void test_rediss_reject(void **state)
{
    (void)state;
    /* cert_reqs: only redis-py's three lower-case words (redis-py raises "Invalid SSL
     * Certificate Requirements Flag" for anything else) */
    const char *bad_reqs[] = {"NONE", "Required", "CERT_NONE", "0", "true", "requiredx",
                              "none%00", "%20none", "none+"};
    char url[128];
    for (size_t i = 0; i < sizeof bad_reqs / sizeof bad_reqs[0]; i++) {
        snprintf(url, sizeof url, "rediss://:hunter2@h?ssl_cert_reqs=%s", bad_reqs[i]);
        expect_fail(url, strstr(bad_reqs[i], "%00")
                             ? "ssl_cert_reqs holds a NUL byte (%00)"
                             : "ssl_cert_reqs must be none, optional or required (lower case, "
                               "as redis-py)");
    }
    /* check_hostname: words redis-py would silently read as true */
    const char *bad_bool[] = {"off", "OFF", "disable", "2", "truex", "-1", "nope", "%20"};
    for (size_t i = 0; i < sizeof bad_bool / sizeof bad_bool[0]; i++) {
        snprintf(url, sizeof url, "rediss://:hunter2@h?ssl_check_hostname=%s", bad_bool[i]);
        expect_fail(url, "ssl_check_hostname must be one of 1, t, true, y, yes, on or 0, f, "
                         "false, n, no (redis-py reads any other word as true)");
    }
    expect_fail("rediss://h?ssl_ca_certs=/a%00b", "ssl_ca_certs holds a NUL byte (%00)");
    expect_fail("rediss://h?ssl_ca_path=/a%2500b", "ssl_ca_path holds a NUL byte (%00)");
    expect_fail("rediss://h?ssl_certfile=%00", "ssl_certfile holds a NUL byte");
    expect_fail("rediss://h?ssl_keyfile=x%00", "ssl_keyfile holds a NUL byte");
    expect_fail("rediss://h?ssl%00_x=1", "a query parameter name holds a NUL byte (%00)");
    /* a later bad value still fails after a good one was stored (no leak under ASan) */
    expect_fail("rediss://:hunter2@h?ssl_ca_certs=/a&ssl_certfile=/b&ssl_cert_reqs=bad",
                "ssl_cert_reqs must be");
    expect_fail("rediss://:hunter2@h?ssl_keyfile=/k&db=x", "invalid db= query value");
    expect_fail("rediss://:hunter2@h:1/x?ssl_keyfile=/k", "db in path");
    /* ssl_* parameters libsaq does not implement: refused rather than silently dropped */
    expect_fail("rediss://h?ssl_ciphers=HIGH",
                "ssl_ciphers is not supported (libsaq reads ssl_cert_reqs, ssl_check_hostname, "
                "ssl_ca_certs, ssl_ca_path, ssl_certfile and ssl_keyfile)");
    expect_fail("rediss://h?ssl_password=hunter2", "ssl_password is not supported");
    expect_fail("rediss://h?ssl_validate_ocsp=true", "ssl_validate_ocsp is not supported");
    expect_fail("rediss://h?ssl_min_version=3", "ssl_min_version is not supported");
    expect_fail("rediss://h?ssl_ca_data=x", "ssl_ca_data is not supported");
    expect_fail("rediss://h?ssl_hunter2%0A=1", "this ssl_* query parameter is not supported");
    expect_fail("rediss://h?ssl_Hunter2=1", "this ssl_* query parameter is not supported");
    expect_fail("rediss://h?ssl=true", "the ssl query parameter is not supported: a rediss:// "
                                       "url asks for TLS");
    expect_fail("redis://h?ssl=true", "the ssl query parameter is not supported");
    /* ssl_* on a url without TLS: redis-py fails those too (TypeError: only its
     * SSLConnection takes them); libsaq says so at once */
    expect_fail("redis://h?ssl_cert_reqs=none", "ssl_cert_reqs needs TLS (a rediss://, rediss+sentinel:// or rediss+cluster:// url)");
    expect_fail("redis://:hunter2@h?ssl_ca_certs=/ca.pem", "ssl_ca_certs needs TLS (a rediss://");
    expect_fail("redis://h?db=1&ssl_check_hostname=false", "ssl_check_hostname needs TLS (a rediss://");
    expect_fail("redis://h?ssl_ca_path=/p", "ssl_ca_path needs TLS (a rediss://");
    expect_fail("redis://h?ssl_certfile=/c", "ssl_certfile needs TLS (a rediss://");
    expect_fail("redis://h?ssl_keyfile=/k", "ssl_keyfile needs TLS (a rediss://");
    expect_fail("unix://:hunter2@/tmp/r.sock?ssl_certfile=/c.pem",
                "ssl_certfile needs TLS (a rediss://, rediss+sentinel:// or rediss+cluster:// url)");
    expect_fail("unix:///tmp/r.sock?ssl_ciphers=x", "ssl_ciphers is not supported");
}

/* Error buffer handling and freeing a zeroed struct. */
static void test_edges(void **state)
{
    (void)state;
    saq__url_t u;
    char small[8];
    assert_int_equal(saq__url_parse("http://x", &u, NULL, 0), -1);
    assert_int_equal(saq__url_parse("http://x", &u, small, 0), -1);
    assert_int_equal(saq__url_parse("http://x", &u, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1); /* truncated, terminated */
    assert_int_equal(saq__url_parse("redis://x", NULL, small, sizeof small), -1);

    saq__url_t zero;
    memset(&zero, 0, sizeof zero);
    saq__url_free(&zero);
    saq__url_free(NULL);

    char err[64] = "stale";
    assert_int_equal(saq__url_parse("redis://x", &u, err, sizeof err), 0);
    assert_string_equal(err, ""); /* cleared on success */
    saq__url_free(&u);
}

/* redis+sentinel:// and redis+cluster:// (issue 15): the host lists, the
 * master name, the sentinels' own credentials, TLS by scheme, and what is
 * refused. */
static void test_multinode(void **state)
{
    (void)state;
    saq__url_t u;
    char err[256];
    assert_int_equal(saq__url_parse("redis+sentinel://u:p%40w@s1:26380,[::1],s3:1/my%2Fmaster/3"
                                    "?sentinel_password=sp+w%21&sentinel_username=su",
                                    &u, err, sizeof err), 0);
    assert_int_equal(u.topo, SAQ__TOPO_SENTINEL);
    assert_int_equal(u.nseeds, 3);
    assert_string_equal(u.seeds[0].host, "s1");
    assert_int_equal(u.seeds[0].port, 26380);
    assert_string_equal(u.seeds[1].host, "::1");
    assert_int_equal(u.seeds[1].port, 26379); /* the sentinel default */
    assert_string_equal(u.seeds[2].host, "s3");
    assert_int_equal(u.seeds[2].port, 1);
    assert_string_equal(u.master_name, "my/master");
    assert_int_equal(u.db, 3);
    assert_string_equal(u.username, "u");
    assert_string_equal(u.password, "p@w");
    assert_string_equal(u.sentinel_password, "sp+w!"); /* '+' stays a '+' */
    assert_string_equal(u.sentinel_username, "su");
    assert_false(u.tls.enabled);
    saq__url_free(&u);
    assert_null(u.seeds);
    assert_null(u.master_name);
    saq__url_free(&u);

    assert_int_equal(saq__url_parse("sentinel://h/m", &u, err, sizeof err), 0);
    assert_int_equal(u.topo, SAQ__TOPO_SENTINEL);
    assert_int_equal(u.nseeds, 1);
    assert_int_equal(u.db, 0);
    saq__url_free(&u);
    assert_int_equal(saq__url_parse("rediss+sentinel://h:5/m?ssl_ca_certs=/ca.pem", &u, err,
                                    sizeof err), 0);
    assert_true(u.tls.enabled);
    assert_string_equal(u.tls.ca_certs, "/ca.pem");
    saq__url_free(&u);

    assert_int_equal(saq__url_parse("redis+cluster://:pw@n1:7000,n2", &u, err, sizeof err), 0);
    assert_int_equal(u.topo, SAQ__TOPO_CLUSTER);
    assert_int_equal(u.nseeds, 2);
    assert_int_equal(u.seeds[1].port, 6379);
    assert_string_equal(u.host, "n1"); /* the first host stands for the url in messages */
    assert_int_equal(u.port, 7000);
    assert_string_equal(u.password, "pw");
    saq__url_free(&u);
    assert_int_equal(saq__url_parse("cluster://n1/0", &u, err, sizeof err), 0);
    saq__url_free(&u);
    assert_int_equal(saq__url_parse("rediss+cluster://n1?ssl_cert_reqs=none", &u, err, sizeof err),
                     0);
    assert_true(u.tls.enabled);
    assert_int_equal(u.tls.cert_reqs, SAQ__TLS_NONE);
    saq__url_free(&u);

    expect_fail("redis+sentinel://h1,h2", "the master name is missing");
    expect_fail("redis+sentinel://h1/", "the master name is missing");
    expect_fail("redis+sentinel://h1//2", "the master name is missing");
    expect_fail("redis+sentinel://h1/m/x", "db after the master name is not a number");
    expect_fail("redis+sentinel://h1,,h2/m", "empty host in the host list");
    expect_fail("redis+sentinel://h1,/m", "empty host in the host list");
    expect_fail("redis+sentinel://h1:0/m", "invalid port");
    expect_fail("redis+sentinel://:hunter2@h1/m?ssl_ca_certs=/x", "needs TLS");
    expect_fail("redis+cluster://h1/1", "redis cluster has only db 0");
    expect_fail("redis+cluster://h1?db=2", "redis cluster has only db 0");
    expect_fail("redis+cluster://h1?sentinel_password=hunter2", "needs a redis+sentinel:// url");
    expect_fail("redis://h1?sentinel_password=hunter2", "needs a redis+sentinel:// url");
    expect_fail("redis+cluster://h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12,h13,h14,h15,h16,h17",
                "more than 16 hosts");
    expect_fail("redis+cluster://h1,h2,h%31", "invalid character in host");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_ok),
        cmocka_unit_test(test_unix_ok),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_rediss_ok),
        cmocka_unit_test(test_rediss_params),
        cmocka_unit_test(test_rediss_reject),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_multinode),
    };
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
