// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

func isComplete(j *saq.Job) bool { return j.Status == saq.StatusComplete }

// Issue 19: a paused queue's jobs wait (its workers finish what they run and
// take nothing more within a second); Info, Overview and Metrics say so;
// Resume picks them up at once.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	var runs int32
	startWorker(t, q, map[string]saq.HandlerFunc{
		"slow": func(ctx context.Context, job *saq.Job) (any, error) {
			time.Sleep(700 * time.Millisecond)
			atomic.AddInt32(&runs, 1)
			return 1, nil
		},
		"fast": func(ctx context.Context, job *saq.Job) (any, error) {
			atomic.AddInt32(&runs, 1)
			return 1, nil
		},
	})
	if p, err := q.Paused(c); err != nil || p {
		t.Fatalf("Paused of a new queue = %v, %v", p, err)
	}
	slow, err := q.Enqueue(c, "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, q, slow.Key, "active", func(j *saq.Job) bool { return j.Status == saq.StatusActive })
	if p, err := q.Pause(c); err != nil || !p {
		t.Fatalf("Pause = %v, %v", p, err)
	}
	if p, err := q.Pause(c); err != nil || p {
		t.Fatalf("Pause of a paused queue = %v, %v (want false)", p, err)
	}
	if p, err := q.Paused(c); err != nil || !p {
		t.Fatalf("Paused = %v, %v", p, err)
	}
	info, err := q.Info(c, saq.InfoOptions{})
	if err != nil || !info.Paused {
		t.Fatalf("Info.Paused = %+v, %v", info, err)
	}
	o, err := q.Overview(c)
	if err != nil || !o.Paused || time.Since(o.PausedSince).Abs() > time.Minute {
		t.Fatalf("Overview paused = %v since %v, %v", o.Paused, o.PausedSince, err)
	}
	m, err := q.Metrics(c)
	if err != nil || !strings.Contains(m, fmt.Sprintf("saq_queue_paused{queue=%q} 1\n", q.Name())) {
		t.Fatalf("Metrics has no paused gauge at 1: %v\n%s", err, m)
	}
	waitJob(t, q, slow.Key, "complete", isComplete) // the running job finishes
	time.Sleep(time.Second)
	keys := make([]string, 3)
	for i := range keys {
		j, err := q.Enqueue(c, "fast", nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = j.Key
	}
	time.Sleep(1200 * time.Millisecond)
	if n, err := q.Count(c, saq.CountQueued); err != nil || n != 3 || atomic.LoadInt32(&runs) != 1 {
		t.Fatalf("paused: %d queued (%v), %d runs; want 3 queued, 1 run", n, err, atomic.LoadInt32(&runs))
	}
	t0 := time.Now()
	if r, err := q.Resume(c); err != nil || !r {
		t.Fatalf("Resume = %v, %v", r, err)
	}
	for _, k := range keys {
		waitJob(t, q, k, "complete", isComplete)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("the jobs ran %v after Resume", d)
	}
	if r, err := q.Resume(c); err != nil || r {
		t.Fatalf("Resume of a running queue = %v, %v (want false)", r, err)
	}
	if info, err = q.Info(c, saq.InfoOptions{}); err != nil || info.Paused {
		t.Fatalf("Info.Paused after Resume = %+v, %v", info, err)
	}
}

// A worker started on a paused queue waits for Resume.
func TestWorkerStartedPausedWaits(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	if _, err := q.Pause(c); err != nil {
		t.Fatal(err)
	}
	j, err := q.Enqueue(c, "fast", nil)
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, q, map[string]saq.HandlerFunc{"fast": func(context.Context, *saq.Job) (any, error) { return 1, nil }})
	time.Sleep(1500 * time.Millisecond)
	if n, err := q.Count(c, saq.CountQueued); err != nil || n != 1 {
		t.Fatalf("%d queued (%v) on a paused queue, want 1", n, err)
	}
	if _, err := q.Resume(c); err != nil {
		t.Fatal(err)
	}
	waitJob(t, q, j.Key, "complete", isComplete)
}

