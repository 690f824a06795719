// The usage guide's Session Management and Recipe 2 through the npm package: login, the authentication
// middleware (getSession with IP / user-agent binding, touchSession), logout on one device and on all,
// multi-device management, the device cap under concurrency, and what Redis stores (never a raw id).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisClient, sessionManager, shutdownCacheSystem } from 'stratacache'
import { raw, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('sess')
let redis
let r

before(async () => {
  redis = await startRedis()
  r = await raw(redis.port)
  createRedisClient({ host: '127.0.0.1', port: redis.port, namespace: ns })
})

after(async () => {
  await shutdownCacheSystem()
  r?.close()
  await redis?.stop()
})

const req = { ip: '203.0.113.7', headers: { 'user-agent': 'Mozilla/5.0 test' } }

async function handleLogin(userId, tenantId, opts = { ttl: 86400, maxDevices: 5 }) {
  // The guide's "Login" example, verbatim apart from the response.
  const { sessionId, session } = await sessionManager.createSession({
    userId,
    tenantId,
    role: 'user',
    email: 'user@example.com',
    ipAddress: req.ip,
    userAgent: req.headers['user-agent'] || '',
  }, opts)
  return { sessionId, session }
}

async function rejection(p) {
  try {
    await p
  } catch (e) {
    return e
  }
  assert.fail('expected a rejection')
}

describe('login, middleware, logout', () => {
  test('createSession returns a URL-safe id of at least 128 bits and the session fields (epoch ms)', async () => {
    const { sessionId, session } = await handleLogin(1, 10)
    assert.match(sessionId, /^[0-9a-f]{8}\.[A-Za-z0-9_-]{22}$/)
    assert.equal(session.sessionId, sessionId)
    for (const f of ['userId', 'tenantId', 'role', 'email', 'ipAddress', 'userAgent', 'deviceId', 'createdAt', 'lastActivity', 'expiresAt']) {
      assert.ok(f in session, `session.${f}`)
    }
    assert.equal(session.userId, 1)
    assert.ok(Math.abs(session.createdAt - Date.now()) < 60_000)
    assert.equal(session.expiresAt - session.createdAt, 86_400_000)
  })

  test('getSession validates IP and user agent; a mismatch is null and counted', async () => {
    const { sessionId } = await handleLogin(2, 10)
    const ok = await sessionManager.getSession(sessionId, { validateIp: req.ip, validateUserAgent: req.headers['user-agent'] })
    assert.equal(ok?.email, 'user@example.com')
    const before = (await sessionManager.getStats()).validationFailures
    assert.equal(await sessionManager.getSession(sessionId, { validateIp: '198.51.100.1' }), null)
    assert.equal(await sessionManager.getSession(sessionId, { validateUserAgent: 'curl/8' }), null)
    assert.equal((await sessionManager.getStats()).validationFailures - before, 2)
  })

  test('touchSession slides the expiry and updates lastActivity', async () => {
    const { sessionId, session } = await handleLogin(3, 10, { ttl: 1, maxDevices: 5 })
    await new Promise((res) => setTimeout(res, 600))
    assert.equal(await sessionManager.touchSession(sessionId), true)
    await new Promise((res) => setTimeout(res, 600))
    const s = await sessionManager.getSession(sessionId)
    assert.ok(s, 'touched session must still be alive after its original ttl')
    assert.ok(s.lastActivity > session.lastActivity)
  })

  test('data round-trips; deleteSession logs one device out; deleteUserSessions all of them', async () => {
    const { sessionId } = await sessionManager.createSession({ userId: 'u-4', tenantId: 1, role: 'admin', email: 'a@b.c', ipAddress: req.ip, userAgent: 'x', data: { theme: 'dark', n: [1, 2] } }, { ttl: 60, maxDevices: 5 })
    assert.deepEqual((await sessionManager.getSession(sessionId)).data, { theme: 'dark', n: [1, 2] })
    await sessionManager.createSession({ userId: 'u-4', tenantId: 1, role: 'admin', email: 'a@b.c', ipAddress: req.ip, userAgent: 'y' }, { ttl: 60 })
    assert.equal(await sessionManager.deleteSession(sessionId), true)
    assert.equal(await sessionManager.getSession(sessionId), null)
    assert.equal(await sessionManager.deleteUserSessions('u-4'), 1)
    assert.deepEqual(await sessionManager.getUserSessions('u-4'), [])
  })

  test('multi-device management: getUserSessions (most recent first) and deleteSession of its handle', async () => {
    const ids = []
    for (let i = 0; i < 3; i++) ids.push((await handleLogin(5, 10)).sessionId)
    await sessionManager.touchSession(ids[0])
    const sessions = await sessionManager.getUserSessions(5)
    assert.equal(sessions.length, 3)
    assert.ok(sessions[0].lastActivity >= sessions[1].lastActivity && sessions[1].lastActivity >= sessions[2].lastActivity)
    const target = sessions.find((s) => s.deviceId === sessions[1].deviceId)
    assert.equal(await sessionManager.getSession(target.sessionId), null, 'a listed handle is not a usable session id')
    assert.equal(await sessionManager.deleteSession(target.sessionId), true)
    assert.equal((await sessionManager.getUserSessions(5)).length, 2)
  })
})

describe('device cap and storage', () => {
  test('20 concurrent logins with maxDevices 5 leave exactly 5 sessions', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => handleLogin(6, 10)))
    assert.equal(new Set(results.map((x) => x.sessionId)).size, 20)
    assert.equal((await sessionManager.getUserSessions(6)).length, 5)
    let alive = 0
    for (const { sessionId } of results) if (await sessionManager.getSession(sessionId)) alive++
    assert.equal(alive, 5)
    const stats = await sessionManager.getStats()
    assert.equal(stats.sessionsByUser.get('6'), 5)
  })

  test('Redis holds no raw session id, in keys or values', async () => {
    const { sessionId } = await handleLogin(7, 10)
    const secret = sessionId.split('.')[1]
    const keys = (await r.cmd('KEYS', `${ns}:*`)).map(String)
    assert.ok(keys.length > 0)
    for (const k of keys) {
      assert.ok(!k.includes(secret), k)
      const type = await r.cmd('TYPE', k)
      if (type === 'hash') {
        const fields = (await r.cmd('HGETALL', k)).map(String)
        assert.ok(fields.every((v) => !v.includes(secret)), k)
      }
    }
  })

  test('forged or malformed ids are null/false, never an error', async () => {
    for (const id of ['', 'nope', 'abcdef12.tooshort', 'zzzzzzzz.AAAAAAAAAAAAAAAAAAAAAA', '12345678.AAAAAAAAAAAAAAAAAAAAAA']) {
      assert.equal(await sessionManager.getSession(id), null)
      assert.equal(await sessionManager.touchSession(id), false)
      assert.equal(await sessionManager.deleteSession(id), false)
    }
  })

  test('bad input names what was wrong', async () => {
    let e = await rejection(sessionManager.createSession({ role: 'x' }, { ttl: 60 }))
    assert.equal(e.code, 'ERR_STRATACACHE_INVALID_ARGUMENT')
    assert.match(e.message, /userId/)
    e = await rejection(sessionManager.createSession({ userId: 1 }, { maxDevices: 0 }))
    assert.match(e.message, /maxDevices must be a whole number >= 1, got 0/)
    e = await rejection(sessionManager.createSession({ userId: 1 }, { ttl: -5 }))
    assert.match(e.message, /ttl must be > 0, got -5/)
    e = await rejection(sessionManager.getSession(42))
    assert.equal(e.code, 'ERR_STRATACACHE_INVALID_ARGUMENT')
  })

  test('the user tag is keyed with the namespace secret, not SHA-256 of the user id', async () => {
    const { createHash } = await import('node:crypto')
    const one = await sessionManager.createSession({ userId: 12345, tenantId: 1, role: 'user', email: 'a@b.c', ipAddress: req.ip, userAgent: 'x' })
    const two = await sessionManager.createSession({ userId: 12345, tenantId: 1, role: 'user', email: 'a@b.c', ipAddress: req.ip, userAgent: 'x' })
    assert.equal(one.sessionId.slice(0, 8), two.sessionId.slice(0, 8), 'one user, one tag (one Cluster slot)')
    assert.notEqual(one.sessionId.slice(0, 8), createHash('sha256').update('12345').digest('hex').slice(0, 8))
    assert.equal((await r.cmd('GET', `${ns}:sk`)).length, 32, 'the namespace secret, made once')
  })
})
