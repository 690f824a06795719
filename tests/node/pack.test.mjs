// The package as users get it: `npm pack` the repo, install the tarball into a fresh project, and use it
// from CommonJS, ESM and TypeScript against a throwaway redis-server.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describeRun, raw, REPO_ROOT, run, runNode, startRedis, uniqueNamespace } from './support.mjs'

const ns = uniqueNamespace('pack')
let redis
let work // temp folder: the tarball and the consumer project
let consumer
let packed // npm pack --json output for the tarball
let tarball

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'stratacache-pack-'))
  const [server, pack] = await Promise.all([
    startRedis(),
    run('npm', ['pack', '--json', '--pack-destination', work], { cwd: REPO_ROOT, timeoutMs: 60_000 }),
  ])
  redis = server
  assert.equal(pack.code, 0, describeRun(pack))
  packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0]
  tarball = path.join(work, packed.filename)
  assert.ok(fs.existsSync(tarball), `tarball ${tarball}`)

  consumer = path.join(work, 'consumer')
  fs.mkdirSync(consumer)
  fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  // The package has no runtime dependencies, so an offline install should do; fall back to a normal one.
  let install = await run('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], { cwd: consumer, timeoutMs: 60_000 })
  if (install.code !== 0) {
    install = await run('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: consumer, timeoutMs: 90_000 })
  }
  assert.equal(install.code, 0, describeRun(install))
})

/** The section names of an ELF64 little-endian file (the addon), read from its section headers. */
function elfSectionNames(buf) {
  assert.equal(buf.readUInt32BE(0), 0x7f454c46, 'not an ELF file')
  const shoff = Number(buf.readBigUInt64LE(0x28))
  const shentsize = buf.readUInt16LE(0x3a)
  const shnum = buf.readUInt16LE(0x3c)
  const shstrndx = buf.readUInt16LE(0x3e)
  const header = (i) => shoff + i * shentsize
  const strtab = Number(buf.readBigUInt64LE(header(shstrndx) + 0x18))
  const names = []
  for (let i = 0; i < shnum; i++) {
    const start = strtab + buf.readUInt32LE(header(i))
    names.push(buf.toString('latin1', start, buf.indexOf(0, start)))
  }
  return names
}

after(async () => {
  await redis?.stop()
  if (work) fs.rmSync(work, { recursive: true, force: true })
})

describe('tarball contents', () => {
  test('ships the native addon, the JS entry points, the typings and the loader', () => {
    const files = packed.files.map((f) => f.path)
    for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'bindings-node/native.cjs', 'package.json']) {
      assert.ok(files.includes(f), `${f} missing from the tarball: ${files.join(', ')}`)
    }
    assert.ok(files.some((f) => /^bindings-node\/[^/]+\.node$/.test(f)), 'the .node addon is in the tarball')
    // Every relative file the typings and entry points refer to is shipped.
    for (const f of files.filter((x) => /^dist\/.*\.(js|d\.ts)$/.test(x))) {
      const text = fs.readFileSync(path.join(REPO_ROOT, f), 'utf8')
      for (const m of text.matchAll(/(?:from |require\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1]))
        const candidates = [target, `${target}.js`, `${target}.d.ts`, `${target}.cjs`]
        assert.ok(candidates.some((c) => files.includes(c)), `${f} refers to ${m[1]}, which is not shipped`)
      }
    }
  })

  test('the addon is a release build: under 10 MB, no debug sections, no symbol table', () => {
    const addon = packed.files.find((f) => /^bindings-node\/[^/]+\.node$/.test(f.path))
    assert.ok(addon, 'an addon is shipped')
    assert.ok(addon.size < 10 * 1024 * 1024, `the addon is ${(addon.size / 1048576).toFixed(1)} MB (a debug build is ~85 MB)`)
    const installed = path.join(consumer, 'node_modules', 'stratacache', addon.path)
    const names = elfSectionNames(fs.readFileSync(installed))
    assert.ok(names.includes('.text'), `not an ELF shared object with code: ${names.join(' ')}`)
    assert.deepEqual(names.filter((n) => n.startsWith('.debug') || n === '.symtab'), [], 'debug info or a symbol table was shipped')
  })

  test('the per-platform package (npm/<platform>, napi prepublish) matches the addon the loader asks for', () => {
    const root = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'))
    const dir = path.join(REPO_ROOT, 'npm', 'linux-x64-gnu')
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    const file = `${root.napi.binaryName}.linux-x64-gnu.node`
    assert.equal(pkg.name, `${root.name}-linux-x64-gnu`)
    assert.equal(pkg.version, root.version, 'the platform package is versioned with the root package')
    assert.deepEqual([pkg.main, pkg.files, pkg.os, pkg.cpu, pkg.libc], [file, [file], ['linux'], ['x64'], ['glibc']])
    const loader = fs.readFileSync(path.join(REPO_ROOT, 'bindings-node', 'native.cjs'), 'utf8')
    assert.ok(loader.includes(`./${file}`) && loader.includes(`'${pkg.name}'`), 'native.cjs loads the local addon, then the platform package')
    assert.ok(packed.files.some((f) => f.path === `bindings-node/${file}`), 'the tarball carries the same file')
    assert.equal(root.scripts.prepack, 'npm run build', 'npm pack builds what it packs')
    assert.match(root.scripts['build:native'], /--release/, 'npm run build makes a release build')
  })

  test('does not ship build output, dependencies or sources', () => {
    const files = packed.files.map((f) => f.path)
    const bad = files.filter((f) => /^(target|node_modules|core|bindings-python|tests|benchmarks|\.venv)\//.test(f) || f.includes('/node_modules/') || f.endsWith('.rs'))
    assert.deepEqual(bad, [])
  })
})

