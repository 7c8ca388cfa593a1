/* SPDX-License-Identifier: MIT */
/* Sentinel and Cluster deployments for the C tests: a thin client of
 * tests/support/multinode.py, which starts the processes, waits for them and
 * runs the topology changes (see redis_harness.h and the script's header). */
#define _GNU_SOURCE
#include "redis_harness.h"

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SAQ_MULTINODE_SCRIPT
#define SAQ_MULTINODE_SCRIPT "tests/support/multinode.py"
#endif

/* The supervising script: its pid, and a socket that is its stdin and its
 * stdout (a socket, not pipes: a command sent to a script that died fails
 * with EPIPE instead of killing the test program with SIGPIPE). */
struct rh_sup {
    pid_t pid;
    int fd;
    FILE *from;
    char dir[256];       /* the deployment's directory, removed here too if the script could not */
    struct rh_sup *next; /* the running ones, for the atexit handler */
};

static struct rh_sup *running;

static void sup_unlink(struct rh_sup *s)
{
    for (struct rh_sup **p = &running; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            return;
        }
}

/* Close the script's stdin (it stops everything and removes its directory
 * on end of input) and wait for it. Never aborts (used at exit too). */
static void sup_close(struct rh_sup *s)
{
    sup_unlink(s);
    if (s->from)
        fclose(s->from); /* closes fd */
    else if (s->fd >= 0)
        close(s->fd);
    if (s->pid > 0)
        waitpid(s->pid, NULL, 0);
    struct stat st;
    if (s->dir[0] && stat(s->dir, &st) == 0) { /* the script was SIGKILLed */
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd)) {
        }
    }
    free(s);
}

/* atexit: a test that aborted (rh_die, a failed assertion that exits) still
 * leaves no process or directory behind, and not later than it exits */
static void sup_atexit(void)
{
    while (running)
        sup_close(running);
}

/* A line from the script, without its newline, malloc'd; NULL at end of output. */
static char *sup_line(struct rh_sup *s)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, s->from);
    if (n < 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\n")] = 0;
    return line;
}

static void sup_fail(struct rh_sup *s, const char *what, const char *line)
{
    char msg[2048];
    snprintf(msg, sizeof msg, "multinode.py %s: %s", what, line ? line : "exited (see its messages above)");
    sup_close(s);
    rh_die(msg);
}

/* Start multinode.py kind with o's options; call kv(obj, key, value) for each
 * KEY=value line it prints before READY. */
static struct rh_sup *sup_start(const char *kind, const rh_opts_t *o, void (*kv)(void *, const char *, char *),
                                void *obj)
{
    static int registered;
    if (!registered) {
        atexit(sup_atexit);
        registered = 1;
    }
    const char *script = getenv("SAQ_MULTINODE_SCRIPT");
    char down[16], timeout[16];
    char *argv[24];
    int n = 0;
    argv[n++] = "python3";
    argv[n++] = (char *)(script && *script ? script : SAQ_MULTINODE_SCRIPT);
    argv[n++] = (char *)kind;
    if (o && o->tls) {
        argv[n++] = "--tls";
        argv[n++] = "--certs";
        argv[n++] = (char *)rh_certs_dir();
    }
    if (o && o->requirepass && *o->requirepass) {
        argv[n++] = "--requirepass";
        argv[n++] = (char *)o->requirepass;
    }
    if (o && o->sentinel_pass && *o->sentinel_pass) {
        argv[n++] = "--sentinel-pass";
        argv[n++] = (char *)o->sentinel_pass;
    }
    if (o && o->down_after_ms > 0) {
        snprintf(down, sizeof down, "%d", o->down_after_ms);
        argv[n++] = "--down-after";
        argv[n++] = down;
    }
    if (o && o->node_timeout_ms > 0) {
        snprintf(timeout, sizeof timeout, "%d", o->node_timeout_ms);
        argv[n++] = "--node-timeout";
        argv[n++] = timeout;
    }
    argv[n] = NULL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        rh_die("socketpair failed");
    pid_t pid = fork();
    if (pid < 0)
        rh_die("fork failed");
    if (pid == 0) {
        /* SIGTERM when the test program dies: the script stops everything */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        execvp("python3", argv);
        _exit(127);
    }
    close(sv[1]);
    struct rh_sup *s = calloc(1, sizeof *s);
    if (!s)
        rh_die("out of memory");
    s->pid = pid;
    s->fd = sv[0];
    s->from = fdopen(sv[0], "r");
    if (!s->from)
        rh_die("fdopen failed");
    s->next = running;
    running = s;
    for (;;) {
        char *line = sup_line(s);
        if (!line || !strncmp(line, "ERR", 3))
            sup_fail(s, "could not start the deployment", line);
        if (!strcmp(line, "READY")) {
            free(line);
            return s;
        }
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = 0;
            kv(obj, line, eq + 1);
        }
        free(line);
    }
}

