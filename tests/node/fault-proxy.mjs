// A fault-injecting TCP proxy in front of a test Redis, for the Node suite: drives
// tests/support/fault_proxy.py (one python3 child per proxy, shared with the Rust and Python suites) over
// its stdin/stdout. Point the cache at `proxy.url`, then inject faults:
//   delay(ms)  every chunk, both directions (a round trip costs twice ms); pass() undoes it
//   freeze()   black hole: nothing forwarded, nothing closed; pass() releases the buffered bytes in order
//   reset()    RST every open connection (both sides); keeps listening
//   refuse()   new connections are accepted and reset at once; open ones are left alone (refuse() then
//              reset() is a full outage); accept() undoes it
//   count()    the number of open client connections (a client's close arrives asynchronously: poll)
// Every method resolves once the proxy has applied the command, and rejects after 10 s or on an `ERR`.
// close() ends the child (quit, then SIGKILL after 2 s) and resolves once it has exited; the proxy also
// exits by itself when this process dies (end of its stdin).
import { spawn } from 'node:child_process'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'support', 'fault_proxy.py')
const TIMEOUT_MS = 10_000

/** Start a proxy forwarding to 127.0.0.1:`targetPort`; resolves once it listens. */
export async function startFaultProxy(targetPort) {
  const child = spawn('python3', [SCRIPT, '--target-port', String(targetPort)], { stdio: ['pipe', 'pipe', 'inherit'] })
  let exitInfo = null
  const waiters = [] // one per line still expected, in order; a timed-out waiter still consumes its line
  const fail = (error) => {
    for (const w of waiters.splice(0)) {
      clearTimeout(w.timer)
      if (!w.timedOut) w.reject(error)
    }
  }
  const exited = new Promise((resolve) => {
    child.once('error', (error) => {
      exitInfo ??= { error }
      fail(new Error(`fault proxy: cannot run python3 ${SCRIPT}: ${error.message}`))
      resolve()
    })
    child.once('close', (code, signal) => {
      exitInfo ??= { code, signal }
      fail(new Error(`fault proxy exited (code ${code}, signal ${signal})`))
      resolve()
    })
  })
  child.stdin.on('error', () => {}) // EPIPE once the child is gone: reported through 'close'
  const lines = readline.createInterface({ input: child.stdout })
  lines.on('line', (line) => {
    const w = waiters.shift()
    if (!w) return
    clearTimeout(w.timer)
    if (!w.timedOut) w.resolve(line)
  })

  const nextLine = (what) =>
    new Promise((resolve, reject) => {
      if (exitInfo) return reject(new Error(`fault proxy: ${what}: the proxy has exited`))
      const w = { resolve, reject, timedOut: false }
      w.timer = setTimeout(() => {
        w.timedOut = true
        reject(new Error(`fault proxy: no answer to ${what} within ${TIMEOUT_MS} ms`))
      }, TIMEOUT_MS)
      waiters.push(w)
    })

  /** Send one command line; resolves with what follows `OK`. */
  const command = async (line) => {
    const answer = nextLine(`'${line}'`)
    if (!exitInfo) child.stdin.write(`${line}\n`)
    const reply = await answer
    if (!/^OK( |$)/.test(reply)) throw new Error(`fault proxy: '${line}' answered '${reply}'`)
    return reply.slice(2).trim()
  }

  let ready
  try {
    ready = await nextLine('startup')
  } catch (error) {
    child.kill('SIGKILL')
    await exited
    throw error
  }
  const match = /^READY (\d+)$/.exec(ready)
  if (!match) {
    child.kill('SIGKILL')
    await exited
    throw new Error(`fault proxy did not start (first line: '${ready}')`)
  }
  const port = Number(match[1])

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pass: async () => void (await command('pass')),
    delay: async (ms) => void (await command(`delay ${ms}`)),
    freeze: async () => void (await command('freeze')),
    reset: async () => void (await command('reset')),
    refuse: async () => void (await command('refuse')),
    accept: async () => void (await command('accept')),
    count: async () => Number(await command('count')),
    /** Quit the proxy and wait for it to exit (SIGKILL after 2 s). Safe to call twice. */
    async close() {
      if (!exitInfo) {
        child.stdin.end('quit\n')
        let timer
        const killed = new Promise((resolve) => {
          timer = setTimeout(() => {
            child.kill('SIGKILL')
            resolve()
          }, 2000)
        })
        await Promise.race([exited, killed])
        clearTimeout(timer)
      }
      await exited
      lines.close()
    },
  }
}
