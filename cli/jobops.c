/* SPDX-License-Identifier: MIT */
/* saq: changing jobs (enqueue, abort, retry, delete). */
#define _GNU_SOURCE
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* enqueue                                                                  */
/* ------------------------------------------------------------------------ */

static const char usage_enqueue[] =
    "usage: saq enqueue FUNCTION [KWARGS_JSON] [options] [-q QUEUE] [--json]\n"
    "\n"
    "Enqueue a job for FUNCTION with the keyword arguments KWARGS_JSON (a JSON object, passed\n"
    "to the function as they are) and print its key (--json: the record as sent).\n"
    "  -k, --key K          the job's key (default: a new uuid1); a job with that key still\n"
    "                       unfinished is left alone: exit 1, nothing written\n"
    "  -t, --timeout S      the job's timeout in seconds (0: none; saq's default 10). To set\n"
    "                       the operation's timeout, put --timeout before \"enqueue\".\n"
    "  -r, --retries N      at most N runs in all (saq's default 1)\n"
    "      --ttl S          keep the record S seconds after it ends (0 forever; default 600)\n"
    "      --retry-delay S  seconds before a retry\n"
    "      --scheduled T    run at T: epoch seconds, or UTC \"YYYY-MM-DDTHH:MM:SS[Z]\"\n"
    "  -d, --delay S        run S seconds from now\n"
    "      --heartbeat S    the job must touch its record every S seconds (0: off)\n"
    "  -m, --meta JSON      the job's meta (a JSON object)\n";

static int job_fail(saq_job_t *j, const char *opt)
{
    cli_usage_error("enqueue", "%s: %s", opt, saq_job_errmsg(j));
}

