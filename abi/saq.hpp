// SPDX-License-Identifier: MIT
/*
 * saq.hpp: a header-only C++17 layer over libsaq's C API (saq.h), installed
 * beside it. Nothing here is in the library: it compiles into the program
 * that includes it, against the same libsaq (link with
 * `pkg-config --libs libsaq`, or CMake's saq::saq target).
 *
 * What it gives over saq.h
 *   RAII        saq::config, saq::queue, saq::worker, saq::job, saq::event,
 *               saq::completion_queue and saq::batch own their C handle and
 *               release it in the destructor; they are move-only. A queue
 *               handle is shared with the workers made on it, so the queue
 *               is freed after them whatever the order of destruction.
 *   Errors      Every failure is thrown as saq::error (code() is the SAQ_E*
 *               code, name() its name, what() libsaq's message); a job that
 *               ended failed or aborted under apply/map is saq::job_error,
 *               which carries a copy of the final job. Nothing returns a
 *               code to check.
 *   Handlers    worker::handle(name, fn) takes any callable (a lambda,
 *               std::function) of a saq::job&; what it returns is the job's
 *               result (JSON text; void means no result), an exception it
 *               throws fails the job with the exception's what() (retried
 *               while retries allow, as saq does).
 *   Futures     Every queue operation has a blocking form (enqueue, apply,
 *               map, count, ...) and an asynchronous one (enqueue_async, ...)
 *               returning std::future. The future is fulfilled on the queue's
 *               I/O thread; a failure is in the future (future::get throws
 *               it). apply, map and listen accept a saq::cancellation, which
 *               stops them in the core (saq_queue_cancel).
 *
 * JSON        kwargs, results, meta and documents are JSON text (std::string),
 *             as in saq.h: serialise with the JSON library of your choice.
 * Units       as saq.h: job durations in seconds (double), blocking timeouts
 *             in milliseconds (int; -1 = forever).
 * Threads     Any thread, as saq.h, except: do not call a blocking member
 *             (the forms without _async, future::get, worker::wait, close,
 *             a worker's destructor) from a listen callback or a worker hook,
 *             and do not destroy a worker from one of its own handlers.
 * Not wrapped (use native() and saq.h): log sinks, dump/load transforms,
 *             before-enqueue hooks, callback completion queues.
 */
#ifndef SAQ_HPP
#define SAQ_HPP

#include "saq.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <unistd.h>

namespace saq {

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** A libsaq failure: code() is the SAQ_E* code (negative), name() its stable name
 *  ("SAQ_ETIMEDOUT"), what() libsaq's message (saq_strerror(code) when libsaq gave none). */
class error : public std::runtime_error {
public:
    /** An error with `code` (SAQ_E*) and `message` ("" = saq_strerror(code)). */
    error(int code, const std::string &message)
        : std::runtime_error(message.empty() ? std::string(saq_strerror(code)) : message),
          code_(code) {}
    /** The SAQ_E* code. */
    int code() const noexcept { return code_; }
    /** The code's static name, e.g. "SAQ_ENOTFOUND". */
    const char *name() const noexcept { return saq_err_name(code_); }

private:
    int code_;
};

/** Library version (saq_version()) at run time, encoded as SAQ_VERSION_NUMBER. */
inline unsigned version() noexcept { return saq_version(); }

/** True when the loaded libsaq is at least the version of the saq.h this was compiled with. */
inline bool compatible() noexcept { return saq_version() >= SAQ_VERSION_NUMBER; }

namespace detail {
inline std::optional<std::string> opt(const char *s) {
    return s ? std::optional<std::string>(s) : std::nullopt;
}
inline std::string str(const char *s) { return s ? std::string(s) : std::string(); }
inline const char *cstr(const std::optional<std::string> &s) { return s ? s->c_str() : nullptr; }
/* A C handle owned through its *_free function: move-only, freed once. */
template <class T, void (*Free)(T *)>
struct free_fn {
    void operator()(T *p) const noexcept { Free(p); }
};
template <class T, void (*Free)(T *)>
using owned = std::unique_ptr<T, free_fn<T, Free>>;
/** Throw saq::error(rc, message) unless rc is SAQ_OK. */
inline void check(int rc, const char *message) {
    if (rc != SAQ_OK)
        throw saq::error(rc, message ? message : "");
}
/** `s` as a JSON string literal (quotes and control characters escaped; UTF-8 kept). */
inline std::string json_quote(const std::string &s) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    return out;
}
/** A JSON array of the given texts, each element written as is (`quote` false) or as a string. */
inline std::string json_array(const std::vector<std::string> &items, bool quote) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); i++) {
        if (i)
            out += ',';
        out += quote ? json_quote(items[i]) : items[i];
    }
    out += ']';
    return out;
}
} // namespace detail

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/** The version of the time zone data of cron_tz (the system's tzdata, e.g. "2025b"; saq_tzdata_version). */
inline std::string tzdata_version() { return saq_tzdata_version(); }

/** The next `n` fire times (epoch seconds) of a cron job after `after_s`, as a worker with the
 *  same expression and cron_tz ("" = UTC) schedules them (saq_cron_next); fewer when it stops
 *  firing. Throws saq::error (SAQ_ECRON: bad expression or zone; SAQ_EINVAL: n < 0). */
inline std::vector<std::int64_t> cron_next(const std::string &expr, const std::string &cron_tz,
                                           std::int64_t after_s, int n) {
    std::vector<std::int64_t> times(n > 0 ? static_cast<std::size_t>(n) : 0);
    char err[256];
    int k = saq_cron_next(expr.c_str(), cron_tz.c_str(), after_s, n, times.data(), nullptr, err,
                          sizeof err);
    if (k < 0)
        throw saq::error(k, err);
    times.resize(static_cast<std::size_t>(k));
    return times;
}

/** A saq_conf_t: string keys and values (saq_conf_set documents every key and its unit). The
 *  queue and worker constructors copy what they need, so a config may be destroyed or reused
 *  right after. Not thread-safe: one thread at a time. */
class config {
public:
    /** An empty configuration (every key at its default). Throws saq::error(SAQ_ENOMEM). */
    config() : c_(saq_conf_new()) {
        if (!c_)
            throw saq::error(SAQ_ENOMEM, "");
    }
    /** A configuration with these keys set in order, e.g. {{"url", url}, {"name", "mail"}}.
     *  Throws as set(). */
    config(std::initializer_list<std::pair<const std::string, std::string>> kv) : config() {
        for (const auto &p : kv)
            set(p.first, p.second);
    }

    /** Set `key` to `value` (text; numbers in decimal), checked at once. Returns *this.
     *  Throws saq::error: SAQ_EUNKNOWN_KEY, SAQ_EINVAL (bad value), SAQ_EURL (bad url),
     *  SAQ_ENOMEM, with saq_conf_errmsg's message; the config is unchanged then. */
    config &set(const std::string &key, const std::string &value) {
        detail::check(saq_conf_set(c_.get(), key.c_str(), value.c_str()),
                      saq_conf_errmsg(c_.get()));
        return *this;
    }
    /** The value last set for `key`, or nullopt when unset (defaults are not reported). */
    std::optional<std::string> get(const std::string &key) const {
        return detail::opt(saq_conf_get(c_.get(), key.c_str()));
    }
    /** The C handle, still owned by this config. */
    saq_conf_t *native() const noexcept { return c_.get(); }

private:
    detail::owned<saq_conf_t, saq_conf_free> c_;
};

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

/** A job read without owning it: a job borrowed from an event or given to a hook. Valid while
 *  what it was borrowed from is (the event, the hook call). Copyable (it is a pointer). Every
 *  getter copies out of the C job (saq.h's units: seconds for durations and scheduled, epoch
 *  milliseconds for the *_ms times); an empty view (operator bool false) reads as "" and 0.
 *  Getters may run on several threads at once, not concurrently with setters. */
class job_view {
public:
    /** An empty view. */
    job_view() noexcept = default;
    /** A view of `j` (not owned; may be NULL). */
    explicit job_view(saq_job_t *j) noexcept : j_(j) {}
    /** The C handle (not owned by the view). */
    saq_job_t *native() const noexcept { return j_; }
    /** True when the view holds a job. */
    explicit operator bool() const noexcept { return j_ != nullptr; }

