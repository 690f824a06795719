/**
 * Errors thrown by user callbacks, kept on the JS side while the core carries only their id, so that
 * every caller waiting on one load gets the very object the callback threw (`instanceof` works).
 * Entries are dropped after a minute.
 */

const KEEP_MS = 60_000
const stash = new Map<number, { error: unknown; at: number }>()
let nextId = 1

/** Keep `error`; returns its id. */
export function stashError(error: unknown): number {
  const now = Date.now()
  for (const [id, entry] of stash) {
    if (now - entry.at < KEEP_MS) break
    stash.delete(id)
  }
  const id = nextId++
  stash.set(id, { error, at: now })
  return id
}

/** The error kept under `id`, if still there. */
export function stashed(id: number): { error: unknown } | undefined {
  const entry = stash.get(id)
  return entry ? { error: entry.error } : undefined
}
