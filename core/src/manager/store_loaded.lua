-- Store a loaded value only if the load that produced it is still valid, and release its lock.
-- Valid: the load still holds its lock (`del`/`invalidateKeys` delete the lock with the key) and,
-- for a cold load, nobody wrote the key meanwhile (a write made during the load is newer). A
-- fail-safe entry past its logical expiry counts as absent: it is only the fallback of a load.
-- KEYS[1] the data key, KEYS[2] the load lock.
-- ARGV[1] the lock token, ARGV[2] the envelope, ARGV[3] the Redis expiry in ms, ARGV[4] `absent` (a
-- cold load: the key must still be absent) or `replace` (a refresh: it replaces the current value),
-- ARGV[5] the writer's clock, epoch ms.
-- Returns 1 when stored, 0 when not.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2])
if ARGV[4] ~= 'replace' then
  local cur = redis.call('GET', KEYS[1])
  if cur then
    -- Envelope v1: "SC", version, flags (bit 4 = fail-safe), created_at, expires_at (u64 BE).
    if #cur < 22 or string.sub(cur, 1, 3) ~= 'SC\1' then
      return 0
    end
    local flags = string.byte(cur, 4)
    if flags % 32 < 16 then
      return 0
    end
    local expires = 0
    for i = 13, 20 do
      expires = expires * 256 + string.byte(cur, i)
    end
    if expires > tonumber(ARGV[5]) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
