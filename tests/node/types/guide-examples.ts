// The usage guide's "Initialization", "Basic Operations", "Cache Patterns" and "Invalidation" examples,
// unchanged except that each top-level block is wrapped in a function (for the top-level awaits and the
// guide's reuse of names across blocks), the imports (the Write-Behind block uses WriteBehindPattern without
// importing it; the two Invalidation blocks that import cacheInvalidator share one import) and the names
// the guide leaves undefined (ticketId, ticketData, User, db, existingUser, AnalyticsEvent, analyticsDb,
// refreshUserAnalytics) are declared.
// Checked by tests/node/types.test.mjs with `tsc --strict`.
import { initializeCacheSystem } from '@/lib/cache/redis-cache';
import { createRedisClient, getCacheManager } from '@/lib/cache/redis-cache';
import { cacheManager } from '@/lib/cache/redis-cache';
import { cacheAside } from '@/lib/cache/redis-cache';
import { writeThrough } from '@/lib/cache/redis-cache';
import { writeBehind, WriteBehindPattern } from '@/lib/cache/redis-cache';
import { readThrough } from '@/lib/cache/redis-cache';
import { domainInvalidator } from '@/lib/cache/redis-cache';
import { cacheInvalidator } from '@/lib/cache/redis-cache';
import { sessionManager } from '@/lib/cache/redis-cache';
import type { CacheAsideOptions, RefreshOptions, WriteBehindOptions, WriteOptions } from '@/lib/cache/redis-cache';
import type { DomainTargets, InvalidationEvent, InvalidationListener } from '@/lib/cache/redis-cache';

// What the guide leaves to the application.
interface User {
  name: string;
  email: string;
}
const ticketId = 42;
const ticketData = { id: ticketId, subject: 'Printer on fire', status: 'open' as const };

/** A better-sqlite3-shaped database handle, as the guide's examples use it. */
interface Statement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
}
declare const db: {
  prepare(sql: string): Statement;
  // The Invalidation examples' own database calls.
  updateTicket(ticketId: number, updates: unknown): Promise<void>;
  reorganizeCategories(): Promise<void>;
};
declare function refreshUserAnalytics(): Promise<void>;
declare const existingUser: User;
interface AnalyticsEvent {
  id: string;
  type: string;
  page: string;
}
declare const analyticsDb: { insert(event: AnalyticsEvent): Promise<void> };

// ## Initialization — ### Simple Initialization
export function simpleInitialization() {
  // app/startup.ts
  async function main() {
    await initializeCacheSystem();
    console.log('Cache system ready!');
  }

  main();
}

// ### Custom Configuration
export function customConfiguration() {
  // Custom Redis config
  const redisClient = createRedisClient({
    host: 'redis.example.com',
    port: 6380,
    password: 'my-secret',
    db: 1,
    cluster: false,
  });

  // Custom cache config
  const cacheManager = getCacheManager({
    l1MaxSize: 1000,
    defaultTTL: 600,
    enableL1: true,
    enableL2: true,
  });

  return { redisClient, cacheManager };
}

// ## Basic Operations — ### Simple Get/Set
export async function simpleGetSet() {
  // Set value
  await cacheManager.set('greeting', 'Hello World', { ttl: 60 });

  // Get value
  const greeting = await cacheManager.get<string>('greeting');
  console.log(greeting); // "Hello World"

  // Delete value
  await cacheManager.del('greeting');
}

// ### With Tags
export async function withTags() {
  // Set with tags
  await cacheManager.set(
    `ticket:${ticketId}`,
    ticketData,
    {
      ttl: 300,
      tags: ['tickets', `ticket:${ticketId}`],
    }
  );

  // Later: invalidate all tickets
  await cacheManager.invalidateByTags(['tickets']);
}

// ### With Compression
export async function withCompression() {
  const largeDocument = { /* large object */ };

  await cacheManager.set('doc:large', largeDocument, {
    ttl: 3600,
    compress: true,
    compressionThreshold: 512, // compress if > 512 bytes
  });

  const doc = await cacheManager.get('doc:large');
  // Automatically decompressed
  return doc;
}

