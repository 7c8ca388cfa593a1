/* SPDX-License-Identifier: MIT */
/* TLS for rediss:// connections: an OpenSSL client context built from the
 * URL's settings, and sessions that work on memory buffers (two memory BIOs)
 * so that the socket I/O stays on the connection's libuv stream (sock.c).
 * Failures are turned into messages that name the cause a user can act on:
 * the CA, the host name, an expired certificate, a missing client
 * certificate, a plaintext port. */
#include "core.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct saq__tls_ctx {
    SSL_CTX *ctx;
    int verify;       /* the server's certificate is checked */
    int check_host;   /* ... and must name the host */
    int has_cert;     /* a client certificate is configured */
    int own_ca;       /* trust comes from ssl_ca_certs / ssl_ca_path, not the system store:
                         1 ssl_ca_certs, 2 ssl_ca_path, 3 both */
};

struct saq__tls {
    SSL *ssl;
    BIO *in, *out; /* ciphertext from and to the server */
    const saq__tls_ctx_t *x;
    char *host;
    int established; /* the handshake completed */
};

/* The first queued OpenSSL error as text (and clear the queue). */
static void ssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_error();
    buf[0] = 0;
    if (e) {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, n, "%s", r);
        else
            ERR_error_string_n(e, buf, n);
    }
    ERR_clear_error();
    if (!buf[0])
        snprintf(buf, n, "unknown TLS error");
}

#define MAX_FILE_BYTES (16 << 20) /* more than any certificate, CA bundle or key */

/* Why the file (or, with `dir`, the directory) the `what` setting names
 * cannot be read, checked before OpenSSL opens it; NULL when it can. A FIFO
 * or a device is refused: opening or reading it could block or never end. */
static char *unreadable(const char *what, const char *path, int dir)
{
    char why[256] = "";
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, sizeof why, "%s", strerror(errno));
    } else if (dir) {
        if (!S_ISDIR(st.st_mode))
            snprintf(why, sizeof why, "it is not a directory");
        else if (access(path, R_OK | X_OK) != 0)
            snprintf(why, sizeof why, "%s", strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        snprintf(why, sizeof why, "it is a directory");
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "it is not a regular file");
    } else if (st.st_size > MAX_FILE_BYTES) {
        snprintf(why, sizeof why, "it is larger than %d MiB", MAX_FILE_BYTES >> 20);
    } else {
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            snprintf(why, sizeof why, "%s", strerror(errno));
        else
            close(fd);
    }
    return why[0] ? saq__sprintf("tls: cannot use %s '%s': %s", what, path, why) : NULL;
}

/* OpenSSL could read the file the `what` setting names but refused it: its
 * reason, then `hint`. */
static char *refused(const char *what, const char *path, const char *hint)
{
    char why[256];
    ssl_reason(why, sizeof why);
    return saq__sprintf("tls: cannot use %s '%s': %s%s", what, path, why, hint);
}

/* A key file with a passphrase is refused instead of prompting on a terminal. */
static int no_passphrase(char *buf, int size, int rw, void *ud)
{
    (void)buf, (void)size, (void)rw, (void)ud;
    return -1;
}

/* The system's trusted CAs: OpenSSL's default file and directory (or the
 * SSL_CERT_FILE / SSL_CERT_DIR it honours). When neither exists, as when
 * libsaq runs inside a process whose OpenSSL was built with another
 * OPENSSLDIR (Node.js's official builds bundle one), the bundle the
 * distribution keeps is loaded instead, the first found of the usual
 * places. Returns 0, or -1 with the reason on OpenSSL's error queue. */
