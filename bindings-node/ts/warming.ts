/**
 * `cacheWarmer` and `warmCacheOnStartup`: strategies that fill the cache ahead of demand, by
 * priority, on startup, on demand, and on schedules that one process of many runs per period
 * (Node and Python processes alike). Everything runs in the Rust core (`core/src/warming/`); this
 * file checks argument types and converts.
 */
import { wrapFetch } from './callbacks'
import { rethrow } from './error'
import { currentSystem, ensureSystem } from './handle'
import native = require('./native')
import { describe, invalidArgument } from './values'

/** One entry a strategy's `fetchFn` returns. */
export interface WarmEntry<T = unknown> {
  key: string
  value: T
  /** `ttl` in seconds (default: the cache's default TTL) and `tags`. */
  options?: { ttl?: number; tags?: string[] }
}

/** What `registerStrategy` takes. */
export interface WarmStrategy {
  /** Unique name (registering a name again replaces the strategy). */
  name: string
  /** Higher runs first. */
  priority: number
  /** Disabled strategies are not run by `warmAll`, on startup or on schedule (`warmStrategy(name)` still runs them). */
  enabled: boolean
  /** The entries to write (with `mset` semantics: all validated, then one round trip). */
  fetchFn: () => Promise<WarmEntry[]> | WarmEntry[]
  /** `every 30s`, `every 5m`, `every 1h`, `every 1d`: one process of all that registered it runs it per period. */
  schedule?: string
}

/** What one run did. */
export interface WarmReport {
  name: string
  /** Entries written. */
  entries: number
  durationMs: number
  /** Why the run failed (what `fetchFn` threw, or a bad entry). */
  error?: string
}

function parseReports(text: string): WarmReport[] {
  return JSON.parse(text) as WarmReport[]
}

/** Strategies, runs and schedules of the process's cache system. */
export class CacheWarmer {
  /**
   * Register a strategy (synchronous; throws at once on a bad name, priority or schedule). Its
   * schedule runs from now on while the cache system runs (from its start, when registered before).
   */
  registerStrategy(strategy: WarmStrategy): void {
    if (strategy === null || typeof strategy !== 'object') throw invalidArgument(`registerStrategy expects { name, priority, enabled, fetchFn, schedule? }, got ${describe(strategy)}`)
    const { name, priority, enabled, fetchFn, schedule } = strategy
    if (typeof name !== 'string') throw invalidArgument(`name must be a non-empty string, got ${describe(name)}`)
    if (typeof priority !== 'number') throw invalidArgument(`priority must be a number, got ${describe(priority)}`)
    if (typeof enabled !== 'boolean') throw invalidArgument(`enabled must be a boolean, got ${describe(enabled)}`)
    if (typeof fetchFn !== 'function') throw invalidArgument(`fetchFn must be a function, got ${describe(fetchFn)}`)
    if (schedule !== undefined && schedule !== null && typeof schedule !== 'string') {
      throw invalidArgument(`schedule must be a string like "every 5m", got ${describe(schedule)}`)
    }
    try {
      native.registerStrategy(name, priority, enabled, schedule ?? null, wrapFetch(fetchFn))
    } catch (e) {
      rethrow(e)
    }
  }

  /** Remove a strategy and stop its schedule; returns whether it was registered. */
  unregisterStrategy(name: string): boolean {
    return native.unregisterStrategy(String(name))
  }

  /** Run one strategy now (even a disabled one). A failing run resolves with its `error`; an unknown name rejects. */
  async warmStrategy(name: string): Promise<WarmReport> {
    if (typeof name !== 'string') throw invalidArgument(`name must be a string, got ${describe(name)}`)
    const s = await ensureSystem()
    return JSON.parse(await s.warmStrategy(name).catch(rethrow)) as WarmReport
  }

  /** Run every enabled strategy, higher priority first (four at a time); one report each, in that order. */
  async warmAll(): Promise<WarmReport[]> {
    const s = await ensureSystem()
    return parseReports(await s.warmAll().catch(rethrow))
  }

  /** Stop the schedules running now (strategies stay registered; ones registered later start theirs). */
  stop(): void {
    currentSystem()?.stopWarming()
  }

  /** The strategies whose schedule runs now. */
  scheduled(): string[] {
    return currentSystem()?.warmScheduled() ?? []
  }
}

/** The process-wide `cacheWarmer`. */
export const cacheWarmer = new CacheWarmer()

/** Warm every enabled strategy (priority order). One strategy's failure is in its report, never thrown. */
export async function warmCacheOnStartup(): Promise<WarmReport[]> {
  const s = await ensureSystem()
  return parseReports(await s.warmOnStartup().catch(rethrow))
}
