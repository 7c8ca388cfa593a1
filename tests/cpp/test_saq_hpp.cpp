// SPDX-License-Identifier: MIT
/* The C++ wrapper (abi/saq.hpp) against a real redis-server started by the
 * test harness: errors as exceptions, RAII order, std::function handlers,
 * futures, cancellation, listen, pull mode and batches. Each test prints
 * "[ OK ]" or "[FAIL]" with the failed check; the program exits 1 on any
 * failure. */
#include <saq.hpp>

extern "C" {
#include "redis_harness.h"
}

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

rh_t *R;

struct failure {
    std::string what;
};

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond))                                                                           \
            throw failure{std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #cond}; \
    } while (0)

/* Runs `expr`, which must throw saq::error with code `want`; returns the error's message. */
#define CHECK_THROWS(want, expr)                                                               \
    [&]() -> std::string {                                                                     \
        try {                                                                                  \
            expr;                                                                              \
        } catch (const saq::error &e_) {                                                       \
            if (e_.code() != (want))                                                           \
                throw failure{std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #expr \
                              " threw " + e_.name() + " (" + e_.what() + "), not " #want};     \
            return e_.what();                                                                  \
        }                                                                                      \
        throw failure{std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #expr        \
                      " did not throw " #want};                                                \
    }()

bool contains(const std::optional<std::string> &s, const char *part) {
    return s && s->find(part) != std::string::npos;
}

std::string qname(const char *prefix) { return rh_queue_name(prefix); }

/* Poll `cond` every 10 ms for up to `ms`. */
template <class F>
bool eventually(F cond, int ms = 10000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
        if (cond())
            return true;
        std::this_thread::sleep_for(10ms);
    }
    return cond();
}

void test_errors() {
    std::string m = CHECK_THROWS(SAQ_EURL, saq::config().set("url", "ftp://nowhere"));
    CHECK(!m.empty());
    CHECK_THROWS(SAQ_EUNKNOWN_KEY, saq::config().set("no_such_key", "1"));
    CHECK_THROWS(SAQ_EURL, saq::queue("ftp://nowhere"));
    CHECK_THROWS(SAQ_EINVAL, saq::job(""));
    saq::job j("f");
    m = CHECK_THROWS(SAQ_EINVAL, j.set_retries(-1));
    CHECK(m.find("retries") != std::string::npos);
    CHECK(j.retries() == 1); // unchanged on failure
    CHECK_THROWS(SAQ_EJSON, saq::job::parse("{"));
    CHECK_THROWS(SAQ_EJSON, j.set_kwargs(std::string("[1]")));
    try {
        saq::config().set("url", "ftp://nowhere");
    } catch (const saq::error &e) {
        CHECK(std::strcmp(e.name(), "SAQ_EURL") == 0);
    }
    saq::job k("g");
    k.set_timeout(2.5).set_retries(3).set_meta(std::string(R"({"m": 1})"));
    CHECK(k.timeout() == 2.5 && k.retries() == 3 && contains(k.meta(), "\"m\""));
    saq::job c = k.clone();
    CHECK(c.key() == k.key() && c.native() != k.native());
    saq::job parsed = saq::job::parse(k.json());
    CHECK(parsed.key() == k.key() && parsed.function() == "g" && parsed.retries() == 3);
}

void test_enqueue_and_read() {
    saq::queue q(R->url, qname("cpp-enq"));
    CHECK(q.ping() > 0);
    std::optional<saq::job> j = q.enqueue("add", R"({"a": 1, "timeout": 5})");
    CHECK(j && j->status() == "queued" && j->timeout() == 5 && contains(j->kwargs(), "\"a\""));
    CHECK(j->queue() == q.name());
    std::optional<saq::job> read = q.get_job(j->key());
    CHECK(read && read->key() == j->key() && read->function() == "add");
    CHECK(!q.get_job("no-such-key"));
    CHECK(q.count("queued") == 1);

    saq::job dup("add");
    dup.set_key("fixed-key");
    CHECK(q.enqueue(dup));
    CHECK(!q.enqueue(dup)); // already enqueued: saq's None
    CHECK(q.count("queued") == 2);

    std::vector<std::optional<saq::job>> many = q.get_jobs({j->key(), "missing", "fixed-key"});
    CHECK(many.size() == 3 && many[0] && !many[1] && many[2] && many[2]->key() == "fixed-key");

    std::vector<saq::job> bulk;
    bulk.emplace_back("add");
    bulk.back().set_key("fixed-key"); // already enqueued
    bulk.emplace_back("add");
    bulk.back().set_key("bulk-1");
    std::vector<bool> outcomes = q.enqueue_many(bulk);
    CHECK(outcomes.size() == 2 && !outcomes[0] && outcomes[1]);
    CHECK(q.count("queued") == 3);
    CHECK(q.enqueue_many({}).empty());

    CHECK_THROWS(SAQ_ENOTFOUND, q.abort("missing", "why"));
    CHECK(q.abort("fixed-key", "not wanted") == saq::abort_result::aborted);
    std::optional<saq::job> gone = q.get_job("fixed-key");
    CHECK(gone && gone->status() == "aborted" && gone->error() == "not wanted");
    CHECK(contains(q.info(), "\"queued\""));
    CHECK(contains(q.overview(), "\"workers_alive\""));
    CHECK(contains(q.metrics(), "saq_queue_jobs"));
    CHECK(!q.paused() && q.pause() && !q.pause() && q.paused()); /* issue 19 */
    CHECK(contains(q.info(), "\"paused\": true"));
    CHECK(q.resume() && !q.resume() && !q.paused());
    CHECK(q.update(j->key(), R"({"progress": 0.5})"));
    CHECK(q.get_job(j->key())->progress() == 0.5);
    CHECK_THROWS(SAQ_EINVAL, q.count("nonsense"));
    CHECK(q.delete_job("fixed-key") == saq::delete_result::deleted); // issue 19
    CHECK(!q.get_job("fixed-key"));
    CHECK_THROWS(SAQ_ENOTFOUND, q.delete_job("fixed-key", true));
}

void test_handlers_apply_map() {
    // declared before the worker: its hooks may still run until its destructor has stopped it
    // (the after_process of the last failed map job can come after the map returned)
    std::mutex mu;
    std::vector<std::string> after; // "<function> <status> <error>"
    saq::queue q(R->url, qname("cpp-handlers"));
    saq::worker w(q, saq::config{{"concurrency", "4"}});
    w.handle("answer", [](saq::job &) { return std::string("42"); })
        .handle("echo", [](saq::job &job) { return job.kwargs(); })
        .handle("nothing", [](saq::job &) {})
        .handle("boom", [](saq::job &) -> std::string { throw std::runtime_error("boom 42"); })
        .after_process([&](const saq::job_view &job) {
            std::lock_guard<std::mutex> g(mu);
            after.push_back(job.function() + " " + job.status() + " " + job.error().value_or(""));
        });
    CHECK_THROWS(SAQ_EINVAL, w.handle("", [](saq::job &) {}));
    CHECK_THROWS(SAQ_EINVAL, w.limit("answer", 5, 0, 0)); /* a rate needs a period */
    w.limit("answer", 100, 1.0, 2);
    w.start();
    CHECK_THROWS(SAQ_ESTATE, w.handle("late", [](saq::job &) {}));
    CHECK_THROWS(SAQ_ESTATE, w.limit("", 0, 0, 1));

    saq::apply_result r = q.apply("answer", "{}", 10);
    CHECK(r.json == "42");
    CHECK(r.final_job && r.final_job->status() == "complete" && r.final_job->result() == "42");
    r = q.apply("echo", R"({"x": 7})", 10);
    CHECK(r.json.find("\"x\"") != std::string::npos && r.json.find('7') != std::string::npos);
    CHECK(q.apply("nothing", "{}", 10).json == "null");
    CHECK(contains(q.limits(), "\"limits\": ["));

    try {
        q.apply(saq::job("boom").set_retries(1), 10);
        CHECK(!"apply of a failing job returned");
    } catch (const saq::job_error &e) {
        CHECK(e.code() == SAQ_EJOB);
        CHECK(e.final_job() && e.final_job()->status() == "failed");
        CHECK(contains(e.final_job()->error(), "boom 42"));
    }

    saq::map_result m = q.map("echo", {R"({"n": 1})", R"({"n": 2})", R"({"n": 3})"}, "{}", 10);
    CHECK(m.jobs.size() == 3);
    for (size_t i = 0; i < 3; i++)
        CHECK(m.jobs[i] && m.jobs[i]->status() == "complete" &&
              contains(m.jobs[i]->result(), std::to_string(i + 1).c_str()));
    CHECK_THROWS(SAQ_EJOB, q.map("boom", {"{}"}, "{}", 10));
    m = q.map("boom", {R"({"key": "b1"})", R"({"key": "b2"})"}, "{}", 10, true);
    CHECK(m.json == "[null,null]" || m.json == "[null, null]");
    CHECK(m.jobs.size() == 2 && m.jobs[1] && m.jobs[1]->key() == "b2" &&
          m.jobs[1]->status() == "failed" && contains(m.jobs[1]->error(), "boom 42"));

    // after_process saw each job's final status and the exception's text
    CHECK(eventually([&] {
        std::lock_guard<std::mutex> g(mu);
        bool ok = false, failed = false;
        for (const auto &a : after) {
            ok |= a == "answer complete ";
            failed |= a.rfind("boom failed", 0) == 0 && a.find("boom 42") != std::string::npos;
        }
        return ok && failed;
    }));
    CHECK(contains(w.stats_json(), "\"complete\""));
    CHECK(contains(w.metrics(), "saq_jobs_processed_total"));
    CHECK(w.setting("concurrency") == "4");
}

void test_futures() {
    saq::queue q(R->url, qname("cpp-futures"));
    std::vector<std::future<std::optional<saq::job>>> fs;
    for (int i = 0; i < 50; i++)
        fs.push_back(q.enqueue_async("f", "{\"i\": " + std::to_string(i) + "}"));
    std::vector<std::string> keys;
    for (auto &f : fs) {
        std::optional<saq::job> j = f.get();
        CHECK(j);
        keys.push_back(j->key());
    }
    std::sort(keys.begin(), keys.end());
    CHECK(std::unique(keys.begin(), keys.end()) == keys.end());
    CHECK(q.count_async("queued").get() == 50);

    // an apply waits for a worker that does not exist yet
    std::future<saq::apply_result> f = q.apply_async("late", "{}", 20);
    CHECK(f.wait_for(300ms) == std::future_status::timeout);
    saq::worker w(q);
    w.handle("late", [](saq::job &) { return std::string("\"finally\""); })
        .handle("f", [](saq::job &) {});
    w.start();
    CHECK(f.wait_for(15s) == std::future_status::ready);
    CHECK(f.get().json == "\"finally\"");

    // a handler may move its job away and settle it later from another thread
    std::mutex mu;
    std::vector<std::thread> later;
    saq::queue q2(R->url, qname("cpp-moved"));
    saq::worker w2(q2);
    w2.handle("later", [&](saq::job &job) {
        std::lock_guard<std::mutex> g(mu);
        later.emplace_back([j = std::move(job)]() mutable {
            std::this_thread::sleep_for(50ms);
            j.complete("\"settled elsewhere\"");
        });
        return std::string("\"ignored\"");
    });
    w2.start();
    CHECK(q2.apply("later", "{}", 10).json == "\"settled elsewhere\"");
    std::lock_guard<std::mutex> g(mu);
    for (auto &t : later)
        t.join();
}

void test_cancellation() {
    saq::queue q(R->url, qname("cpp-cancel"));
    saq::cancellation c;
    std::future<saq::apply_result> f = q.apply_async("nobody", "{}", 0, c); // waits forever
    std::future<saq::map_result> fm = q.map_async("nobody", {"{}", "{}"}, "{}", 0, false, c);
    CHECK(f.wait_for(200ms) == std::future_status::timeout);
    auto t0 = std::chrono::steady_clock::now();
    c.cancel();
    CHECK(c.cancelled());
    CHECK(f.wait_for(5s) == std::future_status::ready);
    CHECK(fm.wait_for(5s) == std::future_status::ready);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    std::string m = CHECK_THROWS(SAQ_ECLOSED, f.get());
    CHECK(m.find("cancel") != std::string::npos);
    CHECK_THROWS(SAQ_ECLOSED, fm.get());
    CHECK(q.count("queued") == 3); // the jobs stay, as saq's asyncio cancellation

    // cancelled before it starts: stopped right after it is submitted
    CHECK_THROWS(SAQ_ECLOSED, q.apply("nobody", "{}", 0, c));
    // a listen ends normally when cancelled
    saq::cancellation lc;
    std::future<void> lf = q.listen_async({"k"}, [](const std::string &, const std::string &) {
        return false;
    }, 0, lc);
    CHECK(lf.wait_for(200ms) == std::future_status::timeout);
    lc.cancel();
    CHECK(lf.wait_for(5s) == std::future_status::ready);
    lf.get();
    // the timeout of a listen is an error
    CHECK_THROWS(SAQ_ETIMEDOUT,
                 q.listen({"k"}, [](const std::string &, const std::string &) { return false; },
                          0.2));
}

void test_listen() {
    saq::queue q(R->url, qname("cpp-listen"));
    std::optional<saq::job> j = q.enqueue("work", "{}");
    CHECK(j);
    std::mutex mu;
    std::vector<std::string> seen;
    std::future<void> f = q.listen_async(
        {j->key()},
        [&](const std::string &key, const std::string &status) {
            std::lock_guard<std::mutex> g(mu);
            seen.push_back(key + " " + status);
            return saq_status_terminal(status.c_str()) != 0;
        },
        10);
    // the subscription is confirmed asynchronously: publish until a message arrives
    CHECK(eventually([&] {
        q.update(j->key(), R"({"progress": 0.1})");
        std::lock_guard<std::mutex> g(mu);
        return !seen.empty();
    }, 5000));
    saq::worker w(q);
    w.handle("work", [](saq::job &) { return std::string("1"); });
    w.start();
    CHECK(f.wait_for(10s) == std::future_status::ready);
    f.get();
    std::lock_guard<std::mutex> g(mu);
    CHECK(seen.back() == j->key() + " complete");

    // an exception in the callback stops the listen and comes out of the future
    // (the worker is stopped first: it would fail "other", which it has no
    // handler for, before the listen is subscribed, and then the updates below
    // are refused, publishing nothing)
    w.stop(0);
    CHECK(w.wait(10000));
    std::optional<saq::job> j2 = q.enqueue("other", "{}");
    std::future<void> f2 = q.listen_async({j2->key()}, [](const std::string &, const std::string &) -> bool {
        throw std::runtime_error("from the callback");
    }, 10);
    CHECK(eventually([&] {
        q.update(j2->key(), R"({"progress": 0.2})");
        return f2.wait_for(0ms) == std::future_status::ready;
    }, 5000));
    try {
        f2.get();
        CHECK(!"the callback's exception was lost");
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()) == "from the callback");
    }
}

