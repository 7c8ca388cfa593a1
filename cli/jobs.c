/* SPDX-License-Identifier: MIT */
/* saq: reading jobs (jobs: the list, job KEY: one record). */
#define _GNU_SOURCE
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* jobs                                                                     */
/* ------------------------------------------------------------------------ */

static const char usage_jobs[] =
    "usage: saq jobs [-q QUEUE] [--status S[,S...]] [--limit N] [--cursor C] [--json]\n"
    "\n"
    "List the queue's jobs, finished ones included (saq keeps them for their ttl), by a scan\n"
    "of its job records (saq's iter_jobs). Columns: key, function, status, attempts (of the\n"
    "retries allowed), when it was queued, and the first line of its error.\n"
    "  -s, --status S[,S]   keep these statuses: queued, active, aborting, aborted, failed,\n"
    "                       complete (default: all)\n"
    "  -n, --limit N        stop once N jobs are listed (default 50; the scan's last page is\n"
    "                       printed whole, so a few more may appear)\n"
    "  -c, --cursor C       go on from the cursor a previous page printed\n"
    "The next page's cursor is printed last (\"next: --cursor C\"; in --json, \"cursor\"),\n"
    "none when the scan is over. A scan returns every job present during the whole scan at\n"
    "least once. Each page is printed in the order its jobs were queued.\n";

static const char *const statuses_known[] = {"new",    "queued", "active",  "aborting",
                                             "aborted", "failed", "complete"};

static int check_statuses(const char *list)
{
    char *copy = strdup(list), *save = NULL;
    int ok = 1;
    for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (size_t i = 0; i < sizeof statuses_known / sizeof *statuses_known; i++)
            found |= strcmp(s, statuses_known[i]) == 0;
        if (!found) {
            cli_usage_error("jobs", "--status: unknown status '%s' (queued, active, aborting, "
                                    "aborted, failed, complete)", s);
            ok = 0;
        }
    }
    free(copy);
    return ok;
}

static void first_line(const char *s, char *buf, size_t n)
{
    if (!s) {
        snprintf(buf, n, "-");
        return;
    }
    size_t len = strcspn(s, "\n");
    /* a traceback's last line says what happened */
    const char *last = strrchr(s, '\n');
    if (last && last[1] == '\0') {
        const char *e = last;
        while (e > s && e[-1] == '\n')
            e--;
        const char *b = e;
        while (b > s && b[-1] != '\n')
            b--;
        if (strncmp(s, "Traceback", 9) == 0) {
            s = b;
            len = (size_t)(e - b);
        }
    } else if (last && strncmp(s, "Traceback", 9) == 0) {
        s = last + 1;
        len = strlen(s);
    }
    /* cleaned first (an escape sequence becomes visible text), then cut at 60 columns on a
     * character boundary: cutting bytes split UTF-8 characters and let the escapes widen it */
    char *clean = cli_clean_n(s, len);
    if (!clean) {
        snprintf(buf, n, "-");
        return;
    }
    size_t cl = strlen(clean), w, fit = cli_fit_cols(clean, cl, 60, &w);
    if (fit < cl)
        fit = cli_fit_cols(clean, cl, 57, NULL);
    if (fit + 4 > n)
        fit = cli_fit_cols(clean, n - 4 < fit ? n - 4 : fit, (size_t)-1, NULL);
    snprintf(buf, n, "%.*s%s", (int)fit, clean, fit < cl ? "..." : "");
    free(clean);
}

static void job_row(cli_table_t *t, saq_job_t *j)
{
    char att[32], queued[48], err[256];
    snprintf(att, sizeof att, "%d/%d", saq_job_attempts(j), saq_job_retries(j));
    cli_fmt_time_ms(saq_job_queued_ms(j), queued, sizeof queued);
    first_line(saq_job_error(j), err, sizeof err);
    const char *row[6] = {saq_job_key(j), saq_job_function(j), saq_job_status(j), att, queued,
                          err};
    cli_table_row(t, row);
}

