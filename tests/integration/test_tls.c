/* SPDX-License-Identifier: MIT */
/* rediss:// against a real `redis-server --tls-port` started by the harness
 * with certificates tests/support/tls-certs generates: a round trip (enqueue,
 * a worker runs the job, apply through pub/sub), mutual TLS, a password and
 * an ACL user over TLS, every error case of issue 14 item 3 (each fails
 * quickly with its own message, never hangs), a worker that keeps working
 * across a TLS redis-server restart, and a worker blocked in its dequeue over
 * TLS that stops at once (CLIENT UNBLOCK).
 *
 * Where errors surface: a certificate, key or CA file that cannot be used
 * fails saq_queue_open (SAQ_ETLS, saq_conf_errmsg names the file); whatever
 * the handshake refuses fails the first operation's event (saq_queue_ping).
 * The assertion client RC uses the suite server's plaintext port (hiredis
 * 0.14 has no TLS). */
#define _GNU_SOURCE /* strcasestr */
#include "itest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>

/* Generous timeouts an error must not wait for: the failures under test are
 * answered by the handshake, in milliseconds. */
#define CMD_TIMEOUT_MS "8000"
#define QUICK_S 1.5 /* an error the handshake reports at once */

static atomic_int ran;

/* completes with its kwargs as the result */
static void h_echo(saq_job_t *job, void *ud)
{
    (void)ud;
    atomic_fetch_add(&ran, 1);
    const char *kw = saq_job_kwargs(job);
    saq_job_complete(job, kw && *kw ? kw : "null");
    saq_job_free(job);
}

/* A queue on url (conf pairs kv: NULL-terminated, may be NULL). Every value
 * must be accepted by saq_conf_set (a rediss:// URL included); *rc gets
 * saq_queue_open's code and msg (n bytes) its saq_conf_errmsg. */
static saq_queue_t *open_url(const char *url, const char **kv, int *rc, char *msg, size_t n)
{
    saq_conf_t *c = saq_conf_new();
    int src = saq_conf_set(c, "url", url);
    if (src)
        fail_msg("saq_conf_set(url, %s) -> %s: %s", url, saq_err_name(src), saq_conf_errmsg(c));
    assert_int_equal(saq_conf_set(c, "name", rh_queue_name("tls")), 0);
    assert_int_equal(saq_conf_set(c, "command_timeout_ms", CMD_TIMEOUT_MS), 0);
    /* a failed connect is tried again soon: the second operation of an error
     * case must not wait for the default 2 s backoff */
    assert_int_equal(saq_conf_set(c, "reconnect_max_ms", "300"), 0);
    for (int i = 0; kv && kv[i]; i += 2)
        assert_int_equal(saq_conf_set(c, kv[i], kv[i + 1]), 0);
    saq_queue_t *q = NULL;
    *rc = saq_queue_open(&q, c);
    snprintf(msg, n, "%s", saq_conf_errmsg(c));
    saq_conf_free(c);
    return q;
}

/* A queue on url that must open. */
static saq_queue_t *tls_queue(const char *url, const char **kv)
{
    int rc;
    char msg[1024];
    saq_queue_t *q = open_url(url, kv, &rc, msg, sizeof msg);
    if (rc)
        fail_msg("saq_queue_open(%s) -> %s: %s", url, saq_err_name(rc), msg);
    return q;
}

/* saq_queue_ping's event (caller frees); *took = seconds it took. */
static saq_event_t *ping(saq_queue_t *q, double *took)
{
    saq_cq_t *cq = saq_cq_new();
    double t0 = now_s();
    assert_int_equal(saq_queue_ping(q, cq, 7), 0);
    saq_event_t *ev = saq_cq_wait(cq, 7, TMO);
    *took = now_s() - t0;
    saq_cq_free(cq);
    if (!ev)
        fail_msg("saq_queue_ping gave no event within %d ms", TMO);
    assert_int_equal(saq_event_type(ev), SAQ_EVENT_PING);
    return ev;
}

/* msg contains one of the '|'-separated words, ignoring case. */
static int has_any(const char *msg, const char *words)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", words);
    for (char *save = NULL, *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save))
        if (strcasestr(msg, w))
            return 1;
    return 0;
}

/* codes: SAQ_OK-terminated list of acceptable codes. */
static int code_in(int rc, const int *codes)
{
    for (; *codes; codes++)
        if (rc == *codes)
            return 1;
    return 0;
}

