// Shared helpers for the Node test suite: throwaway redis-server processes, a tiny binary-safe RESP
// client for inspecting and planting Redis keys, and a runner for child node scripts with a timeout.
import { fork, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

const children = new Set()
// If the test process dies without running its `after` hooks, take our own servers and children with it.
process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
})

/** A loopback TCP port nobody listens on right now (never 6379). */
export async function freePort() {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer()
      srv.unref()
      srv.on('error', reject)
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address()
        srv.close(() => resolve(port))
      })
    })
    if (port !== 6379) return port
  }
  throw new Error('could not find a free port')
}

/** A namespace no other test file uses. */
export function uniqueNamespace(label) {
  return `t-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Start a throwaway redis-server on a free loopback port (or `port`, which must be free); resolves once it
 * answers PING (at most 10 s).
 * `stop()` kills it (SIGTERM, then SIGKILL) and resolves when it has exited.
 */
export async function startRedis({ timeoutMs = 10_000, port: wanted } = {}) {
  const port = wanted ?? (await freePort())
  if (port === 6379) throw new Error('tests never use port 6379')
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(proc)
  let log = ''
  proc.stdout.on('data', (d) => (log += d))
  proc.stderr.on('data', (d) => (log += d))
  let exited = false
  const exitedPromise = new Promise((resolve) => {
    const done = () => {
      exited = true
      children.delete(proc)
      resolve()
    }
    proc.on('exit', done)
    proc.on('error', (e) => {
      log += `\n${e.message}`
      done()
    })
  })
  const stop = async () => {
    if (exited) return
    proc.kill('SIGTERM')
    const killer = setTimeout(() => proc.kill('SIGKILL'), 3000)
    await exitedPromise
    clearTimeout(killer)
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (exited) throw new Error(`redis-server exited at start:\n${log}`)
    try {
      const client = await raw(port, { connectTimeoutMs: 500 })
      try {
        const pong = await client.cmd('PING')
        if (pong === 'PONG') break
      } finally {
        client.close()
      }
    } catch {}
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms:\n${log}`)
    }
    await sleep(25)
  }
  return { port, url: `redis://127.0.0.1:${port}`, stop, process: proc }
}

// ---------------------------------------------------------------------------------------------------
// RESP

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8')
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

class NeedMore extends Error {}

/** Parse one reply at `pos`; returns [value, nextPos] or throws NeedMore. Bulk strings are Buffers. */
function parse(buf, pos) {
  const eol = buf.indexOf('\r\n', pos)
  if (eol < 0) throw new NeedMore()
  const type = String.fromCharCode(buf[pos])
  const line = buf.toString('utf8', pos + 1, eol)
  const next = eol + 2
  switch (type) {
    case '+':
      return [line, next]
    case '-': {
      const err = new Error(line)
      err.redisError = true
      return [err, next]
    }
    case ':':
      return [Number(line), next]
    case '$': {
      const len = Number(line)
      if (len < 0) return [null, next]
      if (buf.length < next + len + 2) throw new NeedMore()
      return [buf.subarray(next, next + len), next + len + 2]
    }
    case '*': {
      const n = Number(line)
      if (n < 0) return [null, next]
      const out = []
      let p = next
      for (let i = 0; i < n; i++) {
        const [v, q] = parse(buf, p)
        out.push(v)
        p = q
      }
      return [out, p]
    }
    default:
      throw new Error(`bad RESP type byte ${JSON.stringify(type)}`)
  }
}

/**
 * A minimal RESP2 client on `port`. `cmd(...args)` resolves to the parsed reply: simple strings as
 * strings, integers as numbers, bulk strings as Buffers (null for nil), arrays as arrays; a Redis error
 * reply rejects. Args may be strings, numbers or Buffers (binary-safe).
 */
export function raw(port, { connectTimeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' })
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`raw: connect to ${port} timed out`))
    }, connectTimeoutMs)
    let buf = Buffer.alloc(0)
    const pending = []
    const failAll = (err) => {
      while (pending.length) pending.shift().reject(err)
    }
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d
      let pos = 0
      while (pos < buf.length && pending.length) {
        let value
        try {
          ;[value, pos] = parse(buf, pos)
        } catch (e) {
          if (e instanceof NeedMore) break
          failAll(e)
          sock.destroy()
          return
        }
        const p = pending.shift()
        if (value instanceof Error && value.redisError) p.reject(value)
        else p.resolve(value)
      }
      buf = buf.subarray(pos)
    })
    sock.on('error', (e) => {
      clearTimeout(timer)
      failAll(e)
      reject(e)
    })
    sock.on('close', () => failAll(new Error('raw: connection closed')))
    sock.on('connect', () => {
      clearTimeout(timer)
      resolve({
        cmd(...args) {
          return new Promise((res, rej) => {
            pending.push({ resolve: res, reject: rej })
            sock.write(encode(args))
          })
        },
        /** `INFO commandstats` as { get: calls, set: calls, ... }. */
        async commandCalls() {
          const text = (await this.cmd('INFO', 'commandstats')).toString()
          const out = {}
          for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2])
          return out
        },
        close() {
          sock.end()
          sock.destroy()
        },
      })
    })
  })
}

