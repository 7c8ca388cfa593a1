/* SPDX-License-Identifier: MIT */
/* A byte stream to Redis on the queue's loop: a TCP or unix socket as a libuv
 * stream, with TLS (tls.c) between it and the connection when asked. Output
 * is buffered and written once per loop turn, just before the loop waits for
 * I/O (a prepare handle): every command submitted in that turn goes out in
 * one write, usually without waiting (uv_try_write). */
#include "core.h"

#define RBUF_SIZE (64 * 1024)
#define KEEP_BUF (256 * 1024) /* larger idle buffers are given back */

struct saq__sock {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_prepare_t prep;
    uv_connect_t creq;
    uv_write_t wreq;
    const saq__sock_cb_t *cb;
    void *ud;
    saq__tls_t *tls;
    int connected; /* the socket is connected (the TLS handshake may still run) */
    int open;     /* connected, and the TLS handshake is done */
    int closed;   /* no more callbacks; the handles are closing */
    int writing;  /* wreq in flight: wire[0..wlen) is lent to libuv */
    int handles;  /* handles initialised and not yet closed */
    int tcp;
    char *out;    /* plaintext not yet handed to the socket (or to TLS) */
    size_t olen, ocap;
    char *wire;   /* bytes for the socket */
    size_t wlen, wcap;
    char *rbuf;
};

static void handle_closed(uv_handle_t *h)
{
    saq__sock_t *s = h->data;
    if (--s->handles > 0)
        return;
    saq__tls_free(s->tls);
    free(s->out);
    free(s->wire);
    free(s->rbuf);
    free(s);
}

void saq__sock_close(saq__sock_t *s)
{
    if (!s || s->closed)
        return;
    s->closed = 1;
    s->ud = NULL;
    uv_close(&s->h.handle, handle_closed);
    uv_close((uv_handle_t *)&s->prep, handle_closed);
}

/* The stream failed: tell the owner once, then close. */
static void sock_fail(saq__sock_t *s, int err, const char *msg)
{
    if (s->closed)
        return;
    void *ud = s->ud;
    const saq__sock_cb_t *cb = s->cb;
    saq__sock_close(s);
    cb->on_error(ud, err, msg);
}

/* Make room for `more` bytes after *len in *buf (capacity *cap). */
static int reserve(char **buf, size_t *len, size_t *cap, size_t more)
{
    if (*cap - *len >= more)
        return 0;
    size_t want = *cap ? *cap : 4096;
    while (want - *len < more)
        want *= 2;
    char *n = saq__realloc(*buf, want);
    if (!n)
        return -1;
    *buf = n;
    *cap = want;
    return 0;
}

static void on_written(uv_write_t *req, int status);

