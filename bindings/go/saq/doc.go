// SPDX-License-Identifier: MIT
// Package saq is the Go binding of libsaq, a C implementation of the Python
// "saq" Redis job queue, wire-compatible with Python saq 0.26: Go and Python
// processes can enqueue, run and inspect each other's jobs.
//
// A Queue wraps one Redis queue. Its methods mirror saq's Queue (Enqueue,
// Job, Abort, Count, Info, Stats, Listen, Apply, Map, Batch, ...), take a
// context.Context and are safe for concurrent use:
//
//	q, err := saq.Connect(ctx, "redis://localhost:6379/0", saq.WithName("default"))
//	if err != nil { ... }
//	defer q.Close()
//	job, err := q.Enqueue(ctx, "add", map[string]any{"a": 1, "b": 2}, saq.WithTimeout(30*time.Second))
//
// A Worker runs jobs with Go handlers:
//
//	w, _ := saq.NewWorker(q, saq.WithConcurrency(10))
//	w.Register("add", func(ctx context.Context, job *saq.Job) (any, error) {
//		var args struct{ A, B int }
//		if err := job.DecodeKwargs(&args); err != nil {
//			return nil, err
//		}
//		return args.A + args.B, nil
//	})
//	err = w.Run(ctx) // until ctx is cancelled
//
// One worker can serve several queues, in strict or weighted order:
//
//	w, _ := saq.NewWorker(urgent, fns, saq.WithQueues(normal, bulk))
//
// The URL selects the deployment: one server (redis://, rediss://, unix://),
// Redis Sentinel (redis+sentinel://h1:26379,h2:26379/mymaster) or Redis
// Cluster (redis+cluster://h1:p1,h2:p2, with hash-tagged queue names such as
// "{orders}").
//
// Keyword arguments, results and metadata travel as JSON through
// encoding/json: decoded values use float64 for numbers, and Job keeps the
// exact JSON text too (KwargsJSON, ResultJSON, MetaJSON). NaN and Infinity,
// which Python's json writes as bare tokens, decode as math.NaN() and
// math.Inf; a handler may return them, or a json.RawMessage kept as it is.
// ApplyAs, ApplyInto, MapAs and MapResults decode results into your own
// types instead:
//
//	sum, err := saq.ApplyAs[int](ctx, q, "add", map[string]any{"a": 1, "b": 2})
//	results, err := saq.MapResults[int](ctx, q, "add", items) // each: Value, Err, Job
//
// Operating it: WithLogger sends libsaq's log records (worker start and
// stop, Redis unreachable, connections lost and recovered, failed handlers,
// ...) to a *slog.Logger; Queue.Overview, Queue.Metrics, Worker.Metrics and
// MetricsHandler give queue-wide figures and Prometheus metrics;
// Queue.IterJobs lists jobs of any status (ScanJobs one page at a time) and
// Queue.Delete deletes one; ContextWithTraceparent carries a
// W3C traceparent from Enqueue to the handler's context.
//
// Errors reported by libsaq are *Error values carrying libsaq's stable code;
// compare them with errors.Is against ErrTimeout, ErrNotFound, ErrClosed and
// the other sentinels. Apply and Map report failed jobs as *JobError, and
// the typed forms a result that does not decode as *DecodeError.
//
// Under the hood each Queue owns a libsaq completion queue and one poller
// goroutine that blocks in saq_cq_poll and routes each completion to the
// goroutine waiting for it; a Worker has its own completion queue on which
// libsaq delivers leased jobs. No Go pointer is ever passed to C.
package saq
