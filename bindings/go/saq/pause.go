// SPDX-License-Identifier: MIT

package saq

import (
	"context"
	"strconv"
	"time"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// Pause pauses the queue (saq_queue_pause; a libsaq extension): every
// libsaq worker of the queue, in any process, stops taking its jobs within
// about half a second (Timers.Pause), lets the jobs it runs finish, and
// waits; a worker started on a paused queue waits too. Enqueueing,
// scheduling, cron, sweeps and aborts go on. Python saq workers on the same
// queue do not know the flag and keep taking jobs. It reports whether this
// call paused the queue (false: it was paused already).
func (q *Queue) Pause(ctx context.Context) (bool, error) {
	return q.pauseOp(ctx, saqraw.Saq_queue_pause)
}

// Resume resumes a paused queue (saq_queue_resume): paused libsaq workers
// take jobs again at once (within a tenth of a second). It reports whether
// this call resumed the queue (false: it was not paused).
func (q *Queue) Resume(ctx context.Context) (bool, error) {
	return q.pauseOp(ctx, saqraw.Saq_queue_resume)
}

// Paused tells whether the queue is paused (saq_queue_paused).
func (q *Queue) Paused(ctx context.Context) (bool, error) {
	return q.pauseOp(ctx, saqraw.Saq_queue_paused)
}

func (q *Queue) pauseOp(ctx context.Context, fn func(rawQueue, rawCQ, uint64) int) (bool, error) {
	var v bool
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return fn(raw, cq, tag)
	}, func(ev rawEvent) error {
		v = saqraw.Saq_event_int(ev) != 0
		return nil
	})
	return v, err
}

// JobDefaults are a queue's defaults for the jobs enqueued through it
// (WithJobDefaults; saq #302). A nil field sets no default.
type JobDefaults struct {
	Timeout    *time.Duration // 0: no limit
	Retries    *int
	TTL        *time.Duration // whole seconds; 0 keeps the record forever, negative deletes it at once
	RetryDelay *time.Duration
	// RetryBackoff: a cap (> 0), 0 for no backoff; RetryBackoffUncapped
	// for a backoff without a cap.
	RetryBackoff *time.Duration
}

// RetryBackoffUncapped as JobDefaults.RetryBackoff: exponential backoff
// without a cap (saq's retry_backoff=True).
const RetryBackoffUncapped time.Duration = -1

// WithJobDefaults gives the fields set in d to every job enqueued through
// the queue (Enqueue, Apply, Map, batches, a worker's cron jobs) that was
// not given that field itself (a WithTimeout, WithRetries, ... option, or
// a cron option). The record carries the values, so every worker, Python
// saq's too, runs the job with them.
func WithJobDefaults(d JobDefaults) QueueOption {
	return func(c *queueConfig) {
		if d.Timeout != nil {
			c.set("defaults.timeout", secString(*d.Timeout))
		}
		if d.Retries != nil {
			c.set("defaults.retries", strconv.Itoa(*d.Retries))
		}
		if d.TTL != nil {
			c.set("defaults.ttl", ttlString(*d.TTL))
		}
		if d.RetryDelay != nil {
			c.set("defaults.retry_delay", secString(*d.RetryDelay))
		}
		if d.RetryBackoff != nil {
			if *d.RetryBackoff < 0 {
				c.set("defaults.retry_backoff", "true")
			} else {
				c.set("defaults.retry_backoff", secString(*d.RetryBackoff))
			}
		}
	}
}

func ttlString(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// WithFailedTTL keeps the record of a job that ends failed for d (whole
// seconds; 0 forever, negative: deleted at once) instead of the job's TTL,
// when this queue writes the failure (its workers, Finish; saq #268).
// Python saq workers keep their failures for the job's TTL.
func WithFailedTTL(d time.Duration) QueueOption {
	return func(c *queueConfig) { c.set("failed_ttl", ttlString(d)) }
}

// WithRetryMinDelay makes every retry this queue schedules (its workers'
// retries and recoveries, Retry) due no sooner than d (saq #289).
func WithRetryMinDelay(d time.Duration) QueueOption {
	return func(c *queueConfig) { c.set("retry.min_delay", secString(d)) }
}

// WithRetryJitter turns saq's full jitter on backoff delays on (the
// default: a uniform draw from 0 to the delay) or off (the whole delay;
// saq #289).
func WithRetryJitter(on bool) QueueOption {
	return func(c *queueConfig) { c.set("retry.jitter", strconv.FormatBool(on)) }
}