static void job_json(cJSON *arr, saq_job_t *j)
{
    const char *s = saq_job_to_json(j);
    cJSON *o = s ? cJSON_Parse(s) : NULL;
    if (o)
        cJSON_AddItemToArray(arr, o);
}

/* the jobs listed, printed together in the order they were queued (SCAN's is arbitrary) */
typedef struct {
    saq_job_t **v;
    size_t n, cap;
} joblist_t;

/* takes `j` (owned) */
static void joblist_add(joblist_t *l, saq_job_t *j)
{
    if (!j)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        saq_job_t **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            saq_job_free(j);
            return;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = j;
}

static int by_queued(const void *a, const void *b)
{
    int64_t x = saq_job_queued_ms(*(saq_job_t *const *)a);
    int64_t y = saq_job_queued_ms(*(saq_job_t *const *)b);
    if (x != y)
        return x < y ? -1 : 1;
    return strcmp(saq_job_key(*(saq_job_t *const *)a), saq_job_key(*(saq_job_t *const *)b));
}

/* sort, add to the table and the JSON array, free */
static void joblist_emit(joblist_t *l, cli_table_t *t, cJSON *arr)
{
    if (l->n)
        qsort(l->v, l->n, sizeof *l->v, by_queued);
    for (size_t i = 0; i < l->n; i++) {
        job_row(t, l->v[i]);
        job_json(arr, l->v[i]);
        saq_job_free(l->v[i]);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

int cmd_jobs(int argc, char **argv)
{
    static const struct option own[] = {{"status", required_argument, NULL, 's'},
                                        {"limit", required_argument, NULL, 'n'},
                                        {"cursor", required_argument, NULL, 'c'},
                                        {NULL, 0, NULL, 0}};
    const char *statuses = NULL, *cursor = "0";
    long limit = 50;
    int c;
    while ((c = cli_getopt(argc, argv, "s:n:c:", own, usage_jobs)) != -1) {
        if (c == 's')
            statuses = optarg;
        else if (c == 'n' && cli_parse_int(optarg, 1, 100000, &limit))
            cli_usage_error("jobs", "--limit: '%s' is not a number in 1..100000", optarg);
        else if (c == 'c') {
            long tmp;
            if (cli_parse_int(optarg, 0, 0x7fffffffffffffffL, &tmp))
                cli_usage_error("jobs", "--cursor: '%s' is not a cursor saq jobs printed", optarg);
            cursor = optarg;
        }
    }
    cli_operands("jobs", argc, argv, 0, NULL);
    if (statuses)
        check_statuses(statuses);
    saq_queue_t *q;
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    static const char *const hdr[] = {"KEY", "FUNCTION", "STATUS", ">ATTEMPTS", "QUEUED", "ERROR"};
    cli_table_t *t = cli_table_new(6, hdr);
    cJSON *arr = cJSON_CreateArray();
    char next[64];
    snprintf(next, sizeof next, "%s", cursor);
    long listed = 0;
    int code = CLI_OK;
    joblist_t found = {0};
    do {
        uint64_t tag = cli_tag();
        /* SCAN's COUNT hint near the page size: pages of about --limit jobs on a small
         * database, more round trips (not more jobs) on a large one */
        int count = limit < 10 ? 10 : limit > 10000 ? 10000 : (int)limit;
        saq_event_t *ev =
            cli_await(saq_queue_iter_jobs(q, statuses, next, count, cli_cq(), tag), tag);
        if (!ev || saq_event_status(ev) != SAQ_OK) {
            code = cli_report(ev, "jobs");
            saq_event_free(ev);
            break;
        }
        for (size_t i = 0; i < saq_event_job_count(ev); i++) {
            saq_job_t *j = saq_event_job_at(ev, i);
            if (!j)
                continue;
            joblist_add(&found, saq_job_dup(j));
            listed++;
        }
        const char *k = saq_event_key(ev);
        snprintf(next, sizeof next, "%s", k ? k : "0");
        saq_event_free(ev);
    } while (strcmp(next, "0") != 0 && listed < limit);
    joblist_emit(&found, t, arr);
    if (code == CLI_OK) {
        if (cli_opts.json) {
            cJSON *out = cJSON_CreateObject();
            cJSON_AddStringToObject(out, "queue", cli_opts.queues[0]);
            cJSON_AddItemToObject(out, "jobs", arr);
            arr = NULL;
            if (strcmp(next, "0") != 0)
                cJSON_AddStringToObject(out, "cursor", next);
            else
                cJSON_AddNullToObject(out, "cursor");
            cli_print_json(out);
            cJSON_Delete(out);
        } else {
            if (listed) {
                cli_table_emit(t, NULL, NULL);
                t = NULL;
            } else {
                printf("no jobs\n");
            }
            if (strcmp(next, "0") != 0)
                printf("next: --cursor %s\n", next);
        }
    }
    cli_table_free(t);
    cJSON_Delete(arr);
    cli_close(q);
    return code;
}

/* ------------------------------------------------------------------------ */
/* job KEY                                                                  */
/* ------------------------------------------------------------------------ */

static const char usage_job[] =
    "usage: saq job KEY [-q QUEUE] [--json]\n"
    "\n"
    "Print one job's record: a table of its fields (times in UTC), or with --json the record\n"
    "as stored in Redis. Exit 1 when the queue has no job with that key.\n";

int cli_fetch_job(saq_queue_t *q, const char *key, saq_event_t **out)
{
    *out = saq_queue_job_sync(q, key, cli_wait_ms());
    if (*out && saq_event_status(*out) == SAQ_OK)
        return CLI_OK;
    if (*out && saq_event_status(*out) == SAQ_ENOTFOUND) {
        saq_event_free(*out);
        *out = NULL;
        return cli_not_found("job", key, saq_queue_name(q));
    }
    int code = cli_report(*out, "job");
    saq_event_free(*out);
    *out = NULL;
    return code;
}

int cli_open_job(const char *key, saq_queue_t **q, saq_event_t **ev)
{
    *ev = NULL;
    int rc = cli_open(cli_opts.queues[0], q);
    if (rc == CLI_OK && (rc = cli_fetch_job(*q, key, ev)) != CLI_OK) {
        cli_close(*q);
        *q = NULL;
    }
    return rc;
}

static void field(char **b, size_t *n, const char *name, const char *value)
{
    if (!value)
        value = "-";
    cli_appendf(b, n, "%-12s ", name);
    /* multi-line values (tracebacks) go on indented lines */
    for (const char *p = value;;) {
        size_t len = strcspn(p, "\n");
        char *clean = cli_clean_n(p, len);
        cli_appendf(b, n, "%s\n", clean ? clean : "");
        free(clean);
        if (!p[len] || !p[len + 1])
            break;
        p += len + 1;
        cli_appendf(b, n, "%-12s ", "");
    }
}

static void field_time(char **b, size_t *n, const char *name, int64_t ms, int64_t now)
{
    char t[48], d[32], v[96];
    if (ms <= 0) {
        field(b, n, name, "-");
        return;
    }
    cli_fmt_time_ms(ms, t, sizeof t);
    if (now >= ms)
        snprintf(v, sizeof v, "%s (%s ago)", t, cli_fmt_dur((double)(now - ms) / 1000, d, sizeof d));
    else
        snprintf(v, sizeof v, "%s (in %s)", t, cli_fmt_dur((double)(ms - now) / 1000, d, sizeof d));
    field(b, n, name, v);
}

int cmd_job(int argc, char **argv)
{
    while (cli_getopt(argc, argv, "", NULL, usage_job) != -1)
        ;
    const char *key = cli_operands("job", argc, argv, 1, "the job's KEY");
    saq_queue_t *q;
    saq_event_t *ev;
    int rc = cli_open_job(key, &q, &ev);
    if (rc)
        return rc;
    if (cli_opts.json) {
        /* the record as stored, in the queue's dialect: saq_queue_jobs gives it as text */
        cJSON *keys = cJSON_CreateArray();
        cJSON_AddItemToArray(keys, cJSON_CreateString(key));
        char *kj = cJSON_PrintUnformatted(keys);
        cJSON_Delete(keys);
        uint64_t tag = cli_tag();
        saq_event_t *jev = cli_await(saq_queue_jobs(q, kj, cli_cq(), tag), tag);
        free(kj);
        if (!jev || saq_event_status(jev) != SAQ_OK) {
            rc = cli_report(jev, "job");
        } else {
            const char *arr = saq_event_json(jev);
            const char *b = arr ? strchr(arr, '[') : NULL, *e = arr ? strrchr(arr, ']') : NULL;
            if (b && e && e > b) {
                b++;
                while (b < e && (*b == ' ' || *b == '\n'))
                    b++;
                while (e > b && (e[-1] == ' ' || e[-1] == '\n'))
                    e--;
                if (e - b == 4 && strncmp(b, "null", 4) == 0) {
                    rc = cli_not_found("job", key, saq_queue_name(q));
                } else {
                    printf("%.*s\n", (int)(e - b), b);
                }
            }
        }
        saq_event_free(jev);
        saq_event_free(ev);
        cli_close(q);
        return rc;
    }
    saq_job_t *j = saq_event_job(ev);
    char *b = NULL, v[128];
    size_t n = 0;
    int64_t now = cli_now_ms();
    field(&b, &n, "key", saq_job_key(j));
    field(&b, &n, "id", saq_job_id(j));
    field(&b, &n, "function", saq_job_function(j));
    field(&b, &n, "status", saq_job_status(j));
    field(&b, &n, "queue", saq_job_queue(j));
    field(&b, &n, "kwargs", saq_job_kwargs(j));
    field(&b, &n, "result", saq_job_result(j));
    field(&b, &n, "error", saq_job_error(j));
    field(&b, &n, "meta", saq_job_meta(j));
    snprintf(v, sizeof v, "%d of %d", saq_job_attempts(j), saq_job_retries(j));
    field(&b, &n, "attempts", v);
    if (saq_job_timeout(j) > 0)
        snprintf(v, sizeof v, "%g s", saq_job_timeout(j));
    else
        snprintf(v, sizeof v, "none");
    field(&b, &n, "timeout", v);
    if (saq_job_heartbeat(j) > 0)
        snprintf(v, sizeof v, "%g s", saq_job_heartbeat(j));
    else
        snprintf(v, sizeof v, "off");
    field(&b, &n, "heartbeat", v);
    if (saq_job_ttl(j) == 0)
        snprintf(v, sizeof v, "forever");
    else if (saq_job_ttl(j) < 0)
        snprintf(v, sizeof v, "deleted when done");
    else
        snprintf(v, sizeof v, "%d s", saq_job_ttl(j));
    field(&b, &n, "ttl", v);
    if (saq_job_retry_backoff(j) && saq_job_retry_backoff_cap(j) > 0)
        snprintf(v, sizeof v, "%g s, exponential backoff (capped at %g s)", saq_job_retry_delay(j),
                 saq_job_retry_backoff_cap(j));
    else if (saq_job_retry_backoff(j))
        snprintf(v, sizeof v, "%g s, exponential backoff", saq_job_retry_delay(j));
    else
        snprintf(v, sizeof v, "%g s", saq_job_retry_delay(j));
    field(&b, &n, "retry_delay", v);
    field_time(&b, &n, "scheduled", (int64_t)(saq_job_scheduled(j) * 1000), now);
    field_time(&b, &n, "queued", saq_job_queued_ms(j), now);
    field_time(&b, &n, "started", saq_job_started_ms(j), now);
    field_time(&b, &n, "touched", saq_job_touched_ms(j), now);
    field_time(&b, &n, "completed", saq_job_completed_ms(j), now);
    snprintf(v, sizeof v, "%g", saq_job_progress(j));
    field(&b, &n, "progress", v);
    field(&b, &n, "worker_id", saq_job_worker_id(j));
    fputs(b ? b : "", stdout);
    free(b);
    saq_event_free(ev);
    cli_close(q);
    return CLI_OK;
}

