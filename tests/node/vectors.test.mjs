// The shared wire-format vectors (tests/vectors/v1/) read through the npm package: planted envelopes
// decode to their JSON, corrupt bytes read as counted misses, Node writes the documented layout, and
// the error codes the package produces are the pinned ones.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {
  cacheManager,
  createRedisClient,
  getCacheManager,
  isStrataCacheError,
  StrataCacheError,
  StrataCacheTypeError,
} from 'stratacache'
import * as stratacache from 'stratacache'
import { clusterLockKey, describeRun, keySlot, makeSandbox, raw, REPO_ROOT, runNode, startRedis, uniqueNamespace } from './support.mjs'

const VECTORS = path.join(REPO_ROOT, 'tests', 'vectors', 'v1')
const load = (name) => JSON.parse(fs.readFileSync(path.join(VECTORS, name), 'utf8'))
const envelopes = load('envelopes.json')
const corrupt = load('corrupt.json')
const keysVectors = load('keys.json')
const errorCodes = load('error-codes.json').errors

const ns = uniqueNamespace('vec')
const dataKey = (key) => `${ns}:d:${key}`
const tagKey = (tag) => `${ns}:t:${tag}`
let redis
let r

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
  // The vectors are written for max_value_bytes = 1 MiB (the too_large cases depend on it).
  assert.equal(envelopes.max_value_bytes, 1048576)
  assert.equal(corrupt.max_value_bytes, 1048576)
  getCacheManager({ maxValueBytes: corrupt.max_value_bytes })
})

after(async () => {
  await stratacache.shutdownCacheSystem()
  r?.close()
  await redis?.stop()
})

describe('envelopes.json', () => {
  test('the file has cases, including tagged and compressed ones', () => {
    assert.equal(envelopes.format_version, 1)
    assert.ok(envelopes.cases.length >= 10)
    assert.ok(envelopes.cases.some((c) => c.expect.tags.length > 0))
    assert.ok(envelopes.cases.some((c) => c.expect.compressed))
  })

  for (const c of envelopes.cases) {
    test(`planted envelope "${c.name}" reads as its JSON`, async () => {
      const key = `vec:${c.name}`
      for (const t of c.expect.tags) await r.cmd('SET', tagKey(t.tag), Buffer.from(t.token_hex, 'hex'), 'PX', 60_000)
      await r.cmd('SET', dataKey(key), Buffer.from(c.hex, 'hex'), 'PX', 60_000)
      const before = await cacheManager.getStats()
      const got = await cacheManager.get(key)
      assert.deepEqual(got, JSON.parse(c.expect.json))
      const after = await cacheManager.getStats()
      assert.equal(after.l2.hits - before.l2.hits, 1, 'served from Redis')
      assert.equal(after.corruptEntries, before.corruptEntries)
    })
  }

  test('all planted envelopes read back with one mget, in input order', async () => {
    // Keys not read before in this process (so not in L1): copies of the planted envelopes.
    const keys = []
    for (const c of envelopes.cases) {
      const key = `vec-m:${c.name}`
      await r.cmd('SET', dataKey(key), Buffer.from(c.hex, 'hex'), 'PX', 60_000)
      keys.push(key)
    }
    const got = await cacheManager.mget(keys)
    assert.deepEqual([...got.keys()], keys)
    envelopes.cases.forEach((c, i) => assert.deepEqual(got.get(keys[i]), JSON.parse(c.expect.json), c.name))
  })

  const tagged = envelopes.cases.find((c) => c.name === 'tagged-one')
  test('a tagged envelope whose tag token changed is a miss', async () => {
    assert.ok(tagged)
    const t = tagged.expect.tags[0]
    await r.cmd('SET', tagKey(t.tag), Buffer.from('ffffffffffffffff', 'hex'), 'PX', 60_000)
    await r.cmd('SET', dataKey('vec-stale:token'), Buffer.from(tagged.hex, 'hex'), 'PX', 60_000)
    assert.equal(await cacheManager.get('vec-stale:token'), null)
    await r.cmd('SET', tagKey(t.tag), Buffer.from(t.token_hex, 'hex'), 'PX', 60_000)
  })

  test('a tagged envelope whose tag key is gone is a miss', async () => {
    const c = envelopes.cases.find((x) => x.name === 'tagged-three-unicode')
    assert.ok(c)
    for (const t of c.expect.tags) await r.cmd('SET', tagKey(t.tag), Buffer.from(t.token_hex, 'hex'), 'PX', 60_000)
    await r.cmd('DEL', tagKey(c.expect.tags[2].tag))
    await r.cmd('SET', dataKey('vec-stale:gone'), Buffer.from(c.hex, 'hex'), 'PX', 60_000)
    assert.equal(await cacheManager.get('vec-stale:gone'), null)
  })

  test('a tag key holding something other than 8 bytes makes the entry a miss', async () => {
    const t = tagged.expect.tags[0]
    await r.cmd('SET', tagKey(t.tag), Buffer.from(t.token_hex + '00', 'hex'), 'PX', 60_000)
    await r.cmd('SET', dataKey('vec-stale:9bytes'), Buffer.from(tagged.hex, 'hex'), 'PX', 60_000)
    assert.equal(await cacheManager.get('vec-stale:9bytes'), null)
    await r.cmd('SET', tagKey(t.tag), Buffer.from(t.token_hex, 'hex'), 'PX', 60_000)
  })
})