void test_raii_order() {
    std::atomic<int> started{0}, returned{0}, reason{0};
    std::string key;
    saq::queue producer(R->url, qname("cpp-raii"));
    {
        std::optional<saq::worker> w;
        {
            saq::queue q(R->url, producer.name());
            w.emplace(q, saq::config{{"cancellation_hard_deadline", "5"}});
            w->handle("long", [&](saq::job &job) {
                started = 1;
                while (!job.cancelled())
                    std::this_thread::sleep_for(5ms);
                reason = job.cancelled();
                std::this_thread::sleep_for(100ms); // the destructor must wait for this
                returned = 1;
                throw std::runtime_error("stopped");
            });
            w->start();
        } // q's handle lives on in the worker
        key = producer.enqueue("long", R"({"timeout": 60})")->key();
        CHECK(eventually([&] { return started.load() == 1; }));
        auto t0 = std::chrono::steady_clock::now();
        w.reset(); // stops without grace, waits for the handler
        CHECK(returned.load() == 1);
        CHECK(std::chrono::steady_clock::now() - t0 < 4s);
    }
    CHECK(reason.load() == SAQ_CANCEL_SHUTDOWN);
    std::optional<saq::job> j = producer.get_job(key);
    CHECK(j && j->status() == "queued" && j->error() == "cancelled");

    // a handler that ignores its cancellation past cancellation_hard_deadline: libsaq settles
    // the job without it and the worker stops, but the destructor still waits for the handler
    // (what it captured may go right after)
    saq::queue q2(R->url, qname("cpp-raii-stubborn"));
    started = 0;
    returned = 0;
    {
        saq::worker w(q2, saq::config{{"cancellation_hard_deadline", "0.2"}});
        w.handle("stubborn", [&](saq::job &) {
            started = 1;
            std::this_thread::sleep_for(1500ms);
            returned = 1;
        });
        w.start();
        key = q2.enqueue("stubborn", R"({"timeout": 60})")->key();
        CHECK(eventually([&] { return started.load() == 1; }));
    }
    CHECK(returned.load() == 1);
    j = q2.get_job(key);
    CHECK(j && j->status() == "queued" && j->error() == "cancelled");
}