/**
 * A RESP2 pub/sub connection on `port` subscribed to `channel` (what `redis-cli SUBSCRIBE` does). Resolves
 * once Redis confirmed the subscription. `messages` collects every payload (as a Buffer) in arrival order;
 * `next(timeoutMs)` resolves to the next payload not yet taken (rejects after the timeout).
 */
export function subscriber(port, channel, { connectTimeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' })
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`subscriber: connect/subscribe to ${port} timed out`))
    }, connectTimeoutMs)
    let buf = Buffer.alloc(0)
    const messages = []
    let taken = 0
    const waiters = []
    const wake = () => {
      while (waiters.length && taken < messages.length) waiters.shift().resolve(messages[taken++])
    }
    const api = {
      messages,
      next(timeoutMs = 2000) {
        return new Promise((res, rej) => {
          const w = {
            resolve: (m) => {
              clearTimeout(w.timer)
              res(m)
            },
          }
          w.timer = setTimeout(() => {
            const i = waiters.indexOf(w)
            if (i >= 0) waiters.splice(i, 1)
            rej(new Error(`subscriber: no message on ${channel} within ${timeoutMs} ms`))
          }, timeoutMs)
          waiters.push(w)
          wake()
        })
      },
      close() {
        sock.end()
        sock.destroy()
      },
    }
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d
      let pos = 0
      for (;;) {
        let value
        try {
          ;[value, pos] = parse(buf, pos)
        } catch (e) {
          if (e instanceof NeedMore) break
          sock.destroy()
          return
        }
        if (!Array.isArray(value)) continue
        const kind = value[0]?.toString()
        if (kind === 'subscribe') {
          clearTimeout(timer)
          resolve(api)
        } else if (kind === 'message') {
          messages.push(value[2])
          wake()
        }
      }
      buf = buf.subarray(pos)
    })
    sock.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    sock.on('connect', () => sock.write(encode(['SUBSCRIBE', channel])))
  })
}

// ---------------------------------------------------------------------------------------------------
// Child node processes

/**
 * A temporary folder whose node_modules/stratacache links to the repo root, so child scripts can
 * `require('stratacache')` and `import('stratacache')` through the package's own `exports` map.
 */
export function makeSandbox() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratacache-node-test-'))
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(REPO_ROOT, path.join(dir, 'node_modules', 'stratacache'), 'dir')
  return {
    dir,
    /** Write `source` to `name` in the sandbox; returns its path. */
    write(name, source) {
      const file = path.join(dir, name)
      fs.writeFileSync(file, source)
      return file
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Run a command with a hard timeout. Resolves `{ code, signal, stdout, stderr, timedOut, ms }`; a child
 * still running at the timeout is killed with SIGKILL and reported with `timedOut: true`.
 */
export function run(command, args, { cwd, env, timeoutMs = 15_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    children.add(child)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      children.delete(child)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started })
    })
    if (input !== undefined) child.stdin.end(input)
    else child.stdin.end()
  })
}

/** Run a node script file (with extra node flags before it) with a timeout; see `run`. */
export function runNode(file, { nodeArgs = [], ...opts } = {}) {
  return run(process.execPath, [...nodeArgs, file], { cwd: path.dirname(file), ...opts })
}

