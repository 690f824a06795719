// Monitoring: Prometheus metrics.
import { cacheMetrics } from '@/lib/cache/redis-cache'

export const dynamic = 'force-dynamic'

export async function GET() {
  return new Response(await cacheMetrics.getPrometheusMetrics(), { headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' } })
}
