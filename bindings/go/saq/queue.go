// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

type (
	rawQueue = saqraw.Struct_SS_saq_queue
	rawCQ    = saqraw.Struct_SS_saq_cq
	rawEvent = saqraw.Struct_SS_saq_event
	rawJob   = saqraw.Struct_SS_saq_job
)

// Version returns the version of the loaded libsaq, e.g. "0.1.0".
func Version() string { return saqraw.Saq_version_str() }

func checkVersion() error {
	if int(saqraw.Saq_version()) < saqraw.SAQ_VERSION_NUMBER {
		return errorf(saqraw.SAQ_ESTATE, "the loaded libsaq %s is older than the headers this binding was built with (%s)",
			saqraw.Saq_version_str(), saqraw.SAQ_VERSION_STR)
	}
	return nil
}

// ---- configuration ----

// QueueOption configures a Queue (NewQueue, Connect).
type QueueOption func(*queueConfig)

type queueConfig struct {
	kv     [][2]string
	drain  time.Duration
	logger *slog.Logger // WithLogger
}

func (c *queueConfig) set(key, value string) { c.kv = append(c.kv, [2]string{key, value}) }

func msString(d time.Duration) string {
	ms := d.Milliseconds()
	if d > 0 && ms == 0 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10)
}

// WithName sets the queue name (default "default").
func WithName(name string) QueueOption { return func(c *queueConfig) { c.set("name", name) } }

// WithDialect selects the Python saq generation the records are written for:
// "0.26" (default) or "0.13".
func WithDialect(d string) QueueOption { return func(c *queueConfig) { c.set("dialect", d) } }

// WithMaxConcurrentOps sets saq's throttle on enqueue, single-job reads and
// aborts (default 20).
func WithMaxConcurrentOps(n int) QueueOption {
	return func(c *queueConfig) { c.set("max_concurrent_ops", strconv.Itoa(n)) }
}

// WithCommandTimeout sets how long libsaq waits for a Redis reply before the
// operation fails with ErrTimeout (default 5 s).
func WithCommandTimeout(d time.Duration) QueueOption {
	return func(c *queueConfig) { c.set("command_timeout_ms", msString(d)) }
}

// WithConnectTimeout sets the Redis connect timeout (default 2 s).
func WithConnectTimeout(d time.Duration) QueueOption {
	return func(c *queueConfig) { c.set("connect_timeout_ms", msString(d)) }
}

// WithReconnectMax caps the reconnect backoff (default 2 s).
func WithReconnectMax(d time.Duration) QueueOption {
	return func(c *queueConfig) { c.set("reconnect_max_ms", msString(d)) }
}

// WithMaxPayloadBytes refuses larger job records with ErrTooBig before
// sending them (1024 to 512 MiB, Redis's limit; default 16 MiB).
func WithMaxPayloadBytes(n int) QueueOption {
	return func(c *queueConfig) { c.set("max_payload_bytes", strconv.Itoa(n)) }
}

// WithMinReplicas makes enqueue and finish wait until n replicas have
// acknowledged the write (Redis WAIT), for at most timeout (0 keeps libsaq's
// default, 1 s), so that a job acknowledged to the caller survives a
// failover to a replica. n is 0..1000 (0, the default, does not wait). When
// fewer replicas acknowledge an enqueue in time, Enqueue (and Apply, Map)
// fails with ErrTimeout: the job reached the master but may be lost if the
// master fails now. A worker's finish waits the same way but is not failed
// by it. Any deployment with replicas (a plain master, Sentinel or Cluster).
func WithMinReplicas(n int, timeout time.Duration) QueueOption {
	return func(c *queueConfig) {
		c.set("min_replicas", strconv.Itoa(n))
		if timeout != 0 {
			c.set("min_replicas_timeout_ms", msString(timeout))
		}
	}
}

// WithSentinelPassword sets the password the Sentinels themselves require
// (their requirepass; the URL's user:password are the data nodes'). Same as
// the URL's sentinel_password= query parameter, which it replaces. Only with
// a redis+sentinel:// or rediss+sentinel:// URL: with another one NewQueue
// fails with ErrInvalid.
func WithSentinelPassword(password string) QueueOption {
	return func(c *queueConfig) { c.set("sentinel.password", password) }
}

// WithSentinelUsername sets the ACL user for the Sentinels (default: none,
// i.e. the "default" user), as the URL's sentinel_username= query parameter.
// Only with a Sentinel URL, as WithSentinelPassword.
func WithSentinelUsername(username string) QueueOption {
	return func(c *queueConfig) { c.set("sentinel.username", username) }
}

// WithDrainTimeout sets how long Close waits for operations in flight
// before failing them with ErrClosed (default 5 s).
func WithDrainTimeout(d time.Duration) QueueOption { return func(c *queueConfig) { c.drain = d } }

