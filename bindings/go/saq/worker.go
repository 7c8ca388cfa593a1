// SPDX-License-Identifier: MIT
package saq

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// HandlerFunc runs one job. Its return value becomes the job's result
// (marshalled with encoding/json; nil means no result). As Python saq
// workers may, a handler can return math.NaN() or math.Inf (written as
// NaN/Infinity) or a json.RawMessage, stored as it is (any document
// Python's json accepts, such as {"x": NaN}); an error fails the
// job (retried while attempts remain), with err.Error() as the job's error
// text. A panic fails the job with the panic value and the stack.
//
// ctx is cancelled when the job times out, is aborted, misses its heartbeat,
// is lost, or the worker is stopping; job.CancelReason says which. Handlers
// should return promptly then; whatever they return, libsaq records the
// outcome saq would (failed or retried with a TimeoutError, aborted, ...).
type HandlerFunc func(ctx context.Context, job *Job) (any, error)

// CancelReason tells why a running job's context was cancelled.
type CancelReason int

// Cancel reasons (SAQ_CANCEL_*).
const (
	CancelNone      CancelReason = 0 // not cancelled
	CancelAborted   CancelReason = 1 // the job was aborted
	CancelTimeout   CancelReason = 2 // it ran longer than its timeout
	CancelShutdown  CancelReason = 3 // the worker is stopping
	CancelHeartbeat CancelReason = 4 // it missed its heartbeat
	CancelLost      CancelReason = 5 // its lease was lost (swept by another process)
)

// String returns the reason's name.
func (r CancelReason) String() string {
	switch r {
	case CancelNone:
		return "none"
	case CancelAborted:
		return "aborted"
	case CancelTimeout:
		return "timeout"
	case CancelShutdown:
		return "shutdown"
	case CancelHeartbeat:
		return "heartbeat"
	case CancelLost:
		return "lost"
	}
	return "CancelReason(" + strconv.Itoa(int(r)) + ")"
}

// ---- worker options ----

// WorkerOption configures a Worker (NewWorker): the With* options and
// Functions.
type WorkerOption interface {
	applyWorker(*workerConfig)
}

type workerOptionFunc func(*workerConfig)

func (f workerOptionFunc) applyWorker(c *workerConfig) { f(c) }

type workerConfig struct {
	kv        [][2]string
	errOnSet  error
	functions map[string]HandlerFunc
	queues    []addedQueue // WithQueue, WithQueues: served after the worker's own, in order
}

type addedQueue struct {
	q      *Queue
	weight int
}

// Functions maps function names to their handlers. Passed to NewWorker, it
// registers each of them, as Register does:
//
//	w, err := saq.NewWorker(q, saq.Functions{"add": add, "send_email": sendEmail})
type Functions map[string]HandlerFunc

func (f Functions) applyWorker(c *workerConfig) {
	for name, h := range f {
		c.functions[name] = h
	}
}

func (c *workerConfig) set(key, value string) { c.kv = append(c.kv, [2]string{key, value}) }

func secString(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// WithConcurrency sets how many jobs the worker runs at once (default 10).
func WithConcurrency(n int) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set("concurrency", strconv.Itoa(n)) })
}

// WithDequeueTimeout bounds each blocking dequeue (default 0: block until a
// job comes or the worker stops). Burst mode needs it > 0.
func WithDequeueTimeout(d time.Duration) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set("dequeue_timeout", secString(d)) })
}

// WithBurst makes the worker stop on its own once the queue is empty or
// maxJobs jobs have run (0: no limit), as saq's burst mode.
func WithBurst(maxJobs int) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) {
		c.set("burst", "true")
		c.set("max_burst_jobs", strconv.Itoa(maxJobs))
	})
}

// WithShutdownGracePeriod limits how long Stop lets running jobs finish
// before cancelling them (default: until Stop's context is done).
func WithShutdownGracePeriod(d time.Duration) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set("shutdown_grace_period", secString(d)) })
}

// WithCancellationHardDeadline sets how long a cancelled job may take to
// return before libsaq settles it without its handler and gives its slot to
// the next job (default 1 s).
func WithCancellationHardDeadline(d time.Duration) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set("cancellation_hard_deadline", secString(d)) })
}

// WithWorkerID sets the worker id (default: a uuid1).
func WithWorkerID(id string) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set("id", id) })
}

// WithMetadata sets the metadata shown in the worker registry (saq's info
// and web UI).
func WithMetadata(meta map[string]any) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) {
		b, err := json.Marshal(meta)
		if err != nil {
			if c.errOnSet == nil {
				c.errOnSet = errorf(saqraw.SAQ_EJSON, "metadata: %v", err)
			}
			return
		}
		c.set("metadata", string(b))
	})
}

// Timers are the periods of the worker's upkeep tasks; zero fields keep
// saq's defaults (schedule 1 s, worker info 10 s, sweep 60 s, abort 1 s).
type Timers struct {
	Schedule   time.Duration // promote scheduled jobs and enqueue cron jobs
	WorkerInfo time.Duration // refresh the worker registry
	Sweep      time.Duration // recover stuck jobs
	Abort      time.Duration // look for aborted running jobs
	// Pause is how often the worker reads its queue's pause flag
	// (Queue.Pause; default 0.5 s, a fifth of it while paused).
	Pause time.Duration
}

