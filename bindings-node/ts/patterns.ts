/**
 * The guide's cache patterns: `cacheAside`, `writeThrough`, `writeBehind` / `WriteBehindPattern` and
 * `readThrough`. All behaviour (single-flight, cross-process locks, refresh-ahead, batching, retries,
 * pattern specificity) lives in the Rust core; this file adapts callbacks and converts values.
 */
import type { NativeCache, NativeWriteBehind } from './native-binding'
import { wrapBatchLoader, wrapKeyLoader, wrapLoader, wrapWriter } from './callbacks'
import { makeError, mapError, rethrow, type StrataCacheErrorCode } from './error'
import type { CacheManager } from './cache-manager'
import { MISS, valueOf } from './l1'
import { stashed } from './stash'
import { allocId, flushStarts, settleLater } from './completion'
import { currentSystem, ensureSystem } from './handle'
import native = require('./native')
import { assertKey, fromJson, invalidArgument, optionsJson, toJson } from './values'
import { asideL1Meta, parseMeta, type ResultMeta } from './meta'

/** Options of `cacheAside.get` and `readThrough.read`. */
export interface CacheAsideOptions {
  /** Lifetime of the loaded value in seconds (default: `defaultTTL`). */
  ttl?: number
  /** Tags of the loaded value. */
  tags?: string[]
  /** Cache a `null`/`undefined` result for this many seconds (default: not cached). */
  negativeTtl?: number
  /** Lease of the cross-process load lock in ms (default 5,000); longer than your slowest load. */
  lockLeaseMs?: number
  /** A random 0…`ttlJitter` seconds added to the TTL of what is stored (default: the manager's). */
  ttlJitter?: number
  /**
   * Reject with `ERR_STRATACACHE_TIMEOUT` when the loader has not finished after this many ms (under
   * `failSafe`, resolve with the stale value when there is one); the load goes on in the background
   * and its result is stored when it arrives.
   */
  hardTimeoutMs?: number
  /**
   * Fail-safe: keep what is stored `failSafeMaxDuration` seconds past its TTL, and when the loader
   * throws or times out, resolve with that last value (`getWithMeta` status `'stale'`) instead of
   * the error. Never a value that was invalidated. Default `false`.
   */
  failSafe?: boolean
  /** How long past its TTL a fail-safe entry is kept, in seconds (default 86,400). */
  failSafeMaxDuration?: number
  /** After a fallback, serve the stale value this many seconds before trying the loader again (default 30). */
  failSafeThrottle?: number
  /**
   * With a stale value at hand, resolve with it once the loader has run this many ms; the load goes on
   * and its result is stored when it arrives. Needs `failSafe: true`.
   */
  softTimeoutMs?: number
}

/** Options of `cacheAside.getWithRefresh`. */
export interface RefreshOptions extends CacheAsideOptions {
  /** Lifetime in seconds (required: the threshold is a fraction of it). */
  ttl: number
  /** Refresh in the background once less than `refreshThreshold × ttl` remains (0 < x < 1). */
  refreshThreshold: number
}

/** Options of `writeThrough.write` and `WriteBehindPattern.write`. */
export interface WriteOptions {
  ttl?: number
  tags?: string[]
}

/** Options of `new WriteBehindPattern(cacheManager?, options)`. */
export interface WriteBehindOptions {
  /** Flush every this many ms (default 1,000). */
  flushIntervalMs?: number
  /** Retries after the first failed attempt, with exponential backoff (default 3). */
  maxRetries?: number
  /** Flush as soon as this many writes wait (default 100). */
  batchSize?: number
  /** Called once for each write given up, with the writer's error, the key and the value. */
  onError?: (error: unknown, key: string, value: unknown) => void
  /**
   * Most distinct keys waiting (default 100,000; at most 10,000,000). A write to a new key when the
   * queue is full waits for room up to `queueFullTimeoutMs`, then rejects with `ERR_STRATACACHE_TIMEOUT`
   * and changes nothing, cache included.
   */
  maxQueueSize?: number
  /** How long a write waits for room in a full queue (default 5,000 ms; 0 rejects at once). */
  queueFullTimeoutMs?: number
  /** Writers run at once by a flush, started in queue order (default 8, at most 1,024). */
  concurrency?: number
  /** How long one writer attempt may take before it counts as failed (default 30,000 ms). */
  writeTimeoutMs?: number
  /** How long shutdown flushes before the rest goes to `onError` (default 10,000 ms). */
  shutdownTimeoutMs?: number
}

function assertFunction(f: unknown, what: string): void {
  if (typeof f !== 'function') throw invalidArgument(`${what} must be a function, got ${f === null ? 'null' : typeof f}`)
}

/**
 * What `cacheAside.get` resolves to for a loader returning `T`: `T` itself, except that a loader that
 * may return `undefined` resolves `null` then (nothing is cached). A loader that never returns
 * null/undefined gives a result that is never null: no null check is needed.
 */
