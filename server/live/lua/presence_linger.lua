-- ARGV: grace_ms, conn_id
-- The connection closed: it expires grace_ms from now, by this server's clock. One that already
-- left (or was reaped) stays gone: ZADD XX only updates.
redis.call('ZADD', KEYS[1], 'XX', now_ms() + tonumber(ARGV[1]), ARGV[2])
return 0