    /** The key (uuid1 unless set). */
    std::string key() const { return detail::str(saq_job_key(j_)); }
    /** The function name. */
    std::string function() const { return detail::str(saq_job_function(j_)); }
    /** "saq:job:<queue>:<key>", or nullopt until the job has a queue. */
    std::optional<std::string> id() const { return detail::opt(saq_job_id(j_)); }
    /** Queue name, or nullopt until enqueued. */
    std::optional<std::string> queue() const { return detail::opt(saq_job_queue(j_)); }
    /** kwargs as a JSON object, or nullopt when none. */
    std::optional<std::string> kwargs() const { return detail::opt(saq_job_kwargs(j_)); }
    /** The result as JSON, or nullopt when none (saq's None). */
    std::optional<std::string> result() const { return detail::opt(saq_job_result(j_)); }
    /** The error text (what a handler threw, a traceback from Python), or nullopt. */
    std::optional<std::string> error() const { return detail::opt(saq_job_error(j_)); }
    /** meta as a JSON object, or nullopt when empty. */
    std::optional<std::string> meta() const { return detail::opt(saq_job_meta(j_)); }
    /** The worker that ran it (saq 0.26.1+), or nullopt. */
    std::optional<std::string> worker_id() const { return detail::opt(saq_job_worker_id(j_)); }
    /** meta's W3C traceparent when well formed, or nullopt. */
    std::optional<std::string> traceparent() const { return detail::opt(saq_job_traceparent(j_)); }
    /** Status text: "new", "queued", "active", "aborting", "aborted", "failed", "complete". */
    std::string status() const { return detail::str(saq_job_status(j_)); }
    /** Status as SAQ_STATUS_*. */
    int status_code() const noexcept { return saq_job_status_code(j_); }
    /** True when the status is final (complete, failed, aborted). */
    bool terminal() const noexcept { return saq_status_terminal(saq_job_status(j_)) != 0; }
    /** Timeout in seconds; 0 = none. */
    double timeout() const noexcept { return saq_job_timeout(j_); }
    /** Heartbeat in seconds; 0 = off. */
    double heartbeat() const noexcept { return saq_job_heartbeat(j_); }
    /** Maximum total attempts. */
    int retries() const noexcept { return saq_job_retries(j_); }
    /** Seconds the record is kept after it ends; 0 forever, < 0 deleted at once. */
    int ttl() const noexcept { return saq_job_ttl(j_); }
    /** Base retry delay in seconds. */
    double retry_delay() const noexcept { return saq_job_retry_delay(j_); }
    /** True with exponential backoff. */
    bool retry_backoff() const noexcept { return saq_job_retry_backoff(j_) != 0; }
    /** Cap of the backoff in seconds; 0 = none. */
    double retry_backoff_cap() const noexcept { return saq_job_retry_backoff_cap(j_); }
    /** Due time in epoch seconds; 0 = now. */
    double scheduled() const noexcept { return saq_job_scheduled(j_); }
    /** Progress as stored (0..1 by convention). */
    double progress() const noexcept { return saq_job_progress(j_); }
    /** Attempts started. */
    int attempts() const noexcept { return saq_job_attempts(j_); }
    /** Epoch ms of the last enqueue (0 = unset). */
    int64_t queued_ms() const noexcept { return saq_job_queued_ms(j_); }
    /** Epoch ms of the current start (0 = unset). */
    int64_t started_ms() const noexcept { return saq_job_started_ms(j_); }
    /** Epoch ms of the final state (0 = unset). */
    int64_t completed_ms() const noexcept { return saq_job_completed_ms(j_); }
    /** Epoch ms of the last touch (0 = unset). */
    int64_t touched_ms() const noexcept { return saq_job_touched_ms(j_); }
    /** For a leased job: the SAQ_CANCEL_* reason the worker wants it stopped, else 0. Cheap;
     *  poll it in long handlers. */
    int cancelled() const noexcept { return saq_job_cancelled(j_); }
    /** Lease id of a leased job (the LEASE event's integer), 0 otherwise. */
    uint64_t lease_id() const noexcept { return saq_job_lease_id(j_); }

protected:
    saq_job_t *j_ = nullptr;
};

/** A job this object owns (saq_job_new, a copy, a job taken from an event, or the leased job a
 *  handler gets). Move-only; the destructor frees it (for a leased job never settled: saq.h's
 *  saq_job_free, the job fails as a handler bug). Setters return *this (a job&: chain them on a
 *  named job, or pass `saq::job("f").set_retries(3)` straight to enqueue/apply) and throw
 *  saq::error (SAQ_EINVAL, SAQ_EJSON, SAQ_ENOMEM with saq_job_errmsg) leaving the job
 *  unchanged. Setters, json() and destruction need exclusive use of the job. */
class job : public job_view {
public:
    /** A new job for `function` with saq's defaults (timeout 10 s, retries 1, ttl 600 s) and a
     *  fresh uuid1 key. Throws saq::error(SAQ_EINVAL) for an empty function. */
    explicit job(const std::string &function) : job_view(saq_job_new(function.c_str())) {
        if (!j_)
            throw saq::error(function.empty() ? SAQ_EINVAL : SAQ_ENOMEM,
                             function.empty() ? "a job needs a function name" : "");
    }
    /** Take ownership of `j` (which may be NULL: an empty job). */
    static job adopt(saq_job_t *j) noexcept { return job(j, 0); }
    /** Decode a record's JSON (saq_job_parse). Throws saq::error(SAQ_EJSON, why). */
    static job parse(const std::string &json) {
        saq_job_t *j = nullptr;
        char msg[256];
        detail::check(saq_job_parse(&j, json.c_str(), msg, sizeof msg), msg);
        return adopt(j);
    }
    job(job &&o) noexcept : job_view(std::exchange(o.j_, nullptr)), settled_(o.settled_) {}
    job &operator=(job &&o) noexcept {
        std::swap(j_, o.j_);
        std::swap(settled_, o.settled_);
        return *this;
    }
    job(const job &) = delete;
    job &operator=(const job &) = delete;
    ~job() { saq_job_free(j_); }

    /** A deep copy without any lease. Throws saq::error(SAQ_ENOMEM). */
    job clone() const {
        saq_job_t *c = saq_job_dup(j_);
        if (!c && j_)
            throw saq::error(SAQ_ENOMEM, "");
        return adopt(c);
    }
    /** Give up ownership: the caller frees the returned handle with saq_job_free. */
    saq_job_t *release() noexcept { return std::exchange(j_, nullptr); }

    /** The key (non-empty UTF-8). */
    job &set_key(const std::string &key) { return ck(saq_job_set_key(j_, key.c_str())); }
    /** kwargs as a JSON object (nullopt clears). */
    job &set_kwargs(const std::optional<std::string> &json) {
        return ck(saq_job_set_kwargs(j_, detail::cstr(json)));
    }
    /** saq's keyword split (saq_job_set_call_kwargs): job fields (timeout, retries, key, ...)
     *  set options, other names go into kwargs. */
    job &set_call_kwargs(const std::string &json) {
        return ck(saq_job_set_call_kwargs(j_, json.c_str()));
    }
    /** Timeout in seconds (fractions allowed); 0 = none, < 0 writes null (also none). */
    job &set_timeout(double seconds) { return ck(saq_job_set_timeout(j_, seconds)); }
    /** Heartbeat in seconds; 0 = off. */
    job &set_heartbeat(double seconds) { return ck(saq_job_set_heartbeat(j_, seconds)); }
    /** Maximum total attempts (>= 0). */
    job &set_retries(int retries) { return ck(saq_job_set_retries(j_, retries)); }
    /** Seconds to keep the record once it ends (0 forever, < 0 delete at once). */
    job &set_ttl(int seconds) { return ck(saq_job_set_ttl(j_, seconds)); }
    /** Base retry delay in seconds (>= 0). */
    job &set_retry_delay(double seconds) { return ck(saq_job_set_retry_delay(j_, seconds)); }
    /** Exponential backoff on or off, capped at cap_s seconds (<= 0: uncapped). */
    job &set_retry_backoff(bool enabled, double cap_s = 0) {
        return ck(saq_job_set_retry_backoff(j_, enabled ? 1 : 0, cap_s));
    }
    /** Due time in epoch seconds (0 = now; otherwise >= 1). */
    job &set_scheduled(double epoch_s) { return ck(saq_job_set_scheduled(j_, epoch_s)); }
    /** meta as a JSON object (nullopt clears). */
    job &set_meta(const std::optional<std::string> &json) {
        return ck(saq_job_set_meta(j_, detail::cstr(json)));
    }
    /** meta's W3C traceparent (nullopt removes it). */
    job &set_traceparent(const std::optional<std::string> &tp) {
        return ck(saq_job_set_traceparent(j_, detail::cstr(tp)));
    }
    /** Progress (any finite number; 0..1 by convention). */
    job &set_progress(double progress) { return ck(saq_job_set_progress(j_, progress)); }
    /** Replace every field from a record's JSON (saq_job_set_json). */
    job &set_json(const std::string &json) { return ck(saq_job_set_json(j_, json.c_str())); }
    /** The record as saq 0.26 JSON. Throws saq::error(SAQ_ENOMEM). */
    std::string json() {
        const char *s = saq_job_to_json(j_);
        if (!s)
            throw saq::error(j_ ? SAQ_ENOMEM : SAQ_EINVAL, "");
        return s;
    }