// WithConfig sets any libsaq configuration key (see saq_conf_set in saq.h).
// Unknown keys make NewQueue fail with ErrUnknownKey.
func WithConfig(key, value string) QueueOption { return func(c *queueConfig) { c.set(key, value) } }

// newConf builds a C conf from key/value pairs. The caller frees it.
func newConf(kv [][2]string) (saqraw.Struct_SS_saq_conf, error) {
	conf := saqraw.Saq_conf_new()
	if isNil(conf) {
		return nil, newError(saqraw.SAQ_ENOMEM, "")
	}
	for _, p := range kv {
		if strings.IndexByte(p[0], 0) >= 0 || strings.IndexByte(p[1], 0) >= 0 {
			saqraw.Saq_conf_free(conf)
			return nil, errorf(saqraw.SAQ_EINVAL, "configuration %q: NUL byte in key or value", p[0])
		}
		if rc := saqraw.Saq_conf_set(conf, p[0], p[1]); rc != saqraw.SAQ_OK {
			err := newError(rc, saqraw.Saq_conf_errmsg(conf))
			saqraw.Saq_conf_free(conf)
			return nil, err
		}
	}
	return conf, nil
}

// ---- Queue ----

// Queue is a saq queue: one Redis queue name, its connections and libsaq's
// I/O thread. All methods are safe for concurrent use by many goroutines.
// Every blocking method takes a context: when it is cancelled the method
// returns ctx.Err() at once (the operation itself still completes inside
// libsaq; its result is discarded).
//
// A Queue must be closed with Close, which also stops its workers.
type Queue struct {
	nextTag uint64 // atomic; first for 64-bit alignment on 32-bit platforms

	raw   rawQueue
	cq    rawCQ
	name  string
	drain time.Duration
	log   *logSink

	mu     sync.RWMutex // held shared while raw is used, exclusively to close it
	closed bool

	pending    sync.Map
	stopping   int32 // atomic: the poller exits at its next wakeup
	pollerDone chan struct{}

	closeOnce sync.Once
	closeErr  error

	workersMu sync.Mutex
	workers   map[*Worker]struct{}

	batchesMu sync.Mutex
	batches   map[*Batch]struct{}
}

// waiter receives the completion event of one operation.
type waiter struct {
	mu        sync.Mutex
	ch        chan rawEvent // buffered 1; nil event = queue closed
	abandoned bool
	stream    func(ev rawEvent) // LISTEN events (non-completions); takes ownership
}

func newWaiter() *waiter { return &waiter{ch: make(chan rawEvent, 1)} }

func (w *waiter) deliver(ev rawEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.abandoned {
		if ev != nil {
			saqraw.Saq_event_free(ev)
		}
		return
	}
	select {
	case w.ch <- ev:
	default: // cannot happen: one completion per tag
		if ev != nil {
			saqraw.Saq_event_free(ev)
		}
	}
}

// abandon tells the poller the caller is gone: a late event is freed.
func (w *waiter) abandon() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.abandoned = true
	select {
	case ev := <-w.ch:
		if ev != nil {
			saqraw.Saq_event_free(ev)
		}
	default:
	}
}

// NewQueue makes a queue for the Redis deployment at url, passed to libsaq
// unchanged:
//
//	redis://[[user]:password@]host[:port][/db]      one server (rediss:// over TLS)
//	unix://[[user]:password@]/path/to.sock[?db=N]
//	redis+sentinel://[user:pass@]h1:26379,h2:26379/<master-name>[/<db>]
//	redis+cluster://[user:pass@]h1:p1,h2:p2[/0]
//
// (also sentinel:// and cluster://; over TLS rediss+sentinel:// and
// rediss+cluster://). With Sentinel, libsaq asks the sentinels for the
// master and follows failovers; in a Cluster, it routes each queue to the
// master owning its hash slot, so the queue name must carry a hash tag
// ("{orders}", WithName): a name without one fails with ErrInvalid.
//
// It connects lazily: the first operation connects, and every operation
// reconnects after a loss. See Connect for a queue checked at once.
func NewQueue(url string, opts ...QueueOption) (*Queue, error) {
	if err := checkVersion(); err != nil {
		return nil, err
	}
	cfg := &queueConfig{drain: 5 * time.Second}
	cfg.set("url", url)
	for _, o := range opts {
		if o != nil {
			o(cfg)
		}
	}
	sink, level := newLogSink(cfg)
	if level != "" {
		cfg.set("log_level", level)
	}
	conf, err := newConf(cfg.kv)
	if err != nil {
		return nil, err
	}
	defer saqraw.Saq_conf_free(conf)
	cq := saqraw.Saq_cq_new()
	if isNil(cq) {
		return nil, newError(saqraw.SAQ_ENOMEM, "cannot create the queue's completion queue (no file descriptors or memory left)")
	}
	// The queue's and its workers' log records come as SAQ_EVENT_LOG events
	// on the queue's own cq (tag 0: no operation uses it); the poller logs them.
	if rc := saqraw.Saq_conf_set_log_cq(conf, cq, logTag); rc != saqraw.SAQ_OK {
		saqraw.Saq_cq_free(cq)
		return nil, newError(rc, saqraw.Saq_conf_errmsg(conf))
	}
	var raw saqraw.Struct_SS_saq_queue
	if rc := saqraw.Saq_queue_open(&raw, conf); rc != 0 {
		saqraw.Saq_cq_free(cq)
		return nil, newError(rc, saqraw.Saq_conf_errmsg(conf))
	}
	q := &Queue{
		raw:        raw,
		cq:         cq,
		name:       saqraw.Saq_queue_name(raw),
		drain:      cfg.drain,
		log:        sink,
		pollerDone: make(chan struct{}),
		workers:    make(map[*Worker]struct{}),
		batches:    make(map[*Batch]struct{}),
	}
	go q.poll()
	return q, nil
}