export type Loaded<T> = undefined extends T ? Exclude<T, undefined> | null : T

/** Cache-aside: hit ⇒ the value; miss ⇒ the loader runs once (per process and across processes). */
export class CacheAside {
  /** The cached value of `key`, or what `loader` returns (stored unless null/undefined). */
  get<T>(key: string, loader: () => T | Promise<T>, options?: CacheAsideOptions): Promise<Loaded<T>> {
    try {
      assertKey(key)
      assertFunction(loader, 'loader')
      const opts = optionsJson(options)
      const s = currentSystem()
      if (!s) return ensureSystem().then((sys) => this.probeAndLoad<T>(sys, key, loader, opts))
      return this.probeAndLoad<T>(s, key, loader, opts)
    } catch (e) {
      // A native error from the synchronous path (an empty key, a bad option) gets its stable code too.
      return Promise.reject(mapError(e))
    }
  }

  /**
   * The core's synchronous front (`cacheAsideEnter`: key and options checked, then L1) and, on a
   * miss, the load, in one crossing for a caller that joins a load already running. Concurrent misses
   * of one key wait for one load through the core's shared completions: the first caller's loader and
   * options start it (`cacheAsideLoad`), every caller gets the one result (parsed once, then each its
   * own deep copy) or the same error object.
   */
  private probeAndLoad<T>(s: NativeCache, key: string, loader: () => T | Promise<T>, opts: string | null): Promise<Loaded<T>> {
    try {
      const id = allocId()
      let entered = s.cacheAsideEnter(id, key, opts, true)
      if (entered > 0) {
        const hit = valueOf<T>(s, key, entered)
        if (hit !== MISS) return Promise.resolve(hit as Loaded<T>)
        entered = s.cacheAsideEnter(id, key, opts, false) // the entry changed just now: wait for a load
      }
      if (entered === 0) return settleLater<Loaded<T>>(id, true, () => {})
      flushStarts() // a set made just before reaches Redis first
      return settleLater<Loaded<T>>(id, true, () => s.cacheAsideLoad(id, wrapLoader(key, loader), opts))
    } catch (e) {
      return Promise.reject(mapError(e))
    }
  }

  /** Like `get`, but near expiry returns the current value at once and refreshes in the background. */
  async getWithRefresh<T>(key: string, loader: () => T | Promise<T>, options: RefreshOptions): Promise<T | null> {
    assertKey(key)
    assertFunction(loader, 'loader')
    const sys = await ensureSystem()
    const text = await sys.cacheAsideGetWithRefresh(key, wrapLoader(key, loader), optionsJson(options)).catch(rethrow)
    return fromJson<T>(text)
  }

  /**
   * `get` with the result's metadata: an L1 or L2 hit, or a miss answered by the loader
   * (`tier: 'loader'`, `stored` when its value was stored). An L1 hit is served synchronously, as
   * `get`'s; a bad option fails on a hit as on a miss.
   */
  getWithMeta<T>(key: string, loader: () => T | Promise<T>, options?: CacheAsideOptions): Promise<ResultMeta<Loaded<T>>> {
    try {
      assertKey(key)
      assertFunction(loader, 'loader')
      const opts = optionsJson(options)
      const run = (s: NativeCache): ResultMeta<Loaded<T>> | Promise<ResultMeta<Loaded<T>>> =>
        asideL1Meta<Loaded<T>>(s, key, opts) ?? s.cacheAsideWithMeta(key, wrapLoader(key, loader), opts).then(parseMeta<Loaded<T>>, rethrow)
      const s = currentSystem()
      if (s) return Promise.resolve(run(s))
      return ensureSystem().then(run).catch(rethrow)
    } catch (e) {
      return Promise.reject(mapError(e))
    }
  }

  /**
   * Many keys: hits from L1, then one Redis round trip; `loader(missingKeys)` called **once** for the
   * misses, resolving to a `Map`, a plain object or `[key, value]` pairs. Keys another call is
   * already loading are awaited, not loaded twice. Keys the loader leaves out are `null` and not
   * cached (unless `negativeTtl`). A loader error rejects and caches nothing. A `Map` in input order.
   */
  async getMany<T>(
    keys: string[],
    loader: (missingKeys: string[]) => Promise<Map<string, T> | Record<string, T> | Array<[string, T]>> | Map<string, T> | Record<string, T> | Array<[string, T]>,
    options?: CacheAsideOptions,
  ): Promise<Map<string, T | null>> {
    if (!Array.isArray(keys)) throw invalidArgument(`keys must be an array of strings, got ${typeof keys}`)
    for (const k of keys) assertKey(k)
    assertFunction(loader, 'loader')
    const opts = optionsJson(options)
    const s = await ensureSystem()
    const texts = await s.cacheAsideGetMany(keys, wrapBatchLoader(loader), opts).catch(rethrow)
    const out = new Map<string, T | null>()
    keys.forEach((k, i) => out.set(k, fromJson<T>(texts[i])))
    return out
  }
}

