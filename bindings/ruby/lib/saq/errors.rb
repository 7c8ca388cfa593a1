# SPDX-License-Identifier: MIT
# frozen_string_literal: true

module Saq
  # Base class of every error libsaq reports. #code is the libsaq error code
  # (a negative SAQ_E* value) and #code_name its stable name ("SAQ_ETIMEDOUT").
  class Error < StandardError
    attr_reader :code

    def initialize(message = nil, code: nil)
      @code = code || (self.class.const_defined?(:CODE) ? self.class::CODE : nil)
      super(message || (@code ? Native.saq_strerror(@code) : "libsaq error"))
    end

    def code_name
      @code ? Native.saq_err_name(@code) : nil
    end
  end

  # Ruby names of libsaq's error codes. Codes this version of the gem does not
  # know still get a class, named after saq_err_name.
  ERROR_CLASS_NAMES = {
    "SAQ_EINVAL" => "InvalidArgumentError",
    "SAQ_ENOMEM" => "OutOfMemoryError",
    "SAQ_ETIMEDOUT" => "TimeoutError",
    "SAQ_ECLOSED" => "ClosedError",
    "SAQ_EFORKED" => "ForkedError",
    "SAQ_EREDIS" => "RedisError",
    "SAQ_EPROTO" => "ProtocolError",
    "SAQ_ECONN" => "ConnectionError",
    "SAQ_EURL" => "URLError",
    "SAQ_EJSON" => "JSONError",
    "SAQ_ENOTFOUND" => "NotFoundError",
    "SAQ_EWRONGQUEUE" => "WrongQueueError",
    "SAQ_EJOB" => "JobError",
    "SAQ_EUNKNOWN_KEY" => "UnknownKeyError",
    "SAQ_ECRON" => "CronError",
    "SAQ_ESTATE" => "StateError",
    "SAQ_ETOOBIG" => "TooBigError",
    "SAQ_EUVVERSION" => "LibuvVersionError",
    "SAQ_ETLS" => "TLSError"
  }.freeze

  ERROR_CLASS_NAMES.each_value { |class_name| const_set(class_name, Class.new(Error)) }

  # code => exception class, generated from the codes the loaded libsaq names.
  ERRORS = {}

  (1..128).each do |n|
    code = -n
    name = Native.saq_err_name(code)
    break if name.nil? || name == "SAQ_E?"

    class_name = ERROR_CLASS_NAMES[name] ||
                 "#{name.sub(/\ASAQ_E/, "").split("_").map(&:capitalize).join}Error"
    klass = const_defined?(class_name, false) ? const_get(class_name) : const_set(class_name, Class.new(Error))
    klass.const_set(:CODE, code) unless klass.const_defined?(:CODE, false)
    ERRORS[code] = klass
  end
  ERRORS.freeze

  # A job ended failed or aborted (apply, map). #job is the final record.
  class JobError
    attr_reader :job

    def initialize(message = nil, code: nil, job: nil)
      @job = job
      super(message, code: code)
    end
  end

  # Raised inside a job handler's thread when the worker wants the job to
  # stop: it was aborted, ran past its timeout or heartbeat, lost its lease, or
  # the worker is shutting down past its grace period. It is not a
  # StandardError, so a plain `rescue => e` in a handler does not swallow it.
  # #reason is :aborted, :timeout, :shutdown, :heartbeat or :lost.
  class Cancelled < Exception # rubocop:disable Lint/InheritException
    attr_reader :reason

    def initialize(reason = :cancelled)
      @reason = reason
      super("job cancelled (#{reason})")
    end
  end

  class << self
    # The exception for a libsaq error code (with its message).
    def error_for(code, message = nil, **opts)
      klass = ERRORS[code] || Error
      text = message && !message.empty? ? message : Native.saq_strerror(code)
      if klass <= JobError
        klass.new(text, code: code, **opts)
      else
        klass.new(text, code: code)
      end
    end

    # Raise for a non-zero libsaq return code.
    def check!(code, message = nil)
      return code if code.nil? || code >= 0

      raise error_for(code, message)
    end
  end
end
