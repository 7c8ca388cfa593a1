/* SPDX-License-Identifier: MIT */
/* Ruby extension of libsaq: Saq::Native, the raw layer under lib/saq/*.rb.
 *
 * It %includes the shared interface (abi/saq.i, found through -I<repo>/abi)
 * and adds what only Ruby needs:
 *   - every handle type is a Ruby class whose GC free function is libsaq's
 *     non-blocking *_free (%freefunc), so an object that owns a handle frees
 *     it when it is collected and never blocks the GC;
 *   - explicit releases (saq_rb_*_release) clear the Ruby object's pointer,
 *     so a released handle raises instead of being used after free;
 *   - blocking waits (cq poll/wait, queue close, worker wait) run without
 *     the GVL; the cq waits use saq_cq_wakeup as their unblocking function,
 *     so Thread#raise, Thread#kill, Timeout and signal traps interrupt them.
 * Ruby code is never called from a libsaq thread: libsaq's C callbacks and
 * hooks are %ignored by saq.i; the worker is used in pull mode.
 *
 * Not user API: the idiomatic layer in lib/ is. */
%module "saq::native"
/* The generated wrapper is committed (packages install without SWIG); it
 * carries the project's license line: */
%begin %{
/* SPDX-License-Identifier: MIT */
%}

%{
#include <ruby.h>
#include <ruby/thread.h>
%}

/* ---- handle classes and GC ---- */
%define SAQ_RB_HANDLE(TAG, CLASS, FREEFN)
%nodefaultctor TAG;
%nodefaultdtor TAG;
%rename(CLASS) TAG;
%freefunc TAG "FREEFN";
struct TAG {};
%enddef

SAQ_RB_HANDLE(saq_conf, ConfHandle, saq_conf_free)
SAQ_RB_HANDLE(saq_queue, QueueHandle, saq_queue_free)
SAQ_RB_HANDLE(saq_job, JobHandle, saq_job_free)
SAQ_RB_HANDLE(saq_cq, CqHandle, saq_cq_free)
SAQ_RB_HANDLE(saq_event, EventHandle, saq_event_free)
SAQ_RB_HANDLE(saq_worker, WorkerHandle, saq_worker_free)
SAQ_RB_HANDLE(saq_batch, BatchHandle, saq_batch_free)
SAQ_RB_HANDLE(saq_flow, FlowHandle, saq_flow_free)

/* The raw *_free functions would leave a dangling pointer in the Ruby object
 * (SWIG's %delobject only drops ownership); the saq_rb_*_release forms below
 * take the pointer away from the object (SWIG_POINTER_RELEASE) before
 * freeing. Releasing a borrowed handle raises instead of freeing it. */
%ignore saq_conf_free;
%ignore saq_queue_free;
%ignore saq_job_free;
%ignore saq_cq_free;
%ignore saq_event_free;
%ignore saq_worker_free;
%ignore saq_batch_free;
%ignore saq_flow_free;

/* Blocking calls are replaced by the GVL-releasing forms below. */
%ignore saq_cq_poll;
%ignore saq_cq_wait;
%ignore saq_queue_close;
%ignore saq_worker_wait;

%typemap(in, noblock=1) SWIGTYPE *RELEASED (void *argp = 0, int res = 0) {
  res = SWIG_ConvertPtr($input, &argp, $descriptor, SWIG_POINTER_RELEASE);
  if (!SWIG_IsOK(res)) {
    %argument_fail(res, "$type", $symname, $argnum);
  }
  $1 = ($ltype)argp;
}

/* A Ruby String may hold NUL bytes; libsaq reads C strings, so "k\0x" would
 * silently name the job "k" (another job). Such strings are refused: SWIG's
 * own `const char *` conversion, plus that check (same locals, so SWIG's
 * freearg typemap still matches). */
%typemap(in, noblock=1, fragment="SWIG_AsCharPtrAndSize") const char * (int res, char *buf = 0, size_t size = 0, int alloc = 0) {
  res = SWIG_AsCharPtrAndSize($input, &buf, &size, &alloc);
  if (!SWIG_IsOK(res)) {
    %argument_fail(res, "$type", $symname, $argnum);
  }
  if (buf && size > 0 && strlen(buf) + 1 != size) {
    if (alloc == SWIG_NEWOBJ) free(buf);
    rb_raise(rb_eArgError, "string contains null byte (argument %d of %s)", $argnum, "$symname");
  }
  $1 = ($1_ltype)buf;
}

/* libsaq's strings are UTF-8 (JSON texts, keys, names, error texts: it
 * writes U+FFFD for bytes that are not); SWIG's default makes ASCII-8BIT
 * Strings, so a job's error text with "é" in it was binary in Ruby and
 * raised Encoding::CompatibilityError against UTF-8 strings and regexps. */
%typemap(out) const char * {
  $result = $1 ? rb_utf8_str_new_cstr($1) : Qnil;
}

%include "saq.i"

