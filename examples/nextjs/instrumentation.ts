// Runs once when a Next.js server starts: initialize the cache system in the Node.js runtime.
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME === 'nodejs' && process.env.NEXT_PHASE !== 'phase-production-build') {
    const { init } = await import('./lib/init')
    await init()
  }
}
