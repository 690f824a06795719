// The live dashboard page (the package's cacheDashboardHtml): the monitoring routes, refreshing every 2 s.
import { cacheDashboardHtml } from '@/lib/cache/redis-cache'

export const dynamic = 'force-dynamic'

export function GET() {
  return new Response(cacheDashboardHtml(), { headers: { 'Content-Type': 'text/html; charset=utf-8' } })
}
