-- One token bucket, kept as a hash {tokens, stamp}; a missing bucket is a full one.
-- KEYS[1]: the bucket. ARGV: now (s), rate (tokens/s), burst, cost (1 to take, -1 to give back).
-- Returns 1 if the tokens were taken (always, for a give-back), 0 if the bucket is short.
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(held[1]) or burst
local stamp = tonumber(held[2]) or now
-- A caller with a clock behind the last one refills nothing, and never drains the bucket.
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
end
local taken = 0
if cost <= 0 or tokens >= cost then
  tokens = math.min(burst, tokens - cost)
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'stamp', string.format('%.17g', stamp))
-- Once refilled the bucket is as good as missing; a second's slack covers clock skew.
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate + 1) * 1000))
return taken
