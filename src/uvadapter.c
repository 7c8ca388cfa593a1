/* SPDX-License-Identifier: MIT */
/* hiredis <-> libuv glue. hiredis 0.14's adapters/libuv.h drops poll errors
 * (`if (status != 0) return;`), so a refused connect or a reset socket is only
 * noticed when a timeout fires, and it leaks its state when uv_poll_init
 * fails. This adapter hands errors to hiredis as read/write readiness, so
 * hiredis itself reads the socket error (ECONNREFUSED, ECONNRESET) at once. */
#include "core.h"

typedef struct uvev {
    redisAsyncContext *ac;
    uv_poll_t handle;
    int events;
} uvev_t;

static void on_poll(uv_poll_t *h, int status, int events)
{
    uvev_t *p = h->data;
    if (status < 0) /* let hiredis discover the socket error itself */
        events = p->events ? p->events : UV_READABLE;
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void update(uvev_t *p, int add, int ev)
{
    int events = add ? p->events | ev : p->events & ~ev;
    /* hiredis asks for write (and read) interest on every command and after
     * every write; libuv's uv_poll_start removes the fd from epoll and adds
     * it back each time, so only call it when the interest really changes */
    if (events == p->events && uv_is_active((uv_handle_t *)&p->handle) == (events != 0))
        return;
    p->events = events;
    if (p->events)
        uv_poll_start(&p->handle, p->events, on_poll);
    else
        uv_poll_stop(&p->handle);
}

static void add_read(void *d) { update(d, 1, UV_READABLE); }
static void del_read(void *d) { update(d, 0, UV_READABLE); }
static void add_write(void *d) { update(d, 1, UV_WRITABLE); }
static void del_write(void *d) { update(d, 0, UV_WRITABLE); }
static void on_closed(uv_handle_t *h) { free(h->data); }

static void cleanup(void *d)
{
    uvev_t *p = d;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->handle, on_closed);
}

int saq__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data)
        return REDIS_ERR;
    uvev_t *p = saq__calloc(1, sizeof *p);
    if (!p)
        return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->ac = ac;
    p->handle.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}
