// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"fmt"
	"sync"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// Batch is an open batch scope (saq's `async with queue.batch()`): while it
// is open, every job enqueued on its queue, by any goroutine, is recorded,
// and Abort aborts them all. End the scope with End or Abort.
type Batch struct {
	q   *Queue
	mu  sync.Mutex
	raw saqraw.Struct_SS_saq_batch // nil once ended
}

// NewBatch opens a batch scope on the queue.
func (q *Queue) NewBatch() (*Batch, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return nil, ErrClosed
	}
	raw := saqraw.Saq_queue_batch(q.raw)
	if isNil(raw) {
		return nil, newError(saqraw.SAQ_ENOMEM, "")
	}
	b := &Batch{q: q, raw: raw}
	q.batchesMu.Lock()
	q.batches[b] = struct{}{}
	q.batchesMu.Unlock()
	return b, nil
}

// Len returns the number of jobs recorded so far (0 once ended).
func (b *Batch) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.raw == nil {
		return 0
	}
	return int(saqraw.Saq_batch_size(b.raw))
}

// release frees the C scope; b.mu must be held.
func (b *Batch) release() {
	if b.raw != nil {
		saqraw.Saq_batch_free(b.raw)
		b.raw = nil
		b.q.batchesMu.Lock()
		delete(b.q.batches, b)
		b.q.batchesMu.Unlock()
	}
}

// End closes the scope successfully: the recorded jobs are left alone.
// It is idempotent.
func (b *Batch) End() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.release()
}

// Abort closes the scope and aborts every recorded job with reason ("" means
// "cancelled", as saq), ignoring individual failures. It returns the number
// of jobs aborted. ErrState when the scope already ended.
func (b *Batch) Abort(ctx context.Context, reason string) (int, error) {
	if reason == "" {
		reason = "cancelled"
	}
	if err := checkText("abort reason", reason); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.raw == nil {
		return 0, errorf(saqraw.SAQ_ESTATE, "the batch has already ended")
	}
	defer b.release()
	var n int64
	err := b.q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_batch_abort(b.raw, reason, cq, tag)
	}, func(ev rawEvent) error {
		n = saqraw.Saq_event_int(ev)
		return nil
	})
	return int(n), err
}

// Batch runs fn inside a batch scope (saq's `async with queue.batch()`).
// If fn returns an error or panics, every job enqueued on the queue while
// it ran is aborted with reason "cancelled" and the error is returned (the
// panic is re-raised). The abort is not bound to ctx, which may well be the
// reason fn failed.
func (q *Queue) Batch(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	b, err := q.NewBatch()
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if ok {
			b.End()
			return
		}
		if _, aerr := b.Abort(context.Background(), "cancelled"); aerr != nil && err != nil {
			err = fmt.Errorf("%w (and aborting the batch failed: %v)", err, aerr)
		}
	}()
	if err = fn(ctx); err != nil {
		return err
	}
	ok = true
	return nil
}
