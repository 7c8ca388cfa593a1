/* SPDX-License-Identifier: MIT */
/* Requests in RESP, the bytes a command is sent as, and what an error reply
 * means for the request: see core.h. */
#include "core.h"

#include <stdio.h>
#include <string.h>

/* Decimal digits of n written at p; returns the count. */
static size_t put_uint(char *p, size_t n)
{
    char t[24];
    size_t k = 0;
    do
        t[k++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    for (size_t i = 0; i < k; i++)
        p[i] = t[k - 1 - i];
    return k;
}

/* The RESP request hiredis's redisFormatCommandArgv builds (same bytes, a
 * malloc'd buffer released by redisFreeCommand), without its sprintf per
 * argument, which showed in the I/O thread's profile. */
int saq__resp_cmd(saq__req_t *r, int argc, const char **argv, const size_t *argvlen)
{
    size_t total = 1 + 20 + 2;
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        total += 1 + 20 + 2 + len + 2;
    }
    char *cmd = saq__malloc(total + 1);
    if (!cmd)
        return -1;
    size_t pos = 0;
    cmd[pos++] = '*';
    pos += put_uint(cmd + pos, (size_t)argc);
    cmd[pos++] = '\r';
    cmd[pos++] = '\n';
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        cmd[pos++] = '$';
        pos += put_uint(cmd + pos, len);
        cmd[pos++] = '\r';
        cmd[pos++] = '\n';
        memcpy(cmd + pos, argv[i], len);
        pos += len;
        cmd[pos++] = '\r';
        cmd[pos++] = '\n';
    }
    cmd[pos] = 0;
    r->cmd = cmd;
    r->cmdlen = pos;
    return 0;
}

/* Build EVALSHA (or EVAL when `text`) for a script request. */
int saq__resp_eval(saq_queue_t *q, saq__req_t *r, int use_text)
{
    int argc = r->argc + 3;
    const char **av = saq__malloc((size_t)argc * sizeof *av);
    size_t *al = saq__malloc((size_t)argc * sizeof *al);
    char nk[16];
    int rc = -1;
    if (!av || !al)
        goto out;
    int nkeys = r->nkeys;
    snprintf(nk, sizeof nk, "%d", nkeys);
    const char *body = use_text ? saq__script_text[r->script] : q->sha[r->script];
    av[0] = use_text ? "EVAL" : "EVALSHA";
    al[0] = strlen(av[0]);
    av[1] = body;
    al[1] = strlen(body);
    av[2] = nk;
    al[2] = strlen(nk);
    for (int i = 0; i < r->argc; i++) {
        av[3 + i] = r->argv[i];
        al[3 + i] = r->argvlen[i];
    }
    if (r->cmd) {
        redisFreeCommand(r->cmd);
        r->cmd = NULL;
    }
    rc = saq__resp_cmd(r, argc, av, al);
out:
    free(av);
    free(al);
    return rc;
}

int saq__resp_error_kind(const char *s)
{
    static const struct {
        const char *word;
        int kind;
    } words[] = {
        {"LOADING ", SAQ__RESP_TRANSIENT | SAQ__RESP_ROUTING},
        {"BUSY ", SAQ__RESP_TRANSIENT},
        {"MASTERDOWN ", SAQ__RESP_TRANSIENT | SAQ__RESP_ROUTING},
        {"TRYAGAIN ", SAQ__RESP_TRANSIENT | SAQ__RESP_ROUTING},
        {"MOVED ", SAQ__RESP_ROUTING},
        {"ASK ", SAQ__RESP_ROUTING},
        {"READONLY ", SAQ__RESP_ROUTING},
        {"UNBLOCKED ", SAQ__RESP_ROUTING},
        {"CLUSTERDOWN ", SAQ__RESP_ROUTING},
    };
    for (size_t i = 0; s && i < sizeof words / sizeof words[0]; i++)
        if (!strncmp(s, words[i].word, strlen(words[i].word)))
            return words[i].kind;
    return 0;
}
