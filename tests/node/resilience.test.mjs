// Contract §9 through the npm package (issue 18): TTL jitter, hard loader timeouts, result metadata,
// Cache-Status and the batch loader getMany.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cacheAside, cacheManager, cacheStatusHeader, getCacheManager, createRedisClient, shutdownCacheSystem } from 'stratacache'
import { raw, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('resil')
let redis
let r

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
  getCacheManager({ ttlJitter: 30 })
})

after(async () => {
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
})

const pttl = async (key) => Number(await r.cmd('PTTL', `${ns}:d:${key}`))

describe('ttlJitter', () => {
  test('keys written together get TTLs spread over the jitter; 0 on a call turns it off', async () => {
    await Promise.all(Array.from({ length: 40 }, (_, i) => cacheManager.set(`j:${i}`, i, { ttl: 60 })))
    const ttls = await Promise.all(Array.from({ length: 40 }, (_, i) => pttl(`j:${i}`)))
    for (const t of ttls) assert.ok(t >= 59_000 && t <= 90_000, `60 s plus 0..30 s: ${t}`)
    assert.ok(Math.max(...ttls) - Math.min(...ttls) > 10_000, `spread over more than 10 s: ${ttls}`)
    await cacheManager.set('exact', 1, { ttl: 60, ttlJitter: 0 })
    const exact = await pttl('exact')
    assert.ok(exact >= 59_000 && exact <= 60_000, `${exact}`)
  })

  test('cacheAside stores loaded values with the jitter; bad values are refused', async () => {
    await cacheAside.get('aside:j', async () => ({ a: 1 }), { ttl: 60, ttlJitter: 5 })
    const t = await pttl('aside:j')
    assert.ok(t >= 59_000 && t <= 65_000, `${t}`)
    await assert.rejects(cacheManager.set('bad', 1, { ttlJitter: -1 }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /ttlJitter must be 0..86400 seconds, got -1/.test(e.message))
  })
})

describe('result metadata', () => {
  test('cacheManager.getWithMeta: an L1 hit with age, TTL and tags; an L2 hit; a miss; Cache-Status of each', async () => {
    await cacheManager.set('meta:k', { a: 1 }, { ttl: 60, tags: ['t1', 't2'], ttlJitter: 0 })
    await new Promise((r) => setTimeout(r, 25))
    const hit = await cacheManager.getWithMeta('meta:k')
    assert.deepEqual({ ...hit, ageMs: 0, ttlMs: 0 }, { value: { a: 1 }, status: 'hit', tier: 'l1', ageMs: 0, ttlMs: 0, tags: ['t1', 't2'], stored: false })
    assert.ok(hit.ageMs >= 20 && hit.ageMs < 5000, `${hit.ageMs}`)
    assert.ok(hit.ttlMs > 55_000 && hit.ttlMs <= 60_000, `${hit.ttlMs}`)
    assert.equal(cacheStatusHeader(hit), `stratacache; hit; ttl=${Math.floor(hit.ttlMs / 1000)}`)
    hit.value.a = 2
    hit.tags.push('mine')
    const again = await cacheManager.getWithMeta('meta:k')
    assert.deepEqual([again.value, again.tags], [{ a: 1 }, ['t1', 't2']], 'every caller gets its own copies')

    await r.cmd('SET', `${ns}:other`, 'x') // unrelated
    const miss = await cacheManager.getWithMeta('meta:absent')
    assert.deepEqual(miss, { value: null, status: 'miss', tier: null, ageMs: null, ttlMs: null, tags: [], stored: false })
    assert.equal(cacheStatusHeader(miss, { name: 'edge-1' }), 'edge-1; fwd=miss')
    assert.throws(() => cacheStatusHeader(miss, { name: 'has space' }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT')
    assert.equal(cacheStatusHeader({ status: 'stale', ttlMs: 0 }), 'stratacache; hit; fwd=stale')
  })

  test('L1 metadata follows the entry: new tags after a re-set, an untagged entry, and a new system after shutdown', async () => {
    await cacheManager.set('meta:re', 1, { ttl: 30, tags: ['old'], ttlJitter: 0 })
    assert.deepEqual((await cacheManager.getWithMeta('meta:re')).tags, ['old'])
    await cacheManager.set('meta:re', 2, { ttl: 90, tags: ['new', 'newer'], ttlJitter: 0 })
    const re = await cacheManager.getWithMeta('meta:re')
    assert.deepEqual([re.value, re.tier, re.tags], [2, 'l1', ['new', 'newer']])
    assert.ok(re.ttlMs > 85_000 && re.ttlMs <= 90_000, `the new entry's TTL: ${re.ttlMs}`)
    await cacheManager.set('meta:plain', 'p', { ttl: 10, ttlJitter: 0 })
    const plain = await cacheManager.getWithMeta('meta:plain')
    assert.deepEqual([plain.tier, plain.tags], ['l1', []])
    assert.ok(plain.ttlMs > 5_000 && plain.ttlMs <= 10_000, `not the previous hit's numbers: ${plain.ttlMs}`)

    await shutdownCacheSystem()
    createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
    getCacheManager({ ttlJitter: 30 })
    await cacheManager.set('meta:after', 'a', { ttl: 20, tags: ['x'], ttlJitter: 0 })
    const after = await cacheManager.getWithMeta('meta:after')
    assert.deepEqual([after.value, after.tier, after.tags], ['a', 'l1', ['x']])
    assert.ok(after.ttlMs > 15_000 && after.ttlMs <= 20_000 && after.ageMs >= 0 && after.ageMs < 5_000, `${after.ttlMs} ${after.ageMs}`)
  })

  test('cacheAside.getWithMeta: a loaded miss (stored), then a hit; bad options fail on a hit too', async () => {
    let runs = 0
    const loader = async () => (++runs, { n: 42 })
    const first = await cacheAside.getWithMeta('meta:aside', loader, { ttl: 30, tags: ['x'], ttlJitter: 0 })
    assert.deepEqual(first, { value: { n: 42 }, status: 'miss', tier: 'loader', ageMs: 0, ttlMs: 30_000, tags: ['x'], stored: true })
    assert.equal(cacheStatusHeader(first), 'stratacache; fwd=miss; stored')
    const second = await cacheAside.getWithMeta('meta:aside', loader, { ttl: 30 })
    assert.equal(second.status, 'hit')
    assert.ok(second.tier === 'l1' || second.tier === 'l2', second.tier)
    assert.deepEqual(second.value, { n: 42 })
    assert.equal(runs, 1)
    await assert.rejects(cacheAside.getWithMeta('meta:aside', loader, { ttl: -5 }), (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT')
    const none = await cacheAside.getWithMeta('meta:none', async () => null, { ttl: 30 })
    assert.deepEqual([none.status, none.tier, none.value, none.stored], ['miss', 'loader', null, false])
  })
})

describe('hardTimeoutMs', () => {
  test('a slow loader rejects in time with ERR_STRATACACHE_TIMEOUT; its value is stored when it arrives', async () => {
    let runs = 0
    const slow = async () => {
      runs++
      await new Promise((r) => setTimeout(r, 400))
      return 'late'
    }
    const t0 = performance.now()
    await assert.rejects(cacheAside.get('hard:k', slow, { ttl: 60, hardTimeoutMs: 50 }), (e) => e.code === 'ERR_STRATACACHE_TIMEOUT' && /hardTimeoutMs \(50 ms\)/.test(e.message))
    assert.ok(performance.now() - t0 < 300, `rejected after ${performance.now() - t0} ms, well under the loader's 400 ms`)
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(await cacheManager.get('hard:k'), 'late')
    assert.equal(await cacheAside.get('hard:k', slow, { ttl: 60, hardTimeoutMs: 50 }), 'late')
    assert.equal(runs, 1)
  })
})

describe('cacheAside.getMany', () => {
  test('one loader call for exactly the missing keys; hits from the cache; keys left out are null and not cached', async () => {
    await cacheManager.set('gm:a', 'A', { ttl: 60 })
    const calls = []
    const loader = async (keys) => {
      calls.push(keys)
      return new Map(keys.filter((k) => !k.startsWith('gm:none')).map((k) => [k, { k }]))
    }
    const out = await cacheAside.getMany(['gm:a', 'gm:b', 'gm:none', 'gm:c', 'gm:b'], loader, { ttl: 60 })
    assert.deepEqual([...out.entries()], [['gm:a', 'A'], ['gm:b', { k: 'gm:b' }], ['gm:none', null], ['gm:c', { k: 'gm:c' }]])
    assert.deepEqual(calls, [['gm:b', 'gm:none', 'gm:c']])
    assert.deepEqual(await cacheManager.get('gm:c'), { k: 'gm:c' }, 'loaded values are stored')
    assert.equal(await cacheManager.get('gm:none'), null)
    // A plain object and [key, value] pairs work too.
    assert.deepEqual([...(await cacheAside.getMany(['gm:o'], async (ks) => Object.fromEntries(ks.map((k) => [k, 1])), { ttl: 60 })).values()], [1])
    assert.deepEqual([...(await cacheAside.getMany(['gm:p'], async (ks) => ks.map((k) => [k, 'pair']), { ttl: 60 })).values()], ['pair'])
  })

  test('two concurrent overlapping calls load each key once; a loader error rejects and caches nothing', async () => {
    const seen = []
    const slow = async (keys) => {
      seen.push(...keys)
      await new Promise((r) => setTimeout(r, 100))
      return Object.fromEntries(keys.map((k) => [k, `v-${k}`]))
    }
    const [a, b] = await Promise.all([
      cacheAside.getMany(['ov:x', 'ov:y'], slow, { ttl: 60 }),
      new Promise((r) => setTimeout(r, 30)).then(() => cacheAside.getMany(['ov:y', 'ov:z'], slow, { ttl: 60 })),
    ])
    assert.deepEqual([...a.values(), ...b.values()], ['v-ov:x', 'v-ov:y', 'v-ov:y', 'v-ov:z'])
    assert.deepEqual(seen.sort(), ['ov:x', 'ov:y', 'ov:z'], 'each key loaded once')
    const boom = new Error('db down')
    await assert.rejects(cacheAside.getMany(['err:1', 'err:2'], async () => { throw boom }, { ttl: 60 }), (e) => e === boom)
    assert.equal(await cacheManager.get('err:1'), null, 'nothing cached')
    await assert.rejects(cacheAside.getMany(['ok', ''], slow, { ttl: 60 }), (e) => e.code === 'ERR_STRATACACHE_INVALID_KEY')
  })
})