    /** Leased job: finish it with `result_json` ("null" = no result). If it was aborted
     *  meanwhile it ends aborted. Any thread. Throws saq::error: SAQ_EINVAL (not leased, or
     *  malformed JSON: the job is then failed), SAQ_ETOOBIG (failed too), SAQ_ESTATE (already
     *  settled or given back), SAQ_ECLOSED, SAQ_EFORKED, SAQ_ENOMEM. */
    void complete(const std::string &result_json = "null") {
        settle(saq_job_complete(j_, result_json.c_str()));
    }
    /** Leased job: report an error (retried while retries > attempts, else failed). Any
     *  thread. Throws as complete(). */
    void fail(const std::string &error_text) { settle(saq_job_fail(j_, error_text.c_str())); }
    /** Leased job: heartbeat, and apply `fields_json` ({"progress": x, "meta": {...}}) to the
     *  stored record when given. Fire-and-forget; any thread. Throws saq::error (SAQ_EINVAL,
     *  SAQ_ESTATE once settled, ...). */
    void touch(const std::optional<std::string> &fields_json = std::nullopt) {
        detail::check(saq_job_touch(j_, detail::cstr(fields_json)), saq_job_errmsg(j_));
    }
    /** True once complete() or fail() succeeded on this object. */
    bool settled() const noexcept { return settled_; }

private:
    job(saq_job_t *j, int) noexcept : job_view(j) {}
    job &ck(int rc) {
        detail::check(rc, saq_job_errmsg(j_));
        return *this;
    }
    void settle(int rc) {
        if (rc == SAQ_OK)
            settled_ = true;
        detail::check(rc, saq_job_errmsg(j_));
    }
    bool settled_ = false;
};

/** A job that ended failed or aborted under apply or map (code SAQ_EJOB): final_job() is a copy
 *  of it as stored (its error(), status(), attempts()), or NULL when its record was gone. */
class job_error : public saq::error {
public:
    /** An SAQ_EJOB error carrying `j` (may be null). */
    job_error(int code, const std::string &message, std::shared_ptr<const saq::job> j)
        : saq::error(code, message), job_(std::move(j)) {}
    /** The final job, or NULL. Owned by the exception (shared by its copies). */
    const saq::job *final_job() const noexcept { return job_.get(); }

private:
    std::shared_ptr<const saq::job> job_;
};

// ---------------------------------------------------------------------------
// Events and completion queues
// ---------------------------------------------------------------------------

/** A saq_event_t this object owns (move-only; freed by the destructor). Read it as saq.h's
 *  getters; strings are copied out. Jobs it lends (job(), job_at()) stay valid while the event
 *  lives and is not moved from. */
class event {
public:
    /** Take ownership of `ev`. */
    explicit event(saq_event_t *ev) noexcept : ev_(ev) {}

    /** SAQ_EVENT_*. */
    int type() const noexcept { return saq_event_type(ev_.get()); }
    /** The tag given at submission (or to worker::start). */
    uint64_t tag() const noexcept { return saq_event_tag(ev_.get()); }
    /** SAQ_OK or the operation's SAQ_E* code. */
    int status() const noexcept { return saq_event_status(ev_.get()); }
    /** True when status() is SAQ_OK. */
    bool ok() const noexcept { return status() == SAQ_OK; }
    /** The error message ("" when ok). */
    std::string errmsg() const { return detail::str(saq_event_errmsg(ev_.get())); }
    /** The integer result (saq_event_int: enqueued 1/0, a count, a lease id, ...). */
    int64_t integer() const noexcept { return saq_event_int(ev_.get()); }
    /** The JSON document, or nullopt. */
    std::optional<std::string> json() const { return detail::opt(saq_event_json(ev_.get())); }
    /** The text document (LOG, METRICS), or nullopt. */
    std::optional<std::string> text() const { return detail::opt(saq_event_text(ev_.get())); }
    /** The job key (or ITER_JOBS' next cursor), or nullopt. */
    std::optional<std::string> key() const { return detail::opt(saq_event_key(ev_.get())); }
    /** LISTEN's status text, or nullopt. */
    std::optional<std::string> job_status() const { return detail::opt(saq_event_job_status(ev_.get())); }
    /** The job the event is about, borrowed (an empty view when none). */
    job_view job() const noexcept { return job_view(saq_event_job(ev_.get())); }
    /** Move the event's job out (LEASE: the job to run), or nullopt when none. */
    std::optional<saq::job> take_job() noexcept {
        saq_job_t *j = saq_event_take_job(ev_.get());
        return j ? std::optional<saq::job>(saq::job::adopt(j)) : std::nullopt;
    }
    /** Number of jobs carried (JOBS, MAP, ITER_JOBS). */
    size_t job_count() const noexcept { return saq_event_job_count(ev_.get()); }
    /** The i-th job, borrowed (an empty view when missing). */
    job_view job_at(size_t i) const noexcept { return job_view(saq_event_job_at(ev_.get(), i)); }
    /** Throw the event's failure: saq::job_error for SAQ_EJOB (with a copy of its job),
     *  saq::error otherwise. Nothing when ok. */
    void check() const {
        int st = status();
        if (st == SAQ_OK)
            return;
        if (st == SAQ_EJOB) {
            saq_job_t *j = saq_job_dup(saq_event_job(ev_.get()));
            throw job_error(st, errmsg(),
                            j ? std::make_shared<const saq::job>(saq::job::adopt(j)) : nullptr);
        }
        throw saq::error(st, errmsg());
    }
    /** The C handle, still owned by this event. */
    saq_event_t *native() const noexcept { return ev_.get(); }
    /** Give up ownership (the caller frees with saq_event_free). */
    saq_event_t *release() noexcept { return ev_.release(); }

private:
    detail::owned<saq_event_t, saq_event_free> ev_;
};

/** A polling completion queue (saq_cq_new), for pull-mode workers and hosts that drive
 *  libsaq's C calls themselves with native(). Move-only; freed by the destructor (events still
 *  to come are then discarded). Any thread. */
class completion_queue {
public:
    /** A new polling cq. Throws saq::error(SAQ_ENOMEM) (memory or file descriptors). */
    completion_queue() : cq_(saq_cq_new()) {
        if (!cq_)
            throw saq::error(SAQ_ENOMEM, "no memory or file descriptors for a completion queue");
    }

    /** The oldest event, waiting up to timeout_ms (0 = not at all, -1 = forever); nullopt on
     *  timeout or wakeup(). Blocking. */
    std::optional<event> poll(int timeout_ms = -1) {
        saq_event_t *ev = saq_cq_poll(cq_.get(), timeout_ms);
        return ev ? std::optional<event>(event(ev)) : std::nullopt;
    }
    /** The oldest event carrying `tag`, as poll(). */
    std::optional<event> wait(uint64_t tag, int timeout_ms = -1) {
        saq_event_t *ev = saq_cq_wait(cq_.get(), tag, timeout_ms);
        return ev ? std::optional<event>(event(ev)) : std::nullopt;
    }
    /** Events waiting (a snapshot). */
    size_t size() const noexcept { return saq_cq_length(cq_.get()); }
    /** A file descriptor readable while events wait (owned by the cq; drain with poll(0)). */
    int fd() const noexcept { return saq_cq_fd(cq_.get()); }
    /** Make blocked poll()/wait() calls return nullopt. */
    void wakeup() noexcept { saq_cq_wakeup(cq_.get()); }
    /** The C handle, still owned by this object. */
    saq_cq_t *native() const noexcept { return cq_.get(); }

private:
    detail::owned<saq_cq_t, saq_cq_free> cq_;
};

// ---------------------------------------------------------------------------
// Asynchronous operations (futures)
// ---------------------------------------------------------------------------

namespace detail {

/* One submitted operation. Its address is the tag; it keeps itself alive
 * (self) until its completion event, and a cancellation that holds it keeps
 * the address from being reused by another operation meanwhile. */
struct op_base {
    virtual ~op_base() = default;
    /** The completion event (owned), on the queue's I/O thread. */
    virtual void finish(saq_event_t *ev) noexcept = 0;
    /** A LISTEN message (owned); non-zero stops the listen. */
    virtual int message(saq_event_t *ev) noexcept {
        saq_event_free(ev);
        return 0;
    }
    uint64_t tag() const noexcept {
        return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(this));
    }
    std::shared_ptr<op_base> self;
    std::weak_ptr<saq_queue_t> queue;
    std::atomic<bool> done{false};
};

inline int on_event(saq_event_t *ev, void *) {
    auto *o = reinterpret_cast<op_base *>(static_cast<uintptr_t>(saq_event_tag(ev)));
    if (saq_event_type(ev) == SAQ_EVENT_LISTEN)
        return o->message(ev);
    std::shared_ptr<op_base> keep = std::move(o->self);
    o->done = true;
    o->finish(ev);
    return 0;
}

/* Every future of the process is fulfilled through one callback cq, made on
 * first use and never freed: an operation completes exactly once, also when
 * its queue is freed first, so no future is left waiting. A forked child
 * makes its own. */
inline saq_cq_t *shared_cq() {
    static std::mutex mu;
    static saq_cq_t *cq = nullptr;
    static pid_t pid = 0;
    std::lock_guard<std::mutex> g(mu);
    if (!cq || pid != getpid()) {
        cq = saq_cq_new_callback(on_event, nullptr);
        pid = getpid();
    }
    return cq;
}

template <class T, class Conv>
struct op final : op_base {
    explicit op(Conv c) : conv(std::move(c)) {}
    void finish(saq_event_t *ev) noexcept override {
        try {
            event e(ev);
            if constexpr (std::is_void_v<T>) {
                conv(e);
                promise.set_value();
            } else {
                promise.set_value(conv(e));
            }
        } catch (...) {
            try {
                promise.set_exception(std::current_exception());
            } catch (...) {
            }
        }
    }
    std::promise<T> promise;
    Conv conv;
};

