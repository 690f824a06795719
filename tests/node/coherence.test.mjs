// Contract §8 (coherence guarantees) through the npm package — the Node twins of core/tests/coherence_l1.rs,
// coherence_loads.rs and coherence_faults.rs:
//   - after an invalidation resolves, nothing invalidated is served, here or in another process (10,000
//     tagged keys; a pattern over 2,500 keys);
//   - a load that started before a del / a tag invalidation (or a set) does not store its older result;
//   - del / invalidations while Redis is down reject clearly;
//   - Redis error replies (OOM) take the degraded paths;
//   - a process that cannot hear the bus (frozen connection, channels refused by an ACL, tracking refused)
//     stops trusting its L1 within the documented bound and recovers;
//   - no call hangs under CLIENT PAUSE, and a panic in native code rejects the call.
//
// Process A is this test process (its singleton is reconfigured per scenario: shutdownCacheSystem, then
// createRedisClient + initializeCacheSystem). Process B is one long-lived child (fork + IPC) running the
// package, reconfigured the same way to follow A. Scenarios that change a server's state (OOM, ACL,
// CLIENT PAUSE, killing it) get their own throwaway redis-server. Every wait is bounded.
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
  shutdownCacheSystem,
} from 'stratacache'
import { startFaultProxy } from './fault-proxy.mjs'
import { forkWorker, makeSandbox, raw, startRedis, uniqueNamespace } from './support.mjs'

const require = createRequire(import.meta.url)
// The same module instances as the package's singleton (test hooks, not public API).
const { currentSystem } = require('../../dist/handle.js')
const { panicForTests } = require('../../dist/testing.js')

const TIMEOUTS = { connectTimeoutMs: 500, commandTimeoutMs: 500 }
const CACHE = { l1MaxSize: 20_000 }
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

let redis // the shared server
let r // raw client on it
let sandbox
let B

/** Poll `fn` until it returns a truthy value (at most `timeoutMs`); returns that value. */
async function waitFor(fn, what, { timeoutMs = 2000, intervalMs = 10 } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

/** `promise` within `ms`, or a failure naming `what`. */
function within(promise, ms, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
    }),
  ])
}

/** Await `promise`; resolves `{ ms, ok, value, error }` (never rejects). */
async function settle(promise) {
  const t0 = performance.now()
  try {
    const value = await promise
    return { ms: performance.now() - t0, ok: true, value }
  } catch (error) {
    return { ms: performance.now() - t0, ok: false, error }
  }
}

/** Assert `promise` rejects with one of `codes` and a message matching every pattern; returns the error. */
async function rejectsWith(promise, codes, ...patterns) {
  const s = await settle(promise)
  assert.equal(s.ok, false, `expected a rejection with ${codes.join(' or ')}, but it resolved to ${JSON.stringify(s.value)}`)
  assert.ok(codes.includes(s.error.code), `wrong code ${s.error.code} for: ${s.error.stack ?? s.error}`)
  for (const p of patterns) assert.match(s.error.message, p)
  return s.error
}

/** Run `fn(i)` for i in 0..n with `width` calls in flight. */
async function inPool(n, width, fn) {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++)
    }),
  )
}

/** How many of `{prefix}0..n` this process serves (from any tier), reading 64 at a time. */
async function servedA(prefix, n) {
  let count = 0
  await inPool(n, 64, async (i) => {
    if ((await cacheManager.get(`${prefix}${i}`)) !== null) count++
  })
  return count
}

/** This process's bus state (`connecting`, `live`, `down`, `refused`, `off`). */
const busState = () => currentSystem().busStats().state

/** Point this process's singleton at `redisOptions` (after shutting down whatever ran before). */
async function useA(redisOptions) {
  await shutdownCacheSystem()
  createRedisClient({ ...TIMEOUTS, ...redisOptions })
  return initializeCacheSystem({ cache: CACHE })
}

/** Point B at a namespace of its own on the shared server (before a test's own server stops). */
async function parkB() {
  await B.configure({ host: '127.0.0.1', port: redis.port, namespace: uniqueNamespace('parked') }).catch(() => {})
}