/** A readable summary of a child result for assertion messages. */
export function describeRun(r) {
  return `code=${r.code} signal=${r.signal} timedOut=${r.timedOut} ms=${r.ms}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
}

/**
 * Fork `file` (a worker script in the sandbox `cwd`) as a long-lived child driven over IPC: each
 * `request(msg)` sends `{ ...msg, id }` and resolves with the child's `{ id, ok, value }` answer (rejects
 * with its `error`, after `timeoutMs`, or when the child exits). Resolves once the child sent
 * `{ ready: true, … }` (that message is `hello`), within 15 s. `stop(shutdownMsg)` asks the child to
 * shut down and waits for its exit (SIGKILL after 5 s).
 */
export async function forkWorker(file, name, { cwd, timeoutMs = 10_000 } = {}) {
  const child = fork(file, [], { cwd, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  children.add(child)
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })))
  const pending = new Map()
  let nextId = 1
  let readyResolve
  const ready = new Promise((res) => (readyResolve = res))
  child.on('message', (m) => {
    if (m.ready) return readyResolve(m)
    const p = pending.get(m.id)
    if (!p) return
    pending.delete(m.id)
    clearTimeout(p.timer)
    if (m.ok) p.resolve(m.value)
    else p.reject(Object.assign(new Error(`${name}: ${m.error.message}`), { code: m.error.code }))
  })
  child.on('exit', () => {
    children.delete(child)
    for (const p of pending.values()) {
      clearTimeout(p.timer)
      p.reject(new Error(`${name} exited\n${output}`))
    }
    pending.clear()
  })
  const request = (msg, ms = timeoutMs) =>
    new Promise((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`${name}: no answer to ${JSON.stringify(msg)} within ${ms} ms\n${output}`))
      }, ms)
      pending.set(id, { resolve, reject, timer })
      child.send({ ...msg, id })
    })
  const startTimer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  let hello
  try {
    hello = await Promise.race([
      ready,
      exited.then((x) => {
        throw new Error(`${name} exited at start (${JSON.stringify(x)})\n${output}`)
      }),
    ])
  } finally {
    clearTimeout(startTimer)
  }
  return {
    child,
    hello,
    output: () => output,
    request,
    async stop(shutdownMsg = { op: 'shutdown' }) {
      if (child.exitCode !== null || child.signalCode !== null) return
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
      try {
        await request(shutdownMsg)
      } catch {}
      await exited
      clearTimeout(killer)
    },
  }
}

// ---------------------------------------------------------------------------------------------------
// Redis Cluster and Sentinel topologies (tests/support/topology.py, shared with the Rust and Python suites)

/**
 * Start a local Redis Cluster (`'cluster'`: 3 masters + 3 replicas) or Sentinel setup (`'sentinel'`: a
 * primary, a replica and 3 Sentinels) through `tests/support/topology.py`; resolves once it is ready
 * with `{ info, ask(command), masterOf(key), primary(), kill(port), waitFailover(port, seconds, key?),
 * redisOptions(namespace, viaPort?), stop() }`. The helper dies with this process (its stdin closes), and
 * kills every server it started.
 */
export async function startTopology(kind, { timeoutMs = 60_000 } = {}) {
  const script = path.join(REPO_ROOT, 'tests', 'support', 'topology.py')
  const child = spawn('python3', [script, kind], { stdio: ['pipe', 'pipe', 'inherit'] })
  children.add(child)
  child.on('exit', () => children.delete(child))
  let buffered = ''
  const lines = []
  const waiters = []
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d) => {
    buffered += d
    let i
    while ((i = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, i)
      buffered = buffered.slice(i + 1)
      const w = waiters.shift()
      if (w) w(line)
      else lines.push(line)
    }
  })
  const nextLine = (ms) =>
    new Promise((resolve, reject) => {
      if (lines.length) return resolve(lines.shift())
      const timer = setTimeout(() => reject(new Error(`topology.py ${kind}: no answer within ${ms} ms`)), ms)
      waiters.push((line) => {
        clearTimeout(timer)
        resolve(line)
      })
    })
  const info = JSON.parse(await nextLine(timeoutMs))
  let queue = Promise.resolve()
  const ask = (command, ms = 60_000) => {
    const answer = queue.then(async () => {
      child.stdin.write(command + '\n')
      const line = await nextLine(ms)
      if (!line.startsWith('OK')) throw new Error(`topology.py ${JSON.stringify(command)}: ${line}`)
      return line.slice(2).trim()
    })
    queue = answer.catch(() => {})
    return answer
  }
  const dataPorts = kind === 'cluster' ? info.nodes.map((n) => n.port) : [info.primary.port, info.replica.port]
  return {
    info,
    dataPorts,
    ask,
    masterOf: async (key) => Number(await ask(`master-of ${key}`)),
    primary: async () => Number(await ask('primary')),
    kill: (port) => ask(`kill ${port}`),
    async waitFailover(port, seconds, key = '') {
      const [newPort, ms] = (await ask(`wait-failover ${port} ${seconds} ${key}`, seconds * 1000 + 5000)).split(' ').map(Number)
      return { port: newPort, ms }
    },
    /** `createRedisClient` options for this topology (cluster: every node, or only `viaPort`). */
    redisOptions(namespace, viaPort) {
      const base = { namespace, connectTimeoutMs: 500, commandTimeoutMs: 500 }
      if (kind === 'cluster') return { ...base, cluster: true, nodes: (viaPort ? [viaPort] : dataPorts).map((p) => `127.0.0.1:${p}`) }
      return { ...base, sentinel: { masterName: info.master_name, nodes: info.sentinels.map((s) => `127.0.0.1:${s.port}`) } }
    },
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((res) => child.on('exit', res))
      child.stdin.end()
      await exited
    },
  }
}

/** Redis Cluster's slot of a key (CRC16/XMODEM of its hash tag or of the whole key, mod 16384). */
export function keySlot(key) {
  let raw = Buffer.from(key)
  const start = raw.indexOf('{')
  if (start >= 0) {
    const end = raw.indexOf('}', start + 1)
    if (end > start + 1) raw = raw.subarray(start + 1, end)
  }
  let crc = 0
  for (const byte of raw) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = (crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1) & 0xffff
  }
  return crc % 16384
}

/** The load lock of `key` on Redis Cluster (docs/key-schema.md): `{ns}:lk:{S}:{key}`, S the smallest
 * decimal number whose slot is the data key's. */
export function clusterLockKey(ns, key) {
  const slot = keySlot(`${ns}:d:${key}`)
  let n = 0
  while (keySlot(String(n)) !== slot) n++
  return `${ns}:lk:{${n}}:${key}`
}
