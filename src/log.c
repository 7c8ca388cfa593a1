/* SPDX-License-Identifier: MIT */
/* Log records and the sinks they go to (saq.h "Logging"). A record is a level, a message (one
 * line of English) and flat JSON fields: the queue's name, the caller's fields, the SAQ_E* code.
 * A queue copies its sink from its conf at open (saq_conf_set_log, saq_conf_set_log_cq, the key
 * log_level; conf.c): a C function, SAQ_EVENT_LOG events on a completion queue, or, by default,
 * one line per record on stderr, written with one write() so that the lines of several threads
 * never interleave. Records below the queue's level cost one comparison (the saq__log macro
 * checks it before anything is formatted). Any thread: nothing here takes a lock but the
 * cq's own. */
#include "core.h"

#include <errno.h>
#include <unistd.h>

struct saq__logrec {
    int level;
    char *message;
    char *fields;
};

static const char *level_name(int level)
{
    return level <= SAQ_LOG_ERROR     ? "ERROR"
           : level == SAQ_LOG_WARNING ? "WARNING"
           : level <= SAQ_LOG_INFO    ? "INFO"
                                      : "DEBUG";
}

/* The fields as a flat JSON object: queue first, then the caller's, then the error. */
static char *fields_json(saq_queue_t *q, int err, const saq__logfield_t *f)
{
    saq__buf_t b = {0};
    saq__buf_puts(&b, "{\"queue\": ");
    saq__buf_json_str(&b, q->set.name);
    for (; f && f->key; f++) {
        if (!f->is_num && !f->str)
            continue;
        saq__buf_puts(&b, ", ");
        saq__buf_json_str(&b, f->key);
        saq__buf_puts(&b, ": ");
        if (f->is_num)
            saq__buf_json_num(&b, f->num);
        else
            saq__buf_json_str(&b, f->str);
    }
    if (err) {
        saq__buf_printf(&b, ", \"error\": \"%s\", \"code\": %d", saq_err_name(err), err);
    }
    saq__buf_putc(&b, '}');
    return saq__buf_take(&b);
}

static saq__logrec_t *rec_new(saq_queue_t *q, int level, int err, const saq__logfield_t *fields,
                              const char *fmt, va_list ap)
{
    saq__logrec_t *r = saq__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->level = level;
    r->message = saq__vsprintf(fmt, ap);
    r->fields = fields_json(q, err, fields);
    if (!r->message || !r->fields) {
        saq__log_discard(r);
        return NULL;
    }
    for (char *p = r->message; *p; p++) /* one line */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return r;
}

/* The longest field value the stderr line prints whole (bytes); longer ones end in "...". */
#define SAQ__LOG_STDERR_VALUE_MAX 200

/* A field's value on the stderr line: bare when it is a plain word, else quoted. */
static void put_value(saq__buf_t *b, const char *v)
{
    int plain = *v != 0;
    for (const char *p = v; *p && plain; p++)
        plain = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\' && *p != 0x7f;
    if (plain)
        saq__buf_puts(b, v);
    else
        saq__buf_json_str(b, v);
}

/* "saq: WARNING <message> queue=default error=SAQ_ECONN ...": the JSON fields re-read. */
static void to_stderr(const saq__logrec_t *r)
{
    saq__buf_t b = {0};
    char err[100];
    saq__buf_printf(&b, "saq: %s %s", level_name(r->level), r->message);
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    if (saq__jobj_begin(&it, r->fields, strlen(r->fields), err, sizeof err) == 0) {
        while (saq__jobj_next(&it, &k, &kn, &v, &vn, err, sizeof err) == 1) {
            char *key = saq__json_unquote(k, kn);
            char *val = *v == '"' ? saq__json_unquote(v, vn) : saq__strndup(v, vn);
            if (key && val) {
                size_t len = strlen(val);
                if (len > SAQ__LOG_STDERR_VALUE_MAX) { /* a stack trace: the record keeps it whole */
                    len = SAQ__LOG_STDERR_VALUE_MAX;
                    while (len && ((unsigned char)val[len] & 0xC0) == 0x80)
                        len--; /* not inside a UTF-8 sequence */
                    memcpy(val + len, "...", 4);
                }
                saq__buf_printf(&b, " %s=", key);
                put_value(&b, val);
            }
            free(key);
            free(val);
        }
    }
    saq__buf_putc(&b, '\n');
    if (b.oom) {
        saq__buf_free(&b);
        return;
    }
    const char *p = b.p;
    size_t n = b.len;
    while (n) { /* one write() in practice: a line of a few hundred bytes */
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
    saq__buf_free(&b);
}

void saq__log_commit(saq_queue_t *q, saq__logrec_t *r)
{
    if (!r)
        return;
    const saq__log_sink_t *s = &q->set.log;
    if (r->level > s->level) {
        /* filtered (a record prepared before the level could be known) */
    } else if (s->fn) {
        s->fn(r->level, r->message, r->fields, s->ud);
    } else if (s->cq) {
        saq_event_t *ev = saq__event_new(SAQ_EVENT_LOG, s->tag);
        if (ev) {
            ev->ival = r->level;
            ev->text = r->message;
            ev->json = r->fields;
            r->message = r->fields = NULL;
            saq__cq_push(s->cq, ev);
        }
    } else {
        to_stderr(r);
    }
    saq__log_discard(r);
}

void saq__log_discard(saq__logrec_t *r)
{
    if (!r)
        return;
    free(r->message);
    free(r->fields);
    free(r);
}

saq__logrec_t *saq__log_prepare(saq_queue_t *q, int level, int err, const saq__logfield_t *fields,
                                const char *fmt, ...)
{
    if (!saq__log_on(q, level))
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    saq__logrec_t *r = rec_new(q, level, err, fields, fmt, ap);
    va_end(ap);
    return r;
}

void saq__log_emit(saq_queue_t *q, int level, int err, const saq__logfield_t *fields,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    saq__logrec_t *r = rec_new(q, level, err, fields, fmt, ap);
    va_end(ap);
    saq__log_commit(q, r);
}
