/* SPDX-License-Identifier: MIT */
/* Unit tests: Redis Cluster hash tags and slots (topo.c). The expected slots
 * are what a real Redis 7.0 answered to CLUSTER KEYSLOT for each key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core.h"

static void test_slots(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        int slot;
    } cases[] = {
        {"{dev}", 11557}, {"foo", 12182}, {"bar", 5061}, {"{user1000}.following", 3443},
        {"user1000", 3443}, {"foo{}{bar}", 8363}, {"foo{{bar}}zap", 4015},
        {"foo{bar}{zap}", 5061}, {"{orders}", 105}, {"saq:job:{orders}:abc", 105}, {"", 0},
        {"a{b", 13340},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (saq__topo_slot(cases[i].key) != cases[i].slot)
            fail_msg("slot of '%s' = %d, redis says %d", cases[i].key,
                     saq__topo_slot(cases[i].key), cases[i].slot);
}

/* Every key of a queue named with a tag lands in the queue's slot, the
 * cluster abort marker included; saq's own marker name does not. */
static void test_queue_keys_share_a_slot(void **state)
{
    (void)state;
    const char *keys[] = {"saq:{orders}:queued", "saq:{orders}:active", "saq:{orders}:incomplete",
                          "saq:{orders}:schedule", "saq:{orders}:stats", "saq:{orders}:sweep",
                          "saq:job:{orders}:k1", "saq:{orders}:worker_info:w",
                          "saq:{orders}:libsaq:alive", "saq:{orders}:libsaq:samples",
                          "saq:{orders}:abort:k1"};
    int slot = saq__topo_slot("{orders}");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(saq__topo_slot(keys[i]), slot);
    assert_int_not_equal(saq__topo_slot("saq:abort:k1"), slot);
    size_t n = 0;
    assert_null(saq__topo_hashtag("orders", &n));
    assert_null(saq__topo_hashtag("{}orders", &n)); /* empty: Redis hashes the whole key */
    assert_null(saq__topo_hashtag("a{b", &n));
    const char *t = saq__topo_hashtag("pre{tag}post{x}", &n);
    assert_non_null(t);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "tag", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_queue_keys_share_a_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
