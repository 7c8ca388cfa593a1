// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// MetricsText gathers the Prometheus text exposition (format 0.0.4) of some
// queues (Queue.Metrics: queue-wide figures read from Redis) and workers
// (Worker.Metrics: this process's per-function counters and duration
// histograms) into one valid exposition: each metric family appears once,
// the series of workers of one process that serve the same queue are added
// up (saq_jobs_processed_total, saq_job_duration_seconds, ... carry no
// worker label), and a queue given twice counts once. Nil entries are
// skipped. On errors (a queue's Redis unreachable, a closed queue) it
// returns what it could gather with the errors joined.
func MetricsText(ctx context.Context, queues []*Queue, workers []*Worker) (string, error) {
	var m expoMerger
	var errs []error
	seenQ := map[*Queue]bool{}
	for _, q := range queues {
		if q == nil || seenQ[q] {
			continue
		}
		seenQ[q] = true
		text, err := q.Metrics(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.add(text, false)
	}
	seenW := map[*Worker]bool{}
	for _, w := range workers {
		if w == nil || seenW[w] {
			continue
		}
		seenW[w] = true
		m.add(w.Metrics(), true)
	}
	return m.String(), errors.Join(errs...)
}

// MetricsHandler serves MetricsText of the queues and workers for a
// Prometheus scrape (Content-Type text/plain; version=0.0.4). When a queue's
// figures cannot be read it answers 503 with the errors, so the scrape fails
// visibly (up == 0) instead of serving partial figures. The slices are read
// at each request and must not change afterwards.
//
//	http.Handle("/metrics", saq.MetricsHandler([]*saq.Queue{q}, []*saq.Worker{w}))
func MetricsHandler(queues []*Queue, workers []*Worker) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		text, err := MetricsText(r.Context(), queues, workers)
		if err != nil {
			http.Error(rw, "saq metrics: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = rw.Write([]byte(text))
	})
}

// expoMerger merges text expositions family by family.
type expoMerger struct {
	families []*expoFamily
	byName   map[string]*expoFamily
}

type expoFamily struct {
	name      string
	help, typ string // their comment lines ("" if none)
	keys      []string
	series    map[string]*expoSeries
}

type expoSeries struct {
	line   string  // the sample line as given (first one)
	name   string  // metric name and label set: the series' identity
	value  float64 // summed value, when summed
	summed bool    // another sample was added to it
	ok     bool    // value parsed
}

func (m *expoMerger) family(name string) *expoFamily {
	if m.byName == nil {
		m.byName = map[string]*expoFamily{}
	}
	f := m.byName[name]
	if f == nil {
		f = &expoFamily{name: name, series: map[string]*expoSeries{}}
		m.byName[name] = f
		m.families = append(m.families, f)
	}
	return f
}

// add merges one exposition; sum adds up the values of series already seen
// (else the first one is kept).
func (m *expoMerger) add(text string, sum bool) {
	var cur *expoFamily
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			fields := strings.Fields(line)
			if len(fields) >= 3 && (fields[1] == "HELP" || fields[1] == "TYPE") {
				cur = m.family(fields[2])
				if fields[1] == "HELP" && cur.help == "" {
					cur.help = line
				} else if fields[1] == "TYPE" && cur.typ == "" {
					cur.typ = line
				}
			}
			continue // other comments are dropped
		}
		id, value, ok := splitSample(line)
		name := id
		if i := strings.IndexByte(id, '{'); i >= 0 {
			name = id[:i]
		}
		f := m.sampleFamily(name, cur)
		cur = f
		s := f.series[id]
		if s == nil {
			f.series[id] = &expoSeries{line: line, name: id, value: value, ok: ok}
			f.keys = append(f.keys, id)
			continue
		}
		if sum && s.ok && ok {
			s.value += value
			s.summed = true
		}
	}
}

// sampleFamily finds the family of a sample: its own name's, a histogram's
// or summary's (name_bucket, _sum, _count), the current one, or a new one.
func (m *expoMerger) sampleFamily(name string, cur *expoFamily) *expoFamily {
	if f := m.byName[name]; f != nil {
		return f
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := m.byName[base]; f != nil {
				return f
			}
		}
	}
	if cur != nil && strings.HasPrefix(name, cur.name) {
		return cur
	}
	return m.family(name)
}

// splitSample splits `name{labels} value [timestamp]` into the series
// identity (name and labels, as written) and the value.
func splitSample(line string) (id string, value float64, ok bool) {
	end := strings.IndexAny(line, "{ \t")
	if end < 0 {
		return line, 0, false
	}
	if line[end] == '{' {
		inQuote, esc := false, false
		i := end + 1
		for ; i < len(line); i++ {
			c := line[i]
			switch {
			case esc:
				esc = false
			case c == '\\' && inQuote:
				esc = true
			case c == '"':
				inQuote = !inQuote
			case c == '}' && !inQuote:
				end = i + 1
				i = len(line)
			}
		}
	}
	id = line[:end]
	rest := strings.Fields(line[end:])
	if len(rest) == 0 {
		return id, 0, false
	}
	v, err := strconv.ParseFloat(rest[0], 64)
	return id, v, err == nil
}

// String renders the merged exposition.
func (m *expoMerger) String() string {
	var b strings.Builder
	for _, f := range m.families {
		if len(f.keys) == 0 {
			continue
		}
		if f.help != "" {
			b.WriteString(f.help + "\n")
		}
		if f.typ != "" {
			b.WriteString(f.typ + "\n")
		}
		for _, k := range f.keys {
			s := f.series[k]
			if s.summed {
				b.WriteString(s.name + " " + strconv.FormatFloat(s.value, 'g', -1, 64) + "\n")
			} else {
				b.WriteString(s.line + "\n")
			}
		}
	}
	return b.String()
}

// Metrics returns this worker's own metrics, kept in this process, in
// Prometheus's text exposition format (0.0.4):
// saq_jobs_processed_total{queue,function,outcome} (counter),
// saq_job_duration_seconds{queue,function} (histogram of run times),
// saq_jobs_running{queue} and saq_worker_errors_total{queue}. It is valid
// before, during and after a run: the figures of the last run stay readable
// once the worker has stopped. Queue-wide figures come from Queue.Metrics;
// MetricsText and MetricsHandler combine both.
func (w *Worker) Metrics() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raw == nil {
		return w.finalMetrics
	}
	return workerMetricsLocked(w)
}
