/* SPDX-License-Identifier: MIT */
/* Unit tests: the constructors that return a code (saq_queue_open,
 * saq_worker_open, saq_job_parse) and the older forms that wrap them. No Redis
 * is needed: a queue connects lazily and a worker when it starts.
 *
 * uv_version is defined here, so libsaq's version check (linked statically
 * from saq_internal) calls this one instead of libuv's and a test can play an
 * older libuv. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

static unsigned fake_uv_version; /* 0: report the libuv libsaq was built against */

unsigned int uv_version(void) { return fake_uv_version ? fake_uv_version : UV_VERSION_HEX; }

static saq_queue_t *const NOT_SET = (saq_queue_t *)1; /* *out before a call that must clear it */

static void test_queue_open(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    assert_int_equal(saq_queue_open(NULL, c), SAQ_EINVAL);
    assert_string_equal(saq_conf_errmsg(c), "out must not be NULL");

    saq_queue_t *q = NOT_SET;
    assert_int_equal(saq_queue_open(&q, NULL), SAQ_OK); /* NULL conf: every default */
    assert_non_null(q);
    assert_string_equal(saq_queue_name(q), "default");
    assert_int_equal(saq_queue_close(q, 5000), SAQ_OK);
    saq_queue_free(q);

    assert_int_equal(saq_conf_set(c, "name", "opened"), SAQ_OK);
    assert_int_equal(saq_queue_open(&q, c), SAQ_OK);
    assert_string_equal(saq_queue_name(q), "opened");
    assert_int_equal(saq_queue_close(q, 5000), SAQ_OK);
    saq_queue_free(q);
    saq_conf_free(c);
}

static void test_queue_open_old_libuv(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    fake_uv_version = UV_VERSION_HEX - 1;
    saq_queue_t *q = NOT_SET;
    int rc = saq_queue_open(&q, c);
    char msg[200];
    snprintf(msg, sizeof msg, "%s", saq_conf_errmsg(c));
    saq_queue_t *q2 = saq_queue_new(c); /* the old form fails alike, without the code */
    fake_uv_version = 0;
    assert_int_equal(rc, SAQ_EUVVERSION);
    assert_null(q);
    assert_null(q2);
    assert_non_null(strstr(msg, "libuv"));
    assert_non_null(strstr(msg, "older than"));
    assert_string_equal(saq_strerror(SAQ_EUVVERSION), "libuv in this process is older than libsaq needs");
    saq_conf_free(c);
}

/* With no file descriptor left the event loop cannot be made: SAQ_ENOMEM
 * (out of a resource) with libuv's reason, and nothing left behind. */