int cmd_enqueue(int argc, char **argv)
{
    enum { O_TTL = 0x200, O_SCHED, O_HB, O_RD };
    static const struct option own[] = {{"key", required_argument, NULL, 'k'},
                                        {"timeout", required_argument, NULL, 't'},
                                        {"retries", required_argument, NULL, 'r'},
                                        {"ttl", required_argument, NULL, O_TTL},
                                        {"retry-delay", required_argument, NULL, O_RD},
                                        {"scheduled", required_argument, NULL, O_SCHED},
                                        {"delay", required_argument, NULL, 'd'},
                                        {"heartbeat", required_argument, NULL, O_HB},
                                        {"meta", required_argument, NULL, 'm'},
                                        {NULL, 0, NULL, 0}};
    struct {
        const char *key, *meta;
        double timeout, heartbeat, retry_delay, scheduled, delay;
        long retries, ttl;
        int has_timeout, has_hb, has_rd, has_retries, has_ttl;
    } o = {.timeout = -1, .scheduled = -1, .delay = -1};
    int c;
    while ((c = cli_getopt(argc, argv, "k:t:r:d:m:", own, usage_enqueue)) != -1) {
        switch (c) {
        case 'k':
            o.key = optarg;
            break;
        case 't':
            if ((o.timeout = cli_parse_seconds(optarg)) < 0)
                cli_usage_error("enqueue", "--timeout: '%s' is not a number of seconds", optarg);
            o.has_timeout = 1;
            break;
        case 'r':
            if (cli_parse_int(optarg, 0, 0x7fffffff, &o.retries))
                cli_usage_error("enqueue", "--retries: '%s' is not a count", optarg);
            o.has_retries = 1;
            break;
        case O_TTL:
            if (cli_parse_int(optarg, -0x7fffffffL, 0x7fffffff, &o.ttl))
                cli_usage_error("enqueue", "--ttl: '%s' is not a whole number of seconds", optarg);
            o.has_ttl = 1;
            break;
        case O_RD:
            if ((o.retry_delay = cli_parse_seconds(optarg)) < 0)
                cli_usage_error("enqueue", "--retry-delay: '%s' is not a number of seconds", optarg);
            o.has_rd = 1;
            break;
        case O_SCHED:
            if ((o.scheduled = cli_parse_when(optarg)) < 0)
                cli_usage_error("enqueue", "--scheduled: '%s' is neither epoch seconds nor "
                                           "YYYY-MM-DDTHH:MM:SSZ", optarg);
            break;
        case 'd':
            if ((o.delay = cli_parse_seconds(optarg)) < 0)
                cli_usage_error("enqueue", "--delay: '%s' is not a number of seconds", optarg);
            break;
        case O_HB:
            if ((o.heartbeat = cli_parse_seconds(optarg)) < 0)
                cli_usage_error("enqueue", "--heartbeat: '%s' is not a number of seconds", optarg);
            o.has_hb = 1;
            break;
        case 'm':
            o.meta = optarg;
            break;
        }
    }
    if (optind >= argc)
        cli_usage_error("enqueue", "missing the FUNCTION");
    if (argc - optind > 2)
        cli_usage_error("enqueue", "unexpected argument '%s'", argv[optind + 2]);
    if (o.scheduled >= 0 && o.delay >= 0)
        cli_usage_error("enqueue", "--scheduled and --delay exclude each other");
    const char *fn = argv[optind], *kwargs = optind + 1 < argc ? argv[optind + 1] : NULL;
    saq_job_t *j = saq_job_new(fn);
    if (!j)
        cli_usage_error("enqueue", "FUNCTION must not be empty");
    if (kwargs && saq_job_set_kwargs(j, kwargs))
        job_fail(j, "KWARGS_JSON");
    if (o.key && saq_job_set_key(j, o.key))
        job_fail(j, "--key");
    if (o.has_timeout && saq_job_set_timeout(j, o.timeout))
        job_fail(j, "--timeout");
    if (o.has_retries && saq_job_set_retries(j, (int)o.retries))
        job_fail(j, "--retries");
    if (o.has_ttl && saq_job_set_ttl(j, (int)o.ttl))
        job_fail(j, "--ttl");
    if (o.has_rd && saq_job_set_retry_delay(j, o.retry_delay))
        job_fail(j, "--retry-delay");
    if (o.has_hb && saq_job_set_heartbeat(j, o.heartbeat))
        job_fail(j, "--heartbeat");
    if (o.meta && saq_job_set_meta(j, o.meta))
        job_fail(j, "--meta");
    if (o.scheduled >= 0 && saq_job_set_scheduled(j, o.scheduled))
        job_fail(j, "--scheduled");
    if (o.delay > 0 && saq_job_set_scheduled(j, (double)cli_now_ms() / 1000 + o.delay))
        job_fail(j, "--delay");
    saq_queue_t *q;
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc) {
        saq_job_free(j);
        return rc;
    }
    saq_event_t *ev = saq_queue_enqueue_sync(q, j, cli_wait_ms());
    saq_job_free(j);
    if (!ev || saq_event_status(ev) != SAQ_OK) {
        rc = cli_report(ev, "enqueue");
        rc = rc == CLI_NONE ? CLI_ERR : rc;
    } else {
        saq_job_t *sent = saq_event_job(ev);
        if (saq_event_int(ev) == 0) {
            cli_errorf("a job with key '%s' is still unfinished (or was just aborted) in queue "
                       "'%s': nothing enqueued", saq_job_key(sent), saq_queue_name(q));
            rc = CLI_NONE;
        } else if (cli_opts.json) {
            puts(saq_job_to_json(sent));
        } else {
            puts(saq_job_key(sent));
        }
    }
    saq_event_free(ev);
    cli_close(q);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* abort, retry                                                             */
/* ------------------------------------------------------------------------ */

static const char usage_abort[] =
    "usage: saq abort KEY [-e TEXT] [-q QUEUE] [--json]\n"
    "\n"
    "Abort a job (saq's Queue.abort): a waiting or scheduled job ends aborted at once; a running\n"
    "one is marked aborting and its worker stops it (until then, at most 5 s, the key cannot be\n"
    "enqueued again). The reason becomes the job's error. Exit 1 when there is no such job or it\n"
    "had already finished (nothing changed).\n"
    "  -e, --error TEXT     the reason (default \"aborted with the saq command\")\n";

static void result_json(const char *key, const char *result, saq_job_t *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "result", result);
    if (j)
        cJSON_AddStringToObject(o, "status", saq_job_status(j));
    cli_print_json(o);
    cJSON_Delete(o);
}