void test_pull_mode() {
    saq::queue q(R->url, qname("cpp-pull"));
    saq::completion_queue cq;
    CHECK(cq.fd() >= 0);
    saq::worker w(q);
    w.handle_pull("pulled");
    w.start(cq, 7);
    std::string key = q.enqueue("pulled", R"({"v": 1})")->key();
    std::optional<saq::job> leased;
    for (int i = 0; i < 100 && !leased; i++) {
        std::optional<saq::event> ev = cq.poll(100);
        if (ev && ev->type() == SAQ_EVENT_LEASE) {
            CHECK(ev->tag() == 7 && ev->key() == key && ev->integer() > 0);
            leased = ev->take_job();
            CHECK(!ev->job());
        }
    }
    CHECK(leased && leased->key() == key && leased->lease_id() > 0);
    leased->complete("\"pulled ok\"");
    CHECK(leased->settled());
    CHECK_THROWS(SAQ_ESTATE, leased->complete("1"));
    bool outcome = false;
    for (int i = 0; i < 100 && !outcome; i++) {
        std::optional<saq::event> ev = cq.poll(100);
        if (ev && ev->type() == SAQ_EVENT_OUTCOME) {
            ev->check();
            outcome = ev->job().status() == "complete" && ev->job().result() == "\"pulled ok\"";
        }
    }
    CHECK(outcome);
    w.stop(0);
    CHECK(w.wait(10000));
}