/** Point both processes at `redisOptions`; both must connect and join the bus. */
async function useAB(redisOptions) {
  assert.deepEqual(await useA(redisOptions), { redis: 'connected' })
  assert.deepEqual(await B.configure(redisOptions), { redis: 'connected' })
}

/**
 * A loader that says when it started and returns `value` only once `release()` is called (the "old" value
 * it read from the database before an invalidation).
 */
function gate(value) {
  let release
  let markStarted
  const go = new Promise((res) => (release = res))
  const started = new Promise((res) => (markStarted = res))
  let calls = 0
  return {
    loader: async () => {
      calls++
      markStarted()
      await go
      return value
    },
    started: () => within(started, 5000, 'the loader started'),
    release: () => release(),
    calls: () => calls,
  }
}

// ---------------------------------------------------------------------------------------------------
// Process B: a child running the package, driven over IPC.

const WORKER = `
import * as sc from 'stratacache'
const targets = { cacheManager: sc.cacheManager, cacheInvalidator: sc.cacheInvalidator }
async function served(prefix, n) {
  let count = 0
  let next = 0
  const before = (await sc.cacheManager.getStats()).l1.hits
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < n) if ((await sc.cacheManager.get(prefix + next++)) !== null) count++
  }))
  return { count, l1Hits: (await sc.cacheManager.getStats()).l1.hits - before }
}
process.on('message', async (m) => {
  try {
    let value
    if (m.op === 'configure') {
      await sc.shutdownCacheSystem()
      sc.createRedisClient(m.redis)
      value = await sc.initializeCacheSystem({ cache: m.cache })
    } else if (m.op === 'call') {
      value = await targets[m.target][m.method](...m.args)
      if (value instanceof Map) value = Object.fromEntries(value)
    } else if (m.op === 'served') {
      value = await served(m.prefix, m.n)
    } else if (m.op === 'shutdown') {
      await sc.shutdownCacheSystem()
      process.disconnect()
      value = true
    } else throw new Error('unknown op ' + m.op)
    if (process.connected) process.send({ id: m.id, ok: true, value: value === undefined ? null : value })
  } catch (e) {
    if (process.connected) process.send({ id: m.id, ok: false, error: { message: e.message, code: e.code } })
  }
})
process.send({ ready: true })
`

async function startWorker(name) {
  const w = await forkWorker(sandbox.write(`${name}.mjs`, WORKER), name, { cwd: sandbox.dir })
  const { request } = w
  return {
    configure: (redisOptions) => request({ op: 'configure', redis: { ...TIMEOUTS, ...redisOptions }, cache: CACHE }),
    call: (target, method, ...args) => request({ op: 'call', target, method, args }),
    get: (key) => request({ op: 'call', target: 'cacheManager', method: 'get', args: [key] }),
    served: (prefix, n) => request({ op: 'served', prefix, n }),
    stop: () => w.stop(),
  }
}

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  sandbox = makeSandbox()
  B = await startWorker('process-b')
})

after(async () => {
  await B?.stop()
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
  sandbox?.remove()
})

// ---------------------------------------------------------------------------------------------------

