/* SPDX-License-Identifier: MIT */
/* saq: the one-shot subcommands (info, jobs, job, enqueue, abort, retry, sweep, check). */
#define _GNU_SOURCE
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* The queue overview (and its fallback on saq_queue_info)                  */
/* ------------------------------------------------------------------------ */

/* The overview's shape from saq's info document (libsaq before saq_queue_overview): counts
 * and the registry's workers; no oldest job age, no rates, no libsaq flag. */
static cJSON *overview_from_info(saq_queue_t *q, const char *info_json)
{
    cJSON *info = cJSON_Parse(info_json);
    if (!info)
        return NULL;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "queue", saq_queue_name(q));
    cJSON_AddNumberToObject(doc, "time_ms", (double)cli_now_ms());
    double qd = cli_num(info, "queued"), ac = cli_num(info, "active"), sc = cli_num(info, "scheduled");
    cJSON *jobs = cJSON_AddObjectToObject(doc, "jobs");
    cJSON_AddNumberToObject(jobs, "queued", qd);
    cJSON_AddNumberToObject(jobs, "active", ac);
    cJSON_AddNumberToObject(jobs, "scheduled", sc);
    cJSON_AddNumberToObject(jobs, "incomplete", qd + ac + sc);
    cJSON_AddNullToObject(doc, "oldest_queued_age_s");
    cJSON *workers = cJSON_AddArrayToObject(doc, "workers");
    double tot[4] = {0};
    static const char *const outcomes[4] = {"complete", "failed", "retried", "aborted"};
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(info, "workers"))
    {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(w, "stats");
        if (!cJSON_IsObject(st))
            st = w; /* 0.13: the stats object itself */
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", w->string ? w->string : "");
        for (int i = 0; i < 4; i++) {
            cJSON_AddNumberToObject(e, outcomes[i], cli_num(st, outcomes[i]));
            tot[i] += cli_num(st, outcomes[i]);
        }
        cJSON_AddNumberToObject(e, "uptime_ms", cli_num(st, "uptime"));
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(w, "metadata");
        cJSON_AddItemToObject(e, "metadata", md ? cJSON_Duplicate(md, 1) : cJSON_CreateNull());
        cJSON_AddNullToObject(e, "libsaq");
        cJSON_AddItemToArray(workers, e);
    }
    cJSON_AddNumberToObject(doc, "workers_alive", cJSON_GetArraySize(workers));
    cJSON *totals = cJSON_AddObjectToObject(doc, "totals");
    for (int i = 0; i < 4; i++)
        cJSON_AddNumberToObject(totals, outcomes[i], tot[i]);
    cJSON_AddNullToObject(doc, "per_minute");
    cJSON_Delete(info);
    return doc;
}

