-- ARGV: conn_id, user_id, user_json, ttl_ms, key_ttl_s
-- Returns 1 if this is the user's first connection in the session, else 0.
return join_connection(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
