// Bounds through the npm package (issue 19, docs/limits.md): L1 by bytes as well as entries.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { cacheManager, createRedisClient, getCacheManager, shutdownCacheSystem } from 'stratacache'
import { startRedis, uniqueNamespace } from './support.mjs'

let redis

before(async () => {
  redis = await startRedis()
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: uniqueNamespace('limits') })
  getCacheManager({ l1MaxSize: 1000, l1MaxBytes: 1024 * 1024, maxValueBytes: 2.5 * 1024 * 1024, maxBatchBytes: 4 * 1024 * 1024 })
})

after(async () => {
  await shutdownCacheSystem()
  await redis?.stop()
})

test('l1MaxBytes bounds large values; l1MaxSize still bounds small ones; every value stays readable', async () => {
  const big = 'x'.repeat(100 * 1024)
  for (let i = 0; i < 100; i++) await cacheManager.set(`big:${i}`, big, { ttl: 60 })
  let stats = await cacheManager.getStats()
  assert.ok(stats.l1.size <= 10, `100 KB values in a 1 MiB L1: ${stats.l1.size} held`)
  for (let i = 0; i < 100; i++) assert.equal(await cacheManager.get(`big:${i}`), big)
  for (let i = 0; i < 3000; i++) await cacheManager.set(`small:${i}`, i, { ttl: 60 })
  stats = await cacheManager.getStats()
  assert.ok(stats.l1.size <= 1000, `${stats.l1.size} entries`)
})

test('maxBatchBytes: one mget decodes at most that many bytes of values; the rest read as misses', async () => {
  const value = 'y'.repeat(2 * 1024 * 1024 - 2) // 2 MiB of JSON, a few KB compressed; too big for this L1
  const keys = ['batch:1', 'batch:2', 'batch:3', 'batch:4', 'batch:5']
  for (const k of keys) await cacheManager.set(k, value, { ttl: 60, compress: true })
  await cacheManager.getStats() // L1's maintenance has run: none of these fits its 1 MiB
  const got = await cacheManager.mget(keys)
  assert.equal(keys.filter((k) => got.get(k) === value).length, 2, '4 MiB of budget: two 2 MiB values')
  assert.equal(keys.filter((k) => got.get(k) === null).length, 3)
  assert.equal(await cacheManager.get('batch:5'), value, 'each is readable on its own')
})
