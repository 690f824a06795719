/**
 * The guide's cache patterns: `cacheAside`, `writeThrough`, `writeBehind` / `WriteBehindPattern` and
 * `readThrough`. All behaviour (single-flight, cross-process locks, refresh-ahead, batching, retries,
 * pattern specificity) lives in the Rust core; this file adapts callbacks and converts values.
 */
import type { NativeCache, NativeWriteBehind } from './native-binding'
import { wrapKeyLoader, wrapLoader, wrapWriter } from './callbacks'
import { makeError, mapError, rethrow } from './errors'
import type { CacheManager } from './cache-manager'
import { MISS, cloneJson, readL1 } from './l1'
import { stashed } from './stash'
import { flushStarts } from './completion'
import { currentSystem, ensureSystem } from './system'
import { assertKey, fromJson, invalidArgument, optionsJson, toJson } from './values'

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
}

function assertFunction(f: unknown, what: string): void {
  if (typeof f !== 'function') throw invalidArgument(`${what} must be a function, got ${f === null ? 'null' : typeof f}`)
}

/** Seconds the core surely accepts as a ttl (it refuses ≤ 0, < 1 ms and > 100 years). */
const plainSeconds = (v: unknown): boolean => typeof v === 'number' && v > 0.001 && v < 3_000_000_000

/**
 * Whether `options` of `cacheAside.get` are plainly valid, so that a hit may be answered from L1 (or a
 * load in flight joined) without asking the core. Anything else (unknown names, aliases, doubtful
 * values) takes the core's path, which accepts it or names what is wrong: a bad option must fail on a
 * hit exactly as it does on a miss.
 */
function plainAsideOptions(options: unknown): boolean {
  if (options === undefined || options === null) return true
  if (typeof options !== 'object' || Array.isArray(options)) return false
  const o = options as Record<string, unknown>
  for (const name of Object.keys(o)) {
    const v = o[name]
    if (v === undefined || v === null) continue // not given (JSON leaves undefined out; the core ignores null)
    switch (name) {
      case 'ttl':
      case 'negativeTtl':
        if (!plainSeconds(v)) return false
        break
      case 'lockLeaseMs':
        if (!(typeof v === 'number' && v >= 1 && v <= 86_400_000)) return false
        break
      case 'tags':
        if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) return false
        break
      default:
        return false
    }
  }
  return true
}

/** Cache-aside: hit ⇒ the value; miss ⇒ the loader runs once (per process and across processes). */
export class CacheAside {
  private readonly inflight = new Map<string, Promise<unknown>>()

  /** The cached value of `key`, or what `loader` returns (stored unless null/undefined). */
  get<T>(key: string, loader: () => T | Promise<T>, options?: CacheAsideOptions): Promise<T | null> {
    try {
      assertKey(key)
      assertFunction(loader, 'loader')
      if (!plainAsideOptions(options)) {
        // The core checks these options (and single-flights the load itself).
        const opts = optionsJson(options)
        return ensureSystem()
          .then((sys) => sys.cacheAsideGet(key, wrapLoader(key, loader), opts))
          .then((text) => fromJson<T>(text), rethrow)
      }
      // Concurrent misses of one key in this process share one crossing into the core (which
      // single-flights across processes) and one JSON.parse; every caller gets its own deep copy
      // (a copy costs a fraction of a parse: 1,000 waiters on a 1 KB value save ~10 ms).
      const flight = this.inflight.get(key)
      if (flight) return flight.then(cloneJson) as Promise<T | null>
      const s = currentSystem()
      if (s) {
        const hit = readL1<T>(s, key)
        if (hit !== MISS) return Promise.resolve(hit)
      }
      const opts = optionsJson(options)
      const start = (sys: NativeCache): Promise<string | null> => {
        flushStarts() // a set made just before reaches Redis first
        return sys.cacheAsideGet(key, wrapLoader(key, loader), opts)
      }
      // With a running system the load starts now, not after the caller's other synchronous work.
      const native = s ? start(s) : ensureSystem().then(start)
      const parsed = native
        .then((text) => fromJson<unknown>(text), rethrow)
        .finally(() => this.inflight.delete(key))
      this.inflight.set(key, parsed)
      return parsed.then(cloneJson) as Promise<T | null>
    } catch (e) {
      // A native error from the synchronous L1 path (e.g. an empty key) gets its stable code too.
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
        ? (args: [number, string, string, string]) => {
            // napi hands the Rust tuple over as one array: [stashId (-1: none), message, key, json].
            const [stashId, message, key, json] = args
            try {
              const original = stashId >= 0 ? stashed(stashId) : undefined
              const error = original ? original.error : makeError('ERR_STRATACACHE_CALLBACK', message)
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

/** Read-through: loaders registered by glob pattern; the most specific pattern wins. */
export class ReadThrough {
  private readonly loaders = new Map<string, (key: string) => Promise<string>>()
  private registeredOn: NativeCache | null = null

  /** Register `loader` for keys matching `pattern` (`*` any run, `?` one character). */
  registerLoader<T>(pattern: string, loader: (key: string) => T | Promise<T>): void {
    if (typeof pattern !== 'string' || pattern === '') throw invalidArgument(`pattern must be a non-empty string, got ${JSON.stringify(pattern)}`)
    assertFunction(loader, 'loader')
    const wrapped = wrapKeyLoader(loader)
    this.loaders.set(pattern, wrapped)
    const sys = currentSystem()
    if (sys && this.registeredOn === sys) sys.registerLoader(pattern, wrapped)
  }

  /** Remove the loader of `pattern`; returns whether there was one. */
  unregisterLoader(pattern: string): boolean {
    const had = this.loaders.delete(pattern)
    const sys = currentSystem()
    if (sys && this.registeredOn === sys) sys.unregisterLoader(pattern)
    return had
  }

  /** The value of `key`: a hit, or the matching loader's result (stored). No match ⇒ `ERR_STRATACACHE_NO_LOADER`. */
  async read<T = unknown>(key: string, options?: CacheAsideOptions): Promise<T | null> {
    assertKey(key)
    const sys = await ensureSystem()
    if (this.registeredOn !== sys) {
      for (const [pattern, loader] of this.loaders) sys.registerLoader(pattern, loader)
      this.registeredOn = sys
    }
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

