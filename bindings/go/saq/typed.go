// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// Typed results of Apply and Map.
//
// Go methods cannot have type parameters, so the generic forms are
// functions taking the queue: saq.ApplyAs[int](ctx, q, "add", kwargs).
// Results are decoded the way Job.DecodeResult decodes (encoding/json, plus
// Python's NaN and ±Infinity into a float64, float32 or any).

// DecodeError is returned by ApplyInto, ApplyAs and MapAs, and stored in
// MapResult.Err by MapResults, when a job completed but its result does not
// decode into the type asked for. errors.Is(err, ErrJSON) holds, and
// errors.As reaches encoding/json's error (e.g. *json.UnmarshalTypeError).
type DecodeError struct {
	Key    string          // the job's key; "" when its record is gone (a negative TTL)
	Index  int             // the position in Map's results; 0 for Apply
	Result json.RawMessage // the result as stored (JSON, maybe with Python's NaN or Infinity)
	Err    error           // why it does not decode

	mapped bool // from Map: Index says which result
}

// Error implements the error interface.
func (e *DecodeError) Error() string {
	if !e.mapped {
		return fmt.Sprintf("saq: the result of job %q does not decode: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("saq: result %d of job %q does not decode: %v", e.Index, e.Key, e.Err)
}

// Unwrap returns ErrJSON and the decoding error, for errors.Is and errors.As.
func (e *DecodeError) Unwrap() []error { return []error{ErrJSON, e.Err} }

// MapResult is the outcome of one job of MapResults.
type MapResult[T any] struct {
	// Value is the job's result decoded into T; the zero T when Err is set.
	Value T
	// Err is nil when the job completed and its result decoded; a
	// *JobError when it failed or was aborted (errors.Is(Err, ErrJob);
	// Err.Job.Error holds its error text); a *DecodeError when it completed
	// but its result does not decode into T.
	Err error
	// Job is the job's final record (key, status, attempts, times, the
	// result's exact text in ResultJSON); nil when the record is gone (a
	// negative TTL deletes it at once).
	Job *Job
}

// ApplyInto is Apply that decodes the job's result into out, a non-nil
// pointer, as json.Unmarshal does (a None/null result sets a pointer, map,
// slice or interface to nil and leaves other values as they are). It
// returns nil, or Apply's errors (a *JobError when the job failed or was
// aborted, ErrTimeout, ctx.Err(), ...), or a *DecodeError when the job
// completed but its result does not fit out (out may then be partly
// written). An out that is not a non-nil pointer is ErrInvalid, before
// anything is enqueued. Blocks like Apply; safe for concurrent use.
func (q *Queue) ApplyInto(ctx context.Context, function string, kwargs map[string]any, out any, opts ...JobOption) error {
	if v := reflect.ValueOf(out); v.Kind() != reflect.Pointer || v.IsNil() {
		return errorf(saqraw.SAQ_EINVAL, "ApplyInto: out must be a non-nil pointer, not %T", out)
	}
	ev, err := q.applyEvent(ctx, function, kwargs, opts)
	if err != nil {
		return err
	}
	defer saqraw.Saq_event_free(ev)
	return decodeEntry([]byte(saqraw.Saq_event_json(ev)), jobKey(saqraw.Saq_event_job(ev)), -1, out)
}

// ApplyAs is Apply with the result decoded into a T:
//
//	sum, err := saq.ApplyAs[int](ctx, q, "add", map[string]any{"a": 1, "b": 2})
//
// Errors are ApplyInto's; on error it returns the zero T.
func ApplyAs[T any](ctx context.Context, q *Queue, function string, kwargs map[string]any, opts ...JobOption) (T, error) {
	var out T
	if err := q.ApplyInto(ctx, function, kwargs, &out, opts...); err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// MapAs is Map with every result decoded into a T, in item order (one per
// distinct job, as Map). The first job that fails or is aborted ends it
// with a *JobError, and a result that does not decode into T with a
// *DecodeError; MapResults returns every job's outcome instead. The
// ReturnExceptions option is refused (ErrInvalid): use MapResults.
func MapAs[T any](ctx context.Context, q *Queue, function string, items []map[string]any, opts ...JobOption) ([]T, error) {
	spec, err := buildSpec(opts)
	if err != nil {
		return nil, err
	}
	if spec.returnExceptions {
		return nil, errorf(saqraw.SAQ_EINVAL, "MapAs does not take ReturnExceptions: MapResults returns every job's outcome")
	}
	out := []T{}
	err = q.mapEntries(ctx, function, items, spec, false, func(i int, text []byte, j saqraw.Struct_SS_saq_job) error {
		var v T
		if err := decodeEntry(text, jobKey(j), i, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MapResults is Map that waits for every job (saq's return_exceptions=True)
// and returns one MapResult per distinct job, in item order: the result
// decoded into a T, or the job's failure as a *JobError, or a *DecodeError,
// each in its own field. The returned error is for the call as a whole
// (ErrTimeout, ctx.Err(), ErrConn, bad items, ...); then there are no
// results. ReturnExceptions is implied.
func MapResults[T any](ctx context.Context, q *Queue, function string, items []map[string]any, opts ...JobOption) ([]MapResult[T], error) {
	spec, err := buildSpec(opts)
	if err != nil {
		return nil, err
	}
	out := []MapResult[T]{}
	err = q.mapEntries(ctx, function, items, spec, true, func(i int, text []byte, j saqraw.Struct_SS_saq_job) error {
		var r MapResult[T]
		if !isNil(j) {
			r.Job = jobFromC(j)
		}
		if r.Job != nil && failedStatus(r.Job.Status) {
			r.Err = jobFailure(r.Job)
		} else if err := decodeEntry(text, jobKey(j), i, &r.Value); err != nil {
			var zero T
			r.Value, r.Err = zero, err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mapEntries runs Map and calls each, in item order, with every entry's
// index, result text and job (borrowed: nil when its record is gone); an
// error from each ends it.
func (q *Queue) mapEntries(ctx context.Context, function string, items []map[string]any, spec *jobSpec, returnExceptions bool,
	each func(i int, text []byte, j saqraw.Struct_SS_saq_job) error) error {
	ev, err := q.mapEvent(ctx, function, items, spec, returnExceptions)
	if err != nil {
		return err
	}
	defer saqraw.Saq_event_free(ev)
	texts, err := splitArray([]byte(saqraw.Saq_event_json(ev)))
	if err != nil {
		return errorf(saqraw.SAQ_EPROTO, "map results: %v", err)
	}
	for i, text := range texts {
		if err := each(i, text, mapJobAt(ev, i)); err != nil {
			return err
		}
	}
	return nil
}

// jobKey is a job's key, "" for a nil job.
func jobKey(j saqraw.Struct_SS_saq_job) string {
	if isNil(j) {
		return ""
	}
	return saqraw.Saq_job_key(j)
}

// decodeEntry decodes one result (text "" is null) into out, or returns a
// *DecodeError naming the job; index is Map's result index, -1 for Apply.
func decodeEntry(text []byte, key string, index int, out any) error {
	if len(text) == 0 {
		text = []byte("null")
	}
	if err := decodeInto(text, out); err != nil {
		return &DecodeError{Key: key, Index: max(index, 0), Result: json.RawMessage(text), Err: err, mapped: index >= 0}
	}
	return nil
}