// Connect is NewQueue followed by Ping: it returns a queue whose Redis
// server answered, or an error (and no queue).
func Connect(ctx context.Context, url string, opts ...QueueOption) (*Queue, error) {
	q, err := NewQueue(url, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := q.Ping(ctx); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// Name returns the queue name.
func (q *Queue) Name() string { return q.name }

// Dialect returns the saq dialect in use: "0.26" or "0.13".
func (q *Queue) Dialect() string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ""
	}
	return saqraw.Saq_queue_dialect(q.raw)
}

// poll is the queue's poller goroutine: it blocks in saq_cq_poll and routes
// each event by tag to the goroutine waiting for it.
func (q *Queue) poll() {
	defer close(q.pollerDone)
	for {
		ev := saqraw.Saq_cq_poll(q.cq, -1)
		if isNil(ev) {
			if atomic.LoadInt32(&q.stopping) != 0 {
				for {
					ev = saqraw.Saq_cq_poll(q.cq, 0)
					if isNil(ev) {
						return
					}
					q.dispatch(ev)
				}
			}
			continue
		}
		q.dispatch(ev)
	}
}

// logTag is the tag of the queue's log records on its cq; operations' tags
// start at 1.
const logTag = 0

func (q *Queue) dispatch(ev rawEvent) {
	if saqraw.Saq_event_type(ev) == saqraw.SAQ_EVENT_LOG {
		q.log.emitEvent(ev)
		saqraw.Saq_event_free(ev)
		return
	}
	tag := saqraw.Saq_event_tag(ev)
	v, ok := q.pending.Load(tag)
	if !ok {
		saqraw.Saq_event_free(ev)
		return
	}
	w := v.(*waiter)
	if saqraw.Saq_event_type(ev) == saqraw.SAQ_EVENT_LISTEN {
		if w.stream != nil {
			w.stream(ev)
		} else {
			saqraw.Saq_event_free(ev)
		}
		return
	}
	q.pending.Delete(tag)
	w.deliver(ev)
}

// submit registers a waiter under a new tag and calls fn to start the
// operation. On success the caller waits on w.ch.
func (q *Queue) submit(w *waiter, fn func(raw rawQueue, cq rawCQ, tag uint64) int) (uint64, error) {
	tag := atomic.AddUint64(&q.nextTag, 1)
	q.pending.Store(tag, w)
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		q.pending.Delete(tag)
		return 0, ErrClosed
	}
	rc := fn(q.raw, q.cq, tag)
	q.mu.RUnlock()
	if rc != saqraw.SAQ_OK {
		q.pending.Delete(tag)
		return 0, newError(rc, "")
	}
	return tag, nil
}

// do runs one operation and returns its event (owned by the caller, which
// must free it) or an error: the operation's own, ctx.Err(), or ErrClosed.
func (q *Queue) do(ctx context.Context, fn func(raw rawQueue, cq rawCQ, tag uint64) int) (rawEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := newWaiter()
	tag, err := q.submit(w, fn)
	if err != nil {
		return nil, err
	}
	select {
	case ev := <-w.ch:
		if ev == nil {
			return nil, ErrClosed
		}
		return ev, nil
	case <-ctx.Done():
		w.abandon() // the tag stays registered: the poller frees the late event
		q.cancel(tag)
		return nil, ctx.Err()
	}
}

// cancel tells the core to stop the apply, map or listen with this tag, or
// to withdraw an enqueue still waiting for its max_concurrent_ops slot
// (saq_queue_cancel); it then completes at once and the poller frees its
// event. Other operations (an enqueue already sent, ...) are short and are
// left to finish.
func (q *Queue) cancel(tag uint64) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if !q.closed {
		saqraw.Saq_queue_cancel(q.raw, q.cq, tag)
	}
}

