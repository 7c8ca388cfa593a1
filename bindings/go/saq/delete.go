// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"time"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// DeleteOutcome tells how Delete went.
type DeleteOutcome int

// Delete outcomes.
const (
	// Deleted: the job did not run (waiting, scheduled or finished).
	Deleted DeleteOutcome = 1
	// DeletedAfterStop: it ran (WithForce): aborted, its worker stopped it, deleted.
	DeletedAfterStop DeleteOutcome = 2
	// DeletedUnconfirmed: it ran (WithForce): aborted, and deleted after the
	// wait without its worker ending it (a worker that ends it later writes its
	// finished record again, kept for the job's TTL, in no list).
	DeletedUnconfirmed DeleteOutcome = 3
)

// DeleteOption configures Delete.
type DeleteOption func(*deleteConfig)

type deleteConfig struct {
	force bool
	wait  time.Duration
}

// WithForce makes Delete delete a running job too: it is aborted first (as
// Abort does, with the reason "deleted"), so that its worker stops it, and
// deleted once it has ended or after the wait (WithDeleteWait).
func WithForce() DeleteOption { return func(c *deleteConfig) { c.force = true } }

// WithDeleteWait sets how long a forced Delete waits for the worker of a
// running job to stop it (default 5 s; 0: no wait; at most 1 hour).
func WithDeleteWait(d time.Duration) DeleteOption { return func(c *deleteConfig) { c.wait = d } }

// Delete deletes the job with the given key: its record and every entry of
// it in Redis (queued, incomplete/scheduled, active, libsaq's own), so the
// key can be enqueued again at once. Python saq has no delete; its workers
// never see a deleted job again. A running job is refused with ErrState
// (nothing changes) unless WithForce. It returns the outcome and the record
// as last read before the delete (nil when unreadable). ErrNotFound when
// there is no record (stray list entries of the key are removed all the same).
func (q *Queue) Delete(ctx context.Context, key string, opts ...DeleteOption) (DeleteOutcome, *Job, error) {
	if err := checkName("job key", key); err != nil {
		return 0, nil, err
	}
	cfg := deleteConfig{wait: 5 * time.Second}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.wait < 0 || cfg.wait > time.Hour {
		return 0, nil, errorf(saqraw.SAQ_EINVAL, "delete wait must be within 0..1h, got %v", cfg.wait)
	}
	force := 0
	if cfg.force {
		force = 1
	}
	var out DeleteOutcome
	var job *Job
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_delete(raw, key, force, int(cfg.wait/time.Millisecond), cq, tag)
	}, func(ev rawEvent) error {
		out = DeleteOutcome(saqraw.Saq_event_int(ev))
		job = jobFromC(saqraw.Saq_event_job(ev))
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return out, job, nil
}
