-- ARGV: conn_id, user_id, user_json, ttl_ms, key_ttl_s
-- Returns 1 if this is the user's first connection in the session, else 0.
local conn, uid = ARGV[1], ARGV[2]
local first = 0
local previous = redis.call('HGET', KEYS[2], conn)
if previous ~= uid then
  if previous then
    -- A connection id reused by another user stops counting for the previous one.
    drop_connection(conn)
  end
  redis.call('HSET', KEYS[2], conn, uid)
  if redis.call('HINCRBY', KEYS[4], uid, 1) == 1 then
    first = 1
  end
end
redis.call('HSET', KEYS[3], uid, ARGV[3])
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[4]), conn)
refresh_keys(ARGV[5])
return first
