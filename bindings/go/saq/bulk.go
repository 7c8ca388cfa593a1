// SPDX-License-Identifier: MIT

package saq

import (
	"context"
	"fmt"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// BulkJob is one job of EnqueueMany: what Enqueue takes, as a value.
type BulkJob struct {
	Function string
	Kwargs   map[string]any
	Options  []JobOption
}

// EnqueueMany enqueues jobs in one operation (BullMQ's addBulk, Sidekiq's
// push_bulk): each exactly as Enqueue would, their scripts pipelined on the
// queue's connection, many per round trip. The result has one entry per job,
// in order: the job as sent, or nil when a job with its key was already
// enqueued (Enqueue's ErrAlreadyEnqueued). A job that cannot be sent (a bad
// option, a record over the payload limit, another queue's) refuses the whole
// call before anything is written, with an error naming its index. A Redis
// error while the replies come in is returned as it is; its message counts
// what was enqueued, and jobs whose reply did not come may or may not have
// been written (read them back with Job). An empty slice returns at once.
func (q *Queue) EnqueueMany(ctx context.Context, jobs []BulkJob) ([]*Job, error) {
	cjobs := make([]saqraw.Struct_SS_saq_job, 0, len(jobs))
	defer func() {
		for _, c := range cjobs {
			saqraw.Saq_job_free(c)
		}
	}()
	for i, b := range jobs {
		spec, err := buildSpec(b.Options)
		if err != nil {
			return nil, fmt.Errorf("saq: jobs[%d]: %w", i, err)
		}
		c, err := newCJob(b.Function, b.Kwargs, spec)
		if err != nil {
			return nil, fmt.Errorf("saq: jobs[%d]: %w", i, err)
		}
		cjobs = append(cjobs, c)
		if err := setTraceparent(c, spec.traceparentFor(ctx)); err != nil {
			return nil, fmt.Errorf("saq: jobs[%d]: %w", i, err)
		}
	}
	n := len(cjobs)
	var arr saqraw.Struct_SS_saq_job
	if n > 0 {
		arr = saqraw.New_saq_job_array(n)
		defer saqraw.Delete_saq_job_array(arr)
		for i, c := range cjobs {
			saqraw.Saq_job_array_setitem(arr, i, c)
		}
	}
	out := make([]*Job, n)
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		var p uintptr
		if arr != nil {
			p = arr.Swigcptr()
		}
		return saqraw.Saq_queue_enqueue_many(raw, p, int64(n), cq, tag)
	}, func(ev rawEvent) error {
		doc, err := decodeJSON([]byte(saqraw.Saq_event_json(ev)))
		outcomes, ok := doc.([]any)
		if err != nil || !ok || len(outcomes) != n {
			return errorf(saqraw.SAQ_EPROTO, "enqueue_many outcomes: not an array of %d", n)
		}
		for i, o := range outcomes {
			if v, _ := o.(float64); v == 1 {
				out[i] = jobFromC(mapJobAt(ev, i))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