// eventErr returns the event's error, or nil when it succeeded.
func eventErr(ev rawEvent) *Error {
	st := saqraw.Saq_event_status(ev)
	if st == saqraw.SAQ_OK {
		return nil
	}
	return newError(st, saqraw.Saq_event_errmsg(ev))
}

// run is do plus the event's status; the event is freed unless keep is
// non-nil, in which case keep runs on it first.
func (q *Queue) run(ctx context.Context, fn func(raw rawQueue, cq rawCQ, tag uint64) int, keep func(ev rawEvent) error) error {
	ev, err := q.do(ctx, fn)
	if err != nil {
		return err
	}
	defer saqraw.Saq_event_free(ev)
	if e := eventErr(ev); e != nil {
		return e
	}
	if keep != nil {
		return keep(ev)
	}
	return nil
}

// Close drains the queue: new operations fail with ErrClosed, operations
// that callers are waiting for get the drain timeout (WithDrainTimeout) to
// finish and then fail with ErrClosed, listeners end with ErrClosed, and
// operations whose caller's context has ended are dropped. Running workers
// are stopped first, without a grace period (use Worker.Stop for a graceful
// stop). Close releases every resource and goroutine of the queue. It is
// idempotent; it returns ErrTimeout when the drain timeout was hit.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		// From now on no operation, worker or batch can start.
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		// Workers must be freed before the queue.
		q.workersMu.Lock()
		ws := make([]*Worker, 0, len(q.workers))
		for w := range q.workers {
			ws = append(ws, w)
		}
		q.workersMu.Unlock()
		for _, w := range ws {
			w.stopNow()
		}
		// Open batch scopes end with the queue (their C handles use it).
		q.batchesMu.Lock()
		bs := make([]*Batch, 0, len(q.batches))
		for b := range q.batches {
			bs = append(bs, b)
		}
		q.batchesMu.Unlock()
		for _, b := range bs {
			b.End()
		}
		// Drain: wait for the operations someone is still waiting for.
		// Abandoned ones (their caller's ctx ended) and listens have nobody
		// to report to, so they are not waited for.
		drained := true
		deadline := time.Now().Add(q.drain)
		for q.activeOps() > 0 {
			if !time.Now().Before(deadline) {
				drained = false
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		// What is still pending completes with ErrClosed.
		saqraw.Saq_queue_close(q.raw, 0)
		// Every operation has delivered its event now. Wake the poller until
		// it has drained the cq and exited (a wakeup only reaches a poll that
		// is already blocked, so repeat it).
		atomic.StoreInt32(&q.stopping, 1)
		for done := false; !done; {
			saqraw.Saq_cq_wakeup(q.cq)
			select {
			case <-q.pollerDone:
				done = true
			case <-time.After(5 * time.Millisecond):
			}
		}
		q.pending.Range(func(k, v any) bool {
			q.pending.Delete(k)
			v.(*waiter).deliver(nil)
			return true
		})
		saqraw.Saq_queue_free(q.raw)
		// The last records (the I/O thread's own, as it ends) came after the
		// poller had gone.
		for ev := saqraw.Saq_cq_poll(q.cq, 0); !isNil(ev); ev = saqraw.Saq_cq_poll(q.cq, 0) {
			if saqraw.Saq_event_type(ev) == saqraw.SAQ_EVENT_LOG {
				q.log.emitEvent(ev)
			}
			saqraw.Saq_event_free(ev)
		}
		saqraw.Saq_cq_free(q.cq)
		if !drained {
			q.closeErr = errorf(saqraw.SAQ_ETIMEDOUT, "queue close: operations were still running at the drain deadline")
		}
	})
	return q.closeErr
}

// activeOps counts the operations a caller is waiting for.
func (q *Queue) activeOps() int {
	n := 0
	q.pending.Range(func(_, v any) bool {
		w := v.(*waiter)
		w.mu.Lock()
		if !w.abandoned && w.stream == nil {
			n++
		}
		w.mu.Unlock()
		return true
	})
	return n
}

// ---- operations ----

// Ping makes a round trip to Redis (connecting if needed) and returns the
// server's version, e.g. "7.0.15".
func (q *Queue) Ping(ctx context.Context) (string, error) {
	var v int64
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_ping(raw, cq, tag)
	}, func(ev rawEvent) error {
		v = saqraw.Saq_event_int(ev)
		return nil
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(v>>16, 10) + "." + strconv.FormatInt((v>>8)&0xff, 10) + "." + strconv.FormatInt(v&0xff, 10), nil
}

