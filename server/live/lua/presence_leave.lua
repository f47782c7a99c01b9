-- ARGV: conn_id
-- Returns the user's JSON if this was their last connection, else false.
return drop_connection(ARGV[1])
