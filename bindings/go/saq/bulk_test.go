// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

func TestEnqueueMany(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	if _, err := q.Enqueue(c, "work", nil, saq.WithKey("old")); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.EnqueueMany(c, []saq.BulkJob{
		{Function: "work", Kwargs: map[string]any{"n": 1}, Options: []saq.JobOption{saq.WithKey("a"), saq.WithRetries(3)}},
		{Function: "work", Options: []saq.JobOption{saq.WithKey("old")}},
		{Function: "other", Kwargs: map[string]any{"n": 2}},
		{Function: "work", Options: []saq.JobOption{saq.WithKey("a")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 4 || jobs[0] == nil || jobs[1] != nil || jobs[2] == nil || jobs[3] != nil {
		t.Fatalf("EnqueueMany = %v, want [job nil job nil]", jobs)
	}
	if jobs[0].Key != "a" || jobs[0].Status != saq.StatusQueued || jobs[0].Retries != 3 || jobs[2].Function != "other" {
		t.Fatalf("jobs as sent: %+v, %+v", jobs[0], jobs[2])
	}
	got, err := q.Job(c, jobs[2].Key)
	if err != nil || got.Kwargs["n"] != float64(2) || got.Status != saq.StatusQueued {
		t.Fatalf("stored job = %+v, %v", got, err)
	}
	if n, err := q.Count(c, saq.CountQueued); err != nil || n != 3 {
		t.Fatalf("queued = %d, %v; want 3", n, err)
	}
	if jobs, err := q.EnqueueMany(c, nil); err != nil || len(jobs) != 0 {
		t.Fatalf("EnqueueMany(nil) = %v, %v", jobs, err)
	}
}

func TestEnqueueManyRefusalWritesNothing(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	_, err := q.EnqueueMany(c, []saq.BulkJob{
		{Function: "work", Options: []saq.JobOption{saq.WithKey("first")}},
		{Function: ""},
	})
	if !errors.Is(err, saq.ErrInvalid) || !strings.Contains(err.Error(), "jobs[1]") {
		t.Fatalf("EnqueueMany with an empty function = %v, want ErrInvalid naming jobs[1]", err)
	}
	if _, err := q.Job(c, "first"); !errors.Is(err, saq.ErrNotFound) {
		t.Fatalf("the first job was written: %v", err)
	}
}

func TestEnqueueManyThenWorked(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	done := make(chan string, 100)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"work": func(_ context.Context, job *saq.Job) (any, error) {
			done <- job.Key
			return nil, nil
		},
	})
	batch := make([]saq.BulkJob, 100)
	for i := range batch {
		batch[i] = saq.BulkJob{Function: "work", Options: []saq.JobOption{saq.WithKey(fmt.Sprintf("k%d", i))}}
	}
	if _, err := q.EnqueueMany(c, batch); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 100 {
		select {
		case k := <-done:
			seen[k] = true
		case <-time.After(15 * time.Second):
			t.Fatalf("%d of 100 jobs ran", len(seen))
		}
	}
}
