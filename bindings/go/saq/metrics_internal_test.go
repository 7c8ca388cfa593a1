// SPDX-License-Identifier: MIT
package saq

import "testing"

// Two workers of one process on one queue give the same series (no worker
// label): merged, each family appears once and the values add up. A queue's
// series given twice count once. Label values may hold spaces, braces and
// escaped quotes.
func TestMergeExpositions(t *testing.T) {
	w1 := `# HELP saq_jobs_processed_total Jobs processed.
# TYPE saq_jobs_processed_total counter
saq_jobs_processed_total{queue="a b",function="f}\"x",outcome="complete"} 2
# HELP saq_job_duration_seconds Run time.
# TYPE saq_job_duration_seconds histogram
saq_job_duration_seconds_bucket{queue="a b",function="f}\"x",le="0.005"} 1
saq_job_duration_seconds_bucket{queue="a b",function="f}\"x",le="+Inf"} 2
saq_job_duration_seconds_sum{queue="a b",function="f}\"x"} 0.5
saq_job_duration_seconds_count{queue="a b",function="f}\"x"} 2
`
	w2 := `# HELP saq_jobs_processed_total Jobs processed.
# TYPE saq_jobs_processed_total counter
saq_jobs_processed_total{queue="a b",function="f}\"x",outcome="complete"} 3
saq_jobs_processed_total{queue="a b",function="g",outcome="failed"} 1
# HELP saq_job_duration_seconds Run time.
# TYPE saq_job_duration_seconds histogram
saq_job_duration_seconds_bucket{queue="a b",function="f}\"x",le="0.005"} 0
saq_job_duration_seconds_bucket{queue="a b",function="f}\"x",le="+Inf"} 3
saq_job_duration_seconds_sum{queue="a b",function="f}\"x"} 1.25
saq_job_duration_seconds_count{queue="a b",function="f}\"x"} 3
`
	q := `# HELP saq_queue_workers Workers alive.
# TYPE saq_queue_workers gauge
saq_queue_workers{queue="a b"} 2
`
	var m expoMerger
	m.add(q, false)
	m.add(w1, true)
	m.add(w2, true)
	m.add(q, false)
	want := `# HELP saq_queue_workers Workers alive.
# TYPE saq_queue_workers gauge
saq_queue_workers{queue="a b"} 2
# HELP saq_jobs_processed_total Jobs processed.
# TYPE saq_jobs_processed_total counter
saq_jobs_processed_total{queue="a b",function="f}\"x",outcome="complete"} 5
saq_jobs_processed_total{queue="a b",function="g",outcome="failed"} 1
# HELP saq_job_duration_seconds Run time.
# TYPE saq_job_duration_seconds histogram
saq_job_duration_seconds_bucket{queue="a b",function="f}\"x",le="0.005"} 1
saq_job_duration_seconds_bucket{queue="a b",function="f}\"x",le="+Inf"} 5
saq_job_duration_seconds_sum{queue="a b",function="f}\"x"} 1.75
saq_job_duration_seconds_count{queue="a b",function="f}\"x"} 5
`
	if got := m.String(); got != want {
		t.Fatalf("merged:\n%s\nwant:\n%s", got, want)
	}
	var empty expoMerger
	empty.add("", true)
	if got := empty.String(); got != "" {
		t.Fatalf("merging nothing = %q", got)
	}
}

func TestFieldAttrs(t *testing.T) {
	attrs := fieldAttrs(`{"queue": "default", "outage_ms": 2310, "code": -8, "ratio": 0.5, "ok": true}`)
	got := ""
	for _, a := range attrs {
		got += a.Key + "=" + a.Value.Kind().String() + ":" + a.Value.String() + " "
	}
	want := "queue=String:default outage_ms=Int64:2310 code=Int64:-8 ratio=Float64:0.5 ok=Bool:true "
	if got != want {
		t.Fatalf("fieldAttrs = %q, want %q", got, want)
	}
	if a := fieldAttrs("not json"); len(a) != 1 || a[0].Key != "fields" {
		t.Fatalf("fieldAttrs(not json) = %v", a)
	}
}
