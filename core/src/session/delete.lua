-- Delete one session and its index entries. KEYS[1] = session key; ARGV[1] = id hash. Returns 1 or 0.
local idx = redis.call('HGET', KEYS[1], 'idx')
local xidx = redis.call('HGET', KEYS[1], 'xidx')
local n = redis.call('DEL', KEYS[1])
if idx then redis.call('ZREM', idx, ARGV[1]) end
if xidx then redis.call('ZREM', xidx, ARGV[1]) end
return n
