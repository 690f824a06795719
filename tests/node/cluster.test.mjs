// Every component through the npm package on a local Redis Cluster (3 masters + 3 replicas, from
// tests/support/topology.py): basics, mset/mget across slots (one command per key on the master that owns
// it, counted with INFO commandstats per node), tags and patterns across masters, the bus and client
// tracking between processes seeded through different nodes, rate-limit exactness across processes,
// sessions with a device cap, cache-aside's lock across processes, and — last, since it kills a master —
// failover: calls recover within 15 s and no process serves an entry invalidated meanwhile.
//
// Process A is this test process; process B is a forked child running the package, seeded through another
// node. Every wait is bounded.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import {
  cacheAside,
  cacheInvalidator,
  cacheManager,
  createRedisClient,
  initializeCacheSystem,
  redisRateLimiter,
  sessionManager,
  shutdownCacheSystem,
} from 'stratacache'
import { clusterLockKey, makeSandbox, raw, startTopology, uniqueNamespace } from './support.mjs'
import { startPeer, waitFor } from './topology-peer.mjs'

const require = createRequire(import.meta.url)
const { currentSystem } = require('../../dist/handle.js')
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))
const busState = () => currentSystem().busStats().state

let cluster
let sandbox
let B
const ns = uniqueNamespace('cluster')

/** INFO commandstats of every master: { port: { get: n, set: n, ... } }. */
async function statsOfMasters() {
  const out = {}
  for (const port of cluster.dataPorts) {
    const c = await raw(port)
    try {
      const role = await c.cmd('ROLE')
      if (role[0].toString() === 'master') out[port] = await c.commandCalls()
    } finally {
      c.close()
    }
  }
  return out
}

before(async () => {
  cluster = await startTopology('cluster')
  sandbox = makeSandbox()
  B = await startPeer(sandbox, 'cluster-b.mjs')
  // A through the first node, B through the fourth: different seeds, possibly different subscriptions.
  createRedisClient(cluster.redisOptions(ns, cluster.dataPorts[0]))
  assert.deepEqual(await initializeCacheSystem(), { redis: 'connected' })
  assert.deepEqual(await B.request({ op: 'configure', redis: cluster.redisOptions(ns, cluster.dataPorts[3]) }), { redis: 'connected' })
  await waitFor(() => busState() === 'live', 'the bus of this process to be live on the cluster', { timeoutMs: 10_000 })
  await waitFor(async () => (await B.request({ op: 'busState' })) === 'live', "B's bus to be live", { timeoutMs: 10_000 })
})

after(async () => {
  await B?.stop()
  await shutdownCacheSystem()
  await cluster?.stop()
  sandbox?.remove()
})

