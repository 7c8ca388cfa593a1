/* SPDX-License-Identifier: MIT */
/* Unit tests: saq's max_concurrent_ops throttle, the reconnect backoff and
 * configuration validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

static int granted[16];
static int order[16], norder;

typedef struct w {
    saq__twaiter_t tw;
    int id;
} w_t;

static void grant(saq__twaiter_t *t)
{
    w_t *w = (w_t *)t;
    granted[w->id] = 1;
    order[norder++] = w->id;
}

static void test_throttle_fifo(void **state)
{
    (void)state;
    saq__throttle_t t;
    saq__throttle_init(&t, 2);
    w_t ws[6];
    for (int i = 0; i < 6; i++) {
        ws[i].tw.grant = grant;
        ws[i].id = i;
    }
    memset(granted, 0, sizeof granted);
    norder = 0;
    assert_int_equal(saq__throttle_acquire(&t, &ws[0].tw), 1);
    assert_int_equal(saq__throttle_acquire(&t, &ws[1].tw), 1);
    assert_int_equal(saq__throttle_acquire(&t, &ws[2].tw), 0); /* full: waits */
    assert_int_equal(saq__throttle_acquire(&t, &ws[3].tw), 0);
    assert_int_equal(saq__throttle_acquire(&t, &ws[4].tw), 0);
    assert_int_equal(saq__throttle_cancel(&t, &ws[3].tw), 1);  /* a waiter that gave up */
    saq__throttle_release(&t);                                  /* hands its permit to 2 */
    assert_true(granted[2] && !granted[4]);
    saq__throttle_release(&t);
    assert_true(granted[4]);
    assert_false(granted[3]);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 4);
    saq__throttle_release(&t);
    saq__throttle_release(&t);
    assert_int_equal(t.used, 0);
    saq__throttle_release(&t); /* never goes negative */
    assert_int_equal(t.used, 0);
    /* a new arrival does not overtake queued waiters */
    saq__throttle_init(&t, 1);
    assert_int_equal(saq__throttle_acquire(&t, &ws[0].tw), 1);
    assert_int_equal(saq__throttle_acquire(&t, &ws[1].tw), 0);
    saq__throttle_release(&t);
    assert_int_equal(saq__throttle_acquire(&t, &ws[2].tw), 0);
}

static void test_backoff(void **state)
{
    (void)state;
    /* jitter in [0.5, 1.0) of min(cap, base * 2^attempt) */
    assert_int_equal(saq__backoff_ms(0, 50, 2000, 0.0), 25);
    assert_int_equal(saq__backoff_ms(0, 50, 2000, 0.999999), 49);
    assert_int_equal(saq__backoff_ms(3, 50, 2000, 0.0), 200);
    assert_int_equal(saq__backoff_ms(10, 50, 2000, 0.0), 1000);
    assert_true(saq__backoff_ms(60, 50, 2000, 0.999) < 2000); /* no overflow for huge attempts */
    assert_true(saq__backoff_ms(5, 50, 2000, 5.0) < 2000);    /* u is clamped */
}