static const int ETLS_ONLY[] = {SAQ_ETLS, 0};

/* The queue opens; its ping (and then an enqueue) fail with one of `codes`
 * within max_s seconds, with a message naming the cause (one of `words`);
 * freeing the queue does not hang either. */
static void expect_refused(const char *what, const char *url, const char **kv, const int *codes,
                           const char *words, double max_s)
{
    saq_queue_t *q = tls_queue(url, kv);
    double took;
    saq_event_t *ev = ping(q, &took);
    int st = saq_event_status(ev);
    const char *msg = saq_event_errmsg(ev);
    print_message("%s: %s %s (%.3f s)\n", what, saq_err_name(st), msg, took);
    if (!code_in(st, codes))
        fail_msg("%s: ping -> %s: %s", what, saq_err_name(st), msg);
    if (!has_any(msg, words))
        fail_msg("%s: the message does not name the cause (%s): %s", what, words, msg);
    if (took > max_s)
        fail_msg("%s: the failure took %.2f s (limit %.1f s; command timeout %s ms)", what, took, max_s,
                 CMD_TIMEOUT_MS);
    saq_event_free(ev);
    double t0 = now_s();
    ev = saq_queue_enqueue_call_sync(q, "echo", NULL, TMO);
    if (!code_in(saq_event_status(ev), codes))
        fail_msg("%s: enqueue -> %s: %s", what, saq_err_name(saq_event_status(ev)), saq_event_errmsg(ev));
    if (now_s() - t0 > max_s)
        fail_msg("%s: the enqueue's failure took %.2f s", what, now_s() - t0);
    saq_event_free(ev);
    t0 = now_s();
    saq_queue_free(q);
    assert_true(now_s() - t0 < 2);
}

/* saq_queue_open of url fails with SAQ_ETLS and its message names `file`. */
static void expect_open_fails(const char *what, const char *url, const char *file)
{
    int rc;
    char msg[1024];
    double t0 = now_s();
    saq_queue_t *q = open_url(url, NULL, &rc, msg, sizeof msg);
    print_message("%s: %s %s\n", what, saq_err_name(rc), msg);
    if (rc != SAQ_ETLS) {
        saq_queue_free(q);
        fail_msg("%s: saq_queue_open -> %s (%s), expected SAQ_ETLS", what, saq_err_name(rc), msg);
    }
    assert_null(q);
    if (!strstr(msg, file))
        fail_msg("%s: the message does not name %s: %s", what, file, msg);
    assert_true(now_s() - t0 < QUICK_S);
}

/* A started worker on q running "echo" with C handlers. */
static saq_worker_t *start_worker(saq_queue_t *q, const char **kv)
{
    saq_worker_t *w = worker_with_conf(q, kv);
    assert_int_equal(saq_worker_register(w, "echo", h_echo, NULL), 0);
    assert_int_equal(saq_worker_start(w, NULL, 0), 0);
    return w;
}

static void stop_worker(saq_worker_t *w)
{
    assert_int_equal(saq_worker_stop(w, 0), 0);
    assert_int_equal(saq_worker_wait(w, TMO), 0);
    saq_worker_free(w);
}

/* Enqueue, a worker runs the job, apply (its result through pub/sub), all on
 * q; the records are checked through rc (plaintext, same server). */
static void round_trip(saq_queue_t *q, redisContext *rc)
{
    double took;
    saq_event_t *ev = ping(q, &took);
    if (saq_event_status(ev))
        fail_msg("ping -> %s: %s", saq_err_name(saq_event_status(ev)), saq_event_errmsg(ev));
    assert_true(saq_event_int(ev) >= (6 << 16)); /* the server's version: Redis >= 6 has TLS */
    saq_event_free(ev);
    saq_worker_t *w = start_worker(q, NULL);
    saq_job_t *j = enq(q, "echo", "{\"x\": 41}");
    saq_job_t *d = wait_status(q, saq_job_key(j), "complete", TMO);
    assert_string_equal(saq_job_result(d), "{\"x\": 41}");
    saq_job_free(d);
    char *raw = rh_str(rc, "GET saq:job:%s:%s", saq_queue_name(q), saq_job_key(j));
    assert_non_null(raw);
    assert_non_null(strstr(raw, "\"status\": \"complete\""));
    free(raw);
    saq_job_free(j);
    j = saq_job_new("echo");
    assert_int_equal(saq_job_set_kwargs(j, "{\"y\": [1, 2]}"), 0);
    ev = OK_EV(saq_queue_apply_sync(q, j, 5, TMO));
    assert_string_equal(saq_event_json(ev), "{\"y\": [1, 2]}");
    saq_event_free(ev);
    saq_job_free(j);
    stop_worker(w);
    ASSERT_COUNTS(q, 0, 0, 0);
}

