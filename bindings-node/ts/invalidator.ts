/**
 * `cacheInvalidator` and `domainInvalidator`. Every invalidation reaches every process's L1 through the
 * core's bus (Redis pub/sub) and fires `onInvalidation` listeners there, local ones included.
 */
import type { NativeCache } from './native-binding'
import { wrapRule } from './callbacks'
import { rethrow } from './error'
import { ensureSystem, onSystem } from './handle'
import native = require('./native')
import { assertKey, assertStrings, invalidArgument } from './values'

/** One invalidation, as listeners see it. */
export interface InvalidationEvent {
  /** What was invalidated. */
  type: 'key' | 'tag' | 'pattern'
  /** The keys, the tags, or `[glob]`. */
  target: string[]
  /** The id of the process that invalidated (see `cacheMetrics`/bus stats for this process's id). */
  source: string
  /** When, epoch ms (the invalidating process's clock). */
  timestamp: number
  /** Whether this process did it. */
  local: boolean
}

/** A listener; may be async (its rejection is logged, never thrown). */
export type InvalidationListener = (event: InvalidationEvent) => unknown

/** What a domain rule returns for an id. */
export interface DomainTargets {
  keys?: string[]
  tags?: string[]
  patterns?: string[]
}

function report(e: unknown): void {
  console.error('stratacache: an onInvalidation listener failed:', e)
}

function shown(v: unknown): string {
  if (v === undefined) return 'undefined'
  if (typeof v === 'function') return 'a function'
  if (typeof v === 'bigint' || typeof v === 'symbol') return `a ${typeof v}`
  try {
    const text = JSON.stringify(v)
    return text.length > 80 ? text.slice(0, 80) + '…' : text
  } catch {
    return typeof v
  }
}

/** Check `id` (a non-empty string or a finite number) and return it as the rule and the built-ins see it. */
function idString(id: unknown): string {
  if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) return String(id)
  throw invalidArgument(`id must be a non-empty string or a finite number, got ${shown(id)}`)
}

/** Invalidation by keys, tags and patterns, in every process. */
export class CacheInvalidator {
  private readonly listeners = new Set<InvalidationListener>()

  constructor() {
    // One native listener per system dispatches to every JS listener.
    onSystem((s: NativeCache) => {
      s.onInvalidation((json: string) => {
        if (this.listeners.size === 0) return
        const event = JSON.parse(json) as InvalidationEvent
        for (const l of [...this.listeners]) {
          try {
            const r = l(event) as { catch?: (f: (e: unknown) => void) => void } | undefined
            if (r && typeof r.catch === 'function') r.catch(report)
          } catch (e) {
            report(e)
          }
        }
      })
    })
  }

  /** Invalidate every entry carrying any of `tags`. */
  async invalidateTags(tags: string[]): Promise<void> {
    assertStrings(tags, 'tags')
    const s = await ensureSystem()
    await s.invalidateByTags(tags).catch(rethrow)
  }

  /** Delete every key matching `glob` (`*`, `?`; SCAN + UNLINK, never KEYS); resolves to how many. */
  async invalidatePattern(glob: string): Promise<number> {
    if (typeof glob !== 'string') throw invalidArgument(`pattern must be a non-empty string, got ${JSON.stringify(glob)}`)
    const s = await ensureSystem()
    return s.invalidatePattern(glob).catch(rethrow)
  }

  /** Delete `keys`; resolves to how many existed. */
  async invalidateKeys(keys: string[]): Promise<number> {
    assertStrings(keys, 'keys')
    for (const k of keys) assertKey(k)
    const s = await ensureSystem()
    return s.invalidateKeys(keys).catch(rethrow)
  }

  /** Call `listener` for every invalidation in any process; returns the function that unsubscribes it. */
  onInvalidation(listener: InvalidationListener): () => void {
    if (typeof listener !== 'function') throw invalidArgument(`listener must be a function, got ${typeof listener}`)
    // Stored only: registering must not start the system (the app may not have configured it yet).
    // Events arrive once the system exists, i.e. from the first cache call or initializeCacheSystem().
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }
}

/**
 * Domain rules: an id → keys, tags and patterns to invalidate; built-ins for the guide's domains.
 * Rules belong to the process: they stay registered across `shutdownCacheSystem()`.
 */
export class DomainInvalidator {
  /**
   * Register (or replace) the rule of `domain`: `rule(id)` returns `{ keys?, tags?, patterns? }` (or a
   * promise of it); anything else makes `invalidate` reject with `ERR_STRATACACHE_INVALID_ARGUMENT`.
   */
  register(domain: string, rule: (id: string) => DomainTargets | Promise<DomainTargets>): void {
    if (typeof domain !== 'string') throw invalidArgument(`domain must be a non-empty string, got ${JSON.stringify(domain)}`)
    if (typeof rule !== 'function') throw invalidArgument(`rule must be a function, got ${typeof rule}`)
    // Registered with the process (the core's registry): the rule stays across a restart.
    try {
      native.registerDomain(domain, wrapRule(rule))
    } catch (e) {
      rethrow(e)
    }
  }

  /** Remove the registered rule of `domain` (a built-in domain falls back to its built-in rule); returns whether there was one. */
  unregister(domain: string): boolean {
    return native.unregisterDomain(domain)
  }

  /** Invalidate what `domain`'s rule says for `id` (a non-empty string or a finite number); resolves to those targets. */
  async invalidate(domain: string, id: string | number): Promise<Required<DomainTargets>> {
    if (typeof domain !== 'string') throw invalidArgument(`domain must be a non-empty string, got ${shown(domain)}`)
    const key = idString(id)
    const s = await ensureSystem()
    const json = await s.invalidateDomain(domain, key).catch(rethrow)
    return JSON.parse(json) as Required<DomainTargets>
  }

  /** Keys `ticket:{id}`; tags `ticket:{id}`, `tickets`, `dashboard`. */
  invalidateTicket(id: string | number): Promise<Required<DomainTargets>> {
    return this.invalidate('ticket', id)
  }

  /** Key and tag `user:{id}`. */
  invalidateUser(id: string | number): Promise<Required<DomainTargets>> {
    return this.invalidate('user', id)
  }

  /** Key `product:{id}`; tags `product:{id}`, `products`. */
  invalidateProduct(id: string | number): Promise<Required<DomainTargets>> {
    return this.invalidate('product', id)
  }

  /** Key `category:{id}`; tags `category:{id}`, `categories`. */
  invalidateCategory(id: string | number): Promise<Required<DomainTargets>> {
    return this.invalidate('category', id)
  }
}

/** The process-wide invalidator. */
export const cacheInvalidator = new CacheInvalidator()
/** The process-wide domain invalidator. */
export const domainInvalidator = new DomainInvalidator()
