/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the JSON scanner and string writer alone (src/json.c).
 *
 * For any input: validation, skipping and member iteration never crash, read
 * outside the input (the buffer is not NUL-terminated) or recurse. For an
 * input that validates:
 *   - saq__json_skip ends where validation ends (the whole text);
 *   - an object's members (or an array's elements) iterate to the end without
 *     error, and each value validates on its own;
 *   - every string decodes, and the writer's encoding of the decoded bytes
 *     validates and decodes back to the same bytes;
 *   - a number token's Python str() is stable: str(float(str(x))) == str(x). */
#include "internal.h"

static void check(int cond, const char *what, const char *a, size_t an)
{
    if (cond)
        return;
    fprintf(stderr, "fuzz_json: %s: %.*s\n", what, (int)(an > 400 ? 400 : an), a ? a : "");
    abort();
}

static void check_string(const char *v, size_t n)
{
    size_t len = 0;
    char *u = saq__json_unquote_len(v, n, &len);
    check(u != NULL, "a valid string does not decode", v, n);
    check(saq__utf8_valid(u, len), "a decoded string is not UTF-8", v, n);
    saq__buf_t b = {0};
    saq__buf_json_strn(&b, u, len);
    check(b.p != NULL, "writer failed", v, n);
    check(saq__json_validate(b.p, b.len, 0, NULL, 0) == 0, "the writer's string is invalid", b.p, b.len);
    size_t len2 = 0;
    char *u2 = saq__json_unquote_len(b.p, b.len, &len2);
    check(u2 && len2 == len && !memcmp(u, u2, len), "string round trip differs", b.p, b.len);
    free(u);
    free(u2);
    saq__buf_free(&b);
}

static void check_number(const char *v, size_t n)
{
    char *s = NULL;
    int kind = saq__json_pystr(v, n, &s);
    if (kind <= 0)
        return;
    if (kind == SAQ__KEY_FLOAT && strcmp(s, "inf") && strcmp(s, "-inf") && strcmp(s, "nan")) {
        char *s2 = NULL;
        check(saq__json_pystr(s, strlen(s), &s2) == SAQ__KEY_FLOAT && !strcmp(s, s2),
              "Python float str() is not stable", s, strlen(s));
        free(s2);
    }
    free(s);
}

/* Members / elements of a validated container, recursively for a few levels. */
static void walk(const char *s, size_t n, int depth)
{
    const char *p = saq__json_ws(s, s + n);
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    int r;
    if (p >= s + n)
        return;
    if (*p == '"') {
        const char *e = s + n;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
            e--;
        check_string(p, (size_t)(e - p));
        return;
    }
    if (*p != '{' && *p != '[') {
        const char *e = s + n;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
            e--;
        check_number(p, (size_t)(e - p));
        return;
    }
    if (depth > 8)
        return;
    if (*p == '{') {
        check(saq__jobj_begin(&it, s, n, NULL, 0) == 0, "object does not begin", s, n);
        while ((r = saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0)) == 1) {
            check_string(k, kn);
            check(saq__json_validate(v, vn, 0, NULL, 0) == 0, "a member value is invalid alone", v, vn);
            walk(v, vn, depth + 1);
        }
    } else {
        check(saq__jarr_begin(&it, s, n, NULL, 0) == 0, "array does not begin", s, n);
        while ((r = saq__jarr_next(&it, &v, &vn, NULL, 0)) == 1) {
            check(saq__json_validate(v, vn, 0, NULL, 0) == 0, "an element is invalid alone", v, vn);
            walk(v, vn, depth + 1);
        }
    }
    check(r == 0, "iteration of a valid container failed", s, n);
    check(saq__json_ws(it.p, s + n) == s + n, "iteration did not reach the end", s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *end = s + size;
    char err[160] = "";
    int ok = saq__json_validate(s, size, 0, err, sizeof err) == 0;
    if (!ok)
        check(err[0] != 0, "refused without a message", s, size);
    /* the validators by kind agree with the generic one */
    const char *p = saq__json_ws(s, end);
    int is_obj = p < end && *p == '{', is_arr = p < end && *p == '[';
    check((saq__json_validate(s, size, 'o', NULL, 0) == 0) == (ok && is_obj), "'o' disagrees", s, size);
    check((saq__json_validate(s, size, 'a', NULL, 0) == 0) == (ok && is_arr), "'a' disagrees", s, size);
    /* non-strict skip accepts at least what strict validation does */
    const char *q = p;
    int skipped = saq__json_skip(&q, end, 0, err, sizeof err) == 0;
    if (ok) {
        check(skipped && saq__json_ws(q, end) == end, "skip disagrees with validate", s, size);
        walk(s, size, 0);
    }
    /* member iteration on anything: no crash, and consistent with a result */
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    if (saq__jobj_begin(&it, s, size, NULL, 0) == 0)
        for (int i = 0; i < 64 && saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0) == 1; i++) {
            char *name = saq__json_unquote(k, kn);
            check(name != NULL, "a member name does not decode", k, kn);
            free(name);
            double d;
            saq__json_number(v, vn, &d);
        }
    double d;
    saq__json_number(s, size, &d);
    (void)saq__json_is_empty_object(s, size);
    return 0;
}