describe('corrupt.json', () => {
  test('every corrupt entry reads as null, is counted, and is left in Redis', async () => {
    assert.ok(corrupt.cases.length >= 10)
    const before = await cacheManager.getStats()
    const wrong = []
    for (const c of corrupt.cases) {
      const key = `bad:${c.name}`
      await r.cmd('SET', dataKey(key), Buffer.from(c.hex, 'hex'), 'PX', 60_000)
      const got = await cacheManager.get(key)
      if (got !== null) wrong.push(`${c.name} (${c.reason}) read as ${JSON.stringify(got)}`)
    }
    assert.deepEqual(wrong, [], 'corrupt entries must read as null')
    const after = await cacheManager.getStats()
    assert.equal(after.corruptEntries - before.corruptEntries, corrupt.cases.length, 'getStats().corruptEntries counts each')
    assert.equal(after.l2.errors - before.l2.errors, corrupt.cases.length, 'and l2.errors too')
    for (const c of corrupt.cases) assert.equal(await r.cmd('EXISTS', dataKey(`bad:${c.name}`)), 1, `${c.name} is not deleted`)
  })

  test('corrupt entries read through mget are null and counted; good ones next to them still read', async () => {
    const keys = corrupt.cases.map((c) => `bad:${c.name}`)
    const good = envelopes.cases.find((c) => c.name === 'string')
    await r.cmd('SET', dataKey('bad-neighbour:good'), Buffer.from(good.hex, 'hex'), 'PX', 60_000)
    const before = await cacheManager.getStats()
    const got = await cacheManager.mget([...keys, 'bad-neighbour:good'])
    const after = await cacheManager.getStats()
    assert.deepEqual(keys.filter((k) => got.get(k) !== null), [])
    assert.equal(got.get('bad-neighbour:good'), 'Hello World')
    assert.equal(after.corruptEntries - before.corruptEntries, keys.length)
  })

  test('a corrupt entry is replaced by the next write', async () => {
    await cacheManager.set('bad:hello', { fixed: true })
    assert.deepEqual(await cacheManager.get('bad:hello'), { fixed: true })
  })

  test(
    'the first corrupt entry is logged once (a warning on stderr), later ones are not',
    {},
    async () => {
      const sandbox = makeSandbox()
      try {
        const file = sandbox.write(
          'corrupt.cjs',
          `const sc = require('stratacache')
           sc.createRedisClient({ host: '127.0.0.1', port: ${redis.port}, namespace: ${JSON.stringify(ns)} })
           ;(async () => {
             const names = ${JSON.stringify(corrupt.cases.filter((c) => c.name !== 'hello').slice(0, 5).map((c) => `bad:${c.name}`))}
             for (const k of names) if ((await sc.cacheManager.get(k)) !== null) throw new Error('not a miss: ' + k)
             await sc.shutdownCacheSystem()
           })().catch((e) => { console.error(e); process.exitCode = 1 })`,
        )
        const res = await runNode(file, { timeoutMs: 10_000 })
        assert.equal(res.code, 0, describeRun(res))
        const warnings = res.stderr.split('\n').filter((l) => /decode|corrupt/i.test(l))
        assert.equal(warnings.length, 1, describeRun(res))
      } finally {
        sandbox.remove()
      }
    },
  )
})

