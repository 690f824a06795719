// Recipe 2: logout ends this session.
import { NextResponse } from 'next/server'
import { sessionManager } from '@/lib/cache/redis-cache'
import { cookie } from '@/lib/http'

export async function POST(req: Request) {
  const sessionId = cookie(req, 'sid')
  if (sessionId) await sessionManager.deleteSession(sessionId)
  const res = NextResponse.json({ success: true })
  res.cookies.delete('sid')
  return res
}
