// A Node peer for the interop tests: runs a list of cache operations read as JSON from stdin against
// the npm package (dist/index.mjs) and prints their results as one JSON array on stdout.
//
//   node node_peer.mjs <redis-url> <namespace> < ops.json
//
// An op is { op, ... }: set {key, value, options}, get {key}, mget {keys}, mset {items}, del {key},
// invalidate {tags}, parseDate {key, field?} (Date.parse of the stored string), error {call, args}
// (runs a call expected to fail and reports its code and message), stats {}.
// In values, { "$date": iso } becomes a JS Date, { "$units": [...] } the string of those UTF-16 code units
// (to send lone surrogates), and { "$nested": n } the number 1 wrapped in n arrays.
import { createRedisClient, initializeCacheSystem, shutdownCacheSystem, cacheManager } from '../../dist/index.mjs'

const [url, namespace] = process.argv.slice(2)

function revive(v) {
  if (Array.isArray(v)) return v.map(revive)
  if (v && typeof v === 'object') {
    if (typeof v.$date === 'string') return new Date(v.$date)
    if (Array.isArray(v.$units)) return String.fromCharCode(...v.$units)
    if (typeof v.$nested === 'number') {
      let x = 1
      for (let i = 0; i < v.$nested; i++) x = [x]
      return x
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]))
  }
  return v
}

async function readStdin() {
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

const ops = await readStdin()
createRedisClient({ url, namespace })
const status = await initializeCacheSystem()
if (status.redis !== 'connected') throw new Error(`redis is ${status.redis}`)

const out = []
for (const op of ops) {
  switch (op.op) {
    case 'set':
      await cacheManager.set(op.key, revive(op.value), op.options)
      out.push(true)
      break
    case 'get':
      out.push(await cacheManager.get(op.key))
      break
    case 'mget':
      out.push(Object.fromEntries(await cacheManager.mget(op.keys)))
      out.push([...(await cacheManager.mget(op.keys)).keys()])
      break
    case 'mset':
      await cacheManager.mset(op.items.map((i) => ({ ...i, value: revive(i.value) })))
      out.push(true)
      break
    case 'del':
      out.push(await cacheManager.del(op.key))
      break
    case 'invalidate':
      await cacheManager.invalidateByTags(op.tags)
      out.push(true)
      break
    case 'parseDate': {
      const v = await cacheManager.get(op.key)
      out.push(Date.parse(op.field ? v[op.field] : v))
      break
    }
    case 'error':
      try {
        await cacheManager[op.call](...revive(op.args))
        out.push({ code: null })
      } catch (e) {
        out.push({ code: e.code ?? null, message: e.message, type: e instanceof TypeError ? 'TypeError' : e.constructor.name })
      }
      break
    case 'stats':
      out.push(await cacheManager.getStats())
      break
    default:
      throw new Error(`unknown op ${op.op}`)
  }
}
await shutdownCacheSystem()
process.stdout.write(JSON.stringify(out) + '\n')