void test_batch_and_close() {
    saq::queue q(R->url, qname("cpp-batch"));
    std::string k1, k2;
    {
        saq::batch b = q.batch();
        k1 = q.enqueue("x", "{}")->key();
        k2 = q.enqueue("x", "{}")->key();
        CHECK(b.size() == 2);
        CHECK(b.abort("batch failed") == 2);
    }
    CHECK(q.get_job(k1)->status() == "aborted" && q.get_job(k2)->error() == "batch failed");
    CHECK(q.close(5000));
    std::string m = CHECK_THROWS(SAQ_ECLOSED, q.enqueue("x", "{}"));
    CHECK(!m.empty());
    CHECK_THROWS(SAQ_ECLOSED, q.count_async("queued").get());
}

void test_flow() {
    saq::queue q(R->url, qname("cpp-flow"));
    saq::worker w(q, saq::config{{"concurrency", "4"}});
    std::mutex mu;
    std::vector<std::string> callbacks; // the callback's kwargs, once per run
    w.handle("answer", [](saq::job &) { return std::string("42"); })
        .handle("boom", [](saq::job &) -> std::string { throw std::runtime_error("boom"); })
        .handle("done", [&](saq::job &job) {
            std::lock_guard<std::mutex> g(mu);
            callbacks.push_back(job.kwargs().value_or(""));
        });
    std::vector<saq::job> members;
    members.reserve(2);
    members.emplace_back("answer");
    members.back().set_key("c1");
    members.emplace_back("boom");
    members.back().set_key("c2");
    saq::job cb("done");
    cb.set_key("cpp-flow-cb");
    auto doc = q.enqueue_flow(members, cb, 60);
    CHECK(contains(doc, "\"members\": [\"c1\", \"c2\"]"));
    CHECK(!q.enqueue_flow(members, cb)); /* recorded already */
    CHECK(contains(q.flow("cpp-flow-cb"), "\"state\":\"open\""));
    CHECK(!q.flow("nope"));
    CHECK_THROWS(SAQ_EINVAL, q.enqueue_flow({}, saq::job("done")));
    w.start();
    for (int i = 0; i < 500; i++) {
        {
            std::lock_guard<std::mutex> g(mu);
            if (!callbacks.empty())
                break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    {
        std::lock_guard<std::mutex> g(mu);
        CHECK(callbacks.size() == 1);
        CHECK(callbacks[0].find("\"key\":\"c1\",\"status\":\"complete\",\"result\":42") !=
              std::string::npos);
        CHECK(callbacks[0].find("\"key\":\"c2\",\"status\":\"failed\"") != std::string::npos);
    }
    CHECK(contains(q.flow("cpp-flow-cb"), "\"state\":\"done\""));
    w.stop(1000);
    CHECK(w.wait(10000));
}

/* saq::cron_next: a cron job's fire times in a zone (issue 19's cron_tz) */
void test_cron_next() {
    // 2024-03-09 12:00 EST; New York springs forward the next night: 02:30 fires at 03:00 EDT
    const std::int64_t start = 1710003600;
    auto t = saq::cron_next("30 2 * * *", "America/New_York", start, 2);
    CHECK(t.size() == 2);
    CHECK(t[0] == 1710054000); // 2024-03-10 07:00 UTC = 03:00 EDT
    CHECK(t[1] == 1710138600); // 2024-03-11 06:30 UTC = 02:30 EDT
    CHECK(saq::cron_next("30 2 * * *", "", start, 1).at(0) == 1710037800); // 02:30 UTC
    CHECK(saq::cron_next("0 0 31 2 *", "", start, 3).empty());
    std::string msg = CHECK_THROWS(SAQ_ECRON, saq::cron_next("30 2 * * *", "Mars/Olympus", start, 1));
    CHECK(msg.find("unknown time zone") != std::string::npos);
    CHECK(saq::tzdata_version().size() >= 5);
}

} // namespace

int main() {
    if (!saq::compatible()) {
        std::fprintf(stderr, "libsaq %s is older than saq.h %s\n", saq_version_str(),
                     SAQ_VERSION_STR);
        return 1;
    }
    R = rh_start(0);
    struct {
        const char *name;
        void (*fn)();
    } tests[] = {
        {"errors", test_errors},
        {"enqueue_and_read", test_enqueue_and_read},
        {"handlers_apply_map", test_handlers_apply_map},
        {"futures", test_futures},
        {"cancellation", test_cancellation},
        {"listen", test_listen},
        {"raii_order", test_raii_order},
        {"pull_mode", test_pull_mode},
        {"batch_and_close", test_batch_and_close},
        {"flow", test_flow},
        {"cron_next", test_cron_next},
    };
    int failed = 0, n = 0;
    for (auto &t : tests) {
        n++;
        auto t0 = std::chrono::steady_clock::now();
        try {
            t.fn();
            std::printf("[ OK ] %s", t.name);
        } catch (const failure &f) {
            failed++;
            std::printf("[FAIL] %s: %s", t.name, f.what.c_str());
        } catch (const std::exception &e) {
            failed++;
            std::printf("[FAIL] %s: unexpected exception: %s", t.name, e.what());
        }
        std::printf(" (%lld ms)\n", (long long)std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - t0)
                                        .count());
        std::fflush(stdout);
    }
    rh_stop(R);
    std::printf("%s: %d of %d C++ wrapper tests passed (abi/saq.hpp)\n", failed ? "FAIL" : "OK",
                n - failed, n);
    return failed ? 1 : 0;
}