/* Send a command; its answer after "OK" (malloc'd, "" when none). Aborts on ERR. */
static char *sup_cmd(struct rh_sup *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *sup_cmd(struct rh_sup *s, const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof cmd - 1)
        rh_die("multinode command too long");
    cmd[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t k = send(s->fd, cmd + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (k <= 0)
            sup_fail(s, "command not sent", NULL);
        off += (int)k;
    }
    char *line = sup_line(s);
    if (!line || strncmp(line, "OK", 2))
        sup_fail(s, "command failed", line);
    char *rest = strdup(line[2] == ' ' ? line + 3 : "");
    free(line);
    return rest;
}

/* A command whose answer starts with an integer. */
static long sup_int(struct rh_sup *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long sup_int(struct rh_sup *s, const char *fmt, ...)
{
    char cmd[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *r = sup_cmd(s, "%s", cmd);
    long v = strtol(r, NULL, 10);
    free(r);
    return v;
}

static void sup_void(struct rh_sup *s, const char *cmd, int arg)
{
    free(sup_cmd(s, "%s %d", cmd, arg));
}

/* Fill nodes[0..n) from space-separated numbers in v: the field at offset `off`. */
static void fill(rh_node_t *nodes, int n, size_t off, const char *v)
{
    char *end;
    for (int i = 0; i < n; i++, v = end) {
        long x = strtol(v, &end, 10);
        if (end == v)
            return;
        *(int *)((char *)&nodes[i] + off) = (int)x;
    }
}

/* pid_t is an int on Linux: fill() serves pids too */
_Static_assert(sizeof(pid_t) == sizeof(int), "pid_t is an int");

/* The per-node directories: <dir>/<name><i>. */
static void dirs(rh_node_t *nodes, int n, const char *dir, const char *name)
{
    for (int i = 0; i < n; i++)
        snprintf(nodes[i].dir, sizeof nodes[i].dir, "%s/%s%d", dir, name, i);
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* A KEY=value line of the script about one group of nodes: the ones whose
 * keys start with prefix. Sets *url, *tls_url, *dir (when not NULL; each of
 * 600, 1200 and 256 bytes) from <prefix>_URL, _TLS_URL, _DIR, and the nodes'
 * fields from _PORTS, _TLS_PORTS, _PIDS. */
static void group_kv(const char *prefix, const char *k, const char *v, char *url, char *tls_url, char *dir,
                     rh_node_t *nodes, int n)
{
    size_t pl = strlen(prefix);
    if (strncmp(k, prefix, pl) || k[pl] != '_')
        return;
    k += pl + 1;
    if (url && !strcmp(k, "URL"))
        copy(url, 600, v);
    else if (tls_url && !strcmp(k, "TLS_URL"))
        copy(tls_url, 1200, v);
    else if (dir && !strcmp(k, "DIR"))
        copy(dir, 256, v);
    else if (!strcmp(k, "PORTS"))
        fill(nodes, n, offsetof(rh_node_t, port), v);
    else if (!strcmp(k, "TLS_PORTS"))
        fill(nodes, n, offsetof(rh_node_t, tls_port), v);
    else if (!strcmp(k, "PIDS"))
        fill(nodes, n, offsetof(rh_node_t, pid), v);
}

/* ---- sentinel ---- */

_Static_assert(sizeof((rh_sentinel_t *)0)->url == 600 && sizeof((rh_sentinel_t *)0)->tls_url == 1200 &&
                   sizeof((rh_sentinel_t *)0)->dir == 256 && sizeof((rh_cluster_t *)0)->url == 600 &&
                   sizeof((rh_cluster_t *)0)->tls_url == 1200 && sizeof((rh_cluster_t *)0)->dir == 256,
               "group_kv's sizes");

static void sentinel_kv(void *obj, const char *k, char *v)
{
    rh_sentinel_t *s = obj;
    if (!strcmp(k, "REDIS_SENTINEL_MASTER_NAME"))
        copy(s->master_name, sizeof s->master_name, v);
    group_kv("REDIS_SENTINEL", k, v, s->url, s->tls_url, s->dir, s->sentinel, 3);
    group_kv("REDIS_SENTINEL_DATA", k, v, NULL, NULL, NULL, s->data, 2);
}

rh_sentinel_t *rh_sentinel_start(const rh_opts_t *o)
{
    rh_sentinel_t *s = calloc(1, sizeof *s);
    if (!s)
        rh_die("out of memory");
    copy(s->requirepass, sizeof s->requirepass, o ? o->requirepass : NULL);
    copy(s->sentinel_pass, sizeof s->sentinel_pass, o ? o->sentinel_pass : NULL);
    s->sup = sup_start("sentinel", o, sentinel_kv, s);
    copy(s->sup->dir, sizeof s->sup->dir, s->dir);
    dirs(s->data, 2, s->dir, "data");
    dirs(s->sentinel, 3, s->dir, "sentinel");
    return s;
}

void rh_sentinel_stop(rh_sentinel_t *s)
{
    if (!s)
        return;
    sup_close(s->sup);
    free(s);
}

int rh_sentinel_master(rh_sentinel_t *s)
{
    return (int)sup_int(s->sup, "master");
}

long rh_sentinel_failover(rh_sentinel_t *s)
{
    char *r = sup_cmd(s->sup, "failover 30000");
    long ms = 0;
    int i;
    if (sscanf(r, "%d %ld", &i, &ms) != 2)
        rh_die("multinode.py: a failover answer without its time");
    free(r);
    return ms;
}

void rh_sentinel_kill(rh_sentinel_t *s, int i)
{
    sup_void(s->sup, "kill", i);
    s->data[i].pid = 0;
}

int rh_sentinel_kill_master(rh_sentinel_t *s)
{
    int m = rh_sentinel_master(s);
    rh_sentinel_kill(s, m);
    return m;
}

int rh_sentinel_wait_master_change(rh_sentinel_t *s, int old, long timeout_ms)
{
    return (int)sup_int(s->sup, "wait_master_change %d %ld", old, timeout_ms);
}

void rh_sentinel_restart(rh_sentinel_t *s, int i)
{
    s->data[i].pid = (pid_t)sup_int(s->sup, "restart %d", i);
}

void rh_sentinel_kill_sentinel(rh_sentinel_t *s, int i)
{
    sup_void(s->sup, "kill", 2 + i);
    s->sentinel[i].pid = 0;
}

void rh_sentinel_restart_sentinel(rh_sentinel_t *s, int i)
{
    s->sentinel[i].pid = (pid_t)sup_int(s->sup, "restart %d", 2 + i);
}

void rh_sentinel_settle(rh_sentinel_t *s, long timeout_ms)
{
    free(sup_cmd(s->sup, "settle %ld", timeout_ms));
}

redisContext *rh_sentinel_client(rh_sentinel_t *s)
{
    return rh_node_client(&s->data[rh_sentinel_master(s)], s->requirepass);
}

redisContext *rh_node_client(const rh_node_t *n, const char *password)
{
    redisContext *c = redisConnect("127.0.0.1", n->port);
    if (!c || c->err)
        rh_die("cannot connect a test client to a node");
    if (password && *password) {
        redisReply *rep = redisCommand(c, "AUTH %s", password);
        if (!rep || rep->type != REDIS_REPLY_STATUS)
            rh_die("the test client cannot AUTH to a node");
        freeReplyObject(rep);
    }
    return c;
}

/* ---- cluster ---- */

static void cluster_kv(void *obj, const char *k, char *v)
{
    rh_cluster_t *c = obj;
    group_kv("REDIS_CLUSTER", k, v, c->url, c->tls_url, c->dir, c->node, 6);
}

rh_cluster_t *rh_cluster_start(const rh_opts_t *o)
{
    rh_cluster_t *c = calloc(1, sizeof *c);
    if (!c)
        rh_die("out of memory");
    copy(c->requirepass, sizeof c->requirepass, o ? o->requirepass : NULL);
    c->sup = sup_start("cluster", o, cluster_kv, c);
    copy(c->sup->dir, sizeof c->sup->dir, c->dir);
    dirs(c->node, 6, c->dir, "node");
    return c;
}

void rh_cluster_stop(rh_cluster_t *c)
{
    if (!c)
        return;
    sup_close(c->sup);
    free(c);
}

/* CRC16-XMODEM (polynomial 0x1021, initial value 0), bit by bit. */
static unsigned crc16(const char *p, size_t n)
{
    unsigned crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned)(unsigned char)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1) & 0xffff;
    }
    return crc;
}

int rh_cluster_slot_of(const char *key)
{
    size_t n = strlen(key);
    const char *open = strchr(key, '{');
    if (open) {
        const char *close = strchr(open + 1, '}');
        if (close && close > open + 1) /* a non-empty tag: only it is hashed */
            return (int)(crc16(open + 1, (size_t)(close - open - 1)) & 16383);
    }
    return (int)(crc16(key, n) & 16383);
}

/* The slot map: for each slot, the master's index (-1: none). */
static void slot_map(rh_cluster_t *c, signed char owner[16384])
{
    memset(owner, -1, 16384);
    char *r = sup_cmd(c->sup, "slots");
    int a, b, i, used;
    for (const char *p = r; sscanf(p, " %d-%d:%d%n", &a, &b, &i, &used) == 3; p += used)
        for (int k = a; k <= b && k < 16384; k++)
            if (k >= 0)
                owner[k] = (signed char)i;
    free(r);
}

int rh_cluster_owner(rh_cluster_t *c, int slot)
{
    return (int)sup_int(c->sup, "owner %d", slot);
}

void rh_cluster_queue_names(rh_cluster_t *c, char names[3][64])
{
    static int calls;
    signed char owner[16384];
    slot_map(c, owner);
    int seen[3] = {-1, -1, -1}, got = 0;
    calls++;
    for (int k = 0; got < 3 && k < 100000; k++) {
        char name[64];
        snprintf(name, sizeof name, "{q%d_%d_%d}", (int)getpid(), calls, k);
        int o = owner[rh_cluster_slot_of(name)];
        if (o < 0 || o == seen[0] || o == seen[1])
            continue;
        seen[got] = o;
        snprintf(names[got++], 64, "%s", name);
    }
    if (got < 3)
        rh_die("fewer than three masters serve slots");
}

void rh_cluster_reshard_cli(rh_cluster_t *c, int from, int to, int nslots)
{
    free(sup_cmd(c->sup, "reshard %d %d %d", from, to, nslots));
}

void rh_cluster_move_slot(rh_cluster_t *c, int slot, int to, rh_move_hook hook, void *ud)
{
    free(sup_cmd(c->sup, "moveslot %d %d prepare", slot, to));
    if (hook)
        hook(c, slot, 1, ud);
    free(sup_cmd(c->sup, "moveslot %d %d keys", slot, to));
    if (hook)
        hook(c, slot, 2, ud);
    free(sup_cmd(c->sup, "moveslot %d %d finish", slot, to));
}

void rh_cluster_kill(rh_cluster_t *c, int i)
{
    sup_void(c->sup, "kill", i);
    c->node[i].pid = 0;
}

void rh_cluster_restart(rh_cluster_t *c, int i)
{
    c->node[i].pid = (pid_t)sup_int(c->sup, "restart %d", i);
}

int rh_cluster_wait_failover(rh_cluster_t *c, int slot, long timeout_ms)
{
    return (int)sup_int(c->sup, "wait_failover %d %ld", slot, timeout_ms);
}

redisContext *rh_cluster_client(rh_cluster_t *c, int i)
{
    return rh_node_client(&c->node[i], c->requirepass);
}
