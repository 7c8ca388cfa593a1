/* SPDX-License-Identifier: MIT */
/* Unit tests: the intrusive list of internal.h (order, removal anywhere,
 * empty, unlinked links as calloc leaves them, iteration with removal). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

typedef struct item {
    int id;
    saq__link_t link; /* not first: saq__container_of must subtract the offset */
} item_t;

static item_t *item_of(saq__link_t *k) { return saq__container_of(k, item_t, link); }

/* The ids on `l`, first to last, into out; returns how many. Also checks
 * that walking backwards gives the same members in reverse. */
static size_t ids(saq__list_t *l, int *out, size_t max)
{
    size_t n = 0;
    saq__link_t *k;
    saq__list_each(k, l)
    {
        assert_true(n < max);
        assert_ptr_equal(k->next->prev, k);
        out[n++] = item_of(k)->id;
    }
    size_t back = 0;
    for (k = l->prev; k != l; k = k->prev, back++)
        assert_int_equal(item_of(k)->id, out[n - 1 - back]);
    assert_int_equal(back, n);
    return n;
}

#define ASSERT_IDS(l, ...)                                                                         \
    do {                                                                                           \
        int want_[] = {__VA_ARGS__};                                                               \
        int got_[16];                                                                              \
        size_t n_ = ids((l), got_, 16);                                                            \
        assert_int_equal(n_, sizeof want_ / sizeof want_[0]);                                      \
        for (size_t i_ = 0; i_ < n_; i_++)                                                         \
            assert_int_equal(got_[i_], want_[i_]);                                                 \
    } while (0)

static void test_empty(void **state)
{
    (void)state;
    saq__list_t l;
    saq__list_init(&l);
    assert_true(saq__list_empty(&l));
    assert_null(saq__list_first(&l));
    assert_null(saq__list_first_entry(&l, item_t, link));
    int n = 0;
    saq__link_t *k, *t;
    saq__list_each(k, &l) n++;
    saq__list_each_safe(k, t, &l) n++;
    assert_int_equal(n, 0);

    item_t a = {.id = 1};
    saq__list_push_back(&l, &a.link);
    assert_false(saq__list_empty(&l));
    assert_ptr_equal(saq__list_first(&l), &a.link);
    assert_ptr_equal(saq__list_first_entry(&l, item_t, link), &a);
    assert_int_equal(saq__list_remove(&a.link), 1);
    assert_true(saq__list_empty(&l));
    assert_null(saq__list_first(&l));
}

static void test_order(void **state)
{
    (void)state;
    saq__list_t l;
    saq__list_init(&l);
    item_t it[5] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}, {.id = 4}};
    saq__list_push_back(&l, &it[1].link);
    saq__list_push_back(&l, &it[2].link);
    saq__list_push_front(&l, &it[0].link);
    saq__list_push_back(&l, &it[3].link);
    ASSERT_IDS(&l, 0, 1, 2, 3);
    saq__list_push_front(&l, &it[4].link);
    ASSERT_IDS(&l, 4, 0, 1, 2, 3);
    assert_ptr_equal(saq__list_first_entry(&l, item_t, link), &it[4]);

    /* FIFO: push back, take the first */
    saq__list_t f;
    saq__list_init(&f);
    while (!saq__list_empty(&l)) {
        item_t *x = saq__list_first_entry(&l, item_t, link);
        saq__list_remove(&x->link);
        saq__list_push_back(&f, &x->link);
    }
    ASSERT_IDS(&f, 4, 0, 1, 2, 3);
    /* LIFO: push front reverses */
    while (!saq__list_empty(&f)) {
        saq__link_t *k = saq__list_first(&f);
        saq__list_remove(k);
        saq__list_push_front(&l, k);
    }
    ASSERT_IDS(&l, 3, 2, 1, 0, 4);
    assert_true(saq__list_empty(&f));
}

