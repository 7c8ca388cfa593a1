/* SPDX-License-Identifier: MIT */
/* saq flow: read a flow (saq_queue_flow), which also records members that ended outside a
 * libsaq worker and enqueues the callback when that was the last one. */
#define _GNU_SOURCE
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_flow[] =
    "usage: saq flow ID [-q QUEUE] [--json]\n"
    "\n"
    "Print a flow (member jobs and a callback job enqueued once every member is terminal):\n"
    "its state (open, or done once the callback was enqueued), the callback's key, how many\n"
    "members are still pending, and each member's key, status and the last line of its error\n"
    "(a Python traceback's exception line). Reading a flow also records members that ended on\n"
    "Python saq workers (which do not record them) and enqueues the callback when that was the\n"
    "last one. --json prints the flow document as libsaq gives it (results and whole errors\n"
    "included). A member whose outcome is malformed in Redis shows as \"unknown\" with why.\n"
    "Exit 1 when the queue has no flow with that id (never enqueued, or expired after its ttl);\n"
    "2 when the flow's own fields in Redis are malformed.\n";

static const char *str_or(const cJSON *o, const char *name, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double num_or(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* The last line of an error text that is not blank (a traceback's exception line), cleaned. */
static char *last_line(const char *err)
{
    const char *end = err + strlen(err);
    while (end > err && strchr(" \t\r\n", end[-1]))
        end--;
    const char *b = end;
    while (b > err && b[-1] != '\n')
        b--;
    while (b < end && (*b == ' ' || *b == '\t'))
        b++;
    return cli_clean_n(b, (size_t)(end - b));
}

/* The flow document as text: a header, then a line per member. */
static void print_flow(const cJSON *d, const char *id)
{
    char *f[3] = {cli_clean(str_or(d, "id", id)), cli_clean(str_or(d, "state", "?")),
                  cli_clean(str_or(d, "callback", "?"))};
    printf("flow      %s\nstate     %s\ncallback  %s\nmembers   %.0f (%.0f pending)\n",
           f[0] ? f[0] : "?", f[1] ? f[1] : "?", f[2] ? f[2] : "?", num_or(d, "total"),
           num_or(d, "pending"));
    for (int i = 0; i < 3; i++)
        free(f[i]);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(d, "members"))
    {
        char *key = cli_clean(str_or(m, "key", "?")), *st = cli_clean(str_or(m, "status", "?"));
        char *err = last_line(str_or(m, "error", ""));
        printf("  %-30s %-9s %s\n", key ? key : "?", st ? st : "?", err ? err : "");
        free(key);
        free(st);
        free(err);
    }
}

int cmd_flow(int argc, char **argv)
{
    while (cli_getopt(argc, argv, "", NULL, usage_flow) != -1)
        ;
    const char *id = cli_operands("flow", argc, argv, 1, "the flow's ID (its callback's key)");
    saq_queue_t *q;
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    uint64_t tag = cli_tag();
    saq_event_t *ev = cli_await(saq_queue_flow(q, id, cli_cq(), tag), tag);
    cJSON *d = ev && saq_event_status(ev) == SAQ_OK ? cJSON_Parse(saq_event_json(ev)) : NULL;
    if (ev && saq_event_status(ev) == SAQ_ENOTFOUND) {
        rc = cli_not_found("flow", id, saq_queue_name(q));
    } else if (ev && saq_event_status(ev) == SAQ_EPROTO) { /* names the flow and the field */
        cli_errorf("%s", saq_event_errmsg(ev));
        rc = CLI_ERR;
    } else if (!ev || saq_event_status(ev) != SAQ_OK) {
        rc = cli_report(ev, "flow");
    } else if (!d) { /* libsaq checks the document: not expected */
        cli_errorf("flow '%s': libsaq gave a document that is not JSON", id);
        rc = CLI_ERR;
    } else if (cli_opts.json) {
        printf("%s\n", saq_event_json(ev));
    } else {
        print_flow(d, id);
    }
    cJSON_Delete(d);
    saq_event_free(ev);
    cli_close(q);
    return rc;
}
