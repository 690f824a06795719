// The shipped typings (dist/*.d.ts) against the usage guide: its Initialization, Basic Operations,
// Cache Patterns and Invalidation examples must compile under `tsc --strict` through `@/lib/cache/redis-cache`, and a list of misuses
// must stay type errors (an unused `@ts-expect-error` fails the check when the typings get too loose).
import { before, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { describeRun, REPO_ROOT, run } from './support.mjs'

const TYPES = path.join(REPO_ROOT, 'tests', 'node', 'types')
const TSC = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsc')
let result

before(async () => {
  result = await run(TSC, ['--strict', '--noEmit', '--pretty', 'false', '--listFiles', '-p', path.join(TYPES, 'tsconfig.json')], {
    cwd: REPO_ROOT,
    timeoutMs: 30_000,
  })
  assert.equal(result.timedOut, false, describeRun(result))
})

/** tsc diagnostics (lines `file(line,col): error TS…`) for one file. */
const diagnostics = (file) => result.stdout.split('\n').filter((l) => l.includes(`${file}(`) && /error TS\d+/.test(l))

test('tsc checked the guide examples against the built typings in dist/', () => {
  const files = result.stdout.split('\n').map((l) => path.resolve(l.trim()))
  for (const f of ['tests/node/types/guide-examples.ts', 'tests/node/types/misuse.ts', 'dist/index.d.ts', 'dist/cache-manager.d.ts', 'dist/patterns.d.ts', 'dist/invalidator.d.ts', 'tests/node/types/guide-rate-limiting.ts', 'tests/node/types/guide-monitoring.ts', 'dist/monitor.d.ts', 'tests/node/types/guide-warming.ts', 'dist/warming.d.ts', 'tests/node/types/misuse-rate-limiting.ts', 'dist/ratelimit.d.ts']) {
    assert.ok(files.includes(path.join(REPO_ROOT, f)), `${f} is part of the check\n${describeRun(result)}`)
  }
})

test("the guide's Initialization, Basic Operations, Cache Patterns, Invalidation and Rate Limiting examples compile under --strict", () => {
  assert.deepEqual(diagnostics('guide-examples.ts'), [], describeRun(result))
  assert.deepEqual(diagnostics('guide-rate-limiting.ts'), [], describeRun(result))
  assert.deepEqual(diagnostics('guide-monitoring.ts'), [], describeRun(result))
  assert.deepEqual(diagnostics('guide-warming.ts'), [], describeRun(result))
  assert.deepEqual(diagnostics('redis-cache.ts'), [])
  assert.deepEqual(result.stdout.split('\n').filter((l) => /dist[\\/].*error TS/.test(l)), [], 'the shipped .d.ts files themselves type-check')
})

test('misuses stay type errors (every @ts-expect-error is used)', () => {
  const source = fs.readFileSync(path.join(TYPES, 'misuse.ts'), 'utf8')
  assert.ok((source.match(/@ts-expect-error/g) ?? []).length >= 10)
  assert.deepEqual(diagnostics('misuse.ts'), [], describeRun(result))
  const rl = fs.readFileSync(path.join(TYPES, 'misuse-rate-limiting.ts'), 'utf8')
  assert.ok((rl.match(/@ts-expect-error/g) ?? []).length >= 20)
  assert.deepEqual(diagnostics('misuse-rate-limiting.ts'), [], describeRun(result))
})

test('tsc exits 0 with no diagnostics at all', () => {
  assert.equal(result.code, 0, describeRun(result))
  assert.deepEqual(result.stdout.split('\n').filter((l) => /error TS\d+/.test(l)), [])
})
