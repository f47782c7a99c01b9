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

-- Add (or refresh) a connection; returns 1 if it is the user's first in the session, else 0.
local function join_connection(conn, uid, user_json, ttl_ms, key_ttl_s)
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
  redis.call('HSET', KEYS[3], uid, user_json)
  redis.call('ZADD', KEYS[1], now_ms() + tonumber(ttl_ms), conn)
  refresh_keys(key_ttl_s)
  return first
end

-- Drop every expired connection; returns the JSON of each user whose last connection went.
local function reap_expired()
  local gone = {}
  for _, conn in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms())) do
    local user = drop_connection(conn)
    if user then
      table.insert(gone, user)
    end
  end
  return gone
end