static void flush(saq__sock_t *s)
{
    if (s->closed || s->writing)
        return;
    if (s->tls) {
        if (s->open && s->olen) {
            char *msg;
            int e = saq__tls_write(s->tls, s->out, s->olen, &msg);
            s->olen = 0;
            if (e) {
                sock_fail(s, e, msg ? msg : "TLS error");
                free(msg);
                return;
            }
        }
        size_t p = saq__tls_pending(s->tls);
        if (p) {
            if (reserve(&s->wire, &s->wlen, &s->wcap, p)) {
                sock_fail(s, SAQ_ENOMEM, "out of memory");
                return;
            }
            s->wlen += saq__tls_take(s->tls, s->wire + s->wlen, p);
        }
    } else if (s->olen) {
        if (!s->wlen) { /* the usual case: hand the buffer over, no copy */
            char *t = s->wire;
            size_t tc = s->wcap;
            s->wire = s->out, s->wcap = s->ocap, s->wlen = s->olen;
            s->out = t, s->ocap = tc, s->olen = 0;
        } else {
            if (reserve(&s->wire, &s->wlen, &s->wcap, s->olen)) {
                sock_fail(s, SAQ_ENOMEM, "out of memory");
                return;
            }
            memcpy(s->wire + s->wlen, s->out, s->olen);
            s->wlen += s->olen;
            s->olen = 0;
        }
    }
    if (s->ocap > KEEP_BUF && !s->olen) {
        free(s->out);
        s->out = NULL;
        s->ocap = 0;
    }
    if (!s->wlen)
        return;
    uv_buf_t b = uv_buf_init(s->wire, (unsigned)s->wlen);
    int n = uv_try_write(&s->h.stream, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0) {
        char m[160];
        snprintf(m, sizeof m, "write failed: %s", uv_strerror(n));
        sock_fail(s, SAQ_ECONN, m);
        return;
    }
    if ((size_t)n == s->wlen) {
        s->wlen = 0;
        if (s->wcap > KEEP_BUF) {
            free(s->wire);
            s->wire = NULL;
            s->wcap = 0;
        }
        return;
    }
    memmove(s->wire, s->wire + n, s->wlen - (size_t)n);
    s->wlen -= (size_t)n;
    b = uv_buf_init(s->wire, (unsigned)s->wlen);
    s->writing = 1;
    int e = uv_write(&s->wreq, &s->h.stream, &b, 1, on_written);
    if (e) {
        s->writing = 0;
        char m[160];
        snprintf(m, sizeof m, "write failed: %s", uv_strerror(e));
        sock_fail(s, SAQ_ECONN, m);
    }
}

static void on_written(uv_write_t *req, int status)
{
    saq__sock_t *s = saq__container_of(req, saq__sock_t, wreq);
    s->writing = 0;
    if (s->closed)
        return;
    if (status < 0) {
        char m[160];
        snprintf(m, sizeof m, "write failed: %s", uv_strerror(status));
        sock_fail(s, SAQ_ECONN, m);
        return;
    }
    s->wlen = 0;
    flush(s);
}

static void on_prepare(uv_prepare_t *p)
{
    saq__sock_t *s = p->data;
    uv_prepare_stop(p);
    flush(s);
}

/* Write before the loop next waits for I/O. */
static void arm(saq__sock_t *s)
{
    if (!s->closed && !uv_is_active((uv_handle_t *)&s->prep))
        uv_prepare_start(&s->prep, on_prepare);
}

int saq__sock_connected(const saq__sock_t *s) { return s->connected; }

int saq__sock_write(saq__sock_t *s, const char *p, size_t n)
{
    if (s->closed)
        return SAQ_ECONN;
    if (reserve(&s->out, &s->olen, &s->ocap, n))
        return SAQ_ENOMEM;
    memcpy(s->out + s->olen, p, n);
    s->olen += n;
    arm(s);
    return SAQ_OK;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    saq__sock_t *s = h->data;
    (void)suggested;
    if (!s->rbuf)
        s->rbuf = saq__malloc(RBUF_SIZE);
    *buf = uv_buf_init(s->rbuf, s->rbuf ? RBUF_SIZE : 0);
}

/* The stream is usable: tell the owner. */
static void opened(saq__sock_t *s)
{
    s->open = 1;
    s->cb->on_open(s->ud);
}

