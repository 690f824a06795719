// Recipe 3: the real-time dashboard, warmed every minute.
import { cacheManager, cacheWarmer } from '@/lib/cache/redis-cache'

export const dynamic = 'force-dynamic'

export async function GET() {
  let metrics = await cacheManager.get('dashboard:realtime')
  if (metrics === null) {
    // Invalidated (or not warmed yet): warm it now rather than wait for the next minute.
    await cacheWarmer.warmStrategy('dashboard-realtime')
    metrics = await cacheManager.get('dashboard:realtime')
  }
  return Response.json(metrics)
}
