/* SPDX-License-Identifier: MIT */
/* Built outside the source tree against an installed libsaq, with nothing but
 * `pkg-config --cflags --libs libsaq`: enqueue a job, read it back, count. */
#include <saq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    const char *url = getenv("REDIS_URL");
    saq_queue_t *q = saq_queue_from_url(url, "pkgconfig-consumer");
    if (!q)
        return fprintf(stderr, "cannot create the queue\n"), 1;
    saq_event_t *ev = saq_queue_enqueue_call_sync(q, "hello", "{\"who\": \"world\"}", 5000);
    if (saq_event_status(ev))
        return fprintf(stderr, "enqueue: %s\n", saq_event_errmsg(ev)), 1;
    char key[64];
    snprintf(key, sizeof key, "%s", saq_job_key(saq_event_job(ev)));
    saq_event_free(ev);
    ev = saq_queue_job_sync(q, key, 5000);
    int ok = saq_event_status(ev) == SAQ_OK && !strcmp(saq_job_kwargs(saq_event_job(ev)), "{\"who\": \"world\"}");
    saq_event_free(ev);
    ev = saq_queue_count_sync(q, "queued", 5000);
    ok = ok && saq_event_int(ev) == 1;
    saq_event_free(ev);
    saq_queue_free(q);
    printf("libsaq %s from pkg-config: %s\n", saq_version_str(), ok ? "round trip ok" : "FAILED");
    return ok ? 0 : 1;
}
