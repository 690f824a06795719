// The invalidation bus through the npm package (docs/bus.md, contract §4 cacheInvalidator /
// domainInvalidator, §7): a write or an invalidation in one process evicts the other process's L1 within
// milliseconds; onInvalidation events (local and remote); writes from outside the library (client
// tracking); L1 cleared after a bus gap; the process's own writes stay in its L1; domain rules; the wire
// format of the bus messages; shutdown stops the subscriber.
//
// Process A is this test process; process B is a long-lived child (fork + IPC) on the same Redis and
// namespace. One throwaway redis-server for the file. Every wait is bounded (polls give up after 2 s).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  cacheInvalidator,
  cacheManager,
  createRedisClient,
  domainInvalidator,
  initializeCacheSystem,
  shutdownCacheSystem,
} from 'stratacache'
import { describeRun, forkWorker, makeSandbox, raw, REPO_ROOT, runNode, startRedis, subscriber, uniqueNamespace } from './support.mjs'

const SUPPORT_URL = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'support.mjs')).href
const VECTORS = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tests', 'vectors', 'v1', 'bus.json'), 'utf8'))
const ns = uniqueNamespace('bus')
const CHANNEL = `${ns}:bus`
const POLL_MS = 2000
let redis
let r
let sandbox
let B

const dataKey = (key) => `${ns}:d:${key}`
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

/** Poll `fn` until it returns a truthy value (at most `timeoutMs`); returns that value. */
async function waitFor(fn, what, { timeoutMs = POLL_MS, intervalMs = 5 } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

/** Assert `promise` rejects with a stratacache error of `code` whose message matches every pattern. */
async function rejectsWith(promise, code, ...patterns) {
  let error
  try {
    await promise
  } catch (e) {
    error = e
  }
  assert.ok(error, `expected a rejection with ${code}, but it resolved`)
  assert.equal(error.code, code, `wrong code for: ${error.stack ?? error}`)
  for (const p of patterns) assert.match(error.message, p)
  return error
}

// Registered at import time, before any system exists: this listener sees every event of process A, and
// this domain rule must work once the system starts.
const eventsA = []
cacheInvalidator.onInvalidation((e) => {
  eventsA.push(e)
})
const earlyCalls = []
domainInvalidator.register('early', (id) => {
  earlyCalls.push(id)
  return { keys: [`early:${id}`], tags: [`early-tag:${id}`] }
})

/** A's get, also saying whether it was an L1 hit and whether it read Redis (from getStats deltas). */
async function getA(key) {
  const s0 = await cacheManager.getStats()
  const value = await cacheManager.get(key)
  const s1 = await cacheManager.getStats()
  return {
    value,
    l1Hit: s1.l1.hits === s0.l1.hits + 1,
    l2Read: s1.l2.hits + s1.l2.misses > s0.l2.hits + s0.l2.misses,
  }
}

// ---------------------------------------------------------------------------------------------------
// Process B: a child with its own L1, driven over IPC.

const workerSource = () => `
import * as sc from 'stratacache'
sc.createRedisClient({ host: '127.0.0.1', port: ${redis.port}, namespace: ${JSON.stringify(ns)} })
const events = []
sc.cacheInvalidator.onInvalidation((e) => { events.push(e) })
const targets = { cacheManager: sc.cacheManager, cacheInvalidator: sc.cacheInvalidator, domainInvalidator: sc.domainInvalidator }
const init = await sc.initializeCacheSystem()
process.on('message', async (m) => {
  try {
    let value
    if (m.op === 'call') {
      value = await targets[m.target][m.method](...m.args)
      if (value instanceof Map) value = Object.fromEntries(value)
    } else if (m.op === 'get') {
      const s0 = await sc.cacheManager.getStats()
      const v = await sc.cacheManager.get(m.key)
      const s1 = await sc.cacheManager.getStats()
      value = { value: v, l1Hit: s1.l1.hits === s0.l1.hits + 1, l2Read: s1.l2.hits + s1.l2.misses > s0.l2.hits + s0.l2.misses }
    } else if (m.op === 'events') {
      value = events.slice(m.from)
    } else if (m.op === 'shutdown') {
      await sc.shutdownCacheSystem()
      process.disconnect()
      value = true
    } else throw new Error('unknown op ' + m.op)
    if (process.connected) process.send({ id: m.id, ok: true, value: value === undefined ? null : value })
  } catch (e) {
    if (process.connected) process.send({ id: m.id, ok: false, error: { message: e.message, code: e.code, name: e.name } })
  }
})
process.send({ ready: true, init })
`

async function startWorker(name) {
  const w = await forkWorker(sandbox.write(`${name}.mjs`, workerSource()), name, { cwd: sandbox.dir, timeoutMs: 5000 })
  const { request } = w
  assert.equal(w.hello.init.redis, 'connected', w.output())
  return {
    child: w.child,
    output: w.output,
    call: (target, method, ...args) => request({ op: 'call', target, method, args }),
    get: (key) => request({ op: 'get', key }),
    events: (from = 0) => request({ op: 'events', from }),
    stop: () => w.stop(),
  }
}

/** Live bus subscribers of this namespace, and data connections tracking into a live stratacache subscriber. */
async function busClients() {
  const [, subs] = await r.cmd('PUBSUB', 'NUMSUB', CHANNEL)
  const clients = (await r.cmd('CLIENT', 'LIST'))
    .toString()
    .trim()
    .split('\n')
    .map((line) => Object.fromEntries(line.trim().split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])))
  const resp3Subscribers = new Set(clients.filter((c) => Number(c.sub) > 0 && c.resp === '3').map((c) => c.id))
  const tracking = clients.filter((c) => c.flags.includes('t') && resp3Subscribers.has(c.redir)).length
  return { subs, tracking }
}

