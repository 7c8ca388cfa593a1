/* SPDX-License-Identifier: MIT */
/* saq: the command-line tool for libsaq / Python saq queues. main(): the global options, the
 * subcommand dispatch, usage texts. */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cli_opts_t cli_opts;

static const char usage_main[] =
    "usage: saq [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Inspect and operate SAQ queues (libsaq and Python saq share them).\n"
    "\n"
    "Commands:\n"
    "  info                 counts, oldest job, workers alive and their counters\n"
    "  jobs                 list jobs, filtered by status, paginated\n"
    "  job KEY              one job's record\n"
    "  enqueue FUNCTION [KWARGS_JSON]   enqueue a job, print its key\n"
    "  abort KEY            abort a job\n"
    "  retry KEY            run a finished job again (failed, aborted or complete)\n"
    "  delete KEY           delete a job, record and every entry (--force: a running one)\n"
    "  sweep                recover stuck active jobs now\n"
    "  watch                a live view of the queues (q or Ctrl-C quits)\n"
    "  check                exit 0 when a worker of each queue is alive, 1 when none\n"
    "  metrics              Prometheus metrics: --listen ADDR serves /metrics, --once prints\n"
    "  flow ID              a flow: its state, callback and members' outcomes\n"
    "  cron EXPR            the next fire times of a cron job, in UTC or --tz ZONE (no Redis)\n"
    "  limits               the rate limits and global concurrency libsaq workers enforce\n"
    "  pause                pause the queue (-q): libsaq workers take no more of its jobs\n"
    "                       within timers.pause (0.5 s by default)\n"
    "  resume               resume the paused queue (-q)\n"
    "\n"
    "Global options (also accepted after the command):\n"
    "  -u, --url URL        Redis url: redis://, rediss://, unix://, redis+sentinel://,\n"
    "                       redis+cluster:// ... (default $SAQ_URL, else $REDIS_URL, else\n"
    "                       redis://localhost:6379/0)\n"
    "  -q, --queue NAME     queue name (default $SAQ_QUEUE, else \"default\"); info, watch,\n"
    "                       check and metrics take it several times\n"
    "      --dialect D      \"0.26\" (default) or \"0.13\": the Python saq the records follow\n"
    "      --json           machine-readable output (JSON) instead of tables\n"
    "      --timeout S      seconds to wait for each Redis operation (default 5)\n"
    "  -h, --help           this help; COMMAND --help: the command's\n"
    "  -V, --version        the versions of saq and of the libsaq it runs with\n"
    "\n"
    "Exit status: 0 success; 1 not found, nothing done, or no worker alive (check);\n"
    "2 usage error, bad url, Redis unreachable or an error from Redis.\n";

enum { OPT_DIALECT = 0x100, OPT_JSON, OPT_TIMEOUT };

static const struct option global_opts[] = {
    {"url", required_argument, NULL, 'u'},
    {"queue", required_argument, NULL, 'q'},
    {"dialect", required_argument, NULL, OPT_DIALECT},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
};
#define NGLOBAL (sizeof global_opts / sizeof global_opts[0])

void cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    char *clean = n >= 0 ? cli_clean(msg) : NULL;
    fprintf(stderr, "saq%s%s: %s (saq %s%s--help)\n", cmd ? " " : "", cmd ? cmd : "",
            clean ? clean : "usage error", cmd ? cmd : "", cmd ? " " : "");
    free(clean);
    free(msg);
    exit(CLI_ERR);
}

const char *cli_operands(const char *cmd, int argc, char **argv, int n, const char *what)
{
    if (optind + n < argc)
        cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + n]);
    if (optind + n > argc)
        cli_usage_error(cmd, "missing %s", what);
    return n ? argv[optind] : NULL;
}

/* getopt's '?' (unknown option) and ':' (missing value): a usage error */
static void getopt_error(const char *cmd, int c, char **argv)
{
    if (c == '?' && optopt)
        cli_usage_error(cmd, "unknown option '-%c'", optopt);
    if (c == '?')
        cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
}

static void print_version(void)
{
    printf("saq %s (libsaq %s)\n", SAQ_VERSION_STR, saq_version_str());
    exit(CLI_OK);
}

