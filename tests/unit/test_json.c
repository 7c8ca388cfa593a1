/* SPDX-License-Identifier: MIT */
/* Unit tests: the lossless JSON scanner and writer (src/json.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

#include <math.h>

static int valid(const char *s, int kind) { return saq__json_validate(s, strlen(s), kind, NULL, 0) == 0; }

static void test_validate_accepts_python_json(void **state)
{
    (void)state;
    assert_true(valid("{}", 'o'));
    assert_true(valid(" { \"a\" : [1, 2.5, -3e10, true, false, null] } ", 'o'));
    assert_true(valid("{\"x\": NaN, \"y\": Infinity, \"z\": -Infinity}", 'o')); /* Python writes these */
    assert_true(valid("123456789012345678901234567890", 0));                    /* big ints kept */
    assert_true(valid("\"\\u00e9\\ud83d\\ude00 \\n\"", 0));
    assert_true(valid("[]", 'a'));
    assert_true(valid("\"caf\xc3\xa9\"", 0)); /* UTF-8 */
}

static void test_validate_rejects(void **state)
{
    (void)state;
    char err[128];
    const char *bad[] = {"", "{", "{\"a\":}", "{\"a\" 1}", "[1,]", "{'a': 1}", "01", "1.", "-", "nan",
                         "{\"a\":1}x", "\"\\x\"", "\"\\u12\"", "\"a\nb\"", "tru", "[1 2]",
                         "\"\xff\"" /* invalid UTF-8 */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_not_equal(saq__json_validate(bad[i], strlen(bad[i]), 0, err, sizeof err), 0);
        assert_true(err[0] != 0); /* always a message */
    }
    assert_false(valid("[1]", 'o'));
    assert_false(valid("{}", 'a'));
    /* an unbalanced deep text is refused */
    char deep[3000];
    memset(deep, '[', 1500);
    memset(deep + 1500, ']', 1500);
    deep[3000 - 1] = 0;
    deep[2999] = 0;
    assert_int_not_equal(saq__json_validate(deep, 2999, 0, NULL, 0), 0);
}

/* n nested arrays around `inner` (NULL: nothing), malloc'd */
static char *nested(size_t n, const char *inner)
{
    size_t il = inner ? strlen(inner) : 0;
    char *s = malloc(2 * n + il + 1);
    memset(s, '[', n);
    memcpy(s + n, inner ? inner : "", il);
    memset(s + n + il, ']', n);
    s[2 * n + il] = 0;
    return s;
}

struct deep_arg {
    const char *s;
    int rc;
    char err[160];
};

