// SPDX-License-Identifier: MIT
//! libsaq from Rust through `extern "C"`: no crates (crates.io is not needed), no bindgen.
//!
//!     PKG_CONFIG_PATH=<prefix>/lib/pkgconfig REDIS_URL=redis://localhost:6379/0 cargo run
//!
//! The declarations below are the part of saq.h (or saq_ffi.h, its plain-declarations copy) this
//! program uses, written by hand: every handle is an opaque pointer, every string a C string,
//! and each function's units, ownership and errors are documented in saq.h. A worker runs a C
//! handler (`handle`, an `extern "C" fn`) on its handler threads; the main thread enqueues a job
//! and waits until the worker has completed it, applies a job that succeeds and one that fails,
//! and maps two, with the blocking `*_sync` forms. It exits 0 only when every outcome is the
//! expected one.
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_double, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::{Duration, Instant};

// ---- the C API (saq.h) ----------------------------------------------------------------------

/// Opaque handles (saq_conf_t, saq_queue_t, ...): only ever used behind raw pointers.
macro_rules! opaque {
    ($($name:ident),*) => {
        $(
            #[repr(C)]
            pub struct $name {
                _private: [u8; 0],
            }
        )*
    };
}
opaque!(SaqConf, SaqQueue, SaqWorker, SaqJob, SaqEvent, SaqCq);

/// saq_handler_fn: runs on a worker handler thread with a leased job it owns.
type SaqHandlerFn = extern "C" fn(job: *mut SaqJob, userdata: *mut c_void);

/// The constants used here (saq.h's #defines; saq_ffi.h's enums).
const SAQ_OK: c_int = 0;
const SAQ_EJOB: c_int = -13;

extern "C" {
    fn saq_version_str() -> *const c_char;
    fn saq_err_name(err: c_int) -> *const c_char;

    fn saq_conf_new() -> *mut SaqConf;
    fn saq_conf_set(conf: *mut SaqConf, key: *const c_char, value: *const c_char) -> c_int;
    fn saq_conf_errmsg(conf: *const SaqConf) -> *const c_char;
    fn saq_conf_free(conf: *mut SaqConf);

    fn saq_queue_open(out: *mut *mut SaqQueue, conf: *mut SaqConf) -> c_int;
    fn saq_queue_close(q: *mut SaqQueue, timeout_ms: c_int) -> c_int;
    fn saq_queue_free(q: *mut SaqQueue);
    fn saq_queue_enqueue_call_sync(
        q: *mut SaqQueue,
        function: *const c_char,
        kwargs_json: *const c_char,
        timeout_ms: c_int,
    ) -> *mut SaqEvent;
    fn saq_queue_job_sync(q: *mut SaqQueue, key: *const c_char, timeout_ms: c_int)
        -> *mut SaqEvent;
    fn saq_queue_apply_sync(
        q: *mut SaqQueue,
        job: *const SaqJob,
        timeout_s: c_double,
        timeout_ms: c_int,
    ) -> *mut SaqEvent;
    fn saq_queue_map_sync(
        q: *mut SaqQueue,
        function: *const c_char,
        iter_kwargs_json: *const c_char,
        defaults_json: *const c_char,
        timeout_s: c_double,
        return_exceptions: c_int,
        timeout_ms: c_int,
    ) -> *mut SaqEvent;

    fn saq_event_status(ev: *const SaqEvent) -> c_int;
    fn saq_event_errmsg(ev: *const SaqEvent) -> *const c_char;
    fn saq_event_json(ev: *const SaqEvent) -> *const c_char;
    fn saq_event_job(ev: *const SaqEvent) -> *mut SaqJob;
    fn saq_event_free(ev: *mut SaqEvent);

    fn saq_job_new(function: *const c_char) -> *mut SaqJob;
    fn saq_job_set_call_kwargs(job: *mut SaqJob, kwargs_json: *const c_char) -> c_int;
    fn saq_job_errmsg(job: *const SaqJob) -> *const c_char;
    fn saq_job_function(job: *const SaqJob) -> *const c_char;
    fn saq_job_key(job: *const SaqJob) -> *const c_char;
    fn saq_job_kwargs(job: *const SaqJob) -> *const c_char;
    fn saq_job_status(job: *const SaqJob) -> *const c_char;
    fn saq_job_result(job: *const SaqJob) -> *const c_char;
    fn saq_job_error(job: *const SaqJob) -> *const c_char;
    fn saq_job_complete(job: *mut SaqJob, result_json: *const c_char) -> c_int;
    fn saq_job_fail(job: *mut SaqJob, error_text: *const c_char) -> c_int;
    fn saq_job_free(job: *mut SaqJob);
    fn saq_status_terminal(status: *const c_char) -> c_int;

    fn saq_worker_open(out: *mut *mut SaqWorker, q: *mut SaqQueue, conf: *mut SaqConf) -> c_int;
    fn saq_worker_errmsg(w: *const SaqWorker) -> *const c_char;
    fn saq_worker_register(
        w: *mut SaqWorker,
        function: *const c_char,
        handler: SaqHandlerFn,
        userdata: *mut c_void,
    ) -> c_int;
    fn saq_worker_start(w: *mut SaqWorker, cq: *mut SaqCq, tag: u64) -> c_int;
    fn saq_worker_stop(w: *mut SaqWorker, grace_ms: c_int) -> c_int;
    fn saq_worker_wait(w: *mut SaqWorker, timeout_ms: c_int) -> c_int;
    fn saq_worker_free(w: *mut SaqWorker);
}