// WithTimers sets the upkeep periods.
func WithTimers(t Timers) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) {
		if t.Schedule > 0 {
			c.set("timers.schedule", secString(t.Schedule))
		}
		if t.WorkerInfo > 0 {
			c.set("timers.worker_info", secString(t.WorkerInfo))
		}
		if t.Sweep > 0 {
			c.set("timers.sweep", secString(t.Sweep))
		}
		if t.Abort > 0 {
			c.set("timers.abort", secString(t.Abort))
		}
		if t.Pause > 0 {
			c.set("timers.pause", secString(t.Pause))
		}
	})
}

// QueueOrder decides how a worker serving several queues (WithQueue,
// WithQueues) shares its concurrency among them.
type QueueOrder string

// Queue orders (libsaq's queue_order).
const (
	// Strict gives a free slot to the first queue in order that may have
	// jobs: a later queue runs jobs only while every earlier one is found
	// empty. The default.
	Strict QueueOrder = "strict"
	// Weighted shares the free slots among the queues that have jobs in
	// proportion to their weights (smooth weighted round robin); a queue
	// without jobs holds none back.
	Weighted QueueOrder = "weighted"
)

// WithQueue makes the worker serve q too, after the worker's own queue and
// the queues added before it, with weight (at least 1) as its share in
// Weighted order (Strict order ignores weights). The worker runs the same
// functions, hooks and settings on every queue; WithConcurrency is the total
// over all of them. Each queue keeps its own connections (in a Redis
// Cluster, to the master owning its hash slot), blocking dequeue, registry
// entry (saq's info and web UI of each queue list the worker, as
// "<ID>.<n>" on the n-th added queue) and recovery duties; cron jobs and
// the startup and shutdown hooks run once. Job.Queue tells a handler which
// queue a job came from.
//
// q must not be the worker's own queue nor be added twice, and weight must
// be at least 1 (ErrInvalid); q must be open (ErrClosed). Closing any of
// the queues stops the whole worker, as Queue.Close stops its own workers.
func WithQueue(q *Queue, weight int) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.queues = append(c.queues, addedQueue{q, weight}) })
}

// WithQueues makes the worker serve each of qs too, in this order, each
// with weight 1 (see WithQueue).
func WithQueues(qs ...*Queue) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) {
		for _, q := range qs {
			c.queues = append(c.queues, addedQueue{q, 1})
		}
	})
}

// WithQueueOrder sets how a worker serving several queues shares its
// concurrency: Strict (default) or Weighted. Another value makes NewWorker
// fail with ErrInvalid.
func WithQueueOrder(order QueueOrder) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set("queue_order", string(order)) })
}

// WithQueueWeight sets the weight of the worker's own queue in Weighted
// order (default 1; 1..1000000). Added queues take theirs from WithQueue.
func WithQueueWeight(weight int) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set("queue_weight", strconv.Itoa(weight)) })
}

// WithCronTZ sets the IANA time zone of the worker's cron jobs, as saq 0.26's
// Worker(cron_tz=ZoneInfo(name)): each Cron without its own CronTZ reads its
// expression in that zone's wall clock ("" = UTC, the default). A name
// the system's tz database lacks makes NewWorker fail with ErrInvalid.
func WithCronTZ(name string) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set("cron_tz", name) })
}

// WithWorkerConfig sets any worker key of libsaq's configuration (see
// saq_conf_set in saq.h).
func WithWorkerConfig(key, value string) WorkerOption {
	return workerOptionFunc(func(c *workerConfig) { c.set(key, value) })
}

// ---- cron options ----

// CronOption configures a cron job (Worker.Cron).
type CronOption func(map[string]any)

// CronKwargs sets the keyword arguments of each cron run.
func CronKwargs(kwargs map[string]any) CronOption {
	return func(m map[string]any) { m["kwargs"] = kwargs }
}

// CronTimeout sets the timeout of each cron run.
func CronTimeout(d time.Duration) CronOption {
	return func(m map[string]any) { m["timeout"] = d.Seconds() }
}

// CronHeartbeat sets the heartbeat of each cron run.
func CronHeartbeat(d time.Duration) CronOption {
	return func(m map[string]any) { m["heartbeat"] = d.Seconds() }
}

// CronRetries sets the retries of each cron run.
func CronRetries(n int) CronOption { return func(m map[string]any) { m["retries"] = n } }

// CronTTL sets the ttl (whole seconds) of each cron run's record.
func CronTTL(d time.Duration) CronOption {
	return func(m map[string]any) { m["ttl"] = int(d / time.Second) }
}

// CronUnique sets whether runs share the key cron:<function> (default true,
// as saq), so that a run is not enqueued while the previous one is pending.
func CronUnique(unique bool) CronOption { return func(m map[string]any) { m["unique"] = unique } }

