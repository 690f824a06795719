// getMany of 100 keys (50 cached) against 100 parallel cacheAside.get calls: Redis commands and wall
// time per round, the same package, one process (issue #18).
//
//   node getmany.mjs [--rounds 20]      starts its own redis-server; STRATACACHE_PATH picks the package
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const sc = require(process.env.STRATACACHE_PATH || path.resolve(HERE, '../..'))
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 20
const DB_MS = 2 // one simulated database query (a batch query costs the same)

const port = await new Promise((r) => { const s = net.createServer().listen(0, () => { const p = s.address().port; s.close(() => r(p)) }) })
const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
await new Promise((r) => setTimeout(r, 300))
const { Redis } = await import('ioredis')
const probe = new Redis(port)
const commands = async () => Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))[1])
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

sc.createRedisClient({ host: '127.0.0.1', port, namespace: 'gm' })
await sc.initializeCacheSystem({ skipWarming: true })
const value = (k) => ({ id: k, name: `item ${k}`, tags: ['a', 'b'] })
const res = { many: { ms: [], cmds: [] }, each: { ms: [], cmds: [] } }
for (let r = 0; r < rounds; r++) {
  for (const mode of ['many', 'each']) {
    const keys = Array.from({ length: 100 }, (_, i) => `${mode}:${r}:${i}`)
    for (let i = 0; i < 50; i++) await sc.cacheManager.set(keys[i], value(keys[i]), { ttl: 600 })
    const c0 = await commands()
    const t0 = performance.now()
    if (mode === 'many') {
      await sc.cacheAside.getMany(keys, async (missing) => (await sleep(DB_MS), new Map(missing.map((k) => [k, value(k)]))), { ttl: 600 })
    } else {
      await Promise.all(keys.map((k) => sc.cacheAside.get(k, async () => (await sleep(DB_MS), value(k)), { ttl: 600 })))
    }
    res[mode].ms.push(performance.now() - t0)
    res[mode].cmds.push((await commands()) - c0 - 1)
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const m = { ms: median(res.many.ms), cmds: median(res.many.cmds) }
const e = { ms: median(res.each.ms), cmds: median(res.each.cmds) }
console.log(`getMany of 100 keys (50 cached), medians of ${rounds} rounds:`)
console.log(`  getMany:                 ${m.ms.toFixed(2)} ms, ${m.cmds} Redis commands`)
console.log(`  100 × cacheAside.get:    ${e.ms.toFixed(2)} ms, ${e.cmds} Redis commands`)
console.log(`  wall time ${(e.ms / m.ms).toFixed(2)}× faster, ${(e.cmds / m.cmds).toFixed(2)}× fewer commands`)
await sc.shutdownCacheSystem()
probe.disconnect()
redis.kill()
