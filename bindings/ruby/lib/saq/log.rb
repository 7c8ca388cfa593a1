# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require "logger"

module Saq
  # The logger used by queues and workers made without a logger: option:
  # Ruby's Logger on $stderr at WARN with progname "saq" (made on first use).
  # Replace it (Saq.logger = Rails.logger, ...) before or after making
  # queues: it is looked up for every record. nil silences them.
  def self.logger
    return @logger unless @logger.equal?(Log::UNSET)

    Log::LOCK.synchronize do
      @logger = Logger.new($stderr, level: Logger::WARN, progname: "saq") if @logger.equal?(Log::UNSET)
    end
    @logger
  end

  class << self
    attr_writer :logger
  end

  # A log line from libsaq or from the binding, as given to a Logger: a
  # String ("worker started queue=default worker=7f3c...", the message then
  # its fields as key=value, values with spaces or quotes quoted), so every
  # Logger formatter prints it, which also carries the parts for formatters
  # that want them (JSON loggers): #message (the text alone), #fields (a
  # frozen Hash with Symbol keys: :queue, :worker, :job, :function, :error,
  # :code, :address, :outage_ms, ... as the record has them) and #level
  # (:debug, :info, :warn or :error).
  class LogMessage < String
    attr_reader :message, :fields, :level

    def initialize(level, message, fields)
      @level = level
      @message = message.to_s.dup.freeze
      @fields = fields.transform_keys(&:to_sym).freeze
      super(([@message] + @fields.map { |k, v| "#{k}=#{LogMessage.value(v)}" }).join(" "))
      freeze
    end

    # Longest value the line shows whole (characters); #fields keeps it whole.
    VALUE_MAX = 200

    # @api private: logfmt's quoting (bare when it has no space, quote, = or control
    # character); a long value (a backtrace) is cut to VALUE_MAX with "...".
    def self.value(v)
      s = v.to_s
      s = "#{s[0, VALUE_MAX]}..." if s.length > VALUE_MAX
      s.empty? || s.match?(/[\s"=\\[:cntrl:]]/) ? s.inspect : s
    end
  end

  # @api private: libsaq's log records reach Ruby loggers here. Every queue
  # made with a logger sends its records (and its workers') as SAQ_EVENT_LOG
  # events to one completion queue per process (saq_conf_set_log_cq; the
  # queue's number is the tag), which one Ruby thread ("saq-log") waits on,
  # with the GVL released, and hands to the queue's logger. Ruby code never
  # runs on a libsaq thread, and a slow logger only delays other records.
  # The cq is never freed (it must outlive every queue that uses it); a
  # forked child makes its own.
  module Log
    UNSET = Object.new.freeze
    LOCK = Mutex.new
    # Logger's numeric levels (DEBUG 0 .. UNKNOWN 5) as libsaq's log_level.
    LOG_LEVELS = %w[debug info warning error error off].freeze
    # Accepted for the log_level: option.
    LEVEL_NAMES = { debug: "debug", info: "info", warn: "warning", warning: "warning",
                    error: "error", fatal: "error", off: "off" }.freeze
    # A worker that was given its own logger: its records go there.
    WORKER_ID = /\A(.*?)(?:\.\d+)?\z/.freeze

    @sinks = {}    # tag => logger (UNSET: Saq.logger)
    @workers = {}  # worker id => logger (nil: silenced)
    @next_tag = 0
    @released = [] # tags of collected queues, to drop from @sinks
    @cq = nil
    @pid = nil

    class << self
      # The conf key log_level for a queue's logger: and log_level: options:
      # log_level:, else SAQ_LOG_LEVEL (libsaq reads it), else the logger's
      # own level (Saq.logger's without logger:); nil leaves libsaq's default.
      def level_for(logger, level)
        return "off" if logger.nil?

        return level_name(level) if level
        return nil unless ENV["SAQ_LOG_LEVEL"].to_s.empty? # libsaq reads it

        level_of(logger.equal?(UNSET) ? Saq.logger : logger)
      end

      # Send the records of the queues made from `conf` to `logger` (UNSET:
      # Saq.logger). Returns the tag of the sink, to #release later; nil for
      # a nil logger (silenced by log_level "off").
      def attach(conf, logger)
        return nil if logger.nil?

        LOCK.synchronize do
          start_pump unless @pid == Process.pid
          @sinks.delete(@released.shift) until @released.empty?
          tag = (@next_tag += 1)
          @sinks[tag] = logger
          Saq.check!(Native.saq_conf_set_log_cq(conf, @cq, tag), "log sink")
          tag
        end
      end

      # Forget a queue's sink (its Ruby object was collected). Called from a
      # finalizer, where a Mutex cannot be taken: the tag is only noted
      # (Array#<< is atomic under the GVL) and dropped under LOCK later.
      def release(tag)
        @released << tag
      end

      # A worker with its own logger (nil: silenced): libsaq's records about
      # it (field "worker": its id, or "<id>.<n>" on an added queue) go there.
      def route_worker(id, logger)
        LOCK.synchronize { @workers[id] = logger }
      end

      def unroute_worker(id)
        LOCK.synchronize { @workers.delete(id) }
      end

      # Deliver the records waiting in the cq now, on the calling thread
      # (worker stop: its last lines are logged before stop returns).
      def drain
        cq = @pid == Process.pid ? @cq : nil
        return unless cq

        while (ev = Native.saq_rb_cq_poll(cq, 0))
          deliver(ev)
        end
      end

      # A line from the binding itself, in libsaq's form. Never raises.
      def emit(logger, level, message, fields = {})
        logger = Saq.logger if logger.equal?(UNSET)
        return if logger.nil?

        logger.public_send(level, LogMessage.new(level, message, fields.compact))
      rescue StandardError => e
        warn_once(e)
      end

      private

      def level_name(level)
        return nil if level.nil?
        return LOG_LEVELS.fetch(level) { raise ArgumentError, "log_level: #{level} is not a Logger level" } if level.is_a?(Integer)

        LEVEL_NAMES.fetch(level.to_s.downcase.to_sym) do
          raise ArgumentError, "log_level: #{level.inspect} is not one of #{LEVEL_NAMES.keys.join(", ")}"
        end
      end

      # A logger's own threshold, so libsaq does not format records it drops.
      def level_of(logger)
        return nil unless logger.respond_to?(:level)

        lvl = logger.level
        lvl.is_a?(Integer) && lvl >= 0 ? LOG_LEVELS[[lvl, 5].min] : nil
      rescue StandardError
        nil
      end

      # Under LOCK.
      def start_pump
        cq = Native.saq_cq_new or raise OutOfMemoryError, "cannot create the log completion queue"
        @cq = cq
        @pid = Process.pid
        Thread.new { pump(cq) }.tap { |t| t.name = "saq-log" }
      end

      def pump(cq)
        loop do
          ev = Native.saq_rb_cq_poll(cq, -1)
          ev ? deliver(ev) : Thread.pass # NULL: interrupted, Ruby runs the interrupt
        end
      end

      def deliver(ev)
        return unless Native.saq_event_type(ev) == Native::SAQ_EVENT_LOG

        tag = Native.saq_event_tag(ev)
        level = level_method(Native.saq_event_int(ev))
        message = Native.saq_event_text(ev)
        fields = begin
          Codec.load(Native.saq_event_json(ev)) || {}
        rescue StandardError
          {}
        end
        fields = {} unless fields.is_a?(Hash)
        logger = LOCK.synchronize do
          w = fields["worker"].is_a?(String) && fields["worker"][WORKER_ID, 1]
          if w && @workers.key?(fields["worker"]) then @workers[fields["worker"]]
          elsif w && @workers.key?(w) then @workers[w]
          elsif @sinks.key?(tag) then @sinks[tag]
          else return # the queue is gone
          end
        end
        emit(logger, level, message, fields)
      ensure
        Native.saq_rb_event_release(ev)
      end

      # libsaq's levels (syslog numbers; smaller is more severe) as Logger methods.
      def level_method(n)
        if n <= Native::SAQ_LOG_ERROR then :error
        elsif n == Native::SAQ_LOG_WARNING then :warn
        elsif n <= Native::SAQ_LOG_INFO then :info
        else :debug
        end
      end

      def warn_once(error)
        return if @warned

        @warned = true
        Kernel.warn("saq: the logger raised #{error.class}: #{error.message} (further errors are not shown)")
      end
    end
  end

  @logger = Log::UNSET
end
