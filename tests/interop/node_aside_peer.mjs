// A Node peer for the cross-process cache-aside test: calls cacheAside.get against the npm package
// (dist/index.mjs) on cue, next to a Python process on the same Redis and namespace.
//
//   node node_aside_peer.mjs <redis-url> <namespace>
//
// Prints "ready" once connected, then for every JSON line { key, counter, delayMs } read on stdin calls
// cacheAside.get(key, loader, { ttl: 60 }), whose loader INCRs the Redis key `counter` (raw RESP), waits
// delayMs and returns { by: 'node', n }; prints { value, ms } as one JSON line. Exits at end of input.
import net from 'node:net'
import readline from 'node:readline'
import { createRedisClient, initializeCacheSystem, shutdownCacheSystem, cacheAside } from '../../dist/index.mjs'

const [url, namespace] = process.argv.slice(2)
const { hostname, port } = new URL(url)

function incr(key) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: hostname, port: Number(port) }, () => {
      socket.write(`*2\r\n$4\r\nINCR\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`)
    })
    let reply = ''
    socket.setEncoding('utf8')
    socket.on('data', (d) => {
      reply += d
      const m = /^:(-?\d+)\r\n/.exec(reply)
      if (m) {
        socket.end()
        resolve(Number(m[1]))
      } else if (reply.startsWith('-') && reply.includes('\r\n')) {
        socket.destroy()
        reject(new Error(reply.trim()))
      }
    })
    socket.on('error', reject)
  })
}

createRedisClient({ url, namespace })
const status = await initializeCacheSystem()
if (status.redis !== 'connected') throw new Error(`redis is ${status.redis}`)
process.stdout.write('ready\n')

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  if (!line.trim()) continue
  const { key, counter, delayMs } = JSON.parse(line)
  const t0 = performance.now()
  const value = await cacheAside.get(
    key,
    async () => {
      const n = await incr(counter)
      await new Promise((r) => setTimeout(r, delayMs))
      return { by: 'node', n }
    },
    { ttl: 60 },
  )
  process.stdout.write(JSON.stringify({ value, ms: performance.now() - t0 }) + '\n')
}
await shutdownCacheSystem()
