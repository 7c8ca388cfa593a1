/* SPDX-License-Identifier: MIT */
/* Redis URL parsing (redis-py's from_url subset). Pure logic. Internal. */
#ifndef SAQ_URL_H
#define SAQ_URL_H
#include <stddef.h>

/* TLS settings of a rediss:// URL (or of the tls.* conf keys). */
enum { SAQ__TLS_REQUIRED = 0, SAQ__TLS_OPTIONAL = 1, SAQ__TLS_NONE = 2 };
typedef struct saq__tls_opts {
    int enabled;        /* 1: connect with TLS (rediss://) */
    int cert_reqs;      /* SAQ__TLS_REQUIRED (default), SAQ__TLS_OPTIONAL, SAQ__TLS_NONE.
                         * OPTIONAL means what it means to Python's ssl module in a client:
                         * the same as REQUIRED (a server always sends its certificate, and
                         * one that fails verification ends the handshake). NONE: the
                         * certificate is not verified at all (encryption without
                         * authentication). */
    int check_hostname; /* 1: the server certificate must name the host (its DNS name, or
                         * its IP address for an IP host). Resolved: the asked value
                         * (want_check_hostname), forced to 0 when cert_reqs is NONE, as
                         * redis-py 6.4's SSLConnection does. */
    int want_check_hostname; /* as asked by ssl_check_hostname or tls.check_hostname
                              * (default 1), before cert_reqs=none turns it off; kept so a
                              * tls.cert_reqs conf key can resolve check_hostname again */
    char *ca_certs;     /* malloc'd PEM file path of trusted CAs, or NULL (system trust store) */
    char *ca_path;      /* malloc'd directory of hashed CA certificates, or NULL */
    char *certfile;     /* malloc'd client certificate (chain) PEM path, or NULL */
    char *keyfile;      /* malloc'd client private key PEM path, or NULL (then taken from certfile) */
} saq__tls_opts_t;

/* Where the data lives: one server (redis://, rediss://, unix://), a master
 * found through Redis Sentinel, or a Redis Cluster. */
enum { SAQ__TOPO_SINGLE = 0, SAQ__TOPO_SENTINEL = 1, SAQ__TOPO_CLUSTER = 2 };
#define SAQ__MAX_SEEDS 16
typedef struct saq__hostport {
    char *host; /* malloc'd host name or IP (without brackets) */
    int port;
} saq__hostport_t;

typedef struct saq__url {
    int topo;        /* SAQ__TOPO_* */
    saq__hostport_t *seeds; /* SENTINEL: the sentinels; CLUSTER: the nodes to ask first.
                             * malloc'd array of nseeds (1..SAQ__MAX_SEEDS); NULL for SINGLE */
    int nseeds;
    char *master_name;       /* SENTINEL: the monitored master's name (malloc'd, decoded) */
    char *sentinel_username; /* SENTINEL: the sentinels' own credentials (malloc'd) or NULL; */
    char *sentinel_password; /* username/password of the url are the data nodes' */
    char *host;      /* malloc'd; NULL for unix sockets; the first seed's for SENTINEL/CLUSTER */
    int port;        /* default 6379 (also for rediss://) */
    char *path;      /* malloc'd unix socket path, or NULL for TCP */
    char *username;  /* malloc'd, percent-decoded, or NULL */
    char *password;  /* malloc'd, percent-decoded, or NULL */
    int db;          /* default 0 */
    saq__tls_opts_t tls; /* enabled only for rediss://; all zero/NULL but the defaults
                          * (cert_reqs REQUIRED, check_hostname 1) otherwise */
} saq__url_t;

/* Parse `url`. Returns 0, or -1 with a one-line reason in err. Accepted:
 *   redis://[[username]:password@]host[:port][/db][?db=N]
 *   rediss://... (the same, with TLS; the ssl_* parameters below)
 *   unix://[[username]:password@]/absolute/path.sock[?db=N]
 *   redis+sentinel://[[username]:password@]h1[:p1],h2[:p2].../master-name[/db][?db=N]
 *       (also sentinel://; rediss+sentinel:// with TLS to the sentinels and the
 *       data nodes): ports default to 26379; the master name is required and
 *       percent-decoded; query sentinel_username= and sentinel_password= are
 *       the sentinels' own credentials (decoded as the ssl_* values)
 *   redis+cluster://[[username]:password@]h1[:p1],h2[:p2]...[/0]
 *       (also cluster://; rediss+cluster:// with TLS): ports default to 6379;
 *       only db 0 (Redis Cluster has no other)
 * At most SAQ__MAX_SEEDS hosts; each as the host of redis:// (name, IPv4 or [IPv6]).
 * host may be a name, IPv4, or [IPv6]; port 1-65535; db 0-2147483647 (from
 * the path "/N" or the query "db=N"; a path that is not a number is an error);
 * userinfo and path are percent-decoded; an empty host means localhost.
 * Query parameters of rediss:// as redis-py 6.4 reads them (parse_qs, then
 * unquote): the query splits at '&', a parameter without '=' or with an empty
 * value is skipped, names are decoded once and values twice ('+' is a space in
 * the first pass; an invalid escape stays as it is), the first occurrence of a
 * name counts:
 *   ssl_cert_reqs       none | optional | required (lower case only, as
 *                       redis-py; default required); anything else is refused
 *   ssl_check_hostname  1/t/true/y/yes/on or 0/f/false/n/no, any case (redis-py's
 *                       to_bool; default true); other words are refused, since
 *                       redis-py reads them (e.g. "off") as true
 *   ssl_ca_certs, ssl_ca_path, ssl_certfile, ssl_keyfile   file paths, copied
 *                       as decoded (a decoded NUL byte is refused); not opened here
 * Any other parameter named ssl or ssl_* is refused (redis-py would apply it,
 * libsaq cannot), and so is any ssl/ssl_* parameter on redis:// or unix://
 * (redis-py fails those with a TypeError: only its SSLConnection takes them).
 * Other unknown query parameters are ignored. Any other scheme, a missing
 * scheme, embedded NUL/control characters, or values out of range are errors.
 * Messages never contain the URL or a value from it. On error `out` holds
 * nothing to free. */
int saq__url_parse(const char *url, saq__url_t *out, char *err, size_t errlen);

/* SAQ__TLS_* of a cert_reqs word ("none", "optional", "required", lower case
 * as redis-py), or -1 for anything else (NULL included). */
int saq__tls_cert_reqs(const char *word);

/* The word of a SAQ__TLS_* value ("required" for anything unknown). Static string. */
const char *saq__tls_cert_reqs_name(int cert_reqs);

/* Free the strings of a parsed URL, TLS paths included, and reset them to NULL
 * (safe on a zeroed struct, and twice). */
void saq__url_free(saq__url_t *u);

#endif