/** Wait until `n` processes have joined the bus: subscribed to the channel, and (unless `tracking: false`) tracking redirected there. */
async function busReady(n, { tracking: withTracking = true } = {}) {
  await waitFor(async () => {
    const { subs, tracking } = await busClients()
    return subs === n && (!withTracking || tracking >= n)
  }, `${n} processes subscribed to ${CHANNEL}${withTracking ? ' with client tracking on' : ''}`)
}

/**
 * B's get must be served from B's L1 now (filling it from Redis first if needed); returns the value.
 * B may still be receiving the bus message of this process's write of `key`, which evicts a fill
 * made just before it arrived, so B reads until its L1 serves the key (bounded).
 */
async function primeB(key, expected) {
  const g = await waitFor(async () => {
    const r = await B.get(key)
    return r.l1Hit ? r : null
  }, `B to serve ${key} from its L1 before the change`)
  assert.deepEqual(g.value, expected, `B reads ${key}`)
  assert.equal(g.l2Read, false)
  return g.value
}

/** Poll B until its get of `key` gives `expected` (≤ 2 s); returns how long that took, in ms. */
async function bSees(key, expected) {
  const t0 = performance.now()
  await waitFor(async () => {
    const g = await B.get(key)
    return JSON.stringify(g.value) === JSON.stringify(expected)
  }, `B to read ${JSON.stringify(expected)} for ${key} (its L1 was not evicted)`, { intervalMs: 2 })
  return performance.now() - t0
}

/** This process's id on the bus, as its own local events carry it. */
let sourceA
/** B's id on the bus. */
let sourceB

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  sandbox = makeSandbox()
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
  const init = await initializeCacheSystem()
  assert.equal(init.redis, 'connected')
  await busReady(1)
  B = await startWorker('process-b')
  await busReady(2)

  const fromA = eventsA.length
  await cacheInvalidator.invalidateKeys(['probe:a'])
  sourceA = (await waitFor(() => eventsA.slice(fromA).find((e) => e.target[0] === 'probe:a'), 'A local probe event')).source
  const fromB = (await B.events()).length
  await B.call('cacheInvalidator', 'invalidateKeys', ['probe:b'])
  sourceB = (await waitFor(async () => (await B.events(fromB)).find((e) => e.target[0] === 'probe:b'), 'B local probe event')).source
  assert.match(sourceA, /^[0-9a-f]{16}$/)
  assert.match(sourceB, /^[0-9a-f]{16}$/)
  assert.notEqual(sourceA, sourceB, 'every process has its own bus id')
})

after(async () => {
  await B?.stop()
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
  sandbox?.remove()
})

// ---------------------------------------------------------------------------------------------------