/* a global option: applied; 0 when `c` is not one */
static int global_opt(const char *cmd, int c, const char *arg)
{
    switch (c) {
    case 'u':
        cli_opts.url = arg;
        return 1;
    case 'q':
        if (!cli_opts.queues_given) {
            cli_opts.nqueues = 0;
            cli_opts.queues_given = 1;
        }
        if (cli_opts.nqueues == CLI_MAX_QUEUES)
            cli_usage_error(cmd, "at most %d --queue values", CLI_MAX_QUEUES);
        for (int i = 0; i < cli_opts.nqueues; i++)
            if (strcmp(cli_opts.queues[i], arg) == 0)
                return 1;
        cli_opts.queues[cli_opts.nqueues++] = arg;
        return 1;
    case OPT_DIALECT:
        cli_opts.dialect = arg;
        return 1;
    case OPT_JSON:
        cli_opts.json = 1;
        return 1;
    case OPT_TIMEOUT: {
        double t = cli_parse_seconds(arg);
        if (t <= 0 || t > 86400)
            cli_usage_error(cmd, "--timeout: '%s' is not a number of seconds in (0, 86400]", arg);
        cli_opts.timeout_s = t;
        return 1;
    }
    case 'V':
        print_version();
        return 1;
    default:
        return 0;
    }
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *own,
               const char *usage)
{
    static struct option merged[64];
    static char shorts[128];
    static const struct option *last_own;
    static int ready;
    const char *cmd = argv[0];
    if (!ready || last_own != own) {
        size_t n = 0;
        for (const struct option *o = own; o && o->name; o++)
            merged[n++] = *o;
        for (size_t i = 0; i < NGLOBAL; i++)
            merged[n++] = global_opts[i];
        memset(&merged[n], 0, sizeof merged[n]);
        snprintf(shorts, sizeof shorts, ":%su:q:hV", shortopts ? shortopts : "");
        last_own = own;
        ready = 1;
    }
    for (;;) {
        int c = getopt_long(argc, argv, shorts, merged, NULL);
        if (c == -1)
            return -1;
        if (c == 'h') {
            fputs(usage, stdout);
            exit(CLI_OK);
        }
        if (c == '?' || c == ':')
            getopt_error(cmd, c, argv);
        if (global_opt(cmd, c, optarg))
            continue;
        return c;
    }
}

/* atexit: output that could not be written (a full disk, a closed pipe with SIGPIPE ignored)
 * is an error, not a silent success */
static void check_stdout(void)
{
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int err = errno;
    if (bad && err != EPIPE) {
        fprintf(stderr, "saq: cannot write the output: %s\n", strerror(err));
        fflush(stderr);
        _exit(CLI_ERR);
    }
    if (bad)
        _exit(CLI_ERR);
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
} commands[] = {
    {"info", cmd_info},       {"jobs", cmd_jobs},   {"job", cmd_job},
    {"enqueue", cmd_enqueue}, {"abort", cmd_abort}, {"retry", cmd_retry},
    {"sweep", cmd_sweep},     {"watch", cmd_watch}, {"check", cmd_check},
    {"metrics", cmd_metrics}, {"delete", cmd_delete}, {"flow", cmd_flow}, {"cron", cmd_cron},
    {"limits", cmd_limits},
    {"pause", cmd_pause},     {"resume", cmd_resume},
};

int main(int argc, char **argv)
{
    const char *env;
    cli_opts.url = (env = getenv("SAQ_URL")) && *env ? env
                   : (env = getenv("REDIS_URL")) && *env ? env
                                                          : "redis://localhost:6379/0";
    cli_opts.queues[0] = (env = getenv("SAQ_QUEUE")) && *env ? env : "default";
    cli_opts.nqueues = 1;
    cli_opts.timeout_s = 5;
    atexit(check_stdout);
    /* a UTF-8 LC_CTYPE for wcwidth (table alignment of wide characters); numbers keep "C" */
    if (!setlocale(LC_CTYPE, "") || MB_CUR_MAX == 1)
        setlocale(LC_CTYPE, "C.UTF-8");

    /* the global options before the command ('+': stop at the first operand) */
    static struct option opts[NGLOBAL + 1];
    memcpy(opts, global_opts, sizeof global_opts);
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+:u:q:hV", opts, NULL);
        if (c == -1)
            break;
        if (c == 'h') {
            fputs(usage_main, stdout);
            return CLI_OK;
        }
        if (c == '?' || c == ':')
            getopt_error(NULL, c, argv);
        global_opt(NULL, c, optarg);
    }
    if (optind >= argc) {
        fputs(usage_main, stderr);
        return CLI_ERR;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        fputs(usage_main, stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* glibc: full re-initialisation for the command's own parse */
            return commands[i].fn(sub_argc, sub_argv);
        }
    }
    cli_usage_error(NULL, "unknown command '%s'", name);
}
