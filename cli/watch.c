/* SPDX-License-Identifier: MIT */
/* saq watch: a live view of the queues that refreshes in place until q or Ctrl-C. */
#define _GNU_SOURCE
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static const char usage_watch[] =
    "usage: saq watch [--interval S] [-q QUEUE]...\n"
    "\n"
    "A live view of the queues, redrawn in place every S seconds (default 1): jobs queued,\n"
    "active and scheduled, the oldest queued job's age, the workers alive, the rates of\n"
    "completed, failed and retried jobs (per second, from the workers' counters between two\n"
    "refreshes), whether the queue is paused (saq pause: PAUSED yes, and a line under the table),\n"
    "and each worker's counters. q or Ctrl-C quits. When Redis cannot be reached\n"
    "the view says \"Redis unreachable: <reason>\", keeps the last figures and goes on trying;\n"
    "it recovers by itself when Redis is back.\n"
    "  -i, --interval S     seconds between refreshes (0.1 .. 3600; default 1)\n";

static volatile sig_atomic_t stop, resized;
static struct termios saved_tio;
static int tio_saved, screen_on;

static void on_signal(int sig)
{
    if (sig == SIGWINCH)
        resized = 1;
    else
        stop = 1;
}

static void restore_terminal(void)
{
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
        tio_saved = 0;
    }
    if (screen_on) {
        fputs("\033[?25h\033[?1049l", stdout);
        fflush(stdout);
        screen_on = 0;
    }
}

typedef struct {
    double tot[3];  /* complete, failed, retried: sums over the live workers */
    int64_t at_ms;  /* when read */
    double rate[3]; /* per second over the last refresh, -1 = unknown */
    int have;
} rates_t;

static void update_rates(rates_t *r, const cJSON *doc, int64_t now)
{
    static const char *const k[3] = {"complete", "failed", "retried"};
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(doc, "totals");
    double cur[3];
    for (int i = 0; i < 3; i++)
        cur[i] = cli_num(tot, k[i]);
    for (int i = 0; i < 3; i++) {
        if (r->have && now > r->at_ms) {
            double d = cur[i] - r->tot[i];
            r->rate[i] = d < 0 ? 0 : d * 1000.0 / (double)(now - r->at_ms);
        } else {
            r->rate[i] = -1;
        }
        r->tot[i] = cur[i];
    }
    r->at_ms = now;
    r->have = 1;
}

