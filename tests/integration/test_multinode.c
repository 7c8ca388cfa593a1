/* SPDX-License-Identifier: MIT */
/* The multi-node test deployments themselves (redis_harness.h, rh_sentinel_*
 * and rh_cluster_*), checked with hiredis and redis-cli only, no libsaq: a
 * sentinel set replicates, names its master and fails over (SENTINEL FAILOVER
 * and kill -9), with TLS and both passwords too; a cluster has 3 masters with
 * a replica each, the harness's slot function agrees with CLUSTER KEYSLOT, a
 * slot moved by hand ends on its target (with -ASK in between) and so do the
 * slots `redis-cli --cluster reshard` moves, a killed master's replica takes
 * over; and after every stop no process and no directory is left. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis_harness.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* stdout of a shell command (malloc'd) */
static char *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, got = 0, k;
    char *out = calloc(1, cap);
    while (got + 1 < cap && (k = fread(out + got, 1, cap - 1 - got, p)) > 0)
        got += k;
    pclose(p);
    return out;
}

/* A field of INFO replication ("role", "master_link_status" ...), malloc'd. */
static char *repl_field(redisContext *c, const char *field)
{
    char *info = rh_str(c, "INFO replication");
    assert_non_null(info);
    char key[64];
    snprintf(key, sizeof key, "\n%s:", field);
    char *p = strstr(info, key);
    char *v = p ? strndup(p + strlen(key), strcspn(p + strlen(key), "\r\n")) : strdup("");
    free(info);
    return v;
}

/* pids that are gone and directories that are removed */
typedef struct {
    pid_t pid[8];
    int n;
    char dir[256];
} leftovers_t;

static void remember(leftovers_t *l, const rh_node_t *nodes, int n, const char *dir)
{
    for (int i = 0; i < n; i++)
        if (nodes[i].pid)
            l->pid[l->n++] = nodes[i].pid;
    snprintf(l->dir, sizeof l->dir, "%s", dir);
}

static void assert_nothing_left(const leftovers_t *l);

/* Stop s and check that none of its processes and not its directory is left. */
static void stop_sentinel_checked(rh_sentinel_t *s)
{
    leftovers_t l = {0};
    remember(&l, s->data, 2, s->dir);
    remember(&l, s->sentinel, 3, s->dir);
    rh_sentinel_stop(s);
    assert_nothing_left(&l);
}

/* The same for a cluster. */
static void stop_cluster_checked(rh_cluster_t *c)
{
    leftovers_t l = {0};
    remember(&l, c->node, 6, c->dir);
    rh_cluster_stop(c);
    assert_nothing_left(&l);
}

static void assert_nothing_left(const leftovers_t *l)
{
    for (int i = 0; i < l->n; i++) {
        errno = 0;
        if (kill(l->pid[i], 0) == 0 || errno != ESRCH)
            fail_msg("process %d is still there after stop", (int)l->pid[i]);
    }
    struct stat st;
    if (stat(l->dir, &st) == 0)
        fail_msg("%s is still there after stop", l->dir);
}

/* The value of key on node n, polled up to 5 s (replication is asynchronous). */
static void assert_replicated(const rh_node_t *n, const char *pw, const char *key, const char *want)
{
    redisContext *c = rh_node_client(n, pw);
    char *v = NULL;
    for (int i = 0; i < 100; i++) {
        free(v);
        v = rh_str(c, "GET %s", key);
        if (v && !strcmp(v, want))
            break;
        usleep(50000);
    }
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
    redisFree(c);
}

