// The usage guide's Cache Warming section (Startup Warming, Custom Strategy, Scheduled Warming) and
// Recipe 3 through the npm package: priority order, reports, a failing strategy that stops nothing,
// entries with their TTL and tags, bad schedules refused at registration, schedules that stop at
// shutdown, and a process that exits by itself with a schedule registered.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  cacheInvalidator,
  cacheManager,
  cacheMetrics,
  cacheWarmer,
  createRedisClient,
  initializeCacheSystem,
  shutdownCacheSystem,
  warmCacheOnStartup,
} from 'stratacache'
import { describeRun, makeSandbox, raw, runNode, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('warm')
let redis
let r
let sandbox
const registered = []

function register(strategy) {
  registered.push(strategy.name)
  cacheWarmer.registerStrategy(strategy)
}

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  sandbox = makeSandbox()
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
})

after(async () => {
  for (const name of registered) cacheWarmer.unregisterStrategy(name)
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
  sandbox?.remove()
})

// What the guide leaves to the application.
const db = {
  prepare: () => ({ all: async () => [{ id: 1, name: 'Lamp', is_featured: 1 }, { id: 2, name: 'Desk', is_featured: 1 }] }),
}
let dashboardCalls = 0
async function calculateDashboardMetrics() {
  dashboardCalls++
  return { open: 3, closed: 7 }
}

describe("the guide's Cache Warming section", () => {
  test('Custom Strategy, Scheduled Warming and Startup Warming, verbatim', async () => {
    // ---- the guide, verbatim (the two registrations; names recorded for cleanup) ----
    cacheWarmer.registerStrategy({
      name: 'popular-products',
      priority: 9,
      enabled: true,
      fetchFn: async () => {
        const products = await db.prepare(`
          SELECT * FROM products
          WHERE is_featured = 1
          LIMIT 20
        `).all();

        return products.map(product => ({
          key: `product:${product.id}`,
          value: product,
          options: {
            ttl: 3600,
            tags: ['products', `product:${product.id}`],
          },
        }));
      },
      schedule: 'every 1h', // Refresh hourly
    });

    // Warm this strategy
    const report = await cacheWarmer.warmStrategy('popular-products');

    // Warm dashboard every 5 minutes
    cacheWarmer.registerStrategy({
      name: 'dashboard-refresh',
      priority: 10,
      enabled: true,
      fetchFn: async () => {
        const metrics = await calculateDashboardMetrics();
        return [{
          key: 'dashboard:metrics',
          value: metrics,
          options: { ttl: 60, tags: ['dashboard'] },
        }];
      },
      schedule: 'every 5m',
    });

    // Automatic warming on startup
    const reports = await warmCacheOnStartup();
    // ---- end of the guide ----
    registered.push('popular-products', 'dashboard-refresh')

    assert.equal(report.name, 'popular-products')
    assert.equal(report.entries, 2)
    assert.equal(report.error, undefined)
    assert.ok(report.durationMs >= 0)
    assert.deepEqual(reports.map((x) => [x.name, x.entries]), [['dashboard-refresh', 1], ['popular-products', 2]], 'priority 10 before 9')
    assert.deepEqual(await cacheManager.get('product:1'), { id: 1, name: 'Lamp', is_featured: 1 })
    assert.deepEqual(await cacheManager.get('dashboard:metrics'), { open: 3, closed: 7 })
    const pttl = Number(await r.cmd('PTTL', `${ns}:d:product:2`))
    assert.ok(pttl > 3_590_000 && pttl <= 3_600_000, `TTL of a warmed entry: ${pttl}`)
    assert.deepEqual(cacheWarmer.scheduled().sort(), ['dashboard-refresh', 'popular-products'], 'both schedules active')
    await cacheInvalidator.invalidateTags(['products'])
    assert.equal(await cacheManager.get('product:1'), null, 'a tag invalidation evicts warmed entries')
    assert.deepEqual(await cacheManager.get('dashboard:metrics'), { open: 3, closed: 7 })
    const m = await cacheMetrics.getMetricsJSON()
    assert.ok(m.warming.runs >= 3 && m.warming.entries >= 5, JSON.stringify(m.warming))
  })
})

