// Process lifecycle of the npm package, each case in its own child node process with a hard timeout:
// importing opens nothing, shutdown lets the process exit by itself, use after shutdown, Redis down at
// start (degraded mode), and one singleton shared by ESM and CommonJS.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { describeRun, freePort, makeSandbox, raw, runNode, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('life')
let redis
let r
let sandbox

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  sandbox = makeSandbox()
})

after(async () => {
  r?.close()
  await redis?.stop()
  sandbox?.remove()
})

/** Environment that points the zero-config singletons at the test server. */
const env = () => ({ REDIS_URL: redis.url, STRATACACHE_NAMESPACE: ns })

async function connectionsReceived() {
  const info = (await r.cmd('INFO', 'stats')).toString()
  return Number(/total_connections_received:(\d+)/.exec(info)[1])
}

/** Run a child script; it must exit by itself (no timeout kill) with code 0. */
async function runChild(name, source, { timeoutMs = 10_000, nodeArgs = [], childEnv = env() } = {}) {
  const file = sandbox.write(name, source)
  const res = await runNode(file, { timeoutMs, nodeArgs, env: childEnv })
  assert.equal(res.timedOut, false, `the child did not exit by itself within ${timeoutMs} ms\n${describeRun(res)}`)
  assert.equal(res.signal, null, describeRun(res))
  assert.equal(res.code, 0, describeRun(res))
  return res
}

/** Wrap an async body so any failure sets a non-zero exit code (and nothing is left unhandled). */
const asyncMain = (body) => `
  ;(async () => {
    ${body}
  })().catch((e) => { console.error('CHILD FAILED:', e && e.stack || e); process.exitCode = 1 })
`

describe('import', () => {
  test('ESM: importing the package and doing nothing exits at once and opens no connection', async () => {
    const before = await connectionsReceived()
    const res = await runChild('import-only.mjs', `import * as sc from 'stratacache'\nconsole.log(typeof sc.cacheManager.get)`, { timeoutMs: 5000 })
    assert.equal(res.stdout.trim(), 'function')
    assert.ok(res.ms < 3000, `took ${res.ms} ms`)
    assert.equal(await connectionsReceived(), before, 'importing must not connect to Redis')
  })

  test('CommonJS: requiring the package and doing nothing exits at once and opens no connection', async () => {
    const before = await connectionsReceived()
    const res = await runChild('require-only.cjs', `const sc = require('stratacache')\nconsole.log(typeof sc.cacheManager.get)`, { timeoutMs: 5000 })
    assert.equal(res.stdout.trim(), 'function')
    assert.ok(res.ms < 3000, `took ${res.ms} ms`)
    assert.equal(await connectionsReceived(), before, 'requiring must not connect to Redis')
  })

  test('configuring without using (createRedisClient, getCacheManager) still exits at once, unconnected', async () => {
    const before = await connectionsReceived()
    await runChild(
      'configure-only.cjs',
      `const sc = require('stratacache')
       sc.createRedisClient({ host: '127.0.0.1', port: ${redis.port} })
       sc.getCacheManager({ l1MaxSize: 1000, defaultTTL: 600, enableL1: true, enableL2: true })`,
      { timeoutMs: 5000 },
    )
    assert.equal(await connectionsReceived(), before)
  })
})

