// The usage guide's three production recipes and its Monitoring section as one Express app, over a small
// SQLite database (sql.js: SQLite compiled to WebAssembly, no native build). Run it with ./start.sh (see
// README.md). The HTTP API is the same in the Express, Next.js and FastAPI examples, with the guide's
// camelCase JSON field names:
//
//   GET  /api/users/:id           rate limit per client IP (100 a minute) + cache-aside over SQLite (Recipe 1)
//   POST /auth/login              { email, password } -> session cookie `sid` (Recipe 2)
//   POST /auth/logout             ends this session
//   POST /auth/logout-all         ends every session of the signed-in user
//   GET  /api/me                  the signed-in user (401 without a valid `sid`: the guide's middleware)
//   GET  /api/dashboard           Recipe 3: real-time dashboard metrics, warmed `every 1m`
//   POST /api/tickets/:id         { status }: updates a ticket and invalidates tag `dashboard`
//   GET  /health/cache            200 when healthy, 503 otherwise
//   GET  /metrics/cache           the metrics report (JSON)
//   GET  /metrics                 Prometheus text
//   GET  /admin/cache-dashboard   the guide's dashboard summary
//   GET  /dashboard               a live page over the three above, refreshing itself every 2 s
//
// Configuration: PORT, REDIS_URL (and every other variable stratacache reads).
import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import cookieParser from 'cookie-parser'
import express from 'express'
import initSqlJs from 'sql.js'
import {
  cacheAside,
  cacheDashboardHtml,
  cacheInvalidator,
  cacheManager,
  cacheMetrics,
  cacheWarmer,
  initializeCacheSystem,
  redisRateLimiter,
  sessionManager,
  shutdownCacheSystem,
} from 'stratacache'

const DEMO_EMAIL = 'demo@example.com'
const DEMO_PASSWORD = 'demo'

// ----- a small real database -----------------------------------------------------------------------

const SQL = await initSqlJs({ locateFile: (file) => createRequire(import.meta.url).resolve(`sql.js/dist/${file}`) })
const sqlite = new SQL.Database()
const passwordHash = (password, salt) => crypto.pbkdf2Sync(password, salt, 100_000, 32, 'sha256').toString('hex')
{
  sqlite.run(`CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id INTEGER, name TEXT, email TEXT UNIQUE, role TEXT, salt TEXT, password_hash TEXT);
              CREATE TABLE tickets (id INTEGER PRIMARY KEY, status TEXT, created_at TEXT DEFAULT (date('now')), response_minutes REAL, sla_met INTEGER);`)
  const salt = crypto.randomBytes(16).toString('hex')
  sqlite.run("INSERT INTO users VALUES (1, 1, 'Demo User', ?, 'admin', ?, ?)", [DEMO_EMAIL, salt, passwordHash(DEMO_PASSWORD, salt)])
  for (let i = 2; i <= 5; i++) sqlite.run("INSERT INTO users (id, tenant_id, name, email, role) VALUES (?, 1, ?, ?, 'user')", [i, `User ${i}`, `user${i}@example.com`])
  const tickets = [['open', 12, 1], ['open', 45, 0], ['pending', 8, 1], ['closed', 30, 1], ['closed', 5, 1]]
  tickets.forEach(([status, minutes, sla], i) => sqlite.run('INSERT INTO tickets (id, status, response_minutes, sla_met) VALUES (?, ?, ?, ?)', [i + 1, status, minutes, sla]))
}

function rows(sql, params = []) {
  const stmt = sqlite.prepare(sql)
  stmt.bind(params)
  const out = []
  while (stmt.step()) out.push(stmt.getAsObject())
  stmt.free()
  return out
}

const db = {
  async getUser(id) {
    const [row] = rows('SELECT id, tenant_id, name, email, role FROM users WHERE id = ?', [id])
    return row ? { id: row.id, tenantId: row.tenant_id, name: row.name, email: row.email, role: row.role } : null
  },
  async authenticateUser(email, password) {
    const [row] = rows('SELECT * FROM users WHERE email = ?', [email])
    if (!row || !row.salt || passwordHash(password, row.salt) !== row.password_hash) return null
    return { id: row.id, tenant_id: row.tenant_id, role: row.role, email: row.email }
  },
  async getTicketsToday() {
    return rows("SELECT COUNT(*) AS n FROM tickets WHERE created_at = date('now')")[0].n
  },
  async getTicketsByStatus() {
    return Object.fromEntries(rows('SELECT status, COUNT(*) AS n FROM tickets GROUP BY status').map((r) => [r.status, r.n]))
  },
  async getAvgResponseTime() {
    return Math.round(10 * (rows('SELECT AVG(response_minutes) AS a FROM tickets')[0].a ?? 0)) / 10
  },
  async getSlaCompliance() {
    return Math.round(1000 * (rows('SELECT AVG(sla_met) AS a FROM tickets')[0].a ?? 0)) / 10
  },
  async updateTicket(id, status) {
    sqlite.run('UPDATE tickets SET status = ? WHERE id = ?', [status, id])
    return sqlite.getRowsModified() > 0
  },
}

