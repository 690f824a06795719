-- Create a session and enforce the device cap, atomically, in O(log n) plus what it removes.
-- KEYS[1] = the user's index (zset: member = id hash, score = activity order)
-- KEYS[2] = the new session's hash key
-- KEYS[3] = the user's expiry index (zset: member = id hash, score = expiry, epoch ms)
-- ARGV[1] = id hash, ARGV[2] = session document (JSON), ARGV[3] = ttl ms, ARGV[4] = max devices,
-- ARGV[5] = session key prefix of this user ("{ns}:s:{tag}:"), ARGV[6] = index key name,
-- ARGV[7] = expiry index key name.
-- Every key of the user shares KEYS[1]'s hash tag, so this is cluster-safe. Expired sessions leave
-- both indexes by expiry score (never a scan of the user's sessions: issue 19).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
end
local score = now
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] and tonumber(top[2]) >= score then score = tonumber(top[2]) + 1 end
redis.call('HSET', KEYS[2], 'doc', ARGV[2], 'created', now, 'last', now, 'exp', now + ttl, 'ttl', ttl, 'idx', ARGV[6], 'xidx', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[1], score, ARGV[1])
redis.call('ZADD', KEYS[3], now + ttl, ARGV[1])
local evicted = 0
while redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[4]) do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  redis.call('ZREM', KEYS[1], oldest)
  redis.call('ZREM', KEYS[3], oldest)
  evicted = evicted + redis.call('DEL', ARGV[5] .. oldest)
end
for _, k in ipairs({KEYS[1], KEYS[3]}) do
  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
end
return {now, evicted}