describe("another process's L1 is evicted within milliseconds", () => {
  test('set: B then reads the new value', async (t) => {
    await cacheManager.set('x:set', { v: 1 })
    await primeB('x:set', { v: 1 })
    await cacheManager.set('x:set', { v: 2 })
    const ms = await bSees('x:set', { v: 2 })
    t.diagnostic(`B saw the new value ${ms.toFixed(1)} ms after A's set resolved`)
    assert.ok(ms < 500, `took ${ms} ms`)
  })

  test('del: B then reads null', async () => {
    await cacheManager.set('x:del', 'here')
    await primeB('x:del', 'here')
    assert.equal(await cacheManager.del('x:del'), true)
    await bSees('x:del', null)
  })

  test('mset: both keys, one message', async () => {
    await cacheManager.mset([
      { key: 'x:m1', value: 1 },
      { key: 'x:m2', value: 2 },
    ])
    await primeB('x:m1', 1)
    await primeB('x:m2', 2)
    await cacheManager.mset([
      { key: 'x:m1', value: 10 },
      { key: 'x:m2', value: 20, ttl: 60 },
    ])
    await bSees('x:m1', 10)
    await bSees('x:m2', 20)
  })

  test('cacheInvalidator.invalidateTags: tagged entries read null, an untagged one stays in L1', async () => {
    await cacheManager.set('x:t1', 't1', { tags: ['x-tag'] })
    await cacheManager.set('x:t2', 't2', { tags: ['other', 'x-tag'] })
    await cacheManager.set('x:t3', 't3', { tags: ['other'] })
    for (const k of ['x:t1', 'x:t2', 'x:t3']) await primeB(k, k.slice(2))
    await cacheInvalidator.invalidateTags(['x-tag'])
    await bSees('x:t1', null)
    await bSees('x:t2', null)
    const kept = await B.get('x:t3')
    assert.deepEqual(kept, { value: 't3', l1Hit: true, l2Read: false }, 'an entry without the tag stays in B’s L1')
  })

  test("invalidatePattern('ticket:*'): matching keys read null, others stay in L1", async () => {
    await cacheManager.set('ticket:1', { id: 1 })
    await cacheManager.set('ticket:2', { id: 2 })
    await cacheManager.set('tickets:all', [1, 2])
    for (const [k, v] of [['ticket:1', { id: 1 }], ['ticket:2', { id: 2 }], ['tickets:all', [1, 2]]]) await primeB(k, v)
    assert.equal(await cacheInvalidator.invalidatePattern('ticket:*'), 2)
    await bSees('ticket:1', null)
    await bSees('ticket:2', null)
    assert.deepEqual(await B.get('tickets:all'), { value: [1, 2], l1Hit: true, l2Read: false })
    assert.equal(await r.cmd('EXISTS', dataKey('ticket:1'), dataKey('ticket:2')), 0)
  })

  test('invalidateKeys([...]): every key reads null', async () => {
    await cacheManager.set('x:k1', 1)
    await cacheManager.set('x:k2', 2)
    await cacheManager.set('x:k3', 3)
    for (const [k, v] of [['x:k1', 1], ['x:k2', 2], ['x:k3', 3]]) await primeB(k, v)
    assert.equal(await cacheInvalidator.invalidateKeys(['x:k1', 'x:k2', 'x:never']), 2)
    await bSees('x:k1', null)
    await bSees('x:k2', null)
    assert.deepEqual(await B.get('x:k3'), { value: 3, l1Hit: true, l2Read: false })
  })

  test('cacheManager.invalidateByTags: B reads null', async () => {
    await cacheManager.set('x:bt', { n: 1 }, { tags: ['x-bt'] })
    await primeB('x:bt', { n: 1 })
    await cacheManager.invalidateByTags(['x-bt'])
    await bSees('x:bt', null)
  })

  test('the other direction: a set in B evicts the key from this process’s L1', async () => {
    await cacheManager.set('x:rev', 'a')
    assert.equal((await getA('x:rev')).l1Hit, true)
    await B.call('cacheManager', 'set', 'x:rev', 'b')
    await waitFor(async () => (await cacheManager.get('x:rev')) === 'b', 'A to read B’s value')
  })

  test('a bus message alone evicts: a raw PUBLISH of a v1 `write` message from another source', async () => {
    // Redis data unchanged, so client tracking reports nothing: only the bus can evict here.
    await cacheManager.set('x:pub', 'same')
    assert.equal((await getA('x:pub')).l1Hit, true)
    const msg = JSON.stringify({ v: 1, src: '00000000000000aa', type: 'write', target: ['x:pub'], ts: Date.now() })
    assert.ok((await r.cmd('PUBLISH', CHANNEL, msg)) >= 2, 'A and B are subscribed')
    await waitFor(async () => (await getA('x:pub')).l2Read, 'A to read x:pub from Redis after the message')
    assert.equal((await getA('x:pub')).l1Hit, true, 'refilled from Redis')
  })

  test('ignored messages (bus.json "ignored": future version, unknown type, not JSON, missing field) evict nothing', async () => {
    await cacheManager.set('t', 'kept', { tags: ['t'] })
    assert.equal((await getA('t')).l1Hit, true)
    const from = eventsA.length
    for (const m of VECTORS.ignored) await r.cmd('PUBLISH', CHANNEL, m.json)
    // A marker after them: once it is applied, the ignored ones (sent earlier, same connection) were seen.
    await r.cmd('PUBLISH', CHANNEL, JSON.stringify({ v: 1, src: '00000000000000bb', type: 'key', target: ['x:marker'], ts: 1 }))
    await waitFor(() => eventsA.slice(from).some((e) => e.target[0] === 'x:marker'), 'the marker event')
    assert.deepEqual(eventsA.slice(from).map((e) => e.target[0]), ['x:marker'], 'no event for an ignored message')
    assert.deepEqual(await getA('t'), { value: 'kept', l1Hit: true, l2Read: false })
  })
})

