-- The head of every rate-limit script (core/src/ratelimit/mod.rs prepends it to each algorithm's file,
-- and appends repeat.lua): shared helpers, the one key, the repeat count and Redis's clock.
-- int(x, min): x is an integer >= min that a double holds exactly; s(x): an integer as text for Redis.
-- n = ARGV[4] (how many identical calls to decide, default 1; each algorithm checks 1 <= n <= 1000).
-- now = Redis TIME in epoch ms: the only clock any script reads.
local EPS, DT = 1e-6, 1e-9
local function int(x, min) return x ~= nil and x >= min and x < 2 ^ 53 and x % 1 == 0 end
local function s(x) return string.format('%d', x) end
local key = KEYS[1]
local n = tonumber(ARGV[4] or '1')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
