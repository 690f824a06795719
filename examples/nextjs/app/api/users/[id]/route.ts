// Recipe 1: a rate limit per client IP, then cache-aside over the database.
import { cacheAside, redisRateLimiter } from '@/lib/cache/redis-cache'
import { db } from '@/lib/db'
import { clientIp } from '@/lib/http'

export const dynamic = 'force-dynamic'

export async function GET(req: Request, { params }: { params: Promise<{ id: string }> }) {
  const userId = parseInt((await params).id)
  const rateLimit = await redisRateLimiter.limit(`api:${clientIp(req)}`, { windowMs: 60000, maxRequests: 100, algorithm: 'sliding-counter' })
  if (!rateLimit.allowed) {
    return Response.json({ error: 'Rate limit exceeded' }, { status: 429 })
  }
  const user = await cacheAside.get(`user:${userId}`, async () => await db.getUser(userId), { ttl: 300, tags: [`user:${userId}`] })
  if (user === null) return Response.json({ error: 'User not found' }, { status: 404 })
  return Response.json(user)
}
