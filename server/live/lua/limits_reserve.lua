-- Reserve tokens of a budget unless that would take it past a ceiling, and renew its expiry.
-- KEYS[1]: the budget (an integer). ARGV: tokens, ceiling, ttl_s.
-- Returns 1 if reserved, 0 (nothing changed) if the total would pass the ceiling.
local tokens = tonumber(ARGV[1])
local spent = tonumber(redis.call('GET', KEYS[1])) or 0
if spent + tokens > tonumber(ARGV[2]) then
  return 0
end
redis.call('INCRBY', KEYS[1], tokens)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
