-- Shared by the scripts that append to a room log, which are loaded with this file prepended.

-- A new epoch after a failover starts this far above the head (EPOCH_GAP of the transcript).
local FENCE_GAP = 1000

-- On a Redis Cluster, a log keeps the id of the node that last wrote it. A log found on another
-- node was failed over to a replica (or its slot migrated): asynchronous replication may have
-- lost the old master's last writes, whose numbers members have seen and must never be handed
-- out again. Such a log starts a new epoch FENCE_GAP above the head it has, so members resume
-- with `resumed: false` and reload the transcript. Does nothing to a session with no log.
local function fence_log(meta, log)
  local held = redis.call('HMGET', meta, 'head', 'node', 'epoch')
  if not held[1] then
    return
  end
  local node = redis.call('CLUSTER', 'MYID')
  if held[2] == node then
    return
  end
  if held[2] then
    redis.call('DEL', log)
    redis.call('HSET', meta, 'epoch', string.sub(redis.sha1hex(held[3] .. node), 1, 16),
               'head', string.format('%d', tonumber(held[1]) + FENCE_GAP))
  end
  redis.call('HSET', meta, 'node', node)
end

-- Number one event, store it, queue it for the transcript and publish it (``publish`` is
-- PUBLISH, or SPUBLISH on a Redis Cluster, where the log is fenced first). Returns seq and the
-- frame, or false when the session has no log yet (the caller creates it).
local function append_event(meta, log, outbox, body, retention, idle_ttl_s, persist,
                            session_id, channel, outbox_maxlen, publish)
  if publish == 'SPUBLISH' then
    fence_log(meta, log)
  end
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