// CronTZ reads the expression in the wall clock of an IANA time zone
// ("America/New_York"), as saq 0.26's Worker(cron_tz=ZoneInfo(name)); ""
// means UTC, even on a worker WithCronTZ (a cron job without CronTZ takes the
// worker's WithCronTZ, else UTC). On the days the clock changes it does what
// croniter does: a time in a spring-forward gap fires at the first minute
// after the gap (02:30 -> 03:00), except that with '*' hours the gap's times
// are skipped, and a time that occurs twice (fall back) fires twice. The
// zones are libsaq's (the system's tz database), not Go's time package's; a name it
// does not know makes Worker.Cron return ErrCron.
func CronTZ(name string) CronOption {
	return func(m map[string]any) {
		if name == "" {
			m["cron_tz"] = nil
		} else {
			m["cron_tz"] = name
		}
	}
}

// CronLocation is CronTZ(loc.String()): loc must be an IANA zone loaded with
// time.LoadLocation (time.UTC is UTC; time.Local is refused unless it was
// loaded from a zone name).
func CronLocation(loc *time.Location) CronOption {
	if loc == nil || loc == time.UTC {
		return CronTZ("")
	}
	return CronTZ(loc.String())
}

// ---- Worker ----

// Worker runs jobs of a queue (or several: WithQueue) with Go handlers.
// libsaq leases the jobs (dequeue, concurrency, timeouts, heartbeats,
// aborts, sweeps, cron) on its I/O thread and hands each to a goroutine
// running its handler.
//
// Register handlers, cron jobs and hooks, then Start; Stop stops gracefully.
// Its methods are safe for concurrent use.
type Worker struct {
	q        *Queue
	added    []*Queue // the queues added with WithQueue/WithQueues (each holds w in its workers)
	graceSet bool     // shutdown_grace_period is set (else Stop waits until its ctx is done)

	lifeMu   sync.Mutex // serializes Start with Stop's state change
	mu       sync.Mutex
	raw      saqraw.Struct_SS_saq_worker // nil once freed
	cq       rawCQ
	id       string
	state    int
	handlers map[string]HandlerFunc
	startup  []func(context.Context) error
	shutdown []func(context.Context)
	before   []func(context.Context, *Job) error
	after    []func(context.Context, *Job, error)

	leasesMu sync.Mutex
	leases   map[string][]*lease // by job key; keys are unique per queue only

	handles    sync.WaitGroup // leased C jobs not yet freed, waited for once the poller is done
	stopped    chan struct{}  // closed on WORKER_STOPPED
	pollerDone chan struct{}
	stopOnce   sync.Once
	finalOnce  sync.Once
	finalDone  chan struct{}

	// The counters and metrics of the last run, read just before the C
	// worker is freed (Stats and Metrics answer with them afterwards).
	finalStats   string
	finalMetrics string
}

const (
	workerNew = iota
	workerStarting
	workerRunning
	workerClosed
)

const workerTag = 1

// NewWorker makes a worker for q. It uses one extra Redis connection and
// q's I/O thread; q must stay open while the worker runs (Queue.Close stops
// it). With WithQueue or WithQueues it serves those queues too, the same
// way, each on its own queue's connections and I/O thread.
func NewWorker(q *Queue, opts ...WorkerOption) (*Worker, error) {
	if q == nil {
		return nil, errorf(saqraw.SAQ_EINVAL, "NewWorker: the queue is nil")
	}
	cfg := &workerConfig{functions: map[string]HandlerFunc{}}
	for _, o := range opts {
		if o != nil {
			o.applyWorker(cfg)
		}
	}
	if cfg.errOnSet != nil {
		return nil, cfg.errOnSet
	}
	conf, err := newConf(cfg.kv)
	if err != nil {
		return nil, err
	}
	defer saqraw.Saq_conf_free(conf)
	for _, a := range cfg.queues {
		if a.q == nil {
			return nil, errorf(saqraw.SAQ_EINVAL, "NewWorker: a queue to add is nil")
		}
	}
	w, err := openWorker(q, conf)
	if err != nil {
		return nil, err
	}
	// From here on a Close of q (or of an added queue) stops and frees w,
	// and what follows fails with ErrClosed.
	for _, a := range cfg.queues {
		if err := w.addQueue(a.q, a.weight); err != nil {
			w.finalize(false)
			return nil, err
		}
	}
	names := make([]string, 0, len(cfg.functions))
	for name := range cfg.functions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := w.Register(name, cfg.functions[name]); err != nil {
			w.finalize(false)
			return nil, err
		}
	}
	return w, nil
}

// openWorker opens the C worker on q and puts it in q.workers, holding q
// open meanwhile so that Close sees it.
func openWorker(q *Queue, conf saqraw.Struct_SS_saq_conf) (*Worker, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return nil, ErrClosed
	}
	var raw saqraw.Struct_SS_saq_worker
	if rc := saqraw.Saq_worker_open(&raw, q.raw, conf); rc != 0 {
		return nil, newError(rc, saqraw.Saq_conf_errmsg(conf))
	}
	w := &Worker{
		q:          q,
		graceSet:   saqraw.Saq_conf_get(conf, "shutdown_grace_period") != "",
		raw:        raw,
		id:         saqraw.Saq_worker_id(raw),
		handlers:   make(map[string]HandlerFunc),
		leases:     make(map[string][]*lease),
		stopped:    make(chan struct{}),
		pollerDone: make(chan struct{}),
		finalDone:  make(chan struct{}),
	}
	q.workersMu.Lock()
	q.workers[w] = struct{}{}
	q.workersMu.Unlock()
	return w, nil
}