int cmd_abort(int argc, char **argv)
{
    static const struct option own[] = {{"error", required_argument, NULL, 'e'},
                                        {NULL, 0, NULL, 0}};
    const char *error = "aborted with the saq command";
    int c;
    while ((c = cli_getopt(argc, argv, "e:", own, usage_abort)) != -1)
        if (c == 'e')
            error = optarg;
    const char *key = cli_operands("abort", argc, argv, 1, "the job's KEY");
    saq_queue_t *q;
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    saq_event_t *ev = saq_queue_abort_sync(q, key, error, 5, cli_wait_ms());
    if (ev && saq_event_status(ev) == SAQ_ENOTFOUND) {
        rc = cli_not_found("job", key, saq_queue_name(q));
    } else if (!ev || saq_event_status(ev) != SAQ_OK) {
        rc = cli_report(ev, "abort");
    } else {
        saq_job_t *j = saq_event_job(ev);
        int64_t r = saq_event_int(ev);
        const char *what = r == 2 ? "aborted" : r == 1 ? "aborting" : "unchanged";
        if (cli_opts.json)
            result_json(key, what, j);
        if (r == 0) {
            cli_errorf("job '%s' had already finished (%s): nothing to abort", key,
                       j ? saq_job_status(j) : "?");
            rc = CLI_NONE;
        } else if (!cli_opts.json) {
            if (r == 2)
                printf("%s aborted\n", key);
            else
                printf("%s aborting: its worker stops it\n", key);
        }
    }
    saq_event_free(ev);
    cli_close(q);
    return rc;
}

static const char usage_retry[] =
    "usage: saq retry KEY [--force] [-q QUEUE] [--json]\n"
    "\n"
    "Run a finished job again: a failed, aborted or complete job is enqueued afresh under the\n"
    "same key, with the same function, kwargs and options (timeout, heartbeat, retries, ttl,\n"
    "retry delay and backoff, meta), its attempts back at 0 and its result and error cleared;\n"
    "it runs now. Exit 1 when there is no such job, when it has not finished (it will run\n"
    "anyway), or when saq's abort marker still blocks the key (a running job aborted a moment\n"
    "ago, until its worker stops it; at most 5 s).\n"
    "  -f, --force          for a job that has not finished: saq's Queue.retry, which puts it\n"
    "                       back in the queue now (after its retry delay) even while a worker\n"
    "                       runs it (for a job stuck in active); counts as a retry\n";

/* a fresh job with the options of `old` */
static saq_job_t *fresh_copy(const saq_job_t *old)
{
    saq_job_t *j = saq_job_new(saq_job_function(old));
    if (!j)
        return NULL;
    int rc = saq_job_set_key(j, saq_job_key(old));
    if (!rc && saq_job_kwargs(old))
        rc = saq_job_set_kwargs(j, saq_job_kwargs(old));
    if (!rc)
        rc = saq_job_set_timeout(j, saq_job_timeout(old));
    if (!rc)
        rc = saq_job_set_heartbeat(j, saq_job_heartbeat(old));
    if (!rc)
        rc = saq_job_set_retries(j, saq_job_retries(old));
    if (!rc)
        rc = saq_job_set_ttl(j, saq_job_ttl(old));
    if (!rc)
        rc = saq_job_set_retry_delay(j, saq_job_retry_delay(old));
    if (!rc)
        rc = saq_job_set_retry_backoff(j, saq_job_retry_backoff(old),
                                       saq_job_retry_backoff_cap(old));
    if (!rc && saq_job_meta(old))
        rc = saq_job_set_meta(j, saq_job_meta(old));
    if (rc) {
        cli_errorf("retry: cannot copy the job: %s", saq_job_errmsg(j));
        saq_job_free(j);
        return NULL;
    }
    return j;
}

