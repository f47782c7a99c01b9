-- The epoch, head and oldest held entry id of a session's log, read together.
-- KEYS: meta, log
-- Returns {epoch, head, first_id} (first_id is '' for an empty log), or false if there is no log.
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'head')
if not meta[1] or not meta[2] then
  return false
end
return {meta[1], meta[2], first_entry_id(KEYS[2])}