static int system_trust(SSL_CTX *ctx)
{
    if (!SSL_CTX_set_default_verify_paths(ctx))
        return -1;
    const char *f = getenv(X509_get_default_cert_file_env());
    const char *d = getenv(X509_get_default_cert_dir_env());
    struct stat st;
    if (f || d || stat(X509_get_default_cert_file(), &st) == 0 ||
        stat(X509_get_default_cert_dir(), &st) == 0)
        return 0;
    static const char *const bundles[] = {
        "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine */
        "/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL */
        "/etc/ssl/ca-bundle.pem",             /* openSUSE */
        "/etc/ssl/cert.pem",                  /* Alpine, macOS */
    };
    for (size_t i = 0; i < sizeof bundles / sizeof bundles[0]; i++)
        if (stat(bundles[i], &st) == 0 && S_ISREG(st.st_mode))
            return SSL_CTX_load_verify_locations(ctx, bundles[i], NULL) ? 0 : -1;
    return 0; /* no store at all: the handshake will say the CA is not trusted */
}

int saq__tls_ctx_new(const saq__tls_opts_t *o, saq__tls_ctx_t **out, char **msg)
{
    *out = NULL;
    *msg = NULL;
    saq__tls_ctx_t *x = saq__calloc(1, sizeof *x);
    if (!x)
        return SAQ_ENOMEM;
    ERR_clear_error();
    x->ctx = SSL_CTX_new(TLS_client_method());
    if (!x->ctx) {
        free(x);
        return SAQ_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(x->ctx, TLS1_2_VERSION);
    /* idle connections give their buffers back: a worker holds three */
    SSL_CTX_set_mode(x->ctx, SSL_MODE_RELEASE_BUFFERS);
    /* no TLS 1.2 renegotiation (TLS 1.3 has none; Redis never asks): a
     * renegotiating server would make a write wait for a read */
    SSL_CTX_set_options(x->ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_default_passwd_cb(x->ctx, no_passphrase);
    x->verify = o->cert_reqs != SAQ__TLS_NONE;
    x->check_host = x->verify && o->check_hostname;
    SSL_CTX_set_verify(x->ctx, x->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    int rc = SAQ_ETLS;
    if (o->ca_certs || o->ca_path) {
        x->own_ca = (o->ca_certs ? 1 : 0) | (o->ca_path ? 2 : 0);
        if (o->ca_certs && ((*msg = unreadable("ssl_ca_certs", o->ca_certs, 0)) ||
                            !SSL_CTX_load_verify_locations(x->ctx, o->ca_certs, NULL))) {
            if (!*msg)
                *msg = refused("ssl_ca_certs", o->ca_certs, " (expected PEM certificates)");
            goto fail;
        }
        if (o->ca_path && ((*msg = unreadable("ssl_ca_path", o->ca_path, 1)) ||
                           !SSL_CTX_load_verify_locations(x->ctx, NULL, o->ca_path))) {
            if (!*msg)
                *msg = refused("ssl_ca_path", o->ca_path, "");
            goto fail;
        }
    } else if (x->verify && system_trust(x->ctx)) {
        char why[256];
        ssl_reason(why, sizeof why);
        *msg = saq__sprintf("tls: cannot load the system's trusted CAs: %s", why);
        goto fail;
    }
    if (o->keyfile && !o->certfile) {
        *msg = saq__sprintf("tls: ssl_keyfile is set without ssl_certfile (the client certificate)");
        goto fail;
    }
    if (o->certfile) {
        x->has_cert = 1;
        if ((*msg = unreadable("ssl_certfile", o->certfile, 0)) ||
            !SSL_CTX_use_certificate_chain_file(x->ctx, o->certfile)) {
            if (!*msg)
                *msg = refused("ssl_certfile", o->certfile, " (expected a PEM certificate)");
            goto fail;
        }
        const char *key = o->keyfile ? o->keyfile : o->certfile;
        const char *kwhat = o->keyfile ? "ssl_keyfile" : "ssl_certfile (for its key)";
        if ((*msg = unreadable(kwhat, key, 0)))
            goto fail;
        if (!SSL_CTX_use_PrivateKey_file(x->ctx, key, SSL_FILETYPE_PEM)) {
            if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
                ERR_clear_error();
                *msg = saq__sprintf("tls: the key in '%s' does not belong to the certificate in "
                                    "'%s'", key, o->certfile);
                goto fail;
            }
            int r = ERR_GET_REASON(ERR_peek_error());
            if (r == ERR_R_INTERRUPTED_OR_CANCELLED || r == PEM_R_BAD_PASSWORD_READ ||
                r == PEM_R_PROBLEMS_GETTING_PASSWORD) {
                ERR_clear_error();
                *msg = saq__sprintf("tls: the key in '%s' is encrypted (it has a passphrase): "
                                    "libsaq takes unencrypted keys only; decrypt it with `openssl "
                                    "pkey -in KEY -out PLAIN.key` and keep that file private",
                                    key);
            } else if (!o->keyfile) {
                ERR_clear_error();
                *msg = saq__sprintf("tls: '%s' holds no private key for its certificate: set "
                                    "ssl_keyfile to the key's file (or append the key to it)",
                                    key);
            } else {
                *msg = refused(kwhat, key, " (expected a PEM private key)");
            }
            goto fail;
        }
        if (!SSL_CTX_check_private_key(x->ctx)) {
            ERR_clear_error();
            *msg = saq__sprintf("tls: the key in '%s' does not belong to the certificate in '%s'",
                                key, o->certfile);
            goto fail;
        }
    }
    *out = x;
    return SAQ_OK;
fail:
    if (!*msg)
        rc = SAQ_ENOMEM;
    saq__tls_ctx_free(x);
    return rc;
}

void saq__tls_ctx_free(saq__tls_ctx_t *x)
{
    if (!x)
        return;
    SSL_CTX_free(x->ctx); /* sessions still open keep their own reference */
    free(x);
}

/* Is `h` an IPv4 or IPv6 literal? */
static int is_ip(const char *h)
{
    unsigned char b[16];
    return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

saq__tls_t *saq__tls_new(const saq__tls_ctx_t *x, const char *host)
{
    saq__tls_t *t = saq__calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->x = x;
    ERR_clear_error();
    if (host && !(t->host = saq__strdup(host)))
        goto fail;
    if (!(t->ssl = SSL_new(x->ctx)))
        goto fail;
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->in || !t->out) {
        BIO_free(t->in);
        BIO_free(t->out);
        t->in = t->out = NULL;
        goto fail;
    }
    /* an empty input buffer means "wait for more", not end of stream */
    BIO_set_mem_eof_return(t->in, -1);
    BIO_set_mem_eof_return(t->out, -1);
    SSL_set_bio(t->ssl, t->in, t->out);
    if (host && !is_ip(host) && !SSL_set_tlsext_host_name(t->ssl, host))
        goto fail;
    if (host && x->check_host) {
        int ok = is_ip(host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
                             : SSL_set1_host(t->ssl, host);
        if (!ok)
            goto fail;
    }
    SSL_set_connect_state(t->ssl);
    return t;
fail:
    ERR_clear_error();
    saq__tls_free(t);
    return NULL;
}

void saq__tls_free(saq__tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees the BIOs */
    free(t->host);
    free(t);
}

int saq__tls_feed(saq__tls_t *t, const char *p, size_t n)
{
    return BIO_write(t->in, p, (int)n) == (int)n ? SAQ_OK : SAQ_ENOMEM;
}

/* Why the server's certificate was refused, in words. */
static char *verify_error(const saq__tls_t *t, long vr)
{
    const char *trust =
        t->x->own_ca == 1   ? "is ssl_ca_certs the CA that signed it?"
        : t->x->own_ca == 2 ? "is the CA that signed it in ssl_ca_path, named by its hash "
                              "(openssl rehash DIR)?"
        : t->x->own_ca == 3 ? "is the CA that signed it in ssl_ca_certs or ssl_ca_path?"
                            : "no CA given, so the system's trusted CAs were used: set "
                              "ssl_ca_certs to the CA that signed it";
    switch (vr) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return saq__sprintf("the server's certificate does not name the host '%s' (hostname "
                            "mismatch; connect by a name the certificate has, or set "
                            "ssl_check_hostname=false)",
                            t->host ? t->host : "");
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return saq__sprintf("the server's certificate has expired");
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return saq__sprintf("the server's certificate is not valid yet (check the clocks)");
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return saq__sprintf("the server's certificate is not signed by a trusted CA (%s); %s",
                            X509_verify_cert_error_string(vr), trust);
    default:
        return saq__sprintf("the server's certificate was refused: %s",
                            X509_verify_cert_error_string(vr));
    }
}

/* Describe a failed SSL call (its SSL_get_error `se`). */
static char *failure(saq__tls_t *t, int se)
{
    long vr = SSL_get_verify_result(t->ssl);
    unsigned long e = ERR_peek_error();
    int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
    char why[256];
    if (lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK) {
        ERR_clear_error();
        return verify_error(t, vr);
    }
    if (se == SSL_ERROR_SYSCALL && !e)
        return saq__sprintf("the TLS stream ended unexpectedly");
    ssl_reason(why, sizeof why);
    if (lib != ERR_LIB_SSL)
        return saq__sprintf("TLS error: %s", why);
    switch (reason) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return saq__sprintf("the server requires a client certificate (set ssl_certfile and "
                            "ssl_keyfile)");
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        if (t->established) /* after the handshake: a refused renegotiation */
            return saq__sprintf("the server ended the TLS session after the handshake (%s): "
                                "%sit asked to renegotiate, which libsaq does not do (Redis "
                                "never asks; a proxy in between may)",
                                why, t->x->has_cert ? "" : "it may require a client certificate "
                                                           "(set ssl_certfile and ssl_keyfile), or ");
        /* fall through */
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        if (!t->x->has_cert)
            return saq__sprintf("the server refused the handshake (%s); it may require a client "
                                "certificate (set ssl_certfile and ssl_keyfile)",
                                why);
        return saq__sprintf("the server refused the client certificate (%s)", why);
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_UNEXPECTED_RECORD:
        return saq__sprintf("the server did not answer in TLS (%s): is this a plaintext port? "
                            "use redis:// for it",
                            why);
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        return saq__sprintf("the server does not offer TLS 1.2 or newer (%s)", why);
    default:
        return saq__sprintf("TLS error: %s", why);
    }
}

int saq__tls_handshake(saq__tls_t *t, char **msg)
{
    *msg = NULL;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->established = 1;
        return 1;
    }
    int se = SSL_get_error(t->ssl, r);
    if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
        return 0;
    *msg = failure(t, se);
    return SAQ_ETLS;
}