/* A TLS server started as o says, after a round trip over its tls_url; *rc
 * gets its assertion client (plaintext). */
static rh_t *tls_server_after_round_trip(const rh_opts_t *o, redisContext **rc)
{
    rh_t *r = rh_start_opts(o);
    *rc = rh_client(r);
    saq_queue_t *q = tls_queue(r->tls_url, NULL);
    round_trip(q, *rc);
    saq_queue_free(q);
    return r;
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    (void)state;
    saq_queue_t *q = tls_queue(R->tls_url, NULL);
    round_trip(q, RC);
    saq_queue_free(q);
    /* the host name checked against the certificate's DNS name */
    char *u = rh_tls_url(R, NULL, "ssl_ca_certs=%s", rh_cert("ca.pem"));
    char *lh = NULL;
    assert_true(asprintf(&lh, "rediss://localhost:%d/0%s", R->tls_port, strchr(u, '?')) > 0);
    q = tls_queue(lh, NULL);
    assert_int_equal(qcount(q, "queued"), 0);
    saq_queue_free(q);
    free(lh);
    free(u);
    /* redis-py's parameters spelled out, as one URL works in Python saq */
    u = rh_tls_url(R, NULL, "ssl_cert_reqs=required&ssl_ca_certs=%s&ssl_check_hostname=true",
                   rh_cert("ca.pem"));
    q = tls_queue(u, NULL);
    assert_int_equal(qcount(q, "queued"), 0);
    saq_queue_free(q);
    free(u);
}

static void test_mutual_tls(void **state)
{
    (void)state;
    /* its tls_url carries ssl_certfile/ssl_keyfile of client.pem */
    rh_opts_t o = {.tls = 1, .auth_clients = "yes"};
    redisContext *rc;
    rh_t *r = tls_server_after_round_trip(&o, &rc);
    assert_non_null(strstr(r->tls_url, "ssl_certfile="));
    /* no client certificate: the server refuses it (with TLS 1.3 after the
     * handshake, on the first read) */
    char *u = rh_tls_url(r, NULL, NULL);
    expect_refused("client certificate missing", u, NULL, ETLS_ONLY,
                   "client certificate|certificate required", QUICK_S);
    free(u);
    /* a client certificate of another CA */
    u = rh_tls_url(r, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", rh_cert("ca.pem"),
                   rh_cert("other-client.pem"), rh_cert("other-client.key"));
    expect_refused("client certificate of an unknown CA", u, NULL, ETLS_ONLY,
                   "certificate|unknown ca", QUICK_S);
    free(u);
    redisFree(rc);
    rh_stop(r);
}

static void test_password_and_acl_user(void **state)
{
    (void)state;
    /* the password in the URL: rediss://:s3cret@... */
    rh_opts_t o = {.tls = 1, .requirepass = "s3cret", .acl_user = "alice:wonder-land"};
    redisContext *rc;
    rh_t *r = tls_server_after_round_trip(&o, &rc);
    assert_non_null(strstr(r->tls_url, "rediss://:s3cret@"));
    /* an ACL user: its connections are seen by Redis as that user */
    char *u = rh_tls_url(r, "alice:wonder-land", NULL);
    saq_queue_t *q = tls_queue(u, NULL);
    saq_job_free(enq(q, "echo", NULL));
    assert_int_equal(rh_int(rc, "LLEN saq:%s:queued", saq_queue_name(q)), 1);
    char *list = rh_str(rc, "CLIENT LIST");
    assert_non_null(strstr(list, "user=alice"));
    free(list);
    saq_queue_free(q);
    free(u);
    /* a wrong password over TLS is Redis's answer, not a TLS failure */
    u = rh_tls_url(r, ":wrong", NULL);
    q = tls_queue(u, NULL);
    double took;
    saq_event_t *ev = ping(q, &took);
    assert_int_equal(saq_event_status(ev), SAQ_EREDIS);
    assert_non_null(strstr(saq_event_errmsg(ev), "WRONGPASS"));
    assert_true(took < QUICK_S);
    saq_event_free(ev);
    saq_queue_free(q);
    free(u);
    redisFree(rc);
    rh_stop(r);
}

