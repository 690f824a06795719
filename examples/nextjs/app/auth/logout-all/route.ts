// Recipe 2: logout on every device of the signed-in user.
import { NextResponse } from 'next/server'
import { sessionManager } from '@/lib/cache/redis-cache'
import { authenticate, unauthenticated } from '@/lib/http'

export async function POST(req: Request) {
  const user = await authenticate(req)
  if (!user) return unauthenticated()
  await sessionManager.deleteUserSessions(user.id)
  const res = NextResponse.json({ success: true })
  res.cookies.delete('sid')
  return res
}
