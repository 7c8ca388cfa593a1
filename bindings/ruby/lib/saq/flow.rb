# SPDX-License-Identifier: MIT
# frozen_string_literal: true

module Saq
  # Flows (an extension Python saq ignores): member jobs and a callback job
  # that libsaq enqueues exactly once, when every member is terminal
  # (complete, failed or aborted), with the members' outcomes in its kwargs
  # under "flow": {"id" => ..., "members" => [{"key", "status", "result",
  # "error"}, ...]} (Saq.flow_outcome reads them). The flow id is the
  # callback's key. When the outcomes would make the callback's record larger
  # than the enqueuing queue's max_payload_bytes (less 256 bytes), the
  # callback still runs, once, with "omitted" => ["result"] (every result
  # nil), then ["result", "error"], then ["result", "error", "members"]
  # ("members" => [], with "total" and "statuses" => {status => count}); no
  # "omitted" when nothing was left out. Queue#flow still has them all.
  class Queue
    # Enqueue a flow: `members` is an Array of [function, kwargs] pairs and
    # `callback` one such pair; kwargs are split as enqueue splits them (key,
    # timeout, retries, ... set the job; the rest are its kwargs). Every member
    # is enqueued and the flow recorded in one step, or nothing is written.
    # `ttl`: seconds the flow's record is kept after its callback was
    # enqueued (default 86400; 0 forever). Returns {id:, callback:, members:
    # [keys]}, or nil when a flow with that id is recorded already. Raises
    # StateError when a member's key is already enqueued, InvalidArgumentError
    # for no member, a key used twice, or callback kwargs with "flow".
    def enqueue_flow(members, callback, ttl: nil)
      raise ArgumentError, "members must be an Array of [function, kwargs] pairs" unless members.is_a?(Array)

      cb = flow_job(*Array(callback))
      flow = Native.saq_flow_new(cb)
      Native.saq_rb_job_release(cb)
      flow or raise null_error("flow")
      begin
        Saq.check!(Native.saq_flow_set_ttl(flow, Integer(ttl)), "flow ttl must be >= 0") unless ttl.nil?
        members.each_with_index do |m, i|
          job = flow_job(*Array(m))
          begin
            rc = Native.saq_flow_add(flow, job)
            Saq.check!(rc, "flow member #{i}: its key is the callback's or another member's")
          ensure
            Native.saq_rb_job_release(job)
          end
        end
        execute(->(cq) { Native.saq_queue_enqueue_flow(@raw, flow, cq, TAG) }) do |ev|
          next nil if Native.saq_event_int(ev).zero?

          Codec.load(Native.saq_event_json(ev)).transform_keys(&:to_sym)
        end
      ensure
        Native.saq_rb_flow_release(flow)
      end
    end

    # Read a flow (after recording any member found terminal, and enqueuing
    # the callback when that was the last one): a Hash with :id, :state
    # ("open" or "done"), :callback, :total, :pending, :created_ms, :done_ms
    # and :members (Hashes with "key", "status", "result", "error"; every
    # outcome, whatever the callback got; status "unknown" with an error
    # saying why when its record in Redis is malformed), or nil when no flow
    # has that id. Raises ProtocolError when the flow's own fields are
    # malformed.
    def flow(id)
      execute(->(cq) { Native.saq_queue_flow(@raw, id.to_s, cq, TAG) }, not_found: nil) do |ev|
        Codec.load(Native.saq_event_json(ev)).transform_keys(&:to_sym)
      end
    end

    private

    def flow_job(function, kwargs = {})
      job = Native.saq_job_new(function.to_s) or raise InvalidArgumentError, "function must be a non-empty name"
      begin
        rc = Native.saq_job_set_call_kwargs(job, Codec.dump(call_kwargs(kwargs || {})))
        Saq.check!(rc, Native.saq_job_errmsg(job))
      rescue StandardError
        Native.saq_rb_job_release(job)
        raise
      end
      job
    end
  end

  # The members' outcomes a flow's callback received ({"id" => ..., "members"
  # => [...]}), or nil when the job is not a flow's callback.
  def self.flow_outcome(job)
    kw = job.respond_to?(:kwargs) ? job.kwargs : job
    kw.is_a?(Hash) ? kw["flow"] : nil
  end
end
