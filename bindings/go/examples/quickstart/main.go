// SPDX-License-Identifier: MIT
// Command quickstart is the smallest complete libsaq program in Go: it
// enqueues jobs on a Redis queue and runs them with a Go worker in the same
// process, then checks the results.
//
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/quickstart
//
// It exits with status 1 if anything goes wrong. The jobs are ordinary saq
// jobs: a Python saq 0.26 worker could run them, and Python could enqueue
// "add" for this worker.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// add is a job handler: it reads its keyword arguments and returns a result
// that is stored as JSON in the job record.
func add(ctx context.Context, job *saq.Job) (any, error) {
	var args struct{ A, B int }
	if err := job.DecodeKwargs(&args); err != nil {
		return nil, err
	}
	return args.A + args.B, nil
}

func run(ctx context.Context, url, name string) error {
	q, err := saq.Connect(ctx, url, saq.WithName(name))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer q.Close()

	w, err := saq.NewWorker(q, saq.Functions{"add": add}, saq.WithConcurrency(4))
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Stop(sctx); err != nil {
			log.Printf("worker stop: %v", err)
		}
	}()

	// Fire and forget, then follow the job's status updates until it ends.
	// Subscribe first so that no update is missed.
	key := fmt.Sprintf("quickstart-%d", time.Now().UnixNano())
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	updates, err := q.Subscribe(lctx, []string{key}, 0)
	if err != nil {
		return err
	}
	if _, err := q.Enqueue(ctx, "add", map[string]any{"a": 1, "b": 2}, saq.WithKey(key), saq.WithTimeout(5*time.Second)); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	for u := range updates.C {
		fmt.Printf("job %s is %s\n", u.Key, u.Status)
		if u.Status.Terminal() {
			updates.Stop()
		}
	}
	if err := updates.Err(); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	final, err := q.Job(ctx, key)
	if err != nil {
		return fmt.Errorf("job %s: %w", key, err)
	}
	if final.Status != saq.StatusComplete || final.Result != float64(3) {
		return fmt.Errorf("job %s ended %s with result %v (error %q)", key, final.Status, final.Result, final.Error)
	}
	fmt.Printf("job %s: %s, 1 + 2 = %v\n", final.Key, final.Status, final.Result)

	// Enqueue and wait for the result in one call.
	res, err := q.Apply(ctx, "add", map[string]any{"a": 40, "b": 2}, saq.WithTimeout(5*time.Second))
	var jobErr *saq.JobError
	switch {
	case errors.As(err, &jobErr):
		return fmt.Errorf("the job failed: %s", jobErr.Job.Error)
	case errors.Is(err, saq.ErrTimeout):
		return errors.New("no worker answered in time")
	case err != nil:
		return err
	}
	if res != float64(42) {
		return fmt.Errorf("apply returned %v, want 42", res)
	}
	fmt.Printf("apply: 40 + 2 = %v\n", res)

	// Many jobs at once.
	results, err := q.Map(ctx, "add", []map[string]any{{"a": 1, "b": 1}, {"a": 2, "b": 2}}, saq.WithTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("map: %w", err)
	}
	fmt.Printf("map: %v\n", results)

	// The same with typed results: each job's int, or its failure on its own
	// (the second job fails: "x" is not a number).
	typed, err := saq.MapResults[int](ctx, q, "add", []map[string]any{{"a": 1, "b": 1}, {"a": "x", "b": 2}}, saq.WithTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("map results: %w", err)
	}
	if typed[0].Err != nil || typed[0].Value != 2 || !errors.As(typed[1].Err, &jobErr) {
		return fmt.Errorf("map results: %+v", typed)
	}
	fmt.Printf("map results: %d; job %s %s: %s\n", typed[0].Value, jobErr.Job.Key, jobErr.Job.Status, jobErr.Job.Error)
	return nil
}

func main() {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://localhost:6379/0"
	}
	name := os.Getenv("SAQ_QUEUE")
	if name == "" {
		name = "quickstart"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, url, name); err != nil {
		log.Fatalf("quickstart (libsaq %s): %v", saq.Version(), err)
	}
	fmt.Println("quickstart: ok")
}
