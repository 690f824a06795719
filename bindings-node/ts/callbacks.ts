/**
 * User callbacks adapted for the native core. Each wrapper is an async function that never throws and
 * resolves to an outcome string the native side decodes: `v<json>` (a value), `n` (null/undefined), or
 * `e<id>\0<message>` (the thrown error, kept in the stash under `id`).
 */
import { stashError } from './stash'
import { toJson } from './values'

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message
  try {
    return String(e)
  } catch {
    return 'non-printable error'
  }
}

function failed(e: unknown): string {
  return `e${stashError(e)}\0${messageOf(e)}`
}

/** A value-producing callback (loader) for `key`. */
export function wrapLoader<T>(key: string, loader: () => T | Promise<T>): (arg: string) => Promise<string> {
  return async () => {
    try {
      const value = await loader()
      return value === undefined || value === null ? 'n' : 'v' + toJson(key, value)
    } catch (e) {
      return failed(e)
    }
  }
}

/** A read-through loader: called with the key. */
export function wrapKeyLoader<T>(loader: (key: string) => T | Promise<T>): (key: string) => Promise<string> {
  return async (key: string) => {
    try {
      const value = await loader(key)
      return value === undefined || value === null ? 'n' : 'v' + toJson(key, value)
    } catch (e) {
      return failed(e)
    }
  }
}

/**
 * A domain rule: called with the id; what it returns goes to the core as JSON (the core checks it
 * completely and names what is wrong). Values JSON cannot hold become `null` here, so the core can
 * name them rather than the conversion failing.
 */
export function wrapRule<T>(rule: (id: string) => T | Promise<T>): (id: string) => Promise<string> {
  return async (id: string) => {
    try {
      const value = await rule(id)
      const json = JSON.stringify(value, (_, v: unknown) => (typeof v === 'function' || typeof v === 'bigint' || typeof v === 'symbol' ? null : v))
      return json === undefined || value === null ? 'n' : 'v' + json
    } catch (e) {
      return failed(e)
    }
  }
}

/** A writer: called with the original value (not a copy). */
export function wrapWriter<T>(value: T, writer: (data: T) => unknown): (json: string) => Promise<string> {
  return async () => {
    try {
      await writer(value)
      return 'n'
    } catch (e) {
      return failed(e)
    }
  }
}

/**
 * A warming strategy's fetch function: what it resolves to goes to the core as the JSON text of
 * `[{ key, value, options }]`, each value checked as `set` checks it. The core validates the shape
 * (and names the strategy); anything that is not an array goes over as it is, for the core to name.
 */
export function wrapFetch(fetchFn: () => unknown): (arg: string) => Promise<string> {
  return async () => {
    try {
      const entries = await fetchFn()
      if (!Array.isArray(entries)) {
        const json = entries === undefined ? undefined : JSON.stringify(entries)
        return json === undefined || entries === null ? 'n' : 'v' + json
      }
      const parts = entries.map((e: { key?: unknown; value?: unknown; options?: unknown }) => {
        const key = typeof e?.key === 'string' ? e.key : ''
        const options = e?.options === undefined ? 'null' : JSON.stringify(e.options) ?? 'null'
        return `{"key":${JSON.stringify(e?.key ?? null)},"value":${toJson(key, e?.value)},"options":${options}}`
      })
      return 'v[' + parts.join(',') + ']'
    } catch (e) {
      return failed(e)
    }
  }
}

/**
 * A `getMany` batch loader: called with the JSON text of the missing keys; what it resolves to (a
 * `Map`, a plain object, or `[key, value]` pairs) goes to the core as the JSON text of
 * `{ key: value }`, each value checked as `set` checks it. Anything else goes over as it is, for the
 * core to name.
 */
export function wrapBatchLoader(loader: (keys: string[]) => unknown): (arg: string) => Promise<string> {
  return async (arg: string) => {
    try {
      const result = await loader(JSON.parse(arg) as string[])
      let entries: Iterable<[unknown, unknown]> | null = null
      if (result instanceof Map) entries = result.entries()
      else if (Array.isArray(result)) entries = result as Array<[unknown, unknown]>
      else if (result !== null && typeof result === 'object') entries = Object.entries(result)
      if (entries === null) {
        const json = result === undefined ? undefined : JSON.stringify(result)
        return json === undefined || result === null ? 'n' : 'v' + json
      }
      const parts: string[] = []
      for (const pair of entries) {
        const [k, v] = Array.isArray(pair) ? pair : [undefined, undefined]
        if (typeof k !== 'string') throw new TypeError(`the getMany loader must map keys (strings) to values, got the key ${String(k)}`)
        parts.push(`${JSON.stringify(k)}:${v === undefined || v === null ? 'null' : toJson(k, v)}`)
      }
      return 'v{' + parts.join(',') + '}'
    } catch (e) {
      return failed(e)
    }
  }
}
