// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

func TestVersion(t *testing.T) {
	if v := saq.Version(); v == "" || strings.Count(v, ".") != 2 {
		t.Fatalf("Version() = %q", v)
	}
}

func TestErrorsMatchCodes(t *testing.T) {
	e := &saq.Error{Code: saq.ErrNotFound.Code, Name: "SAQ_ENOTFOUND", Msg: "job x not found"}
	wrapped := fmt.Errorf("lookup: %w", e)
	if !errors.Is(wrapped, saq.ErrNotFound) {
		t.Fatal("errors.Is(wrapped, ErrNotFound) = false")
	}
	if errors.Is(wrapped, saq.ErrTimeout) {
		t.Fatal("errors.Is(wrapped, ErrTimeout) = true")
	}
	if saq.ErrTimeout.Name != "SAQ_ETIMEDOUT" || saq.ErrTimeout.Code != -3 {
		t.Fatalf("ErrTimeout = %#v", saq.ErrTimeout)
	}
	je := &saq.JobError{Job: &saq.Job{ID: "saq:job:q:k", Status: saq.StatusFailed, Error: "boom"}, Err: &saq.Error{Code: saq.ErrJob.Code, Name: "SAQ_EJOB"}}
	var target *saq.JobError
	if !errors.Is(je, saq.ErrJob) || !errors.As(fmt.Errorf("x: %w", je), &target) || target.Job.Error != "boom" {
		t.Fatalf("JobError does not unwrap: %v", je)
	}
	if !strings.Contains(je.Error(), "boom") {
		t.Fatalf("JobError text %q lacks the job error", je.Error())
	}
}

func TestBadArguments(t *testing.T) {
	if _, err := saq.NewQueue("http://nope"); !errors.Is(err, saq.ErrURL) {
		t.Fatalf("NewQueue(bad url) = %v, want ErrURL", err)
	}
	if _, err := saq.NewQueue("redis://localhost", saq.WithName("a:b")); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("NewQueue(bad name) = %v, want ErrInvalid", err)
	}
	if _, err := saq.NewQueue("redis://localhost", saq.WithConfig("nope", "1")); !errors.Is(err, saq.ErrUnknownKey) {
		t.Fatalf("NewQueue(unknown key) = %v, want ErrUnknownKey", err)
	}
	q := newQueue(t)
	c := ctx(t)
	if _, err := q.Enqueue(c, "", nil); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Enqueue(empty function) = %v", err)
	}
	if _, err := q.Enqueue(c, "f", nil, saq.WithRetries(-1)); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Enqueue(retries -1) = %v", err)
	}
	if _, err := q.Enqueue(c, "f", map[string]any{"ch": make(chan int)}); !errors.Is(err, saq.ErrJSON) {
		t.Fatalf("Enqueue(unmarshalable kwargs) = %v", err)
	}
	if _, err := q.Job(c, "a\x00b"); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Job(NUL key) = %v", err)
	}
	if _, err := q.Count(c, "bogus"); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Count(bogus) = %v", err)
	}
	if _, err := q.Job(c, "missing"); !errors.Is(err, saq.ErrNotFound) {
		t.Fatalf("Job(missing) = %v, want ErrNotFound", err)
	}
}

