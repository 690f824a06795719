/**
 * `sessionManager`: sessions with a per-user index, a device cap, IP/user-agent binding, sliding expiry
 * and logout everywhere. Ids come from the OS CSPRNG (128 bits, URL-safe); Redis stores only their
 * hashes. Everything happens in the core; this file converts.
 */
import { rethrow } from './error'
import { ensureSystem } from './handle'
import { invalidArgument, optionsJson, toJson } from './values'

/** What `createSession` takes. */
export interface SessionData {
  userId: string | number
  tenantId?: string | number
  role?: string
  email?: string
  ipAddress?: string
  userAgent?: string
  deviceId?: string
  data?: unknown
}

/** A stored session; timestamps are epoch ms (Redis's clock). */
export interface Session {
  /** The id (from `createSession`/`getSession`), or a handle `deleteSession` accepts (from `getUserSessions`). */
  sessionId: string
  userId: string | number
  tenantId?: string | number
  role?: string
  email?: string
  ipAddress?: string
  userAgent?: string
  deviceId: string
  data?: unknown
  createdAt: number
  lastActivity: number
  expiresAt: number
}

/** Options of `createSession`. */
export interface CreateSessionOptions {
  /** Lifetime in seconds, sliding on `touchSession` (default 86,400). */
  ttl?: number
  /** At most this many sessions per user; more evicts the least recently active (default: no cap). */
  maxDevices?: number
}

/** Options of `getSession`: a session used from another IP or user agent reads as `null`. */
export interface GetSessionOptions {
  validateIp?: string
  validateUserAgent?: string
}

/** What `getStats` reports. */
export interface SessionStats {
  totalSessions: number
  sessionsByUser: Map<string, number>
  /** `getSession` calls refused because the IP or user agent did not match. */
  validationFailures: number
}

function assertId(id: unknown): string {
  if (typeof id !== 'string') throw invalidArgument(`sessionId must be a string, got ${typeof id}`)
  return id
}

function userJson(userId: unknown): string {
  if (typeof userId !== 'string' && typeof userId !== 'number') {
    throw invalidArgument(`userId must be a string or a number, got ${typeof userId}`)
  }
  return JSON.stringify(userId)
}

/** The session manager. Use the `sessionManager` singleton. */
export class SessionManager {
  /** Create a session; past `maxDevices` the user's least recently active session is evicted, atomically. */
  async createSession(data: SessionData, options?: CreateSessionOptions): Promise<{ sessionId: string; session: Session }> {
    const json = toJson('session', data)
    const s = await ensureSystem()
    return JSON.parse(await s.createSession(json, optionsJson(options)).catch(rethrow))
  }

  /** The session, or `null` (unknown, expired, malformed id, or an IP / user-agent mismatch). */
  async getSession(sessionId: string, options?: GetSessionOptions): Promise<Session | null> {
    const id = assertId(sessionId)
    const s = await ensureSystem()
    const text = await s.getSession(id, optionsJson(options)).catch(rethrow)
    return text === null ? null : (JSON.parse(text) as Session)
  }

  /** Record activity and slide the expiry; resolves to whether the session exists. */
  async touchSession(sessionId: string): Promise<boolean> {
    const s = await ensureSystem()
    return s.touchSession(assertId(sessionId)).catch(rethrow)
  }

  /** Delete a session (by id, or by the `sessionId` handle `getUserSessions` returned). */
  async deleteSession(sessionId: string): Promise<boolean> {
    const s = await ensureSystem()
    return s.deleteSession(assertId(sessionId)).catch(rethrow)
  }

  /** Log a user out everywhere; resolves to how many sessions were deleted. */
  async deleteUserSessions(userId: string | number): Promise<number> {
    const s = await ensureSystem()
    return s.deleteUserSessions(userJson(userId)).catch(rethrow)
  }

  /** A user's live sessions, most recently active first. */
  async getUserSessions(userId: string | number): Promise<Session[]> {
    const s = await ensureSystem()
    return JSON.parse(await s.getUserSessions(userJson(userId)).catch(rethrow)) as Session[]
  }

  /** Live sessions in total and per user. */
  async getStats(): Promise<SessionStats> {
    const s = await ensureSystem()
    const raw = JSON.parse(await s.sessionStats().catch(rethrow)) as {
      totalSessions: number
      sessionsByUser: Record<string, number>
      validationFailures: number
    }
    return { ...raw, sessionsByUser: new Map(Object.entries(raw.sessionsByUser)) }
  }
}

/** The process-wide session manager. */
export const sessionManager = new SessionManager()