struct listen_op final : op_base {
    int message(saq_event_t *ev) noexcept override {
        event e(ev);
        if (failure)
            return 1;
        try {
            return fn(detail::str(saq_event_key(ev)), detail::str(saq_event_job_status(ev))) ? 1 : 0;
        } catch (...) {
            failure = std::current_exception();
            return 1;
        }
    }
    void finish(saq_event_t *ev) noexcept override {
        event e(ev);
        try {
            if (failure)
                std::rethrow_exception(failure);
            e.check();
            promise.set_value();
        } catch (...) {
            try {
                promise.set_exception(std::current_exception());
            } catch (...) {
            }
        }
        fn = nullptr;
    }
    std::function<bool(const std::string &, const std::string &)> fn;
    std::exception_ptr failure;
    std::promise<void> promise;
};

} // namespace detail

/** Stops apply, map and listen operations it was given (like JavaScript's AbortController):
 *  cancel() makes each pending one end at once in the core (saq_queue_cancel): apply and map
 *  with saq::error SAQ_ECLOSED ("cancelled"; jobs already enqueued are left alone, as saq),
 *  listen normally. An operation started with a cancellation already cancelled is stopped right
 *  after it is submitted. Copies share one state. Any thread, including a listen callback. */
class cancellation {
public:
    /** A cancellation not cancelled yet. */
    cancellation() : st_(std::make_shared<state>()) {}
    /** Cancel every pending operation given this cancellation, and later ones. Idempotent. */
    void cancel() const {
        std::vector<std::shared_ptr<detail::op_base>> ops;
        {
            std::lock_guard<std::mutex> g(st_->mu);
            st_->cancelled = true;
            ops.swap(st_->ops);
        }
        for (const auto &o : ops)
            stop(*o);
    }
    /** True once cancel() was called. */
    bool cancelled() const {
        std::lock_guard<std::mutex> g(st_->mu);
        return st_->cancelled;
    }

    /** (Internal) Follow operation `o`. */
    void attach(const std::shared_ptr<detail::op_base> &o) const {
        {
            std::lock_guard<std::mutex> g(st_->mu);
            if (!st_->cancelled) {
                auto &v = st_->ops;
                for (size_t i = 0; i < v.size();)
                    if (v[i]->done) {
                        v[i] = std::move(v.back());
                        v.pop_back();
                    } else {
                        i++;
                    }
                v.push_back(o);
                return;
            }
        }
        stop(*o);
    }

private:
    static void stop(detail::op_base &o) {
        if (o.done)
            return;
        if (std::shared_ptr<saq_queue_t> q = o.queue.lock())
            saq_queue_cancel(q.get(), detail::shared_cq(), o.tag());
    }
    struct state {
        std::mutex mu;
        bool cancelled = false;
        std::vector<std::shared_ptr<detail::op_base>> ops;
    };
    std::shared_ptr<state> st_;
};

namespace detail {
inline const char *submit_message(int rc) {
    switch (rc) {
    case SAQ_ECLOSED: return "the queue is closing or closed";
    case SAQ_EFORKED: return "the queue was inherited across fork()";
    case SAQ_ENOMEM: return "out of memory";
    default: return "";
    }
}
/* Submit with `s(cq, tag)`; `conv(event&)` turns the completion into a T. */
template <class T, class Conv, class Submit>
std::future<T> submit(const std::shared_ptr<saq_queue_t> &q, Conv conv, Submit s,
                      const cancellation *cancel = nullptr) {
    auto o = std::make_shared<op<T, Conv>>(std::move(conv));
    o->queue = q;
    std::future<T> f = o->promise.get_future();
    saq_cq_t *cq = shared_cq();
    o->self = o;
    int rc = cq ? s(cq, o->tag()) : SAQ_ENOMEM;
    if (rc != SAQ_OK) {
        o->self.reset();
        o->done = true;
        o->promise.set_exception(std::make_exception_ptr(saq::error(rc, submit_message(rc))));
    } else if (cancel) {
        cancel->attach(o);
    }
    return f;
}
inline std::optional<saq::job> take(event &e) { return e.take_job(); }
inline std::vector<std::optional<saq::job>> dup_all(const event &e) {
    std::vector<std::optional<saq::job>> v;
    size_t n = e.job_count();
    v.reserve(n);
    for (size_t i = 0; i < n; i++) {
        saq_job_t *j = e.job_at(i).native();
        saq_job_t *c = j ? saq_job_dup(j) : nullptr;
        if (j && !c)
            throw saq::error(SAQ_ENOMEM, "");
        v.push_back(c ? std::optional<saq::job>(saq::job::adopt(c)) : std::nullopt);
    }
    return v;
}
} // namespace detail

/** What queue::abort did: nothing (the job was already final), requested (a scheduled or
 *  running job is marked aborting; its worker stops it), aborted (it was waiting: aborted at
 *  once). */
enum class abort_result { unchanged = 0, requested = 1, aborted = 2 };

/** queue::delete_job's outcome (saq_queue_delete's int). */
enum class delete_result { deleted = 1, deleted_after_stop = 2, deleted_after_wait = 3 };

/** apply's outcome: the result as JSON ("null" when none) and the final job (nullopt when its
 *  record was already gone, ttl < 0). */
struct apply_result {
    std::string json;                 /**< the result as JSON text ("null" when none) */
    std::optional<saq::job> final_job; /**< the job as stored at the end, owned */
};

/** map's outcome: the results as a JSON array in item order (null for failed entries with
 *  return_exceptions) and the final jobs, one per distinct job in item order (nullopt where a
 *  record was gone). */
struct map_result {
    std::string json;                          /**< a JSON array of the results, in item order */
    std::vector<std::optional<saq::job>> jobs; /**< the final jobs, one per distinct job, owned */
};

/** One page of queue::iter_jobs: its jobs, their records as a JSON array, and the cursor to
 *  pass next ("0" when the scan is over). */
struct job_page {
    std::vector<std::optional<saq::job>> jobs; /**< the page's jobs, owned (never nullopt) */
    std::string json;                          /**< their records as a JSON array */
    std::string cursor;                        /**< pass it next; "0" when the scan is over */
};

class batch;
class worker;

// ---------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------

/** A saq Queue (saq_queue_t): one Redis queue name, its connections and I/O thread. Move-only.
 *  The destructor releases the handle without blocking (call close() first to drain): pending
 *  operations then fail with SAQ_ECLOSED in their futures. Workers made on the queue keep it
 *  alive until they are destroyed. Every member may be called from any thread.
 *  Each operation comes in two forms: `x_async(...)` submits and returns a std::future, whose
 *  get() returns the result or throws the failure (saq::error; saq::job_error for a job that
 *  failed under apply/map); `x(...)` is `x_async(...).get()`. The errors each can report are
 *  saq.h's for the C function of the same name, plus the common ones (SAQ_ECONN,
 *  SAQ_ETIMEDOUT, SAQ_ECLOSED, ...). */
class queue {
public:
    /** Open a queue from `conf` (url, name, dialect, ...; saq_queue_open). Connects lazily.
     *  Throws saq::error with saq_conf_errmsg's message (SAQ_EINVAL, SAQ_ETLS, SAQ_ENOMEM,
     *  SAQ_EUVVERSION). */
    explicit queue(const config &conf) {
        saq_queue_t *q = nullptr;
        detail::check(saq_queue_open(&q, conf.native()), saq_conf_errmsg(conf.native()));
        q_.reset(q, saq_queue_free);
    }
    /** saq's Queue.from_url(url, name). Throws as the config form (SAQ_EURL for a bad url). */
    explicit queue(const std::string &url = "redis://localhost:6379/0",
                   const std::string &name = "default")
        : queue(config{{"url", url}, {"name", name}}) {}
    queue(queue &&) noexcept = default;
    queue &operator=(queue &&) noexcept = default;
    queue(const queue &) = delete;
    queue &operator=(const queue &) = delete;

    /** The queue name. */
    std::string name() const { return detail::str(saq_queue_name(q_.get())); }
    /** "0.26" or "0.13". */
    std::string dialect() const { return detail::str(saq_queue_dialect(q_.get())); }
    /** The C handle, owned by this object (and its workers). */
    saq_queue_t *native() const noexcept { return q_.get(); }
    /** Stop accepting operations and wait up to timeout_ms (-1 = forever) for the pending
     *  ones, then disconnect (saq_queue_close). Returns false when the deadline passed (those
     *  left fail with SAQ_ECLOSED). Blocking. Throws saq::error (SAQ_ESTATE from the I/O
     *  thread, SAQ_EFORKED). */
    bool close(int timeout_ms = -1) {
        int rc = saq_queue_close(q_.get(), timeout_ms);
        if (rc == SAQ_ETIMEDOUT)
            return false;
        detail::check(rc, "");
        return true;
    }

    /** Round trip to Redis; the server's version as (major << 16) | (minor << 8) | patch. */
    std::future<unsigned> ping_async() {
        return detail::submit<unsigned>(
            q_, [](event &e) { e.check(); return static_cast<unsigned>(e.integer()); },
            [q = q_.get()](saq_cq_t *cq, uint64_t t) { return saq_queue_ping(q, cq, t); });
    }
    /** Blocking ping_async(). */
    unsigned ping() { return ping_async().get(); }

