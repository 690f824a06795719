// Monitoring: the guide's dashboard summary.
import { cacheManager, cacheMetrics, sessionManager } from '@/lib/cache/redis-cache'

export const dynamic = 'force-dynamic'

export async function GET() {
  const [metrics, cacheStats, sessionStats] = await Promise.all([cacheMetrics.getMetricsJSON(), cacheManager.getStats(), sessionManager.getStats()])
  return Response.json({
    performance: {
      hitRate: metrics.hitRate.total.toFixed(2) + '%',
      avgLatency: metrics.latency.get.avg.toFixed(2) + 'ms',
      p95Latency: metrics.latency.get.p95 + 'ms',
    },
    cache: {
      l1Size: `${cacheStats.l1.size}/${cacheStats.l1.maxSize}`,
      l1HitRate: cacheStats.l1.hitRate.toFixed(2) + '%',
      l2HitRate: cacheStats.l2.hitRate.toFixed(2) + '%',
    },
    sessions: {
      total: sessionStats.totalSessions,
      byUser: sessionStats.sessionsByUser.size,
    },
    health: {
      status: metrics.health.status,
      uptime: Math.floor(metrics.health.uptime / 1000) + 's',
    },
  })
}
