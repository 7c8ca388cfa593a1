/* SPDX-License-Identifier: MIT */
/* saq limits: the rate limits and global concurrency a queue's libsaq workers
 * enforce (saq_worker_set_limit), with how many jobs run against each, started
 * in its current period and wait for a running slot (saq_queue_limits). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_limits[] =
    "usage: saq limits [-q QUEUE] [--json]\n"
    "\n"
    "The rate limits and global concurrency the queue's libsaq workers enforce (set in the\n"
    "workers: saq_worker_set_limit and the bindings' limits; published every second while a\n"
    "worker runs, kept 30 s after the last one stopped): per limit, the function (* for the\n"
    "whole queue), MAX_JOBS per PERIOD seconds and MAX_RUNNING at once (- for none; invalid\n"
    "when the published entry is not one a worker writes: --json shows its text), RUNNING\n"
    "slots held now by live workers, STARTED in the last period (- without a rate), and\n"
    "WAITING jobs deferred until a running slot frees (counted even while no worker runs).\n"
    "Python saq workers on the queue do not honour the limits.\n"
    "Exit 1 when no limit is published.\n";

static void cell_int(char *b, size_t n, double v, int dash_if_zero)
{
    if (dash_if_zero && v == 0)
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%.0f", v);
}

int cmd_limits(int argc, char **argv)
{
    while (cli_getopt(argc, argv, "", NULL, usage_limits) != -1)
        ;
    cli_operands("limits", argc, argv, 0, NULL);
    saq_queue_t *q;
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    uint64_t tag = cli_tag();
    saq_event_t *ev = cli_await(saq_queue_limits(q, cli_cq(), tag), tag);
    cJSON *doc = ev && saq_event_status(ev) == SAQ_OK ? cJSON_Parse(saq_event_json(ev)) : NULL;
    if (!doc) {
        rc = ev && saq_event_status(ev) == SAQ_OK ? (cli_errorf("limits: unreadable answer"), CLI_ERR)
                                                   : cli_report(ev, "limits");
    } else {
        const cJSON *limits = cJSON_GetObjectItemCaseSensitive(doc, "limits");
        rc = cJSON_GetArraySize(limits) > 0 ? CLI_OK : CLI_NONE;
        if (cli_opts.json) {
            cli_print_json(doc);
        } else if (rc == CLI_NONE) {
            printf("%s: no limits published (no running libsaq worker of the queue has limits)\n",
                   saq_queue_name(q));
        } else {
            static const char *const heads[] = {"FUNCTION", ">MAX_JOBS", ">PERIOD", ">MAX_RUNNING",
                                                ">RUNNING", ">STARTED", ">WAITING"};
            cli_table_t *t = cli_table_new(7, heads);
            const cJSON *l;
            cJSON_ArrayForEach(l, limits)
            {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(l, "function");
                char *clean = cJSON_IsString(fn) ? cli_clean(fn->valuestring) : NULL;
                char c[6][32];
                double mj = cli_num(l, "max_jobs");
                if (cJSON_GetObjectItemCaseSensitive(l, "invalid")) {
                    /* not what a worker publishes (--json shows the text as stored) */
                    snprintf(c[0], sizeof c[0], "invalid");
                    snprintf(c[1], sizeof c[1], "invalid");
                    snprintf(c[2], sizeof c[2], "invalid");
                    snprintf(c[4], sizeof c[4], "-");
                } else {
                    cell_int(c[0], sizeof c[0], mj, 1);
                    if (mj > 0)
                        snprintf(c[1], sizeof c[1], "%.15gs", cli_num(l, "period"));
                    else
                        snprintf(c[1], sizeof c[1], "-");
                    cell_int(c[2], sizeof c[2], cli_num(l, "max_running"), 1);
                    if (mj > 0) /* starts are counted against a rate only */
                        cell_int(c[4], sizeof c[4], cli_num(l, "started"), 0);
                    else
                        snprintf(c[4], sizeof c[4], "-");
                }
                cell_int(c[3], sizeof c[3], cli_num(l, "running"), 0);
                cell_int(c[5], sizeof c[5], cli_num(l, "waiting"), 0);
                const char *row[7] = {clean ? clean : "*", c[0], c[1], c[2], c[3], c[4], c[5]};
                cli_table_row(t, row);
                free(clean);
            }
            cli_table_emit(t, NULL, NULL); /* frees the table */
        }
        cJSON_Delete(doc);
    }
    saq_event_free(ev);
    cli_close(q);
    return rc;
}
