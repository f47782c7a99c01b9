-- The epoch, head and oldest held entry id of a session's log, read together.
-- KEYS: meta, log
-- ARGV: fence ("1" on a Redis Cluster: see fence_log)
-- Returns {epoch, head, first_id} (first_id is '' for an empty log), or false if there is no log.
if ARGV[1] == '1' then
  fence_log(KEYS[1], KEYS[2])
end
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'head')
if not meta[1] or not meta[2] then
  return false
end
return {meta[1], meta[2], first_entry_id(KEYS[2])}