describe('shutdown', () => {
  test('queued write-behind writes are flushed when the process runs out of work without shutdownCacheSystem()', async () => {
    const res = await runChild(
      'write-behind-exit.mjs',
      `import { WriteBehindPattern, initializeCacheSystem } from 'stratacache'
       ${asyncMain(`
         await initializeCacheSystem()
         const wb = new WriteBehindPattern(undefined, { flushIntervalMs: 60_000, batchSize: 1000 })
         for (const v of [1, 2, 3]) await wb.write('life:wb:' + v, v, async (x) => { console.log('written', x) })
         console.log('queued', wb.stats().pending)
       `)}`,
      { timeoutMs: 10_000 },
    )
    assert.deepEqual(res.stdout.trim().split('\n'), ['queued 3', 'written 1', 'written 2', 'written 3'])
    assert.doesNotMatch(res.stderr, /were not made/)
  })

  test('set/get then shutdownCacheSystem(): the process exits by itself within a few seconds', async () => {
    const res = await runChild(
      'shutdown.mjs',
      `import { cacheManager, initializeCacheSystem, shutdownCacheSystem } from 'stratacache'
       ${asyncMain(`
         console.log(JSON.stringify(await initializeCacheSystem()))
         await cacheManager.set('life:greeting', 'Hello World', { ttl: 60 })
         console.log(await cacheManager.get('life:greeting'))
         await shutdownCacheSystem()
         console.log('shut down at', Date.now())
       `)}`,
      { timeoutMs: 10_000 },
    )
    const [init, value, shut] = res.stdout.trim().split('\n')
    assert.deepEqual(JSON.parse(init), { redis: 'connected' })
    assert.equal(value, 'Hello World')
    assert.match(shut, /^shut down at \d+$/)
    assert.ok(res.ms < 5000, `the child took ${res.ms} ms to exit`)
    // The zero-config singletons used REDIS_URL and STRATACACHE_NAMESPACE from the environment.
    assert.equal(await r.cmd('EXISTS', `${ns}:d:life:greeting`), 1)
  })

  test('without shutdownCacheSystem() the process still exits by itself', async () => {
    const res = await runChild(
      'no-shutdown.cjs',
      `const { cacheManager } = require('stratacache')
       ${asyncMain(`
         await cacheManager.set('life:no-shutdown', 42)
         console.log(await cacheManager.get('life:no-shutdown'))
         await cacheManager.mget(['life:no-shutdown', 'life:nothing'])
       `)}`,
      { timeoutMs: 10_000 },
    )
    assert.equal(res.stdout.trim(), '42')
    assert.ok(res.ms < 5000, `took ${res.ms} ms`)
  })

  test('after shutdown a cache call rejects with ERR_STRATACACHE_CLOSED; initializeCacheSystem() makes it work again', async () => {
    const res = await runChild(
      'closed.cjs',
      `const sc = require('stratacache')
       const { cacheManager } = sc
       async function code(p) { try { await p; return 'resolved' } catch (e) { return e.code } }
       ${asyncMain(`
         await cacheManager.set('life:closed', 'before', { ttl: 60 })
         await sc.shutdownCacheSystem()
         await sc.shutdownCacheSystem() // idempotent
         const codes = {
           get: await code(cacheManager.get('life:closed')),
           set: await code(cacheManager.set('life:closed', 'x')),
           del: await code(cacheManager.del('life:closed')),
           mget: await code(cacheManager.mget(['life:closed'])),
           mset: await code(cacheManager.mset([{ key: 'life:closed', value: 1 }])),
           invalidateByTags: await code(cacheManager.invalidateByTags(['t'])),
           getStats: await code(cacheManager.getStats()),
         }
         console.log(JSON.stringify(codes))
         console.log(JSON.stringify(await sc.initializeCacheSystem()))
         console.log(JSON.stringify(await cacheManager.get('life:closed')))
         await cacheManager.set('life:closed', 'after', { ttl: 60 })
         console.log(JSON.stringify(await cacheManager.get('life:closed')))
         await sc.shutdownCacheSystem()
       `)}`,
    )
    const [codes, init, first, second] = res.stdout.trim().split('\n').map((l) => JSON.parse(l))
    const closed = 'ERR_STRATACACHE_CLOSED'
    assert.deepEqual(codes, { get: closed, set: closed, del: closed, mget: closed, mset: closed, invalidateByTags: closed, getStats: closed })
    assert.deepEqual(init, { redis: 'connected' })
    assert.equal(first, 'before', 'the value written before shutdown is read from Redis')
    assert.equal(second, 'after')
    assert.equal((await r.cmd('GET', `${ns}:d:life:closed`)).subarray(-7).toString(), '"after"')
  })

  test('read-through loaders and domain rules registered before a shutdown work after re-initialization', async () => {
    const res = await runChild(
      'registries.cjs',
      `const sc = require('stratacache')
       const { readThrough, domainInvalidator, cacheManager } = sc
       ${asyncMain(`
         readThrough.registerLoader('life:rt:*', async (key) => ({ loadedFor: key }))
         domainInvalidator.register('order', (id) => ({ keys: ['life:order:' + id] }))
         console.log(JSON.stringify(await readThrough.read('life:rt:1')))
         await sc.shutdownCacheSystem()
         // Registered while shut down: kept for the next system too.
         readThrough.registerLoader('life:late:*', async () => 'late')
         await sc.initializeCacheSystem()
         console.log(JSON.stringify(await readThrough.read('life:rt:2')))
         console.log(JSON.stringify(await readThrough.read('life:late:1')))
         await cacheManager.set('life:order:7', 'x', { ttl: 60 })
         console.log(JSON.stringify(await domainInvalidator.invalidate('order', 7)))
         console.log(JSON.stringify(await cacheManager.get('life:order:7')))
         console.log(JSON.stringify(readThrough.unregisterLoader('life:rt:*')))
         await sc.shutdownCacheSystem()
       `)}`,
    )
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l))
    assert.deepEqual(lines, [
      { loadedFor: 'life:rt:1' },
      { loadedFor: 'life:rt:2' },
      'late',
      { keys: ['life:order:7'], tags: [], patterns: [] },
      null,
      true,
    ])
  })

  test('initializeCacheSystem() is idempotent', async () => {
    const res = await runChild(
      'idempotent.cjs',
      `const sc = require('stratacache')
       ${asyncMain(`
         const a = sc.initializeCacheSystem()
         const b = sc.initializeCacheSystem()
         console.log(JSON.stringify([await a, await b, a === b]))
         await sc.shutdownCacheSystem()
       `)}`,
    )
    assert.deepEqual(JSON.parse(res.stdout), [{ redis: 'connected' }, { redis: 'connected' }, true])
  })
})

