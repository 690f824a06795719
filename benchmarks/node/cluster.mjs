#!/usr/bin/env node
// Node benchmark on Redis Cluster: the stratacache npm package (L1 off, so every call reaches the cluster)
// against raw ioredis `Cluster` (auto-pipelining on), in the same run, on a local cluster of 3 masters +
// 3 replicas started by tests/support/topology.py.
//
//   node cluster.mjs [--runs 3] [--json out.json]      STRATACACHE_PATH=<installed package> to measure an install
//
// Scenarios (the ~1 KB value of bench.mjs under 1,000 keys):
//   l2get  gets at 64 in flight            sets  sets at 64 in flight
//   mget   mget of 100 keys (sequential calls; ioredis: 100 pipelined GETs, the usual way on a cluster)
//   get1   one sequential get (the latency of one round trip, to compare mget's latency with)
// Every run reports ops/s, p50/p99, and from INFO commandstats on every master the Redis commands per
// operation and how many masters served them. Results are medians over the runs, libraries interleaved.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeFileSync } from 'node:fs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const STRATACACHE = process.env.STRATACACHE_PATH || path.resolve(HERE, '../..')
const args = process.argv.slice(2)
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt)
const RUNS = Number(opt('--runs', 3))
const JSON_OUT = opt('--json', null)
const SCALE = Number(process.env.BENCH_SCALE || 1)
const n = (x) => Math.max(200, Math.round(x * SCALE))
const KEYS = 1000
const IN_FLIGHT = 64
const COUNTS = { l2get: n(50_000), sets: n(50_000), mget: n(2_000), get1: n(5_000) }

function payload(i) {
  const rows = []
  for (let j = 0; j < 16; j++) rows.push({ id: i * 16 + j, name: `user ${j}`, email: `u${j}@example.com`, active: j % 2 === 0 })
  return { rows }
}

// ---------------------------------------------------------------------------------------------------
// The cluster and its counters

async function startCluster() {
  const child = spawn('python3', [path.resolve(HERE, '../../tests/support/topology.py'), 'cluster'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (d) => {
      buf += d
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')))
    })
    child.on('exit', (code) => reject(new Error(`topology.py exited ${code}`)))
  })
  const info = JSON.parse(line)
  return { ports: info.nodes.map((x) => x.port), stop: () => child.stdin.end() }
}

/** One command on a fresh connection (RESP2, enough for INFO/ROLE). */
function command(port, ...argv) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1')
    let buf = ''
    sock.on('data', (d) => {
      buf += d
      const m = /^\$(\d+)\r\n/.exec(buf)
      if (m && buf.length >= m[0].length + Number(m[1])) {
        sock.end()
        resolve(buf.slice(m[0].length, m[0].length + Number(m[1])))
      } else if (buf.startsWith('*') && buf.includes('master')) {
        sock.end()
        resolve('master')
      } else if (buf.startsWith('*') && buf.includes('slave')) {
        sock.end()
        resolve('slave')
      }
    })
    sock.on('error', reject)
    sock.write(`*${argv.length}\r\n` + argv.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''))
  })
}

async function masters(ports) {
  const out = []
  for (const p of ports) if ((await command(p, 'ROLE')) === 'master') out.push(p)
  return out
}

/** Total calls per master (all commands). */
async function callsPerMaster(ports) {
  const out = {}
  for (const p of ports) {
    const text = await command(p, 'INFO', 'commandstats')
    let total = 0
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (!['info', 'role', 'ping', 'client', 'cluster'].includes(m[1])) total += Number(m[2])
    out[p] = total
  }
  return out
}

// ---------------------------------------------------------------------------------------------------
// The libraries

async function stratacache(ports) {
  const sc = require(STRATACACHE)
  sc.createRedisClient({ cluster: true, nodes: ports.map((p) => `127.0.0.1:${p}`), namespace: 'bench', commandTimeoutMs: 5000 })
  await sc.initializeCacheSystem({ cache: { enableL1: false }, skipWarming: true })
  return {
    name: 'stratacache',
    get: (k) => sc.cacheManager.get(k),
    set: (k, v) => sc.cacheManager.set(k, v, { ttl: 600 }),
    mget: async (keys) => {
      const m = await sc.cacheManager.mget(keys)
      return keys.map((k) => m.get(k))
    },
    close: () => sc.shutdownCacheSystem(),
  }
}

async function ioredis(ports) {
  const { Cluster } = require(path.join(HERE, 'node_modules', 'ioredis'))
  const c = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), { enableAutoPipelining: true })
  await new Promise((res) => c.once('ready', res))
  const key = (k) => `raw:${k}`
  return {
    name: 'ioredis Cluster',
    get: async (k) => JSON.parse(await c.get(key(k))),
    set: (k, v) => c.set(key(k), JSON.stringify(v), 'EX', 600),
    mget: async (keys) => (await Promise.all(keys.map((k) => c.get(key(k))))).map((s) => (s === null ? null : JSON.parse(s))),
    close: () => c.quit(),
  }
}

