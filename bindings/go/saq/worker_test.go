// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

func TestWorkerRoundTripAndHooks(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	var mu sync.Mutex
	var events []string
	record := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	w, err := saq.NewWorker(q, fastTimers, saq.WithConcurrency(4), saq.WithWorkerID("go-worker-"+q.Name()),
		saq.WithMetadata(map[string]any{"lang": "go"}))
	if err != nil {
		t.Fatal(err)
	}
	if w.ID() != "go-worker-"+q.Name() {
		t.Fatalf("ID = %q", w.ID())
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Register("add", func(ctx context.Context, job *saq.Job) (any, error) {
		record("run " + job.Key)
		if job.Status != saq.StatusActive || job.Attempts != 1 || job.WorkerID != w.ID() {
			return nil, fmt.Errorf("leased job = %+v", job)
		}
		if err := job.Update(map[string]any{"progress": 0.5, "meta": map[string]any{"step": "half"}}); err != nil {
			return nil, err
		}
		if err := job.Touch(); err != nil {
			return nil, err
		}
		return add(ctx, job)
	}))
	must(w.OnStartup(func(ctx context.Context) error {
		if _, err := w.Stats(); err != nil { // hooks may use the worker
			return err
		}
		if err := w.Register("late", add); !errors.Is(err, saq.ErrState) {
			return fmt.Errorf("Register during startup = %v, want ErrState", err)
		}
		record("startup")
		return nil
	}))
	must(w.OnShutdown(func(ctx context.Context) { record("shutdown") }))
	must(w.BeforeProcess(func(ctx context.Context, job *saq.Job) error { record("before " + job.Key); return nil }))
	must(w.AfterProcess(func(ctx context.Context, job *saq.Job, err error) {
		record(fmt.Sprintf("after %s %v", job.Key, err))
	}))
	must(w.Start(c))
	if err := w.Register("late", add); !errors.Is(err, saq.ErrState) {
		t.Fatalf("Register after Start = %v, want ErrState", err)
	}
	if err := w.Start(c); !errors.Is(err, saq.ErrState) {
		t.Fatalf("second Start = %v, want ErrState", err)
	}

	job, err := q.Enqueue(c, "add", map[string]any{"a": 40, "b": 2}, saq.WithKey("rt"))
	if err != nil {
		t.Fatal(err)
	}
	done := waitJob(t, q, job.Key, "complete", func(j *saq.Job) bool { return j.Status.Terminal() })
	if done.Status != saq.StatusComplete || done.Result != float64(42) || done.Progress != 1 ||
		done.Meta["step"] != "half" || done.WorkerID != w.ID() || done.Started.IsZero() || done.Completed.Before(done.Started) {
		t.Fatalf("finished job = %+v", done)
	}
	info, err := q.Info(c, saq.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Workers[w.ID()]; !ok {
		t.Errorf("worker %s missing from Info.Workers %v", w.ID(), info.Workers)
	}
	st, err := w.Stats()
	if err != nil || st.Complete < 1 {
		t.Fatalf("worker Stats = %+v, %v", st, err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(w.Stop(sctx))
	must(w.Stop(sctx)) // idempotent
	select {
	case <-w.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	mu.Lock()
	got := strings.Join(events, "|")
	mu.Unlock()
	want := "startup|before rt|run rt|after rt <nil>|shutdown"
	if got != want {
		t.Fatalf("hook order = %q, want %q", got, want)
	}
}

func TestWorkerTimeout(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	reason := make(chan saq.CancelReason, 1)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"sleep": func(ctx context.Context, job *saq.Job) (any, error) {
			<-ctx.Done()
			reason <- job.CancelReason()
			return nil, ctx.Err()
		},
	})
	job, err := q.Enqueue(c, "sleep", nil, saq.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if r := <-reason; r != saq.CancelTimeout {
		t.Fatalf("cancel reason = %v, want timeout", r)
	}
	done := waitJob(t, q, job.Key, "failed", func(j *saq.Job) bool { return j.Status.Terminal() })
	if done.Status != saq.StatusFailed || !strings.Contains(done.Error, "TimeoutError") {
		t.Fatalf("timed-out job = %+v", done)
	}
}

func TestWorkerAbort(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	started := make(chan struct{})
	reason := make(chan saq.CancelReason, 1)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"block": func(ctx context.Context, job *saq.Job) (any, error) {
			close(started)
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
	out, _, err := q.Abort(c, job.Key, "stop it")
	if err != nil || out != saq.AbortRequested {
		t.Fatalf("Abort = %v, %v", out, err)
	}
	select {
	case r := <-reason:
		if r != saq.CancelAborted {
			t.Fatalf("cancel reason = %v, want aborted", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler context not cancelled after Abort")
	}
	done := waitJob(t, q, job.Key, "aborted", func(j *saq.Job) bool { return j.Status.Terminal() })
	if done.Status != saq.StatusAborted || done.Error != "stop it" {
		t.Fatalf("aborted job = %+v", done)
	}
}

func TestWorkerRetry(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	var calls int32
	startWorker(t, q, map[string]saq.HandlerFunc{
		"flaky": func(ctx context.Context, job *saq.Job) (any, error) {
			if atomic.AddInt32(&calls, 1) == 1 {
				return nil, errors.New("ConnectionError: try again")
			}
			return map[string]any{"attempt": job.Attempts}, nil
		},
	})
	res, err := q.Apply(c, "flaky", nil, saq.WithRetries(2), saq.WithKey("flaky1"))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := res.(map[string]any); !ok || m["attempt"] != float64(2) {
		t.Fatalf("Apply = %#v", res)
	}
	j, err := q.Job(c, "flaky1")
	if err != nil || j.Attempts != 2 || j.Status != saq.StatusComplete || atomic.LoadInt32(&calls) != 2 {
		t.Fatalf("retried job = %+v, %v (calls %d)", j, err, calls)
	}
	// out of attempts: failed with the last error
	_, err = q.Apply(c, "flaky", nil, saq.WithRetries(1), saq.WithKey("flaky2"))
	if err != nil {
		t.Fatalf("second Apply = %v", err) // calls is 3 now: succeeds
	}
}

func TestWorkerPanic(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"panics": func(ctx context.Context, job *saq.Job) (any, error) {
			var m map[string]int
			m["x"] = 1 // nil map write
			return nil, nil
		},
		"badresult": func(ctx context.Context, job *saq.Job) (any, error) {
			return make(chan int), nil
		},
		"add": add,
	})
	_, err := q.Apply(c, "panics", nil)
	var je *saq.JobError
	if !errors.As(err, &je) || !strings.Contains(je.Job.Error, "panic: assignment to entry in nil map") ||
		!strings.Contains(je.Job.Error, "goroutine ") {
		t.Fatalf("Apply(panics) = %v", err)
	}
	if _, err := q.Apply(c, "badresult", nil); !errors.As(err, &je) || !strings.Contains(je.Job.Error, "TypeError") {
		t.Fatalf("Apply(badresult) = %v", err)
	}
	// the worker survived
	if res, err := q.Apply(c, "add", map[string]any{"a": 1, "b": 1}); err != nil || res != float64(2) {
		t.Fatalf("Apply after panic = %v, %v", res, err)
	}
}

func TestWorkerGracefulStop(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	started := make(chan struct{}, 2)
	w, err := saq.NewWorker(q, fastTimers)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Register("slow", func(ctx context.Context, job *saq.Job) (any, error) {
		started <- struct{}{}
		select {
		case <-time.After(400 * time.Millisecond):
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	_ = w.Register("stuck", func(ctx context.Context, job *saq.Job) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err := w.Start(c); err != nil {
		t.Fatal(err)
	}
	slow, _ := q.Enqueue(c, "slow", nil)
	stuck, _ := q.Enqueue(c, "stuck", nil, saq.WithTimeout(0))
	<-started
	<-started
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := w.Stop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want DeadlineExceeded (a job had to be cancelled)", err)
	}
	if j, _ := q.Job(c, slow.Key); j.Status != saq.StatusComplete || j.Result != "done" {
		t.Fatalf("slow job after graceful stop = %+v", j)
	}
	// the cancelled job goes back to the queue, as saq does on shutdown
	j := waitJob(t, q, stuck.Key, "requeued", func(j *saq.Job) bool { return j.Status == saq.StatusQueued })
	if j.Error != "cancelled" {
		t.Fatalf("stuck job after stop = %+v", j)
	}
}

func TestWorkerCron(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	runs := make(chan map[string]any, 10)
	w, err := saq.NewWorker(q, fastTimers)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Cron("tick", "not a cron"); !errors.Is(err, saq.ErrCron) {
		t.Fatalf("Cron(bad) = %v, want ErrCron", err)
	}
	if err := w.Cron("tick", "* * * * * *", saq.CronKwargs(map[string]any{"who": "cron"}), saq.CronTimeout(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = w.Register("tick", func(ctx context.Context, job *saq.Job) (any, error) {
		select {
		case runs <- job.Kwargs:
		default:
		}
		return nil, nil
	})
	if err := w.Start(c); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())
	select {
	case kw := <-runs:
		if kw["who"] != "cron" {
			t.Fatalf("cron kwargs = %v", kw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cron job did not run")
	}
}

// The next instant after t at hh:00 on the wall clock of loc (no DST there).
func nextWallHour(t time.Time, hh int, loc *time.Location) time.Time {
	l := t.In(loc)
	n := time.Date(l.Year(), l.Month(), l.Day(), hh, 0, 0, 0, loc)
	if !n.After(t) {
		n = n.AddDate(0, 0, 1)
	}
	return n
}

func TestWorkerCronTZ(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	w, err := saq.NewWorker(q, fastTimers)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Cron("tz", "0 3 * * *", saq.CronTZ("Mars/Olympus")); !errors.Is(err, saq.ErrCron) ||
		!strings.Contains(err.Error(), "unknown time zone 'Mars/Olympus'") {
		t.Fatalf("Cron(unknown zone) = %v, want ErrCron naming it", err)
	}
	// 03:00 in Kolkata (+05:30, no DST): 21:30 UTC, not 03:00 UTC
	kolkata := time.FixedZone("IST", 5*3600+1800)
	if err := w.Cron("tz", "0 3 * * *", saq.CronTZ("Asia/Kolkata")); err != nil {
		t.Fatal(err)
	}
	_ = w.Register("tz", func(ctx context.Context, job *saq.Job) (any, error) { return nil, nil })
	before := time.Now()
	if err := w.Start(c); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())
	var j *saq.Job
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if j, err = q.Job(c, "cron:tz"); err == nil && j != nil {
			break
		}
	}
	if j == nil {
		t.Fatalf("cron job not enqueued: %v", err)
	}
	after := time.Now()
	w1, w2 := nextWallHour(before, 3, kolkata), nextWallHour(after, 3, kolkata)
	if got := j.Scheduled.Unix(); got != w1.Unix() && got != w2.Unix() {
		t.Fatalf("scheduled %v, want %v (03:00 Asia/Kolkata)", j.Scheduled.UTC(), w1.UTC())
	}
}

// WithCronTZ: the worker's zone (saq's Worker(cron_tz=...)) for cron jobs without their own.
func TestWorkerCronTZDefault(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	if _, err := saq.NewWorker(q, saq.WithCronTZ("Mars/Olympus")); !errors.Is(err, saq.ErrInvalid) ||
		!strings.Contains(err.Error(), "unknown time zone") {
		t.Fatalf("NewWorker(WithCronTZ(unknown)) = %v, want ErrInvalid", err)
	}
	w, err := saq.NewWorker(q, fastTimers, saq.WithCronTZ("Asia/Kolkata"))
	if err != nil {
		t.Fatal(err)
	}
	noop := func(ctx context.Context, job *saq.Job) (any, error) { return nil, nil }
	_ = w.Register("ist", noop)
	_ = w.Register("utc", noop)
	if err := w.Cron("ist", "0 3 * * *"); err != nil {
		t.Fatal(err)
	}
	if err := w.Cron("utc", "0 3 * * *", saq.CronLocation(time.UTC)); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := w.Start(c); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())
	for fn, loc := range map[string]*time.Location{"ist": time.FixedZone("IST", 5*3600+1800), "utc": time.UTC} {
		var j *saq.Job
		for end := time.Now().Add(5 * time.Second); j == nil && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			j, _ = q.Job(c, "cron:"+fn)
		}
		if j == nil {
			t.Fatalf("cron job %s not enqueued", fn)
		}
		w1, w2 := nextWallHour(before, 3, loc), nextWallHour(time.Now(), 3, loc)
		if got := j.Scheduled.Unix(); got != w1.Unix() && got != w2.Unix() {
			t.Fatalf("%s scheduled %v, want %v", fn, j.Scheduled.UTC(), w1.UTC())
		}
	}
}

func TestWorkerBurst(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	for i := 0; i < 3; i++ {
		if _, err := q.Enqueue(c, "add", map[string]any{"a": i, "b": 1}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := saq.NewWorker(q, fastTimers, saq.WithBurst(0), saq.WithDequeueTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Register("add", add)
	rctx, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	if err := w.Run(rctx); err != nil {
		t.Fatal(err)
	}
	if rctx.Err() != nil {
		t.Fatal("burst worker did not stop on its own")
	}
	if n, _ := q.Count(c, saq.CountIncomplete); n != 0 {
		t.Fatalf("incomplete after burst = %d", n)
	}
	st, err := q.Stats(c, time.Second)
	if err != nil || st.Complete != 3 {
		t.Fatalf("Stats after burst = %+v, %v", st, err)
	}
}

func TestWorkerBadConfig(t *testing.T) {
	q := newQueue(t)
	if _, err := saq.NewWorker(q, saq.WithConcurrency(0)); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("NewWorker(concurrency 0) = %v", err)
	}
	if _, err := saq.NewWorker(q, saq.WithBurst(0)); !errors.Is(err, saq.ErrInvalid) ||
		!strings.Contains(err.Error(), "burst mode needs dequeue_timeout > 0") {
		t.Fatalf("NewWorker(burst without dequeue timeout) = %v, want libsaq's ErrInvalid", err)
	}
	if _, err := saq.NewWorker(q, saq.Functions{"f": nil}); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("NewWorker(Functions with a nil handler) = %v", err)
	}
	w, err := saq.NewWorker(q)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Register("f", nil); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Register(nil) = %v", err)
	}
	if err := w.Cron("unregistered", "@hourly"); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx(t)); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("Start with a cron job of an unregistered function = %v", err)
	}
	if err := w.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	w2, _ := saq.NewWorker(q)
	_ = w2.Register("f", add)
	_ = w2.OnStartup(func(ctx context.Context) error { return errors.New("no db") })
	if err := w2.Start(ctx(t)); err == nil || !strings.Contains(err.Error(), "no db") {
		t.Fatalf("Start with failing startup hook = %v", err)
	}
	_ = w2.Stop(ctx(t))
}

func TestWorkerHeartbeat(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	reason := make(chan saq.CancelReason, 1)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"silent": func(ctx context.Context, job *saq.Job) (any, error) {
			<-ctx.Done()
			reason <- job.CancelReason()
			return nil, ctx.Err()
		},
		"chatty": func(ctx context.Context, job *saq.Job) (any, error) {
			for i := 0; i < 6; i++ {
				time.Sleep(200 * time.Millisecond)
				if err := job.Touch(); err != nil {
					return nil, err
				}
			}
			return "alive", nil
		},
	})
	res, err := q.Apply(c, "chatty", nil, saq.WithHeartbeat(time.Second))
	if err != nil || res != "alive" {
		t.Fatalf("a job that touches itself = %v, %v", res, err)
	}
	if _, err := q.Enqueue(c, "silent", nil, saq.WithHeartbeat(time.Second), saq.WithTimeout(0)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reason:
		if r != saq.CancelHeartbeat {
			t.Fatalf("cancel reason = %v, want heartbeat", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a job that missed its heartbeat was not cancelled")
	}
}

// A handler that ignores its context cannot hold Stop beyond the hard
// deadline: its job is given back and requeued with "cancelled". The
// deadline is libsaq's, also when set through the generic pass-through (the
// binding slept for its own copy, 1 s, and ignored that one).
func TestWorkerStopStuckHandler(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	w, err := saq.NewWorker(q, fastTimers, saq.WithWorkerConfig("cancellation_hard_deadline", "0.2"),
		saq.Functions{"stuck": func(ctx context.Context, job *saq.Job) (any, error) {
			close(started)
			<-release // ignores ctx
			return "late", nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(c); err != nil {
		t.Fatal(err)
	}
	job, _ := q.Enqueue(c, "stuck", nil, saq.WithTimeout(0))
	<-started
	sctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := w.Stop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v", err)
	}
	if d := time.Since(begin); d > 900*time.Millisecond {
		t.Fatalf("Stop took %v with a stuck handler and a 0.2 s hard deadline", d)
	}
	j := waitJob(t, q, job.Key, "requeued", func(j *saq.Job) bool { return j.Status == saq.StatusQueued })
	if j.Error != "cancelled" {
		t.Fatalf("stuck job after stop = %+v", j)
	}
}

// A handler that ignores its context after a timeout gives up its slot at
// libsaq's hard deadline (set here through the pass-through): its job is
// failed with libsaq's text and the next job runs while the handler still
// holds on (the binding kept the slot until the handler returned).
func TestWorkerStuckHandlerGivesUpItsSlot(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	release := make(chan struct{})
	defer close(release)
	startWorker(t, q, map[string]saq.HandlerFunc{"add": add, "stuck": func(context.Context, *saq.Job) (any, error) {
		<-release // ignores ctx
		return "late", nil
	}}, saq.WithConcurrency(1), saq.WithWorkerConfig("cancellation_hard_deadline", "0.2"))
	job, err := q.Enqueue(c, "stuck", nil, saq.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	done := waitJob(t, q, job.Key, "failed", func(j *saq.Job) bool { return j.Status.Terminal() })
	if want := "TimeoutError: job " + job.Key + " timed out after 1 seconds"; done.Error != want {
		t.Fatalf("timed-out job: %q, want %q", done.Error, want)
	}
	if v, err := q.Apply(c, "add", map[string]any{"a": 1, "b": 2}, saq.WithTimeout(5*time.Second)); err != nil || v != float64(3) {
		t.Fatalf("Apply while the stuck handler runs = %v, %v", v, err)
	}
}

// Terminal is libsaq's predicate (saq_status_terminal).
func TestStatusTerminal(t *testing.T) {
	for s, want := range map[saq.Status]bool{
		saq.StatusNew: false, saq.StatusQueued: false, saq.StatusActive: false, saq.StatusAborting: false,
		saq.StatusAborted: true, saq.StatusFailed: true, saq.StatusComplete: true,
		"FAILED": true, "done": false, "": false, "complete\x00": false,
	} {
		if got := s.Terminal(); got != want {
			t.Errorf("Status(%q).Terminal() = %v, want %v", string(s), got, want)
		}
	}
}

// CronTZ("") is UTC even on a worker WithCronTZ, and a cron job registered again in another
// zone moves the run stored by the previous worker (and by an earlier Cron of the same function).
func TestWorkerCronTZEmptyIsUTCAndMovesTheStoredRun(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	ist := time.FixedZone("IST", 5*3600+1800)
	noop := func(ctx context.Context, job *saq.Job) (any, error) { return nil, nil }
	run := func(crons func(w *saq.Worker), want map[string]*time.Location) {
		t.Helper()
		w, err := saq.NewWorker(q, fastTimers, saq.WithCronTZ("Asia/Kolkata"))
		must(t, err)
		for _, fn := range []string{"a", "b", "c"} {
			must(t, w.Register(fn, noop))
		}
		crons(w)
		before := time.Now()
		must(t, w.Start(c))
		defer w.Stop(context.Background())
		for fn, loc := range want {
			var got int64
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				if j, _ := q.Job(c, "cron:"+fn); j != nil {
					got = j.Scheduled.Unix()
				}
				if got == nextWallHour(before, 3, loc).Unix() || got == nextWallHour(time.Now().Add(5*time.Second), 3, loc).Unix() {
					break
				}
			}
			if w1 := nextWallHour(before, 3, loc); got != w1.Unix() && got != nextWallHour(time.Now(), 3, loc).Unix() {
				t.Fatalf("cron:%s scheduled %v, want %v", fn, time.Unix(got, 0).UTC(), w1.UTC())
			}
		}
	}
	run(func(w *saq.Worker) {
		must(t, w.Cron("a", "0 3 * * *"))
		must(t, w.Cron("b", "0 3 * * *"))
		must(t, w.Cron("c", "0 3 * * *"))
	}, map[string]*time.Location{"a": ist, "b": ist, "c": ist})
	run(func(w *saq.Worker) {
		must(t, w.Cron("a", "0 3 * * *", saq.CronTZ("")))
		must(t, w.Cron("b", "0 3 * * *", saq.CronTZ("Asia/Kolkata")))
		must(t, w.Cron("b", "0 3 * * *", saq.CronLocation(nil))) // the later Cron of b replaces the earlier
		must(t, w.Cron("c", "0 3 * * *"))
	}, map[string]*time.Location{"a": time.UTC, "b": time.UTC, "c": ist})
}
