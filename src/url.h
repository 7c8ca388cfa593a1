/* SPDX-License-Identifier: MIT */
/* Redis URL parsing (redis-py's from_url subset). Pure logic. Internal. */
#ifndef SAQ_URL_H
#define SAQ_URL_H
#include <stddef.h>

/* TLS settings of a rediss:// URL (or of the tls.* conf keys). */
enum { SAQ__TLS_REQUIRED = 0, SAQ__TLS_OPTIONAL = 1, SAQ__TLS_NONE = 2 };
typedef struct saq__tls_opts {
    int enabled;        /* 1: connect with TLS (rediss://) */
    int cert_reqs;      /* SAQ__TLS_REQUIRED (default), SAQ__TLS_OPTIONAL, SAQ__TLS_NONE */
    int check_hostname; /* 1: the server certificate must name the host (resolved default, see below) */
    char *ca_certs;     /* malloc'd PEM file path of trusted CAs, or NULL (system trust store) */
    char *ca_path;      /* malloc'd directory of hashed CA certificates, or NULL */
    char *certfile;     /* malloc'd client certificate (chain) PEM path, or NULL */
    char *keyfile;      /* malloc'd client private key PEM path, or NULL (then taken from certfile) */
} saq__tls_opts_t;

typedef struct saq__url {
    char *host;      /* malloc'd; NULL for unix sockets */
    int port;        /* default 6379 */
    char *path;      /* malloc'd unix socket path, or NULL for TCP */
    char *username;  /* malloc'd, percent-decoded, or NULL */
    char *password;  /* malloc'd, percent-decoded, or NULL */
    int db;          /* default 0 */
    saq__tls_opts_t tls;
} saq__url_t;

/* Parse `url`. Returns 0, or -1 with a one-line reason in err. Accepted:
 *   redis://[[username]:password@]host[:port][/db][?db=N]
 *   unix://[[username]:password@]/absolute/path.sock[?db=N]
 * host may be a name, IPv4, or [IPv6]; port 1-65535; db 0-2147483647 (from
 * the path "/N" or the query "db=N"; a path that is not a number is an error);
 * userinfo and path are percent-decoded; an empty host means localhost;
 * unknown query parameters are ignored. rediss:// is refused with a message
 * that TLS is not supported; any other scheme, a missing scheme, embedded
 * NUL/control characters, or values out of range are errors. On error `out`
 * holds nothing to free. */
int saq__url_parse(const char *url, saq__url_t *out, char *err, size_t errlen);

/* Free the strings of a parsed URL (safe on a zeroed struct). */
void saq__url_free(saq__url_t *u);

#endif
