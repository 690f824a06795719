// Contract §9 through the npm package (issue 18): TTL jitter.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cacheAside, cacheManager, getCacheManager, createRedisClient, shutdownCacheSystem } from 'stratacache'
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
