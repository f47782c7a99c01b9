-- ARGV: ttl_ms, key_ttl_s, conn_id...
-- Connections that already left (or were reaped) stay gone: ZADD XX only updates.
local expires = now_ms() + tonumber(ARGV[1])
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', expires, ARGV[i])
end
refresh_keys(ARGV[2])
return 0
