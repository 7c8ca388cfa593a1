# SPDX-License-Identifier: MIT
# frozen_string_literal: true

module Saq
  # A SAQ queue (Python saq's Queue) on Redis, backed by a libsaq queue with
  # its own I/O thread. Every method is synchronous for the calling Ruby
  # thread and waits with the GVL released, so other Ruby threads keep
  # running; Thread#raise, Thread#kill and Timeout interrupt the wait. A Queue
  # may be shared by any number of Ruby threads.
  #
  # After fork, a Queue made in the parent raises Saq::ForkedError in the
  # child; the child makes its own with Queue.from_url.
  class Queue
    # Queue keys of libsaq's configuration (see saq_conf_set in saq.h).
    CONF_KEYS = %i[dialect max_concurrent_ops command_timeout_ms connect_timeout_ms
                   reconnect_max_ms max_payload_bytes min_replicas min_replicas_timeout_ms
                   tls sentinel defaults failed_ttl retry].freeze
    # The keys of the tls: option (libsaq's tls.* conf keys; the same as a
    # rediss:// url's ssl_* query parameters, which they override).
    TLS_KEYS = %i[cert_reqs check_hostname ca_certs ca_path certfile keyfile].freeze
    # The keys of the sentinel: option (libsaq's sentinel.* conf keys: the
    # sentinels' own credentials, over the url's sentinel_username= and
    # sentinel_password= query parameters; the url's user:pass are the data
    # nodes'). Only with a redis+sentinel:// or rediss+sentinel:// url.
    SENTINEL_KEYS = %i[username password].freeze
    # Options that take a Hash, and the keys each allows (conf key prefix =
    # option name).
    # The keys of the defaults: option (libsaq's defaults.* conf keys, saq
    # #302): each is given to the jobs enqueued through the queue that were
    # not given that field, and written into their records (Python saq
    # workers honour them too). retry_backoff: true, false or a cap in seconds.
    DEFAULTS_KEYS = %i[timeout retries ttl retry_delay retry_backoff].freeze
    # The keys of the retry: option (libsaq's retry.* conf keys, saq #289):
    # min_delay (seconds: no retry this queue schedules is due sooner) and
    # jitter (true, saq's full jitter on a backoff delay, or false).
    RETRY_KEYS = %i[min_delay jitter].freeze
    NESTED_OPTIONS = { tls: TLS_KEYS, sentinel: SENTINEL_KEYS, defaults: DEFAULTS_KEYS,
                       retry: RETRY_KEYS }.freeze

    # @api private: the tag of the one event each per-call cq receives.
    TAG = 1

    attr_reader :name

    # saq's Queue.from_url. The url is redis://, rediss://, unix://, or for
    # the deployments past one Redis redis+sentinel://h1:26379,h2:26379/master[/db]
    # and redis+cluster://h1:p1,h2:p2 (rediss+sentinel://, rediss+cluster://
    # with TLS); in a cluster the queue name must carry a hash tag ("{orders}"),
    # a name without one raises InvalidArgumentError. Options: dialect ("0.26"
    # or "0.13"), max_concurrent_ops, command_timeout_ms, connect_timeout_ms,
    # reconnect_max_ms, max_payload_bytes, min_replicas (enqueue and a
    # worker's finish wait for that many replicas to acknowledge: WAIT; an
    # enqueue acknowledged by fewer raises TimeoutError, the job being on the
    # master only) and min_replicas_timeout_ms (default 1000), for a
    # rediss... url tls: { ca_certs:, ca_path:, certfile:, keyfile:,
    # cert_reqs:, check_hostname: } (the url's ssl_* query parameters do the
    # same), for a sentinel url sentinel: { username:, password: } (the
    # sentinels' credentials). Job defaults and retries (libsaq extensions):
    # defaults: { timeout:, retries:, ttl:, retry_delay:, retry_backoff: }
    # (given to the jobs enqueued through this queue that were not given the
    # field; the record carries them), failed_ttl: (seconds a job that ends
    # failed is kept when this queue writes the failure; 0 forever, -1
    # deleted at once), retry: { min_delay:, jitter: }. Logging: logger: (a Logger, or any object
    # with debug/info/warn/error; default Saq.logger, a Logger on $stderr at
    # WARN; nil silences libsaq for this queue and its workers) and
    # log_level: (:debug, :info, :warn, :error or :off; default: the
    # environment variable SAQ_LOG_LEVEL when it is set, else the logger's
    # own level when the queue is made).
    # With a block, yields the queue and closes it afterwards, returning the
    # block's value.
    def self.from_url(url, name: "default", **options)
      queue = new(url: url, name: name, **options)
      return queue unless block_given?

      begin
        yield queue
      ensure
        queue.close
      end
    end

    def initialize(url: "redis://localhost:6379/0", name: "default", logger: Log::UNSET, log_level: nil, **options)
      unknown = options.keys - CONF_KEYS
      raise ArgumentError, "unknown option(s): #{unknown.join(", ")}" unless unknown.empty?

      conf = Native.saq_conf_new or raise OutOfMemoryError
      log_tag = nil
      begin
        conf_set(conf, "url", url.nil? ? nil : url.to_s) # URI objects, Symbols
        conf_set(conf, "name", name.to_s) unless name.nil?
        log_level = Log.level_for(logger, log_level)
        conf_set(conf, "log_level", log_level) if log_level
        log_tag = Log.attach(conf, logger)
        options.each do |k, v|
          allowed = NESTED_OPTIONS[k]
          next conf_set(conf, k.to_s, v.to_s) unless allowed

          raise ArgumentError, "#{k}: must be a Hash" unless v.is_a?(Hash)
          bad = v.keys.map(&:to_sym) - allowed
          raise ArgumentError, "unknown #{k} option(s): #{bad.join(", ")}" unless bad.empty?
          v.each { |nk, nv| conf_set(conf, "#{k}.#{nk}", nv.to_s) }
        end
        rc, @raw = Native.saq_queue_open(conf)
        Saq.check!(rc, "cannot create the queue: #{Native.saq_conf_errmsg(conf)}")
      rescue Exception # rubocop:disable Lint/RescueException
        Log.drain # "Redis unreachable" and the like, before the error
        Log.release(log_tag) if log_tag
        raise
      ensure
        Native.saq_rb_conf_release(conf)
      end
      # the sink goes with this object (records of a collected queue are dropped)
      ObjectSpace.define_finalizer(self, Queue.__release_log(log_tag)) if log_tag
      @logger = logger
      @name = Native.saq_queue_name(@raw)
      @url = url
      @pid = Process.pid
      @closed = false
    end

    # @api private: a finalizer that does not hold the queue.
    def self.__release_log(tag)
      proc { Log.release(tag) }
    end

    # The logger this queue's records go to (Saq.logger unless logger: was
    # given; nil when silenced).
    def logger
      @logger.equal?(Log::UNSET) ? Saq.logger : @logger
    end

    # @api private: the logger: option as given (Log::UNSET: Saq.logger).
    def __logger_option
      @logger
    end

    # "0.26" or "0.13".
    def dialect
      Native.saq_queue_dialect(@raw)
    end

    # @api private: the libsaq handle (in a forked child, libsaq itself
    # refuses it with SAQ_EFORKED).
    def raw
      @raw
    end

    # True in a process forked after this queue was made: the queue cannot
    # be used there (its I/O thread does not exist in the child).
    def forked?
      Process.pid != @pid
    end

    # Round trip to Redis; returns the server version ("7.0.15").
    def ping
      execute(->(cq) { Native.saq_queue_ping(@raw, cq, TAG) }) do |ev|
        v = Native.saq_event_int(ev)
        "#{v >> 16}.#{(v >> 8) & 0xff}.#{v & 0xff}"
      end
    end

    # saq's Queue.enqueue("function", **kwargs). Keyword arguments that are job
    # fields (key, timeout, heartbeat, retries, ttl, retry_delay,
    # retry_backoff, scheduled, meta, progress) configure the job; the others
    # become its kwargs. `scheduled` may be a Time. Returns the Job as
    # enqueued, or nil when a job with that key is still incomplete (saq
    # returns None then).
    #
    # traceparent: a W3C traceparent ("00-<trace id>-<span id>-<flags>"),
    # stored in the job's meta (libsaq checks its form: InvalidArgumentError)
    # so the handler, in any language, continues the trace (Job#traceparent).
    #
    # A Saq::Job (e.g. read with #job) may be passed instead of a function
    # name: it is enqueued again with its key and settings, kwargs overriding.
    def enqueue(function, traceparent: nil, **kwargs)
      return enqueue_job(function, kwargs, traceparent) if function.is_a?(Job)
      unless traceparent.nil?
        return new_job(function, kwargs, traceparent) do |raw_job|
          execute(->(cq) { Native.saq_queue_enqueue(@raw, raw_job, cq, TAG) }) do |ev|
            Native.saq_event_int(ev) == 1 ? Job.from_raw(Native.saq_event_job(ev)) : nil
          end
        end
      end

      json = Codec.dump(call_kwargs(kwargs))
      execute(->(cq) { Native.saq_queue_enqueue_call(@raw, function.to_s, json, cq, TAG) }) do |ev|
        Native.saq_event_int(ev) == 1 ? Job.from_raw(Native.saq_event_job(ev)) : nil
      end
    end

    # Bulk enqueue (BullMQ's addBulk, Sidekiq's push_bulk): many jobs in one
    # operation, each as #enqueue would (saq's keyword split of kwargs), their
    # scripts pipelined, many per round trip. Each element of +jobs+ is a
    # Saq::Job or a pair [function, kwargs]. Returns one entry per job, in
    # order: the job as sent, or nil when a job with its key was already
    # enqueued. A job that cannot be sent (a bad option, a record over the
    # payload limit) raises before anything is written, naming its index; a
    # Redis error while the replies come in raises (its message counts what was
    # enqueued; read the others back with #job).
    #   queue.enqueue_many([["add", {a: 1, b: 2}], ["add", {a: 3, b: 4, key: "x"}]])
    def enqueue_many(jobs)
      raise ArgumentError, "jobs must be an Array, not #{jobs.class}" unless jobs.is_a?(Array)

      raws = []
      begin
        jobs.each_with_index do |spec, i|
          raws << bulk_job(spec, i)
        end
        arr = raws.empty? ? nil : Native.new_saq_job_array(raws.size)
        begin
          raws.each_with_index { |r, i| Native.saq_job_array_setitem(arr, i, r) }
          execute(->(cq) { Native.saq_queue_enqueue_many(@raw, arr, raws.size, cq, TAG) }) do |ev|
            outcomes = Codec.load(Native.saq_event_json(ev))
            Array.new(raws.size) { |i| outcomes[i] == 1 ? Job.from_raw(Native.saq_event_job_at(ev, i)) : nil }
          end
        ensure
          Native.delete_saq_job_array(arr) if arr
        end
      ensure
        raws.each { |r| Native.saq_rb_job_release(r) }
      end
    end

    # saq's Queue.job(key): the stored record, or nil when there is none.
    def job(job_or_key)
      key = key_of(job_or_key)
      execute(->(cq) { Native.saq_queue_job(@raw, key, cq, TAG) }, not_found: nil) do |ev|
        Job.from_raw(Native.saq_event_job(ev))
      end
    end

    # saq's Queue.jobs(keys): records in order, nil where missing.
    def jobs(keys)
      json = Codec.dump(Array(keys).map { |k| key_of(k) })
      execute(->(cq) { Native.saq_queue_jobs(@raw, json, cq, TAG) }) do |ev|
        Array.new(Native.saq_event_job_count(ev)) { |i| Job.from_raw(Native.saq_event_job_at(ev, i)) }
      end
    end

    # saq's Queue.abort(job, error, ttl=5). A waiting job ends aborted at
    # once; a running one is marked aborting and its worker stops it. Returns
    # the record after the abort. Raises NotFoundError when there is no job.
    def abort(job_or_key, error = "abort", ttl: 5)
      key = key_of(job_or_key)
      execute(->(cq) { Native.saq_queue_abort(@raw, key, error.to_s, Integer(ttl), cq, TAG) }) do |ev|
        Job.from_raw(Native.saq_event_job(ev))
      end
    end

    # What #delete did (libsaq's saq_queue_delete int).
    DELETE_OUTCOMES = { 1 => :deleted, 2 => :deleted_after_stop, 3 => :deleted_unconfirmed }.freeze

    # Delete a job: its record and every entry of it in Redis (queued,
    # incomplete/scheduled, active, libsaq's own), so the key can be enqueued
    # again at once (an extension: Python saq has no delete; its workers never
    # see a deleted job again). A running job raises StateError (nothing
    # changes) unless force: true, which aborts it first (reason "deleted") so
    # that its worker stops it, and deletes it once it ended or after `wait`
    # seconds (default 5; 0 = no wait). Returns :deleted (it did not run),
    # :deleted_after_stop (its worker stopped it) or :deleted_unconfirmed (the
    # wait ran out; a worker that ends it later writes its finished record
    # again, in no list). Raises NotFoundError when there is no record (stray
    # list entries of the key are removed all the same).
    def delete(job_or_key, force: false, wait: 5)
      key = key_of(job_or_key)
      wait_s = Float(wait)
      raise InvalidArgumentError.new("wait must be 0..3600 seconds", code: Native::SAQ_EINVAL) unless wait_s.between?(0, 3600)

      wait_ms = (wait_s * 1000).round
      execute(->(cq) { Native.saq_queue_delete(@raw, key, force ? 1 : 0, wait_ms, cq, TAG) }) do |ev|
        DELETE_OUTCOMES.fetch(Native.saq_event_int(ev))
      end
    end

    # saq's Queue.retry(job, error): put the job back in the queue.
    def retry(job_or_key, error = nil)
      key = key_of(job_or_key)
      execute(->(cq) { Native.saq_queue_retry(@raw, key, error&.to_s, cq, TAG) }) do |ev|
        Job.from_raw(Native.saq_event_job(ev))
      end
    end

    # saq's Queue.finish(job, status, result=None, error=None); status is
    # :complete, :failed or :aborted.
    def finish(job_or_key, status, result: nil, error: nil)
      key = key_of(job_or_key)
      json = result.nil? ? nil : Codec.dump(result)
      execute(->(cq) { Native.saq_queue_finish(@raw, key, status.to_s, json, error&.to_s, cq, TAG) }) do |ev|
        Job.from_raw(Native.saq_event_job(ev))
      end
    end

    # saq's Job.update(**fields), e.g. update(key, progress: 0.5, meta: {...}).
    def update(job_or_key, **fields)
      key = key_of(job_or_key)
      json = fields.empty? ? nil : Codec.dump(fields)
      execute(->(cq) { Native.saq_queue_update(@raw, key, json, cq, TAG) }) do |ev|
        Job.from_raw(Native.saq_event_job(ev))
      end
    end

    # saq's Queue.count(kind): kind is :queued, :active or :incomplete.
    def count(kind)
      execute(->(cq) { Native.saq_queue_count(@raw, kind.to_s, cq, TAG) }) { |ev| Native.saq_event_int(ev) }
    end

    # Pause the queue (a libsaq extension): every libsaq worker of the queue,
    # in any process, stops taking its jobs within about half a second (the
    # worker timer :pause), lets the jobs it runs finish and waits; a worker
    # started on a paused queue waits too. Enqueueing, scheduling and cron go
    # on. Python saq workers do not know the flag and keep taking jobs.
    # Returns true when this call paused the queue, false when it was paused.
    def pause
      execute(->(cq) { Native.saq_queue_pause(@raw, cq, TAG) }) { |ev| Native.saq_event_int(ev) == 1 }
    end

    # Resume a paused queue: its libsaq workers take jobs again at once.
    # Returns true when this call resumed it, false when it was not paused.
    def resume
      execute(->(cq) { Native.saq_queue_resume(@raw, cq, TAG) }) { |ev| Native.saq_event_int(ev) == 1 }
    end

    # Whether the queue is paused (#pause).
    def paused?
      execute(->(cq) { Native.saq_queue_paused(@raw, cq, TAG) }) { |ev| Native.saq_event_int(ev) == 1 }
    end

    # saq's Queue.info(jobs=False, offset=0, limit=10): a Hash with "workers",
    # "name", "queued", "active", "scheduled" and "jobs" (Hashes), and
    # libsaq's "paused" (#pause).
    def info(jobs: false, offset: 0, limit: 10)
      execute(lambda { |cq|
        Native.saq_queue_info(@raw, jobs ? 1 : 0, Integer(offset), Integer(limit), cq, TAG)
      }) { |ev| Codec.load(Native.saq_event_json(ev)) }
    end

    # saq's Queue.stats(ttl=60): this queue object's counters, also written to
    # the worker registry. A Hash with "complete", "failed", "retried",
    # "aborted" and "uptime" (ms).
    def stats(ttl: 60)
      execute(->(cq) { Native.saq_queue_stats(@raw, Integer(ttl), cq, TAG) }) do |ev|
        Codec.load(Native.saq_event_json(ev))
      end
    end

    # Queue-wide figures, the same from any process (built from saq's keys
    # and worker registry, so Python saq workers count too): a Hash with
    # Symbol keys
    #   queue:, time_ms: (Redis's clock),
    #   jobs: { queued:, active:, scheduled:, incomplete: },
    #   oldest_queued_age_s: (Float seconds, nil when nothing is queued),
    #   workers: [{ id:, complete:, failed:, retried:, aborted:, uptime_ms:,
    #               metadata: (as the worker gave it), libsaq: }, ...],
    #   workers_alive:, totals: { complete:, failed:, retried:, aborted: },
    #   per_minute: { complete:, failed:, retried:, aborted:, window_s: }
    #               (nil until a registry sample 20 s old exists),
    #   paused: (#pause), paused_since_ms: (epoch ms of the pause, or nil).
    # Finished jobs are not counted by state (saq keeps no index of them; see
    # #iter_jobs).
    def overview
      execute(->(cq) { Native.saq_queue_overview(@raw, cq, TAG) }) do |ev|
        Queue.__symbolize_overview(Codec.load(Native.saq_event_json(ev)))
      end
    end

    # The rate limits and global concurrency the queue's libsaq workers
    # enforce (Worker.new(..., limits:); published every second while a
    # worker with limits runs, kept 30 s after the last one stopped), with
    # their state now: an Array of Hashes {function: (nil: the whole queue),
    # max_jobs:, period: (seconds), max_running:, running: (slots live
    # workers hold now), started: (in the last period), waiting: (jobs
    # waiting for a running slot)}; [] when no worker publishes limits. An
    # entry that is not one a libsaq worker publishes has invalid: (its text
    # as stored) and nil max_jobs, period, max_running and started.
    def limits
      execute(->(cq) { Native.saq_queue_limits(@raw, cq, TAG) }) do |ev|
        Codec.load(Native.saq_event_json(ev))["limits"].map { |l| l.transform_keys(&:to_sym) }
      end
    end

    # The figures of #overview as a Prometheus text exposition (format
    # 0.0.4): saq_queue_jobs{queue,state}, saq_queue_oldest_job_age_seconds,
    # saq_queue_workers, saq_worker_jobs_total{queue,worker,outcome},
    # saq_worker_uptime_seconds, saq_queue_paused. Serve it (with Worker#metrics) from a
    # /metrics endpoint: see Saq::Metrics.
    def metrics
      execute(->(cq) { Native.saq_queue_metrics(@raw, cq, TAG) }) { |ev| Native.saq_event_text(ev) }
    end

    # saq's Queue.iter_jobs(statuses, batch_size): every job record of this
    # queue, finished ones included (saq keeps them until their ttl), as
    # Saq::Job snapshots; statuses: a Symbol or an Array of them (:queued,
    # :active, :complete, ...; nil = all). Pages of about `batch_size` jobs
    # are read from Redis (SCAN) as the iteration goes, so an Enumerator's
    # #first(n) or #lazy stops reading early. As with SCAN, a job that exists
    # during the whole iteration is yielded at least once (rarely twice).
    # Without a block, returns an Enumerator.
    def iter_jobs(statuses: nil, batch_size: 100)
      return enum_for(:iter_jobs, statuses: statuses, batch_size: batch_size) unless block_given?

      cursor = nil
      loop do
        page, cursor = jobs_page(statuses: statuses, cursor: cursor, count: batch_size)
        page.each { |job| yield job }
        break if cursor.nil?
      end
      self
    end

    # One page of #iter_jobs's scan (for a web page or a tool that pages on
    # request): returns [jobs, next_cursor]; start with cursor nil (or "0")
    # and pass next_cursor back until it is nil (the scan is over). `count`
    # is SCAN's hint (1..10000): a page may hold fewer or more jobs, and is
    # empty only when the scan is over (next_cursor nil): libsaq goes on
    # scanning within the call until it has a job to return.
    def jobs_page(statuses: nil, cursor: nil, count: 100)
      list = statuses.nil? ? nil : Array(statuses).map(&:to_s).join(",")
      c = cursor.nil? ? "0" : cursor.to_s
      n = Integer(count)
      execute(->(cq) { Native.saq_queue_iter_jobs(@raw, list, c, n, cq, TAG) }) do |ev|
        nxt = Native.saq_event_key(ev)
        [Array.new(Native.saq_event_job_count(ev)) { |i| Job.from_raw(Native.saq_event_job_at(ev, i)) },
         nxt.nil? || nxt == "0" ? nil : nxt]
      end
    end

    # @api private: overview's JSON with Symbol keys (a worker's metadata
    # keeps its own keys).
    def self.__symbolize_overview(doc)
      o = doc.transform_keys(&:to_sym)
      %i[jobs totals per_minute].each { |k| o[k] = o[k].transform_keys(&:to_sym) if o[k].is_a?(Hash) }
      o[:workers] = Array(o[:workers]).map { |w| w.is_a?(Hash) ? w.transform_keys(&:to_sym) : w }
      o
    end

    # saq's Queue.schedule(lock=1): promote due scheduled jobs; returns their ids.
    def schedule(lock: 1)
      execute(->(cq) { Native.saq_queue_schedule(@raw, Integer(lock), cq, TAG) }) do |ev|
        Codec.load(Native.saq_event_json(ev)) || []
      end
    end

    # saq's Queue.sweep(lock=60, abort=5.0): recover stuck jobs; returns their ids.
    def sweep(lock: 60, abort: 5.0)
      execute(->(cq) { Native.saq_queue_sweep(@raw, Integer(lock), Float(abort), cq, TAG) }) do |ev|
        Codec.load(Native.saq_event_json(ev)) || []
      end
    end

    # saq's Queue.listen(job_keys, callback, timeout=10): yields (key, status)
    # for every status change published for the keys (status is a Symbol)
    # until the block returns a truthy value. Raises TimeoutError when no
    # message came for `timeout` seconds (0 or nil = wait forever).
    def listen(jobs_or_keys, timeout: 10)
      raise ArgumentError, "listen needs a block" unless block_given?

      json = Codec.dump(Array(jobs_or_keys).map { |k| key_of(k) })
      cq = new_cq
      submitted = ended = false
      begin
        submit!(Native.saq_queue_listen(@raw, json, (timeout || 0).to_f, cq, TAG))
        submitted = true
        loop do
          ev = Saq.__wait(cq)
          begin
            case Native.saq_event_type(ev)
            when Native::SAQ_EVENT_LISTEN
              next unless yield(Native.saq_event_key(ev), Native.saq_event_job_status(ev).to_sym)

              Native.saq_queue_listen_stop(@raw, cq, TAG)
              ended = true
              return nil
            when Native::SAQ_EVENT_LISTEN_END
              ended = true
              raise_event_error(ev) unless Native.saq_event_status(ev).zero?
              return nil
            end
          ensure
            Native.saq_rb_event_release(ev)
          end
        end
      ensure
        Native.saq_queue_listen_stop(@raw, cq, TAG) if submitted && !ended
        Native.saq_rb_cq_release(cq)
      end
    end

    # saq's Queue.apply(function, timeout=None, **kwargs): enqueue the job and
    # wait for it. Returns its result; raises JobError (with #job) when it
    # failed or was aborted, TimeoutError when `timeout` seconds passed.
    # `timeout` also becomes the job's timeout, as in saq (nil = none).
    # traceparent: as for #enqueue.
    def apply(function, timeout: nil, traceparent: nil, **kwargs)
      new_job(function, kwargs, traceparent) do |job|
        execute(->(cq) { Native.saq_queue_apply(@raw, job, (timeout || 0).to_f, cq, TAG) }) do |ev|
          Codec.load(Native.saq_event_json(ev))
        end
      end
    end

    # saq's Queue.map(function, iter_kwargs, timeout=None,
    # return_exceptions=False, **defaults): one job per Hash of iter_kwargs,
    # all waited for under one deadline; results in item order. With
    # return_exceptions, a failed or aborted job gives a JobError (with #job)
    # in its place instead of raising.
    def map(function, iter_kwargs, timeout: nil, return_exceptions: false, **defaults)
      items = Codec.dump(iter_kwargs.map { |h| call_kwargs(h) })
      dflt = defaults.empty? ? nil : Codec.dump(call_kwargs(defaults))
      execute(lambda { |cq|
        Native.saq_queue_map(@raw, function.to_s, items, dflt, (timeout || 0).to_f,
                             return_exceptions ? 1 : 0, cq, TAG)
      }) do |ev|
        results = Codec.load(Native.saq_event_json(ev))
        if return_exceptions
          results.each_index do |i|
            raw_job = Native.saq_event_job_at(ev, i)
            next unless raw_job

            st = Native.saq_job_status(raw_job)
            next unless %w[failed aborted].include?(st)

            job = Job.from_raw(raw_job)
            results[i] = JobError.new("job #{job.id} #{st}: #{job.error || "(no error text)"}",
                                      code: Native::SAQ_EJOB, job: job)
          end
        end
        results
      end
    end

    # saq's Queue.batch(): every job enqueued on this queue (by any thread)
    # while the block runs is recorded; if the block raises, they are all
    # aborted with "cancelled" and the exception is re-raised. Yields the queue.
    def batch
      b = Native.saq_queue_batch(@raw) or raise null_error("batch")
      begin
        yield self
      rescue Exception # rubocop:disable Lint/RescueException -- saq's bare `except:`: Interrupt, Timeout, ... too
        begin
          execute(->(cq) { Native.saq_batch_abort(b, "cancelled", cq, TAG) }) { |ev| Native.saq_event_int(ev) }
        rescue Saq::Error
          nil # as saq: individual failures are ignored; the original error matters
        end
        raise
      ensure
        Native.saq_rb_batch_release(b)
      end
    end

    # saq's Queue.disconnect: stop accepting operations, wait up to `timeout`
    # seconds for the ones in flight, then close the connections. Returns
    # true when everything drained in time. Idempotent.
    def close(timeout: 5)
      return true if @closed
      return (@closed = true) if Process.pid != @pid # nothing to drain in a forked child

      rc = Native.saq_rb_queue_close(@raw, Saq.__ms(timeout))
      @closed = true
      Saq.check!(rc) unless rc == Native::SAQ_ETIMEDOUT
      rc.zero?
    end

    def closed?
      @closed
    end

    def inspect
      "#<Saq::Queue #{@name} #{@closed ? "closed" : "open"}>"
    end
    alias to_s inspect

    private

    def enqueue_job(job, kwargs, traceparent)
      rc, raw_job, msg = Native.saq_job_parse(job.to_json)
      Saq.check!(rc, "cannot copy #{job.inspect}: #{msg}")
      begin
        unless kwargs.empty?
          rc = Native.saq_job_set_call_kwargs(raw_job, Codec.dump(call_kwargs(kwargs)))
          Saq.check!(rc, Native.saq_job_errmsg(raw_job))
        end
        set_traceparent(raw_job, traceparent)
        execute(->(cq) { Native.saq_queue_enqueue(@raw, raw_job, cq, TAG) }) do |ev|
          Native.saq_event_int(ev) == 1 ? Job.from_raw(Native.saq_event_job(ev)) : nil
        end
      ensure
        Native.saq_rb_job_release(raw_job)
      end
    end

    # A new libsaq job for `function` with saq's keyword split of kwargs,
    # yielded, then freed.
    def new_job(function, kwargs, traceparent)
      job = Native.saq_job_new(function.to_s) or raise InvalidArgumentError, "function must be a non-empty name"
      begin
        rc = Native.saq_job_set_call_kwargs(job, Codec.dump(call_kwargs(kwargs)))
        Saq.check!(rc, Native.saq_job_errmsg(job))
        set_traceparent(job, traceparent)
        yield job
      ensure
        Native.saq_rb_job_release(job)
      end
    end

    # One job of #enqueue_many as a new libsaq job (the caller releases it).
    def bulk_job(spec, index)
      if spec.is_a?(Job)
        rc, raw, msg = Native.saq_job_parse(spec.to_json)
        Saq.check!(rc, "jobs[#{index}]: cannot copy #{spec.inspect}: #{msg}")
        return raw
      end
      function, kwargs = spec if spec.is_a?(Array) && spec.size.between?(1, 2)
      unless function.is_a?(String) || function.is_a?(Symbol)
        raise ArgumentError, "jobs[#{index}] must be a Saq::Job or [function, kwargs], not #{spec.inspect}"
      end

      raw = Native.saq_job_new(function.to_s) or raise InvalidArgumentError, "jobs[#{index}]: function must be a non-empty name"
      begin
        rc = Native.saq_job_set_call_kwargs(raw, Codec.dump(call_kwargs(kwargs || {})))
        Saq.check!(rc, "jobs[#{index}]: #{Native.saq_job_errmsg(raw)}")
      rescue StandardError
        Native.saq_rb_job_release(raw)
        raise
      end
      raw
    end

    def set_traceparent(raw_job, traceparent)
      return if traceparent.nil?

      rc = Native.saq_job_set_traceparent(raw_job, traceparent.to_s)
      Saq.check!(rc, Native.saq_job_errmsg(raw_job))
    end

    def conf_set(conf, key, value)
      rc = Native.saq_conf_set(conf, key, value)
      Saq.check!(rc, Saq.__conf_message(key, Native.saq_conf_errmsg(conf)))
    end

    def key_of(job_or_key)
      job_or_key.is_a?(Job) ? job_or_key.key : job_or_key.to_s
    end

    # Keyword arguments as saq's JSON object: String keys; `scheduled` may be a Time.
    def call_kwargs(hash)
      raise ArgumentError, "keyword arguments must be a Hash, not #{hash.class}" unless hash.is_a?(Hash)

      hash.each_with_object({}) do |(k, v), out|
        v = v.to_f if k.to_s == "scheduled" && v.is_a?(Time)
        # libsaq keeps the key as a C string: "k\0x" would become "k"
        raise ArgumentError, "key contains a null byte: #{v.inspect}" if k.to_s == "key" && v.is_a?(String) && v.include?("\0")
        out[k.to_s] = v
      end
    end

    def forked_message
      "#{Native.saq_strerror(Native::SAQ_EFORKED)}: this Saq::Queue (#{@name}) was created in process " \
        "#{@pid} and cannot be used in the forked child #{Process.pid}; create a new Saq::Queue in the child"
    end

    def null_error(what)
      return ForkedError.new(forked_message, code: Native::SAQ_EFORKED) if Process.pid != @pid
      return ClosedError.new("#{what}: the queue is closed", code: Native::SAQ_ECLOSED) if @closed

      Error.new("#{what} failed", code: Native::SAQ_ENOMEM)
    end

    def new_cq
      Native.saq_cq_new or raise OutOfMemoryError.new("cannot create a completion queue")
    end

    # A submit fails only when no event can ever come (closed queue, fork, OOM).
    def submit!(rc)
      return if rc.zero?
      raise ForkedError.new(forked_message, code: rc) if rc == Native::SAQ_EFORKED
      raise ClosedError.new("the queue #{@name} is closed", code: rc) if rc == Native::SAQ_ECLOSED

      Saq.check!(rc)
    end

    def raise_event_error(ev)
      st = Native.saq_event_status(ev)
      msg = Native.saq_event_errmsg(ev)
      if st == Native::SAQ_EJOB
        raise JobError.new(msg, code: st, job: Job.from_raw(Native.saq_event_job(ev)))
      end

      raise Saq.error_for(st, msg)
    end

    # One asynchronous libsaq operation, made synchronous: submit it to a
    # private completion queue, wait for its event without the GVL, turn a
    # failure into an exception and the event into a value. The cq is freed
    # in all cases; if the wait is interrupted, the late event is discarded.
    def execute(submit, not_found: :raise)
      cq = new_cq
      ev = nil
      submitted = false
      begin
        submit!(submit.call(cq))
        submitted = true
        ev = Saq.__wait(cq)
        st = Native.saq_event_status(ev)
        return nil if st == Native::SAQ_ENOTFOUND && not_found.nil?

        raise_event_error(ev) unless st.zero?
        yield ev
      ensure
        if ev
          Native.saq_rb_event_release(ev)
        elsif submitted
          # Interrupted (Thread#raise/kill, Timeout, a signal): an apply or
          # map would otherwise keep waiting inside libsaq for its job (for
          # ever without a timeout) and hold up close. No-op for the others.
          Native.saq_queue_cancel(@raw, cq, TAG)
        end
        Native.saq_rb_cq_release(cq)
      end
    end
  end

  # @api private: seconds (nil = 0) as libsaq's int milliseconds, clamped
  # (Float::INFINITY or a huge value means "as long as possible").
  def self.__ms(seconds)
    ms = seconds.to_f * 1000
    raise ArgumentError, "invalid timeout #{seconds.inspect}" if ms.nan?

    ms.clamp(0, 2**31 - 1).round
  end

  # @api private: libsaq's configuration messages already name the key.
  def self.__conf_message(key, msg)
    msg.nil? || msg.empty? ? key : (msg.start_with?("#{key}:") ? msg : "#{key}: #{msg}")
  end

  # @api private: wait for the next event of a cq with the GVL released.
  # A NULL return means the wait was interrupted (an unblocking function ran
  # for a Thread#raise, a signal, ...): looping lets Ruby run the interrupt.
  def self.__wait(cq, timeout_ms = -1)
    loop do
      ev = Native.saq_rb_cq_poll(cq, timeout_ms)
      return ev if ev || timeout_ms >= 0

      Thread.pass
    end
  end
end
