// SPDX-License-Identifier: MIT
package saq

import (
	"context"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// Test-only doors to libsaq's raw JSON, for records Go's encoding/json
// cannot write (NaN and Infinity as Python writes them).

// EnqueueRawKwargs enqueues a job whose kwargs are the JSON text kwargs.
func EnqueueRawKwargs(ctx context.Context, q *Queue, function, kwargs string, opts ...JobOption) (*Job, error) {
	spec, err := buildSpec(opts)
	if err != nil {
		return nil, err
	}
	c, err := newCJob(function, nil, spec)
	if err != nil {
		return nil, err
	}
	defer saqraw.Saq_job_free(c)
	if rc := saqraw.Saq_job_set_kwargs(c, kwargs); rc != saqraw.SAQ_OK {
		return nil, newError(rc, saqraw.Saq_job_errmsg(c))
	}
	var job *Job
	err = q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_enqueue(raw, c, cq, tag)
	}, func(ev rawEvent) error {
		job = jobFromC(saqraw.Saq_event_job(ev))
		return nil
	})
	return job, err
}

// FinishRaw is Queue.Finish with the result given as JSON text.
func FinishRaw(ctx context.Context, q *Queue, key string, status Status, result string) (bool, error) {
	var n int64
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_finish(raw, key, string(status), result, "", cq, tag)
	}, func(ev rawEvent) error {
		n = saqraw.Saq_event_int(ev)
		return nil
	})
	return n == 1, err
}