describe('installed from the tarball', () => {
  const script = (kind) => `
    ${kind === 'cjs' ? "const sc = require('stratacache')" : "import * as sc from 'stratacache'"}
    ;(async () => {
      const dynamic = await import('stratacache')
      if (dynamic.cacheManager !== sc.cacheManager) throw new Error('import() gave another singleton')
      sc.createRedisClient({ host: '127.0.0.1', port: ${redis.port}, namespace: ${JSON.stringify(ns)} })
      await sc.cacheManager.set('pack:${kind}', { from: '${kind}', n: [1, 2, 3] }, { ttl: 60 })
      console.log(JSON.stringify(await sc.cacheManager.get('pack:${kind}')))
      await sc.shutdownCacheSystem()
    })().catch((e) => { console.error(e); process.exitCode = 1 })
  `

  test('the installed package is a copy from the tarball, not a link to the repo', () => {
    const installed = path.join(consumer, 'node_modules', 'stratacache')
    assert.equal(fs.lstatSync(installed).isSymbolicLink(), false)
    assert.ok(fs.existsSync(path.join(installed, 'dist', 'index.js')))
    assert.equal(fs.existsSync(path.join(installed, 'core')), false)
  })

  for (const [kind, file] of [
    ['cjs', 'use.cjs'],
    ['esm', 'use.mjs'],
  ]) {
    test(`${kind === 'cjs' ? "require('stratacache')" : "import 'stratacache'"} (and import()): set/get against Redis, shut down, exit 0`, async () => {
      const f = path.join(consumer, file)
      fs.writeFileSync(f, script(kind))
      const res = await runNode(f, { timeoutMs: 15_000 })
      assert.equal(res.timedOut, false, describeRun(res))
      assert.equal(res.code, 0, describeRun(res))
      assert.deepEqual(JSON.parse(res.stdout.trim()), { from: kind, n: [1, 2, 3] })
      const r = await raw(redis.port)
      try {
        assert.equal(await r.cmd('EXISTS', `${ns}:d:pack:${kind}`), 1, 'the value reached Redis')
      } finally {
        r.close()
      }
    })
  }

  test('TypeScript resolves the installed typings through the exports map (node16, CJS and ESM)', async () => {
    fs.writeFileSync(
      path.join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'ES2022', strict: true, noEmit: true, types: [], lib: ['ES2022'] },
        files: ['check.mts', 'check.cts'],
      }),
    )
    fs.writeFileSync(
      path.join(consumer, 'check.mts'),
      `import { cacheManager, initializeCacheSystem } from 'stratacache'
       const init: { redis: 'connected' | 'degraded' } = await initializeCacheSystem()
       const v: string | null = await cacheManager.get<string>('k')
       // @ts-expect-error the typings are real, not any
       const n: number = await cacheManager.get<string>('k')
       export { init, v, n }
      `,
    )
    fs.writeFileSync(
      path.join(consumer, 'check.cts'),
      `import sc = require('stratacache')
       export async function f(): Promise<Map<string, number | null>> {
         return sc.cacheManager.mget<number>(['a'])
       }
      `,
    )
    const res = await run(path.join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--pretty', 'false'], { cwd: consumer, timeoutMs: 30_000 })
    assert.equal(res.code, 0, describeRun(res))
  })
})
