/* SPDX-License-Identifier: MIT */
/* cron-next: libsaq's cron parser/evaluator as a line-oriented filter, for
 * the croniter differential test (tests/cron/differential.py).
 *
 * Each input line is "<start epoch seconds> <count> [TZ=<zone> ]<expression...>"
 * (the expression is the rest of the line after one space; with TZ=, it is
 * evaluated in that IANA zone through tz.c, as saq's cron_tz). Each output line is
 *   OK t1 t2 ...   up to <count> consecutive fire times (epoch seconds, UTC),
 *                  ending early with "-" where saq__cron_next found none (-1)
 *   ERR <message>  when the expression is refused
 * Tabs in the expression are written as \t, newlines as \n (escapes are
 * undone before parsing), so one expression is always one line. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "tz.h"

/* Undo the \t \n \r \v \f \\ escapes of the input in place. */
static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            switch (*s) {
            case 't': *o++ = '\t'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 'v': *o++ = '\v'; break;
            case 'f': *o++ = '\f'; break;
            default: *o++ = *s; break;
            }
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        char *p = line, *end;
        int64_t t = strtoll(p, &end, 10);
        if (end == p || *end != ' ') {
            printf("ERR bad input line\n");
            continue;
        }
        p = end + 1;
        long count = strtol(p, &end, 10);
        if (end == p || (*end != ' ' && *end != '\0')) {
            printf("ERR bad input line\n");
            continue;
        }
        p = *end ? end + 1 : end;
        saq__tz_t *zone = NULL;
        char err[256];
        if (!strncmp(p, "TZ=", 3)) {
            char *sp = strchr(p, ' ');
            if (sp)
                *sp = '\0';
            zone = saq__tz_open(p + 3, err, sizeof err);
            p = sp ? sp + 1 : p + strlen(p);
            if (!zone) {
                printf("ERR %s\n", err);
                continue;
            }
        }
        unescape(p);
        saq__cron_t c;
        if (saq__cron_parse(p, &c, err, sizeof err)) {
            printf("ERR %s\n", err);
            saq__tz_free(zone);
            continue;
        }
        fputs("OK", stdout);
        for (long i = 0; i < count; i++) {
            t = saq__cron_next_in(&c, t, zone ? saq__tz_offset : NULL, zone);
            if (t == -1) {
                fputs(" -", stdout);
                break;
            }
            printf(" %" PRId64, t);
        }
        putchar('\n');
        saq__tz_free(zone);
    }
    free(line);
    return 0;
}