// addQueue makes the C worker serve q too (saq_worker_add_queue) and puts w
// in q.workers, holding q open meanwhile: closing q then stops w before q's
// C handle is freed, as the C worker requires.
func (w *Worker) addQueue(q *Queue, weight int) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkNew(); err != nil {
		return err
	}
	if weight < 1 || weight > math.MaxInt32 {
		return errorf(saqraw.SAQ_EINVAL, "queue '%s': weight must be at least 1, got %d", q.name, weight)
	}
	if rc := saqraw.Saq_worker_add_queue(w.raw, q.raw, weight); rc != saqraw.SAQ_OK {
		return w.errLocked(rc)
	}
	w.added = append(w.added, q)
	q.workersMu.Lock()
	q.workers[w] = struct{}{}
	q.workersMu.Unlock()
	return nil
}

// ID returns the worker id (it appears in jobs' WorkerID and saq's info;
// on the n-th queue added with WithQueue, as ID()+".<n>").
func (w *Worker) ID() string { return w.id }

func (w *Worker) errLocked(code int) error {
	return newError(code, saqraw.Saq_worker_errmsg(w.raw))
}

func (w *Worker) checkNew() error {
	switch w.state {
	case workerStarting, workerRunning:
		return errorf(saqraw.SAQ_ESTATE, "the worker has already started")
	case workerClosed:
		return ErrClosed
	}
	return nil
}

// Register makes h the handler of jobs whose function is function. Before
// Start only.
func (w *Worker) Register(function string, h HandlerFunc) error {
	if h == nil {
		return errorf(saqraw.SAQ_EINVAL, "handler must not be nil")
	}
	if err := checkName("function name", function); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkNew(); err != nil {
		return err
	}
	if rc := saqraw.Saq_worker_register_pull(w.raw, function); rc != saqraw.SAQ_OK {
		return w.errLocked(rc)
	}
	w.handlers[function] = h
	return nil
}

// Cron adds a cron job (saq's CronJob): function runs on the schedule expr,
// 5 fields (minute hour day month weekday) or 6 with seconds last, or an
// alias such as @hourly, in UTC or in the zone of CronTZ. The function must
// be registered before Start. ErrCron for a bad expression or zone. Before
// Start only.
func (w *Worker) Cron(function, expr string, opts ...CronOption) error {
	if err := checkName("function name", function); err != nil {
		return err
	}
	if err := checkName("cron expression", expr); err != nil {
		return err
	}
	m := map[string]any{}
	for _, o := range opts {
		if o != nil {
			o(m)
		}
	}
	js, err := marshalObject("cron options", m)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkNew(); err != nil {
		return err
	}
	if rc := saqraw.Saq_worker_add_cron(w.raw, function, expr, js); rc != saqraw.SAQ_OK {
		return w.errLocked(rc)
	}
	return nil
}

// Limit is a rate limit and a concurrency limit (SetLimit): at most MaxJobs
// starts per Period (a sliding window; 0 = no rate limit) and at most
// MaxRunning jobs running at once (0 = no concurrency limit).
type Limit struct {
	MaxJobs    int
	Period     time.Duration
	MaxRunning int
}

