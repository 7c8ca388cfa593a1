# SPDX-License-Identifier: MIT
# Ruby binding side of libsaq's benchmark harness (bench/run); the protocol
# is that of bench/c/saq_bench.c:
#   ruby saq_bench.rb enqueue URL QUEUE N INFLIGHT
#   ruby saq_bench.rb enqueue-bulk URL QUEUE N CHUNK   Queue#enqueue_many of CHUNK jobs, sequentially
#   ruby saq_bench.rb worker  URL QUEUE CONCURRENCY EXPECT REMAINING
#   ruby saq_bench.rb apply   URL QUEUE N
require "json"
require "saq"

$stdout.sync = true

def mono = Process.clock_gettime(Process::CLOCK_MONOTONIC)

def connect(url, name, max_ops = 20)
  q = Saq::Queue.from_url(url, name: name, max_concurrent_ops: max_ops)
  q.count(:queued)
  q
end

def enqueue(url, name, n, inflight)
  q = connect(url, name, inflight)
  left = n
  lock = Mutex.new
  t0 = mono
  inflight.times.map do
    Thread.new do
      loop do
        break unless lock.synchronize { (left -= 1) >= 0 }
        q.enqueue("noop")
      end
    end
  end.each(&:join)
  puts JSON.generate(jobs: n, elapsed: mono - t0)
  q.close
end

def enqueue_bulk(url, name, n, chunk)
  q = connect(url, name)
  t0 = mono
  (0...n).step(chunk) do |i|
    q.enqueue_many(Array.new([chunk, n - i].min) { ["noop", nil] })
  end
  puts JSON.generate(jobs: n, elapsed: mono - t0)
  q.close
end

def worker(url, name, concurrency, expect, remaining)
  q = connect(url, name)
  handled = 0
  lock = Mutex.new
  reached = Thread::Queue.new
  count = -> { reached << true if lock.synchronize { handled += 1 } == expect }
  w = Saq::Worker.new(q, concurrency: concurrency, functions: {
    "noop" => ->(_job) { count.call; 1 },
    "sleep" => ->(job) { sleep(job.kwargs["s"].to_f); count.call; 1 },
  })
  puts "ready"
  exit 1 unless $stdin.gets&.strip == "go"
  t0 = Time.now.to_f
  w.start
  puts "started"
  if expect.positive?
    reached.pop
    sleep 0.0002 while q.count(:incomplete) > remaining
    t1 = Time.now.to_f
    puts JSON.generate(jobs: expect, t0: t0, t1: t1, elapsed: t1 - t0)
  end
  while (line = $stdin.gets)
    break if line.strip == "stop"
  end
  w.stop(grace: 1, timeout: 10)
  q.close
end

def apply(url, name, n)
  q = connect(url, name)
  lat = Array.new(n) do
    t = mono
    q.apply("noop", timeout: 10)
    (mono - t) * 1000
  end
  puts JSON.generate(jobs: n, lat_ms: lat)
  q.close
end

cmd, url, name, a, b, c = ARGV
case cmd
when "enqueue" then enqueue(url, name, Integer(a), Integer(b))
when "enqueue-bulk" then enqueue_bulk(url, name, Integer(a), Integer(b))
when "worker" then worker(url, name, Integer(a), Integer(b), Integer(c))
when "apply" then apply(url, name, Integer(a))
else abort "usage: saq_bench.rb enqueue|enqueue-bulk|worker|apply ..."
end
