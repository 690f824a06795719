-- Rate limit, TOKEN BUCKET: one atomic decision. Mirrored by algorithm.rs (in-process fallback).
-- KEYS[1] = state hash {t = tokens (%.17g), ts = time of t (epoch ms)}; no key = a full bucket
-- ARGV[1] = capacity (integer >= 0), ARGV[2] = refill tokens per ms (decimal > 0, e.g. "0.002"),
-- ARGV[3] = cost (integer >= 1)
-- ARGV[4] = n, how many identical calls to decide in a row at this one `now` (integer 1..1000,
-- default 1), as n separate calls would; returns {allowed 1|0, remaining, reset_ms, retry_after_ms}
-- for each call in turn, then now_ms, all integers.
-- tokens = min(capacity, t + (now - ts) * rate). Allowed iff tokens >= cost (1e-6 tolerance for
-- float noise), then tokens -= cost. remaining = floor(tokens); reset = now + the time until the
-- bucket is full again. Denied: nothing is written; retry_after = time until tokens >= cost, or,
-- when cost > capacity (never satisfiable), the time until the bucket is full; at least 1.
-- Times are ceil((amount - 1e-9) / rate) ms. The key expires when the bucket is full again
-- (a missing key means full).
-- Time comes only from Redis TIME (`now`, from prelude.lua, which also defines int, s, key and n).
local cap, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (int(cap, 0) and int(cost, 1) and rate and rate > 0 and rate < math.huge and int(n, 1) and n <= 1000) then
  return redis.error_reply('ERR stratacache rate limit: capacity >= 0, cost >= 1 and 1 <= n <= 1000 must be integers, rate > 0')
end

local function ms_until(amount) -- ms to refill `amount` tokens
  if amount <= DT then return 0 end
  return math.ceil((amount - DT) / rate)
end
local function decide()
  local h = redis.call('HMGET', key, 't', 'ts')
  local tokens, ts = tonumber(h[1]), tonumber(h[2])
  if tokens and ts then tokens = math.min(cap, tokens + math.max(0, now - ts) * rate) else tokens = cap end
  if tokens + EPS >= cost then
    tokens = tokens - cost
    if tokens < 0 then tokens = 0 end
    local full = ms_until(cap - tokens)
    redis.call('HSET', key, 't', string.format('%.17g', tokens), 'ts', s(now))
    redis.call('PEXPIRE', key, s(math.max(1, full)))
    return 1, math.floor(tokens + EPS), now + full, 0
  end
  local full = ms_until(cap - tokens)
  local retry
  if cost > cap then retry = full else retry = ms_until(cost - tokens) end
  if retry < 1 then retry = 1 end
  return 0, math.floor(tokens + EPS), now + full, retry
end
-- repeat.lua follows (the scripts are sent as this file + repeat.lua): it runs decide() n times.