// A queue that cannot be made reports libsaq's code and message: with no file
// descriptor left for its event loop that is ErrNoMemory (out of a resource).
func TestNewQueueFailureCarriesCCode(t *testing.T) {
	q, err := saq.NewQueue("redis://localhost") // libuv's one-time set-up needs descriptors
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	var old, low syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low = old
	if low.Cur > 1024 {
		low.Cur = 1024
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var fds []int
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fds = append(fds, fd)
	}
	_, err = saq.NewQueue("redis://localhost")
	for _, fd := range fds {
		syscall.Close(fd)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// The first to fail is the queue's completion queue (made first, since
	// the queue's log records go to it) or, from libsaq, the event loop.
	if !errors.Is(err, saq.ErrNoMemory) || !(strings.Contains(err.Error(), "cannot create the event loop") ||
		strings.Contains(err.Error(), "cannot create the queue's completion queue")) {
		t.Fatalf("NewQueue without file descriptors = %v, want ErrNoMemory from the completion queue or the event loop", err)
	}
}

func TestEnqueueJobCount(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	due := time.Now().Add(time.Hour).Truncate(time.Second)
	before := time.Now().Add(-time.Second)
	job, err := q.Enqueue(c, "work", map[string]any{"n": 7, "s": "x"},
		saq.WithKey("k1"), saq.WithTimeout(30*time.Second), saq.WithRetries(3),
		saq.WithTTL(time.Minute), saq.WithHeartbeat(5*time.Second), saq.WithRetryDelay(1500*time.Millisecond),
		saq.WithRetryBackoff(10*time.Second), saq.WithMeta(map[string]any{"trace": "abc"}))
	if err != nil {
		t.Fatal(err)
	}
	if job.Key != "k1" || job.Queue != q.Name() || job.Status != saq.StatusQueued || job.ID != "saq:job:"+q.Name()+":k1" {
		t.Fatalf("enqueued job = %+v", job)
	}
	got, err := q.Job(c, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Function != "work" || got.Kwargs["n"] != float64(7) || got.Kwargs["s"] != "x" ||
		got.Timeout != 30*time.Second || got.Retries != 3 || got.TTL != time.Minute ||
		got.Heartbeat != 5*time.Second || got.RetryDelay != 1500*time.Millisecond ||
		!got.RetryBackoff || got.RetryBackoffCap != 10*time.Second || got.Meta["trace"] != "abc" ||
		got.Status != saq.StatusQueued || got.Queued.Before(before) {
		t.Fatalf("stored job = %+v", got)
	}
	if _, err := q.Enqueue(c, "work", nil, saq.WithKey("k1")); !errors.Is(err, saq.ErrAlreadyEnqueued) {
		t.Fatalf("duplicate Enqueue = %v, want ErrAlreadyEnqueued", err)
	}
	if _, err := q.Enqueue(c, "work", nil, saq.WithKey("later"), saq.WithScheduled(due)); err != nil {
		t.Fatal(err)
	}
	later, err := q.Job(c, "later")
	if err != nil || !later.Scheduled.Equal(due) {
		t.Fatalf("scheduled job = %+v, %v (want scheduled %v)", later, err, due)
	}
	for kind, want := range map[saq.CountKind]int64{saq.CountQueued: 1, saq.CountActive: 0, saq.CountIncomplete: 2} {
		if n, err := q.Count(c, kind); err != nil || n != want {
			t.Errorf("Count(%s) = %d, %v; want %d", kind, n, err, want)
		}
	}
	jobs, err := q.Jobs(c, []string{"k1", "nope", "later"})
	if err != nil || len(jobs) != 3 || jobs[0] == nil || jobs[0].Key != "k1" || jobs[1] != nil || jobs[2] == nil || jobs[2].Key != "later" {
		t.Fatalf("Jobs = %v, %v", jobs, err)
	}
	if v, err := q.Ping(c); err != nil || !strings.Contains(v, ".") {
		t.Fatalf("Ping = %q, %v", v, err)
	}
	if q.Dialect() != "0.26" {
		t.Fatalf("Dialect = %q", q.Dialect())
	}
}

func TestAbortRetryFinishUpdate(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	if _, err := q.Enqueue(c, "work", nil, saq.WithKey("a")); err != nil {
		t.Fatal(err)
	}
	out, job, err := q.Abort(c, "a", "not needed")
	if err != nil || out != saq.AbortDone || job.Status != saq.StatusAborted || job.Error != "not needed" {
		t.Fatalf("Abort(waiting) = %v, %+v, %v", out, job, err)
	}
	if out, _, err := q.Abort(c, "a", "again"); err != nil || out != saq.AbortNoop {
		t.Fatalf("Abort(aborted) = %v, %v", out, err)
	}
	if _, _, err := q.Abort(c, "missing", "x"); !errors.Is(err, saq.ErrNotFound) {
		t.Fatalf("Abort(missing) = %v", err)
	}
	if n, err := q.Count(c, saq.CountQueued); err != nil || n != 0 {
		t.Fatalf("Count after abort = %d, %v", n, err)
	}

	if _, err := q.Enqueue(c, "work", nil, saq.WithKey("b")); err != nil {
		t.Fatal(err)
	}
	if ok, err := q.Update(c, "b", map[string]any{"progress": 0.5, "meta": map[string]any{"m": 1}}); err != nil || !ok {
		t.Fatalf("Update = %v, %v", ok, err)
	}
	if j, _ := q.Job(c, "b"); j.Progress != 0.5 || j.Meta["m"] != float64(1) {
		t.Fatalf("after Update: %+v", j)
	}
	if ok, err := q.Finish(c, "b", saq.StatusComplete, map[string]any{"r": []int{1, 2}}, ""); err != nil || !ok {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	j, _ := q.Job(c, "b")
	var res struct{ R []int }
	if j.Status != saq.StatusComplete || j.DecodeResult(&res) != nil || len(res.R) != 2 || j.Completed.IsZero() {
		t.Fatalf("after Finish: %+v", j)
	}
	if _, err := q.Finish(c, "b", "weird", nil, ""); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Finish(bad status) = %v", err)
	}
	if ok, err := q.Retry(c, "b", "again please"); err != nil {
		t.Fatalf("Retry = %v, %v", ok, err)
	}
}

func TestInfoAndStats(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	for i := 0; i < 3; i++ {
		if _, err := q.Enqueue(c, "work", map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := q.Info(c, saq.InfoOptions{Jobs: true, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != q.Name() || info.Queued != 3 || info.Active != 0 || len(info.Jobs) != 2 || len(info.Raw) == 0 {
		t.Fatalf("Info = %+v", info)
	}
	page2, err := q.Info(c, saq.InfoOptions{Jobs: true, Offset: 2, Limit: 2})
	if err != nil || len(page2.Jobs) != 1 {
		t.Fatalf("Info page 2 = %+v, %v", page2, err)
	}
	st, err := q.Stats(c, 10*time.Second)
	if err != nil || st.Complete != 0 || st.Uptime < 0 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if _, err := q.Info(c, saq.InfoOptions{Offset: -1}); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Info(offset -1) = %v", err)
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	l, err := q.Subscribe(c, []string{"l1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, q, map[string]saq.HandlerFunc{"add": add})
	if _, err := q.Enqueue(c, "add", map[string]any{"a": 1, "b": 1}, saq.WithKey("l1")); err != nil {
		t.Fatal(err)
	}
	var seen []saq.Status
	for u := range l.C {
		if u.Key != "l1" {
			t.Errorf("update for key %q", u.Key)
		}
		seen = append(seen, u.Status)
		if u.Status.Terminal() {
			l.Stop()
		}
	}
	if err := l.Err(); err != nil {
		t.Fatalf("Err after Stop = %v", err)
	}
	if len(seen) == 0 || seen[len(seen)-1] != saq.StatusComplete {
		t.Fatalf("updates = %v, want ... complete", seen)
	}

	// callback form: a true return stops it
	done := make(chan error, 1)
	go func() {
		done <- q.Listen(c, []string{"l2"}, 0, func(u saq.StatusUpdate) bool { return u.Status == saq.StatusComplete })
	}()
	time.Sleep(100 * time.Millisecond) // the subscription is confirmed before the listen starts
	if _, err := q.Apply(c, "add", map[string]any{"a": 2, "b": 2}, saq.WithKey("l2")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Listen = %v", err)
	}

	// idle timeout
	start := time.Now()
	err = q.Listen(c, []string{"never"}, 200*time.Millisecond, func(saq.StatusUpdate) bool { return false })
	if !errors.Is(err, saq.ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Fatalf("idle Listen = %v after %v, want ErrTimeout", err, time.Since(start))
	}

	// context cancellation
	cc, cancel := context.WithTimeout(c, 100*time.Millisecond)
	defer cancel()
	err = q.Listen(cc, []string{"never"}, 0, func(saq.StatusUpdate) bool { return false })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled Listen = %v", err)
	}
}

func TestApplyAndMap(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"add": add,
		"fail": func(ctx context.Context, job *saq.Job) (any, error) {
			return nil, errors.New("ValueError: bad input")
		},
		"check": func(ctx context.Context, job *saq.Job) (any, error) {
			if job.Kwargs["x"] == float64(2) {
				return nil, fmt.Errorf("item %v is bad", job.Kwargs["x"])
			}
			return job.Kwargs["x"], nil
		},
	})
	res, err := q.Apply(c, "add", map[string]any{"a": 20, "b": 22}, saq.WithTimeout(10*time.Second))
	if err != nil || res != float64(42) {
		t.Fatalf("Apply = %v, %v", res, err)
	}
	_, err = q.Apply(c, "fail", nil)
	var je *saq.JobError
	if !errors.Is(err, saq.ErrJob) || !errors.As(err, &je) || je.Job.Status != saq.StatusFailed || !strings.Contains(je.Job.Error, "bad input") {
		t.Fatalf("Apply(fail) = %v", err)
	}

	results, err := q.Map(c, "add", []map[string]any{{"a": 1, "b": 1}, {"a": 2}}, saq.WithDefaults(map[string]any{"b": 10}))
	if err != nil || len(results) != 2 || results[0] != float64(2) || results[1] != float64(12) {
		t.Fatalf("Map = %v, %v", results, err)
	}
	items := []map[string]any{{"x": 1}, {"x": 2}, {"x": 3}}
	if _, err := q.Map(c, "check", items); !errors.As(err, &je) || !strings.Contains(je.Job.Error, "item 2 is bad") {
		t.Fatalf("Map without ReturnExceptions = %v", err)
	}
	results, err = q.Map(c, "check", items, saq.ReturnExceptions())
	if err != nil || len(results) != 3 {
		t.Fatalf("Map(ReturnExceptions) = %v, %v", results, err)
	}
	if results[0] != float64(1) || results[2] != float64(3) {
		t.Fatalf("Map results = %v", results)
	}
	if e, ok := results[1].(*saq.JobError); !ok || !errors.Is(e, saq.ErrJob) || e.Job.Status != saq.StatusFailed {
		t.Fatalf("Map failed entry = %#v", results[1])
	}

	// a job nobody runs (a queue without workers): the map timeout bounds
	// the wait
	idle := newQueue(t)
	if _, err := idle.Map(c, "nobody", []map[string]any{{}}, saq.WithTimeout(300*time.Millisecond)); !errors.Is(err, saq.ErrTimeout) {
		t.Fatalf("Map(timeout) = %v, want ErrTimeout", err)
	}
	// the caller's context bounds it too
	cc, cancel := context.WithTimeout(c, 200*time.Millisecond)
	defer cancel()
	if _, err := idle.Apply(cc, "nobody", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply(ctx deadline) = %v", err)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	boom := errors.New("boom")
	err := q.Batch(c, func(ctx context.Context) error {
		for _, k := range []string{"b1", "b2"} {
			if _, err := q.Enqueue(ctx, "work", nil, saq.WithKey(k)); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Batch = %v, want boom", err)
	}
	for _, k := range []string{"b1", "b2"} {
		j, err := q.Job(c, k)
		if err != nil || j.Status != saq.StatusAborted || j.Error != "cancelled" {
			t.Fatalf("job %s after failed batch = %+v, %v", k, j, err)
		}
	}
	err = q.Batch(c, func(ctx context.Context) error {
		_, err := q.Enqueue(ctx, "work", nil, saq.WithKey("b3"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := q.Job(c, "b3"); err != nil || j.Status != saq.StatusQueued {
		t.Fatalf("job after good batch = %+v, %v", j, err)
	}
	b, err := q.NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(c, "work", nil, saq.WithKey("b4")); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 {
		t.Fatalf("Len = %d", b.Len())
	}
	if n, err := b.Abort(c, "stop"); err != nil || n != 1 {
		t.Fatalf("Abort = %d, %v", n, err)
	}
	if _, err := b.Abort(c, ""); !errors.Is(err, saq.ErrState) {
		t.Fatalf("second Abort = %v", err)
	}
	b.End()
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	keys := make(chan string, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			j, err := q.Enqueue(c, "work", map[string]any{"i": i})
			if err != nil {
				errs <- err
				return
			}
			got, err := q.Job(c, j.Key)
			if err != nil || got.Kwargs["i"] != float64(i) {
				errs <- fmt.Errorf("job %s: %+v %v", j.Key, got, err)
				return
			}
			keys <- j.Key
		}(i)
	}
	wg.Wait()
	close(errs)
	close(keys)
	for err := range errs {
		t.Error(err)
	}
	var all []string
	for k := range keys {
		all = append(all, k)
	}
	sort.Strings(all)
	if n, err := q.Count(c, saq.CountQueued); err != nil || n != int64(len(all)) || n != 32 {
		t.Fatalf("Count = %d, %v (%d keys)", n, err, len(all))
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	url := redisURL(t)
	base := goroutines()
	for i := 0; i < 3; i++ {
		q, err := saq.Connect(ctx(t), url, saq.WithName(queueName(t)), saq.WithDrainTimeout(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		c := ctx(t)
		if _, err := q.Enqueue(c, "work", nil); err != nil {
			t.Fatal(err)
		}
		l, err := q.Subscribe(c, []string{"x"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		w, err := saq.NewWorker(q)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Register("work", func(ctx context.Context, job *saq.Job) (any, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(c); err != nil {
			t.Fatal(err)
		}
		// an operation left waiting when Close comes: its job is never run
		pending := make(chan error, 1)
		go func() {
			_, err := q.Apply(context.Background(), "work", nil, saq.WithScheduled(time.Now().Add(time.Hour)))
			pending <- err
		}()
		time.Sleep(50 * time.Millisecond)
		if err := q.Close(); err != nil && !errors.Is(err, saq.ErrTimeout) {
			t.Fatalf("Close = %v", err)
		}
		if err := <-pending; !errors.Is(err, saq.ErrClosed) {
			t.Fatalf("pending Apply after Close = %v, want ErrClosed", err)
		}
		for range l.C {
		}
		if err := l.Err(); !errors.Is(err, saq.ErrClosed) {
			t.Fatalf("listener after Close = %v, want ErrClosed", err)
		}
		if _, err := q.Count(c, saq.CountQueued); !errors.Is(err, saq.ErrClosed) {
			t.Fatalf("Count after Close = %v, want ErrClosed", err)
		}
		if err := q.Close(); err != nil && !errors.Is(err, saq.ErrTimeout) {
			t.Fatalf("second Close = %v", err)
		}
		if err := w.Stop(c); err != nil {
			t.Fatalf("Stop after Close = %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		stacks := allStacks()
		leak := strings.Contains(stacks, "saq.(*Queue).poll") || strings.Contains(stacks, "saq.(*Worker).poll") ||
			strings.Contains(stacks, "saq.(*Listener)")
		if !leak && goroutines() <= base {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after Close\n%s", base, goroutines(), stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestScheduleAndSweep(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	job, err := q.Enqueue(c, "work", nil, saq.WithDelay(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Count(c, saq.CountQueued); n != 0 {
		t.Fatalf("a delayed job is queued at once (%d)", n)
	}
	time.Sleep(300 * time.Millisecond)
	ids, err := q.Schedule(c, time.Second)
	if err != nil || len(ids) != 1 || ids[0] != job.ID {
		t.Fatalf("Schedule = %v, %v; want [%s]", ids, err, job.ID)
	}
	if n, _ := q.Count(c, saq.CountQueued); n != 1 {
		t.Fatalf("Count(queued) after Schedule = %d", n)
	}
	ids, err = q.Sweep(c, time.Second, 0)
	if err != nil || len(ids) != 0 {
		t.Fatalf("Sweep = %v, %v", ids, err)
	}
}
