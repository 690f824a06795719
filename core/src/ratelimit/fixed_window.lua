-- Rate limit, FIXED WINDOW: one atomic decision. Mirrored by algorithm.rs (in-process fallback).
-- KEYS[1] = state hash {w = window start (epoch ms), c = units used in that window}
-- ARGV[1] = window ms (integer >= 1), ARGV[2] = limit N (integer >= 0), ARGV[3] = cost (integer >= 1)
-- ARGV[4] = n, how many identical calls to decide in a row at this one `now` (integer 1..1000,
-- default 1), as n separate calls would; returns {allowed 1|0, remaining, reset_ms, retry_after_ms}
-- for each call in turn, then now_ms, all integers.
-- Windows are aligned on the epoch: start = floor(now / window) * window, reset = start + window.
-- Allowed iff c + cost <= N, then c += cost; remaining = N - c. A denied call writes nothing and
-- gets retry_after = reset - now (>= 1). The key expires at reset (set once, when a window begins):
-- a past window counts as empty.
-- Time comes only from Redis TIME (`now`, from prelude.lua, which also defines int, s, key and n).
local window, limit, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (int(window, 1) and int(limit, 0) and int(cost, 1) and int(n, 1) and n <= 1000) then
  return redis.error_reply('ERR stratacache rate limit: window >= 1, limit >= 0, cost >= 1 and 1 <= n <= 1000 must be integers')
end

local start = math.floor(now / window) * window
local reset = start + window
local function decide()
  local h = redis.call('HMGET', key, 'w', 'c')
  local used = 0
  local same = tonumber(h[1]) == start
  if same then used = tonumber(h[2]) or 0 end
  if used + cost <= limit then
    used = used + cost
    if same then -- the expiry was set when this window began
      redis.call('HINCRBY', key, 'c', cost)
    else
      redis.call('HSET', key, 'w', string.format('%d', start), 'c', string.format('%d', used))
      redis.call('PEXPIRE', key, string.format('%d', reset - now))
    end
    return 1, limit - used, reset, 0
  end
  return 0, math.max(0, limit - used), reset, reset - now
end
-- repeat.lua follows (the scripts are sent as this file + repeat.lua): it runs decide() n times.
