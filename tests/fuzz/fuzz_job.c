/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the job record decoder and encoder (src/job.c).
 *
 * Properties, for every input the decoder accepts, in both dialects:
 *   d1 = dump(parse(x)) parses, and dump(parse(d1)) == d1 byte for byte;
 *   the status-preserving update's pieces put together are the dump;
 *   the public reader (saq_job_from_json) agrees with the internal one.
 * A refused input must come with a message. Crashes, leaks, overreads and
 * undefined behaviour are caught by ASan/UBSan. */
#include "internal.h"

static void check(int cond, const char *what, const char *a, const char *b)
{
    if (cond)
        return;
    fprintf(stderr, "fuzz_job: %s\n  first:  %s\n  second: %s\n", what, a ? a : "(null)",
            b ? b : "(null)");
    abort();
}

static void round_trip(const saq_job_t *j, int dialect)
{
    char err[256] = "";
    char *d1 = saq__job_dump(j, dialect);
    check(d1 != NULL, "dump failed", NULL, NULL);
    saq_job_t j2;
    saq__job_init(&j2);
    int e = saq__job_parse(&j2, d1, strlen(d1), err, sizeof err);
    check(e == 0, "the dump of an accepted record is refused", d1, err);
    char *d2 = saq__job_dump(&j2, dialect);
    check(d2 && !strcmp(d1, d2), "dump(parse(dump(x))) != dump(x)", d1, d2);
    check(j2.key_num == j->key_num && (!j->key) == (!j2.key) && (!j->key || !strcmp(j->key, j2.key)),
          "the key changed in a round trip", j->key, j2.key);

    /* head + error member + , "status": "<status> + tail is the record */
    if (j2.status != SAQ_STATUS_NEW) {
        char *head, *em, *tail;
        check(saq__job_dump_split(&j2, dialect, &head, &em, &tail) == 0, "dump_split failed", d1, NULL);
        saq__buf_t b = {0};
        saq__buf_puts(&b, head);
        saq__buf_puts(&b, em);
        saq__buf_puts(&b, ", \"status\": \"");
        saq__buf_puts(&b, saq__status_name(j2.status));
        saq__buf_puts(&b, tail);
        check(b.p && !strcmp(b.p, d2), "dump_split pieces differ from the dump", b.p, d2);
        saq__buf_free(&b);
        free(head);
        free(em);
        free(tail);
    }
    saq__job_clear(&j2);
    free(d1);
    free(d2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    saq_job_t j;
    saq__job_init(&j);
    int e = saq__job_parse(&j, (const char *)data, size, err, sizeof err);
    if (e) {
        check(err[0] != 0, "refused without a message", NULL, NULL);
        check(e == SAQ_EPROTO || e == SAQ_ENOMEM, "unexpected error code", err, NULL);
    } else {
        /* a record without a key gets one before any use (saq__load_job takes
         * the id's, saq_job_from_json a new one): a keyless job is never dumped */
        if (!j.key)
            j.key = strdup("k");
        round_trip(&j, SAQ__DIALECT_026);
        round_trip(&j, SAQ__DIALECT_013);
    }
    saq__job_clear(&j);

    /* the public reader on a NUL-terminated copy (it stops at a NUL byte) */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    saq_job_t *pj = saq_job_from_json(s);
    if (pj) {
        saq_job_t ij;
        saq__job_init(&ij);
        check(saq__job_parse(&ij, s, strlen(s), err, sizeof err) == 0,
              "saq_job_from_json accepts what the decoder refuses", s, err);
        saq__job_clear(&ij);
        const char *js = saq_job_to_json(pj);
        check(js != NULL, "saq_job_to_json failed", s, NULL);
        saq_job_t *pj2 = saq_job_from_json(js);
        check(pj2 && !strcmp(saq_job_to_json(pj2), js), "public round trip differs", js,
              pj2 ? saq_job_to_json(pj2) : NULL);
        saq_job_free(pj2);
        saq_job_free(pj);
    }
    free(s);
    return 0;
}