describe('after an invalidation resolves, nothing invalidated is served (shared server)', () => {
  const ns = uniqueNamespace('coh')
  before(async () => {
    await useAB({ host: '127.0.0.1', port: redis.port, namespace: ns })
    await waitFor(() => busState() === 'live', 'the bus of this process to be live')
  })

  test('10,000 keys set with one tag at 64 in flight: after invalidateTags, 0 served here and 0 in B within 2 s', async (t) => {
    const N = 10_000
    const tag = 'burst'
    const t0 = performance.now()
    await inPool(N, 64, (i) => cacheManager.set(`k:${i}`, 'old', { ttl: 300, tags: [tag] }))
    t.diagnostic(`10,000 sets at 64 in flight: ${(performance.now() - t0).toFixed(0)} ms`)
    assert.equal(await servedA('k:', N), N, 'every entry is served before')
    // The test is about L1: every entry must be in both processes' L1 before the invalidation. (A write
    // that raced another write of a key in the same L1 stripe is not kept in L1, so the first read may
    // fill a few entries from Redis; the second read is all L1.)
    const s0 = await cacheManager.getStats()
    assert.equal(await servedA('k:', N), N)
    assert.equal((await cacheManager.getStats()).l1.hits - s0.l1.hits, N, 'this process serves every entry from its L1')
    assert.equal((await B.served('k:', N)).count, N, 'B reads them all too (fills its L1)')
    assert.deepEqual(await B.served('k:', N), { count: N, l1Hits: N }, 'B serves every entry from its L1')

    const t1 = performance.now()
    await cacheInvalidator.invalidateTags([tag])
    const ms = performance.now() - t1
    console.log(`invalidateTags of 10,000 entries resolved in ${ms.toFixed(1)} ms`)
    const resolvedAt = Date.now()

    const s2 = await cacheManager.getStats()
    const staleA = await servedA('k:', N)
    assert.equal(staleA, 0, `${staleA} of ${N} entries still served in the invalidating process`)
    assert.equal((await cacheManager.getStats()).l1.hits, s2.l1.hits, 'no L1 hit after the invalidation')

    // B hears it through the bus: a full read of B that starts at most 2 s after the invalidation
    // resolved finds nothing (every read of that pass happens after its start).
    const aDone = Date.now() - resolvedAt
    let passStart
    let staleB
    for (;;) {
      passStart = Date.now() - resolvedAt
      staleB = (await B.served('k:', N)).count
      if (staleB === 0 || passStart > 2000) break
      await sleep(20)
    }
    assert.equal(staleB, 0, `${staleB} of ${N} entries still served by process B in a read started ${passStart} ms after the invalidation`)
    assert.ok(passStart <= 2000)
    t.diagnostic(`this process's check of the 10,000 took ${aDone} ms; B's read that found none started ${passStart} ms after invalidateTags resolved`)
  })

  test("mset of 2,500 keys in chunks of 500, then invalidatePattern('p:item:*'): mget gives all null (3 rounds)", async () => {
    const keys = Array.from({ length: 2500 }, (_, i) => `p:item:${i}`)
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < keys.length; i += 500) {
        await cacheManager.mset(keys.slice(i, i + 500).map((key) => ({ key, value: `v${round}`, ttl: 300 })))
      }
      const before = await cacheManager.mget(keys)
      assert.equal([...before.values()].filter((v) => v === `v${round}`).length, keys.length, `round ${round}: all stored`)
      await cacheInvalidator.invalidatePattern('p:item:*')
      const got = await cacheManager.mget(keys)
      assert.equal(got.size, keys.length)
      const stale = [...got.values()].filter((v) => v !== null).length
      assert.equal(stale, 0, `round ${round}: ${stale} keys still served after invalidatePattern resolved`)
    }
  })

  describe('a load that started before an invalidation does not store its result', () => {
    const dataKey = (key) => `${ns}:d:${key}`

    /** cacheAside.get(key) in this process; while its loader runs, `during()` runs; then the loader returns 'old'. */
    async function loadAcross(key, options, during) {
      const g = gate('old')
      const load = cacheAside.get(key, g.loader, options)
      try {
        await g.started()
        await during()
      } finally {
        g.release()
      }
      const got = await within(load, 5000, 'the load settles')
      assert.equal(g.calls(), 1)
      return got
    }

    test('control: an undisturbed load is stored for everyone', async () => {
      const got = await loadAcross('user:5', { ttl: 60, tags: ['users'] }, async () => {})
      assert.equal(got, 'old')
      assert.equal(await B.get('user:5'), 'old')
      assert.equal(await cacheManager.get('user:5'), 'old')
    })

    test('a del in another process during the load wins', async () => {
      const got = await loadAcross('user:1', { ttl: 60 }, () => B.call('cacheManager', 'del', 'user:1'))
      assert.equal(got, 'old', 'the waiting caller still gets what was loaded')
      assert.equal(await cacheManager.get('user:1'), null, 'not stored in this process (L1 or Redis)')
      assert.equal(await B.get('user:1'), null, 'not stored for B either')
      assert.equal(await r.cmd('EXISTS', dataKey('user:1')), 0, 'not in Redis')
    })

    test('a del in the same process during the load wins', async () => {
      const got = await loadAcross('user:2', { ttl: 60 }, () => cacheManager.del('user:2'))
      assert.equal(got, 'old')
      assert.equal(await cacheManager.get('user:2'), null)
      assert.equal(await B.get('user:2'), null)
      assert.equal(await r.cmd('EXISTS', dataKey('user:2')), 0)
    })

    test('a tag invalidation (in another process) during the load wins', async () => {
      const got = await loadAcross('user:3', { ttl: 60, tags: ['users'] }, () => B.call('cacheManager', 'invalidateByTags', ['users']))
      assert.equal(got, 'old')
      assert.equal(await cacheManager.get('user:3'), null, 'this process serves no entry older than the tag invalidation')
      assert.equal(await B.get('user:3'), null, 'nor B')
    })

    test('a tag invalidation in the same process during the load wins', async () => {
      const got = await loadAcross('user:6', { ttl: 60, tags: ['users6'] }, () => cacheInvalidator.invalidateTags(['users6']))
      assert.equal(got, 'old')
      assert.equal(await cacheManager.get('user:6'), null)
      assert.equal(await B.get('user:6'), null)
    })

    test('a set (in another process) during the load is not overwritten by it', async () => {
      const got = await loadAcross('user:4', { ttl: 60 }, () => B.call('cacheManager', 'set', 'user:4', 'new', { ttl: 60 }))
      assert.equal(got, 'old')
      assert.equal(await cacheManager.get('user:4'), 'new')
      assert.equal(await B.get('user:4'), 'new')
    })

    test('a getWithRefresh background refresh that raced a del does not bring the value back', async () => {
      const key = 'report'
      await cacheManager.set(key, 'v1', { ttl: 10 })
      const g = gate('v2 read before the delete')
      // 10 s TTL, threshold 0.99: once 100 ms have passed, the next read triggers a background refresh.
      await sleep(150)
      assert.equal(await cacheAside.getWithRefresh(key, g.loader, { ttl: 10, refreshThreshold: 0.99 }), 'v1')
      await g.started()
      assert.equal(await B.call('cacheManager', 'del', key), true)
      g.release()
      // Give the refresh time to finish and (wrongly) store.
      for (let i = 0; i < 20; i++) {
        await sleep(25)
        assert.equal(await cacheManager.get(key), null, 'this process serves the refreshed value after the delete')
        assert.equal(await B.get(key), null, 'B serves the refreshed value after the delete')
      }
      assert.equal(g.calls(), 1, 'one background refresh')
    })
  })

  test('a panic in native code rejects with ERR_STRATACACHE_INTERNAL and the process keeps working', async () => {
    for (const mode of ['sync', 'spawned']) {
      const s = await settle(within(panicForTests(mode), 5000, `panicForTests('${mode}') settles`))
      assert.equal(s.ok, false, `panicForTests('${mode}') resolved`)
      assert.equal(s.error.code, 'ERR_STRATACACHE_INTERNAL', `panicForTests('${mode}'): ${s.error.stack ?? s.error}`)
      await cacheManager.set(`after-panic:${mode}`, { mode }, { ttl: 60 })
      assert.deepEqual(await cacheManager.get(`after-panic:${mode}`), { mode })
      assert.deepEqual(await B.get(`after-panic:${mode}`), { mode }, 'the write reached Redis')
    }
  })
})

