// cacheManager through the npm package: the usage guide's Basic Operations, TTLs, value conversion,
// bad input, the L1 hit path and sharing with other processes. One throwaway redis-server per file.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  cacheManager,
  createRedisClient,
  getCacheManager,
  shutdownCacheSystem,
} from 'stratacache'
import { describeRun, makeSandbox, raw, runNode, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('cm')
let redis
let r
let sandbox

const dataKey = (key) => `${ns}:d:${key}`
const tagKey = (tag) => `${ns}:t:${tag}`
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

/** Assert `promise` rejects with a stratacache error of `code` whose message matches every pattern. */
async function rejectsWith(promise, code, ...patterns) {
  let error
  try {
    await promise
  } catch (e) {
    error = e
  }
  assert.ok(error, `expected a rejection with ${code}, but it resolved`)
  assert.equal(error.code, code, `wrong code for: ${error.message}`)
  for (const p of patterns) assert.match(error.message, p)
  return error
}

async function existing(...keys) {
  const out = []
  for (const k of keys) if ((await r.cmd('EXISTS', dataKey(k))) === 1) out.push(k)
  return out
}

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  sandbox = makeSandbox()
  // The guide's Custom Configuration, pointed at the throwaway server (before first use).
  const handle = createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
  assert.equal(handle.options.port, redis.port)
  const manager = getCacheManager({ l1MaxSize: 1000, defaultTTL: 600, enableL1: true, enableL2: true })
  assert.equal(manager, cacheManager, 'getCacheManager() must return the cacheManager singleton')
})

after(async () => {
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
  sandbox?.remove()
})

