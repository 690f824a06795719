-- Rate limit, SLIDING LOG: one atomic decision. Mirrored by algorithm.rs (in-process fallback).
-- KEYS[1] = zset of admitted calls: score = admission time (epoch ms), member = "<epoch µs>:<n>:<cost>"
--   (unique; it carries the call's units, so a call of any cost is one member), plus the member
--   "sum" whose score is -(1 + the units of all other members): negative, so it is never in a time
--   range. Members without a cost field (older builds) weigh 1; a missing "sum" is recomputed.
-- ARGV[1] = window ms (integer >= 1), ARGV[2] = limit N (integer >= 0), ARGV[3] = cost (integer >= 1)
-- ARGV[4] = n, how many identical calls to decide in a row at this one `now` (integer 1..1000,
-- default 1), as n separate calls would; returns {allowed 1|0, remaining, reset_ms, retry_after_ms}
-- for each call in turn, then now_ms, all integers.
-- A call admitted at s counts while now < s + window. With `live` units counted, the call is
-- allowed iff live + cost <= N: old calls are pruned and one member of `cost` units added at now,
-- so the log never holds more than N units. remaining = N - live (after the decision); reset = oldest
-- live call + window (now + window if none). Denied: retry_after = the time until enough of the
-- oldest units fall out (the call holding the (live + cost - N)-th oldest unit, + window - now), or
-- window when cost > N (never satisfiable). The key expires one window after its newest call.
-- Every decision costs O(log n) plus the calls it prunes (each pruned once) and, when denied, the
-- calls it walks to find retry_after: never O(cost) (issue 19).
-- Time comes only from Redis TIME (`now`, from prelude.lua, which also defines int, s, key and n).
local window, limit, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (int(window, 1) and int(limit, 0) and int(cost, 1) and int(n, 1) and n <= 1000) then
  return redis.error_reply('ERR stratacache rate limit: window >= 1, limit >= 0, cost >= 1 and 1 <= n <= 1000 must be integers')
end

local floor = now - window -- calls scored <= floor are out of the window
local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function weight(member)
  local w = tonumber(string.match(member, '^%-?%d+:%-?%d+:(%d+)$'))
  return w or 1
end
local function sum_of(members) -- members from a WITHSCORES reply: name, score, name, score, ...
  local total = 0
  for i = 1, #members, 2 do total = total + weight(members[i]) end
  return total
end
-- The units of every call in the log (the "sum" member, or recomputed once when it is missing).
local function total_units()
  local sc = redis.call('ZSCORE', key, 'sum')
  if sc then return -tonumber(sc) - 1 end
  return sum_of(redis.call('ZRANGEBYSCORE', key, 0, '+inf', 'WITHSCORES'))
end
-- The live units after pruning the calls out of the window (pruning changes no decision).
local function prune()
  local total = total_units()
  local expired = redis.call('ZRANGEBYSCORE', key, 0, s(floor), 'WITHSCORES')
  if #expired > 0 then
    total = total - sum_of(expired)
    redis.call('ZREMRANGEBYSCORE', key, 0, s(floor))
  end
  if total > 0 then redis.call('ZADD', key, s(-total - 1), 'sum') else redis.call('ZREM', key, 'sum') end
  return total
end
local function oldest()
  local first = redis.call('ZRANGEBYSCORE', key, 0, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then return tonumber(first[2]) end
  return nil
end
local m = 0
local function decide()
  local live = prune()
  if live + cost <= limit then
    repeat m = m + 1 until redis.call('ZADD', key, 'NX', s(now), string.format('%d:%d:%d', us, m, cost)) == 1
    redis.call('ZADD', key, s(-(live + cost) - 1), 'sum')
    redis.call('PEXPIRE', key, s(window))
    return 1, limit - live - cost, oldest() + window, 0
  end
  local first = oldest()
  local reset = now + window
  if first then reset = first + window end
  local retry = window
  if cost <= limit then
    local k = live + cost - limit -- >= 1: this many oldest units must fall out
    local acc, offset, at = 0, 0, nil
    while at == nil do
      local batch = redis.call('ZRANGEBYSCORE', key, 0, '+inf', 'WITHSCORES', 'LIMIT', offset, 128)
      if #batch == 0 then break end
      for i = 1, #batch, 2 do
        acc = acc + weight(batch[i])
        if acc >= k then at = tonumber(batch[i + 1]) break end
      end
      offset = offset + #batch / 2
    end
    if at then retry = at + window - now end
  end
  if retry < 1 then retry = 1 end
  return 0, math.max(0, limit - live), reset, retry
end
-- repeat.lua follows (the scripts are sent as this file + repeat.lua): it runs decide() n times.
