// An ISR page whose data is cached with tag `greeting` (Next's data cache and page cache, both on
// stratacache/next): a revalidateTag('greeting') in any instance makes every instance render it anew.
import { unstable_cache } from 'next/cache'

export const revalidate = 3600

const getGreeting = unstable_cache(async () => ({ text: `Hello, rendered at ${Date.now()}-${Math.random().toString(36).slice(2, 8)}` }), ['greeting'], { tags: ['greeting'] })

export default async function Greeting() {
  const greeting = await getGreeting()
  return <p id="greeting">{greeting.text}</p>
}
