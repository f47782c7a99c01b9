-- A connection enters a room: reap the expired connections, read the log's window, join
-- presence and append the presence event if this is the user's first connection, and list the
-- members, in one atomic step. If reaping made users leave, it stops there and returns them:
-- the caller announces their leave first, so it precedes the join, and enters again.
-- Loaded after presence_lib.lua and log_lib.lua.
-- KEYS: presence expiry, conn_user, users, counts (as presence_lib expects), meta, log, outbox
-- ARGV: conn_id, user_id, user_json, ttl_ms, key_ttl_s, join_body, retention, idle_ttl_s,
--       session_id, channel, outbox_maxlen, publish ("PUBLISH" or "SPUBLISH")
-- Returns {epoch, head, first_id, joined frame or '', members' JSON} (head and first_id as
-- they were before the join), {departed users' JSON}, or false if the session has no log yet.
-- SPUBLISH: a Redis Cluster, where logs are fenced (log_lib.lua).
if ARGV[12] == 'SPUBLISH' then
  fence_log(KEYS[5], KEYS[6])
end
local meta = redis.call('HMGET', KEYS[5], 'epoch', 'head')
if not meta[1] or not meta[2] then
  return false
end
local gone = reap_expired()
if #gone > 0 then
  return {gone}
end
local first_id = first_entry_id(KEYS[6])
local joined = ''
if join_connection(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) == 1 then
  joined = append_event(KEYS[5], KEYS[6], KEYS[7], ARGV[6], ARGV[7], ARGV[8], '1', ARGV[9],
                        ARGV[10], ARGV[11], ARGV[12])[2]
end
return {meta[1], meta[2], first_id, joined, redis.call('HVALS', KEYS[3])}
