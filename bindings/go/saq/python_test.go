// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// The Python peer: saq 0.26 enqueues "add", waits for the job to end and
// prints the record it reads back with queue.job(key).
const pythonEnqueue = `
import asyncio, json, sys
from saq import Queue

async def main(url, name):
    queue = Queue.from_url(url, name=name)
    job = await queue.enqueue("add", a=1, b=2, timeout=10)
    for _ in range(400):
        got = await queue.job(job.key)
        if got is not None and got.status in ("complete", "failed", "aborted"):
            break
        await asyncio.sleep(0.025)
    status = getattr(got.status, "value", got.status)
    print(json.dumps({"key": job.key, "status": status, "result": got.result,
                      "attempts": got.attempts, "worker_id": got.worker_id}))
    await queue.disconnect()

asyncio.run(main(sys.argv[1], sys.argv[2]))
`

// TestPythonEnqueueGoWorker: a job enqueued by Python saq 0.26 is run by the
// Go worker, and Python reads the result.
func TestPythonEnqueueGoWorker(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	python := os.Getenv("SAQ_PYTHON")
	if python == "" {
		t.Fatal("SAQ_PYTHON is not set: it must name a python with saq[redis]==0.26.3 installed " +
			"(python3 -m venv /tmp/venv-saq026 && /tmp/venv-saq026/bin/pip install 'saq[redis]==0.26.3'; SAQ_PYTHON=/tmp/venv-saq026/bin/python)")
	}
	q := newQueue(t)
	seenCh := make(chan *saq.Job, 1)
	w := startWorker(t, q, map[string]saq.HandlerFunc{
		"add": func(ctx context.Context, job *saq.Job) (any, error) {
			select {
			case seenCh <- job:
			default:
			}
			return add(ctx, job)
		},
	})
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(c, python, "-c", pythonEnqueue, url, q.Name())
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python peer: %v\n%s", err, stderr)
	}
	var got struct {
		Key      string  `json:"key"`
		Status   string  `json:"status"`
		Result   float64 `json:"result"`
		Attempts int     `json:"attempts"`
		WorkerID string  `json:"worker_id"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &got); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if got.Status != "complete" || got.Result != 3 || got.Attempts != 1 || got.WorkerID != w.ID() {
		t.Fatalf("python read back %+v (worker %s)", got, w.ID())
	}
	var seen *saq.Job
	select {
	case seen = <-seenCh:
	default:
	}
	if seen == nil || seen.Key != got.Key || seen.Kwargs["a"] != float64(1) || seen.Timeout != 10*time.Second {
		t.Fatalf("the Go handler saw %+v", seen)
	}
}

const pythonNonFinite = `
import asyncio, json, sys
from saq import Queue

async def main(url, name):
    queue = Queue.from_url(url, name=name)
    got = await queue.apply("echo", x=float("nan"), y=float("-inf"), n=12345678901234567890, timeout=10)
    print(json.dumps(got))
    await queue.disconnect()

asyncio.run(main(sys.argv[1], sys.argv[2]))
`

// Python's NaN and Infinity reach a Go handler, which hands them back
// exactly (json.RawMessage), and Python reads them as floats again.
func TestPythonNaNThroughGoWorker(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	python := os.Getenv("SAQ_PYTHON")
	if python == "" {
		t.Fatal("SAQ_PYTHON is not set: it must name a python where pip install 'saq[redis]==0.26.3' was run")
	}
	q := newQueue(t)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"echo": func(ctx context.Context, job *saq.Job) (any, error) {
			if x, _ := job.Kwargs["x"].(float64); !math.IsNaN(x) {
				return nil, fmt.Errorf("kwargs x = %#v, want NaN", job.Kwargs["x"])
			}
			return job.KwargsJSON, nil
		},
	})
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(c, python, "-c", pythonNonFinite, url, q.Name()).CombinedOutput()
	if err != nil {
		t.Fatalf("python peer: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != `{"x": NaN, "y": -Infinity, "n": 12345678901234567890}` {
		t.Fatalf("python read back %s", got)
	}
}