/** Write-through: the writer first; the cache only when it succeeded. */
export class WriteThrough {
  /** Run `writer(value)`, then cache `value`. A writer error propagates and leaves the cache untouched. */
  async write<T>(key: string, value: T, writer: (data: T) => unknown, options?: WriteOptions): Promise<void> {
    assertKey(key)
    assertFunction(writer, 'writer')
    const json = toJson(key, value)
    const sys = await ensureSystem()
    await sys.writeThrough(key, json, wrapWriter(value, writer), optionsJson(options)).catch(rethrow)
  }
}

/** Write-behind: the cache is updated at once; the writer runs later, batched, with retries. */
export class WriteBehindPattern {
  private native: NativeWriteBehind | null = null
  private system: NativeCache | null = null
  private readonly optionsText: string | null
  private readonly onError?: WriteBehindOptions['onError']

  /** `cacheManager` is accepted for the guide's signature; there is one manager per process. */
  constructor(_cacheManager?: CacheManager, options: WriteBehindOptions = {}) {
    const { onError, ...rest } = options
    if (onError !== undefined) assertFunction(onError, 'onError')
    this.onError = onError
    this.optionsText = optionsJson(rest)
  }

  private async queue(): Promise<NativeWriteBehind> {
    const sys = await ensureSystem()
    if (this.native === null || this.system !== sys) {
      const hook = this.onError
      const onError = hook
        ? (args: [number, string, string, string, string]) => {
            // napi hands the Rust tuple over as one array: [stashId (-1: none), code, message, key, json].
            const [stashId, code, message, key, json] = args
            try {
              const original = stashId >= 0 ? stashed(stashId) : undefined
              const error = original ? original.error : makeError(code as StrataCacheErrorCode, message)
              hook(error, key, JSON.parse(json))
            } catch (e) {
              console.error('stratacache: WriteBehindPattern onError threw', e)
            }
          }
        : undefined
      try {
        this.native = sys.newWriteBehind(this.optionsText, onError)
      } catch (e) {
        rethrow(e)
      }
      this.system = sys
    }
    return this.native as NativeWriteBehind
  }

  /** Cache `value` now and queue `writer(value)` (a queued write to the same key is replaced). */
  async write<T>(key: string, value: T, writer: (data: T) => unknown, options?: WriteOptions): Promise<void> {
    assertKey(key)
    assertFunction(writer, 'writer')
    const json = toJson(key, value)
    const q = await this.queue()
    await q.write(key, json, wrapWriter(value, writer), optionsJson(options)).catch(rethrow)
  }

  /** Run every queued write now; resolves to how many were written. */
  async flush(): Promise<number> {
    if (this.native === null) return 0
    return this.native.flush()
  }

  /** Counters: pending, written, coalesced, retries, failed. */
  stats(): { pending: number; written: number; coalesced: number; retries: number; failed: number } {
    return this.native ? this.native.stats() : { pending: 0, written: 0, coalesced: 0, retries: 0, failed: 0 }
  }
}

/**
 * Read-through: loaders registered by glob pattern; the most specific pattern wins. Loaders belong to
 * the process (the core's registry): they stay registered across `shutdownCacheSystem()` and
 * re-initialization.
 */
export class ReadThrough {
  /** Register `loader` for keys matching `pattern` (`*` any run, `?` one character). */
  registerLoader<T>(pattern: string, loader: (key: string) => T | Promise<T>): void {
    if (typeof pattern !== 'string') throw invalidArgument(`pattern must be a non-empty string, got ${JSON.stringify(pattern)}`)
    assertFunction(loader, 'loader')
    try {
      native.registerLoader(pattern, wrapKeyLoader(loader))
    } catch (e) {
      rethrow(e)
    }
  }

  /** Remove the loader of `pattern`; returns whether there was one. */
  unregisterLoader(pattern: string): boolean {
    return native.unregisterLoader(pattern)
  }

  /** The value of `key`: a hit, or the matching loader's result (stored). No match ⇒ `ERR_STRATACACHE_NO_LOADER`. */
  async read<T = unknown>(key: string, options?: CacheAsideOptions): Promise<T | null> {
    assertKey(key)
    const sys = await ensureSystem()
    const text = await sys.readThrough(key, optionsJson(options)).catch(rethrow)
    return fromJson<T>(text)
  }
}

/** The process-wide cache-aside helper. */
export const cacheAside = new CacheAside()
/** The process-wide write-through helper. */
export const writeThrough = new WriteThrough()
/** The default write-behind queue (flush every second, 3 retries, batches of 100). */
export const writeBehind = new WriteBehindPattern()
/** The process-wide read-through registry. */
export const readThrough = new ReadThrough()

