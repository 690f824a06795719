#!/usr/bin/env bash
# Start the Next.js example (`next start`) in the foreground on $PORT (default 3000) with $REDIS_URL (default
# redis://127.0.0.1:6379). Idempotent: builds this repository's npm package if it is not built (a release
# build, a few minutes, once), installs Next.js and links stratacache from this repository ("file:../.."),
# and runs `next build` when the app changed since the last build. Later runs go straight to `next start`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ ! -f "$repo/dist/index.js" ] || ! ls "$repo"/bindings-node/*.node >/dev/null 2>&1; then
  echo "start.sh: building the stratacache package in $repo (release)" >&2
  (cd "$repo" && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent build)
fi
cd "$here"
# stratacache is installed as a copy (.npmrc: install-links), as from a registry or a tarball: Next.js keeps a
# package in node_modules out of the bundle (serverExternalPackages), not a symlink into the repository.
if [ -f node_modules/stratacache/dist/index.js ] && [ "$repo/dist/index.js" -nt node_modules/stratacache/dist/index.js ]; then
  rm -rf node_modules/stratacache
fi
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ] || [ ! -d node_modules/stratacache ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export NEXT_TELEMETRY_DISABLED=1
if [ ! -f .next/BUILD_ID ] || [ -n "$(find app lib public instrumentation.ts next.config.mjs package.json "$repo/dist" -newer .next/BUILD_ID 2>/dev/null | head -1)" ]; then
  echo "start.sh: next build" >&2
  npx --no-install next build >&2
fi
exec npx --no-install next start --hostname "${HOST:-127.0.0.1}" --port "${PORT:-3000}"
