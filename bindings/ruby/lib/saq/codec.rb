# frozen_string_literal: true

require "json"

module Saq
  # JSON in and out of libsaq. Python's json module writes NaN and +-Infinity,
  # so both directions allow them. Hashes come back with String keys, as the
  # records in Redis have them; Symbol keys are accepted going in.
  module Codec
    module_function

    def dump(value)
      JSON.generate(value, allow_nan: true)
    end

    def load(text)
      return nil if text.nil?

      JSON.parse(text, allow_nan: true)
    end
  end
end
