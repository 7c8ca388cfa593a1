// SPDX-License-Identifier: MIT
// asynq (github.com/hibiken/asynq v0.26.0), the Go peer of the Go binding in
// libsaq's benchmark harness (bench/run); the protocol is that of
// bench/c/saq_bench.c:
//
//	saq-bench-asynq enqueue URL QUEUE N INFLIGHT   N x Client.Enqueue("noop"), at most INFLIGHT in flight
//	saq-bench-asynq fill    URL QUEUE N [SLEEPFILE] pre-enqueue (not a measurement)
//	saq-bench-asynq worker  URL QUEUE CONCURRENCY EXPECT REMAINING
//
// asynq v0.26.0 has no bulk enqueue (its Client has Enqueue and
// EnqueueContext only; task groups aggregate on the server, they do not batch
// the client's writes) and no apply (no call that waits for a task's result:
// one would poll Inspector.GetTaskInfo), so there is no enqueue-bulk and no
// apply subcommand.
//
// The worker is an asynq.Server with Queues {QUEUE: 1} and Concurrency
// CONCURRENCY; its Redis pool is CONCURRENCY + 10 connections (go-redis's
// default, 10 per GOMAXPROCS, would make 100 slots share 20 connections).
// Tasks run once and are deleted when done (no Retention), as asynq does by
// default; drained = asynq:{QUEUE}:pending and :active hold at most REMAINING
// tasks once EXPECT handler runs happened.
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

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

func die(what string, err error) {
	fmt.Fprintf(os.Stderr, "saq-bench-asynq: %s: %v\n", what, err)
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

func connOpt(url string, pool int) asynq.RedisClientOpt {
	o, err := asynq.ParseRedisURI(url)
	if err != nil {
		die("url", err)
	}
	c, ok := o.(asynq.RedisClientOpt)
	if !ok {
		die("url", fmt.Errorf("not a plain redis:// url: %s", url))
	}
	c.PoolSize = pool
	return c
}

// enqueueAll submits n tasks from `lanes` goroutines, one call at a time each;
// task(i) makes the i-th.
func enqueueAll(c *asynq.Client, name string, n, lanes int, task func(i int) *asynq.Task) float64 {
	var next int64 = -1
	var wg sync.WaitGroup
	t0 := time.Now()
	for l := 0; l < lanes; l++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(n) {
					return
				}
				if _, err := c.Enqueue(task(int(i)), asynq.Queue(name)); err != nil {
					die("enqueue", err)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(t0).Seconds()
}

// client: an asynq.Client on a go-redis pool of `pool` connections, all
// opened before it returns (the other drivers connect before their clock
// starts too; go-redis would open them lazily, inside the timed part).
func client(url string, pool int) *asynq.Client {
	opt := connOpt(url, pool)
	rdb := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB, Password: opt.Password,
		Username: opt.Username, TLSConfig: opt.TLSConfig, PoolSize: pool})
	ctx := context.Background()
	conns := make([]*redis.Conn, pool)
	for i := range conns {
		conns[i] = rdb.Conn()
		if err := conns[i].Ping(ctx).Err(); err != nil {
			die("connect", err)
		}
	}
	for _, c := range conns {
		c.Close() // back to the pool, open
	}
	return asynq.NewClientFromRedisClient(rdb)
}

func enqueue(url, name string, n, inflight int) {
	c := client(url, inflight)
	defer c.Close()
	el := enqueueAll(c, name, n, inflight, func(int) *asynq.Task { return asynq.NewTask("noop", nil) })
	emit(map[string]any{"jobs": n, "elapsed": el})
}

func fill(url, name string, n int, sleepfile string) {
	var sleeps []string
	if sleepfile != "" {
		b, err := os.ReadFile(sleepfile)
		if err != nil {
			die("sleep file", err)
		}
		sleeps = strings.Fields(string(b))
		if len(sleeps) < n {
			die("sleep file", fmt.Errorf("%d lines for %d jobs", len(sleeps), n))
		}
	}
	c := client(url, 100)
	defer c.Close()
	el := enqueueAll(c, name, n, 100, func(i int) *asynq.Task {
		if sleeps != nil {
			return asynq.NewTask("sleep", []byte(`{"s": `+sleeps[i]+`}`))
		}
		return asynq.NewTask("noop", nil)
	})
	emit(map[string]any{"jobs": n, "elapsed": el})
}

func worker(url, name string, concurrency, expect int, remaining int64) {
	opt := connOpt(url, concurrency+10)
	rdb := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB, Password: opt.Password,
		Username: opt.Username, TLSConfig: opt.TLSConfig})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		die("connect", err)
	}
	var handled int64
	reached := make(chan struct{})
	count := func() {
		if atomic.AddInt64(&handled, 1) == int64(expect) {
			close(reached)
		}
	}
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(ctx context.Context, t *asynq.Task) error {
		count()
		return nil
	})
	mux.HandleFunc("sleep", func(ctx context.Context, t *asynq.Task) error {
		var kw struct{ S float64 }
		if err := json.Unmarshal(t.Payload(), &kw); err != nil {
			return err
		}
		time.Sleep(time.Duration(kw.S * float64(time.Second)))
		count()
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: concurrency, Queues: map[string]int{name: 1},
		LogLevel: asynq.WarnLevel, ShutdownTimeout: time.Second})
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	if !in.Scan() || strings.TrimSpace(in.Text()) != "go" {
		os.Exit(1)
	}
	t0 := time.Now()
	if err := srv.Start(mux); err != nil {
		die("start", err)
	}
	fmt.Println("started")
	if expect > 0 {
		<-reached
		pending, active := "asynq:{"+name+"}:pending", "asynq:{"+name+"}:active"
		for {
			p := rdb.Pipeline()
			a, b := p.LLen(ctx, pending), p.LLen(ctx, active)
			_, err := p.Exec(ctx)
			if err == nil && a.Val()+b.Val() <= remaining {
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
	srv.Shutdown()
}

func main() {
	a := os.Args[1:]
	switch {
	case len(a) >= 5 && a[0] == "enqueue":
		enqueue(a[1], a[2], atoi(a[3]), atoi(a[4]))
	case len(a) >= 4 && a[0] == "fill":
		sf := ""
		if len(a) >= 5 {
			sf = a[4]
		}
		fill(a[1], a[2], atoi(a[3]), sf)
	case len(a) >= 6 && a[0] == "worker":
		worker(a[1], a[2], atoi(a[3]), atoi(a[4]), int64(atoi(a[5])))
	default:
		fmt.Fprintln(os.Stderr, "usage: saq-bench-asynq enqueue|fill|worker ... (asynq has no bulk enqueue and no apply)")
		os.Exit(2)
	}
}
