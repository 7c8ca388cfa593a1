// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// recorder is a handler that notes the queue of each job it starts, in
// start order, and the most jobs it ran at once.
type recorder struct {
	mu      sync.Mutex
	order   []string // job.Queue of each start
	running int32
	max     int32
	done    int32
	sleep   time.Duration
}

func (r *recorder) handle(ctx context.Context, job *saq.Job) (any, error) {
	n := atomic.AddInt32(&r.running, 1)
	defer atomic.AddInt32(&r.running, -1)
	for {
		m := atomic.LoadInt32(&r.max)
		if n <= m || atomic.CompareAndSwapInt32(&r.max, m, n) {
			break
		}
	}
	r.mu.Lock()
	r.order = append(r.order, job.Queue)
	r.mu.Unlock()
	time.Sleep(r.sleep)
	defer atomic.AddInt32(&r.done, 1)
	var args struct{ A, B int }
	if err := job.DecodeKwargs(&args); err != nil {
		return nil, err
	}
	return fmt.Sprintf("%s:%d", job.Queue, args.A+args.B), nil
}

func (r *recorder) waitDone(t *testing.T, n int32) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for atomic.LoadInt32(&r.done) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs done after 15 s", atomic.LoadInt32(&r.done), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newQueues opens n fresh queues for the test (names ending -a, -b, ...).
func newQueues(t *testing.T, n int) []*saq.Queue {
	t.Helper()
	qs := make([]*saq.Queue, n)
	for i := range qs {
		qs[i] = newQueue(t, saq.WithName(fmt.Sprintf("%s-%c", queueName(t), 'a'+i)))
	}
	return qs
}

// enqueueAdds enqueues n "add" jobs (a = 0..n-1, b) on q and returns their
// keys.
func enqueueAdds(t *testing.T, q *saq.Queue, n, b int) []string {
	t.Helper()
	var keys []string
	for i := 0; i < n; i++ {
		j, err := q.Enqueue(ctx(t), "add", map[string]any{"a": i, "b": b})
		if err != nil {
			t.Fatalf("Enqueue on %s: %v", q.Name(), err)
		}
		keys = append(keys, j.Key)
	}
	return keys
}

// letters maps each queue's name to a letter, for readable start orders.
func letters(order []string, qs ...*saq.Queue) string {
	var b strings.Builder
	for _, name := range order {
		for i, q := range qs {
			if q.Name() == name {
				b.WriteByte(byte('a' + i))
			}
		}
	}
	return b.String()
}

// TestMultiQueueWorker: one worker serves three queues (WithQueues,
// WithQueue with a weight, weighted order): every queue's jobs run with the
// worker's handler, Job.Queue names the queue, each queue's records carry
// the worker's id on that queue (ID, ID.1, ID.2), Apply gets its result
// from an added queue, and Stats reports each queue.
func TestMultiQueueWorker(t *testing.T) {
	t.Parallel()
	c := ctx(t)
	qs := newQueues(t, 3)
	qa, qb, qc := qs[0], qs[1], qs[2]
	rec := &recorder{}
	w := startWorker(t, qa, map[string]saq.HandlerFunc{"add": rec.handle},
		saq.WithQueues(qb), saq.WithQueue(qc, 2), saq.WithQueueOrder(saq.Weighted),
		saq.WithQueueWeight(3), saq.WithConcurrency(4))
	var keys [3][]string
	for i, q := range qs {
		keys[i] = enqueueAdds(t, q, 5, i*100)
	}
	for i, q := range []*saq.Queue{qa, qb, qc} {
		for n, key := range keys[i] {
			j := waitJob(t, q, key, "terminal", func(j *saq.Job) bool { return j.Status.Terminal() })
			want := fmt.Sprintf("%s:%d", q.Name(), n+i*100)
			if j.Status != saq.StatusComplete || j.Result != want {
				t.Fatalf("job %d on %s = %s %v (error %q), want complete %q", n, q.Name(), j.Status, j.Result, j.Error, want)
			}
			wantID := w.ID()
			if i > 0 {
				wantID = fmt.Sprintf("%s.%d", w.ID(), i)
			}
			if j.WorkerID != wantID {
				t.Fatalf("job on %s ran by worker %q, want %q", q.Name(), j.WorkerID, wantID)
			}
		}
	}
	if res, err := qc.Apply(c, "add", map[string]any{"a": 1, "b": 2}); err != nil || res != qc.Name()+":3" {
		t.Fatalf("Apply on the added queue = %v, %v", res, err)
	}
	if m := atomic.LoadInt32(&rec.max); m > 4 {
		t.Fatalf("%d jobs ran at once with concurrency 4 (the total over the queues)", m)
	}
	st, err := w.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Queues) != 3 || st.Complete != 16 {
		t.Fatalf("Stats = %+v, want 3 queues and 16 complete jobs", st)
	}
	for i, q := range []*saq.Queue{qa, qb, qc} {
		want := int64(5)
		if i == 2 {
			want = 6
		}
		if st.Queues[i].Name != q.Name() || st.Queues[i].Complete != want {
			t.Fatalf("Stats.Queues[%d] = %+v, want %s with %d complete", i, st.Queues[i], q.Name(), want)
		}
	}
	if st.Queues[1].ID != w.ID()+".1" {
		t.Fatalf("Stats.Queues[1].ID = %q, want %q", st.Queues[1].ID, w.ID()+".1")
	}
}

