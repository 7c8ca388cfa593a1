// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"encoding/json"
	"iter"
	"strings"
	"time"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// Overview holds queue-wide figures read from Redis (Queue.Overview). They
// are the same from any process (a producer, a worker, a tool), and built
// from saq's own keys and worker registry, so Python saq workers count too.
type Overview struct {
	Queue string    // the queue name
	Time  time.Time // Redis's clock when the figures were read
	Jobs  JobCounts // jobs not finished yet, by state
	// OldestQueuedAge is how long the job at the head of the queue (the
	// next to run) has waited since it was enqueued; 0 when nothing is
	// queued (Jobs.Queued == 0).
	OldestQueuedAge time.Duration
	Workers         []WorkerInfo // the live workers of the registry
	WorkersAlive    int          // len(Workers)
	// Totals are the sums of the live workers' counters (which start at 0
	// when a worker starts, so they are not all-time totals).
	Totals Counters
	// PerMinute are the rates over the last minute or so; nil until
	// libsaq's samples span 20 s (a libsaq worker or Overview call samples
	// the registry at most every 5 s).
	PerMinute *Rates
	// Paused tells whether the queue is paused (Queue.Pause), and since
	// when (zero when not paused).
	Paused      bool
	PausedSince time.Time
	// Raw is the whole document as libsaq returned it.
	Raw json.RawMessage
}

// JobCounts are the unfinished jobs of a queue by state. Finished jobs
// (complete, failed, aborted) are not counted: saq keeps no index of them
// (Queue.IterJobs finds them).
type JobCounts struct {
	Queued     int64 // waiting to run now
	Active     int64 // taken by a worker
	Scheduled  int64 // not due yet (a future time or a retry delay)
	Incomplete int64 // all of the above
}

// Counters are job outcome counters.
type Counters struct {
	Complete int64
	Failed   int64
	Retried  int64
	Aborted  int64
}

// WorkerInfo is one live worker of a queue's registry, of any language.
type WorkerInfo struct {
	ID string
	Counters
	Uptime   time.Duration
	Metadata map[string]any // the worker's metadata (WithMetadata); nil if none
	Libsaq   bool           // a libsaq worker (else Python saq, or another)
}

// Rates are outcomes per minute over the last Window.
type Rates struct {
	Complete float64
	Failed   float64
	Retried  float64
	Aborted  float64
	Window   time.Duration
}

type overviewCounters struct {
	Complete float64 `json:"complete"`
	Failed   float64 `json:"failed"`
	Retried  float64 `json:"retried"`
	Aborted  float64 `json:"aborted"`
}

func (c overviewCounters) counters() Counters {
	return Counters{Complete: int64(c.Complete), Failed: int64(c.Failed), Retried: int64(c.Retried), Aborted: int64(c.Aborted)}
}

type overviewDoc struct {
	Queue  string  `json:"queue"`
	TimeMS float64 `json:"time_ms"`
	Jobs   struct {
		Queued     float64 `json:"queued"`
		Active     float64 `json:"active"`
		Scheduled  float64 `json:"scheduled"`
		Incomplete float64 `json:"incomplete"`
	} `json:"jobs"`
	Oldest  *float64 `json:"oldest_queued_age_s"`
	Workers []struct {
		ID string `json:"id"`
		overviewCounters
		UptimeMS float64         `json:"uptime_ms"`
		Metadata json.RawMessage `json:"metadata"`
		Libsaq   bool            `json:"libsaq"`
	} `json:"workers"`
	Alive     float64          `json:"workers_alive"`
	Totals    overviewCounters `json:"totals"`
	PerMinute *struct {
		overviewCounters
		WindowS float64 `json:"window_s"`
	} `json:"per_minute"`
	Paused      bool     `json:"paused"`
	PausedSince *float64 `json:"paused_since_ms"`
}

// parseOverview decodes saq_queue_overview's document.
func parseOverview(doc string) (*Overview, error) {
	var d overviewDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return nil, errorf(saqraw.SAQ_EPROTO, "overview: %v", err)
	}
	o := &Overview{
		Queue: d.Queue,
		Time:  msToTime(int64(d.TimeMS)),
		Jobs: JobCounts{Queued: int64(d.Jobs.Queued), Active: int64(d.Jobs.Active),
			Scheduled: int64(d.Jobs.Scheduled), Incomplete: int64(d.Jobs.Incomplete)},
		WorkersAlive: int(d.Alive),
		Totals:       d.Totals.counters(),
		Workers:      make([]WorkerInfo, 0, len(d.Workers)),
		Raw:          json.RawMessage(doc),
		Paused:       d.Paused,
	}
	if d.PausedSince != nil {
		o.PausedSince = msToTime(int64(*d.PausedSince))
	}
	if d.Oldest != nil {
		o.OldestQueuedAge = secToDur(*d.Oldest)
	}
	for _, w := range d.Workers {
		wi := WorkerInfo{ID: w.ID, Counters: w.counters(), Libsaq: w.Libsaq,
			Uptime: time.Duration(w.UptimeMS * float64(time.Millisecond))}
		if len(w.Metadata) > 0 {
			if v, err := decodeJSON(w.Metadata); err == nil {
				wi.Metadata, _ = v.(map[string]any)
			}
		}
		o.Workers = append(o.Workers, wi)
	}
	if p := d.PerMinute; p != nil {
		o.PerMinute = &Rates{Complete: p.Complete, Failed: p.Failed, Retried: p.Retried, Aborted: p.Aborted,
			Window: secToDur(p.WindowS)}
	}
	return o, nil
}

