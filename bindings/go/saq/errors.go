// SPDX-License-Identifier: MIT
package saq

import (
	"errors"
	"fmt"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// Error is an error reported by libsaq. Code is one of libsaq's stable
// negative SAQ_E* codes, Name its symbolic name ("SAQ_ETIMEDOUT") and Msg the
// detailed message of the failed call.
//
// Compare errors with errors.Is against the sentinel values (ErrTimeout,
// ErrNotFound, ...): two *Error values match when their codes are equal.
type Error struct {
	Code int
	Name string
	Msg  string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Msg == "" {
		return "saq: " + e.Name
	}
	return "saq: " + e.Msg + " (" + e.Name + ")"
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, saq.ErrNotFound) works for any error wrapping an *Error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func sentinel(code int) *Error {
	return &Error{Code: code, Name: saqraw.Saq_err_name(code), Msg: saqraw.Saq_strerror(code)}
}

// Sentinel errors, one per libsaq error code. Use them with errors.Is.
var (
	ErrInvalid    = sentinel(saqraw.SAQ_EINVAL)       // an argument is out of range or of the wrong type
	ErrNoMemory   = sentinel(saqraw.SAQ_ENOMEM)       // out of memory
	ErrTimeout    = sentinel(saqraw.SAQ_ETIMEDOUT)    // a deadline of libsaq passed
	ErrClosed     = sentinel(saqraw.SAQ_ECLOSED)      // the queue or worker is closing or closed
	ErrForked     = sentinel(saqraw.SAQ_EFORKED)      // a handle was used in a forked child
	ErrRedis      = sentinel(saqraw.SAQ_EREDIS)       // Redis answered with an error reply
	ErrProto      = sentinel(saqraw.SAQ_EPROTO)       // a record in Redis is malformed
	ErrConn       = sentinel(saqraw.SAQ_ECONN)        // the connection to Redis failed or was lost
	ErrURL        = sentinel(saqraw.SAQ_EURL)         // the Redis URL cannot be used
	ErrJSON       = sentinel(saqraw.SAQ_EJSON)        // JSON does not parse or has the wrong shape
	ErrNotFound   = sentinel(saqraw.SAQ_ENOTFOUND)    // the job does not exist
	ErrWrongQueue = sentinel(saqraw.SAQ_EWRONGQUEUE)  // the job belongs to another queue
	ErrJob        = sentinel(saqraw.SAQ_EJOB)         // the job failed or was aborted (Apply, Map); see JobError
	ErrUnknownKey = sentinel(saqraw.SAQ_EUNKNOWN_KEY) // no such configuration key
	ErrCron       = sentinel(saqraw.SAQ_ECRON)        // a cron expression does not parse
	ErrState      = sentinel(saqraw.SAQ_ESTATE)       // the call is not valid in the current state
	ErrTooBig     = sentinel(saqraw.SAQ_ETOOBIG)      // a payload exceeds Redis's 512 MiB limit
	ErrUVVersion  = sentinel(saqraw.SAQ_EUVVERSION)   // the process's libuv is too old
	ErrTLS        = sentinel(saqraw.SAQ_ETLS)         // TLS failed: a certificate or key file, the server's certificate, or the handshake
)

// ErrAlreadyEnqueued is returned by Enqueue when a job with the same key is
// still incomplete (or its abort marker exists), so nothing was written.
// Python saq returns None in that case.
var ErrAlreadyEnqueued = errors.New("saq: a job with this key is already enqueued")

// newError builds an *Error for code; msg "" uses libsaq's description.
func newError(code int, msg string) *Error {
	if msg == "" {
		msg = saqraw.Saq_strerror(code)
	}
	return &Error{Code: code, Name: saqraw.Saq_err_name(code), Msg: msg}
}

// errorf builds an *Error with a formatted message.
func errorf(code int, format string, args ...any) *Error {
	return newError(code, fmt.Sprintf(format, args...))
}

// JobError is returned by Apply and Map (and stored in Map's results with
// ReturnExceptions) when a job ended failed or aborted. Job is its final
// record; Job.Error holds the job's error text. errors.Is(err, ErrJob) holds.
type JobError struct {
	Job *Job
	Err *Error
}

// Error implements the error interface.
func (e *JobError) Error() string {
	if e.Job == nil {
		return e.Err.Error()
	}
	msg := fmt.Sprintf("saq: job %s %s", e.Job.ID, e.Job.Status)
	if e.Job.Error != "" {
		msg += ": " + e.Job.Error
	}
	return msg
}

// Unwrap returns the underlying *Error (code SAQ_EJOB).
func (e *JobError) Unwrap() error { return e.Err }
