// A Node peer for the cross-process warming test: registers the warming strategy `shared-tick`
// (`every 1s`) against the npm package (dist/index.mjs), next to other Node and Python processes on
// the same Redis and namespace.
//
//   node node_warming_peer.mjs <redis-url> <namespace> <fetch-ms>
//
// Prints "ready" once connected; then one line "run <epoch ms>" each time its fetchFn starts (the
// fetch takes <fetch-ms>). At the end of input it shuts down and prints "count <runs>".
import readline from 'node:readline'
import { cacheWarmer, createRedisClient, initializeCacheSystem, shutdownCacheSystem } from '../../dist/index.mjs'

const [url, namespace, fetchMs] = process.argv.slice(2)
let runs = 0
cacheWarmer.registerStrategy({
  name: 'shared-tick',
  priority: 1,
  enabled: true,
  schedule: 'every 1s',
  fetchFn: async () => {
    runs++
    process.stdout.write(`run ${Date.now()}\n`)
    await new Promise((r) => setTimeout(r, Number(fetchMs)))
    return [{ key: 'shared-tick', value: { by: 'node', pid: process.pid }, options: { ttl: 60 } }]
  },
})
createRedisClient({ url, namespace })
const status = await initializeCacheSystem({ skipWarming: true })
if (status.redis !== 'connected') throw new Error(`redis is ${status.redis}`)
process.stdout.write('ready\n')
for await (const _ of readline.createInterface({ input: process.stdin })) {
  // nothing to do: the schedule runs by itself
}
await shutdownCacheSystem()
process.stdout.write(`count ${runs}\n`)
