/* SPDX-License-Identifier: MIT */
/* saq: the queue-wide subcommands (info, check, sweep) and the queue overview they read. */
#define _GNU_SOURCE
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The queue overview                                                       */
/* ------------------------------------------------------------------------ */

cJSON *cli_overview(saq_queue_t *q, saq_event_t **ev_out)
{
    uint64_t tag = cli_tag();
    saq_event_t *ev = cli_await(saq_queue_overview(q, cli_cq(), tag), tag);
    *ev_out = ev;
    if (!ev || saq_event_status(ev) != SAQ_OK)
        return NULL;
    cJSON *doc = cJSON_Parse(saq_event_json(ev));
    if (!doc)
        return NULL;
    saq_event_free(ev);
    *ev_out = NULL;
    return doc;
}

/* open every --queue and read its overview: docs[i] (cJSON) or an error (exit code) */
static int overviews(saq_queue_t **qs, cJSON **docs)
{
    for (int i = 0; i < cli_opts.nqueues; i++) {
        int rc = cli_open(cli_opts.queues[i], &qs[i]);
        if (rc)
            return rc;
    }
    for (int i = 0; i < cli_opts.nqueues; i++) {
        saq_event_t *ev;
        docs[i] = cli_overview(qs[i], &ev);
        if (!docs[i]) {
            if (ev && saq_event_status(ev) == SAQ_OK) {
                cli_errorf("info: unreadable answer for queue '%s'", cli_opts.queues[i]);
                saq_event_free(ev);
                return CLI_ERR;
            }
            int code = cli_report(ev, "info");
            saq_event_free(ev);
            return code;
        }
    }
    return CLI_OK;
}

static void close_all(saq_queue_t **qs, cJSON **docs)
{
    for (int i = 0; i < cli_opts.nqueues; i++) {
        if (docs)
            cJSON_Delete(docs[i]);
        cli_close(qs[i]);
    }
}

/* the start of info and check: no options of their own, no operands, every queue's overview */
static int start_overviews(const char *cmd, int argc, char **argv, const char *usage,
                           saq_queue_t **qs, cJSON **docs)
{
    while (cli_getopt(argc, argv, "", NULL, usage) != -1)
        ;
    cli_operands(cmd, argc, argv, 0, NULL);
    int rc = overviews(qs, docs);
    if (rc)
        close_all(qs, docs);
    return rc;
}


static char *numtxt(double v, char *buf, size_t n)
{
    snprintf(buf, n, "%.0f", v);
    return buf;
}


static const char usage_info[] =
    "usage: saq info [-q QUEUE]... [--json]\n"
    "\n"
    "For each queue: jobs queued, active, scheduled (due later) and incomplete (all three), the\n"
    "age of the oldest queued job, the workers alive (Python saq's too) and the jobs each has\n"
    "completed, failed, retried and aborted since it started, with the per-minute rates when\n"
    "known, and whether the queue is paused (saq pause). --json prints {\"queues\": [overview,\n"
    "...]} (see saq_queue_overview in saq.h).\n";