int cmd_retry(int argc, char **argv)
{
    static const struct option own[] = {{"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
    int force = 0, c;
    while ((c = cli_getopt(argc, argv, "f", own, usage_retry)) != -1)
        if (c == 'f')
            force = 1;
    const char *key = cli_operands("retry", argc, argv, 1, "the job's KEY");
    saq_queue_t *q;
    saq_event_t *ev;
    int rc = cli_open_job(key, &q, &ev);
    if (rc)
        return rc;
    saq_job_t *old = saq_event_job(ev);
    const char *was = saq_job_status(old);
    saq_event_t *rev = NULL;
    if (saq_status_terminal(was)) {
        saq_job_t *j = fresh_copy(old);
        if (!j) {
            rc = CLI_ERR;
            goto out;
        }
        rev = saq_queue_enqueue_sync(q, j, cli_wait_ms());
        saq_job_free(j);
        if (!rev || saq_event_status(rev) != SAQ_OK) {
            rc = cli_report(rev, "retry");
        } else if (saq_event_int(rev) == 0) {
            cli_errorf("job '%s' cannot be enqueued again yet: its abort marker is still there (a "
                       "running job aborted a moment ago; at most 5 s) or it was enqueued meanwhile",
                       key);
            rc = CLI_NONE;
        } else if (cli_opts.json) {
            result_json(key, "enqueued", saq_event_job(rev));
        } else {
            printf("%s enqueued again (was %s)\n", key, was);
        }
    } else if (!force) {
        cli_errorf("job '%s' is %s, not finished: nothing to retry (--force puts it back in the "
                   "queue now)", key, was);
        rc = CLI_NONE;
    } else {
        uint64_t tag = cli_tag();
        rev = cli_await(saq_queue_retry(q, key, NULL, cli_cq(), tag), tag);
        if (!rev || saq_event_status(rev) != SAQ_OK) {
            rc = cli_report(rev, "retry");
        } else if (saq_event_int(rev) == 0) {
            cli_errorf("job '%s' finished meanwhile: nothing written", key);
            rc = CLI_NONE;
        } else if (cli_opts.json) {
            result_json(key, "retried", saq_event_job(rev));
        } else {
            printf("%s put back in the queue (was %s)\n", key, was);
        }
    }
out:
    saq_event_free(rev);
    saq_event_free(ev);
    cli_close(q);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* delete                                                                   */
/* ------------------------------------------------------------------------ */

static const char usage_delete[] =
    "usage: saq delete KEY [--force [--wait S]] [-q QUEUE] [--json]\n"
    "\n"
    "Delete a job: its record and every entry of it (queued, incomplete/scheduled, active, and\n"
    "libsaq's own), whatever its status; the key can be enqueued again at once. A running job\n"
    "is refused (exit 1, nothing changed) unless --force. Exit 1 when there is no such job\n"
    "(stray entries of the key are removed all the same).\n"
    "  -f, --force          delete a running job too: it is aborted first (its worker, libsaq\n"
    "                       or Python saq, stops it), and deleted once it ended or after --wait\n"
    "      --wait S         seconds to wait for its worker to stop it (default 5; 0: none)\n";

int cmd_delete(int argc, char **argv)
{
    enum { O_WAIT = 0x200 };
    static const struct option own[] = {{"force", no_argument, NULL, 'f'},
                                        {"wait", required_argument, NULL, O_WAIT},
                                        {NULL, 0, NULL, 0}};
    int force = 0, c;
    double wait_s = 5;
    while ((c = cli_getopt(argc, argv, "f", own, usage_delete)) != -1) {
        if (c == 'f')
            force = 1;
        else if (c == O_WAIT && ((wait_s = cli_parse_seconds(optarg)) < 0 || wait_s > 3600))
            cli_usage_error("delete", "--wait: '%s' is not a number of seconds (0..3600)", optarg);
    }
    const char *key = cli_operands("delete", argc, argv, 1, "the job's KEY");
    saq_queue_t *q;
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    int wait_ms = (int)(wait_s * 1000);
    uint64_t tag = cli_tag();
    saq_event_t *ev = cli_await_ms(saq_queue_delete(q, key, force, wait_ms, cli_cq(), tag), tag,
                                   cli_wait_ms() + (force ? wait_ms : 0));
    int st = cli_ev_status(ev);
    if (st == SAQ_ENOTFOUND) {
        rc = cli_not_found("job", key, saq_queue_name(q));
    } else if (st == SAQ_ESTATE) {
        cli_errorf("job '%s' is running: not deleted (--force aborts it first)", key);
        rc = CLI_NONE;
    } else if (st != SAQ_OK) {
        rc = cli_report(ev, "delete");
    } else {
        int64_t r = saq_event_int(ev);
        const char *what = r == 3 ? "deleted-unconfirmed" : r == 2 ? "deleted-after-abort" : "deleted";
        if (cli_opts.json)
            result_json(key, what, saq_event_job(ev));
        else if (r == 1)
            printf("%s deleted\n", key);
        else if (r == 2)
            printf("%s aborted, stopped by its worker, deleted\n", key);
        else
            printf("%s aborted and deleted; its worker had not stopped it within %g s\n", key, wait_s);
    }
    saq_event_free(ev);
    cli_close(q);
    return rc;
}
