#!/usr/bin/env node
// Rate-limit benchmark: decisions/s at 64 in flight on ONE identifier, stratacache's redisRateLimiter
// against rate-limiter-flexible (RateLimiterRedis over ioredis) and raw ioredis (the floor: one EVALSHA
// of a minimal fixed-window script per decision), in the same run, each library in its own child process.
// Every run checks exact counts: with limit N and 2N decisions, exactly N must be allowed.
//
//   node ratelimit.mjs               one run of every library
//   node ratelimit.mjs --runs 3      three runs, medians and the median of the per-run ratios
//   STRATACACHE_PATH=/path/to/pkg    the package under test (default: the repo root; use a release build)
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const SCRIPT = fileURLToPath(import.meta.url)
const require = createRequire(import.meta.url)
const STRATACACHE = process.env.STRATACACHE_PATH || path.resolve(HERE, '../..')
const IN_FLIGHT = 64
const SCALE = Number(process.env.BENCH_SCALE || 1)
const DECISIONS = Math.max(2000, Math.round(60_000 * SCALE))
const LIMIT = DECISIONS / 2
const WINDOW_MS = 86_400_000 // one day: bucket refill during a run stays below one unit, so counts are exact

const LIBS = {
  'stratacache sliding-counter': () => stratacache('sliding-counter'),
  'stratacache fixed-window': () => stratacache('fixed-window'),
  'stratacache token-bucket': () => stratacache('token-bucket'),
  'rate-limiter-flexible': rlf,
  'raw ioredis': rawIoredis,
}

async function stratacache(algorithm) {
  const s = require(STRATACACHE)
  s.createRedisClient({ url: process.env.BENCH_REDIS_URL, namespace: 'bench' })
  await s.initializeCacheSystem()
  return {
    decide: (id) => s.redisRateLimiter.limit(id, { windowMs: WINDOW_MS, maxRequests: LIMIT, algorithm }).then((r) => r.allowed),
    close: () => s.shutdownCacheSystem(),
  }
}

async function rlf() {
  const Redis = require('ioredis')
  const { RateLimiterRedis } = require('rate-limiter-flexible')
  const client = new Redis(process.env.BENCH_REDIS_URL, { enableOfflineQueue: false })
  await new Promise((res) => client.once('ready', res))
  const limiter = new RateLimiterRedis({ storeClient: client, points: LIMIT, duration: WINDOW_MS / 1000, keyPrefix: 'rlf' })
  return {
    decide: (id) => limiter.consume(id).then(() => true, (e) => {
      if (e instanceof Error) throw e
      return false // a RateLimiterRes: denied
    }),
    close: () => client.quit(),
  }
}

async function rawIoredis() {
  const Redis = require('ioredis')
  const client = new Redis(process.env.BENCH_REDIS_URL)
  client.defineCommand('fixedWindow', {
    numberOfKeys: 1,
    lua: `local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
          if c > tonumber(ARGV[2]) then redis.call('DECR', KEYS[1]) return 0 end return 1`,
  })
  return {
    decide: (id) => client.fixedWindow(`raw:${id}`, WINDOW_MS, LIMIT).then((v) => v === 1),
    close: () => client.quit(),
  }
}

async function child(lib) {
  const l = await LIBS[lib]()
  // Warm-up on another identifier (JIT, connections, script cache), discarded.
  await run(l, 'warm', 2000)
  const t0 = process.hrtime.bigint()
  const allowed = await run(l, 'hot', DECISIONS)
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  await l.close()
  process.stdout.write(`RESULT ${JSON.stringify({ lib, decisions: DECISIONS, allowed, exact: allowed === LIMIT, perSec: DECISIONS / seconds })}\n`)
}

async function run(l, id, count) {
  let issued = 0
  let allowed = 0
  const worker = async () => {
    while (issued < count) {
      issued++
      if (await l.decide(id)) allowed++
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  return allowed
}

function freePort() {
  return new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
}

async function redisCommand(port, line) {
  return new Promise((res, rej) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(line + '\r\n'))
    c.once('data', (d) => { c.destroy(); res(d.toString()) })
    c.once('error', rej)
  })
}

async function parent() {
  const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 1) || 1
  const port = await freePort()
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  for (let i = 0; ; i++) {
    try { if ((await redisCommand(port, 'PING')).startsWith('+PONG')) break } catch {}
    if (i > 200) throw new Error('redis-server did not start')
    await new Promise((r) => setTimeout(r, 25))
  }
  const url = `redis://127.0.0.1:${port}`
  const native = require('node:fs').readdirSync(path.join(STRATACACHE, 'bindings-node')).find((f) => f.endsWith('.node'))
  console.log(`rate limiting, ${DECISIONS} decisions per library at ${IN_FLIGHT} in flight on one identifier, limit ${LIMIT} (exactly that many must pass)`)
  console.log(`package under test: ${STRATACACHE} (${native}); node ${process.version}`)
  const all = []
  for (let r = 0; r < runs; r++) {
    const results = {}
    for (const lib of Object.keys(LIBS)) {
      await redisCommand(port, 'FLUSHALL')
      const out = await new Promise((res, rej) => {
        const c = spawn(process.execPath, [SCRIPT, '--child', lib], { env: { ...process.env, BENCH_REDIS_URL: url }, stdio: ['ignore', 'pipe', 'inherit'] })
        let text = ''
        c.stdout.on('data', (d) => (text += d))
        c.on('exit', (code) => (code === 0 ? res(text) : rej(new Error(`${lib} exited with ${code}`))))
      })
      const result = JSON.parse(/RESULT (.*)/.exec(out)[1])
      results[lib] = result
      console.log(`  run ${r + 1}: ${lib}: ${(result.perSec / 1000).toFixed(1)}k decisions/s, allowed ${result.allowed}${result.exact ? ' (exact)' : ' (NOT EXACT)'}`)
    }
    all.push(results)
  }
  server.kill()
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(`\n| library | decisions/s (median of ${runs}) | exact |\n|---|--:|---|`)
  for (const lib of Object.keys(LIBS)) {
    console.log(`| ${lib} | ${(median(all.map((x) => x[lib].perSec)) / 1000).toFixed(1)}k | ${all.every((x) => x[lib].exact) ? 'yes' : 'NO'} |`)
  }
  const ratio = (a, b) => median(all.map((x) => x[a].perSec / x[b].perSec)).toFixed(2)
  console.log(`\nmedian per-run ratios:`)
  console.log(`  stratacache sliding-counter / rate-limiter-flexible: ${ratio('stratacache sliding-counter', 'rate-limiter-flexible')}x (target >= 1.25)`)
  console.log(`  stratacache fixed-window / rate-limiter-flexible:    ${ratio('stratacache fixed-window', 'rate-limiter-flexible')}x (target >= 1.25)`)
  console.log(`  stratacache sliding-counter / raw ioredis EVALSHA:   ${ratio('stratacache sliding-counter', 'raw ioredis')}x`)
  if (!all.every((x) => Object.values(x).every((v) => v.exact))) process.exitCode = 1
}

if (process.argv[2] === '--child') await child(process.argv[3])
else await parent()