long saq__tls_read(saq__tls_t *t, char *buf, size_t cap, char **msg)
{
    *msg = NULL;
    ERR_clear_error();
    int r = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0)
        return r;
    int se = SSL_get_error(t->ssl, r);
    if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
        return 0;
    if (se == SSL_ERROR_ZERO_RETURN) {
        *msg = saq__sprintf("the server closed the TLS session");
        return SAQ_ECONN;
    }
    *msg = failure(t, se);
    return SAQ_ETLS;
}

int saq__tls_write(saq__tls_t *t, const char *p, size_t n, char **msg)
{
    *msg = NULL;
    while (n) {
        ERR_clear_error();
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int r = SSL_write(t->ssl, p, chunk);
        if (r <= 0) { /* memory BIOs never ask to retry a write */
            *msg = failure(t, SSL_get_error(t->ssl, r));
            return SAQ_ETLS;
        }
        p += r;
        n -= (size_t)r;
    }
    return SAQ_OK;
}

size_t saq__tls_pending(const saq__tls_t *t) { return (size_t)BIO_ctrl_pending(t->out); }

int saq__tls_has_input(const saq__tls_t *t)
{
    return SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->in) > 0;
}

size_t saq__tls_take(saq__tls_t *t, char *buf, size_t cap)
{
    int r = BIO_read(t->out, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    return r > 0 ? (size_t)r : 0;
}

void saq__tls_thread_end(void) { OPENSSL_thread_stop(); }

int saq__tls_record_like(const char *p, size_t n)
{
    return n >= 3 && (p[0] == 0x15 || p[0] == 0x16) && p[1] == 0x03 && p[2] <= 0x04;
}
