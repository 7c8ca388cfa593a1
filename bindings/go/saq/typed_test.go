// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

type profile struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
	ID   int64    `json:"id"`
}

// typedHandlers return results of several shapes for the typed Apply/Map
// tests.
func typedHandlers() map[string]saq.HandlerFunc {
	return map[string]saq.HandlerFunc{
		"add": add,
		"profile": func(ctx context.Context, job *saq.Job) (any, error) {
			return map[string]any{"name": job.Kwargs["name"], "tags": []string{"a", "b"}, "id": json.Number("9007199254740993")}, nil
		},
		// 2^53+1: exact in an int64, rounded in Apply's float64
		"big": func(ctx context.Context, job *saq.Job) (any, error) {
			return json.RawMessage("9007199254740993"), nil
		},
		"text": func(ctx context.Context, job *saq.Job) (any, error) { return "not a number", nil },
		"none": func(ctx context.Context, job *saq.Job) (any, error) { return nil, nil },
		"nan":  func(ctx context.Context, job *saq.Job) (any, error) { return math.NaN(), nil },
		"fail": func(ctx context.Context, job *saq.Job) (any, error) {
			return nil, errors.New("ValueError: bad input")
		},
		// x: 2 fails, x: "s" returns a string, others return x
		"check": func(ctx context.Context, job *saq.Job) (any, error) {
			if job.Kwargs["x"] == float64(2) {
				return nil, errors.New("item 2 is bad")
			}
			return job.Kwargs["x"], nil
		},
	}
}

func TestApplyTyped(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	startWorker(t, q, typedHandlers())

	sum, err := saq.ApplyAs[int](c, q, "add", map[string]any{"a": 40, "b": 2}, saq.WithTimeout(10*time.Second))
	if err != nil || sum != 42 {
		t.Fatalf("ApplyAs[int](add) = %v, %v", sum, err)
	}
	p, err := saq.ApplyAs[profile](c, q, "profile", map[string]any{"name": "ada"})
	if err != nil || !reflect.DeepEqual(p, profile{Name: "ada", Tags: []string{"a", "b"}, ID: 9007199254740993}) {
		t.Fatalf("ApplyAs[profile] = %+v, %v", p, err)
	}
	var big int64
	if err := q.ApplyInto(c, "big", nil, &big); err != nil || big != 9007199254740993 {
		t.Fatalf("ApplyInto(&int64) = %d, %v", big, err)
	}
	if res, err := q.Apply(c, "big", nil); err != nil || res != float64(9007199254740992) {
		t.Fatalf("Apply(big) = %v, %v (the untyped form rounds)", res, err)
	}
	f, err := saq.ApplyAs[float64](c, q, "nan", nil)
	if err != nil || !math.IsNaN(f) {
		t.Fatalf("ApplyAs[float64](nan) = %v, %v", f, err)
	}
	ptr, err := saq.ApplyAs[*int](c, q, "none", nil)
	if err != nil || ptr != nil {
		t.Fatalf("ApplyAs[*int](none) = %v, %v", ptr, err)
	}

	// a result of another type: a *DecodeError naming the job
	n, err := saq.ApplyAs[int](c, q, "text", nil, saq.WithKey("typed-text"))
	var de *saq.DecodeError
	var ute *json.UnmarshalTypeError
	if n != 0 || !errors.As(err, &de) || !errors.Is(err, saq.ErrJSON) || !errors.As(err, &ute) {
		t.Fatalf("ApplyAs[int](text) = %v, %v (%T); want a *DecodeError", n, err, err)
	}
	if de.Key != "typed-text" || de.Index != 0 || string(de.Result) != `"not a number"` || !strings.Contains(err.Error(), "typed-text") {
		t.Fatalf("DecodeError = %+v (%v)", de, err)
	}
	if !strings.HasPrefix(err.Error(), `saq: the result of job "typed-text" does not decode`) {
		t.Fatalf("Apply's DecodeError reads as a Map's: %v", err) // was "result 0 of job ..."
	}
	// a failed job: the *JobError of Apply
	_, err = saq.ApplyAs[int](c, q, "fail", nil)
	var je *saq.JobError
	if !errors.As(err, &je) || !errors.Is(err, saq.ErrJob) || !strings.Contains(je.Job.Error, "bad input") {
		t.Fatalf("ApplyAs(fail) = %v", err)
	}

	// out must be a non-nil pointer, checked before anything is enqueued
	idle := newQueue(t)
	var nilPtr *int
	for _, out := range []any{nil, 3, nilPtr} {
		if err := idle.ApplyInto(c, "add", nil, out); !errors.Is(err, saq.ErrInvalid) {
			t.Errorf("ApplyInto(out %#v) = %v, want ErrInvalid", out, err)
		}
	}
	if n, err := idle.Count(c, saq.CountIncomplete); err != nil || n != 0 {
		t.Fatalf("jobs enqueued by refused ApplyInto calls: %d, %v", n, err)
	}
	// Apply's other errors come through unchanged
	if _, err := saq.ApplyAs[int](c, idle, "nobody", nil, saq.WithTimeout(200*time.Millisecond)); !errors.Is(err, saq.ErrTimeout) {
		t.Fatalf("ApplyAs without a worker = %v, want ErrTimeout", err)
	}
}