describe('configuration precedence', () => {
  test('createRedisClient({ host, port }) beats REDIS_URL', async () => {
    const dead = await freePort()
    const res = await runChild(
      'precedence.cjs',
      `const sc = require('stratacache')
       sc.createRedisClient({ host: '127.0.0.1', port: ${redis.port}, namespace: ${JSON.stringify(ns)} })
       ${asyncMain(`
         console.log(JSON.stringify(await sc.initializeCacheSystem()))
         await sc.cacheManager.set('life:precedence', 1)
         await sc.shutdownCacheSystem()
       `)}`,
      { childEnv: { REDIS_URL: `redis://127.0.0.1:${dead}` } },
    )
    assert.deepEqual(JSON.parse(res.stdout), { redis: 'connected' })
    assert.equal(await r.cmd('EXISTS', `${ns}:d:life:precedence`), 1)
  })
})

describe('Redis down at start', () => {
  test('initializeCacheSystem() resolves degraded with one warning; set/get work from L1; no unhandled rejection', async () => {
    const dead = await freePort()
    const res = await runChild(
      'degraded.mjs',
      `import { cacheManager, initializeCacheSystem, shutdownCacheSystem } from 'stratacache'
       ${asyncMain(`
         const t0 = Date.now()
         const init = await initializeCacheSystem()
         const ms = Date.now() - t0
         const again = await initializeCacheSystem()
         await cacheManager.set('life:down', { still: 'works' }, { ttl: 60 })
         const value = await cacheManager.get('life:down')
         const missing = await cacheManager.get('life:down-missing')
         await cacheManager.mset([{ key: 'life:down2', value: 2 }])
         const many = [...(await cacheManager.mget(['life:down', 'life:down2']))]
         const stats = await cacheManager.getStats()
         console.log(JSON.stringify({ init, again, ms, value, missing, many, l2errors: stats.l2.errors }))
         await shutdownCacheSystem()
       `)}`,
      { timeoutMs: 15_000, nodeArgs: ['--unhandled-rejections=strict'], childEnv: { REDIS_URL: `redis://127.0.0.1:${dead}`, STRATACACHE_NAMESPACE: ns } },
    )
    const out = JSON.parse(res.stdout.trim())
    assert.deepEqual(out.init, { redis: 'degraded' })
    assert.deepEqual(out.again, { redis: 'degraded' })
    assert.ok(out.ms < 5000, `initializeCacheSystem took ${out.ms} ms with Redis down`)
    assert.deepEqual(out.value, { still: 'works' }, 'set/get work from L1')
    assert.equal(out.missing, null, 'a miss is null, not an error')
    assert.deepEqual(out.many, [['life:down', { still: 'works' }], ['life:down2', 2]])
    assert.ok(out.l2errors >= 1, 'failed Redis calls are counted in l2.errors')
    const warnings = res.stderr.split('\n').filter((l) => l.trim() !== '')
    assert.equal(warnings.length, 1, `exactly one warning line on stderr:\n${res.stderr}`)
    assert.match(warnings[0], /stratacache/i)
    assert.match(warnings[0], /unreachable|degraded|down/i)
    assert.doesNotMatch(warnings[0], /\[ERR_STRATACACHE/, 'the native error prefix must not leak into the warning')
  })
})

describe('Redis coming back', () => {
  test('a process started while Redis was down reaches Redis within seconds of it coming back', async () => {
    const port = await freePort()
    const file = sandbox.write(
      'recover.cjs',
      `const sc = require('stratacache')
       const handle = sc.createRedisClient({ host: '127.0.0.1', port: ${port}, namespace: ${JSON.stringify(ns)} })
       const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
       ${asyncMain(`
         console.log(JSON.stringify(await sc.initializeCacheSystem()))
         await sc.cacheManager.set('life:recover', 'written while down')
         const t0 = Date.now()
         let up = false
         while (!up && Date.now() - t0 < 10000) {
           up = await handle.ping()
           if (!up) await sleep(100)
         }
         await sc.cacheManager.set('life:recover', 'written after recovery', { ttl: 60 })
         console.log(JSON.stringify({ up, at: Date.now() }))
         await sc.shutdownCacheSystem()
       `)}`,
    )
    const child = runNode(file, { timeoutMs: 15_000, nodeArgs: ['--unhandled-rejections=strict'] })
    await new Promise((res) => setTimeout(res, 1000))
    const revived = await startRedis({ port })
    const startedAt = Date.now()
    try {
      const res = await child
      assert.equal(res.timedOut, false, describeRun(res))
      assert.equal(res.code, 0, describeRun(res))
      const [init, done] = res.stdout.trim().split('\n').map((l) => JSON.parse(l))
      assert.deepEqual(init, { redis: 'degraded' }, 'Redis must have been down when the child started')
      assert.equal(done.up, true, 'ping() must succeed once Redis is back')
      assert.ok(done.at - startedAt < 5000, `recovered ${done.at - startedAt} ms after Redis came back`)
      const rr = await raw(port)
      try {
        const stored = await rr.cmd('GET', `${ns}:d:life:recover`)
        assert.ok(stored && stored.toString().endsWith('"written after recovery"'), 'the write after recovery reached Redis')
      } finally {
        rr.close()
      }
    } finally {
      await revived.stop()
    }
  })
})

describe('ESM and CommonJS', () => {
  test('import and require share one singleton: set via one, get via the other', async () => {
    const res = await runChild(
      'dual.mjs',
      `import { createRequire } from 'node:module'
       import * as esm from 'stratacache'
       import esmDefault from 'stratacache'
       const require = createRequire(import.meta.url)
       const cjs = require('stratacache')
       ${asyncMain(`
         const same = esm.cacheManager === cjs.cacheManager && esmDefault.cacheManager === cjs.cacheManager
         esm.createRedisClient({ host: '127.0.0.1', port: ${redis.port}, namespace: ${JSON.stringify(ns)} })
         await esm.cacheManager.set('life:dual', 'from ESM', { ttl: 60 })
         const viaCjs = await cjs.cacheManager.get('life:dual')
         await cjs.cacheManager.set('life:dual2', 'from CJS', { ttl: 60 })
         const viaEsm = await esm.cacheManager.get('life:dual2')
         const stats = await cjs.cacheManager.getStats()
         // Shut down through the other module system: it must close the one system.
         await cjs.shutdownCacheSystem()
         let closed
         try { await esm.cacheManager.get('life:dual') } catch (e) { closed = e.code }
         const sameErrors = esm.StrataCacheError === cjs.StrataCacheError
         console.log(JSON.stringify({ same, viaCjs, viaEsm, l1hits: stats.l1.hits, closed, sameErrors }))
       `)}`,
    )
    const out = JSON.parse(res.stdout.trim())
    assert.equal(out.same, true, 'one cacheManager object')
    assert.equal(out.viaCjs, 'from ESM')
    assert.equal(out.viaEsm, 'from CJS')
    assert.equal(out.l1hits, 2, 'both reads were L1 hits of the one shared L1')
    assert.equal(out.closed, 'ERR_STRATACACHE_CLOSED')
    assert.equal(out.sameErrors, true, 'one StrataCacheError class, so instanceof works across both')
  })

  test('a CommonJS module that dynamically imports the package gets the same singleton', async () => {
    const res = await runChild(
      'dual.cjs',
      `const cjs = require('stratacache')
       ${asyncMain(`
         const esm = await import('stratacache')
         console.log(esm.cacheManager === cjs.cacheManager, esm.shutdownCacheSystem === cjs.shutdownCacheSystem)
       `)}`,
    )
    assert.equal(res.stdout.trim(), 'true true')
  })
})
