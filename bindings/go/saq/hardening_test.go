// SPDX-License-Identifier: MIT
package saq_test

// Regression tests from break-testing the Go binding: hostile handler
// returns, worker lifecycle corners, caller-owned input and values that do
// not fit libsaq's C int parameters.

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

type nilPtrErr struct{ msg string }

func (e *nilPtrErr) Error() string { return e.msg } // panics on a nil receiver

type panickyErr struct{}

func (panickyErr) Error() string { panic("Error() panicked") }

type panickyResult struct{}

func (panickyResult) MarshalJSON() ([]byte, error) { panic("MarshalJSON panicked") }

// A handler's return values are user code too: an error whose Error method
// panics, a result whose MarshalJSON panics, runtime.Goexit and panic(nil)
// (recover returns nil under GODEBUG=panicnil=1, the default of main modules
// older than go 1.21; with this module's go 1.23 it is a
// *runtime.PanicNilError) used to crash the process, or pass as success, or
// leave the job unsettled.
func TestWorkerHostileReturnsFailTheJob(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"typednil": func(ctx context.Context, job *saq.Job) (any, error) {
			var e *nilPtrErr
			return nil, e
		},
		"errorpanics":   func(ctx context.Context, job *saq.Job) (any, error) { return nil, panickyErr{} },
		"marshalpanics": func(ctx context.Context, job *saq.Job) (any, error) { return panickyResult{}, nil },
		"goexit": func(ctx context.Context, job *saq.Job) (any, error) {
			runtime.Goexit()
			return "unreachable", nil
		},
		"panicnil": func(ctx context.Context, job *saq.Job) (any, error) {
			panic(nil)
		},
		"nulerror": func(ctx context.Context, job *saq.Job) (any, error) {
			return nil, errors.New("before\x00after")
		},
		"add": add,
	})
	want := map[string]string{
		"nulerror":      `before\x00after`,
		"typednil":      "its Error method panicked",
		"errorpanics":   "Error() panicked",
		"marshalpanics": "MarshalJSON panicked",
		"goexit":        "did not return",
		"panicnil":      "panic called with nil argument", // go >= 1.21 modules: a *runtime.PanicNilError
	}
	for fn, text := range want {
		_, err := q.Apply(c, fn, nil, saq.WithTimeout(5*time.Second))
		var je *saq.JobError
		if !errors.As(err, &je) || je.Job.Status != saq.StatusFailed || !strings.Contains(je.Job.Error, text) {
			t.Errorf("Apply(%s) = %v, want a failed job with %q", fn, err, text)
		}
	}
	if res, err := q.Apply(c, "add", map[string]any{"a": 2, "b": 3}); err != nil || res != float64(5) {
		t.Fatalf("Apply after hostile handlers = %v, %v", res, err)
	}
}

// A worker stopped (or whose queue was closed) before Start is done: Done
// is closed and Wait returns instead of blocking forever.
func TestWorkerStoppedBeforeStartIsDone(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	w, err := saq.NewWorker(q, saq.Functions{"add": add})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Stop(c); err != nil {
		t.Fatalf("Stop before Start = %v", err)
	}
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done is not closed after Stop before Start")
	}
	wc, cancel := context.WithTimeout(c, 5*time.Second)
	defer cancel()
	if err := w.Wait(wc); err != nil {
		t.Fatalf("Wait after Stop before Start = %v", err)
	}

	q2 := newQueue(t)
	w2, err := saq.NewWorker(q2, saq.Functions{"add": add})
	if err != nil {
		t.Fatal(err)
	}
	q2.Close()
	select {
	case <-w2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done is not closed after Queue.Close before Start")
	}
}

// Wait (which frees the C worker once it stopped) racing with Queue.Close
// (a Stop with a cancelled context) used to call saq_worker_stop on the
// freed worker (a use after free that AddressSanitizer reports).
func TestWorkerWaitRacesClose(t *testing.T) {
	t.Parallel()
	for i := 0; i < 30; i++ {
		q := newQueue(t)
		w, err := saq.NewWorker(q, saq.WithBurst(0), saq.WithDequeueTimeout(time.Millisecond), saq.Functions{"add": add})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(ctx(t)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); _ = w.Wait(context.Background()) }()
		go func() { defer wg.Done(); _ = w.Stop(context.Background()) }()
		go func() { defer wg.Done(); _ = q.Close() }()
		wg.Wait()
	}
}

