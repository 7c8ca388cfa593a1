# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require "json"

module Saq
  # JSON in and out of libsaq. Python's json module writes NaN and +-Infinity,
  # so both directions allow them. Hashes come back with String keys, as the
  # records in Redis have them; Symbol keys are accepted going in.
  #
  # Depth: Ruby's JSON stops at 100 levels by default; libsaq and Python read
  # deeper documents, so the limit here is MAX_NESTING (well above both, and
  # below what Ruby's recursive parser and generator can do on a thread's
  # stack).
  #
  # Lone surrogates: Python's json writes a str holding a lone surrogate as
  # an escape ("\udbff"), which Ruby's parser refuses (lone high surrogates)
  # or decodes inconsistently (a high surrogate followed by another high
  # one). They are decoded here as the surrogate's three bytes
  # ("\xED\xAF\xBF", WTF-8: a UTF-8 String whose valid_encoding? is false),
  # and such bytes are written back as the same escape, so the text
  # round-trips through a Ruby handler unchanged.
  module Codec
    MAX_NESTING = 4096

    LOAD_OPTS = { allow_nan: true, max_nesting: MAX_NESTING }.freeze
    DUMP_OPTS = { allow_nan: true, max_nesting: MAX_NESTING }.freeze

    # A high-surrogate escape not followed by a low-surrogate escape; any
    # other escape (so that "\\\\ud800", an escaped backslash, is skipped).
    LONE_HIGH = /\\(?:u([dD][89abAB]\h\h)(?!\\u[dD][c-fC-F]\h\h)|.)/mn
    HIGH_ESCAPE = /\\u[dD][89abAB]/n
    SURROGATE_BYTES = /\xED[\xA0-\xBF][\x80-\xBF]/n

    module_function

    def dump(value)
      JSON.generate(value, DUMP_OPTS)
    rescue JSON::GeneratorError
      dump_wtf8(value, 0)
    end

    def load(text)
      return nil if text.nil?

      JSON.parse(text.b.match?(HIGH_ESCAPE) ? lone_high_as_bytes(text) : text, LOAD_OPTS)
    end

    # Lone high-surrogate escapes become raw WTF-8 bytes inside the JSON
    # string (Ruby's parser passes them through, and already decodes lone
    # low surrogates that way).
    def lone_high_as_bytes(text)
      text = text.b.gsub(LONE_HIGH) do |m|
        next m unless Regexp.last_match(1)

        cp = Regexp.last_match(1).hex
        [0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)].pack("C*")
      end
      text.force_encoding(Encoding::UTF_8)
    end

    # The slow path of dump, for values holding WTF-8 strings (lone
    # surrogates): the containers are walked here; everything else is left
    # to JSON.generate.
    def dump_wtf8(value, depth)
      raise JSON::NestingError, "nesting of #{depth} is too deep" if depth > MAX_NESTING

      case value
      when Hash
        "{#{value.map { |k, v| "#{dump_wtf8(k.to_s, depth)}:#{dump_wtf8(v, depth + 1)}" }.join(",")}}"
      when Array
        "[#{value.map { |v| dump_wtf8(v, depth + 1) }.join(",")}]"
      when String
        return JSON.generate(value, DUMP_OPTS) if value.valid_encoding? || value.encoding != Encoding::UTF_8

        out = +'"'
        value.b.split(/(#{SURROGATE_BYTES})/n).each do |part|
          next if part.empty?

          if part.match?(/\A#{SURROGATE_BYTES}\z/n)
            b = part.bytes
            out << format("\\u%04x", ((b[0] & 0x0F) << 12) | ((b[1] & 0x3F) << 6) | (b[2] & 0x3F))
          else
            piece = part.force_encoding(Encoding::UTF_8)
            raise JSON::GeneratorError, "source sequence is illegal/malformed utf-8" unless piece.valid_encoding?

            out << JSON.generate(piece, DUMP_OPTS)[1..-2]
          end
        end
        out << '"'
      else
        JSON.generate(value, DUMP_OPTS)
      end
    end
  end

  # @api private: text for a libsaq C string (error texts): UTF-8 (other
  # encodings converted, invalid bytes replaced by U+FFFD as libsaq would),
  # and NUL bytes, which a C string cannot hold, written as the six
  # characters "\u0000" (how JSON and String#inspect show them).
  def self.__c_text(value)
    s = value.to_s
    s = s.dup.force_encoding(Encoding::UTF_8) if s.encoding == Encoding::BINARY || s.encoding == Encoding::US_ASCII
    s = s.encode(Encoding::UTF_8, invalid: :replace, undef: :replace) unless s.encoding == Encoding::UTF_8
    s = s.scrub unless s.valid_encoding?
    s.include?("\0") ? s.gsub("\0", "\\u0000") : s
  end
end