static void test_server_certificate_refused(void **state)
{
    (void)state;
    /* the server's certificate is not signed by the CA given */
    char *u = rh_tls_url(R, NULL, "ssl_ca_certs=%s", rh_cert("other-ca.pem"));
    expect_refused("wrong CA", u, NULL, ETLS_ONLY, "certificate", QUICK_S);
    free(u);
    /* no CA given: the system trust store, which does not know the test CA */
    u = rh_tls_url(R, NULL, "%s", "");
    expect_refused("system trust store", u, NULL, ETLS_ONLY, "certificate", QUICK_S);
    free(u);
    /* ssl_cert_reqs=none: not verified, so the wrong CA does not matter */
    u = rh_tls_url(R, NULL, "ssl_cert_reqs=none&ssl_ca_certs=%s", rh_cert("other-ca.pem"));
    saq_queue_t *q = tls_queue(u, NULL);
    assert_int_equal(qcount(q, "queued"), 0);
    saq_queue_free(q);
    free(u);

    /* an expired certificate */
    rh_opts_t o = {.tls = 1, .cert = "expired"};
    rh_t *r = rh_start_opts(&o);
    expect_refused("expired certificate", r->tls_url, NULL, ETLS_ONLY, "expired", QUICK_S);
    rh_stop(r);

    /* a certificate for another host name (SAN DNS:not-this-host.example) */
    o = (rh_opts_t){.tls = 1, .cert = "wronghost"};
    r = rh_start_opts(&o);
    char *lh = NULL;
    assert_true(asprintf(&lh, "rediss://localhost:%d/0?ssl_ca_certs=%s", r->tls_port, rh_cert("ca.pem")) > 0);
    expect_refused("hostname mismatch (localhost)", lh, NULL, ETLS_ONLY, "hostname", QUICK_S);
    free(lh);
    expect_refused("hostname mismatch (127.0.0.1)", r->tls_url, NULL, ETLS_ONLY,
                   "hostname|IP address|mismatch|does not match", QUICK_S);
    /* ssl_check_hostname=false: the chain is verified, the name is not */
    u = rh_tls_url(r, NULL, "ssl_ca_certs=%s&ssl_check_hostname=false", rh_cert("ca.pem"));
    q = tls_queue(u, NULL);
    assert_int_equal(qcount(q, "queued"), 0);
    saq_queue_free(q);
    free(u);
    rh_stop(r);
}

static void test_plaintext_and_tls_port_mixed_up(void **state)
{
    (void)state;
    /* redis:// to the TLS port: the server drops the connection at once
     * ("wrong version number" in its log); the message must point at TLS */
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", R->tls_port);
    static const int conn_or_tls[] = {SAQ_ECONN, SAQ_ETLS, 0};
    expect_refused("plaintext client to the TLS port", url, NULL, conn_or_tls, "TLS", QUICK_S);
    /* rediss:// to the plaintext port: Redis reads the ClientHello as an
     * inline command and waits for its end, so nothing comes back; the
     * handshake must give up after connect_timeout_ms (1 s here), never wait
     * for the command timeout or longer */
    char *u = NULL;
    assert_true(asprintf(&u, "rediss://127.0.0.1:%d/0?ssl_ca_certs=%s", R->port, rh_cert("ca.pem")) > 0);
    const char *kv[] = {"connect_timeout_ms", "1000", NULL};
    static const int tls_or_timeout[] = {SAQ_ETLS, SAQ_ECONN, SAQ_ETIMEDOUT, 0};
    expect_refused("TLS client to the plaintext port", u, kv, tls_or_timeout, "TLS", 3.5);
    free(u);
}