// TestMultiQueueStrictOrder: concurrency 1, strict order (the default):
// with jobs waiting on all three queues (the last queue's enqueued first),
// every job of the first queue starts before any of the second, and those
// before any of the third.
func TestMultiQueueStrictOrder(t *testing.T) {
	t.Parallel()
	qs := newQueues(t, 3)
	qa, qb, qc := qs[0], qs[1], qs[2]
	for _, q := range []*saq.Queue{qc, qb, qa} {
		enqueueAdds(t, q, 4, 0)
	}
	rec := &recorder{sleep: 5 * time.Millisecond}
	startWorker(t, qa, map[string]saq.HandlerFunc{"add": rec.handle},
		saq.WithQueues(qb, qc), saq.WithQueueOrder(saq.Strict), saq.WithConcurrency(1))
	rec.waitDone(t, 12)
	rec.mu.Lock()
	got := letters(rec.order, qa, qb, qc)
	rec.mu.Unlock()
	if got != "aaaabbbbcccc" {
		t.Fatalf("start order %q, want aaaabbbbcccc (strict: a before b before c)", got)
	}
	if m := atomic.LoadInt32(&rec.max); m != 1 {
		t.Fatalf("%d jobs ran at once with concurrency 1", m)
	}
}

// TestMultiQueueWeightedOrder: concurrency 1, weights 3 (the worker's own
// queue, WithQueueWeight) and 1 (WithQueue): while both have jobs, the first
// queue gets three slots for every one of the second's.
func TestMultiQueueWeightedOrder(t *testing.T) {
	t.Parallel()
	qs := newQueues(t, 2)
	qa, qb := qs[0], qs[1]
	for _, q := range qs {
		enqueueAdds(t, q, 20, 0)
	}
	rec := &recorder{}
	startWorker(t, qa, map[string]saq.HandlerFunc{"add": rec.handle},
		saq.WithQueue(qb, 1), saq.WithQueueWeight(3), saq.WithQueueOrder(saq.Weighted), saq.WithConcurrency(1))
	rec.waitDone(t, 40)
	rec.mu.Lock()
	got := letters(rec.order, qa, qb)
	rec.mu.Unlock()
	a := strings.Count(got[:20], "a")
	t.Logf("weighted 3:1, first 20 starts: %s (%d a)", got[:20], a)
	if a < 13 || a > 17 { // 15 by the round robin, a little slack
		t.Fatalf("the first 20 starts %s hold %d jobs of the weight-3 queue, want about 15", got[:20], a)
	}
}

