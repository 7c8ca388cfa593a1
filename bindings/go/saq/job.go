// SPDX-License-Identifier: MIT
package saq

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// Status is a job status as saq writes it ("queued", "active", ...).
type Status string

// Job statuses (saq 0.26).
const (
	StatusNew      Status = "new"
	StatusQueued   Status = "queued"
	StatusActive   Status = "active"
	StatusAborting Status = "aborting"
	StatusAborted  Status = "aborted"
	StatusFailed   Status = "failed"
	StatusComplete Status = "complete"
)

// Terminal reports whether s is a final status (complete, failed, aborted),
// as libsaq decides it.
func (s Status) Terminal() bool {
	return strings.IndexByte(string(s), 0) < 0 && saqraw.Saq_status_terminal(string(s)) != 0
}

// Job is a snapshot of a saq job record. Values returned by Queue methods are
// copies: changing them changes nothing in Redis.
//
// Units follow Go conventions; on the wire, saq keeps timeout, heartbeat,
// ttl, retry_delay and scheduled in seconds and queued, started, completed
// and touched in epoch milliseconds, and libsaq converts exactly.
//
// A *Job handed to a worker handler is also the handler's lease on the job:
// Touch and Update heartbeat it and CancelReason tells why its context was
// cancelled. Those methods fail with ErrInvalid on other jobs.
type Job struct {
	Function string // registered function name
	Key      string // job key (unique per queue)
	ID       string // Redis key of the record: "saq:job:<queue>:<key>"
	Queue    string // queue name

	// Kwargs are the keyword arguments decoded as encoding/json decodes an
	// any (numbers become float64, so integers beyond 2^53 are rounded);
	// NaN and Infinity written by Python become math.NaN() and math.Inf, and
	// a number beyond float64's range a json.Number. nil when the job has
	// none. KwargsJSON keeps the exact text (DecodeKwargs into an int64 or
	// uint64 field reads big integers exactly).
	Kwargs     map[string]any
	KwargsJSON json.RawMessage

	Status Status
	// Result is the job's result decoded as Kwargs are (nil when it has
	// none); ResultJSON keeps the exact text.
	Result     any
	ResultJSON json.RawMessage
	Error      string // error text of a failed, aborted or retried job

	// Meta is arbitrary user metadata; MetaJSON keeps the exact text.
	Meta     map[string]any
	MetaJSON json.RawMessage
	WorkerID string // id of the worker that last ran the job

	Timeout         time.Duration // run-time limit; 0 means none
	Heartbeat       time.Duration // maximum time between touches; 0 means off
	Retries         int           // maximum total attempts
	TTL             time.Duration // how long the record is kept once done (whole seconds); 0 forever, < 0 deleted at once
	RetryDelay      time.Duration // base delay between attempts
	RetryBackoff    bool          // exponential backoff of RetryDelay
	RetryBackoffCap time.Duration // cap of the backoff; 0 means none
	Scheduled       time.Time     // when the job is due; zero means now
	Progress        float64       // 0..1
	Attempts        int           // processing attempts started

	Queued    time.Time // last enqueue
	Started   time.Time // start of the current attempt
	Completed time.Time // terminal state reached
	Touched   time.Time // last update or heartbeat

	lease       *lease // set for jobs handed to a worker handler
	traceparent string // saq_job_traceparent: meta's well-formed "traceparent", or ""
}

// DecodeKwargs unmarshals the job's keyword arguments into v (a pointer to a
// struct or map), the way json.Unmarshal does. encoding/json cannot put
// Python's NaN or Infinity into a struct or map field: such kwargs decode
// into an *any (as Kwargs holds them), or read KwargsJSON.
func (j *Job) DecodeKwargs(v any) error {
	if len(j.KwargsJSON) == 0 {
		return json.Unmarshal([]byte("{}"), v)
	}
	return decodeInto(j.KwargsJSON, v)
}