/* path of a new file in dir holding text */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_unusable_files_fail_the_open(void **state)
{
    (void)state;
    char dir[] = "/tmp/saq-tls-files-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char garbage[300], locked[300], missing[300];
    snprintf(garbage, sizeof garbage, "%s/garbage.pem", dir);
    snprintf(locked, sizeof locked, "%s/locked.key", dir);
    snprintf(missing, sizeof missing, "%s/missing.pem", dir);
    write_file(garbage, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
    const char *ca = rh_cert("ca.pem");
    char *u;
    /* a missing key file */
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", ca, rh_cert("client.pem"), missing);
    expect_open_fails("missing key file", u, missing);
    free(u);
    /* a directory where the key file should be */
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", ca, rh_cert("client.pem"), dir);
    expect_open_fails("key file is a directory", u, dir);
    free(u);
    /* a key file that is not a key */
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", ca, rh_cert("client.pem"), garbage);
    expect_open_fails("garbage key file", u, garbage);
    free(u);
    /* a key file nobody may read (root reads it anyway: then it is not a case) */
    if (geteuid() != 0) {
        write_file(locked, "");
        FILE *src = fopen(rh_cert("client.key"), "r");
        FILE *dst = fopen(locked, "w");
        assert_true(src && dst);
        int ch;
        while ((ch = fgetc(src)) != EOF)
            fputc(ch, dst);
        fclose(src);
        fclose(dst);
        assert_int_equal(chmod(locked, 0), 0);
        u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", ca, rh_cert("client.pem"),
                       locked);
        expect_open_fails("unreadable key file", u, locked);
        free(u);
    }
    /* a key that does not belong to the certificate */
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", ca, rh_cert("client.pem"),
                   rh_cert("server.key"));
    expect_open_fails("key of another certificate", u, "server.key");
    free(u);
    /* a missing certificate file */
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", ca, missing, rh_cert("client.key"));
    expect_open_fails("missing certificate file", u, missing);
    free(u);
    /* a missing CA file, and a CA file that holds no certificate */
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s", missing);
    expect_open_fails("missing CA file", u, missing);
    free(u);
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s", garbage);
    expect_open_fails("garbage CA file", u, garbage);
    free(u);
    /* a key with a passphrase (refused, never prompted for), and a
     * certificate file without its key and no ssl_keyfile: each says so */
    char enc[300], cmdline[1200];
    snprintf(enc, sizeof enc, "%s/enc.key", dir);
    snprintf(cmdline, sizeof cmdline, "openssl pkey -in '%s' -aes256 -passout pass:secret -out '%s'",
             rh_cert("client.key"), enc);
    assert_int_equal(system(cmdline), 0);
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", ca, rh_cert("client.pem"), enc);
    expect_open_fails("key with a passphrase", u, "is encrypted");
    free(u);
    u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s", ca, rh_cert("client.pem"));
    expect_open_fails("certificate without its key", u, "holds no private key");
    free(u);
    /* a FIFO nobody writes to (opening it would block for good) and an endless
     * device: refused as not regular files, never read */
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/ca.fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *endless[] = {fifo, "/dev/zero"};
    for (int i = 0; i < 2; i++) {
        double t0 = now_s();
        u = rh_tls_url(R, NULL, "ssl_ca_certs=%s", endless[i]);
        expect_open_fails(i ? "CA file /dev/zero" : "CA file a FIFO", u, "not a regular file");
        free(u);
        u = rh_tls_url(R, NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", ca, rh_cert("client.pem"),
                       endless[i]);
        expect_open_fails(i ? "key file /dev/zero" : "key file a FIFO", u, "not a regular file");
        free(u);
        assert_true(now_s() - t0 < 2);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_worker_survives_tls_restart(void **state)
{
    (void)state;
    /* a private appendonly TLS server, SIGKILLed and started again on the same
     * ports while a worker waits for jobs over TLS: the worker reconnects
     * (handshake again) and runs the jobs enqueued before and after */
    rh_opts_t o = {.tls = 1, .appendonly = 1};
    rh_t *r = rh_start_opts(&o);
    const char *kv[] = {"command_timeout_ms", "2000", "reconnect_max_ms", "200", NULL};
    saq_queue_t *q = tls_queue(r->tls_url, kv);
    saq_worker_t *w = start_worker(q, NULL);
    atomic_store(&ran, 0);
    enum { N = 10 };
    char *keys[2 * N];
    for (int i = 0; i < N; i++) {
        saq_job_t *j = enq(q, "echo", NULL);
        keys[i] = strdup(saq_job_key(j));
        saq_job_free(j);
    }
    for (int i = 0; i < N; i++)
        saq_job_free(wait_status(q, keys[i], "complete", TMO));
    sleep_ms(300); /* the worker is blocked in its dequeue again */
    rh_restart(r);
    /* the first operations may meet the lost connection (a clear error); the
     * queue is usable again within seconds */
    double end = now_s() + 15;
    int n = N, failures = 0;
    while (n < 2 * N && now_s() < end) {
        saq_event_t *ev = saq_queue_enqueue_call_sync(q, "echo", NULL, TMO);
        if (saq_event_status(ev) == SAQ_OK)
            keys[n++] = strdup(saq_job_key(saq_event_job(ev)));
        else if (saq_event_status(ev) == SAQ_ETLS)
            fail_msg("a restart is not a TLS failure: %s", saq_event_errmsg(ev));
        else
            failures++;
        saq_event_free(ev);
        if (n < 2 * N && failures)
            sleep_ms(20);
    }
    print_message("restart: %d enqueues failed while the server was down\n", failures);
    assert_int_equal(n, 2 * N);
    for (int i = N; i < 2 * N; i++)
        saq_job_free(wait_status(q, keys[i], "complete", 15000));
    assert_int_equal(atomic_load(&ran), 2 * N);
    assert_int_equal(saq_worker_wait(w, 0), SAQ_ETIMEDOUT); /* still running */
    /* the jobs from before the restart are still there (appendonly) */
    redisContext *rc = rh_client(r);
    for (int i = 0; i < 2 * N; i++) {
        char *raw = rh_str(rc, "GET saq:job:%s:%s", saq_queue_name(q), keys[i]);
        assert_non_null(raw);
        assert_non_null(strstr(raw, "\"status\": \"complete\""));
        free(raw);
        free(keys[i]);
    }
    redisFree(rc);
    stop_worker(w);
    saq_queue_free(q);
    rh_stop(r);
}

/* calls of CLIENT UNBLOCK so far, from INFO commandstats */
static long long unblock_calls(void)
{
    char *info = rh_str(RC, "INFO commandstats");
    const char *p = info ? strstr(info, "cmdstat_client|unblock:calls=") : NULL;
    long long n = p ? atoll(p + strlen("cmdstat_client|unblock:calls=")) : 0;
    free(info);
    return n;
}

/* A client of the suite's server is blocked (flag b) in BLMOVE/BRPOPLPUSH. */
static int blocked_in_dequeue(void)
{
    char *list = rh_str(RC, "CLIENT LIST");
    int found = 0;
    for (char *save = NULL, *line = list ? strtok_r(list, "\n", &save) : NULL; line && !found;
         line = strtok_r(NULL, "\n", &save))
        found = strstr(line, " flags=b ") && (strstr(line, " cmd=blmove") || strstr(line, " cmd=brpoplpush"));
    free(list);
    return found;
}

static void test_stop_while_blocked_over_tls(void **state)
{
    (void)state;
    /* a worker blocked in BLMOVE on its TLS dequeue connection stops at once:
     * CLIENT UNBLOCK (sent over TLS on the command connection) ends the wait */
    saq_queue_t *q = tls_queue(R->tls_url, NULL);
    for (int i = 0; i < 3; i++) {
        saq_worker_t *w = start_worker(q, NULL);
        double end = now_s() + 5;
        while (!blocked_in_dequeue() && now_s() < end)
            sleep_ms(10);
        assert_true(blocked_in_dequeue());
        long long before = unblock_calls();
        double t0 = now_s();
        assert_int_equal(saq_worker_stop(w, 0), 0);
        assert_int_equal(saq_worker_wait(w, TMO), 0);
        double took = now_s() - t0;
        print_message("stop while blocked over TLS: %.3f s\n", took);
        if (took > 1.0)
            fail_msg("the stop took %.2f s", took);
        assert_true(unblock_calls() > before);
        saq_worker_free(w);
        /* a job enqueued now waits in the queue: nothing was lost or moved */
        saq_job_t *j = enq(q, "echo", NULL);
        assert_int_equal(qcount(q, "active"), 0);
        assert_int_equal(qcount(q, "queued"), 1);
        w = start_worker(q, NULL);
        saq_job_free(wait_status(q, saq_job_key(j), "complete", TMO));
        stop_worker(w);
        saq_job_free(j);
    }
    saq_queue_free(q);
}

static int tls_suite_setup(void **state)
{
    (void)state;
    rh_opts_t o = {.tls = 1};
    R = rh_start_opts(&o); /* TLS port and a plaintext port for RC */
    RC = rh_client(R);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_password_and_acl_user),
        cmocka_unit_test(test_server_certificate_refused),
        cmocka_unit_test(test_plaintext_and_tls_port_mixed_up),
        cmocka_unit_test(test_unusable_files_fail_the_open),
        cmocka_unit_test(test_worker_survives_tls_restart),
        cmocka_unit_test(test_stop_while_blocked_over_tls),
    };
    return cmocka_run_group_tests_name("tls", tests, tls_suite_setup, suite_teardown);
}