describe('strategies', () => {
  test('warmAll runs by priority; a failing strategy is reported and stops nothing', async () => {
    const order = []
    register({ name: 'w-low', priority: -5, enabled: true, fetchFn: () => (order.push('w-low'), [{ key: 'w:low', value: 1 }]) })
    register({ name: 'w-high', priority: 50, enabled: true, fetchFn: async () => (order.push('w-high'), [{ key: 'w:high', value: 2 }]) })
    const boom = new Error('db down')
    register({ name: 'w-broken', priority: 20, enabled: true, fetchFn: async () => { order.push('w-broken'); throw boom } })
    register({ name: 'w-off', priority: 99, enabled: false, fetchFn: async () => (order.push('w-off'), []) })
    const reports = await cacheWarmer.warmAll()
    const mine = reports.filter((x) => x.name.startsWith('w-'))
    assert.deepEqual(mine.map((x) => x.name), ['w-high', 'w-broken', 'w-low'])
    assert.deepEqual(order, ['w-high', 'w-broken', 'w-low'], 'called in priority order; disabled skipped')
    assert.equal(mine[1].error, 'db down')
    assert.equal(mine[1].entries, 0)
    assert.equal(await cacheManager.get('w:low'), 1, 'the strategy after the failing one still ran')
    const startup = await warmCacheOnStartup()
    assert.equal(startup.find((x) => x.name === 'w-broken').error, 'db down', 'warmCacheOnStartup reports, never throws')
  })

  test('bad input is refused at registration with a clear error', () => {
    for (const schedule of ['every banana', 'sometimes', 'every -1m', 'every 0s']) {
      assert.throws(
        () => cacheWarmer.registerStrategy({ name: 'bad', priority: 1, enabled: true, fetchFn: async () => [], schedule }),
        (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && e.message.includes(JSON.stringify(schedule)),
        schedule,
      )
    }
    assert.throws(() => cacheWarmer.registerStrategy({ name: 'bad', priority: 1.5, enabled: true, fetchFn: async () => [] }), /priority must be a whole number, got 1.5/)
    assert.throws(() => cacheWarmer.registerStrategy({ name: 'bad', priority: 1, enabled: 'yes', fetchFn: async () => [] }), /enabled must be a boolean/)
    assert.throws(() => cacheWarmer.registerStrategy({ name: '', priority: 1, enabled: true, fetchFn: async () => [] }), /strategy name must be a non-empty string/)
    assert.throws(() => cacheWarmer.registerStrategy({ name: 'bad', priority: 1, enabled: true, fetchFn: 'nope' }), /fetchFn must be a function/)
    assert.equal(cacheWarmer.unregisterStrategy('bad'), false, 'nothing was registered')
  })

  test('a bad entry fails its run (nothing written) and names the strategy', async () => {
    register({ name: 'w-garbage', priority: 0, enabled: false, fetchFn: async () => [{ key: 'w:ok', value: 1 }, { key: 'w:bad', value: undefined }] })
    const rep = await cacheWarmer.warmStrategy('w-garbage')
    assert.match(rep.error, /undefined/)
    assert.equal(await cacheManager.get('w:ok'), null)
    register({ name: 'w-notarray', priority: 0, enabled: false, fetchFn: async () => ({ key: 'x' }) })
    assert.match((await cacheWarmer.warmStrategy('w-notarray')).error, /"w-notarray" must return an array/)
    await assert.rejects(cacheWarmer.warmStrategy('no-such'), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /"no-such"/.test(e.message))
  })
})

describe('lifecycle', () => {
  test('a schedule runs, stops at shutdown, and the process exits by itself', async () => {
    const file = sandbox.write(
      'warm-exit.mjs',
      `import { cacheWarmer, initializeCacheSystem, shutdownCacheSystem } from 'stratacache'
      let runs = 0
      cacheWarmer.registerStrategy({ name: 'tick', priority: 1, enabled: true, schedule: 'every 1s',
        fetchFn: async () => { runs++; return [{ key: 'tick', value: runs, options: { ttl: 60 } }] } })
      await initializeCacheSystem({ skipWarming: true })
      await new Promise((r) => setTimeout(r, 2300))
      await shutdownCacheSystem()
      const atShutdown = runs
      setTimeout(() => { console.log(JSON.stringify({ atShutdown, later: runs })) }, 1300)
      `,
    )
    const res = await runNode(file, { timeoutMs: 12_000, env: { REDIS_URL: redis.url, STRATACACHE_NAMESPACE: uniqueNamespace('warmexit') } })
    assert.equal(res.timedOut, false, describeRun(res))
    assert.equal(res.code, 0, describeRun(res))
    const { atShutdown, later } = JSON.parse(res.stdout.trim().split('\n').pop())
    assert.ok(atShutdown >= 2 && atShutdown <= 3, `runs in 2.3 s of 'every 1s': ${atShutdown}`)
    assert.equal(later, atShutdown, 'no schedule fires after shutdownCacheSystem()')
  })
})
