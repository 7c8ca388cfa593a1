// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// FlowJob is one job of a flow: a function, its kwargs and its options, as
// Enqueue takes them.
type FlowJob struct {
	Function string
	Kwargs   map[string]any
	Options  []JobOption
}

// FlowOption configures EnqueueFlow.
type FlowOption func(*flowSpec)

type flowSpec struct {
	ttl    time.Duration
	hasTTL bool
}

// WithFlowTTL sets how long the flow's record (its members' outcomes, for
// Queue.Flow) is kept after the callback was enqueued: whole seconds, 0 keeps
// it forever. The default is 24 hours.
func WithFlowTTL(d time.Duration) FlowOption {
	return func(s *flowSpec) { s.ttl, s.hasTTL = d, true }
}

// EnqueuedFlow is what EnqueueFlow wrote.
type EnqueuedFlow struct {
	ID       string   // the flow id: the callback's key
	Callback string   // the callback's key
	Members  []string // the members' keys, in order
}

// FlowMember is one member of a flow as the flow records it.
type FlowMember struct {
	Key string
	// Status is "complete", "failed", "aborted" or "missing" (its record was
	// gone: deleted, or expired before the flow saw it end) once the member
	// is terminal; before that its current status ("queued", "active", ...).
	Status string
	Result json.RawMessage // the member's result as stored (nil for none)
	Error  string
}

// FlowInfo is a flow read with Queue.Flow.
type FlowInfo struct {
	ID       string
	State    string // "open", or "done" once the callback was enqueued
	Callback string // the callback's key
	Total    int    // members
	Pending  int    // members not terminal yet
	Created  time.Time
	Done     time.Time // zero while open
	Members  []FlowMember
}

// FlowOutcome is what a flow's callback finds in its kwargs under "flow".
// When the outcomes would make the callback's record larger than the
// enqueuing queue's max_payload_bytes (less 256 bytes), the callback still
// runs, once, and Omitted says what was left out: "result" (every Result
// nil), then "error" too (every Error ""), then "members" (Members empty;
// Total and Statuses count them). Omitted is nil when nothing was left out;
// Queue.Flow still has every outcome.
type FlowOutcome struct {
	ID       string         `json:"id"`
	Members  []FlowMember   `json:"members"`
	Omitted  []string       `json:"omitted,omitempty"`
	Total    int            `json:"total,omitempty"`    // only when "members" is omitted
	Statuses map[string]int `json:"statuses,omitempty"` // status -> count, likewise
}