describe('onInvalidation events', () => {
  test('key, tag and pattern invalidations reach both processes: local in A, remote in B', async () => {
    const fromA = eventsA.length
    const fromB = (await B.events()).length
    const t0 = Date.now()
    await cacheInvalidator.invalidateKeys(['ev:1', 'ev:2'])
    await cacheManager.del('ev:3')
    await cacheInvalidator.invalidateTags(['ev-tag', 'ev-tag2'])
    await cacheManager.invalidateByTags(['ev-tag3'])
    await cacheInvalidator.invalidatePattern('ev:*')
    const t1 = Date.now()
    const expected = [
      { type: 'key', target: ['ev:1', 'ev:2'] },
      { type: 'key', target: ['ev:3'] },
      { type: 'tag', target: ['ev-tag', 'ev-tag2'] },
      { type: 'tag', target: ['ev-tag3'] },
      { type: 'pattern', target: ['ev:*'] },
    ]
    const inA = await waitFor(() => eventsA.length - fromA >= 5 && eventsA.slice(fromA), 'five events in A')
    const inB = await waitFor(async () => {
      const ev = await B.events(fromB)
      return ev.length >= 5 && ev
    }, 'five events in B')
    await sleep(50)
    assert.equal(eventsA.length - fromA, 5, 'exactly one event per call in A')
    assert.equal((await B.events(fromB)).length, 5, 'exactly one event per call in B')
    for (const [i, want] of expected.entries()) {
      for (const [who, e, local] of [['A', inA[i], true], ['B', inB[i], false]]) {
        assert.deepEqual(Object.keys(e).sort(), ['local', 'source', 'target', 'timestamp', 'type'], `${who} event ${i}`)
        assert.equal(e.type, want.type, `${who} event ${i}`)
        assert.deepEqual(e.target, want.target, `${who} event ${i}`)
        assert.equal(e.local, local, `${who} event ${i}: local`)
        assert.equal(e.source, sourceA, `${who} event ${i}: source is A's id`)
        assert.equal(typeof e.timestamp, 'number')
        assert.ok(e.timestamp >= t0 - 5 && e.timestamp <= t1 + 5, `${who} event ${i}: timestamp ${e.timestamp} is epoch ms of the call`)
      }
      assert.ok(Math.abs(inA[i].timestamp - inB[i].timestamp) <= 5, `event ${i}: same instant in both processes`)
    }
  })

  test('an invalidation in B reaches A with local: false and B’s source', async () => {
    const fromA = eventsA.length
    const fromB = (await B.events()).length
    await B.call('cacheInvalidator', 'invalidateTags', ['from-b'])
    const e = await waitFor(() => eventsA.slice(fromA).find((x) => x.target[0] === 'from-b'), 'B’s event in A')
    assert.deepEqual({ ...e, timestamp: 0 }, { type: 'tag', target: ['from-b'], source: sourceB, local: false, timestamp: 0 })
    const own = await waitFor(async () => (await B.events(fromB)).find((x) => x.target[0] === 'from-b'), 'B’s own event')
    assert.equal(own.local, true)
    assert.equal(own.source, sourceB)
  })

  test('a foreign message (bus.json "tag invalidation") is an event with its source and timestamp', async () => {
    const from = eventsA.length
    const vector = VECTORS.messages.find((m) => m.expect.type === 'tag')
    await r.cmd('PUBLISH', CHANNEL, vector.json)
    const e = await waitFor(() => eventsA[from], 'the foreign event')
    assert.deepEqual(e, { type: 'tag', target: vector.expect.target, source: vector.expect.src, timestamp: vector.expect.ts, local: false })
  })

  test('writes (set, mset, and a `write` message) fire no event', async () => {
    const fromA = eventsA.length
    const fromB = (await B.events()).length
    await cacheManager.set('ev:w1', 1)
    await cacheManager.mset([
      { key: 'ev:w2', value: 2 },
      { key: 'ev:w3', value: 3 },
    ])
    await B.call('cacheManager', 'set', 'ev:w4', 4)
    await r.cmd('PUBLISH', CHANNEL, VECTORS.messages.find((m) => m.expect.type === 'write').json)
    // Events are delivered in order: once the marker arrives, any event of the writes would have too.
    await cacheInvalidator.invalidateKeys(['ev:marker'])
    await waitFor(() => eventsA.slice(fromA).some((e) => e.target[0] === 'ev:marker'), 'marker in A')
    const inB = await waitFor(async () => {
      const ev = await B.events(fromB)
      return ev.some((e) => e.target[0] === 'ev:marker') && ev
    }, 'marker in B')
    assert.deepEqual(eventsA.slice(fromA).map((e) => e.target), [['ev:marker']])
    assert.deepEqual(inB.map((e) => e.target), [['ev:marker']])
  })

  test('the returned function unsubscribes (and is idempotent); other listeners keep receiving', async () => {
    const seen = []
    const off = cacheInvalidator.onInvalidation((e) => seen.push(e.target[0]))
    assert.equal(typeof off, 'function')
    await cacheInvalidator.invalidateKeys(['un:1'])
    await waitFor(() => seen.includes('un:1'), 'the listener to see un:1')
    off()
    off()
    const from = eventsA.length
    await cacheInvalidator.invalidateKeys(['un:2'])
    await B.call('cacheInvalidator', 'invalidateKeys', ['un:3'])
    await waitFor(() => eventsA.slice(from).some((e) => e.target[0] === 'un:3'), 'the other listener to see un:3')
    assert.deepEqual(seen, ['un:1'])
    assert.throws(() => cacheInvalidator.onInvalidation('nope'), { code: 'ERR_STRATACACHE_INVALID_ARGUMENT' })
  })

  test('a listener that rejects (or throws) is reported, breaks nothing, and is no unhandled rejection', async () => {
    const unhandled = []
    const onUnhandled = (e) => unhandled.push(e)
    process.on('unhandledRejection', onUnhandled)
    const reported = []
    const consoleError = console.error
    console.error = (...args) => reported.push(args)
    const offAsync = cacheInvalidator.onInvalidation(async () => {
      await sleep(1)
      throw new Error('async listener boom')
    })
    const offSync = cacheInvalidator.onInvalidation(() => {
      throw new Error('sync listener boom')
    })
    try {
      const from = eventsA.length
      await cacheInvalidator.invalidateKeys(['rej:1'])
      await B.call('cacheInvalidator', 'invalidateKeys', ['rej:2'])
      await waitFor(() => eventsA.slice(from).some((e) => e.target[0] === 'rej:2'), 'the good listener to see rej:2')
      await waitFor(() => reported.length >= 4, 'both failures of both events reported')
      const text = reported.map((a) => a.map((x) => (x instanceof Error ? x.message : String(x))).join(' ')).join('\n')
      assert.match(text, /onInvalidation listener failed/)
      assert.match(text, /async listener boom/)
      assert.match(text, /sync listener boom/)
      // Everything still works.
      await cacheManager.set('rej:after', 'ok')
      assert.equal(await cacheManager.get('rej:after'), 'ok')
      await sleep(20)
      assert.deepEqual(unhandled, [])
    } finally {
      offAsync()
      offSync()
      console.error = consoleError
      process.off('unhandledRejection', onUnhandled)
    }
  })
})

