/**
 * stratacache for Node: a two-tier cache (in-process L1 + Redis L2) whose values, tags and invalidations
 * are shared with Python and Rust processes on the same Redis. In a Next.js app,
 * `@/lib/cache/redis-cache` is the one-line file `export * from 'stratacache'`.
 */
export { cacheManager, getCacheManager, CacheManager } from './cache-manager'
export type { SetOptions, MsetItem, CacheStats } from './cache-manager'
export { createRedisClient, initializeCacheSystem, shutdownCacheSystem } from './handle'
export type { RedisClientOptions, SentinelOptions, CacheManagerOptions, InitializeOptions, InitializeResult, RedisClientHandle } from './handle'
export { StrataCacheError, StrataCacheTypeError, isStrataCacheError } from './error'
export type { StrataCacheErrorCode } from './error'
export { cacheAside, writeThrough, writeBehind, readThrough, CacheAside, WriteThrough, WriteBehindPattern, ReadThrough } from './patterns'
export type { CacheAsideOptions, RefreshOptions, WriteOptions, WriteBehindOptions, Loaded } from './patterns'
export { cacheInvalidator, domainInvalidator, CacheInvalidator, DomainInvalidator } from './invalidator'
export type { InvalidationEvent, InvalidationListener, DomainTargets } from './invalidator'
export { sessionManager, SessionManager } from './session'
export { cacheMetrics, CacheMetrics, PROMETHEUS_CONTENT_TYPE } from './monitor'
export { cacheWarmer, CacheWarmer, warmCacheOnStartup } from './warming'
export { cacheStatusHeader } from './meta'
export type { ResultMeta } from './meta'
export type { WarmEntry, WarmStrategy, WarmReport } from './warming'
export type { HealthReport, HealthStatus, RedisCheck, L1Check, BusCheck, LatencySummary, MetricsReport } from './monitor'
export type { Session, SessionData, CreateSessionOptions, GetSessionOptions, SessionStats } from './session'
export { redisRateLimiter, rateLimitPresets, rateLimitHeaders, RedisRateLimiter } from './ratelimit'
export type {
  RateLimitAlgorithm,
  RedisErrorPolicy,
  RateLimitOptions,
  TokenBucketOptions,
  LeakyBucketOptions,
  RateLimitResult,
  RateLimitStats,
  RateLimitPreset,
} from './ratelimit'
export { cacheDashboardHtml } from './dashboard'
export type { CacheDashboardOptions } from './dashboard'