static void test_sentinel(void **state)
{
    (void)state;
    double t0 = now_s();
    rh_sentinel_t *s = rh_sentinel_start(NULL);
    printf("sentinel set ready in %.1f s\n", now_s() - t0);
    char want[600];
    snprintf(want, sizeof want, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/mymaster/0",
             s->sentinel[0].port, s->sentinel[1].port, s->sentinel[2].port);
    assert_string_equal(s->url, want);
    assert_string_equal(s->tls_url, "");
    assert_string_equal(s->master_name, "mymaster");
    for (int i = 0; i < 2; i++)
        assert_true(s->data[i].pid > 0 && s->data[i].port > 0);
    struct stat st;
    assert_int_equal(stat(s->data[1].dir, &st), 0);

    /* node 0 is the master, 1 its replica in sync; what the master takes the replica has */
    assert_int_equal(rh_sentinel_master(s), 0);
    redisContext *c = rh_sentinel_client(s);
    char *role = repl_field(c, "role");
    assert_string_equal(role, "master");
    free(role);
    free(rh_str(c, "SET k1 v1"));
    redisFree(c);
    assert_replicated(&s->data[1], NULL, "k1", "v1");
    redisContext *r = rh_node_client(&s->data[1], NULL);
    char *link = repl_field(r, "master_link_status");
    assert_string_equal(link, "up");
    free(link);
    redisFree(r);

    /* every sentinel knows the replica and the two others */
    for (int i = 0; i < 3; i++) {
        char *out = sh("redis-cli -p %d sentinel replicas mymaster | grep -c '^%d$';"
                       "redis-cli -p %d sentinel sentinels mymaster | grep -c '^name$'",
                       s->sentinel[i].port, s->data[1].port, s->sentinel[i].port);
        assert_string_equal(out, "1\n2\n");
        free(out);
    }

    /* SENTINEL FAILOVER: node 1 becomes the master, with k1 */
    long ms = rh_sentinel_failover(s);
    printf("SENTINEL FAILOVER: %ld ms\n", ms);
    assert_true(ms > 0 && ms < 30000);
    assert_int_equal(rh_sentinel_master(s), 1);
    c = rh_sentinel_client(s);
    role = repl_field(c, "role");
    assert_string_equal(role, "master");
    free(role);
    char *v = rh_str(c, "GET k1");
    assert_string_equal(v, "v1");
    free(v);
    free(rh_str(c, "SET k2 v2"));
    redisFree(c);
    /* and back: the former master is made a replica first (settle) */
    ms = rh_sentinel_failover(s);
    printf("second SENTINEL FAILOVER: %ld ms\n", ms);
    assert_int_equal(rh_sentinel_master(s), 0);
    assert_replicated(&s->data[0], NULL, "k2", "v2");

    /* kill -9 of the master: the sentinels promote the replica */
    pid_t killed_pid = s->data[0].pid;
    double tk = now_s();
    int killed = rh_sentinel_kill_master(s);
    assert_int_equal(killed, 0);
    assert_int_equal(s->data[0].pid, 0);
    assert_int_equal(kill(killed_pid, 0), -1);
    int m = rh_sentinel_wait_master_change(s, killed, 30000);
    printf("failover after kill -9 of the master: %.1f s\n", now_s() - tk);
    assert_int_equal(m, 1);
    assert_int_equal(rh_sentinel_master(s), 1);
    /* no change to wait for: -1 after the timeout */
    assert_int_equal(rh_sentinel_wait_master_change(s, 1, 300), -1);

    /* the old master comes back as the new master's replica */
    rh_sentinel_restart(s, 0);
    assert_true(s->data[0].pid > 0);
    r = rh_node_client(&s->data[0], NULL);
    role = repl_field(r, "role");
    assert_string_equal(role, "slave");
    free(role);
    redisFree(r);
    c = rh_sentinel_client(s);
    free(rh_str(c, "SET k3 v3"));
    redisFree(c);
    assert_replicated(&s->data[0], NULL, "k3", "v3");

    stop_sentinel_checked(s);
}

static void test_sentinel_tls_passwords(void **state)
{
    (void)state;
    rh_opts_t o = {.tls = 1, .requirepass = "datapw", .sentinel_pass = "sentpw"};
    rh_sentinel_t *s = rh_sentinel_start(&o);
    char want[1200];
    snprintf(want, sizeof want,
             "rediss+sentinel://:datapw@127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/mymaster/0"
             "?ssl_ca_certs=%s",
             s->sentinel[0].tls_port, s->sentinel[1].tls_port, s->sentinel[2].tls_port, rh_cert("ca.pem"));
    assert_string_equal(s->tls_url, want);
    assert_string_equal(s->url, "");
    assert_string_equal(s->requirepass, "datapw");
    assert_string_equal(s->sentinel_pass, "sentpw");

    /* over TLS, with the sentinel password, a sentinel names the master's TLS port */
    char *out = sh("redis-cli --tls --cacert %s -p %d --no-auth-warning -a sentpw "
                   "sentinel get-master-addr-by-name mymaster",
                   rh_cert("ca.pem"), s->sentinel[1].tls_port);
    char exp[64];
    snprintf(exp, sizeof exp, "127.0.0.1\n%d\n", s->data[0].tls_port);
    assert_string_equal(out, exp);
    free(out);
    /* each password is required where it belongs */
    out = sh("redis-cli -p %d ping 2>&1; redis-cli -p %d ping 2>&1; redis-cli -p %d --no-auth-warning -a datapw ping 2>&1",
             s->sentinel[0].port, s->data[0].port, s->sentinel[0].port);
    assert_non_null(strstr(out, "NOAUTH"));
    assert_non_null(strstr(out, "WRONGPASS") ? strstr(out, "WRONGPASS") : strstr(out, "invalid"));
    free(out);
    /* the replica is in sync over TLS */
    redisContext *r = rh_node_client(&s->data[1], "datapw");
    char *port = repl_field(r, "master_port");
    snprintf(exp, sizeof exp, "%d", s->data[0].tls_port);
    assert_string_equal(port, exp);
    free(port);
    redisFree(r);

    long ms = rh_sentinel_failover(s);
    printf("SENTINEL FAILOVER over TLS: %ld ms\n", ms);
    assert_int_equal(rh_sentinel_master(s), 1);

    stop_sentinel_checked(s);
}