void *cli_overview(saq_queue_t *q, saq_event_t **ev_out)
{
    uint64_t tag = cli_tag();
    int rc = saq_queue_overview(q, cli_cq(), tag);
    saq_event_t *ev;
    if (rc == SAQ_ESTATE) { /* a libsaq without the overview yet */
        tag = cli_tag();
        ev = cli_await(saq_queue_info(q, 0, 0, 1, cli_cq(), tag), tag);
    } else {
        ev = cli_await(rc, tag);
    }
    *ev_out = ev;
    if (!ev || saq_event_status(ev) != SAQ_OK)
        return NULL;
    cJSON *doc = rc == SAQ_ESTATE ? overview_from_info(q, saq_event_json(ev))
                                  : cJSON_Parse(saq_event_json(ev));
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

static void print_json(cJSON *doc)
{
    char *s = cJSON_Print(doc);
    if (s)
        puts(s);
    free(s);
}

static const char usage_info[] =
    "usage: saq info [-q QUEUE]... [--json]\n"
    "\n"
    "For each queue: jobs queued, active, scheduled (due later) and incomplete (all three), the\n"
    "age of the oldest queued job, the workers alive (Python saq's too) and the jobs each has\n"
    "completed, failed, retried and aborted since it started, with the per-minute rates when\n"
    "known. --json prints {\"queues\": [overview, ...]} (see saq_queue_overview in saq.h).\n";

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
        print_json(out);
        cJSON_Delete(out);
        close_all(qs, docs);
        return CLI_OK;
    }
    static const char *const h1[] = {"QUEUE", ">QUEUED", ">ACTIVE", ">SCHEDULED", ">INCOMPLETE",
                                     ">OLDEST", ">WORKERS", ">COMPLETE/MIN", ">FAILED/MIN"};
    cli_table_t *t = cli_table_new(9, h1);
    static const char *const h2[] = {"WORKER", "QUEUE", ">COMPLETE", ">FAILED", ">RETRIED",
                                     ">ABORTED", ">UPTIME", "KIND"};
    cli_table_t *tw = cli_table_new(8, h2);
    for (int i = 0; i < cli_opts.nqueues; i++) {
        cJSON *d = docs[i];
        const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(d, "jobs");
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(d, "oldest_queued_age_s");
        const cJSON *pm = cJSON_GetObjectItemCaseSensitive(d, "per_minute");
        char b[9][32];
        const char *row[9] = {
            cli_opts.queues[i],
            numtxt(cli_num(jobs, "queued"), b[1], 32),
            numtxt(cli_num(jobs, "active"), b[2], 32),
            numtxt(cli_num(jobs, "scheduled"), b[3], 32),
            numtxt(cli_num(jobs, "incomplete"), b[4], 32),
            cJSON_IsNumber(old) ? cli_fmt_dur(old->valuedouble, b[5], 32) : "-",
            numtxt(cli_num(d, "workers_alive"), b[6], 32),
            "-", "-"};
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
        print_json(out);
    cJSON_Delete(out);
    close_all(qs, docs);
    return code;
}

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

static int status_in(const char *status, const char *list)
{
    if (!list || !*list)
        return 1;
    size_t n = strlen(status);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, status, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
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
    if (len > 60)
        snprintf(buf, n, "%.57s...", s);
    else
        snprintf(buf, n, "%.*s", (int)len, s);
}

