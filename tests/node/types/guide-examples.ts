// The usage guide's "Initialization" and "Basic Operations" examples, unchanged except that each
// top-level block is wrapped in a function (for the top-level awaits and the guide's reuse of names
// across blocks) and the names the guide leaves undefined (ticketId, ticketData, User) are declared.
// Checked by tests/node/types.test.mjs with `tsc --strict`.
import { initializeCacheSystem } from '@/lib/cache/redis-cache';
import { createRedisClient, getCacheManager } from '@/lib/cache/redis-cache';
import { cacheManager } from '@/lib/cache/redis-cache';

// What the guide leaves to the application.
interface User {
  name: string;
}
const ticketId = 42;
const ticketData = { id: ticketId, subject: 'Printer on fire', status: 'open' as const };

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
