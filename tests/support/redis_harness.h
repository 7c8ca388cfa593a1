/* SPDX-License-Identifier: MIT */
/* Test harness: a real redis-server started on a free loopback port (and a
 * unix socket) in a private temporary directory, plus a synchronous hiredis
 * client for assertions about Redis state. No mock of Redis anywhere.
 *
 * TLS servers (rh_start_opts with tls = 1) also listen on a TLS port with
 * certificates made by tests/support/tls-certs; hiredis 0.14 has no TLS, so
 * the assertion client always talks to the plaintext port or the unix
 * socket. Every function here aborts the test program (exit 2, message on
 * stderr) when the server cannot be started or reached. Not thread-safe:
 * call from the test's main thread.
 *
 * Multi-node deployments (a sentinel set: master, replica, 3 sentinels; a
 * cluster: 3 masters with a replica each) are at the end of this header. */
#ifndef SAQ_REDIS_HARNESS_H
#define SAQ_REDIS_HARNESS_H
#include <hiredis/hiredis.h>
#include <sys/types.h>

/* How to start a server (rh_start_opts). Zero-initialised = rh_start(0). */
typedef struct rh_opts {
    int appendonly;           /* 1: appendonly yes, appendfsync always */
    int tls;                  /* 1: also listen with TLS on a second port (rh_t.tls_port) */
    int no_plain_port;        /* with tls: --port 0, TLS and the unix socket only (rh_t.port 0) */
    const char *cert;         /* server certificate, a base name in the cert directory:
                                 "server" (default), "expired", "wronghost" */
    const char *auth_clients; /* --tls-auth-clients: "no" (default), "yes", "optional" */
    const char *requirepass;  /* the default user's password, or NULL for none */
    const char *acl_user;     /* "name:password": an ACL user allowed everything, or NULL */
    /* multi-node deployments only (rh_sentinel_start, rh_cluster_start; they
       read tls and requirepass above too, and ignore the rest): */
    const char *sentinel_pass; /* the sentinels' own requirepass (and sentinel-pass between
                                  them), or NULL for none */
    int down_after_ms;         /* sentinel down-after-milliseconds; 0 = 1000 */
    int node_timeout_ms;       /* cluster-node-timeout; 0 = 1500 */
} rh_opts_t;

typedef struct rh {
    pid_t pid;
    int port;          /* plaintext TCP port on 127.0.0.1; 0 with no_plain_port */
    int tls_port;      /* TLS port on 127.0.0.1 (and ::1 when available); 0 without tls */
    char dir[256];     /* private directory: redis.log, the unix socket, AOF */
    char sock[300];    /* unix socket path */
    char url[400];     /* redis://[:requirepass@]127.0.0.1:port/0, or "" with no_plain_port */
    char tls_url[900]; /* rediss://[:requirepass@]127.0.0.1:tls_port/0?ssl_ca_certs=<certs>/ca.pem
                          (+ ssl_certfile/ssl_keyfile of client.pem when auth_clients is "yes"),
                          or "" without tls */
    char certs[256];   /* the certificate directory (tests/support/tls-certs), "" without tls */
    int appendonly;
    /* the options, kept for rh_restart */
    int tls, no_plain_port;
    char cert[32], auth_clients[16], requirepass[64], acl_user[128];
} rh_t;

/* Start redis-server (appendonly: 1 = appendonly yes, fsync always). Aborts the
 * test program with a message when redis-server cannot be started. Owned by
 * the caller: rh_stop. */
rh_t *rh_start(int appendonly);
/* Start redis-server as `o` says (NULL = defaults), waiting until it answers
 * PING on the unix socket and, with TLS, a `redis-cli --tls ... ping` on the
 * TLS port. Aborts the test program when it cannot be started. */
rh_t *rh_start_opts(const rh_opts_t *o);
/* Stop (SIGTERM) and wait; remove the directory. NULL is a no-op. */
void rh_stop(rh_t *r);
/* SIGKILL the server (it stays down). */
void rh_kill(rh_t *r);
/* Start it again on the same ports, directory and options (after rh_kill or a
 * shutdown; a running server is killed first). */