static char *fmt_rate(double r, char *buf, size_t n)
{
    if (r < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.1f", r);
    return buf;
}

/* one frame of text (owned) */
static char *render(cJSON **docs, rates_t *rates, const char *trouble, int64_t trouble_since,
                    double interval)
{
    char *b = NULL, t[48], d[32];
    size_t n = 0;
    int64_t now = cli_now_ms();
    cli_appendf(&b, &n, "saq watch  %s  every %gs  %s  (q quits)\n", cli_url_redacted(), interval,
                cli_fmt_time_ms(now, t, sizeof t));
    if (trouble) {
        char *clean = cli_clean(trouble);
        cli_appendf(&b, &n, "Redis unreachable: %s\n  for %s; the figures below are the last read\n",
                    clean ? clean : "", cli_fmt_dur((double)(now - trouble_since) / 1000, d, sizeof d));
        free(clean);
    }
    else
        cli_appendf(&b, &n, "\n\n");
    cli_appendf(&b, &n, "\n");
    static const char *const h1[] = {"QUEUE",   ">QUEUED",     ">ACTIVE",   ">SCHEDULED",
                                     ">OLDEST", ">WORKERS",    ">COMPLETE/S", ">FAILED/S",
                                     ">RETRIED/S", "PAUSED"};
    cli_table_t *tq = cli_table_new(10, h1);
    static const char *const h2[] = {"WORKER", "QUEUE", ">COMPLETE", ">FAILED", ">RETRIED",
                                     ">ABORTED", ">UPTIME"};
    cli_table_t *tw = cli_table_new(7, h2);
    int npaused = 0;
    for (int i = 0; i < cli_opts.nqueues; i++) {
        char c[9][32];
        const cJSON *doc = docs[i];
        if (!doc) {
            const char *row[10] = {cli_opts.queues[i], "?", "?", "?", "?", "?", "?", "?", "?", "?"};
            cli_table_row(tq, row);
            continue;
        }
        const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(doc, "jobs");
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(doc, "oldest_queued_age_s");
        snprintf(c[0], 32, "%.0f", cli_num(jobs, "queued"));
        snprintf(c[1], 32, "%.0f", cli_num(jobs, "active"));
        snprintf(c[2], 32, "%.0f", cli_num(jobs, "scheduled"));
        snprintf(c[4], 32, "%.0f", cli_num(doc, "workers_alive"));
        int paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "paused"));
        if (paused)
            npaused++;
        const char *row[10] = {cli_opts.queues[i],
                              c[0],
                              c[1],
                              c[2],
                              cJSON_IsNumber(old) ? cli_fmt_dur(old->valuedouble, c[3], 32) : "-",
                              c[4],
                              fmt_rate(trouble ? -1 : rates[i].rate[0], c[5], 32),
                              fmt_rate(trouble ? -1 : rates[i].rate[1], c[6], 32),
                              fmt_rate(trouble ? -1 : rates[i].rate[2], c[7], 32),
                              paused ? "yes" : "no"};
        cli_table_row(tq, row);
        const cJSON *w;
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(doc, "workers"))
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(w, "id");
            char v[5][32];
            snprintf(v[0], 32, "%.0f", cli_num(w, "complete"));
            snprintf(v[1], 32, "%.0f", cli_num(w, "failed"));
            snprintf(v[2], 32, "%.0f", cli_num(w, "retried"));
            snprintf(v[3], 32, "%.0f", cli_num(w, "aborted"));
            const char *wr[7] = {cJSON_IsString(id) ? id->valuestring : "?", cli_opts.queues[i],
                                 v[0], v[1], v[2], v[3],
                                 cli_fmt_dur(cli_num(w, "uptime_ms") / 1000, v[4], 32)};
            cli_table_row(tw, wr);
        }
    }
    cli_table_emit(tq, &b, &n);
    for (int i = 0; npaused && i < cli_opts.nqueues; i++)
        if (docs[i] && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(docs[i], "paused"))) {
            char *clean = cli_clean(cli_opts.queues[i]);
            cli_appendf(&b, &n, "queue '%s' is PAUSED: libsaq workers take none of its jobs (saq resume -q %s)\n",
                        clean ? clean : "?", clean ? clean : "?");
            free(clean);
        }
    cli_appendf(&b, &n, "\n");
    if (cli_table_rows(tw)) {
        cli_table_emit(tw, &b, &n);
    } else {
        cli_table_free(tw);
        cli_appendf(&b, &n, "no worker alive\n");
    }
    return b;
}

static void draw(const char *frame, int tty)
{
    if (!tty) {
        fputs(frame, stdout);
        fputc('\n', stdout);
        if (fflush(stdout) != 0)
            stop = 1; /* the output is gone (a full disk, a closed pipe): main reports it */
        return;
    }
    /* the frame cut to the terminal's size: a line wider than the terminal would wrap and a
     * frame taller would scroll, and the next frame, drawn from the top, would mix with it */
    struct winsize ws = {0};
    size_t cols = 80, rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row)
        cols = ws.ws_col, rows = ws.ws_row;
    fputs("\033[H", stdout);
    size_t row = 0;
    for (const char *p = frame; *p && row < rows; row++) {
        size_t len = strcspn(p, "\n");
        fwrite(p, 1, cli_fit_cols(p, len, cols, NULL), stdout);
        fputs("\033[K", stdout);
        p += len;
        if (*p == '\n')
            p++;
        if (*p && row + 1 < rows)
            fputs("\r\n", stdout);
    }
    fputs("\033[J", stdout);
    if (fflush(stdout) != 0)
        stop = 1;
}

