-- Drop every expired connection; returns the JSON of each user whose last connection went.
local gone = {}
for _, conn in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms())) do
  local user = drop_connection(conn)
  if user then
    table.insert(gone, user)
  end
end
return gone