static void test_conf(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_conf_set(c, "name", "jobs"), 0);
    assert_string_equal(saq_conf_get(c, "name"), "jobs");
    assert_int_equal(saq_conf_set(c, "nope", "1"), SAQ_EUNKNOWN_KEY);
    assert_non_null(strstr(saq_conf_errmsg(c), "nope"));
    assert_int_equal(saq_conf_set(c, "name", "a:b"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "name", "a*"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "name", ""), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "url", "http://x"), SAQ_EURL);
    assert_int_equal(saq_conf_set(c, "url", "valkeys://x"), SAQ_EURL);
    assert_non_null(strstr(saq_conf_errmsg(c), "unsupported or missing scheme"));
    assert_int_equal(saq_conf_set(c, "url", "rediss://x?ssl_cert_reqs=NONE"), SAQ_EURL);
    assert_string_equal(saq_conf_errmsg(c), "url: redis url: ssl_cert_reqs must be none, optional "
                                            "or required (lower case, as redis-py)");
    assert_int_equal(saq_conf_set(c, "url", "redis://x?ssl_ca_certs=/ca.pem"), SAQ_EURL);
    assert_string_equal(saq_conf_errmsg(c),
                        "url: redis url: ssl_ca_certs needs TLS (a rediss://, "
                        "rediss+sentinel:// or rediss+cluster:// url)");
    assert_int_equal(saq_conf_set(c, "max_concurrent_ops", "0"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "concurrency", "2.5"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "dialect", "0.14"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "metadata", "[1]"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "id", "has:colon"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "timers.stats", "5"), 0); /* saq 0.13's name */
    assert_string_equal(saq_conf_get(c, "timers.worker_info"), "5");
    assert_int_equal(saq_conf_set(c, NULL, "x"), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(NULL, "name", "x"), SAQ_EINVAL);
    assert_string_equal(saq_conf_get(c, "name"), "jobs"); /* failed sets changed nothing */
    saq__settings_t s;
    assert_int_equal(saq__settings_from_conf(&s, c, 1), 0);
    assert_string_equal(s.name, "jobs");
    assert_int_equal(s.max_concurrent_ops, 20);
    assert_true(s.t_worker_info == 5);
    saq__settings_free(&s);
    saq_conf_free(c);
    saq_conf_free(NULL);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(saq_err_name(SAQ_ETIMEDOUT), "SAQ_ETIMEDOUT");
    assert_string_equal(saq_strerror(12345), "unknown error");
    assert_string_equal(saq_err_name(12345), "SAQ_E?");
    for (int e = 0; e >= SAQ_ETLS; e--)
        assert_string_not_equal(saq_err_name(e), "SAQ_E?"); /* every code has a name */
    assert_int_equal(saq_version(), SAQ_VERSION_NUMBER);
    assert_string_equal(saq_version_str(), SAQ_VERSION_STR);
}

/* Settings from a conf whose keys are set in this order (NULL-terminated key, value pairs);
 * every set must succeed. Returns saq__settings_from_conf's code; the message in *msg. */
static int tls_settings(saq__settings_t *s, int queue, char *msg, size_t msglen, ...)
{
    saq_conf_t *c = saq_conf_new();
    va_list ap;
    va_start(ap, msglen);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        if (saq_conf_set(c, k, v) != SAQ_OK)
            fail_msg("saq_conf_set(%s, %s): %s", k, v, saq_conf_errmsg(c));
    }
    va_end(ap);
    int rc = saq__settings_from_conf(s, c, queue);
    snprintf(msg, msglen, "%s", saq_conf_errmsg(c));
    saq_conf_free(c);
    return rc;
}

/* The tls.* keys: checked when set, they replace the url's ssl_* values (check_hostname
 * resolved again), an empty path removes the url's, and they need a rediss:// url for a queue
 * (a worker ignores them, as every queue key). */