describe('what Node writes', () => {
  /** Decode an envelope per docs/wire-format.md. */
  function decode(buf) {
    let o = 0
    const magic = buf.toString('latin1', 0, 2)
    const version = buf[2]
    const flags = buf[3]
    const created = Number(buf.readBigUInt64BE(4))
    const expires = Number(buf.readBigUInt64BE(12))
    const n = buf.readUInt16BE(20)
    o = 22
    const tags = []
    for (let i = 0; i < n; i++) {
      const len = buf.readUInt16BE(o)
      const tag = buf.toString('utf8', o + 2, o + 2 + len)
      const token = buf.subarray(o + 2 + len, o + 10 + len)
      tags.push({ tag, token })
      o += 10 + len
    }
    return { magic, version, flags, created, expires, tags, payload: buf.subarray(o) }
  }

  test('a plain value: magic "SC", version 1, flags 0, timestamps, payload = JSON.stringify(value)', async () => {
    const value = { name: 'Zoë', n: [1, 2.5, -3], ok: true, none: null, when: new Date(0) }
    const t0 = Date.now()
    await cacheManager.set('layout:plain', value, { ttl: 60 })
    const t1 = Date.now()
    const e = decode(await r.cmd('GET', dataKey('layout:plain')))
    assert.equal(e.magic, 'SC')
    assert.equal(e.version, 1)
    assert.equal(e.flags, 0x00)
    assert.ok(e.created >= t0 - 5 && e.created <= t1 + 5, `created_at_ms ${e.created} not in [${t0}, ${t1}]`)
    assert.equal(e.expires - e.created, 60_000, 'expires_at_ms = created_at_ms + ttl')
    assert.deepEqual(e.tags, [])
    assert.equal(e.payload.toString('utf8'), JSON.stringify(value))
  })

  test('a tagged value records each tag with its current token, in order', async () => {
    await cacheManager.set('layout:tagged', [1], { ttl: 30, tags: ['users', 'org:42', 'café-☕'] })
    const e = decode(await r.cmd('GET', dataKey('layout:tagged')))
    assert.deepEqual(e.tags.map((t) => t.tag), ['users', 'org:42', 'café-☕'])
    for (const t of e.tags) {
      assert.equal(t.token.length, 8)
      assert.deepEqual(t.token, await r.cmd('GET', tagKey(t.tag)), `token of ${t.tag} matches ${tagKey(t.tag)}`)
      const pttl = await r.cmd('PTTL', tagKey(t.tag))
      assert.ok(pttl > 30_000, `a tag key outlives its entries (PTTL ${pttl})`)
    }
    assert.equal(e.payload.toString('utf8'), '[1]')
  })

  test('compress: true on a large value gives flags 0x03 and the uncompressed length', async () => {
    const value = { text: 'all work and no play makes jack a dull boy '.repeat(200) }
    const json = JSON.stringify(value)
    await cacheManager.set('layout:compressed', value, { ttl: 60, compress: true })
    const e = decode(await r.cmd('GET', dataKey('layout:compressed')))
    assert.equal(e.flags, 0x03)
    assert.equal(e.payload.readUInt32BE(0), Buffer.byteLength(json), 'u32 uncompressed length')
    assert.ok(e.payload.length < json.length / 4, 'the payload is actually compressed')
  })

  test('compress: true at exactly the threshold stays plain', async () => {
    const value = 'y'.repeat(1022) // JSON text is 1024 bytes = the default threshold
    await cacheManager.set('layout:at-threshold', value, { compress: true })
    const e = decode(await r.cmd('GET', dataKey('layout:at-threshold')))
    assert.equal(e.flags, 0x00)
    assert.equal(e.payload.toString(), JSON.stringify(value))
  })

  test('keys.json: user keys land at {ns}:d:{key}, unescaped', async () => {
    const cases = keysVectors.cases.filter((c) => c.kind === 'data')
    assert.ok(cases.length > 3)
    for (const c of cases) {
      // The vector's own namespace/key pair must follow the documented rule...
      assert.equal(c.redis_key, `${c.namespace}:d:${c.input}`)
      // ...and so must what the package writes in this file's namespace.
      await cacheManager.set(c.input, c.input, { ttl: 30 })
      assert.equal(await r.cmd('EXISTS', dataKey(c.input)), 1, `key for ${JSON.stringify(c.input)}`)
    }
    for (const c of keysVectors.cases.filter((c) => c.kind === 'tag')) {
      assert.equal(c.redis_key, `${c.namespace}:t:${c.input}`)
      await cacheManager.set('keys-tag-probe', 1, { ttl: 30, tags: [c.input] })
      assert.equal((await r.cmd('GET', tagKey(c.input)))?.length, 8, `tag key for ${JSON.stringify(c.input)}`)
    }
  })
})

