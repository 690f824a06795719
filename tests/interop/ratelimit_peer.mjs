// Node side of the cross-process rate-limit test: for every algorithm, 64 concurrent callers issue
// `calls` decisions on `<prefix>:<algorithm>` (limit `limit`, one-hour window) and the process prints
// { algorithm: [remaining of each allowed call] } as JSON.
// Usage: node ratelimit_peer.mjs <redis-url | redis options as JSON> <namespace> <prefix> <limit> <calls>
import { createRedisClient, initializeCacheSystem, redisRateLimiter, shutdownCacheSystem } from '../../dist/index.mjs'

const [url, namespace, prefix, limit, calls] = process.argv.slice(2)
createRedisClient(url.startsWith('{') ? { ...JSON.parse(url), namespace } : { url, namespace })
await initializeCacheSystem()
const out = {}
for (const algorithm of ['fixed-window', 'sliding-log', 'sliding-counter', 'token-bucket', 'leaky-bucket']) {
  const allowed = []
  let issued = 0
  const worker = async () => {
    while (issued < Number(calls)) {
      issued++
      const r = await redisRateLimiter.limit(`${prefix}:${algorithm}`, { windowMs: 3_600_000, maxRequests: Number(limit), algorithm })
      if (r.allowed) allowed.push(r.remaining)
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
  out[algorithm] = allowed
}
await shutdownCacheSystem()
process.stdout.write(JSON.stringify(out) + '\n')