/* the hook of the manual slot move: at step 2 the source answers -ASK for the moved key */
struct move_obs {
    int src, to, steps, asked;
    const char *key;
};

static void on_move(rh_cluster_t *c, int slot, int step, void *ud)
{
    struct move_obs *o = ud;
    o->steps |= 1 << step;
    if (step != 2)
        return;
    redisContext *s = rh_cluster_client(c, o->src);
    redisReply *rep = rh_cmd(s, "GET %s", o->key);
    char want[64];
    snprintf(want, sizeof want, "ASK %d 127.0.0.1:%d", slot, c->node[o->to].port);
    if (rep->type == REDIS_REPLY_ERROR && !strcmp(rep->str, want))
        o->asked = 1;
    else
        printf("GET during the move: %s (wanted %s)\n", rep->str ? rep->str : "?", want);
    freeReplyObject(rep);
    redisFree(s);
}

static void test_cluster(void **state)
{
    (void)state;
    double t0 = now_s();
    rh_cluster_t *c = rh_cluster_start(NULL);
    printf("cluster ready in %.1f s\n", now_s() - t0);
    assert_string_equal(c->tls_url, "");
    assert_true(!strncmp(c->url, "redis+cluster://127.0.0.1:", 26));
    assert_null(strchr(c->url + 16, '/'));

    /* 3 masters, each with one replica, all 16384 slots */
    redisContext *n0 = rh_cluster_client(c, 0);
    redisReply *slots = rh_cmd(n0, "CLUSTER SLOTS");
    assert_int_equal(slots->type, REDIS_REPLY_ARRAY);
    assert_int_equal(slots->elements, 3);
    long long covered = 0;
    int masters = 0;
    for (size_t i = 0; i < slots->elements; i++) {
        redisReply *e = slots->element[i];
        assert_int_equal(e->elements, 4); /* first, last, master, one replica */
        covered += e->element[1]->integer - e->element[0]->integer + 1;
        masters |= 1 << rh_cluster_owner(c, (int)e->element[0]->integer);
    }
    freeReplyObject(slots);
    assert_int_equal(covered, 16384);
    assert_int_equal(__builtin_popcount(masters), 3);
    char *info = rh_str(n0, "CLUSTER INFO");
    assert_non_null(strstr(info, "cluster_state:ok"));
    free(info);

    /* rh_cluster_slot_of agrees with Redis */
    const char *keys[] = {"", "a", "foo", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "{}x",
                          "saq:{orders}:queued", "{orders}", "x{y", "123456789"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(rh_cluster_slot_of(keys[i]), rh_int(n0, "CLUSTER KEYSLOT %s", keys[i]));
    assert_int_equal(rh_cluster_slot_of("123456789"), 0x31C3 & 16383);
    redisFree(n0);

    /* three queue names on three masters, new ones on each call */
    char names[3][64], again[3][64];
    rh_cluster_queue_names(c, names);
    rh_cluster_queue_names(c, again);
    int owners = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(names[i][0], '{');
        assert_int_equal(names[i][strlen(names[i]) - 1], '}');
        owners |= 1 << rh_cluster_owner(c, rh_cluster_slot_of(names[i]));
        assert_string_not_equal(names[i], again[i]);
    }
    assert_int_equal(__builtin_popcount(owners), 3);

    /* a slot with keys moved by hand to another master: -ASK in between */
    char key[128];
    snprintf(key, sizeof key, "%s:k", names[0]);
    int slot = rh_cluster_slot_of(key), src = rh_cluster_owner(c, slot);
    int to = rh_cluster_owner(c, rh_cluster_slot_of(names[1]));
    redisContext *sc = rh_cluster_client(c, src);
    for (int i = 0; i < 250; i++) /* three MIGRATE batches */
        free(rh_str(sc, "SET %s:%d %d", names[0], i, i));
    free(rh_str(sc, "SET %s moved", key));
    redisFree(sc);
    struct move_obs obs = {.src = src, .to = to, .key = key};
    rh_cluster_move_slot(c, slot, to, on_move, &obs);
    assert_int_equal(obs.steps, 6);
    assert_true(obs.asked);
    assert_int_equal(rh_cluster_owner(c, slot), to);
    redisContext *tc = rh_cluster_client(c, to);
    char *v = rh_str(tc, "GET %s", key);
    assert_string_equal(v, "moved");
    free(v);
    assert_int_equal(rh_int(tc, "CLUSTER COUNTKEYSINSLOT %d", slot), 251);
    redisFree(tc);

    /* redis-cli --cluster reshard: the source's lowest slots move */
    signed char before = -1;
    int lowest = -1;
    for (int k = 0; k < 16384 && lowest < 0; k++)
        if (rh_cluster_owner(c, k) == src)
            lowest = k, before = (signed char)src;
    assert_true(lowest >= 0 && before == src);
    rh_cluster_reshard_cli(c, src, to, 3);
    assert_int_equal(rh_cluster_owner(c, lowest), to);

    /* kill -9 of a master: its replica serves its slots */
    int victim = rh_cluster_owner(c, rh_cluster_slot_of(names[2]));
    int vslot = rh_cluster_slot_of(names[2]);
    double tk = now_s();
    rh_cluster_kill(c, victim);
    assert_int_equal(c->node[victim].pid, 0);
    int now = rh_cluster_wait_failover(c, vslot, 30000);
    printf("cluster failover after kill -9 of a master: %.1f s\n", now_s() - tk);
    assert_true(now >= 0 && now != victim);
    assert_int_equal(rh_cluster_owner(c, vslot), now);
    /* it comes back as a replica of the promoted node */
    rh_cluster_restart(c, victim);
    assert_true(c->node[victim].pid > 0);
    redisContext *vc = rh_cluster_client(c, victim);
    char *role = repl_field(vc, "role");
    assert_string_equal(role, "slave");
    free(role);
    redisFree(vc);

    stop_cluster_checked(c);
}

