-- Create a session and enforce the device cap, atomically.
-- KEYS[1] = the user's index (zset: member = id hash, score = activity order)
-- KEYS[2] = the new session's hash key
-- ARGV[1] = id hash, ARGV[2] = session document (JSON), ARGV[3] = ttl ms, ARGV[4] = max devices,
-- ARGV[5] = session key prefix of this user ("{ns}:s:{tag}:"), ARGV[6] = index key name.
-- Every session key of the user shares KEYS[1]'s hash tag, so this is cluster-safe.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[5] .. h) == 0 then redis.call('ZREM', KEYS[1], h) end
end
local score = now
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] and tonumber(top[2]) >= score then score = tonumber(top[2]) + 1 end
redis.call('HSET', KEYS[2], 'doc', ARGV[2], 'created', now, 'last', now, 'exp', now + ttl, 'ttl', ttl, 'idx', ARGV[6])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[1], score, ARGV[1])
local evicted = 0
while redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[4]) do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  redis.call('ZREM', KEYS[1], oldest)
  redis.call('DEL', ARGV[5] .. oldest)
  evicted = evicted + 1
end
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {now, evicted}