// Issue 19 (saq #302): the queue's defaults go to the jobs that were not
// given the field; the record carries them.
func TestJobDefaults(t *testing.T) {
	t.Parallel()
	timeout, retries, ttl, delay, backoff := 3*time.Second, 4, 100*time.Second, 2*time.Second, 30*time.Second
	q := newQueue(t, saq.WithJobDefaults(saq.JobDefaults{Timeout: &timeout, Retries: &retries, TTL: &ttl,
		RetryDelay: &delay, RetryBackoff: &backoff}))
	c := ctx(t)
	j, err := q.Enqueue(c, "f", nil, saq.WithRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	if j.Timeout != timeout || j.Retries != 1 || j.TTL != ttl || j.RetryDelay != delay || !j.RetryBackoff ||
		j.RetryBackoffCap != backoff {
		t.Fatalf("job with defaults = %+v", j)
	}
	stored, err := q.Job(c, j.Key)
	if err != nil || stored.Timeout != timeout || stored.TTL != ttl || stored.Retries != 1 {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	unc := saq.RetryBackoffUncapped
	q2 := newQueue(t, saq.WithName(queueName(t)+"-2"), saq.WithJobDefaults(saq.JobDefaults{RetryBackoff: &unc}))
	j2, err := q2.Enqueue(c, "f", nil)
	if err != nil || !j2.RetryBackoff || j2.RetryBackoffCap != 0 || j2.Timeout != 10*time.Second {
		t.Fatalf("uncapped backoff default = %+v, %v", j2, err)
	}
}

// Issue 19: failed_ttl (saq #268), retry.min_delay and retry.jitter (saq #289).
func TestFailedTTLAndRetryTiming(t *testing.T) {
	t.Parallel()
	q := newQueue(t, saq.WithFailedTTL(-1)) // failures deleted at once
	c := ctx(t)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"bad":  func(context.Context, *saq.Job) (any, error) { return nil, errors.New("bad") },
		"good": func(context.Context, *saq.Job) (any, error) { return 1, nil },
	})
	good, _ := q.Enqueue(c, "good", nil)
	bad, _ := q.Enqueue(c, "bad", nil)
	waitJob(t, q, good.Key, "complete", isComplete)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := q.Job(c, bad.Key)
		if errors.Is(err, saq.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed job is still there (%v); failed_ttl -1 deletes it", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := q.Job(c, good.Key); err != nil {
		t.Fatalf("the complete job: %v (kept for its ttl)", err)
	}

	// no jitter: a 4 s backoff delay is 4 s (full jitter would make three such retries all due
	// after 2 s one time in eight); a minimum of 4 s lifts a 0 delay. Generous margins: the
	// suite runs in parallel under -race.
	for _, tc := range []struct {
		name string
		opt  saq.QueueOption
		job  []saq.JobOption
	}{
		{"nojitter", saq.WithRetryJitter(false), []saq.JobOption{saq.WithRetryDelay(4 * time.Second), saq.WithRetryBackoff(0)}},
		{"mindelay", saq.WithRetryMinDelay(4 * time.Second), nil},
	} {
		rq := newQueue(t, saq.WithName(queueName(t)+"-"+tc.name), tc.opt)
		t0 := time.Now()
		for i := 0; i < 3; i++ {
			j, err := rq.Enqueue(c, "f", nil, tc.job...)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := rq.Retry(c, j.Key, "again"); err != nil || !ok {
				t.Fatalf("%s: Retry = %v, %v", tc.name, ok, err)
			}
		}
		time.Sleep(2*time.Second - time.Since(t0))
		if o, err := rq.Overview(c); err != nil || o.Jobs.Scheduled != 3 {
			t.Fatalf("%s: a retry is due within 2 s (%+v, %v)", tc.name, o, err)
		}
		time.Sleep(5*time.Second - time.Since(t0))
		if o, err := rq.Overview(c); err != nil || o.Jobs.Scheduled != 0 || o.Jobs.Incomplete != 3 {
			t.Fatalf("%s: the retries are not due after 5 s (%+v, %v)", tc.name, o, err)
		}
	}
}
