-- Start a new epoch of a session's log unless another process already did.
-- KEYS: meta, log
-- ARGV: epoch, head (the seed), idle_ttl_s, fence ("1" on a Redis Cluster: the log keeps the
--       node that wrote it, see fence_log in log_lib.lua)
-- Returns 1 if this call created the log, 0 if it already existed.
if redis.call('HEXISTS', KEYS[1], 'head') == 1 then
  return 0
end
-- Leftovers of a lost epoch would collide with the new numbers.
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'head', ARGV[2])
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'node', redis.call('CLUSTER', 'MYID'))
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
