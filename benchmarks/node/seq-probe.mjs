// Sequential awaited L2 gets (L1 off), stratacache against raw ioredis GET + JSON.parse, interleaved
// in blocks in one process so both see the same machine state. Prints p50/p99 of each and the ratio.
//   STRATACACHE_PATH=…/node_modules/stratacache node seq-probe.mjs [redis port] [rounds]
import Redis from 'ioredis'
const pkg = process.env.STRATACACHE_PATH ?? 'stratacache'
const { createRedisClient, getCacheManager, shutdownCacheSystem } = await import(pkg.startsWith('/') ? `${pkg}/dist/index.mjs` : pkg)
const port = Number(process.argv[2] ?? 6399)
const rounds = Number(process.argv[3] ?? 20)
const BLOCK = 2000
createRedisClient({ host: '127.0.0.1', port, namespace: 'seqprobe' })
const cm = getCacheManager({ enableL1: false })
const io = new Redis({ host: '127.0.0.1', port, enableAutoPipelining: false })
const value = { rows: Array.from({ length: 10 }, (_, i) => ({ id: i, name: `row ${i}`, score: i * 1.5 })) }
const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
for (const k of keys) {
  await cm.set(k, value, { ttl: 3600 })
  await io.set(`raw:${k}`, JSON.stringify(value), 'EX', 3600)
}
const lat = { strata: [], io: [] }
async function block(which) {
  for (let i = 0; i < BLOCK; i++) {
    const t = performance.now()
    const v = which === 'strata' ? await cm.get(keys[i % 100]) : JSON.parse(await io.get(`raw:${keys[i % 100]}`))
    lat[which].push(performance.now() - t)
    if (v.rows.length !== 10) throw new Error('bad value')
  }
}
await block('strata'); await block('io'); lat.strata = []; lat.io = []
for (let r = 0; r < rounds; r++) { await block('strata'); await block('io') }
const pct = (a, p) => { const s = Float64Array.from(a).sort(); return s[Math.floor(p * (s.length - 1))] * 1000 }
const s50 = pct(lat.strata, 0.5), i50 = pct(lat.io, 0.5), s99 = pct(lat.strata, 0.99), i99 = pct(lat.io, 0.99)
const clients = String(await io.call('CLIENT', 'LIST')).split('\n').filter((l) => l.includes('name=stratacache-idle-lane')).length
console.log(`stratacache p50 ${s50.toFixed(1)} µs p99 ${s99.toFixed(1)} µs | ioredis GET+parse p50 ${i50.toFixed(1)} µs p99 ${i99.toFixed(1)} µs | p50 ratio ${(s50 / i50).toFixed(2)}x p99 ratio ${(s99 / i99).toFixed(2)}x | idle lanes connected: ${clients}`)
io.disconnect()
await shutdownCacheSystem()