static void job_row(cli_table_t *t, saq_job_t *j)
{
    char att[32], queued[48], err[128];
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
    int code = CLI_OK, fallback = 0;
    joblist_t found = {0};
    do {
        uint64_t tag = cli_tag();
        /* SCAN's COUNT hint near the page size: pages of about --limit jobs on a small
         * database, more round trips (not more jobs) on a large one */
        int count = limit < 10 ? 10 : limit > 10000 ? 10000 : (int)limit;
        int src = saq_queue_iter_jobs(q, statuses, next, count, cli_cq(), tag);
        saq_event_t *ev;
        if (src == SAQ_ESTATE) { /* a libsaq without iter_jobs: unfinished jobs from info */
            fallback = 1;
            long off = atol(next);
            tag = cli_tag();
            ev = cli_await(saq_queue_info(q, 1, (int)off, (int)limit, cli_cq(), tag), tag);
            if (ev && saq_event_status(ev) == SAQ_OK) {
                cJSON *info = cJSON_Parse(saq_event_json(ev));
                const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(info, "jobs");
                int n = cJSON_GetArraySize(jobs);
                const cJSON *r;
                cJSON_ArrayForEach(r, jobs)
                {
                    char *txt = cJSON_PrintUnformatted(r);
                    saq_job_t *j = NULL;
                    if (txt && saq_job_parse(&j, txt, NULL, 0) == SAQ_OK &&
                        status_in(saq_job_status(j), statuses)) {
                        joblist_add(&found, j);
                        j = NULL;
                        listed++;
                    }
                    saq_job_free(j);
                    free(txt);
                }
                cJSON_Delete(info);
                if (n < limit)
                    snprintf(next, sizeof next, "0");
                else
                    snprintf(next, sizeof next, "%ld", off + n);
                saq_event_free(ev);
                break;
            }
        } else {
            ev = cli_await(src, tag);
        }
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
            print_json(out);
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
            if (fallback)
                fprintf(stderr, "saq: note: this libsaq (%s) lists unfinished jobs only\n",
                        saq_version_str());
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

static int fetch_job(saq_queue_t *q, const char *key, saq_event_t **out)
{
    *out = saq_queue_job_sync(q, key, (int)lround(cli_opts.timeout_s * 1000) + 250);
    if (*out && saq_event_status(*out) == SAQ_OK)
        return CLI_OK;
    if (*out && saq_event_status(*out) == SAQ_ENOTFOUND) {
        cli_errorf("no job '%s' in queue '%s'", key, saq_queue_name(q));
        saq_event_free(*out);
        *out = NULL;
        return CLI_NONE;
    }
    int code = cli_report(*out, "job");
    saq_event_free(*out);
    *out = NULL;
    return code;
}

static void field(char **b, size_t *n, const char *name, const char *value)
{
    if (!value)
        value = "-";
    cli_appendf(b, n, "%-12s ", name);
    /* multi-line values (tracebacks) go on indented lines */
    for (const char *p = value;;) {
        size_t len = strcspn(p, "\n");
        cli_appendf(b, n, "%.*s\n", (int)len, p);
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
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    saq_event_t *ev;
    rc = fetch_job(q, key, &ev);
    if (rc) {
        cli_close(q);
        return rc;
    }
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
                    cli_errorf("no job '%s' in queue '%s'", key, saq_queue_name(q));
                    rc = CLI_NONE;
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
    if (saq_job_retry_backoff(j))
        snprintf(v, sizeof v, "%g s, exponential backoff%s", saq_job_retry_delay(j),
                 saq_job_retry_backoff_cap(j) > 0 ? " (capped)" : "");
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

static double parse_when(const char *s)
{
    double v = cli_parse_seconds(s);
    if (v >= 0)
        return v;
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!end || (*end && strcmp(end, "Z") != 0))
        return -1;
    return (double)timegm(&tm);
}

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
            if ((o.scheduled = parse_when(optarg)) < 0)
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
    saq_event_t *ev = saq_queue_enqueue_sync(q, j, (int)lround(cli_opts.timeout_s * 1000) + 250);
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
    print_json(o);
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
    saq_event_t *ev = saq_queue_abort_sync(q, key, error, 5,
                                           (int)lround(cli_opts.timeout_s * 1000) + 250);
    if (ev && saq_event_status(ev) == SAQ_ENOTFOUND) {
        cli_errorf("no job '%s' in queue '%s'", key, saq_queue_name(q));
        rc = CLI_NONE;
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
    int rc = cli_open(cli_opts.queues[0], &q);
    if (rc)
        return rc;
    saq_event_t *ev;
    rc = fetch_job(q, key, &ev);
    if (rc) {
        cli_close(q);
        return rc;
    }
    saq_job_t *old = saq_event_job(ev);
    const char *was = saq_job_status(old);
    saq_event_t *rev = NULL;
    if (saq_status_terminal(was)) {
        saq_job_t *j = fresh_copy(old);
        if (!j) {
            rc = CLI_ERR;
            goto out;
        }
        rev = saq_queue_enqueue_sync(q, j, (int)lround(cli_opts.timeout_s * 1000) + 250);
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
            print_json(o);
            cJSON_Delete(o);
        } else {
            int n = cJSON_GetArraySize(ids);
            printf("swept %d job%s\n", n, n == 1 ? "" : "s");
            const cJSON *id;
            cJSON_ArrayForEach(id, ids)
            {
                if (cJSON_IsString(id))
                    printf("%s\n", id->valuestring);
            }
            cJSON_Delete(ids);
        }
    }
    saq_event_free(ev);
    cli_close(q);
    return rc;
}