// ### Multiple Operations
export async function multipleOperations() {
  // Set multiple
  await cacheManager.mset([
    { key: 'user:1', value: { name: 'Alice' }, ttl: 300 },
    { key: 'user:2', value: { name: 'Bob' }, ttl: 300 },
    { key: 'user:3', value: { name: 'Charlie' }, ttl: 300 },
  ]);

  // Get multiple
  const users = await cacheManager.mget<User>(['user:1', 'user:2', 'user:3']);
  users.forEach((user, key) => {
    console.log(`${key}: ${user?.name}`);
  });
}

// ## Cache Patterns — ### Cache-Aside (Most Common)
export async function cacheAsideMostCommon() {
  async function getUser(userId: number) {
    return cacheAside.get(
      `user:${userId}`,
      async () => {
        // Fetch from database
        return db.prepare('SELECT * FROM users WHERE id = ?').get(userId);
      },
      {
        ttl: 300,
        tags: [`user:${userId}`],
      }
    );
  }

  const user = await getUser(123);
  return user;
}

// ### Cache-Aside with Proactive Refresh
export async function cacheAsideWithProactiveRefresh() {
  // Refresh cache when 20% of TTL remains
  const tickets = await cacheAside.getWithRefresh(
    'tickets:recent',
    async () => {
      return db.prepare('SELECT * FROM tickets ORDER BY created_at DESC LIMIT 50').all();
    },
    {
      ttl: 300,
      refreshThreshold: 0.2, // Refresh when < 60s remain
      tags: ['tickets'],
    }
  );
  return tickets;
}

// ### Write-Through
export function writeThroughExample() {
  async function updateUser(userId: number, updates: Partial<User>) {
    await writeThrough.write(
      `user:${userId}`,
      { ...existingUser, ...updates },
      async (data) => {
        // Write to database
        db.prepare('UPDATE users SET name = ?, email = ? WHERE id = ?')
          .run(data.name, data.email, userId);
      },
      {
        ttl: 300,
        tags: [`user:${userId}`],
      }
    );
  }
  return updateUser;
}

// ### Write-Behind (Async)
export async function writeBehindAsync() {
  // Create write-behind instance
  const analyticsCache = new WriteBehindPattern(undefined, {
    flushIntervalMs: 5000, // Flush every 5 seconds
    maxRetries: 3,
    batchSize: 10,
  });

  // Log analytics event
  async function trackEvent(event: AnalyticsEvent) {
    await analyticsCache.write(
      `event:${event.id}`,
      event,
      async (data) => {
        // Async write to analytics DB
        await analyticsDb.insert(data);
      },
      { ttl: 60 }
    );
  }

  // Events are cached immediately, written to DB asynchronously
  await trackEvent({ id: '123', type: 'page_view', page: '/home' });
}

// ### Read-Through
export async function readThroughExample() {
  // Register loaders
  readThrough.registerLoader('user:*', async (key) => {
    const userId = key.split(':')[1];
    return db.prepare('SELECT * FROM users WHERE id = ?').get(userId);
  });

  readThrough.registerLoader('ticket:*', async (key) => {
    const ticketId = key.split(':')[1];
    return db.prepare('SELECT * FROM tickets WHERE id = ?').get(ticketId);
  });

  // Read (cache handles loading)
  const user = await readThrough.read('user:123', { ttl: 300 });
  const ticket = await readThrough.read('ticket:456', { ttl: 180 });
  return { user, ticket };
}

