# SPDX-License-Identifier: MIT
# frozen_string_literal: true

require_relative "lib/saq/version"

# The committed SWIG wrapper (ext/saq/saq_ruby_wrap.c) ships with the header it
# was generated from, which stage.sh copies from abi/ next to it.
unless File.exist?(File.join(__dir__, "ext/saq/saq.h"))
  raise "ext/saq/saq.h is missing: build the gem with bindings/ruby/build-gem.sh, " \
        "which stages the sources with abi/saq.h before `gem build` (no SWIG needed)"
end

Gem::Specification.new do |spec|
  spec.name = "saq"
  spec.version = Saq::VERSION
  spec.summary = "SAQ (Python's Simple Async Queue) job queue for Ruby, on libsaq"
  spec.description = <<~DESC
    Ruby binding of libsaq, a C library implementing the Python "saq" Redis job
    queue, wire-compatible with saq 0.26: enqueue, apply, map, batch, listen and
    a worker whose handlers are Ruby callables. Needs libsaq installed
    (found with pkg-config).
  DESC
  spec.authors = ["libsaq contributors"]
  spec.license = "MIT"
  spec.homepage = "https://github.com/libsaq/libsaq"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir.chdir(__dir__) do
    Dir["lib/**/*.rb", "ext/saq/*.{rb,c,h,i}", "README.md", "CHANGELOG.md", "LICENSE", "saq.gemspec"]
  end
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/saq/extconf.rb"]
  spec.requirements << "libsaq >= #{Saq::VERSION} (pkg-config libsaq)"
  spec.metadata["rubygems_mfa_required"] = "true"
end
