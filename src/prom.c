/* SPDX-License-Identifier: MIT */
/* The Prometheus text exposition format, version 0.0.4, as a writer: a
 * metric family's # HELP and # TYPE lines, and its samples with escaped label
 * values and Prometheus's float syntax. saq_queue_metrics (overview.c) and
 * saq_worker_metrics (wmetrics.c) write their text with it. Pure. */
#include "internal.h"

#include <math.h>

/* HELP text: a backslash and a line feed are escaped (not a double quote). */
static void put_help(saq__buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            saq__buf_puts(b, "\\\\");
        else if (*s == '\n')
            saq__buf_puts(b, "\\n");
        else
            saq__buf_putc(b, *s);
    }
}

void saq__prom_family(saq__buf_t *b, const char *name, const char *type, const char *help)
{
    saq__buf_printf(b, "# HELP %s ", name);
    put_help(b, help);
    saq__buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* A label value: backslash, double quote and line feed escaped, and a byte
 * that does not start valid UTF-8 (a worker id any Redis client wrote)
 * replaced by U+FFFD, since Prometheus refuses the whole exposition for one
 * label value that is not UTF-8. */
void saq__prom_label_value(saq__buf_t *b, const char *v)
{
    saq__buf_putc(b, '"');
    while (v && *v) {
        if (*v == '\\')
            saq__buf_puts(b, "\\\\");
        else if (*v == '"')
            saq__buf_puts(b, "\\\"");
        else if (*v == '\n')
            saq__buf_puts(b, "\\n");
        else if ((unsigned char)*v < 0x80)
            saq__buf_putc(b, *v);
        else {
            size_t l = 2;
            while (l <= 4 && (strnlen(v, l) < l || !saq__utf8_valid(v, l)))
                l++;
            if (l > 4) {
                saq__buf_puts(b, "\xef\xbf\xbd");
                l = 1;
            } else {
                saq__buf_put(b, v, l);
            }
            v += l;
            continue;
        }
        v++;
    }
    saq__buf_putc(b, '"');
}

void saq__prom_value(saq__buf_t *b, double v)
{
    char t[40];
    if (isnan(v))
        saq__buf_puts(b, "NaN");
    else if (isinf(v))
        saq__buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else {
        saq__fmt_double(t, v);
        saq__buf_puts(b, t);
    }
}

void saq__prom_sample(saq__buf_t *b, const char *name, const char *const *labels, size_t npairs,
                      double v)
{
    saq__buf_puts(b, name);
    for (size_t i = 0; i < npairs; i++) {
        saq__buf_putc(b, i ? ',' : '{');
        saq__buf_puts(b, labels[2 * i]);
        saq__buf_putc(b, '=');
        saq__prom_label_value(b, labels[2 * i + 1]);
    }
    if (npairs)
        saq__buf_putc(b, '}');
    saq__buf_putc(b, ' ');
    saq__prom_value(b, v);
    saq__buf_putc(b, '\n');
}
