// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// logRecord is what capture keeps of a slog record.
type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

func (r logRecord) String() string { return fmt.Sprintf("%v %q %v", r.Level, r.Msg, r.Attrs) }

// capture is a slog.Handler that keeps the records at or above its level.
type capture struct {
	level slog.Level
	mu    sync.Mutex
	recs  []logRecord
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.level }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *capture) WithGroup(string) slog.Handler                { return c }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.Any()
		return true
	})
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
	return nil
}

func (c *capture) records() []logRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]logRecord(nil), c.recs...)
}

// wait returns the first record matching match, or fails the test after d.
func (c *capture) wait(t *testing.T, d time.Duration, what string, match func(logRecord) bool) logRecord {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, r := range c.records() {
			if match(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log record for %s within %v; got %v", what, d, c.records())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deadURL is a redis:// URL where nothing listens.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "redis://" + addr + "/0"
}

func TestLogUnreachableRedisWarns(t *testing.T) {
	t.Parallel()
	h := &capture{level: slog.LevelDebug}
	name := queueName(t)
	q, err := saq.NewQueue(deadURL(t), saq.WithName(name), saq.WithLogger(slog.New(h)),
		saq.WithConnectTimeout(200*time.Millisecond), saq.WithReconnectMax(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	w, err := saq.NewWorker(q, saq.Functions{"add": add})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx(t)); err != nil { // starts "successfully": Redis is only found missing later
		t.Fatal(err)
	}
	r := h.wait(t, 10*time.Second, "an unreachable Redis", func(r logRecord) bool {
		return r.Level == slog.LevelWarn && r.Attrs["queue"] == name
	})
	if r.Msg == "" || r.Attrs["error"] == nil {
		t.Fatalf("unreachable-Redis record without a message or an error field: %v", r)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = w.Stop(sctx)
}

func TestLogWorkerStartStopAtInfo(t *testing.T) {
	t.Parallel()
	h := &capture{level: slog.LevelInfo}
	q := newQueue(t, saq.WithLogger(slog.New(h)))
	w, err := saq.NewWorker(q, fastTimers, saq.Functions{"add": add})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	mine := func(r logRecord) bool { return r.Level == slog.LevelInfo && r.Attrs["worker"] == w.ID() }
	h.wait(t, 5*time.Second, "worker started", func(r logRecord) bool {
		return mine(r) && strings.Contains(strings.ToLower(r.Msg), "start")
	})
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	h.wait(t, 5*time.Second, "worker stopped", func(r logRecord) bool {
		return mine(r) && strings.Contains(strings.ToLower(r.Msg), "stop")
	})
	for _, r := range h.records() {
		if r.Level < slog.LevelInfo {
			t.Errorf("a handler at info got %v", r)
		}
	}
}

// The level libsaq logs at follows the logger's handler: one at warning gets
// no info records (libsaq does not even produce them); LevelOff silences
// every record, the binding's own too.
func TestLogLevelFollowsTheHandler(t *testing.T) {
	t.Parallel()
	warn := &capture{level: slog.LevelWarn}
	off := &capture{level: slog.LevelDebug}
	qw := newQueue(t, saq.WithLogger(slog.New(warn)))
	qo := newQueue(t, saq.WithLogger(slog.New(off)), saq.WithLogLevel(saq.LevelOff))
	for _, q := range []*saq.Queue{qw, qo} {
		w, err := saq.NewWorker(q, fastTimers, saq.Functions{"add": add})
		if err != nil {
			t.Fatal(err)
		}
		must(t, w.AfterProcess(func(context.Context, *saq.Job, error) { panic("after hook") }))
		must(t, w.Start(ctx(t)))
		job, err := q.Enqueue(ctx(t), "add", map[string]any{"a": 1, "b": 2})
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, q, job.Key, "complete", func(j *saq.Job) bool { return j.Status.Terminal() })
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		must(t, w.Stop(sctx))
		cancel()
	}
	// the warning handler got the hook's panic, and nothing below warning
	warn.wait(t, 5*time.Second, "the after_process panic", func(r logRecord) bool {
		return r.Level == slog.LevelWarn && r.Attrs["hook"] == "after_process" && r.Attrs["reason"] == "after hook"
	})
	for _, r := range warn.records() {
		if r.Level < slog.LevelWarn {
			t.Errorf("a handler at warning got %v", r)
		}
	}
	if recs := off.records(); len(recs) != 0 {
		t.Errorf("WithLogLevel(LevelOff): got %v", recs)
	}
}

// libsaq logs a handler that failed (an error or a panic) as a warning with
// the job's fields; the binding does not log it a second time.
func TestLogHandlerFailure(t *testing.T) {
	t.Parallel()
	h := &capture{level: slog.LevelDebug}
	q := newQueue(t, saq.WithLogger(slog.New(h)))
	startWorker(t, q, map[string]saq.HandlerFunc{
		"kaput":  func(ctx context.Context, job *saq.Job) (any, error) { return nil, fmt.Errorf("kaput") },
		"panics": func(ctx context.Context, job *saq.Job) (any, error) { panic("in the handler") },
	})
	for fn, text := range map[string]string{"kaput": "kaput", "panics": "in the handler"} {
		job, err := q.Enqueue(ctx(t), fn, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, q, job.Key, "failed", func(j *saq.Job) bool { return j.Status.Terminal() })
		r := h.wait(t, 5*time.Second, "the failed job "+fn, func(r logRecord) bool {
			return r.Attrs["job"] == job.Key && r.Level >= slog.LevelWarn
		})
		if r.Level != slog.LevelWarn || r.Attrs["function"] != fn || !strings.Contains(fmt.Sprint(r.Attrs["reason"]), text) {
			t.Fatalf("record of the failed job %s = %v", fn, r)
		}
		n := 0
		for _, r := range h.records() {
			if r.Attrs["job"] == job.Key && r.Level >= slog.LevelWarn {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings for the failed job %s, want 1: %v", n, fn, h.records())
		}
	}
}

// A Go hook that panics is logged by the binding (libsaq does not see Go
// hooks), with the job's fields.
func TestLogGoHookPanic(t *testing.T) {
	t.Parallel()
	h := &capture{level: slog.LevelDebug}
	q := newQueue(t, saq.WithLogger(slog.New(h)))
	w, err := saq.NewWorker(q, fastTimers, saq.Functions{"add": add})
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.AfterProcess(func(context.Context, *saq.Job, error) { panic("boom") }))
	must(t, w.OnShutdown(func(context.Context) { panic("bye") }))
	must(t, w.Start(ctx(t)))
	job, err := q.Enqueue(ctx(t), "add", map[string]any{"a": 1, "b": 2})
	if err != nil {
		t.Fatal(err)
	}
	r := h.wait(t, 5*time.Second, "the after_process panic", func(r logRecord) bool {
		return r.Attrs["hook"] == "after_process"
	})
	if r.Level != slog.LevelWarn || r.Attrs["job"] != job.Key || r.Attrs["function"] != "add" ||
		r.Attrs["queue"] != q.Name() || r.Attrs["worker"] != w.ID() || r.Attrs["reason"] != "boom" ||
		!strings.Contains(r.Msg, job.Key) {
		t.Fatalf("after_process panic record = %v", r)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, w.Stop(sctx))
	r = h.wait(t, 5*time.Second, "the shutdown hook panic", func(r logRecord) bool {
		return r.Attrs["hook"] == "shutdown"
	})
	if r.Level != slog.LevelWarn || r.Attrs["worker"] != w.ID() || r.Attrs["reason"] != "bye" {
		t.Fatalf("shutdown hook panic record = %v", r)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Without WithLogger, records go to slog.Default() (looked up at each
// record), for warnings and errors. Not parallel: it changes the default.
func TestLogDefaultIsSlogDefault(t *testing.T) {
	t.Setenv("SAQ_LOG_LEVEL", "")
	h := &capture{level: slog.LevelDebug}
	q := newQueue(t)
	old := slog.Default()
	slog.SetDefault(slog.New(h))
	defer slog.SetDefault(old)
	w, err := saq.NewWorker(q, fastTimers, saq.Functions{"add": add})
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.AfterProcess(func(context.Context, *saq.Job, error) { panic("default") }))
	must(t, w.Start(ctx(t)))
	if _, err := q.Enqueue(ctx(t), "add", map[string]any{"a": 1, "b": 2}); err != nil {
		t.Fatal(err)
	}
	h.wait(t, 5*time.Second, "the after_process panic on slog.Default()", func(r logRecord) bool {
		return r.Level == slog.LevelWarn && r.Attrs["reason"] == "default"
	})
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, w.Stop(sctx))
	for _, r := range h.records() {
		if r.Level < slog.LevelWarn && r.Attrs["queue"] == q.Name() {
			t.Errorf("the default level is warning, yet slog.Default() got %v", r)
		}
	}
}