// Enqueue writes a job calling function with kwargs (saq's
// Queue.enqueue(function, **kwargs)); options set the key, timeout, retries
// and so on. kwargs are marshalled with encoding/json and passed as they
// are (names such as "timeout" are kwargs here, not job options). It
// returns the job as written, or ErrAlreadyEnqueued when a job with the same
// key is still incomplete.
func (q *Queue) Enqueue(ctx context.Context, function string, kwargs map[string]any, opts ...JobOption) (*Job, error) {
	spec, err := buildSpec(opts)
	if err != nil {
		return nil, err
	}
	c, err := newCJob(function, kwargs, spec)
	if err != nil {
		return nil, err
	}
	defer saqraw.Saq_job_free(c)
	if err := setTraceparent(c, spec.traceparentFor(ctx)); err != nil {
		return nil, err
	}
	var job *Job
	err = q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_enqueue(raw, c, cq, tag)
	}, func(ev rawEvent) error {
		if saqraw.Saq_event_int(ev) == 0 {
			return ErrAlreadyEnqueued
		}
		job = jobFromC(saqraw.Saq_event_job(ev))
		return nil
	})
	return job, err
}

// Job reads the job with the given key (saq's Queue.job); ErrNotFound when
// there is none.
func (q *Queue) Job(ctx context.Context, key string) (*Job, error) {
	if err := checkName("job key", key); err != nil {
		return nil, err
	}
	var job *Job
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_job(raw, key, cq, tag)
	}, func(ev rawEvent) error {
		job = jobFromC(saqraw.Saq_event_job(ev))
		return nil
	})
	return job, err
}

// Jobs reads several jobs at once (saq's Queue.jobs); the result has one
// entry per key, nil where the job does not exist.
func (q *Queue) Jobs(ctx context.Context, keys []string) ([]*Job, error) {
	for _, k := range keys {
		if err := checkName("job key", k); err != nil {
			return nil, err
		}
	}
	if keys == nil {
		keys = []string{}
	}
	js, _ := json.Marshal(keys)
	var jobs []*Job
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_jobs(raw, string(js), cq, tag)
	}, func(ev rawEvent) error {
		jobs = make([]*Job, len(keys))
		n := saqraw.Saq_event_job_count(ev)
		for i := int64(0); i < n && int(i) < len(jobs); i++ {
			jobs[i] = jobFromC(saqraw.Saq_event_job_at(ev, i))
		}
		return nil
	})
	return jobs, err
}

// AbortOutcome tells what Abort did.
type AbortOutcome int

// Abort outcomes.
const (
	AbortNoop      AbortOutcome = 0 // the job had already ended; nothing changed
	AbortRequested AbortOutcome = 1 // the job is running or scheduled: marked aborting, its worker stops it
	AbortDone      AbortOutcome = 2 // the job was waiting: it ended aborted at once
)

// AbortOption configures Abort.
type AbortOption func(*abortConfig)

type abortConfig struct{ ttl int }

// WithAbortMarkerTTL sets how long the abort marker blocks re-enqueueing the
// key (whole seconds, at least 1; default 5 s as in saq).
func WithAbortMarkerTTL(d time.Duration) AbortOption {
	return func(c *abortConfig) { c.ttl = int(d / time.Second) }
}

// Abort aborts the job with the given key with reason as its error (saq's
// Queue.abort). It returns what happened and the record after the abort;
// ErrNotFound when there is no such job.
func (q *Queue) Abort(ctx context.Context, key, reason string, opts ...AbortOption) (AbortOutcome, *Job, error) {
	if err := checkName("job key", key); err != nil {
		return 0, nil, err
	}
	if err := checkText("abort reason", reason); err != nil {
		return 0, nil, err
	}
	cfg := abortConfig{ttl: 5}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.ttl > maxCInt {
		return 0, nil, errorf(saqraw.SAQ_EINVAL, "abort marker ttl must be at most %d s", maxCInt)
	}
	var out AbortOutcome
	var job *Job
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_abort(raw, key, reason, cfg.ttl, cq, tag)
	}, func(ev rawEvent) error {
		out = AbortOutcome(saqraw.Saq_event_int(ev))
		job = jobFromC(saqraw.Saq_event_job(ev))
		return nil
	})
	return out, job, err
}

// Retry puts the job back in the queue with reason as its error (saq's
// Queue.retry). It reports whether anything was written (false when the job
// is gone or has ended).
func (q *Queue) Retry(ctx context.Context, key, reason string) (bool, error) {
	if err := checkName("job key", key); err != nil {
		return false, err
	}
	if err := checkText("retry reason", reason); err != nil {
		return false, err
	}
	var n int64
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_retry(raw, key, reason, cq, tag)
	}, func(ev rawEvent) error {
		n = saqraw.Saq_event_int(ev)
		return nil
	})
	return n == 1, err
}

