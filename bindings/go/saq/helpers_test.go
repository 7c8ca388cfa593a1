// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

var queueSeq int64

// redisURL returns the URL of the test Redis server started by
// tests/support/with-redis (run-tests.sh), or skips the test.
func redisURL(t testing.TB) string {
	t.Helper()
	return envURL(t, "REDIS_URL", "tests/support/with-redis -- go test ./...")
}

// envURL returns the URL in the environment variable name, or skips the test
// (run-tests.sh fails on skips) saying how to get one.
func envURL(t testing.TB, name, how string) string {
	t.Helper()
	url := os.Getenv(name)
	if url == "" {
		t.Skip(name + " is not set: run the suite through bindings/go/run-tests.sh or " + how)
	}
	return url
}

// queueName makes a queue name unique to this test and run.
func queueName(t testing.TB) string {
	var b strings.Builder
	for _, r := range t.Name() {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return fmt.Sprintf("go-%s-%d-%d", b.String(), time.Now().UnixNano()%1e9, atomic.AddInt64(&queueSeq, 1))
}

// newQueue opens a fresh queue for the test and closes it at cleanup.
func newQueue(t testing.TB, opts ...saq.QueueOption) *saq.Queue {
	t.Helper()
	opts = append([]saq.QueueOption{saq.WithName(queueName(t))}, opts...)
	q, err := saq.Connect(ctx(t), redisURL(t), opts...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return q
}

// ctx returns a context bounded well below the suite's time budget.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// fastTimers makes workers notice aborts and schedules quickly.
var fastTimers = saq.WithTimers(saq.Timers{Schedule: 100 * time.Millisecond, Abort: 100 * time.Millisecond})

// startWorker starts a worker with the given handlers and stops it at
// cleanup.
func startWorker(t testing.TB, q *saq.Queue, handlers map[string]saq.HandlerFunc, opts ...saq.WorkerOption) *saq.Worker {
	t.Helper()
	opts = append([]saq.WorkerOption{fastTimers, saq.Functions(handlers)}, opts...)
	w, err := saq.NewWorker(q, opts...)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	if err := w.Start(ctx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Stop(c); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return w
}

// waitJob polls the job until cond holds or the test times out.
func waitJob(t testing.TB, q *saq.Queue, key string, what string, cond func(*saq.Job) bool) *saq.Job {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := q.Job(ctx(t), key)
		if err == nil && cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: timed out waiting for %s (last: %+v, err %v)", key, what, j, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func add(ctx context.Context, job *saq.Job) (any, error) {
	var args struct{ A, B int }
	if err := job.DecodeKwargs(&args); err != nil {
		return nil, err
	}
	return args.A + args.B, nil
}
