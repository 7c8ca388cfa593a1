// SPDX-License-Identifier: MIT
// Command soak-worker is the Go worker of the chaos soak (tests/chaos/soak),
// on the libsaq Go binding.
//
//	soak-worker --url URL --queue NAME --id ID --concurrency N --log FILE
//
// soak(ms, fail_until) follows the contract of soak_worker.c: "S <key>
// <attempt> <epoch ms>" when a run starts, "E <key> <attempt> <epoch ms>
// ok|fail" just before it settles, one O_APPEND write per line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

var logFile *os.File

func line(format string, a ...any) {
	if _, err := logFile.WriteString(fmt.Sprintf(format, a...) + "\n"); err != nil {
		log.Printf("log: %v", err)
	}
}

func soak(ctx context.Context, job *saq.Job) (any, error) {
	var args struct {
		Ms        float64 `json:"ms"`
		FailUntil int     `json:"fail_until"`
	}
	attempt := job.Attempts
	line("S %s %d %d", job.Key, attempt, time.Now().UnixMilli())
	if err := job.DecodeKwargs(&args); err != nil {
		return nil, err
	}
	time.Sleep(time.Duration(args.Ms * float64(time.Millisecond)))
	if attempt <= args.FailUntil {
		line("E %s %d %d fail", job.Key, attempt, time.Now().UnixMilli())
		return nil, errors.New("RuntimeError: planned failure")
	}
	line("E %s %d %d ok", job.Key, attempt, time.Now().UnixMilli())
	return attempt, nil
}

func main() {
	url := flag.String("url", "", "Redis URL")
	queue := flag.String("queue", "default", "queue name")
	id := flag.String("id", "", "worker id")
	conc := flag.Int("concurrency", 10, "concurrency")
	logPath := flag.String("log", "", "run log")
	flag.Parse()
	var err error
	if logFile, err = os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	q, err := saq.Connect(ctx, *url, saq.WithName(*queue))
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	w, err := saq.NewWorker(q, saq.Functions{"soak": soak}, saq.WithConcurrency(*conc), saq.WithWorkerID(*id))
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready", *id)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Stop(sctx); err != nil {
		log.Printf("stop: %v", err)
	}
}
