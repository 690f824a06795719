/**
 * Values across the boundary: JSON text. V8's own `JSON.stringify`/`JSON.parse` are several times
 * cheaper than converting objects field by field through napi (measured: 4–7 µs vs 25–42 µs for 1 KB),
 * so a value crosses as one string. Before stringifying, one walk refuses what JSON would silently
 * change or drop: `undefined` (at the top or in an array), functions, symbols, BigInt, NaN/Infinity,
 * invalid Dates, Map/Set/RegExp/class instances, and cycles. Object properties whose value is
 * `undefined` are left out, as `JSON.stringify` does. A `Date` is stored as its ISO string.
 */
import { makeError } from './error'

/** A short description of a received value for error messages (`string "x"`, `number 42`, `an object`). */
export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object'
  return typeof v
}

/** An error for a bad argument (code `ERR_STRATACACHE_INVALID_ARGUMENT`). */
export function invalidArgument(message: string): Error {
  return makeError('ERR_STRATACACHE_INVALID_ARGUMENT', message)
}

/** Throw unless `key` is a string (the core checks it is non-empty and short enough). */
export function assertKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string') {
    throw makeError('ERR_STRATACACHE_INVALID_KEY', `${what} must be a non-empty string, got ${describe(key)}`)
  }
}

/** Throw unless `v` is an array of strings. */
export function assertStrings(v: unknown, what: string): asserts v is string[] {
  if (!Array.isArray(v)) throw invalidArgument(`${what} must be an array of strings, got ${describe(v)}`)
  for (const item of v) {
    if (typeof item !== 'string') throw invalidArgument(`${what} must be an array of strings, got an item ${describe(item)}`)
  }
}

/**
 * The walk keeps the path to the current value in `path[0..depth)` (entries past `depth` are stale
 * and never read) and builds the printable path only when it refuses something; the stack of open
 * containers detects cycles (nesting is shallow, so a linear search beats a `Set`). Plain objects are
 * walked with `for…in`, which V8 serves from the object's enum cache (their prototype is
 * `Object.prototype` or `null`, so no inherited key is enumerable).
 */
interface Walk {
  key: string
  path: Array<string | number>
  open: object[]
}

function printablePath(path: Array<string | number>, depth: number): string {
  let out = ''
  for (let i = 0; i < depth; i++) {
    const p = path[i]!
    out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p
  }
  return out
}

function refuse(w: Walk, depth: number, what: string): never {
  const path = printablePath(w.path, depth)
  const where = path ? ` at ${path}` : ''
  throw makeError('ERR_STRATACACHE_SERIALIZATION', `cannot store the value of key ${JSON.stringify(w.key)}: it contains ${what}${where}`)
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k)

function check(w: Walk, v: unknown, depth: number): void {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(v)) refuse(w, depth, `the number ${String(v)}`)
      return
    case 'undefined':
      refuse(w, depth, 'undefined')
    case 'function':
      refuse(w, depth, 'a function')
    case 'symbol':
      refuse(w, depth, 'a symbol')
    case 'bigint':
      refuse(w, depth, 'a BigInt')
  }
  if (v === null) return
  const obj = v as Record<string, unknown>
  if (w.open.includes(obj)) refuse(w, depth, 'a circular reference')
  if (Array.isArray(obj)) {
    w.open.push(obj)
    for (let i = 0; i < obj.length; i++) {
      const item = obj[i]
      const t = typeof item
      if (t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(item))) continue
      w.path[depth] = i
      check(w, item, depth + 1)
    }
    w.open.pop()
    return
  }
  const proto = Object.getPrototypeOf(obj)
  if (proto !== Object.prototype && proto !== null) {
    if (obj instanceof Date) {
      if (Number.isNaN(obj.getTime())) refuse(w, depth, 'an invalid Date')
      return
    }
    if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) {
      // Buffers and typed arrays: JSON would turn them into objects of numbers no other language reads back.
      refuse(w, depth, `a ${(obj.constructor && obj.constructor.name) || 'binary buffer'}`)
    }
  }
  if (typeof obj.toJSON === 'function') {
    // As JSON.stringify does: store what toJSON() returns (checked the same way).
    check(w, (obj.toJSON as () => unknown)(), depth)
    return
  }
  if (proto !== Object.prototype && proto !== null) {
    const name = (obj.constructor && obj.constructor.name) || 'object'
    refuse(w, depth, `a ${name}`)
  }
  w.open.push(obj)
  for (const k in obj) {
    const item = obj[k]
    const t = typeof item
    if (t === 'string' || t === 'boolean' || item === undefined || (t === 'number' && Number.isFinite(item))) continue
    if (!hasOwn(obj, k)) continue // an enumerable property someone added to Object.prototype
    w.path[depth] = k
    check(w, item, depth + 1)
  }
  w.open.pop()
}

/** The JSON text of `value`, or a `TypeError` (code `ERR_STRATACACHE_SERIALIZATION`) naming the key and type. */
export function toJson(key: string, value: unknown): string {
  if (value === undefined) {
    throw makeError('ERR_STRATACACHE_SERIALIZATION', `cannot store undefined for key ${JSON.stringify(key)}; use del() to remove a key`)
  }
  check({ key, path: [], open: [] }, value, 0)
  return JSON.stringify(value)
}

function hasNonFinite(v: unknown, depth: number): boolean {
  if (typeof v === 'number') return !Number.isFinite(v)
  if (v === null || typeof v !== 'object') return false
  if (depth > 4) return true // unusual nesting: let the replacer decide
  for (const item of Array.isArray(v) ? v : Object.values(v)) if (hasNonFinite(item, depth + 1)) return true
  return false
}

/** JSON text of an options object for the native layer: non-finite numbers become strings so the core names them. */
export function optionsJson(options: unknown): string | null {
  if (options === undefined || options === null) return null
  // Options with only finite numbers (the usual case) need no replacer.
  if (!hasNonFinite(options, 0)) return JSON.stringify(options)
  return JSON.stringify(options, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))
}

/** Parse JSON text from the native layer (`null` for a miss). */
export function fromJson<T>(text: string | null | undefined): T | null {
  return text === null || text === undefined ? null : (JSON.parse(text) as T)
}