// Finish ends the job with status (complete, failed or aborted), an
// optional result (nil for none; encoded as a handler's result is, so
// math.NaN() and a json.RawMessage are allowed) and error
// text (saq's Queue.finish). It reports whether anything was written.
func (q *Queue) Finish(ctx context.Context, key string, status Status, result any, errText string) (bool, error) {
	if err := checkName("job key", key); err != nil {
		return false, err
	}
	if err := checkText("status and error text", string(status)+errText); err != nil {
		return false, err
	}
	res, err := encodeResult(result)
	if err != nil {
		return false, errorf(saqraw.SAQ_EJSON, "result: %v", err)
	}
	var n int64
	err = q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_finish(raw, key, string(status), string(res), errText, cq, tag)
	}, func(ev rawEvent) error {
		n = saqraw.Saq_event_int(ev)
		return nil
	})
	return n == 1, err
}

// Update applies fields (progress, meta, ...) to the stored job and touches
// it (saq's Job.update); it reports whether anything was written.
func (q *Queue) Update(ctx context.Context, key string, fields map[string]any) (bool, error) {
	if err := checkName("job key", key); err != nil {
		return false, err
	}
	if fields == nil {
		fields = map[string]any{}
	}
	js, err := marshalObject("fields", fields)
	if err != nil {
		return false, err
	}
	var n int64
	err = q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_update(raw, key, js, cq, tag)
	}, func(ev rawEvent) error {
		n = saqraw.Saq_event_int(ev)
		return nil
	})
	return n == 1, err
}

// CountKind selects what Count counts.
type CountKind string

// Count kinds (saq's Queue.count).
const (
	CountQueued     CountKind = "queued"     // waiting to run now
	CountActive     CountKind = "active"     // taken by a worker
	CountIncomplete CountKind = "incomplete" // not ended yet, scheduled ones included
)

// Count returns the number of jobs of a kind (saq's Queue.count).
func (q *Queue) Count(ctx context.Context, kind CountKind) (int64, error) {
	if err := checkName("count kind", string(kind)); err != nil {
		return 0, err
	}
	var n int64
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_count(raw, string(kind), cq, tag)
	}, func(ev rawEvent) error {
		n = saqraw.Saq_event_int(ev)
		return nil
	})
	return n, err
}

// InfoOptions selects what Info lists.
type InfoOptions struct {
	Jobs   bool // list active and incomplete jobs
	Offset int  // skip that many jobs
	Limit  int  // list at most that many jobs (0: 10, saq's default)
}

// QueueInfo is what saq's Queue.info returns.
type QueueInfo struct {
	Name      string                    `json:"name"`
	Queued    int64                     `json:"queued"`
	Active    int64                     `json:"active"`
	Scheduled int64                     `json:"scheduled"`
	Workers   map[string]map[string]any `json:"workers"`
	Jobs      []map[string]any          `json:"jobs"`
	// Paused tells whether the queue is paused (Queue.Pause; a libsaq
	// extension: saq's info has no such member).
	Paused bool `json:"paused"`
	// Raw is the whole document as libsaq returned it.
	Raw json.RawMessage `json:"-"`
}

// Info returns the queue's counters, its workers and optionally its jobs
// (saq's Queue.info).
func (q *Queue) Info(ctx context.Context, opts InfoOptions) (*QueueInfo, error) {
	if opts.Offset < 0 || opts.Limit < 0 || opts.Offset > maxCInt || opts.Limit > maxCInt {
		return nil, errorf(saqraw.SAQ_EINVAL, "info offset and limit must be within 0..%d", maxCInt)
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 10
	}
	jobs := 0
	if opts.Jobs {
		jobs = 1
	}
	var info *QueueInfo
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_info(raw, jobs, opts.Offset, limit, cq, tag)
	}, func(ev rawEvent) error {
		var err error
		info, err = parseInfo(saqraw.Saq_event_json(ev))
		return err
	})
	return info, err
}

