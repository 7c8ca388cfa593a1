# SPDX-License-Identifier: MIT
# frozen_string_literal: true

module Saq
  # saq's Worker. libsaq leases the jobs (dequeue, concurrency, timeouts,
  # heartbeats, aborts, sweeps, scheduling, cron, the worker registry) on its
  # I/O thread; the handlers are Ruby callables run on a pool of
  # `concurrency` Ruby threads. One Ruby thread waits for libsaq's events
  # (with the GVL released) and feeds the pool; Ruby code never runs on a
  # libsaq thread.
  #
  #   worker = Saq::Worker.new(queue, functions: {
  #     "add" => ->(job) { job.kwargs["a"] + job.kwargs["b"] },
  #   })
  #   worker.run   # until SIGINT/SIGTERM
  #
  # A handler receives the leased Saq::Job (keyword parameters, if it has any,
  # are filled from the job's kwargs). Its return value, as JSON, is the
  # job's result. An exception fails the job with "Class: message" and the
  # backtrace; libsaq retries it while the job has retries left. When the
  # job is aborted, times out, misses its heartbeat or the worker stops past
  # its grace period, Saq::Cancelled is raised in the handler's thread (pass
  # interrupt: false to only have Job#cancelled? report it instead).
  class Worker
    # Worker keys of libsaq's configuration (seconds unless the name says ms).
    CONF_KEYS = %i[dequeue_timeout burst max_burst_jobs shutdown_grace_period
                   cancellation_hard_deadline id metadata swept_error_message dead_worker_check
                   queue_order queue_weight cron_tz].freeze
    TIMERS = %i[schedule worker_info stats sweep abort pause].freeze
    TAG = 1

    @live = {}.compare_by_identity # started and not yet finished, for the at_exit stop
    @live_lock = Mutex.new
    @exiting = false
    @at_exit_installed = false

    class << self
      # @api private: true once the process runs its at_exit hooks.
      def __exiting?
        @exiting
      end

      # @api private
      def __live(worker, alive)
        @live_lock.synchronize do
          if alive
            @live[worker] = true
            unless @at_exit_installed
              @at_exit_installed = true
              at_exit { Worker.__stop_all_at_exit }
            end
          else
            @live.delete(worker)
          end
        end
      end

      # @api private: a script that ends (or dies of an exception or an
      # untrapped SIGTERM) without stopping its workers stops them here, as
      # saq does on SIGTERM: no new jobs, running ones get the grace period,
      # then are cancelled and put back in the queue ("cancelled", whatever
      # their retries: not failed). Ruby kills the remaining threads only
      # after this returns. A second ^C during the wait ends it.
      def __stop_all_at_exit
        workers = @live_lock.synchronize do
          @exiting = true
          @live.keys
        end
        workers.select!(&:__own_process?)
        workers.each { |w| w.__stop_for_exit }
        workers.each { |w| w.__join_for_exit }
      end
    end

    attr_reader :queue, :id, :concurrency, :context, :functions

    # Every queue the worker serves, in order: its own (#queue) first, then
    # the ones given in queues:.
    attr_reader :queues

    # functions: Hash of name => callable (or an Array of [name, callable]
    #   pairs and Method objects, named after the method).
    # cron_jobs: Saq::CronJob objects or Hashes (function:, cron:, ...).
    # startup, shutdown: callables (or Arrays of them) called with the context
    #   Hash ({worker:, queue:} plus what they add), before the worker takes
    #   jobs and after it stopped.
    # before_process, after_process: called with the job's context
    #   ({..., job:}); an error in before_process fails the job; after_process
    #   runs once libsaq has stored the outcome and sees the job as stored
    #   (status, result, error, attempts, ...) and, when the job did not
    #   complete, ctx[:exception]: the exception the handler (or a
    #   before_process hook) raised, or the Saq::Cancelled whose #reason
    #   (:timeout, :aborted, ...) stopped it, also when the handler swallowed it
    #   or never saw it; its errors are logged and ignored.
    # timers: {schedule:, worker_info:, sweep:, abort:, pause:} in seconds
    # (pause: how often the queue's pause flag is read, Queue#pause; 0 ignores it).
    # queues: more queues to serve after `queue` (saq #284), in order: each a
    #   Saq::Queue or [Saq::Queue, weight] (or a Hash of Saq::Queue => weight);
    #   weight (default 1, at least 1) counts in queue_order :weighted.
    #   `concurrency` is the total over all queues; the functions, hooks and
    #   settings serve every queue. Each queue keeps its own connections (in a
    #   cluster, to the master of its hash slot), blocking dequeue and registry
    #   entry (as "<id>.<n>" on the n-th added queue); the queues must stay
    #   open while the worker runs (closing one stops the worker).
    # queue_order: :strict (default: a free slot goes to the first queue in
    #   order that may have jobs) or :weighted (free slots shared among the
    #   queues that have jobs in proportion to their weights); queue_weight:
    #   the weight of `queue` itself (default 1).
    # limits: rate limits and global concurrency over every libsaq worker of
    #   the queue (an extension kept in Redis; Python saq workers do not
    #   honour it): a Hash of function name (nil or "" = every job of the
    #   queue) => {max_jobs:, period:, max_running:}: at most max_jobs starts
    #   per period seconds (a sliding window) and at most max_running running
    #   at once (each 0 or absent = none). A job over a limit waits, never
    #   fails: over the queue's limit it stays at the head of the queue; over
    #   its function's rate it is deferred (scheduled) to its next free start;
    #   over its function's max_running it waits until a slot frees (at most
    #   30 s, then it is tried again). A dead worker's slots are freed when its
    #   liveness entry expires. Give every worker of the queue the same limits.
    #   Bad values raise InvalidArgumentError.
    # A handler's job.ctx[:queue] is the Saq::Queue its job came from.
    # Other options as libsaq's worker keys: dequeue_timeout, burst,
    # max_burst_jobs, shutdown_grace_period, cancellation_hard_deadline, id,
    # metadata (a Hash), swept_error_message, dead_worker_check, cron_tz (the
    # IANA time zone of the cron jobs that set none, as saq's
    # Worker(cron_tz=...); an unknown zone raises InvalidArgumentError).
    # libsaq's refusals raise the matching Saq::Error (a bad queue_order or
    # weight, a queue given twice: InvalidArgumentError).
    # logger: where this worker's lines go: libsaq's records about it (start,
    # stop, jobs swept or recovered, ...; they pass its queue's log_level) and
    # the binding's own (a handler that raised, a hook that failed). Default:
    # its queue's logger; nil silences them. The queue's own lines (Redis
    # unreachable, a connection lost and recovered) go to the queue's logger.
    def initialize(queue, functions:, concurrency: 10, cron_jobs: [], startup: nil, shutdown: nil,
                   before_process: nil, after_process: nil, timers: nil, context: nil,
                   interrupt: true, logger: Log::UNSET, queues: nil, limits: nil, **options)
      unknown = options.keys - CONF_KEYS
      raise ArgumentError, "unknown option(s): #{unknown.join(", ")}" unless unknown.empty?

      @queue = queue
      extra = normalize_queues(queues)
      @queues = [queue, *extra.map(&:first)].freeze
      @concurrency = Integer(concurrency)
      @interrupt = interrupt
      @own_logger = !logger.equal?(Log::UNSET)
      @logger = @own_logger ? logger : queue.__logger_option
      @startup = hook_list(startup)
      @shutdown = hook_list(shutdown)
      @before_process = hook_list(before_process)
      @after_process = hook_list(after_process)
      @crons = Array(cron_jobs).map { |c| CronJob.coerce(c) }
      @limits = normalize_limits(limits)
      @functions = normalize_functions(functions)
      @crons.each { |c| @functions[c.function] ||= c.handler if c.handler }
      @kw_handlers = @functions.transform_values { |fn| takes_keywords?(fn) }
      @context = (context || {}).merge(worker: self, queue: queue)

      @raw = build_raw(options, timers, extra)
      @id = Native.saq_worker_id(@raw)
      # a leased job's worker_id names its queue: the id on the worker's own,
      # "<id>.<n>" on the n-th added one
      @queue_of = @queues.each_with_index.to_h { |q, i| [i.zero? ? @id : "#{@id}.#{i}", q] }
      @pid = Process.pid
      @state = :new
      @lock = Mutex.new
      @running = {}
      @running_lock = Mutex.new
      @threads = []
      @threads_lock = Mutex.new
      @dead = 0 # handler threads killed (Thread#kill, Thread.exit) and not replaced yet
      @stop_requested = false
      @outcomes = {} # lease id => Thread::Queue of the stored record, for after_process
      @outcomes_lock = Mutex.new
      # how long the at_exit stop waits: the grace period and hard deadline
      # libsaq runs with, and a margin
      @exit_wait = %w[shutdown_grace_period cancellation_hard_deadline].sum do |key|
        Float(Native.saq_worker_conf_get(@raw, key))
      end + 2
    end

    # Start taking jobs in background threads and return. Runs the startup hooks first.
    def start
      @lock.synchronize do
        raise StateError.new("the worker was already started", code: Native::SAQ_ESTATE) unless @state == :new

        @state = :starting
      end
      raise forked_error if Process.pid != @pid

      begin
        @startup.each { |h| h.call(@context) }
        @cq = Native.saq_cq_new or raise OutOfMemoryError
        @jobs = ::Queue.new
        @threads = Array.new(@concurrency) do |i|
          Thread.new { handler_loop }.tap { |t| t.name = "saq-handler-#{i}" }
        end
        Log.route_worker(@id, @logger) if @own_logger
        rc = Native.saq_worker_start(@raw, @cq, TAG)
        Saq.check!(rc, Native.saq_worker_errmsg(@raw))
      rescue Exception # rubocop:disable Lint/RescueException
        @concurrency.times { @jobs << :stop } if @jobs
        @threads.each(&:join)
        @state = :stopped
        Log.drain
        Log.unroute_worker(@id) if @own_logger
        raise
      end
      @poller = Thread.new { poll_loop }.tap { |t| t.name = "saq-poller" }
      @state = :running
      Worker.__live(self, true)
      self
    end

    # saq's Worker.start: start, stop gracefully on SIGINT/SIGTERM, wait for
    # the stop and the shutdown hooks. Returns self.
    def run
      previous = {}
      %w[INT TERM].each do |sig|
        # trap context: only a non-blocking libsaq call, no locks, no logging
        previous[sig] = Signal.trap(sig) do
          @stop_requested = true
          Native.saq_worker_stop(@raw, -1)
        end
      end
      start
      join
      self
    ensure
      previous.each { |sig, handler| Signal.trap(sig, handler || "DEFAULT") }
    end

    # Ask the worker to stop: no new jobs are taken; running jobs get `grace`
    # seconds (nil = shutdown_grace_period) before they are cancelled and
    # retried. Returns at once. Safe from a signal trap.
    def request_stop(grace: nil)
      raise forked_error if Process.pid != @pid

      @stop_requested = true
      Native.saq_worker_stop(@raw, grace.nil? ? -1 : Saq.__ms(grace))
      self
    end

    # request_stop, then wait (up to `timeout` seconds, nil = no limit) for
    # the worker to stop. Returns true when it stopped.
    def stop(grace: nil, timeout: nil)
      request_stop(grace: grace)
      join(timeout)
    end

    # Wait until the worker stopped (by #stop, a signal in #run, or burst
    # mode running dry), then run the shutdown hooks once. Returns false when
    # `timeout` seconds passed first.
    def join(timeout = nil)
      return true if @state == :new || @state == :stopped
      raise forked_error if Process.pid != @pid

      deadline = timeout && (Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout.to_f)
      return false unless @poller.join(remaining(deadline))

      # a handler that ignores its cancellation keeps its thread: the timeout
      # bounds this wait too (the stop completes in a later join)
      @threads_lock.synchronize { @threads.dup }.each do |t|
        return false unless t.join(remaining(deadline))
      end
      finish
      true
    end

    def running?
      @state == :running
    end

    # This worker's counters: "complete", "failed", "retried", "aborted",
    # "uptime" (ms), "running". After the worker stopped they stay readable:
    # the figures of its run.
    def stats
      Codec.load(Native.saq_worker_stats_json(@raw))
    end

    # This worker's own metrics as a Prometheus text exposition (format
    # 0.0.4): saq_jobs_processed_total{queue,function,outcome},
    # saq_job_duration_seconds{queue,function} (a histogram),
    # saq_jobs_running{queue}, saq_worker_errors_total{queue}. Readable
    # before, during and after a run. Serve it with Saq::Metrics.
    def metrics
      Native.saq_worker_metrics(@raw) or raise OutOfMemoryError.new("worker metrics", code: Native::SAQ_ENOMEM)
    end

    # The logger this worker's lines go to (nil when silenced).
    def logger
      @logger.equal?(Log::UNSET) ? Saq.logger : @logger
    end

    def inspect
      names = @queues.map(&:name).join(",")
      "#<Saq::Worker #{@id} #{@queues.size > 1 ? "queues=#{names}" : "queue=#{names}"} #{@state}>"
    end
    alias to_s inspect

    # @api private (the at_exit stop)
    def __own_process?
      Process.pid == @pid
    end

    # @api private
    def __stop_for_exit
      request_stop
    rescue StandardError => e
      log(:warn, "stop at exit failed", error: "#{e.class}: #{e.message}")
    end

    # @api private
    # Once libsaq's worker stopped (after the grace period and the hard
    # deadline every job is settled or given back), the shutdown hooks run
    # even if a handler that ignores its cancellation still holds a thread,
    # as saq runs them after the hard deadline.
    def __join_for_exit
      return if join(@exit_wait)

      if @poller.alive?
        log(:warn, "not stopped #{@exit_wait} s after the stop at exit; its running jobs are left for a " \
                   "sweep to recover")
      else
        log(:warn, "handlers still running after the stop at exit (their jobs were put back); running " \
                   "the shutdown hooks")
        finish
      end
    rescue StandardError => e
      log(:warn, "stop at exit failed", error: "#{e.class}: #{e.message}")
    end

    private

    def forked_error
      ForkedError.new("this Saq::Worker was created in process #{@pid} and cannot be used in the " \
                      "forked child #{Process.pid}; start workers after forking", code: Native::SAQ_EFORKED)
    end

    def remaining(deadline)
      deadline && [deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max
    end

    # queues: as [[Saq::Queue, weight], ...].
    def normalize_queues(queues)
      entries = queues.is_a?(Hash) ? queues.to_a : Array(queues).map { |e| e.is_a?(Array) ? e : [e, 1] }
      entries.map do |entry|
        q, weight, *rest = entry
        weight = 1 if weight.nil?
        unless q.is_a?(Queue) && weight.is_a?(Integer) && rest.empty?
          raise ArgumentError, "queues: each entry is a Saq::Queue or [Saq::Queue, Integer weight], " \
                               "not #{entry.inspect}"
        end

        [q, weight]
      end
    end

    def build_raw(options, timers, extra)
      conf = Native.saq_conf_new or raise OutOfMemoryError
      begin
        conf_set(conf, "concurrency", @concurrency)
        options.each do |k, v|
          next if v.nil?

          v = v.nil? ? "null" : Codec.dump(v) if k == :metadata
          conf_set(conf, k.to_s, v)
        end
        (timers || {}).each do |k, v|
          raise ArgumentError, "unknown timer #{k.inspect} (#{TIMERS.join(", ")})" unless TIMERS.include?(k.to_sym)

          conf_set(conf, "timers.#{k}", v)
        end
        rc, raw = Native.saq_worker_open(@queue.raw, conf)
        Saq.check!(rc, "cannot create the worker: #{Native.saq_conf_errmsg(conf)}")
      ensure
        Native.saq_rb_conf_release(conf)
      end
      extra.each do |q, weight|
        rc = Native.saq_worker_add_queue(raw, q.raw, weight)
        Saq.check!(rc, "cannot serve queue #{q.name}: #{Native.saq_worker_errmsg(raw)}")
      end
      @functions.each_key do |name|
        Saq.check!(Native.saq_worker_register_pull(raw, name), "#{name}: #{Native.saq_worker_errmsg(raw)}")
      end
      @crons.each do |c|
        rc = Native.saq_worker_add_cron(raw, c.function, c.cron, c.options_json)
        Saq.check!(rc, "cron job #{c.function} (#{c.cron}): #{Native.saq_worker_errmsg(raw)}")
      end
      @limits.each do |function, max_jobs, period, max_running|
        rc = Native.saq_worker_set_limit(raw, function, max_jobs, period, max_running)
        Saq.check!(rc, "limit of #{function.empty? ? "the queue" : function}: #{Native.saq_worker_errmsg(raw)}")
      end
      raw
    end

    LIMIT_KEYS = %i[max_jobs period max_running].freeze
    INT32_MAX = 2**31 - 1

    # [[function ("" = the queue), max_jobs, period, max_running], ...]
    def normalize_limits(limits)
      raise ArgumentError, "limits: a Hash of function => {max_jobs:, period:, max_running:}" unless limits.nil? || limits.is_a?(Hash)

      (limits || {}).map do |function, spec|
        spec = spec.to_h { |k, v| [k.to_sym, v] } if spec.is_a?(Hash)
        unless spec.is_a?(Hash) && (spec.keys - LIMIT_KEYS).empty?
          raise ArgumentError, "limits[#{function.inspect}]: a Hash with #{LIMIT_KEYS.join(", ")}, not #{spec.inspect}"
        end

        jobs, running = [spec[:max_jobs] || 0, spec[:max_running] || 0].map do |v|
          raise ArgumentError, "limits[#{function.inspect}]: #{v.inspect} is not an Integer" unless v.is_a?(Integer)
          raise InvalidArgumentError, "limits[#{function.inspect}]: #{v} is out of range" unless v.between?(0, INT32_MAX)

          v
        end
        [function.to_s, jobs, Float(spec[:period] || 0), running]
      end
    end

    def conf_set(conf, key, value)
      rc = Native.saq_conf_set(conf, key, value.to_s)
      Saq.check!(rc, Saq.__conf_message(key, Native.saq_conf_errmsg(conf)))
    end

    def hook_list(value)
      list = value.nil? ? [] : (value.respond_to?(:call) ? [value] : Array(value))
      list.each { |h| raise ArgumentError, "hook #{h.inspect} is not callable" unless h.respond_to?(:call) }
      list
    end

    def normalize_functions(functions)
      pairs = case functions
              when Hash then functions.to_a
              else
                Array(functions).map do |f|
                  if f.is_a?(Array) then f
                  elsif f.respond_to?(:name) && f.respond_to?(:call) then [f.name, f]
                  else raise ArgumentError, "function #{f.inspect} needs a name: use a Hash of name => callable"
                  end
                end
              end
      pairs.each_with_object({}) do |(name, fn), out|
        raise ArgumentError, "handler of #{name.inspect} is not callable" unless fn.respond_to?(:call)

        out[name.to_s] = fn
      end
    end

    def takes_keywords?(fn)
      m = fn.is_a?(Proc) || fn.is_a?(Method) ? fn : fn.method(:call)
      m.parameters.any? { |type, _| %i[key keyreq keyrest].include?(type) }
    end

    # The one thread that talks to libsaq's worker: leases go to the pool,
    # cancellations to the threads running those jobs, stored outcomes to the
    # threads waiting to run after_process hooks.
    def poll_loop
      loop do
        ev = Native.saq_rb_cq_poll(@cq, -1)
        next unless ev

        begin
          case Native.saq_event_type(ev)
          when Native::SAQ_EVENT_LEASE
            respawn_handlers if @dead.positive?
            lease(Native.saq_event_take_job(ev))
          when Native::SAQ_EVENT_CANCEL
            cancel(Native.saq_event_key(ev), Native.saq_event_int(ev))
          when Native::SAQ_EVENT_OUTCOME
            box = @outcomes_lock.synchronize { @outcomes[Native.saq_event_int(ev)] }
            box&.push(Native.saq_event_status(ev).zero? ? Job.from_raw(Native.saq_event_job(ev)) : nil)
          when Native::SAQ_EVENT_GIVEN_BACK
            given_back(Native.saq_event_int(ev))
          when Native::SAQ_EVENT_WORKER_STOPPED
            break
          end
        rescue StandardError => e
          # one event's trouble must not end the loop (the worker would stay
          # registered and take no job again)
          log(:error, "worker event not handled", error: "#{e.class}: #{e.message}")
        ensure
          Native.saq_rb_event_release(ev)
        end
      end
    rescue Exception => e # rubocop:disable Lint/RescueException
      log(:error, "worker event loop failed; stopping the worker", error: "#{e.class}: #{e.message}")
      Native.saq_worker_stop(@raw, 0)
    ensure
      @outcomes_lock.synchronize { @outcomes.each_value(&:close) }
      @concurrency.times { @jobs << :stop }
    end

    # A leased job goes to the pool. One that Ruby cannot decode (kwargs,
    # meta) is failed at once with the reason, so it is visible and the
    # loop goes on.
    def lease(raw)
      return unless raw

      job = begin
        Job.leased(raw, self)
      rescue StandardError, SystemStackError => e
        text = "Saq::DecodeError: the Ruby worker cannot decode job #{Native.saq_job_key(raw)}: " \
               "#{e.class}: #{e.message}"
        rc = Native.saq_job_fail(raw, Saq.__c_text(text)) # libsaq logs the failure with this text
        log(:warn, "cannot fail the job", job: Native.saq_job_key(raw), error: Native.saq_err_name(rc)) unless rc.zero?
        Native.saq_rb_job_release(raw)
        return
      end
      @outcomes_lock.synchronize { @outcomes[Native.saq_job_lease_id(raw)] = Thread::Queue.new } if @after_process.any?
      @jobs << job
    end

    def cancel(key, code)
      reason = Job::CANCEL_REASONS.fetch(code, :cancelled)
      log(:info, "cancelling job", job: key, reason: reason)
      return unless @interrupt

      # jobs are tracked by lease id: a worker of several queues may run two
      # jobs with the same key; the one meant is the one libsaq marked
      # cancelled before it sent the event
      @running_lock.synchronize do
        @running.each_value do |job, thread|
          thread.raise(Cancelled.new(reason)) if job.key == key && job.cancelled?
        end
      end
    end

    # libsaq stored the outcome of a job whose handler ignored its
    # cancellation past the hard deadline, and gave its slot to the next job:
    # a new thread takes the slot; the stuck one ends once its handler returns.
    def given_back(lease_id)
      thread = @running_lock.synchronize { @running[lease_id] }&.last
      return unless thread

      thread[:saq_retire] = true
      @threads_lock.synchronize { @dead += 1 }
    end

    # Handler threads: Saq::Cancelled is only let in while the handler (and
    # its before_process hooks) run; one that arrives later is dropped.
    def handler_loop
      done = false
      Thread.handle_interrupt(Cancelled => :never) do
        while !Thread.current[:saq_retire] && (job = @jobs.pop) != :stop
          begin
            process(job)
          rescue Exception => e # rubocop:disable Lint/RescueException
            log(:error, "job handling failed", job: job.key, function: job.function, error: "#{e.class}: #{e.message}")
          end
        end
      end
      done = true
    ensure
      # Thread#kill / Thread.exit in a handler ends this thread without an
      # exception: the poller replaces it before the next lease, or the pool
      # would shrink and leased jobs would wait in @jobs for no thread.
      @threads_lock.synchronize { @dead += 1 } unless done
    end

    # On the poller thread (so nothing is respawned while Ruby kills all
    # threads at exit: the poller is killed too).
    def respawn_handlers
      n = @threads_lock.synchronize { @dead.tap { @dead = 0 } }
      log(:warn, "handler threads killed or past the hard deadline; starting new ones", threads: n)
      fresh = Array.new(n) { |i| Thread.new { handler_loop }.tap { |t| t.name = "saq-handler-r#{i}" } }
      @threads_lock.synchronize { @threads.concat(fresh) }
    end

    def process(job)
      ctx = @context.merge(job: job)
      ctx[:queue] = @queue_of.fetch(job.worker_id, @queue) if @queues.size > 1
      job.__set_ctx(ctx)
      result = error = nil
      lease_id = Native.saq_job_lease_id(job.__raw)
      @running_lock.synchronize { @running[lease_id] = [job, Thread.current] }
      settled = false
      begin
        reason = job.cancel_reason
        raise Cancelled, reason if reason

        fn = @functions.fetch(job.function) # libsaq leases registered functions only
        Thread.handle_interrupt(Cancelled => :immediate) do
          @before_process.each { |h| h.call(ctx) }
          result = if @kw_handlers[job.function]
                     fn.call(job, **(job.kwargs || {}).transform_keys(&:to_sym))
                   else
                     fn.call(job)
                   end
        end
        outcome = :complete
      rescue Cancelled => e
        outcome = :cancelled
        error = e
      rescue Exception => e # rubocop:disable Lint/RescueException
        outcome = :error
        error = e
      ensure
        @running_lock.synchronize { @running.delete(lease_id) if @running[lease_id]&.last == Thread.current }
      end
      drop_late_cancel
      # a cancellation the handler did not see or swallowed (interrupt: false,
      # a rescue of Saq::Cancelled, one that came as it returned)
      unseen = job.cancel_reason if outcome == :complete
      settle(job, outcome, result, error, ctx) { settled = true }
      unless @after_process.empty? # they see the record as stored: wait for its OUTCOME
        id = Native.saq_job_lease_id(job.__raw)
        stored = @outcomes_lock.synchronize { @outcomes[id] }&.pop
        @outcomes_lock.synchronize { @outcomes.delete(id) }
        job.__stored(stored) if stored
        # libsaq stored a timeout, abort, ... instead of the result: the hooks
        # get the cause as an exception, as for a handler that raised
        ctx[:exception] ||= Cancelled.new(unseen) if unseen && job.status != :complete
      end
      @after_process.each do |h|
        h.call(ctx)
      rescue StandardError => e
        log(:warn, "hook failed", hook: "after_process", job: job.key, function: job.function,
                                  error: "#{e.class}: #{e.message}")
      end
    ensure
      # Reached unsettled only when the thread is being killed. While the
      # worker stops (#stop, the process exiting) that is the shutdown: the
      # lease is given back and libsaq puts the job back in the queue
      # ("cancelled", as saq does for a shutdown, whatever its retries).
      # Otherwise (Thread#kill, Thread.exit in the handler) the attempt
      # fails now instead of leaving the lease to the GC.
      unless settled
        if @stop_requested || Worker.__exiting?
          Native.saq_rb_job_release(job.__raw) if job.__raw
        else
          settle(job, :error, nil, ThreadError.new("the handler's thread was killed before the job finished"), ctx)
        end
      end
    end

    def drop_late_cancel
      return unless Thread.pending_interrupt?(Cancelled)

      Thread.handle_interrupt(Cancelled => :immediate) { Thread.pass }
    rescue Cancelled
      nil
    end

    # Store the outcome in libsaq (yields once that call was made); libsaq
    # decides what is stored (OUTCOME tells). Nothing in the result or the
    # exception (unencodable values, NUL bytes, odd encodings, a message
    # method that raises) may leave the job unsettled.
    def settle(job, outcome, result, error, ctx)
      raw = job.__raw
      begin
        json = Codec.dump(result) if outcome == :complete
      rescue Exception => e # rubocop:disable Lint/RescueException -- SystemStackError, a to_json raising anything
        outcome = :error
        error = e
      end
      begin
        ctx[:exception] = error unless outcome == :complete # the handler's, or Saq::Cancelled
        rc = if outcome == :complete then Native.saq_job_complete(raw, json)
             elsif outcome == :cancelled then Native.saq_job_fail(raw, Saq.__c_text("Saq::Cancelled: #{error.message}"))
             else Native.saq_job_fail(raw, Worker.error_text(error))
             end
      rescue Exception => e # rubocop:disable Lint/RescueException
        rc = Native.saq_job_fail(raw, "Saq::Error: the job's outcome could not be reported (#{e.class})")
      end
      yield if block_given?
      return if rc.zero?

      refused = outcome == :complete && [Native::SAQ_ETOOBIG, Native::SAQ_EINVAL].include?(rc) # failed with the reason
      if refused
        why = Native.saq_job_errmsg(raw)
        ctx[:exception] = Saq.error_for(rc, why) # after_process: what failed the job
        log(:warn, "result refused; the job failed", job: job.key, function: job.function, error: why)
      else
        log(:warn, "cannot settle the job", job: job.key, function: job.function, error: Native.saq_err_name(rc))
      end
    end

    def finish
      first = @lock.synchronize do
        next false if @state == :stopped

        @state = :stopped
        true
      end
      return unless first

      Worker.__live(self, false)

      Native.saq_rb_worker_wait(@raw, 1000)
      @shutdown.each do |h|
        h.call(@context)
      rescue StandardError => e
        log(:warn, "hook failed", hook: "shutdown", error: "#{e.class}: #{e.message}")
      end
      Native.saq_rb_cq_release(@cq) if @cq
      @cq = nil
      Log.drain # libsaq's last records about this worker ("worker stopped") before stop returns
      Log.unroute_worker(@id) if @own_logger
    end

    # A line of the binding's own about this worker, in libsaq's form.
    def log(level, message, **fields)
      Log.emit(@logger, level, message, { queue: @queue.name, worker: @id }.merge(fields))
    end

    # The error text stored for an exception: "Class: message" and the
    # backtrace, as UTF-8 without NUL bytes (libsaq takes a C string): see
    # Saq.__c_text. A message that cannot be read at all is named as such.
    def self.error_text(error)
      message = begin
        Saq.__c_text(error.message)
      rescue Exception => e # rubocop:disable Lint/RescueException
        "(the message could not be read: #{e.class})"
      end
      text = "#{Saq.__c_text(error.class.name || error.class.inspect)}: #{message}"
      bt = begin
        Array(error.backtrace).map { |line| Saq.__c_text(line) }
      rescue Exception # rubocop:disable Lint/RescueException
        []
      end
      bt.empty? ? text : "#{text}\n#{bt.join("\n")}"
    end
  end
end
