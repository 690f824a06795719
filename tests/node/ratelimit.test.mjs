// redisRateLimiter through the npm package against a real redis-server: the usage guide's Rate Limiting
// examples (API middleware, login, custom token/leaky buckets) with fake req/res objects; for every
// algorithm exact counts under concurrency, the remaining countdown, cost, retryAfter and resetTime;
// refill/leak over time; SCRIPT FLUSH mid-run; Redis killed (allow / deny / local) and restarted on the
// same port; reset, getStats, rateLimitPresets, rateLimitHeaders and bad input.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisClient, rateLimitHeaders, rateLimitPresets, redisRateLimiter, shutdownCacheSystem } from 'stratacache'
import { raw, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('rl')
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

const sleep = (ms) => new Promise((res) => setTimeout(res, ms))
let seq = 0
/** An identifier no other test uses. */
const uid = (label) => `${label}:${++seq}:${Math.random().toString(36).slice(2, 8)}`
/** The Redis key of one identifier's state for one algorithm (docs: `{ns}:rl:{identifier}:<suffix>`). */
const rlKey = (id, suffix) => `${ns}:rl:{${id}}:${suffix}`
const range = (n) => Array.from({ length: n }, (_, i) => i)
const countdown = (n) => range(n).map((i) => n - 1 - i)
const sortDesc = (xs) => [...xs].sort((a, b) => b - a)

/**
 * The window algorithms align windows on the epoch; a run that straddles a window edge would legitimately
 * start a new window. Wait for the next window when the current one ends within `marginMs`.
 */
async function awayFromWindowEdge(windowMs, marginMs = 2000) {
  const left = windowMs - (Date.now() % windowMs)
  if (left < marginMs) await sleep(left + 20)
}

/** Settle within `ms` or fail (a decision must never hang). */
function within(ms, p, what) {
  let timer
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${what} did not settle within ${ms} ms`)), ms)
    }),
  ])
}

/** The shape every result has: integers, retryAfter only when denied (1…window s), resetTime epoch ms ahead. */
function checkResult(res, { total, windowMs }, what = '') {
  const ctx = `${what} ${JSON.stringify(res)}`
  assert.equal(typeof res.allowed, 'boolean', ctx)
  assert.equal(res.total, total, ctx)
  assert.ok(Number.isInteger(res.remaining) && res.remaining >= 0 && res.remaining <= total, `remaining ${ctx}`)
  assert.ok(Number.isInteger(res.resetTime), `resetTime is an integer ${ctx}`)
  const now = Date.now()
  assert.ok(res.resetTime > now, `resetTime is in the future (now ${now}) ${ctx}`)
  assert.ok(res.resetTime <= now + windowMs, `resetTime is at most one window ahead (now ${now}) ${ctx}`)
  if (res.allowed) {
    assert.equal('retryAfter' in res, false, `no retryAfter key when allowed ${ctx}`)
    assert.equal(res.retryAfter, undefined, ctx)
    assert.deepEqual(Object.keys(res).sort(), ['allowed', 'remaining', 'resetTime', 'total'], ctx)
  } else {
    assert.ok(Number.isInteger(res.retryAfter), `retryAfter is an integer when denied ${ctx}`)
    assert.ok(res.retryAfter >= 1 && res.retryAfter <= Math.ceil(windowMs / 1000), `retryAfter in 1…${Math.ceil(windowMs / 1000)} ${ctx}`)
    assert.deepEqual(Object.keys(res).sort(), ['allowed', 'remaining', 'resetTime', 'retryAfter', 'total'], ctx)
  }
}

/** Each way of reaching an algorithm: `limit` with every algorithm, and the two bucket methods. */
const FLAVOURS = [
  { name: "limit 'fixed-window'", suffix: 'fw', call: (id, o) => redisRateLimiter.limit(id, { ...o, algorithm: 'fixed-window' }) },
  { name: "limit 'sliding-log'", suffix: 'sl', call: (id, o) => redisRateLimiter.limit(id, { ...o, algorithm: 'sliding-log' }) },
  { name: "limit 'sliding-counter'", suffix: 'sc', call: (id, o) => redisRateLimiter.limit(id, { ...o, algorithm: 'sliding-counter' }) },
  { name: 'limit (default algorithm)', suffix: 'sc', call: (id, o) => redisRateLimiter.limit(id, o) },
  { name: "limit 'token-bucket'", suffix: 'tb', call: (id, o) => redisRateLimiter.limit(id, { ...o, algorithm: 'token-bucket' }) },
  { name: "limit 'leaky-bucket'", suffix: 'lb', call: (id, o) => redisRateLimiter.limit(id, { ...o, algorithm: 'leaky-bucket' }) },
  { name: 'tokenBucket()', suffix: 'tb', call: (id, o) => redisRateLimiter.tokenBucket(id, o) },
  { name: 'leakyBucket()', suffix: 'lb', call: (id, o) => redisRateLimiter.leakyBucket(id, o) },
]

// An hour: refill/leak (N per window) is negligible during a test, and the window edge is far away.
const HOUR = 3_600_000

// ---------------------------------------------------------------------------------------------------
// The usage guide's examples

/** A fake Express response that records what the middleware did. */
function fakeRes() {
  return {
    headers: {},
    statusCode: 200,
    body: undefined,
    setHeader(name, value) {
      this.headers[name] = value
    },
    status(code) {
      this.statusCode = code
      return this
    },
    json(body) {
      this.body = body
      return this
    },
  }
}

// ### API Endpoint Protection (verbatim)
async function apiRateLimitMiddleware(req, res, next) {
  const identifier = `api:user:${req.user.id}`;

  const result = await redisRateLimiter.limit(identifier, {
    ...rateLimitPresets.api,
    algorithm: 'sliding-counter',
  });

  // Add headers
  res.setHeader('X-RateLimit-Limit', result.total);
  res.setHeader('X-RateLimit-Remaining', result.remaining);
  res.setHeader('X-RateLimit-Reset', result.resetTime);

  if (!result.allowed) {
    res.setHeader('Retry-After', result.retryAfter || 60);
    return res.status(429).json({
      error: 'Too many requests',
      retryAfter: result.retryAfter,
    });
  }

  next();
}

// ### Login Rate Limiting (verbatim)
async function handleLogin(req, res) {
  const identifier = `auth:${req.ip}:${req.body.email}`;

  const result = await redisRateLimiter.limit(identifier, {
    ...rateLimitPresets.auth,
    algorithm: 'sliding-log', // More accurate
  });

  if (!result.allowed) {
    return res.status(429).json({
      error: 'Too many login attempts',
      retryAfter: result.retryAfter,
    });
  }

  // Process login...
}

// ### Custom Rate Limit (verbatim, wrapped in a function for userId and the awaits)
async function customRateLimit(userId) {
  // Token bucket (good for bursts)
  const uploadLimit = await redisRateLimiter.tokenBucket(
    `upload:user:${userId}`,
    {
      windowMs: 60000, // 1 minute
      maxRequests: 10,
      refillRate: 2, // 2 tokens per second
      bucketSize: 10,
    }
  );

  // Leaky bucket (smooth rate)
  const searchLimit = await redisRateLimiter.leakyBucket(
    `search:user:${userId}`,
    {
      windowMs: 60000,
      maxRequests: 30,
      leakRate: 0.5, // 0.5 requests per second
      bucketSize: 30,
    }
  );
  return { uploadLimit, searchLimit }
}

describe("the usage guide's Rate Limiting examples", () => {
  test('API Endpoint Protection: 100 requests pass with headers, the 101st gets 429 with Retry-After', async () => {
    await awayFromWindowEdge(rateLimitPresets.api.windowMs)
    const user = { id: uid('guide-api') }
    for (let i = 0; i < 100; i++) {
      const res = fakeRes()
      let nexted = 0
      const t0 = Date.now()
      await apiRateLimitMiddleware({ user }, res, () => nexted++)
      assert.equal(nexted, 1, `request ${i + 1} passes`)
      assert.equal(res.statusCode, 200)
      assert.equal(res.body, undefined)
      assert.equal(res.headers['X-RateLimit-Limit'], 100)
      assert.equal(res.headers['X-RateLimit-Remaining'], 99 - i)
      const reset = res.headers['X-RateLimit-Reset']
      assert.ok(Number.isInteger(reset) && reset > t0 && reset <= Date.now() + 60_000, `X-RateLimit-Reset ${reset}`)
      assert.equal('Retry-After' in res.headers, false)
    }
    const res = fakeRes()
    let nexted = 0
    await apiRateLimitMiddleware({ user }, res, () => nexted++)
    assert.equal(nexted, 0, 'next() is not called once over the limit')
    assert.equal(res.statusCode, 429)
    assert.equal(res.body.error, 'Too many requests')
    assert.ok(Number.isInteger(res.body.retryAfter) && res.body.retryAfter >= 1 && res.body.retryAfter <= 60, JSON.stringify(res.body))
    assert.equal(res.headers['Retry-After'], res.body.retryAfter)
    assert.equal(res.headers['X-RateLimit-Limit'], 100)
    assert.equal(res.headers['X-RateLimit-Remaining'], 0)
    assert.ok(await r.cmd('EXISTS', rlKey(`api:user:${user.id}`, 'sc')), 'the sliding-counter state lives in Redis')

    // Another user is not affected.
    const other = fakeRes()
    let otherNext = 0
    await apiRateLimitMiddleware({ user: { id: uid('guide-api-other') } }, other, () => otherNext++)
    assert.equal(otherNext, 1)
    assert.equal(other.headers['X-RateLimit-Remaining'], 99)
  })

  test('API Endpoint Protection under concurrency: 150 parallel requests ⇒ exactly 100 pass', async () => {
    await awayFromWindowEdge(rateLimitPresets.api.windowMs)
    const user = { id: uid('guide-api-par') }
    let passed = 0
    const responses = range(150).map(() => fakeRes())
    await Promise.all(responses.map((res) => apiRateLimitMiddleware({ user }, res, () => passed++)))
    assert.equal(passed, 100)
    assert.equal(responses.filter((res) => res.statusCode === 429).length, 50)
    const remaining = responses.filter((res) => res.statusCode === 200).map((res) => res.headers['X-RateLimit-Remaining'])
    assert.deepEqual(sortDesc(remaining), countdown(100))
  })

  test('Login Rate Limiting: 5 attempts per IP and email, the 6th gets 429 for about 15 minutes', async () => {
    const email = `${uid('guide-login')}@example.com`
    const req = { ip: '203.0.113.9', body: { email } }
    for (let i = 0; i < 5; i++) {
      const res = fakeRes()
      assert.equal(await handleLogin(req, res), undefined)
      assert.equal(res.statusCode, 200, `attempt ${i + 1} is processed`)
      assert.equal(res.body, undefined)
    }
    const res = fakeRes()
    await handleLogin(req, res)
    assert.equal(res.statusCode, 429)
    assert.equal(res.body.error, 'Too many login attempts')
    // sliding-log: the oldest attempt leaves the 15-minute window in just under 900 s.
    assert.ok([899, 900].includes(res.body.retryAfter), JSON.stringify(res.body))
    assert.equal(await r.cmd('ZCOUNT', rlKey(`auth:${req.ip}:${email}`, 'sl'), '0', '+inf'), 5, 'the log holds one entry per admitted attempt')

    // Another email from the same IP has its own limit.
    const other = fakeRes()
    await handleLogin({ ip: req.ip, body: { email: `other-${email}` } }, other)
    assert.equal(other.statusCode, 200)
  })

  test('Custom Rate Limit: token bucket of 10 (2/s) and leaky bucket of 30 (0.5/s)', async () => {
    const userId = uid('guide-custom')
    const t0 = Date.now()
    const first = await customRateLimit(userId)
    const t1 = Date.now()
    checkResult(first.uploadLimit, { total: 10, windowMs: 60000 }, 'upload')
    checkResult(first.searchLimit, { total: 30, windowMs: 60000 }, 'search')
    assert.equal(first.uploadLimit.allowed, true)
    assert.equal(first.uploadLimit.remaining, 9)
    // One token is missing; at 2 tokens/s the bucket is full again 500 ms after the decision.
    const inRange = (x, lo, hi) => x >= lo && x <= hi
    assert.ok(inRange(first.uploadLimit.resetTime, t0 + 500, t1 + 500), `${JSON.stringify(first.uploadLimit)} t0=${t0} t1=${t1}`)
    assert.equal(first.searchLimit.allowed, true)
    assert.equal(first.searchLimit.remaining, 29)
    // One unit waiting; at 0.5/s the bucket is empty 2 s after the decision.
    assert.ok(inRange(first.searchLimit.resetTime, t0 + 2000, t1 + 2000), `${JSON.stringify(first.searchLimit)} t0=${t0} t1=${t1}`)

    const uploads = [first.uploadLimit]
    const searches = [first.searchLimit]
    for (let i = 0; i < 10; i++) {
      const { uploadLimit, searchLimit } = await customRateLimit(userId)
      uploads.push(uploadLimit)
      searches.push(searchLimit)
    }
    assert.deepEqual(uploads.slice(0, 10).map((x) => [x.allowed, x.remaining]), countdown(10).map((n) => [true, n]))
    const denied = uploads[10]
    checkResult(denied, { total: 10, windowMs: 60000 }, 'upload 11')
    assert.equal(denied.allowed, false)
    assert.equal(denied.remaining, 0)
    assert.equal(denied.retryAfter, 1, 'one token comes back within 500 ms')
    assert.deepEqual(searches.map((x) => [x.allowed, x.remaining]), range(11).map((i) => [true, 29 - i]))

    for (let i = 11; i < 30; i++) assert.equal((await redisRateLimiter.leakyBucket(`search:user:${userId}`, { windowMs: 60000, maxRequests: 30, leakRate: 0.5, bucketSize: 30 })).allowed, true)
    const { searchLimit } = await customRateLimit(userId)
    checkResult(searchLimit, { total: 30, windowMs: 60000 }, 'search 31')
    assert.equal(searchLimit.allowed, false)
    assert.equal(searchLimit.retryAfter, 2, 'one unit leaks out within 2 s')
  })
})

// ---------------------------------------------------------------------------------------------------
// Every algorithm

for (const f of FLAVOURS) {
  describe(`${f.name}`, () => {
    test('limit N, 3N concurrent calls ⇒ exactly N allowed, remaining exactly {N-1…0}', async () => {
      await awayFromWindowEdge(HOUR)
      const N = 10
      const opts = { windowMs: HOUR, maxRequests: N }
      const id = uid(`conc-${f.suffix}`)
      const results = await Promise.all(range(3 * N).map(() => f.call(id, opts)))
      for (const res of results) checkResult(res, { total: N, windowMs: HOUR })
      const allowed = results.filter((x) => x.allowed)
      assert.equal(allowed.length, N, 'exactly N allowed')
      assert.deepEqual(sortDesc(allowed.map((x) => x.remaining)), countdown(N))
      for (const res of results.filter((x) => !x.allowed)) assert.equal(res.remaining, 0)
      assert.equal(await r.cmd('EXISTS', rlKey(id, f.suffix)), 1, `state in Redis under ${rlKey(id, f.suffix)}`)
    })

    test('sequential calls count remaining down N-1…0, then deny with retryAfter', async () => {
      await awayFromWindowEdge(HOUR)
      const N = 5
      const opts = { windowMs: HOUR, maxRequests: N }
      const id = uid(`seq-${f.suffix}`)
      for (let i = 0; i < N; i++) {
        const res = await f.call(id, opts)
        checkResult(res, { total: N, windowMs: HOUR }, `call ${i + 1}`)
        assert.equal(res.allowed, true)
        assert.equal(res.remaining, N - 1 - i)
      }
      for (let i = 0; i < 2; i++) {
        const res = await f.call(id, opts)
        checkResult(res, { total: N, windowMs: HOUR }, 'over the limit')
        assert.equal(res.allowed, false)
        assert.equal(res.remaining, 0)
      }
    })

    test('a cost larger than what remains is denied and consumes nothing', async () => {
      await awayFromWindowEdge(HOUR)
      const N = 10
      const opts = { windowMs: HOUR, maxRequests: N }
      const id = uid(`cost-${f.suffix}`)
      let res = await f.call(id, { ...opts, cost: 7 })
      checkResult(res, { total: N, windowMs: HOUR })
      assert.deepEqual([res.allowed, res.remaining], [true, 3])
      res = await f.call(id, { ...opts, cost: 4 })
      checkResult(res, { total: N, windowMs: HOUR })
      assert.deepEqual([res.allowed, res.remaining], [false, 3], 'cost 4 with 3 left: denied, 3 still left')
      res = await f.call(id, { ...opts, cost: 3 })
      checkResult(res, { total: N, windowMs: HOUR })
      assert.deepEqual([res.allowed, res.remaining], [true, 0], 'the denied call consumed nothing')
      res = await f.call(id, opts)
      checkResult(res, { total: N, windowMs: HOUR })
      assert.equal(res.allowed, false)
    })

    test('a cost above the whole limit on fresh state is denied, consumes nothing, and says to wait the whole window', async () => {
      await awayFromWindowEdge(HOUR)
      const N = 10
      const opts = { windowMs: HOUR, maxRequests: N }
      const id = uid(`cost-big-${f.suffix}`)
      const big = await f.call(id, { ...opts, cost: N + 1 })
      const res = await f.call(id, { ...opts, cost: N })
      assert.deepEqual([big.allowed, big.remaining], [false, N], JSON.stringify(big))
      assert.deepEqual([res.allowed, res.remaining], [true, 0], 'the denied call consumed nothing')
      checkResult(res, { total: N, windowMs: HOUR })
      assert.equal(big.retryAfter, HOUR / 1000, 'a cost no state can ever admit waits the whole window')
      if (f.suffix === 'tb' || f.suffix === 'lb') {
        // A full token bucket (an empty leaky one) is already reset: resetTime is Redis's "now".
        assert.ok(Math.abs(big.resetTime - Date.now()) < 1000, JSON.stringify(big))
      } else {
        checkResult(big, { total: N, windowMs: HOUR }, 'cost N+1 on fresh state')
      }
    })

    test('SCRIPT FLUSH in the middle of a run changes nothing', async () => {
      await awayFromWindowEdge(HOUR)
      const N = 12
      const opts = { windowMs: HOUR, maxRequests: N }
      const id = uid(`flush-${f.suffix}`)
      for (let i = 0; i < 4; i++) assert.equal((await f.call(id, opts)).remaining, N - 1 - i)
      assert.equal(await r.cmd('SCRIPT', 'FLUSH'), 'OK')
      const a = await f.call(id, opts)
      assert.deepEqual([a.allowed, a.remaining], [true, N - 5], 'the first call after the flush reloads the script and counts on')
      // A flush racing with calls in flight.
      const calls = range(2 * N).map((i) => (i === N ? r.cmd('SCRIPT', 'FLUSH').then(() => null) : f.call(id, opts)))
      const results = (await Promise.all(calls)).filter((x) => x !== null)
      const allowed = results.filter((x) => x.allowed)
      assert.equal(allowed.length, N - 5, 'exactly the rest of the quota is allowed')
      assert.deepEqual(sortDesc(allowed.map((x) => x.remaining)), countdown(N - 5))
    })
  })
}

describe('refill and leak over time', () => {
  // 10 units/s: 250 ms after the bucket ran out, 2.5 units are back, so 2 more calls pass. The count is
  // checked against the time that really passed (a loaded machine may oversleep): one per full 100 ms
  // since the last admitted call, which happened between the start of the first batch and its end.
  const units = (ms) => Math.min(5, Math.floor(ms / 100))
  for (const [name, method, rate] of [
    ['tokenBucket', 'tokenBucket', { refillRate: 10 }],
    ['leakyBucket', 'leakyBucket', { leakRate: 10 }],
  ]) {
    test(`${name}, bucketSize 5 at 10/s: 5 of 6 pass, 250 ms later 2 more (one per full 100 ms)`, async () => {
      const id = uid(name)
      const opts = { windowMs: 60_000, maxRequests: 5, bucketSize: 5, ...rate }
      const t0 = performance.now()
      const first = await Promise.all(range(6).map(() => redisRateLimiter[method](id, opts)))
      const tEmpty = performance.now()
      assert.equal(first.filter((x) => x.allowed).length, 5, 'a fresh bucket admits 5')
      await sleep(250)
      const tBefore = performance.now()
      const more = await Promise.all(range(5).map(() => redisRateLimiter[method](id, opts)))
      const tAfter = performance.now()
      const n = more.filter((x) => x.allowed).length
      const lo = units(tBefore - tEmpty)
      const hi = units(tAfter - t0)
      assert.ok(n >= lo && n <= hi, `${n} admitted; ${lo}..${hi} expected from the time that passed`)
      assert.ok(n >= 2, '2.5 units came back in 250 ms')
      for (const res of more) checkResult(res, { total: 5, windowMs: 60_000 })
    })
  }
})

// ---------------------------------------------------------------------------------------------------
// reset, stats, presets, headers

describe('reset and getStats', () => {
  test('reset(identifier) restores the full quota of every algorithm', async () => {
    await awayFromWindowEdge(HOUR)
    const id = uid('reset')
    const N = 3
    const opts = { windowMs: HOUR, maxRequests: N }
    const distinct = FLAVOURS.filter((f) => !f.name.includes('()') && !f.name.includes('default'))
    for (const f of distinct) {
      for (let i = 0; i < N; i++) await f.call(id, opts)
      assert.equal((await f.call(id, opts)).allowed, false, `${f.name} exhausted`)
    }
    assert.equal(await r.cmd('EXISTS', ...['fw', 'sl', 'sc', 'tb', 'lb'].map((s) => rlKey(id, s))), 5)
    assert.equal(await redisRateLimiter.reset(id), undefined)
    assert.equal(await r.cmd('EXISTS', ...['fw', 'sl', 'sc', 'tb', 'lb'].map((s) => rlKey(id, s))), 0, 'reset removes the state from Redis')
    for (const f of distinct) {
      const res = await f.call(id, opts)
      assert.deepEqual([res.allowed, res.remaining], [true, N - 1], `${f.name} after reset`)
    }
    // Resetting an identifier without state is fine.
    await redisRateLimiter.reset(uid('reset-none'))
  })

  test('getStats counts allowed and denied decisions; no fallbacks while Redis is up', async () => {
    const id = uid('stats')
    const before = await redisRateLimiter.getStats()
    assert.deepEqual(Object.keys(before).sort(), ['allowed', 'denied', 'fallbacks'])
    for (let i = 0; i < 5; i++) await redisRateLimiter.limit(id, { windowMs: HOUR, maxRequests: 3, algorithm: 'sliding-log' })
    await redisRateLimiter.tokenBucket(id, { windowMs: HOUR, maxRequests: 1 })
    await redisRateLimiter.tokenBucket(id, { windowMs: HOUR, maxRequests: 1 })
    const after = await redisRateLimiter.getStats()
    assert.deepEqual(
      { allowed: after.allowed - before.allowed, denied: after.denied - before.denied, fallbacks: after.fallbacks - before.fallbacks },
      { allowed: 4, denied: 3, fallbacks: 0 },
    )
  })
})

describe('rateLimitPresets', () => {
  const expected = {
    api: { windowMs: 60_000, maxRequests: 100, algorithm: 'sliding-counter' },
    auth: { windowMs: 900_000, maxRequests: 5, algorithm: 'sliding-log' },
    strict: { windowMs: 60_000, maxRequests: 10, algorithm: 'fixed-window' },
    upload: { windowMs: 3_600_000, maxRequests: 10, algorithm: 'token-bucket' },
    search: { windowMs: 60_000, maxRequests: 30, algorithm: 'leaky-bucket' },
  }

  test('api, auth, strict, upload and search, each exactly { windowMs, maxRequests, algorithm } as documented', () => {
    for (const [name, preset] of Object.entries(expected)) {
      assert.deepEqual({ ...rateLimitPresets[name] }, preset, name)
      assert.deepEqual(Object.keys(rateLimitPresets[name]).sort(), ['algorithm', 'maxRequests', 'windowMs'], name)
    }
  })

  test('frozen: the presets and each preset', () => {
    assert.ok(Object.isFrozen(rateLimitPresets))
    for (const name of Object.keys(expected)) assert.ok(Object.isFrozen(rateLimitPresets[name]), name)
    assert.throws(() => {
      rateLimitPresets.api.maxRequests = 1_000_000
    }, TypeError)
    assert.throws(() => {
      rateLimitPresets.mine = { windowMs: 1, maxRequests: 1, algorithm: 'fixed-window' }
    }, TypeError)
    assert.equal(rateLimitPresets.api.maxRequests, 100)
  })

  test('each preset spreads into limit; overriding algorithm changes the algorithm', async () => {
    const suffix = { 'fixed-window': 'fw', 'sliding-log': 'sl', 'sliding-counter': 'sc', 'token-bucket': 'tb', 'leaky-bucket': 'lb' }
    for (const [name, preset] of Object.entries(expected)) {
      const id = uid(`preset-${name}`)
      const res = await redisRateLimiter.limit(id, { ...rateLimitPresets[name] })
      checkResult(res, { total: preset.maxRequests, windowMs: preset.windowMs }, name)
      assert.deepEqual([res.allowed, res.remaining], [true, preset.maxRequests - 1], name)
      assert.equal(await r.cmd('EXISTS', rlKey(id, suffix[preset.algorithm])), 1, `${name} uses ${preset.algorithm}`)
    }
    const id = uid('preset-override')
    const res = await redisRateLimiter.limit(id, { ...rateLimitPresets.strict, algorithm: 'token-bucket' })
    assert.deepEqual([res.allowed, res.total, res.remaining], [true, 10, 9])
    assert.equal(await r.cmd('EXISTS', rlKey(id, 'tb')), 1, 'the overriding algorithm decides')
    assert.equal(await r.cmd('EXISTS', rlKey(id, 'fw')), 0, "the preset's own algorithm is not used")
  })
})

describe('rateLimitHeaders', () => {
  test('a denied result: every header, exact names and values', () => {
    const now = Date.now()
    const resetTime = now + 30_500
    const h = rateLimitHeaders({ allowed: false, total: 100, remaining: 0, resetTime, retryAfter: 31 }, { windowMs: 60_000 })
    assert.deepEqual(h, {
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': String(Math.ceil(resetTime / 1000)),
      'RateLimit-Policy': '"default";q=100;w=60',
      RateLimit: '"default";r=0;t=31',
      'Retry-After': '31',
    })
    assert.deepEqual(Object.keys(h), ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit-Policy', 'RateLimit', 'Retry-After'])
  })

  test('an allowed result: no Retry-After; RateLimit-Policy only when windowMs is given', () => {
    const resetTime = Date.now() + 4_200
    const result = { allowed: true, total: 5, remaining: 4, resetTime }
    assert.deepEqual(rateLimitHeaders(result), {
      'X-RateLimit-Limit': '5',
      'X-RateLimit-Remaining': '4',
      'X-RateLimit-Reset': String(Math.ceil(resetTime / 1000)),
      RateLimit: '"default";r=4;t=5',
    })
    assert.deepEqual(rateLimitHeaders(result, {}), rateLimitHeaders(result))
    assert.deepEqual(rateLimitHeaders(result, { windowMs: 1500 }), {
      'X-RateLimit-Limit': '5',
      'X-RateLimit-Remaining': '4',
      'X-RateLimit-Reset': String(Math.ceil(resetTime / 1000)),
      'RateLimit-Policy': '"default";q=5;w=2',
      RateLimit: '"default";r=4;t=5',
    })
  })

  test('X-RateLimit-Reset is epoch seconds rounded up (an exact second stays as is)', () => {
    const base = (Math.floor(Date.now() / 1000) + 10) * 1000
    assert.equal(rateLimitHeaders({ allowed: true, total: 1, remaining: 0, resetTime: base })['X-RateLimit-Reset'], String(base / 1000))
    assert.equal(rateLimitHeaders({ allowed: true, total: 1, remaining: 0, resetTime: base + 1 })['X-RateLimit-Reset'], String(base / 1000 + 1))
  })

  test('headers of a real decision agree with it', async () => {
    await awayFromWindowEdge(60_000)
    const id = uid('headers')
    const opts = { windowMs: 60_000, maxRequests: 1, algorithm: 'fixed-window' }
    const ok = await redisRateLimiter.limit(id, opts)
    const hOk = rateLimitHeaders(ok, opts)
    assert.equal(hOk['X-RateLimit-Remaining'], '0')
    assert.equal(hOk['X-RateLimit-Reset'], String(Math.ceil(ok.resetTime / 1000)))
    assert.equal('Retry-After' in hOk, false)
    const no = await redisRateLimiter.limit(id, opts)
    const hNo = rateLimitHeaders(no, opts)
    assert.equal(hNo['Retry-After'], String(no.retryAfter))
    assert.equal(hNo['RateLimit-Policy'], '"default";q=1;w=60')
    assert.match(hNo.RateLimit, /^"default";r=0;t=\d+$/)
  })
})

// ---------------------------------------------------------------------------------------------------
// Bad input

describe('bad input: a rejection with a stable code naming the option and the value', () => {
  /** The rejection of `thunk()`; a synchronous throw or a resolution fails the test. */
  async function rejectionOf(thunk) {
    let p
    try {
      p = thunk()
    } catch (e) {
      assert.fail(`threw synchronously instead of rejecting: ${e?.code} ${e?.message}`)
    }
    assert.ok(p instanceof Promise, 'returns a promise')
    try {
      const v = await p
      assert.fail(`resolved ${JSON.stringify(v)}`)
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e
      return e
    }
  }

  const ok = { windowMs: 1000, maxRequests: 1 }
  const ARG = 'ERR_STRATACACHE_INVALID_ARGUMENT'
  const KEY = 'ERR_STRATACACHE_INVALID_KEY'
  const cases = [
    ['empty identifier (limit)', () => redisRateLimiter.limit('', ok), KEY, [/identifier/, /""/]],
    ['empty identifier (tokenBucket)', () => redisRateLimiter.tokenBucket('', ok), KEY, [/identifier/, /""/]],
    ['empty identifier (leakyBucket)', () => redisRateLimiter.leakyBucket('', ok), KEY, [/identifier/, /""/]],
    ['empty identifier (reset)', () => redisRateLimiter.reset(''), KEY, [/identifier/, /""/]],
    ['identifier not a string', () => redisRateLimiter.limit(42, ok), KEY, [/identifier/, /42/]],
    ['unknown algorithm', () => redisRateLimiter.limit('bad', { ...ok, algorithm: 'banana' }), ARG, [/algorithm/, /banana/]],
    ['windowMs 0', () => redisRateLimiter.limit('bad', { ...ok, windowMs: 0 }), ARG, [/windowMs/, /got 0\b/]],
    ['windowMs negative', () => redisRateLimiter.limit('bad', { ...ok, windowMs: -1 }), ARG, [/windowMs/, /got -1\b/]],
    ['windowMs NaN', () => redisRateLimiter.limit('bad', { ...ok, windowMs: NaN }), ARG, [/windowMs/, /NaN/]],
    ['maxRequests 0', () => redisRateLimiter.limit('bad', { ...ok, maxRequests: 0 }), ARG, [/maxRequests/, /got 0\b/]],
    ['maxRequests 1.5', () => redisRateLimiter.limit('bad', { ...ok, maxRequests: 1.5 }), ARG, [/maxRequests/, /1\.5/]],
    ['cost 0', () => redisRateLimiter.limit('bad', { ...ok, cost: 0 }), ARG, [/cost/, /got 0\b/]],
    ['refillRate -1', () => redisRateLimiter.tokenBucket('bad', { ...ok, refillRate: -1 }), ARG, [/refillRate/, /-1\b/]],
    ['leakRate -1', () => redisRateLimiter.leakyBucket('bad', { ...ok, leakRate: -1 }), ARG, [/leakRate/, /-1\b/]],
    ['unknown option name', () => redisRateLimiter.limit('bad', { ...ok, burst: 3 }), ARG, [/burst/]],
    ["onRedisError 'retry'", () => redisRateLimiter.limit('bad', { ...ok, onRedisError: 'retry' }), ARG, [/onRedisError/, /retry/]],
    ['options null', () => redisRateLimiter.limit('bad', null), ARG, [/options/, /null/]],
    ['options undefined', () => redisRateLimiter.limit('bad'), ARG, [/options/, /undefined/]],
    ['options a string', () => redisRateLimiter.limit('bad', 'fast'), ARG, [/options/, /"fast"/]],
    ['options a number', () => redisRateLimiter.tokenBucket('bad', 42), ARG, [/options/, /42/]],
  ]
  for (const [label, thunk, code, patterns] of cases) {
    test(label, async () => {
      const e = await rejectionOf(thunk)
      assert.ok(e instanceof Error, String(e))
      assert.equal(e.code, code, e.message)
      for (const p of patterns) assert.match(e.message, p)
    })
  }

  test('rejected calls leave no state in Redis', async () => {
    assert.equal(await r.cmd('EXISTS', ...['fw', 'sl', 'sc', 'tb', 'lb'].map((s) => rlKey('bad', s))), 0)
  })
})

// ---------------------------------------------------------------------------------------------------
// Redis down and back. Last: it kills the file's redis-server and starts a new one on the same port.

describe('Redis killed, then restarted on the same port', () => {
  let port

  test("while Redis is down: 'allow' admits, 'deny' refuses, default 'local' counts in-process, nothing hangs", async () => {
    port = redis.port
    // The system is up and talking to Redis before the kill.
    assert.equal((await redisRateLimiter.limit(uid('pre-kill'), { windowMs: HOUR, maxRequests: 1 })).allowed, true)
    r.close()
    await redis.stop()
    const before = await redisRateLimiter.getStats()
    let calls = 0
    const t0 = Date.now()
    const call = (p) => {
      calls++
      return within(5000, p, 'a decision with Redis down')
    }

    for (let i = 0; i < 3; i++) {
      const res = await call(redisRateLimiter.limit(uid('down-allow'), { windowMs: 60_000, maxRequests: 2, onRedisError: 'allow' }))
      assert.equal(res.allowed, true, JSON.stringify(res))
      assert.equal('retryAfter' in res, false)
    }
    const allowId = uid('down-allow-same')
    for (let i = 0; i < 4; i++) {
      const res = await call(redisRateLimiter.limit(allowId, { windowMs: 60_000, maxRequests: 2, onRedisError: 'allow' }))
      assert.equal(res.allowed, true, `'allow' admits every call (${i + 1}) ${JSON.stringify(res)}`)
    }
    for (let i = 0; i < 2; i++) {
      const res = await call(redisRateLimiter.tokenBucket(uid('down-deny'), { windowMs: 60_000, maxRequests: 5, onRedisError: 'deny' }))
      assert.equal(res.allowed, false, JSON.stringify(res))
      assert.ok(Number.isInteger(res.retryAfter) && res.retryAfter >= 1 && res.retryAfter <= 60, JSON.stringify(res))
    }

    const N = 3
    for (const f of FLAVOURS) {
      const id = uid(`down-local-${f.suffix}`)
      const opts = { windowMs: HOUR, maxRequests: N }
      for (let i = 0; i < N; i++) {
        const res = await call(f.call(id, opts))
        checkResult(res, { total: N, windowMs: HOUR }, `${f.name} local ${i + 1}`)
        assert.deepEqual([res.allowed, res.remaining], [true, N - 1 - i], `${f.name}: local call ${i + 1}`)
      }
      const res = await call(f.call(id, opts))
      checkResult(res, { total: N, windowMs: HOUR }, `${f.name} local over the limit`)
      assert.equal(res.allowed, false, `${f.name}: the local limiter denies call ${N + 1}`)
      // Concurrency in-process is exact too.
      const id2 = uid(`down-local-par-${f.suffix}`)
      const par = await Promise.all(range(3 * N).map(() => call(f.call(id2, opts))))
      assert.equal(par.filter((x) => x.allowed).length, N, `${f.name}: exactly N of 3N concurrent local calls`)
    }
    const ms = Date.now() - t0
    assert.ok(ms < 15_000, `${calls} decisions with Redis down took ${ms} ms`)

    const after = await redisRateLimiter.getStats()
    assert.equal(after.fallbacks - before.fallbacks, calls, 'every decision without Redis is a fallback')
    assert.equal(after.allowed - before.allowed + (after.denied - before.denied), calls)
    assert.equal(after.denied - before.denied, 2 + FLAVOURS.length * (1 + 2 * N), 'denied: 2 by deny, per flavour 1 + 2N by the local limiter')
  })

  test('Redis back on the same port: decisions go back to Redis by themselves', async () => {
    assert.ok(port, 'the previous test recorded the port')
    redis = await startRedis({ port })
    r = await raw(port)
    const id = uid('back')
    const key = rlKey(id, 'sc')
    const deadline = Date.now() + 15_000
    let polls = 0
    for (;;) {
      polls++
      await within(5000, redisRateLimiter.limit(id, { windowMs: HOUR, maxRequests: 1_000_000 }), 'a decision while Redis comes back')
      if ((await r.cmd('EXISTS', key)) === 1) break
      assert.ok(Date.now() < deadline, `no decision reached Redis within 15 s of its restart (${polls} polls)`)
      await sleep(100)
    }

    // From now on Redis decides, exactly, and nothing falls back.
    await awayFromWindowEdge(HOUR)
    const before = await redisRateLimiter.getStats()
    const id2 = uid('back-exact')
    const N = 5
    const results = await Promise.all(range(3 * N).map(() => redisRateLimiter.limit(id2, { windowMs: HOUR, maxRequests: N })))
    assert.equal(results.filter((x) => x.allowed).length, N)
    assert.equal(String(await r.cmd('HGET', rlKey(id2, 'sc'), 'cur')), String(N), 'Redis counted the admitted calls')
    const after = await redisRateLimiter.getStats()
    assert.equal(after.fallbacks - before.fallbacks, 0, 'no fallbacks once Redis is back')
  })
})

describe('bounds (issue 19)', () => {
  test('a huge sliding-log cost is one member, and a refill rate too small to ever fill is refused', async () => {
    const id = uid('bulk')
    const res = await redisRateLimiter.limit(id, { windowMs: HOUR, maxRequests: 20_000_000, algorithm: 'sliding-log', cost: 10_000_000 })
    assert.deepEqual([res.allowed, res.remaining], [true, 10_000_000])
    assert.equal(await r.cmd('ZCOUNT', rlKey(id, 'sl'), '0', '+inf'), 1, 'one member, whatever the cost')
    await assert.rejects(
      redisRateLimiter.tokenBucket(uid('tiny'), { windowMs: HOUR, maxRequests: 5, refillRate: 1e-12 }),
      (e) => e.code === 'ERR_STRATACACHE_INVALID_ARGUMENT' && /refillRate is too small/.test(e.message),
    )
  })
})