// ---- small safe helpers -------------------------------------------------------------------

/// A borrowed C string as an owned String (None for NULL).
fn text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

fn cstring(s: &str) -> CString {
    CString::new(s).expect("no NUL inside")
}

fn err_name(rc: c_int) -> String {
    text(unsafe { saq_err_name(rc) }).unwrap_or_default()
}

/// An owned event (saq_event_free on drop).
struct Event(*mut SaqEvent);

impl Event {
    /// The event of a *_sync call; NULL only when out of memory or file descriptors.
    fn from_sync(p: *mut SaqEvent) -> Event {
        assert!(
            !p.is_null(),
            "libsaq returned no event (out of memory or fds)"
        );
        Event(p)
    }
    fn status(&self) -> c_int {
        unsafe { saq_event_status(self.0) }
    }
    fn json(&self) -> Option<String> {
        text(unsafe { saq_event_json(self.0) })
    }
    /// Ok(self) when the operation succeeded, else "SAQ_E...: message".
    fn ok(self) -> Result<Event, String> {
        match self.status() {
            SAQ_OK => Ok(self),
            rc => Err(format!(
                "{}: {}",
                err_name(rc),
                text(unsafe { saq_event_errmsg(self.0) }).unwrap_or_default()
            )),
        }
    }
    /// A getter of the event's job (borrowed from the event), None without a job.
    fn job_text(
        &self,
        get: unsafe extern "C" fn(*const SaqJob) -> *const c_char,
    ) -> Option<String> {
        let job = unsafe { saq_event_job(self.0) };
        if job.is_null() {
            None
        } else {
            text(unsafe { get(job) })
        }
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        unsafe { saq_event_free(self.0) }
    }
}

/// The integer value of a top-level field of a JSON object such as {"a": 1, "b": 2} (enough for
/// this example's kwargs; a real program would use a JSON parser).
fn int_field(json: &str, name: &str) -> Option<i64> {
    let quoted = format!("\"{}\"", name);
    let rest = &json[json.find(&quoted)? + quoted.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

// ---- the worker's handler -----------------------------------------------------------------

/// Runs on a worker handler thread; owns `job`: settles it once, then frees it. A panic must not
/// unwind into C, so it is caught and the job failed with its message.
extern "C" fn handle(job: *mut SaqJob, _userdata: *mut c_void) {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<String, String> {
        let function = text(unsafe { saq_job_function(job) }).unwrap_or_default();
        let kwargs = text(unsafe { saq_job_kwargs(job) }).unwrap_or_else(|| "{}".to_string());
        match function.as_str() {
            "add" => {
                let a = int_field(&kwargs, "a").ok_or("add: a is missing")?;
                let b = int_field(&kwargs, "b").ok_or("add: b is missing")?;
                Ok((a + b).to_string()) // the result as JSON
            }
            _ => Err(format!("{} failed on purpose with {}", function, kwargs)),
        }
    }));
    let rc = unsafe {
        match outcome {
            Ok(Ok(result)) => saq_job_complete(job, cstring(&result).as_ptr()),
            Ok(Err(message)) => saq_job_fail(job, cstring(&message).as_ptr()),
            Err(_) => saq_job_fail(job, cstring("the handler panicked").as_ptr()),
        }
    };
    if rc != SAQ_OK {
        eprintln!("settling the job: {}", err_name(rc));
    }
    unsafe { saq_job_free(job) }
}

// ---- the example --------------------------------------------------------------------------

fn open_queue(url: &str, name: &str) -> Result<*mut SaqQueue, String> {
    unsafe {
        let conf = saq_conf_new();
        let mut rc = saq_conf_set(conf, cstring("url").as_ptr(), cstring(url).as_ptr());
        if rc == SAQ_OK {
            rc = saq_conf_set(conf, cstring("name").as_ptr(), cstring(name).as_ptr());
        }
        let mut q: *mut SaqQueue = ptr::null_mut();
        if rc == SAQ_OK {
            rc = saq_queue_open(&mut q, conf);
        }
        let message = text(saq_conf_errmsg(conf)).unwrap_or_default();
        saq_conf_free(conf);
        if rc == SAQ_OK {
            Ok(q)
        } else {
            Err(format!("queue: {}: {}", err_name(rc), message))
        }
    }
}

