/* SPDX-License-Identifier: MIT */
/* Test harness: a real redis-server started on a free loopback port (and a
 * unix socket) in a private temporary directory, plus a synchronous hiredis
 * client for assertions about Redis state. No mock of Redis anywhere. */
#ifndef SAQ_REDIS_HARNESS_H
#define SAQ_REDIS_HARNESS_H
#include <hiredis/hiredis.h>
#include <sys/types.h>

typedef struct rh {
    pid_t pid;
    int port;
    char dir[256];
    char sock[300];
    char url[400];
    int appendonly;
} rh_t;

/* Start redis-server (appendonly: 1 = appendonly yes, fsync always). Aborts the
 * test program with a message when redis-server cannot be started. */
rh_t *rh_start(int appendonly);
/* Stop (SIGTERM) and wait; remove the directory. */
void rh_stop(rh_t *r);
/* SIGKILL the server (it stays down). */
void rh_kill(rh_t *r);
/* Start it again on the same port and directory (after rh_kill or rh_shutdown). */
void rh_restart(rh_t *r);
/* A new synchronous client (caller frees with redisFree). */
redisContext *rh_client(rh_t *r);
/* Run a command and return its reply (caller frees); aborts on connection errors. */
redisReply *rh_cmd(redisContext *c, const char *fmt, ...);
/* Convenience: integer reply of a command (LLEN, ZCARD, EXISTS, TTL ...). */
long long rh_int(redisContext *c, const char *fmt, ...);
/* Convenience: string reply (malloc'd) or NULL for nil. */
char *rh_str(redisContext *c, const char *fmt, ...);
/* A unique queue name for a test. */
const char *rh_queue_name(const char *prefix);
#endif