void rh_restart(rh_t *r);
/* A new synchronous client on the plaintext port, or the unix socket without
 * one, authenticated with requirepass when set (caller frees with redisFree). */
redisContext *rh_client(rh_t *r);
/* Run a command and return its reply (caller frees); aborts on connection errors. */
redisReply *rh_cmd(redisContext *c, const char *fmt, ...);
/* Print "redis harness: msg" on stderr and exit the test program with status 2. */
void rh_die(const char *msg) __attribute__((noreturn));
/* Convenience: integer reply of a command (LLEN, ZCARD, EXISTS, TTL ...). */
long long rh_int(redisContext *c, const char *fmt, ...);
/* Convenience: string reply (malloc'd) or NULL for nil. */
char *rh_str(redisContext *c, const char *fmt, ...);
/* A unique queue name for a test. */
const char *rh_queue_name(const char *prefix);

/* The test certificate directory, generated on first use in this process by
 * tests/support/tls-certs (cached across runs there): $SAQ_TLS_CERTS_DIR, or
 * the build tree's tls-certs directory. The script is $SAQ_TLS_CERTS_SCRIPT
 * or the source tree's. Static storage; aborts when the script fails. */
const char *rh_certs_dir(void);
/* Path of a file of the certificate directory ("ca.pem", "client.key", ...)
 * in one of 8 rotating static buffers: valid for the next 7 calls. */
const char *rh_cert(const char *file);
/* A rediss:// URL to r's TLS port: rediss://[userinfo@]127.0.0.1:tls_port/0
 * followed by "?" and the query made from query_fmt (printf-style; NULL =
 * "ssl_ca_certs=<certs>/ca.pem"). userinfo: "user:password", ":password" or
 * NULL. Returns a malloc'd string (caller frees). */