describe('a process that cannot hear the bus stops trusting its L1', () => {
  test('a frozen connection: the deleted value stops being served within 5 s; after the thaw the bus is live and it stays gone', async (t) => {
    const proxy = await startFaultProxy(redis.port)
    try {
      const ns = uniqueNamespace('freeze')
      assert.deepEqual(await useA({ host: '127.0.0.1', port: proxy.port, namespace: ns }), { redis: 'connected' }) // behind the proxy
      assert.deepEqual(await B.configure({ host: '127.0.0.1', port: redis.port, namespace: ns }), { redis: 'connected' })
      await waitFor(() => busState() === 'live', 'the bus to be live')
      await cacheManager.set('k', 'old', { ttl: 60 })
      assert.equal(await cacheManager.get('k'), 'old')

      await proxy.freeze() // half-open: nothing closes, nothing answers
      assert.equal(await B.call('cacheManager', 'del', 'k'), true)
      const t0 = Date.now()
      let slowest = 0
      let stale = 0 // when a get last returned the deleted value (ms after the del resolved)
      for (;;) {
        const s = await settle(cacheManager.get('k'))
        slowest = Math.max(slowest, s.ms)
        assert.ok(s.ms < 1500, `a get took ${s.ms.toFixed(0)} ms (commandTimeoutMs 500)`)
        assert.equal(s.ok, true, `a get rejected: ${s.error}`)
        if (s.value === null) break
        assert.equal(s.value, 'old')
        stale = Date.now() - t0
        assert.ok(stale <= 6000, `still serving the deleted value ${stale} ms after the del`)
        await sleep(50)
      }
      const gone = Date.now() - t0
      t.diagnostic(`deleted value last served ${stale} ms after the del; first null after ${gone} ms; slowest get ${slowest.toFixed(0)} ms`)
      assert.ok(stale <= 5000, `the deleted value was served ${stale} ms after the del (bound: 5 s)`)
      assert.ok(gone <= 5500, `the first get returning null completed ${gone} ms after the del`)
      assert.equal(busState(), 'down', 'the bus says it is down')

      await proxy.pass()
      await waitFor(() => busState() === 'live', 'the bus to be live again', { timeoutMs: 5000, intervalMs: 50 })
      assert.equal(await cacheManager.get('k'), null, 'the value stays gone')
      await cacheManager.set('k', 'new', { ttl: 60 })
      assert.equal(await B.get('k'), 'new')
    } finally {
      await proxy.pass().catch(() => {})
      await shutdownCacheSystem()
      await proxy.close()
    }
  })

  test('channels refused by an ACL: state `refused`, writes still reach Redis, and a change by another process is read within 5 s', async () => {
    const server = await startRedis()
    const rr = await raw(server.port)
    try {
      // Redis 7's default for new users: no channels.
      assert.equal(await rr.cmd('ACL', 'SETUSER', 'app', 'on', '>secret', '~*', 'resetchannels', '+@all'), 'OK')
      const ns = uniqueNamespace('acl')
      assert.deepEqual(
        await useA({ host: '127.0.0.1', port: server.port, username: 'app', password: 'secret', namespace: ns }),
        { redis: 'connected' },
      )
      assert.deepEqual(await B.configure({ host: '127.0.0.1', port: server.port, namespace: ns }), { redis: 'connected' })
      await waitFor(() => busState() === 'refused', 'the bus to say it was refused', { timeoutMs: 3000, intervalMs: 50 })
      const errors = (await cacheManager.getStats()).l2.errors
      await cacheManager.set('k', 'from app', { ttl: 60 })
      assert.equal(await B.get('k'), 'from app', 'the write reached Redis')
      assert.equal((await cacheManager.getStats()).l2.errors, errors + 1, 'the refused PUBLISH is counted')
      assert.equal(await cacheManager.get('k'), 'from app')
      await B.call('cacheManager', 'set', 'k', 'from default', { ttl: 60 })
      await waitFor(async () => (await cacheManager.get('k')) === 'from default', 'this process, which cannot hear the bus, to read the new value', {
        timeoutMs: 5000,
        intervalMs: 50,
      })
      assert.equal(busState(), 'refused')
    } finally {
      await shutdownCacheSystem()
      await parkB()
      rr.close()
      await server.stop()
    }
  })

  test('client tracking refused: the bus says so, a write from outside is seen within 5 s, and the bus is live again once allowed', async (t) => {
    const server = await startRedis()
    const rr = await raw(server.port)
    try {
      const ns = uniqueNamespace('tracking')
      assert.deepEqual(await useA({ host: '127.0.0.1', port: server.port, namespace: ns }), { redis: 'connected' })
      await waitFor(() => busState() === 'live', 'the bus to be live')
      await cacheManager.set('k', 'old', { ttl: 60 })
      assert.equal(await cacheManager.get('k'), 'old')
      // Tracking can no longer be enabled, and the data connection loses it (a new connection).
      assert.equal(await rr.cmd('ACL', 'SETUSER', 'default', '-client|tracking'), 'OK')
      assert.ok((await rr.cmd('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')) >= 1)
      await settle(cacheManager.get('other')) // the data connection reconnects
      await waitFor(() => ['down', 'refused'].includes(busState()), 'the bus to report it (down or refused)', { timeoutMs: 5000, intervalMs: 50 })
      // The reconnect cleared L1. Read k until this process serves it from its L1 again (an untrusted L1
      // still serves for a while: the degraded mode of contract §6), so the outside write below is one
      // that only the staleness bound can reveal.
      await waitFor(
        async () => {
          const hits = (await cacheManager.getStats()).l1.hits
          const v = await cacheManager.get('k')
          assert.equal(v, 'old')
          return (await cacheManager.getStats()).l1.hits === hits + 1
        },
        'this process to serve k from its L1 while the bus is down',
        { timeoutMs: 3000, intervalMs: 50 },
      )
      // A write from outside the library that tracking would have reported.
      assert.equal(await rr.cmd('SET', `${ns}:d:k`, 'not an envelope'), 'OK')
      const t0 = Date.now()
      await waitFor(async () => (await cacheManager.get('k')) === null, 'L1 to stop serving the old value', { timeoutMs: 5000, intervalMs: 50 })
      t.diagnostic(`the old value was gone ${Date.now() - t0} ms after the outside write`)
      assert.equal(await rr.cmd('ACL', 'SETUSER', 'default', '+client|tracking'), 'OK')
      await waitFor(() => busState() === 'live', 'the bus to be live again', { timeoutMs: 5000, intervalMs: 50 })
      assert.equal(await cacheManager.get('k'), null)
    } finally {
      await shutdownCacheSystem()
      rr.close()
      await server.stop()
    }
  })
})

