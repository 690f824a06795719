/**
 * `redisRateLimiter`: five algorithms, each decision one atomic Redis round trip (a Lua script on
 * Redis's clock), exact across every process and language limiting the same identifier;
 * `rateLimitPresets`; and `rateLimitHeaders` for the standard response headers. All behaviour lives
 * in the Rust core (`core/src/ratelimit/`); this file converts.
 */
import native = require('./native')
import { StartBatch } from './completion'
import { mapError, rethrow } from './error'
import { currentSystem, ensureSystem } from './handle'
import { assertKey, describe, invalidArgument, optionsJson } from './values'

/** The algorithms of `limit` (`sliding-counter` is the default). */
export type RateLimitAlgorithm = 'fixed-window' | 'sliding-log' | 'sliding-counter' | 'token-bucket' | 'leaky-bucket'

/** What a decision does when Redis cannot be reached; `local` (default) limits in this process until Redis is back. */
export type RedisErrorPolicy = 'allow' | 'deny' | 'local'

/** Options of `limit`. */
export interface RateLimitOptions {
  /** The window in ms (for the buckets: `maxRequests` refill/leak over this time). */
  windowMs: number
  /** Units admitted per window (the capacity, for the buckets). */
  maxRequests: number
  /** Default `sliding-counter`. */
  algorithm?: RateLimitAlgorithm
  /** Units this call consumes (default 1); more than what remains is denied and consumes nothing. */
  cost?: number
  /** Default `local`. */
  onRedisError?: RedisErrorPolicy
}

/** Options of `tokenBucket`. */
export interface TokenBucketOptions {
  windowMs: number
  maxRequests: number
  /** Tokens refilled per second (default `maxRequests` per window). */
  refillRate?: number
  /** Capacity (default `maxRequests`). */
  bucketSize?: number
  cost?: number
  onRedisError?: RedisErrorPolicy
}

/** Options of `leakyBucket`. */
export interface LeakyBucketOptions {
  windowMs: number
  maxRequests: number
  /** Units drained per second (default `maxRequests` per window). */
  leakRate?: number
  /** Capacity (default `maxRequests`). */
  bucketSize?: number
  cost?: number
  onRedisError?: RedisErrorPolicy
}

/** One decision. */
export interface RateLimitResult {
  allowed: boolean
  /** The limit (`maxRequests`, or the bucket's capacity). */
  total: number
  /** Units left after this call. */
  remaining: number
  /** When the state is fully reset (window end, bucket full/empty), epoch ms. */
  resetTime: number
  /** Only when denied: whole seconds to wait, 1…window. */
  retryAfter?: number
}

/** Counters of the rate limiter. */
export interface RateLimitStats {
  allowed: number
  denied: number
  /** Decisions taken without Redis (the `onRedisError` policy). */
  fallbacks: number
}

/** A preset: spread it into `limit`'s options (`{ ...rateLimitPresets.api, algorithm: 'sliding-log' }`). */
export interface RateLimitPreset {
  readonly windowMs: number
  readonly maxRequests: number
  readonly algorithm: RateLimitAlgorithm
}

/** Which native decision a call asks for (the `kinds` column of `rateLimitBatchStart`). */
const enum Kind {
  Limit = 0,
  TokenBucket = 1,
  LeakyBucket = 2,
}

/** The decisions of one tick, sent to Redis together (one round trip). */
const decisions = new StartBatch(3, (sys, ids, [kinds, identifiers, opts]) =>
  sys.rateLimitBatchStart(ids, kinds!, identifiers!, opts!),
)

function toResult(n: number[]): RateLimitResult {
  const r: RateLimitResult = { allowed: n[0] === 1, total: n[1], remaining: n[2], resetTime: n[3] }
  if (n[4] >= 0) r.retryAfter = n[4]
  return r
}

function decide(kind: Kind, what: string, identifier: string, options: unknown): Promise<RateLimitResult> {
  try {
    assertKey(identifier, 'identifier')
    if (options === null || typeof options !== 'object') {
      throw invalidArgument(`${what} options must be an object with windowMs and maxRequests, got ${describe(options)}`)
    }
    const json = optionsJson(options) as string
    const s = currentSystem()
    if (s) return decisions.add<number[]>(s, kind, identifier, json).then(toResult)
    return ensureSystem().then((sys) => decisions.add<number[]>(sys, kind, identifier, json).then(toResult))
  } catch (e) {
    return Promise.reject(mapError(e))
  }
}


/** The rate limiter. Use the `redisRateLimiter` singleton. */
export class RedisRateLimiter {
  /** Decide one call for `identifier`: `maxRequests` units per `windowMs` with the chosen algorithm. */
  limit(identifier: string, options: RateLimitOptions): Promise<RateLimitResult> {
    return decide(Kind.Limit, 'limit', identifier, options)
  }

  /** Token bucket: bursts up to `bucketSize`, refilled at `refillRate` tokens per second. */
  tokenBucket(identifier: string, options: TokenBucketOptions): Promise<RateLimitResult> {
    return decide(Kind.TokenBucket, 'tokenBucket', identifier, options)
  }

  /** Leaky bucket (as a meter): at most `bucketSize` waiting, drained at `leakRate` per second. */
  leakyBucket(identifier: string, options: LeakyBucketOptions): Promise<RateLimitResult> {
    return decide(Kind.LeakyBucket, 'leakyBucket', identifier, options)
  }

  /** Forget every algorithm's state of `identifier` (in Redis and in this process). */
  async reset(identifier: string): Promise<void> {
    assertKey(identifier, 'identifier')
    const s = await ensureSystem()
    await s.rateLimitReset(identifier).catch(rethrow)
  }

  /** Decisions allowed, denied, and taken without Redis, since the system started. */
  async getStats(): Promise<RateLimitStats> {
    const s = await ensureSystem()
    return s.rateLimitStats()
  }
}

/** The process-wide rate limiter. */
export const redisRateLimiter = new RedisRateLimiter()

/** Named limits (see docs/rate-limiting.md): `api` 100/min sliding-counter, `auth` 5/15 min sliding-log,
 * `strict` 10/min fixed-window, `upload` 10/h token-bucket, `search` 30/min leaky-bucket. */
export const rateLimitPresets: Readonly<Record<'api' | 'auth' | 'strict' | 'upload' | 'search', RateLimitPreset>> = (() => {
  const raw = JSON.parse(native.rateLimitPresets()) as Record<string, RateLimitPreset>
  for (const p of Object.values(raw)) Object.freeze(p)
  return Object.freeze(raw) as Readonly<Record<'api' | 'auth' | 'strict' | 'upload' | 'search', RateLimitPreset>>
})()

/**
 * The standard headers of a decision, ready for `res.set(...)` / `new Headers(...)`:
 * `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch seconds), the IETF
 * `RateLimit` field (plus `RateLimit-Policy` when `windowMs` is given) and, when denied, `Retry-After`.
 */
export function rateLimitHeaders(result: RateLimitResult, options?: { windowMs?: number }): Record<string, string> {
  if (result === null || typeof result !== 'object') throw invalidArgument(`rateLimitHeaders expects a rate-limit result, got ${String(result)}`)
  const pairs = native.rateLimitHeaders(
    result.allowed,
    result.total,
    result.remaining,
    result.resetTime,
    result.retryAfter ?? null,
    options?.windowMs ?? null,
  )
  const out: Record<string, string> = {}
  for (const [name, value] of pairs) out[name] = value
  return out
}
