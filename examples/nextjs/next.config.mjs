import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)

/** @type {import('next').NextConfig} */
export default {
  // The native addon (and sql.js's WebAssembly) stay out of the bundle: Node loads them at run time.
  serverExternalPackages: ['stratacache', 'sql.js'],
  // Next's data cache and ISR cache on the two-tier cache, shared by every instance on one Redis.
  cacheHandler: require.resolve('stratacache/next'),
  cacheMaxMemorySize: 0,
  outputFileTracingRoot: path.dirname(fileURLToPath(import.meta.url)),
}
