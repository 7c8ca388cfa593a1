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
    "members are still pending, and each member's key, status and error. Reading a flow also\n"
    "records members that ended on Python saq workers (which do not record them) and enqueues\n"
    "the callback when that was the last one. --json prints the flow document as libsaq gives\n"
    "it (results included). Exit 1 when the queue has no flow with that id (never enqueued,\n"
    "or expired after its ttl).\n";

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
    if (!ev || saq_event_status(ev) != SAQ_OK) {
        rc = cli_report(ev, "flow");
    } else if (cli_opts.json) {
        printf("%s\n", saq_event_json(ev));
    } else {
        cJSON *d = cJSON_Parse(saq_event_json(ev));
        printf("flow      %s\nstate     %s\ncallback  %s\nmembers   %.0f (%.0f pending)\n",
               str_or(d, "id", id), str_or(d, "state", "?"), str_or(d, "callback", "?"),
               num_or(d, "total"), num_or(d, "pending"));
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(d, "members"))
        {
            const char *err = str_or(m, "error", "");
            int n = (int)strcspn(err, "\n");
            printf("  %-30s %-9s %.*s\n", str_or(m, "key", "?"), str_or(m, "status", "?"), n, err);
        }
        cJSON_Delete(d);
    }
    saq_event_free(ev);
    cli_close(q);
    return rc;
}
