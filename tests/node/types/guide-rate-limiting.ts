// The usage guide's "Rate Limiting" examples (API Endpoint Protection, Login Rate Limiting, Custom Rate
// Limit) and "Recipe 1: High-Performance API", unchanged except that: the imports come first (the two
// identical imports of the Rate Limiting blocks are shared), each top-level block is wrapped in a function
// (for the top-level awaits), the middleware parameters get the Express-like types the session examples in
// guide-examples.ts use (untyped parameters are implicit `any` under --strict), and the names the guide
// leaves undefined (userId, app, db) are declared.
// Checked by tests/node/types.test.mjs with `tsc --strict`.
import { redisRateLimiter, rateLimitPresets } from '@/lib/cache/redis-cache';
import {
  initializeCacheSystem,
  cacheAside,
  cacheMetrics,
} from '@/lib/cache/redis-cache';
import { rateLimitHeaders } from '@/lib/cache/redis-cache';
import type { RateLimitAlgorithm, RateLimitOptions, RateLimitPreset, RateLimitResult, RateLimitStats, RedisErrorPolicy } from '@/lib/cache/redis-cache';

// What the guide leaves to the application: Express-like request/response shapes.
interface Req { ip: string; params: Record<string, string>; body: { email: string }; user: { id: number } }
interface Res {
  setHeader(name: string, value: number | string): void;
  status(code: number): Res;
  json(body: unknown): Res;
}
declare const app: { get(path: string, h: (req: Req, res: Res) => Promise<unknown>): void };
declare const db: { getUser(id: number): Promise<{ id: number; name: string } | null> };
declare const userId: number;

// ## Rate Limiting — ### API Endpoint Protection
async function apiRateLimitMiddleware(req: Req, res: Res, next: () => void) {
  const identifier = `api:user:${req.user.id}`;

  const result = await redisRateLimiter.limit(identifier, {
    ...rateLimitPresets.api,
    algorithm: 'sliding-counter',
  });

  // Add headers
  res.setHeader('X-RateLimit-Limit', result.total);
  res.setHeader('X-RateLimit-Remaining', result.remaining);
  res.setHeader('X-RateLimit-Reset', result.resetTime);

  if (!result.allowed) {
    res.setHeader('Retry-After', result.retryAfter || 60);
    return res.status(429).json({
      error: 'Too many requests',
      retryAfter: result.retryAfter,
    });
  }

  next();
}

// ### Login Rate Limiting
async function handleLogin(req: Req, res: Res) {
  const identifier = `auth:${req.ip}:${req.body.email}`;

  const result = await redisRateLimiter.limit(identifier, {
    ...rateLimitPresets.auth,
    algorithm: 'sliding-log', // More accurate
  });

  if (!result.allowed) {
    return res.status(429).json({
      error: 'Too many login attempts',
      retryAfter: result.retryAfter,
    });
  }

  // Process login...
}

// ### Custom Rate Limit
export async function customRateLimit() {
  // Token bucket (good for bursts)
  const uploadLimit = await redisRateLimiter.tokenBucket(
    `upload:user:${userId}`,
    {
      windowMs: 60000, // 1 minute
      maxRequests: 10,
      refillRate: 2, // 2 tokens per second
      bucketSize: 10,
    }
  );

  // Leaky bucket (smooth rate)
  const searchLimit = await redisRateLimiter.leakyBucket(
    `search:user:${userId}`,
    {
      windowMs: 60000,
      maxRequests: 30,
      leakRate: 0.5, // 0.5 requests per second
      bucketSize: 30,
    }
  );

  return { uploadLimit, searchLimit };
}

// ## Production Recipes — ### Recipe 1: High-Performance API
export async function recipe1HighPerformanceApi() {
  // Initialize
  await initializeCacheSystem({
    skipWarming: false,
    skipMetrics: false,
  });

  // API endpoint with caching + rate limiting
  app.get('/api/users/:id', async (req, res) => {
    const userId = parseInt(req.params.id);

    // Rate limiting
    const rateLimit = await redisRateLimiter.limit(
      `api:${req.ip}`,
      { windowMs: 60000, maxRequests: 100, algorithm: 'sliding-counter' }
    );

    if (!rateLimit.allowed) {
      return res.status(429).json({ error: 'Rate limit exceeded' });
    }

    // Cached response
    const user = await cacheAside.get(
      `user:${userId}`,
      async () => await db.getUser(userId),
      { ttl: 300, tags: [`user:${userId}`] }
    );

    res.json(user);
  });
}

// Not from the guide: the rate-limit types contract §4 / §7 document.
export async function rateLimitTypes() {
  const algorithms: RateLimitAlgorithm[] = ['fixed-window', 'sliding-log', 'sliding-counter', 'token-bucket', 'leaky-bucket'];
  const policies: RedisErrorPolicy[] = ['allow', 'deny', 'local'];
  const options: RateLimitOptions = { windowMs: 1000, maxRequests: 5, algorithm: 'fixed-window', cost: 2, onRedisError: 'deny' };
  const result: RateLimitResult = await redisRateLimiter.limit('id', options);
  const allowed: boolean = result.allowed;
  const numbers: number[] = [result.total, result.remaining, result.resetTime];
  const retryAfter: number | undefined = result.retryAfter;
  const presets: RateLimitPreset[] = [rateLimitPresets.api, rateLimitPresets.auth, rateLimitPresets.strict, rateLimitPresets.upload, rateLimitPresets.search];
  const custom = await redisRateLimiter.limit('id', { ...rateLimitPresets.upload, algorithm: 'leaky-bucket', onRedisError: 'allow' });
  const headers: Record<string, string> = rateLimitHeaders(custom, { windowMs: rateLimitPresets.upload.windowMs });
  const reset: void = await redisRateLimiter.reset('id');
  const stats: RateLimitStats = await redisRateLimiter.getStats();
  const counts: number[] = [stats.allowed, stats.denied, stats.fallbacks];
  return { algorithms, policies, allowed, numbers, retryAfter, presets, headers, reset, counts, apiRateLimitMiddleware, handleLogin };
}
