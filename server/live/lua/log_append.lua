-- Number one event, store it, queue it for the transcript and publish it, atomically.
-- KEYS: meta, log, outbox, turns
-- ARGV: body, retention, idle_ttl_s, persist ("1" or "0"), session_id, channel, outbox_maxlen,
--       queue_turn ("1" or "0"), publish ("PUBLISH" or "SPUBLISH")
-- Returns {seq, frame}, or false when the session has no log yet (the caller creates it).
local appended = append_event(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                              ARGV[5], ARGV[6], ARGV[7], ARGV[9])
if appended and ARGV[8] == '1' then
  redis.call('ZADD', KEYS[4], appended[1], appended[2])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
return appended
