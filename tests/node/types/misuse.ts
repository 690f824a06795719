// Misuses the typings must reject. Each line below is a type error; `@ts-expect-error` turns it into a
// passing check, and an *unused* `@ts-expect-error` (the typings became too loose) fails `tsc`.
import { cacheManager, createRedisClient, getCacheManager, initializeCacheSystem } from '@/lib/cache/redis-cache';
import { cacheAside, readThrough, WriteBehindPattern, writeThrough } from '@/lib/cache/redis-cache';
import { cacheInvalidator, domainInvalidator } from '@/lib/cache/redis-cache';
import type { StrataCacheErrorCode } from '@/lib/cache/redis-cache';

export async function misuse() {
  // @ts-expect-error get<string> resolves string | null, not number
  const n: number = await cacheManager.get<string>('greeting');

  // @ts-expect-error get<string> may resolve null: not assignable to string under --strict
  const s: string = await cacheManager.get<string>('greeting');

  // @ts-expect-error ttl is a number of seconds
  await cacheManager.set('k', 1, { ttl: 'x' });

  // @ts-expect-error an unknown option name (typo of ttl)
  await cacheManager.set('k', 1, { tll: 60 });

  // @ts-expect-error tags are an array of strings
  await cacheManager.set('k', 1, { tags: 'tickets' });

  // @ts-expect-error mget takes an array of keys
  await cacheManager.mget('user:1');

  // @ts-expect-error mset takes an array of { key, value }
  await cacheManager.mset({ key: 'user:1', value: 1 });

  // @ts-expect-error mset items need a key
  await cacheManager.mset([{ value: 1 }]);

  // @ts-expect-error mget<User> gives a Map, not an array
  const arr: Array<unknown> = await cacheManager.mget(['a']);

  // @ts-expect-error keys are strings
  await cacheManager.get(123);

  // @ts-expect-error invalidateByTags takes an array
  await cacheManager.invalidateByTags('tickets');

  // @ts-expect-error del resolves a boolean
  const d: string = await cacheManager.del('k');

  // @ts-expect-error port is a number
  createRedisClient({ port: '6380' });

  // @ts-expect-error unknown cache option
  getCacheManager({ l1MaxSise: 1000 });

  // @ts-expect-error initializeCacheSystem reports 'connected' | 'degraded'
  const mode: 'up' = (await initializeCacheSystem()).redis;

  // @ts-expect-error not a stratacache error code
  const code: StrataCacheErrorCode = 'ERR_SOMETHING_ELSE';

  // @ts-expect-error getWithRefresh needs refreshThreshold
  await cacheAside.getWithRefresh('tickets:recent', async () => [], { ttl: 300 });

  // @ts-expect-error a cache-aside loader takes no arguments (read-through loaders get the key)
  await cacheAside.get('user:1', async (key: string) => key);

  // @ts-expect-error cacheAside.get<User> with a loader that may return undefined may resolve null
  const user: { name: string } = await cacheAside.get<{ name: string } | undefined>('user:1', async () => ({ name: 'A' }));

  // @ts-expect-error the writer receives the value's type
  await writeThrough.write('user:1', { name: 'A' }, async (data: { email: string }) => data.email);

  // @ts-expect-error unknown WriteBehindPattern option (flushInterval instead of flushIntervalMs)
  new WriteBehindPattern(undefined, { flushInterval: 5000 });

  // @ts-expect-error readThrough loaders take the key as a string
  readThrough.registerLoader('user:*', async (id: number) => id);

  // @ts-expect-error invalidateTags takes an array of tags, not one string
  await cacheInvalidator.invalidateTags('categories');

  // @ts-expect-error invalidatePattern takes one glob, not an array
  await cacheInvalidator.invalidatePattern(['ticket:*']);

  // @ts-expect-error events are 'key' | 'tag' | 'pattern' (writes are not events)
  cacheInvalidator.onInvalidation((event) => event.type === 'write');

  // @ts-expect-error a domain rule returns arrays of strings
  domainInvalidator.register('order', (id) => ({ keys: `order:${id}` }));

  // @ts-expect-error event.target is a list
  cacheInvalidator.onInvalidation((event) => { const t: string = event.target; return t; });

  return [n, s, arr, d, mode, code, user];
}
