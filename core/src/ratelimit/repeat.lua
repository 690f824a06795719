-- The tail of every rate-limit script (core/src/ratelimit/mod.rs appends it to each algorithm's file):
-- decides n identical calls in a row at one `now` with the algorithm's decide(), which re-reads the
-- state each time, exactly as n separate runs would. A denial writes nothing, so the calls after it
-- get the same answer without touching Redis again.
-- Expects: n (ARGV[4], checked by the algorithm's file), now (ms, from TIME), decide() returning
-- allowed 1|0, remaining, reset_ms, retry_after_ms.
-- Returns {allowed, remaining, reset_ms, retry_after_ms} for each of the n calls, then now_ms.
local out = {}
for i = 1, n do
  local allowed, remaining, reset, retry = decide()
  for _ = i, allowed == 1 and i or n do -- a denial writes nothing: the calls after it are denied alike
    out[#out + 1] = allowed
    out[#out + 1] = remaining
    out[#out + 1] = reset
    out[#out + 1] = retry
  end
  if allowed == 0 then break end
end
out[#out + 1] = now
return out
