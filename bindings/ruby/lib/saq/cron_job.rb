# SPDX-License-Identifier: MIT
# frozen_string_literal: true

module Saq
  # saq's CronJob: enqueue `function` on a cron schedule. `cron` has 5 fields
  # (minute hour day month weekday) or 6 with seconds last, or an alias such
  # as "@hourly", evaluated in UTC, or with cron_tz: in the wall clock of an
  # IANA time zone ("America/New_York", as saq 0.26's Worker(cron_tz=...));
  # cron_tz: nil or "" is UTC, even on a worker with its own cron_tz:, which
  # applies to the cron jobs that do not pass cron_tz: at all.
  # with croniter's handling of clock changes: a time in a spring-forward gap
  # fires at the first minute after it (02:30 -> 03:00; with "*" hours the
  # gap's times are skipped), a time that occurs twice fires twice. A name
  # the system's tz database lacks raises Saq::CronError when the worker is made.
  # With unique (the default) the job's key is
  # "cron:<function>", so one run is pending at a time. `handler`, when
  # given, is registered for `function` on the worker.
  class CronJob
    # cron_tz: not given (the worker's cron_tz applies)
    WORKER_TZ = Object.new.freeze
    private_constant :WORKER_TZ

    attr_reader :function, :cron, :handler, :unique, :timeout, :heartbeat, :retries, :ttl, :kwargs

    def initialize(function, cron, handler = nil, unique: true, timeout: nil, heartbeat: nil,
                   retries: nil, ttl: nil, kwargs: nil, cron_tz: WORKER_TZ)
      @function = function.to_s
      @cron = cron.to_s
      @handler = handler
      @unique = unique
      @timeout = timeout
      @heartbeat = heartbeat
      @retries = retries
      @ttl = ttl
      @kwargs = kwargs
      @tz_given = !WORKER_TZ.equal?(cron_tz)
      @cron_tz = @tz_given ? cron_tz&.to_s : nil
    end

    # The cron job's own zone: a name, or nil (UTC, or the worker's when #cron_tz? is false).
    attr_reader :cron_tz

    # Whether cron_tz: was given (nil and "" too: UTC over the worker's cron_tz).
    def cron_tz?
      @tz_given
    end

    # Accepts a CronJob or a Hash of its arguments (function:, cron:, ...).
    def self.coerce(value)
      return value if value.is_a?(CronJob)
      raise ArgumentError, "cron job must be a Saq::CronJob or a Hash, not #{value.class}" unless value.is_a?(Hash)

      opts = value.transform_keys(&:to_sym)
      function = opts.delete(:function) or raise ArgumentError, "cron job needs function:"
      cron = opts.delete(:cron) or raise ArgumentError, "cron job needs cron:"
      handler = opts.delete(:handler)
      new(function, cron, handler, **opts)
    end

    # @api private: options JSON for saq_worker_add_cron.
    def options_json
      opts = { "unique" => @unique ? true : false }
      opts["timeout"] = @timeout unless @timeout.nil?
      opts["heartbeat"] = @heartbeat unless @heartbeat.nil?
      opts["retries"] = @retries unless @retries.nil?
      opts["ttl"] = @ttl unless @ttl.nil?
      opts["kwargs"] = @kwargs unless @kwargs.nil?
      opts["cron_tz"] = @cron_tz if @tz_given # nil: JSON null, UTC
      Codec.dump(opts)
    end
  end
end
