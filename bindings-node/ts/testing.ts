/**
 * Test hooks, not part of the public API: the package's index does not export this module. The test
 * suite imports it by path to check that a panic inside native code fails the call with
 * `ERR_STRATACACHE_INTERNAL` and that the process goes on.
 */

import { batched } from './completion'
import { ensureSystem } from './handle'
export { memoStats } from './l1'

/** Make native code panic: in the synchronous entry point (`sync`) or in the future it spawns (`spawned`). */
export async function panicForTests(mode: 'sync' | 'spawned'): Promise<void> {
  const sys = await ensureSystem()
  return batched<void>((id) => sys._panicForTests(id, mode))
}
