// The usage guide's "Monitoring" section (Health Check, Metrics Endpoint, Dashboard), unchanged except
// that the three identical imports are one, and the Express-like `app` the guide leaves undefined is
// declared. Checked by tests/node/types.test.mjs with `tsc --strict`.
import { cacheManager, cacheMetrics, sessionManager } from '@/lib/cache/redis-cache';
import type { HealthReport, HealthStatus, MetricsReport } from '@/lib/cache/redis-cache';

interface Res {
  status(code: number): Res;
  json(body: unknown): Res;
  set(name: string, value: string): Res;
  send(body: string): Res;
}
declare const app: { get(path: string, h: (req: unknown, res: Res) => Promise<unknown>): void };

// ### Health Check
app.get('/health/cache', async (req, res) => {
  const health = await cacheMetrics.healthCheck();

  res.status(health.status === 'healthy' ? 200 : 503).json({
    status: health.status,
    checks: health.checks,
  });
});

// ### Metrics Endpoint
// JSON metrics
app.get('/metrics/cache', async (req, res) => {
  const metrics = await cacheMetrics.getMetricsJSON();
  res.json(metrics);
});

// Prometheus metrics
app.get('/metrics', async (req, res) => {
  const metrics = await cacheMetrics.getPrometheusMetrics();
  res.set('Content-Type', 'text/plain');
  res.send(metrics);
});

// ### Dashboard
app.get('/admin/cache-dashboard', async (req, res) => {
  const [metrics, cacheStats, sessionStats] = await Promise.all([
    cacheMetrics.getMetricsJSON(),
    cacheManager.getStats(),
    sessionManager.getStats(),
  ]);

  res.json({
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
  });
});

// The result types are precise.
async function typed(): Promise<void> {
  const h: HealthReport = await cacheMetrics.healthCheck();
  const s: HealthStatus = h.status;
  const m: MetricsReport = await cacheMetrics.getMetricsJSON();
  const p99: number = m.latency.set.p99;
  const redisUp: 'up' | 'down' | 'disabled' = h.checks.redis.status;
  void [s, p99, redisUp];
}
void typed;
