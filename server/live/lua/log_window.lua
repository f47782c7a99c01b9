-- The epoch, head and oldest held entry id of a session's log, read together.
-- KEYS: meta, log
-- Returns {epoch, head, first_id} (first_id is '' for an empty log), or false if there is no log.
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'head')
if not meta[1] or not meta[2] then
  return false
end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local first_id = ''
if #first > 0 then
  first_id = first[1][1]
end
return {meta[1], meta[2], first_id}
