// The usage guide's Monitoring section through the npm package: its Health Check, Metrics Endpoint and
// Dashboard handlers, verbatim, served over HTTP; counters that move by exactly the operations made;
// histogram counts; getStats() agreeing; skipMetrics; health healthy → degraded → healthy as Redis
// stops and comes back.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import {
  cacheManager,
  cacheMetrics,
  createRedisClient,
  initializeCacheSystem,
  redisRateLimiter,
  sessionManager,
  shutdownCacheSystem,
} from 'stratacache'
import { startRedis, uniqueNamespace } from './support.mjs'
import { startFaultProxy } from './fault-proxy.mjs'

const ns = uniqueNamespace('metrics')
let redis

/** The smallest Express-like app the guide's handlers need: `app.get`, `res.status().json()`, `res.set`, `res.send`. */
function miniApp() {
  const routes = new Map()
  const server = http.createServer(async (req, res) => {
    const handler = routes.get(req.url)
    if (!handler) return res.writeHead(404).end()
    const r = {
      statusCode: 200,
      headers: {},
      status(code) {
        this.statusCode = code
        return this
      },
      set(k, v) {
        this.headers[k] = v
        return this
      },
      json(body) {
        res.writeHead(this.statusCode, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      },
      send(body) {
        res.writeHead(this.statusCode, this.headers).end(body)
      },
    }
    try {
      await handler(req, r)
    } catch (e) {
      res.writeHead(500).end(String(e))
    }
  })
  return { get: (path, handler) => routes.set(path, handler), server }
}

async function fetchFrom(server, path) {
  const { port } = server.address()
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
}

async function within(ms, what, check) {
  const start = Date.now()
  for (;;) {
    if (await check()) return Date.now() - start
    assert.ok(Date.now() - start < ms, `${what}: not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

before(async () => {
  redis = await startRedis()
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns, commandTimeoutMs: 500, connectTimeoutMs: 500 })
  const init = await initializeCacheSystem({ skipWarming: false, skipMetrics: false })
  assert.equal(init.redis, 'connected')
})

after(async () => {
  await shutdownCacheSystem()
  await redis?.stop()
})

describe("the guide's Monitoring section over HTTP", () => {
  test('/health/cache, /metrics/cache, /metrics and the dashboard answer as the guide shows', async () => {
    const app = miniApp()
    // ---- the guide, verbatim ----
    app.get('/health/cache', async (req, res) => {
      const health = await cacheMetrics.healthCheck();

      res.status(health.status === 'healthy' ? 200 : 503).json({
        status: health.status,
        checks: health.checks,
      });
    });

    // JSON metrics
    app.get('/metrics/cache', async (req, res) => {
      const metrics = await cacheMetrics.getMetricsJSON();
      res.json(metrics);
    });

    // Prometheus metrics
    app.get('/metrics', async (req, res) => {
      const metrics = await cacheMetrics.getPrometheusMetrics();
      res.set('Content-Type', 'text/plain');
      res.send(metrics);
    });

    app.get('/admin/cache-dashboard', async (req, res) => {
      const [metrics, cacheStats, sessionStats] = await Promise.all([
        cacheMetrics.getMetricsJSON(),
        cacheManager.getStats(),
        sessionManager.getStats(),
      ]);

      res.json({
        performance: {
          hitRate: metrics.hitRate.total.toFixed(2) + '%',
          avgLatency: metrics.latency.get.avg.toFixed(2) + 'ms',
          p95Latency: metrics.latency.get.p95 + 'ms',
        },
        cache: {
          l1Size: `${cacheStats.l1.size}/${cacheStats.l1.maxSize}`,
          l1HitRate: cacheStats.l1.hitRate.toFixed(2) + '%',
          l2HitRate: cacheStats.l2.hitRate.toFixed(2) + '%',
        },
        sessions: {
          total: sessionStats.totalSessions,
          byUser: sessionStats.sessionsByUser.size,
        },
        health: {
          status: metrics.health.status,
          uptime: Math.floor(metrics.health.uptime / 1000) + 's',
        },
      });
    });
    // ---- end of the guide ----
    await new Promise((r) => app.server.listen(0, '127.0.0.1', r))
    try {
      await cacheManager.set('dash:1', { a: 1 })
      await cacheManager.get('dash:1')
      await sessionManager.createSession({ userId: 'u1', tenantId: 1, role: 'user', email: 'a@b.c', ipAddress: '1.2.3.4', userAgent: 'x' })

      const health = await fetchFrom(app.server, '/health/cache')
      assert.equal(health.status, 200, health.body)
      const h = JSON.parse(health.body)
      assert.equal(h.status, 'healthy')
      assert.deepEqual(Object.keys(h.checks).sort(), ['bus', 'l1', 'redis'])
      assert.equal(h.checks.redis.status, 'up')
      assert.equal(h.checks.bus.tracking, true)

      const m = JSON.parse((await fetchFrom(app.server, '/metrics/cache')).body)
      assert.equal(m.namespace, ns)
      assert.ok(m.latency.get.count >= 1 && m.latency.set.count >= 1)
      assert.ok(m.hitRate.total >= 0 && m.hitRate.total <= 100)

      const prom = await fetchFrom(app.server, '/metrics')
      assert.match(prom.type, /^text\/plain/)
      assert.match(prom.body, /^# HELP stratacache_cache_gets_total /m)
      assert.match(prom.body, new RegExp(`^stratacache_cache_get_duration_seconds_count\\{namespace="${ns}"\\} \\d+$`, 'm'))

      const dash = JSON.parse((await fetchFrom(app.server, '/admin/cache-dashboard')).body)
      assert.match(dash.performance.hitRate, /^\d+\.\d\d%$/)
      assert.match(dash.performance.avgLatency, /^\d+\.\d\dms$/)
      assert.match(dash.cache.l1Size, /^\d+\/10000$/)
      assert.equal(dash.sessions.total, 1)
      assert.equal(dash.health.status, 'healthy')
      assert.match(dash.health.uptime, /^\d+s$/)
    } finally {
      await new Promise((r) => app.server.close(r))
    }
  })
})

describe('counters', () => {
  test('move by exactly the operations made; histogram counts equal them; getStats agrees', async () => {
    const before = await cacheMetrics.getMetricsJSON()
    for (let i = 0; i < 20; i++) await cacheManager.set(`c:${i}`, i)
    for (let i = 0; i < 20; i++) assert.equal(await cacheManager.get(`c:${i}`), i) // L1 hits
    for (let i = 0; i < 5; i++) assert.equal(await cacheManager.get(`c:absent:${i}`), null) // L1 + L2 misses
    await cacheManager.del('c:0')
    for (let i = 0; i < 3; i++) await redisRateLimiter.limit('metrics:ip', { windowMs: 60_000, maxRequests: 2, algorithm: 'fixed-window' })
    const after = await cacheMetrics.getMetricsJSON()
    const d = (f) => f(after) - f(before)
    assert.equal(d((m) => m.operations.sets), 20)
    assert.equal(d((m) => m.latency.set.count), 20)
    assert.equal(d((m) => m.operations.l1Hits), 20)
    assert.equal(d((m) => m.operations.l2Misses), 5)
    assert.equal(d((m) => m.latency.get.count), 25, 'one get sample per key read')
    assert.equal(d((m) => m.operations.deletes), 1)
    const fw = after.rateLimit.byAlgorithm.find((a) => a.algorithm === 'fixed-window')
    assert.deepEqual([fw.allowed, fw.denied], [2, 1])
    const stats = await cacheManager.getStats()
    assert.equal(stats.l1.hits, after.operations.l1Hits)
    assert.equal(stats.l2.misses, after.operations.l2Misses)
    const g = after.latency.get
    assert.ok(g.max >= g.p99 && g.p99 >= g.p95 && g.p95 >= g.p50 && g.avg > 0, JSON.stringify(g))
  })

  test('bad input is refused with a clear error', async () => {
    await assert.rejects(initializeCacheSystem({ skipMetrics: 'yes' }), (e) => {
      assert.equal(e.code, 'ERR_STRATACACHE_INVALID_ARGUMENT')
      assert.match(e.message, /skipMetrics must be a boolean, got string "yes"/)
      return true
    })
  })
})

describe('skipMetrics', () => {
  test('skipMetrics: true stops recording after a re-initialization; getStats keeps counting', async () => {
    await shutdownCacheSystem()
    await initializeCacheSystem({ skipMetrics: true })
    await cacheManager.set('skip:a', 1)
    assert.equal(await cacheManager.get('skip:a'), 1)
    const m = await cacheMetrics.getMetricsJSON()
    assert.equal(m.enabled, false)
    assert.deepEqual([m.latency.get.count, m.latency.set.count, m.operations.sets], [0, 0, 0])
    assert.equal((await cacheManager.getStats()).l1.hits, 1)
    await shutdownCacheSystem()
    await initializeCacheSystem({ skipMetrics: false })
    assert.equal((await cacheMetrics.getMetricsJSON()).enabled, true)
  })
})

describe('health', () => {
  test('healthy → degraded when Redis stops → healthy within seconds of it coming back', async () => {
    assert.equal((await cacheMetrics.healthCheck()).status, 'healthy')
    const port = redis.port
    await redis.stop()
    await within(5000, 'degraded', async () => {
      const h = await cacheMetrics.healthCheck()
      return h.status === 'degraded' && h.checks.redis.status === 'down'
    })
    assert.equal((await cacheMetrics.getMetricsJSON()).health.status, 'degraded')
    redis = await startRedis({ port })
    const took = await within(10_000, 'healthy again', async () => (await cacheMetrics.healthCheck()).status === 'healthy')
    assert.ok(took < 10_000)
    const m = await cacheMetrics.getMetricsJSON()
    assert.ok(m.redis.recoveries >= 1, JSON.stringify(m.redis))
  })
})

describe('health with a frozen connection', () => {
  test('every connection frozen (the bus goes silent): degraded within seconds; healthy again once it answers', async () => {
    const proxy = await startFaultProxy(redis.port)
    try {
      await shutdownCacheSystem()
      createRedisClient({ host: '127.0.0.1', port: proxy.port, namespace: uniqueNamespace('freeze'), commandTimeoutMs: 500, connectTimeoutMs: 500 })
      assert.equal((await initializeCacheSystem()).redis, 'connected')
      await within(5000, 'healthy behind the proxy', async () => (await cacheMetrics.healthCheck()).status === 'healthy')
      await proxy.freeze() // nothing closes, nothing answers
      await within(6000, 'degraded while frozen', async () => {
        const h = await cacheMetrics.healthCheck()
        return h.status === 'degraded' && h.checks.bus.status === 'down'
      })
      await proxy.pass()
      await within(8000, 'healthy after the thaw', async () => (await cacheMetrics.healthCheck()).status === 'healthy')
    } finally {
      await shutdownCacheSystem()
      await proxy.close()
    }
  })
})
