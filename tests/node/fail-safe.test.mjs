// Contract §9 through the npm package (issue 18): fail-safe (the last value when the loader fails,
// kept past its TTL only for fail-safe entries, throttled, never after an invalidation, while Redis is
// stopped too), the soft timeout, and getMany's per-key fallback.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cacheAside, cacheManager, cacheMetrics, cacheStatusHeader, cacheInvalidator, createRedisClient, getCacheManager, shutdownCacheSystem } from 'stratacache'
import { raw, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('failsafe')
let redis
let r

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
  getCacheManager({})
})

after(async () => {
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
})

const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

/** A loader whose answer the test switches (`undefined`: it throws `db down`), counting its calls. */
function source(answer) {
  const s = {
    answer,
    calls: 0,
    delayMs: 0,
    error: new Error('db down'),
    load: async () => {
      s.calls++
      if (s.delayMs) await sleep(s.delayMs)
      if (s.answer === undefined) throw s.error
      return s.answer
    },
  }
  return s
}

const fs = (ttlMs, throttleMs, more = {}) => ({ ttl: ttlMs / 1000, failSafe: true, failSafeMaxDuration: 60, failSafeThrottle: throttleMs / 1000, ...more })

describe('failSafe', () => {
  test('the last value answers a failing loader, with status stale, and the throttle spares the source', async () => {
    const src = source({ v: 1 })
    const opts = fs(200, 400)
    assert.deepEqual(await cacheAside.get('fs:k', src.load, opts), { v: 1 })
    const pttl = Number(await r.cmd('PTTL', `${ns}:d:fs:k`))
    assert.ok(pttl > 59_000, `kept 60 s past its 200 ms TTL: ${pttl}`)
    await cacheAside.get('fs:plain', src.load, { ttl: 0.2 })
    assert.ok(Number(await r.cmd('PTTL', `${ns}:d:fs:plain`)) <= 200, 'without failSafe the Redis expiry is the TTL (§7)')

    await sleep(250)
    assert.equal(await cacheManager.get('fs:k'), null, 'past its TTL a plain read misses')
    src.answer = undefined
    assert.deepEqual(await cacheAside.get('fs:k', src.load, opts), { v: 1 }, 'the stale value, not the error')
    const calls = src.calls
    const meta = await cacheAside.getWithMeta('fs:k', src.load, opts)
    assert.equal(meta.status, 'stale')
    assert.equal(meta.ttlMs, 0)
    assert.deepEqual(meta.value, { v: 1 })
    assert.equal(cacheStatusHeader(meta), 'stratacache; hit; fwd=stale')
    await Promise.all(Array.from({ length: 5 }, () => cacheAside.get('fs:k', src.load, opts)))
    assert.equal(src.calls, calls, 'within the throttle the loader is not called again')
    const report = await cacheMetrics.getMetricsJSON()
    // The fallback, the throttled getWithMeta, and the five concurrent gets (which share one read).
    assert.ok(report.cacheAside.staleServed >= 3, `staleServed ${report.cacheAside.staleServed}`)

    await sleep(450)
    assert.deepEqual(await cacheAside.get('fs:k', src.load, opts), { v: 1 })
    assert.equal(src.calls, calls + 1, 'after the throttle the loader is tried again')
    await sleep(450)
    src.answer = { v: 2 }
    assert.deepEqual(await cacheAside.get('fs:k', src.load, opts), { v: 2 }, 'the source is back')
  })

  test('no last value means the error; an invalidated value is never the fallback', async () => {
    const src = source(undefined)
    const opts = fs(100, 30_000, { tags: ['fs-grp'] })
    await assert.rejects(cacheAside.get('fs:cold', src.load, opts), (e) => e === src.error)
    src.answer = 1
    await cacheAside.get('fs:a', src.load, opts)
    await cacheAside.get('fs:b', src.load, opts)
    await sleep(150)
    src.answer = undefined
    await cacheManager.del('fs:a')
    await cacheInvalidator.invalidateTags(['fs-grp'])
    await assert.rejects(cacheAside.get('fs:a', src.load, opts), (e) => e === src.error, 'deleted')
    await assert.rejects(cacheAside.get('fs:b', src.load, opts), (e) => e === src.error, 'its tag was invalidated')
  })

  test('softTimeoutMs returns the stale value well before a slow loader, whose value lands later', async () => {
    const src = source('old')
    await cacheAside.get('fs:soft', src.load, fs(100, 30_000))
    await sleep(150)
    src.answer = 'new'
    src.delayMs = 600
    const t0 = performance.now()
    const meta = await cacheAside.getWithMeta('fs:soft', src.load, fs(100, 30_000, { softTimeoutMs: 50 }))
    const took = performance.now() - t0
    assert.deepEqual([meta.status, meta.value], ['stale', 'old'])
    assert.ok(took < 400, `answered after ${took} ms, well under the loader's 600 ms`)
    for (let i = 0; i < 60 && (await cacheManager.get('fs:soft')) !== 'new'; i++) await sleep(50)
    assert.equal(await cacheManager.get('fs:soft'), 'new', 'the slow load was stored when it arrived')
    assert.equal(src.calls, 2)

    // hardTimeoutMs under failSafe also answers with the stale value.
    await sleep(150)
    const t1 = performance.now()
    assert.equal(await cacheAside.get('fs:soft', src.load, fs(100, 30_000, { hardTimeoutMs: 80 })), 'new')
    assert.ok(performance.now() - t1 < 400)
    await assert.rejects(cacheAside.get('fs:x', src.load, { ttl: 1, softTimeoutMs: 10 }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /softTimeoutMs needs failSafe/.test(e.message))
    await assert.rejects(cacheAside.get('fs:x', src.load, { failSafe: 'yes' }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /failSafe/.test(e.message))
  })

  test('getMany falls back per key, and rejects when a key has no last value', async () => {
    const ok = async (keys) => Object.fromEntries(keys.map((k) => [k, `v-${k}`]))
    const boom = new Error('db down')
    const failing = async () => { throw boom }
    const opts = fs(100, 30_000)
    await cacheAside.getMany(['fm:x', 'fm:y'], ok, opts)
    await sleep(150)
    assert.deepEqual([...(await cacheAside.getMany(['fm:x', 'fm:y'], failing, opts)).values()], ['v-fm:x', 'v-fm:y'])
    await assert.rejects(cacheAside.getMany(['fm:x', 'fm:never'], failing, opts), (e) => e === boom)
  })

  test('while Redis is stopped, the last value in memory answers a failing loader', async () => {
    for (let i = 0; i < 100 && (await cacheMetrics.healthCheck()).checks.bus.status !== 'up'; i++) await sleep(50)
    const src = source('kept')
    const opts = fs(300, 150)
    await cacheAside.get('fs:down', src.load, opts)
    await redis.stop()
    await sleep(400)
    src.answer = undefined
    const meta = await cacheAside.getWithMeta('fs:down', src.load, opts)
    assert.deepEqual([meta.status, meta.tier, meta.value], ['stale', 'l1', 'kept'])
    src.answer = 'fresh'
    assert.equal(await cacheAside.get('fs:down', src.load, opts), 'kept', 'throttled')
    await sleep(200)
    assert.equal(await cacheAside.get('fs:down', src.load, opts), 'fresh', 'the source is back: its value')
  })
})
