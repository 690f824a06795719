// The npm package's parsed-object memo is bounded by bytes (issue 19, docs/limits.md).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { cacheManager, createRedisClient, shutdownCacheSystem } from 'stratacache'
import { startRedis, uniqueNamespace } from './support.mjs'

const require = createRequire(import.meta.url)
const { memoStats } = require('../../dist/testing.js')
let redis

before(async () => {
  redis = await startRedis()
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: uniqueNamespace('memo') })
})

after(async () => {
  await shutdownCacheSystem()
  await redis?.stop()
})

test('the parsed-object memo keeps at most 64 MiB of JSON, and never a value over 4 MiB', async () => {
  const value = { s: 'z'.repeat(1024 * 1024) } // 1 MiB of JSON each
  for (let i = 0; i < 100; i++) {
    await cacheManager.set(`memo:${i}`, value, { ttl: 60 })
    assert.deepEqual(await cacheManager.get(`memo:${i}`), value) // an L1 hit: parsed, then memoized
  }
  const { entries, bytes } = memoStats()
  assert.ok(bytes > 0 && bytes <= 64 * 1024 * 1024, `${entries} values, ${bytes} bytes`)
  assert.ok(entries < 100, 'not all 100 MiB stayed in the memo')
  const big = { s: 'z'.repeat(5 * 1024 * 1024) }
  await cacheManager.set('memo:big', big, { ttl: 60 })
  const before = memoStats().bytes
  assert.deepEqual(await cacheManager.get('memo:big'), big)
  assert.equal(memoStats().bytes, before, 'a 5 MiB value is not memoized')
})
