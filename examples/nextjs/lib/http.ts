// Small helpers shared by the route handlers.
import { sessionManager } from '@/lib/cache/redis-cache'

/** The client's address: the proxy's X-Forwarded-For when there is one, else the socket's (Next passes it
 * as x-forwarded-for too). */
export function clientIp(req: Request): string {
  return req.headers.get('x-forwarded-for')?.split(',')[0].trim() || 'local'
}

/** The value of cookie `name` of a request. */
export function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.get('cookie') ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return decodeURIComponent(v.join('='))
  }
  return undefined
}

/** The guide's Authentication Middleware: the signed-in user, or null (the route answers 401). */
export async function authenticate(req: Request) {
  const sessionId = cookie(req, 'sid')
  const session = sessionId ? await sessionManager.getSession(sessionId) : null
  if (!session || !sessionId) return null
  await sessionManager.touchSession(sessionId)
  return { id: session.userId, tenantId: session.tenantId, role: session.role, email: session.email }
}

export const unauthenticated = () => Response.json({ error: 'Not authenticated' }, { status: 401 })
