// A second process for the topology suites (cluster.test.mjs, sentinel.test.mjs): a forked child running the
// package, driven over IPC (`configure`, `call`, `tier`, `busState`, `limit`, `aside`, `shutdown`), and a
// bounded poll.
import assert from 'node:assert/strict'
import { forkWorker } from './support.mjs'

const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

/** Poll `fn` until it returns a truthy value (at most `timeoutMs`); returns that value. */
export async function waitFor(fn, what, { timeoutMs = 3000, intervalMs = 10 } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

const WORKER = `
import * as sc from 'stratacache'
let loads = 0
process.on('message', async (m) => {
  try {
    let value
    if (m.op === 'configure') {
      sc.createRedisClient(m.redis)
      value = await sc.initializeCacheSystem()
    } else if (m.op === 'call') {
      value = await sc[m.target][m.method](...m.args)
      if (value instanceof Map) value = Object.fromEntries(value)
    } else if (m.op === 'tier') {
      value = (await sc.cacheManager.getWithMeta(m.key)).tier
    } else if (m.op === 'busState') {
      value = (await sc.cacheMetrics.healthCheck()).checks.bus.state
    } else if (m.op === 'limit') {
      const rs = await Promise.all(Array.from({ length: m.n }, () => sc.redisRateLimiter.limit(m.ident, m.opts)))
      value = rs.filter((r) => r.allowed).length
    } else if (m.op === 'aside') {
      const rs = await Promise.all(Array.from({ length: m.n }, () => sc.cacheAside.get(m.key, async () => {
        loads++
        await new Promise((r) => setTimeout(r, 200))
        return { v: 1 }
      }, { ttl: 60 })))
      value = { values: rs, loads }
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

/** Start process B from `sandbox` (a makeSandbox()) as `file`; `{ request, stop }`. */
export async function startPeer(sandbox, file) {
  const w = await forkWorker(sandbox.write(file, WORKER), 'process-b', { cwd: sandbox.dir, timeoutMs: 20_000 })
  return { request: w.request, stop: () => w.stop() }
}