describe('L1 coherence in this process', () => {
  test('a raw SET / DEL of {ns}:d:k (like redis-cli) evicts k from this process’s L1 (and B’s)', async () => {
    await cacheManager.set('ext:1', { v: 1 })
    await cacheManager.set('ext:src', { v: 2 })
    await cacheManager.set('ext:2', 'gone soon')
    assert.equal((await getA('ext:1')).l1Hit, true)
    assert.equal((await getA('ext:2')).l1Hit, true)
    await primeB('ext:1', { v: 1 })
    // Another client copies a valid stored entry over ext:1 and deletes ext:2.
    const bytes = await r.cmd('GET', dataKey('ext:src'))
    assert.equal(await r.cmd('SET', dataKey('ext:1'), bytes), 'OK')
    assert.equal(await r.cmd('DEL', dataKey('ext:2')), 1)
    await waitFor(async () => JSON.stringify(await cacheManager.get('ext:1')) === '{"v":2}', 'A to read the value written by the raw SET')
    await waitFor(async () => (await cacheManager.get('ext:2')) === null, 'A to read null after the raw DEL')
    await bSees('ext:1', { v: 2 })
  })

  test('this process’s own set does not evict its own L1 entry (right after, and 200 ms later)', async () => {
    await cacheManager.set('own:1', { mine: true })
    assert.deepEqual(await getA('own:1'), { value: { mine: true }, l1Hit: true, l2Read: false })
    await sleep(200)
    assert.deepEqual(await getA('own:1'), { value: { mine: true }, l1Hit: true, l2Read: false })
    await cacheManager.mset([{ key: 'own:2', value: 2 }])
    await sleep(200)
    assert.deepEqual(await getA('own:2'), { value: 2, l1Hit: true, l2Read: false })
  })
})

