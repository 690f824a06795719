// A small real database: SQLite (sql.js, compiled to WebAssembly) in memory, one per server process. It
// lives on globalThis so that every bundle of the app (routes, instrumentation) shares it.
import crypto from 'node:crypto'
import path from 'node:path'
import initSqlJs, { type Database } from 'sql.js'

export const DEMO_EMAIL = 'demo@example.com'
export const DEMO_PASSWORD = 'demo'

const passwordHash = (password: string, salt: string) => crypto.pbkdf2Sync(password, salt, 100_000, 32, 'sha256').toString('hex')

async function open(): Promise<Database> {
  // sql.js's WebAssembly, from the installed package (the app runs from its own directory).
  const SQL = await initSqlJs({ locateFile: (file: string) => path.join(process.cwd(), 'node_modules', 'sql.js', 'dist', file) })
  const db = new SQL.Database()
  db.run(`CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id INTEGER, name TEXT, email TEXT UNIQUE, role TEXT, salt TEXT, password_hash TEXT);
          CREATE TABLE tickets (id INTEGER PRIMARY KEY, status TEXT, created_at TEXT DEFAULT (date('now')), response_minutes REAL, sla_met INTEGER);`)
  const salt = crypto.randomBytes(16).toString('hex')
  db.run("INSERT INTO users VALUES (1, 1, 'Demo User', ?, 'admin', ?, ?)", [DEMO_EMAIL, salt, passwordHash(DEMO_PASSWORD, salt)])
  for (let i = 2; i <= 5; i++) db.run("INSERT INTO users (id, tenant_id, name, email, role) VALUES (?, 1, ?, ?, 'user')", [i, `User ${i}`, `user${i}@example.com`])
  const tickets: [string, number, number][] = [['open', 12, 1], ['open', 45, 0], ['pending', 8, 1], ['closed', 30, 1], ['closed', 5, 1]]
  tickets.forEach(([status, minutes, sla], i) => db.run('INSERT INTO tickets (id, status, response_minutes, sla_met) VALUES (?, ?, ?, ?)', [i + 1, status, minutes, sla]))
  return db
}

const g = globalThis as unknown as { __stratacacheDemoDb?: Promise<Database> }
const database = () => (g.__stratacacheDemoDb ??= open())

async function rows(sql: string, params: (string | number)[] = []): Promise<Record<string, any>[]> {
  const stmt = (await database()).prepare(sql)
  stmt.bind(params)
  const out: Record<string, any>[] = []
  while (stmt.step()) out.push(stmt.getAsObject())
  stmt.free()
  return out
}

export const db = {
  async getUser(id: number) {
    const [row] = await rows('SELECT id, tenant_id, name, email, role FROM users WHERE id = ?', [id])
    return row ? { id: row.id, tenantId: row.tenant_id, name: row.name, email: row.email, role: row.role } : null
  },
  async authenticateUser(email: string, password: string) {
    const [row] = await rows('SELECT * FROM users WHERE email = ?', [email])
    if (!row || !row.salt || passwordHash(password, row.salt) !== row.password_hash) return null
    return { id: row.id as number, tenant_id: row.tenant_id as number, role: row.role as string, email: row.email as string }
  },
  async getTicketsToday() {
    return (await rows("SELECT COUNT(*) AS n FROM tickets WHERE created_at = date('now')"))[0].n as number
  },
  async getTicketsByStatus() {
    return Object.fromEntries((await rows('SELECT status, COUNT(*) AS n FROM tickets GROUP BY status')).map((r) => [r.status, r.n]))
  },
  async getAvgResponseTime() {
    return Math.round(10 * ((await rows('SELECT AVG(response_minutes) AS a FROM tickets'))[0].a ?? 0)) / 10
  },
  async getSlaCompliance() {
    return Math.round(1000 * ((await rows('SELECT AVG(sla_met) AS a FROM tickets'))[0].a ?? 0)) / 10
  },
  async updateTicket(id: number, status: string) {
    const d = await database()
    d.run('UPDATE tickets SET status = ? WHERE id = ?', [status, id])
    return d.getRowsModified() > 0
  },
}