int cmd_watch(int argc, char **argv)
{
    static const struct option own[] = {{"interval", required_argument, NULL, 'i'},
                                        {NULL, 0, NULL, 0}};
    double interval = 1;
    int c;
    while ((c = cli_getopt(argc, argv, "i:", own, usage_watch)) != -1) {
        if (c == 'i') {
            interval = cli_parse_seconds(optarg);
            if (interval < 0.1 || interval > 3600)
                cli_usage_error("watch", "--interval: '%s' is not a number of seconds in "
                                         "0.1 .. 3600", optarg);
        }
    }
    cli_operands("watch", argc, argv, 0, NULL);
    saq_queue_t *qs[CLI_MAX_QUEUES] = {0};
    cJSON *docs[CLI_MAX_QUEUES] = {0};
    rates_t rates[CLI_MAX_QUEUES] = {0};
    int rc = CLI_OK;
    for (int i = 0; i < cli_opts.nqueues && rc == CLI_OK; i++)
        rc = cli_open(cli_opts.queues[i], &qs[i]);
    if (rc)
        goto out;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL); /* no SA_RESTART: the wait below wakes up and redraws */
    int tty_in = isatty(STDIN_FILENO), tty_out = isatty(STDOUT_FILENO);
    if (tty_in && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
        struct termios raw = saved_tio;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tio_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    if (tty_out) {
        fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
        screen_on = 1;
    }
    atexit(restore_terminal);

    char trouble[512] = "";
    int64_t trouble_since = 0;
    while (!stop) {
        int failed = 0;
        for (int i = 0; i < cli_opts.nqueues && !failed; i++) {
            saq_event_t *ev;
            cJSON *doc = cli_overview(qs[i], &ev);
            if (!doc) {
                if (!trouble[0])
                    trouble_since = cli_now_ms();
                snprintf(trouble, sizeof trouble, "%s", cli_ev_msg(ev));
                saq_event_free(ev);
                failed = 1;
                for (int k = 0; k < cli_opts.nqueues; k++)
                    rates[k].have = 0; /* no rate across an outage */
                break;
            }
            update_rates(&rates[i], doc, cli_now_ms());
            cJSON_Delete(docs[i]);
            docs[i] = doc;
        }
        if (!failed)
            trouble[0] = '\0';
        char *frame = render(docs, rates, trouble[0] ? trouble : NULL, trouble_since, interval);
        if (frame)
            draw(frame, tty_out);
        free(frame);
        /* wait for the next refresh, a key, or a signal */
        int64_t until = cli_now_ms() + (int64_t)llround(interval * 1000);
        while (!stop) {
            if (resized) {
                resized = 0;
                frame = render(docs, rates, trouble[0] ? trouble : NULL, trouble_since, interval);
                if (frame)
                    draw(frame, tty_out);
                free(frame);
            }
            int64_t left = until - cli_now_ms();
            if (left <= 0)
                break;
            struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
            int pr = poll(&pfd, tty_in ? 1 : 0, (int)left);
            if (pr < 0 && errno != EINTR)
                break;
            if (pr > 0 && (pfd.revents & POLLIN)) {
                char ch[16];
                ssize_t got = read(STDIN_FILENO, ch, sizeof ch);
                if (got <= 0) {
                    tty_in = 0; /* end of input: wait on the clock only */
                    continue;
                }
                for (ssize_t k = 0; k < got; k++)
                    if (ch[k] == 'q' || ch[k] == 'Q' || ch[k] == 3 /* ^C in raw mode */)
                        stop = 1;
            } else if (pr > 0) {
                tty_in = 0;
            }
        }
    }
    restore_terminal();
out:
    for (int i = 0; i < cli_opts.nqueues; i++) {
        cJSON_Delete(docs[i]);
        cli_close(qs[i]);
    }
    return rc;
}
