/**
 * Result metadata (contract §9): what `getWithMeta` resolves to, the synchronous L1 path it shares
 * with `get` (an L1 hit costs what `get`'s does), and `cacheStatusHeader`, the RFC 9211
 * `Cache-Status` field value. Built in the core (`core/src/manager/meta.rs`); this file converts.
 */
import type { NativeCache } from './native-binding'
import { MISS, tagsOf, valueOf } from './l1'
import { onSystem } from './handle'
import native = require('./native')
import { rethrow } from './error'
import { describe, invalidArgument } from './values'

/** A read's value with its metadata. */
export interface ResultMeta<T = unknown> {
  /** The value (`null` when there is none). */
  value: T | null
  /** `hit` (from the cache), `miss` (absent; loaded when a loader was given), or `stale` (fail-safe). */
  status: 'hit' | 'miss' | 'stale'
  /** Who answered: `l1`, `l2`, the `loader`, or `null` (a miss without a loader). */
  tier: 'l1' | 'l2' | 'loader' | null
  /** Milliseconds since the value was written (`null` without a value). */
  ageMs: number | null
  /** Milliseconds until its logical expiry (`null` without a cached value). */
  ttlMs: number | null
  /** Its tags. */
  tags: string[]
  /** Whether this read stored what the loader returned. */
  stored: boolean
}

/**
 * Where the core reports an L1 hit's age, remaining TTL and tag count (`l1Id`, which `get`
 * uses too, and `cacheAsideL1MetaId`): three numbers written in place, so the hit costs one call returning a
 * number, as `get`'s does. Its own `ArrayBuffer`, whose memory V8 never moves; registered with every
 * system this process creates.
 */
const out = new Float64Array(new ArrayBuffer(3 * Float64Array.BYTES_PER_ELEMENT))
onSystem((s) => native.setHot(s, out))

/** The metadata of the L1 hit `id` of `key`, whose numbers the core just wrote to `out`; `null` on a miss. */
function hit<T>(s: NativeCache, key: string, id: number): ResultMeta<T> | null {
  if (id === 0) return null
  const ageMs = out[0]
  const ttlMs = out[1]
  const tagCount = out[2]
  const value = valueOf<T>(s, key, id)
  if (value === MISS) return null
  let tags: string[] = []
  if (tagCount !== 0) {
    const t = tagsOf(s, key, id)
    if (t === null) return null // replaced meanwhile: read it again
    tags = t.slice()
  }
  return { value, status: 'hit', tier: 'l1', ageMs, ttlMs, tags, stored: false }
}

/** The L1 hit of `key` with its metadata, or `null` (counted like `get`'s lookup). Synchronous. */
export function l1Meta<T>(s: NativeCache, key: string): ResultMeta<T> | null {
  return hit<T>(s, key, native.l1Id(key))
}

/** `l1Meta` for `cacheAside.getWithMeta`: the options are checked first (a bad one fails on a hit too). */
export function asideL1Meta<T>(s: NativeCache, key: string, options: string | null): ResultMeta<T> | null {
  return hit<T>(s, key, s.cacheAsideL1MetaId(key, options))
}

/** The metadata JSON text the core resolves to. */
export function parseMeta<T>(text: string): ResultMeta<T> {
  return JSON.parse(text) as ResultMeta<T>
}

/**
 * The RFC 9211 `Cache-Status` field value of a read: `stratacache; hit; ttl=42`,
 * `stratacache; fwd=miss; stored`, `stratacache; fwd=miss`, `stratacache; hit; fwd=stale`.
 * `name` (default `stratacache`) must be a token.
 */
export function cacheStatusHeader(meta: Pick<ResultMeta, 'status' | 'ttlMs'> & { stored?: boolean }, options: { name?: string } = {}): string {
  if (meta === null || typeof meta !== 'object') throw invalidArgument(`cacheStatusHeader expects the metadata getWithMeta returned, got ${describe(meta)}`)
  const name = options.name ?? 'stratacache'
  if (typeof name !== 'string') throw invalidArgument(`name must be a string, got ${describe(name)}`)
  try {
    return native.cacheStatusHeader(String(meta.status), typeof meta.ttlMs === 'number' ? meta.ttlMs : null, meta.stored === true, name)
  } catch (e) {
    return rethrow(e)
  }
}