// SetLimit limits the jobs of function ("" = every job of the queue) over
// every libsaq worker of the queue that sets the same limit (an extension
// kept in Redis, in saq:<queue>:libsaq:limit:*; Python saq workers do not
// honour it). A job over a limit waits, never fails: over the queue's limit
// it stays at the head of the queue; over its function's rate it is deferred
// (scheduled) to its next free start; over its function's MaxRunning it
// waits until a slot frees (at most 30 s, then it is tried again). The slots
// of a worker that died are freed when its liveness entry expires. Setting a
// function's limit again replaces it; a zero Limit removes it. MaxRunning
// needs the timers.liveness setting > 0. Before Start only.
func (w *Worker) SetLimit(function string, l Limit) error {
	if l.MaxJobs < 0 || l.MaxRunning < 0 || l.MaxJobs > math.MaxInt32 || l.MaxRunning > math.MaxInt32 {
		return errorf(saqraw.SAQ_EINVAL, "SetLimit: MaxJobs and MaxRunning must be between 0 and %d", math.MaxInt32)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkNew(); err != nil {
		return err
	}
	if rc := saqraw.Saq_worker_set_limit(w.raw, function, l.MaxJobs, l.Period.Seconds(), l.MaxRunning); rc != saqraw.SAQ_OK {
		return w.errLocked(rc)
	}
	return nil
}

// OnStartup adds a hook that Start runs (in order) before the worker takes
// jobs; an error aborts Start. Before Start only.
func (w *Worker) OnStartup(fn func(ctx context.Context) error) error {
	return w.addHook(func() { w.startup = append(w.startup, fn) }, fn == nil)
}

// OnShutdown adds a hook that runs once after the worker has stopped (from
// Stop or Wait). Before Start only.
func (w *Worker) OnShutdown(fn func(ctx context.Context)) error {
	return w.addHook(func() { w.shutdown = append(w.shutdown, fn) }, fn == nil)
}

// BeforeProcess adds a hook that runs before each job's handler, with the
// job's context; an error (or panic) fails the job without running the
// handler. Before Start only.
func (w *Worker) BeforeProcess(fn func(ctx context.Context, job *Job) error) error {
	return w.addHook(func() { w.before = append(w.before, fn) }, fn == nil)
}

// AfterProcess adds a hook that runs after each job, also failed and
// cancelled ones, with the handler's error (nil on success). Its panics are
// recovered and ignored. Before Start only.
func (w *Worker) AfterProcess(fn func(ctx context.Context, job *Job, err error)) error {
	return w.addHook(func() { w.after = append(w.after, fn) }, fn == nil)
}

func (w *Worker) addHook(add func(), isNil bool) error {
	if isNil {
		return errorf(saqraw.SAQ_EINVAL, "hook must not be nil")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkNew(); err != nil {
		return err
	}
	add()
	return nil
}

// Start runs the startup hooks with ctx, then starts taking jobs. It returns
// at once; the worker runs until Stop (or, in burst mode, until the queue is
// empty). Start may be called once.
func (w *Worker) Start(ctx context.Context) error {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	w.mu.Lock()
	if err := w.checkNew(); err != nil {
		w.mu.Unlock()
		return err
	}
	w.state = workerStarting // registrations are closed from here on
	hooks := w.startup
	w.mu.Unlock()
	err := w.start(ctx, hooks)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.state = workerNew
		return err
	}
	w.state = workerRunning
	go w.poll(w.cq)
	return nil
}

// start runs the startup hooks (without holding w.mu, so that they may use
// the worker) and starts the C worker.
func (w *Worker) start(ctx context.Context, hooks []func(context.Context) error) error {
	for _, h := range hooks {
		if err := callStartup(ctx, h); err != nil {
			return fmt.Errorf("saq: worker startup hook: %w", err)
		}
	}
	cq := saqraw.Saq_cq_new()
	if isNil(cq) {
		return newError(saqraw.SAQ_ENOMEM, "")
	}
	w.q.mu.RLock()
	rc := saqraw.SAQ_ECLOSED
	if !w.q.closed {
		rc = saqraw.Saq_worker_start(w.raw, cq, workerTag)
	}
	w.q.mu.RUnlock()
	if rc != saqraw.SAQ_OK {
		saqraw.Saq_cq_free(cq)
		if rc == saqraw.SAQ_ECLOSED {
			return ErrClosed
		}
		return newError(rc, saqraw.Saq_worker_errmsg(w.raw))
	}
	w.mu.Lock()
	w.cq = cq
	w.mu.Unlock()
	return nil
}

func callStartup(ctx context.Context, h func(context.Context) error) (err error) {
	returned := false
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		} else if !returned {
			err = fmt.Errorf("panic: %v", errNoReturn)
		}
	}()
	err = h(ctx)
	returned = true
	return err
}

// Done returns a channel closed once the worker has stopped taking and
// running jobs (after Stop, or on its own in burst mode).
func (w *Worker) Done() <-chan struct{} { return w.stopped }

// poll is the worker's poller goroutine: LEASE events start handlers,
// CANCEL events cancel their contexts, GIVEN_BACK events release the C job
// of a handler libsaq stopped waiting for, WORKER_STOPPED ends it.
func (w *Worker) poll(cq rawCQ) {
	defer close(w.pollerDone)
	for {
		ev := saqraw.Saq_cq_poll(cq, -1)
		if isNil(ev) {
			continue
		}
		switch saqraw.Saq_event_type(ev) {
		case saqraw.SAQ_EVENT_LEASE:
			job := saqraw.Saq_event_take_job(ev)
			saqraw.Saq_event_free(ev)
			if !isNil(job) {
				w.startLease(job)
			}
		case saqraw.SAQ_EVENT_CANCEL, saqraw.SAQ_EVENT_GIVEN_BACK:
			typ, key, n := saqraw.Saq_event_type(ev), saqraw.Saq_event_key(ev), saqraw.Saq_event_int(ev)
			saqraw.Saq_event_free(ev)
			w.leasesMu.Lock()
			ls := append([]*lease(nil), w.leases[key]...)
			w.leasesMu.Unlock()
			for _, l := range ls {
				// Several queues may each run a job with this key: the
				// event is about the one libsaq cancelled (CANCEL) or
				// whose lease id it carries (GIVEN_BACK).
				if typ == saqraw.SAQ_EVENT_CANCEL && len(ls) == 1 {
					l.cancelWith(CancelReason(n))
				} else if typ == saqraw.SAQ_EVENT_CANCEL {
					if why := l.cancelled(); why != CancelNone {
						l.cancelWith(why)
					}
				} else if typ == saqraw.SAQ_EVENT_GIVEN_BACK && l.id == uint64(n) {
					l.free() // libsaq stored the outcome without the handler; its late settle is a no-op
				}
			}
		case saqraw.SAQ_EVENT_WORKER_STOPPED:
			saqraw.Saq_event_free(ev)
			close(w.stopped)
			return
		default:
			saqraw.Saq_event_free(ev)
		}
	}
}

// lease is a job handed to a handler; it owns the C job handle.
type lease struct {
	w      *Worker
	key    string
	id     uint64 // saq_job_lease_id: unique within the worker, over all its queues
	cancel context.CancelFunc
	reason int32 // atomic CancelReason

	mu      sync.Mutex
	raw     rawJob // nil once freed
	settled bool
}