// DecodeResult unmarshals the job's result into v, the way json.Unmarshal
// does. A job without a result decodes as JSON null. A result that is
// Python's NaN or ±Infinity decodes into a *float64, *float32 or *any; one
// holding them deeper only into an *any, or as it is into a *json.RawMessage.
func (j *Job) DecodeResult(v any) error {
	if len(j.ResultJSON) == 0 {
		return json.Unmarshal([]byte("null"), v)
	}
	return decodeInto(j.ResultJSON, v)
}

func isNil(p interface{ Swigcptr() uintptr }) bool { return p == nil || p.Swigcptr() == 0 }

func msToTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func secToTime(s float64) time.Time {
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return time.Time{}
	}
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9)))
}

func secToDur(s float64) time.Duration {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0
	}
	ns := math.Round(s * float64(time.Second))
	// float64(math.MaxInt64) rounds up to 2^63, which does not convert back.
	if ns >= float64(math.MaxInt64) {
		return time.Duration(math.MaxInt64)
	}
	if ns <= float64(math.MinInt64) {
		return time.Duration(math.MinInt64)
	}
	return time.Duration(ns)
}

// maxCInt is the largest value libsaq's C int parameters take; the SWIG
// layer would silently truncate a larger Go int.
const maxCInt = math.MaxInt32

func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// jobFromC copies a C job into a new Job (nil for a NULL job).
func jobFromC(c saqraw.Struct_SS_saq_job) *Job {
	if isNil(c) {
		return nil
	}
	j := &Job{
		Function:        saqraw.Saq_job_function(c),
		Key:             saqraw.Saq_job_key(c),
		ID:              saqraw.Saq_job_id(c),
		Queue:           saqraw.Saq_job_queue(c),
		KwargsJSON:      rawJSON(saqraw.Saq_job_kwargs(c)),
		Status:          Status(saqraw.Saq_job_status(c)),
		ResultJSON:      rawJSON(saqraw.Saq_job_result(c)),
		Error:           saqraw.Saq_job_error(c),
		MetaJSON:        rawJSON(saqraw.Saq_job_meta(c)),
		WorkerID:        saqraw.Saq_job_worker_id(c),
		Timeout:         secToDur(saqraw.Saq_job_timeout(c)),
		Heartbeat:       secToDur(saqraw.Saq_job_heartbeat(c)),
		Retries:         saqraw.Saq_job_retries(c),
		TTL:             time.Duration(saqraw.Saq_job_ttl(c)) * time.Second,
		RetryDelay:      secToDur(saqraw.Saq_job_retry_delay(c)),
		RetryBackoff:    saqraw.Saq_job_retry_backoff(c) != 0,
		RetryBackoffCap: secToDur(saqraw.Saq_job_retry_backoff_cap(c)),
		Scheduled:       secToTime(saqraw.Saq_job_scheduled(c)),
		Progress:        saqraw.Saq_job_progress(c),
		Attempts:        saqraw.Saq_job_attempts(c),
		Queued:          msToTime(saqraw.Saq_job_queued_ms(c)),
		Started:         msToTime(saqraw.Saq_job_started_ms(c)),
		Completed:       msToTime(saqraw.Saq_job_completed_ms(c)),
		Touched:         msToTime(saqraw.Saq_job_touched_ms(c)),
		traceparent:     saqraw.Saq_job_traceparent(c),
	}
	if j.KwargsJSON != nil {
		if v, err := decodeJSON(j.KwargsJSON); err == nil {
			j.Kwargs, _ = v.(map[string]any)
		}
	}
	if j.MetaJSON != nil {
		if v, err := decodeJSON(j.MetaJSON); err == nil {
			j.Meta, _ = v.(map[string]any)
		}
	}
	if j.ResultJSON != nil {
		if v, err := decodeJSON(j.ResultJSON); err == nil {
			j.Result = v
		}
	}
	return j
}

// ---- job options ----

// JobOption sets an option of a job built by Enqueue, Apply or Map.
type JobOption func(*jobSpec)

type jobSpec struct {
	key              *string
	timeout          *float64
	heartbeat        *float64
	retries          *int
	ttl              *int
	retryDelay       *float64
	backoff          *float64 // <= 0: uncapped
	scheduled        *float64
	meta             map[string]any
	defaults         map[string]any
	traceparent      *string // WithTraceparent; nil: the context's
	returnExceptions bool
	err              error
}

