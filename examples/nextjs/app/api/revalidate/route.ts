// On-demand revalidation: POST /api/revalidate?tag=greeting (seen by every instance through stratacache/next).
import { revalidateTag } from 'next/cache'

export async function POST(req: Request) {
  const tag = new URL(req.url).searchParams.get('tag')
  if (!tag) return Response.json({ error: 'tag is required' }, { status: 400 })
  revalidateTag(tag)
  return Response.json({ revalidated: tag })
}
