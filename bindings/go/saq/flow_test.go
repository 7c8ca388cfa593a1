// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// A flow's callback runs once, after every member ended, with their outcomes.
func TestFlowCallbackOnceWithOutcomes(t *testing.T) {
	q := newQueue(t)
	var runs atomic.Int32
	got := make(chan saq.FlowOutcome, 4)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"add": add,
		"boom": func(ctx context.Context, j *saq.Job) (any, error) {
			return nil, errors.New("boom")
		},
		"done": func(ctx context.Context, j *saq.Job) (any, error) {
			runs.Add(1)
			out, ok := saq.FlowOutcomeOf(j)
			if !ok {
				t.Errorf("callback without flow outcomes: %s", j.KwargsJSON)
			}
			if j.Kwargs["note"] != "hi" {
				t.Errorf("callback lost its kwargs: %s", j.KwargsJSON)
			}
			got <- out
			return "ok", nil
		},
	})
	members := []saq.FlowJob{
		{Function: "add", Kwargs: map[string]any{"a": 1, "b": 2}, Options: []saq.JobOption{saq.WithKey("g1")}},
		{Function: "boom", Options: []saq.JobOption{saq.WithKey("g2"), saq.WithRetries(1)}},
		{Function: "add", Kwargs: map[string]any{"a": 20, "b": 22}, Options: []saq.JobOption{saq.WithKey("g3")}},
	}
	cb := saq.FlowJob{Function: "done", Kwargs: map[string]any{"note": "hi"}, Options: []saq.JobOption{saq.WithKey("go-flow")}}
	ef, err := q.EnqueueFlow(ctx(t), members, cb, saq.WithFlowTTL(time.Hour))
	if err != nil {
		t.Fatalf("EnqueueFlow: %v", err)
	}
	if ef.ID != "go-flow" || ef.Callback != "go-flow" || len(ef.Members) != 3 || ef.Members[2] != "g3" {
		t.Fatalf("EnqueueFlow: %+v", ef)
	}
	if _, err := q.EnqueueFlow(ctx(t), members, cb); !errors.Is(err, saq.ErrAlreadyEnqueued) {
		t.Fatalf("the same flow again: %v, want ErrAlreadyEnqueued", err)
	}
	out := awaitOutcome(t, got)
	if out.ID != "go-flow" || len(out.Members) != 3 {
		t.Fatalf("outcome: %+v", out)
	}
	want := [][2]string{{"g1", "complete"}, {"g2", "failed"}, {"g3", "complete"}}
	for i, w := range want {
		if out.Members[i].Key != w[0] || out.Members[i].Status != w[1] {
			t.Errorf("member %d: %+v, want %v", i, out.Members[i], w)
		}
	}
	if string(out.Members[2].Result) != "42" || out.Members[1].Error == "" || out.Members[0].Error != "" {
		t.Errorf("outcomes: %+v", out.Members)
	}
	waitJob(t, q, "go-flow", "complete", func(j *saq.Job) bool { return j.Status == saq.StatusComplete })
	time.Sleep(2500 * time.Millisecond) // a periodic check or two: still once
	if n := runs.Load(); n != 1 {
		t.Fatalf("callback ran %d times", n)
	}
	info, err := q.Flow(ctx(t), "go-flow")
	if err != nil {
		t.Fatalf("Flow: %v", err)
	}
	if info.State != "done" || info.Pending != 0 || info.Total != 3 || info.Done.IsZero() || info.Members[1].Status != "failed" {
		t.Fatalf("Flow: %+v", info)
	}
}

// awaitOutcome is the outcome a callback sent on got, within 15 s.
func awaitOutcome(t *testing.T, got <-chan saq.FlowOutcome) saq.FlowOutcome {
	t.Helper()
	select {
	case out := <-got:
		return out
	case <-time.After(15 * time.Second):
		t.Fatal("the callback did not run")
	}
	return saq.FlowOutcome{}
}

// Outcomes too big for max_payload_bytes: the callback still runs once, told
// what was left out; Queue.Flow has them all.
func TestFlowOutcomesOverMaxPayload(t *testing.T) {
	q := newQueue(t, saq.WithMaxPayloadBytes(16384))
	big := strings.Repeat("x", 3000)
	got := make(chan saq.FlowOutcome, 4)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"big": func(ctx context.Context, j *saq.Job) (any, error) { return big, nil },
		"done": func(ctx context.Context, j *saq.Job) (any, error) {
			out, _ := saq.FlowOutcomeOf(j)
			got <- out
			return nil, nil
		},
	})
	var members []saq.FlowJob
	for i := 0; i < 7; i++ {
		members = append(members, saq.FlowJob{Function: "big", Options: []saq.JobOption{saq.WithKey(fmt.Sprintf("b%d", i))}})
	}
	cb := saq.FlowJob{Function: "done", Options: []saq.JobOption{saq.WithKey("go-big")}}
	if _, err := q.EnqueueFlow(ctx(t), members, cb); err != nil {
		t.Fatalf("EnqueueFlow: %v", err)
	}
	out := awaitOutcome(t, got)
	if len(out.Omitted) != 1 || out.Omitted[0] != "result" || len(out.Members) != 7 ||
		out.Members[6].Status != "complete" || out.Members[6].Result != nil {
		t.Fatalf("outcome: %+v", out)
	}
	info, err := q.Flow(ctx(t), "go-big")
	if err != nil || string(info.Members[6].Result) != `"`+big+`"` {
		t.Fatalf("Flow: %v %+v", err, info)
	}
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-got:
		t.Fatal("the callback ran twice")
	default:
	}
}

