// SPDX-License-Identifier: MIT
package saq_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libsaq/libsaq/bindings/go/saq"
)

// sample returns the value of the first series of metric name whose labels
// include every pair of labels, or fails the test.
func sample(t *testing.T, text, name string, labels ...string) float64 {
	t.Helper()
	v, err := findSample(text, name, labels...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func findSample(text, name string, labels ...string) (float64, error) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(line, labels[i]+`="`+labels[i+1]+`"`) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
		if len(f) == 0 {
			return 0, fmt.Errorf("sample line without a value: %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("sample line %q: %v", line, err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("no %s%v in:\n%s", name, labels, text)
}

// checkExposition fails the test unless every metric family of text has
// one # HELP and one # TYPE line, and promtool accepts the text.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	help, typ := map[string]int{}, map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "#" && f[1] == "HELP" {
			help[f[2]]++
		}
		if len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			typ[f[2]]++
		}
	}
	if len(typ) == 0 {
		t.Fatalf("no # TYPE line in:\n%s", text)
	}
	for name, n := range typ {
		if n != 1 || help[name] != 1 {
			t.Errorf("family %s has %d # TYPE and %d # HELP lines", name, n, help[name])
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is missing (Debian: prometheus); run-tests.sh fails on skips")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- text:\n%s", err, out, text)
	}
}