type flowMemberJSON struct {
	Key    string          `json:"key"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
	Error  *string         `json:"error"`
}

func (m *FlowMember) UnmarshalJSON(b []byte) error {
	var j flowMemberJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	m.Key, m.Status = j.Key, j.Status
	if len(j.Result) > 0 && string(j.Result) != "null" {
		m.Result = j.Result
	}
	if j.Error != nil {
		m.Error = *j.Error
	}
	return nil
}

// FlowOutcomeOf reads the members' outcomes a flow's callback job received
// (its kwargs' "flow"); ok is false when the job is not a flow's callback.
func FlowOutcomeOf(job *Job) (out FlowOutcome, ok bool) {
	var kw struct {
		Flow *FlowOutcome `json:"flow"`
	}
	if job == nil || len(job.KwargsJSON) == 0 || json.Unmarshal(job.KwargsJSON, &kw) != nil || kw.Flow == nil {
		return FlowOutcome{}, false
	}
	return *kw.Flow, true
}

// EnqueueFlow enqueues the members and records the flow in one step (all or
// nothing): the callback is enqueued exactly once, when every member is
// terminal (complete, failed or aborted), with the members' outcomes merged
// into its kwargs as "flow" (FlowOutcomeOf reads them). The flow id is the
// callback's key (WithKey, or a fresh one). ErrAlreadyEnqueued when a flow
// with that id is recorded already; an *Error with code SAQ_ESTATE when a
// member's key is already enqueued (nothing is written then); ErrInvalid for
// no member, a key used twice, or callback kwargs that have "flow". Members
// finished by Python saq workers are recorded by a libsaq worker's periodic
// check (about every 2 s) or by Queue.Flow.
func (q *Queue) EnqueueFlow(ctx context.Context, members []FlowJob, callback FlowJob, opts ...FlowOption) (*EnqueuedFlow, error) {
	var spec flowSpec
	for _, o := range opts {
		o(&spec)
	}
	cb, err := q.flowCJob(ctx, callback)
	if err != nil {
		return nil, err
	}
	f := saqraw.Saq_flow_new(cb)
	saqraw.Saq_job_free(cb)
	if isNil(f) {
		return nil, newError(saqraw.SAQ_ENOMEM, "")
	}
	defer saqraw.Saq_flow_free(f)
	if spec.hasTTL {
		secs := int64(spec.ttl / time.Second)
		if spec.ttl < 0 || secs > maxCInt {
			return nil, errorf(saqraw.SAQ_EINVAL, "flow ttl must be within 0..%d s", maxCInt)
		}
		saqraw.Saq_flow_set_ttl(f, int(secs))
	}
	for i, m := range members {
		c, err := q.flowCJob(ctx, m)
		if err != nil {
			return nil, err
		}
		rc := saqraw.Saq_flow_add(f, c)
		saqraw.Saq_job_free(c)
		if rc != saqraw.SAQ_OK {
			return nil, errorf(rc, "flow member %d: its key is the callback's or another member's", i)
		}
	}
	var out *EnqueuedFlow
	err = q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_enqueue_flow(raw, f, cq, tag)
	}, func(ev rawEvent) error {
		if saqraw.Saq_event_int(ev) == 0 {
			return ErrAlreadyEnqueued
		}
		out = &EnqueuedFlow{}
		if err := json.Unmarshal([]byte(saqraw.Saq_event_json(ev)), out); err != nil {
			return fmt.Errorf("saq: flow enqueue reply: %w", err)
		}
		return nil
	})
	return out, err
}

func (e *EnqueuedFlow) UnmarshalJSON(b []byte) error {
	var j struct {
		ID       string   `json:"id"`
		Callback string   `json:"callback"`
		Members  []string `json:"members"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = EnqueuedFlow{ID: j.ID, Callback: j.Callback, Members: j.Members}
	return nil
}

func (q *Queue) flowCJob(ctx context.Context, fj FlowJob) (saqraw.Struct_SS_saq_job, error) {
	spec, err := buildSpec(fj.Options)
	if err != nil {
		return nil, err
	}
	c, err := newCJob(fj.Function, fj.Kwargs, spec)
	if err != nil {
		return nil, err
	}
	if err := setTraceparent(c, spec.traceparentFor(ctx)); err != nil {
		saqraw.Saq_job_free(c)
		return nil, err
	}
	return c, nil
}

// Flow reads a flow by id, after recording the outcome of any member found
// terminal (and enqueuing the callback when that was the last one), with
// every member's outcome (whatever the callback got). A member whose outcome
// is malformed in Redis has Status "unknown" and an Error saying so.
// ErrNotFound when no flow has that id (never enqueued, or expired);
// ErrProto when the flow's own fields in Redis are malformed.
func (q *Queue) Flow(ctx context.Context, id string) (*FlowInfo, error) {
	if err := checkName("flow id", id); err != nil {
		return nil, err
	}
	var info *FlowInfo
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_flow(raw, id, cq, tag)
	}, func(ev rawEvent) error {
		var j struct {
			ID        string       `json:"id"`
			State     string       `json:"state"`
			Callback  string       `json:"callback"`
			Total     int          `json:"total"`
			Pending   int          `json:"pending"`
			CreatedMs int64        `json:"created_ms"`
			DoneMs    int64        `json:"done_ms"`
			Members   []FlowMember `json:"members"`
		}
		if err := json.Unmarshal([]byte(saqraw.Saq_event_json(ev)), &j); err != nil {
			return fmt.Errorf("saq: flow reply: %w", err)
		}
		info = &FlowInfo{ID: j.ID, State: j.State, Callback: j.Callback, Total: j.Total,
			Pending: j.Pending, Created: time.UnixMilli(j.CreatedMs), Members: j.Members}
		if j.DoneMs > 0 {
			info.Done = time.UnixMilli(j.DoneMs)
		}
		return nil
	})
	return info, err
}
