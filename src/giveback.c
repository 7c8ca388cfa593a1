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
    int tries;     /* sent again after a lost reply */
    uv_timer_t *t; /* the wait before sending again */
    char *rec;     /* the record as dequeued, or NULL (not read) */
    size_t reclen;
    char id[];
} give_back_t;

#define GIVE_BACK_TRIES 40 /* 0.25 s apart: ten seconds of a lost connection */

static void give_back_send(give_back_t *g);

static void give_back_freed(uv_handle_t *h)
{
    give_back_t *g = h->data;
    free(h);
    free(g->rec);
    free(g);
}

/* Answered for good: the slot (or the stop's wait) goes, the worker hears. */
static void give_back_end(give_back_t *g)
{
    saq_worker_t *w = g->w;
    if (g->held)
        saq__slots_put(w, 1);
    else
        w->giving--;
    /* a group member without a slot is hungry now: its grant may be waiting */
    saq__worker_poke(w, g->held ? SAQ__POKE_CHECK : SAQ__POKE_PUMP | SAQ__POKE_CHECK);
    if (g->t) {
        uv_close((uv_handle_t *)g->t, give_back_freed);
    } else {
        free(g->rec);
        free(g);
    }
    saq__worker_unref(w);
}

static void give_back_retry_cb(uv_timer_t *t) { give_back_send(t->data); }

/* A reply lost with the connection: the give-back (or the aborted finish
 * after it) may or may not have happened. GIVE_BACK sent again finds out: a
 * move already back in `queued` is not in `active` (nothing happens), one
 * already finished aborted is changed and no longer aborting (nothing
 * happens). Without this, a move aborted meanwhile (the abort takes it out of
 * `active`, where no liveness check finds it) stayed `aborting` for good. */
static int give_back_again(give_back_t *g, int err)
{
    if (!saq__conn_lost(err) || g->tries >= GIVE_BACK_TRIES || !g->w->attached)
        return 0;
    if (!g->t && (g->t = saq__malloc(sizeof *g->t))) {
        uv_timer_init(&g->w->q->loop, g->t);
        g->t->data = g;
    }
    if (!g->t)
        return 0;
    g->tries++;
    uv_timer_start(g->t, give_back_retry_cb, 250, 0);
    return 1;
}

static void aborted_finished(void *ud, int err, const char *msg, saq__tx_t result)
{
    give_back_t *g = ud;
    (void)msg, (void)result;
    if (!give_back_again(g, err))
        give_back_end(g);
}

/* Changed since the move: finish it aborted when it was aborted for this run
 * (as many attempts as when dequeued; never started when the record was not
 * read), else leave it to whoever changed it. Returns 1 when a finish is on
 * its way (aborted_finished ends the give-back). */
static int give_back_changed(give_back_t *g, redisReply *rec, const char *marker)
{
    saq_queue_t *q = g->w->q;
    saq_job_t *j = NULL;
    char e2[200];
    if (saq__job_from_reply(q, rec, g->id, &j, e2, sizeof e2))
        return 0; /* unreadable now: whoever wrote it owns it */
    int ours = j->started == 0, finishing = 0;
    if (g->rec) {
        saq_job_t was;
        saq__job_init(&was);
        ours = !saq__load_job(q, g->id, g->rec, g->reclen, &was, e2, sizeof e2) && was.attempts == j->attempts;
        saq__job_clear(&was);
    }
    const char *key = j->key ? j->key : g->id;
    if (ours && (marker || j->status == SAQ_STATUS_ABORTING)) {
        char *why = saq__strdup(marker ? marker : j->error ? j->error : "abort");
        if (!g->tries)
            saq__log(q, SAQ_LOG_INFO, 0, SAQ__LF(SAQ__LS("job", key), SAQ__LS("worker", g->w->id)),
                     "job %s was aborted (%s) between its dequeue and its give-back: finished aborted, "
                     "not given back", key, why ? why : "abort");
        saq__finish_job(q, j, SAQ_STATUS_ABORTED, NULL, why ? why : "abort", NULL, SAQ__DEL_MARKER,
                        aborted_finished, g);
        finishing = 1;
        free(why);
    } else {
        saq__log(q, SAQ_LOG_INFO, 0, SAQ__LF(SAQ__LS("job", key), SAQ__LS("worker", g->w->id)),
                 "job %s was not given back: its record changed since the dequeue (now %s)", key,
                 saq__status_name(j->status));
    }
    saq_job_free(j);
    return finishing;
}

static void give_back_done(saq__req_t *req, redisReply *r, int err, const char *msg)
{
    give_back_t *g = req->data;
    saq__tx_reply_t x;
    (void)msg;
    if (give_back_again(g, err))
        return;
    /* NONE (connection lost for good): the move may still be in active, where
     * the liveness check finds it and puts it back */
    saq__tx_t v = err ? SAQ__TX_NONE : saq__tx_decode(SCRIPT_GIVE_BACK, r, &x);
    if ((v == SAQ__TX_ABORTED || v == SAQ__TX_TAKEN) /* changed since the move: not given back */
        && give_back_changed(g, x.record, v == SAQ__TX_ABORTED ? x.text : NULL))
        return;
    give_back_end(g);
}

static void give_back_send(give_back_t *g)
{
    saq__call_t c;
    saq__tx_give_back(g->w->q, g->id, g->rec ? g->rec : "", g->reclen, &c);
    if (!saq__tx_send(g->w->q, &c, give_back_done, g))
        give_back_end(g); /* out of memory: it stays in active, the liveness check puts it back */
}

void saq__give_back(saq_worker_t *w, const char *id, size_t idlen, const char *rec, size_t reclen, int held)
{
    give_back_t *g = saq__calloc(1, sizeof *g + idlen + 1);
    if (g && rec && !(g->rec = saq__malloc(reclen ? reclen : 1))) {
        free(g);
        g = NULL;
    }
    if (!g) {
        if (held)
            saq__slots_put(w, 1); /* out of memory: it stays in active, the liveness check puts it back */
        return;
    }
    memcpy(g->id, id, idlen);
    if (rec) {
        memcpy(g->rec, rec, reclen);
        g->reclen = reclen;
    }
    g->w = w;
    g->held = held;
    saq__worker_ref(w);
    w->giving += !held; /* the stop waits for it */
    give_back_send(g);
}
