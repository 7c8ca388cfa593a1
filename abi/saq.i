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

/* ---- C-only API ---- */
%ignore saq_cq_new_callback;
%ignore saq_event_cb;
%ignore saq_conf_set_transform;
%ignore saq_transform_fn;
%ignore saq_alloc;
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

/* ---- ownership: what the caller must free ---- */
%newobject saq_conf_new;
%newobject saq_queue_new;
%newobject saq_queue_from_url;
%newobject saq_cq_new;
%newobject saq_cq_poll;
%newobject saq_cq_wait;
%newobject saq_event_take_job;
%newobject saq_job_new;
%newobject saq_job_from_json;
%newobject saq_job_dup;
%newobject saq_worker_new;
%newobject saq_queue_batch;

%delobject saq_conf_free;
%delobject saq_queue_free;
%delobject saq_cq_free;
%delobject saq_event_free;
%delobject saq_job_free;
%delobject saq_worker_free;
%delobject saq_batch_free;

%include "saq.h"
