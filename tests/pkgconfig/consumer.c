/* SPDX-License-Identifier: MIT */
/* Built outside the source tree against an installed libsaq, with nothing but
 * `pkg-config --cflags --libs [--static] libsaq` or CMake's find_package(libsaq)
 * (tests/pkgconfig/check-install.sh): enqueue a job, read it back, count.
 * With SAQ_CLASH_CHECK (the libsaq.a builds) it also calls clash.c's functions. */
#include <saq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SAQ_CLASH_CHECK
/* clash.c: the program's own functions under names libsaq.a uses inside */
int sdsempty(int x);
int redisReaderCreate(int x);
int saq__buf_put(int x);
#endif

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
#ifdef SAQ_CLASH_CHECK
    if (sdsempty(1) != 2 || redisReaderCreate(1) != 3 || saq__buf_put(1) != 4)
        return fprintf(stderr, "the program's own sdsempty/redisReaderCreate/saq__buf_put were not called\n"), 1;
#endif
    printf("libsaq %s: %s\n", saq_version_str(), ok ? "round trip ok" : "FAILED");
    return ok ? 0 : 1;
}
