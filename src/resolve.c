/* SPDX-License-Identifier: MIT */
/* Host names to addresses: uv_getaddrinfo, which runs the blocking
 * getaddrinfo on libuv's thread pool, off the loop thread. A lookup can be
 * cancelled at any time: its callback is then never called, and the memory
 * goes when the pool's answer comes in. See core.h. */
#include "core.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

struct saq__lookup {
    uv_getaddrinfo_t req;
    saq__lookup_fn cb; /* NULL once cancelled */
    void *data;
};

static void looked_up(uv_getaddrinfo_t *r, int status, struct addrinfo *res)
{
    saq__lookup_t *l = (saq__lookup_t *)r;
    saq__addrs_t a = {.n = 0};
    /* every address, IPv4 first: a failed connect tries the next one */
    for (int pass = 0; pass < 2 && !status; pass++) {
        for (struct addrinfo *ai = res; ai && a.n < SAQ__MAX_ADDRS; ai = ai->ai_next) {
            if ((ai->ai_family == AF_INET) != (pass == 0) ||
                (ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
                continue;
            const void *p = ai->ai_family == AF_INET6
                                ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
            if (inet_ntop(ai->ai_family, p, a.a[a.n], sizeof a.a[0]))
                a.n++;
        }
    }
    uv_freeaddrinfo(res);
    if (l->cb && status != UV_ECANCELED)
        l->cb(l->data, status, &a);
    free(l);
}

saq__lookup_t *saq__lookup_start(uv_loop_t *loop, const char *host, int port, saq__lookup_fn cb,
                                 void *data, int *err)
{
    saq__lookup_t *l = saq__calloc(1, sizeof *l);
    if (!l) {
        *err = UV_ENOMEM;
        return NULL;
    }
    l->cb = cb;
    l->data = data;
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if ((*err = uv_getaddrinfo(loop, &l->req, looked_up, host, p, &hints))) {
        free(l);
        return NULL;
    }
    return l;
}

void saq__lookup_cancel(saq__lookup_t *l)
{
    if (l)
        l->cb = NULL;
}