describe('guide: Basic Operations', () => {
  test('Simple Get/Set: set with ttl, get, del', async () => {
    await cacheManager.set('greeting', 'Hello World', { ttl: 60 })
    const greeting = await cacheManager.get('greeting')
    assert.equal(greeting, 'Hello World')

    const pttl = await r.cmd('PTTL', dataKey('greeting'))
    assert.ok(pttl > 58_000 && pttl <= 60_000, `Redis expiry should equal the ttl (60 s), got ${pttl} ms`)

    assert.equal(await cacheManager.del('greeting'), true)
    assert.equal(await cacheManager.get('greeting'), null)
    assert.equal(await r.cmd('EXISTS', dataKey('greeting')), 0, 'del must remove the Redis key')
    assert.equal(await cacheManager.del('greeting'), false, 'deleting a missing key resolves false')
  })

  test('get of a key never set resolves null', async () => {
    assert.equal(await cacheManager.get('never-set-key'), null)
  })

  test('With Tags: invalidateByTags evicts every tagged entry and nothing else', async () => {
    const ticketData = (id) => ({ id, subject: `printer ${id} on fire`, status: 'open' })
    for (const ticketId of [1, 2]) {
      await cacheManager.set(`ticket:${ticketId}`, ticketData(ticketId), {
        ttl: 300,
        tags: ['tickets', `ticket:${ticketId}`],
      })
    }
    await cacheManager.set('user:untagged', { name: 'Zed' }, { ttl: 300 })
    assert.deepEqual(await cacheManager.get('ticket:1'), ticketData(1))
    const token = await r.cmd('GET', tagKey('tickets'))
    assert.ok(Buffer.isBuffer(token) && token.length === 8, 'a tag key holds an 8-byte token')

    await cacheManager.invalidateByTags(['tickets'])

    assert.equal(await cacheManager.get('ticket:1'), null)
    assert.equal(await cacheManager.get('ticket:2'), null)
    assert.deepEqual(await cacheManager.get('user:untagged'), { name: 'Zed' })
    assert.notDeepEqual(await r.cmd('GET', tagKey('tickets')), token, 'invalidation bumps the tag token')

    // A write made after the invalidation is not treated as invalidated.
    await cacheManager.set('ticket:1', ticketData(1), { ttl: 300, tags: ['tickets', 'ticket:1'] })
    assert.deepEqual(await cacheManager.get('ticket:1'), ticketData(1))
  })

  test('invalidating one ticket tag leaves the other tickets', async () => {
    await cacheManager.set('ticket:7', { id: 7 }, { ttl: 300, tags: ['tickets', 'ticket:7'] })
    await cacheManager.set('ticket:8', { id: 8 }, { ttl: 300, tags: ['tickets', 'ticket:8'] })
    await cacheManager.invalidateByTags(['ticket:7'])
    assert.equal(await cacheManager.get('ticket:7'), null)
    assert.deepEqual(await cacheManager.get('ticket:8'), { id: 8 })
  })

  test('With Compression: compress: true above compressionThreshold is stored compressed and reads back', async () => {
    const largeDocument = {
      title: 'Quarterly report',
      sections: Array.from({ length: 40 }, (_, i) => ({ heading: `Section ${i}`, body: 'lorem ipsum dolor sit amet '.repeat(4) })),
    }
    assert.ok(JSON.stringify(largeDocument).length > 512)
    await cacheManager.set('doc:large', largeDocument, {
      ttl: 3600,
      compress: true,
      compressionThreshold: 512, // compress if > 512 bytes
    })
    const doc = await cacheManager.get('doc:large')
    assert.deepEqual(doc, largeDocument)

    const stored = await r.cmd('GET', dataKey('doc:large'))
    assert.equal(stored[3], 0x03, 'flags byte must say LZ4-compressed')
    assert.ok(stored.length < JSON.stringify(largeDocument).length, 'compressed entry must be smaller than the JSON')

    // Below the threshold it stays plain even with compress: true.
    await cacheManager.set('doc:small', { a: 'x'.repeat(100) }, { ttl: 60, compress: true, compressionThreshold: 512 })
    assert.equal((await r.cmd('GET', dataKey('doc:small')))[3], 0x00)
  })

  test('Multiple Operations: mset, then mget returns a Map in input order', async () => {
    await cacheManager.mset([
      { key: 'user:1', value: { name: 'Alice' }, ttl: 300 },
      { key: 'user:2', value: { name: 'Bob' }, ttl: 300 },
      { key: 'user:3', value: { name: 'Charlie' }, ttl: 300 },
    ])
    const users = await cacheManager.mget(['user:1', 'user:2', 'user:3'])
    assert.ok(users instanceof Map)
    const lines = []
    users.forEach((user, key) => {
      lines.push(`${key}: ${user?.name}`)
    })
    assert.deepEqual(lines, ['user:1: Alice', 'user:2: Bob', 'user:3: Charlie'])

    const pttl = await r.cmd('PTTL', dataKey('user:2'))
    assert.ok(pttl > 298_000 && pttl <= 300_000, `mset ttl must reach Redis, got ${pttl} ms`)

    // Input order (not storage order), duplicates of a miss, misses as null.
    const mixed = await cacheManager.mget(['user:3', 'user:missing', 'user:1'])
    assert.deepEqual([...mixed.entries()], [
      ['user:3', { name: 'Charlie' }],
      ['user:missing', null],
      ['user:1', { name: 'Alice' }],
    ])
  })

  test('mget reads entries that are only in Redis (L2) too', async () => {
    const envelope = await r.cmd('GET', dataKey('user:1'))
    await r.cmd('SET', dataKey('user:l2only'), envelope, 'PX', 60_000)
    const got = await cacheManager.mget(['user:l2only', 'user:1'])
    assert.deepEqual(got.get('user:l2only'), { name: 'Alice' })
  })

  test('getStats(): the documented shape, hit rates as percentages', async () => {
    await cacheManager.set('stats:k', 1, { ttl: 60 })
    await cacheManager.get('stats:k')
    await cacheManager.get('stats:missing')
    const stats = await cacheManager.getStats()
    for (const f of ['size', 'maxSize', 'hits', 'misses', 'hitRate']) assert.equal(typeof stats.l1[f], 'number', `l1.${f}`)
    for (const f of ['hits', 'misses', 'hitRate', 'errors']) assert.equal(typeof stats.l2[f], 'number', `l2.${f}`)
    assert.equal(stats.l1.maxSize, 1000, 'l1MaxSize from getCacheManager')
    assert.ok(stats.l1.size >= 1 && stats.l1.size <= 1000)
    assert.ok(stats.l1.hits >= 1 && stats.l1.misses >= 1)
    for (const tier of [stats.l1, stats.l2]) {
      assert.ok(tier.hitRate >= 0 && tier.hitRate <= 100, `hitRate ${tier.hitRate} must be 0–100`)
      const total = tier.hits + tier.misses
      if (total > 0) assert.ok(Math.abs(tier.hitRate - (100 * tier.hits) / total) < 0.01, 'hitRate = hits / (hits + misses) in percent')
    }
    assert.ok(stats.l1.hitRate > 1, 'a percentage, not a fraction')
    assert.equal(stats.l2.errors, 0)
  })
})

