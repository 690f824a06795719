// The usage guide's "Initialization" and "Basic Operations" through the npm package.
// Run: ./dev demo (it starts a redis-server when REDIS_URL is unset).
import {
  initializeCacheSystem,
  shutdownCacheSystem,
  cacheManager,
  cacheAside,
  writeThrough,
  redisRateLimiter,
  rateLimitPresets,
  rateLimitHeaders,
  cacheMetrics,
  cacheWarmer,
} from '../../dist/index.mjs'

const status = await initializeCacheSystem({ redis: { namespace: 'demo' } })
console.log('Cache system ready!', status)

await cacheManager.set('greeting', 'Hello World', { ttl: 60 })
console.log('greeting:', await cacheManager.get('greeting'))
await cacheManager.del('greeting')

const ticketId = 7
const ticketData = { id: ticketId, title: 'Printer on fire', openedAt: new Date() }
await cacheManager.set(`ticket:${ticketId}`, ticketData, { ttl: 300, tags: ['tickets', `ticket:${ticketId}`] })
console.log('ticket:', await cacheManager.get(`ticket:${ticketId}`))
await cacheManager.invalidateByTags(['tickets'])
console.log('after invalidateByTags:', await cacheManager.get(`ticket:${ticketId}`))

const largeDocument = { rows: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `row ${i}` })) }
await cacheManager.set('doc:large', largeDocument, { ttl: 3600, compress: true, compressionThreshold: 512 })
const doc = await cacheManager.get('doc:large')
console.log('doc:large rows:', doc.rows.length)

// Written by the Rust demo just before, in the same namespace: read across languages.
console.log('user:1 (written by Rust):', await cacheManager.get('user:1'))

await cacheManager.mset([
  { key: 'user:1', value: { name: 'Alice' }, ttl: 300 },
  { key: 'user:2', value: { name: 'Bob' }, ttl: 300 },
  { key: 'user:3', value: { name: 'Charlie' }, ttl: 300 },
])
const users = await cacheManager.mget(['user:1', 'user:2', 'user:3'])
users.forEach((user, key) => {
  console.log(`${key}: ${user?.name}`)
})
// Cache-aside: 100 concurrent callers, one load.
let loads = 0
const loadReport = async () => { loads++; await new Promise((r) => setTimeout(r, 30)); return { total: 42 } }
await Promise.all(Array.from({ length: 100 }, () => cacheAside.get('report:today', loadReport, { ttl: 60 })))
console.log(`cacheAside: 100 callers, ${loads} load`)
await writeThrough.write('user:1', { name: 'Alice B.' }, async (data) => console.log('  writer saved', data), { ttl: 300 })

// Rate limiting (the guide's login limit): 5 attempts per 15 minutes, shared with the Python demo.
await redisRateLimiter.reset('auth:demo')
for (let attempt = 1; attempt <= 6; attempt++) {
  const r = await redisRateLimiter.limit('auth:demo', { ...rateLimitPresets.auth, maxRequests: 7, algorithm: 'sliding-log' })
  console.log(`login attempt ${attempt}: ${r.allowed ? 'allowed' : `429, retry after ${r.retryAfter} s`}, remaining ${r.remaining}`)
  if (attempt === 6) console.log('  headers:', rateLimitHeaders(r, { windowMs: rateLimitPresets.auth.windowMs }))
}

// Cache warming (the guide's Custom Strategy): a strategy, run once by name.
cacheWarmer.registerStrategy({
  name: 'popular-products',
  priority: 9,
  enabled: true,
  fetchFn: async () => [1, 2, 3].map((id) => ({ key: `product:${id}`, value: { id }, options: { ttl: 3600, tags: ['products'] } })),
  schedule: 'every 1h',
})
console.log('warmed:', await cacheWarmer.warmStrategy('popular-products'))

console.log('stats:', await cacheManager.getStats())

// Monitoring (the guide's Health Check and Metrics Endpoint).
const health = await cacheMetrics.healthCheck()
console.log(`health: ${health.status} (redis ${health.checks.redis.status}, bus ${health.checks.bus.status})`)
const metrics = await cacheMetrics.getMetricsJSON()
console.log(`hit rate ${metrics.hitRate.total.toFixed(2)}%, get p95 ${metrics.latency.get.p95.toFixed(3)} ms, ${metrics.operations.sets} sets`)
const prom = await cacheMetrics.getPrometheusMetrics()
console.log(prom.split('\n').filter((l) => l.startsWith('stratacache_cache_gets_total')).join('\n'))
await shutdownCacheSystem()