static void *validate_thread(void *a)
{
    struct deep_arg *d = a;
    d->rc = saq__json_validate(d->s, strlen(d->s), 0, d->err, sizeof d->err);
    return NULL;
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char err[160];
    /* what Python's json reads (about 990 levels on 3.11, more later) is read:
     * the limit is 10000 levels, as Go's encoding/json */
    char *s = nested(10000, NULL);
    assert_int_equal(saq__json_validate(s, strlen(s), 'a', err, sizeof err), 0);
    free(s);
    s = nested(9999, "{\"a\": 1}"); /* objects count as levels too */
    assert_int_equal(saq__json_validate(s, strlen(s), 'a', err, sizeof err), 0);
    free(s);
    s = nested(10001, NULL);
    assert_int_equal(saq__json_validate(s, strlen(s), 'a', err, sizeof err), -1);
    assert_non_null(strstr(err, "nested too deeply"));
    free(s);
    s = nested(10000, "{}");
    assert_int_equal(saq__json_validate(s, strlen(s), 'a', err, sizeof err), -1);
    assert_non_null(strstr(err, "nested too deeply"));
    free(s);
    /* hostile: 100000 levels (and unclosed) get an error, no crash */
    s = nested(100000, "1");
    assert_int_equal(saq__json_validate(s, strlen(s), 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested too deeply"));
    s[100000] = 0;
    assert_int_equal(saq__json_validate(s, strlen(s), 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested too deeply"));
    free(s);
    /* the scanner is iterative: the full depth on a 64 KiB thread stack (libsaq's
     * I/O and handler threads, or a binding's, may have small stacks) */
    struct deep_arg d = {.s = nested(9997, "{\"k\": [\"v\", {}]}"), .rc = 99}; /* 10000 levels */
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    assert_int_equal(pthread_attr_setstacksize(&attr, 65536), 0);
    assert_int_equal(pthread_create(&th, &attr, validate_thread, &d), 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    assert_int_equal(d.rc, 0);
    free((char *)d.s);
}

static void test_escape_then_nul(void **state)
{
    (void)state;
    char err[160];
    /* a backslash followed by a NUL byte is not an escape (strchr matched the
     * terminator): Python refuses such a text */
    const char s[] = "\"a\\\0b\"";
    assert_int_equal(saq__json_validate(s, sizeof s - 1, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad escape"));
    const char *k;
    size_t kn;
    const char *v;
    size_t vn;
    saq__jobj_iter_t it;
    const char o[] = "{\"a\": \"x\\\0\"}";
    assert_int_equal(saq__jobj_begin(&it, o, sizeof o - 1, NULL, 0), 0);
    assert_int_equal(saq__jobj_next(&it, &k, &kn, &v, &vn, err, sizeof err), -1);
    const char o2[] = "{\"a\\\0\": 1}"; /* in a member name */
    assert_int_equal(saq__jobj_begin(&it, o2, sizeof o2 - 1, NULL, 0), 0);
    assert_int_equal(saq__jobj_next(&it, &k, &kn, &v, &vn, err, sizeof err), -1);
}

static void test_long_number_token(void **state)
{
    (void)state;
    /* Python writes and reads numbers of any length; a long token is a number */
    char t[200] = "0.1";
    memset(t + 3, '0', 150);
    strcpy(t + 153, "1");
    double d = 0;
    assert_int_equal(saq__json_number(t, strlen(t), &d), 0);
    assert_true(d == 0.1);
    memset(t, '9', 120);
    t[120] = 0;
    assert_int_equal(saq__json_number(t, strlen(t), &d), 0);
    assert_true(d > 9.99e119 && d < 1.0001e120);
    assert_int_not_equal(saq__json_number("1.0x", 4, &d), 0);
}

static void test_python_float_str(void **state)
{
    (void)state;
    /* Python's repr(float), values and texts from CPython 3.11 */
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {0x1.0cccccccccccdp+2, "4.2"}, {100.0, "100.0"}, {1e16, "1e+16"},
        {1e15, "1000000000000000.0"}, {0x1.4f8b588e368f1p-17, "1e-05"},
        {0x1.a36e2eb1c432dp-14, "0.0001"}, {-0.0, "-0.0"}, {0.0, "0.0"}, {0.1, "0.1"},
        {1.0 / 3, "0.3333333333333333"}, {0x0.0000000000001p-1022, "5e-324"},
        {0x1.fffffffffffffp+1023, "1.7976931348623157e+308"},
        /* a power of two whose nearest 16-digit decimal does not read back: the
         * 16-digit one above it does (Python's shortest, not 17 digits) */
        {0x1.0p-1017, "7.120236347223045e-307"}, {123456789.125, "123456789.125"},
        {-0x1.0c6f7a0b5ed8dp-22, "-2.5e-07"}, {1e22, "1e+22"},
        {9007199254740992.0, "9007199254740992.0"}, {INFINITY, "inf"}, {-INFINITY, "-inf"},
        {NAN, "nan"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[40];
        saq__fmt_pyfloat(out, cases[i].v);
        assert_string_equal(out, cases[i].s);
    }
    char *s = NULL;
    assert_int_equal(saq__json_pystr("42", 2, &s), SAQ__KEY_INT);
    assert_string_equal(s, "42");
    free(s);
    assert_int_equal(saq__json_pystr("-0", 2, &s), SAQ__KEY_INT); /* int(-0) is 0 */
    assert_string_equal(s, "0");
    free(s);
    assert_int_equal(saq__json_pystr("123456789012345678901234567890", 30, &s), SAQ__KEY_INT);
    assert_string_equal(s, "123456789012345678901234567890");
    free(s);
    assert_int_equal(saq__json_pystr("4.20", 4, &s), SAQ__KEY_FLOAT);
    assert_string_equal(s, "4.2");
    free(s);
    assert_int_equal(saq__json_pystr("1E2", 3, &s), SAQ__KEY_FLOAT);
    assert_string_equal(s, "100.0");
    free(s);
    assert_int_equal(saq__json_pystr("1e400", 5, &s), SAQ__KEY_FLOAT);
    assert_string_equal(s, "inf");
    free(s);
    assert_int_equal(saq__json_pystr("-Infinity", 9, &s), SAQ__KEY_FLOAT);
    assert_string_equal(s, "-inf");
    free(s);
    assert_int_equal(saq__json_pystr("NaN", 3, &s), SAQ__KEY_FLOAT);
    assert_string_equal(s, "nan");
    free(s);
    assert_int_equal(saq__json_pystr("true", 4, &s), 0);
    assert_null(s);
    assert_int_equal(saq__json_pystr("\"1\"", 3, &s), 0);
    assert_int_equal(saq__json_pystr("01", 2, &s), 0);
    assert_int_equal(saq__json_pystr("", 0, &s), 0);
}

static void test_unquote(void **state)
{
    (void)state;
    const char *t = "\"a\\\"b\\\\c\\/\\n\\u00e9\\ud83d\\ude00\"";
    char *s = saq__json_unquote(t, strlen(t));
    assert_string_equal(s, "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80");
    free(s);
    /* a lone surrogate cannot be UTF-8: replacement character */
    t = "\"x\\ud800y\"";
    s = saq__json_unquote(t, strlen(t));
    assert_string_equal(s, "x\xef\xbf\xbdy");
    free(s);
    /* the empty string is terminated (it used to be 64 uninitialised bytes) */
    s = saq__json_unquote("\"\"", 2);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    size_t len = 9;
    s = saq__json_unquote_len("\"a\\u0000b\"", 10, &len);
    assert_int_equal(len, 3);
    free(s);
}

static char *wr(const char *s, size_t n)
{
    saq__buf_t b = {0};
    saq__buf_json_strn(&b, s, n);
    return saq__buf_take(&b);
}

static void test_writer_escapes(void **state)
{
    (void)state;
    char *s = wr("a\"\\\n\t\x01", 6);
    assert_string_equal(s, "\"a\\\"\\\\\\n\\t\\u0001\"");
    free(s);
    s = wr("\xc3\xa9\xf0\x9f\x98\x80", 6); /* ASCII-only like Python's json.dumps */
    assert_string_equal(s, "\"\\u00e9\\ud83d\\ude00\"");
    free(s);
    s = wr("a\xffz", 3); /* invalid UTF-8 becomes U+FFFD so Python can load it */
    assert_string_equal(s, "\"a\\ufffdz\"");
    free(s);
    /* what the writer produces always validates */
    s = wr("x\x7f\x80", 3);
    assert_true(valid(s, 0));
    free(s);
}

static void test_numbers(void **state)
{
    (void)state;
    char t[40];
    saq__fmt_double(t, 0.05);
    assert_string_equal(t, "0.05");
    saq__fmt_double(t, 10);
    assert_string_equal(t, "10");
    saq__fmt_double(t, 1764409423.123456);
    assert_string_equal(t, "1764409423.123456");
    saq__fmt_double(t, 1e-05);
    assert_string_equal(t, "1e-05"); /* Python: repr(1e-05) */
    saq__fmt_double(t, 0.1 + 0.2);
    assert_string_equal(t, "0.30000000000000004");
    saq__fmt_double(t, -0.0);
    assert_string_equal(t, "0");
    double d;
    assert_int_equal(saq__json_number("-Infinity", 9, &d), 0);
    assert_true(d < 0 && isinf(d));
    assert_int_equal(saq__json_number("true", 4, &d), 0);
    assert_true(d == 1);
    assert_int_not_equal(saq__json_number("1x", 2, &d), 0);
    saq__buf_t b = {0};
    saq__buf_json_float(&b, 1);
    assert_string_equal(b.p, "1.0"); /* Python writes progress 1.0 */
    saq__buf_free(&b);
}

static void test_object_iteration(void **state)
{
    (void)state;
    const char *s = "{\"a\": 1, \"b\": {\"c\": [1, {\"d\": 2}]}, \"e\": \"x\"}";
    saq__jobj_iter_t it;
    const char *k, *v;
    size_t kn, vn;
    assert_int_equal(saq__jobj_begin(&it, s, strlen(s), NULL, 0), 0);
    assert_int_equal(saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0), 1);
    assert_int_equal(vn, 1);
    assert_int_equal(saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0), 1);
    assert_memory_equal(v, "{\"c\": [1, {\"d\": 2}]}", vn);
    assert_int_equal(saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0), 1);
    assert_memory_equal(k, "\"e\"", kn);
    assert_int_equal(saq__jobj_next(&it, &k, &kn, &v, &vn, NULL, 0), 0);
    assert_true(saq__json_is_empty_object(" { } ", 5));
    assert_false(saq__json_is_empty_object("{\"a\":1}", 7));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_accepts_python_json),
        cmocka_unit_test(test_validate_rejects),
        cmocka_unit_test(test_unquote),
        cmocka_unit_test(test_writer_escapes),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_object_iteration),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_escape_then_nul),
        cmocka_unit_test(test_long_number_token),
        cmocka_unit_test(test_python_float_str),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