// TestMultiQueueSameKey: two queues of one worker each run a job with the
// same key (keys are unique per queue only). Aborting the one that started
// first cancels that one's context, not the other's, and the other still
// completes.
func TestMultiQueueSameKey(t *testing.T) {
	t.Parallel()
	c := ctx(t)
	qs := newQueues(t, 2)
	qa, qb := qs[0], qs[1]
	started := make(chan string, 2)
	release := make(chan struct{})
	var releaseOnce sync.Once
	var mu sync.Mutex
	reasons := map[string]saq.CancelReason{}
	startWorker(t, qa, map[string]saq.HandlerFunc{
		"block": func(ctx context.Context, job *saq.Job) (any, error) {
			started <- job.Queue
			select {
			case <-ctx.Done():
				mu.Lock()
				reasons[job.Queue] = job.CancelReason()
				mu.Unlock()
				return nil, ctx.Err()
			case <-release:
				return "released", nil
			}
		},
	}, saq.WithQueues(qb), saq.WithConcurrency(2))
	// registered after startWorker's, so it runs before the worker's Stop,
	// also when the test fails
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	queues := map[string]*saq.Queue{qa.Name(): qa, qb.Name(): qb}
	if _, err := qa.Enqueue(c, "block", nil, saq.WithKey("same"), saq.WithTimeout(0)); err != nil {
		t.Fatal(err)
	}
	first := <-started
	other := qb
	if first == qb.Name() {
		other = qa
	}
	if _, err := other.Enqueue(c, "block", nil, saq.WithKey("same"), saq.WithTimeout(0)); err != nil {
		t.Fatal(err)
	}
	<-started
	waitJob(t, queues[first], "same", "active", func(j *saq.Job) bool { return j.Status == saq.StatusActive })
	if out, _, err := queues[first].Abort(c, "same", "stop the first"); err != nil || out != saq.AbortRequested {
		t.Fatalf("Abort = %v, %v", out, err)
	}
	j := waitJob(t, queues[first], "same", "aborted", func(j *saq.Job) bool { return j.Status.Terminal() })
	if j.Status != saq.StatusAborted {
		t.Fatalf("the aborted job = %s (%q)", j.Status, j.Error)
	}
	deadline := time.Now().Add(10 * time.Second)
	var got map[string]saq.CancelReason
	for {
		mu.Lock()
		got = map[string]saq.CancelReason{}
		for k, v := range reasons {
			got[k] = v
		}
		mu.Unlock()
		if got[first] != saq.CancelNone || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got[first] != saq.CancelAborted || got[other.Name()] != saq.CancelNone {
		t.Fatalf("cancel reasons %v: want only %s's job aborted", got, first)
	}
	releaseOnce.Do(func() { close(release) })
	j = waitJob(t, other, "same", "complete", func(j *saq.Job) bool { return j.Status.Terminal() })
	if j.Status != saq.StatusComplete || j.Result != "released" {
		t.Fatalf("the other queue's job with the same key = %s %v (%q)", j.Status, j.Result, j.Error)
	}
}

// TestMultiQueueErrors: what WithQueue refuses, typed as elsewhere, and
// closing an added queue stops the worker (before the queue's C handle goes).
func TestMultiQueueErrors(t *testing.T) {
	t.Parallel()
	qa := newQueue(t)
	qb := newQueue(t, saq.WithName(queueName(t)+"-b"))
	fns := saq.Functions{"add": add}
	cases := []struct {
		name string
		opts []saq.WorkerOption
		want error
		msg  string
	}{
		{"own queue", []saq.WorkerOption{saq.WithQueues(qa)}, saq.ErrInvalid, "already serves"},
		{"twice", []saq.WorkerOption{saq.WithQueues(qb), saq.WithQueue(qb, 2)}, saq.ErrInvalid, "already serves"},
		{"weight 0", []saq.WorkerOption{saq.WithQueue(qb, 0)}, saq.ErrInvalid, "weight"},
		{"nil queue", []saq.WorkerOption{saq.WithQueues(nil)}, saq.ErrInvalid, "nil"},
		{"bad order", []saq.WorkerOption{saq.WithQueueOrder("random")}, saq.ErrInvalid, "queue_order"},
		{"bad weight", []saq.WorkerOption{saq.WithQueueWeight(0)}, saq.ErrInvalid, "queue_weight"},
	}
	for _, tc := range cases {
		w, err := saq.NewWorker(qa, append([]saq.WorkerOption{fns}, tc.opts...)...)
		var e *saq.Error
		if err == nil {
			w.Stop(context.Background())
			t.Fatalf("%s: NewWorker succeeded", tc.name)
		}
		if !errors.Is(err, tc.want) || !errors.As(err, &e) || !strings.Contains(e.Msg, tc.msg) {
			t.Fatalf("%s: NewWorker = %v, want %v saying %q", tc.name, err, tc.want, tc.msg)
		}
	}

	closed, err := saq.NewQueue(redisURL(t), saq.WithName(queueName(t)+"-closed"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := saq.NewWorker(qa, fns, saq.WithQueues(closed)); !errors.Is(err, saq.ErrClosed) {
		t.Fatalf("NewWorker with a closed queue = %v, want ErrClosed", err)
	}

	// closing an added queue stops the running worker
	qc, err := saq.NewQueue(redisURL(t), saq.WithName(queueName(t)+"-c"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := saq.NewWorker(qa, fns, saq.WithQueues(qb, qc))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := qc.Close(); err != nil {
		t.Fatalf("Close of the added queue: %v", err)
	}
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the worker still runs after one of its queues was closed")
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("Stop after the close: %v", err)
	}
	// the other queues are still usable
	if _, err := qb.Enqueue(ctx(t), "add", map[string]any{"a": 1, "b": 1}); err != nil {
		t.Fatalf("Enqueue on another queue of the stopped worker: %v", err)
	}
}

// TestURLOptions: the Sentinel and Cluster URL forms and the options that go
// with them reach libsaq unchanged (NewQueue connects lazily, so no server is
// needed), and what libsaq refuses comes back typed.
func TestURLOptions(t *testing.T) {
	t.Parallel()
	ok := []struct {
		url  string
		opts []saq.QueueOption
	}{
		{"redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster", []saq.QueueOption{saq.WithSentinelPassword("s3cret"), saq.WithSentinelUsername("watcher")}},
		{"sentinel://:pw@127.0.0.1:1/mymaster/2?sentinel_password=x", nil},
		{"rediss+sentinel://127.0.0.1:1/mymaster", []saq.QueueOption{saq.WithMinReplicas(1, time.Second)}},
		{"redis+cluster://127.0.0.1:1,127.0.0.1:2", []saq.QueueOption{saq.WithName("{orders}"), saq.WithMinReplicas(1, 0)}},
		{"cluster://127.0.0.1:1", []saq.QueueOption{saq.WithName("orders-{eu}")}},
		{"rediss+cluster://127.0.0.1:1/0", []saq.QueueOption{saq.WithName("{orders}")}},
	}
	for _, tc := range ok {
		q, err := saq.NewQueue(tc.url, tc.opts...)
		if err != nil {
			t.Fatalf("NewQueue(%s): %v", tc.url, err)
		}
		q.Close()
	}
	bad := []struct {
		url  string
		opts []saq.QueueOption
		want error
		msg  string
	}{
		{"redis://127.0.0.1:1/0", []saq.QueueOption{saq.WithSentinelPassword("x")}, saq.ErrInvalid, "sentinel"},
		{"redis+cluster://127.0.0.1:1", []saq.QueueOption{saq.WithName("orders")}, saq.ErrInvalid, "hash tag"},
		{"redis+cluster://127.0.0.1:1", nil, saq.ErrInvalid, "hash tag"}, // "default" has none
		{"redis://127.0.0.1:1/0", []saq.QueueOption{saq.WithMinReplicas(-1, 0)}, saq.ErrInvalid, "min_replicas"},
		{"redis+sentinel://127.0.0.1:1", nil, saq.ErrURL, ""}, // no master name
	}
	for _, tc := range bad {
		q, err := saq.NewQueue(tc.url, tc.opts...)
		var e *saq.Error
		if err == nil {
			q.Close()
			t.Fatalf("NewQueue(%s) succeeded", tc.url)
		}
		if !errors.Is(err, tc.want) || !errors.As(err, &e) || !strings.Contains(e.Msg, tc.msg) {
			t.Fatalf("NewQueue(%s) = %v, want %v saying %q", tc.url, err, tc.want, tc.msg)
		}
	}
}

// TestMinReplicasNoReplica: with min_replicas 1 and a server without
// replicas, Enqueue fails with ErrTimeout after the WAIT timeout and says so.
func TestMinReplicasNoReplica(t *testing.T) {
	t.Parallel()
	q := newQueue(t, saq.WithMinReplicas(1, 100*time.Millisecond))
	_, err := q.Enqueue(ctx(t), "add", map[string]any{"a": 1, "b": 1})
	var e *saq.Error
	if !errors.Is(err, saq.ErrTimeout) || !errors.As(err, &e) || !strings.Contains(e.Msg, "min_replicas") {
		t.Fatalf("Enqueue with min_replicas=1 and no replica = %v, want ErrTimeout naming min_replicas", err)
	}
}

// TestCluster: a real Redis Cluster (3 masters with a replica each, from
// tests/support/with-redis --cluster): one worker serves three hash-tagged
// queues whose slots three different masters own; jobs enqueued on each run
// (with min_replicas 1: each master's replica acknowledges them), Apply on
// each gets its result (pub/sub cluster-wide), and a queue name without a
// hash tag is refused with ErrInvalid.
func TestCluster(t *testing.T) {
	t.Parallel()
	url := envURL(t, "REDIS_CLUSTER_URL", "tests/support/with-redis --cluster -- go test ./...")
	tags := strings.Fields(os.Getenv("REDIS_CLUSTER_QUEUES"))
	if len(tags) != 3 {
		t.Fatalf("REDIS_CLUSTER_QUEUES = %q, want three hash-tagged queue names", os.Getenv("REDIS_CLUSTER_QUEUES"))
	}
	c := ctx(t)
	var qs []*saq.Queue
	for _, tag := range tags {
		// the tag decides the slot (so the master): a unique name around it
		q, err := saq.Connect(c, url, saq.WithName(queueName(t)+"-"+tag), saq.WithMinReplicas(1, 5*time.Second))
		if err != nil {
			t.Fatalf("Connect(%s) queue %s: %v", url, tag, err)
		}
		t.Cleanup(func() { q.Close() })
		qs = append(qs, q)
	}
	rec := &recorder{}
	w := startWorker(t, qs[0], map[string]saq.HandlerFunc{"add": rec.handle},
		saq.WithQueues(qs[1], qs[2]), saq.WithQueueOrder(saq.Weighted), saq.WithConcurrency(6))
	var keys [3][]string
	for i, q := range qs {
		keys[i] = enqueueAdds(t, q, 10, i*100)
	}
	for i, q := range qs {
		for n, key := range keys[i] {
			j := waitJob(t, q, key, "terminal", func(j *saq.Job) bool { return j.Status.Terminal() })
			if want := fmt.Sprintf("%s:%d", q.Name(), n+i*100); j.Status != saq.StatusComplete || j.Result != want {
				t.Fatalf("job %d on %s = %s %v (error %q), want complete %q", n, q.Name(), j.Status, j.Result, j.Error, want)
			}
		}
		if res, err := q.Apply(c, "add", map[string]any{"a": 40, "b": 2}); err != nil || res != q.Name()+":42" {
			t.Fatalf("Apply on %s = %v, %v", q.Name(), res, err)
		}
		// issue 19: Delete's script touches only keys of the queue's hash slot
		if out, _, err := q.Delete(c, keys[i][0]); err != nil || out != saq.Deleted {
			t.Fatalf("Delete on %s = %v, %v", q.Name(), out, err)
		}
		if _, err := q.Job(c, keys[i][0]); !errors.Is(err, saq.ErrNotFound) {
			t.Fatalf("Job after Delete on %s: %v, want ErrNotFound", q.Name(), err)
		}
	}
	st, err := w.Stats()
	if err != nil || len(st.Queues) != 3 || st.Complete != 33 {
		t.Fatalf("Stats = %+v, %v; want 3 queues and 33 complete jobs", st, err)
	}
	t.Logf("cluster: 33 jobs on %v (one master each), per queue %d/%d/%d", tags,
		st.Queues[0].Complete, st.Queues[1].Complete, st.Queues[2].Complete)

	_, err = saq.NewQueue(url, saq.WithName(queueName(t)))
	var e *saq.Error
	if !errors.Is(err, saq.ErrInvalid) || !errors.As(err, &e) || !strings.Contains(e.Msg, "hash tag") {
		t.Fatalf("a queue name without a hash tag on the cluster url = %v, want ErrInvalid saying hash tag", err)
	}
}
