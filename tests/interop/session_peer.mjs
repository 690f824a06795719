// Node side of the session interop test: `create <userId>` prints {sessionId}; `get <id>` prints the
// session or null. Usage: node session_peer.mjs <redis-url> <namespace> <command> <arg>
import { createRedisClient, initializeCacheSystem, sessionManager, shutdownCacheSystem } from '../../dist/index.mjs'

const [url, namespace, command, arg] = process.argv.slice(2)
createRedisClient({ url, namespace })
await initializeCacheSystem()
let out
if (command === 'create') {
  out = await sessionManager.createSession(
    { userId: Number(arg), tenantId: 1, role: 'user', email: 'n@example.com', ipAddress: '10.0.0.1', userAgent: 'node', data: { from: 'node' } },
    { ttl: 600, maxDevices: 5 },
  )
} else {
  out = await sessionManager.getSession(arg)
}
await shutdownCacheSystem()
process.stdout.write(JSON.stringify(out) + '\n')