describe('on Redis Cluster', () => {
  test('contradictory topology options are refused with ERR_STRATACACHE_CONFIG naming them, and change nothing', async () => {
    const bad = [
      [{ nodes: ['127.0.0.1:7000'] }, /cluster: true/],
      [{ cluster: false, nodes: ['127.0.0.1:7000'] }, /cluster is false/],
      [{ cluster: true, nodes: ['no-port'] }, /host:port/],
      [{ cluster: true, sentinel: { masterName: 'm', nodes: ['127.0.0.1:26379'] } }, /together/],
      [{ sentinel: { masterName: '', nodes: ['127.0.0.1:26379'] } }, /masterName/],
      [{ sentinel: { masterName: 'm', nodes: [] } }, /sentinel\.nodes/],
      [{ sentinel: { master: 'm', nodes: ['127.0.0.1:26379'] } }, /master/],
    ]
    for (const [options, says] of bad) {
      assert.throws(() => createRedisClient({ ...options, namespace: ns }), (e) => e.code === 'ERR_STRATACACHE_CONFIG' && says.test(e.message), JSON.stringify(options))
    }
    await cacheManager.set('still', 'works', { ttl: 60 })
    assert.equal(await cacheManager.get('still'), 'works')
  })

  test('basics: set, get, del and a tagged set', async () => {
    await cacheManager.set('greeting', 'Hello World', { ttl: 60 })
    assert.equal(await cacheManager.get('greeting'), 'Hello World')
    assert.equal(await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: ['greeting'] }), 'Hello World')
    assert.equal(await cacheManager.del('greeting'), true)
    assert.equal(await cacheManager.get('greeting'), null)
  })

  test('mset/mget of 100 keys across slots: one SET and one GET per key, each on the master that owns it', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `user:${i}`)
    const owner = {}
    for (const k of keys) owner[k] = await cluster.masterOf(`${ns}:d:${k}`)
    const perMaster = {}
    for (const k of keys) perMaster[owner[k]] = (perMaster[owner[k]] ?? 0) + 1
    assert.equal(Object.keys(perMaster).length, 3, 'the keys span all three masters')
    const s0 = await statsOfMasters()
    await cacheManager.mset(keys.map((key) => ({ key, value: { key }, ttl: 300 })))
    const s1 = await statsOfMasters()
    for (const [port, n] of Object.entries(perMaster)) {
      assert.equal((s1[port].set ?? 0) - (s0[port].set ?? 0), n, `master ${port}: one SET per key it owns`)
    }
    // B has nothing in L1: its mget reads every key from the cluster.
    const got = await B.request({ op: 'call', target: 'cacheManager', method: 'mget', args: [[...keys, 'missing']] })
    const s2 = await statsOfMasters()
    assert.deepEqual(got['user:42'], { key: 'user:42' })
    assert.equal(got.missing, null)
    assert.equal(Object.keys(got).length, 101)
    let gets = 0
    for (const port of Object.keys(perMaster)) gets += (s2[port].get ?? 0) - (s1[port].get ?? 0)
    assert.ok(gets >= 101 && gets <= 103, `one GET per key, no redirect retries (got ${gets})`)
  })

  test('tags and patterns invalidate across masters, here and in B', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `member:${i}`)
    for (const k of keys) await cacheManager.set(k, 1, { ttl: 300, tags: ['team'] })
    for (const k of ['page:1', 'page:2', 'page:3', 'other:1']) await cacheManager.set(k, 1, { ttl: 300 })
    await B.request({ op: 'call', target: 'cacheManager', method: 'mget', args: [keys] })
    await waitFor(async () => (await B.request({ op: 'tier', key: 'member:7' })) === 'l1', 'B caches member:7 in L1')
    await cacheInvalidator.invalidateTags(['team'])
    const here = await cacheManager.mget(keys)
    assert.ok([...here.values()].every((v) => v === null), 'nothing tagged is served here')
    // B hears it through the bus, which crosses the cluster bus between nodes: within milliseconds.
    const t0 = performance.now()
    await waitFor(async () => {
      const there = await B.request({ op: 'call', target: 'cacheManager', method: 'mget', args: [keys] })
      return Object.values(there).every((v) => v === null)
    }, 'nothing tagged served in B', { timeoutMs: 1000, intervalMs: 2 })
    console.log(`cluster: B stopped serving the tagged keys ${(performance.now() - t0).toFixed(1)} ms after invalidateTags resolved`)
    assert.equal(await B.request({ op: 'call', target: 'cacheInvalidator', method: 'invalidatePattern', args: ['page:*'] }), 3, 'SCAN reached every master')
    assert.equal(await cacheManager.get('page:2'), null)
    assert.equal(await cacheManager.get('other:1'), 1)
  })

  test("the bus and client tracking reach B's L1 whichever node holds the key", async () => {
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
    for (const k of keys) await cacheManager.set(k, 'v1', { ttl: 300 })
    for (const k of keys) {
      await waitFor(async () => {
        await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: [k] })
        return (await B.request({ op: 'tier', key: k })) === 'l1'
      }, `B keeps ${k} in L1`)
    }
    await cacheManager.set('k0', 'v2', { ttl: 300 })
    await waitFor(async () => (await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: ['k0'] })) === 'v2', "B reads A's new value")
    // A raw write on the master of each key (not through the library): tracking reports it.
    for (const k of keys.slice(1)) {
      const c = await raw(await cluster.masterOf(`${ns}:d:${k}`))
      await c.cmd('SET', `${ns}:d:${k}`, 'foreign')
      c.close()
    }
    for (const k of keys.slice(1)) await waitFor(async () => (await B.request({ op: 'tier', key: k })) !== 'l1', `tracking evicted ${k} from B's L1`)
  })

  test('rate limits are exact across two processes', async () => {
    for (const algorithm of ['fixed-window', 'sliding-log', 'sliding-counter', 'token-bucket', 'leaky-bucket']) {
      const id = `client:${algorithm}`
      const opts = { windowMs: 3_600_000, maxRequests: 20, algorithm }
      const [here, there] = await Promise.all([
        Promise.all(Array.from({ length: 30 }, () => redisRateLimiter.limit(id, opts))).then((rs) => rs.filter((r) => r.allowed).length),
        B.request({ op: 'limit', ident: id, opts, n: 30 }),
      ])
      assert.equal(here + there, 20, `${algorithm}: exactly 20 of 60 allowed (${here} here, ${there} in B)`)
    }
  })

  test('sessions keep their device cap and stats scan every master', async () => {
    const ids = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        sessionManager.createSession({ userId: 42, tenantId: 1, role: 'user', email: 'u@example.com', ipAddress: `10.0.0.${i}`, userAgent: 'UA' }, { ttl: 60, maxDevices: 3 }),
      ),
    )
    assert.equal(ids.length, 8)
    assert.equal((await sessionManager.getUserSessions(42)).length, 3)
    await sessionManager.createSession({ userId: 7, tenantId: 1, role: 'user', email: 'x@example.com', ipAddress: '1.1.1.1', userAgent: 'UA' }, { ttl: 60, maxDevices: 3 })
    const stats = await sessionManager.getStats()
    assert.equal(stats.totalSessions, 4)
    assert.equal(await sessionManager.deleteUserSessions(42), 3)
  })

  test("cache-aside's lock keeps a load to one process", async () => {
    let loads = 0
    const loader = async () => {
      loads++
      await sleep(200)
      return { v: 1 }
    }
    const lockKey = clusterLockKey(ns, 'report:1')
    const master = await raw(await cluster.masterOf(`${ns}:d:report:1`))
    const calls = Promise.all([
      Promise.all(Array.from({ length: 4 }, () => cacheAside.get('report:1', loader, { ttl: 60 }))),
      B.request({ op: 'aside', key: 'report:1', n: 4 }),
    ])
    // While the load runs, its lock is held under the key cluster-keys.json pins, on the data key's master.
    await waitFor(async () => (await master.cmd('EXISTS', lockKey)) === 1, `the lock ${lockKey} on the data key's master`)
    master.close()
    const [here, there] = await calls
    assert.ok(here.every((v) => v.v === 1) && there.values.every((v) => v.v === 1))
    assert.equal(loads + there.loads, 1, `one load in all (${loads} here, ${there.loads} in B)`)
  })

  test('failover: SIGKILL the master of a key; calls recover within 15 s; nothing invalidated is served', async (t) => {
    const key = 'order:42'
    await cacheManager.set(key, 'v1', { ttl: 300, tags: ['orders'] })
    await waitFor(async () => {
      await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: [key] })
      return (await B.request({ op: 'tier', key })) === 'l1'
    }, 'B caches the order')
    const victim = await cluster.masterOf(`${ns}:d:${key}`)
    await cluster.kill(victim)
    const killed = Date.now()
    let failures = 0
    for (;;) {
      try {
        await cacheManager.del(key)
        break
      } catch (e) {
        failures++
        assert.ok(e.code, 'a failed call carries a code')
        assert.ok(Date.now() - killed < 15_000, `no recovery within 15 s: ${e.message}`)
        await sleep(100)
      }
    }
    const recoveredMs = Date.now() - killed
    t.diagnostic(`calls recovered ${recoveredMs} ms after the kill (${failures} failed attempts)`)
    console.log(`cluster failover (Node): calls recovered ${recoveredMs} ms after SIGKILL of the master`)
    const promoted = await cluster.waitFailover(victim, 15, `${ns}:d:${key}`)
    assert.notEqual(promoted.port, victim)
    await waitFor(async () => (await B.request({ op: 'busState' })) === 'live', "B's bus back", { timeoutMs: 15_000 })
    assert.equal(await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: [key] }), null, 'B does not serve the deleted entry')
    await cacheManager.set(key, 'v2', { ttl: 300 })
    await waitFor(async () => (await B.request({ op: 'call', target: 'cacheManager', method: 'get', args: [key] })) === 'v2', 'B reads the new value')
  })
})