    /** saq's Queue.enqueue(job): the job as sent (queue, queued, status set), or nullopt when
     *  a job with its key is still incomplete ("already enqueued"). `j` is copied. */
    std::future<std::optional<saq::job>> enqueue_async(const saq::job &j) {
        return detail::submit<std::optional<saq::job>>(
            q_, conv_enqueue,
            [q = q_.get(), j = j.native()](saq_cq_t *cq, uint64_t t) {
                return saq_queue_enqueue(q, j, cq, t);
            });
    }
    /** saq's Queue.enqueue("function", **kwargs): `kwargs_json` is a JSON object whose job
     *  fields (timeout, retries, key, scheduled, ...) set options and the rest are kwargs. */
    std::future<std::optional<saq::job>> enqueue_async(const std::string &function,
                                                       const std::string &kwargs_json = "{}") {
        return detail::submit<std::optional<saq::job>>(
            q_, conv_enqueue,
            [q = q_.get(), &function, &kwargs_json](saq_cq_t *cq, uint64_t t) {
                return saq_queue_enqueue_call(q, function.c_str(), kwargs_json.c_str(), cq, t);
            });
    }
    /** Bulk enqueue (saq_queue_enqueue_many): the jobs in one pipelined operation, each as
     *  enqueue_async(job) would (copied). One entry per job, in order: true enqueued, false
     *  already enqueued. Throws saq::error: SAQ_EINVAL / SAQ_EWRONGQUEUE / SAQ_ETOOBIG naming
     *  the job that refused the call (nothing written), or the Redis error that cut the
     *  replies short (then some jobs may have been written: read them back). */
    std::future<std::vector<bool>> enqueue_many_async(const std::vector<saq::job> &jobs) {
        std::vector<saq_job_t *> raw;
        raw.reserve(jobs.size());
        for (const auto &j : jobs)
            raw.push_back(j.native());
        return detail::submit<std::vector<bool>>(
            q_,
            [](event &e) {
                e.check();
                std::vector<bool> out;
                for (char c : e.json().value_or("[]"))
                    if (c == '0' || c == '1')
                        out.push_back(c == '1');
                return out;
            },
            [q = q_.get(), &raw](saq_cq_t *cq, uint64_t t) {
                return saq_queue_enqueue_many(q, raw.data(), raw.size(), cq, t);
            });
    }
    /** Blocking enqueue_many_async(jobs). */
    std::vector<bool> enqueue_many(const std::vector<saq::job> &jobs) {
        return enqueue_many_async(jobs).get();
    }
    /** Blocking enqueue_async(job). */
    std::optional<saq::job> enqueue(const saq::job &j) { return enqueue_async(j).get(); }
    /** Blocking enqueue_async(function, kwargs_json). */
    std::optional<saq::job> enqueue(const std::string &function,
                                    const std::string &kwargs_json = "{}") {
        return enqueue_async(function, kwargs_json).get();
    }

    /** Flows (saq.h "Flows"): enqueue `members` and record `callback`, which libsaq enqueues
     *  once every member is terminal, with their outcomes in its kwargs ("flow"); the flow id is
     *  the callback's key; `ttl_s` keeps the flow's record that long after (0: forever). The
     *  value: {"id", "callback", "members": [keys]} as JSON, or nullopt when a flow with that id
     *  is recorded already. Throws saq::error SAQ_EINVAL (no member, a key twice, callback kwargs
     *  with "flow"), SAQ_ESTATE (a member key already enqueued; nothing written). */
    std::future<std::optional<std::string>> enqueue_flow_async(const std::vector<saq::job> &members,
                                                               const saq::job &callback,
                                                               int ttl_s = 86400) {
        std::unique_ptr<saq_flow_t, void (*)(saq_flow_t *)> f(saq_flow_new(callback.native()),
                                                              saq_flow_free);
        if (!f)
            throw saq::error(SAQ_ENOMEM, "");
        detail::check(saq_flow_set_ttl(f.get(), ttl_s), saq_flow_errmsg(f.get()));
        for (const auto &m : members)
            detail::check(saq_flow_add(f.get(), m.native()), saq_flow_errmsg(f.get()));
        return detail::submit<std::optional<std::string>>(
            q_,
            [](event &e) {
                e.check();
                return e.integer() ? e.json() : std::optional<std::string>();
            },
            [q = q_.get(), fp = f.get()](saq_cq_t *cq, uint64_t t) {
                return saq_queue_enqueue_flow(q, fp, cq, t); /* copies the flow */
            });
    }
    /** Blocking enqueue_flow_async(). */
    std::optional<std::string> enqueue_flow(const std::vector<saq::job> &members,
                                            const saq::job &callback, int ttl_s = 86400) {
        return enqueue_flow_async(members, callback, ttl_s).get();
    }
    /** A flow as JSON ({"id", "state", "callback", "total", "pending", "created_ms", "done_ms",
     *  "members"}; reading it records members that ended outside a libsaq worker), or nullopt
     *  when no flow has that id. */
    std::future<std::optional<std::string>> flow_async(const std::string &id) {
        return detail::submit<std::optional<std::string>>(
            q_,
            [](event &e) {
                if (e.status() == SAQ_ENOTFOUND)
                    return std::optional<std::string>();
                e.check();
                return e.json();
            },
            [q = q_.get(), &id](saq_cq_t *cq, uint64_t t) {
                return saq_queue_flow(q, id.c_str(), cq, t);
            });
    }
    /** Blocking flow_async(). */
    std::optional<std::string> flow(const std::string &id) { return flow_async(id).get(); }

    /** saq's Queue.job(key): the stored job, or nullopt when there is none. */
    std::future<std::optional<saq::job>> get_job_async(const std::string &key) {
        return detail::submit<std::optional<saq::job>>(
            q_,
            [](event &e) {
                if (e.status() == SAQ_ENOTFOUND)
                    return std::optional<saq::job>();
                e.check();
                return detail::take(e);
            },
            [q = q_.get(), &key](saq_cq_t *cq, uint64_t t) {
                return saq_queue_job(q, key.c_str(), cq, t);
            });
    }
    /** Blocking get_job_async(). */
    std::optional<saq::job> get_job(const std::string &key) { return get_job_async(key).get(); }

    /** saq's Queue.jobs(keys): one entry per key, in order, nullopt where missing or
     *  unreadable. */
    std::future<std::vector<std::optional<saq::job>>> get_jobs_async(
        const std::vector<std::string> &keys) {
        return detail::submit<std::vector<std::optional<saq::job>>>(
            q_, [](event &e) { e.check(); return detail::dup_all(e); },
            [q = q_.get(), json = detail::json_array(keys, true)](saq_cq_t *cq, uint64_t t) {
                return saq_queue_jobs(q, json.c_str(), cq, t);
            });
    }
    /** Blocking get_jobs_async(). */
    std::vector<std::optional<saq::job>> get_jobs(const std::vector<std::string> &keys) {
        return get_jobs_async(keys).get();
    }

    /** saq's Queue.abort(job, error, ttl): `error` becomes the job's error; the abort marker
     *  blocks re-enqueue for ttl_s seconds (>= 1). Throws SAQ_ENOTFOUND for no such job. */
    std::future<abort_result> abort_async(const std::string &key, const std::string &error,
                                          int ttl_s = 5) {
        return detail::submit<abort_result>(
            q_, [](event &e) { e.check(); return static_cast<abort_result>(e.integer()); },
            [q = q_.get(), &key, &error, ttl_s](saq_cq_t *cq, uint64_t t) {
                return saq_queue_abort(q, key.c_str(), error.c_str(), ttl_s, cq, t);
            });
    }
    /** Blocking abort_async(). */
    abort_result abort(const std::string &key, const std::string &error, int ttl_s = 5) {
        return abort_async(key, error, ttl_s).get();
    }

    /** saq's Queue.retry(job, error): true when written, false when the job was gone or
     *  final. */
    std::future<bool> retry_async(const std::string &key,
                                  const std::optional<std::string> &error = std::nullopt) {
        return detail::submit<bool>(
            q_, conv_written, [q = q_.get(), &key, &error](saq_cq_t *cq, uint64_t t) {
                return saq_queue_retry(q, key.c_str(), detail::cstr(error), cq, t);
            });
    }
    /** Blocking retry_async(). */
    bool retry(const std::string &key, const std::optional<std::string> &error = std::nullopt) {
        return retry_async(key, error).get();
    }

    /** saq's Queue.finish(job, status, result, error): status "complete", "failed" or
     *  "aborted"; true when written. */
    std::future<bool> finish_async(const std::string &key, const std::string &status,
                                   const std::optional<std::string> &result_json = std::nullopt,
                                   const std::optional<std::string> &error = std::nullopt) {
        return detail::submit<bool>(
            q_, conv_written,
            [q = q_.get(), &key, &status, &result_json, &error](saq_cq_t *cq, uint64_t t) {
                return saq_queue_finish(q, key.c_str(), status.c_str(), detail::cstr(result_json),
                                        detail::cstr(error), cq, t);
            });
    }
    /** Blocking finish_async(). */
    bool finish(const std::string &key, const std::string &status,
                const std::optional<std::string> &result_json = std::nullopt,
                const std::optional<std::string> &error = std::nullopt) {
        return finish_async(key, status, result_json, error).get();
    }

