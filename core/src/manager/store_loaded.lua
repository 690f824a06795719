-- Store a loaded value only if the load that produced it is still valid, and release its lock.
-- Valid: the load still holds its lock (`del`/`invalidateKeys` delete the lock with the key) and,
-- for a cold load, nobody wrote the key meanwhile (a write made during the load is newer).
-- KEYS[1] the data key, KEYS[2] the load lock.
-- ARGV[1] the lock token, ARGV[2] the envelope, ARGV[3] the TTL in ms, ARGV[4] `absent` (a cold
-- load: the key must still be absent) or `replace` (a refresh: it replaces the current value).
-- Returns 1 when stored, 0 when not.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2])
if ARGV[4] ~= 'replace' and redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
