/* SPDX-License-Identifier: MIT */
/* The worker object shared by the worker's files (core.h's layers): its
 * references and destruction, its error message, the registered functions
 * and hooks (a member worker of a multi-queue worker uses its primary's),
 * and saq__worker_poke, through which leases and dequeues tell
 * the worker's lifecycle (worker.c) that a slot freed or something ended,
 * without depending on it. */
#include "worker.h"

void saq__strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void worker_destroy(saq_worker_t *w)
{
    for (size_t i = 0; i < w->nfns; i++)
        free(w->fns[i].name);
    free(w->fns);
    for (size_t i = 0; i < w->ncrons; i++) {
        free(w->crons[i].function);
        free(w->crons[i].expr);
        free(w->crons[i].kwargs);
        saq__tz_free(w->crons[i].tz);
    }
    free(w->crons);
    free(w->hooks);
    for (size_t i = 0; i < w->nlimits; i++)
        free(w->limits[i].function);
    free(w->limits);
    free(w->id);
    free(w->errmsg);
    free(w->stats_cache);
    free(w->final_stats);
    saq__wmetrics_destroy(&w->metrics);
    saq__strv_free(w->suspects, w->nsuspects);
    free(w->suspect_ms);
    saq__strv_free(w->prev_live, w->nprev_live);
    saq__strv_free(w->orphans, w->norphans);
    free(w->orphan_ms);
    saq__strv_free(w->forget, w->nforget);
    saq__settings_free(&w->set);
    saq_conf_free(w->eff);
    if (w->cq)
        saq__cq_unref(w->cq);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    saq_queue_t *q = w->q;
    saq_worker_t *owner = w->owner;
    if (!owner)
        saq__group_unref(w->group); /* a primary's: its members are gone (they held it) */
    free(w);
    saq__queue_unref(q); /* the worker held a reference on its queue */
    if (owner)
        saq__worker_unref(owner); /* a member held one on its primary */
}

void saq__worker_ref(saq_worker_t *w) { saq__ref(&w->refs); }

void saq__worker_unref(saq_worker_t *w)
{
    if (saq__unref(&w->refs))
        worker_destroy(w);
}

void saq__worker_seterr(saq_worker_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    saq__set_vfmt(&w->errmsg, fmt, ap);
    va_end(ap);
}

saq_worker_t *saq__worker_public(saq_worker_t *w) { return w->owner ? w->owner : w; }

saq__fn_entry_t *saq__worker_find_fn(saq_worker_t *w, const char *name)
{
    w = saq__worker_public(w); /* a member runs its primary's functions */
    for (size_t i = 0; i < w->nfns; i++)
        if (!strcmp(w->fns[i].name, name))
            return &w->fns[i];
    return NULL;
}

void saq__worker_run_hooks(saq_worker_t *w, int kind, saq_job_t *job)
{
    static const char *const names[] = {"?", "startup", "shutdown", "before_process", "after_process"};
    const char *name = names[kind >= 1 && kind <= 4 ? kind : 0];
    w = saq__worker_public(w); /* hooks see the handle the host holds */
    for (size_t i = 0; i < w->nhooks; i++) {
        int rc = w->hooks[i].kind == kind ? w->hooks[i].fn(w, job, w->hooks[i].ud) : 0;
        if (rc) /* ignored, but told */
            saq__log(w->q, SAQ_LOG_WARNING, 0,
                     SAQ__LF(SAQ__LS("worker", w->id), SAQ__LS("hook", name),
                             SAQ__LS("job", job ? job->key : NULL), SAQ__LN("returned", rc)),
                     "%s hook failed (returned %d)%s%s", name, rc, job ? " for job " : "",
                     job ? job->key : "");
    }
}

int saq__worker_has_hooks(saq_worker_t *w, int kind)
{
    w = saq__worker_public(w);
    for (size_t i = 0; i < w->nhooks; i++)
        if (w->hooks[i].kind == kind)
            return 1;
    return 0;
}

void saq__worker_poke(saq_worker_t *w, int what) { w->poke(w, what); }

void saq__worker_lost_move(saq_worker_t *w)
{
    int64_t until = (int64_t)saq__mono_ms() + SAQ__LOST_MOVE_WATCH_MS;
    if (w->fast_until_ms < until)
        w->fast_until_ms = until;
}
