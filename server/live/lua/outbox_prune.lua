-- Delete the outbox consumers that hold no pending entry and have been idle for long.
-- Each process reads under a fresh consumer name, so the names of dead ones pile up.
-- KEYS: outbox
-- ARGV: group, idle_ms, keep (the caller's own consumer name)
-- Returns the names deleted. Checking and deleting in one script matters: DELCONSUMER drops
-- a consumer's pending entries, and one that took entries in between would lose them.
local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if consumers.err then
  -- No stream or no group yet: the next read creates them, and there is nothing to delete.
  return {}
end
local idle_ms = tonumber(ARGV[2])
local deleted = {}
for _, fields in ipairs(consumers) do
  local info = {}
  for i = 1, #fields, 2 do
    info[fields[i]] = fields[i + 1]
  end
  if info.name ~= ARGV[3] and info.pending == 0 and info.idle > idle_ms then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info.name)
    table.insert(deleted, info.name)
  end
end
return deleted
