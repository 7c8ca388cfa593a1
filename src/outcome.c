/* SPDX-License-Identifier: MIT */
/* The outcome decision: given why a lease ended (a cancel reason, or what
 * the host said), the job's retries and attempts and whether the worker is
 * stopping, what to write: finish (with which status and text), retry, or
 * nothing. Pure: no I/O, no state; tests/unit/test_outcome.c covers it. The
 * texts are saq's (spec 4.3), so every binding shows what saq would. */
#include "worker.h"

static void fail_or_retry(const saq__outcome_in_t *in, saq__outcome_t *out, const char *error)
{
    out->error = error;
    if (in->retries > in->attempts) {
        out->action = SAQ__OUTCOME_RETRY;
    } else {
        out->action = SAQ__OUTCOME_FINISH;
        out->status = SAQ_STATUS_FAILED;
    }
}

void saq__outcome_decide(const saq__outcome_in_t *in, saq__outcome_t *out)
{
    memset(out, 0, sizeof *out);
    switch (in->cancelled) {
    case SAQ_CANCEL_ABORTED:
        out->action = SAQ__OUTCOME_FINISH;
        out->status = SAQ_STATUS_ABORTED;
        out->error = in->abort_error ? in->abort_error : "abort";
        out->flags = SAQ__DEL_MARKER;
        return;
    case SAQ_CANCEL_LOST: /* swept and restarted elsewhere: not ours to write */
        out->action = SAQ__OUTCOME_NONE;
        return;
    case SAQ_CANCEL_SHUTDOWN: /* saq ignores retries here */
        out->action = SAQ__OUTCOME_RETRY;
        out->error = "cancelled";
        return;
    case SAQ_CANCEL_HEARTBEAT: /* as saq's sweep does with a job that missed it */
        out->error = in->swept_msg;
        if (in->retries > in->attempts) {
            out->action = SAQ__OUTCOME_RETRY;
        } else {
            out->action = SAQ__OUTCOME_FINISH;
            out->status = SAQ_STATUS_ABORTED;
        }
        return;
    case SAQ_CANCEL_TIMEOUT:
        snprintf(out->text, sizeof out->text, "TimeoutError: job %s timed out after %g seconds",
                 in->key ? in->key : "", in->timeout);
        fail_or_retry(in, out, out->text);
        return;
    default:
        break;
    }
    switch (in->settle) {
    case SAQ__SETTLE_COMPLETE:
        out->action = SAQ__OUTCOME_FINISH;
        out->status = SAQ_STATUS_COMPLETE;
        out->result = in->settle_text;
        return;
    case SAQ__SETTLE_RELEASE:
        out->action = SAQ__OUTCOME_RETRY;
        out->error = "cancelled";
        return;
    case SAQ__SETTLE_DROPPED:
        if (in->stopping) { /* as saq does for a job cancelled by a shutdown */
            out->action = SAQ__OUTCOME_RETRY;
            out->error = "cancelled";
            return;
        }
        /* a handler bug, not a shutdown: counts against retries (no hot loop) */
        out->settle_as_fail = 1;
        fail_or_retry(in, out,
                      "RuntimeError: the handler released the job without settling it "
                      "(saq_job_free before saq_job_complete or saq_job_fail)");
        return;
    default:
        fail_or_retry(in, out, in->settle_text ? in->settle_text : "job failed");
        return;
    }
}

char *saq__outcome_shrink(saq__settle_t settle, const char *settle_text, int shrunk, size_t max,
                          size_t used)
{
    if (settle == SAQ__SETTLE_COMPLETE && !shrunk)
        return saq__sprintf("ValueError: the job's result is larger than max_payload_bytes (%zu)", max);
    if (!shrunk && settle_text && max > used + 64) {
        size_t n = max - used - 64; /* escapes can double it: a quarter is safe */
        size_t len = strlen(settle_text);
        n = n / 4 < len ? n / 4 : len;
        while (n && ((unsigned char)settle_text[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
        return saq__sprintf("%.*s [... cut to fit max_payload_bytes (%zu)]", (int)n, settle_text, max);
    }
    return saq__sprintf("ValueError: the job's error text is larger than max_payload_bytes (%zu)", max);
}
