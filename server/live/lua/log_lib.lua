-- Shared by the scripts that append to a room log, which are loaded with this file prepended.

-- Number one event, store it, queue it for the transcript and publish it (``publish`` is
-- PUBLISH, or SPUBLISH on a Redis Cluster). Returns seq and the frame, or false when the session
-- has no log yet (the caller creates it).
local function append_event(meta, log, outbox, body, retention, idle_ttl_s, persist,
                            session_id, channel, outbox_maxlen, publish)
  local head = redis.call('HGET', meta, 'head')
  if not head then
    return false
  end
  local seq = string.format('%d', tonumber(head) + 1)
  -- Same splice as protocol.events.encode_with_seq; the body starts with a one-byte '{'.
  local frame = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
  -- XADD first: if it fails the script aborts before head moves.
  redis.call('XADD', log, 'MAXLEN', retention, seq .. '-0', 'd', frame)
  redis.call('HSET', meta, 'head', seq)
  redis.call('EXPIRE', meta, idle_ttl_s)
  redis.call('EXPIRE', log, idle_ttl_s)
  if persist == '1' then
    redis.call('XADD', outbox, 'MAXLEN', '~', outbox_maxlen, '*', 's', session_id, 'q', seq,
               'd', frame)
  end
  redis.call(publish, channel, frame)
  return {seq, frame}
end

-- The id of the oldest entry the log holds, '' if it holds none.
local function first_entry_id(log)
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  if #first > 0 then
    return first[1][1]
  end
  return ''
end
