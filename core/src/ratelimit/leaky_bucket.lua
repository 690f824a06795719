-- Rate limit, LEAKY BUCKET (as a meter): one atomic decision. Mirrored by algorithm.rs.
-- KEYS[1] = state hash {l = level (%.17g), ts = time of l (epoch ms)}; no key = an empty bucket
-- ARGV[1] = capacity (integer >= 0), ARGV[2] = leak per ms (decimal > 0, e.g. "0.002"),
-- ARGV[3] = cost (integer >= 1)
-- ARGV[4] = n, how many identical calls to decide in a row at this one `now` (integer 1..1000,
-- default 1), as n separate calls would; returns {allowed 1|0, remaining, reset_ms, retry_after_ms}
-- for each call in turn, then now_ms, all integers.
-- level = max(0, l - (now - ts) * leak). Allowed iff level + cost <= capacity (1e-6 tolerance for
-- float noise), then level += cost. remaining = floor(capacity - level); reset = now + the time until
-- the bucket is empty. Denied: nothing is written; retry_after = time until level + cost <= capacity,
-- or, when cost > capacity (never satisfiable), the time until empty; at least 1.
-- Times are ceil((amount - 1e-9) / leak) ms. The key expires when the bucket is empty
-- (a missing key means empty).
-- Time comes only from Redis TIME (`now`, from prelude.lua, which also defines int, s, key and n).
local cap, leak, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (int(cap, 0) and int(cost, 1) and leak and leak > 0 and leak < math.huge and int(n, 1) and n <= 1000) then
  return redis.error_reply('ERR stratacache rate limit: capacity >= 0, cost >= 1 and 1 <= n <= 1000 must be integers, leak > 0')
end

local function ms_until(amount) -- ms to leak `amount` units
  if amount <= DT then return 0 end
  return math.ceil((amount - DT) / leak)
end
local function remaining(level)
  local r = math.floor(cap - level + EPS)
  if r < 0 then return 0 end
  return r
end
local function decide()
  local h = redis.call('HMGET', key, 'l', 'ts')
  local level, ts = tonumber(h[1]), tonumber(h[2])
  if level and ts then level = math.max(0, level - math.max(0, now - ts) * leak) else level = 0 end
  if level + cost <= cap + EPS then
    level = level + cost
    local empty = ms_until(level)
    redis.call('HSET', key, 'l', string.format('%.17g', level), 'ts', s(now))
    redis.call('PEXPIRE', key, s(math.max(1, empty)))
    return 1, remaining(level), now + empty, 0
  end
  local empty = ms_until(level)
  local retry
  if cost > cap then retry = empty else retry = ms_until(level + cost - cap) end
  if retry < 1 then retry = 1 end
  return 0, remaining(level), now + empty, retry
end
-- repeat.lua follows (the scripts are sent as this file + repeat.lua): it runs decide() n times.