    /** saq's Job.update(**fields) on the stored record; true when written. */
    std::future<bool> update_async(const std::string &key, const std::string &fields_json) {
        return detail::submit<bool>(
            q_, conv_written, [q = q_.get(), &key, &fields_json](saq_cq_t *cq, uint64_t t) {
                return saq_queue_update(q, key.c_str(), fields_json.c_str(), cq, t);
            });
    }
    /** Blocking update_async(). */
    bool update(const std::string &key, const std::string &fields_json) {
        return update_async(key, fields_json).get();
    }

    /** saq's Queue.count(kind): kind "queued", "active" or "incomplete". */
    std::future<int64_t> count_async(const std::string &kind) {
        return detail::submit<int64_t>(
            q_, [](event &e) { e.check(); return e.integer(); },
            [q = q_.get(), &kind](saq_cq_t *cq, uint64_t t) {
                return saq_queue_count(q, kind.c_str(), cq, t);
            });
    }
    /** Blocking count_async(). */
    int64_t count(const std::string &kind) { return count_async(kind).get(); }

    /** saq's Queue.info(jobs, offset, limit) as JSON. */
    std::future<std::string> info_async(bool jobs = false, int offset = 0, int limit = 10) {
        return detail::submit<std::string>(
            q_, conv_json, [q = q_.get(), jobs, offset, limit](saq_cq_t *cq, uint64_t t) {
                return saq_queue_info(q, jobs ? 1 : 0, offset, limit, cq, t);
            });
    }
    /** Blocking info_async(). */
    std::string info(bool jobs = false, int offset = 0, int limit = 10) {
        return info_async(jobs, offset, limit).get();
    }

    /** saq's Queue.stats(ttl) as JSON: this queue object's counters, written to the registry
     *  for ttl_s seconds (>= 1). */
    std::future<std::string> stats_async(int ttl_s = 60) {
        return detail::submit<std::string>(q_, conv_json,
                                           [q = q_.get(), ttl_s](saq_cq_t *cq, uint64_t t) {
                                               return saq_queue_stats(q, ttl_s, cq, t);
                                           });
    }
    /** Blocking stats_async(). */
    std::string stats(int ttl_s = 60) { return stats_async(ttl_s).get(); }

    /** Queue-wide figures as JSON (saq_queue_overview). */
    std::future<std::string> overview_async() {
        return detail::submit<std::string>(
            q_, conv_json,
            [q = q_.get()](saq_cq_t *cq, uint64_t t) { return saq_queue_overview(q, cq, t); });
    }
    /** Blocking overview_async(). */
    std::string overview() { return overview_async().get(); }

    /** The rate limits and global concurrency the queue's libsaq workers publish, with their
     *  state, as JSON (saq_queue_limits). */
    std::future<std::string> limits_async() {
        return detail::submit<std::string>(
            q_, conv_json,
            [q = q_.get()](saq_cq_t *cq, uint64_t t) { return saq_queue_limits(q, cq, t); });
    }
    /** Blocking limits_async(). */
    std::string limits() { return limits_async().get(); }

    /** The overview as a Prometheus text exposition (saq_queue_metrics). */
    std::future<std::string> metrics_async() {
        return detail::submit<std::string>(
            q_, [](event &e) { e.check(); return e.text().value_or(""); },
            [q = q_.get()](saq_cq_t *cq, uint64_t t) { return saq_queue_metrics(q, cq, t); });
    }
    /** Blocking metrics_async(). */
    std::string metrics() { return metrics_async().get(); }

    /** Pause the queue (saq_queue_pause: libsaq workers take no more of its jobs): true when this
     *  call paused it, false when it was paused already. */
    std::future<bool> pause_async() {
        return detail::submit<bool>(
            q_, [](event &e) { e.check(); return e.integer() != 0; },
            [q = q_.get()](saq_cq_t *cq, uint64_t t) { return saq_queue_pause(q, cq, t); });
    }
    /** Blocking pause_async(). */
    bool pause() { return pause_async().get(); }
    /** Resume the queue (saq_queue_resume): true when this call resumed it, false when it was not
     *  paused. */
    std::future<bool> resume_async() {
        return detail::submit<bool>(
            q_, [](event &e) { e.check(); return e.integer() != 0; },
            [q = q_.get()](saq_cq_t *cq, uint64_t t) { return saq_queue_resume(q, cq, t); });
    }
    /** Blocking resume_async(). */
    bool resume() { return resume_async().get(); }
    /** Whether the queue is paused (saq_queue_paused). */
    std::future<bool> paused_async() {
        return detail::submit<bool>(
            q_, [](event &e) { e.check(); return e.integer() != 0; },
            [q = q_.get()](saq_cq_t *cq, uint64_t t) { return saq_queue_paused(q, cq, t); });
    }
    /** Blocking paused_async(). */
    bool paused() { return paused_async().get(); }

    /** One page of saq's Queue.iter_jobs: `statuses` comma-separated ("" = all), `cursor` "0"
     *  to start then the page's cursor until it is "0", `count` SCAN's hint (1..10000). */
    std::future<job_page> iter_jobs_async(const std::string &statuses = "",
                                          const std::string &cursor = "0", int count = 100) {
        return detail::submit<job_page>(
            q_,
            [](event &e) {
                e.check();
                return job_page{detail::dup_all(e), e.json().value_or("[]"),
                                e.key().value_or("0")};
            },
            [q = q_.get(), &statuses, &cursor, count](saq_cq_t *cq, uint64_t t) {
                return saq_queue_iter_jobs(q, statuses.c_str(), cursor.c_str(), count, cq, t);
            });
    }
    /** Blocking iter_jobs_async(). */
    job_page iter_jobs(const std::string &statuses = "", const std::string &cursor = "0",
                       int count = 100) {
        return iter_jobs_async(statuses, cursor, count).get();
    }

    /** Delete a job, its record and every entry (saq_queue_delete): a running job throws
     *  saq::error SAQ_ESTATE unless `force` (then it is aborted first and deleted once it ended,
     *  or after `wait_ms`); a missing one SAQ_ENOTFOUND. */
    std::future<delete_result> delete_job_async(const std::string &key, bool force = false,
                                                int wait_ms = 5000) {
        return detail::submit<delete_result>(
            q_, [](event &e) { e.check(); return static_cast<delete_result>(e.integer()); },
            [q = q_.get(), &key, force, wait_ms](saq_cq_t *cq, uint64_t t) {
                return saq_queue_delete(q, key.c_str(), force, wait_ms, cq, t);
            });
    }
    /** Blocking delete_job_async(). */
    delete_result delete_job(const std::string &key, bool force = false, int wait_ms = 5000) {
        return delete_job_async(key, force, wait_ms).get();
    }

    /** saq's Queue.apply(job, timeout): enqueue a copy of `j` and wait until it ends.
     *  timeout_s (seconds) > 0 bounds the wait and becomes the job's timeout; 0 waits forever.
     *  Throws (from get()) saq::job_error when the job failed or was aborted, saq::error
     *  SAQ_ETIMEDOUT, SAQ_ECLOSED when cancelled. */
    std::future<apply_result> apply_async(const saq::job &j, double timeout_s = 0,
                                          const cancellation &cancel = cancellation()) {
        return detail::submit<apply_result>(
            q_, conv_apply,
            [q = q_.get(), j = j.native(), timeout_s](saq_cq_t *cq, uint64_t t) {
                return saq_queue_apply(q, j, timeout_s, cq, t);
            },
            &cancel);
    }
    /** apply_async of a job for `function` made with saq's keyword split of `kwargs_json`
     *  (throws saq::error at once when kwargs_json is refused). */
    std::future<apply_result> apply_async(const std::string &function,
                                          const std::string &kwargs_json, double timeout_s = 0,
                                          const cancellation &cancel = cancellation()) {
        saq::job j(function);
        j.set_call_kwargs(kwargs_json);
        return apply_async(j, timeout_s, cancel);
    }
    /** Blocking apply_async(job). */
    apply_result apply(const saq::job &j, double timeout_s = 0,
                       const cancellation &cancel = cancellation()) {
        return apply_async(j, timeout_s, cancel).get();
    }
    /** Blocking apply_async(function, kwargs_json). */
    apply_result apply(const std::string &function, const std::string &kwargs_json,
                       double timeout_s = 0, const cancellation &cancel = cancellation()) {
        return apply_async(function, kwargs_json, timeout_s, cancel).get();
    }

