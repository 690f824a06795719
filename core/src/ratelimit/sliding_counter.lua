-- Rate limit, SLIDING WINDOW COUNTER (the default): one atomic decision. Mirrored by algorithm.rs.
-- KEYS[1] = state hash {w = current window start (epoch ms), cur = units in it, prev = units in the one before}
-- ARGV[1] = window ms (integer >= 1), ARGV[2] = limit N (integer >= 0), ARGV[3] = cost (integer >= 1)
-- ARGV[4] = n, how many identical calls to decide in a row at this one `now` (integer 1..1000,
-- default 1), as n separate calls would; returns {allowed 1|0, remaining, reset_ms, retry_after_ms}
-- for each call in turn, then now_ms, all integers.
-- Windows are aligned: start = floor(now / window) * window, elapsed = now - start. Rolling: same
-- window keeps the counts, the next one makes prev = cur and cur = 0, anything later zeroes both.
-- estimate = prev * (window - elapsed) / window + cur, computed exactly as estimate * window in
-- integers (exact while N * window < 2^53). Allowed iff estimate + cost <= N, then cur += cost.
-- remaining = max(0, floor(N - estimate)); reset = start + window. Denied: nothing is written;
-- retry_after = the earliest time estimate + cost <= N with no further traffic (prev decaying in this
-- window, else in the next one where prev = cur), capped at window (also when cost > N).
-- The key expires at start + 2 * window, when both counts have decayed to nothing.
-- Time comes only from Redis TIME (`now`, from prelude.lua, which also defines int, s, key and n).
local window, limit, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (int(window, 1) and int(limit, 0) and int(cost, 1) and int(n, 1) and n <= 1000) then
  return redis.error_reply('ERR stratacache rate limit: window >= 1, limit >= 0, cost >= 1 and 1 <= n <= 1000 must be integers')
end

local start = math.floor(now / window) * window
local elapsed = now - start
local reset = start + window
local decay = window - elapsed -- weight of prev, in 1/window units
local cap = limit * window
local function decide()
  local h = redis.call('HMGET', key, 'w', 'cur', 'prev')
  local w, cur, prev = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
  if w == start then -- same window: keep
  elseif w == start - window then prev = cur; cur = 0
  else prev = 0; cur = 0 end
  local function remaining() -- floor(N - estimate), at least 0
    local x = cap - prev * decay - cur * window
    if x <= 0 then return 0 end
    return math.floor(x / window)
  end
  if prev * decay + (cur + cost) * window <= cap then
    cur = cur + cost
    if w == start then -- the expiry was set when this window began
      redis.call('HINCRBY', key, 'cur', cost)
    else
      redis.call('HSET', key, 'w', s(start), 'cur', s(cur), 'prev', s(prev))
      redis.call('PEXPIRE', key, s(start + 2 * window - now))
    end
    return 1, remaining(), reset, 0
  end
  local retry = window
  if cost <= limit then
    local r, found = limit - cur - cost, false
    if r >= 0 and prev > 0 then -- this window: prev * (window - e) <= r * window
      local x = math.floor(r * window / prev)
      if x > 0 then retry = (window - x) - elapsed; found = true end
    end
    if not found then -- next window: prev' = cur decays, cur' = 0
      local e = 0
      if cur > limit - cost then e = window - math.floor((limit - cost) * window / cur) end
      retry = decay + e
    end
    if retry > window then retry = window end
  end
  if retry < 1 then retry = 1 end
  return 0, remaining(), reset, retry
end
-- repeat.lua follows (the scripts are sent as this file + repeat.lua): it runs decide() n times.
