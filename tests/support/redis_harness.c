/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "redis_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void rh_die(const char *msg)
{
    fprintf(stderr, "redis harness: %s\n", msg);
    exit(2);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &l))
        rh_die("cannot find a free port");
    int p = ntohs(a.sin_port);
    close(fd);
    return p;
}

#ifndef SAQ_TLS_CERTS_SCRIPT
#define SAQ_TLS_CERTS_SCRIPT "tests/support/tls-certs"
#endif
#ifndef SAQ_TLS_CERTS_DEFAULT_DIR
#define SAQ_TLS_CERTS_DEFAULT_DIR "/tmp/saq-test-certs"
#endif

const char *rh_certs_dir(void)
{
    static char dir[256];
    if (dir[0])
        return dir;
    const char *script = getenv("SAQ_TLS_CERTS_SCRIPT");
    const char *want = getenv("SAQ_TLS_CERTS_DIR");
    char cmd[1024], line[256] = "";
    snprintf(cmd, sizeof cmd, "'%s' '%s'", script && *script ? script : SAQ_TLS_CERTS_SCRIPT,
             want && *want ? want : SAQ_TLS_CERTS_DEFAULT_DIR);
    FILE *p = popen(cmd, "r");
    if (!p)
        rh_die("cannot run tests/support/tls-certs");
    if (!fgets(line, sizeof line, p))
        line[0] = 0;
    if (pclose(p) != 0 || !line[0])
        rh_die("tests/support/tls-certs failed (is openssl installed?)");
    line[strcspn(line, "\n")] = 0;
    snprintf(dir, sizeof dir, "%s", line);
    return dir;
}

const char *rh_cert(const char *file)
{
    static char bufs[8][400];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", rh_certs_dir(), file);
    return b;
}

/* Run argv (stdin and stderr /dev/null) and read up to n-1 bytes of its
 * stdout into out; its exit status, or -1 when it could not be run. */
