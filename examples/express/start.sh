#!/usr/bin/env bash
# Start the Express example in the foreground on $PORT (default 3000) with $REDIS_URL (default
# redis://127.0.0.1:6379). Idempotent: installs express, cookie-parser and sql.js, and links stratacache from
# this repository (package.json: "file:../.."); builds the repository's package first if it is not built
# (`npm run build` there: a release build, a few minutes). Later runs install nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ ! -f "$repo/dist/index.js" ] || ! ls "$repo"/bindings-node/*.node >/dev/null 2>&1; then
  echo "start.sh: building the stratacache package in $repo (release)" >&2
  (cd "$repo" && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent build)
fi
cd "$here"
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export PORT="${PORT:-3000}"
exec node server.mjs
