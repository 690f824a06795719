#!/usr/bin/env node
// Coherence benchmark (issue 13): how many of 10,000 tagged entries a process still serves after
// `await cacheInvalidator.invalidateTags([tag])` resolved (must be 0), and how long that call takes.
//
//   node coherence.mjs [--runs 10] [--keys 10000]
//
// Starts its own redis-server on a free loopback port. The package under test is the repo root
// (dist/ + bindings-node/*.node) unless STRATACACHE_PATH points elsewhere (e.g. an installed tarball).
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const pkgPath = process.env.STRATACACHE_PATH || path.resolve(HERE, '../..')
const { cacheInvalidator, cacheManager, createRedisClient, getCacheManager, initializeCacheSystem, shutdownCacheSystem } = require(pkgPath)

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const RUNS = arg('runs', 10)
const KEYS = arg('keys', 10_000)
const IN_FLIGHT = 64

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function startRedis() {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((res) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); res(true) })
      s.on('error', () => res(false))
    })
    if (ok) return { port, child }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error('redis-server did not start')
}

async function pool(n, fn) {
  let next = 0
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < n) await fn(next++)
  }))
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const redis = await startRedis()
try {
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: `coh${process.pid}` })
  getCacheManager({ l1MaxSize: KEYS * 2 })
  await initializeCacheSystem()
  const stale = []
  const times = []
  for (let run = 0; run < RUNS; run++) {
    const tag = `burst${run}`
    await pool(KEYS, (i) => cacheManager.set(`k:${i}`, { run, i }, { ttl: 300, tags: [tag] }))
    let served = 0
    await pool(KEYS, async (i) => { if ((await cacheManager.get(`k:${i}`)) !== null) served++ })
    if (served !== KEYS) throw new Error(`run ${run}: only ${served} of ${KEYS} served before the invalidation`)
    const t = process.hrtime.bigint()
    await cacheInvalidator.invalidateTags([tag])
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
    let after = 0
    await pool(KEYS, async (i) => { if ((await cacheManager.get(`k:${i}`)) !== null) after++ })
    stale.push(after)
  }
  console.log(`package: ${pkgPath}`)
  console.log(`stale after invalidateTags resolved (of ${KEYS}), per run: ${stale.join(' ')}`)
  console.log(`invalidateTags ms: median ${median(times).toFixed(3)}, min ${Math.min(...times).toFixed(3)}, max ${Math.max(...times).toFixed(3)}`)
  await shutdownCacheSystem()
} finally {
  redis.child.kill('SIGKILL')
}