// cancelled tells why libsaq has cancelled the job (saq_job_cancelled), or
// CancelNone.
func (l *lease) cancelled() CancelReason {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.raw == nil {
		return CancelNone
	}
	return CancelReason(saqraw.Saq_job_cancelled(l.raw))
}

func (l *lease) cancelWith(why CancelReason) {
	atomic.CompareAndSwapInt32(&l.reason, 0, int32(why))
	l.cancel()
}

// settle completes or fails the job once (nothing when the lease has
// already been given back).
func (l *lease) settle(result any, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.raw == nil || l.settled {
		return
	}
	l.settled = true
	if err == nil {
		b, merr := marshalResult(result)
		if merr == nil {
			saqraw.Saq_job_complete(l.raw, string(b))
			return
		}
		err = fmt.Errorf("TypeError: the job's result cannot be marshalled to JSON: %v", merr)
	}
	saqraw.Saq_job_fail(l.raw, errorText(err)) // libsaq cuts a text too large for max_payload_bytes
}

// marshalResult is encodeResult (json.Marshal that also writes NaN and
// Infinity as Python does and passes a json.RawMessage through) turning a
// panic of a MarshalJSON or MarshalText method into an error: it runs on the
// worker's goroutine, where a panic would end the process.
func marshalResult(v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("panic in MarshalJSON: %v", r)
		}
	}()
	return encodeResult(v)
}

// errorText is err.Error() for the job's error text, safe for errors whose
// Error method panics (such as a typed nil pointer returned as error).
func errorText(err error) (text string) {
	defer func() {
		if r := recover(); r != nil {
			text = fmt.Sprintf("%T (its Error method panicked: %v)", err, r)
		}
	}()
	text = err.Error()
	if text == "" {
		text = fmt.Sprintf("%T", err)
	}
	return strings.ReplaceAll(text, "\x00", "\\x00") // C would cut the text at a NUL
}

// free releases the C job; unsettled, the job is retried with error
// "cancelled" as saq does for jobs cancelled by a shutdown.
func (l *lease) free() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.raw == nil {
		return
	}
	saqraw.Saq_job_free(l.raw)
	l.raw = nil
	l.w.handles.Done()
}

func (l *lease) touch(fields string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.raw == nil || l.settled {
		return errorf(saqraw.SAQ_ESTATE, "the job has already been settled")
	}
	if rc := saqraw.Saq_job_touch(l.raw, fields); rc != saqraw.SAQ_OK {
		return newError(rc, saqraw.Saq_job_errmsg(l.raw))
	}
	return nil
}

func (w *Worker) startLease(raw rawJob) {
	job := jobFromC(raw)
	ctx := context.Background()
	if job.traceparent != "" {
		ctx = ContextWithTraceparent(ctx, job.traceparent)
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &lease{w: w, key: job.Key, id: saqraw.Saq_job_lease_id(raw), cancel: cancel, raw: raw}
	job.lease = l
	w.handles.Add(1)
	w.leasesMu.Lock()
	w.leases[job.Key] = append(w.leases[job.Key], l)
	w.leasesMu.Unlock()
	if why := saqraw.Saq_job_cancelled(raw); why != 0 {
		l.cancelWith(CancelReason(why))
	}
	w.mu.Lock()
	h := w.handlers[job.Function]
	w.mu.Unlock()
	go w.runLease(ctx, l, job, h)
}

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n\n%s", p.value, p.stack) }

// errNoReturn is the error of a handler or hook that did not return: it
// called runtime.Goexit (t.FailNow, log.Fatal's cousins in tests), or
// panicked with a nil value under GODEBUG=panicnil=1 (the default of main
// modules older than go 1.21), where recover returns nil.
var errNoReturn = fmt.Errorf("the handler did not return (runtime.Goexit, or panic(nil) with GODEBUG=panicnil=1)")

// recoverPanic turns a panic into the call's error. returned is set by the
// call once the function came back normally; without it, a panic(nil) that
// recover reports as nil would pass as success.
func recoverPanic(err *error, returned *bool) {
	if r := recover(); r != nil {
		*err = &panicError{value: r, stack: debug.Stack()}
	} else if !*returned {
		*err = &panicError{value: errNoReturn, stack: debug.Stack()}
	}
}

func callBefore(ctx context.Context, h func(context.Context, *Job) error, job *Job) (err error) {
	returned := false
	defer recoverPanic(&err, &returned)
	err = h(ctx, job)
	returned = true
	return err
}

func callHandler(ctx context.Context, h HandlerFunc, job *Job) (res any, err error) {
	returned := false
	defer recoverPanic(&err, &returned)
	res, err = h(ctx, job)
	returned = true
	return res, err
}

func (w *Worker) callAfter(ctx context.Context, h func(context.Context, *Job, error), job *Job, herr error) {
	defer func() {
		if r := recover(); r != nil {
			w.queueLog(job.Queue).logf(slog.LevelWarn,
				capText(fmt.Sprintf("after_process hook panicked for job %s (%s): %v", job.Key, job.Function, r)),
				jobAttrs(job, slog.String("hook", "after_process"), slog.String("reason", capText(fmt.Sprint(r))))...)
		}
	}()
	h(ctx, job, herr)
}

// queueLog is the log sink of the worker's queue with that name (the
// worker's own queue's for an unknown name).
func (w *Worker) queueLog(name string) *logSink {
	for _, q := range w.added {
		if q.name == name {
			return q.log
		}
	}
	return w.q.log
}

// jobAttrs are the fields of a record about a job, named as libsaq names
// them (a panic's text is its "reason"; libsaq's "error" is an SAQ_E* name).
func jobAttrs(job *Job, more ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{slog.String("queue", job.Queue), slog.String("worker", job.WorkerID),
		slog.String("job", job.Key), slog.String("function", job.Function)}, more...)
}

