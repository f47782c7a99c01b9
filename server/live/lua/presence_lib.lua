-- Shared by the presence scripts, which are loaded with this file prepended.
-- KEYS of every presence script: expiry (zset), conn_user (hash), users (hash), counts (hash).

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Remove one connection; returns the user's JSON if it was their last, else false.
local function drop_connection(conn)
  redis.call('ZREM', KEYS[1], conn)
  local uid = redis.call('HGET', KEYS[2], conn)
  if not uid then
    return false
  end
  redis.call('HDEL', KEYS[2], conn)
  if redis.call('HINCRBY', KEYS[4], uid, -1) > 0 then
    return false
  end
  redis.call('HDEL', KEYS[4], uid)
  local user = redis.call('HGET', KEYS[3], uid)
  redis.call('HDEL', KEYS[3], uid)
  return user
end

local function refresh_keys(ttl_s)
  for i = 1, 4 do
    redis.call('EXPIRE', KEYS[i], ttl_s)
  end
end
