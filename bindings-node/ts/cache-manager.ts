/** `cacheManager`: the guide's cache manager over the native core. L1 hits resolve without leaving the JS thread. */
import type { NativeCache } from './native-binding'
import { mapError, rethrow } from './error'
import { configureCache, currentSystem, ensureSystem, type CacheManagerOptions } from './handle'
import { MISS, readL1 } from './l1'
import { l1Meta, parseMeta, type ResultMeta } from './meta'
import { batched, flushOthers, flushStarts, StartBatch } from './completion'
import { assertKey, assertStrings, fromJson, invalidArgument, optionsJson, toJson } from './values'

/** Options of `set`. */
export interface SetOptions {
  /** Lifetime in seconds (fractions allowed, > 0); default `defaultTTL`. */
  ttl?: number
  /** Tags for `invalidateByTags`. */
  tags?: string[]
  /** Compress when the JSON is larger than the threshold. */
  compress?: boolean
  /** Threshold in bytes for this call (default: the manager's `compressionThreshold`). */
  compressionThreshold?: number
  /** A random 0…`ttlJitter` seconds added to the TTL (default: the manager's `ttlJitter`; 0 turns it off). */
  ttlJitter?: number
}

/** One item of `mset`. */
export interface MsetItem<T = unknown> {
  key: string
  value: T
  ttl?: number
  tags?: string[]
}

/** What `getStats()` reports; hit rates are percentages 0–100. */
export interface CacheStats {
  l1: { size: number; maxSize: number; hits: number; misses: number; hitRate: number }
  l2: { hits: number; misses: number; hitRate: number; errors: number }
  /** Entries in Redis that did not decode (read as misses). */
  corruptEntries: number
}

/** The sets of one tick, started together (one Redis round trip, one bus message). */
const sets = new StartBatch(3, (sys, ids, [keys, jsons, opts]) =>
  sys.setBatchStart(ids, keys!, jsons!, opts!.some((o) => o !== null) ? opts : null),
)

/** The L1 misses of one tick, read from Redis together (one round trip). */
const l2Gets = new StartBatch(1, (sys, ids, [keys]) => sys.getL2BatchStart(ids, keys!))

function parseL2<T>(s: NativeCache, key: string): Promise<T | null> {
  return l2Gets.add<string | null>(s, key).then((text) => fromJson<T>(text))
}

/** The two-tier cache manager. Use the `cacheManager` singleton. */
export class CacheManager {
  /** Get a value: `null` on a miss. An L1 hit resolves without crossing threads. */
  get<T = unknown>(key: string): Promise<T | null> {
    try {
      assertKey(key)
      const s = currentSystem()
      if (s) {
        // A set made just before in this tick starts first: its key's older L1 value is gone then.
        flushOthers(l2Gets)
        const hit = readL1<T>(s, key)
        return hit !== MISS ? Promise.resolve(hit) : parseL2<T>(s, key)
      }
      return ensureSystem().then((sys) => {
        const hit = readL1<T>(sys, key)
        return hit !== MISS ? hit : parseL2<T>(sys, key)
      }).catch(rethrow)
    } catch (e) {
      return Promise.reject(mapError(e))
    }
  }

  /**
   * The value of `key` with its metadata: `{ value, status, tier, ageMs, ttlMs, tags, stored }`
   * (`status` `hit` from L1 or L2, or `miss` with `value: null`). An L1 hit costs what `get`'s does.
   */
  getWithMeta<T = unknown>(key: string): Promise<ResultMeta<T>> {
    try {
      assertKey(key)
      const s = currentSystem()
      if (s) {
        flushOthers(l2Gets)
        const m = l1Meta<T>(s, key)
        return m !== null ? Promise.resolve(m) : s.getL2WithMeta(key).then(parseMeta<T>, rethrow)
      }
      return ensureSystem().then((sys) => l1Meta<T>(sys, key) ?? sys.getL2WithMeta(key).then(parseMeta<T>)).catch(rethrow)
    } catch (e) {
      return Promise.reject(mapError(e))
    }
  }

  /** Store a JSON value. Unserializable values reject with a `TypeError` naming the key and the type. */
  set<T = unknown>(key: string, value: T, options?: SetOptions): Promise<void> {
    try {
      assertKey(key)
      const json = toJson(key, value)
      const opts = optionsJson(options)
      const s = currentSystem()
      if (s) return sets.add<void>(s, key, json, opts ?? null)
      return ensureSystem().then((sys) => sets.add<void>(sys, key, json, opts ?? null))
    } catch (e) {
      return Promise.reject(mapError(e))
    }
  }

  /** Delete a key from both tiers; resolves to whether it existed. */
  del(key: string): Promise<boolean> {
    try {
      assertKey(key)
      const s = currentSystem()
      flushStarts() // a set or get made just before starts first
      if (s) return batched<boolean>((id) => s.delStart(id, key))
      return ensureSystem().then((sys) => batched<boolean>((id) => sys.delStart(id, key)))
    } catch (e) {
      return Promise.reject(mapError(e))
    }
  }

  /** Store many values in one Redis round trip. Everything is validated before anything is written. */
  mset(items: ReadonlyArray<MsetItem>): Promise<void> {
    try {
      if (!Array.isArray(items)) throw invalidArgument(`mset expects an array of { key, value, ttl?, tags? }, got ${typeof items}`)
      const keys: string[] = []
      const jsons: string[] = []
      const opts: Array<string | null> = []
      for (const item of items) {
        if (item === null || typeof item !== 'object') throw invalidArgument(`mset items must be objects, got ${String(item)}`)
        const { key, value, ...options } = item
        assertKey(key)
        keys.push(key)
        jsons.push(toJson(key, value))
        opts.push(optionsJson(options)) // unknown fields reach the core, which names them
      }
      // Started now when the system runs, so a get made after it in this tick reads the new values.
      const start = (sys: NativeCache): Promise<void> => {
        flushStarts() // a set or get made just before starts first
        return batched<void>((id) => sys.msetStart(id, keys, jsons, opts))
      }
      const s = currentSystem()
      return s ? start(s) : ensureSystem().then(start)
    } catch (e) {
      return Promise.reject(mapError(e))
    }
  }

  /** Get many keys (L1 first, then one Redis round trip); a `Map` in input order, `null` for misses. */
  async mget<T = unknown>(keys: string[]): Promise<Map<string, T | null>> {
    assertStrings(keys, 'keys')
    const s = await ensureSystem()
    const texts = await s.mget(keys).catch(rethrow)
    const out = new Map<string, T | null>()
    keys.forEach((k, i) => out.set(k, fromJson<T>(texts[i])))
    return out
  }

  /** Invalidate every entry carrying any of `tags`, in every process. Rejects if Redis could not be told. */
  async invalidateByTags(tags: string[]): Promise<void> {
    assertStrings(tags, 'tags')
    const s = await ensureSystem()
    await s.invalidateByTags(tags).catch(rethrow)
  }

  /** Counters: L1 size/hits/misses, L2 hits/misses/errors, hit rates in percent. */
  async getStats(): Promise<CacheStats> {
    const s = await ensureSystem()
    return s.stats()
  }
}

/** The process-wide cache manager (connects lazily on first use). */
export const cacheManager = new CacheManager()

/** Configure the cache manager (first call) and return the process-wide instance. */
export function getCacheManager(options?: CacheManagerOptions): CacheManager {
  configureCache(options)
  return cacheManager
}
