// A long-lived Node peer for the bus interop tests (tests/interop/test_bus_interop.py): a Node process with
// its own L1 next to the Python test process, on one Redis and namespace, importing the built npm package.
//
//   node node_bus_peer.mjs <redis-url> <namespace>
//
// Registers an onInvalidation listener, starts the system, waits until its bus subscriber is connected and
// prints {"ready": <bus source>}. Then answers every JSON line {op, ...} read on stdin with one JSON line,
// {"ok": result} or {"error": {code, message}}; exits 0 at end of input after shutdownCacheSystem().
//
// Ops: get {key} → {value, l1Hit, redisReads} (getStats deltas); waitEvicted {key, timeoutMs} → ms until
// key left L1 (polled every ms, at most 2 s); set {key, value, options}; del {key}; mset {items};
// invalidateByTags {tags}; invalidateTags {tags}; invalidatePattern {glob}; invalidateKeys {keys};
// events (drains what the listener recorded); waitEvents {n, timeoutMs}; sync {target} (waits for the event of
// a key message whose one target is `target`, published by the test after a write, and forgets it: then the
// write's own bus message and tracking push have been handled here too, as they were queued before it).
import { createRequire } from 'node:module'
import readline from 'node:readline'
import {
  cacheInvalidator,
  cacheManager,
  createRedisClient,
  initializeCacheSystem,
  shutdownCacheSystem,
} from '../../dist/index.mjs'

// The native system behind the package (the same CommonJS instance index.mjs re-exports), to look at
// L1 without touching it and to read the bus's counters and id.
const require = createRequire(import.meta.url)
const { currentSystem } = require('../../dist/handle.js')

const [url, namespace] = process.argv.slice(2)
const events = []
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function poll(check, timeoutMs, what) {
  const t0 = performance.now()
  const deadline = t0 + Math.min(timeoutMs ?? 2000, 2000)
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(1)
  }
  return performance.now() - t0
}

const inL1 = (key) => currentSystem().peekL1(key) !== null // uncounted

async function get(key) {
  const before = await cacheManager.getStats()
  const value = await cacheManager.get(key)
  const after = await cacheManager.getStats()
  return {
    value,
    l1Hit: after.l1.hits - before.l1.hits === 1,
    redisReads: after.l2.hits + after.l2.misses - (before.l2.hits + before.l2.misses),
  }
}

async function run(cmd) {
  switch (cmd.op) {
    case 'get':
      return get(cmd.key)
    case 'waitEvicted':
      return poll(() => !inL1(cmd.key), cmd.timeoutMs, `${cmd.key} to leave L1`)
    case 'set':
      await cacheManager.set(cmd.key, cmd.value, cmd.options)
      return true
    case 'del':
      return cacheManager.del(cmd.key)
    case 'mset':
      await cacheManager.mset(cmd.items)
      return true
    case 'invalidateByTags':
      await cacheManager.invalidateByTags(cmd.tags)
      return true
    case 'invalidateTags':
      await cacheInvalidator.invalidateTags(cmd.tags)
      return true
    case 'invalidatePattern':
      return cacheInvalidator.invalidatePattern(cmd.glob)
    case 'invalidateKeys':
      return cacheInvalidator.invalidateKeys(cmd.keys)
    case 'events':
      return events.splice(0)
    case 'waitEvents':
      await poll(() => events.length >= cmd.n, cmd.timeoutMs, `${cmd.n} events`)
      return events.splice(0)
    case 'sync': {
      const mine = (e) => e.target.length === 1 && e.target[0] === cmd.target
      await poll(() => events.some(mine), 2000, `the sync message ${cmd.target}`)
      events.splice(0, events.length, ...events.filter((e) => !mine(e)))
      return true
    }
    default:
      throw new Error(`unknown op ${cmd.op}`)
  }
}

cacheInvalidator.onInvalidation((e) => {
  events.push(e)
})
createRedisClient({ url, namespace })
const status = await initializeCacheSystem()
if (status.redis !== 'connected') throw new Error(`redis is ${status.redis}`)
await poll(() => currentSystem().busStats().connected, 2000, 'the bus to connect')
process.stdout.write(JSON.stringify({ ready: currentSystem().busSource() }) + '\n')

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  if (!line.trim()) continue
  let reply
  try {
    reply = { ok: (await run(JSON.parse(line))) ?? null }
  } catch (e) {
    reply = { error: { code: e.code ?? null, message: String(e.message ?? e) } }
  }
  process.stdout.write(JSON.stringify(reply) + '\n')
}
await shutdownCacheSystem()