// workerMetricsLocked is saq_worker_metrics; w.mu is held (the text shares
// its buffer with saq_worker_stats_json).
func workerMetricsLocked(w *Worker) string { return saqraw.Saq_worker_metrics(w.raw) }

func (w *Worker) runLease(ctx context.Context, l *lease, job *Job, h HandlerFunc) {
	defer l.cancel()
	var result any
	var err error
	finished := false
	defer func() {
		// runtime.Goexit in a handler or hook unwinds through here without
		// running the code below: settle and release the job all the same,
		// or Stop would wait for it forever.
		if !finished {
			w.endLease(ctx, l, job, nil, errNoReturn)
		}
	}()
	for _, b := range w.before {
		if err = callBefore(ctx, b, job); err != nil {
			break
		}
	}
	if err == nil {
		if h == nil { // cannot happen: libsaq only leases registered functions
			err = fmt.Errorf("KeyError: no Go handler for function %q", job.Function)
		} else {
			result, err = callHandler(ctx, h, job)
		}
	}
	finished = true
	w.endLease(ctx, l, job, result, err)
}

// endLease settles the job (libsaq decides what a cancelled job's outcome
// is), releases it and runs the after-process hooks.
func (w *Worker) endLease(ctx context.Context, l *lease, job *Job, result any, err error) {
	l.settle(result, err)
	w.leasesMu.Lock()
	ls := w.leases[l.key]
	for i := range ls {
		if ls[i] == l {
			ls = append(ls[:i:i], ls[i+1:]...)
			break
		}
	}
	if len(ls) == 0 {
		delete(w.leases, l.key)
	} else {
		w.leases[l.key] = ls
	}
	w.leasesMu.Unlock()
	l.free()
	for _, a := range w.after {
		w.callAfter(ctx, a, job, err)
	}
}

// CancelReason tells why the context of a running job was cancelled
// (CancelNone if it was not, or for jobs not handed to a handler).
func (j *Job) CancelReason() CancelReason {
	if j.lease == nil {
		return CancelNone
	}
	return CancelReason(atomic.LoadInt32(&j.lease.reason))
}

// Touch records a heartbeat for a running job (touched = now). Only for the
// job handed to a handler, while the handler runs.
func (j *Job) Touch() error {
	if j.lease == nil {
		return errorf(saqraw.SAQ_EINVAL, "Touch: the job is not running in this process")
	}
	return j.lease.touch("{}")
}

// Update touches a running job and applies fields to its record (saq's
// job.update(progress=..., meta=...)); the stored status is kept. Only for
// the job handed to a handler, while the handler runs.
func (j *Job) Update(fields map[string]any) error {
	if j.lease == nil {
		return errorf(saqraw.SAQ_EINVAL, "Update: the job is not running in this process")
	}
	if p, ok := fields["progress"].(float64); ok && (math.IsNaN(p) || p < 0 || p > 1) {
		return errorf(saqraw.SAQ_EINVAL, "progress must be within 0..1")
	}
	js, err := marshalObject("fields", fields)
	if err != nil {
		return err
	}
	return j.lease.touch(js)
}

// Stop stops the worker gracefully: it takes no new jobs and lets running
// jobs finish until ctx is done (or the shutdown grace period, if one was
// set, has passed). Then running jobs are cancelled: their contexts end and
// they are retried with error "cancelled", as saq does. Stop returns once
// the worker has stopped and run its shutdown hooks; it returns ctx.Err()
// if jobs had to be cancelled because ctx ended. Stop is idempotent.
func (w *Worker) Stop(ctx context.Context) error {
	w.lifeMu.Lock()
	w.mu.Lock()
	w.lifeMu.Unlock()
	switch w.state {
	case workerNew:
		w.state = workerClosed
		w.mu.Unlock()
		w.finalize(false)
		return nil
	case workerClosed:
		w.mu.Unlock()
		<-w.finalDone
		return nil
	}
	w.mu.Unlock()
	w.stopOnce.Do(func() {
		grace := math.MaxInt32 // until ctx is done
		if w.graceSet {
			grace = -1 // the configured grace period
		}
		w.stopRaw(grace)
	})
	var err error
	select {
	case <-w.stopped:
	case <-ctx.Done():
		select {
		case <-w.stopped: // stopped anyway: nothing to cancel
		default:
			// no grace left: libsaq cancels the running jobs, retries them
			// ("cancelled") and gives back those still running after the
			// hard deadline
			err = ctx.Err()
			w.stopRaw(0)
			<-w.stopped
		}
	}
	w.finalize(true)
	return err
}

// stopRaw asks the C worker to stop, unless it has already been freed (by a
// concurrent Stop, Wait or Queue.Close that saw it stopped).
func (w *Worker) stopRaw(graceMS int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raw != nil {
		saqraw.Saq_worker_stop(w.raw, graceMS)
	}
}

