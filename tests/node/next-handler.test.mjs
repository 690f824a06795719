// stratacache/next, the Next.js incremental cache handler, between two processes on one Redis (this one and
// a forked child, as two `next start` instances would be): Next's entries come back with their Buffers and
// Maps; a revalidateTag in one process — of an explicit tag, of an implicit tag from a page's
// x-next-cache-tags header — is seen by the other; softTags make an entry older than a revalidation a miss;
// set(key, null) deletes.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createRedisClient, initializeCacheSystem, shutdownCacheSystem } from 'stratacache'
import { forkWorker, makeSandbox, startRedis, uniqueNamespace } from './support.mjs'

const require = createRequire(import.meta.url)
const Handler = require('stratacache/next')
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

let redis
let sandbox
let B
const ns = uniqueNamespace('next')

const WORKER = `
const sc = require('stratacache')
const Handler = require('stratacache/next')
const h = new Handler({})
process.on('message', async (m) => {
  try {
    let value
    if (m.op === 'configure') {
      sc.createRedisClient(m.redis)
      value = await sc.initializeCacheSystem()
    } else if (m.op === 'get') {
      const e = await h.get(m.key, m.ctx)
      value = e === null ? null : { ...e, value: Handler.encode(e.value), types: { rscData: Buffer.isBuffer(e.value.rscData), segmentData: e.value.segmentData instanceof Map } }
    } else if (m.op === 'revalidateTag') {
      value = await h.revalidateTag(m.tags)
    } else if (m.op === 'shutdown') {
      await sc.shutdownCacheSystem()
      process.disconnect()
      value = true
    } else throw new Error('unknown op ' + m.op)
    if (process.connected) process.send({ id: m.id, ok: true, value: value === undefined ? null : value })
  } catch (e) {
    if (process.connected) process.send({ id: m.id, ok: false, error: { message: e.message, code: e.code } })
  }
})
process.send({ ready: true })
`

/** An App Router page entry as Next 15 stores it: HTML, RSC data and per-segment data (Buffers, a Map). */
function pageEntry(html, tags) {
  return {
    kind: 'APP_PAGE',
    html,
    rscData: Buffer.from(`rsc:${html}`),
    segmentData: new Map([['/_tree', Buffer.from([0, 1, 2, 255])], ['/blog', Buffer.from('segment')]]),
    headers: { 'x-next-cache-tags': tags.join(',') },
    postponed: undefined,
    status: 200,
  }
}

async function waitFor(fn, what, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await fn()) return
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

before(async () => {
  redis = await startRedis()
  sandbox = makeSandbox()
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
  await initializeCacheSystem()
  const w = await forkWorker(sandbox.write('next-b.cjs', WORKER), 'instance-b', { cwd: sandbox.dir })
  B = { request: w.request, stop: () => w.stop() }
  await B.request({ op: 'configure', redis: { host: '127.0.0.1', port: redis.port, namespace: ns } })
})

after(async () => {
  await B?.stop()
  await shutdownCacheSystem()
  await redis?.stop()
  sandbox?.remove()
})

test("an entry set in one instance is read in the other with its Buffers and Maps", async () => {
  const h = new Handler({})
  const entry = pageEntry('<h1>Blog</h1>', ['_N_T_/layout', '_N_T_/blog'])
  await h.set('/blog', entry, { tags: ['posts'], revalidate: 60 })
  const got = await B.request({ op: 'get', key: '/blog', ctx: {} })
  assert.deepEqual(got.types, { rscData: true, segmentData: true })
  assert.deepEqual(Handler.decode(got.value), Handler.decode(Handler.encode(entry)))
  assert.deepEqual(new Set(got.tags), new Set(['posts', '_N_T_/layout', '_N_T_/blog']))
  assert.ok(Date.now() - got.lastModified < 5000)
  // The same entry here, decoded to real Buffers and Maps.
  const here = await h.get('/blog', {})
  assert.ok(Buffer.isBuffer(here.value.rscData) && here.value.rscData.equals(entry.rscData))
  assert.deepEqual([...here.value.segmentData.keys()], ['/_tree', '/blog'])
  assert.ok(here.value.segmentData.get('/_tree').equals(Buffer.from([0, 1, 2, 255])))
})

test('revalidateTag in one instance is seen by the other: explicit tags and implicit (path) tags', async () => {
  const h = new Handler({})
  await h.set('/a', pageEntry('A', ['_N_T_/a']), { tags: ['posts'], revalidate: 60 })
  await h.set('/b', pageEntry('B', ['_N_T_/b']), { tags: ['authors'], revalidate: false })
  assert.notEqual(await B.request({ op: 'get', key: '/a', ctx: {} }), null)
  assert.notEqual(await B.request({ op: 'get', key: '/b', ctx: {} }), null)
  await B.request({ op: 'revalidateTag', tags: 'posts' })
  assert.equal(await h.get('/a', {}), null, 'the tagged entry is gone here when B resolved')
  assert.notEqual(await h.get('/b', {}), null)
  // revalidatePath('/b') is revalidateTag of its implicit tag.
  await h.revalidateTag(['_N_T_/b'])
  await waitFor(async () => (await B.request({ op: 'get', key: '/b', ctx: {} })) === null, "B's miss of /b")
})

test('softTags: a fetch entry older than a revalidation of the reading page is a miss; set(null) deletes', async () => {
  const h = new Handler({})
  const fetchEntry = { kind: 'FETCH', data: { headers: {}, body: Buffer.from('{"n":1}').toString('base64'), status: 200, url: 'https://api.example/n' }, revalidate: 30, tags: ['n'] }
  await h.set('fetch:n', fetchEntry, { tags: ['n'], revalidate: 30 })
  await sleep(5)
  await B.request({ op: 'revalidateTag', tags: ['_N_T_/dashboard'] })
  assert.equal(await h.get('fetch:n', { softTags: ['_N_T_/dashboard'] }), null, 'read from the revalidated page')
  assert.deepEqual((await h.get('fetch:n', { softTags: ['_N_T_/other'] }))?.value, fetchEntry, 'read from another page')
  await h.set('fetch:n', null, {})
  assert.equal(await h.get('fetch:n', {}), null)
})
