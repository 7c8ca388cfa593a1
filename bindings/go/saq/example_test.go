// SPDX-License-Identifier: MIT
package saq_test

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
