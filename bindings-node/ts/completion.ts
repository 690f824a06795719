/**
 * Batched completions (the TS half of `bindings-node/src/completion.rs`). A hot call registers its
 * promise's resolvers under a numeric id and starts the native work synchronously; the native side
 * wakes this module once per batch of finished calls, and `drain` settles them all. While any call is
 * pending a never-firing interval keeps the process alive (the native wake-up itself is weak), so a
 * process with nothing in flight exits by itself.
 */
import type { NativeCache } from './native-binding'
import { mapError } from './errors'

type Settle = [resolve: (v: any) => void, reject: (e: unknown) => void]

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

function drainFrom(sys: NativeCache): () => void {
  return () => {
    const batch = sys.takeCompletions()
    for (let i = 0; i < batch.length; i += 2) {
      const id = batch[i] as number
      if (id >= 0) {
        const s = slots.get(id)
        if (s) {
          slots.delete(id)
          s[0](batch[i + 1])
        }
      } else {
        const s = slots.get(-id - 1)
        if (s) {
          slots.delete(-id - 1)
          s[1](mapError(new Error(batch[i + 1] as string)))
        }
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
 * throw (bad options) rejects the promise, mapped to a stratacache error.
 */
export function batched<T>(start: (id: number) => void): Promise<T> {
  const id = nextId
  nextId = nextId >= 0x7ffffffe ? 0 : nextId + 1
  return new Promise<T>((resolve, reject) => {
    try {
      start(id)
    } catch (e) {
      reject(mapError(e))
      return
    }
    if (slots.size === 0) keepAlive(true)
    slots.set(id, [resolve, reject])
  })
}
