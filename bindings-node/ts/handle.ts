/**
 * The process-wide system: configuration, lazy creation, initialization and shutdown. Importing the
 * package opens nothing; the first cache call (or `initializeCacheSystem`) creates the native system,
 * which connects to Redis on its first command.
 */
import native = require('./native')
import type { NativeCache } from './native-binding'
import { rethrow } from './error'
import { clearMemo } from './l1'
import { installDrain } from './completion'
import { describe, invalidArgument, optionsJson } from './values'

/** Options of `createRedisClient` (every field optional; see docs/configuration.md). */
export interface RedisClientOptions {
  host?: string
  port?: number
  password?: string
  db?: number
  /**
   * Redis Cluster: `nodes` are the seeds (without them, `url`/`host`/`port` is the one seed); env
   * `REDIS_CLUSTER_NODES`. Every component runs on it (docs/cluster.md).
   */
  cluster?: boolean
  username?: string
  /** `redis://user:pass@host:port/db`; explicit `host`/`port` win over it. */
  url?: string
  /** Cluster seed nodes, `'host:port'` each (only with `cluster: true`). */
  nodes?: string[]
  /**
   * A primary managed by Redis Sentinel: its monitored name and the Sentinels (`'host:port'` each);
   * env `REDIS_SENTINEL_MASTER` + `REDIS_SENTINELS`. `password`/`username`/`db` are the primary's.
   */
  sentinel?: SentinelOptions
  tls?: boolean
  connectTimeoutMs?: number
  commandTimeoutMs?: number
  /** Key namespace shared by cooperating processes (default `sc`). */
  namespace?: string
}

/** `createRedisClient({ sentinel })`: which primary, and where the Sentinels are. */
export interface SentinelOptions {
  /** The name the Sentinels monitor the primary under (`sentinel monitor <name> …`). */
  masterName: string
  /** The Sentinels, `'host:port'` each. */
  nodes: string[]
}

/** Options of `getCacheManager`. */
export interface CacheManagerOptions {
  /** L1 capacity in entries (default 10,000). */
  l1MaxSize?: number
  /**
   * L1 capacity in bytes of keys, JSON texts and tags (default 268,435,456: 256 MiB). Both bounds
   * hold: large values are bounded by bytes, small ones by `l1MaxSize` (docs/limits.md).
   */
  l1MaxBytes?: number
  /**
   * Most bytes of values one batch read (`mget`) decodes (default 67,108,864: 64 MiB, never below
   * `maxValueBytes`); entries past it read as misses (docs/limits.md).
   */
  maxBatchBytes?: number
  /** TTL in seconds when a call gives none (default 600). */
  defaultTTL?: number
  enableL1?: boolean
  enableL2?: boolean
  /** Compress above this many bytes when `compress: true` (default 1,024). */
  compressionThreshold?: number
  /** Largest value in bytes (default 16 MiB). */
  maxValueBytes?: number
  /** Largest key in bytes (default 1,024). */
  maxKeyBytes?: number
  /**
   * How long L1 keeps serving after the invalidation bus was found down, in ms (default 2,500; at most
   * 60,000; 0 bypasses L1 at once). An invalidation this process could not hear is served for at most
   * this plus 2 s (docs/consistency.md).
   */
  busStaleMs?: number
  /** A random 0…`ttlJitter` seconds (at most 86,400) added to every TTL, so keys written together do not expire together. Default 0. */
  ttlJitter?: number
}

/** Options of `initializeCacheSystem`. */
export interface InitializeOptions {
  redis?: RedisClientOptions
  cache?: CacheManagerOptions
  /** Do not run `warmCacheOnStartup()` (every enabled warming strategy, priority order). Default `false`. */
  skipWarming?: boolean
  /** Record no metrics (`cacheMetrics` then reports zeros; `getStats()` keeps counting). Default `false`. */
  skipMetrics?: boolean
}

/** What `initializeCacheSystem` reports. */
export interface InitializeResult {
  /** `connected`, or `degraded` when Redis was unreachable (L1 only, reconnecting in the background). */
  redis: 'connected' | 'degraded'
}

/** The handle `createRedisClient` returns. */
export interface RedisClientHandle {
  /** The options given. */
  readonly options: Readonly<RedisClientOptions>
  /** Resolves `true` when Redis answers PING, `false` otherwise. */
  ping(): Promise<boolean>
}

