/**
 * `cacheMetrics`: the health check, the metrics report and the Prometheus exposition of the process's
 * cache system. Everything is measured and assembled in the Rust core (`core/src/metrics/`,
 * `core/src/monitor/`); this file parses the JSON it hands over.
 */
import { rethrow } from './error'
import { ensureSystem } from './handle'

/** `healthy`, `degraded` (serving without Redis or without a live invalidation bus) or `unhealthy` (cannot serve). */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy'

/** `checks.redis` of a health report. */
export interface RedisCheck {
  /** `up`, `down` or `disabled` (`enableL2: false`). */
  status: 'up' | 'down' | 'disabled'
  /** The PING's round trip in ms, when it answered. */
  latencyMs?: number
  /** The circuit breaker: `closed`, `open` or `half-open`. */
  breaker: 'closed' | 'open' | 'half-open'
  /** Why Redis is down. */
  error?: string
}

/** `checks.l1` of a health report. */
export interface L1Check {
  /** `up` or `disabled`. */
  status: 'up' | 'disabled'
  /** Entries held. */
  size: number
  /** Capacity. */
  maxSize: number
  /** size / maxSize in percent. */
  usage: number
}

/** `checks.bus` of a health report. */
export interface BusCheck {
  /** `up`, `down`, or `disabled` (no bus: L1 or L2 off). */
  status: 'up' | 'down' | 'disabled'
  /** `connecting`, `live`, `down`, `refused` or `off`. */
  state: string
  /** Whether Redis client tracking is on (writes from outside the library reach L1). */
  tracking: boolean
  /** Times the subscriber reconnected (each time L1 was cleared). */
  reconnects: number
}

/** What `healthCheck()` returns. */
export interface HealthReport {
  status: HealthStatus
  checks: { redis: RedisCheck; l1: L1Check; bus: BusCheck }
  /** When the check was made, epoch ms. */
  timestamp: number
}

/** A latency distribution in milliseconds (quantiles within 3 %; zeros before any sample). */
export interface LatencySummary {
  /** Operations recorded. */
  count: number
  avg: number
  p50: number
  p95: number
  p99: number
  max: number
}

/** What `getMetricsJSON()` returns: hit rates are percentages 0–100, latencies ms, uptime ms. */
export interface MetricsReport {
  /** The key namespace of this system (also the `namespace` label of the Prometheus output). */
  namespace: string
  /** Whether recording is on (`skipMetrics: false`, the default). */
  enabled: boolean
  /** When the report was made, epoch ms. */
  timestamp: number
  hitRate: { total: number; l1: number; l2: number }
  latency: { get: LatencySummary; set: LatencySummary }
  /** The status from the last calls (no PING; `healthCheck()` pings) and ms since the system started. */
  health: { status: HealthStatus; uptime: number }
  operations: { gets: number; l1Hits: number; l1Misses: number; l2Hits: number; l2Misses: number; sets: number; deletes: number }
  errors: { l2: number; timeouts: number; corruptEntries: number }
  redis: {
    enabled: boolean
    degraded: boolean
    recoveries: number
    breakerState: 'closed' | 'open' | 'half-open'
    breakerOpened: number
    breakerHalfOpened: number
    breakerClosed: number
  }
  l1: { size: number; maxSize: number; clears: number }
  bus: { state: string; tracking: boolean; messagesIn: number; messagesOut: number; trackedEvictions: number; reconnects: number }
  cacheAside: { loads: number; joins: number; lockWaits: number; loadErrors: number; staleServed: number }
  writeBehind: { queueDepth: number; flushes: number; written: number; coalesced: number; retries: number; givenUp: number }
  rateLimit: {
    allowed: number
    denied: number
    localFallbacks: number
    byAlgorithm: Array<{ algorithm: string; allowed: number; denied: number }>
  }
  sessions: { created: number; evicted: number; deleted: number }
  warming: { runs: number; failures: number; entries: number }
  invalidations: { keys: number; tags: number; patterns: number }
}

/** The `Content-Type` of `getPrometheusMetrics()`'s text (Prometheus text format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Health, metrics and Prometheus exposition of the process's cache system. */
export class CacheMetrics {
  /** Check health now: one PING (bounded to 1 s), the bus and L1. */
  async healthCheck(): Promise<HealthReport> {
    const s = await ensureSystem()
    return JSON.parse(await s.healthCheck().catch(rethrow)) as HealthReport
  }

  /** Every counter and latency now. */
  async getMetricsJSON(): Promise<MetricsReport> {
    const s = await ensureSystem()
    try {
      return JSON.parse(s.metricsJson()) as MetricsReport
    } catch (e) {
      return rethrow(e)
    }
  }

  /** The Prometheus text exposition now: names prefixed `stratacache_`, latencies as histograms. */
  async getPrometheusMetrics(): Promise<string> {
    const s = await ensureSystem()
    try {
      return s.prometheusMetrics()
    } catch (e) {
      return rethrow(e)
    }
  }
}

/** The process-wide `cacheMetrics`. */
export const cacheMetrics = new CacheMetrics()
