-- Claim one period of a warming schedule (docs/warming.md).
-- KEYS[1] the lock ({ns}:w:{name}:lock), KEYS[2] the last period run ({ns}:w:{name}:slot)
-- ARGV[1] this run's token, ARGV[2] the period in ms, ARGV[3] the lease in ms
-- Returns {1, period}: run it; {0, period}: it ran in this period already; {-1, period}: a run is in
-- progress elsewhere (never overlap). Periods are counted on Redis's clock, so every process agrees.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local every = tonumber(ARGV[2])
local period = math.floor(now / every)
local last = tonumber(redis.call('GET', KEYS[2]) or '-1')
if last >= period then
  return {0, period}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1, period}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], period, 'PX', every * 2)
return {1, period}
