// SPDX-License-Identifier: MIT
package saq_test

// NaN and Infinity as Python's json writes them (bare tokens, which
// encoding/json refuses): Python saq stores them for non-finite floats, and
// libsaq carries them byte for byte.

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

func isNaN(v any) bool { f, ok := v.(float64); return ok && math.IsNaN(f) }

func isInf(v any, sign int) bool { f, ok := v.(float64); return ok && math.IsInf(f, sign) }

// Info used to fail whole (EPROTO) when one listed job held NaN; Job left
// such kwargs nil.
func TestInfoListsJobsHoldingNaN(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	if _, err := q.Enqueue(c, "plain", map[string]any{"a": 1}); err != nil {
		t.Fatal(err)
	}
	j, err := saq.EnqueueRawKwargs(c, q, "odd", `{"x": NaN, "y": Infinity, "z": -Infinity, "big": 1e400, "s": "NaN"}`)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	info, err := q.Info(c, saq.InfoOptions{Jobs: true})
	if err != nil {
		t.Fatalf("Info with a NaN job: %v", err)
	}
	if info.Name != q.Name() || info.Queued != 2 || len(info.Jobs) != 2 || !strings.Contains(string(info.Raw), "NaN") {
		t.Fatalf("info = %+v", info)
	}
	var kw map[string]any
	for _, job := range info.Jobs {
		if job["key"] == j.Key {
			kw, _ = job["kwargs"].(map[string]any)
		}
	}
	if !isNaN(kw["x"]) || !isInf(kw["y"], 1) || !isInf(kw["z"], -1) || kw["s"] != "NaN" {
		t.Fatalf("info's job kwargs = %#v", kw)
	}
	if kw["big"] != json.Number("1e400") {
		t.Fatalf("a number beyond float64 = %#v, want json.Number(\"1e400\")", kw["big"])
	}
	got, err := q.Job(c, j.Key)
	if err != nil || !isNaN(got.Kwargs["x"]) || !isInf(got.Kwargs["y"], 1) || got.Kwargs["s"] != "NaN" {
		t.Fatalf("Job(%s).Kwargs = %#v, %v", j.Key, got.Kwargs, err)
	}
	var into any
	if err := got.DecodeKwargs(&into); err != nil || !isNaN(into.(map[string]any)["x"]) {
		t.Fatalf("DecodeKwargs(*any) = %#v, %v", into, err)
	}
	var typed struct{ X float64 }
	if err := got.DecodeKwargs(&typed); err == nil || !strings.Contains(err.Error(), "NaN or Infinity") {
		t.Fatalf("DecodeKwargs(struct) = %v, want an error naming NaN", err)
	}
}

