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

static void die(const char *msg)
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
        die("cannot find a free port");
    int p = ntohs(a.sin_port);
    close(fd);
    return p;
}

/* Start redis-server; 0 when it answers PING, -1 when it exited (port taken). */
static int spawn(rh_t *r)
{
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        /* die with the test process, and keep the test's stdout/stderr free */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        char log[400];
        snprintf(log, sizeof log, "%s/redis.log", r->dir);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--unixsocket", r->sock, "--unixsocketperm", "700", "--dir", r->dir,
               "--save", "", "--appendonly", r->appendonly ? "yes" : "no",
               "--appendfsync", "always", "--logfile", log, "--daemonize", "no",
               (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 500; i++) {
        redisContext *c = redisConnect("127.0.0.1", r->port);
        if (c && !c->err) {
            redisReply *rep = redisCommand(c, "PING");
            int ok = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return 0;
        } else if (c) {
            redisFree(c);
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    die("redis-server did not answer within 5 s");
    return -1;
}

rh_t *rh_start(int appendonly)
{
    rh_t *r = calloc(1, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/saq-test-redis-XXXXXX");
    if (!mkdtemp(r->dir))
        die("mkdtemp failed");
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
    r->appendonly = appendonly;
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = free_port();
        snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
        if (spawn(r) == 0)
            return r;
    }
    die("could not start redis-server (is it installed? see its log in the temp dir)");
    return NULL;
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
    die("could not restart redis-server");
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
    redisContext *c = redisConnect("127.0.0.1", r->port);
    if (!c || c->err)
        die("cannot connect a test client");
    return c;
}

static redisReply *vcmd(redisContext *c, const char *fmt, va_list ap)
{
    redisReply *rep = redisvCommand(c, fmt, ap);
    if (!rep)
        die("test client lost its connection");
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
