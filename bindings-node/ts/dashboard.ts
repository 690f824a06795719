/**
 * A small live cache dashboard as one HTML page (no assets, no dependencies): hit rates, get/set latency
 * percentiles, L1 size, sessions and health, refreshing itself. It reads the three monitoring routes of the
 * usage guide — `/admin/cache-dashboard`, `/metrics/cache` and `/health/cache` — under `basePath`; serve it
 * from any framework:
 *
 * ```ts
 * app.get('/dashboard', (req, res) => res.type('html').send(cacheDashboardHtml()))          // Express
 * export const GET = () => new Response(cacheDashboardHtml(), { headers: { 'Content-Type': 'text/html' } })  // Next.js
 * ```
 */

/** Options of {@link cacheDashboardHtml}. */
export interface CacheDashboardOptions {
  /** Prefix of the monitoring routes (default `''`: `/admin/cache-dashboard`, `/metrics/cache`, `/health/cache`). */
  basePath?: string
  /** How often the page refreshes itself, in ms (default 2,000, at least 250). */
  refreshMs?: number
}

/** The dashboard page's HTML (see the module docs). */
export function cacheDashboardHtml(options: CacheDashboardOptions = {}): string {
  const basePath = String(options.basePath ?? '').replace(/\/+$/, '')
  const refreshMs = Math.max(250, Math.round(Number(options.refreshMs ?? 2000)) || 2000)
  const seconds = refreshMs / 1000
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stratacache — live cache dashboard</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 24px; background: #f6f7f9; color: #1d2330; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .sub { color: #5b6475; margin-bottom: 18px; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); gap: 14px; }
  .card { background: #fff; border-radius: 10px; padding: 14px 16px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  .card h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #5b6475; margin: 0 0 8px; }
  .big { font-size: 30px; font-weight: 650; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  td { padding: 2px 0; } td:last-child { text-align: right; }
  .healthy { color: #137a3a; } .degraded { color: #b26a00; } .unhealthy { color: #b3261e; }
</style>
</head>
<body>
<h1>stratacache — live cache dashboard</h1>
<div class="sub">Refreshes every ${seconds} s · <span id="refreshes">0</span> refreshes · last <span id="updated">never</span></div>
<div class="grid">
  <div class="card"><h2>Hit rate</h2><div class="big" id="hit-rate">–</div>
    <table><tr><td>L1</td><td id="l1-hit-rate">–</td></tr><tr><td>L2</td><td id="l2-hit-rate">–</td></tr></table></div>
  <div class="card"><h2>Latency (get, ms)</h2>
    <table><tr><td>p50</td><td id="get-p50">–</td></tr><tr><td>p95</td><td id="get-p95">–</td></tr><tr><td>p99</td><td id="get-p99">–</td></tr>
    <tr><td>set p95</td><td id="set-p95">–</td></tr></table></div>
  <div class="card"><h2>L1</h2><div class="big" id="l1-size">–</div><div class="sub">entries / capacity</div></div>
  <div class="card"><h2>Sessions</h2><div class="big" id="sessions">–</div><div class="sub"><span id="session-users">–</span> users</div></div>
  <div class="card"><h2>Health</h2><div class="big" id="health">–</div>
    <table><tr><td>Redis</td><td id="check-redis">–</td></tr><tr><td>Bus</td><td id="check-bus">–</td></tr><tr><td>Uptime</td><td id="uptime">–</td></tr></table></div>
</div>
<script>
  const BASE = ${JSON.stringify(basePath).replace(/</g, "\\u003c")}
  const $ = (id) => document.getElementById(id)
  const ms = (x) => (typeof x === 'number' ? x.toFixed(2) : '–')
  let refreshes = 0
  async function refresh() {
    try {
      const [dash, metrics, health] = await Promise.all([
        fetch(BASE + '/admin/cache-dashboard').then((r) => r.json()),
        fetch(BASE + '/metrics/cache').then((r) => r.json()),
        fetch(BASE + '/health/cache').then((r) => r.json()),
      ])
      $('hit-rate').textContent = dash.performance.hitRate
      $('l1-hit-rate').textContent = dash.cache.l1HitRate
      $('l2-hit-rate').textContent = dash.cache.l2HitRate
      $('get-p50').textContent = ms(metrics.latency.get.p50)
      $('get-p95').textContent = ms(metrics.latency.get.p95)
      $('get-p99').textContent = ms(metrics.latency.get.p99)
      $('set-p95').textContent = ms(metrics.latency.set.p95)
      $('l1-size').textContent = dash.cache.l1Size
      $('sessions').textContent = dash.sessions.total
      $('session-users').textContent = dash.sessions.byUser
      $('health').textContent = health.status
      $('health').className = 'big ' + health.status
      $('check-redis').textContent = health.checks.redis.status
      $('check-bus').textContent = health.checks.bus.state
      $('uptime').textContent = dash.health.uptime
      $('refreshes').textContent = String(++refreshes)
      $('updated').textContent = new Date().toLocaleTimeString()
    } catch (e) {
      $('updated').textContent = 'failed: ' + e.message
    }
  }
  refresh()
  setInterval(refresh, ${refreshMs})
</script>
</body>
</html>
`
}