describe('TTL', () => {
  test('an entry with ttl 0.3 is gone from both tiers after ~0.4 s', async () => {
    await cacheManager.set('ttl:short', 'soon gone', { ttl: 0.3 })
    assert.equal(await cacheManager.get('ttl:short'), 'soon gone')
    const pttl = await r.cmd('PTTL', dataKey('ttl:short'))
    assert.ok(pttl > 0 && pttl <= 300, `fractional ttl must reach Redis as 300 ms, got ${pttl}`)
    await sleep(400)
    assert.equal(await cacheManager.get('ttl:short'), null, 'L1 must not keep an entry past its expiry')
    assert.equal(await r.cmd('EXISTS', dataKey('ttl:short')), 0)
  })

  test('without ttl the defaultTTL (600 s) applies', async () => {
    await cacheManager.set('ttl:default', 1)
    const pttl = await r.cmd('PTTL', dataKey('ttl:default'))
    assert.ok(pttl > 598_000 && pttl <= 600_000, `got ${pttl} ms`)
  })
})

describe('values', () => {
  test('JSON data round-trips', async () => {
    const value = { s: 'Zoë 🚀', n: -12.5, i: 9007199254740991, b: false, nul: null, arr: [1, [2, {}]], nested: { a: { b: [] } } }
    await cacheManager.set('json:all', value)
    assert.deepEqual(await cacheManager.get('json:all'), value)
    for (const v of [0, '', false, null, [], 'plain']) {
      await cacheManager.set('json:scalar', v)
      assert.deepEqual(await cacheManager.get('json:scalar'), v)
    }
  })

  test('a null value is stored (distinct from absent in Redis)', async () => {
    await cacheManager.set('json:null', null)
    assert.equal(await r.cmd('EXISTS', dataKey('json:null')), 1)
    assert.equal(await cacheManager.get('json:null'), null)
  })

  test('a Date is stored as its ISO string, at the top and nested', async () => {
    const when = new Date('2026-03-04T05:06:07.089Z')
    await cacheManager.set('date:top', when)
    assert.equal(await cacheManager.get('date:top'), '2026-03-04T05:06:07.089Z')
    await cacheManager.set('date:nested', { when, list: [when] })
    assert.deepEqual(await cacheManager.get('date:nested'), { when: when.toISOString(), list: [when.toISOString()] })
  })

  test('object properties that are undefined are left out, as JSON.stringify does', async () => {
    await cacheManager.set('json:undef-prop', { a: 1, b: undefined })
    assert.deepEqual(await cacheManager.get('json:undef-prop'), { a: 1 })
  })

  const circular = () => {
    const o = { name: 'loop' }
    o.self = o
    return o
  }
  const refused = [
    ['undefined', () => undefined, /undefined/],
    ['a function', () => () => 1, /function/],
    ['a symbol', () => Symbol('s'), /symbol/i],
    ['a BigInt', () => 10n, /BigInt/i],
    ['NaN', () => NaN, /NaN/],
    ['Infinity', () => Infinity, /Infinity/],
    ['a circular object', circular, /circular/i],
    ['a Map', () => new Map([['a', 1]]), /Map/],
    ['a Set', () => new Set([1]), /Set/],
    ['an invalid Date', () => new Date('not a date'), /invalid Date/i],
    ['a function deep inside', () => ({ a: [{ b: () => 1 }] }), /function/],
    ['undefined in an array', () => [1, undefined], /undefined/],
    ['NaN nested', () => ({ score: NaN }), /NaN/],
  ]
  for (const [what, make, pattern] of refused) {
    test(`set refuses ${what} with a TypeError naming the key, and writes nothing`, async () => {
      const key = `refused:${what.replace(/\s+/g, '-')}`
      const error = await rejectsWith(cacheManager.set(key, make(), { ttl: 60 }), 'ERR_STRATACACHE_SERIALIZATION', pattern)
      assert.ok(error instanceof TypeError, 'must be instanceof TypeError')
      assert.ok(error.message.includes(key), `message must name the key: ${error.message}`)
      assert.equal(await r.cmd('EXISTS', dataKey(key)), 0, 'nothing written to Redis')
      assert.equal(await cacheManager.get(key), null, 'nothing in L1 either')
    })
  }

  test('a value that cannot be stored does not replace the previous one', async () => {
    await cacheManager.set('refused:keep', 'old')
    await assert.rejects(cacheManager.set('refused:keep', () => 1), TypeError)
    assert.equal(await cacheManager.get('refused:keep'), 'old')
  })
})