describe('domainInvalidator', () => {
  const nulls = async (keys) => {
    for (const k of keys) assert.equal(await cacheManager.get(k), null, `${k} invalidated`)
  }

  test('invalidateTicket(7): key ticket:7; tags ticket:7, tickets, dashboard — in both processes', async () => {
    await cacheManager.set('ticket:7', { id: 7 })
    await cacheManager.set('tk:list', [7], { tags: ['tickets'] })
    await cacheManager.set('tk:dash', { open: 1 }, { tags: ['dashboard'] })
    await cacheManager.set('tk:7:comments', [], { tags: ['ticket:7'] })
    await cacheManager.set('tk:keep', 'k', { tags: ['users', 'ticket:8'] })
    for (const [k, v] of [['ticket:7', { id: 7 }], ['tk:list', [7]], ['tk:dash', { open: 1 }], ['tk:7:comments', []], ['tk:keep', 'k']]) {
      await primeB(k, v)
    }
    const targets = await domainInvalidator.invalidateTicket(7)
    assert.deepEqual(targets, { keys: ['ticket:7'], tags: ['ticket:7', 'tickets', 'dashboard'], patterns: [] })
    await nulls(['ticket:7', 'tk:list', 'tk:dash', 'tk:7:comments'])
    assert.deepEqual(await getA('tk:keep'), { value: 'k', l1Hit: true, l2Read: false })
    for (const k of ['ticket:7', 'tk:list', 'tk:dash', 'tk:7:comments']) await bSees(k, null)
    assert.deepEqual(await B.get('tk:keep'), { value: 'k', l1Hit: true, l2Read: false })
  })

  test('invalidateUser, invalidateProduct, invalidateCategory follow the contract', async () => {
    const cases = [
      ['invalidateUser', 3, { keys: ['user:3'], tags: ['user:3'], patterns: [] }],
      ['invalidateProduct', '5', { keys: ['product:5'], tags: ['product:5', 'products'], patterns: [] }],
      ['invalidateCategory', 2, { keys: ['category:2'], tags: ['category:2', 'categories'], patterns: [] }],
    ]
    for (const [method, id, want] of cases) {
      const keep = `${want.keys[0]}0` // user:30 etc.: neither the key nor any of the tags
      await cacheManager.set(want.keys[0], 'the key')
      await cacheManager.set(keep, 'kept', { tags: [keep] })
      const tagged = []
      for (const tag of want.tags) {
        tagged.push(`by-${tag}`)
        await cacheManager.set(`by-${tag}`, 'tagged', { tags: [tag] })
      }
      await primeB(want.keys[0], 'the key')
      assert.deepEqual(await domainInvalidator[method](id), want, method)
      await nulls([want.keys[0], ...tagged])
      assert.equal(await cacheManager.get(keep), 'kept', `${method} leaves ${keep}`)
      await bSees(want.keys[0], null)
    }
  })

  test("register('order', id => ({ keys, tags, patterns })) then invalidate('order', 9)", async () => {
    const ids = []
    domainInvalidator.register('order', (id) => {
      ids.push(id)
      return { keys: [`order:${id}`], tags: [`order:${id}`], patterns: [`order:${id}:*`] }
    })
    const entries = { 'order:9': 9, 'o9:summary': 's', 'order:9:lines': [1], 'order:9:notes': 'n', 'order:10:lines': [2], 'order:99': 99 }
    for (const [k, v] of Object.entries(entries)) await cacheManager.set(k, v, k === 'o9:summary' ? { tags: ['order:9'] } : {})
    for (const [k, v] of Object.entries(entries)) await primeB(k, v)
    const from = eventsA.length
    const targets = await domainInvalidator.invalidate('order', 9)
    assert.deepEqual(targets, { keys: ['order:9'], tags: ['order:9'], patterns: ['order:9:*'] })
    assert.deepEqual(ids, ['9'], 'the rule gets the id as a string, once')
    await nulls(['order:9', 'o9:summary', 'order:9:lines', 'order:9:notes'])
    assert.equal(await cacheManager.get('order:10:lines').then((v) => v[0]), 2)
    assert.equal(await cacheManager.get('order:99'), 99)
    for (const k of ['order:9', 'o9:summary', 'order:9:lines', 'order:9:notes']) await bSees(k, null)
    assert.deepEqual(await B.get('order:99'), { value: 99, l1Hit: true, l2Read: false })
    await waitFor(() => eventsA.length - from >= 3, 'three events')
    assert.deepEqual(
      eventsA.slice(from).map((e) => [e.type, e.target]),
      [['key', ['order:9']], ['tag', ['order:9']], ['pattern', ['order:9:*']]],
    )
    // An async rule, and one that replaces a built-in.
    domainInvalidator.register('order', async (id) => ({ keys: [`order:v2:${id}`] }))
    assert.deepEqual(await domainInvalidator.invalidate('order', 1), { keys: ['order:v2:1'], tags: [], patterns: [] })
    domainInvalidator.register('ticket', (id) => ({ tags: [`custom-ticket:${id}`] }))
    assert.deepEqual(await domainInvalidator.invalidateTicket(1), { keys: [], tags: ['custom-ticket:1'], patterns: [] })
    // Unregistering: a built-in domain falls back to its built-in rule, another one is unknown again.
    assert.equal(domainInvalidator.unregister('ticket'), true)
    assert.equal(domainInvalidator.unregister('ticket'), false)
    assert.deepEqual(await domainInvalidator.invalidateTicket(1), { keys: ['ticket:1'], tags: ['ticket:1', 'tickets', 'dashboard'], patterns: [] })
    assert.equal(domainInvalidator.unregister('order'), true)
    await rejectsWith(domainInvalidator.invalidate('order', 1), 'ERR_STRATACACHE_INVALID_ARGUMENT', /order/)
  })

  test('a rule registered before the system started works', async () => {
    await cacheManager.set('early:1', 'e')
    await cacheManager.set('early-tagged', 't', { tags: ['early-tag:1'] })
    assert.deepEqual(await domainInvalidator.invalidate('early', 1), { keys: ['early:1'], tags: ['early-tag:1'], patterns: [] })
    assert.deepEqual(earlyCalls, ['1'])
    await nulls(['early:1', 'early-tagged'])
  })

  test('an unknown domain rejects with a clear message', async () => {
    await rejectsWith(domainInvalidator.invalidate('no-such-domain', 1), 'ERR_STRATACACHE_INVALID_ARGUMENT', /no-such-domain/, /register/)
  })

  test('a rule returning garbage rejects with ERR_STRATACACHE_INVALID_ARGUMENT and invalidates nothing', async () => {
    await cacheManager.set('garbage:1', 'safe')
    const garbage = [
      ['a string for keys', () => ({ keys: 'garbage:1' })],
      ['numbers in keys', () => ({ keys: [1] })],
      ['an unknown field', () => ({ kees: ['garbage:1'] })],
      ['a number', () => 42],
      ['a string', () => 'garbage:1'],
      ['a promise of garbage', async () => ({ tags: 'x' })],
      ['nothing (a forgotten return)', () => {}],
      ['null', () => null],
      ['a function inside', () => ({ keys: [() => 'garbage:1'] })],
      ['a good key with an empty pattern (checked before anything is invalidated)', () => ({ keys: ['garbage:1'], patterns: [''] })],
    ]
    for (const [what, rule] of garbage) {
      domainInvalidator.register('garbage', rule)
      await rejectsWith(domainInvalidator.invalidate('garbage', 1), 'ERR_STRATACACHE_INVALID_ARGUMENT', /garbage/)
      assert.equal(await cacheManager.get('garbage:1'), 'safe', `nothing invalidated (${what})`)
    }
    class RuleError extends Error {}
    const thrown = new RuleError('db down')
    domainInvalidator.register('garbage', () => {
      throw thrown
    })
    const e = await rejectsWith(domainInvalidator.invalidate('garbage', 1), undefined)
    assert.equal(e, thrown, 'a rule that throws rejects with that very error')
    // Bad ids never reach a rule or a built-in (invalidateTicket(undefined) must not wipe `tickets`).
    await cacheManager.set('garbage:tickets', 'safe', { tags: ['tickets'] })
    for (const id of [undefined, null, '', {}, Number.NaN]) {
      await rejectsWith(domainInvalidator.invalidateTicket(id), 'ERR_STRATACACHE_INVALID_ARGUMENT', /id must be/)
    }
    assert.equal(await cacheManager.get('garbage:tickets'), 'safe')
    await rejectsWith(domainInvalidator.invalidate(42, 1), 'ERR_STRATACACHE_INVALID_ARGUMENT', /domain must be/)
    assert.throws(() => domainInvalidator.register('', () => ({})), { code: 'ERR_STRATACACHE_INVALID_ARGUMENT' })
    assert.throws(() => domainInvalidator.register('x', 'not a function'), { code: 'ERR_STRATACACHE_INVALID_ARGUMENT' })
  })
})