// Members finished outside a libsaq worker (as a Python saq worker finishes
// them) are picked up by Queue.Flow; refusals write nothing.
func TestFlowFinishedElsewhereAndRefusals(t *testing.T) {
	q := newQueue(t)
	members := []saq.FlowJob{
		{Function: "py", Options: []saq.JobOption{saq.WithKey("p1")}},
		{Function: "py", Options: []saq.JobOption{saq.WithKey("p2")}},
	}
	if _, err := q.EnqueueFlow(ctx(t), members, saq.FlowJob{Function: "cb", Options: []saq.JobOption{saq.WithKey("fl")}}); err != nil {
		t.Fatalf("EnqueueFlow: %v", err)
	}
	info, err := q.Flow(ctx(t), "fl")
	if err != nil || info.State != "open" || info.Pending != 2 || info.Members[0].Status != "queued" {
		t.Fatalf("Flow: %+v %v", info, err)
	}
	for _, k := range []string{"p1", "p2"} {
		if _, err := q.Finish(ctx(t), k, saq.StatusComplete, 7, ""); err != nil {
			t.Fatalf("Finish: %v", err)
		}
	}
	info, err = q.Flow(ctx(t), "fl")
	if err != nil || info.State != "done" || string(info.Members[1].Result) != "7" {
		t.Fatalf("Flow after the members ended: %+v %v", info, err)
	}
	j, err := q.Job(ctx(t), "fl")
	if err != nil || j.Status != saq.StatusQueued {
		t.Fatalf("callback: %+v %v", j, err)
	}
	if out, ok := saq.FlowOutcomeOf(j); !ok || out.Members[0].Status != "complete" {
		t.Fatalf("callback kwargs: %s", j.KwargsJSON)
	}

	if _, err := q.Flow(ctx(t), "nope"); !errors.Is(err, saq.ErrNotFound) {
		t.Fatalf("Flow of an unknown id: %v", err)
	}
	if _, err := q.EnqueueFlow(ctx(t), nil, saq.FlowJob{Function: "cb"}); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("no member: %v", err)
	}
	dup := []saq.FlowJob{{Function: "x", Options: []saq.JobOption{saq.WithKey("d")}}, {Function: "x", Options: []saq.JobOption{saq.WithKey("d")}}}
	if _, err := q.EnqueueFlow(ctx(t), dup, saq.FlowJob{Function: "cb"}); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("a key twice: %v", err)
	}
	if _, err := q.Enqueue(ctx(t), "x", nil, saq.WithKey("taken")); err != nil {
		t.Fatal(err)
	}
	clash := []saq.FlowJob{{Function: "x", Options: []saq.JobOption{saq.WithKey("free")}}, {Function: "x", Options: []saq.JobOption{saq.WithKey("taken")}}}
	if _, err := q.EnqueueFlow(ctx(t), clash, saq.FlowJob{Function: "cb", Options: []saq.JobOption{saq.WithKey("f2")}}); !errors.Is(err, saq.ErrState) {
		t.Fatalf("a member already enqueued: %v", err)
	}
	if _, err := q.Job(ctx(t), "free"); !errors.Is(err, saq.ErrNotFound) {
		t.Fatalf("a refused flow wrote its member: %v", err)
	}
	bad := saq.FlowJob{Function: "cb", Kwargs: map[string]any{"flow": 1}}
	if _, err := q.EnqueueFlow(ctx(t), members[:1], bad); !errors.Is(err, saq.ErrInvalid) {
		t.Fatalf("callback kwargs with flow: %v", err)
	}
}

// A flow on a Redis Cluster queue: every key of the flow is in the queue's
// hash slot, so the one script runs on its master (no CROSSSLOT); with
// min_replicas the flow enqueue waits for a replica as an enqueue does.
func TestFlowCluster(t *testing.T) {
	t.Parallel()
	url := envURL(t, "REDIS_CLUSTER_URL", "tests/support/with-redis --cluster -- go test ./...")
	tags := strings.Fields(os.Getenv("REDIS_CLUSTER_QUEUES"))
	if len(tags) == 0 {
		t.Fatalf("REDIS_CLUSTER_QUEUES is empty")
	}
	q, err := saq.Connect(ctx(t), url, saq.WithName(queueName(t)+"-"+tags[0]), saq.WithMinReplicas(1, 5*time.Second))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	done := make(chan saq.FlowOutcome, 2)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"add": add,
		"done": func(ctx context.Context, j *saq.Job) (any, error) {
			out, _ := saq.FlowOutcomeOf(j)
			done <- out
			return nil, nil
		},
	})
	members := []saq.FlowJob{
		{Function: "add", Kwargs: map[string]any{"a": 1, "b": 1}, Options: []saq.JobOption{saq.WithKey("c1")}},
		{Function: "add", Kwargs: map[string]any{"a": 2, "b": 2}, Options: []saq.JobOption{saq.WithKey("c2")}},
	}
	if _, err := q.EnqueueFlow(ctx(t), members, saq.FlowJob{Function: "done", Options: []saq.JobOption{saq.WithKey("cl-flow")}}); err != nil {
		t.Fatalf("EnqueueFlow: %v", err)
	}
	select {
	case out := <-done:
		if len(out.Members) != 2 || string(out.Members[1].Result) != "4" {
			t.Fatalf("outcome: %+v", out)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the callback did not run")
	}
	if info, err := q.Flow(ctx(t), "cl-flow"); err != nil || info.State != "done" {
		t.Fatalf("Flow: %+v %v", info, err)
	}
}
