#!/usr/bin/env node
// Node benchmark of the stratacache npm package against bentocache, cacheable (keyv + @keyv/redis) and raw
// ioredis. See README.md beside this file.
//
//   node bench.mjs                       the whole suite once: starts a redis-server, runs every
//                                        (library, scenario) in its own child process, prints a table
//   node bench.mjs --runs 3              the suite 3 times, then the medians and the median ratios
//   node bench.mjs --json out.json       also write every result as JSON
//   node bench.mjs --only stratacache,bentocache --scenarios l1
//   node bench.mjs --scenarios stampede  1,000 concurrent get-or-load calls on one cold key (50 ms loader)
//   node bench.mjs --scenarios bus       invalidation bus: propagation latency between two processes, and
//                                        what the bus costs `set` throughput (stratacache vs bentocache)
//   node bench.mjs --lib stratacache --scenario l1     one measurement in this process (starts its own
//                                        redis-server unless --redis-url is given); handy under --cpu-prof
import { fork, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { deepStrictEqual } from 'node:assert'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const SCRIPT = fileURLToPath(import.meta.url)
const require = createRequire(import.meta.url)
// The package under test: the repo root (its `main` is dist/index.js). STRATACACHE_PATH overrides it.
const STRATACACHE = process.env.STRATACACHE_PATH || path.resolve(HERE, '../..')

// ---------------------------------------------------------------------------------------------------------
// Workload

const KEYS = 1000
const TTL_S = 600
const IN_FLIGHT = 64
// Stampede: this many concurrent get-or-load calls on one cold key, whose loader takes this long.
const STAMPEDE_CALLERS = 1000
const STAMPEDE_LOADER_MS = 50
// Bus: process A invalidates one key this many times, waiting this long after each call; process B's
// listener records when each one arrives. Set throughput with and without the bus: this many rounds of each,
// alternating, each in a fresh process.
const BUS_SPACING_MS = 2
const BUS_SET_ROUNDS = 3
const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

// Operation counts: `warm` is discarded, `ops` is measured. BENCH_SCALE (e.g. 0.1) shrinks everything.
const SCALE = Number(process.env.BENCH_SCALE || 1)
const n = (x) => Math.max(1000, Math.round(x * SCALE))
const COUNTS = {
  l1: { warm: n(30_000), ops: n(200_000), latOps: n(50_000) },
  l2get: { warm: n(5_000), ops: n(100_000) },
  seq: { warm: n(3_000), ops: n(30_000) },
  set: { warm: n(5_000), ops: n(100_000) },
  l2set: { warm: n(5_000), ops: n(100_000) },
  // Rounds, each on a fresh cold key (not ops: one round is STAMPEDE_CALLERS calls).
  stampede: { warm: 2, rounds: Math.max(3, Math.round(20 * SCALE)) },
  // Invalidations sent by process A (not scaled below 1,000: p99 needs them).
  bus: { warm: 100, ops: n(1000) },
}

/** ~1 KB JSON value for key i: 16 rows of {id, name, email, active} (the same shape as the Rust bench). */
function payload(i) {
  const rows = []
  for (let j = 0; j < 16; j++) {
    rows.push({ id: i * 16 + j, name: `user ${j}`, email: `u${j}@example.com`, active: j % 2 === 0 })
  }
  return { rows }
}

// Scenarios: which tiers each library is configured with, and what is measured.
const SCENARIOS = {
  l1: { tiers: 'l1+l2', what: 'L1-hit get, sequential `await get`', libs: ['stratacache', 'stratacache-nometrics', 'stratacache-meta', 'bentocache', 'cacheable', 'cacheable-noclone'] },
  // One awaited L2 get at a time: the latency a request handler waits (p50/p99 of every call).
  seq: { tiers: 'l2', what: 'L2 get (L1 off), sequential `await get`, every call timed', libs: ['stratacache', 'bentocache', 'ioredis'] },
  l2get: {
    tiers: 'l2',
    what: `L2 get (L1 off), ${IN_FLIGHT} in flight`,
    libs: ['stratacache', 'bentocache', 'cacheable', 'ioredis', 'ioredis-autopipe'],
  },
  set: {
    tiers: 'l1+l2',
    what: `set, default two-tier config, ${IN_FLIGHT} in flight`,
    libs: ['stratacache', 'bentocache', 'cacheable', 'ioredis', 'ioredis-autopipe'],
  },
  l2set: {
    tiers: 'l2',
    what: `set (L1 off), ${IN_FLIGHT} in flight`,
    libs: ['stratacache', 'bentocache', 'cacheable'],
  },
  // Reported in its own table (wall time and loader runs per round, not ops/s).
  stampede: {
    tiers: 'l1+l2',
    what: `${STAMPEDE_CALLERS} concurrent get-or-load calls on one cold key, ${STAMPEDE_LOADER_MS} ms loader`,
    libs: ['stratacache', 'bentocache'],
    kind: 'stampede',
  },
  // Reported in its own table: propagation latency (ms) and set throughput with / without the bus.
  bus: {
    tiers: 'l1+l2',
    what: `invalidation bus: A invalidates a key ${COUNTS.bus.ops} times (~${BUS_SPACING_MS} ms apart), B's listener fires; and set throughput (${IN_FLIGHT} in flight) with vs without the bus`,
    libs: ['stratacache', 'bentocache'],
    kind: 'bus',
  },
}

// The set-throughput pair of the bus scenario: [with the bus, without it] as makeLib tiers.
// stratacache has no switch for the bus alone: its subscriber runs whenever L1 is on, so "without" is
// `enableL1: false` (no subscriber, no L1 writes; the PUBLISH stays in each write's pipeline).
const BUS_SET_TIERS = {
  stratacache: ['l1+l2', 'l2'],
  bentocache: ['l1+l2+bus', 'l1+l2'],
}

const LIB_LABEL = {
  stratacache: 'stratacache',
  'stratacache-nometrics': 'stratacache (skipMetrics: true)',
  'stratacache-meta': 'stratacache getWithMeta',
  'cacheable-noclone': 'cacheable (useClones: false)',
  bentocache: 'bentocache',
  cacheable: 'cacheable',
  ioredis: 'raw ioredis',
  'ioredis-autopipe': 'raw ioredis (autopipelining)',
}

// ---------------------------------------------------------------------------------------------------------
// Libraries: each returns { get(key), set(key, value), close() } configured for `tiers`.

async function makeLib(lib, tiers, url) {
  // 'l1+l2+bus': two tiers plus bentocache's Redis bus (stratacache's two tiers always include its bus).
  const l1 = tiers === 'l1+l2' || tiers === 'l1+l2+bus'
  switch (lib) {
    case 'stratacache':
    case 'stratacache-meta':
    case 'stratacache-nometrics': {
      const sc = require(STRATACACHE)
      sc.createRedisClient({ url, namespace: `bench-${tiers}` })
      const cm = l1 ? sc.getCacheManager() : sc.getCacheManager({ enableL1: false })
      const init = await sc.initializeCacheSystem({ skipMetrics: lib === 'stratacache-nometrics' })
      if (init.redis !== 'connected') throw new Error(`stratacache: redis ${init.redis}`)
      return {
        get: (k) => cm.get(k),
        // The L1 scenario of `stratacache-meta` reads through getWithMeta instead.
        l1get: lib === 'stratacache-meta' ? (k) => cm.getWithMeta(k) : undefined,
        set: (k, v) => cm.set(k, v, { ttl: TTL_S }),
        getOrLoad: (k, loader) => sc.cacheAside.get(k, loader, { ttl: TTL_S }),
        invalidate: (k) => sc.cacheInvalidator.invalidateKeys([k]),
        // Remote key invalidations only (the listener also sees this process's own, with local: true).
        onRemoteInvalidation: (cb) =>
          sc.cacheInvalidator.onInvalidation((e) => {
            if (!e.local && e.type === 'key') for (const k of e.target) cb(k)
          }),
        close: () => sc.shutdownCacheSystem(),
        stats: () => cm.getStats(),
      }
    }
    case 'bentocache': {
      // The documented multi-tier setup: memory driver as L1 (serialize: true, the default, so a hit returns
      // a fresh object like the other two), ioredis-backed redis driver as L2. L1 off = a store with only
      // the L2 layer. No bus (one process), except with tiers 'l1+l2+bus': the documented Redis bus,
      // `useBus(redisBusDriver({ connection }))`, which opens its own publisher and subscriber connections.
      const { BentoCache, bentostore } = await import('bentocache')
      const { memoryDriver } = await import('bentocache/drivers/memory')
      const { redisDriver, redisBusDriver } = await import('bentocache/drivers/redis')
      const { Redis } = await import('ioredis')
      const conn = new Redis(url)
      let store = bentostore()
      if (l1) store = store.useL1Layer(memoryDriver({ maxItems: 10_000, serialize: true }))
      store = store.useL2Layer(redisDriver({ connection: conn }))
      if (tiers === 'l1+l2+bus') {
        const u = new URL(url)
        store = store.useBus(redisBusDriver({ connection: { host: u.hostname, port: Number(u.port) } }))
      }
      const bento = new BentoCache({ default: 'cache', stores: { cache: store }, prefix: `bento-${tiers}` })
      return {
        get: (k) => bento.get({ key: k }),
        set: (k, v) => bento.set({ key: k, value: v, ttl: TTL_S * 1000 }),
        getOrLoad: (k, loader) => bento.getOrSet({ key: k, factory: loader, ttl: TTL_S * 1000 }),
        invalidate: (k) => bento.delete({ key: k }),
        // Fired when a message from another process arrives, before bentocache applies it to its L1.
        onRemoteInvalidation: (cb) =>
          bento.on('bus:message:received', ({ message }) => {
            for (const k of message.keys ?? []) cb(k)
          }),
        close: async () => {
          await bento.disconnect()
          conn.disconnect()
        },
      }
    }
    case 'cacheable': {
      // Cacheable with its default in-memory primary (CacheableMemory, which clones on get) and @keyv/redis
      // as secondary. L1 off = the same secondary alone: a Keyv over @keyv/redis.
      const { default: KeyvRedis } = await import('@keyv/redis')
      if (l1) {
        const { Cacheable } = await import('cacheable')
        const secondary = new KeyvRedis(url)
        const cache = new Cacheable({ secondary, ttl: TTL_S * 1000 })
        return {
          get: (k) => cache.get(k),
          set: (k, v) => cache.set(k, v, TTL_S * 1000),
          close: () => cache.disconnect(),
        }
      }
      const { Keyv } = await import('keyv')
      const keyv = new Keyv({ store: new KeyvRedis(url), namespace: `keyv-${tiers}` })
      return {
        get: (k) => keyv.get(k),
        set: (k, v) => keyv.set(k, v, TTL_S * 1000),
        close: () => keyv.disconnect(),
      }
    }
    case 'cacheable-noclone': {
      // Cacheable whose memory primary hands out the stored object itself: `useClone: false` (the
      // option's name in @cacheable/memory 2.x; its README says `useClones`) and a Keyv without
      // serialization (else Keyv's JSON round trip copies anyway). The cheapest L1 hit a JS cache can
      // offer; stratacache hands out a fresh copy on every hit. Checked below: two gets, one object.
      const { Cacheable, KeyvCacheableMemory } = await import('cacheable')
      const { Keyv } = await import('keyv')
      const { default: KeyvRedis } = await import('@keyv/redis')
      const primary = new Keyv({ store: new KeyvCacheableMemory({ useClone: false }) })
      primary.serialize = undefined
      primary.deserialize = undefined
      const cache = new Cacheable({ primary, secondary: new KeyvRedis(url), ttl: TTL_S * 1000 })
      return {
        get: (k) => cache.get(k),
        set: (k, v) => cache.set(k, v, TTL_S * 1000),
        close: () => cache.disconnect(),
      }
    }
    case 'ioredis':
    case 'ioredis-autopipe': {
      const { Redis } = await import('ioredis')
      const r = new Redis(url, { enableAutoPipelining: lib === 'ioredis-autopipe' })
      const p = `raw-${lib}:`
      return {
        get: async (k) => {
          const s = await r.get(p + k)
          return s === null ? null : JSON.parse(s)
        },
        set: (k, v) => r.set(p + k, JSON.stringify(v), 'EX', TTL_S),
        close: () => r.quit(),
      }
    }
    default:
      throw new Error(`unknown library ${lib}`)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Measurement

function percentiles(lat) {
  const s = Float64Array.from(lat).sort()
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))] * 1000 // ms -> µs
  return { p50us: at(0.5), p99us: at(0.99) }
}

