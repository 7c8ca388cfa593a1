/* SPDX-License-Identifier: MIT */
/* W3C Trace Context in a job's meta (saq_job_set_traceparent, saq_job_traceparent): the
 * "traceparent" member of the meta object, version 00, read and written without touching the
 * other members (saq keeps meta as it is, so it travels through Python saq too). Pure. */
#include "internal.h"

/* n hex digits, lower-case, not all zeros. */
static int lower_hex(const char *s, size_t n, int nonzero)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        any |= s[i] != '0';
    }
    return any || !nonzero;
}

int saq__traceparent_valid(const char *s, size_t n)
{
    /* 00-<trace id: 32>-<parent id: 16>-<flags: 2> */
    return n == SAQ__TRACEPARENT_LEN && s[0] == '0' && s[1] == '0' && s[2] == '-' && s[35] == '-' &&
           s[52] == '-' && lower_hex(s + 3, 32, 1) && lower_hex(s + 36, 16, 1) &&
           lower_hex(s + 53, 2, 0);
}

/* Is the member key token [k, k+kn) "traceparent"? */
static int is_tp_key(const char *k, size_t kn)
{
    char *name = saq__json_name(k, kn);
    int yes = name && !strcmp(name, "traceparent");
    free(name);
    return yes;
}

void saq__traceparent_scan(const char *meta, char out[SAQ__TRACEPARENT_LEN + 1])
{
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    char err[80];
    out[0] = 0;
    if (!meta || saq__jobj_begin(&it, meta, strlen(meta), err, sizeof err))
        return;
    while (saq__jobj_next(&it, &k, &kn, &v, &vn, err, sizeof err) == 1) {
        if (!is_tp_key(k, kn))
            continue;
        out[0] = 0; /* the last one counts, as json.loads reads it */
        char *s = *v == '"' ? saq__json_unquote(v, vn) : NULL;
        if (s && saq__traceparent_valid(s, strlen(s)))
            memcpy(out, s, SAQ__TRACEPARENT_LEN + 1);
        free(s);
    }
}

int saq__traceparent_put(const char *meta, const char *tp, char **out, char *err, size_t errlen)
{
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    saq__buf_t b = {0};
    int put = 0, n = 0, r = 0;
    *out = NULL;
    if (tp && !saq__traceparent_valid(tp, strlen(tp))) {
        snprintf(err, errlen, "traceparent must be \"00-<32 lower-case hex trace id>-<16 lower-case "
                              "hex parent id>-<2 lower-case hex flags>\" with ids not all zeros, "
                              "got '%.80s'", tp);
        return SAQ_EINVAL;
    }
    if (meta && saq__jobj_begin(&it, meta, strlen(meta), err, errlen)) {
        snprintf(err, errlen, "meta is not a JSON object");
        return SAQ_EINVAL;
    }
    saq__buf_putc(&b, '{');
    while (meta && (r = saq__jobj_next(&it, &k, &kn, &v, &vn, err, errlen)) == 1) {
        int tpk = is_tp_key(k, kn);
        if (tpk && (put || !tp))
            continue; /* a later duplicate, or removed */
        saq__buf_puts(&b, n++ ? ", " : "");
        saq__buf_put(&b, k, kn);
        saq__buf_puts(&b, ": ");
        if (tpk) { /* replaced where it was */
            saq__buf_json_str(&b, tp);
            put = 1;
        } else {
            saq__buf_put(&b, v, vn);
        }
    }
    if (r < 0) {
        saq__buf_free(&b);
        return SAQ_EINVAL;
    }
    if (tp && !put) {
        saq__buf_puts(&b, n++ ? ", \"traceparent\": " : "\"traceparent\": ");
        saq__buf_json_str(&b, tp);
    }
    saq__buf_putc(&b, '}');
    if (!n) { /* nothing left: meta is empty (NULL) */
        int oom = b.oom;
        saq__buf_free(&b);
        return oom ? SAQ_ENOMEM : SAQ_OK;
    }
    return (*out = saq__buf_take(&b)) ? SAQ_OK : SAQ_ENOMEM;
}