    /** saq's Queue.map(function, iter_kwargs, timeout, return_exceptions, **defaults): one job
     *  per element of `iter_kwargs` (each a JSON object, over `defaults_json`), all awaited
     *  under one deadline of timeout_s seconds (0 = none). Without return_exceptions the first
     *  failed job throws saq::job_error; with it, failed entries are null in json. */
    std::future<map_result> map_async(const std::string &function,
                                      const std::vector<std::string> &iter_kwargs,
                                      const std::string &defaults_json = "{}",
                                      double timeout_s = 0, bool return_exceptions = false,
                                      const cancellation &cancel = cancellation()) {
        return detail::submit<map_result>(
            q_,
            [](event &e) {
                e.check();
                return map_result{e.json().value_or("[]"), detail::dup_all(e)};
            },
            [q = q_.get(), &function, items = detail::json_array(iter_kwargs, false),
             &defaults_json, timeout_s, return_exceptions](saq_cq_t *cq, uint64_t t) {
                return saq_queue_map(q, function.c_str(), items.c_str(), defaults_json.c_str(),
                                     timeout_s, return_exceptions ? 1 : 0, cq, t);
            },
            &cancel);
    }
    /** Blocking map_async(). */
    map_result map(const std::string &function, const std::vector<std::string> &iter_kwargs,
                   const std::string &defaults_json = "{}", double timeout_s = 0,
                   bool return_exceptions = false, const cancellation &cancel = cancellation()) {
        return map_async(function, iter_kwargs, defaults_json, timeout_s, return_exceptions,
                         cancel)
            .get();
    }

    /** saq's Queue.listen(job_keys, callback, timeout): on_status(key, status) is called for
     *  every status published for one of `keys`, on the queue's I/O thread (it must not block
     *  or call blocking members); returning true stops the listen. The future is fulfilled
     *  when it stops (on_status returned true, or cancelled); it throws saq::error
     *  SAQ_ETIMEDOUT when no message came for timeout_s seconds (0 = never), or what
     *  on_status threw (which also stops it). */
    std::future<void> listen_async(const std::vector<std::string> &keys,
                                   std::function<bool(const std::string &key,
                                                      const std::string &status)> on_status,
                                   double timeout_s = 0,
                                   const cancellation &cancel = cancellation()) {
        auto o = std::make_shared<detail::listen_op>();
        o->fn = std::move(on_status);
        o->queue = q_;
        std::future<void> f = o->promise.get_future();
        std::string json = detail::json_array(keys, true);
        saq_cq_t *cq = detail::shared_cq();
        o->self = o;
        int rc = cq ? saq_queue_listen(q_.get(), json.c_str(), timeout_s, cq, o->tag())
                    : SAQ_ENOMEM;
        if (rc != SAQ_OK) {
            o->self.reset();
            o->done = true;
            o->promise.set_exception(
                std::make_exception_ptr(saq::error(rc, detail::submit_message(rc))));
        } else {
            cancel.attach(o);
        }
        return f;
    }
    /** Blocking listen_async(). */
    void listen(const std::vector<std::string> &keys,
                std::function<bool(const std::string &key, const std::string &status)> on_status,
                double timeout_s = 0, const cancellation &cancel = cancellation()) {
        listen_async(keys, std::move(on_status), timeout_s, cancel).get();
    }

    /** saq's Queue.schedule(lock): promote due scheduled jobs; their ids as a JSON array. */
    std::future<std::string> schedule_async(int lock_s = 1) {
        return detail::submit<std::string>(q_, conv_json,
                                           [q = q_.get(), lock_s](saq_cq_t *cq, uint64_t t) {
                                               return saq_queue_schedule(q, lock_s, cq, t);
                                           });
    }
    /** Blocking schedule_async(). */
    std::string schedule(int lock_s = 1) { return schedule_async(lock_s).get(); }

    /** saq's Queue.sweep(lock, abort): recover stuck jobs; their ids as a JSON array. */
    std::future<std::string> sweep_async(int lock_s = 60, double abort_s = 5) {
        return detail::submit<std::string>(
            q_, conv_json, [q = q_.get(), lock_s, abort_s](saq_cq_t *cq, uint64_t t) {
                return saq_queue_sweep(q, lock_s, abort_s, cq, t);
            });
    }
    /** Blocking sweep_async(). */
    std::string sweep(int lock_s = 60, double abort_s = 5) {
        return sweep_async(lock_s, abort_s).get();
    }

    /** saq's `async with queue.batch()`: a scope recording every enqueue on this queue until
     *  it is destroyed; batch::abort aborts them. */
    saq::batch batch();

private:
    friend class saq::worker;
    friend class saq::batch;
    static std::optional<saq::job> conv_enqueue(event &e) {
        e.check();
        if (e.integer() == 0)
            return std::nullopt;
        return detail::take(e);
    }
    static bool conv_written(event &e) {
        e.check();
        return e.integer() != 0;
    }
    static std::string conv_json(event &e) {
        e.check();
        return e.json().value_or("null");
    }
    static apply_result conv_apply(event &e) {
        e.check();
        std::string json = e.json().value_or("null");
        return apply_result{std::move(json), detail::take(e)};
    }
    std::shared_ptr<saq_queue_t> q_;
};

/** A batch scope (saq_queue_batch): records every enqueue made on its queue, by any thread,
 *  until it is destroyed (the scope ended well: the jobs are left alone) or aborted. Move-only.
 */
class batch {
public:
    /** Jobs recorded so far. */
    size_t size() const noexcept { return saq_batch_size(b_.get()); }
    /** The scope failed: abort every recorded job with `reason`; the number of jobs whose abort
     *  changed something. */
    std::future<int64_t> abort_async(const std::string &reason = "cancelled") {
        return detail::submit<int64_t>(
            q_, [](event &e) { e.check(); return e.integer(); },
            [b = b_.get(), &reason](saq_cq_t *cq, uint64_t t) {
                return saq_batch_abort(b, reason.c_str(), cq, t);
            });
    }
    /** Blocking abort_async(). */
    int64_t abort(const std::string &reason = "cancelled") { return abort_async(reason).get(); }
    /** The C handle, owned by this object. */
    saq_batch_t *native() const noexcept { return b_.get(); }

private:
    friend class queue;
    batch(saq_batch_t *b, std::shared_ptr<saq_queue_t> q) : q_(std::move(q)), b_(b) {}
    std::shared_ptr<saq_queue_t> q_; // declared first: the batch goes before the queue
    detail::owned<saq_batch_t, saq_batch_free> b_;
};

inline saq::batch queue::batch() {
    saq_batch_t *b = saq_queue_batch(q_.get());
    if (!b)
        throw saq::error(SAQ_ECLOSED, "cannot begin a batch: queue closed, forked or no memory");
    return saq::batch(b, q_);
}

// ---------------------------------------------------------------------------
// Worker
// ---------------------------------------------------------------------------

/** A saq worker (saq_worker_t) on a queue, configured by a config's worker keys. Set it up
 *  (handle, cron, hooks, add_queue) from one thread, then start() or run(). Move-only. The
 *  destructor of a started worker stops it without a grace period, waits for it (running jobs
 *  are cancelled and retried "cancelled", as saq), and returns once no handler or hook of it
 *  runs any more, so the callables may capture what the worker's owner destroys next; it must
 *  not run on one of the worker's own handler or hook threads. */
class worker {
public:
    /** A worker on `q` with saq's defaults. Throws saq::error (SAQ_ECLOSED, ...). */
    explicit worker(queue &q) : worker(q, nullptr) {}
    /** A worker on `q` configured by the worker keys of `conf` (concurrency, burst, timers,
     *  ...). Throws saq::error with saq_conf_errmsg's message. */
    worker(queue &q, const config &conf) : worker(q, conf.native()) {}
    worker(worker &&o) noexcept
        : w_(std::exchange(o.w_, nullptr)), started_(o.started_), st_(std::move(o.st_)),
          queues_(std::move(o.queues_)) {}
    worker &operator=(worker &&o) noexcept {
        std::swap(w_, o.w_);
        std::swap(started_, o.started_);
        std::swap(st_, o.st_);
        std::swap(queues_, o.queues_);
        return *this;
    }
    worker(const worker &) = delete;
    worker &operator=(const worker &) = delete;
    ~worker() {
        if (!w_)
            return;
        if (started_) {
            saq_worker_stop(w_, 0);
            saq_worker_wait(w_, -1);
        }
        saq_worker_free(w_);
        st_->idle();
    }

    /** The worker id (in jobs' worker_id and saq's info()). */
    std::string id() const { return detail::str(saq_worker_id(w_)); }
    /** The effective value of a configuration key, or nullopt for an unknown key. */
    std::optional<std::string> setting(const std::string &key) const {
        return detail::opt(saq_worker_conf_get(w_, key.c_str()));
    }

