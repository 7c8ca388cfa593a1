// SPDX-License-Identifier: MIT
// Go binding side of libsaq's benchmark harness (bench/run); the protocol is
// that of bench/c/saq_bench.c:
//
//	saq-bench-go enqueue URL QUEUE N INFLIGHT
//	saq-bench-go enqueue-bulk URL QUEUE N CHUNK   Queue.EnqueueMany of CHUNK jobs, sequentially
//	saq-bench-go worker  URL QUEUE CONCURRENCY EXPECT REMAINING
//	saq-bench-go apply   URL QUEUE N
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

func die(what string, err error) {
	fmt.Fprintf(os.Stderr, "saq-bench-go: %s: %v\n", what, err)
	os.Exit(1)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		die("argument", err)
	}
	return n
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func connect(ctx context.Context, url, name string, maxOps int) *saq.Queue {
	q, err := saq.Connect(ctx, url, saq.WithName(name), saq.WithMaxConcurrentOps(maxOps))
	if err != nil {
		die("connect", err)
	}
	if _, err := q.Count(ctx, saq.CountQueued); err != nil {
		die("count", err)
	}
	return q
}

func enqueue(ctx context.Context, url, name string, n, inflight int) {
	q := connect(ctx, url, name, inflight)
	defer q.Close()
	var next int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < inflight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= int64(n) {
				if _, err := q.Enqueue(ctx, "noop", nil); err != nil {
					die("enqueue", err)
				}
			}
		}()
	}
	wg.Wait()
	emit(map[string]any{"jobs": n, "elapsed": time.Since(t0).Seconds()})
}

func enqueueBulk(ctx context.Context, url, name string, n, chunk int) {
	q := connect(ctx, url, name, 20)
	defer q.Close()
	t0 := time.Now()
	for i := 0; i < n; i += chunk {
		k := chunk
		if n-i < k {
			k = n - i
		}
		jobs := make([]saq.BulkJob, k)
		for j := range jobs {
			jobs[j].Function = "noop"
		}
		if _, err := q.EnqueueMany(ctx, jobs); err != nil {
			die("enqueue-bulk", err)
		}
	}
	emit(map[string]any{"jobs": n, "elapsed": time.Since(t0).Seconds()})
}

func worker(ctx context.Context, url, name string, concurrency, expect int, remaining int64) {
	q := connect(ctx, url, name, 20)
	defer q.Close()
	w, err := saq.NewWorker(q, saq.WithConcurrency(concurrency))
	if err != nil {
		die("worker", err)
	}
	var handled int64
	reached := make(chan struct{})
	count := func() {
		if atomic.AddInt64(&handled, 1) == int64(expect) {
			close(reached)
		}
	}
	w.Register("noop", func(ctx context.Context, job *saq.Job) (any, error) {
		count()
		return 1, nil
	})
	w.Register("sleep", func(ctx context.Context, job *saq.Job) (any, error) {
		s, _ := job.Kwargs["s"].(float64)
		time.Sleep(time.Duration(s * float64(time.Second)))
		count()
		return 1, nil
	})
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	if !in.Scan() || strings.TrimSpace(in.Text()) != "go" {
		os.Exit(1)
	}
	t0 := time.Now()
	if err := w.Start(ctx); err != nil {
		die("start", err)
	}
	fmt.Println("started")
	if expect > 0 {
		<-reached
		for {
			left, err := q.Count(ctx, saq.CountIncomplete)
			if err == nil && left <= remaining {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		t1 := time.Now()
		emit(map[string]any{"jobs": expect, "t0": float64(t0.UnixNano()) / 1e9,
			"t1": float64(t1.UnixNano()) / 1e9, "elapsed": t1.Sub(t0).Seconds()})
	}
	for in.Scan() && strings.TrimSpace(in.Text()) != "stop" {
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	w.Stop(sctx)
}

func apply(ctx context.Context, url, name string, n int) {
	q := connect(ctx, url, name, 20)
	defer q.Close()
	lat := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		t := time.Now()
		if _, err := q.Apply(ctx, "noop", nil, saq.WithTimeout(10*time.Second)); err != nil {
			die("apply", err)
		}
		lat = append(lat, float64(time.Since(t).Nanoseconds())/1e6)
	}
	emit(map[string]any{"jobs": n, "lat_ms": lat})
}

func main() {
	a := os.Args[1:]
	ctx := context.Background()
	switch {
	case len(a) >= 5 && a[0] == "enqueue":
		enqueue(ctx, a[1], a[2], atoi(a[3]), atoi(a[4]))
	case len(a) >= 5 && a[0] == "enqueue-bulk":
		enqueueBulk(ctx, a[1], a[2], atoi(a[3]), atoi(a[4]))
	case len(a) >= 6 && a[0] == "worker":
		worker(ctx, a[1], a[2], atoi(a[3]), atoi(a[4]), int64(atoi(a[5])))
	case len(a) >= 4 && a[0] == "apply":
		apply(ctx, a[1], a[2], atoi(a[3]))
	default:
		fmt.Fprintln(os.Stderr, "usage: saq-bench-go enqueue|enqueue-bulk|worker|apply ...")
		os.Exit(2)
	}
}