func TestOverview(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	o, err := q.Overview(c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Queue != q.Name() || o.Jobs != (saq.JobCounts{}) || o.OldestQueuedAge != 0 || o.WorkersAlive != 0 ||
		len(o.Workers) != 0 || o.PerMinute != nil || time.Since(o.Time).Abs() > time.Minute || len(o.Raw) == 0 {
		t.Fatalf("overview of an empty queue = %+v", o)
	}
	for i := 0; i < 3; i++ {
		if _, err := q.Enqueue(c, "block", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Enqueue(c, "block", nil, saq.WithDelay(time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	o, err = q.Overview(c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Jobs != (saq.JobCounts{Queued: 3, Scheduled: 1, Incomplete: 4}) || o.OldestQueuedAge < 250*time.Millisecond ||
		o.OldestQueuedAge > time.Minute {
		t.Fatalf("overview with 3 queued and 1 scheduled job = %+v", o)
	}

	release := make(chan struct{})
	var running int32
	w := startWorker(t, q, map[string]saq.HandlerFunc{
		"block": func(ctx context.Context, job *saq.Job) (any, error) {
			atomic.AddInt32(&running, 1)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		},
	}, saq.WithConcurrency(1), saq.WithMetadata(map[string]any{"lang": "go"}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err = q.Overview(c)
		if err != nil {
			t.Fatal(err)
		}
		if o.Jobs.Active == 1 && o.Jobs.Queued == 2 && o.WorkersAlive == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overview with one job running = %+v", o)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wi := o.Workers[0]
	if wi.ID != w.ID() || !wi.Libsaq || wi.Metadata["lang"] != "go" {
		t.Fatalf("worker in the overview = %+v, want %s", wi, w.ID())
	}
	close(release)
	// the three jobs end (the scheduled one stays); the registry copy of the
	// worker's counters follows within about a second
	deadline = time.Now().Add(10 * time.Second)
	for {
		o, err = q.Overview(c)
		if err != nil {
			t.Fatal(err)
		}
		if o.Totals.Complete == 3 && o.Jobs.Queued == 0 && o.Jobs.Active == 0 && o.Workers[0].Complete == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overview after the jobs ran = %+v", o)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o.Jobs.Scheduled != 1 || o.Jobs.Incomplete != 1 || o.OldestQueuedAge != 0 {
		t.Fatalf("overview with only the scheduled job left = %+v", o)
	}
}

func TestMetricsText(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	for i := 0; i < 2; i++ {
		if _, err := q.Enqueue(c, "add", map[string]any{"a": i, "b": 1}); err != nil {
			t.Fatal(err)
		}
	}
	text, err := q.Metrics(c)
	if err != nil {
		t.Fatal(err)
	}
	checkExposition(t, text)
	if v := sample(t, text, "saq_queue_jobs", "queue", q.Name(), "state", "queued"); v != 2 {
		t.Errorf("saq_queue_jobs{state=queued} = %v, want 2", v)
	}
	if v := sample(t, text, "saq_queue_workers", "queue", q.Name()); v != 0 {
		t.Errorf("saq_queue_workers = %v, want 0", v)
	}
	if !strings.Contains(text, "# TYPE saq_queue_oldest_job_age_seconds gauge") {
		t.Errorf("no oldest job age gauge in:\n%s", text)
	}

	// two workers of this process on one queue: MetricsHandler adds their
	// counters up and keeps one family each
	fail := func(ctx context.Context, job *saq.Job) (any, error) { return nil, errors.New("no") }
	w1 := startWorker(t, q, map[string]saq.HandlerFunc{"add": add, "fail": fail})
	w2 := startWorker(t, q, map[string]saq.HandlerFunc{"add": add, "fail": fail})
	var keys []string
	for i := 0; i < 6; i++ {
		j, err := q.Enqueue(c, "add", map[string]any{"a": i, "b": 1})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, j.Key)
	}
	j, err := q.Enqueue(c, "fail", nil)
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, j.Key)
	for _, k := range keys {
		waitJob(t, q, k, "done", func(j *saq.Job) bool { return j.Status.Terminal() })
	}
	wtext := w1.Metrics()
	checkExposition(t, wtext)
	if !strings.Contains(wtext, "# TYPE saq_job_duration_seconds histogram") {
		t.Errorf("no duration histogram in:\n%s", wtext)
	}
	srv := httptest.NewServer(saq.MetricsHandler([]*saq.Queue{q}, []*saq.Worker{w1, w2}))
	defer srv.Close()
	scrape := func() string {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("GET /metrics = %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		return string(body)
	}
	// the last outcome's counter and the registry (about a second behind)
	// may trail the job's record a little
	all := scrape()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); all = scrape() {
		done, _ := findSample(all, "saq_jobs_processed_total", "function", "add", "outcome", "complete")
		failed, _ := findSample(all, "saq_jobs_processed_total", "function", "fail", "outcome", "failed")
		workers, _ := findSample(all, "saq_queue_workers", "queue", q.Name())
		if done == 8 && failed == 1 && workers == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkExposition(t, all)
	lbl := []string{"queue", q.Name(), "function", "add", "outcome", "complete"}
	if v := sample(t, all, "saq_jobs_processed_total", lbl...); v != 8 {
		t.Errorf("saq_jobs_processed_total{add,complete} over both workers = %v, want 8 (2 + 6)", v)
	}
	if v := sample(t, all, "saq_jobs_processed_total", "function", "fail", "outcome", "failed"); v != 1 {
		t.Errorf("saq_jobs_processed_total{fail,failed} = %v, want 1", v)
	}
	if v := sample(t, all, "saq_job_duration_seconds_count", "queue", q.Name(), "function", "add"); v != 8 {
		t.Errorf("saq_job_duration_seconds_count{add} = %v, want 8", v)
	}
	if v := sample(t, all, "saq_job_duration_seconds_bucket", "function", "add", "le", "+Inf"); v != 8 {
		t.Errorf("saq_job_duration_seconds_bucket{add,+Inf} = %v, want 8", v)
	}
	if v := sample(t, all, "saq_queue_workers", "queue", q.Name()); v != 2 {
		t.Errorf("saq_queue_workers = %v, want 2", v)
	}

	// a closed queue fails the scrape (503), it does not serve partial figures
	q2, err := saq.NewQueue(redisURL(t), saq.WithName(queueName(t)))
	if err != nil {
		t.Fatal(err)
	}
	q2.Close()
	rec := httptest.NewRecorder()
	saq.MetricsHandler([]*saq.Queue{q, q2}, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "SAQ_ECLOSED") {
		t.Fatalf("scrape with a closed queue = %d %s", rec.Code, rec.Body)
	}
}

func TestIterJobsPaginatesFinishedJobs(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	other := newQueue(t)
	c := ctx(t)
	complete := map[string]bool{}
	for i := 0; i < 15; i++ {
		j, err := q.Enqueue(c, "add", map[string]any{"a": i, "b": 1}, saq.WithTTL(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		complete[j.Key] = true
	}
	w, err := saq.NewWorker(q, fastTimers, saq.Functions{"add": add}, saq.WithBurst(0),
		saq.WithDequeueTimeout(200*time.Millisecond))
	must(t, err)
	must(t, w.Start(c))
	must(t, w.Wait(c))
	queued := map[string]bool{}
	for i := 0; i < 10; i++ {
		j, err := q.Enqueue(c, "add", nil)
		if err != nil {
			t.Fatal(err)
		}
		queued[j.Key] = true
		if _, err := other.Enqueue(c, "add", nil); err != nil {
			t.Fatal(err)
		}
	}

	// page by page, with a small COUNT: several pages, every job once or more
	seen := map[string]saq.Status{}
	pages, cursor := 0, ""
	for {
		jobs, next, err := q.ScanJobs(c, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, j := range jobs {
			if j.Queue != q.Name() {
				t.Fatalf("ScanJobs returned %s of queue %s", j.Key, j.Queue)
			}
			seen[j.Key] = j.Status
		}
		if next == "" {
			break
		}
		cursor = next
		if pages > 1000 {
			t.Fatal("the scan does not end")
		}
	}
	if pages < 2 || len(seen) != 25 {
		t.Fatalf("ScanJobs: %d pages, %d distinct jobs, want 25 over several pages", pages, len(seen))
	}
	for k := range complete {
		if seen[k] != saq.StatusComplete {
			t.Errorf("job %s: %q, want complete", k, seen[k])
		}
	}

	collect := func(statuses ...saq.Status) map[string]bool {
		got := map[string]bool{}
		for j, err := range q.IterJobs(c, statuses...) {
			if err != nil {
				t.Fatal(err)
			}
			if len(statuses) > 0 && j.Status != statuses[0] {
				t.Errorf("IterJobs(%v) yielded %s %s", statuses, j.Key, j.Status)
			}
			got[j.Key] = true
		}
		return got
	}
	if got := collect(saq.StatusComplete); fmt.Sprint(got) != fmt.Sprint(complete) {
		t.Errorf("IterJobs(complete) = %d jobs, want the 15 that ran", len(got))
	}
	if got := collect(saq.StatusQueued); fmt.Sprint(got) != fmt.Sprint(queued) {
		t.Errorf("IterJobs(queued) = %d jobs, want the 10 left", len(got))
	}
	if got := collect(); len(got) != 25 {
		t.Errorf("IterJobs() = %d jobs, want 25", len(got))
	}
	n := 0
	for range q.IterJobs(c) {
		if n++; n == 2 {
			break // stops the scan
		}
	}
	if _, _, err := q.ScanJobs(c, "", 0, "bogus"); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("ScanJobs(bogus status) = %v, want ErrInvalid", err)
	}
	if _, _, err := q.ScanJobs(c, "not-a-cursor", 0); !errors.Is(err, saq.ErrInvalid) {
		t.Errorf("ScanJobs(bad cursor) = %v, want ErrInvalid", err)
	}
	cc, cancel := context.WithCancel(c)
	cancel()
	for j, err := range q.IterJobs(cc) {
		if j != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("IterJobs(cancelled ctx) yielded %v, %v", j, err)
		}
	}
}

const (
	tp1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tp2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
)

func TestTraceparentEnqueueToHandler(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	type seen struct{ ctx, job, child string }
	got := make(chan seen, 16)
	startWorker(t, q, map[string]saq.HandlerFunc{
		"trace": func(ctx context.Context, job *saq.Job) (any, error) {
			s := seen{ctx: saq.TraceparentFromContext(ctx), job: job.Traceparent()}
			if job.Kwargs["child"] == true {
				// the handler's ctx carries the trace on to the jobs it enqueues
				cj, err := q.Enqueue(ctx, "noop", nil)
				if err != nil {
					return nil, err
				}
				s.child = cj.Traceparent()
			}
			got <- s
			return s.ctx, nil
		},
		"noop": func(ctx context.Context, job *saq.Job) (any, error) { return nil, nil },
	})
	tctx := saq.ContextWithTraceparent(c, tp1)

	j, err := q.Enqueue(tctx, "trace", map[string]any{"child": true}, saq.WithMeta(map[string]any{"tenant": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	if j.Traceparent() != tp1 || j.Meta["traceparent"] != tp1 || j.Meta["tenant"] != "a" {
		t.Fatalf("enqueued job: traceparent %q, meta %v", j.Traceparent(), j.Meta)
	}
	if s := <-got; s != (seen{tp1, tp1, tp1}) {
		t.Fatalf("handler saw %+v, want %s everywhere", s, tp1)
	}
	stored, err := q.Job(c, j.Key)
	if err != nil || stored.Traceparent() != tp1 {
		t.Fatalf("stored job traceparent = %q, %v", stored.Traceparent(), err)
	}

	// WithTraceparent wins over the context; "" enqueues without one
	if j, err = q.Enqueue(tctx, "trace", nil, saq.WithTraceparent(tp2)); err != nil || j.Traceparent() != tp2 {
		t.Fatalf("WithTraceparent(tp2) = %q, %v", j.Traceparent(), err)
	}
	if s := <-got; s.ctx != tp2 || s.job != tp2 {
		t.Fatalf("handler saw %+v, want %s", s, tp2)
	}
	if j, err = q.Enqueue(tctx, "trace", nil, saq.WithTraceparent("")); err != nil || j.Traceparent() != "" ||
		j.Meta["traceparent"] != nil {
		t.Fatalf("WithTraceparent(\"\") = %q %v, %v", j.Traceparent(), j.Meta, err)
	}
	if s := <-got; s.ctx != "" || s.job != "" {
		t.Fatalf("handler of a job without traceparent saw %+v", s)
	}
	// a job without one: nothing in meta, nothing in the handler's ctx
	if j, err = q.Enqueue(c, "trace", nil); err != nil || j.Traceparent() != "" || j.MetaJSON != nil && j.Meta["traceparent"] != nil {
		t.Fatalf("plain Enqueue = %q %s, %v", j.Traceparent(), j.MetaJSON, err)
	}
	if s := <-got; s != (seen{}) {
		t.Fatalf("handler of a plain job saw %+v", s)
	}

	// Apply and Map carry the context's too
	if res, err := q.Apply(tctx, "trace", nil, saq.WithTimeout(10*time.Second)); err != nil || res != tp1 {
		t.Fatalf("Apply with a traced ctx = %v, %v", res, err)
	}
	<-got
	res, err := q.Map(saq.ContextWithTraceparent(c, tp2), "trace", []map[string]any{{}, {}}, saq.WithTimeout(10*time.Second))
	if err != nil || len(res) != 2 || res[0] != tp2 || res[1] != tp2 {
		t.Fatalf("Map with a traced ctx = %v, %v", res, err)
	}
	<-got
	<-got

	for _, bad := range []string{"nope", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"} {
		if _, err := q.Enqueue(c, "trace", nil, saq.WithTraceparent(bad)); !errors.Is(err, saq.ErrInvalid) {
			t.Errorf("Enqueue(WithTraceparent(%q)) = %v, want ErrInvalid", bad, err)
		}
		if _, err := q.Map(saq.ContextWithTraceparent(c, bad), "trace", []map[string]any{{}}); !errors.Is(err, saq.ErrInvalid) {
			t.Errorf("Map with traceparent %q = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestWorkerFinalStatsAndMetricsAfterStop(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	w, err := saq.NewWorker(q, fastTimers, saq.Functions{
		"add":  add,
		"fail": func(ctx context.Context, job *saq.Job) (any, error) { return nil, errors.New("no") },
	})
	must(t, err)
	must(t, w.Start(c))
	var keys []string
	for _, fn := range []string{"add", "add", "fail"} {
		j, err := q.Enqueue(c, fn, map[string]any{"a": 1, "b": 2})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, j.Key)
	}
	for _, k := range keys {
		waitJob(t, q, k, "done", func(j *saq.Job) bool { return j.Status.Terminal() })
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, w.Stop(sctx))
	check := func(when string) {
		st, err := w.Stats()
		if err != nil || st.Complete != 2 || st.Failed != 1 || st.Running != 0 {
			t.Fatalf("Stats %s = %+v, %v; want 2 complete, 1 failed, 0 running", when, st, err)
		}
		m := w.Metrics()
		if v := sample(t, m, "saq_jobs_processed_total", "function", "add", "outcome", "complete"); v != 2 {
			t.Fatalf("Metrics %s: add complete = %v, want 2\n%s", when, v, m)
		}
		if v := sample(t, m, "saq_jobs_processed_total", "function", "fail", "outcome", "failed"); v != 1 {
			t.Fatalf("Metrics %s: fail failed = %v, want 1\n%s", when, v, m)
		}
	}
	check("after Stop")
	q.Close()
	check("after the queue closed")
}

// A page of ScanJobs is empty only when the scan is over, and its cursor moves on: one failed
// job among 150 queued ones, 2 keys per SCAN step, comes in the first page (libsaq goes on
// scanning within a call until it has a job to return).
func TestScanJobsNoEmptyPageBeforeTheEnd(t *testing.T) {
	t.Parallel()
	q := newQueue(t)
	c := ctx(t)
	bulk := make([]saq.BulkJob, 150)
	for i := range bulk {
		bulk[i] = saq.BulkJob{Function: "later", Kwargs: map[string]any{"i": i}}
	}
	_, err := q.EnqueueMany(c, bulk)
	must(t, err)
	j, err := q.Enqueue(c, "missing", nil, saq.WithRetries(0))
	must(t, err)
	if _, err := q.Finish(c, j.Key, saq.StatusFailed, nil, "no"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	pages, cursor := 0, ""
	for {
		jobs, next, err := q.ScanJobs(c, cursor, 2, saq.StatusFailed)
		must(t, err)
		pages++
		if len(jobs) == 0 && next != "" {
			t.Fatalf("page %d is empty but the scan goes on (cursor %q)", pages, next)
		}
		if next != "" && next == cursor {
			t.Fatalf("page %d: the cursor did not move (%q)", pages, next)
		}
		for _, x := range jobs {
			seen = append(seen, x.Key)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 1 || seen[0] != j.Key || pages > 2 {
		t.Fatalf("ScanJobs(failed): %v in %d pages, want [%s] in 1 or 2", seen, pages, j.Key)
	}
}
