/**
 * The one mapping from native errors to JS errors. The native module rejects with messages that start
 * `[ERR_STRATACACHE_…] `; this turns them back into errors with a stable `code`. Serialization errors are
 * `TypeError`s (so `instanceof TypeError` works), everything else is an `Error`.
 */

import { stashed } from './stash'

/** Every stable error code (pinned by `tests/vectors/v1/error-codes.json`). */
export type StrataCacheErrorCode =
  | 'ERR_STRATACACHE_CONFIG'
  | 'ERR_STRATACACHE_INVALID_KEY'
  | 'ERR_STRATACACHE_INVALID_ARGUMENT'
  | 'ERR_STRATACACHE_SERIALIZATION'
  | 'ERR_STRATACACHE_VALUE_TOO_LARGE'
  | 'ERR_STRATACACHE_CONNECTION'
  | 'ERR_STRATACACHE_TIMEOUT'
  | 'ERR_STRATACACHE_REDIS'
  | 'ERR_STRATACACHE_CLOSED'
  | 'ERR_STRATACACHE_CALLBACK'
  | 'ERR_STRATACACHE_INTERNAL'
  | 'ERR_STRATACACHE_NO_LOADER'

/** An error raised by stratacache, with a stable `code`. */
export class StrataCacheError extends Error {
  /** The stable code, e.g. `ERR_STRATACACHE_INVALID_KEY`. */
  readonly code: StrataCacheErrorCode
  constructor(code: StrataCacheErrorCode, message: string) {
    super(message)
    this.name = 'StrataCacheError'
    this.code = code
  }
}

/** A value that cannot be stored as JSON (`instanceof TypeError`), code `ERR_STRATACACHE_SERIALIZATION`. */
export class StrataCacheTypeError extends TypeError {
  /** Always `ERR_STRATACACHE_SERIALIZATION`. */
  readonly code: StrataCacheErrorCode
  constructor(code: StrataCacheErrorCode, message: string) {
    super(message)
    this.name = 'TypeError'
    this.code = code
  }
}

/** Build the error for `code`. */
export function makeError(code: StrataCacheErrorCode, message: string): StrataCacheError | StrataCacheTypeError {
  return code === 'ERR_STRATACACHE_SERIALIZATION'
    ? new StrataCacheTypeError(code, message)
    : new StrataCacheError(code, message)
}

const PREFIX = /^\[(ERR_STRATACACHE_[A-Z0-9_]+)\] ([\s\S]*)$/
const STASHED = /^\{stash:(\d+)\} ([\s\S]*)$/

/**
 * Turn a native rejection into a stratacache error; anything else is returned unchanged. A user
 * callback's failure (`ERR_STRATACACHE_CALLBACK` with a stash id) becomes the very object it threw.
 */
export function mapError(e: unknown): unknown {
  if (e instanceof Error && !(e instanceof StrataCacheError) && !(e instanceof StrataCacheTypeError)) {
    const m = PREFIX.exec(e.message)
    if (m) {
      const s = STASHED.exec(m[2])
      if (s) {
        const original = stashed(Number(s[1]))
        return original ? original.error : makeError(m[1] as StrataCacheErrorCode, s[2])
      }
      return makeError(m[1] as StrataCacheErrorCode, m[2])
    }
    // napi's own error for a panic it caught (a synchronous entry point, or an async one): no code of
    // ours, napi's status as `code`. A bug inside stratacache, reported as such.
    if ((e as { code?: unknown }).code === 'GenericFailure') {
      return makeError('ERR_STRATACACHE_INTERNAL', `stratacache panicked (${e.message}); the call failed, the process goes on: please report it`)
    }
  }
  return e
}

/** `promise.catch(rethrow)`: map and rethrow. */
export function rethrow(e: unknown): never {
  throw mapError(e)
}

/** Whether `e` is any stratacache error (by its code). */
export function isStrataCacheError(e: unknown): e is StrataCacheError | StrataCacheTypeError {
  return e instanceof StrataCacheError || e instanceof StrataCacheTypeError
}