fn start_worker(q: *mut SaqQueue) -> Result<*mut SaqWorker, String> {
    unsafe {
        let mut w: *mut SaqWorker = ptr::null_mut();
        let rc = saq_worker_open(&mut w, q, ptr::null_mut());
        if rc != SAQ_OK {
            return Err(format!("worker: {}", err_name(rc)));
        }
        for name in ["add", "boom"] {
            let rc = saq_worker_register(w, cstring(name).as_ptr(), handle, ptr::null_mut());
            if rc != SAQ_OK {
                return Err(format!(
                    "register: {}",
                    text(saq_worker_errmsg(w)).unwrap_or_default()
                ));
            }
        }
        // no cq: every function has a C handler
        let rc = saq_worker_start(w, ptr::null_mut(), 0);
        if rc != SAQ_OK {
            return Err(format!(
                "start: {}",
                text(saq_worker_errmsg(w)).unwrap_or_default()
            ));
        }
        Ok(w)
    }
}

/// saq's queue.apply(function, timeout, **kwargs) through saq_queue_apply_sync.
fn apply(q: *mut SaqQueue, function: &str, kwargs_json: &str) -> Event {
    unsafe {
        let job = saq_job_new(cstring(function).as_ptr());
        assert!(!job.is_null());
        let rc = saq_job_set_call_kwargs(job, cstring(kwargs_json).as_ptr());
        assert!(
            rc == SAQ_OK,
            "{}",
            text(saq_job_errmsg(job)).unwrap_or_default()
        );
        let ev = Event::from_sync(saq_queue_apply_sync(q, job, 10.0, 15000));
        saq_job_free(job); // the queue enqueued a copy
        ev
    }
}

fn run(q: *mut SaqQueue, expect: &mut dyn FnMut(&str, bool, String)) -> Result<(), String> {
    // enqueue, and wait until the worker has completed it
    let ev = Event::from_sync(unsafe {
        saq_queue_enqueue_call_sync(
            q,
            cstring("add").as_ptr(),
            cstring(r#"{"a": 1, "b": 2}"#).as_ptr(),
            5000,
        )
    })
    .ok()?;
    let key = ev
        .job_text(saq_job_key)
        .ok_or("enqueue: no job in the event")?;
    drop(ev);
    let deadline = Instant::now() + Duration::from_secs(15);
    let record = loop {
        let ev = Event::from_sync(unsafe { saq_queue_job_sync(q, cstring(&key).as_ptr(), 5000) })
            .ok()?;
        let status = ev.job_text(saq_job_status).unwrap_or_default();
        if unsafe { saq_status_terminal(cstring(&status).as_ptr()) } != 0
            || Instant::now() > deadline
        {
            break (status, ev.job_text(saq_job_result));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    expect(
        "enqueued add(1, 2), worked by the worker",
        record.0 == "complete" && record.1.as_deref() == Some("3"),
        format!("{}: {} -> {:?}", key, record.0, record.1),
    );

    let ev = apply(q, "add", r#"{"a": 20, "b": 22}"#).ok()?;
    let result = ev.json().unwrap_or_default();
    expect("apply add(20, 22)", result == "42", result);

    let ev = apply(q, "boom", r#"{"retries": 1}"#);
    let error = ev.job_text(saq_job_error).unwrap_or_default();
    expect(
        "apply boom() ends SAQ_EJOB, job failed",
        ev.status() == SAQ_EJOB
            && ev.job_text(saq_job_status).as_deref() == Some("failed")
            && error.contains("boom failed on purpose"),
        format!("{}: {}", err_name(ev.status()), error),
    );

    let ev = Event::from_sync(unsafe {
        saq_queue_map_sync(
            q,
            cstring("add").as_ptr(),
            cstring(r#"[{"a": 1, "b": 1}, {"a": 2, "b": 2}]"#).as_ptr(),
            ptr::null(),
            10.0,
            0,
            15000,
        )
    })
    .ok()?;
    let results: String = ev
        .json()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    expect("map add over 2 items", results == "[2,4]", results);
    Ok(())
}

fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://localhost:6379/0".to_string());
    let name = format!("ffi-rust-{}", std::process::id());
    let q = open_queue(&url, &name).unwrap_or_else(|e| {
        eprintln!("{}", e);
        std::process::exit(1)
    });
    let w = start_worker(q).unwrap_or_else(|e| {
        eprintln!("{}", e);
        std::process::exit(1)
    });

    let mut failures: Vec<String> = Vec::new();
    let mut expect = |what: &str, ok: bool, got: String| {
        println!(
            "{:<40} {} ({})",
            what,
            if ok { "ok" } else { "UNEXPECTED" },
            got
        );
        if !ok {
            failures.push(what.to_string());
        }
    };
    if let Err(e) = run(q, &mut expect) {
        failures.push(e);
    }

    unsafe {
        saq_worker_stop(w, 5000);
        let rc = saq_worker_wait(w, 15000);
        if rc != SAQ_OK {
            failures.push(format!("worker wait: {}", err_name(rc)));
        }
        saq_worker_free(w); // workers first, then their queue
        saq_queue_close(q, 5000);
        saq_queue_free(q);
    }
    let version = text(unsafe { saq_version_str() }).unwrap_or_default();
    if failures.is_empty() {
        println!(
            "libsaq {} from Rust (extern \"C\"): all as expected",
            version
        );
    } else {
        println!(
            "libsaq {} from Rust (extern \"C\"): FAILED: {}",
            version,
            failures.join(", ")
        );
        std::process::exit(1);
    }
}
