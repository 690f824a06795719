// Recipe 3: invalidate the dashboard on ticket updates.
import { cacheInvalidator } from '@/lib/cache/redis-cache'
import { db } from '@/lib/db'

export async function POST(req: Request, { params }: { params: Promise<{ id: string }> }) {
  const body = await req.json().catch(() => ({}))
  const found = await db.updateTicket(parseInt((await params).id), String(body.status ?? 'closed'))
  if (!found) return Response.json({ error: 'Ticket not found' }, { status: 404 })
  await cacheInvalidator.invalidateTags(['dashboard'])
  return Response.json({ success: true })
}
