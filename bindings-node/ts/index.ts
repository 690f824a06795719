/**
 * stratacache for Node: a two-tier cache (in-process L1 + Redis L2) whose values, tags and invalidations
 * are shared with Python and Rust processes on the same Redis. In a Next.js app,
 * `@/lib/cache/redis-cache` is the one-line file `export * from 'stratacache'`.
 */
export { cacheManager, getCacheManager, CacheManager } from './cache-manager'
export type { SetOptions, MsetItem, CacheStats } from './cache-manager'
export { createRedisClient, initializeCacheSystem, shutdownCacheSystem } from './system'
export type { RedisClientOptions, CacheManagerOptions, InitializeOptions, InitializeResult, RedisClientHandle } from './system'
export { StrataCacheError, StrataCacheTypeError, isStrataCacheError } from './errors'
export type { StrataCacheErrorCode } from './errors'
export { cacheAside, writeThrough, writeBehind, readThrough, CacheAside, WriteThrough, WriteBehindPattern, ReadThrough } from './patterns'
export type { CacheAsideOptions, RefreshOptions, WriteOptions, WriteBehindOptions, Loaded } from './patterns'
export { cacheInvalidator, domainInvalidator, CacheInvalidator, DomainInvalidator } from './invalidation'
export type { InvalidationEvent, InvalidationListener, DomainTargets } from './invalidation'
export { sessionManager, SessionManager } from './sessions'
export type { Session, SessionData, CreateSessionOptions, GetSessionOptions, SessionStats } from './sessions'
export { redisRateLimiter, rateLimitPresets, rateLimitHeaders, RedisRateLimiter } from './rate-limit'
export type {
  RateLimitAlgorithm,
  RedisErrorPolicy,
  RateLimitOptions,
  TokenBucketOptions,
  LeakyBucketOptions,
  RateLimitResult,
  RateLimitStats,
  RateLimitPreset,
} from './rate-limit'
