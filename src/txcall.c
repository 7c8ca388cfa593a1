/* SPDX-License-Identifier: MIT */
/* A script call's arguments (transition.h, section txcall.c): the KEYS and
 * ARGV a builder of transition.c lays out, kept inline up to
 * SAQ__TX_INLINE and on the heap beyond, with the strings the call owns;
 * sending it as EVALSHA on the queue's command connection; and splitting a
 * batched call's reply into its items' own. */
#include "core.h"

void saq__call_init(saq__call_t *c, int script, int nkeys)
{
    c->script = script;
    c->nkeys = nkeys;
    c->argc = 0;
    c->oom = 0;
    c->argv = c->av;
    c->len = c->al;
    c->cap = SAQ__TX_INLINE;
    c->nnum = 0;
    c->own[0] = c->own[1] = NULL;
    c->more = NULL;
    c->nmore = 0;
}

/* Make room for n more arguments (beyond the inline arrays: on the heap). */
int saq__call_reserve(saq__call_t *c, int n)
{
    if (c->argc + n <= c->cap)
        return 0;
    int cap = c->argc + n;
    const char **av = saq__malloc((size_t)cap * sizeof *av);
    size_t *al = saq__malloc((size_t)cap * sizeof *al);
    if (!av || !al) {
        free(av);
        free(al);
        c->oom = 1;
        return -1;
    }
    memcpy(av, c->argv, (size_t)c->argc * sizeof *av);
    memcpy(al, c->len, (size_t)c->argc * sizeof *al);
    if (c->argv != c->av) {
        free(c->argv);
        free(c->len);
    }
    c->argv = av;
    c->len = al;
    c->cap = cap;
    return 0;
}

/* Append bytes s[0 .. n) (s NULL: out of memory upstream, sent as ''). */
void saq__call_putn(saq__call_t *c, const char *s, size_t n)
{
    if (saq__call_reserve(c, 1))
        return;
    if (!s) {
        c->oom = 1;
        s = "", n = 0;
    }
    c->argv[c->argc] = s;
    c->len[c->argc++] = n;
}

void saq__call_put(saq__call_t *c, const char *s) { saq__call_putn(c, s, s ? strlen(s) : 0); }

void saq__call_flag(saq__call_t *c, int on) { saq__call_putn(c, on ? "1" : "0", 1); }

/* Room for one number: the call's inline storage, or beyond its
 * SAQ__TX_NUMS slots a heap buffer the call owns (NULL: out of memory). */
static char *num_slot(saq__call_t *c, int *heap)
{
    *heap = c->nnum >= SAQ__TX_NUMS;
    return *heap ? saq__malloc(sizeof c->num[0]) : c->num[c->nnum++];
}

static void put_num(saq__call_t *c, char *b, int heap)
{
    if (heap)
        saq__call_own(c, b);
    else
        saq__call_put(c, b);
}

/* A number formatted into the call's own storage. */
void saq__call_fmt(saq__call_t *c, const char *fmt, ...)
{
    int heap;
    char *b = num_slot(c, &heap);
    if (b) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b, sizeof c->num[0], fmt, ap);
        va_end(ap);
    }
    put_num(c, b, heap);
}

/* A score: epoch seconds as saq writes them, or exactly "0" (due now). */
void saq__call_score(saq__call_t *c, double score)
{
    int heap;
    char *b = num_slot(c, &heap);
    if (b && score > 0)
        saq__fmt_double(b, score);
    else if (b)
        strcpy(b, "0"); /* saq's push-now test compares the text */
    put_num(c, b, heap);
}

/* A string the call allocated (freed with the call). */
void saq__call_own(saq__call_t *c, char *s)
{
    int kept = 0;
    for (int i = 0; i < 2 && !kept; i++)
        if (!c->own[i])
            c->own[i] = s, kept = 1;
    if (!kept && s) {
        char **m = saq__realloc(c->more, (size_t)(c->nmore + 1) * sizeof *m);
        if (m) {
            c->more = m;
            m[c->nmore++] = s;
        } else {
            free(s);
            s = NULL; /* sent as out of memory */
        }
    }
    saq__call_put(c, s);
}

void saq__tx_call_free(saq__call_t *c)
{
    for (int i = 0; i < 2; i++) {
        free(c->own[i]);
        c->own[i] = NULL;
    }
    for (int i = 0; i < c->nmore; i++)
        free(c->more[i]);
    free(c->more);
    c->more = NULL;
    c->nmore = 0;
    if (c->argv != c->av) {
        free(c->argv);
        free(c->len);
        c->argv = c->av;
        c->len = c->al;
    }
}

saq__req_t *saq__tx_send(saq_queue_t *q, saq__call_t *c, saq__reply_fn cb, void *data)
{
    saq__req_t *r = c->oom ? NULL
                           : saq__eval(&q->cmd, c->script, cb, data, c->nkeys, c->argc, c->argv, c->len);
    saq__tx_call_free(c);
    return r;
}

saq__req_t *saq__tx_send_op(saq__op_t *op, saq__call_t *c, saq__op_reply_fn cb, intptr_t idata)
{
    saq__req_t *r = NULL;
    if (c->oom)
        saq__op_fail(op, SAQ_ENOMEM, "out of memory");
    else
        r = saq__op_eval(op, c->script, cb, idata, c->nkeys, c->argc, c->argv, c->len);
    saq__tx_call_free(c);
    return r;
}

saq__tx_item_t saq__tx_item(redisReply *r, int err, const char *msg, size_t n, size_t i, const char *what)
{
    if (err)
        return (saq__tx_item_t){NULL, err, msg};
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != n || i >= n)
        return (saq__tx_item_t){NULL, SAQ_EPROTO, what};
    redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_ERROR) /* as the error reply of the item's own script */
        return (saq__tx_item_t){NULL, SAQ_EREDIS, e->str};
    return (saq__tx_item_t){e, 0, NULL};
}
