-- Slide a session's expiry and record activity.
-- KEYS[1] = session key; ARGV[1] = id hash. Returns the new lastActivity (ms) or false.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl'))
local idx = redis.call('HGET', KEYS[1], 'idx')
local xidx = redis.call('HGET', KEYS[1], 'xidx')
redis.call('HSET', KEYS[1], 'last', now, 'exp', now + ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
if idx then
  local score = now
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if top[1] ~= ARGV[1] and top[2] and tonumber(top[2]) >= score then score = tonumber(top[2]) + 1 end
  redis.call('ZADD', idx, score, ARGV[1])
  if redis.call('PTTL', idx) < ttl then redis.call('PEXPIRE', idx, ttl) end
end
if xidx then
  redis.call('ZADD', xidx, now + ttl, ARGV[1])
  if redis.call('PTTL', xidx) < ttl then redis.call('PEXPIRE', xidx, ttl) end
end
return now