// ----- the cache system ----------------------------------------------------------------------------

// Recipe 3: warm the dashboard every minute (once per minute across every process on this Redis).
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

const app = express()
app.use(express.json())
app.use(cookieParser())

// ----- Recipe 1: high-performance API --------------------------------------------------------------

app.get('/api/users/:id', async (req, res) => {
  const userId = parseInt(req.params.id)
  const rateLimit = await redisRateLimiter.limit(`api:${req.ip}`, { windowMs: 60000, maxRequests: 100, algorithm: 'sliding-counter' })
  if (!rateLimit.allowed) {
    return res.status(429).json({ error: 'Rate limit exceeded' })
  }
  const user = await cacheAside.get(`user:${userId}`, async () => await db.getUser(userId), { ttl: 300, tags: [`user:${userId}`] })
  if (user === null) return res.status(404).json({ error: 'User not found' })
  res.json(user)
})

// ----- Recipe 2: session-based auth ----------------------------------------------------------------

/** The guide's Authentication Middleware: 401 without a valid `sid` cookie. */
async function authenticate(req, res, next) {
  const sessionId = req.cookies.sid
  const session = sessionId ? await sessionManager.getSession(sessionId) : null
  if (!session) return res.status(401).json({ error: 'Not authenticated' })
  await sessionManager.touchSession(sessionId)
  req.user = { id: session.userId, tenantId: session.tenantId, role: session.role, email: session.email }
  next()
}

app.post('/auth/login', async (req, res) => {
  const user = await db.authenticateUser(String(req.body?.email ?? ''), String(req.body?.password ?? ''))
  if (!user) return res.status(401).json({ error: 'Invalid email or password' })
  const { sessionId } = await sessionManager.createSession(
    { userId: user.id, tenantId: user.tenant_id, role: user.role, email: user.email, ipAddress: req.ip, userAgent: req.headers['user-agent'] || '' },
    { ttl: 86400, maxDevices: 5 },
  )
  res.cookie('sid', sessionId, { httpOnly: true, secure: req.secure, sameSite: 'lax', maxAge: 86400000 })
  res.json({ success: true })
})

app.post('/auth/logout', async (req, res) => {
  const sessionId = req.cookies.sid
  if (sessionId) await sessionManager.deleteSession(sessionId)
  res.clearCookie('sid')
  res.json({ success: true })
})

app.post('/auth/logout-all', authenticate, async (req, res) => {
  await sessionManager.deleteUserSessions(req.user.id)
  res.clearCookie('sid')
  res.json({ success: true })
})

app.get('/api/me', authenticate, (req, res) => res.json(req.user))

// ----- Recipe 3: real-time dashboard ---------------------------------------------------------------

app.get('/api/dashboard', async (req, res) => {
  let metrics = await cacheManager.get('dashboard:realtime')
  if (metrics === null) {
    // Invalidated (or not warmed yet): warm it now rather than wait for the next minute.
    await cacheWarmer.warmStrategy('dashboard-realtime')
    metrics = await cacheManager.get('dashboard:realtime')
  }
  res.json(metrics)
})

app.post('/api/tickets/:id', async (req, res) => {
  const found = await db.updateTicket(parseInt(req.params.id), String(req.body?.status ?? 'closed'))
  if (!found) return res.status(404).json({ error: 'Ticket not found' })
  await cacheInvalidator.invalidateTags(['dashboard'])
  res.json({ success: true })
})

// ----- Monitoring ----------------------------------------------------------------------------------

app.get('/health/cache', async (req, res) => {
  const health = await cacheMetrics.healthCheck()
  res.status(health.status === 'healthy' ? 200 : 503).json({ status: health.status, checks: health.checks })
})

app.get('/metrics/cache', async (req, res) => {
  res.json(await cacheMetrics.getMetricsJSON())
})

app.get('/metrics', async (req, res) => {
  res.set('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  res.send(await cacheMetrics.getPrometheusMetrics())
})

app.get('/admin/cache-dashboard', async (req, res) => {
  const [metrics, cacheStats, sessionStats] = await Promise.all([cacheMetrics.getMetricsJSON(), cacheManager.getStats(), sessionManager.getStats()])
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
  })
})

app.get('/dashboard', (req, res) => res.type('html').send(cacheDashboardHtml()))

const server = app.listen(Number(process.env.PORT || 3000), process.env.HOST || '127.0.0.1')

// Stop cleanly: finish requests in flight, shut the cache system down, exit by itself.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(async () => {
      await shutdownCacheSystem()
    })
    server.closeAllConnections()
  })
}
