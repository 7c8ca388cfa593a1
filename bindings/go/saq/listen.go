// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// StatusUpdate is one status message published for a job.
type StatusUpdate struct {
	Key    string // job key
	Status Status // new status
}

// Listener delivers the status updates of some jobs (see Queue.Subscribe).
// Receive from C until it is closed; then Err tells why it ended.
type Listener struct {
	// C receives the updates in order. It is closed when the listen ends:
	// Stop was called, ctx was cancelled, the idle timeout passed or the
	// queue was closed.
	C <-chan StatusUpdate

	q    *Queue
	tag  uint64
	ctx  context.Context
	out  chan StatusUpdate
	done chan struct{} // closed after C

	mu       sync.Mutex
	buf      []StatusUpdate
	notify   chan struct{}
	ended    bool
	err      error
	stopOnce sync.Once
	quit     chan struct{} // closed by Stop: stop forwarding
}

// Subscribe starts listening for status updates of the jobs with the given
// keys (saq's Queue.listen). idle > 0 ends the listen with ErrTimeout when no
// update came for that long. The listener must be drained or stopped; it is
// stopped when ctx is cancelled.
func (q *Queue) Subscribe(ctx context.Context, keys []string, idle time.Duration) (*Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := checkName("job key", k); err != nil {
			return nil, err
		}
	}
	if keys == nil {
		keys = []string{}
	}
	if idle < 0 {
		return nil, errorf(saqraw.SAQ_EINVAL, "listen idle timeout must be >= 0")
	}
	js, _ := json.Marshal(keys)
	l := &Listener{
		q:      q,
		ctx:    ctx,
		out:    make(chan StatusUpdate),
		done:   make(chan struct{}),
		notify: make(chan struct{}, 1),
		quit:   make(chan struct{}),
	}
	l.C = l.out
	w := newWaiter()
	w.stream = l.onEvent
	tag, err := q.submit(w, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_listen(raw, string(js), idle.Seconds(), cq, tag)
	})
	if err != nil {
		return nil, err
	}
	l.tag = tag
	go l.forward()
	go func() {
		select {
		case ev := <-w.ch:
			var err error
			if ev == nil {
				err = ErrClosed
				l.Stop() // nobody may be reading C any more: drop what is left
			} else {
				if e := eventErr(ev); e != nil {
					err = e
				}
				saqraw.Saq_event_free(ev)
			}
			l.end(err)
		case <-ctx.Done():
			l.Stop()
			ev := <-w.ch // LISTEN_END follows the stop (or nil when the queue closes)
			if ev != nil {
				saqraw.Saq_event_free(ev)
			}
			l.end(ctx.Err())
		}
	}()
	return l, nil
}

// onEvent runs on the poller goroutine for each LISTEN event; it never
// blocks.
func (l *Listener) onEvent(ev rawEvent) {
	u := StatusUpdate{Key: saqraw.Saq_event_key(ev), Status: Status(saqraw.Saq_event_job_status(ev))}
	saqraw.Saq_event_free(ev)
	l.mu.Lock()
	if !l.ended {
		l.buf = append(l.buf, u)
	}
	l.mu.Unlock()
	l.wake()
}

func (l *Listener) wake() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

func (l *Listener) end(err error) {
	l.mu.Lock()
	if !l.ended {
		l.ended = true
		l.err = err
	}
	l.mu.Unlock()
	l.wake()
}

// forward moves buffered updates to C, so that a slow receiver never holds
// up the queue's poller.
func (l *Listener) forward() {
	defer close(l.done)
	defer close(l.out)
	for {
		l.mu.Lock()
		batch := l.buf
		l.buf = nil
		ended := l.ended
		l.mu.Unlock()
		for _, u := range batch {
			select {
			case l.out <- u:
			case <-l.quit:
				l.waitEnd()
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		if ended {
			return
		}
		select {
		case <-l.notify:
		case <-l.quit:
			l.waitEnd()
			return
		}
	}
}

// waitEnd waits until the listen has ended after Stop.
func (l *Listener) waitEnd() {
	for {
		l.mu.Lock()
		ended := l.ended
		l.buf = nil
		l.mu.Unlock()
		if ended {
			return
		}
		<-l.notify
	}
}

// Stop ends the listen; updates not yet received are dropped and C is
// closed. Stop is idempotent and safe from any goroutine.
func (l *Listener) Stop() {
	l.stopOnce.Do(func() {
		close(l.quit)
		l.q.mu.RLock()
		if !l.q.closed {
			saqraw.Saq_queue_listen_stop(l.q.raw, l.q.cq, l.tag)
		}
		l.q.mu.RUnlock()
	})
}

// Err returns why the listen ended, once C is closed: nil after Stop,
// ErrTimeout after the idle timeout, ctx.Err() after cancellation, ErrClosed
// when the queue was closed. It blocks until the listen has ended.
func (l *Listener) Err() error {
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Listen calls fn for every status update of the jobs with the given keys
// until fn returns true (saq's Queue.listen: a truthy return stops), ctx is
// cancelled or no update came for idle (idle > 0). It returns nil when fn
// stopped it, ErrTimeout after the idle timeout, or ctx.Err().
func (q *Queue) Listen(ctx context.Context, keys []string, idle time.Duration, fn func(StatusUpdate) bool) error {
	l, err := q.Subscribe(ctx, keys, idle)
	if err != nil {
		return err
	}
	defer l.Stop() // also when fn panics
	for u := range l.C {
		if fn(u) {
			l.Stop()
			for range l.C {
			}
		}
	}
	return l.Err()
}
