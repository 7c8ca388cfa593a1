/* SPDX-License-Identifier: MIT */
/* Giving back a move the worker will not run (it stops, its queue was paused,
 * a group member's shared budget is full): the GIVE_BACK script puts it back
 * at the head of `queued` only while it is still that move. Between the move
 * and the give-back a sweep, saq's or libsaq's, may list it (in `active`,
 * status still `queued`: moved, not marked), abort it and queue it again
 * after its abort wait. Pushing it back regardless put the job in `queued`
 * while the sweep would queue it too; a saq worker runs the `aborting` record
 * it dequeues, so the job ran twice (the second time after error `swept`).
 * A move aborted meanwhile (by a sweep or anyone) is finished aborted here
 * once, as MARK's callers do (U13): a sweep then retries it, and it runs once. */
#include "worker.h"

typedef struct give_back {
    saq_worker_t *w;
    int held;      /* the move holds a slot, released once answered */
    char *rec;     /* the record as dequeued, or NULL (not read) */
    size_t reclen;
    char id[];
} give_back_t;

/* Changed since the move: finish it aborted when it was aborted for this run
 * (as many attempts as when dequeued; never started when the record was not
 * read), else leave it to whoever changed it. */
static void give_back_changed(give_back_t *g, redisReply *rec, const char *marker)
{
    saq_queue_t *q = g->w->q;
    saq_job_t *j = NULL;
    char e2[200];
    if (saq__job_from_reply(q, rec, g->id, &j, e2, sizeof e2))
        return; /* unreadable now: whoever wrote it owns it */
    int ours = j->started == 0;
    if (g->rec) {
        saq_job_t was;
        saq__job_init(&was);
        ours = !saq__load_job(q, g->id, g->rec, g->reclen, &was, e2, sizeof e2) && was.attempts == j->attempts;
        saq__job_clear(&was);
    }
    const char *key = j->key ? j->key : g->id;
    if (ours && (marker || j->status == SAQ_STATUS_ABORTING)) {
        char *why = saq__strdup(marker ? marker : j->error ? j->error : "abort");
        saq__log(q, SAQ_LOG_INFO, 0, SAQ__LF(SAQ__LS("job", key), SAQ__LS("worker", g->w->id)),
                 "job %s was aborted (%s) between its dequeue and its give-back: finished aborted, "
                 "not given back", key, why ? why : "abort");
        saq__finish_job(q, j, SAQ_STATUS_ABORTED, NULL, why ? why : "abort", NULL, SAQ__DEL_MARKER, NULL, NULL);
        free(why);
    } else {
        saq__log(q, SAQ_LOG_INFO, 0, SAQ__LF(SAQ__LS("job", key), SAQ__LS("worker", g->w->id)),
                 "job %s was not given back: its record changed since the dequeue (now %s)", key,
                 saq__status_name(j->status));
    }
    saq_job_free(j);
}

static void give_back_done(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    give_back_t *g = req->data;
    saq_worker_t *w = g->w;
    saq__tx_reply_t x;
    (void)msg;
    /* NONE (connection lost): the move may still be in active, where the
     * liveness check finds it and puts it back */
    saq__tx_t v = err ? SAQ__TX_NONE : saq__tx_decode(SCRIPT_GIVE_BACK, r, &x);
    if (v == SAQ__TX_ABORTED || v == SAQ__TX_TAKEN) /* changed since the move: not given back */
        give_back_changed(g, x.record, v == SAQ__TX_ABORTED ? x.text : NULL);
    if (g->held)
        saq__slots_put(w, 1);
    else
        w->giving--;
    /* a group member without a slot is hungry now: its grant may be waiting */
    saq__worker_poke(w, g->held ? SAQ__POKE_CHECK : SAQ__POKE_PUMP | SAQ__POKE_CHECK);
    free(g->rec);
    free(g);
    saq__worker_unref(w);
}

void saq__give_back(saq_worker_t *w, const char *id, size_t idlen, const char *rec, size_t reclen, int held)
{
    give_back_t *g = saq__calloc(1, sizeof *g + idlen + 1);
    saq__req_t *r = NULL;
    if (g && rec && !(g->rec = saq__malloc(reclen ? reclen : 1))) {
        free(g);
        g = NULL;
    }
    if (g) {
        memcpy(g->id, id, idlen);
        if (rec) {
            memcpy(g->rec, rec, reclen);
            g->reclen = reclen;
        }
        g->w = w;
        g->held = held;
        saq__call_t c;
        saq__tx_give_back(w->q, g->id, g->rec ? g->rec : "", g->reclen, &c);
        saq__worker_ref(w);
        if (!(r = saq__tx_send(w->q, &c, give_back_done, g))) {
            saq__unref(&w->refs); /* never the last: the caller holds one */
            free(g->rec);
            free(g);
        }
    }
    if (r)
        w->giving += !held; /* the stop waits for it */
    else if (held)
        saq__slots_put(w, 1); /* out of memory: it stays in active, the liveness check puts it back */
}