static void test_queue_open_no_fds(void **state)
{
    (void)state;
    saq_queue_t *q = NULL;
    /* a first queue runs libuv's one-time process set-up, which aborts when it
     * finds no descriptor; it is closed (its descriptors too) before the test */
    assert_int_equal(saq_queue_open(&q, NULL), SAQ_OK);
    assert_int_equal(saq_queue_close(q, 5000), SAQ_OK);
    saq_queue_free(q);

    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    if (low.rlim_cur > 256)
        low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[256], n = 0;
    while (n < 256 && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    int open_errno = errno;
    saq_conf_t *c = saq_conf_new();
    q = NOT_SET;
    int rc = saq_queue_open(&q, c);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    setrlimit(RLIMIT_NOFILE, &old);
    assert_int_equal(open_errno, EMFILE);
    assert_int_equal(rc, SAQ_ENOMEM);
    assert_null(q);
    assert_non_null(strstr(saq_conf_errmsg(c), "cannot create the event loop"));
    assert_int_equal(saq_queue_open(&q, c), SAQ_OK); /* and it works again */
    assert_int_equal(saq_queue_close(q, 5000), SAQ_OK);
    saq_queue_free(q);
    saq_conf_free(c);
}

/* tls.* keys: saq_queue_open refuses them without a rediss:// url (SAQ_EINVAL, nothing left
 * running); a worker ignores them (queue keys) and reports its queue's TLS settings. */
static void test_queue_open_tls(void **state)
{
    (void)state;
    saq_conf_t *c = saq_conf_new();
    saq_queue_t *q = NOT_SET;
    assert_int_equal(saq_conf_set(c, "tls.cert_reqs", "none"), SAQ_OK);
    assert_int_equal(saq_queue_open(&q, c), SAQ_EINVAL); /* the default url is redis:// */
    assert_null(q);
    assert_string_equal(saq_conf_errmsg(c), "tls.cert_reqs needs a rediss:// url (the tls.* keys "
                                            "configure TLS, which only rediss://, "
                                            "rediss+sentinel:// and rediss+cluster:// turn on)");
    assert_int_equal(saq_conf_set(c, "url", "redis://127.0.0.1:1/0"), SAQ_OK);
    assert_null(saq_queue_new(c));
    assert_int_equal(saq_conf_set(c, "url", "rediss://127.0.0.1:1/0?ssl_check_hostname=no"),
                     SAQ_OK);
    q = NOT_SET;
    assert_int_equal(saq_queue_open(&q, c), SAQ_OK); /* connects lazily: no server needed */

    saq_conf_t *wc = saq_conf_new(); /* a worker's tls.* keys are ignored, like its url */
    assert_int_equal(saq_conf_set(wc, "tls.cert_reqs", "required"), SAQ_OK);
    assert_int_equal(saq_conf_set(wc, "tls.ca_certs", "/nowhere/ca.pem"), SAQ_OK);
    saq_worker_t *w = NULL;
    assert_int_equal(saq_worker_open(&w, q, wc), SAQ_OK);
    assert_string_equal(saq_worker_conf_get(w, "tls.cert_reqs"), "none");
    assert_string_equal(saq_worker_conf_get(w, "tls.check_hostname"), "false");
    assert_string_equal(saq_worker_conf_get(w, "tls.ca_certs"), ""); /* system trust store */
    assert_string_equal(saq_worker_conf_get(w, "tls.keyfile"), "");
    saq_worker_free(w);
    saq_conf_free(wc);
    assert_int_equal(saq_queue_close(q, 5000), SAQ_OK);
    saq_queue_free(q);

    /* (the paths in effect are reported too: test_throttle's test_conf_tls; a queue with
     * paths loads them when it opens) */
    saq_conf_free(c);
    c = NULL;

    /* a plain queue has no tls.* settings to report */
    assert_int_equal(saq_queue_open(&q, NULL), SAQ_OK);
    assert_int_equal(saq_worker_open(&w, q, NULL), SAQ_OK);
    assert_null(saq_worker_conf_get(w, "tls.cert_reqs"));
    assert_null(saq_worker_conf_get(w, "tls.check_hostname"));
    saq_worker_free(w);
    assert_int_equal(saq_queue_close(q, 5000), SAQ_OK);
    saq_queue_free(q);
}

static void test_worker_open(void **state)
{
    (void)state;
    saq_queue_t *q = NULL;
    assert_int_equal(saq_queue_open(&q, NULL), SAQ_OK);
    saq_conf_t *c = saq_conf_new();
    saq_worker_t *w = (saq_worker_t *)NOT_SET;

    assert_int_equal(saq_worker_open(NULL, q, c), SAQ_EINVAL);
    assert_string_equal(saq_conf_errmsg(c), "out must not be NULL");
    assert_int_equal(saq_worker_open(&w, NULL, c), SAQ_EINVAL);
    assert_null(w);

    assert_int_equal(saq_conf_set(c, "burst", "true"), SAQ_OK);
    w = (saq_worker_t *)NOT_SET;
    assert_int_equal(saq_worker_open(&w, q, c), SAQ_EINVAL);
    assert_null(w);
    assert_string_equal(saq_conf_errmsg(c), "burst mode needs dequeue_timeout > 0 (as saq)");
    assert_null(saq_worker_new(q, c));

    assert_int_equal(saq_conf_set(c, "dequeue_timeout", "1"), SAQ_OK);
    assert_int_equal(saq_conf_set(c, "id", "opened-worker"), SAQ_OK);
    assert_int_equal(saq_worker_open(&w, q, c), SAQ_OK);
    assert_string_equal(saq_worker_id(w), "opened-worker");
    saq_worker_free(w);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the child inherited q: its threads do not exist here */
        saq_worker_t *cw = (saq_worker_t *)NOT_SET;
        int rc = saq_worker_open(&cw, q, NULL);
        _exit(rc == SAQ_EFORKED && cw == NULL ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_int_equal(saq_queue_close(q, 5000), SAQ_OK);
    w = (saq_worker_t *)NOT_SET;
    assert_int_equal(saq_worker_open(&w, q, c), SAQ_ECLOSED);
    assert_null(w);
    assert_string_equal(saq_conf_errmsg(c), saq_strerror(SAQ_ECLOSED));
    saq_queue_free(q);
    saq_conf_free(c);
}

static void test_job_parse(void **state)
{
    (void)state;
    char err[200];
    saq_job_t *j = NULL;

    assert_int_equal(saq_job_parse(NULL, "{\"function\": \"f\"}", err, sizeof err), SAQ_EINVAL);
    assert_string_equal(err, "out is NULL");
    j = (saq_job_t *)NOT_SET;
    assert_int_equal(saq_job_parse(&j, NULL, err, sizeof err), SAQ_EINVAL);
    assert_string_equal(err, "json is NULL");
    assert_null(j);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"[1]", "job record is not a JSON object"},
        {"{\"function\": \"f\"", "malformed job JSON"},
        {"{\"function\": \"f\"} x", "malformed job JSON: trailing characters"},
        {"{\"key\": \"a\"}", "job record has no 'function'"},
        {"{\"function\": \"f\", \"retries\": \"x\"}", "retries"},
        {"{\"function\": 1}", "function"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = (saq_job_t *)NOT_SET;
        strcpy(err, "unchanged");
        assert_int_equal(saq_job_parse(&j, bad[i].json, err, sizeof err), SAQ_EJSON);
        assert_null(j);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: message '%s' lacks '%s'", bad[i].json, err, bad[i].msg);
        assert_null(saq_job_from_json(bad[i].json)); /* the old form agrees */
    }

    /* the message is cut to the buffer and always terminated; no buffer is fine */
    char small[8];
    assert_int_equal(saq_job_parse(&j, "[1]", small, sizeof small), SAQ_EJSON);
    assert_string_equal(small, "job rec");
    assert_int_equal(saq_job_parse(&j, "[1]", NULL, 0), SAQ_EJSON);
    assert_int_equal(saq_job_parse(&j, "[1]", small, 0), SAQ_EJSON);
    assert_string_equal(small, "job rec");

    strcpy(err, "unchanged");
    assert_int_equal(saq_job_parse(&j, "{\"function\": \"f\", \"retries\": 3, \"extra\": 1}", err, sizeof err),
                     SAQ_OK);
    assert_string_equal(err, "");
    assert_non_null(j);
    assert_string_equal(saq_job_function(j), "f");
    assert_int_equal(saq_job_retries(j), 3);
    assert_int_equal(strlen(saq_job_key(j)), 36); /* a fresh uuid1 */
    saq_job_free(j);
    assert_int_equal(saq_job_parse(&j, "{\"function\": \"g\", \"key\": \"k\"}", NULL, 0), SAQ_OK);
    assert_string_equal(saq_job_key(j), "k");
    saq_job_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_open),
        cmocka_unit_test(test_queue_open_old_libuv),
        cmocka_unit_test(test_queue_open_no_fds),
        cmocka_unit_test(test_queue_open_tls),
        cmocka_unit_test(test_worker_open),
        cmocka_unit_test(test_job_parse),
    };
    return cmocka_run_group_tests_name("open", tests, NULL, NULL);
}
