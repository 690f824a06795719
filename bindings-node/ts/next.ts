/**
 * `stratacache/next`: a Next.js incremental cache handler (`cacheHandler` in `next.config`) on the two-tier
 * cache, so every `next start` instance on one Redis shares the data cache (`fetch`, `unstable_cache`) and the
 * ISR/page cache, and a `revalidateTag` (or `revalidatePath`) in one instance is seen by all of them.
 *
 * ```js
 * // next.config.mjs
 * import { createRequire } from 'node:module'
 * const require = createRequire(import.meta.url)
 * export default {
 *   serverExternalPackages: ['stratacache'],          // the native addon stays out of the bundle
 *   cacheHandler: require.resolve('stratacache/next'),
 *   cacheMaxMemorySize: 0,                             // the handler's L1 replaces Next's in-memory cache
 * }
 * ```
 *
 * What it stores: each entry under `next:<key>` with its tags — `ctx.tags`, the entry's own `tags`, and the
 * implicit tags Next puts in a page's `x-next-cache-tags` header — each prefixed `next:` in stratacache's tag
 * space. Next's entries hold Buffers (`body`, `rscData`) and Maps (`segmentData`); they are encoded
 * faithfully (`{"$sc":"buf","b64":…}`, `{"$sc":"map","entries":[…]}`) and come back as Buffers and Maps.
 * `revalidateTag(tags)` invalidates those tags in every process, and records when each tag was revalidated
 * (`next-tag:<tag>`), so an entry read with `softTags` (the implicit tags of the page that reads a fetch
 * entry) older than a revalidation of one of them is a miss, as in Next's own handler. The environment
 * configures Redis (`REDIS_URL`, `STRATACACHE_NAMESPACE`, …), or call `createRedisClient` in
 * `instrumentation.ts`.
 */
import { cacheManager } from './cache-manager'
import { cacheInvalidator } from './invalidator'

/** The context Next passes to `get` (the fields this handler reads). */
interface NextCacheGetContext {
  tags?: string[]
  softTags?: string[]
  [key: string]: unknown
}

/** The context Next passes to `set` (the fields this handler reads). */
interface NextCacheSetContext {
  tags?: string[]
  revalidate?: number | false
  [key: string]: unknown
}

/** What `get` returns: Next's entry, when it was stored, and its tags. */
interface NextCacheEntry {
  value: unknown
  lastModified: number
  tags?: string[]
}

/** Options of the handler (Next passes its own `ctx` object; these fields are read when present). */
interface NextCacheHandlerOptions {
  /** How long an entry that Next never revalidates by time is kept, in seconds (default 7 days). */
  maxTtl?: number
  [key: string]: unknown
}

interface Stored {
  value: unknown
  lastModified: number
  tags: string[]
}

const ENTRY = 'next:'
const TAG = 'next:'
const REVALIDATED = 'next-tag:'
const WEEK = 7 * 24 * 3600

/** Buffers and Maps as JSON-safe objects (and typed arrays as Buffers); everything else as is. */
function encodeNextValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return { $sc: 'buf', b64: v.toString('base64') }
  if (v instanceof Uint8Array) return { $sc: 'buf', b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }
  if (v instanceof Map) return { $sc: 'map', entries: [...v.entries()].map(([k, x]) => [encodeNextValue(k), encodeNextValue(x)]) }
  if (Array.isArray(v)) return v.map(encodeNextValue)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = encodeNextValue(x)
    return out
  }
  return v
}

/** The inverse of {@link encodeNextValue}. */
function decodeNextValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeNextValue)
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    if (o.$sc === 'buf' && typeof o.b64 === 'string') return Buffer.from(o.b64, 'base64')
    if (o.$sc === 'map' && Array.isArray(o.entries)) return new Map((o.entries as unknown[][]).map(([k, x]) => [decodeNextValue(k), decodeNextValue(x)]))
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(o)) out[k] = decodeNextValue(x)
    return out
  }
  return v
}

/** The implicit tags Next puts in a rendered page's `x-next-cache-tags` header. */
function headerTags(data: unknown): string[] {
  const headers = (data as { headers?: Record<string, unknown> } | null)?.headers
  const h = headers?.['x-next-cache-tags']
  return typeof h === 'string' ? h.split(',').filter(Boolean) : []
}

/** Next.js's incremental cache handler on stratacache (see the module docs). */
class StratacacheNextHandler {
  /** Next's entries as stored: Buffers and Maps made JSON-safe (exposed for tests and tools). */
  static encode = encodeNextValue
  /** The inverse of `encode`. */
  static decode = decodeNextValue

  private readonly maxTtl: number

  constructor(options: NextCacheHandlerOptions = {}) {
    this.maxTtl = typeof options.maxTtl === 'number' && options.maxTtl > 0 ? options.maxTtl : WEEK
  }

  async get(key: string, ctx: NextCacheGetContext = {}): Promise<NextCacheEntry | null> {
    const stored = (await cacheManager.get(ENTRY + key)) as Stored | null
    if (stored === null) return null
    const soft = Array.isArray(ctx.softTags) ? ctx.softTags : []
    if (soft.length > 0) {
      const when = await cacheManager.mget(soft.map((t) => REVALIDATED + t))
      for (const t of when.values()) if (typeof t === 'number' && t > stored.lastModified) return null
    }
    return { value: decodeNextValue(stored.value), lastModified: stored.lastModified, tags: stored.tags }
  }

  async set(key: string, data: unknown, ctx: NextCacheSetContext = {}): Promise<void> {
    if (data === null || data === undefined) {
      await cacheManager.del(ENTRY + key)
      return
    }
    const own = (data as { tags?: unknown }).tags
    const tags = [...new Set([...(ctx.tags ?? []), ...(Array.isArray(own) ? (own as string[]) : []), ...headerTags(data)])]
    // Next decides staleness from lastModified and its revalidate period; the entry is kept a while longer
    // so that a stale page can be served while it is regenerated.
    const revalidate = typeof ctx.revalidate === 'number' && ctx.revalidate > 0 ? ctx.revalidate : null
    const ttl = revalidate === null ? this.maxTtl : Math.min(this.maxTtl, Math.max(60, revalidate * 10))
    const stored: Stored = { value: encodeNextValue(data), lastModified: Date.now(), tags }
    await cacheManager.set(ENTRY + key, stored, { ttl, tags: tags.slice(0, 256).map((t) => TAG + t) })
  }

  async revalidateTag(tags: string | string[]): Promise<void> {
    const list = (Array.isArray(tags) ? tags : [tags]).filter((t) => typeof t === 'string' && t.length > 0)
    if (list.length === 0) return
    const now = Date.now()
    await cacheManager.mset(list.map((t) => ({ key: REVALIDATED + t, value: now, ttl: 30 * 24 * 3600 })))
    await cacheInvalidator.invalidateTags(list.map((t) => TAG + t))
  }

  resetRequestCache(): void {}
}

export = StratacacheNextHandler
