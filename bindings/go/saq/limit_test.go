// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// limitProbe records the start time of each job and the most running at once
// over every worker of the test.
type limitProbe struct {
	mu      sync.Mutex
	starts  []time.Time
	running int32
	max     int32
	done    int32
	sleep   time.Duration
}

func (p *limitProbe) handle(ctx context.Context, job *saq.Job) (any, error) {
	n := atomic.AddInt32(&p.running, 1)
	for {
		m := atomic.LoadInt32(&p.max)
		if n <= m || atomic.CompareAndSwapInt32(&p.max, m, n) {
			break
		}
	}
	p.mu.Lock()
	p.starts = append(p.starts, time.Now())
	p.mu.Unlock()
	time.Sleep(p.sleep)
	atomic.AddInt32(&p.running, -1)
	atomic.AddInt32(&p.done, 1)
	return true, nil
}

// maxInWindow is the most starts in any window [start, start+d).
func (p *limitProbe) maxInWindow(d time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := append([]time.Time(nil), p.starts...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	best := 0
	for i := range s {
		n := 0
		for j := i; j < len(s) && s[j].Sub(s[i]) < d; j++ {
			n++
		}
		if n > best {
			best = n
		}
	}
	return best
}

func (p *limitProbe) waitDone(t *testing.T, n int32, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for atomic.LoadInt32(&p.done) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs done after %v", atomic.LoadInt32(&p.done), n, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// limitedWorker starts a worker on its own connection to the queue named
// name, with the limit of function set.
func limitedWorker(t *testing.T, name string, function string, l saq.Limit, handlers map[string]saq.HandlerFunc) {
	t.Helper()
	q := newQueue(t, saq.WithName(name))
	w, err := saq.NewWorker(q, fastTimers, saq.Functions(handlers), saq.WithConcurrency(4))
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	if err := w.SetLimit(function, l); err != nil {
		t.Fatalf("SetLimit: %v", err)
	}
	if err := w.Start(ctx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(c)
	})
}

func TestLimitArguments(t *testing.T) {
	q := newQueue(t)
	w, err := saq.NewWorker(q)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetLimit("f", saq.Limit{MaxJobs: 3}); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("a rate without a period: %v, want ErrInvalid", err)
	}
	if err := w.SetLimit("", saq.Limit{MaxRunning: -1}); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("MaxRunning -1: %v, want ErrInvalid", err)
	}
	if err := w.SetLimit("f", saq.Limit{MaxJobs: 3, Period: time.Second, MaxRunning: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Register("f", add); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(ctx(t))
	if err := w.SetLimit("", saq.Limit{MaxRunning: 1}); !errors.Is(err, saq.ErrState) {
		t.Fatalf("after Start: %v, want ErrState", err)
	}
}

// Two workers (own connections) share the queue's limit of 2 running at once.
func TestLimitQueueConcurrencyTwoWorkers(t *testing.T) {
	name := queueName(t)
	p := &limitProbe{sleep: 100 * time.Millisecond}
	h := map[string]saq.HandlerFunc{"job": p.handle}
	for i := 0; i < 2; i++ {
		limitedWorker(t, name, "", saq.Limit{MaxRunning: 2}, h)
	}
	q := newQueue(t, saq.WithName(name))
	for i := 0; i < 12; i++ {
		if _, err := q.Enqueue(ctx(t), "job", nil); err != nil {
			t.Fatal(err)
		}
	}
	p.waitDone(t, 12, 15*time.Second)
	if m := atomic.LoadInt32(&p.max); m > 2 || m < 1 {
		t.Fatalf("at most %d running at once, want <= 2", m)
	}
	if n, err := q.Count(ctx(t), saq.CountQueued); err != nil || n != 0 {
		t.Fatalf("queued after: %d %v", n, err)
	}
	// the limit as the workers publish it (every second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ls, err := q.Limits(ctx(t))
		if err != nil {
			t.Fatalf("Limits: %v", err)
		}
		if len(ls) == 1 {
			if want := (saq.LimitState{MaxRunning: 2}); ls[0] != want {
				t.Fatalf("Limits: %+v, want %+v", ls[0], want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Limits: %+v after 5 s", ls)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A function's rate (5 per second over two workers): its jobs wait, another
// function's jobs run at once.
func TestLimitFunctionRateTwoWorkers(t *testing.T) {
	name := queueName(t)
	p := &limitProbe{}
	h := map[string]saq.HandlerFunc{"slow": p.handle, "add": add}
	for i := 0; i < 2; i++ {
		limitedWorker(t, name, "slow", saq.Limit{MaxJobs: 5, Period: time.Second}, h)
	}
	q := newQueue(t, saq.WithName(name))
	t0 := time.Now()
	var adds []string
	for i := 0; i < 15; i++ {
		if _, err := q.Enqueue(ctx(t), "slow", nil); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			j, err := q.Enqueue(ctx(t), "add", map[string]any{"a": i, "b": 1})
			if err != nil {
				t.Fatal(err)
			}
			adds = append(adds, j.Key)
		}
	}
	for _, k := range adds {
		waitJob(t, q, k, "complete", func(j *saq.Job) bool { return j.Status == saq.StatusComplete })
	}
	if d := time.Since(t0); d > 5*time.Second { // well before the limited ones (about 2 s in all)
		t.Fatalf("the unlimited function's jobs took %v", d)
	}
	p.waitDone(t, 15, 15*time.Second)
	if d := time.Since(t0); d < 1900*time.Millisecond {
		t.Fatalf("15 jobs at 5 per second done in %v", d)
	}
	// Starts are noted when the handler runs, a few ms after libsaq took the
	// slot in Redis (more on a loaded machine): a 0.9 s window absorbs that
	// lag and still sees any second that held more than 5 starts.
	if m := p.maxInWindow(900 * time.Millisecond); m > 5 {
		t.Fatalf("%d starts within 0.9 s, want <= 5", m)
	}
}

// TestLimitsInvalidPublished: a published limit that is not one a worker
// writes (a huge period, text) is reported as Invalid with its text, no
// number made up from it; a valid one next to it reads as usual.
func TestLimitsInvalidPublished(t *testing.T) {
	q := newQueue(t)
	name := q.Name()
	out, err := exec.Command("redis-cli", "-u", redisURL(t), "HSET", "saq:"+name+":libsaq:limits",
		"", "1 9000000000000000000 0", "word", "abc", "ok", "5 1000 2").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli: %v: %s", err, out)
	}
	ls, err := q.Limits(ctx(t))
	if err != nil {
		t.Fatalf("Limits: %v", err)
	}
	got := map[string]saq.LimitState{}
	for _, l := range ls {
		got[l.Function] = l
	}
	if l := got[""]; l.Invalid != "1 9000000000000000000 0" || l.Period != 0 || l.MaxJobs != 0 {
		t.Errorf("queue's entry = %+v, want Invalid with zero numbers", l)
	}
	if l := got["word"]; l.Invalid != "abc" {
		t.Errorf("word = %+v, want Invalid \"abc\"", l)
	}
	want := saq.LimitState{Function: "ok", MaxJobs: 5, Period: time.Second, MaxRunning: 2}
	if got["ok"] != want {
		t.Errorf("ok = %+v, want %+v", got["ok"], want)
	}
}