test('the bus messages this process publishes have exactly the shape of tests/vectors/v1/bus.json', async () => {
  const sub = await subscriber(redis.port, CHANNEL)
  try {
    const shape = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? 'array' : typeof v]))
    const vectorShape = shape(VECTORS.messages[0].expect)
    for (const m of VECTORS.messages) assert.deepEqual(shape(m.expect), vectorShape)
    assert.equal(VECTORS.channel.channel, `${VECTORS.channel.namespace}:bus`)

    const ops = [
      [() => cacheManager.set('fmt:1', 1), 'write', ['fmt:1']],
      [() => cacheManager.mset([{ key: 'fmt:2', value: 2 }, { key: 'fmt:3', value: 3, tags: ['fmt'] }]), 'write', ['fmt:2', 'fmt:3']],
      [() => cacheManager.del('fmt:1'), 'key', ['fmt:1']],
      [() => cacheInvalidator.invalidateKeys(['fmt:2', 'fmt:é']), 'key', ['fmt:2', 'fmt:é']],
      [() => cacheInvalidator.invalidateTags(['fmt', 'dashboard']), 'tag', ['fmt', 'dashboard']],
      [() => cacheManager.invalidateByTags(['fmt']), 'tag', ['fmt']],
      [() => cacheInvalidator.invalidatePattern('fmt:*'), 'pattern', ['fmt:*']],
    ]
    for (const [op, type, target] of ops) {
      const t0 = Date.now()
      await op()
      const t1 = Date.now()
      const text = (await sub.next()).toString('utf8')
      const msg = JSON.parse(text)
      assert.deepEqual(shape(msg), vectorShape, `${type} message ${text}: same keys and value types as the vectors`)
      assert.deepEqual(Object.keys(msg).sort(), Object.keys(VECTORS.messages[0].expect).sort())
      assert.equal(msg.v, 1)
      assert.equal(msg.src, sourceA)
      assert.match(msg.src, /^[0-9a-f]+$/)
      assert.equal(msg.type, type)
      assert.deepEqual(msg.target, target)
      assert.ok(Number.isInteger(msg.ts) && msg.ts >= t0 && msg.ts <= t1, `ts ${msg.ts} is epoch ms of the call`)
    }
    await sleep(50)
    assert.equal(sub.messages.length, ops.length, 'one message per call (a batch is one message)')
  } finally {
    sub.close()
  }
})