char *rh_tls_url(rh_t *r, const char *userinfo, const char *query_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- multi-node deployments: Sentinel and Cluster (redis_multinode.c) ----
 * Real deployments on loopback, started and supervised by
 * tests/support/multinode.py (the same script tests/support/with-redis runs
 * for the non-C suites; its header comment has every detail). The script
 * runs as a child of the test program and owns the Redis processes: the
 * functions below send it one-line commands. Everything lives in a private
 * directory /tmp/saq-test-{sentinel,cluster}-XXXXXX (one sub-directory per
 * process: config, redis.log), removed at stop. No process outlives the test
 * program: the script gets SIGTERM when the test program dies
 * (PR_SET_PDEATHSIG) or sees its stdin close, the Redis processes get SIGKILL
 * when the script dies (the harness then removes the directory itself), and
 * an atexit handler stops what is still running.
 * Every function aborts the test program (rh_die, with the script's message:
 * what it waited for, where the logs are) when a deployment cannot be started
 * or a command fails; the ones that wait say what they return on a timeout.
 * Ports: every port (client, TLS, cluster bus) is a free loopback port.
 * Timing on the 2-core test machine: a sentinel set or a cluster is ready in
 * 2-3 s; SENTINEL FAILOVER takes about 1 s, a failover after kill -9 of the
 * master about 2-3 s (sentinel) or 3-4 s (cluster).
 * The script is $SAQ_MULTINODE_SCRIPT or the source tree's; run with python3.
 * Not thread-safe: call from the test's main thread. */

/* One process of a deployment. */
typedef struct rh_node {
    pid_t pid;      /* 0 while killed (rh_sentinel_kill, rh_cluster_kill) */
    int port;       /* plaintext port on 127.0.0.1 (always there) */
    int tls_port;   /* TLS port on 127.0.0.1; 0 without tls */
    char dir[300];  /* its directory: redis.conf or sentinel.conf, redis.log */
} rh_node_t;

struct rh_sup; /* the supervising script (private) */

/* A master, one replica and three sentinels monitoring it as "mymaster",
 * quorum 2, down-after-milliseconds 1000, failover-timeout 5000. With tls,
 * every process also has a TLS port (certificates of rh_certs_dir()), and
 * replication and the sentinels' links use TLS: the sentinels then hand out
 * the data nodes' TLS ports. With requirepass the data nodes require it
 * (masterauth too) and the sentinels know it (sentinel auth-pass); with
 * sentinel_pass the sentinels require their own password. */
typedef struct rh_sentinel {
    rh_node_t data[2];     /* the data nodes: data[0] starts as the master, data[1] as its replica */
    rh_node_t sentinel[3]; /* the sentinels */
    char master_name[16];  /* "mymaster" */
    char url[600];         /* redis+sentinel://[:requirepass@]127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster/0
                              on the sentinels' plaintext ports; "" with tls (the sentinels
                              would name TLS ports) */
    char tls_url[1200];    /* rediss+sentinel://[:requirepass@]...TLS ports.../mymaster/0
                              ?ssl_ca_certs=<certs>/ca.pem; "" without tls */
    char requirepass[64];  /* the data nodes' password, "" for none */
    char sentinel_pass[64];/* the sentinels' password, "" for none */
    char dir[256];         /* the deployment's directory */
    struct rh_sup *sup;
} rh_sentinel_t;

/* Start a sentinel deployment (o: tls, requirepass, sentinel_pass,
 * down_after_ms; NULL = defaults). Returns when the replica is in sync and
 * every sentinel knows the master, the replica and the two other sentinels,
 * so a failover can be ordered at once. Owned by the caller: rh_sentinel_stop. */
rh_sentinel_t *rh_sentinel_start(const rh_opts_t *o);
/* Kill every process, wait for them, remove the directory. NULL is a no-op. */
void rh_sentinel_stop(rh_sentinel_t *s);
/* Index (0 or 1) of the data node a sentinel names as master now
 * (SENTINEL get-master-addr-by-name on the first live sentinel). */
int rh_sentinel_master(rh_sentinel_t *s);
/* Wait until settled (rh_sentinel_settle), order SENTINEL FAILOVER mymaster,
 * and wait until a sentinel names the other data node and that node says
 * role:master. Returns the milliseconds from the order to then; aborts after
 * 30 s. */
long rh_sentinel_failover(rh_sentinel_t *s);
/* SIGKILL the data node that is master now; returns its index. */
int rh_sentinel_kill_master(rh_sentinel_t *s);
/* Wait until a sentinel names a master other than data node `old` and that
 * node says role:master: its index, or -1 after timeout_ms. */
int rh_sentinel_wait_master_change(rh_sentinel_t *s, int old, long timeout_ms);
/* SIGKILL data node i (0 or 1); it stays down. */
void rh_sentinel_kill(rh_sentinel_t *s, int i);
/* Start data node i again (same ports, config file, directory), then
 * rh_sentinel_settle with 20 s. */
void rh_sentinel_restart(rh_sentinel_t *s, int i);
/* SIGKILL sentinel i (0-2); rh_sentinel_restart_sentinel starts it again. */
void rh_sentinel_kill_sentinel(rh_sentinel_t *s, int i);
void rh_sentinel_restart_sentinel(rh_sentinel_t *s, int i);
/* With both data nodes up: wait until the master the sentinels name has the
 * other node as a replica in sync, known to every live sentinel. A former
 * master still saying role:master (after a failover, or restarted after
 * kill -9) is made that replica at once (REPLICAOF + CONFIG REWRITE): the
 * sentinels would do the same about 10 s later. Aborts after timeout_ms. */
void rh_sentinel_settle(rh_sentinel_t *s, long timeout_ms);
/* A new synchronous client on the plaintext port of the current master,
 * authenticated (caller frees with redisFree). */
redisContext *rh_sentinel_client(rh_sentinel_t *s);

/* Six nodes (cluster-enabled, cluster-node-timeout 1500, no persistence)
 * made a cluster of 3 masters with a replica each by `redis-cli --cluster
 * create --cluster-replicas 1`. With tls: TLS ports too, tls-cluster and
 * tls-replication; a node hands out the ports of the connection's kind
 * (plaintext ones in CLUSTER SLOTS and MOVED to a plaintext connection), so
 * url stays usable. With requirepass: every node requires it (masterauth too). */
typedef struct rh_cluster {
    rh_node_t node[6];    /* which are masters: rh_cluster_owner, CLUSTER SLOTS */
    char url[600];        /* redis+cluster://[:requirepass@]127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
                             (the three masters at start, plaintext ports); no db: Cluster
                             has only db 0 */
    char tls_url[1200];   /* rediss+cluster://...TLS ports...?ssl_ca_certs=<certs>/ca.pem;
                             "" without tls */
    char requirepass[64];
    char dir[256];
    struct rh_sup *sup;
} rh_cluster_t;

/* Start a cluster (o: tls, requirepass, node_timeout_ms; NULL = defaults).
 * Returns when every node says cluster_state:ok with the same slot map and
 * every replica is in sync. Owned by the caller: rh_cluster_stop. */
rh_cluster_t *rh_cluster_start(const rh_opts_t *o);
/* Kill every process, wait for them, remove the directory. NULL is a no-op. */
void rh_cluster_stop(rh_cluster_t *c);
/* The cluster slot of a key (CRC16-XMODEM of its hash tag, or of the whole
 * key without one, mod 16384). Pure computation. */
int rh_cluster_slot_of(const char *key);
/* Index of the node serving `slot` as master (CLUSTER SLOTS on a live node),
 * -1 when no node serves it. */
int rh_cluster_owner(rh_cluster_t *c, int slot);
/* Three hash-tagged queue names ("{q<pid>_<n>}"), new on every call, whose
 * slots three different masters serve now. */
void rh_cluster_queue_names(rh_cluster_t *c, char names[3][64]);
/* Move nslots slots from master `from` to master `to` with the real
 * `redis-cli --cluster reshard --cluster-from --cluster-to --cluster-slots
 * --cluster-yes` (it takes the source's lowest slots first), then wait until
 * every node agrees. */
void rh_cluster_reshard_cli(rh_cluster_t *c, int from, int to, int nslots);
/* Called by rh_cluster_move_slot between its steps: step 1 after CLUSTER
 * SETSLOT IMPORTING (on `to`) and MIGRATING (on the owner), keys still on the
 * owner; step 2 after every key was MIGRATEd to `to` (the owner answers -ASK
 * for them), before SETSLOT NODE. */
typedef void (*rh_move_hook)(rh_cluster_t *c, int slot, int step, void *ud);
/* Move one slot with its keys to master `to`, the documented manual way
 * (SETSLOT IMPORTING/MIGRATING, MIGRATE in batches of 100 keys, SETSLOT NODE
 * on to, the owner and the other masters), calling hook (may be NULL) between
 * the steps; returns when every node agrees `to` serves it. */
void rh_cluster_move_slot(rh_cluster_t *c, int slot, int to, rh_move_hook hook, void *ud);
/* SIGKILL node i (0-5); it stays down. */
void rh_cluster_kill(rh_cluster_t *c, int i);
/* Start node i again (same ports, config, nodes.conf, directory); returns
 * when the slot map is agreed and every replica is in sync (20 s at most). */
void rh_cluster_restart(rh_cluster_t *c, int i);
/* Wait until a live master serves `slot` (after its master was killed: its
 * replica, promoted), and every live node says cluster_state:ok with the same
 * map, all of whose masters are live. Returns that master's index, or -1
 * after timeout_ms. */
int rh_cluster_wait_failover(rh_cluster_t *c, int slot, long timeout_ms);
/* A new synchronous client on node i's plaintext port, authenticated (caller
 * frees with redisFree). Plain hiredis: no redirections followed. */
redisContext *rh_cluster_client(rh_cluster_t *c, int i);
/* A new synchronous client on any node's plaintext port, authenticated with
 * password when not NULL/"" (caller frees with redisFree). */
redisContext *rh_node_client(const rh_node_t *n, const char *password);
#endif
