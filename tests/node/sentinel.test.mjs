// Behind Redis Sentinel, through the npm package (a primary, a replica and 3 Sentinels from
// tests/support/topology.py): basics, the bus between two processes, and failover — SIGKILL the primary;
// the service returns within 20 s and nothing invalidated meanwhile is served.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import {
  cacheInvalidator,
  cacheManager,
  createRedisClient,
  initializeCacheSystem,
  redisRateLimiter,
  shutdownCacheSystem,
} from 'stratacache'
import { makeSandbox, raw, startTopology, uniqueNamespace } from './support.mjs'
import { startPeer, waitFor } from './topology-peer.mjs'

const require = createRequire(import.meta.url)
const { currentSystem } = require('../../dist/handle.js')
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))
const busState = () => currentSystem().busStats().state

let sentinel
let sandbox
let B
const ns = uniqueNamespace('sentinel')

before(async () => {
  sentinel = await startTopology('sentinel')
  sandbox = makeSandbox()
  B = await startPeer(sandbox, 'sentinel-b.mjs')
  createRedisClient(sentinel.redisOptions(ns))
  assert.deepEqual(await initializeCacheSystem(), { redis: 'connected' })
  assert.deepEqual(await B.request({ op: 'configure', redis: sentinel.redisOptions(ns) }), { redis: 'connected' })
  await waitFor(() => busState() === 'live', 'the bus of this process to be live', { timeoutMs: 10_000 })
  await waitFor(async () => (await B.request({ op: 'busState' })) === 'live', "B's bus to be live", { timeoutMs: 10_000 })
})

after(async () => {
  await B?.stop()
  await shutdownCacheSystem()
  await sentinel?.stop()
  sandbox?.remove()
})

describe('behind Redis Sentinel', () => {
  test('basics on the primary the Sentinels name, and the bus between processes', async () => {
    await cacheManager.set('greeting', 'Hello World', { ttl: 60, tags: ['t'] })
    const primary = await sentinel.primary()
    const c = await raw(primary)
    assert.ok(await c.cmd('EXISTS', `${ns}:d:greeting`), 'the value is on the primary')
    c.close()
    await waitFor(async () => {
      await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: ['greeting'] })
      return (await B.request({ op: 'tier', key: 'greeting' })) === 'l1'
    }, 'B caches the greeting')
    await cacheInvalidator.invalidateTags(['t'])
    assert.equal(await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: ['greeting'] }), null)
    const r = await redisRateLimiter.limit('client', { windowMs: 60_000, maxRequests: 1 })
    assert.equal(r.allowed, true)
    assert.equal((await redisRateLimiter.limit('client', { windowMs: 60_000, maxRequests: 1 })).allowed, false)
  })

  test('failover: SIGKILL the primary; service returns within 20 s; nothing invalidated is served', async (t) => {
    await cacheManager.set('order:1', 'v1', { ttl: 300, tags: ['orders'] })
    await waitFor(async () => {
      await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: ['order:1'] })
      return (await B.request({ op: 'tier', key: 'order:1' })) === 'l1'
    }, 'B caches the order')
    const old = await sentinel.primary()
    const replica = await raw(sentinel.dataPorts.find((p) => p !== old))
    await waitFor(async () => (await replica.cmd('EXISTS', `${ns}:d:order:1`)) === 1, 'the replica has the order')
    replica.close()
    await sentinel.kill(old)
    const killed = Date.now()
    let failures = 0
    for (;;) {
      try {
        await cacheInvalidator.invalidateTags(['orders'])
        break
      } catch (e) {
        failures++
        assert.ok(Date.now() - killed < 20_000, `no service within 20 s: ${e.message}`)
        await sleep(100)
      }
    }
    const ms = Date.now() - killed
    t.diagnostic(`service returned ${ms} ms after the kill (${failures} failed attempts)`)
    console.log(`sentinel failover (Node): service returned ${ms} ms after SIGKILL of the primary`)
    const promoted = await sentinel.waitFailover(old, 20)
    assert.notEqual(promoted.port, old)
    await waitFor(async () => (await B.request({ op: 'busState' })) === 'live', "B's bus back", { timeoutMs: 20_000 })
    assert.equal(await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: ['order:1'] }), null, 'B does not serve the invalidated entry')
    await cacheManager.set('after', 2, { ttl: 60 })
    const c = await raw(promoted.port)
    assert.ok(await c.cmd('EXISTS', `${ns}:d:after`), 'writes go to the promoted primary')
    c.close()
  })
})
