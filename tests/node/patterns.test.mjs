// The usage guide's Cache Patterns through the npm package: cacheAside (single-flight in one process and
// across processes, errors, null results, bad input), getWithRefresh, writeThrough, writeBehind /
// WriteBehindPattern and readThrough. One throwaway redis-server and one namespace for this file.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  cacheAside,
  cacheManager,
  createRedisClient,
  readThrough,
  shutdownCacheSystem,
  writeBehind,
  WriteBehindPattern,
  writeThrough,
} from 'stratacache'
import { describeRun, makeSandbox, raw, runNode, startRedis, uniqueNamespace } from './support.mjs'

const SUPPORT_URL = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'support.mjs')).href
const ns = uniqueNamespace('pat')
let redis
let r
let sandbox

const dataKey = (key) => `${ns}:d:${key}`
const lockKey = (key) => `${ns}:lk:${key}`
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

class MyError extends Error {
  constructor(message) {
    super(message)
    this.name = 'MyError'
  }
}

/** An async function that counts its calls in `.calls` (and its arguments in `.args`). */
function counted(fn) {
  const f = async (...args) => {
    f.calls++
    f.args.push(args)
    return fn(...args)
  }
  f.calls = 0
  f.args = []
  return f
}

/** The rejection of `promise` (fails when it resolves). */
async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  assert.fail('expected a rejection, but the promise resolved')
}

/** Assert `promise` rejects with a stratacache error of `code` whose message matches every pattern. */
async function rejectsWith(promise, code, ...patterns) {
  const error = await rejection(promise)
  assert.equal(error?.code, code, `wrong code for: ${error?.stack ?? error}`)
  for (const p of patterns) assert.match(error.message, p)
  return error
}

/** Poll `fn` until it returns a truthy value (at most `timeoutMs`); returns that value. */
async function waitFor(fn, what, { timeoutMs = 3000, intervalMs = 10 } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

// A fake database for the guide's examples.
const db = {
  users: new Map([
    ['123', { id: 123, name: 'Alice', email: 'alice@example.com' }],
    ['7', { id: 7, name: 'Bob', email: 'bob@example.com' }],
  ]),
  tickets: new Map([['456', { id: 456, subject: 'Printer on fire', status: 'open' }]]),
}

// Registered at import time, before the cache system exists (no createRedisClient yet).
const earlyLoader = counted(async (key) => ({ early: true, key }))
readThrough.registerLoader('early:*', earlyLoader)

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  sandbox = makeSandbox()
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
})

after(async () => {
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
  sandbox?.remove()
})

/** A child ESM script connected to this file's Redis and namespace; `body` runs inside an async main. */
const childScript = (body) => `
import * as sc from 'stratacache'
import { raw } from ${JSON.stringify(SUPPORT_URL)}
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))
sc.createRedisClient({ host: '127.0.0.1', port: ${redis.port}, namespace: ${JSON.stringify(ns)} })
;(async () => {
  ${body}
})().catch((e) => { console.error('CHILD FAILED:', (e && e.stack) || e); process.exitCode = 1 })
`

/** Run a child script to completion; it must exit by itself with code 0. */
async function runChild(name, body, { timeoutMs = 15_000 } = {}) {
  const res = await runNode(sandbox.write(name, childScript(body)), { timeoutMs })
  assert.equal(res.timedOut, false, `the child did not exit by itself within ${timeoutMs} ms\n${describeRun(res)}`)
  assert.equal(res.code, 0, describeRun(res))
  return res
}

// ---------------------------------------------------------------------------------------------------