describe('cluster-keys.json', () => {
  test('on Redis Cluster a load lock shares its data key\'s slot: {ns}:lk:{S}:{key}, S the smallest such number', () => {
    const { cases } = load('cluster-keys.json')
    assert.ok(cases.length > 5)
    assert.equal(keySlot('foo'), 12182, 'the CRC16 of Redis Cluster')
    for (const c of cases) {
      assert.equal(c.data_key, `${c.namespace}:d:${c.input}`)
      assert.equal(keySlot(c.data_key), c.slot, c.input)
      assert.equal(keySlot(c.lock_key), c.slot, c.input)
      assert.equal(clusterLockKey(c.namespace, c.input), c.lock_key, c.input)
    }
  })
})

describe('error-codes.json', () => {
  const known = new Set(errorCodes.map((e) => e.code))
  const family = new Map(errorCodes.map((e) => [e.code, e.family]))

  test('every code has the ERR_STRATACACHE_ form and appears once', () => {
    assert.ok(errorCodes.length >= 10)
    for (const { code } of errorCodes) assert.match(code, /^ERR_STRATACACHE_[A-Z0-9_]+$/)
    assert.equal(known.size, errorCodes.length, 'no duplicate codes')
  })

  const unionCodes = (file) => {
    const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8')
    const start = text.indexOf('type StrataCacheErrorCode =')
    assert.ok(start >= 0, `${file} declares StrataCacheErrorCode`)
    // The union ends at a ';' (emitted .d.ts) or a blank line (the source, written without semicolons).
    const ends = [text.indexOf(';', start), text.indexOf('\n\n', start)].filter((i) => i > start)
    const end = Math.min(...ends)
    return new Set(text.slice(start, end).match(/ERR_STRATACACHE_[A-Z0-9_]+/g))
  }

  test('the TypeScript StrataCacheErrorCode union (bindings-node/ts/error.ts) lists exactly the pinned codes', () => {
    assert.deepEqual([...unionCodes('bindings-node/ts/error.ts')].sort(), [...known].sort())
  })

  test('the shipped typings (dist/error.d.ts) name no code outside error-codes.json', () => {
    const shipped = unionCodes('dist/error.d.ts')
    assert.ok(shipped.size >= 10)
    assert.deepEqual([...shipped].filter((c) => !known.has(c)), [])
  })

  test('errors produced by the package carry pinned codes and the pinned error family', async () => {
    const produced = []
    const capture = async (fn) => {
      try {
        await fn()
      } catch (e) {
        produced.push(e)
        return
      }
      assert.fail(`expected ${fn} to fail`)
    }
    await capture(() => cacheManager.get(''))
    await capture(() => cacheManager.set('k', 1, { ttl: -1 }))
    await capture(() => cacheManager.set('k', () => 1))
    await capture(() => cacheManager.set('k', 'x'.repeat(corrupt.max_value_bytes + 1)))
    await capture(() => createRedisClient({ port: 'abc' }))
    await capture(() => getCacheManager({ l1MaxSize: -5 }))
    const codes = produced.map((e) => e.code)
    assert.deepEqual(codes, [
      'ERR_STRATACACHE_INVALID_KEY',
      'ERR_STRATACACHE_INVALID_ARGUMENT',
      'ERR_STRATACACHE_SERIALIZATION',
      'ERR_STRATACACHE_VALUE_TOO_LARGE',
      'ERR_STRATACACHE_CONFIG',
      'ERR_STRATACACHE_CONFIG',
    ])
    for (const e of produced) {
      assert.ok(known.has(e.code), `${e.code} is pinned`)
      assert.ok(isStrataCacheError(e), `${e.code}: isStrataCacheError`)
      assert.ok(e instanceof Error)
      assert.equal(e instanceof TypeError, family.get(e.code) === 'type', `${e.code}: TypeError iff family "type"`)
      assert.ok(e instanceof (family.get(e.code) === 'type' ? StrataCacheTypeError : StrataCacheError))
      assert.ok(e.message.length > 0 && !e.message.startsWith('['), `message without the native prefix: ${e.message}`)
    }
  })

  test('a value over maxValueBytes writes nothing', async () => {
    assert.equal(await r.cmd('EXISTS', dataKey('k')), 0)
  })
})
