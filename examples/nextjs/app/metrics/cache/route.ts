// Monitoring: JSON metrics.
import { cacheMetrics } from '@/lib/cache/redis-cache'

export const dynamic = 'force-dynamic'

export async function GET() {
  return Response.json(await cacheMetrics.getMetricsJSON())
}
