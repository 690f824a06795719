-- Delete every session of a user. KEYS[1] = the user's index, KEYS[2] = its expiry index;
-- ARGV[1] = session key prefix. Returns how many live sessions were deleted.
local n = 0
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  n = n + redis.call('DEL', ARGV[1] .. h)
end
redis.call('DEL', KEYS[1], KEYS[2])
return n