static void test_conf_tls(void **state)
{
    (void)state;
    char msg[300];
    saq__settings_t s;
    saq_conf_t *c = saq_conf_new();
    /* checked when set */
    assert_int_equal(saq_conf_set(c, "tls.cert_reqs", "NONE"), SAQ_EINVAL);
    assert_string_equal(saq_conf_errmsg(c),
                        "tls.cert_reqs must be none, optional or required, got 'NONE'");
    assert_int_equal(saq_conf_set(c, "tls.cert_reqs", ""), SAQ_EINVAL);
    assert_int_equal(saq_conf_set(c, "tls.check_hostname", "maybe"), SAQ_EINVAL);
    assert_string_equal(saq_conf_errmsg(c), "tls.check_hostname must be true or false, got 'maybe'");
    char longpath[4097];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    const char *paths[] = {"tls.ca_certs", "tls.ca_path", "tls.certfile", "tls.keyfile"};
    for (int i = 0; i < 4; i++) {
        char want[100];
        assert_int_equal(saq_conf_set(c, paths[i], longpath), SAQ_EINVAL);
        snprintf(want, sizeof want, "%s is longer than 4095 bytes (PATH_MAX)", paths[i]);
        assert_string_equal(saq_conf_errmsg(c), want);
        assert_int_equal(saq_conf_set(c, paths[i], longpath + 1), SAQ_OK); /* 4095 bytes */
        assert_int_equal(saq_conf_set(c, paths[i], ""), SAQ_OK);
    }
    for (int i = 0; i < 3; i++) {
        const char *w[] = {"none", "optional", "required"};
        assert_int_equal(saq_conf_set(c, "tls.cert_reqs", w[i]), SAQ_OK);
        assert_string_equal(saq_conf_get(c, "tls.cert_reqs"), w[i]);
    }
    assert_int_equal(saq_conf_set(c, "tls.check_hostname", "off"), SAQ_OK); /* conf's booleans */
    saq_conf_free(c);

    /* no tls.* key: the url's values */
    assert_int_equal(tls_settings(&s, 1, msg, sizeof msg, "url",
                                  "rediss://h?ssl_cert_reqs=optional&ssl_ca_certs=/u/ca.pem", NULL),
                     SAQ_OK);
    assert_int_equal(s.url.tls.enabled, 1);
    assert_int_equal(s.url.tls.cert_reqs, SAQ__TLS_OPTIONAL);
    assert_int_equal(s.url.tls.check_hostname, 1);
    assert_string_equal(s.url.tls.ca_certs, "/u/ca.pem");
    saq__settings_free(&s);

    /* every key replaces the url's value; "" removes a path */
    assert_int_equal(tls_settings(&s, 1, msg, sizeof msg, "tls.ca_certs", "/c/ca.pem", "url",
                                  "rediss://h?ssl_cert_reqs=optional&ssl_ca_certs=/u/ca.pem"
                                  "&ssl_ca_path=/u/dir&ssl_certfile=/u/c.pem&ssl_keyfile=/u/k.pem",
                                  "tls.cert_reqs", "required", "tls.ca_path", "",
                                  "tls.certfile", "/c/c.pem", "tls.keyfile", "/c/k.pem",
                                  "tls.check_hostname", "false", NULL),
                     SAQ_OK);
    assert_int_equal(s.url.tls.enabled, 1);
    assert_int_equal(s.url.tls.cert_reqs, SAQ__TLS_REQUIRED);
    assert_int_equal(s.url.tls.check_hostname, 0);
    assert_string_equal(s.url.tls.ca_certs, "/c/ca.pem");
    assert_null(s.url.tls.ca_path);
    assert_string_equal(s.url.tls.certfile, "/c/c.pem");
    assert_string_equal(s.url.tls.keyfile, "/c/k.pem");

    /* saq_worker_conf_get's view: the settings in effect, "" for no path (over the url's) */
    saq__settings_t w;
    saq__settings_defaults(&w);
    saq_conf_t *e = saq__settings_export(&s, &w, "wid");
    assert_non_null(e);
    assert_string_equal(saq_conf_get(e, "tls.cert_reqs"), "required");
    assert_string_equal(saq_conf_get(e, "tls.check_hostname"), "false");
    assert_string_equal(saq_conf_get(e, "tls.ca_certs"), "/c/ca.pem");
    assert_string_equal(saq_conf_get(e, "tls.ca_path"), "");
    assert_string_equal(saq_conf_get(e, "tls.certfile"), "/c/c.pem");
    assert_string_equal(saq_conf_get(e, "tls.keyfile"), "/c/k.pem");
    saq__settings_t again; /* the export opens the same settings */
    assert_int_equal(saq__settings_from_conf(&again, e, 1), SAQ_OK);
    assert_int_equal(again.url.tls.cert_reqs, SAQ__TLS_REQUIRED);
    assert_int_equal(again.url.tls.check_hostname, 0);
    assert_string_equal(again.url.tls.ca_certs, "/c/ca.pem");
    assert_null(again.url.tls.ca_path);
    assert_string_equal(again.url.tls.keyfile, "/c/k.pem");
    saq__settings_free(&again);
    saq_conf_free(e);
    saq__settings_free(&s);

    /* a plain url exports no tls.* key (it would refuse them) */
    assert_int_equal(saq__settings_from_conf(&s, NULL, 1), SAQ_OK);
    assert_non_null(e = saq__settings_export(&s, &w, "wid"));
    assert_null(saq_conf_get(e, "tls.cert_reqs"));
    assert_null(saq_conf_get(e, "tls.check_hostname"));
    assert_int_equal(saq__settings_from_conf(&again, e, 1), SAQ_OK);
    saq__settings_free(&again);
    saq_conf_free(e);
    saq__settings_free(&s);

    /* check_hostname is resolved after the merge */
    const struct {
        const char *url, *k1, *v1, *k2, *v2;
        int cert_reqs, check_hostname;
    } resolve[] = {
        /* the url's cert_reqs=none turned it off; required turns the default (on) back */
        {"rediss://h?ssl_cert_reqs=none", "tls.cert_reqs", "required", NULL, NULL,
         SAQ__TLS_REQUIRED, 1},
        /* ... but what the url asked for stays asked */
        {"rediss://h?ssl_cert_reqs=none&ssl_check_hostname=no", "tls.cert_reqs", "optional",
         NULL, NULL, SAQ__TLS_OPTIONAL, 0},
        /* none switches it off even when a key asks for it (redis-py does too) */
        {"rediss://h", "tls.check_hostname", "true", "tls.cert_reqs", "none", SAQ__TLS_NONE, 0},
        {"rediss://h?ssl_check_hostname=0", "tls.check_hostname", "yes", NULL, NULL,
         SAQ__TLS_REQUIRED, 1},
    };
    for (size_t i = 0; i < sizeof resolve / sizeof resolve[0]; i++) {
        assert_int_equal(tls_settings(&s, 1, msg, sizeof msg, "url", resolve[i].url,
                                      resolve[i].k1, resolve[i].v1, resolve[i].k2, resolve[i].v2,
                                      NULL),
                         SAQ_OK);
        assert_int_equal(s.url.tls.cert_reqs, resolve[i].cert_reqs);
        assert_int_equal(s.url.tls.check_hostname, resolve[i].check_hostname);
        saq__settings_free(&s);
    }

    /* a queue refuses tls.* keys without a rediss:// url, naming the first key set */
    assert_int_equal(tls_settings(&s, 1, msg, sizeof msg, "url", "redis://h", "tls.cert_reqs",
                                  "none", "tls.ca_certs", "/ca.pem", NULL),
                     SAQ_EINVAL);
    assert_string_equal(msg, "tls.cert_reqs needs a rediss:// url (the tls.* keys configure TLS, "
                             "which only rediss://, rediss+sentinel:// and rediss+cluster:// "
                             "turn on)");
    assert_int_equal(tls_settings(&s, 1, msg, sizeof msg, "tls.keyfile", "", NULL), SAQ_EINVAL);
    assert_non_null(strstr(msg, "tls.keyfile needs a rediss:// url")); /* the default url */
    assert_int_equal(tls_settings(&s, 1, msg, sizeof msg, "url", "unix:///tmp/r.sock",
                                  "tls.check_hostname", "false", NULL),
                     SAQ_EINVAL);
    assert_non_null(strstr(msg, "tls.check_hostname needs a rediss:// url"));
    /* a worker ignores them (queue keys) */
    assert_int_equal(tls_settings(&s, 0, msg, sizeof msg, "tls.ca_certs", "/ca.pem", NULL), SAQ_OK);
    assert_int_equal(s.url.tls.enabled, 0);
    saq__settings_free(&s);
    /* no conf at all: no TLS */
    assert_int_equal(saq__settings_from_conf(&s, NULL, 1), SAQ_OK);
    assert_int_equal(s.url.tls.enabled, 0);
    saq__settings_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttle_fifo),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_conf_tls),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("throttle_backoff_conf", tests, NULL, NULL);
}
