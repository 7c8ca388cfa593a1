// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// The snippet of the top-level README.
func Example() {
	ctx := context.Background()
	q, _ := saq.Connect(ctx, "redis://localhost:6379/0", saq.WithName("default"))
	defer q.Close()
	res, err := q.Apply(ctx, "add", map[string]any{"a": 40, "b": 2}, saq.WithTimeout(10*time.Second))
	fmt.Println(res, err)

	w, _ := saq.NewWorker(q, saq.Functions{
		"add": func(ctx context.Context, job *saq.Job) (any, error) {
			return job.Kwargs["a"].(float64) + job.Kwargs["b"].(float64), nil
		},
	})
	w.Run(ctx) // ctx is cancelled on timeout, abort and shutdown inside handlers
}

func ExampleQueue_Enqueue() {
	ctx := context.Background()
	q, err := saq.Connect(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	job, err := q.Enqueue(ctx, "send_email", map[string]any{"to": "a@example.com"},
		saq.WithTimeout(30*time.Second), saq.WithRetries(3), saq.WithRetryDelay(time.Second))
	switch {
	case errors.Is(err, saq.ErrAlreadyEnqueued):
		// a job with this key is still pending
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("enqueued", job.Key)
	}
}

func ExampleWorker_Run() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	q, err := saq.Connect(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	w, err := saq.NewWorker(q, saq.WithConcurrency(10), saq.WithShutdownGracePeriod(10*time.Second),
		saq.Functions{
			"add": func(ctx context.Context, job *saq.Job) (any, error) {
				var args struct{ A, B int }
				if err := job.DecodeKwargs(&args); err != nil {
					return nil, err
				}
				return args.A + args.B, nil
			},
		})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(ctx); err != nil { // until SIGINT or SIGTERM
		log.Fatal(err)
	}
}

func ExampleWithLogger() {
	ctx := context.Background()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// libsaq's records (worker started/stopped, Redis unreachable, a failed
	// handler, ...) for the queue and its workers go to logger
	q, err := saq.Connect(ctx, "redis://localhost:6379/0", saq.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	// silenced: saq.WithLogLevel(saq.LevelOff)
}

func ExampleMetricsHandler() {
	ctx := context.Background()
	q, err := saq.Connect(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	w, err := saq.NewWorker(q, saq.Functions{"noop": func(context.Context, *saq.Job) (any, error) { return nil, nil }})
	if err != nil {
		log.Fatal(err)
	}
	// queue-wide figures from Redis and this worker's own counters and
	// duration histograms, for Prometheus to scrape
	http.Handle("/metrics", saq.MetricsHandler([]*saq.Queue{q}, []*saq.Worker{w}))
	go func() { log.Fatal(http.ListenAndServe(":9100", nil)) }()
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

func ExampleQueue_IterJobs() {
	ctx := context.Background()
	q, err := saq.Connect(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	for job, err := range q.IterJobs(ctx, saq.StatusFailed) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(job.Key, job.Error)
	}
}

func ExampleContextWithTraceparent() {
	ctx := context.Background()
	q, err := saq.Connect(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	// the producer's trace context (from OpenTelemetry, an incoming request, ...)
	ctx = saq.ContextWithTraceparent(ctx, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if _, err := q.Enqueue(ctx, "send", nil); err != nil { // meta["traceparent"] is set
		log.Fatal(err)
	}
	w, _ := saq.NewWorker(q, saq.Functions{"send": func(ctx context.Context, job *saq.Job) (any, error) {
		fmt.Println(saq.TraceparentFromContext(ctx) == job.Traceparent()) // true
		return nil, nil
	}})
	_ = w.Run(ctx)
}

func ExampleApplyAs() {
	ctx := context.Background()
	q, err := saq.Connect(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	sum, err := saq.ApplyAs[int](ctx, q, "add", map[string]any{"a": 40, "b": 2}, saq.WithTimeout(10*time.Second))
	var decodeErr *saq.DecodeError
	switch {
	case errors.As(err, &decodeErr): // the job completed with a result that is not an int
		log.Printf("job %s returned %s", decodeErr.Key, decodeErr.Result)
	case err != nil: // a *saq.JobError, saq.ErrTimeout, ...
		log.Fatal(err)
	default:
		fmt.Println(sum + 1) // an int: no float64 to convert
	}
}

func ExampleMapResults() {
	ctx := context.Background()
	q, err := saq.Connect(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	type thumb struct {
		URL   string `json:"url"`
		Bytes int64  `json:"bytes"`
	}
	results, err := saq.MapResults[thumb](ctx, q, "thumbnail",
		[]map[string]any{{"image": "a.png"}, {"image": "b.png"}}, saq.WithTimeout(time.Minute))
	if err != nil { // the call as a whole: saq.ErrTimeout, ctx.Err(), ...
		log.Fatal(err)
	}
	for _, r := range results {
		var jobErr *saq.JobError
		switch {
		case errors.As(r.Err, &jobErr): // the job failed or was aborted
			fmt.Println(jobErr.Job.Key, jobErr.Job.Status, jobErr.Job.Error)
		case r.Err != nil: // a *saq.DecodeError (its Key and Result say which and what)
			fmt.Println(r.Err)
		default:
			fmt.Println(r.Value.URL, r.Value.Bytes)
		}
	}
}
