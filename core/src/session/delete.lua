-- Delete one session and its index entry. KEYS[1] = session key; ARGV[1] = id hash. Returns 1 or 0.
local idx = redis.call('HGET', KEYS[1], 'idx')
local n = redis.call('DEL', KEYS[1])
if idx then redis.call('ZREM', idx, ARGV[1]) end
return n