/** `total` calls of fn(i), `conc` at a time; per-call latency in ms. */
async function runConcurrent(fn, total, conc) {
  const lat = new Float64Array(total)
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= total) return
      const t = performance.now()
      await fn(i)
      lat[i] = performance.now() - t
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: conc }, worker))
  return { seconds: (performance.now() - t0) / 1000, lat }
}

async function redisCommands(probe) {
  const info = await probe.info('stats')
  return Number(/total_commands_processed:(\d+)/.exec(info)[1])
}

/**
 * Stampede: per round, STAMPEDE_CALLERS concurrent get-or-load calls on a fresh cold key whose loader
 * sleeps STAMPEDE_LOADER_MS. Measured: wall time until every caller has its value, how many times the
 * loader ran, when each caller resolved, and the Redis commands sent.
 */
async function measureStampede(lib, url) {
  const counts = COUNTS.stampede
  const { Redis } = await import('ioredis')
  const probe = new Redis(url)
  const c = await makeLib(lib, SCENARIOS.stampede.tiers, url)
  const rounds = []
  const done = []
  try {
    if (!c.getOrLoad) throw new Error(`${lib} has no get-or-load call`)
    for (let round = 0; round < counts.warm + counts.rounds; round++) {
      const key = `stampede:${round}`
      const expected = payload(round)
      let runs = 0
      const loader = async () => {
        runs++
        await sleep(STAMPEDE_LOADER_MS)
        return payload(round)
      }
      const at = new Float64Array(STAMPEDE_CALLERS)
      const cmd0 = await redisCommands(probe)
      const t0 = performance.now()
      const values = await Promise.all(
        Array.from({ length: STAMPEDE_CALLERS }, async (_, i) => {
          const v = await c.getOrLoad(key, loader)
          at[i] = performance.now() - t0
          return v
        }),
      )
      const wallMs = performance.now() - t0
      const cmds = (await redisCommands(probe)) - cmd0 - 1
      for (const v of values) deepStrictEqual(v, expected, `${lib}: wrong value for ${key}`)
      if (round < counts.warm) continue
      rounds.push({ wallMs, runs, cmds })
      done.push(...at)
    }
  } finally {
    await c.close()
    probe.disconnect()
  }
  const wallMs = median(rounds.map((x) => x.wallMs))
  const cmdsPerRound = median(rounds.map((x) => x.cmds))
  return {
    lib,
    scenario: 'stampede',
    rounds: rounds.length,
    callers: STAMPEDE_CALLERS,
    loaderMs: STAMPEDE_LOADER_MS,
    wallMs,
    wallMsMax: Math.max(...rounds.map((x) => x.wallMs)),
    loaderRunsPerRound: rounds.reduce((a, x) => a + x.runs, 0) / rounds.length,
    loaderRunsMax: Math.max(...rounds.map((x) => x.runs)),
    cmdsPerRound,
    // The generic fields, so --runs medians and ratios work: callers served per second of wall time,
    // per-caller resolution time (µs after the round started), Redis commands per caller.
    opsPerSec: STAMPEDE_CALLERS / (wallMs / 1000),
    ...percentiles(done),
    cmdsPerOp: cmdsPerRound / STAMPEDE_CALLERS,
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bus: propagation latency between two processes, and what the bus costs `set` throughput.

/** A bus role process (A invalidates, B listens), driven over IPC. */
function forkRole(role, lib, url) {
  const child = fork(SCRIPT, ['--bus-role', role, '--lib', lib, '--redis-url', url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const inbox = []
  const waiters = []
  let exitCode = null
  child.on('message', (m) => {
    const w = waiters.shift()
    if (w) w.resolve(m)
    else inbox.push(m)
  })
  const exited = new Promise((res) =>
    child.on('exit', (code, signal) => {
      exitCode = code ?? signal
      for (const w of waiters.splice(0)) w.reject(new Error(`bus role ${role} (${lib}) exited (${exitCode})`))
      res(exitCode)
    }),
  )
  return {
    send: (m) => child.send(m),
    next(timeoutMs = 60_000) {
      if (inbox.length) return Promise.resolve(inbox.shift())
      if (exitCode !== null) return Promise.reject(new Error(`bus role ${role} (${lib}) exited (${exitCode})`))
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bus role ${role} (${lib}): no answer within ${timeoutMs} ms`)), timeoutMs)
        waiters.push({
          resolve: (m) => {
            clearTimeout(timer)
            resolve(m)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
      })
    },
    async close() {
      if (exitCode === null) {
        try {
          child.send({ op: 'close' })
        } catch {}
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(killer)
      }
    },
  }
}

/** One bus role (a child of the bus measurement): A invalidates `buslat:{i}` on request, B records arrivals. */
async function busRole(args) {
  const lib = String(args.lib)
  const role = String(args['bus-role'])
  const c = await makeLib(lib, BUS_SET_TIERS[lib][0], String(args['redis-url']))
  await c.get('buslat:warmup') // bentocache creates its store, and so joins its bus, on first use
  const arrived = new Map() // i -> process.hrtime.bigint() when B's listener fired (first time)
  if (role === 'b') {
    c.onRemoteInvalidation((k) => {
      const t = process.hrtime.bigint()
      const m = /buslat:(\d+)$/.exec(k)
      if (m && !arrived.has(Number(m[1]))) arrived.set(Number(m[1]), t)
    })
  }
  await new Promise((resolve, reject) => {
    process.on('message', async (m) => {
      try {
        if (m.op === 'clock') process.send({ t: process.hrtime.bigint().toString() })
        else if (m.op === 'run') {
          const sent = new Array(m.total)
          for (let i = 0; i < m.total; i++) {
            sent[i] = process.hrtime.bigint()
            await c.invalidate(`buslat:${i}`)
            await sleep(m.spacingMs)
          }
          process.send({ sent: sent.map(String) })
        } else if (m.op === 'report') process.send({ arrived: [...arrived].map(([i, t]) => [i, String(t)]) })
        else if (m.op === 'close') {
          await c.close()
          resolve()
        }
      } catch (e) {
        reject(e)
      }
    })
    process.send({ ready: true })
  })
}

/**
 * `process.hrtime` is CLOCK_MONOTONIC, one clock for every process on a Linux host, so B's arrival time
 * minus A's send time is the one-way latency. The handshake checks it: the offset of a role's clock from
 * this process's, from the ping with the smallest round trip (offset = its reading minus the midpoint).
 */
async function clockOffset(role) {
  let best = null
  for (let i = 0; i < 50; i++) {
    const t0 = process.hrtime.bigint()
    role.send({ op: 'clock' })
    const { t } = await role.next()
    const t1 = process.hrtime.bigint()
    const rtt = Number(t1 - t0)
    if (!best || rtt < best.rtt) best = { rtt, offset: Number(BigInt(t) - (t0 + t1) / 2n) }
  }
  return best // ns
}

/** Wait until `n` pub/sub subscriptions exist on the server (both roles joined their bus). */
async function subscribers(probe, n) {
  for (let tries = 0; tries < 400; tries++) {
    const channels = await probe.pubsub('CHANNELS', '*')
    let total = 0
    if (channels.length) {
      const counts = await probe.pubsub('NUMSUB', ...channels)
      for (let i = 1; i < counts.length; i += 2) total += Number(counts[i])
    }
    if (total >= n) return total
    await sleep(25)
  }
  throw new Error(`fewer than ${n} bus subscribers after 10 s`)
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]

/** Process A invalidates `buslat:{i}` (sequentially, BUS_SPACING_MS apart); B's listener time-stamps each arrival. */
async function measureBusLatency(lib, url) {
  const { warm, ops } = COUNTS.bus
  const total = warm + ops
  const { Redis } = await import('ioredis')
  const probe = new Redis(url)
  const a = forkRole('a', lib, url)
  const b = forkRole('b', lib, url)
  try {
    await a.next()
    await b.next()
    await subscribers(probe, 2)
    const [ca, cb] = [await clockOffset(a), await clockOffset(b)]
    const offsetNs = cb.offset - ca.offset // B's clock minus A's, as the handshake sees it
    const handshakeRttNs = Math.max(ca.rtt, cb.rtt)
    // Trust the shared clock unless the handshake says otherwise (then correct by the measured offset).
    const correctNs = Math.abs(offsetNs) > Math.max(handshakeRttNs, 100_000) ? offsetNs : 0
    const cmd0 = await redisCommands(probe)
    const t0 = performance.now()
    a.send({ op: 'run', total, spacingMs: BUS_SPACING_MS })
    const { sent } = await a.next(600_000)
    const seconds = (performance.now() - t0) / 1000
    const cmds = (await redisCommands(probe)) - cmd0 - 1
    await sleep(200) // the last messages
    b.send({ op: 'report' })
    const arrived = new Map((await b.next()).arrived.map(([i, t]) => [i, BigInt(t)]))
    const lat = []
    let lost = 0
    for (let i = warm; i < total; i++) {
      const t = arrived.get(i)
      if (t === undefined) lost++
      else lat.push(Number(t - BigInt(sent[i]) - BigInt(correctNs)) / 1e6)
    }
    if (!lat.length) throw new Error(`${lib}: B received none of A's invalidations`)
    const sorted = Float64Array.from(lat).sort()
    return {
      invalidations: ops,
      lost,
      p50ms: quantile(sorted, 0.5),
      p90ms: quantile(sorted, 0.9),
      p99ms: quantile(sorted, 0.99),
      maxMs: sorted[sorted.length - 1],
      meanMs: lat.reduce((x, y) => x + y, 0) / lat.length,
      invalidationsPerSec: total / seconds,
      cmdsPerInvalidation: cmds / total,
      clockOffsetUs: offsetNs / 1000,
      clockHandshakeRttUs: handshakeRttNs / 1000,
      clockCorrected: correctNs !== 0,
    }
  } finally {
    await Promise.all([a.close(), b.close()])
    probe.disconnect()
  }
}

/** `set` throughput, 64 in flight, with the bus and without, alternating, each run in a fresh process. */
async function measureBusSets(lib, url) {
  const [withBus, withoutBus] = BUS_SET_TIERS[lib]
  const { Redis } = await import('ioredis')
  const admin = new Redis(url)
  const runs = { with: [], without: [] }
  try {
    for (let round = 0; round < BUS_SET_ROUNDS; round++) {
      const order = round % 2 ? [['without', withoutBus], ['with', withBus]] : [['with', withBus], ['without', withoutBus]]
      for (const [label, tiers] of order) {
        await admin.flushall()
        runs[label].push(await runChild(lib, 'set', url, tiers))
      }
    }
  } finally {
    admin.disconnect()
  }
  const ops = (label) => median(runs[label].map((x) => x.opsPerSec))
  return {
    setBusTiers: withBus,
    setNoBusTiers: withoutBus,
    setBusOps: ops('with'),
    setNoBusOps: ops('without'),
    busSetRatio: ops('with') / ops('without'),
    setBusCmdsPerOp: median(runs.with.map((x) => x.cmdsPerOp)),
    setNoBusCmdsPerOp: median(runs.without.map((x) => x.cmdsPerOp)),
    setBusRuns: runs.with.map((x) => x.opsPerSec),
    setNoBusRuns: runs.without.map((x) => x.opsPerSec),
  }
}

async function measureBus(lib, url) {
  if (!BUS_SET_TIERS[lib]) throw new Error(`${lib} has no bus`)
  const latency = await measureBusLatency(lib, url)
  const sets = await measureBusSets(lib, url)
  return {
    lib,
    scenario: 'bus',
    ...latency,
    ...sets,
    // The generic fields (for --runs medians): sets/s with the bus; propagation latency in µs; Redis
    // commands per invalidation.
    opsPerSec: sets.setBusOps,
    p50us: latency.p50ms * 1000,
    p99us: latency.p99ms * 1000,
    cmdsPerOp: latency.cmdsPerInvalidation,
  }
}

async function measure(lib, scenario, url, tiers = SCENARIOS[scenario].tiers) {
  if (scenario === 'stampede') return measureStampede(lib, url)
  if (scenario === 'bus') return measureBus(lib, url)
  const counts = COUNTS[scenario]
  const keys = Array.from({ length: KEYS }, (_, i) => `bench:${i}`)
  const values = keys.map((_, i) => payload(i))
  const { Redis } = await import('ioredis')
  const probe = new Redis(url) // counts Redis commands per op (INFO itself adds one per reading)
  const c = await makeLib(lib, tiers, url)
  let sink = 0
  let result
  try {
    // Populate every key, then check that a get returns the stored value.
    for (let i = 0; i < KEYS; i++) await c.set(keys[i], values[i])
    for (const i of [0, KEYS - 1]) {
      const v = await c.get(keys[i])
      deepStrictEqual(v, values[i], `${lib}: wrong value for ${keys[i]}`)
      sink += v.rows.length
    }
    if (lib === 'cacheable-noclone' && scenario === 'l1' && (await c.get(keys[0])) !== (await c.get(keys[0]))) {
      throw new Error('cacheable-noclone: hits are copies, not the stored object')
    }

    if (scenario === 'l1') {
      // `getWithMeta` resolves to { value, status, … }: the meta variant reads the rows from `value`.
      const get = c.l1get ?? c.get
      const rows = (v) => (v.rows ?? v.value.rows)
      for (let i = 0; i < counts.warm; i++) sink += rows(await get(keys[i % KEYS])).length
      const cmd0 = await redisCommands(probe)
      const stats0 = c.stats ? await c.stats() : null
      const t0 = performance.now()
      for (let i = 0; i < counts.ops; i++) sink += rows(await get(keys[i % KEYS])).length
      const seconds = (performance.now() - t0) / 1000
      const cmds = (await redisCommands(probe)) - cmd0 - 1
      if (stats0) {
        const s = await c.stats()
        if (s.l2.hits + s.l2.misses !== stats0.l2.hits + stats0.l2.misses) throw new Error('stratacache: L1 scenario reached L2')
      }
      // Latency: a separate pass timing every call (the timer costs ~0.1 µs, so it is kept out of ops/s).
      const lat = new Float64Array(counts.latOps)
      for (let i = 0; i < counts.latOps; i++) {
        const t = performance.now()
        const v = await get(keys[i % KEYS])
        lat[i] = performance.now() - t
        sink += rows(v).length
      }
      result = { ops: counts.ops, seconds, opsPerSec: counts.ops / seconds, ...percentiles(lat), cmdsPerOp: cmds / counts.ops }
    } else if (scenario === 'seq') {
      const get = c.get
      for (let i = 0; i < counts.warm; i++) sink += (await get(keys[i % KEYS])).rows.length
      const cmd0 = await redisCommands(probe)
      const lat = new Float64Array(counts.ops)
      const t0 = performance.now()
      for (let i = 0; i < counts.ops; i++) {
        const t = performance.now()
        const v = await get(keys[i % KEYS])
        lat[i] = performance.now() - t
        sink += v.rows.length
      }
      const seconds = (performance.now() - t0) / 1000
      const cmds = (await redisCommands(probe)) - cmd0 - 1
      result = { ops: counts.ops, seconds, opsPerSec: counts.ops / seconds, ...percentiles(lat), cmdsPerOp: cmds / counts.ops }
    } else {
      const isGet = scenario === 'l2get'
      const op = isGet
        ? async (i) => {
            const v = await c.get(keys[i % KEYS])
            if (v === null || v === undefined) throw new Error(`${lib}: miss on ${keys[i % KEYS]}`)
            sink += v.rows.length
          }
        : (i) => c.set(keys[i % KEYS], values[i % KEYS])
      await runConcurrent(op, counts.warm, IN_FLIGHT)
      const cmd0 = await redisCommands(probe)
      const { seconds, lat } = await runConcurrent(op, counts.ops, IN_FLIGHT)
      const cmds = (await redisCommands(probe)) - cmd0 - 1
      result = { ops: counts.ops, seconds, opsPerSec: counts.ops / seconds, ...percentiles(lat), cmdsPerOp: cmds / counts.ops }
    }
  } finally {
    await c.close()
    probe.disconnect()
  }
  if (sink === 0) throw new Error('no value read')
  return { lib, scenario, ...(tiers !== SCENARIOS[scenario].tiers ? { tiers } : {}), ...result }
}

// ---------------------------------------------------------------------------------------------------------
// redis-server

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function startRedis() {
  const port = await freePort()
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const kill = () => {
    try {
      proc.kill('SIGKILL')
    } catch {}
  }
  process.on('exit', kill)
  const url = `redis://127.0.0.1:${port}`
  const { Redis } = await import('ioredis')
  for (let tries = 0; ; tries++) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`)
    const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    try {
      await r.connect()
      await r.ping()
      r.disconnect()
      break
    } catch {
      r.disconnect()
      if (tries > 100) throw new Error('redis-server did not answer PING')
      await new Promise((res) => setTimeout(res, 50))
    }
  }
  return {
    url,
    stop: async () => {
      proc.kill('SIGTERM')
      await new Promise((res) => (proc.exitCode !== null ? res() : proc.once('exit', res)))
      process.off('exit', kill)
    },
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parent: orchestration and report

function runChild(lib, scenario, url, tiers) {
  return new Promise((resolve, reject) => {
    const extra = tiers ? ['--tiers', tiers] : []
    const child = spawn(process.execPath, [SCRIPT, '--lib', lib, '--scenario', scenario, '--redis-url', url, ...extra], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), scenario === 'bus' ? 900_000 : 180_000)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const line = out.split('\n').find((l) => l.startsWith('RESULT '))
      if (code !== 0 || !line) return reject(new Error(`${lib}/${scenario} failed (exit ${code ?? signal})\n${out}`))
      resolve(JSON.parse(line.slice(7)))
    })
  })
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const fmtOps = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`)
const fmtUs = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))

function table(results) {
  const lines = ['| scenario | library | ops/s | p50 µs | p99 µs | Redis cmds/op |', '|---|---|--:|--:|--:|--:|']
  for (const [scenario, sc] of Object.entries(SCENARIOS)) {
    if (sc.kind) continue
    for (const lib of sc.libs) {
      const r = results.find((x) => x.lib === lib && x.scenario === scenario)
      if (!r) continue
      lines.push(`| ${scenario} | ${LIB_LABEL[lib]} | ${fmtOps(r.opsPerSec)} | ${fmtUs(r.p50us)} | ${fmtUs(r.p99us)} | ${r.cmdsPerOp.toFixed(2)} |`)
    }
  }
  const extra = [stampedeTable(results), busTable(results)].filter(Boolean)
  if (lines.length === 2) return extra.length ? extra.join('\n\n') : '(no results)'
  return [lines.join('\n'), ...extra].join('\n\n')
}

// Targets of the bus scenario (the project's goals): propagation p99 on loopback, and the bus's cost in set
// throughput (1 - with/without).
const BUS_P99_TARGET_MS = 5
const BUS_COST_TARGET = 0.2

/** The bus rows (null when there are none). */
function busTable(results) {
  const rows = SCENARIOS.bus.libs.map((lib) => results.find((x) => x.lib === lib && x.scenario === 'bus')).filter(Boolean)
  if (!rows.length) return null
  const lines = [
    `bus: ${SCENARIOS.bus.what}`,
    '',
    '| library | propagation p50 ms | p90 ms | p99 ms | max ms | lost | Redis cmds / invalidation | sets/s with bus | sets/s without | with / without |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ]
  for (const r of rows) {
    lines.push(
      `| ${LIB_LABEL[r.lib]} | ${r.p50ms.toFixed(2)} | ${r.p90ms.toFixed(2)} | ${r.p99ms.toFixed(2)} | ${r.maxMs.toFixed(2)} | ${r.lost} | ${r.cmdsPerInvalidation.toFixed(2)} | ${fmtOps(r.setBusOps)} | ${fmtOps(r.setNoBusOps)} | ${r.busSetRatio.toFixed(2)} |`,
    )
  }
  lines.push('')
  for (const r of rows) {
    const verdict = (ok) => (r.lib === 'stratacache' ? (ok ? ' (target: met)' : ' (target: MISSED)') : '')
    const without = r.lib === 'stratacache' ? 'enableL1: false, no subscriber' : 'no bus'
    lines.push(
      `${LIB_LABEL[r.lib]}: propagation p99 ${r.p99ms.toFixed(2)} ms${r.lib === 'stratacache' ? `, target < ${BUS_P99_TARGET_MS} ms` : ''}${verdict(r.p99ms < BUS_P99_TARGET_MS)}; ` +
        `bus cost ${((1 - r.busSetRatio) * 100).toFixed(1)} % of set throughput vs ${without}${r.lib === 'stratacache' ? `, target < ${BUS_COST_TARGET * 100} %` : ''}${verdict(1 - r.busSetRatio < BUS_COST_TARGET)}` +
        (r.clockOffsetUs !== undefined ? `; clock handshake offset ${r.clockOffsetUs.toFixed(0)} µs (round trip ${r.clockHandshakeRttUs.toFixed(0)} µs${r.clockCorrected ? ', corrected' : ', shared monotonic clock'})` : ''),
    )
  }
  return lines.join('\n')
}

/** The stampede rows (null when there are none). */
function stampedeTable(results) {
  const rows = SCENARIOS.stampede.libs.map((lib) => results.find((x) => x.lib === lib && x.scenario === 'stampede')).filter(Boolean)
  if (!rows.length) return null
  const lines = [
    `stampede: ${SCENARIOS.stampede.what}; ${rows[0].rounds} measured rounds`,
    '',
    '| library | wall ms (median) | wall ms (max) | loader runs / round (mean, max) | caller done p50 ms | p99 ms | Redis cmds / round |',
    '|---|--:|--:|--:|--:|--:|--:|',
  ]
  for (const r of rows) {
    const max = r.loaderRunsMax ?? '–'
    lines.push(
      `| ${LIB_LABEL[r.lib]} | ${r.wallMs.toFixed(1)} | ${r.wallMsMax !== undefined ? r.wallMsMax.toFixed(1) : '–'} | ${r.loaderRunsPerRound.toFixed(2)}, ${max} | ${(r.p50us / 1000).toFixed(1)} | ${(r.p99us / 1000).toFixed(1)} | ${r.cmdsPerRound.toFixed(0)} |`,
    )
  }
  return lines.join('\n')
}

const RATIOS = [
  { name: 'L1 hits: stratacache / bentocache', a: ['stratacache', 'l1'], b: ['bentocache', 'l1'], target: 2.5 },
  { name: 'L1 hits: stratacache (fresh copy) / cacheable without cloning (shared object)', a: ['stratacache', 'l1'], b: ['cacheable-noclone', 'l1'], target: 2 },
  // What recording metrics costs the hottest path (issue #16: at least 0.95 of the throughput without).
  { name: 'L1 hits: stratacache with metrics / with skipMetrics: true', a: ['stratacache', 'l1'], b: ['stratacache-nometrics', 'l1'], target: 0.95 },
  // getWithMeta must cost no more than get on an L1 hit (issue #18): its throughput over get's.
  { name: 'L1 hits: getWithMeta / get', a: ['stratacache-meta', 'l1'], b: ['stratacache', 'l1'], target: 0.95 },
  // Sequential L2 gets: raw ioredis's latency over stratacache's (above 1/1.3 = 0.77: p50 within 1.3x raw).
  { name: 'sequential L2 get p50: raw ioredis / stratacache', value: (rs) => seqLat(rs, 'ioredis', 'p50us') / seqLat(rs, 'stratacache', 'p50us'), target: 1 / 1.3 },
  { name: 'sequential L2 get p99: raw ioredis / stratacache', value: (rs) => seqLat(rs, 'ioredis', 'p99us') / seqLat(rs, 'stratacache', 'p99us'), target: 1 / 1.5 },
  { name: 'sequential L2 get p50: bentocache / stratacache', value: (rs) => seqLat(rs, 'bentocache', 'p50us') / seqLat(rs, 'stratacache', 'p50us'), target: null },
  // Throughput at 64 in flight must keep its lead over raw ioredis (issue #15: gets 1.2x, sets 1.1x).
  { name: 'L2 gets: stratacache / raw ioredis GET+JSON.parse', a: ['stratacache', 'l2get'], b: ['ioredis', 'l2get'], target: 1.2 },
  { name: 'sets: stratacache / raw ioredis SET+JSON.stringify', a: ['stratacache', 'set'], b: ['ioredis', 'set'], target: 1.1 },
  { name: 'sets (L1 off): stratacache / raw ioredis SET+JSON.stringify', a: ['stratacache', 'l2set'], b: ['ioredis', 'set'], target: null },
  { name: 'L2 gets: stratacache / raw ioredis with autopipelining', a: ['stratacache', 'l2get'], b: ['ioredis-autopipe', 'l2get'], target: null },
  { name: 'sets: stratacache / raw ioredis with autopipelining', a: ['stratacache', 'set'], b: ['ioredis-autopipe', 'set'], target: null },
  { name: 'stampede: bentocache wall time / stratacache wall time', a: ['stratacache', 'stampede'], b: ['bentocache', 'stampede'], target: null },
  // Bus: one library's set throughput with its bus over without it (1 - ratio = the bus's cost), and the
  // propagation p99 of bentocache over stratacache's (above 1: stratacache's invalidations arrive sooner).
  { name: 'bus: stratacache sets with bus / with enableL1: false (no subscriber)', value: (rs) => busResult(rs, 'stratacache')?.busSetRatio, target: 1 - BUS_COST_TARGET },
  { name: 'bus: bentocache sets with bus / without bus', value: (rs) => busResult(rs, 'bentocache')?.busSetRatio, target: null },
  { name: 'bus: propagation p99, bentocache / stratacache', value: (rs) => busResult(rs, 'bentocache')?.p99ms / busResult(rs, 'stratacache')?.p99ms, target: null },
]

const busResult = (results, lib) => results.find((x) => x.lib === lib && x.scenario === 'bus')
const seqLat = (results, lib, field) => results.find((x) => x.lib === lib && x.scenario === 'seq')?.[field]

function ratios(results) {
  const get = ([lib, scenario]) => results.find((x) => x.lib === lib && x.scenario === scenario)?.opsPerSec
  const out = {}
  for (const r of RATIOS) {
    if (r.value) {
      const v = r.value(results)
      if (Number.isFinite(v)) out[r.name] = v
      continue
    }
    const a = get(r.a)
    const b = get(r.b)
    if (a && b) out[r.name] = a / b
  }
  return out
}

function printRatios(values, label) {
  console.log(`\n${label}`)
  for (const r of RATIOS) {
    const v = values[r.name]
    if (v === undefined) continue
    const t = r.target === null ? '' : Number(r.target.toFixed(2))
    const verdict = r.target === null ? '' : v >= r.target ? `  (target ≥ ${t}: met)` : `  (target ≥ ${t}: MISSED)`
    console.log(`  ${r.name}: ${v.toFixed(2)}x${verdict}`)
  }
}

function environment() {
  const native = path.join(STRATACACHE, 'bindings-node/stratacache.linux-x64-gnu.node')
  let nativeInfo = 'not found'
  let debugBuild = false
  try {
    const bytes = readFileSync(native)
    const sha = createHash('sha256').update(bytes).digest('hex').slice(0, 12)
    // rustc's overflow checks (on in the dev profile, off in release) leave this panic message in the binary.
    debugBuild = bytes.includes('attempt to add with overflow')
    nativeInfo = `${debugBuild ? 'DEBUG build' : 'release build'}, ${(bytes.length / 2 ** 20).toFixed(1)} MiB, sha256 ${sha}, built ${statSync(native).mtime.toISOString()}`
  } catch {}
  const ver = (p) => JSON.parse(readFileSync(path.join(HERE, 'node_modules', p, 'package.json'), 'utf8')).version
  let redis = ''
  try {
    redis = /v=(\S+)/.exec(require('node:child_process').execFileSync('redis-server', ['--version']).toString())[1]
  } catch {}
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${os.cpus()[0].model} x${os.cpus().length}`,
    redis,
    native: nativeInfo,
    debugBuild,
    versions: Object.fromEntries(['bentocache', 'cacheable', 'keyv', '@keyv/redis', 'ioredis'].map((p) => [p, ver(p)])),
  }
}

function parseArgs(argv) {
  const a = {}
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    if (!k.startsWith('--')) throw new Error(`unexpected argument ${k}`)
    a[k.slice(2)] = argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : true
  }
  return a
}

async function parent(args) {
  const runs = Number(args.runs || 1)
  const only = args.only ? String(args.only).split(',') : null
  const scenarios = args.scenarios ? String(args.scenarios).split(',') : Object.keys(SCENARIOS)
  const env = environment()
  console.log(`stratacache Node benchmark — ${env.date}`)
  console.log(`node ${env.node}, ${env.cpu}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  console.log(`redis-server ${env.redis}; stratacache native module: ${env.native}`)
  if (env.debugBuild) {
    console.log('WARNING: the stratacache native module is an unoptimized debug build (napi build without --release);')
    console.log('         its numbers say nothing about a release build.')
  }
  console.log(`versions: ${Object.entries(env.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  console.log(`payload ${JSON.stringify(payload(0)).length} bytes JSON, ${KEYS} keys, scale ${SCALE}\n`)

  const redis = await startRedis()
  const all = []
  const t0 = performance.now()
  try {
    const { Redis } = await import('ioredis')
    const admin = new Redis(redis.url)
    for (let run = 1; run <= runs; run++) {
      const results = []
      for (const scenario of scenarios) {
        for (const lib of SCENARIOS[scenario].libs) {
          if (only && !only.includes(lib)) continue
          await admin.flushall()
          const r = await runChild(lib, scenario, redis.url)
          r.run = run
          results.push(r)
          process.stderr.write(
            scenario === 'stampede'
              ? `  run ${run}: stampede ${lib}: ${r.wallMs.toFixed(1)} ms wall, ${r.loaderRunsPerRound.toFixed(2)} loader runs/round\n`
              : scenario === 'bus'
                ? `  run ${run}: bus ${lib}: propagation p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms; sets with/without bus ${fmtOps(r.setBusOps)}/${fmtOps(r.setNoBusOps)}\n`
                : `  run ${run}: ${scenario} ${lib}: ${fmtOps(r.opsPerSec)} ops/s\n`,
          )
        }
      }
      all.push(...results)
      console.log(`\n## run ${run} of ${runs} (load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})\n`)
      console.log(table(results))
      printRatios(ratios(results), `ratios (run ${run}):`)
    }
    admin.disconnect()
  } finally {
    await redis.stop()
  }

  let med = null
  if (runs > 1) {
    med = []
    for (const [scenario, sc] of Object.entries(SCENARIOS)) {
      for (const lib of sc.libs) {
        const rs = all.filter((x) => x.lib === lib && x.scenario === scenario)
        if (!rs.length) continue
        med.push({
          lib,
          scenario,
          opsPerSec: median(rs.map((x) => x.opsPerSec)),
          p50us: median(rs.map((x) => x.p50us)),
          p99us: median(rs.map((x) => x.p99us)),
          cmdsPerOp: median(rs.map((x) => x.cmdsPerOp)),
          ...(sc.kind === 'stampede'
            ? {
                rounds: rs.reduce((a, x) => a + x.rounds, 0),
                wallMs: median(rs.map((x) => x.wallMs)),
                wallMsMax: Math.max(...rs.map((x) => x.wallMsMax)),
                loaderRunsPerRound: rs.reduce((a, x) => a + x.loaderRunsPerRound * x.rounds, 0) / rs.reduce((a, x) => a + x.rounds, 0),
                loaderRunsMax: Math.max(...rs.map((x) => x.loaderRunsMax)),
                cmdsPerRound: median(rs.map((x) => x.cmdsPerRound)),
              }
            : sc.kind === 'bus'
              ? {
                  invalidations: rs.reduce((a, x) => a + x.invalidations, 0),
                  lost: rs.reduce((a, x) => a + x.lost, 0),
                  p50ms: median(rs.map((x) => x.p50ms)),
                  p90ms: median(rs.map((x) => x.p90ms)),
                  p99ms: median(rs.map((x) => x.p99ms)),
                  maxMs: Math.max(...rs.map((x) => x.maxMs)),
                  cmdsPerInvalidation: median(rs.map((x) => x.cmdsPerInvalidation)),
                  setBusOps: median(rs.map((x) => x.setBusOps)),
                  setNoBusOps: median(rs.map((x) => x.setNoBusOps)),
                  busSetRatio: median(rs.map((x) => x.busSetRatio)),
                }
              : {}),
        })
      }
    }
    console.log(`\n## medians of ${runs} runs\n`)
    console.log(table(med))
    const perRun = Array.from({ length: runs }, (_, i) => ratios(all.filter((x) => x.run === i + 1)))
    const medRatios = Object.fromEntries(
      Object.keys(perRun[0]).map((k) => [k, median(perRun.map((r) => r[k]).filter((v) => v !== undefined))]),
    )
    printRatios(medRatios, `median of the per-run ratios:`)
  }
  console.log(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  if (args.json) writeFileSync(String(args.json), JSON.stringify({ env, results: all, medians: med }, null, 2) + '\n')
}

async function child(args) {
  const lib = String(args.lib)
  const scenario = String(args.scenario || 'l1')
  if (!SCENARIOS[scenario]) throw new Error(`unknown scenario ${scenario} (one of ${Object.keys(SCENARIOS).join(', ')})`)
  let redis = null
  let url = args['redis-url']
  if (!url) {
    redis = await startRedis()
    url = redis.url
  }
  try {
    const r = await measure(lib, scenario, String(url), args.tiers ? String(args.tiers) : undefined)
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`)
    if (redis && scenario === 'stampede') console.error(stampedeTable([r]))
    else if (redis && scenario === 'bus') console.error(busTable([r]))
    else if (redis) console.error(`${lib} ${scenario}: ${fmtOps(r.opsPerSec)} ops/s, p50 ${fmtUs(r.p50us)} µs, p99 ${fmtUs(r.p99us)} µs`)
  } finally {
    if (redis) await redis.stop()
  }
}

const args = parseArgs(process.argv.slice(2))
const main = args['bus-role'] ? busRole(args) : args.lib ? child(args) : parent(args)
main.then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
