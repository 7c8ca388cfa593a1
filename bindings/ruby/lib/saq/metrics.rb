# SPDX-License-Identifier: MIT
# frozen_string_literal: true

module Saq
  # Serving libsaq's Prometheus metrics from a Ruby process. Queue#metrics
  # (queue-wide figures, the same from any process) and Worker#metrics
  # (this process's workers: jobs processed per function and outcome, a
  # duration histogram) are Prometheus text expositions (format 0.0.4);
  # several of them (two queues, a queue and a worker, or the text of the
  # prometheus-client gem's registry) are joined with #merge, which writes
  # each metric family once.
  #
  #   # config.ru (or mount it in Rails/Sinatra at /metrics)
  #   run Saq::Metrics.rack_app(queue, worker)
  #
  # The prometheus-client gem has no collector interface for text from
  # elsewhere; merge its exposition instead:
  #
  #   Saq::Metrics.merge(Prometheus::Client::Formats::Text.marshal(Prometheus::Client.registry),
  #                      queue.metrics, worker.metrics)
  module Metrics
    # The Content-Type of the text exposition format.
    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    HEADER = /\A#\s+(HELP|TYPE)\s+(\S+)/.freeze

    # One exposition from several: the families of the same name are joined
    # under one HELP and TYPE line (the first seen), in the order they first
    # appear; a series (name and labels) given twice is kept once (the
    # first). Arguments are Strings (or Arrays of them; nil is skipped).
    def self.merge(*texts)
      families = {} # name => { "HELP" => line, "TYPE" => line, samples: { series => line } }
      texts.flatten.compact.each do |text|
        current = nil
        text.each_line(chomp: true) do |line|
          next if line.strip.empty?

          if (m = HEADER.match(line))
            current = (families[m[2]] ||= { samples: {} })
            current[m[1]] ||= line
          elsif !line.start_with?("#")
            series = series_of(line)
            fam = current || (families[series[/\A[^{\s]+/]] ||= { samples: {} })
            fam[:samples][series] ||= line
          end
        end
      end
      families.each_value.flat_map { |f| [f["HELP"], f["TYPE"], *f[:samples].values].compact }
              .map { |l| "#{l}\n" }.join
    end

    # The merged metrics of `sources`: objects with #metrics (Saq::Queue,
    # Saq::Worker) or callables returning an exposition.
    def self.collect(*sources)
      merge(sources.flatten.map { |s| s.respond_to?(:metrics) ? s.metrics : s.call })
    end

    # A Rack application serving #collect(*sources): 200 with the exposition,
    # or 503 with the error when Redis cannot be read (Prometheus then
    # records the scrape as failed: up == 0).
    def self.rack_app(*sources)
      lambda do |_env|
        [200, { "content-type" => CONTENT_TYPE }, [collect(*sources)]]
      rescue Saq::Error => e
        [503, { "content-type" => "text/plain; charset=utf-8" }, ["saq: #{e.class}: #{e.message}\n"]]
      end
    end

    # "name{labels}" of a sample line (label values may hold spaces; the
    # value and timestamp after the braces cannot hold a "}").
    def self.series_of(line)
      close = line.index("{") && line.rindex("}")
      close ? line[0..close] : line.split(/\s+/, 2).first
    end
    private_class_method :series_of
  end
end
