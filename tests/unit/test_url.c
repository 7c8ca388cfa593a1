/* SPDX-License-Identifier: MIT */
/* Unit tests for Redis URL parsing (src/url.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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
    expect_fail("rediss://x", "TLS");
    expect_fail("rediss://:hunter2@x", "rediss:// (TLS) is not supported");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_ok),
        cmocka_unit_test(test_unix_ok),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
