# SPDX-License-Identifier: MIT
# frozen_string_literal: true

# libsaq for Ruby: the Python "saq" job queue (Redis), wire-compatible with
# saq 0.26, on libsaq's C core. See README.md.
require "json"
require "saq/version"

begin
  require "saq/native"
rescue LoadError => e
  raise LoadError, "saq: cannot load the native extension (#{e.message}); " \
                   "reinstall the gem so that it is compiled against an installed libsaq"
end

module Saq
  # Version of the libsaq library loaded into this process ("0.2.0").
  def self.libsaq_version
    Native.saq_version_str
  end

  built = Native.saq_rb_built_version
  loaded = Native.saq_version
  if loaded < built
    fmt = ->(v) { "#{v >> 16}.#{(v >> 8) & 0xff}.#{v & 0xff}" }
    raise LoadError, "saq: the loaded libsaq is #{fmt.call(loaded)}, older than #{fmt.call(built)} " \
                     "that this extension was built for; upgrade libsaq or rebuild the gem"
  end
end

require "saq/errors"
require "saq/codec"
require "saq/log"
require "saq/metrics"
require "saq/job"
require "saq/queue"
require "saq/flow"
require "saq/cron_job"
require "saq/worker"