// Overview reads the queue-wide figures: unfinished jobs by state, the age
// of the oldest queued job, the live workers (Python saq ones too) and their
// counters, and outcomes per minute.
func (q *Queue) Overview(ctx context.Context) (*Overview, error) {
	var o *Overview
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_overview(raw, cq, tag)
	}, func(ev rawEvent) error {
		var err error
		o, err = parseOverview(saqraw.Saq_event_json(ev))
		return err
	})
	return o, err
}

// Metrics returns the queue-wide figures of Overview in Prometheus's text
// exposition format (0.0.4), every metric labelled queue="<name>":
// saq_queue_jobs{state}, saq_queue_oldest_job_age_seconds, saq_queue_workers,
// saq_worker_jobs_total{worker,outcome} and saq_worker_uptime_seconds{worker}.
// MetricsHandler serves it with the workers' own metrics.
func (q *Queue) Metrics(ctx context.Context) (string, error) {
	var text string
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_metrics(raw, cq, tag)
	}, func(ev rawEvent) error {
		text = saqraw.Saq_event_text(ev)
		return nil
	})
	return text, err
}

// ScanJobs reads one page of the queue's jobs of the given statuses (all
// when none are given), finished ones included (saq keeps them until their
// TTL), as saq's Queue.iter_jobs does: by SCAN over the queue's job keys.
// Start with cursor "" (or "0") and pass the returned cursor back until it is
// "" (the scan is over). count is SCAN's hint (1..10000; 0 means 100): a
// page may hold fewer or more jobs than that, and is empty only when the scan
// is over (libsaq goes on scanning within the call until it has a job to
// return). As with SCAN, a job present during the whole scan is returned at
// least once (possibly more than once); records that cannot be read are
// skipped. ErrInvalid for an unknown status or a malformed cursor.
func (q *Queue) ScanJobs(ctx context.Context, cursor string, count int, statuses ...Status) ([]*Job, string, error) {
	if count == 0 {
		count = 100
	}
	if count < 0 || count > maxCInt {
		return nil, "", errorf(saqraw.SAQ_EINVAL, "count must be within 1..10000")
	}
	names := make([]string, len(statuses))
	for i, s := range statuses {
		names[i] = string(s)
	}
	filter := strings.Join(names, ",")
	if err := checkText("statuses and cursor", filter+cursor); err != nil {
		return nil, "", err
	}
	if cursor == "" {
		cursor = "0"
	}
	var jobs []*Job
	next := ""
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_iter_jobs(raw, filter, cursor, count, cq, tag)
	}, func(ev rawEvent) error {
		n := saqraw.Saq_event_job_count(ev)
		jobs = make([]*Job, 0, n)
		for i := int64(0); i < n; i++ {
			if j := jobFromC(saqraw.Saq_event_job_at(ev, i)); j != nil {
				jobs = append(jobs, j)
			}
		}
		if next = saqraw.Saq_event_key(ev); next == "0" {
			next = ""
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return jobs, next, nil
}

// IterJobs iterates over the queue's jobs of the given statuses (all when
// none are given), finished ones included, page by page with ScanJobs (see
// there for what a scan guarantees):
//
//	for job, err := range q.IterJobs(ctx, saq.StatusComplete, saq.StatusFailed) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(job.Key, job.Status)
//	}
//
// An error (Redis, ctx) is yielded once, as the last pair; breaking out of
// the loop stops the scan.
func (q *Queue) IterJobs(ctx context.Context, statuses ...Status) iter.Seq2[*Job, error] {
	return func(yield func(*Job, error) bool) {
		cursor := ""
		for {
			jobs, next, err := q.ScanJobs(ctx, cursor, 0, statuses...)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, j := range jobs {
				if !yield(j, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}

// LimitState is one limit a queue's libsaq workers enforce (Worker.SetLimit),
// as they publish it, with its state now (Queue.Limits).
type LimitState struct {
	Function   string        // "" for the whole queue
	MaxJobs    int           // starts per Period (0: no rate limit)
	Period     time.Duration //
	MaxRunning int           // at once (0: no concurrency limit)
	Running    int           // running slots live workers hold now
	Started    int           // starts in the last Period
	Waiting    int           // jobs of the function waiting for a running slot
	// Invalid is the published entry as stored when it is not one a libsaq
	// worker writes (MaxJobs, Period, MaxRunning and Started are 0 then:
	// unknown); "" for a valid one.
	Invalid string
}

// Limits reads the rate limits and global concurrency the queue's libsaq
// workers enforce (published every second while a worker with limits runs,
// kept 30 s after the last one stopped), with how many jobs run against
// each, started in its current period and wait for a running slot. An empty
// list when no worker publishes limits.
func (q *Queue) Limits(ctx context.Context) ([]LimitState, error) {
	var out []LimitState
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_limits(raw, cq, tag)
	}, func(ev rawEvent) error {
		var doc struct {
			Limits []struct {
				Function                  *string
				MaxJobs                   int     `json:"max_jobs"`
				Period                    float64 `json:"period"`
				MaxRunning                int     `json:"max_running"`
				Running, Started, Waiting int
				Invalid                   string `json:"invalid"`
			}
		}
		if err := json.Unmarshal([]byte(saqraw.Saq_event_json(ev)), &doc); err != nil {
			return errorf(saqraw.SAQ_EPROTO, "limits: %v", err)
		}
		out = make([]LimitState, 0, len(doc.Limits))
		for _, l := range doc.Limits {
			s := LimitState{MaxJobs: l.MaxJobs, Period: secToDur(l.Period), MaxRunning: l.MaxRunning,
				Running: l.Running, Started: l.Started, Waiting: l.Waiting, Invalid: l.Invalid}
			if l.Function != nil {
				s.Function = *l.Function
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}
