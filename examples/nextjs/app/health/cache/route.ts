// Monitoring: health check.
import { cacheMetrics } from '@/lib/cache/redis-cache'

export const dynamic = 'force-dynamic'

export async function GET() {
  const health = await cacheMetrics.healthCheck()
  return Response.json({ status: health.status, checks: health.checks }, { status: health.status === 'healthy' ? 200 : 503 })
}
