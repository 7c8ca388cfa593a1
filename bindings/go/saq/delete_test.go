// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

func assertEmpty(t *testing.T, q *saq.Queue) {
	t.Helper()
	for _, k := range []saq.CountKind{saq.CountQueued, saq.CountActive, saq.CountIncomplete} {
		if n, err := q.Count(ctx(t), k); err != nil || n != 0 {
			t.Fatalf("Count(%s) = %d, %v; want 0", k, n, err)
		}
	}
}

// issue 19: a waiting, a scheduled and a finished job are deleted with every
// entry; a missing key is ErrNotFound; IterJobs no longer lists them.
func TestDeleteNotRunning(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	waiting, err := q.Enqueue(c, "f", map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	sched, err := q.Enqueue(c, "f", nil, saq.WithScheduled(time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	done, err := q.Enqueue(c, "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Finish(c, done.Key, saq.StatusComplete, 7, ""); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{waiting.Key, sched.Key, done.Key} {
		out, job, err := q.Delete(c, k)
		if err != nil || out != saq.Deleted || job == nil || job.Key != k {
			t.Fatalf("Delete(%s) = %v, %+v, %v", k, out, job, err)
		}
		if _, err := q.Job(c, k); !errors.Is(err, saq.ErrNotFound) {
			t.Fatalf("Job(%s) after Delete: %v, want ErrNotFound", k, err)
		}
	}
	assertEmpty(t, q)
	for j, err := range q.IterJobs(c) {
		t.Fatalf("IterJobs after deleting everything yielded %v, %v", j, err)
	}
	if _, _, err := q.Delete(c, done.Key); !errors.Is(err, saq.ErrNotFound) {
		t.Fatalf("Delete(missing) = %v, want ErrNotFound", err)
	}
	if _, _, err := q.Delete(c, "k", saq.WithDeleteWait(-time.Second)); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Delete(wait -1s) = %v, want ErrInvalid", err)
	}
	// the key can be enqueued again at once
	if _, err := q.Enqueue(c, "f", nil, saq.WithKey(waiting.Key)); err != nil {
		t.Fatalf("Enqueue after Delete: %v", err)
	}
}

// issue 19: a running job is refused unless forced; a forced delete aborts it
// first, its handler's context is cancelled, and nothing is left.
func TestDeleteRunning(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	started := make(chan struct{}, 1)
	reason := make(chan saq.CancelReason, 1)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"block": func(ctx context.Context, job *saq.Job) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			reason <- job.CancelReason()
			return nil, ctx.Err()
		},
	})
	job, err := q.Enqueue(c, "block", nil, saq.WithTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	waitJob(t, q, job.Key, "active", func(j *saq.Job) bool { return j.Status == saq.StatusActive })
	if _, _, err := q.Delete(c, job.Key); !errors.Is(err, saq.ErrState) {
		t.Fatalf("Delete(running) = %v, want ErrState", err)
	}
	if j, err := q.Job(c, job.Key); err != nil || j.Status != saq.StatusActive {
		t.Fatalf("after a refused Delete: %+v, %v", j, err)
	}
	out, last, err := q.Delete(c, job.Key, saq.WithForce(), saq.WithDeleteWait(5*time.Second))
	if err != nil || out != saq.DeletedAfterStop || last.Status != saq.StatusAborted || last.Error != "deleted" {
		t.Fatalf("Delete(force) = %v, %+v, %v", out, last, err)
	}
	select {
	case r := <-reason:
		if r != saq.CancelAborted {
			t.Fatalf("cancel reason = %v, want aborted", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler not cancelled by a forced Delete")
	}
	time.Sleep(300 * time.Millisecond) // nothing writes it back
	if _, err := q.Job(c, job.Key); !errors.Is(err, saq.ErrNotFound) {
		t.Fatalf("Job after a forced Delete: %v, want ErrNotFound", err)
	}
	assertEmpty(t, q)
}
