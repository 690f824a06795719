// The signed-in user, behind the guide's Authentication Middleware.
import { authenticate, unauthenticated } from '@/lib/http'

export const dynamic = 'force-dynamic'

export async function GET(req: Request) {
  const user = await authenticate(req)
  return user ? Response.json(user) : unauthenticated()
}
