-- Renew (ARGV[2] > 0: PEXPIRE by that many ms) or release (ARGV[2] = 0: DEL) a warming lock, only
-- while it still holds this run's token (a run whose lease ran out never touches its successor's).
-- KEYS[1] the lock, ARGV[1] the token. Returns 1 when it was ours.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