// The rules (options before first use, closed after shutdown until re-opened) are the core's
// `Singleton`, held by the native module; this file keeps only the JS object of the running system.
let system: NativeCache | null = null
let pending: Promise<NativeCache> | null = null
let initialized: Promise<InitializeResult> | null = null

const creationHooks: Array<(s: NativeCache) => void> = []

/** Run `hook` on every system created from now on, and on the current one if it exists. */
export function onSystem(hook: (s: NativeCache) => void): void {
  creationHooks.push(hook)
  if (system) hook(system)
}

let exitHooks = false

/**
 * Write-behind writes still queued when the process runs out of work without
 * `shutdownCacheSystem()`: `beforeExit` (which lets async work run, and fires again once it is done)
 * flushes them; if the process exits anyway with writes left, `exit` says so once on stderr.
 */
function installExitHooks(): void {
  if (exitHooks) return
  exitHooks = true
  process.on('beforeExit', () => {
    const s = system
    if (s && s.writeBehindPending() > 0) s.flushWriteBehind().catch(() => {})
  })
  process.on('exit', () => {
    const left = system ? system.writeBehindPending() : 0
    if (left > 0) {
      process.stderr.write(`stratacache: ${left} write-behind writes were not made: the process exited without shutdownCacheSystem()\n`)
    }
  })
}

/** The native system if it exists already (the synchronous L1 path uses this). */
export function currentSystem(): NativeCache | null {
  return system
}

/** The native system, created on first use (rejects with `ERR_STRATACACHE_CLOSED` after shutdown). */
export function ensureSystem(): Promise<NativeCache> {
  if (system) return Promise.resolve(system)
  if (!pending) {
    pending = native.createSystem().then(
      (s) => {
        installDrain(s)
        installExitHooks()
        system = s
        for (const hook of creationHooks) hook(s)
        return s
      },
      (e) => {
        pending = null
        return rethrow(e)
      },
    )
  }
  return pending
}

function configure(kind: 'redis' | 'cache', json: string | null): void {
  try {
    native.configure(kind, json)
  } catch (e) {
    rethrow(e)
  }
}

/** Configure the process-wide Redis connection the singletons use (before first use). */
export function createRedisClient(options: RedisClientOptions = {}): RedisClientHandle {
  configure('redis', optionsJson(options))
  native.reopen()
  return {
    options: Object.freeze({ ...options }),
    ping: () =>
      ensureSystem()
        .then((s) => s.ping())
        .then(
          () => true,
          () => false,
        ),
  }
}

/** Set the cache options (first call) — the manager itself is returned by `getCacheManager` in cache-manager.ts. */
export function configureCache(options: CacheManagerOptions | undefined): void {
  if (options !== undefined) configure('cache', optionsJson(options))
}

/**
 * Connect, and resolve even when Redis is unreachable (degraded mode: L1 only, one warning, reconnecting in
 * the background). Idempotent; after `shutdownCacheSystem()` it starts the system again.
 */
export function initializeCacheSystem(options: InitializeOptions = {}): Promise<InitializeResult> {
  for (const flag of ['skipMetrics', 'skipWarming'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      return Promise.reject(invalidArgument(`${flag} must be a boolean, got ${describe(options[flag])}`))
    }
  }
  if (initialized) return initialized
  try {
    native.setMetricsEnabled(options.skipMetrics !== true)
    if (options.redis) configure('redis', optionsJson(options.redis))
    if (options.cache) configure('cache', optionsJson(options.cache))
  } catch (e) {
    return Promise.reject(e)
  }
  native.reopen()
  initialized = ensureSystem().then(async (s) => {
    let redis: 'connected' | 'degraded'
    try {
      await s.ping()
      redis = 'connected'
    } catch {
      // The core has logged one warning to stderr (STRATACACHE_LOG controls it).
      redis = 'degraded'
    }
    // Startup warming (each run logs its line; a failing strategy is logged, never thrown).
    if (options.skipWarming !== true) await s.warmOnStartup()
    return { redis }
  })
  initialized.catch(() => {
    initialized = null
  })
  return initialized
}

/** Close everything; afterwards the process exits by itself. Cache calls then reject until `initializeCacheSystem()`. */
export async function shutdownCacheSystem(): Promise<void> {
  native.markShutDown()
  const s = system ?? (pending ? await pending.catch(() => null) : null)
  system = null
  pending = null
  initialized = null
  clearMemo()
  native.clearHot()
  if (s) await s.close()
}
