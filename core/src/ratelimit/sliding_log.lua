-- Rate limit, SLIDING LOG: one atomic decision. Mirrored by algorithm.rs (in-process fallback).
-- KEYS[1] = zset of admitted units: score = admission time (epoch ms), member = "<epoch µs>:<n>" (unique)
-- ARGV[1] = window ms (integer >= 1), ARGV[2] = limit N (integer >= 0), ARGV[3] = cost (integer >= 1)
-- ARGV[4] = n, how many identical calls to decide in a row at this one `now` (integer 1..1000,
-- default 1), as n separate calls would; returns {allowed 1|0, remaining, reset_ms, retry_after_ms}
-- for each call in turn, then now_ms, all integers.
-- An entry admitted at s counts while now < s + window. With `live` entries counted, the call is
-- allowed iff live + cost <= N: old entries are pruned and `cost` entries added at now, so the zset
-- never holds more than N entries. remaining = N - live (after the decision); reset = oldest live
-- entry + window (now + window if none). Denied: nothing is written; retry_after = the time until
-- enough of the oldest entries fall out (the (live + cost - N)-th oldest + window - now), or window
-- when cost > N (never satisfiable). The key expires one window after its newest entry.
-- Time comes only from Redis TIME (`now`, from prelude.lua, which also defines int, s, key and n).
local window, limit, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (int(window, 1) and int(limit, 0) and int(cost, 1) and int(n, 1) and n <= 1000) then
  return redis.error_reply('ERR stratacache rate limit: window >= 1, limit >= 0, cost >= 1 and 1 <= n <= 1000 must be integers')
end

local floor = now - window -- entries scored <= floor are out of the window
local live_min = '(' .. s(floor)
local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function decide()
  local live = redis.call('ZCOUNT', key, live_min, '+inf')
  if live + cost <= limit then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', s(floor))
    local m = live
    for _ = 1, cost do
      repeat m = m + 1 until redis.call('ZADD', key, 'NX', s(now), string.format('%d:%d', us, m)) == 1
    end
    redis.call('PEXPIRE', key, s(window))
    local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    return 1, limit - live - cost, oldest + window, 0
  end
  local reset = now + window
  local first = redis.call('ZRANGEBYSCORE', key, live_min, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then reset = tonumber(first[2]) + window end
  local retry = window
  if cost <= limit then
    local k = live + cost - limit -- >= 1: this many oldest entries must fall out
    local e = first
    if k > 1 then e = redis.call('ZRANGEBYSCORE', key, live_min, '+inf', 'WITHSCORES', 'LIMIT', k - 1, 1) end
    retry = tonumber(e[2]) + window - now
  end
  if retry < 1 then retry = 1 end
  return 0, math.max(0, limit - live), reset, retry
end
-- repeat.lua follows (the scripts are sent as this file + repeat.lua): it runs decide() n times.