// ---------------------------------------------------------------------------------------------------
// Measurements

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function timed(total, inFlight, op) {
  const lat = []
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        const i = next++
        const s = performance.now()
        await op(i)
        lat.push(performance.now() - s)
      }
    }),
  )
  const secs = (performance.now() - t0) / 1000
  lat.sort((a, b) => a - b)
  return { opsPerSec: total / secs, p50us: pct(lat, 50) * 1000, p99us: pct(lat, 99) * 1000 }
}

async function scenario(lib, name, ports) {
  const keys = Array.from({ length: KEYS }, (_, i) => `item:${i}`)
  const total = COUNTS[name]
  const before = await callsPerMaster(ports)
  let r
  if (name === 'l2get') r = await timed(total, IN_FLIGHT, (i) => lib.get(keys[i % KEYS]))
  else if (name === 'sets') r = await timed(total, IN_FLIGHT, (i) => lib.set(keys[i % KEYS], payload(i % KEYS)))
  else if (name === 'get1') r = await timed(total, 1, (i) => lib.get(keys[i % KEYS]))
  else if (name === 'mget') {
    r = await timed(total, 1, async (i) => {
      const batch = Array.from({ length: 100 }, (_, j) => keys[(i * 100 + j) % KEYS])
      const got = await lib.mget(batch)
      if (got.length !== 100 || got[0] === null) throw new Error(`${lib.name}: mget missed`)
    })
  }
  const after = await callsPerMaster(ports)
  const served = ports.filter((p) => after[p] > before[p]).length
  const cmds = ports.reduce((s, p) => s + after[p] - before[p], 0)
  return { ...r, cmdsPerOp: cmds / total, mastersServing: served }
}

// ---------------------------------------------------------------------------------------------------

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main() {
  const cluster = await startCluster()
  try {
    const ports = await masters(cluster.ports)
    const libs = [await stratacache(cluster.ports), await ioredis(cluster.ports)]
    for (const lib of libs) for (let i = 0; i < KEYS; i++) await lib.set(`item:${i}`, payload(i))
    const results = []
    for (let run = 0; run < RUNS; run++) {
      for (const name of ['l2get', 'sets', 'mget', 'get1']) {
        for (const lib of run % 2 ? [...libs].reverse() : libs) {
          const r = await scenario(lib, name, ports)
          results.push({ run, lib: lib.name, scenario: name, ...r })
        }
      }
    }
    for (const lib of libs) await lib.close()
    const lines = [`Redis Cluster, 3 masters + 3 replicas on loopback; ${RUNS} runs, medians; stratacache from ${STRATACACHE}`, '',
      '| scenario | library | ops/s | p50 µs | p99 µs | Redis cmds/op | masters serving |', '|---|---|--:|--:|--:|--:|--:|']
    const med = {}
    for (const name of ['l2get', 'sets', 'mget', 'get1']) {
      for (const lib of libs) {
        const rs = results.filter((x) => x.lib === lib.name && x.scenario === name)
        const m = { opsPerSec: median(rs.map((x) => x.opsPerSec)), p50us: median(rs.map((x) => x.p50us)), p99us: median(rs.map((x) => x.p99us)), cmdsPerOp: median(rs.map((x) => x.cmdsPerOp)), masters: median(rs.map((x) => x.mastersServing)) }
        med[`${lib.name}/${name}`] = m
        lines.push(`| ${name} | ${lib.name} | ${Math.round(m.opsPerSec).toLocaleString('en-US')} | ${m.p50us.toFixed(0)} | ${m.p99us.toFixed(0)} | ${m.cmdsPerOp.toFixed(2)} | ${m.masters} |`)
      }
    }
    const ratio = (s) => (med[`stratacache/${s}`].opsPerSec / med[`ioredis Cluster/${s}`].opsPerSec).toFixed(2)
    lines.push('', `stratacache / ioredis Cluster throughput: L2 gets @64 ${ratio('l2get')}x, sets @64 ${ratio('sets')}x, mget of 100 ${ratio('mget')}x`)
    lines.push(`stratacache mget of 100 keys: p50 ${med['stratacache/mget'].p50us.toFixed(0)} µs = ${(med['stratacache/mget'].p50us / med['stratacache/get1'].p50us).toFixed(2)}x one sequential get (${med['stratacache/get1'].p50us.toFixed(0)} µs): the per-slot pipelines of each master travel together`)
    console.log(lines.join('\n'))
    if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ results, medians: med }, null, 2))
  } finally {
    cluster.stop()
  }
}

await main()
process.exit(0)