int cmd_info(int argc, char **argv)
{
    saq_queue_t *qs[CLI_MAX_QUEUES] = {0};
    cJSON *docs[CLI_MAX_QUEUES] = {0};
    int rc = start_overviews("info", argc, argv, usage_info, qs, docs);
    if (rc)
        return rc;
    if (cli_opts.json) {
        cJSON *out = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(out, "queues");
        for (int i = 0; i < cli_opts.nqueues; i++) {
            cJSON_AddItemToArray(arr, docs[i]);
            docs[i] = NULL;
        }
        cli_print_json(out);
        cJSON_Delete(out);
        close_all(qs, docs);
        return CLI_OK;
    }
    static const char *const h1[] = {"QUEUE", ">QUEUED", ">ACTIVE", ">SCHEDULED", ">INCOMPLETE",
                                     ">OLDEST", ">WORKERS", ">COMPLETE/MIN", ">FAILED/MIN", "PAUSED"};
    cli_table_t *t = cli_table_new(10, h1);
    static const char *const h2[] = {"WORKER", "QUEUE", ">COMPLETE", ">FAILED", ">RETRIED",
                                     ">ABORTED", ">UPTIME", "KIND"};
    cli_table_t *tw = cli_table_new(8, h2);
    for (int i = 0; i < cli_opts.nqueues; i++) {
        cJSON *d = docs[i];
        const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(d, "jobs");
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(d, "oldest_queued_age_s");
        const cJSON *pm = cJSON_GetObjectItemCaseSensitive(d, "per_minute");
        char b[9][32];
        const char *row[10] = {
            cli_opts.queues[i],
            numtxt(cli_num(jobs, "queued"), b[1], 32),
            numtxt(cli_num(jobs, "active"), b[2], 32),
            numtxt(cli_num(jobs, "scheduled"), b[3], 32),
            numtxt(cli_num(jobs, "incomplete"), b[4], 32),
            cJSON_IsNumber(old) ? cli_fmt_dur(old->valuedouble, b[5], 32) : "-",
            numtxt(cli_num(d, "workers_alive"), b[6], 32),
            "-", "-", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "paused")) ? "yes" : "no"};
        if (cJSON_IsObject(pm)) {
            snprintf(b[7], 32, "%.1f", cli_num(pm, "complete"));
            snprintf(b[8], 32, "%.1f", cli_num(pm, "failed"));
            row[7] = b[7];
            row[8] = b[8];
        }
        cli_table_row(t, row);
        const cJSON *w;
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(d, "workers"))
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(w, "id");
            const cJSON *ls = cJSON_GetObjectItemCaseSensitive(w, "libsaq");
            char c[6][32];
            const char *wr[8] = {cJSON_IsString(id) ? id->valuestring : "?",
                                 cli_opts.queues[i],
                                 numtxt(cli_num(w, "complete"), c[0], 32),
                                 numtxt(cli_num(w, "failed"), c[1], 32),
                                 numtxt(cli_num(w, "retried"), c[2], 32),
                                 numtxt(cli_num(w, "aborted"), c[3], 32),
                                 cli_fmt_dur(cli_num(w, "uptime_ms") / 1000, c[4], 32),
                                 cJSON_IsTrue(ls) ? "libsaq" : cJSON_IsFalse(ls) ? "saq" : "-"};
            cli_table_row(tw, wr);
        }
    }
    cli_table_emit(t, NULL, NULL);
    if (cli_table_rows(tw)) {
        putchar('\n');
        cli_table_emit(tw, NULL, NULL);
    } else {
        cli_table_free(tw);
        printf("\nno worker alive\n");
    }
    close_all(qs, docs);
    return CLI_OK;
}

/* ------------------------------------------------------------------------ */
/* check                                                                    */
/* ------------------------------------------------------------------------ */

static const char usage_check[] =
    "usage: saq check [-q QUEUE]... [--json]\n"
    "\n"
    "Health check, like Python saq's --check: exit 0 when at least one worker of every queue\n"
    "given is alive (in saq's worker registry: libsaq and Python saq workers alike), 1 when a\n"
    "queue has none, 2 on an error (Redis unreachable, bad url). Prints one line per queue.\n";

int cmd_check(int argc, char **argv)
{
    saq_queue_t *qs[CLI_MAX_QUEUES] = {0};
    cJSON *docs[CLI_MAX_QUEUES] = {0};
    int rc = start_overviews("check", argc, argv, usage_check, qs, docs);
    if (rc)
        return rc;
    int code = CLI_OK;
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "queues");
    for (int i = 0; i < cli_opts.nqueues; i++) {
        int alive = (int)cli_num(docs[i], "workers_alive");
        if (alive < 1)
            code = CLI_NONE;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "queue", cli_opts.queues[i]);
        cJSON_AddNumberToObject(e, "workers_alive", alive);
        cJSON_AddItemToArray(arr, e);
        if (!cli_opts.json)
            printf("%s: %d worker%s alive\n", cli_opts.queues[i], alive, alive == 1 ? "" : "s");
    }
    cJSON_AddBoolToObject(out, "ok", code == CLI_OK);
    if (cli_opts.json)
        cli_print_json(out);
    cJSON_Delete(out);
    close_all(qs, docs);
    return code;
}

/* ------------------------------------------------------------------------ */
/* sweep                                                                    */
/* ------------------------------------------------------------------------ */

static const char usage_sweep[] =
    "usage: saq sweep [--lock S] [--abort S] [-q QUEUE] [--json]\n"
    "\n"
    "Recover the queue's stuck active jobs now, as a worker's sweep timer does (saq's\n"
    "Queue.sweep): records missing, jobs never marked active, past their timeout or missed\n"
    "heartbeat are aborted, then retried or finished aborted with the swept message. Prints the\n"
    "ids swept (--json: {\"queue\", \"swept\": [...]}).\n"
    "      --lock S         skip when another process swept within S seconds (default 1)\n"
    "      --abort S        seconds to wait for a swept job's worker to stop it (default 5)\n";

