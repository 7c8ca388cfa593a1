// SPDX-License-Identifier: MIT
package saq_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// tlsURL returns the rediss:// URL of the test server's TLS port
// (tests/support/with-redis --tls), or skips the test (run-tests.sh fails on
// skips).
func tlsURL(t testing.TB) string {
	t.Helper()
	return envURL(t, "REDIS_TLS_URL", "tests/support/with-redis --tls -- go test ./...")
}

// TestTLSRoundTrip: the rediss:// URL with redis-py's ssl_ca_certs parameter,
// passed unchanged: enqueue, a worker on the same TLS queue runs the job, and
// Apply waits for a result (pub/sub over TLS).
func TestTLSRoundTrip(t *testing.T) {
	t.Parallel()
	url := tlsURL(t)
	c := ctx(t)
	q, err := saq.Connect(c, url, saq.WithName(queueName(t)))
	if err != nil {
		t.Fatalf("Connect(%s): %v", url, err)
	}
	t.Cleanup(func() { q.Close() })
	startWorker(t, q, map[string]saq.HandlerFunc{"add": add})
	job, err := q.Enqueue(c, "add", map[string]any{"a": 40, "b": 2})
	if err != nil {
		t.Fatal(err)
	}
	done := waitJob(t, q, job.Key, "complete", func(j *saq.Job) bool { return j.Status.Terminal() })
	if done.Status != saq.StatusComplete || done.Result != float64(42) {
		t.Fatalf("job over TLS = %+v", done)
	}
	if res, err := q.Apply(c, "add", map[string]any{"a": 1, "b": 2}); err != nil || res != float64(3) {
		t.Fatalf("Apply over TLS = %v, %v", res, err)
	}
	// the same job as the plaintext port of the same server sees it
	plain := newQueue(t, saq.WithName(q.Name()))
	if j, err := plain.Job(c, job.Key); err != nil || j.Status != saq.StatusComplete {
		t.Fatalf("the job read over the plaintext port = %+v, %v", j, err)
	}
}

// TestTLSWrongCA: a server certificate the given CA did not sign is a TLS
// error (ErrTLS), not a connection error, and its message says why.
func TestTLSWrongCA(t *testing.T) {
	t.Parallel()
	url := tlsURL(t)
	if !strings.Contains(url, "/ca.pem") {
		t.Fatalf("REDIS_TLS_URL %s has no ssl_ca_certs=.../ca.pem", url)
	}
	wrong := strings.Replace(url, "/ca.pem", "/other-ca.pem", 1)
	q, err := saq.Connect(ctx(t), wrong, saq.WithName(queueName(t)))
	if err == nil {
		q.Close()
		t.Fatalf("Connect(%s) succeeded with a CA that did not sign the server's certificate", wrong)
	}
	var e *saq.Error
	if !errors.Is(err, saq.ErrTLS) || !errors.As(err, &e) || e.Name != "SAQ_ETLS" {
		t.Fatalf("Connect with the wrong CA = %v, want ErrTLS (SAQ_ETLS)", err)
	}
	if !strings.Contains(e.Msg, "certificate") {
		t.Fatalf("the TLS error does not name the certificate: %q", e.Msg)
	}
}