    /** Run jobs of `function` with `fn`, a callable of saq::job& (the leased job) on one of
     *  the worker's handler threads. Its return value is the job's result: a std::string of
     *  JSON, std::optional<std::string> (nullopt = no result), or void (no result). An
     *  exception fails the job with its what() (retried while retries allow). fn may settle
     *  the job itself (complete/fail), or move it away and settle it later from any thread;
     *  check job.cancelled() in long work. Registering a name again replaces its handler.
     *  Before start only. Throws saq::error (SAQ_EINVAL, SAQ_ESTATE). */
    template <class F>
    worker &handle(const std::string &function, F &&fn) {
        using R = std::invoke_result_t<F &, saq::job &>;
        auto h = std::make_unique<state::handler>();
        h->st = st_.get();
        if constexpr (std::is_void_v<R>) {
            h->fn = [f = std::forward<F>(fn)](saq::job &j) mutable -> std::optional<std::string> {
                f(j);
                return std::nullopt;
            };
        } else {
            static_assert(std::is_convertible_v<R, std::optional<std::string>>,
                          "a handler returns void, std::string (JSON) or "
                          "std::optional<std::string>");
            h->fn = [f = std::forward<F>(fn)](saq::job &j) mutable -> std::optional<std::string> {
                return f(j);
            };
        }
        detail::check(saq_worker_register(w_, function.c_str(), &state::run, h.get()),
                      saq_worker_errmsg(w_));
        st_->handlers.push_back(std::move(h));
        return *this;
    }
    /** Deliver jobs of `function` to the completion_queue given to start() (pull mode): LEASE
     *  events, whose take_job() the host runs and settles. Before start only. */
    worker &handle_pull(const std::string &function) {
        detail::check(saq_worker_register_pull(w_, function.c_str()), saq_worker_errmsg(w_));
        return *this;
    }
    /** Serve `q` too, after the queues added before, with `weight` (>= 1; queue_order
     *  "weighted"). The queue stays alive as long as this worker. Before start only. */
    worker &add_queue(queue &q, int weight = 1) {
        detail::check(saq_worker_add_queue(w_, q.native(), weight), saq_worker_errmsg(w_));
        queues_.push_back(q.q_);
        return *this;
    }
    /** At most max_jobs starts per `period` seconds and max_running at once for the jobs of
     *  `function` ("" = the whole queue), over every libsaq worker of the queue
     *  (saq_worker_set_limit; 0 = none). Throws saq::error (SAQ_EINVAL, SAQ_ESTATE). Before
     *  start only. */
    worker &limit(const std::string &function, int max_jobs, double period, int max_running) {
        detail::check(saq_worker_set_limit(w_, function.c_str(), max_jobs, period, max_running),
                      saq_worker_errmsg(w_));
        return *this;
    }
    /** saq's CronJob: enqueue `function` on the schedule `cron` (5, 6 or 7 fields, or an
     *  alias; UTC unless "cron_tz"), with options_json ({"kwargs", "timeout", "retries", "ttl",
     *  "unique", "cron_tz": "Europe/London"}; "" = none). Throws saq::error (SAQ_ECRON,
     *  SAQ_EJSON, SAQ_EINVAL, SAQ_ESTATE). */
    worker &cron(const std::string &function, const std::string &cron,
                 const std::string &options_json = "") {
        detail::check(saq_worker_add_cron(w_, function.c_str(), cron.c_str(),
                                          options_json.empty() ? nullptr : options_json.c_str()),
                      saq_worker_errmsg(w_));
        return *this;
    }
    /** saq's startup hook: runs on the thread that calls start() (or run()). An exception is
     *  ignored. */
    worker &on_startup(std::function<void()> fn) { return hook(SAQ_HOOK_STARTUP, std::move(fn)); }
    /** saq's shutdown hook: runs once on the thread of the wait() that sees the stop. */
    worker &on_shutdown(std::function<void()> fn) { return hook(SAQ_HOOK_SHUTDOWN, std::move(fn)); }
    /** saq's before_process: runs on the handler thread before each job (the leased job,
     *  borrowed: do not settle it). An exception makes it a job error ("before_process hook
     *  failed"; the handler is not called). */
    worker &before_process(std::function<void(const job_view &)> fn) {
        return hook(SAQ_HOOK_BEFORE_PROCESS, std::move(fn));
    }
    /** saq's after_process: runs on a handler thread after each job with the job as stored at
     *  the end (status complete, failed, aborted or queued for a retry; its error). It may run
     *  after the apply/map that waited on the job has returned: whatever a hook or handler
     *  captures by reference must outlive the worker (declare it before the saq::worker). */
    worker &after_process(std::function<void(const job_view &)> fn) {
        return hook(SAQ_HOOK_AFTER_PROCESS, std::move(fn));
    }

    /** Start processing (startup hooks run here). Every function needs a handler (use the cq
     *  form for handle_pull). Throws saq::error (SAQ_EINVAL, SAQ_ESTATE, SAQ_ECLOSED). */
    void start() { start_on(nullptr, 0); }
    /** Start, delivering LEASE, CANCEL, OUTCOME, GIVEN_BACK and WORKER_STOPPED events with
     *  `tag` to `cq` (which must outlive the worker). */
    void start(completion_queue &cq, uint64_t tag = 0) { start_on(cq.native(), tag); }
    /** Ask the worker to stop: running jobs get grace_ms (-1 = the conf's
     *  shutdown_grace_period) to finish. Returns at once. */
    void stop(int grace_ms = -1) { detail::check(saq_worker_stop(w_, grace_ms), ""); }
    /** Wait up to timeout_ms (-1 = forever) for the worker to stop, then run the shutdown
     *  hooks once. Returns false on timeout. Blocking. Throws saq::error (SAQ_ESTATE: never
     *  started). */
    bool wait(int timeout_ms = -1) {
        int rc = saq_worker_wait(w_, timeout_ms);
        if (rc == SAQ_ETIMEDOUT)
            return false;
        detail::check(rc, saq_worker_errmsg(w_));
        return true;
    }
    /** saq's Worker.start for main(): start, stop on SIGINT/SIGTERM (with the conf's
     *  shutdown_grace_period), wait. Blocking. */
    void run() {
        started_ = true;
        detail::check(saq_worker_run(w_), saq_worker_errmsg(w_));
    }
    /** Counters as JSON (saq_worker_stats_json). */
    std::string stats_json() const { return detail::str(saq_worker_stats_json(w_)); }
    /** This worker's metrics as a Prometheus text exposition. */
    std::string metrics() const { return detail::str(saq_worker_metrics(w_)); }
    /** The C handle, owned by this object. */
    saq_worker_t *native() const noexcept { return w_; }

private:
    struct state {
        struct handler {
            state *st;
            std::function<std::optional<std::string>(saq::job &)> fn;
        };
        struct hook_entry {
            state *st;
            int kind;
            std::function<void()> plain;
            std::function<void(const job_view &)> with_job;
        };
        /* counts handler and hook calls in progress: the destructor waits for none */
        struct scope {
            explicit scope(state *owner) : st(owner) {
                std::lock_guard<std::mutex> g(st->mu);
                st->running++;
            }
            ~scope() {
                std::lock_guard<std::mutex> g(st->mu);
                if (--st->running == 0)
                    st->cv.notify_all();
            }
            state *st;
        };
        void idle() {
            std::unique_lock<std::mutex> g(mu);
            cv.wait(g, [this] { return running == 0; });
        }
        static void run(saq_job_t *raw, void *ud) noexcept {
            auto *h = static_cast<handler *>(ud);
            scope busy(h->st);
            saq::job j = saq::job::adopt(raw);
            std::optional<std::string> result;
            std::string failure;
            bool failed = false;
            try {
                result = h->fn(j);
            } catch (const std::exception &e) {
                failed = true;
                failure = e.what();
            } catch (...) {
                failed = true;
                failure = "unknown C++ exception";
            }
            if (!j.native() || j.settled())
                return; /* moved away, or settled by the handler */
            if (failed)
                saq_job_fail(j.native(), failure.c_str());
            else
                saq_job_complete(j.native(), result ? result->c_str() : nullptr);
        }
        static int run_hook(saq_worker_t *, saq_job_t *j, void *ud) noexcept {
            auto *h = static_cast<hook_entry *>(ud);
            scope busy(h->st);
            try {
                if (h->with_job)
                    h->with_job(job_view(j));
                else if (h->plain)
                    h->plain();
                return 0;
            } catch (...) {
                return 1;
            }
        }
        std::vector<std::unique_ptr<handler>> handlers;
        std::vector<std::unique_ptr<hook_entry>> hooks;
        std::mutex mu;
        std::condition_variable cv;
        int running = 0;
    };

    worker(queue &q, saq_conf_t *conf) : st_(std::make_unique<state>()) {
        detail::check(saq_worker_open(&w_, q.native(), conf), conf ? saq_conf_errmsg(conf) : "");
        queues_.push_back(q.q_);
    }
    template <class Fn>
    worker &hook(int kind, Fn fn) {
        auto h = std::make_unique<state::hook_entry>();
        h->st = st_.get();
        h->kind = kind;
        if constexpr (std::is_same_v<Fn, std::function<void()>>)
            h->plain = std::move(fn);
        else
            h->with_job = std::move(fn);
        detail::check(saq_worker_add_hook(w_, kind, &state::run_hook, h.get()),
                      saq_worker_errmsg(w_));
        st_->hooks.push_back(std::move(h));
        return *this;
    }
    void start_on(saq_cq_t *cq, uint64_t tag) {
        detail::check(saq_worker_start(w_, cq, tag), saq_worker_errmsg(w_));
        started_ = true;
    }

    saq_worker_t *w_ = nullptr;
    bool started_ = false;
    std::unique_ptr<state> st_;
    std::vector<std::shared_ptr<saq_queue_t>> queues_;
};

} // namespace saq

#endif // SAQ_HPP
