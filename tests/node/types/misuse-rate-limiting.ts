// Rate-limiting misuses the typings must reject (like misuse.ts): each line below is a type error;
// `@ts-expect-error` turns it into a passing check, and an *unused* `@ts-expect-error` (the typings became
// too loose) fails `tsc`.
import { rateLimitHeaders, rateLimitPresets, redisRateLimiter } from '@/lib/cache/redis-cache';
import type { RateLimitAlgorithm, RateLimitResult } from '@/lib/cache/redis-cache';

export async function misuseRateLimiting() {
  // @ts-expect-error not an algorithm
  await redisRateLimiter.limit('id', { windowMs: 1000, maxRequests: 5, algorithm: 'banana' });

  // @ts-expect-error spreading a preset does not make an unknown algorithm acceptable
  await redisRateLimiter.limit('id', { ...rateLimitPresets.api, algorithm: 'banana' });

  // @ts-expect-error windowMs is a number of ms
  await redisRateLimiter.limit('id', { windowMs: '1m', maxRequests: 5 });

  // @ts-expect-error maxRequests is required
  await redisRateLimiter.limit('id', { windowMs: 1000 });

  // @ts-expect-error windowMs is required
  await redisRateLimiter.tokenBucket('id', { maxRequests: 5, refillRate: 1 });

  // @ts-expect-error onRedisError is 'allow' | 'deny' | 'local'
  await redisRateLimiter.limit('id', { windowMs: 1000, maxRequests: 5, onRedisError: 'retry' });

  // @ts-expect-error refillRate belongs to tokenBucket, not limit
  await redisRateLimiter.limit('id', { windowMs: 1000, maxRequests: 5, refillRate: 2 });

  // @ts-expect-error leakRate belongs to leakyBucket, not tokenBucket
  await redisRateLimiter.tokenBucket('id', { windowMs: 1000, maxRequests: 5, leakRate: 2 });

  // @ts-expect-error refillRate belongs to tokenBucket, not leakyBucket
  await redisRateLimiter.leakyBucket('id', { windowMs: 1000, maxRequests: 5, refillRate: 2 });

  // @ts-expect-error the identifier is a string
  await redisRateLimiter.limit(42, { windowMs: 1000, maxRequests: 5 });

  // @ts-expect-error options are required
  await redisRateLimiter.limit('id');

  // @ts-expect-error cost is a number
  await redisRateLimiter.limit('id', { windowMs: 1000, maxRequests: 5, cost: '2' });

  const result = await redisRateLimiter.limit('id', { windowMs: 1000, maxRequests: 5 });

  // @ts-expect-error retryAfter is absent when allowed: number | undefined under --strict
  const wait: number = result.retryAfter;

  // @ts-expect-error allowed is a boolean
  const allowed: string = result.allowed;

  // @ts-expect-error presets are read-only
  rateLimitPresets.api.maxRequests = 1000;

  // @ts-expect-error there is no 'banana' preset
  const banana = rateLimitPresets.banana;

  // @ts-expect-error header values are strings
  const limit: number = rateLimitHeaders(result)['X-RateLimit-Limit'];

  // @ts-expect-error rateLimitHeaders takes a result
  rateLimitHeaders({ allowed: true });

  // @ts-expect-error reset resolves nothing
  const resetOk: boolean = await redisRateLimiter.reset('id');

  // @ts-expect-error not an algorithm name (the option takes the contract's names)
  const alg: RateLimitAlgorithm = 'slidingWindow';

  // @ts-expect-error a result needs resetTime
  const partial: RateLimitResult = { allowed: true, total: 1, remaining: 0 };

  return [wait, allowed, banana, limit, resetOk, alg, partial];
}
