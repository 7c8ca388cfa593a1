// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"strings"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// W3C Trace Context: a job carries its producer's traceparent in its meta
// ("traceparent", which saq keeps as it is, so it crosses Python saq too),
// and a handler reads it to continue the trace. No tracing library is
// needed; the README shows how OpenTelemetry joins in.

type traceparentKey struct{}

// ContextWithTraceparent returns a copy of ctx carrying tp, a W3C
// traceparent ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>").
// Enqueue, Apply and Map called with that context put tp in the job's meta
// (unless WithTraceparent, or a "traceparent" in WithMeta, says otherwise);
// a malformed tp makes them fail with ErrInvalid. tp "" removes it.
//
// A handler's ctx carries its job's traceparent, so jobs enqueued from a
// handler with its ctx continue the same trace.
func ContextWithTraceparent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceparentKey{}, tp)
}

// TraceparentFromContext returns the traceparent carried by ctx, or "".
// In a handler, it is the job's (Job.Traceparent).
func TraceparentFromContext(ctx context.Context) string {
	tp, _ := ctx.Value(traceparentKey{}).(string)
	return tp
}

// WithTraceparent sets the job's traceparent (meta's "traceparent" field),
// over the one of the call's context; "" enqueues the job without one (the
// context's is not used). A malformed value fails the call with ErrInvalid.
func WithTraceparent(tp string) JobOption {
	return func(s *jobSpec) { s.traceparent = &tp }
}

// Traceparent returns the W3C traceparent the job carries in its meta, or ""
// when it has none or it is malformed.
func (j *Job) Traceparent() string { return j.traceparent }

// traceparentFor is the traceparent a job built from s gets: WithTraceparent's,
// else none when WithMeta has its own, else the context's.
func (s *jobSpec) traceparentFor(ctx context.Context) string {
	if s.traceparent != nil {
		return *s.traceparent
	}
	if _, ok := s.meta["traceparent"]; ok {
		return ""
	}
	return TraceparentFromContext(ctx)
}

// setTraceparent stores tp ("" for none) in the C job's meta; libsaq checks
// its form.
func setTraceparent(c rawJob, tp string) error {
	if tp == "" {
		return nil
	}
	if strings.IndexByte(tp, 0) >= 0 {
		return errorf(saqraw.SAQ_EINVAL, "traceparent must not contain NUL bytes")
	}
	if rc := saqraw.Saq_job_set_traceparent(c, tp); rc != saqraw.SAQ_OK {
		return newError(rc, saqraw.Saq_job_errmsg(c))
	}
	return nil
}

// checkTraceparent checks tp's form as libsaq does, on a scratch job (Map
// passes it in the items' defaults, not on a C job).
func checkTraceparent(tp string) error {
	c := saqraw.Saq_job_new("traceparent")
	if isNil(c) {
		return newError(saqraw.SAQ_ENOMEM, "")
	}
	defer saqraw.Saq_job_free(c)
	return setTraceparent(c, tp)
}
