/* SPDX-License-Identifier: MIT */
/* Per-minute rates from registry samples (saq_queue_overview's per_minute).
 * A sample is what the live registry's counters were at a time: per worker
 * id, its complete/failed/retried/aborted counters and its uptime. saq's
 * counters start at 0 when a worker (its queue object) starts and only grow,
 * so a rate is the sum, over consecutive samples, of each worker's growth;
 * a worker that restarted under the same id (a counter or its uptime went
 * down) counts what it did since the restart, a new id counts what it did
 * when it started within the interval (else it was missed by the older
 * sample and its past is not counted), and a worker that died keeps what it
 * did up to its last sample. Pure. */
#include "internal.h"

void saq__rpoint_free(saq__rpoint_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->w[i].id);
    free(p->w);
    p->w = NULL;
    p->n = p->cap = 0;
}

int saq__rpoint_add(saq__rpoint_t *p, const char *id, const long long v[5])
{
    saq__rworker_t *w = p->w;
    if (p->n == p->cap) { /* grown by half: thousands of workers are added one by one */
        size_t cap = p->cap ? p->cap + p->cap / 2 : 8;
        if (!(w = saq__realloc(p->w, cap * sizeof *w)))
            return -1;
        p->w = w;
        p->cap = cap;
    }
    if (!(w[p->n].id = saq__strdup(id)))
        return -1;
    memcpy(w[p->n].v, v, sizeof w[p->n].v);
    p->n++;
    return 0;
}

/* One worker's [c, f, r, a, uptime] array. */
static int parse_counts(const char *s, size_t n, long long v[5])
{
    saq__jobj_iter_t it;
    const char *e;
    size_t en;
    int k = 0;
    if (saq__jarr_begin(&it, s, n, NULL, 0))
        return -1;
    while (saq__jarr_next(&it, &e, &en, NULL, 0) == 1) {
        double d;
        if (k >= 5 || saq__json_number(e, en, &d) || !(d >= 0) || d > 1e15)
            return -1;
        v[k++] = (long long)d;
    }
    return k == 5 ? 0 : -1;
}

int saq__rpoint_parse(const char *s, size_t n, saq__rpoint_t *p)
{
    saq__jobj_iter_t it, wit;
    const char *k, *v, *wk, *wv;
    size_t kn, vn, wkn, wvn;
    int have_t = 0;
    memset(p, 0, sizeof *p);
    if (saq__jobj_begin(&it, s, n, NULL, 0))
        return -1;
    while (saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0) == 1) {
        double d;
        if (kn == 3 && !memcmp(k, "\"t\"", 3)) {
            if (saq__json_number(v, vn, &d) || !(d > 0) || d > 1e15) /* ms; garbage past year 33000 */
                goto bad;
            p->t = (int64_t)d;
            have_t = 1;
        } else if (kn == 3 && !memcmp(k, "\"w\"", 3)) {
            if (saq__jobj_begin(&wit, v, vn, NULL, 0))
                goto bad;
            while (saq__jobj_next(&wit, &wk, &wkn, &wv, &wvn, NULL, 0) == 1) {
                long long c[5];
                char *id = saq__json_name(wk, wkn);
                int rc = !id || parse_counts(wv, wvn, c) || saq__rpoint_add(p, id, c);
                free(id);
                if (rc)
                    goto bad;
            }
        }
    }
    if (have_t)
        return 0;
bad:
    saq__rpoint_free(p);
    return -1;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const saq__rworker_t *)a)->id, ((const saq__rworker_t *)b)->id);
}

/* Worker `id` in p (its workers sorted by id: a registry of thousands of
 * workers is searched, not scanned, on the queue's I/O thread). */
static const saq__rworker_t *find(const saq__rpoint_t *p, const char *id)
{
    saq__rworker_t key = {.id = (char *)id};
    return p->n ? bsearch(&key, p->w, p->n, sizeof *p->w, by_id) : NULL;
}

/* What the workers of `b` did since `a` (b is later), added to sum[4]. */
static void growth(const saq__rpoint_t *a, const saq__rpoint_t *b, double sum[4])
{
    int64_t dt = b->t - a->t;
    for (size_t i = 0; i < b->n; i++) {
        const saq__rworker_t *nw = &b->w[i], *ow = find(a, nw->id);
        int since_start = 0;
        if (!ow) /* new: count it only when it started within the interval */
            since_start = nw->v[4] <= dt + SAQ__RATE_SLACK_MS;
        else
            for (int k = 0; k < 5; k++)
                if (nw->v[k] < ow->v[k])
                    since_start = 1; /* restarted under the same id */
        if (!ow && !since_start)
            continue;
        for (int k = 0; k < 4; k++)
            sum[k] += (double)(since_start ? nw->v[k] : nw->v[k] - ow->v[k]);
    }
}

int saq__rates(saq__rpoint_t *pts, size_t n, double per_min[4], double *window_s)
{
    if (!n)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (pts[i].n > 1)
            qsort(pts[i].w, pts[i].n, sizeof *pts[i].w, by_id);
    int64_t now = pts[n - 1].t;
    size_t base = n;
    for (size_t i = 0; i < n; i++)
        if (pts[i].t <= now && now - pts[i].t <= SAQ__RATE_WINDOW_MS) {
            base = i;
            break;
        }
    /* sparse samples (no libsaq worker writes them, and this is called less
     * often than every minute): the newest point before the window will do */
    if (base < n && base > 0 && now - pts[base].t < SAQ__RATE_MIN_MS &&
        now - pts[base - 1].t <= SAQ__RATE_MAX_MS)
        base--;
    if (base == n || now - pts[base].t < SAQ__RATE_MIN_MS)
        return -1;
    double sum[4] = {0, 0, 0, 0};
    size_t prev = base;
    for (size_t i = base + 1; i < n; i++) {
        if (pts[i].t < pts[prev].t)
            continue; /* out of order (a clock step): skipped */
        growth(&pts[prev], &pts[i], sum);
        prev = i;
    }
    *window_s = (double)(now - pts[base].t) / 1000.0;
    for (int k = 0; k < 4; k++)
        per_min[k] = sum[k] * 60.0 / *window_s;
    return 0;
}