static void test_cluster_tls(void **state)
{
    (void)state;
    rh_opts_t o = {.tls = 1, .requirepass = "clpw"};
    rh_cluster_t *c = rh_cluster_start(&o);
    char *q = strchr(c->tls_url, '?');
    assert_non_null(q);
    char want[600];
    snprintf(want, sizeof want, "?ssl_ca_certs=%s", rh_cert("ca.pem"));
    assert_string_equal(q, want);
    assert_true(!strncmp(c->tls_url, "rediss+cluster://:clpw@127.0.0.1:", 33));
    assert_true(!strncmp(c->url, "redis+cluster://:clpw@127.0.0.1:", 32));
    /* over TLS the cluster is ok and hands out TLS ports; over plaintext, plaintext ones */
    char *out = sh("redis-cli --tls --cacert %s -p %d --no-auth-warning -a clpw cluster info | head -1;"
                   "redis-cli --tls --cacert %s -p %d --no-auth-warning -a clpw cluster slots | sed -n 4p;"
                   "redis-cli -p %d --no-auth-warning -a clpw cluster slots | sed -n 4p",
                   rh_cert("ca.pem"), c->node[3].tls_port, rh_cert("ca.pem"), c->node[3].tls_port,
                   c->node[3].port);
    int tls_port = 0, plain_port = 0;
    char *second = strchr(out, '\n');
    assert_non_null(second);
    assert_int_equal(strncmp(out, "cluster_state:ok", 16), 0);
    assert_int_equal(sscanf(second + 1, "%d %d", &tls_port, &plain_port), 2);
    free(out);
    int tls_ok = 0, plain_ok = 0;
    for (int i = 0; i < 6; i++) {
        tls_ok |= c->node[i].tls_port == tls_port;
        plain_ok |= c->node[i].port == plain_port;
    }
    assert_true(tls_ok && plain_ok);
    redisContext *n = rh_cluster_client(c, 0);
    redisReply *rep = rh_cmd(n, "CLUSTER NODES");
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    redisFree(n);

    stop_cluster_checked(c);
}

/* A test program that exits without stopping its deployment leaves nothing
 * behind either (the atexit handler, the script's end of input). */
static void test_exit_without_stop(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[0]);
        rh_cluster_t *c = rh_cluster_start(NULL);
        FILE *w = fdopen(fds[1], "w");
        fprintf(w, "%s", c->dir);
        for (int i = 0; i < 6; i++)
            fprintf(w, " %d", (int)c->node[i].pid);
        fclose(w);
        exit(0); /* no rh_cluster_stop */
    }
    close(fds[1]);
    FILE *r = fdopen(fds[0], "r");
    leftovers_t l = {0};
    assert_int_equal(fscanf(r, "%255s", l.dir), 1);
    int pid;
    while (l.n < 6 && fscanf(r, "%d", &pid) == 1)
        l.pid[l.n++] = pid;
    fclose(r);
    assert_int_equal(l.n, 6);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_nothing_left(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentinel),
        cmocka_unit_test(test_sentinel_tls_passwords),
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_cluster_tls),
        cmocka_unit_test(test_exit_without_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