int cmd_sweep(int argc, char **argv)
{
    enum { O_LOCK = 0x300, O_ABORT };
    static const struct option own[] = {{"lock", required_argument, NULL, O_LOCK},
                                        {"abort", required_argument, NULL, O_ABORT},
                                        {NULL, 0, NULL, 0}};
    long lock = 1;
    double abort_s = 5;
    int c;
    while ((c = cli_getopt(argc, argv, "", own, usage_sweep)) != -1) {
        if (c == O_LOCK && cli_parse_int(optarg, 1, 86400, &lock))
            cli_usage_error("sweep", "--lock: '%s' is not a whole number of seconds >= 1", optarg);
        if (c == O_ABORT && (abort_s = cli_parse_seconds(optarg)) < 0)
            cli_usage_error("sweep", "--abort: '%s' is not a number of seconds", optarg);
    }
    cli_operands("sweep", argc, argv, 0, NULL);
    saq_queue_t *q;
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    uint64_t tag = cli_tag();
    saq_event_t *ev = cli_await_ms(saq_queue_sweep(q, (int)lock, abort_s, cli_cq(), tag), tag,
                                   (int)lround((cli_opts.timeout_s + abort_s) * 1000) + 250);
    if (!ev || saq_event_status(ev) != SAQ_OK) {
        rc = cli_report(ev, "sweep");
    } else {
        cJSON *ids = cJSON_Parse(saq_event_json(ev));
        if (cli_opts.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "queue", saq_queue_name(q));
            cJSON_AddItemToObject(o, "swept", ids ? ids : cJSON_CreateArray());
            cli_print_json(o);
            cJSON_Delete(o);
        } else {
            int n = cJSON_GetArraySize(ids);
            if (n > 0)
                printf("swept %d job%s\n", n, n == 1 ? "" : "s");
            else /* saq's sweep tells "nothing stuck" and "skipped under the lock" apart by nothing */
                printf("swept 0 jobs (none stuck, or another process swept within %ld s)\n", lock);
            const cJSON *id;
            cJSON_ArrayForEach(id, ids)
            {
                if (cJSON_IsString(id)) {
                    char *clean = cli_clean(id->valuestring);
                    printf("%s\n", clean ? clean : "");
                    free(clean);
                }
            }
            cJSON_Delete(ids);
        }
    }
    saq_event_free(ev);
    cli_close(q);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* pause, resume                                                            */
/* ------------------------------------------------------------------------ */

static const char usage_pause[] =
    "usage: saq pause [-q QUEUE] [--json]\n"
    "\n"
    "Pause the queue (-q, as every command: default $SAQ_QUEUE, else 'default'; the line printed\n"
    "names it): every libsaq worker of it stops taking jobs within its timers.pause (0.5 s by\n"
    "default; a job may still start until then), lets the jobs it runs finish, and waits (a libsaq extension: Python saq workers do not read the flag\n"
    "and go on). Enqueueing, scheduling and cron go on. Exit 1 when the queue was paused already\n"
    "(--json: {\"queue\", \"paused\": true, \"changed\"}).\n";

static const char usage_resume[] =
    "usage: saq resume [-q QUEUE] [--json]\n"
    "\n"
    "Resume a paused queue (-q, as every command: default $SAQ_QUEUE, else 'default'): its libsaq\n"
    "workers take jobs again at once. Exit 1 when it was not paused (--json: {\"queue\",\n"
    "\"paused\": false, \"changed\"}).\n";

static int pause_cmd(const char *cmd, int argc, char **argv, int resume)
{
    while (cli_getopt(argc, argv, "", NULL, resume ? usage_resume : usage_pause) != -1)
        ;
    if (argc > optind) /* the queue is -q, as for every other command */
        cli_usage_error(cmd, "unexpected argument '%s' (the queue is given with -q: saq %s -q %s)", argv[optind],
                        cmd, argv[optind]);
    saq_queue_t *q;
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    uint64_t tag = cli_tag();
    saq_event_t *ev = cli_await(resume ? saq_queue_resume(q, cli_cq(), tag) : saq_queue_pause(q, cli_cq(), tag), tag);
    if (!ev || saq_event_status(ev) != SAQ_OK) {
        rc = cli_report(ev, cmd);
    } else {
        int changed = saq_event_int(ev) != 0;
        if (cli_opts.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "queue", saq_queue_name(q));
            cJSON_AddBoolToObject(o, "paused", !resume);
            cJSON_AddBoolToObject(o, "changed", changed);
            cli_print_json(o);
            cJSON_Delete(o);
        } else {
            char *n = cli_clean(saq_queue_name(q));
            if (resume)
                printf(changed ? "resumed queue '%s'\n" : "queue '%s' was not paused\n", n ? n : "?");
            else
                printf(changed ? "paused queue '%s': libsaq workers take no more of its jobs within their "
                                 "timers.pause (0.5 s by default; Python saq workers do not know "
                                 "pauses)\n"
                               : "queue '%s' was paused already\n",
                       n ? n : "?");
            free(n);
        }
        rc = changed ? CLI_OK : CLI_NONE;
    }
    saq_event_free(ev);
    cli_close(q);
    return rc;
}

int cmd_pause(int argc, char **argv) { return pause_cmd("pause", argc, argv, 0); }

int cmd_resume(int argc, char **argv) { return pause_cmd("resume", argc, argv, 1); }