static void test_remove(void **state)
{
    (void)state;
    saq__list_t l;
    saq__list_init(&l);
    item_t it[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};
    for (int i = 0; i < 4; i++)
        saq__list_push_back(&l, &it[i].link);
    assert_int_equal(saq__list_remove(&it[1].link), 1); /* middle */
    ASSERT_IDS(&l, 0, 2, 3);
    assert_false(saq__link_linked(&it[1].link));
    assert_null(it[1].link.prev);
    assert_null(it[1].link.next);
    assert_int_equal(saq__list_remove(&it[1].link), 0); /* twice: a no-op */
    ASSERT_IDS(&l, 0, 2, 3);
    assert_int_equal(saq__list_remove(&it[3].link), 1); /* last */
    ASSERT_IDS(&l, 0, 2);
    assert_int_equal(saq__list_remove(&it[0].link), 1); /* first */
    ASSERT_IDS(&l, 2);
    saq__list_push_front(&l, &it[1].link); /* a removed link can be listed again */
    ASSERT_IDS(&l, 1, 2);
    assert_int_equal(saq__list_remove(&it[2].link), 1);
    assert_int_equal(saq__list_remove(&it[1].link), 1);
    assert_true(saq__list_empty(&l));
}

/* A calloc'd struct's link was never linked: removing it touches nothing. */
static void test_remove_unlinked(void **state)
{
    (void)state;
    item_t *z = calloc(1, sizeof *z);
    assert_non_null(z);
    assert_false(saq__link_linked(&z->link));
    assert_int_equal(saq__list_remove(&z->link), 0);
    assert_null(z->link.prev);
    assert_null(z->link.next);

    saq__list_t l;
    saq__list_init(&l);
    item_t a = {.id = 7};
    saq__list_push_back(&l, &a.link);
    assert_int_equal(saq__list_remove(&z->link), 0); /* a list nearby is not touched */
    ASSERT_IDS(&l, 7);
    saq__list_push_back(&l, &z->link);
    assert_true(saq__link_linked(&z->link));
    ASSERT_IDS(&l, 7, 0);
    assert_int_equal(saq__list_remove(&z->link), 1);
    ASSERT_IDS(&l, 7);
    free(z);
}

/* saq__list_each_safe: the body may unlink (and free) the current link;
 * two lists hold different members and each removal needs no head. */
static void test_each_safe(void **state)
{
    (void)state;
    saq__list_t l, odd;
    saq__list_init(&l);
    saq__list_init(&odd);
    item_t *it[6];
    for (int i = 0; i < 6; i++) {
        it[i] = calloc(1, sizeof *it[i]);
        assert_non_null(it[i]);
        it[i]->id = i;
        saq__list_push_back(&l, &it[i]->link);
    }
    saq__link_t *k, *t;
    saq__list_each_safe(k, t, &l)
    {
        item_t *x = item_of(k);
        if (x->id % 2) {
            saq__list_remove(k);
            saq__list_push_back(&odd, k);
        } else if (x->id == 4) {
            saq__list_remove(k);
            free(x);
        }
    }
    ASSERT_IDS(&l, 0, 2);
    ASSERT_IDS(&odd, 1, 3, 5);
    saq__list_each_safe(k, t, &odd)
    {
        saq__list_remove(k);
        free(item_of(k));
    }
    assert_true(saq__list_empty(&odd));
    saq__list_each_safe(k, t, &l)
    {
        saq__list_remove(k);
        free(item_of(k));
    }
    assert_true(saq__list_empty(&l));
}

/* Two lists in one struct, as a queue's listeners and to-notify lists. */
typedef struct two {
    int pad;
    saq__list_t a, b;
} two_t;

/* Move every member of t->a to the front of t->b, then back: the loop GCC
 * 12.2 -O2 turned into an endless one when a head was a struct wrapping a
 * link (see saq__list_t). noinline: compiled as a loop of its own. */
__attribute__((noinline)) static void move_all_and_back(two_t *t)
{
    item_t *x;
    while ((x = saq__list_first_entry(&t->a, item_t, link))) {
        saq__list_remove(&x->link);
        saq__list_push_front(&t->b, &x->link);
    }
    while ((x = saq__list_first_entry(&t->b, item_t, link))) {
        saq__list_remove(&x->link);
        saq__list_push_front(&t->a, &x->link);
    }
}

static void test_move_all_and_back(void **state)
{
    (void)state;
    two_t t;
    saq__list_init(&t.a);
    saq__list_init(&t.b);
    item_t it[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
    for (int i = 0; i < 3; i++)
        saq__list_push_back(&t.a, &it[i].link);
    move_all_and_back(&t); /* reversed twice: the same order */
    ASSERT_IDS(&t.a, 0, 1, 2);
    assert_true(saq__list_empty(&t.b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),          cmocka_unit_test(test_order),
        cmocka_unit_test(test_remove),         cmocka_unit_test(test_remove_unlinked),
        cmocka_unit_test(test_each_safe),      cmocka_unit_test(test_move_all_and_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