// Not from the guide: the pattern types contract §4 / §7 document.
export async function patternTypes() {
  const u: User | null = await cacheAside.get<User>('user:1', async () => existingUser, { ttl: 60, negativeTtl: 5, lockLeaseMs: 2000 });
  const n: number | null = await cacheAside.get('count', () => 42);
  // A loader that never returns null/undefined gives a value that needs no null check.
  const exact: number = await cacheAside.get('count', async () => 42);
  const row: User = await cacheAside.get('user:2', async () => existingUser);
  // A loader that may return undefined resolves null then.
  const maybe: number | null = await cacheAside.get('maybe', async () => (n === null ? undefined : 1));
  // mset takes values of different types in one call.
  await cacheManager.mset([{ key: 'a', value: 1 }, { key: 'b', value: 'x' }, { key: 'c', value: { id: 1 }, ttl: 5, tags: ['t'] }]);
  void exact; void row; void maybe;
  const r: User | null = await readThrough.read<User>('user:1');
  const flushed: number = await writeBehind.flush();
  const { pending, written, coalesced, retries, failed } = writeBehind.stats();
  const wb = new WriteBehindPattern(cacheManager, {
    onError: (error: unknown, key: string, value: unknown) => console.log(error, key, value),
  });
  await wb.write('event:1', { id: '1', type: 't', page: '/' } satisfies AnalyticsEvent, (data: AnalyticsEvent) => analyticsDb.insert(data));
  const removed: boolean = readThrough.unregisterLoader('user:*');
  const options: [CacheAsideOptions, RefreshOptions, WriteOptions, WriteBehindOptions] = [{}, { ttl: 1, refreshThreshold: 0.5 }, {}, {}];
  return [u, n, r, flushed, pending, written, coalesced, retries, failed, removed, options];
}

// Not from the guide: the types the examples rely on are the ones contract §4 documents.
export async function documentedTypes() {
  const greeting: string | null = await cacheManager.get<string>('greeting');
  const users: Map<string, User | null> = await cacheManager.mget<User>(['user:1']);
  const existed: boolean = await cacheManager.del('greeting');
  return { greeting, users, existed };
}

export async function stats() {
  const s = await cacheManager.getStats();
  const numbers: number[] = [s.l1.size, s.l1.maxSize, s.l1.hits, s.l1.misses, s.l1.hitRate, s.l2.hits, s.l2.misses, s.l2.hitRate, s.l2.errors];
  return numbers;
}

// ## Invalidation — ### Automatic Invalidation on Updates
export function automaticInvalidationOnUpdates() {
  async function updateTicket(ticketId: number, updates: any) {
    // Update database
    await db.updateTicket(ticketId, updates);

    // Invalidate cache (across all instances)
    await domainInvalidator.invalidateTicket(ticketId);
  }
  return updateTicket;
}

// ### Event-Based Invalidation
export function eventBasedInvalidation() {
  // Listen for invalidation events
  cacheInvalidator.onInvalidation(async (event) => {
    console.log('Cache invalidated:', event.type, event.target);

    // Trigger custom logic
    if (event.type === 'tag' && event.target.includes('users')) {
      await refreshUserAnalytics();
    }
  });
}

// ### Complex Invalidation
export function complexInvalidation() {
  async function reorganizeCategories() {
    // Update categories
    await db.reorganizeCategories();

    // Invalidate related caches
    await Promise.all([
      cacheInvalidator.invalidateTags(['categories']),
      cacheInvalidator.invalidatePattern('ticket:*'),
      cacheInvalidator.invalidateKeys(['dashboard:metrics']),
    ]);
  }
  return reorganizeCategories;
}

// Not from the guide: the invalidation types contract §4 / §7 document.
export async function invalidationTypes() {
  const off: () => void = cacheInvalidator.onInvalidation((e: InvalidationEvent) => {
    const fields: [string, string[], string, number, boolean] = [e.type, e.target, e.source, e.timestamp, e.local];
    return fields;
  });
  off();
  const listener: InvalidationListener = () => undefined;
  cacheInvalidator.onInvalidation(listener)();
  const removed: number = await cacheInvalidator.invalidatePattern('ticket:*');
  const existed: number = await cacheInvalidator.invalidateKeys(['a', 'b']);
  domainInvalidator.register('order', (id: string) => ({ keys: [`order:${id}`], tags: [`order:${id}`], patterns: [`order:${id}:*`] }));
  domainInvalidator.register('async', async (id) => ({ tags: [id] }) satisfies DomainTargets);
  const t: Required<DomainTargets> = await domainInvalidator.invalidate('order', 9);
  const all: string[] = [...t.keys, ...t.tags, ...t.patterns];
  await Promise.all([
    domainInvalidator.invalidateUser('1'),
    domainInvalidator.invalidateProduct(2),
    domainInvalidator.invalidateCategory(3),
  ]);
  return { removed, existed, all };
}

