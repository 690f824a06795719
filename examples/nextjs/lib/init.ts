// Initialization, once per server process (instrumentation.ts calls it): the guide's Recipe 1 setup and
// Recipe 3's warming strategy.
import { cacheWarmer, initializeCacheSystem, shutdownCacheSystem } from '@/lib/cache/redis-cache'
import { db } from '@/lib/db'

export async function init(): Promise<void> {
  // Warm dashboard every minute
  cacheWarmer.registerStrategy({
    name: 'dashboard-realtime',
    priority: 10,
    enabled: true,
    fetchFn: async () => {
      const metrics = {
        ticketsToday: await db.getTicketsToday(),
        ticketsByStatus: await db.getTicketsByStatus(),
        avgResponseTime: await db.getAvgResponseTime(),
        slaCompliance: await db.getSlaCompliance(),
      }
      return [{ key: 'dashboard:realtime', value: metrics, options: { ttl: 60, tags: ['dashboard'] } }]
    },
    schedule: 'every 1m',
  })
  await initializeCacheSystem({ skipWarming: false, skipMetrics: false })
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdownCacheSystem().finally(() => process.exit(0))
    })
  }
}