// Wait waits until the worker stops on its own (burst mode) or through
// Stop, then runs the shutdown hooks; ctx bounds the wait.
func (w *Worker) Wait(ctx context.Context) error {
	w.mu.Lock()
	st := w.state
	w.mu.Unlock()
	if st == workerNew {
		return errorf(saqraw.SAQ_ESTATE, "the worker was never started")
	}
	select {
	case <-w.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.finalize(true)
	return nil
}

// Run starts the worker and runs it until ctx is cancelled (or the worker
// stops on its own in burst mode), then stops it, letting running jobs
// finish for the shutdown grace period (0 unless set, as saq). It is the Go
// form of saq's worker main loop; wire ctx to signal.NotifyContext for
// SIGINT/SIGTERM handling.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-w.stopped:
	}
	sctx, cancel := context.Background(), context.CancelFunc(func() {}) // libsaq applies the grace period
	if !w.graceSet {
		sctx, cancel = context.WithTimeout(sctx, 0)
	}
	defer cancel()
	if err := w.Stop(sctx); err != nil && err != context.DeadlineExceeded {
		return err
	}
	return nil
}

// finalize releases the worker once it has stopped: it waits for the poller
// and the leased jobs, frees the C worker and runs the shutdown hooks.
func (w *Worker) finalize(started bool) {
	w.finalOnce.Do(func() {
		defer close(w.finalDone)
		if started {
			<-w.pollerDone
			w.handles.Wait()
		} else {
			// Never started (Stop or Queue.Close before Start): no poller
			// will close stopped, and Done and Wait must not block.
			close(w.stopped)
		}
		w.mu.Lock()
		w.state = workerClosed
		if started {
			// WORKER_STOPPED came (the poller is done): libsaq marks the
			// worker stopped right after it, once it has taken the final
			// figures over every queue of the worker. Freeing it (and then
			// a queue of it) before that lets the I/O thread read freed
			// memory, so wait for the mark rather than just check it.
			saqraw.Saq_worker_wait(w.raw, -1)
		}
		w.finalStats = saqraw.Saq_worker_stats_json(w.raw)
		w.finalMetrics = workerMetricsLocked(w)
		saqraw.Saq_worker_free(w.raw)
		w.raw = nil
		if w.cq != nil {
			saqraw.Saq_cq_free(w.cq)
			w.cq = nil
		}
		hooks := w.shutdown
		queues := append([]*Queue{w.q}, w.added...)
		w.mu.Unlock()
		for _, q := range queues {
			q.workersMu.Lock()
			delete(q.workers, w)
			q.workersMu.Unlock()
		}
		if started {
			for _, h := range hooks {
				func() {
					defer func() {
						if r := recover(); r != nil {
							w.q.log.logf(slog.LevelWarn, capText(fmt.Sprintf("worker %s: shutdown hook panicked: %v", w.id, r)),
								slog.String("queue", w.q.name), slog.String("worker", w.id),
								slog.String("hook", "shutdown"), slog.String("reason", capText(fmt.Sprint(r))))
						}
					}()
					h(context.Background())
				}()
			}
		}
	})
}

// stopNow is Queue.Close's stop: running jobs are cancelled at once.
func (w *Worker) stopNow() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = w.Stop(ctx)
}

// WorkerStats are the counters of a worker's queue object (for a worker of
// several queues, the sums over them, and each queue's in Queues).
type WorkerStats struct {
	Complete int64 `json:"complete"`
	Failed   int64 `json:"failed"`
	Retried  int64 `json:"retried"`
	Aborted  int64 `json:"aborted"`
	Running  int64 `json:"running"` // this worker's jobs in progress
	Errors   int64 `json:"errors"`  // Redis errors of the worker's own writes and upkeep
	UptimeMS int64 `json:"uptime"`  // ms since the worker's own queue was made
	// Queues: one entry per queue in order (the worker's own first) when
	// the worker serves several queues (WithQueue); nil otherwise.
	Queues []WorkerQueueStats `json:"queues"`
}

// WorkerQueueStats are the counters of one queue of a worker that serves
// several.
type WorkerQueueStats struct {
	Name     string `json:"name"` // the queue name
	ID       string `json:"id"`   // the worker's id on that queue ("<ID>.<n>" on the n-th added queue)
	Complete int64  `json:"complete"`
	Failed   int64  `json:"failed"`
	Retried  int64  `json:"retried"`
	Aborted  int64  `json:"aborted"`
	Running  int64  `json:"running"`
	Errors   int64  `json:"errors"`
}

// Stats returns the worker's counters: live while it runs, and those of its
// last run once it has stopped (Stop, Wait, Run, or Queue.Close).
func (w *Worker) Stats() (*WorkerStats, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	doc := w.finalStats
	if w.raw != nil {
		doc = saqraw.Saq_worker_stats_json(w.raw)
	}
	if doc == "" {
		return nil, ErrNoMemory
	}
	st := &WorkerStats{}
	if err := json.Unmarshal([]byte(doc), st); err != nil {
		return nil, errorf(saqraw.SAQ_EPROTO, "worker stats: %v", err)
	}
	return st, nil
}