func (s *jobSpec) fail(format string, args ...any) {
	if s.err == nil {
		s.err = errorf(saqraw.SAQ_EINVAL, format, args...)
	}
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// WithKey sets the job key (default: a fresh uuid1). An incomplete job with
// the same key blocks a new enqueue (ErrAlreadyEnqueued).
func WithKey(key string) JobOption {
	return func(s *jobSpec) {
		if key == "" || strings.IndexByte(key, 0) >= 0 {
			s.fail("job key must be a non-empty string without NUL bytes")
			return
		}
		s.key = &key
	}
}

// WithTimeout sets how long the job may run (saq's timeout, default 10 s);
// 0 means no limit. For Apply and Map it also bounds the wait for the
// result, as in saq.
func WithTimeout(d time.Duration) JobOption {
	return func(s *jobSpec) {
		if d < 0 {
			s.fail("timeout must be >= 0")
			return
		}
		v := seconds(d)
		s.timeout = &v
	}
}

// WithHeartbeat sets the longest time allowed between touches of a running
// job (Job.Touch); a job that misses it is cancelled. 0 disables it.
func WithHeartbeat(d time.Duration) JobOption {
	return func(s *jobSpec) {
		if d < 0 {
			s.fail("heartbeat must be >= 0")
			return
		}
		v := seconds(d)
		s.heartbeat = &v
	}
}

// WithRetries sets the maximum total number of attempts (default 1).
func WithRetries(n int) JobOption {
	return func(s *jobSpec) {
		if n < 0 || n > maxCInt {
			s.fail("retries must be within 0..%d", maxCInt)
			return
		}
		s.retries = &n
	}
}

// WithTTL sets how long the record is kept after the job ends, in whole
// seconds (default 10 minutes): 0 keeps it forever, a negative value deletes
// it at once.
func WithTTL(d time.Duration) JobOption {
	return func(s *jobSpec) {
		secs := d / time.Second
		if secs > maxCInt {
			s.fail("ttl must be at most %d s (0 keeps the record forever)", maxCInt)
			return
		}
		v := int(secs)
		if d < 0 {
			v = -1 // any negative ttl deletes the record at once
		}
		s.ttl = &v
	}
}

// WithRetryDelay sets the base delay before a failed job is retried.
func WithRetryDelay(d time.Duration) JobOption {
	return func(s *jobSpec) {
		if d < 0 {
			s.fail("retry delay must be >= 0")
			return
		}
		v := seconds(d)
		s.retryDelay = &v
	}
}

// WithRetryBackoff enables exponential backoff of the retry delay, capped at
// maxDelay (0 or less: no cap).
func WithRetryBackoff(maxDelay time.Duration) JobOption {
	return func(s *jobSpec) {
		v := seconds(maxDelay)
		s.backoff = &v
	}
}

// WithScheduled makes the job due at t instead of now.
func WithScheduled(t time.Time) JobOption {
	return func(s *jobSpec) {
		if t.IsZero() {
			s.scheduled = nil
			return
		}
		v := float64(t.UnixNano()) / 1e9
		s.scheduled = &v
	}
}

// WithDelay makes the job due d from now.
func WithDelay(d time.Duration) JobOption {
	return func(s *jobSpec) {
		if d <= 0 {
			s.scheduled = nil
			return
		}
		WithScheduled(time.Now().Add(d))(s)
	}
}

// WithMeta sets the job's metadata (a JSON object through encoding/json).
func WithMeta(meta map[string]any) JobOption {
	return func(s *jobSpec) { s.meta = meta }
}

// WithDefaults sets keyword arguments shared by every job of a Map (each
// item overrides them); for Enqueue and Apply they are merged under the
// kwargs argument.
func WithDefaults(kwargs map[string]any) JobOption {
	return func(s *jobSpec) { s.defaults = kwargs }
}

// ReturnExceptions makes Map return failed and aborted jobs as *JobError
// entries of its result slice instead of failing at the first one (saq's
// return_exceptions=True). Other calls ignore it.
func ReturnExceptions() JobOption {
	return func(s *jobSpec) { s.returnExceptions = true }
}

func buildSpec(opts []JobOption) (*jobSpec, error) {
	s := &jobSpec{}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s, s.err
}

func checkName(what, s string) error {
	if s == "" || strings.IndexByte(s, 0) >= 0 {
		return errorf(saqraw.SAQ_EINVAL, "%s must be a non-empty string without NUL bytes", what)
	}
	return nil
}

// checkText refuses NUL bytes in a free text (a reason, an error text),
// which C would cut short silently; "" is allowed.
func checkText(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errorf(saqraw.SAQ_EINVAL, "%s must not contain NUL bytes", what)
	}
	return nil
}