describe('bad input', () => {
  test("get('') and get(123) reject with ERR_STRATACACHE_INVALID_KEY", async () => {
    await rejectsWith(cacheManager.get(''), 'ERR_STRATACACHE_INVALID_KEY', /key/)
    await rejectsWith(cacheManager.get(123), 'ERR_STRATACACHE_INVALID_KEY', /123/)
    await rejectsWith(cacheManager.set('', 1), 'ERR_STRATACACHE_INVALID_KEY')
    await rejectsWith(cacheManager.del(''), 'ERR_STRATACACHE_INVALID_KEY')
    await rejectsWith(cacheManager.mget(['ok', '']), 'ERR_STRATACACHE_INVALID_KEY')
  })

  test('keys are limited to 1024 bytes of UTF-8 (bytes, not characters)', async () => {
    const max = 'k'.repeat(1024)
    await cacheManager.set(max, 'fits')
    assert.equal(await cacheManager.get(max), 'fits')

    const over = 'k'.repeat(1025)
    await rejectsWith(cacheManager.get(over), 'ERR_STRATACACHE_INVALID_KEY', /1024/, /1025/)
    await rejectsWith(cacheManager.set(over, 1), 'ERR_STRATACACHE_INVALID_KEY', /1025/)
    const multibyte = 'é'.repeat(513) // 513 characters, 1026 bytes
    await rejectsWith(cacheManager.set(multibyte, 1), 'ERR_STRATACACHE_INVALID_KEY', /1026/)
    assert.deepEqual(await existing(over, multibyte), [])
  })

  for (const [ttl, pattern] of [
    [0, /ttl must be > 0, got 0/],
    [-1, /ttl must be > 0, got -1/],
    [NaN, /ttl.*NaN/],
    ['x', /ttl.*"x"/],
    [Infinity, /ttl.*Infinity/],
  ]) {
    test(`ttl ${typeof ttl === 'string' ? `'${ttl}'` : ttl} is refused with ERR_STRATACACHE_INVALID_ARGUMENT naming the option and value`, async () => {
      const key = `badttl:${String(ttl)}`
      await rejectsWith(cacheManager.set(key, 1, { ttl }), 'ERR_STRATACACHE_INVALID_ARGUMENT', pattern)
      assert.deepEqual(await existing(key), [])
    })
  }

  test('an unknown option name is refused, not ignored', async () => {
    await rejectsWith(cacheManager.set('badopt', 1, { tll: 60 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tll/)
    assert.deepEqual(await existing('badopt'), [])
  })

  test('tags must be an array of strings', async () => {
    await rejectsWith(cacheManager.set('badtags', 1, { tags: 'tickets' }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tags/, /tickets/)
    await rejectsWith(cacheManager.set('badtags', 1, { tags: ['ok', 7] }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tags/, /7/)
    await rejectsWith(cacheManager.set('badtags', 1, { tags: [''] }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tag/)
    await rejectsWith(cacheManager.invalidateByTags('tickets'), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tags/)
    await rejectsWith(cacheManager.invalidateByTags([null]), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tags/)
    assert.deepEqual(await existing('badtags'), [])
  })

  test('mset with one bad item writes nothing', async () => {
    const keys = ['batch:1', 'batch:2', 'batch:3']
    await rejectsWith(
      cacheManager.mset([
        { key: keys[0], value: 1 },
        { key: keys[1], value: () => 2 },
        { key: keys[2], value: 3 },
      ]),
      'ERR_STRATACACHE_SERIALIZATION',
      /batch:2/,
    )
    assert.deepEqual(await existing(...keys), [], 'unserializable value')

    await rejectsWith(
      cacheManager.mset([
        { key: keys[0], value: 1, ttl: 60 },
        { key: keys[1], value: 2, ttl: -5 },
        { key: keys[2], value: 3, ttl: 60 },
      ]),
      'ERR_STRATACACHE_INVALID_ARGUMENT',
      /ttl/,
      /-5/,
    )
    assert.deepEqual(await existing(...keys), [], 'bad ttl on the second item')

    await rejectsWith(
      cacheManager.mset([
        { key: keys[0], value: 1 },
        { key: '', value: 2 },
      ]),
      'ERR_STRATACACHE_INVALID_KEY',
    )
    await rejectsWith(
      cacheManager.mset([
        { key: keys[0], value: 1 },
        { key: keys[1], value: 2, tags: 'nope' },
      ]),
      'ERR_STRATACACHE_INVALID_ARGUMENT',
      /tags/,
    )
    assert.deepEqual(await existing(...keys), [])
    for (const k of keys) assert.equal(await cacheManager.get(k), null, `${k} must not be in L1`)
  })

  test('mset and mget refuse a non-array', async () => {
    await rejectsWith(cacheManager.mset({ key: 'a', value: 1 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /array/)
    await rejectsWith(cacheManager.mget('user:1'), 'ERR_STRATACACHE_INVALID_ARGUMENT', /array/)
  })

  test('empty batches: mget([]) is an empty Map, invalidateByTags([]) resolves', async () => {
    const none = await cacheManager.mget([])
    assert.ok(none instanceof Map)
    assert.equal(none.size, 0)
    await cacheManager.invalidateByTags([])
  })

  test('mset([]) resolves and writes nothing', async () => {
    const keysBefore = await r.cmd('DBSIZE')
    await cacheManager.mset([])
    assert.equal(await r.cmd('DBSIZE'), keysBefore)
  })

  test('bad input does not break the manager', async () => {
    await cacheManager.set('after-bad-input', 'still fine')
    assert.equal(await cacheManager.get('after-bad-input'), 'still fine')
  })
})

describe('sets issued in one tick', () => {
  test('each set keeps its own outcome: a bad one rejects alone, the others are stored', async () => {
    // 10 good and 4 bad sets: under 16, so all of them travel in one batch.
    const keys = Array.from({ length: 10 }, (_, i) => `tick:ok:${i}`)
    const writes = keys.map((k, i) => cacheManager.set(k, { i }, { ttl: 60, tags: [`tick-${i % 3}`] }))
    const bad = [
      rejectsWith(cacheManager.set('tick:bad-ttl', 1, { ttl: -1 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /ttl/),
      rejectsWith(cacheManager.set('tick:bad-opt', 1, { tll: 60 }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tll/),
      rejectsWith(cacheManager.set('tick:bad-tag', 1, { tags: [''] }), 'ERR_STRATACACHE_INVALID_ARGUMENT', /tag/),
      rejectsWith(cacheManager.set('', 1), 'ERR_STRATACACHE_INVALID_KEY'),
    ]
    await Promise.all(writes)
    await Promise.all(bad)
    assert.deepEqual(await existing(...keys), keys)
    assert.deepEqual(await existing('tick:bad-ttl', 'tick:bad-opt', 'tick:bad-tag'), [])
    for (const [i, k] of keys.entries()) assert.deepEqual(await cacheManager.get(k), { i })
    await cacheManager.invalidateByTags(['tick-1'])
    const left = []
    for (const k of keys) if ((await cacheManager.get(k)) !== null) left.push(k)
    assert.deepEqual(left, keys.filter((_, i) => i % 3 !== 1), 'each set carried its own tags')
  })

  test('the same key set twice in one tick keeps the later value, here and in Redis', async () => {
    const first = cacheManager.set('tick:twice', 'first')
    const second = cacheManager.set('tick:twice', 'second')
    await Promise.all([first, second])
    assert.equal(await cacheManager.get('tick:twice'), 'second')
    const envelope = await r.cmd('GET', dataKey('tick:twice'))
    assert.match(String(envelope), /second/)
    assert.doesNotMatch(String(envelope), /first/)
  })

  test("one tick's sets reach Redis together, 16 at a time: one bus message per 16 sets", async () => {
    for (const [count, messages] of [[16, 1], [40, 3]]) {
      const c0 = await r.commandCalls()
      await Promise.all(Array.from({ length: count }, (_, i) => cacheManager.set(`tick:bus:${i}`, i)))
      const c1 = await r.commandCalls()
      assert.equal((c1.set ?? 0) - (c0.set ?? 0), count)
      assert.equal((c1.publish ?? 0) - (c0.publish ?? 0), messages, `${count} sets in one tick`)
    }
    for (let i = 0; i < 40; i++) assert.equal(await cacheManager.get(`tick:bus:${i}`), i)
  })

  test('calls still start in the order they were made: set then del deletes, set then get reads it', async () => {
    await cacheManager.set('order:d', 'old')
    const [, existed] = await Promise.all([cacheManager.set('order:d', 'new'), cacheManager.del('order:d')])
    assert.equal(existed, true)
    assert.equal(await cacheManager.get('order:d'), null)
    assert.deepEqual(await existing('order:d'), [])

    // A get of another key opens a batch of gets; the set and the get after it must still run in order.
    // Each batch is its own task on the runtime, and tasks need not first run in spawn order: before
    // the core's StartQueue about 0.5 % of these pairs read nothing, so the pair is repeated:
    // 400 pairs (a 0.5 % fault shows in 86 % of runs), then deleted again: this file's L1 holds 1,000
    // entries, and a full L1 may not admit the next test's fresh key.
    const misread = []
    for (let i = 0; i < 400; i++) {
      const [, , read] = await Promise.all([
        cacheManager.get('order:elsewhere'),
        cacheManager.set(`order:g:${i}`, 'written'),
        cacheManager.get(`order:g:${i}`),
      ])
      if (read !== 'written') misread.push(i)
    }
    await Promise.all(Array.from({ length: 400 }, (_, i) => cacheManager.del(`order:g:${i}`)))
    assert.deepEqual(misread, [], 'a get made after a set read nothing')

    const { cacheAside } = await import('stratacache')
    let loads = 0
    const [, got] = await Promise.all([
      cacheManager.set('order:ca', 'stored'),
      cacheAside.get('order:ca', async () => {
        loads++
        return 'loaded'
      }),
    ])
    assert.equal(got, 'stored')
    assert.equal(loads, 0, 'the set made just before reached Redis first')
  })

  test('a get made right after a set or mset in the same tick reads the new value, not L1\'s older one', async () => {
    const stale = []
    for (let i = 0; i < 50; i++) {
      await cacheManager.set('ryw:k', `old${i}`)
      await cacheManager.mset([{ key: 'ryw:m', value: `old${i}` }])
      assert.equal(await cacheManager.get('ryw:k'), `old${i}`) // now in L1
      assert.equal(await cacheManager.get('ryw:m'), `old${i}`)
      const [, k, , m] = await Promise.all([
        cacheManager.set('ryw:k', `new${i}`),
        cacheManager.get('ryw:k'),
        cacheManager.mset([{ key: 'ryw:m', value: `new${i}` }]),
        cacheManager.get('ryw:m'),
      ])
      if (k !== `new${i}` || m !== `new${i}`) stale.push([i, k, m])
    }
    assert.deepEqual(stale, [], 'a get after a write in the same tick read the older value')
  })

  test('sets after an await start a new batch and still settle', async () => {
    for (let round = 0; round < 3; round++) {
      await Promise.all([cacheManager.set(`tick:round:${round}:a`, round), cacheManager.set(`tick:round:${round}:b`, round)])
    }
    assert.deepEqual(await existing('tick:round:2:a', 'tick:round:2:b'), ['tick:round:2:a', 'tick:round:2:b'])
  })
})

describe('L1 and Redis', () => {
  test('an L1 hit resolves the value without any Redis command', async () => {
    await cacheManager.set('l1:hot', { hot: true }, { ttl: 60 })
    const before = await cacheManager.getStats()
    const callsBefore = await r.commandCalls()
    for (let i = 0; i < 25; i++) assert.deepEqual(await cacheManager.get('l1:hot'), { hot: true })
    const callsAfter = await r.commandCalls()
    const after = await cacheManager.getStats()
    assert.equal(after.l1.hits - before.l1.hits, 25, 'every get was an L1 hit')
    assert.equal(callsAfter.get ?? 0, callsBefore.get ?? 0, 'no GET reached Redis')
    const changed = Object.keys(callsAfter).filter((c) => c !== 'info' && callsAfter[c] !== callsBefore[c])
    assert.deepEqual(changed, [], 'no Redis command at all for L1 hits')
  })

  test('every L1 hit is a fresh deep copy, keys named __proto__ included', async () => {
    const value = JSON.parse('{"__proto__": {"x": 1}, "rows": [{"id": 1, "tags": ["a"]}], "n": null}')
    await cacheManager.set('l1:copies', value, { ttl: 60 })
    const a = await cacheManager.get('l1:copies')
    const b = await cacheManager.get('l1:copies')
    assert.notEqual(a, b)
    a.rows[0].tags.push('mutated')
    a.rows.push({ id: 2 })
    a.__proto__.x = 99
    const c = await cacheManager.get('l1:copies')
    assert.deepEqual(c.rows, [{ id: 1, tags: ['a'] }], 'mutating one result changes no other')
    assert.ok(Object.hasOwn(c, '__proto__'), '"__proto__" stays an own property')
    assert.equal(Object.getPrototypeOf(c), Object.prototype)
    assert.deepEqual(c.__proto__, { x: 1 })
    assert.equal(c.n, null)
    assert.equal(JSON.stringify(b), JSON.stringify(value))
  })

  test('an L2 hit fills L1: the second get does not touch Redis', async () => {
    // Planted by "another process": copy a valid envelope to a key this process never saw.
    await cacheManager.set('l2:source', { from: 'redis' }, { ttl: 60 })
    await r.cmd('SET', dataKey('l2:planted'), await r.cmd('GET', dataKey('l2:source')), 'PX', 60_000)
    const s0 = await cacheManager.getStats()
    const c0 = await r.commandCalls()
    assert.deepEqual(await cacheManager.get('l2:planted'), { from: 'redis' })
    const c1 = await r.commandCalls()
    const s1 = await cacheManager.getStats()
    assert.ok((c1.get ?? 0) > (c0.get ?? 0), 'the first get reads Redis')
    assert.equal(s1.l2.hits - s0.l2.hits, 1)
    assert.deepEqual(await cacheManager.get('l2:planted'), { from: 'redis' })
    const c2 = await r.commandCalls()
    assert.equal(c2.get ?? 0, c1.get ?? 0, 'the second get is served by L1')
    assert.equal((await cacheManager.getStats()).l1.hits - s1.l1.hits, 1)
  })

  test('a miss in both tiers counts an L2 miss', async () => {
    const s0 = await cacheManager.getStats()
    assert.equal(await cacheManager.get('l2:absent'), null)
    const s1 = await cacheManager.getStats()
    assert.equal(s1.l2.misses - s0.l2.misses, 1)
  })

  test('L1 never serves an entry whose Redis expiry passed, even when Redis lost it early', async () => {
    await cacheManager.set('l1:bounded', 'v', { ttl: 0.25 })
    assert.equal(await cacheManager.get('l1:bounded'), 'v')
    await sleep(300)
    assert.equal(await cacheManager.get('l1:bounded'), null)
  })
})

describe('other processes', () => {
  const childScript = (port, body) => `
    const sc = require('stratacache')
    sc.createRedisClient({ host: '127.0.0.1', port: ${port}, namespace: ${JSON.stringify(ns)} })
    ;(async () => {
      ${body}
      await sc.shutdownCacheSystem()
    })().catch((e) => { console.error(e); process.exitCode = 1 })
  `

  test('a fresh process reads what this one wrote (plain, tagged, compressed)', async () => {
    const big = { text: 'abcdefgh'.repeat(500) }
    await cacheManager.set('xproc:plain', { hello: 'from parent' }, { ttl: 60 })
    await cacheManager.set('xproc:tagged', [1, 2, 3], { ttl: 60, tags: ['xproc'] })
    await cacheManager.set('xproc:big', big, { ttl: 60, compress: true, compressionThreshold: 100 })
    const file = sandbox.write(
      'read.cjs',
      childScript(
        redis.port,
        `const m = await sc.cacheManager.mget(['xproc:plain', 'xproc:tagged', 'xproc:big', 'xproc:none'])
         console.log(JSON.stringify([...m.entries()]))`,
      ),
    )
    const res = await runNode(file, { timeoutMs: 10_000 })
    assert.equal(res.code, 0, describeRun(res))
    assert.deepEqual(JSON.parse(res.stdout.trim()), [
      ['xproc:plain', { hello: 'from parent' }],
      ['xproc:tagged', [1, 2, 3]],
      ['xproc:big', big],
      ['xproc:none', null],
    ])
  })

  test('this process reads what another process wrote', async () => {
    const file = sandbox.write(
      'write.cjs',
      childScript(redis.port, `await sc.cacheManager.set('xproc:from-child', { pid: process.pid, ok: true }, { ttl: 60 })`),
    )
    const res = await runNode(file, { timeoutMs: 10_000 })
    assert.equal(res.code, 0, describeRun(res))
    const got = await cacheManager.get('xproc:from-child')
    assert.equal(got?.ok, true)
    assert.notEqual(got.pid, process.pid)
  })

  test('a tag invalidated by another process is a miss here at once', async () => {
    await cacheManager.set('xproc:inv', 'v', { ttl: 60, tags: ['xproc-inv'] })
    const file = sandbox.write('inv.cjs', childScript(redis.port, `await sc.cacheManager.invalidateByTags(['xproc-inv'])`))
    const res = await runNode(file, { timeoutMs: 10_000 })
    assert.equal(res.code, 0, describeRun(res))
    // This process has the entry in L1; the invalidation must still win.
    const deadline = Date.now() + 1000
    let value = await cacheManager.get('xproc:inv')
    while (value !== null && Date.now() < deadline) {
      await sleep(50)
      value = await cacheManager.get('xproc:inv')
    }
    assert.equal(value, null, "another process's invalidateByTags must evict this process's L1 (contract §4)")
  })

  test('a value changed by another process replaces the one in this L1', async () => {
    await cacheManager.set('xproc:changed', 'old', { ttl: 60 })
    assert.equal(await cacheManager.get('xproc:changed'), 'old')
    const file = sandbox.write('change.cjs', childScript(redis.port, `await sc.cacheManager.set('xproc:changed', 'new', { ttl: 60 })`))
    const res = await runNode(file, { timeoutMs: 10_000 })
    assert.equal(res.code, 0, describeRun(res))
    const deadline = Date.now() + 1000
    let value = await cacheManager.get('xproc:changed')
    while (value !== 'new' && Date.now() < deadline) {
      await sleep(50)
      value = await cacheManager.get('xproc:changed')
    }
    assert.equal(value, 'new', "another process's set must evict this process's L1 (contract §4)")
  })
})

describe('configuration', () => {
  for (const port of ['abc', 70000, -1, 1.5]) {
    test(`createRedisClient({ port: ${JSON.stringify(port)} }) throws ERR_STRATACACHE_CONFIG synchronously, naming the value`, () => {
      let error
      try {
        createRedisClient({ host: '127.0.0.1', port })
      } catch (e) {
        error = e
      }
      assert.ok(error, 'must throw synchronously')
      assert.equal(error.code, 'ERR_STRATACACHE_CONFIG')
      assert.match(error.message, /port/)
      assert.ok(error.message.includes(String(port)), `message must name the value ${port}: ${error.message}`)
    })
  }

  test('a bad createRedisClient call leaves the running system untouched', async () => {
    assert.throws(() => createRedisClient({ port: 'abc' }))
    await cacheManager.set('config:after', 'ok')
    assert.equal(await cacheManager.get('config:after'), 'ok')
  })

  test('getCacheManager with the same options returns the same singleton; other options after start are refused', () => {
    assert.equal(getCacheManager({ l1MaxSize: 1000, defaultTTL: 600, enableL1: true, enableL2: true }), cacheManager)
    assert.equal(getCacheManager(), cacheManager)
    assert.throws(() => getCacheManager({ l1MaxSize: 5 }), (e) => e.code === 'ERR_STRATACACHE_CONFIG')
  })

  test('bad cache options throw ERR_STRATACACHE_CONFIG naming the option and value', () => {
    assert.throws(() => getCacheManager({ l1MaxSize: 'lots' }), (e) => e.code === 'ERR_STRATACACHE_CONFIG' && /l1MaxSize|l1_max_size/.test(e.message) && /lots/.test(e.message))
    assert.throws(() => getCacheManager({ defaultTTL: -3 }), (e) => e.code === 'ERR_STRATACACHE_CONFIG' && /-3/.test(e.message))
    assert.throws(() => getCacheManager({ busStaleMs: -1 }), (e) => e.code === 'ERR_STRATACACHE_CONFIG' && /busStaleMs/.test(e.message) && /-1/.test(e.message))
    assert.throws(() => getCacheManager({ busStaleMs: 120000 }), (e) => e.code === 'ERR_STRATACACHE_CONFIG' && /busStaleMs must be at most 60000, got 120000/.test(e.message))
  })
})