describe('Redis faults', () => {
  test('OOM replies: set is L1 only and counted, B does not see it; rate limits apply onRedisError; writes resume after', async () => {
    const server = await startRedis()
    const rr = await raw(server.port)
    try {
      const ns = uniqueNamespace('oom')
      await useAB({ host: '127.0.0.1', port: server.port, namespace: ns })
      assert.equal(await rr.cmd('CONFIG', 'SET', 'maxmemory-policy', 'noeviction'), 'OK')
      assert.equal(await rr.cmd('CONFIG', 'SET', 'maxmemory', '1'), 'OK')

      const errors = (await cacheManager.getStats()).l2.errors
      const s = await settle(cacheManager.set('k', 'v', { ttl: 60 }))
      assert.equal(s.ok, true, `a set during OOM is a set during an outage (L1 only), but it rejected: ${s.error?.stack}`)
      assert.ok((await cacheManager.getStats()).l2.errors > errors, 'counted as an L2 error')
      assert.equal(await cacheManager.get('k'), 'v', 'served from L1')
      assert.equal(await B.get('k'), null, 'never reported as stored in Redis')
      assert.equal(await rr.cmd('EXISTS', `${ns}:d:k`), 0)

      const deny = await redisRateLimiter.limit('oom:deny', { windowMs: 60_000, maxRequests: 1, onRedisError: 'deny' })
      assert.equal(deny.allowed, false, "onRedisError: 'deny' applies")
      const allow = await redisRateLimiter.limit('oom:allow', { windowMs: 60_000, maxRequests: 1, onRedisError: 'allow' })
      assert.equal(allow.allowed, true, "onRedisError: 'allow' applies")

      assert.equal(await rr.cmd('CONFIG', 'SET', 'maxmemory', '0'), 'OK')
      await waitFor(
        async () => {
          await cacheManager.set('k2', 'v2', { ttl: 60 })
          return (await B.get('k2')) === 'v2'
        },
        'writes to reach Redis again',
        { timeoutMs: 5000, intervalMs: 100 },
      )
    } finally {
      await shutdownCacheSystem()
      await parkB()
      rr.close()
      await server.stop()
    }
  })

  test('CLIENT PAUSE 3000 ALL: get, set, del, mget, invalidateByTags and limit each settle within commandTimeoutMs + 700 ms', async (t) => {
    const server = await startRedis()
    try {
      const ns = uniqueNamespace('pause')
      assert.deepEqual(await useA({ host: '127.0.0.1', port: server.port, namespace: ns }), { redis: 'connected' })
      await cacheManager.set('warm', 1, { ttl: 60 })
      const pauser = await raw(server.port)
      assert.equal(await pauser.cmd('CLIENT', 'PAUSE', '3000', 'ALL'), 'OK')
      const pausedAt = Date.now()
      pauser.close()
      const bound = TIMEOUTS.commandTimeoutMs + 700
      const calls = [
        ['get', () => cacheManager.get('absent')],
        ['set', () => cacheManager.set('k', 'v', { ttl: 60 })],
        ['del', () => cacheManager.del('k')],
        ['mget', () => cacheManager.mget(['a', 'b'])],
        ['invalidateByTags', () => cacheManager.invalidateByTags(['t'])],
        ['limit', () => redisRateLimiter.limit('pause', { windowMs: 1000, maxRequests: 5 })],
      ]
      const report = []
      for (const [what, call] of calls) {
        const s = await settle(call())
        report.push(`${what} ${s.ok ? 'resolved' : `rejected ${s.error.code}`} in ${s.ms.toFixed(0)} ms`)
        assert.ok(s.ms < bound, `${what} took ${s.ms.toFixed(0)} ms (bound ${bound} ms)`)
      }
      const during = Date.now() - pausedAt
      t.diagnostic(`${report.join('; ')} (all within ${during} ms of the pause)`)
      assert.ok(during < 3000, `the calls ran while Redis was paused (${during} ms)`)
      // And service returns once the pause is over.
      await waitFor(
        async () => {
          await cacheManager.set('after', 'pause', { ttl: 60 })
          return (await rawGet(server.port, `${ns}:d:after`)) !== null
        },
        'a write to reach Redis after the pause',
        { timeoutMs: 6000, intervalMs: 100 },
      )
    } finally {
      await shutdownCacheSystem()
      await server.stop()
    }
  })

  test('del, invalidateKeys, invalidateByTags and invalidatePattern while Redis is down reject with "did not reach Redis"; the key leaves L1 anyway', async (t) => {
    const server = await startRedis()
    try {
      const ns = uniqueNamespace('down')
      assert.deepEqual(await useA({ host: '127.0.0.1', port: server.port, namespace: ns }), { redis: 'connected' })
      await waitFor(() => busState() === 'live', 'the bus to be live')
      for (const k of ['gone', 'gone2', 'kept']) await cacheManager.set(k, `${k}-value`, { ttl: 60 })
      assert.equal(await cacheManager.get('gone'), 'gone-value')
      await server.stop()
      const codes = ['ERR_STRATACACHE_CONNECTION', 'ERR_STRATACACHE_TIMEOUT']
      const t0 = Date.now()
      await rejectsWith(within(cacheManager.del('gone'), 3000, 'del settles'), codes, /did not reach Redis/)
      const afterDel = Date.now() - t0
      const gone = await cacheManager.get('gone')
      const kept = await cacheManager.get('kept')
      assert.equal(gone, null, 'the deleted key is not served from L1')
      assert.equal(kept, 'kept-value', 'an untouched key is still served from L1 (reads fall back to L1), so the null above is the del’s doing')
      t.diagnostic(`del rejected after ${afterDel} ms`)
      await rejectsWith(within(cacheInvalidator.invalidateKeys(['gone2']), 3000, 'invalidateKeys settles'), codes, /did not reach Redis/)
      assert.equal(await cacheManager.get('gone2'), null)
      await rejectsWith(within(cacheManager.invalidateByTags(['t']), 3000, 'invalidateByTags settles'), codes, /did not reach Redis/)
      await rejectsWith(within(cacheInvalidator.invalidatePattern('g*'), 3000, 'invalidatePattern settles'), codes, /did not reach Redis/)
    } finally {
      await shutdownCacheSystem()
      await server.stop()
    }
  })
})

/** GET `key` over a fresh raw connection (bulk reply or null). */
async function rawGet(port, key) {
  const c = await raw(port)
  try {
    return await c.cmd('GET', key)
  } finally {
    c.close()
  }
}
