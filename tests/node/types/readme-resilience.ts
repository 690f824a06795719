// The README's fail-safe and Cache-Status lines (contract §9), with the app's `db` and `res` declared.
// Checked by tests/node/types.test.mjs with `tsc --strict`.
import { cacheAside, cacheStatusHeader } from '@/lib/cache/redis-cache';
import type { ResultMeta } from '@/lib/cache/redis-cache';

declare const db: { price(sku: string): Promise<{ amount: number; currency: string }> };
declare const res: { set(name: string, value: string): void };
declare const sku: string;

export async function handler(): Promise<number> {
  const price = await cacheAside.getWithMeta(`price:${sku}`, () => db.price(sku),
    { ttl: 60, failSafe: true, failSafeMaxDuration: 3600, failSafeThrottle: 30, softTimeoutMs: 100 });
  res.set('Cache-Status', cacheStatusHeader(price));
  const typed: ResultMeta<{ amount: number; currency: string }> = price;
  const status: 'hit' | 'miss' | 'stale' = typed.status;
  const many = await cacheAside.getMany(['a', 'b'], async (keys) => new Map(keys.map((k) => [k, 1])), { ttl: 60, failSafe: true, hardTimeoutMs: 200 });
  // @ts-expect-error failSafe is a boolean
  await cacheAside.get('k', () => 1, { failSafe: 'yes' });
  return (typed.value?.amount ?? 0) + (status === 'stale' ? 1 : 0) + many.size;
}
