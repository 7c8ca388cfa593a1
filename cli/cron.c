/* SPDX-License-Identifier: MIT */
/* saq cron: the next fire times of a cron job, in UTC or in an IANA time zone (cron_tz), as a
 * libsaq worker schedules them (saq_cron_next). No Redis. */
#define _GNU_SOURCE
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_cron[] =
    "usage: saq cron EXPR [--tz ZONE] [-n N] [--after T] [--json]\n"
    "\n"
    "Print the next fire times of the cron expression EXPR as a libsaq worker schedules a cron\n"
    "job (croniter's reading, as Python saq 0.26), in ZONE's wall clock and in UTC: a check of a\n"
    "schedule before a worker runs it, e.g. across a daylight-saving change. No Redis needed.\n"
    "The first line names the version of the time zone data (the system's tzdata).\n"
    "      --tz ZONE        an IANA time zone, the cron job's cron_tz (America/New_York);\n"
    "                       default UTC\n"
    "  -n, --count N        how many fire times (default 5, at most 1000)\n"
    "      --after T        the first one after T: epoch seconds, or UTC\n"
    "                       \"YYYY-MM-DDTHH:MM:SS[Z]\" (default now)\n"
    "Exit status: 0; 1 when it never fires within 50 years; 2 for a bad expression or zone.\n";

/* t + off seconds as "YYYY-MM-DD HH:MM:SS" and off as "+HH:MM" */
static void fmt_local(int64_t t, int32_t off, char *when, size_t wn, char *offs, size_t on)
{
    time_t lt = (time_t)(t + off);
    struct tm tm;
    gmtime_r(&lt, &tm);
    strftime(when, wn, "%Y-%m-%d %H:%M:%S", &tm);
    int a = off < 0 ? -off : off;
    snprintf(offs, on, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

int cmd_cron(int argc, char **argv)
{
    enum { O_TZ = 0x200, O_AFTER };
    static const struct option own[] = {{"tz", required_argument, NULL, O_TZ},
                                        {"count", required_argument, NULL, 'n'},
                                        {"after", required_argument, NULL, O_AFTER},
                                        {NULL, 0, NULL, 0}};
    const char *tz = NULL;
    long count = 5;
    double after = (double)time(NULL);
    int c;
    while ((c = cli_getopt(argc, argv, "n:", own, usage_cron)) != -1) {
        if (c == O_TZ)
            tz = optarg;
        else if (c == 'n' && cli_parse_int(optarg, 1, 1000, &count))
            cli_usage_error("cron", "--count: '%s' is not a whole number in [1, 1000]", optarg);
        else if (c == O_AFTER && (after = cli_parse_when(optarg)) < 0)
            cli_usage_error("cron", "--after: '%s' is not epoch seconds or YYYY-MM-DDTHH:MM:SS", optarg);
    }
    const char *expr = cli_operands("cron", argc, argv, 1, "the cron EXPR");
    int64_t times[1000];
    int32_t offs[1000];
    char err[256];
    int n = saq_cron_next(expr, tz, (int64_t)after, (int)count, times, offs, err, sizeof err);
    if (n < 0) {
        cli_errorf("%s", err);
        return CLI_ERR;
    }
    const char *zone = tz && *tz ? tz : "UTC";
    cJSON *arr = cJSON_CreateArray();
    static const char *const hdr[] = {"LOCAL", "OFFSET", "UTC", ">EPOCH"};
    cli_table_t *t = cli_opts.json ? NULL : cli_table_new(4, hdr);
    for (int i = 0; i < n; i++) {
        char local[32], off[16], utc[32], epoch[24];
        fmt_local(times[i], offs[i], local, sizeof local, off, sizeof off);
        cli_fmt_time_ms(times[i] * 1000, utc, sizeof utc);
        snprintf(epoch, sizeof epoch, "%lld", (long long)times[i]);
        if (t) {
            const char *row[] = {local, off, utc, epoch};
            cli_table_row(t, row);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "time", (double)times[i]);
            cJSON_AddStringToObject(o, "utc", utc);
            cJSON_AddStringToObject(o, "local", local);
            cJSON_AddNumberToObject(o, "utc_offset", offs[i]);
            cJSON_AddItemToArray(arr, o);
        }
    }
    if (t) {
        char *clean = cli_clean(expr);
        printf("cron '%s' in %s (tz data %s):\n", clean ? clean : "", zone, saq_tzdata_version());
        free(clean);
        if (n > 0)
            cli_table_emit(t, NULL, NULL);
        else
            cli_table_free(t);
        if (n < count)
            printf("(no later fire time within 50 years)\n");
    } else {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "cron", expr);
        cJSON_AddStringToObject(doc, "cron_tz", zone);
        cJSON_AddStringToObject(doc, "tzdata", saq_tzdata_version());
        cJSON_AddItemToObject(doc, "fire_times", arr);
        arr = NULL;
        cli_print_json(doc);
        cJSON_Delete(doc);
    }
    cJSON_Delete(arr);
    return n > 0 ? CLI_OK : CLI_NONE;
}