func TestMapTyped(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	startWorker(t, q, typedHandlers())

	sums, err := saq.MapAs[int](c, q, "add", []map[string]any{{"a": 1, "b": 1}, {"a": 2}}, saq.WithDefaults(map[string]any{"b": 10}))
	if err != nil || !reflect.DeepEqual(sums, []int{2, 12}) {
		t.Fatalf("MapAs[int] = %v, %v", sums, err)
	}
	if none, err := saq.MapAs[int](c, q, "add", nil); err != nil || none == nil || len(none) != 0 {
		t.Fatalf("MapAs of no items = %#v, %v", none, err)
	}
	fs, err := saq.MapAs[float64](c, q, "nan", []map[string]any{{"key": "n1"}, {"key": "n2"}})
	if err != nil || len(fs) != 2 || !math.IsNaN(fs[0]) || !math.IsNaN(fs[1]) {
		t.Fatalf("MapAs[float64](nan) = %v, %v", fs, err)
	}

	items := []map[string]any{{"x": 1}, {"x": 2}, {"x": "s"}, {"x": 4}}
	// MapAs: the first failure ends it, as Map does
	var je *saq.JobError
	if out, err := saq.MapAs[int](c, q, "check", items); out != nil || !errors.As(err, &je) || !strings.Contains(je.Job.Error, "item 2 is bad") {
		t.Fatalf("MapAs with a failing job = %v, %v", out, err)
	}
	var de *saq.DecodeError
	if out, err := saq.MapAs[int](c, q, "check", []map[string]any{{"x": 1}, {"x": "s", "key": "typed-s"}}); out != nil || !errors.As(err, &de) || de.Index != 1 || de.Key != "typed-s" ||
		!strings.HasPrefix(err.Error(), `saq: result 1 of job "typed-s" does not decode`) {
		t.Fatalf("MapAs with a string result = %v, %v", out, err)
	}
	if _, err := saq.MapAs[int](c, q, "check", items, saq.ReturnExceptions()); !errors.Is(err, saq.ErrInvalid) || !strings.Contains(err.Error(), "MapResults") {
		t.Fatalf("MapAs(ReturnExceptions) = %v, want ErrInvalid", err)
	}

	// MapResults: every outcome, each failure typed in its own field
	rs, err := saq.MapResults[int](c, q, "check", items)
	if err != nil || len(rs) != 4 {
		t.Fatalf("MapResults = %v, %v", rs, err)
	}
	for i, want := range []int{1, 0, 0, 4} {
		if rs[i].Value != want || rs[i].Job == nil {
			t.Errorf("MapResults[%d] = %+v, want value %d and a job", i, rs[i], want)
		}
	}
	if rs[0].Err != nil || rs[3].Err != nil || rs[0].Job.Status != saq.StatusComplete {
		t.Errorf("MapResults: completed entries = %+v, %+v", rs[0], rs[3])
	}
	if !errors.As(rs[1].Err, &je) || !errors.Is(rs[1].Err, saq.ErrJob) || je.Job.Status != saq.StatusFailed ||
		!strings.Contains(je.Job.Error, "item 2 is bad") || rs[1].Job.Key != je.Job.Key {
		t.Errorf("MapResults: failed entry = %+v", rs[1])
	}
	if !errors.As(rs[2].Err, &de) || !errors.Is(rs[2].Err, saq.ErrJSON) || de.Index != 2 || de.Key != rs[2].Job.Key ||
		string(de.Result) != `"s"` || rs[2].Job.Status != saq.StatusComplete {
		t.Errorf("MapResults: undecodable entry = %+v (%v)", rs[2], rs[2].Err)
	}
	// into an any, a mixed map reads everything
	anys, err := saq.MapResults[any](c, q, "check", items, saq.ReturnExceptions())
	if err != nil || anys[0].Value != float64(1) || anys[2].Value != "s" || anys[1].Err == nil || anys[1].Value != nil {
		t.Fatalf("MapResults[any] = %+v, %v", anys, err)
	}

	// errors of the call as a whole: no results
	idle := newQueue(t)
	if rs, err := saq.MapResults[int](c, idle, "nobody", []map[string]any{{}}, saq.WithTimeout(300*time.Millisecond)); rs != nil || !errors.Is(err, saq.ErrTimeout) {
		t.Fatalf("MapResults without a worker = %v, %v; want ErrTimeout", rs, err)
	}
	if rs, err := saq.MapResults[int](c, idle, "", nil); rs != nil || !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("MapResults with no function = %v, %v; want ErrInvalid", rs, err)
	}
}
