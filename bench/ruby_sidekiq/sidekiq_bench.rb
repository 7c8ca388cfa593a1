# SPDX-License-Identifier: MIT
# Sidekiq (Debian's ruby-sidekiq 6.4.1, redis-rb), the Ruby peer of the Ruby
# binding in libsaq's benchmark harness (bench/run); the protocol is that of
# bench/c/saq_bench.c:
#   ruby sidekiq_bench.rb enqueue      URL QUEUE N INFLIGHT  N x Sidekiq::Client.push, at most INFLIGHT in flight
#   ruby sidekiq_bench.rb enqueue-bulk URL QUEUE N CHUNK     Sidekiq::Client.push_bulk of CHUNK jobs, sequentially
#   ruby sidekiq_bench.rb fill         URL QUEUE N [SLEEPFILE] pre-enqueue (push_bulk; not a measurement)
#   ruby sidekiq_bench.rb worker       URL QUEUE CONCURRENCY EXPECT REMAINING
# Sidekiq has no apply (no call that waits for a job's result; a successful
# job leaves nothing in Redis), so there is no apply subcommand.
#
# The worker is Sidekiq's own Launcher in this process, set up as Sidekiq's
# load test (bin/sidekiqload) sets it up: sidekiq/cli loaded (so Sidekiq runs
# as a server), logger at ERROR (no per-job start/done lines), the queue
# QUEUE, concurrency CONCURRENCY (threads), a pool of CONCURRENCY + 5
# connections (Sidekiq's server default). Sidekiq stores no outcome for a
# successful job (BasicFetch's BRPOP is its only command per job; the
# processed counter is flushed by the heartbeat every 5 s), so drained =
# EXPECT handler runs returned and queue:QUEUE holds at most REMAINING jobs.
# (Debian pairs Sidekiq 6.4.1 with redis-rb 4.8, which warns on every BRPOP;
# the warnings are silenced, but redis-rb still formats them.)
require "json"
require "sidekiq"

$stdout.sync = true
# Debian's redis-rb 4.8 warns on Sidekiq 6.4's positional BRPOP timeout and
# SADD (once per call, to stderr): silenced, as a deployment would
Redis.silence_deprecations = true

def mono = Process.clock_gettime(Process::CLOCK_MONOTONIC)

$handled = 0
$expect = 0
$lock = Mutex.new
$reached = Thread::Queue.new

def counted
  $reached << true if $lock.synchronize { $handled += 1 } == $expect
end

class Noop
  include Sidekiq::Worker

  def perform
    counted
    1
  end
end

class Sleep
  include Sidekiq::Worker

  def perform(s)
    sleep(s.to_f)
    counted
    1
  end
end

def setup_redis(url, size)
  Sidekiq.redis = { url: url, size: size }
  Sidekiq.redis(&:ping)
end

# Open every connection of the pool before the clock starts (the other
# drivers connect first too): n threads each hold one until all have one.
def warm_pool(n)
  held = Thread::Queue.new
  go = Thread::Queue.new
  threads = Array.new(n) { Thread.new { Sidekiq.redis { |c| c.ping; held << 1; go.pop } } }
  n.times { held.pop }
  n.times { go << 1 }
  threads.each(&:join)
end

def enqueue(url, name, n, inflight)
  setup_redis(url, inflight)
  warm_pool(inflight)
  left = n
  lock = Mutex.new
  t0 = mono
  inflight.times.map do
    Thread.new do
      client = Sidekiq::Client.new
      loop do
        break unless lock.synchronize { (left -= 1) >= 0 }
        client.push("class" => Noop, "queue" => name, "args" => [])
      end
    end
  end.each(&:join)
  puts JSON.generate(jobs: n, elapsed: mono - t0)
end

def enqueue_bulk(url, name, n, chunk, sleeps = nil)
  setup_redis(url, 5)
  t0 = mono
  (0...n).step(chunk) do |i|
    k = [chunk, n - i].min
    if sleeps
      Sidekiq::Client.push_bulk("class" => Sleep, "queue" => name, "args" => sleeps[i, k].map { |s| [s] })
    else
      Sidekiq::Client.push_bulk("class" => Noop, "queue" => name, "args" => Array.new(k) { [] })
    end
  end
  puts JSON.generate(jobs: n, elapsed: mono - t0)
end

def worker(url, name, concurrency, expect, remaining)
  require "sidekiq/cli"
  require "sidekiq/launcher"
  $expect = expect
  Sidekiq.configure_server do |config|
    config.options[:concurrency] = concurrency
    config.options[:queues] = [name]
    config.options[:timeout] = 1
    config.logger.level = Logger::ERROR
  end
  setup_redis(url, concurrency + 5)
  puts "ready"
  exit 1 unless $stdin.gets&.strip == "go"
  t0 = Time.now.to_f
  launcher = Sidekiq::Launcher.new(Sidekiq.options)
  launcher.run
  puts "started"
  if expect.positive?
    $reached.pop
    sleep 0.0002 while Sidekiq.redis { |c| c.llen("queue:#{name}") } > remaining
    t1 = Time.now.to_f
    puts JSON.generate(jobs: expect, t0: t0, t1: t1, elapsed: t1 - t0)
  end
  while (line = $stdin.gets)
    break if line.strip == "stop"
  end
  launcher.stop
end

cmd, url, name, a, b, c = ARGV
case cmd
when "enqueue" then enqueue(url, name, Integer(a), Integer(b))
when "enqueue-bulk" then enqueue_bulk(url, name, Integer(a), Integer(b))
when "fill"
  sleeps = b && File.readlines(b).map(&:to_f)
  enqueue_bulk(url, name, Integer(a), 1000, sleeps)
when "worker" then worker(url, name, Integer(a), Integer(b), Integer(c))
else abort "usage: sidekiq_bench.rb enqueue|enqueue-bulk|fill|worker ... (Sidekiq has no apply)"
end
