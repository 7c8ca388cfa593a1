/* SPDX-License-Identifier: MIT */
/* What a connection says first, by role, and what the command connection
 * learns from INFO: see core.h. */
#include "core.h"

#include <stdio.h>
#include <string.h>

static void add(saq__hello_t *h, int what, int argc, const char *a0, const char *a1,
                const char *a2)
{
    h->cmd[h->n++] = (saq__hello_cmd_t){what, argc, {a0, a1, a2}};
}

void saq__hello_build(const saq_queue_t *q, int role, saq__hello_t *h)
{
    const saq__url_t *u = &q->set.url;
    const saq__route_t *rt = q->route;
    h->n = 0;
    if (role == ROLE_DISC) { /* a sentinel (its own credentials) or a cluster node */
        if (rt && rt->disc_pass)
            add(h, SAQ__HELLO_PLAIN, rt->disc_user ? 3 : 2, "AUTH",
                rt->disc_user ? rt->disc_user : rt->disc_pass, rt->disc_pass);
        add(h, SAQ__HELLO_PLAIN, 1, "PING", NULL, NULL);
        return;
    }
    if (u->password)
        add(h, SAQ__HELLO_PLAIN, u->username ? 3 : 2, "AUTH",
            u->username ? u->username : u->password, u->password);
    if (u->db) {
        snprintf(h->db, sizeof h->db, "%d", u->db);
        add(h, SAQ__HELLO_PLAIN, 2, "SELECT", h->db, NULL);
    }
    /* name the connection so operators (and tests) can tell them apart */
    snprintf(h->cname, sizeof h->cname, "libsaq:%s:%s",
             role == ROLE_CMD ? "cmd" : role == ROLE_SUB ? "sub" : "block", q->set.name);
    for (char *p = h->cname; *p; p++) /* Redis refuses a name with bytes outside '!'..'~' */
        if (*p < '!' || *p > '~')
            *p = '?';
    add(h, SAQ__HELLO_NAME, 3, "CLIENT", "SETNAME", h->cname);
    if (role == ROLE_CMD) {
        add(h, SAQ__HELLO_INFO, 2, "INFO", "server", NULL);
        for (int i = 0; i < SCRIPT_COUNT_; i++)
            add(h, SAQ__HELLO_SCRIPT + i, 3, "SCRIPT", "LOAD", saq__script_text[i]);
    }
    if (role == ROLE_BLOCK)
        add(h, SAQ__HELLO_CLIENT_ID, 2, "CLIENT", "ID", NULL);
    if (rt && rt->check_role) /* a sentinel's answer may be a step behind a failover */
        add(h, SAQ__HELLO_ROLE, 1, "ROLE", NULL, NULL);
}

int saq__hello_info(saq_queue_t *q, const char *info, char *why, size_t n)
{
    const char *v = strstr(info, "redis_version:");
    if (v) {
        int a = 0, b = 0, d = 0;
        sscanf(v + 14, "%d.%d.%d", &a, &b, &d);
        q->server_version = (a << 16) | (b << 8) | d;
        q->have_lmove = q->server_version >= 0x060200;
    }
    int topo = q->set.url.topo;
    if (strstr(info, "redis_mode:sentinel"))
        snprintf(why, n, "is a sentinel: use a redis+sentinel://host:26379/master-name url");
    else if (strstr(info, "redis_mode:cluster") && topo != SAQ__TOPO_CLUSTER)
        snprintf(why, n, "is a cluster node: use a redis+cluster:// url (with hash-tagged queue "
                         "names, e.g. '{orders}')");
    else
        return 0;
    return -1;
}

int saq__hello_optional(saq_queue_t *q, int what, const char *msg)
{
    if (!msg || strncmp(msg, "NOPERM", 6) || (what != SAQ__HELLO_NAME && what != SAQ__HELLO_INFO))
        return 0;
    if (what == SAQ__HELLO_INFO && !q->server_version)
        q->have_lmove = 1; /* a server with ACLs is 6.0 or later; 6.2+ is the one in use */
    return 1;
}
