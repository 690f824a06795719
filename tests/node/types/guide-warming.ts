// The usage guide's "Cache Warming" section (Startup Warming, Custom Strategy, Scheduled Warming) and
// "Recipe 3: Real-time Dashboard", unchanged except that the imports come first (the identical ones
// shared), the top-level awaits are wrapped in functions, and the names the guide leaves undefined
// (db, calculateDashboardMetrics) are declared. Checked by tests/node/types.test.mjs with `tsc --strict`.
import { cacheWarmer, warmCacheOnStartup } from '@/lib/cache/redis-cache';
import { cacheInvalidator } from '@/lib/cache/redis-cache';
import type { WarmEntry, WarmReport, WarmStrategy } from '@/lib/cache/redis-cache';

declare const db: {
  prepare(sql: string): { all(): Promise<Array<{ id: number; name: string }>> };
  getTicketsToday(): Promise<number>;
  getTicketsByStatus(): Promise<Record<string, number>>;
  getAvgResponseTime(): Promise<number>;
  getSlaCompliance(): Promise<number>;
  updateTicket(id: number): Promise<void>;
};
declare function calculateDashboardMetrics(): Promise<{ open: number }>;

// ### Startup Warming
export async function startupWarming() {
  // Automatic warming on startup
  await warmCacheOnStartup();
}

// ### Custom Strategy
export async function customStrategy() {
  cacheWarmer.registerStrategy({
    name: 'popular-products',
    priority: 9,
    enabled: true,
    fetchFn: async () => {
      const products = await db.prepare(`
        SELECT * FROM products
        WHERE is_featured = 1
        LIMIT 20
      `).all();

      return products.map(product => ({
        key: `product:${product.id}`,
        value: product,
        options: {
          ttl: 3600,
          tags: ['products', `product:${product.id}`],
        },
      }));
    },
    schedule: 'every 1h', // Refresh hourly
  });

  // Warm this strategy
  await cacheWarmer.warmStrategy('popular-products');
}

// ### Scheduled Warming
// Warm dashboard every 5 minutes
cacheWarmer.registerStrategy({
  name: 'dashboard-refresh',
  priority: 10,
  enabled: true,
  fetchFn: async () => {
    const metrics = await calculateDashboardMetrics();
    return [{
      key: 'dashboard:metrics',
      value: metrics,
      options: { ttl: 60, tags: ['dashboard'] },
    }];
  },
  schedule: 'every 5m',
});

// ### Recipe 3: Real-time Dashboard
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
    };

    return [{
      key: 'dashboard:realtime',
      value: metrics,
      options: { ttl: 60, tags: ['dashboard'] },
    }];
  },
  schedule: 'every 1m',
});

// Invalidate on ticket updates
export async function onTicketUpdate(ticketId: number) {
  await db.updateTicket(ticketId);
  await cacheInvalidator.invalidateTags(['dashboard']);
}

// The result types are precise.
export async function typed(): Promise<void> {
  const r: WarmReport = await cacheWarmer.warmStrategy('dashboard-refresh');
  const all: WarmReport[] = await cacheWarmer.warmAll();
  const n: number = r.entries + all.length;
  const e: string | undefined = r.error;
  const entry: WarmEntry<{ a: number }> = { key: 'k', value: { a: 1 }, options: { ttl: 1 } };
  const s: WarmStrategy = { name: 'x', priority: 1, enabled: true, fetchFn: () => [entry] };
  void [n, e, s];
}
