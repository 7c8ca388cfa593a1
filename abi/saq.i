/* SPDX-License-Identifier: MIT */
/* The SWIG interface every binding includes (Go, Ruby, Node). It exposes the
 * binding-facing part of abi/saq.h: handles, completion queues and events,
 * jobs, queue operations, batch and the pull-mode worker. The C-only parts
 * (function pointers, blocking convenience forms, byte transforms) are
 * ignored: SWIG 4.1 cannot turn C callbacks into host callbacks (see
 * shared/design/abi-style.md 3.1), and blocking calls must be wrapped per
 * language (Ruby releases the GVL, Node never blocks).
 *
 * Each binding's own .i file sets %module, then %include "saq.i". Names keep
 * their saq_ prefix at this layer; the hand-written idiomatic layer of each
 * binding is what users see. */

%{
#include "saq.h"
%}

%include <stdint.i>

/* saq_queue_enqueue_many's job array, built by the bindings:
 * new_saq_job_array(n), saq_job_array_setitem(a, i, job), delete_saq_job_array(a). */
%include <carrays.i>
%array_functions(saq_job_t *, saq_job_array);

/* ---- C-only API ---- */
/* a schedule preview with an output array and an error buffer, and the tz data's version:
 * C, C++ and `saq cron` */
%ignore saq_cron_next;
%ignore saq_tzdata_version;
%ignore saq_cq_new_callback;
%ignore saq_event_cb;
%ignore saq_conf_set_transform;
%ignore saq_transform_fn;
%ignore saq_alloc;
%ignore saq_conf_set_log;
%ignore saq_log_fn;
%ignore saq_queue_add_before_enqueue;
%ignore saq_queue_remove_before_enqueue;
%ignore saq_job_hook_fn;
%ignore saq_worker_register;
%ignore saq_handler_fn;
%ignore saq_worker_add_hook;
%ignore saq_hook_fn;
%ignore saq_worker_run;
%ignore saq_queue_enqueue_sync;
%ignore saq_queue_enqueue_call_sync;
%ignore saq_queue_job_sync;
%ignore saq_queue_abort_sync;
%ignore saq_queue_count_sync;
%ignore saq_queue_info_sync;
%ignore saq_queue_stats_sync;
%ignore saq_queue_apply_sync;
%ignore saq_queue_map_sync;
%ignore saq_queue_enqueue_flow_sync;
%ignore saq_queue_flow_sync;

/* ---- constructors that return a code: int saq_*_open(T **out, ...) ----
 * The handle comes back as each language returns a second result:
 *   Go    rc := Saq_queue_open(&q, conf)         (q a Struct_SS_saq_queue)
 *   Ruby  rc, q = Native.saq_queue_open(conf)    (q owned by Ruby's GC, nil on failure)
 *   Node  rc = saq_queue_open(out, conf)         (out an Array; out[0] is the handle or null)
 * (Node takes an array because SWIG 4.1's JavaScript back-end miscounts the arguments
 * after one that takes no input.) saq_job_parse's message buffer is a []byte in Go
 * (the message ends at the first NUL) and a further result elsewhere:
 *   Ruby  rc, job, msg = Native.saq_job_parse(json);   Node  [rc, msg] = saq_job_parse(out, json)
 * Their older forms (saq_queue_new, saq_worker_new, saq_job_from_json: NULL without a code)
 * are not offered, so no binding goes back to guessing the code. */
%define SAQ_OUT_HANDLE(TYPE, GOTYPE)
#if defined(SWIGGO)
%typemap(gotype) TYPE **out "*GOTYPE"
%typemap(imtype) TYPE **out "*uintptr"
%typemap(goin) TYPE **out %{ $result = new(uintptr) %}
%typemap(in) TYPE **out %{ $1 = (TYPE **)$input; %}
%typemap(goargout) TYPE **out %{ if $1 != nil { *$1 = Swigcptr##GOTYPE(*$input) } %}
#elif defined(SWIGJAVASCRIPT)
%typemap(in) TYPE **out (TYPE *handle = NULL) {
  if (!$input->IsArray())
    SWIG_exception_fail(SWIG_TypeError, "in method '$symname', argument $argnum must be an Array (it receives the handle)");
  $1 = &handle;
}
%typemap(argout) TYPE **out {
  SWIGV8_ARRAY_SET(SWIGV8_ARRAY::Cast($input), 0, SWIG_NewPointerObj(handle$argnum, $*1_descriptor, SWIG_POINTER_OWN));
}
#else
%typemap(in, numinputs=0) TYPE **out (TYPE *handle = NULL) "$1 = &handle;"
%typemap(argout) TYPE **out { %append_output(SWIG_NewPointerObj(handle$argnum, $*1_descriptor, SWIG_POINTER_OWN)); }
#endif
%enddef
SAQ_OUT_HANDLE(saq_queue_t, Struct_SS_saq_queue)
SAQ_OUT_HANDLE(saq_worker_t, Struct_SS_saq_worker)
SAQ_OUT_HANDLE(saq_job_t, Struct_SS_saq_job)

#if defined(SWIGGO)
%typemap(gotype) (char *errbuf, size_t errbuf_size) "[]byte"
%typemap(in) (char *errbuf, size_t errbuf_size) %{
  $1 = (char *)$input.array;
  $2 = (size_t)$input.len;
%}
#else
%typemap(in, numinputs=0) (char *errbuf, size_t errbuf_size) (char msg[256]) %{
  msg[0] = 0;
  $1 = msg;
  $2 = sizeof msg;
%}
#if defined(SWIGRUBY)
%typemap(argout) (char *errbuf, size_t errbuf_size) { %append_output(rb_utf8_str_new_cstr(msg$argnum)); }
#else
%typemap(argout) (char *errbuf, size_t errbuf_size) { %append_output(SWIG_FromCharPtr(msg$argnum)); }
#endif
#endif

%ignore saq_queue_new;
%ignore saq_worker_new;
%ignore saq_job_from_json;

/* ---- ownership: what the caller must free ---- */
%newobject saq_conf_new;
%newobject saq_queue_from_url;
%newobject saq_cq_new;
%newobject saq_cq_poll;
%newobject saq_cq_wait;
%newobject saq_event_take_job;
%newobject saq_job_new;
%newobject saq_job_dup;
%newobject saq_queue_batch;
%newobject saq_flow_new;

%delobject saq_conf_free;
%delobject saq_queue_free;
%delobject saq_cq_free;
%delobject saq_event_free;
%delobject saq_job_free;
%delobject saq_worker_free;
%delobject saq_batch_free;
%delobject saq_flow_free;

%include "saq.h"