%{
/* ---- waits without the GVL ---- */
struct saq_rb_wait_args {
    saq_cq_t *cq;
    uint64_t tag;
    int by_tag;
    int timeout_ms;
    saq_event_t *ev;
};

static void *saq_rb_wait_nogvl(void *p)
{
    struct saq_rb_wait_args *a = (struct saq_rb_wait_args *)p;
    a->ev = a->by_tag ? saq_cq_wait(a->cq, a->tag, a->timeout_ms) : saq_cq_poll(a->cq, a->timeout_ms);
    return NULL;
}

/* Unblocking function: Ruby calls it (from another thread) to interrupt the
 * wait; the blocked poll then returns NULL. */
static void saq_rb_wait_ubf(void *p)
{
    saq_cq_wakeup(((struct saq_rb_wait_args *)p)->cq);
}

static saq_event_t *saq_rb_wait(saq_cq_t *cq, int by_tag, uint64_t tag, int timeout_ms)
{
    struct saq_rb_wait_args a;
    if (!cq)
        return NULL;
    a.cq = cq;
    a.tag = tag;
    a.by_tag = by_tag;
    a.timeout_ms = timeout_ms;
    a.ev = NULL;
    if (timeout_ms == 0) /* never blocks: keep the GVL (releasing it costs more than the call) */
        return saq_rb_wait_nogvl(&a), a.ev;
    /* The "2" form does not raise pending interrupts on return, so an event
     * taken from the cq is always handed back to Ruby (and owned by a Ruby
     * object) before any exception can be raised. If an interrupt is already
     * pending it returns at once without waiting (NULL). */
    rb_thread_call_without_gvl2(saq_rb_wait_nogvl, &a, saq_rb_wait_ubf, &a);
    return a.ev;
}

struct saq_rb_close_args { saq_queue_t *q; int timeout_ms; int rc; };
static void *saq_rb_close_nogvl(void *p)
{
    struct saq_rb_close_args *a = (struct saq_rb_close_args *)p;
    a->rc = saq_queue_close(a->q, a->timeout_ms);
    return NULL;
}

struct saq_rb_wwait_args { saq_worker_t *w; int timeout_ms; int rc; };
static void *saq_rb_wwait_nogvl(void *p)
{
    struct saq_rb_wwait_args *a = (struct saq_rb_wwait_args *)p;
    a->rc = saq_worker_wait(a->w, a->timeout_ms);
    return NULL;
}
%}

%newobject saq_rb_cq_poll;
%newobject saq_rb_cq_wait;

%inline %{
/** saq_cq_poll without the GVL; NULL on timeout or when interrupted. */
saq_event_t *saq_rb_cq_poll(saq_cq_t *cq, int timeout_ms)
{
    return saq_rb_wait(cq, 0, 0, timeout_ms);
}

/** saq_cq_wait without the GVL; NULL on timeout or when interrupted. */
saq_event_t *saq_rb_cq_wait(saq_cq_t *cq, uint64_t tag, int timeout_ms)
{
    return saq_rb_wait(cq, 1, tag, timeout_ms);
}

/** saq_queue_close without the GVL. The drain is bounded by timeout_ms and
 *  cannot be interrupted (libsaq has no wakeup for it): pass a finite
 *  timeout. */
int saq_rb_queue_close(saq_queue_t *q, int timeout_ms)
{
    struct saq_rb_close_args a;
    a.q = q;
    a.timeout_ms = timeout_ms;
    a.rc = SAQ_EINVAL;
    if (!q)
        return SAQ_EINVAL;
    rb_thread_call_without_gvl(saq_rb_close_nogvl, &a, NULL, NULL);
    return a.rc;
}

/** saq_worker_wait without the GVL (bounded: no unblocking function). */
int saq_rb_worker_wait(saq_worker_t *w, int timeout_ms)
{
    struct saq_rb_wwait_args a;
    a.w = w;
    a.timeout_ms = timeout_ms;
    a.rc = SAQ_EINVAL;
    if (!w)
        return SAQ_EINVAL;
    if (timeout_ms == 0)
        return saq_worker_wait(w, 0);
    rb_thread_call_without_gvl(saq_rb_wwait_nogvl, &a, NULL, NULL);
    return a.rc;
}

/** SAQ_VERSION_NUMBER of the saq.h this extension was compiled with. */
unsigned saq_rb_built_version(void) { return SAQ_VERSION_NUMBER; }

/* Explicit releases: the Ruby object loses its pointer first. */
void saq_rb_conf_release(saq_conf_t *RELEASED) { saq_conf_free(RELEASED); }
void saq_rb_queue_release(saq_queue_t *RELEASED) { saq_queue_free(RELEASED); }
void saq_rb_job_release(saq_job_t *RELEASED) { saq_job_free(RELEASED); }
void saq_rb_cq_release(saq_cq_t *RELEASED) { saq_cq_free(RELEASED); }
void saq_rb_event_release(saq_event_t *RELEASED) { saq_event_free(RELEASED); }
void saq_rb_worker_release(saq_worker_t *RELEASED) { saq_worker_free(RELEASED); }
void saq_rb_batch_release(saq_batch_t *RELEASED) { saq_batch_free(RELEASED); }
void saq_rb_flow_release(saq_flow_t *RELEASED) { saq_flow_free(RELEASED); }
%}