// ---- Session Management (the guide's examples, unchanged but for the Express-like shapes they use) ----
interface Req { ip: string; headers: Record<string, string | undefined>; cookies: Record<string, string | undefined>; body: { email: string; password: string }; session?: unknown; user?: unknown }
interface Res { cookie(name: string, value: string, opts: object): void; status(code: number): Res; json(body: unknown): unknown; clearCookie(name: string): void }
declare const res: Res;
declare const app: { post(path: string, h: (req: Req, res: Res) => Promise<void>): void };
declare function authenticateUser(email: string, password: string): Promise<{ id: number; tenant_id: number; role: string; email: string }>;

async function handleLogin(req: Req, userId: number, tenantId: number) {
  const { sessionId, session } = await sessionManager.createSession({
    userId,
    tenantId,
    role: 'user',
    email: 'user@example.com',
    ipAddress: req.ip,
    userAgent: req.headers['user-agent'] || '',
  }, {
    ttl: 86400, // 24 hours
    maxDevices: 5,
  });

  // Set cookie
  res.cookie('sessionId', sessionId, {
    httpOnly: true,
    secure: true,
    maxAge: 86400000,
  });

  return session;
}

async function authenticate(req: Req, res: Res, next: () => void) {
  const sessionId = req.cookies.sessionId;

  if (!sessionId) {
    return res.status(401).json({ error: 'Not authenticated' });
  }

  const session = await sessionManager.getSession(sessionId, {
    validateIp: req.ip,
    validateUserAgent: req.headers['user-agent'],
  });

  if (!session) {
    return res.status(401).json({ error: 'Invalid session' });
  }

  // Update activity
  await sessionManager.touchSession(sessionId);

  // Attach to request
  req.session = session;
  req.user = { id: session.userId, role: session.role };

  next();
}

async function logoutExamples(sessionId: string, userId: number, deviceId: string) {
  // Single device logout
  await sessionManager.deleteSession(sessionId);

  // All devices logout
  await sessionManager.deleteUserSessions(userId);

  // Get all user sessions
  const sessions = await sessionManager.getUserSessions(userId);

  console.log(`User has ${sessions.length} active sessions:`);
  sessions.forEach(session => {
    console.log(`- Device: ${session.deviceId}`);
    console.log(`  Last activity: ${new Date(session.lastActivity)}`);
    console.log(`  IP: ${session.ipAddress}`);
  });

  // Logout specific device
  const targetSession = sessions.find(s => s.deviceId === deviceId);
  if (targetSession) {
    await sessionManager.deleteSession(targetSession.sessionId);
  }
  const sessionStats = await sessionManager.getStats();
  const dashboard = { total: sessionStats.totalSessions, byUser: sessionStats.sessionsByUser.size };
  return dashboard;
}

// Recipe 2: Session-Based Auth
app.post('/auth/login', async (req, res) => {
  const user = await authenticateUser(req.body.email, req.body.password);

  const { sessionId } = await sessionManager.createSession({
    userId: user.id,
    tenantId: user.tenant_id,
    role: user.role,
    email: user.email,
    ipAddress: req.ip,
    userAgent: req.headers['user-agent'] || '',
  }, {
    ttl: 86400,
    maxDevices: 5,
  });

  res.cookie('sid', sessionId, { httpOnly: true, secure: true });
  res.json({ success: true });
});
void handleLogin;
void authenticate;
void logoutExamples;