func marshalObject(what string, m map[string]any) (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", errorf(saqraw.SAQ_EJSON, "%s: %v", what, err)
	}
	return string(b), nil
}

// jobFields renders the options of s as saq keyword arguments (job field
// names), the one form both ways of making jobs take: a C job for Enqueue
// and Apply (saq_job_set_call_kwargs), Map's defaults (saq_queue_map).
func jobFields(s *jobSpec) map[string]any {
	m := make(map[string]any, 9)
	if s.key != nil {
		m["key"] = *s.key
	}
	if s.timeout != nil {
		m["timeout"] = *s.timeout
	}
	if s.heartbeat != nil {
		m["heartbeat"] = *s.heartbeat
	}
	if s.retries != nil {
		m["retries"] = *s.retries
	}
	if s.ttl != nil {
		m["ttl"] = *s.ttl
	}
	if s.retryDelay != nil {
		m["retry_delay"] = *s.retryDelay
	}
	if s.backoff != nil {
		if *s.backoff > 0 {
			m["retry_backoff"] = *s.backoff
		} else {
			m["retry_backoff"] = true
		}
	}
	if s.scheduled != nil {
		m["scheduled"] = *s.scheduled
	}
	if s.meta != nil {
		m["meta"] = s.meta
	}
	return m
}

// newCJob builds an owned C job for function with kwargs (over the
// WithDefaults kwargs) and the options of s. The caller frees it with
// saq_job_free.
func newCJob(function string, kwargs map[string]any, s *jobSpec) (saqraw.Struct_SS_saq_job, error) {
	if err := checkName("function name", function); err != nil {
		return nil, err
	}
	fields := jobFields(s)
	if kwargs != nil || len(s.defaults) > 0 {
		all := make(map[string]any, len(s.defaults)+len(kwargs))
		for k, v := range s.defaults {
			all[k] = v
		}
		for k, v := range kwargs {
			all[k] = v
		}
		fields["kwargs"] = all
	}
	js, err := marshalObject("job options and kwargs", fields)
	if err != nil {
		return nil, err
	}
	c := saqraw.Saq_job_new(function)
	if isNil(c) {
		return nil, newError(saqraw.SAQ_ENOMEM, "")
	}
	if rc := saqraw.Saq_job_set_call_kwargs(c, js); rc != saqraw.SAQ_OK {
		err := newError(rc, saqraw.Saq_job_errmsg(c))
		saqraw.Saq_job_free(c)
		return nil, err
	}
	return c, nil
}

// mapDefaults renders the options of s, the shared kwargs and the
// traceparent tp ("" for none; in meta) as the defaults of saq_queue_map
// (its timeout is an argument of its own).
func mapDefaults(s *jobSpec, tp string) (string, error) {
	m := make(map[string]any, len(s.defaults)+9)
	for k, v := range s.defaults {
		m[k] = v
	}
	for k, v := range jobFields(s) {
		if k != "timeout" {
			m[k] = v
		}
	}
	if tp != "" {
		if err := checkTraceparent(tp); err != nil {
			return "", err
		}
		meta := make(map[string]any, len(s.meta)+1)
		for k, v := range s.meta {
			meta[k] = v
		}
		meta["traceparent"] = tp
		m["meta"] = meta
	}
	return marshalObject("defaults", m)
}