// Map must not write to the caller's items (it used to replace nil items
// in place: a data race when goroutines share the slice).
func TestMapLeavesItemsAlone(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	startWorker(t, q, map[string]saq.HandlerFunc{"add": add})
	items := []map[string]any{nil, {"a": 1, "b": 2}, nil}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := q.Map(c, "add", items, saq.WithTimeout(10*time.Second))
			if err != nil || len(res) != 3 || res[1] != float64(3) {
				t.Errorf("Map = %v, %v", res, err)
			}
		}()
	}
	wg.Wait()
	if items[0] != nil || items[2] != nil {
		t.Fatalf("Map wrote to the caller's items: %v", items)
	}
}

// Go ints beyond libsaq's C int used to be truncated silently by the SWIG
// layer: a 100-year TTL became negative (the record deleted at once), and
// retries 2^32+3 became 3. Durations beyond time.Duration read back
// clamped, not negative.
func TestOutOfRangeValues(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	if _, err := q.Enqueue(c, "f", nil, saq.WithTTL(100*365*24*time.Hour)); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("WithTTL(100 years) = %v, want ErrInvalid", err)
	}
	if _, err := q.Enqueue(c, "f", nil, saq.WithRetries(1<<32+3)); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("WithRetries(1<<32+3) = %v, want ErrInvalid", err)
	}
	if _, err := q.Info(c, saq.InfoOptions{Jobs: true, Limit: 1<<32 + 2}); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("Info(Limit 1<<32+2) = %v, want ErrInvalid", err)
	}
	if _, _, err := q.Abort(c, "x", "r", saq.WithAbortMarkerTTL(time.Duration(math.MaxInt64))); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("Abort(marker ttl max) = %v, want ErrInvalid", err)
	}
	j, err := q.Enqueue(c, "f", nil, saq.WithTTL(-time.Duration(math.MaxInt64)), saq.WithTimeout(time.Duration(math.MaxInt64)))
	if err != nil {
		t.Fatal(err)
	}
	if j.TTL >= 0 || j.Timeout <= 0 {
		t.Errorf("Enqueue(min ttl, max timeout): TTL %v, Timeout %v", j.TTL, j.Timeout)
	}
	if j, err = q.Job(c, j.Key); err != nil || j.Timeout != time.Duration(math.MaxInt64) {
		t.Errorf("Job(max timeout).Timeout = %v, %v", j, err)
	}
}

// Free texts are passed to C as C strings: a NUL byte cut them short
// silently.
func TestNulInTexts(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	j, err := q.Enqueue(c, "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Abort(c, j.Key, "before\x00after"); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("Abort(reason with NUL) = %v, want ErrInvalid", err)
	}
	if _, err := q.Retry(c, j.Key, "a\x00b"); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("Retry(reason with NUL) = %v, want ErrInvalid", err)
	}
	if _, err := q.Finish(c, j.Key, saq.StatusFailed, nil, "a\x00b"); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("Finish(error text with NUL) = %v, want ErrInvalid", err)
	}
	if _, err := q.Finish(c, j.Key, "complete\x00junk", nil, ""); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("Finish(status with NUL) = %v, want ErrInvalid", err)
	}
}

// An error text too large for max_payload_bytes left the job active (libsaq
// could not write the failed record) until a sweep found it; the text is cut
// to fit now, and the job fails at once.
func TestHugeErrorTextFailsTheJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		max  int
		size int
	}{{"default", 0, 20 << 20}, {"small", 64 << 10, 100 << 10}} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []saq.QueueOption
			if tc.max > 0 {
				opts = append(opts, saq.WithMaxPayloadBytes(tc.max))
			}
			q := newQueue(t, opts...)
			c := ctx(t)
			text := strings.Repeat("é<\x01", tc.size/4)
			startWorker(t, q, map[string]saq.HandlerFunc{
				"boom": func(context.Context, *saq.Job) (any, error) { return nil, errors.New(text) },
			})
			j, err := q.Enqueue(c, "boom", map[string]any{"pad": strings.Repeat("k", 1000)})
			if err != nil {
				t.Fatal(err)
			}
			done := waitJob(t, q, j.Key, "failed", func(j *saq.Job) bool { return j.Status.Terminal() })
			if done.Status != saq.StatusFailed || !strings.HasPrefix(done.Error, "é<\x01é<") ||
				!strings.Contains(done.Error, "cut to fit max_payload_bytes") {
				e := done.Error
				if len(e) > 100 {
					e = e[:100]
				}
				t.Fatalf("job %s: %q", done.Status, e)
			}
		})
	}
}