static int run_capture(char *const argv[], char *out, size_t n)
{
    int fds[2];
    if (pipe(fds))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 2);
        dup2(fds[1], 1);
        close(fds[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < n && (k = read(fds[0], out + got, n - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = 0;
    close(fds[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A TLS round trip to the TLS port with redis-cli (hiredis 0.14 has no TLS):
 * 1 when it answered PONG. The server certificate is verified against the
 * test CA, except the deliberately bad ones; a client certificate is sent
 * when the server requires one. */
static int tls_ping(rh_t *r)
{
    char port[16], out[256];
    snprintf(port, sizeof port, "%d", r->tls_port);
    char *argv[32];
    int n = 0;
    argv[n++] = "timeout";
    argv[n++] = "5";
    argv[n++] = "redis-cli";
    argv[n++] = "--tls";
    argv[n++] = "-h";
    argv[n++] = "127.0.0.1";
    argv[n++] = "-p";
    argv[n++] = port;
    argv[n++] = "--cacert";
    argv[n++] = (char *)rh_cert("ca.pem");
    if (strcmp(r->cert, "server"))
        argv[n++] = "--insecure";
    if (!strcmp(r->auth_clients, "yes")) {
        argv[n++] = "--cert";
        argv[n++] = (char *)rh_cert("client.pem");
        argv[n++] = "--key";
        argv[n++] = (char *)rh_cert("client.key");
    }
    if (r->requirepass[0]) {
        argv[n++] = "--no-auth-warning";
        argv[n++] = "-a";
        argv[n++] = r->requirepass;
    }
    argv[n++] = "ping";
    argv[n] = NULL;
    return run_capture(argv, out, sizeof out) == 0 && !strncmp(out, "PONG", 4);
}

/* PING on the unix socket (always there, and only this server's): 1 when it answered. */
static int unix_ping(rh_t *r)
{
    redisContext *c = redisConnectUnix(r->sock);
    int ok = 0;
    if (c && !c->err) {
        redisReply *rep = r->requirepass[0] ? redisCommand(c, "AUTH %s", r->requirepass) : NULL;
        ok = !r->requirepass[0] || (rep && rep->type == REDIS_REPLY_STATUS);
        freeReplyObject(rep);
        rep = ok ? redisCommand(c, "PING") : NULL;
        ok = rep && rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
    }
    if (c)
        redisFree(c);
    return ok;
}

/* Start redis-server; 0 when it answers, -1 when it exited (port taken). */
static int spawn(rh_t *r)
{
    char port[16], tls_port[16], log[400];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(tls_port, sizeof tls_port, "%d", r->tls_port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    char cert[400], key[400], ca[400];
    char *argv[64];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    if (r->tls) {
        snprintf(cert, sizeof cert, "%s/%s.pem", rh_certs_dir(), r->cert);
        snprintf(key, sizeof key, "%s/%s.key", rh_certs_dir(), r->cert);
        snprintf(ca, sizeof ca, "%s/ca.pem", rh_certs_dir());
        argv[n++] = "-::1"; /* for "localhost" when it resolves to ::1; skipped without IPv6 */
        argv[n++] = "--tls-port";
        argv[n++] = tls_port;
        argv[n++] = "--tls-cert-file";
        argv[n++] = cert;
        argv[n++] = "--tls-key-file";
        argv[n++] = key;
        argv[n++] = "--tls-ca-cert-file";
        argv[n++] = ca;
        argv[n++] = "--tls-auth-clients";
        argv[n++] = r->auth_clients;
    }
    if (r->requirepass[0]) {
        argv[n++] = "--requirepass";
        argv[n++] = r->requirepass;
    }
    const char *rest[] = {"--unixsocket", r->sock, "--unixsocketperm", "700", "--dir", r->dir,
                          "--save", "", "--appendonly", r->appendonly ? "yes" : "no",
                          "--appendfsync", "always", "--logfile", log, "--daemonize", "no"};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        argv[n++] = (char *)rest[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        rh_die("fork failed");
    if (pid == 0) {
        /* die with the test process, and keep the test's stdout/stderr free */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execvp("redis-server", argv);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 500; i++) {
        if (unix_ping(r))
            break;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            return -1;
        }
        if (i == 499)
            rh_die("redis-server did not answer within 5 s");
        usleep(10000);
    }
    /* the ports are listening once the unix socket answers (Redis opens them
     * first); the TLS round trip also proves the TLS configuration works */
    for (int i = 0; r->tls && !tls_ping(r); i++) {
        if (i == 20) {
            fprintf(stderr, "redis harness: see %s\n", log);
            rh_die("redis-server does not answer a TLS PING (redis-cli --tls)");
        }
        usleep(50000);
    }
    if (r->acl_user[0]) {
        char user[128];
        snprintf(user, sizeof user, "%s", r->acl_user);
        char *colon = strchr(user, ':');
        if (!colon)
            rh_die("acl_user must be name:password");
        *colon = 0;
        redisContext *c = rh_client(r);
        redisReply *rep = rh_cmd(c, "ACL SETUSER %s on >%s ~* &* +@all", user, colon + 1);
        if (rep->type == REDIS_REPLY_ERROR)
            rh_die("ACL SETUSER failed");
        freeReplyObject(rep);
        redisFree(c);
    }
    return 0;
}

/* The URLs of r from its ports and options. */
static void make_urls(rh_t *r)
{
    char userinfo[80] = "";
    if (r->requirepass[0])
        snprintf(userinfo, sizeof userinfo, ":%s", r->requirepass);
    r->url[0] = r->tls_url[0] = 0;
    if (r->port)
        snprintf(r->url, sizeof r->url, "redis://%s%s127.0.0.1:%d/0", userinfo, userinfo[0] ? "@" : "",
                 r->port);
    if (!r->tls)
        return;
    char *u;
    if (!strcmp(r->auth_clients, "yes"))
        u = rh_tls_url(r, userinfo[0] ? userinfo : NULL, "ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s",
                       rh_cert("ca.pem"), rh_cert("client.pem"), rh_cert("client.key"));
    else
        u = rh_tls_url(r, userinfo[0] ? userinfo : NULL, NULL);
    snprintf(r->tls_url, sizeof r->tls_url, "%s", u);
    free(u);
}

rh_t *rh_start(int appendonly)
{
    /* SAQ_TEST_TLS=1 (ctest's *-tls runs): the same server with a TLS port
     * too, and r->url (what the tests give libsaq) on it, so a whole suite
     * runs over TLS while its assertion client stays on plaintext */
    const char *tls = getenv("SAQ_TEST_TLS");
    rh_opts_t o = {.appendonly = appendonly, .tls = tls && *tls && strcmp(tls, "0")};
    rh_t *r = rh_start_opts(&o);
    if (o.tls)
        snprintf(r->url, sizeof r->url, "%s", r->tls_url);
    return r;
}

rh_t *rh_start_opts(const rh_opts_t *o)
{
    static const rh_opts_t dflt;
    if (!o)
        o = &dflt;
    rh_t *r = calloc(1, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/saq-test-redis-XXXXXX");
    if (!mkdtemp(r->dir))
        rh_die("mkdtemp failed");
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
    r->appendonly = o->appendonly;
    r->tls = o->tls;
    r->no_plain_port = o->tls && o->no_plain_port;
    snprintf(r->cert, sizeof r->cert, "%s", o->cert ? o->cert : "server");
    snprintf(r->auth_clients, sizeof r->auth_clients, "%s", o->auth_clients ? o->auth_clients : "no");
    snprintf(r->requirepass, sizeof r->requirepass, "%s", o->requirepass ? o->requirepass : "");
    snprintf(r->acl_user, sizeof r->acl_user, "%s", o->acl_user ? o->acl_user : "");
    if (r->tls)
        snprintf(r->certs, sizeof r->certs, "%s", rh_certs_dir());
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = r->no_plain_port ? 0 : free_port();
        r->tls_port = 0;
        while (r->tls && (r->tls_port = free_port()) == r->port) {
        }
        make_urls(r);
        if (spawn(r) == 0)
            return r;
    }
    rh_die("could not start redis-server (is it installed? see its log in the temp dir)");
    return NULL;
}

char *rh_tls_url(rh_t *r, const char *userinfo, const char *query_fmt, ...)
{
    char query[1024];
    if (query_fmt) {
        va_list ap;
        va_start(ap, query_fmt);
        vsnprintf(query, sizeof query, query_fmt, ap);
        va_end(ap);
    } else {
        snprintf(query, sizeof query, "ssl_ca_certs=%s", rh_cert("ca.pem"));
    }
    char *u = NULL;
    if (asprintf(&u, "rediss://%s%s127.0.0.1:%d/0%s%s", userinfo ? userinfo : "", userinfo ? "@" : "",
                 r->tls_port, query[0] ? "?" : "", query) < 0)
        rh_die("out of memory");
    return u;
}

void rh_kill(rh_t *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

void rh_restart(rh_t *r)
{
    rh_kill(r);
    for (int i = 0; i < 50; i++) { /* the old process may still hold the port briefly */
        if (spawn(r) == 0)
            return;
        usleep(100000);
    }
    rh_die("could not restart redis-server");
}

void rh_stop(rh_t *r)
{
    if (!r)
        return;
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (system(cmd)) {
    }
    free(r);
}

redisContext *rh_client(rh_t *r)
{
    redisContext *c = r->port ? redisConnect("127.0.0.1", r->port) : redisConnectUnix(r->sock);
    if (!c || c->err)
        rh_die("cannot connect a test client");
    if (r->requirepass[0]) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->requirepass);
        if (!rep || rep->type != REDIS_REPLY_STATUS)
            rh_die("the test client cannot AUTH");
        freeReplyObject(rep);
    }
    return c;
}

static redisReply *vcmd(redisContext *c, const char *fmt, va_list ap)
{
    redisReply *rep = redisvCommand(c, fmt, ap);
    if (!rep)
        rh_die("test client lost its connection");
    return rep;
}

redisReply *rh_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, fmt, ap);
    va_end(ap);
    return r;
}

long long rh_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, fmt, ap);
    va_end(ap);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999999;
    freeReplyObject(r);
    return v;
}

char *rh_str(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(c, fmt, ap);
    va_end(ap);
    char *s = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? strndup(r->str, r->len) : NULL;
    freeReplyObject(r);
    return s;
}

const char *rh_queue_name(const char *prefix)
{
    static char buf[128];
    static int n;
    snprintf(buf, sizeof buf, "%s-%d-%d", prefix, (int)getpid(), ++n);
    return buf;
}
