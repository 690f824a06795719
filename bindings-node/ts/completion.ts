/**
 * Batched completions (the TS half of `bindings-node/src/completion.rs`). A hot call registers its
 * promise's resolvers under a numeric id and starts the native work synchronously; the native side
 * wakes this module once per batch of finished calls, and `drain` settles them all. While any call is
 * pending a never-firing interval keeps the process alive (the native wake-up itself is weak), so a
 * process with nothing in flight exits by itself.
 */
import type { NativeCache } from './native-binding'
import { mapError } from './error'
import { cloneJson } from './l1'

/** A pending call's resolvers; `json`: the call resolves to JSON text, handed over parsed. */
type Settle = [resolve: (v: any) => void, reject: (e: unknown) => void, json: boolean]

const slots = new Map<number, Settle>()
let nextId = 0
let keeper: ReturnType<typeof setInterval> | null = null

function keepAlive(on: boolean): void {
  if (on) {
    if (keeper === null) keeper = setInterval(() => {}, 0x7fffffff)
    else keeper.ref()
  } else if (keeper !== null) {
    keeper.unref()
  }
}

/** A fresh completion id (for `settleLater`). */
export function allocId(): number {
  const id = nextId
  nextId = nextId >= 0x7ffffffe ? 0 : nextId + 1
  return id
}

function take(id: number): Settle | undefined {
  const s = slots.get(id)
  if (s) slots.delete(id)
  return s
}

/**
 * Settle every call of a batch. A `Uint32Array` in place of an id lists the other waiters of a shared
 * completion (the core's shared completions: many callers waiting for one load): each gets the
 * outcome of the entry before, its own copy of the value parsed once, or the same error object.
 */
function drainFrom(sys: NativeCache): () => void {
  return () => {
    const batch = sys.takeCompletions()
    let shared: unknown = null
    let failure: unknown = null
    let failed = false
    for (let i = 0; i < batch.length; i += 2) {
      const id = batch[i]
      const v = batch[i + 1]
      if (typeof id !== 'number') {
        for (const follower of id as Uint32Array) {
          const s = take(follower)
          if (s) failed ? s[1](failure) : s[0](cloneJson(shared))
        }
      } else if (id >= 0) {
        const s = take(id)
        failed = false
        if (s?.[2]) s[0]((shared = v === null ? null : JSON.parse(v as string)))
        else s?.[0](v)
      } else {
        const s = take(-id - 1)
        failed = true
        failure = mapError(new Error(v as string))
        s?.[1](failure)
      }
    }
    if (slots.size === 0) keepAlive(false)
  }
}

/** Install the drain on a freshly created system (once per system). */
export function installDrain(sys: NativeCache): void {
  sys.setDrain(drainFrom(sys))
}

/**
 * Run `start(id)` (a synchronous native `…Start` call) and return the promise it settles. A synchronous
 * throw (bad options) rejects the promise, mapped to a stratacache error. `json`: the call resolves to
 * JSON text (or null), which the promise resolves to parsed.
 */
export function batched<T>(start: (id: number) => void, json = false): Promise<T> {
  const id = allocId()
  return settleLater<T>(id, json, () => start(id))
}

/**
 * The promise that completion `id` (from `allocId`, already handed to the native side) settles; runs
 * `start()` first (a synchronous throw rejects the promise, mapped). `json` as for `batched`.
 */
export function settleLater<T>(id: number, json: boolean, start: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start()
    } catch (e) {
      reject(mapError(e))
      return
    }
    if (slots.size === 0) keepAlive(true)
    slots.set(id, [resolve, reject, json])
  })
}

/**
 * The most calls one batch carries; a fuller tick is sent as several batches, so the native side
 * and Redis start on the first while JS is still issuing the rest (measured at 64 sets in flight:
 * 8, 16 and 32 alike; one batch of all 64 made JS and Redis take turns and was slower).
 */
const MAX_BATCH = 16

/** The batch holding calls not yet sent, if any (at most one at a time: see `StartBatch.add`). */
let holding: StartBatch | null = null

/**
 * Send the calls waiting in a batch now. Every call that starts native work for a key right away
 * (rather than in a batch or after an `await`) calls this first, so calls still start in the order
 * they were made: `set(k, v); del(k)` deletes.
 */
export function flushStarts(): void {
  holding?.flush()
}

/** Send the calls waiting in a batch of another kind than `batch` (a get sends waiting sets first). */
export function flushOthers(batch: StartBatch): void {
  if (holding !== null && holding !== batch) holding.flush()
}

/**
 * Calls of one kind that one synchronous run of JS starts, handed to the native side together when
 * that run ends (in a microtask) or when `MAX_BATCH` are waiting: concurrent calls then share one
 * thread hop, one Redis round trip and one bus message. Each call still gets its own promise and its
 * own outcome. `send(sys, ids, columns)` receives column `i` as the `i`-th arguments of the calls, in
 * call order.
 */
export class StartBatch {
  private sys: NativeCache | null = null
  private ids: number[] = []
  private cols: unknown[][]

  constructor(
    private readonly width: number,
    private readonly send: (sys: NativeCache, ids: number[], cols: any[][]) => void,
  ) {
    this.cols = this.fresh()
  }

  /**
   * Add one call on `sys`; the promise settles with its own outcome. Calls of another kind waiting in
   * their own batch are sent first, so that calls start in the order they were made (`set(k)` then
   * `get(k)` reads what was set): only one batch holds calls at a time.
   */
  add<T>(sys: NativeCache, ...args: unknown[]): Promise<T> {
    if (holding !== null && holding !== this) holding.flush()
    if (this.ids.length > 0 && this.sys !== sys) this.flush()
    const id = allocId()
    const p = new Promise<T>((resolve, reject) => {
      if (slots.size === 0) keepAlive(true)
      slots.set(id, [resolve, reject, false])
    })
    if (this.ids.length === 0) {
      this.sys = sys
      holding = this
      queueMicrotask(this.flush)
    }
    this.ids.push(id)
    for (let i = 0; i < this.width; i++) this.cols[i]!.push(args[i])
    if (this.ids.length >= MAX_BATCH) this.flush()
    return p
  }

  private fresh(): unknown[][] {
    return Array.from({ length: this.width }, () => [])
  }

  /** Send the waiting calls (at the end of the tick, at 16, or when calls of another kind come). */
  readonly flush = (): void => {
    const { sys, ids, cols } = this
    if (sys === null || ids.length === 0) return
    if (holding === this) holding = null
    this.sys = null
    this.ids = []
    this.cols = this.fresh()
    try {
      this.send(sys, ids, cols)
    } catch (e) {
      const err = mapError(e)
      for (const id of ids) {
        const s = slots.get(id)
        slots.delete(id)
        s?.[1](err)
      }
      if (slots.size === 0) keepAlive(false)
    }
  }
}
