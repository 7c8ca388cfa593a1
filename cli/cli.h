/* SPDX-License-Identifier: MIT */
/* saq: the command-line tool. Shared declarations of its files (main.c, common.c,
 * queuecmds.c, jobs.c, jobops.c, watch.c, metrics.c, cron.c, limits.c). It uses libsaq's public API (saq.h) only. */
#ifndef SAQ_CLI_H
#define SAQ_CLI_H

#include <cjson/cJSON.h>
#include <saq.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (documented in saq.1 and cli/README.md). */
#define CLI_OK 0       /* success */
#define CLI_NONE 1     /* not found, nothing done, no worker alive (check) */
#define CLI_ERR 2      /* usage error, bad url, Redis unreachable or an error reply */

#define CLI_MAX_QUEUES 64

/* The global options, set once by main() before a subcommand runs. */
typedef struct {
    const char *url;                       /* the Redis url (never printed with its password) */
    const char *queues[CLI_MAX_QUEUES];    /* --queue values, at least one */
    int nqueues;
    int queues_given;                      /* a --queue was on the command line */
    const char *dialect;                   /* NULL = the library's default */
    int json;                              /* --json */
    double timeout_s;                      /* --timeout: per Redis operation, seconds */
} cli_opts_t;

extern cli_opts_t cli_opts;

/* ---- main.c ---- */

struct option;
/** getopt_long over a subcommand's arguments (argv[0] is the subcommand) with its own options
 *  `own` (NULL-terminated, may be NULL) and `shortopts`, plus the global options, which it
 *  applies itself, and --help/-h, which prints `usage` and exits 0. Returns the next own option
 *  (optarg set) or -1 at the end (optind: the first operand). An unknown option or a missing
 *  argument prints a one-line error and exits CLI_ERR. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *own,
               const char *usage);
/** After cli_getopt: exit with a usage error unless exactly `n` operands are left (n 0 or 1);
 *  `what` names the missing one. Returns the operand (n 1) or NULL. */
const char *cli_operands(const char *cmd, int argc, char **argv, int n, const char *what);
/** Print "saq <cmd>: <fmt>", a hint to --help, and exit CLI_ERR. */
void cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* ---- common.c ---- */

/** Open the queue `name` with the global url, dialect and timeout; on failure print the reason
 *  and return CLI_ERR (*out NULL), else CLI_OK. The caller frees with cli_close. */
int cli_open(const char *name, saq_queue_t **out);
/** Close (short drain) and free a queue from cli_open; NULL is a no-op. */
void cli_close(saq_queue_t *q);
/** A fresh tag for an operation on the process's completion queue. */
uint64_t cli_tag(void);
/** The process's completion queue (made on first use; NULL only when out of memory). */
saq_cq_t *cli_cq(void);
/** Wait for the event of an operation submitted with `tag` whose submit returned `rc`, up to
 *  --timeout. Returns the event (owned; its status may be an error) or NULL: the submit failed,
 *  or no answer in time; cli_last_status()/cli_last_msg() then tell why. */
saq_event_t *cli_await(int rc, uint64_t tag);
/** How long to wait for an operation's event: --timeout and a little more, so that the
 *  library's own timeout error comes first. */
int cli_wait_ms(void);
/** cli_await waiting up to `timeout_ms` instead */
saq_event_t *cli_await_ms(int rc, uint64_t tag, int timeout_ms);
int cli_last_status(void);
const char *cli_last_msg(void);
/** Status and message of an event from cli_await (NULL: the last failure's). Message borrowed. */
int cli_ev_status(const saq_event_t *ev);
const char *cli_ev_msg(const saq_event_t *ev);
/** Non-zero when the status means Redis could not be reached (connection, TLS, timeout). */
int cli_is_conn_error(int status);
/** Print the failure of `what` (an event or NULL after cli_await) as one line on stderr and
 *  return the exit code: CLI_NONE for SAQ_ENOTFOUND, CLI_ERR otherwise. */
int cli_report(const saq_event_t *ev, const char *what);
/** Print "saq: <what> '<id>' not found in queue '<queue>'" (what: "job" or "flow") on stderr,
 *  the one form of every command's not-found message, and return CLI_NONE. */
