// The idle lane (issue 15) through the npm package: a get made while nothing else is in flight reads
// on a second, read-only connection (`stratacache-idle-lane` in CLIENT LIST) and answers exactly what
// the main connection would; calls made together keep the main connection and their order.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cacheManager, createRedisClient, getCacheManager, shutdownCacheSystem } from 'stratacache'
import { raw, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('lane')
let redis
let r

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
  getCacheManager({ enableL1: false })
})

after(async () => {
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
})

/** The lane's CLIENT LIST fields, or null while it is not connected. */
async function lane() {
  const list = String(await r.cmd('CLIENT', 'LIST'))
  const line = list.split('\n').find((l) => l.includes(' name=stratacache-idle-lane '))
  return line ? Object.fromEntries(line.trim().split(' ').map((kv) => kv.split('='))) : null
}

describe('idle lane', () => {
  test('sequential gets read on the lane and answer what was written; misses stay misses', async () => {
    await cacheManager.set('a', { n: 1 }, { ttl: 60 })
    await cacheManager.set('b', 'two', { ttl: 60 })
    assert.deepEqual(await cacheManager.get('a'), { n: 1 }) // connects the lane in the background
    const t = Date.now()
    while ((await lane()) === null) {
      assert.ok(Date.now() - t < 3000, 'the lane connects within 3 s')
      await new Promise((res) => setTimeout(res, 20))
    }
    const first = await lane()
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(await cacheManager.get('a'), { n: 1 })
      assert.equal(await cacheManager.get('b'), 'two')
      assert.equal(await cacheManager.get('absent'), null)
    }
    const now = await lane()
    assert.equal(now.id, first.id, 'one lane connection')
    assert.equal(now.cmd, 'get', 'the gets went on the lane (L1 off: a lone GET)')
  })

  test('a get right after a write it did not await reads the write (the write is in flight: main connection)', async () => {
    for (let i = 0; i < 50; i++) {
      const set = cacheManager.set('order', i, { ttl: 60 })
      assert.equal(await cacheManager.get('order'), i)
      await set
      const del = cacheManager.del('order')
      assert.equal(await cacheManager.get('order'), null)
      await del
    }
  })

  test('a lane killed by Redis: gets still answer, and a new lane connects', async () => {
    await cacheManager.set('k', 'v', { ttl: 60 })
    const old = await lane()
    assert.ok(old, 'connected by the test before')
    await r.cmd('CLIENT', 'KILL', 'ID', old.id)
    for (let i = 0; i < 10; i++) assert.equal(await cacheManager.get('k'), 'v')
    const t = Date.now()
    for (;;) {
      assert.equal(await cacheManager.get('k'), 'v')
      const now = await lane()
      if (now && now.id !== old.id) break
      assert.ok(Date.now() - t < 5000, 'a new lane within 5 s')
      await new Promise((res) => setTimeout(res, 50))
    }
  })
})