/* TLS: take ciphertext in, advance the handshake, hand out plaintext. */
static void tls_input(saq__sock_t *s, const char *p, size_t n)
{
    char *msg = NULL;
    if (saq__tls_feed(s->tls, p, n)) {
        sock_fail(s, SAQ_ENOMEM, "out of memory");
        return;
    }
    if (!s->open) {
        int r = saq__tls_handshake(s->tls, &msg);
        arm(s);
        if (r < 0) {
            sock_fail(s, r, msg ? msg : "TLS handshake failed");
            free(msg);
            return;
        }
        if (r == 0)
            return;
        opened(s);
        if (s->closed)
            return;
    }
    for (;;) { /* the ciphertext was copied: rbuf takes the plaintext */
        long got = saq__tls_read(s->tls, s->rbuf, RBUF_SIZE, &msg);
        if (got < 0) {
            sock_fail(s, (int)got, msg ? msg : "TLS error");
            free(msg);
            return;
        }
        if (got == 0)
            break;
        s->cb->on_data(s->ud, s->rbuf, (size_t)got);
        if (s->closed)
            return;
        if (!saq__tls_has_input(s->tls))
            break;
    }
    if (saq__tls_pending(s->tls))
        arm(s);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    saq__sock_t *s = st->data;
    (void)buf;
    if (s->closed || nread == 0)
        return;
    if (nread == UV_ENOBUFS) {
        sock_fail(s, SAQ_ENOMEM, "out of memory");
        return;
    }
    if (nread < 0) {
        char m[200];
        if (s->tls && !s->open)
            snprintf(m, sizeof m, "the server closed the connection during the TLS handshake (%s): "
                                  "a plaintext port, or a server that refused this client",
                     nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
        else
            snprintf(m, sizeof m, "%s", nread == UV_EOF ? "closed by the server" : uv_strerror((int)nread));
        sock_fail(s, s->tls && !s->open ? SAQ_ETLS : SAQ_ECONN, m);
        return;
    }
    if (s->tls)
        tls_input(s, s->rbuf, (size_t)nread);
    else
        s->cb->on_data(s->ud, s->rbuf, (size_t)nread);
}

static void on_connect(uv_connect_t *req, int status)
{
    saq__sock_t *s = saq__container_of(req, saq__sock_t, creq);
    if (s->closed)
        return;
    if (status < 0) {
        sock_fail(s, SAQ_ECONN, uv_strerror(status));
        return;
    }
    s->connected = 1;
    if (s->tcp) {
        uv_tcp_nodelay(&s->h.tcp, 1);
        uv_tcp_keepalive(&s->h.tcp, 1, 15);
    }
    int e = uv_read_start(&s->h.stream, on_alloc, on_read);
    if (e) {
        sock_fail(s, SAQ_ECONN, uv_strerror(e));
        return;
    }
    if (!s->tls) {
        opened(s);
        return;
    }
    char *msg = NULL;
    int r = saq__tls_handshake(s->tls, &msg); /* the ClientHello */
    if (r < 0) {
        sock_fail(s, r, msg ? msg : "TLS handshake failed");
        free(msg);
        return;
    }
    arm(s);
}

saq__sock_t *saq__sock_open(uv_loop_t *loop, const char *addr, int port, const saq__tls_ctx_t *tls,
                            const char *host, const saq__sock_cb_t *cb, void *ud, int *err,
                            char **msg)
{
    *msg = NULL;
    *err = SAQ_ENOMEM;
    saq__sock_t *s = saq__calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cb = cb;
    s->ud = ud;
    if (tls && !(s->tls = saq__tls_new(tls, host))) {
        free(s);
        return NULL;
    }
    int e;
    if (port) {
        struct sockaddr_storage sa;
        e = strchr(addr, ':') ? uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&sa)
                              : uv_ip4_addr(addr, port, (struct sockaddr_in *)&sa);
        if (e) {
            saq__tls_free(s->tls);
            free(s);
            *err = SAQ_ECONN;
            *msg = saq__sprintf("bad address %s: %s", addr, uv_strerror(e));
            return NULL;
        }
        s->tcp = 1;
        uv_tcp_init(loop, &s->h.tcp);
        s->h.handle.data = s;
        e = uv_tcp_connect(&s->creq, &s->h.tcp, (const struct sockaddr *)&sa, on_connect);
    } else {
        uv_pipe_init(loop, &s->h.pipe, 0);
        s->h.handle.data = s;
        uv_pipe_connect(&s->creq, &s->h.pipe, addr, on_connect); /* errors come to on_connect */
        e = 0;
    }
    uv_prepare_init(loop, &s->prep);
    s->prep.data = s;
    s->handles = 2;
    if (e) {
        *err = SAQ_ECONN;
        *msg = saq__sprintf("%s", uv_strerror(e));
        saq__sock_close(s);
        return NULL;
    }
    return s;
}
