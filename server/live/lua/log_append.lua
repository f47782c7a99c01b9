-- Number one event, store it, queue it for the transcript and publish it, atomically.
-- KEYS: meta, log, outbox, turns
-- ARGV: body, retention, idle_ttl_s, persist ("1" or "0"), session_id, channel, outbox_maxlen,
--       queue_turn ("1" or "0")
-- Returns {seq, frame}, or false when the session has no log yet (the caller creates it).
local head = redis.call('HGET', KEYS[1], 'head')
if not head then
  return false
end
local seq = string.format('%d', tonumber(head) + 1)
-- Same splice as protocol.events.encode_with_seq; the body starts with a one-byte '{'.
local frame = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
-- XADD first: if it fails the script aborts before head moves.
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 'd', frame)
redis.call('HSET', KEYS[1], 'head', seq)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if ARGV[4] == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 's', ARGV[5], 'q', seq, 'd', frame)
end
if ARGV[8] == '1' then
  redis.call('ZADD', KEYS[4], seq, frame)
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
redis.call('PUBLISH', ARGV[6], frame)
return {seq, frame}
