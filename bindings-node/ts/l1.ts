/**
 * L1 hits on the JS thread, with a parsed-object memo.
 *
 * `JSON.parse` of a 1 KB value costs ~5 µs; a copy of an already-parsed tree costs a fraction of it.
 * So the first hit on an L1 entry parses it and keeps the result, keyed by the key and the core's entry
 * id (which changes whenever the entry does); later hits on the same entry return a fresh deep copy
 * (callers never share mutable objects). This caches a conversion only: the core still decides every
 * hit, expiry and invalidation (`l1Id` asks it each time).
 */
import type { NativeCache } from './native-binding'
import native = require('./native')

/** Returned by `readL1` on a miss (a stored JSON `null` is a hit whose value is `null`). */
export const MISS: unique symbol = Symbol('stratacache.miss')

const MEMO_MAX = 10_000
/**
 * The memo is bounded by the JSON text it was parsed from, too (the parsed objects take a small
 * multiple of it): past 64 MiB it starts over, and a value over 4 MiB is never kept.
 */
const MEMO_MAX_BYTES = 64 * 1024 * 1024
const MEMO_MAX_VALUE_BYTES = MEMO_MAX_BYTES / 16
let memoBytes = 0
const memo = new Map<string, { id: number; value: unknown; bytes: number; tags?: string[] }>()

/**
 * A deep copy of a JSON tree (objects and arrays copied; primitives shared). An object is copied
 * with spread, which V8 clones from the source's shape in one step (measured: 1,000 copies of the
 * benchmark's 1 KB value in 1.0 ms, against 2.8 ms property by property), then its nested objects are
 * replaced by their copies. Spread defines properties (a key `"__proto__"` stays an own property, as
 * `JSON.parse` made it), and the trees come from `JSON.parse`, so there are no getters or symbols.
 */
export function cloneJson<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) {
    const n = v.length
    const out = new Array(n)
    for (let i = 0; i < n; i++) out[i] = cloneJson(v[i])
    return out as unknown as T
  }
  const out: Record<string, unknown> = { ...(v as Record<string, unknown>) }
  for (const k in out) {
    const x = out[k]
    if (x !== null && typeof x === 'object') out[k] = cloneJson(x)
  }
  return out as T
}

/** The value of `key` from L1 as a fresh object, or `MISS`. Synchronous; never does I/O. */
export function readL1<T>(s: NativeCache, key: string): T | typeof MISS {
  return valueOf<T>(s, key, native.l1Id(key))
}

/**
 * The value of L1 entry `id` of `key` (an id the core just returned for a hit) as a fresh object, or
 * `MISS` when the entry changed meanwhile.
 */
export function valueOf<T>(s: NativeCache, key: string, id: number): T | typeof MISS {
  if (id === 0) return MISS
  const m = memo.get(key)
  if (m !== undefined && m.id === id) return cloneJson(m.value as T)
  const entry = s.peekL1(key)
  if (entry === null) return MISS
  const value = JSON.parse(entry.json) as T
  if (value !== null && typeof value === 'object') {
    const bytes = entry.json.length
    if (bytes > MEMO_MAX_VALUE_BYTES) return value // parsed for this caller alone: nobody else has it
    const old = memo.get(key)
    if (old !== undefined) memoBytes -= old.bytes
    if ((memo.size >= MEMO_MAX && old === undefined) || memoBytes + bytes > MEMO_MAX_BYTES) clearMemo()
    memo.set(key, { id: entry.id, value, bytes })
    memoBytes += bytes
    return cloneJson(value)
  }
  return value
}

/** The memo's size, for the test suite (`ts/testing.ts`). */
export function memoStats(): { entries: number; bytes: number } {
  return { entries: memo.size, bytes: memoBytes }
}

/**
 * The tags of L1 entry `id` of `key` (just returned by the core for a hit), from the memo when it
 * holds that entry, else from the core (`null` when the entry changed meanwhile).
 */
export function tagsOf(s: NativeCache, key: string, id: number): string[] | null {
  const m = memo.get(key)
  if (m !== undefined && m.id === id && m.tags !== undefined) return m.tags
  const fresh = s.l1EntryTags(key)
  if (fresh === null || fresh.id !== id) return null
  if (m !== undefined && m.id === id) m.tags = fresh.tags
  return fresh.tags
}

/** Forget every memoized object (shutdown). */
export function clearMemo(): void {
  memo.clear()
  memoBytes = 0
}