// parseInfo decodes an info document. Listed jobs may hold NaN or Infinity
// (Python's json writes them as bare tokens): they decode as in Job.Kwargs
// instead of failing the whole call.
func parseInfo(doc string) (*QueueInfo, error) {
	v, err := decodeJSON([]byte(doc))
	if err != nil {
		return nil, errorf(saqraw.SAQ_EPROTO, "info: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(saqraw.SAQ_EPROTO, "info: not a JSON object")
	}
	info := &QueueInfo{Raw: json.RawMessage(doc)}
	info.Name, _ = m["name"].(string)
	count := func(k string) int64 { f, _ := m[k].(float64); return int64(f) }
	info.Queued, info.Active, info.Scheduled = count("queued"), count("active"), count("scheduled")
	info.Paused, _ = m["paused"].(bool)
	if ws, ok := m["workers"].(map[string]any); ok {
		info.Workers = make(map[string]map[string]any, len(ws))
		for id, w := range ws {
			info.Workers[id], _ = w.(map[string]any)
		}
	}
	if js, ok := m["jobs"].([]any); ok {
		info.Jobs = make([]map[string]any, len(js))
		for i, j := range js {
			info.Jobs[i], _ = j.(map[string]any)
		}
	}
	return info, nil
}

// Stats are the counters of one queue object (saq's Queue.stats).
type Stats struct {
	Complete int64         `json:"complete"`
	Failed   int64         `json:"failed"`
	Retried  int64         `json:"retried"`
	Aborted  int64         `json:"aborted"`
	UptimeMS int64         `json:"uptime"`
	Uptime   time.Duration `json:"-"`
}

// Stats writes this queue object's counters to the worker registry for ttl
// (whole seconds) and returns them (saq's Queue.stats).
func (q *Queue) Stats(ctx context.Context, ttl time.Duration) (*Stats, error) {
	secs := int(ttl / time.Second)
	if secs < 1 {
		secs = 1
	} else if secs > maxCInt {
		secs = maxCInt
	}
	var st *Stats
	err := q.run(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_stats(raw, secs, cq, tag)
	}, func(ev rawEvent) error {
		st = &Stats{}
		if err := json.Unmarshal([]byte(saqraw.Saq_event_json(ev)), st); err != nil {
			return errorf(saqraw.SAQ_EPROTO, "stats: %v", err)
		}
		st.Uptime = time.Duration(st.UptimeMS) * time.Millisecond
		return nil
	})
	return st, err
}

// Schedule promotes due scheduled jobs (saq's Queue.schedule) unless another
// process did within lock, and returns their ids. Workers do this on their
// own; it is exposed for tools.
func (q *Queue) Schedule(ctx context.Context, lock time.Duration) ([]string, error) {
	if lock/time.Second > maxCInt {
		return nil, errorf(saqraw.SAQ_EINVAL, "schedule lock must be at most %d s", maxCInt)
	}
	return q.ids(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_schedule(raw, int(lock/time.Second), cq, tag)
	})
}

// Sweep recovers stuck jobs (saq's Queue.sweep) unless another process swept
// within lock, waiting up to abortWait for their workers, and returns their
// ids. Workers do this on their own; it is exposed for tools.
func (q *Queue) Sweep(ctx context.Context, lock, abortWait time.Duration) ([]string, error) {
	if lock/time.Second > maxCInt {
		return nil, errorf(saqraw.SAQ_EINVAL, "sweep lock must be at most %d s", maxCInt)
	}
	return q.ids(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_sweep(raw, int(lock/time.Second), abortWait.Seconds(), cq, tag)
	})
}

func (q *Queue) ids(ctx context.Context, fn func(raw rawQueue, cq rawCQ, tag uint64) int) ([]string, error) {
	var ids []string
	err := q.run(ctx, fn, func(ev rawEvent) error {
		ids = []string{}
		if doc := saqraw.Saq_event_json(ev); doc != "" {
			if err := json.Unmarshal([]byte(doc), &ids); err != nil {
				return errorf(saqraw.SAQ_EPROTO, "ids: %v", err)
			}
		}
		return nil
	})
	return ids, err
}

func decodeAny(doc string) any {
	if doc == "" {
		return nil
	}
	v, err := decodeJSON([]byte(doc))
	if err != nil {
		return json.RawMessage(doc) // cannot happen for what libsaq returns: keep the text
	}
	return v
}

// Apply enqueues a job and waits for its result (saq's Queue.apply). The
// result is decoded as Job.Result is (numbers become float64; Python's NaN
// and Infinity become math.NaN() and math.Inf). A job that
// fails or is aborted gives a *JobError (errors.Is(err, ErrJob)).
// WithTimeout bounds both the job and the wait (ErrTimeout); without it the
// job has no timeout, as in saq. Cancelling ctx stops waiting but not the
// job. ApplyInto and ApplyAs decode the result into a type of yours.
func (q *Queue) Apply(ctx context.Context, function string, kwargs map[string]any, opts ...JobOption) (any, error) {
	ev, err := q.applyEvent(ctx, function, kwargs, opts)
	if err != nil {
		return nil, err
	}
	defer saqraw.Saq_event_free(ev)
	return decodeAny(saqraw.Saq_event_json(ev)), nil
}

// applyEvent runs saq_queue_apply and returns its successful event (the
// caller frees it); a failed or aborted job is a *JobError.
func (q *Queue) applyEvent(ctx context.Context, function string, kwargs map[string]any, opts []JobOption) (rawEvent, error) {
	spec, err := buildSpec(opts)
	if err != nil {
		return nil, err
	}
	timeout := 0.0
	if spec.timeout != nil {
		timeout = *spec.timeout
	}
	c, err := newCJob(function, kwargs, spec)
	if err != nil {
		return nil, err
	}
	defer saqraw.Saq_job_free(c)
	if err := setTraceparent(c, spec.traceparentFor(ctx)); err != nil {
		return nil, err
	}
	ev, err := q.do(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_apply(raw, c, timeout, cq, tag)
	})
	if err != nil {
		return nil, err
	}
	if err := jobEventErr(ev); err != nil {
		saqraw.Saq_event_free(ev)
		return nil, err
	}
	return ev, nil
}

