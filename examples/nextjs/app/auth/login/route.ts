// Recipe 2: login creates a session (24 h, at most 5 devices) in an httpOnly `sid` cookie.
import { NextResponse } from 'next/server'
import { sessionManager } from '@/lib/cache/redis-cache'
import { db } from '@/lib/db'
import { clientIp } from '@/lib/http'

export async function POST(req: Request) {
  const body = await req.json().catch(() => ({}))
  const user = await db.authenticateUser(String(body.email ?? ''), String(body.password ?? ''))
  if (!user) return NextResponse.json({ error: 'Invalid email or password' }, { status: 401 })
  const { sessionId } = await sessionManager.createSession(
    { userId: user.id, tenantId: user.tenant_id, role: user.role, email: user.email, ipAddress: clientIp(req), userAgent: req.headers.get('user-agent') || '' },
    { ttl: 86400, maxDevices: 5 },
  )
  const res = NextResponse.json({ success: true })
  res.cookies.set('sid', sessionId, { httpOnly: true, secure: new URL(req.url).protocol === 'https:', sameSite: 'lax', maxAge: 86400, path: '/' })
  return res
}
