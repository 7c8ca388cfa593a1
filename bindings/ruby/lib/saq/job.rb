# SPDX-License-Identifier: MIT
# frozen_string_literal: true

module Saq
  # A snapshot of a SAQ job record (what Python saq's Job holds), read from
  # libsaq. Units follow the wire: timeout, heartbeat, ttl, retry_delay and
  # scheduled are seconds (scheduled is epoch seconds); queued, started,
  # completed and touched are epoch milliseconds (0 = unset).
  #
  # A job handed to a Worker handler is *leased*: it also answers
  # #cancelled?, #aborted?, #timed_out? and #touch for the running attempt.
  class Job
    STATUSES = %i[new queued active aborting aborted failed complete].freeze
    CANCEL_REASONS = {
      Native::SAQ_CANCEL_ABORTED => :aborted,
      Native::SAQ_CANCEL_TIMEOUT => :timeout,
      Native::SAQ_CANCEL_SHUTDOWN => :shutdown,
      Native::SAQ_CANCEL_HEARTBEAT => :heartbeat,
      Native::SAQ_CANCEL_LOST => :lost
    }.freeze

    attr_reader :function, :key, :id, :queue, :kwargs, :result, :error, :meta, :worker_id,
                :status, :timeout, :heartbeat, :retries, :ttl, :retry_delay, :retry_backoff,
                :scheduled, :progress, :attempts, :queued, :started, :completed, :touched

    # The W3C traceparent the producer stored in the job's meta (enqueue's
    # traceparent: option, or any language's libsaq binding), when it is a
    # well-formed version-00 one; else nil. Hand it to your tracer's
    # propagator to continue the producer's trace (see the README).
    attr_reader :traceparent

    # For leased jobs: the handler's context ({worker:, queue:, job:} plus what
    # the startup hooks added), as saq passes `ctx` to its functions.
    attr_reader :ctx

    # Copies every field out of a raw libsaq job (borrowed or owned).
    def self.from_raw(raw)
      return nil if raw.nil?

      new(raw)
    end

    # @api private
    def self.leased(raw, worker)
      job = new(raw)
      job.instance_variable_set(:@raw, raw) # owned: keeps the lease until collected
      job.instance_variable_set(:@worker, worker)
      job
    end

    # @api private
    def initialize(raw)
      n = Native
      @function = n.saq_job_function(raw)
      @key = n.saq_job_key(raw)
      @id = n.saq_job_id(raw)
      @queue = n.saq_job_queue(raw)
      @kwargs = Codec.load(n.saq_job_kwargs(raw))
      @result = Codec.load(n.saq_job_result(raw))
      @error = n.saq_job_error(raw)
      @meta = Codec.load(n.saq_job_meta(raw)) || {}
      @traceparent = n.saq_job_traceparent(raw)
      @worker_id = n.saq_job_worker_id(raw)
      @status = n.saq_job_status(raw).to_sym
      @timeout = n.saq_job_timeout(raw)
      @heartbeat = n.saq_job_heartbeat(raw)
      @retries = n.saq_job_retries(raw)
      @ttl = n.saq_job_ttl(raw)
      @retry_delay = n.saq_job_retry_delay(raw)
      @retry_backoff = if n.saq_job_retry_backoff(raw).zero? then false
                       elsif n.saq_job_retry_backoff_cap(raw).positive? then n.saq_job_retry_backoff_cap(raw)
                       else true
                       end
      @scheduled = n.saq_job_scheduled(raw)
      @progress = n.saq_job_progress(raw)
      @attempts = n.saq_job_attempts(raw)
      @queued = n.saq_job_queued_ms(raw)
      @started = n.saq_job_started_ms(raw)
      @completed = n.saq_job_completed_ms(raw)
      @touched = n.saq_job_touched_ms(raw)
      @record = n.saq_job_to_json(raw)
      @raw = nil
      @worker = nil
      @ctx = nil
    end

    # The record as saq stores it (String keys, defaults omitted).
    def to_h
      Codec.load(@record)
    end

    # The record's JSON text (0.26 dialect, compact).
    def to_json(*_args)
      @record
    end

    STATUSES.each do |st|
      next if st == :aborted

      define_method(:"#{st}?") { @status == st }
    end

    def terminal?
      Native.saq_status_terminal(@status.to_s) != 0
    end

    # Time helpers for the millisecond fields (nil when unset).
    def queued_at = ms_time(@queued)
    def started_at = ms_time(@started)
    def completed_at = ms_time(@completed)
    def touched_at = ms_time(@touched)
    def scheduled_at = @scheduled.positive? ? Time.at(@scheduled) : nil

    def leased?
      !@raw.nil?
    end

    # Why the worker wants this leased job to stop (:aborted, :timeout,
    # :shutdown, :heartbeat, :lost), or nil. Cheap: poll it in long handlers.
    def cancel_reason
      return nil unless @raw

      code = Native.saq_job_cancelled(@raw)
      code.zero? ? nil : CANCEL_REASONS.fetch(code, :cancelled)
    end

    def cancelled?
      !cancel_reason.nil?
    end

    # A leased job: it was aborted while it ran. Otherwise: its status is aborted.
    def aborted?
      return cancel_reason == :aborted if @raw

      @status == :aborted
    end

    # A leased job: it ran longer than its timeout.
    def timed_out?
      cancel_reason == :timeout
    end

    # Heartbeat and progress for a leased job: sets touched (and progress or
    # meta when given) in Redis. Fire-and-forget; never changes the status.
    def touch(progress: nil, meta: nil)
      raise StateError.new("touch needs a job leased to a worker", code: Native::SAQ_ESTATE) unless @raw

      fields = {}
      fields["progress"] = Float(progress) unless progress.nil?
      fields["meta"] = meta unless meta.nil?
      rc = Native.saq_job_touch(@raw, fields.empty? ? nil : Codec.dump(fields))
      Saq.check!(rc, Native.saq_job_errmsg(@raw))
      @progress = Float(progress) unless progress.nil?
      @meta = meta unless meta.nil?
      self
    end

    def inspect
      "#<Saq::Job #{@id || @key} function=#{@function.inspect} status=#{@status}>"
    end
    alias to_s inspect

    # @api private: handler context and the outcome the worker settled.
    def __set_ctx(ctx)
      @ctx = ctx
    end

    # @api private
    def __raw
      @raw
    end

    # @api private: the record libsaq stored at the end (a Job copied from
    # its OUTCOME event), for the after_process hooks.
    def __stored(job)
      (job.instance_variables - %i[@raw @worker @ctx]).each do |v|
        instance_variable_set(v, job.instance_variable_get(v))
      end
    end

    private

    def ms_time(ms)
      ms.positive? ? Time.at(ms / 1000r) : nil
    end
  end
end