int cli_not_found(const char *what, const char *id, const char *queue);
/** The global url with its password replaced by "***" (static buffer). */
const char *cli_url_redacted(void);
/** Print a JSON document (indented) and a newline on stdout. */
void cli_print_json(const cJSON *doc);
/** The number member `name` of a JSON object, 0 when absent or not a number. */
double cli_num(const cJSON *o, const char *name);
/** `s` made safe to print on a terminal (owned, NULL when out of memory; NULL `s` is ""):
 *  control characters (ESC, newlines, C1 controls such as CSI) and bytes that are not UTF-8
 *  become visible escapes ("\\e", "\\n", "\\x9B"), so hostile data in Redis (a key, a
 *  worker id, an error text) cannot move the cursor, clear the screen or break a table. */
char *cli_clean(const char *s);
/** cli_clean of the first `n` bytes of `s` */
char *cli_clean_n(const char *s, size_t n);
/** How many bytes of UTF-8 text `s` (at most `n` bytes) fit in `cols` terminal columns (wide
 *  characters take 2), whole characters only; *used (may be NULL) gets their columns. */
size_t cli_fit_cols(const char *s, size_t n, size_t cols, size_t *used);
/** Print "saq: <fmt>" and a newline on stderr, cleaned (cli_clean: one line, no escapes). */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** A duration in seconds as short text ("850ms", "12.3s", "4m12s", "2h03m", "3d04h"); "-" for a
 *  negative value. Writes into buf (at least 16 bytes) and returns it. */
char *cli_fmt_dur(double s, char *buf, size_t n);
/** Epoch milliseconds as "YYYY-MM-DDTHH:MM:SSZ" (UTC), "-" for 0. */
char *cli_fmt_time_ms(int64_t ms, char *buf, size_t n);
/** Current time in epoch milliseconds. */
int64_t cli_now_ms(void);
/** Parse a non-negative number of seconds ("1.5"); -1 when it is not one. */
double cli_parse_seconds(const char *s);
/** A time: epoch seconds, or UTC "YYYY-MM-DDTHH:MM:SS[Z]" (or with a space); -1 when neither. */
double cli_parse_when(const char *s);
/** Parse an integer in [lo, hi] into *out; 0 on success, -1 otherwise. */
int cli_parse_int(const char *s, long lo, long hi, long *out);

/* A text table: cells are copied; columns whose header starts with '>' are right-aligned (the
 * '>' is not printed). */
typedef struct cli_table cli_table_t;
cli_table_t *cli_table_new(int ncols, const char *const *headers);
void cli_table_row(cli_table_t *t, const char *const *cells);
/** Print to a buffer (append) or to stdout (buf NULL); then free the table. */
void cli_table_emit(cli_table_t *t, char **buf, size_t *len);
size_t cli_table_rows(const cli_table_t *t);
/** Free a table without printing it; NULL is a no-op. */
void cli_table_free(cli_table_t *t);

/** Append printf text to a growable buffer (*buf may be NULL). */
void cli_appendf(char **buf, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- queuecmds.c ---- */

/** A queue's figures: saq_queue_overview's document, parsed (owned: cJSON_Delete), or NULL
 *  with *ev_out holding the failed event (or NULL after a timeout; see cli_await). */
cJSON *cli_overview(saq_queue_t *q, saq_event_t **ev_out);

int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);

/* ---- jobs.c ---- */

/** Read job `key` into *out (the JOB event, owned) and return CLI_OK; else print why (no such
 *  job: CLI_NONE; Redis: CLI_ERR) with *out NULL. */
int cli_fetch_job(saq_queue_t *q, const char *key, saq_event_t **out);

/** Open the first --queue and read job `key` from it (cli_open, cli_fetch_job): CLI_OK with
 *  both owned by the caller, or the exit code with the failure printed and nothing left open. */
int cli_open_job(const char *key, saq_queue_t **q, saq_event_t **ev);

int cmd_jobs(int argc, char **argv);
int cmd_job(int argc, char **argv);

/* ---- jobops.c ---- */
int cmd_enqueue(int argc, char **argv);
int cmd_abort(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_delete(int argc, char **argv);

/* ---- watch.c ---- */
int cmd_watch(int argc, char **argv);

/* ---- metrics.c ---- */
int cmd_metrics(int argc, char **argv);

/* ---- flow.c ---- */
int cmd_flow(int argc, char **argv);

/* ---- cron.c ---- */
int cmd_cron(int argc, char **argv);

/* ---- limits.c ---- */
int cmd_limits(int argc, char **argv);

#endif