// jobEventErr is the error of an APPLY or MAP event: a *JobError for
// SAQ_EJOB (the event's job), the *Error otherwise, nil on success.
func jobEventErr(ev rawEvent) error {
	e := eventErr(ev)
	if e == nil {
		return nil
	}
	if e.Code == saqraw.SAQ_EJOB {
		return &JobError{Job: jobFromC(saqraw.Saq_event_job(ev)), Err: e}
	}
	return e
}

// Map enqueues one job of function per element of items and waits for all
// of them (saq's Queue.map); results are in item order, one per distinct
// job key (items sharing a key, e.g. through WithKey, make one job and one
// result, as saq's map does). Each item holds
// keyword arguments split the saq way: job field names (key, timeout,
// retries, ...) set job options, the rest are kwargs. WithDefaults gives
// kwargs shared by all items; the other options apply to every job, and
// WithTimeout bounds the jobs and the whole wait.
//
// Without ReturnExceptions the first failed or aborted job ends Map with a
// *JobError; with it, such entries of the result are *JobError values.
// MapAs and MapResults give typed results instead, and MapResults each
// job's failure in a field of its own.
func (q *Queue) Map(ctx context.Context, function string, items []map[string]any, opts ...JobOption) ([]any, error) {
	spec, err := buildSpec(opts)
	if err != nil {
		return nil, err
	}
	ev, err := q.mapEvent(ctx, function, items, spec, spec.returnExceptions)
	if err != nil {
		return nil, err
	}
	defer saqraw.Saq_event_free(ev)
	doc, err := decodeJSON([]byte(saqraw.Saq_event_json(ev)))
	if err != nil {
		return nil, errorf(saqraw.SAQ_EPROTO, "map results: %v", err)
	}
	out, ok := doc.([]any)
	if !ok {
		return nil, errorf(saqraw.SAQ_EPROTO, "map results: not a JSON array")
	}
	for i := range out {
		if j := mapJobAt(ev, i); !isNil(j) && failedStatus(Status(saqraw.Saq_job_status(j))) {
			out[i] = jobFailure(jobFromC(j))
		}
	}
	return out, nil
}

// mapEvent runs saq_queue_map and returns its successful event (the caller
// frees it); without returnExceptions a failed or aborted job is a
// *JobError.
func (q *Queue) mapEvent(ctx context.Context, function string, items []map[string]any, spec *jobSpec, returnExceptions bool) (rawEvent, error) {
	if err := checkName("function name", function); err != nil {
		return nil, err
	}
	// A copy: nil items become {} (json.Marshal writes null) without
	// writing to the caller's slice, which other goroutines may be reading.
	objs := make([]map[string]any, len(items))
	for i, it := range items {
		if it == nil {
			it = map[string]any{}
		}
		objs[i] = it
	}
	itemsJSON, err := json.Marshal(objs)
	if err != nil {
		return nil, errorf(saqraw.SAQ_EJSON, "items: %v", err)
	}
	defaults, err := mapDefaults(spec, spec.traceparentFor(ctx))
	if err != nil {
		return nil, err
	}
	timeout := 0.0
	if spec.timeout != nil {
		timeout = *spec.timeout
	}
	retExc := 0
	if returnExceptions {
		retExc = 1
	}
	ev, err := q.do(ctx, func(raw rawQueue, cq rawCQ, tag uint64) int {
		return saqraw.Saq_queue_map(raw, function, string(itemsJSON), defaults, timeout, retExc, cq, tag)
	})
	if err != nil {
		return nil, err
	}
	if err := jobEventErr(ev); err != nil {
		saqraw.Saq_event_free(ev)
		return nil, err
	}
	return ev, nil
}

// mapJobAt is the i-th job of a MAP event (borrowed), or a nil one.
func mapJobAt(ev rawEvent, i int) saqraw.Struct_SS_saq_job {
	if int64(i) >= saqraw.Saq_event_job_count(ev) {
		return nil
	}
	return saqraw.Saq_event_job_at(ev, int64(i))
}

// failedStatus: a Map entry whose job ended this way is a failure.
func failedStatus(st Status) bool { return st == StatusFailed || st == StatusAborted }

// jobFailure is the *JobError of a Map entry whose job failed or was aborted.
func jobFailure(job *Job) *JobError {
	return &JobError{Job: job, Err: errorf(saqraw.SAQ_EJOB, "job %s %s", job.ID, job.Status)}
}