describe('cacheAside.get', () => {
  test("guide: Cache-Aside — a miss runs the loader once and stores the value with the ttl and tags", async () => {
    const loader = counted(async () => db.users.get('123'))
    const getUser = (userId) => cacheAside.get(`user:${userId}`, loader, { ttl: 300, tags: [`user:${userId}`] })
    const user = await getUser(123)
    assert.deepEqual(user, db.users.get('123'))
    assert.equal(loader.calls, 1)
    const pttl = await r.cmd('PTTL', dataKey('user:123'))
    assert.ok(pttl > 298_000 && pttl <= 300_000, `Redis expiry should be the ttl (300 s), got ${pttl} ms`)
    assert.deepEqual(await getUser(123), user)
    assert.equal(loader.calls, 1, 'the second call is a hit')
    // The tag was stored: invalidating it makes the next call load again.
    await cacheManager.invalidateByTags(['user:123'])
    assert.deepEqual(await getUser(123), user)
    assert.equal(loader.calls, 2, 'after invalidating the tag the loader runs again')
    await cacheManager.del('user:123')
  })

  test('a bad option fails on a hit exactly as on a miss (the core checks it; Python agrees)', async () => {
    await cacheManager.set('ca:badopt', { cached: true }, { ttl: 60 })
    const loader = counted(async () => 1)
    for (const key of ['ca:badopt', 'ca:badopt-miss']) {
      await assert.rejects(cacheAside.get(key, loader, { ttl: -1 }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /ttl/.test(e.message) && /-1/.test(e.message), key)
      await assert.rejects(cacheAside.get(key, loader, { tags: [''] }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT', key)
    }
    assert.equal(loader.calls, 0)
    // A caller joining a load in flight with a bad option still gets its own error.
    let release
    const gate = new Promise((r) => (release = r))
    const good = cacheAside.get('ca:badopt-join', async () => { await gate; return 1 }, { ttl: 30 })
    await assert.rejects(cacheAside.get('ca:badopt-join', loader, { ttl: -1 }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT')
    release()
    assert.equal(await good, 1)
  })

  test('a hit returns the cached value without calling the loader', async () => {
    await cacheManager.set('ca:hit', { cached: [1, 2, 3] }, { ttl: 60 })
    const loader = counted(async () => ({ cached: 'no' }))
    assert.deepEqual(await cacheAside.get('ca:hit', loader, { ttl: 60 }), { cached: [1, 2, 3] })
    assert.equal(loader.calls, 0)
  })

  test('a value only in Redis (written by another process) is a hit too', async () => {
    await runChild('aside-l2-hit.mjs', `
      await sc.cacheManager.set('ca:l2hit', { from: 'child' }, { ttl: 60 })
      await sc.shutdownCacheSystem()
    `)
    const loader = counted(async () => ({ from: 'loader' }))
    assert.deepEqual(await cacheAside.get('ca:l2hit', loader, { ttl: 60 }), { from: 'child' })
    assert.equal(loader.calls, 0)
  })

  test('1,000 concurrent callers on a cold key: one loader run, equal values, distinct objects', async () => {
    const key = 'ca:stampede'
    let lockPttl = null
    const loader = counted(async () => {
      lockPttl = await r.cmd('PTTL', lockKey(key))
      await sleep(50)
      return { n: 1, list: ['a', 'b'], nested: { deep: true } }
    })
    const results = await Promise.all(Array.from({ length: 1000 }, () => cacheAside.get(key, loader, { ttl: 60 })))
    assert.equal(loader.calls, 1, 'the loader must run exactly once')
    for (const v of results) assert.deepEqual(v, { n: 1, list: ['a', 'b'], nested: { deep: true } })
    assert.equal(new Set(results).size, 1000, 'every caller gets its own object')
    results[0].list.push('mutated')
    results[0].nested.deep = false
    assert.deepEqual(results[1], { n: 1, list: ['a', 'b'], nested: { deep: true } }, 'mutating one result must not change another')
    assert.deepEqual(await cacheAside.get(key, loader), { n: 1, list: ['a', 'b'], nested: { deep: true } }, 'nor the cached value')
    // The cross-process lock was held during the load, with the default 5 s lease, and released after.
    assert.ok(lockPttl > 0 && lockPttl <= 5000, `the load lock should be held with a 5 s lease while loading, PTTL was ${lockPttl}`)
    assert.equal(await r.cmd('EXISTS', lockKey(key)), 0, 'the lock is released after the load')
  })

  test('stampedes on several keys finishing together: each caller gets its own key\'s outcome', async () => {
    // The loads end at the same moment, so their shared completions reach JS in one batch: a value, a
    // null, an error and another value, each followed by its waiters.
    let release
    const gate = new Promise((r) => (release = r))
    const boom = new MyError('c failed')
    const loaders = {
      'ca:multi:a': async () => (await gate, { k: 'a' }),
      'ca:multi:b': async () => (await gate, null),
      'ca:multi:c': async () => {
        await gate
        throw boom
      },
      'ca:multi:d': async () => (await gate, ['d']),
    }
    const calls = []
    for (let i = 0; i < 20; i++) {
      for (const [key, loader] of Object.entries(loaders)) calls.push([key, cacheAside.get(key, loader, { ttl: 60 })])
    }
    await sleep(20)
    release()
    const settled = await Promise.allSettled(calls.map(([, p]) => p))
    for (const [i, [key]] of calls.entries()) {
      const s = settled[i]
      if (key === 'ca:multi:c') assert.equal(s.reason, boom, 'c rejects with the object its loader threw')
      else assert.deepEqual(s.value, { 'ca:multi:a': { k: 'a' }, 'ca:multi:b': null, 'ca:multi:d': ['d'] }[key], `wrong outcome for ${key}`)
    }
  })

  test('a get made after del resolved is not handed a load that began before it (contract §8)', async () => {
    let db = 'v1'
    const loader = async () => {
      const read = db // what the database held when this load began
      await sleep(150)
      return read
    }
    const first = cacheAside.get('ca:afterdel', loader, { ttl: 60 })
    await sleep(40) // the first load has read v1
    db = 'v2'
    await cacheManager.del('ca:afterdel')
    assert.equal(await cacheAside.get('ca:afterdel', loader, { ttl: 60 }), 'v2', 'got the load that began before the del')
    assert.equal(await first, 'v1')
  })

  test('a loader that throws: all 50 concurrent callers reject with that very object; nothing is cached', async () => {
    const key = 'ca:throws'
    const thrown = []
    const loader = counted(async () => {
      await sleep(30)
      const e = new MyError('database on fire')
      thrown.push(e)
      throw e
    })
    const settled = await Promise.allSettled(Array.from({ length: 50 }, () => cacheAside.get(key, loader, { ttl: 60 })))
    assert.equal(loader.calls, 1)
    assert.equal(thrown.length, 1)
    for (const s of settled) {
      assert.equal(s.status, 'rejected')
      assert.ok(s.reason instanceof MyError, `expected a MyError, got ${s.reason?.stack ?? s.reason}`)
      assert.equal(s.reason, thrown[0], 'every caller gets the very object the loader threw')
    }
    assert.equal(await r.cmd('EXISTS', dataKey(key)), 0, 'nothing is stored in Redis')
    assert.equal(await r.cmd('EXISTS', lockKey(key)), 0, 'the lock is released after a failed load')
    assert.equal(await cacheManager.get(key), null)
    // The next call runs the loader again (no waiting on a stale lock).
    const ok = counted(async () => 'recovered')
    const t0 = Date.now()
    assert.equal(await cacheAside.get(key, ok, { ttl: 60 }), 'recovered')
    assert.equal(ok.calls, 1)
    assert.ok(Date.now() - t0 < 1000, `the retry took ${Date.now() - t0} ms`)
  })

  test('a loader that throws synchronously (not async) rejects with its error too', async () => {
    const e = new MyError('sync')
    const error = await rejection(cacheAside.get('ca:sync-throw', () => { throw e }, { ttl: 60 }))
    assert.equal(error, e)
    assert.equal(await r.cmd('EXISTS', dataKey('ca:sync-throw')), 0)
  })

  for (const [label, result] of [['undefined', undefined], ['null', null]]) {
    test(`a loader returning ${label} resolves null and is not cached`, async () => {
      const key = `ca:nothing-${label}`
      const loader = counted(async () => result)
      assert.equal(await cacheAside.get(key, loader, { ttl: 60 }), null)
      assert.equal(await cacheAside.get(key, loader, { ttl: 60 }), null)
      assert.equal(loader.calls, 2, 'the loader runs again: nothing was cached')
      assert.equal(await r.cmd('EXISTS', dataKey(key)), 0)
    })
  }

  test('with negativeTtl a null result is cached for that long only', async () => {
    const key = 'ca:negative'
    const loader = counted(async () => (loader.calls > 1 ? 'found later' : undefined))
    assert.equal(await cacheAside.get(key, loader, { ttl: 60, negativeTtl: 0.4 }), null)
    assert.equal(await cacheAside.get(key, loader, { ttl: 60, negativeTtl: 0.4 }), null)
    assert.equal(loader.calls, 1, 'the null result is served from the cache')
    const pttl = await r.cmd('PTTL', dataKey(key))
    assert.ok(pttl > 0 && pttl <= 400, `Redis expiry should be negativeTtl (0.4 s), got ${pttl} ms`)
    await sleep(500)
    assert.equal(await cacheAside.get(key, loader, { ttl: 60, negativeTtl: 0.4 }), 'found later')
    assert.equal(loader.calls, 2)
    const pttl2 = await r.cmd('PTTL', dataKey(key))
    assert.ok(pttl2 > 58_000, `a real value gets the ttl, got ${pttl2} ms`)
  })

  for (const [label, value, type] of [
    ['a function inside', { name: 'x', fn: () => 1 }, /function/],
    ['a BigInt', { big: 10n }, /BigInt/],
  ]) {
    test(`a loader returning ${label} rejects with a TypeError naming the key; nothing is cached`, async () => {
      const key = `ca:unstorable-${label.replace(/\W+/g, '-')}`
      const callers = await Promise.allSettled([0, 1, 2].map(() => cacheAside.get(key, async () => value, { ttl: 60 })))
      const first = callers[0].reason
      assert.ok(first instanceof TypeError, `expected a TypeError, got ${first?.stack ?? first}`)
      assert.equal(first.code, 'ERR_STRATACACHE_SERIALIZATION')
      assert.ok(first.message.includes(key), `the message names the key: ${first.message}`)
      assert.match(first.message, type)
      for (const c of callers) assert.equal(c.reason, first)
      assert.equal(await r.cmd('EXISTS', dataKey(key)), 0)
      assert.equal(await r.cmd('EXISTS', lockKey(key)), 0)
    })
  }

  test('two processes on one cold key with a 200 ms loader: the loader runs once in total', async () => {
    const key = 'ca:xproc'
    const count = `${ns}:test:xproc-loads`
    const ready = `${ns}:test:xproc-ready`
    const go = `${ns}:test:xproc-go`
    const child = runNode(
      sandbox.write(
        'aside-xproc.mjs',
        childScript(`
          const r = await raw(${redis.port})
          await sc.initializeCacheSystem()
          await r.cmd('SET', ${JSON.stringify(ready)}, '1')
          const deadline = Date.now() + 10_000
          while ((await r.cmd('EXISTS', ${JSON.stringify(go)})) === 0) {
            if (Date.now() > deadline) throw new Error('no go signal')
            await sleep(1)
          }
          const startedAt = Date.now()
          const v = await sc.cacheAside.get(${JSON.stringify(key)}, async () => {
            await r.cmd('INCR', ${JSON.stringify(count)})
            await sleep(200)
            return { loadedBy: 'child', pid: process.pid }
          }, { ttl: 60 })
          console.log(JSON.stringify({ v, startedAt }))
          r.close()
          await sc.shutdownCacheSystem()
        `),
      ),
      { timeoutMs: 20_000 },
    )
    await waitFor(async () => (await r.cmd('EXISTS', ready)) === 1, 'the child to be ready', { timeoutMs: 15_000 })
    await r.cmd('SET', go, '1')
    const goAt = Date.now()
    const mine = await cacheAside.get(
      key,
      async () => {
        await r.cmd('INCR', count)
        await sleep(200)
        return { loadedBy: 'parent', pid: process.pid }
      },
      { ttl: 60 },
    )
    const res = await child
    assert.equal(res.code, 0, describeRun(res))
    const { v: theirs, startedAt } = JSON.parse(res.stdout.trim())
    assert.ok(startedAt - goAt < 150, `the child's get must start while the 200 ms load runs (it started ${startedAt - goAt} ms after go)`)
    assert.equal(Number(await r.cmd('GET', count)), 1, 'the loader must run once across both processes')
    assert.deepEqual(mine, theirs, 'both processes get the one loaded value')
  })

  test('a crashed lock holder (lock planted, no value coming) delays a get only until its lease ends', async () => {
    const key = 'ca:crashed'
    await r.cmd('SET', lockKey(key), 'dead', 'PX', '600')
    const loader = counted(async () => 'loaded after the dead lease')
    const t0 = Date.now()
    assert.equal(await cacheAside.get(key, loader, { ttl: 60 }), 'loaded after the dead lease')
    const ms = Date.now() - t0
    assert.equal(loader.calls, 1)
    assert.ok(ms >= 450, `the get must wait for the planted lock (took ${ms} ms)`)
    assert.ok(ms < 2000, `the get must complete soon after the 600 ms lease, well under the 5 s default (took ${ms} ms)`)
    assert.equal(await r.cmd('EXISTS', lockKey(key)), 0)
  })

  test('a holder that fills the key while the lock is held: the waiter takes its value and does not load', async () => {
    const key = 'ca:filled-by-other'
    await r.cmd('SET', lockKey(key), 'other-process', 'PX', '3000')
    const loader = counted(async () => 'mine')
    const pending = cacheAside.get(key, loader, { ttl: 60 })
    await sleep(150)
    // The "other process" (a child) fills the key; its lock stays until the lease ends.
    await runChild('aside-filler.mjs', `
      await sc.cacheManager.set(${JSON.stringify(key)}, 'theirs', { ttl: 60 })
      await sc.shutdownCacheSystem()
    `)
    const t0 = Date.now()
    assert.equal(await pending, 'theirs')
    assert.ok(Date.now() - t0 < 1000, 'the waiter sees the filled value within its polling interval')
    assert.equal(loader.calls, 0)
    await r.cmd('DEL', lockKey(key))
  })

  describe('bad input', () => {
    before(async () => {
      // The system is running (the synchronous L1 path is active).
      await cacheAside.get('ca:warm', async () => 1, { ttl: 60 })
    })

    test("get('') rejects with ERR_STRATACACHE_INVALID_KEY", async () => {
      const loader = counted(async () => 1)
      await rejectsWith(cacheAside.get('', loader), 'ERR_STRATACACHE_INVALID_KEY')
      assert.equal(loader.calls, 0)
    })

    test('a key that is not a string rejects with ERR_STRATACACHE_INVALID_KEY naming what it got', async () => {
      await rejectsWith(cacheAside.get(123, async () => 1), 'ERR_STRATACACHE_INVALID_KEY', /number 123/)
    })

    test('a loader that is not a function rejects with ERR_STRATACACHE_INVALID_ARGUMENT', async () => {
      await rejectsWith(cacheAside.get('ca:no-loader', 'not a function'), 'ERR_STRATACACHE_INVALID_ARGUMENT', /loader/, /string/)
      await rejectsWith(cacheAside.get('ca:no-loader', null), 'ERR_STRATACACHE_INVALID_ARGUMENT', /loader/, /null/)
    })

    test('ttl -1 rejects with "ttl must be > 0, got -1" and the loader does not run', async () => {
      const loader = counted(async () => 1)
      const e = await rejectsWith(cacheAside.get('ca:bad-ttl', loader, { ttl: -1 }), 'ERR_STRATACACHE_INVALID_ARGUMENT')
      assert.equal(e.message, 'ttl must be > 0, got -1')
      assert.equal(loader.calls, 0)
      assert.equal(await r.cmd('EXISTS', dataKey('ca:bad-ttl')), 0)
    })

    test('ttl -1 is refused on a hit too (options are checked on every call)', async () => {
      await cacheManager.set('ca:bad-ttl-hit', 'v', { ttl: 60 })
      await rejectsWith(cacheAside.get('ca:bad-ttl-hit', async () => 1, { ttl: -1 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /ttl must be > 0, got -1/)
    })

    test('an unknown option is refused by name', async () => {
      await rejectsWith(cacheAside.get('ca:typo', async () => 1, { tll: 60 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tll/)
    })

    test('ttl 0 and a NaN ttl are refused too', async () => {
      await rejectsWith(cacheAside.get('ca:bad-ttl', async () => 1, { ttl: 0 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /ttl must be > 0, got 0/)
      await rejectsWith(cacheAside.get('ca:bad-ttl', async () => 1, { ttl: NaN }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /ttl must be > 0, got NaN/)
    })

    test('a bad option is refused even while a load of the key is in flight', async () => {
      const key = 'ca:bad-opts-inflight'
      const loading = cacheAside.get(key, async () => {
        await sleep(100)
        return 'v'
      }, { ttl: 60 })
      await sleep(10)
      await rejectsWith(cacheAside.get(key, async () => 'x', { ttl: -1 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /ttl must be > 0, got -1/)
      assert.equal(await loading, 'v')
    })

    test('a huge lockLeaseMs is refused naming the option', async () => {
      await rejectsWith(cacheAside.get('ca:huge-lease', async () => 1, { lockLeaseMs: 1e30 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /lockLeaseMs/)
    })

    test('a cold get counts one L1 miss (not two)', async () => {
      const before = (await cacheManager.getStats()).l1.misses
      await cacheAside.get('ca:count-misses', async () => 1, { ttl: 60 })
      assert.equal((await cacheManager.getStats()).l1.misses - before, 1)
    })
  })
})

// ---------------------------------------------------------------------------------------------------

describe('cacheAside.getWithRefresh', () => {
  /** A loader taking 100 ms that returns { v: n } for its n-th call; `.finished` counts completed calls. */
  function versionedLoader() {
    const f = counted(async () => {
      const n = f.calls
      await sleep(100)
      f.finished++
      return { v: n }
    })
    f.finished = 0
    return f
  }

  test("guide: Cache-Aside with Proactive Refresh — a cold key loads and stores the value", async () => {
    const loader = counted(async () => [{ id: 1 }, { id: 2 }])
    const tickets = await cacheAside.getWithRefresh('tickets:recent', loader, {
      ttl: 300,
      refreshThreshold: 0.2, // Refresh when < 60s remain
      tags: ['tickets'],
    })
    assert.deepEqual(tickets, [{ id: 1 }, { id: 2 }])
    assert.equal(loader.calls, 1)
    const pttl = await r.cmd('PTTL', dataKey('tickets:recent'))
    assert.ok(pttl > 298_000 && pttl <= 300_000, `got ${pttl}`)
    // Far from expiry: a hit, no refresh.
    await cacheAside.getWithRefresh('tickets:recent', loader, { ttl: 300, refreshThreshold: 0.2, tags: ['tickets'] })
    await sleep(50)
    assert.equal(loader.calls, 1)
  })

  test('near expiry: the old value comes back at once and the new one appears in the background', async () => {
    const key = 'rf:one'
    const loader = versionedLoader()
    const opts = { ttl: 1, refreshThreshold: 0.5 }
    assert.deepEqual(await cacheAside.getWithRefresh(key, loader, opts), { v: 1 })
    await sleep(600) // 0.4 s left < 0.5 × 1 s
    const t0 = performance.now()
    const old = await cacheAside.getWithRefresh(key, loader, opts)
    const ms = performance.now() - t0
    assert.deepEqual(old, { v: 1 }, 'the current value is returned')
    assert.equal(loader.finished, 1, 'the call did not wait for the refresh')
    assert.ok(ms < 100, `the call must return well before the 100 ms loader finishes (took ${ms.toFixed(1)} ms)`)
    const fresh = await waitFor(async () => {
      const v = await cacheManager.get(key)
      return v?.v === 2 ? v : null
    }, 'the refreshed value', { timeoutMs: 2000 })
    assert.deepEqual(fresh, { v: 2 })
    assert.equal(loader.calls, 2)
    const pttl = await r.cmd('PTTL', dataKey(key))
    assert.ok(pttl > 700, `the refresh restarts the ttl in Redis (PTTL ${pttl} ms)`)
    assert.deepEqual(await cacheAside.getWithRefresh(key, loader, opts), { v: 2 })
  })

  test('20 concurrent near-expiry calls trigger one refresh', async () => {
    const key = 'rf:many'
    const loader = versionedLoader()
    const opts = { ttl: 1, refreshThreshold: 0.5 }
    await cacheAside.getWithRefresh(key, loader, opts)
    await sleep(600)
    const results = await Promise.all(Array.from({ length: 20 }, () => cacheAside.getWithRefresh(key, loader, opts)))
    for (const v of results) assert.deepEqual(v, { v: 1 })
    await waitFor(async () => (await cacheManager.get(key))?.v === 2, 'the refreshed value', { timeoutMs: 2000 })
    await sleep(150)
    assert.equal(loader.calls, 2, 'one initial load + exactly one refresh')
  })

  test('a failing refresh keeps the old value', async () => {
    const key = 'rf:fails'
    const opts = { ttl: 1, refreshThreshold: 0.5 }
    await cacheAside.getWithRefresh(key, async () => 'old', opts)
    await sleep(600)
    const failing = counted(async () => {
      throw new MyError('refresh failed')
    })
    assert.equal(await cacheAside.getWithRefresh(key, failing, opts), 'old')
    await waitFor(() => failing.calls === 1, 'the refresh attempt', { timeoutMs: 2000 })
    await sleep(50)
    assert.equal(await cacheManager.get(key), 'old')
  })

  test('refreshThreshold 1.5 is refused naming the option and the value', async () => {
    const loader = counted(async () => 1)
    await rejectsWith(cacheAside.getWithRefresh('rf:bad', loader, { ttl: 60, refreshThreshold: 1.5 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /refreshThreshold/, /1\.5/)
    await rejectsWith(cacheAside.getWithRefresh('rf:bad', loader, { ttl: 60, refreshThreshold: 0 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /refreshThreshold/)
    assert.equal(loader.calls, 0)
  })

  test('a missing ttl or refreshThreshold is refused naming the option', async () => {
    const loader = counted(async () => 1)
    await rejectsWith(cacheAside.getWithRefresh('rf:bad', loader, { refreshThreshold: 0.5 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /\bttl\b/)
    await rejectsWith(cacheAside.getWithRefresh('rf:bad', loader, { ttl: 60 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /refreshThreshold/)
    await rejectsWith(cacheAside.getWithRefresh('rf:bad', loader), 'ERR_STRATACACHE_INVALID_ARGUMENT', /refreshThreshold|ttl/)
    assert.equal(loader.calls, 0)
  })
})

// ---------------------------------------------------------------------------------------------------

describe('writeThrough.write', () => {
  test("guide: Write-Through — the writer gets the original object first; then the cache has the value", async () => {
    const existingUser = { id: 7, name: 'Bob', email: 'bob@example.com' }
    await cacheManager.set('user:7', existingUser, { ttl: 300 })
    let seen
    let cachedDuringWrite
    const writer = counted(async (data) => {
      seen = data
      cachedDuringWrite = await cacheManager.get('user:7')
    })
    const value = { ...existingUser, ...{ name: 'Robert' } }
    await writeThrough.write('user:7', value, writer, { ttl: 300, tags: ['user:7'] })
    assert.equal(writer.calls, 1)
    assert.equal(seen, value, 'the writer is called with the very object given (not a copy)')
    assert.deepEqual(cachedDuringWrite, existingUser, 'the cache is updated only after the writer')
    assert.deepEqual(await cacheManager.get('user:7'), value)
    const pttl = await r.cmd('PTTL', dataKey('user:7'))
    assert.ok(pttl > 298_000, `got ${pttl}`)
    await cacheManager.invalidateByTags(['user:7'])
    assert.equal(await cacheManager.get('user:7'), null, 'the tags were stored')
  })

  test('a failing writer: rejects with its own error; the cache and Redis are untouched', async () => {
    const key = 'wt:fails'
    await cacheManager.set(key, { version: 1 }, { ttl: 60 })
    const before = await r.cmd('GET', dataKey(key))
    const e = new MyError('db write failed')
    const error = await rejection(writeThrough.write(key, { version: 2 }, async () => { throw e }, { ttl: 60 }))
    assert.equal(error, e, 'the writer\'s own error object')
    assert.deepEqual(await cacheManager.get(key), { version: 1 })
    assert.deepEqual(await r.cmd('GET', dataKey(key)), before, 'the Redis entry is byte-for-byte unchanged')

    const fresh = 'wt:fails-fresh'
    assert.equal(await rejection(writeThrough.write(fresh, 1, () => { throw e })), e, 'a synchronous throw too')
    assert.equal(await r.cmd('EXISTS', dataKey(fresh)), 0)
    assert.equal(await cacheManager.get(fresh), null)
  })

  test('success updates the cache, and another process reads the new value', async () => {
    const key = 'wt:shared'
    await writeThrough.write(key, { written: 'by parent', list: [1, 2] }, async () => {}, { ttl: 60 })
    const res = await runChild('wt-read.mjs', `
      console.log(JSON.stringify(await sc.cacheManager.get(${JSON.stringify(key)})))
      await sc.shutdownCacheSystem()
    `)
    assert.deepEqual(JSON.parse(res.stdout.trim()), { written: 'by parent', list: [1, 2] })
  })

  test('bad input is refused before the writer runs', async () => {
    const writer = counted(async () => {})
    const te = await rejection(writeThrough.write('wt:bad', { f: () => 1 }, writer))
    assert.ok(te instanceof TypeError)
    assert.ok(te.message.includes('wt:bad'), te.message)
    await rejectsWith(writeThrough.write('', 1, writer), 'ERR_STRATACACHE_INVALID_KEY')
    await rejectsWith(writeThrough.write('wt:bad', 1, writer, { ttl: -1 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /ttl must be > 0, got -1/)
    await rejectsWith(writeThrough.write('wt:bad', 1, 'nope'), 'ERR_STRATACACHE_INVALID_ARGUMENT', /writer/)
    assert.equal(writer.calls, 0)
  })
})

// ---------------------------------------------------------------------------------------------------

describe('writeBehind / WriteBehindPattern', () => {
  test('bounds: a full queue rejects a new key in time and changes nothing; a stuck writer holds neither the others nor shutdown', async () => {
    const wb = new WriteBehindPattern(undefined, { flushIntervalMs: 60_000, batchSize: 1_000_000, maxQueueSize: 50, queueFullTimeoutMs: 100 })
    const writer = counted(async () => {})
    for (let i = 0; i < 50; i++) await wb.write(`wbq:${i}`, i, writer)
    const t0 = performance.now()
    await assert.rejects(wb.write('wbq:extra', 1, writer), (e) => e.code === 'ERR_STRATACACHE_TIMEOUT' && /queue is full \(50 keys waiting/.test(e.message))
    assert.ok(performance.now() - t0 >= 90, 'it waited for room first')
    assert.equal(await cacheManager.get('wbq:extra'), null, 'a refused write leaves the cache alone')
    await wb.write('wbq:3', 'replaced', writer) // a queued key needs no room
    assert.equal(wb.stats().pending, 50)
    assert.equal(await wb.flush(), 50)
    await wb.write('wbq:extra', 1, writer)

    const given = []
    const conc = new WriteBehindPattern(undefined, { flushIntervalMs: 30, maxRetries: 0, concurrency: 4, writeTimeoutMs: 300, onError: (e, key) => given.push([key, e.code]) })
    const stuck = () => new Promise(() => {})
    const ok = counted(async () => {})
    await conc.write('wbs:stuck', 0, stuck)
    for (let i = 0; i < 10; i++) await conc.write(`wbs:${i}`, i, ok)
    await waitFor(() => ok.calls === 10, 'ten writes behind a stuck one', { timeoutMs: 2000 })
    await waitFor(() => given.length === 1, 'the stuck write given up at writeTimeoutMs', { timeoutMs: 2000 })
    assert.deepEqual(given, [['wbs:stuck', 'ERR_STRATACACHE_TIMEOUT']])
    await assert.rejects(async () => new WriteBehindPattern(undefined, { maxQueueSize: 0 }).write('x', 1, ok), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /maxQueueSize must be a whole number 1\.\.10000000, got 0/.test(e.message))
  })

  test("guide: Write-Behind — cached at once, written to the 'database' on flush", async () => {
    const analyticsDb = { rows: [], insert: counted(async (row) => analyticsDb.rows.push(row)) }
    // Create write-behind instance
    const analyticsCache = new WriteBehindPattern(undefined, {
      flushIntervalMs: 5000, // Flush every 5 seconds
      maxRetries: 3,
      batchSize: 10,
    })
    async function trackEvent(event) {
      await analyticsCache.write(
        `event:${event.id}`,
        event,
        async (data) => {
          await analyticsDb.insert(data)
        },
        { ttl: 60 },
      )
    }
    const event = { id: '123', type: 'page_view', page: '/home' }
    await trackEvent(event)
    assert.deepEqual(await cacheManager.get('event:123'), event, 'cached immediately')
    const pttl = await r.cmd('PTTL', dataKey('event:123'))
    assert.ok(pttl > 58_000 && pttl <= 60_000, `got ${pttl}`)
    assert.equal(analyticsDb.insert.calls, 0, 'not written yet')
    assert.deepEqual(analyticsCache.stats(), { pending: 1, written: 0, coalesced: 0, retries: 0, failed: 0 })
    assert.equal(await analyticsCache.flush(), 1)
    assert.equal(analyticsDb.insert.calls, 1)
    assert.equal(analyticsDb.rows[0], event, 'the writer gets the original object')
    assert.deepEqual(analyticsCache.stats(), { pending: 0, written: 1, coalesced: 0, retries: 0, failed: 0 })
    assert.equal(await analyticsCache.flush(), 0, 'nothing left to flush')
  })

  test('batchSize 3: the third queued write flushes without waiting for the interval', async () => {
    const wb = new WriteBehindPattern(undefined, { flushIntervalMs: 30_000, maxRetries: 0, batchSize: 3 })
    const writer = counted(async () => {})
    await wb.write('wb:batch:1', 1, writer)
    await wb.write('wb:batch:2', 2, writer)
    await sleep(150)
    assert.equal(writer.calls, 0, 'two writes wait for the interval')
    await wb.write('wb:batch:3', 3, writer)
    await waitFor(() => writer.calls === 3, 'the batch of 3 to be written', { timeoutMs: 2000 })
    assert.deepEqual(writer.args.map((a) => a[0]).sort(), [1, 2, 3])
    // Counted once each writer's result is back in the core, just after the writer ran.
    await waitFor(() => wb.stats().written === 3, 'the 3 writes counted', { timeoutMs: 1000 })
    assert.deepEqual(wb.stats(), { pending: 0, written: 3, coalesced: 0, retries: 0, failed: 0 })
    assert.equal(writer.calls, 3)
  })

  test('flushIntervalMs: queued writes are written on the interval without flush()', async () => {
    const wb = new WriteBehindPattern(undefined, { flushIntervalMs: 200, maxRetries: 0, batchSize: 100 })
    const writer = counted(async () => {})
    const t0 = Date.now()
    await wb.write('wb:interval', 'x', writer)
    await waitFor(() => writer.calls === 1, 'the interval flush', { timeoutMs: 2000 })
    assert.ok(Date.now() - t0 >= 150, `written after ${Date.now() - t0} ms, before the 200 ms interval`)
  })

  test('coalescing: 3 writes to one key run the writer once, with the last value', async () => {
    const wb = new WriteBehindPattern(undefined, { flushIntervalMs: 30_000, maxRetries: 0, batchSize: 100 })
    const writer = counted(async () => {})
    const v3 = { version: 3 }
    await wb.write('wb:coalesce', { version: 1 }, writer)
    await wb.write('wb:coalesce', { version: 2 }, writer)
    await wb.write('wb:coalesce', v3, writer)
    assert.deepEqual(await cacheManager.get('wb:coalesce'), { version: 3 }, 'the cache has the last value at once')
    assert.equal(wb.stats().pending, 1)
    assert.equal(await wb.flush(), 1)
    assert.equal(writer.calls, 1)
    assert.equal(writer.args[0][0], v3)
    assert.deepEqual(wb.stats(), { pending: 0, written: 1, coalesced: 2, retries: 0, failed: 0 })
  })

  test('a writer that fails twice then succeeds is retried with backoff; no onError', async () => {
    const errors = []
    const wb = new WriteBehindPattern(undefined, { flushIntervalMs: 30_000, maxRetries: 3, batchSize: 100, onError: (...a) => errors.push(a) })
    const writer = counted(async () => {
      if (writer.calls <= 2) throw new MyError(`attempt ${writer.calls}`)
    })
    await wb.write('wb:retry', 'v', writer)
    const t0 = Date.now()
    assert.equal(await wb.flush(), 1)
    const ms = Date.now() - t0
    assert.equal(writer.calls, 3)
    assert.ok(ms >= 140, `two retries back off 50 + 100 ms, took ${ms} ms`)
    assert.deepEqual(wb.stats(), { pending: 0, written: 1, coalesced: 0, retries: 2, failed: 0 })
    await sleep(50)
    assert.deepEqual(errors, [])
  })

  test('a writer that always fails: onError(error, key, value) once, with the very error thrown', async () => {
    const calls = []
    const wb = new WriteBehindPattern(undefined, {
      flushIntervalMs: 30_000,
      maxRetries: 2,
      batchSize: 100,
      onError: (error, key, value) => calls.push({ error, key, value }),
    })
    const thrown = []
    const writer = counted(async () => {
      const e = new MyError(`attempt ${writer.calls}`)
      thrown.push(e)
      throw e
    })
    const value = { id: 'e1', nested: [1, { two: 2 }] }
    await wb.write('wb:dead', value, writer, { ttl: 60 })
    assert.equal(await wb.flush(), 0)
    assert.equal(writer.calls, 3, 'the first attempt + maxRetries (2)')
    await waitFor(() => calls.length >= 1, 'onError', { timeoutMs: 2000 })
    await sleep(100)
    assert.equal(calls.length, 1, 'onError is called once per item given up')
    const [call] = calls
    assert.equal(call.error, thrown[thrown.length - 1], 'the very error object the writer threw (the last attempt)')
    assert.ok(call.error instanceof MyError)
    assert.equal(call.key, 'wb:dead')
    assert.deepEqual(call.value, value)
    assert.deepEqual(wb.stats(), { pending: 0, written: 0, coalesced: 0, retries: 2, failed: 1 })
    assert.deepEqual(await cacheManager.get('wb:dead'), value, 'the cached value stays')
  })

  test('flush() drains several queued keys; stats() count them', async () => {
    const wb = new WriteBehindPattern(undefined, { flushIntervalMs: 30_000, maxRetries: 0, batchSize: 100 })
    assert.deepEqual(wb.stats(), { pending: 0, written: 0, coalesced: 0, retries: 0, failed: 0 })
    assert.equal(await wb.flush(), 0)
    const writer = counted(async () => {
      await sleep(5)
    })
    for (let i = 0; i < 10; i++) await wb.write(`wb:drain:${i}`, i, writer)
    await wb.write('wb:drain:0', 'again', writer)
    assert.deepEqual(wb.stats(), { pending: 10, written: 0, coalesced: 1, retries: 0, failed: 0 })
    assert.equal(await wb.flush(), 10)
    assert.equal(writer.calls, 10)
    assert.deepEqual(wb.stats(), { pending: 0, written: 10, coalesced: 1, retries: 0, failed: 0 })
  })

  test('bad write input is refused and nothing is queued', async () => {
    const wb = new WriteBehindPattern(undefined, { flushIntervalMs: 30_000 })
    const writer = counted(async () => {})
    const te = await rejection(wb.write('wb:bad', { n: 1n }, writer))
    assert.ok(te instanceof TypeError && te.message.includes('wb:bad'), String(te))
    await rejectsWith(wb.write('', 1, writer), 'ERR_STRATACACHE_INVALID_KEY')
    await rejectsWith(wb.write('wb:bad', 1, writer, { ttl: -1 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /ttl must be > 0, got -1/)
    await rejectsWith(wb.write('wb:bad', 1, undefined), 'ERR_STRATACACHE_INVALID_ARGUMENT', /writer/)
    assert.equal(wb.stats().pending, 0)
    assert.equal(await r.cmd('EXISTS', dataKey('wb:bad')), 0)
  })

  test('bad WriteBehindPattern options are refused naming the option', async () => {
    assert.throws(() => new WriteBehindPattern(undefined, { onError: 'log it' }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /onError/.test(e.message))
    let error
    try {
      const wb = new WriteBehindPattern(undefined, { batchSize: 0 })
      await wb.write('wb:bad-opts', 1, async () => {})
    } catch (e) {
      error = e
    }
    assert.equal(error?.code, 'ERR_STRATACACHE_INVALID_ARGUMENT', String(error))
    assert.match(error.message, /batchSize/)
  })

  test('a huge flushIntervalMs is refused naming the option instead of aborting the process', async () => {
    const res = await runNode(
      sandbox.write('wb-huge-interval.mjs', childScript(`
        const wb = new sc.WriteBehindPattern(undefined, { flushIntervalMs: 1e30 })
        try {
          await wb.write('wb:huge', 1, async () => {})
          console.log('ACCEPTED')
        } catch (e) {
          console.log(e.code + ' ' + e.message)
        }
        await sc.shutdownCacheSystem()
      `)),
      { timeoutMs: 15_000 },
    )
    assert.equal(res.signal, null, describeRun(res))
    assert.equal(res.code, 0, describeRun(res))
    assert.match(res.stdout, /^ERR_STRATACACHE_INVALID_ARGUMENT .*flushIntervalMs/)
  })

  test('shutdownCacheSystem() flushes a queue with a long interval, and the process then exits by itself', async () => {
    const res = await runChild('wb-shutdown.mjs', `
      const wb = new sc.WriteBehindPattern(undefined, { flushIntervalMs: 60_000, maxRetries: 3, batchSize: 100 })
      const write = (key, value) => wb.write(key, value, async (data) => {
        await sleep(20)
        console.log('WROTE ' + JSON.stringify(data))
      }, { ttl: 60 })
      await write('wb:shutdown:1', { n: 1 })
      await write('wb:shutdown:2', { n: 2 })
      await sc.writeBehind.write('wb:shutdown:default', { n: 3 }, async (data) => console.log('WROTE ' + JSON.stringify(data)))
      console.log('QUEUED ' + JSON.stringify(wb.stats()))
      await sc.shutdownCacheSystem()
      console.log('SHUT DOWN')
    `, { timeoutMs: 20_000 })
    const lines = res.stdout.trim().split('\n')
    assert.deepEqual(lines[0], 'QUEUED ' + JSON.stringify({ pending: 2, written: 0, coalesced: 0, retries: 0, failed: 0 }))
    assert.deepEqual(lines.slice(1, -1).sort(), ['WROTE {"n":1}', 'WROTE {"n":2}', 'WROTE {"n":3}'])
    assert.equal(lines.at(-1), 'SHUT DOWN', 'every writer ran before shutdownCacheSystem() resolved')
    assert.ok(res.ms < 10_000, `the child exited by itself after ${res.ms} ms (the 60 s interval must not hold it)`)
    assert.deepEqual(await cacheManager.get('wb:shutdown:1'), { n: 1 })
  })

  test('the default writeBehind instance caches at once and writes within its 1 s interval', async () => {
    const writer = counted(async () => {})
    const value = { default: true }
    const t0 = Date.now()
    await writeBehind.write('wb:default', value, writer, { ttl: 60 })
    assert.deepEqual(await cacheManager.get('wb:default'), value)
    await waitFor(() => writer.calls === 1, 'the default 1 s flush', { timeoutMs: 3000 })
    const ms = Date.now() - t0
    assert.ok(ms < 2500, `written after ${ms} ms`)
    assert.equal(writer.args[0][0], value)
    assert.ok(writeBehind.stats().written >= 1)
  })
})

// ---------------------------------------------------------------------------------------------------

describe('readThrough', () => {
  const userLoader = counted(async (key) => {
    const userId = key.split(':')[1]
    return db.users.get(userId)
  })
  const ticketLoader = counted(async (key) => {
    const ticketId = key.split(':')[1]
    return db.tickets.get(ticketId)
  })

  before(() => {
    // Register loaders (the guide's)
    readThrough.registerLoader('user:*', userLoader)
    readThrough.registerLoader('ticket:*', ticketLoader)
  })

  test('guide: Read-Through — read() loads through the matching loader and stores with the ttl', async () => {
    await cacheManager.del('user:123')
    const user = await readThrough.read('user:123', { ttl: 300 })
    const ticket = await readThrough.read('ticket:456', { ttl: 180 })
    assert.deepEqual(user, db.users.get('123'))
    assert.deepEqual(ticket, db.tickets.get('456'))
    assert.deepEqual(userLoader.args.at(-1), ['user:123'], 'the loader gets the key')
    assert.deepEqual(ticketLoader.args.at(-1), ['ticket:456'])
    const pUser = await r.cmd('PTTL', dataKey('user:123'))
    const pTicket = await r.cmd('PTTL', dataKey('ticket:456'))
    assert.ok(pUser > 298_000 && pUser <= 300_000, `user ttl ${pUser}`)
    assert.ok(pTicket > 178_000 && pTicket <= 180_000, `ticket ttl ${pTicket}`)
    const calls = ticketLoader.calls
    assert.deepEqual(await readThrough.read('ticket:456', { ttl: 180 }), db.tickets.get('456'))
    assert.equal(ticketLoader.calls, calls, 'the second read is a hit')
  })

  test('a cached value is served without calling the loader', async () => {
    await cacheManager.set('user:999', { cached: true }, { ttl: 60 })
    const calls = userLoader.calls
    assert.deepEqual(await readThrough.read('user:999'), { cached: true })
    assert.equal(userLoader.calls, calls)
  })

  test('a loader finding nothing resolves null and caches nothing', async () => {
    assert.equal(await readThrough.read('user:404'), null)
    assert.equal(await r.cmd('EXISTS', dataKey('user:404')), 0)
  })

  test('the most specific pattern wins: exact beats wildcard, the longer literal part wins', async () => {
    const by = (name) => async (key) => ({ by: name, key })
    // Least specific registered first ...
    readThrough.registerLoader('spa:*', by('spa:*'))
    readThrough.registerLoader('spa:?dmin:*', by('spa:?dmin:*'))
    readThrough.registerLoader('spa:admin:*', by('spa:admin:*'))
    readThrough.registerLoader('spa:admin:root', by('spa:admin:root'))
    // ... and most specific registered first.
    readThrough.registerLoader('spb:admin:root', by('spb:admin:root'))
    readThrough.registerLoader('spb:admin:*', by('spb:admin:*'))
    readThrough.registerLoader('spb:?dmin:*', by('spb:?dmin:*'))
    readThrough.registerLoader('spb:*', by('spb:*'))
    for (const p of ['spa', 'spb']) {
      assert.deepEqual(await readThrough.read(`${p}:admin:root`), { by: `${p}:admin:root`, key: `${p}:admin:root` })
      assert.deepEqual(await readThrough.read(`${p}:admin:42`), { by: `${p}:admin:*`, key: `${p}:admin:42` })
      assert.deepEqual(await readThrough.read(`${p}:xdmin:42`), { by: `${p}:?dmin:*`, key: `${p}:xdmin:42` })
      assert.deepEqual(await readThrough.read(`${p}:user:1`), { by: `${p}:*`, key: `${p}:user:1` })
    }
  })

  test('registering a pattern again replaces its loader', async () => {
    readThrough.registerLoader('again:*', async () => 'first')
    readThrough.registerLoader('again:*', async () => 'second')
    assert.equal(await readThrough.read('again:1'), 'second')
  })

  test('no matching loader: ERR_STRATACACHE_NO_LOADER naming the key', async () => {
    await rejectsWith(readThrough.read('nomatch:1'), 'ERR_STRATACACHE_NO_LOADER', /nomatch:1/)
    await rejectsWith(readThrough.read('users:1'), 'ERR_STRATACACHE_NO_LOADER', /users:1/) // 'user:*' does not match 'users:1'
  })

  test('200 concurrent reads of a cold key: the loader runs once', async () => {
    const loader = counted(async (key) => {
      await sleep(50)
      return { key, loaded: true }
    })
    readThrough.registerLoader('burst:*', loader)
    const results = await Promise.all(Array.from({ length: 200 }, () => readThrough.read('burst:1', { ttl: 60 })))
    assert.equal(loader.calls, 1)
    for (const v of results) assert.deepEqual(v, { key: 'burst:1', loaded: true })
    assert.equal(new Set(results).size, 200, 'each caller gets its own object')
  })

  test('a loader that throws: every concurrent reader gets that very error; nothing cached', async () => {
    const e = new MyError('no such row')
    readThrough.registerLoader('broken:*', async () => {
      await sleep(20)
      throw e
    })
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => readThrough.read('broken:1')))
    for (const s of settled) assert.equal(s.reason, e)
    assert.equal(await r.cmd('EXISTS', dataKey('broken:1')), 0)
  })

  test('loaders registered at import time, before the system started, work', async () => {
    assert.deepEqual(await readThrough.read('early:1', { ttl: 60 }), { early: true, key: 'early:1' })
    assert.equal(earlyLoader.calls, 1)
  })

  test('a loader registered after the system started works; unregisterLoader removes it', async () => {
    readThrough.registerLoader('late:*', async (key) => `late ${key}`)
    assert.equal(await readThrough.read('late:1'), 'late late:1')
    assert.equal(readThrough.unregisterLoader('late:*'), true)
    assert.equal(readThrough.unregisterLoader('late:*'), false)
    assert.equal(await readThrough.read('late:1'), 'late late:1', 'a cached value is still served')
    await rejectsWith(readThrough.read('late:2'), 'ERR_STRATACACHE_NO_LOADER', /late:2/)
  })

  test('bad input', async () => {
    assert.throws(() => readThrough.registerLoader('', async () => 1), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT')
    assert.throws(() => readThrough.registerLoader('x:*', 'nope'), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /loader/.test(e.message))
    await rejectsWith(readThrough.read(''), 'ERR_STRATACACHE_INVALID_KEY')
    await rejectsWith(readThrough.read('user:7', { ttl: -1 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /ttl must be > 0, got -1/)
  })
})
