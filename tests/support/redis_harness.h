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
 * call from the test's main thread. */
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
#endif