test('shutdownCacheSystem() stops the subscriber: a child with a listener shuts down and exits by itself', async () => {
  const ns2 = uniqueNamespace('bus-exit')
  const file = sandbox.write(
    'exit-child.mjs',
    `
import * as sc from 'stratacache'
import { raw } from ${JSON.stringify(SUPPORT_URL)}
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))
const r = await raw(${redis.port})
const numsub = async () => (await r.cmd('PUBSUB', 'NUMSUB', ${JSON.stringify(`${ns2}:bus`)}))[1]
async function until(f, what) {
  for (const t0 = Date.now(); !(await f()); await sleep(5)) if (Date.now() - t0 > 2000) throw new Error('timed out: ' + what)
}
sc.createRedisClient({ host: '127.0.0.1', port: ${redis.port}, namespace: ${JSON.stringify(ns2)} })
const events = []
sc.cacheInvalidator.onInvalidation((e) => events.push(e))
await sc.initializeCacheSystem()
await until(async () => (await numsub()) === 1, 'subscribed')
await r.cmd('PUBLISH', ${JSON.stringify(`${ns2}:bus`)}, JSON.stringify({ v: 1, src: 'ff', type: 'key', target: ['k'], ts: 1 }))
await until(() => events.length === 1, 'a remote event')
await sc.shutdownCacheSystem()
await until(async () => (await numsub()) === 0, 'unsubscribed after shutdown')
console.log('EVENTS ' + JSON.stringify(events))
r.close()
`,
  )
  const res = await runNode(file, { timeoutMs: 15_000 })
  assert.equal(res.timedOut, false, `the child did not exit by itself\n${describeRun(res)}`)
  assert.equal(res.code, 0, describeRun(res))
  const line = res.stdout.split('\n').find((l) => l.startsWith('EVENTS '))
  assert.ok(line, describeRun(res))
  assert.deepEqual(JSON.parse(line.slice(7)), [{ type: 'key', target: ['k'], source: 'ff', timestamp: 1, local: false }])
  const [, left] = await r.cmd('PUBSUB', 'NUMSUB', `${ns2}:bus`)
  assert.equal(left, 0)
})

// Last: it kills every subscriber (A's and B's), and a reconnect currently leaves client tracking off.
describe('after a bus gap', () => {
  test('CLIENT KILL TYPE pubsub: after the bus reconnects, L1 is cleared and the next get reads Redis', async () => {
    await cacheManager.set('gap:1', 'old')
    await cacheManager.set('gap:2', 'untouched')
    await cacheManager.set('gap:src', 'new')
    assert.equal((await getA('gap:1')).l1Hit, true)
    assert.equal((await getA('gap:2')).l1Hit, true)
    const bytes = await r.cmd('GET', dataKey('gap:src'))
    // In one write: kill every subscriber, then change gap:1 while nobody can be told (the tracking
    // redirect is gone), so only the clear-after-gap rule can save A from serving 'old'.
    const [killed, set] = await Promise.all([r.cmd('CLIENT', 'KILL', 'TYPE', 'pubsub'), r.cmd('SET', dataKey('gap:1'), bytes)])
    assert.ok(killed >= 2, `A's and B's subscribers killed (${killed})`)
    assert.equal(set, 'OK')
    await busReady(2, { tracking: false })
    await waitFor(async () => (await cacheManager.get('gap:1')) === 'new', 'A to read the new gap:1 after reconnecting')
    // gap:1 being fresh proves the clear ran (nothing else evicts it); gap:2 must be gone from L1 too.
    assert.deepEqual(await getA('gap:2'), { value: 'untouched', l1Hit: false, l2Read: true })
    assert.deepEqual(await getA('gap:2'), { value: 'untouched', l1Hit: true, l2Read: false })
    // And the bus works again, both ways.
    await cacheManager.set('gap:3', 1)
    await primeB('gap:3', 1)
    await cacheManager.set('gap:3', 2)
    await bSees('gap:3', 2)
    const from = eventsA.length
    await B.call('cacheInvalidator', 'invalidateKeys', ['gap:4'])
    await waitFor(() => eventsA.slice(from).some((e) => e.target[0] === 'gap:4' && !e.local), 'B’s event after the reconnect')
  })

  test(
    'after a bus reconnect, writes from outside the library evict again (client tracking re-enabled)',
    {},
    async () => {
      await busReady(2, { tracking: false })
      await cacheManager.set('gap:ext', 'old')
      await cacheManager.set('gap:ext-src', 'new')
      assert.equal((await getA('gap:ext')).l1Hit, true)
      await r.cmd('SET', dataKey('gap:ext'), await r.cmd('GET', dataKey('gap:ext-src')))
      await waitFor(async () => (await cacheManager.get('gap:ext')) === 'new', 'A to read the value of the raw SET', { timeoutMs: 1500 })
    },
  )
})