// finishWhenQueued finishes each job (by key) with its raw result as soon
// as it exists, standing in for a Python worker.
func finishWhenQueued(t *testing.T, q *saq.Queue, results map[string]string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for key, res := range results {
		wg.Add(1)
		go func(key, res string) {
			defer wg.Done()
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if j, err := q.Job(context.Background(), key); err == nil && j.Status == saq.StatusQueued {
					if _, err := saq.FinishRaw(context.Background(), q, key, saq.StatusComplete, res); err != nil {
						t.Errorf("finish %s: %v", key, err)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Errorf("job %s never appeared", key)
		}(key, res)
	}
	return &wg
}

// Map failed whole (EPROTO) on a NaN result that Apply returned (as a
// json.RawMessage): both return math.NaN() now.
func TestApplyAndMapReturnNaN(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	wg := finishWhenQueued(t, q, map[string]string{"a1": "NaN", "m1": "NaN", "m2": "[Infinity, 1]", "m3": "2"})
	defer wg.Wait()
	res, err := q.Apply(c, "f", nil, saq.WithKey("a1"), saq.WithTimeout(15*time.Second))
	if err != nil || !isNaN(res) {
		t.Errorf("Apply = %#v, %v; want NaN", res, err)
	}
	out, err := q.Map(c, "f", []map[string]any{{"key": "m1"}, {"key": "m2"}, {"key": "m3"}}, saq.WithTimeout(15*time.Second))
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	if len(out) != 3 || !isNaN(out[0]) || out[2] != float64(2) {
		t.Fatalf("Map = %#v", out)
	}
	if arr, ok := out[1].([]any); !ok || len(arr) != 2 || !isInf(arr[0], 1) || arr[1] != float64(1) {
		t.Fatalf("Map[1] = %#v", out[1])
	}
}

// A handler could not return NaN or Infinity, not even as a
// json.RawMessage (encoding/json validates it): the job failed.
func TestHandlerReturnsNaNAndInfinity(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"nan":    func(context.Context, *saq.Job) (any, error) { return math.NaN(), nil },
		"inf":    func(context.Context, *saq.Job) (any, error) { return math.Inf(1), nil },
		"ninf32": func(context.Context, *saq.Job) (any, error) { return float32(math.Inf(-1)), nil },
		"raw": func(context.Context, *saq.Job) (any, error) {
			return json.RawMessage(`{"x": NaN, "y": [Infinity, -Infinity], "n": 12345678901234567890}`), nil
		},
		"rawnul":  func(context.Context, *saq.Job) (any, error) { return json.RawMessage("1\x00{"), nil },
		"rawbad":  func(context.Context, *saq.Job) (any, error) { return json.RawMessage(`{"x": nan}`), nil },
		"nested":  func(context.Context, *saq.Job) (any, error) { return map[string]any{"x": math.NaN()}, nil },
		"rawnull": func(context.Context, *saq.Job) (any, error) { return json.RawMessage(nil), nil },
	})
	opt := saq.WithTimeout(10 * time.Second)
	if res, err := q.Apply(c, "nan", nil, opt); err != nil || !isNaN(res) {
		t.Errorf("nan: %#v, %v", res, err)
	}
	if res, err := q.Apply(c, "inf", nil, opt); err != nil || !isInf(res, 1) {
		t.Errorf("inf: %#v, %v", res, err)
	}
	if res, err := q.Apply(c, "ninf32", nil, opt); err != nil || !isInf(res, -1) {
		t.Errorf("ninf32: %#v, %v", res, err)
	}
	if res, err := q.Apply(c, "rawnull", nil, opt); err != nil || res != nil {
		t.Errorf("rawnull: %#v, %v", res, err)
	}
	j, err := q.Enqueue(c, "raw", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := waitJob(t, q, j.Key, "complete", func(j *saq.Job) bool { return j.Status.Terminal() })
	if done.Status != saq.StatusComplete || string(done.ResultJSON) != `{"x": NaN, "y": [Infinity, -Infinity], "n": 12345678901234567890}` {
		t.Fatalf("raw: %s %q (%s)", done.Status, done.ResultJSON, done.Error)
	}
	m, _ := done.Result.(map[string]any)
	if !isNaN(m["x"]) {
		t.Fatalf("raw: Result = %#v", done.Result)
	}
	var f float64
	var big struct{ N uint64 }
	if err := done.DecodeResult(&big); err == nil {
		t.Fatalf("DecodeResult into a struct of a result with NaN succeeded")
	}
	for fn, text := range map[string]string{"rawnul": "NUL", "rawbad": "", "nested": "json.RawMessage"} {
		_, err := q.Apply(c, fn, nil, opt)
		var je *saq.JobError
		if !errors.As(err, &je) || je.Job.Status != saq.StatusFailed || !strings.Contains(je.Job.Error, text) {
			t.Errorf("Apply(%s) = %v, want a failed job mentioning %q", fn, err, text)
		}
	}
	// Finish takes the same values. On a queue no worker serves: the worker
	// above fails a job of a function it lacks, and its write could land
	// after Finish's.
	idle := newQueue(t)
	k, err := idle.Enqueue(c, "unhandled", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := idle.Finish(c, k.Key, saq.StatusComplete, math.NaN(), ""); !ok || err != nil {
		t.Fatalf("Finish(NaN) = %v, %v", ok, err)
	}
	got, err := idle.Job(c, k.Key)
	if err != nil || string(got.ResultJSON) != "NaN" || got.DecodeResult(&f) != nil || !math.IsNaN(f) {
		t.Fatalf("after Finish(NaN): %q, %v, %v", got.ResultJSON, f, err)
	}
}

// A result holding NaN or Infinity did not decode into a json.RawMessage
// (ApplyInto, ApplyAs, MapResults, Job.DecodeResult), though the error said
// to read the raw JSON: it now comes as it is stored.
func TestRawMessageTakesNaN(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	const doc = `{"x": NaN, "y": [Infinity, -Infinity]}`
	startWorker(t, q, map[string]saq.HandlerFunc{
		"raw": func(context.Context, *saq.Job) (any, error) { return json.RawMessage(doc), nil },
	})
	opt := saq.WithTimeout(10 * time.Second)
	var raw json.RawMessage
	if err := q.ApplyInto(c, "raw", nil, &raw, opt); err != nil || string(raw) != doc {
		t.Errorf("ApplyInto(*json.RawMessage) = %q, %v", raw, err)
	}
	if r, err := saq.ApplyAs[json.RawMessage](c, q, "raw", nil, opt); err != nil || string(r) != doc {
		t.Errorf("ApplyAs[json.RawMessage] = %q, %v", r, err)
	}
	rs, err := saq.MapResults[json.RawMessage](c, q, "raw", []map[string]any{{}, {}}, opt)
	if err != nil || len(rs) != 2 || rs[1].Err != nil || string(rs[1].Value) != doc {
		t.Errorf("MapResults[json.RawMessage] = %+v, %v", rs, err)
	}
	if len(rs) > 0 && rs[0].Job != nil {
		var from json.RawMessage
		if err := rs[0].Job.DecodeResult(&from); err != nil || string(from) != doc {
			t.Errorf("DecodeResult(*json.RawMessage) = %q, %v", from, err)
		}
	}
}
