#!/usr/bin/env bash
# Start the FastAPI example in the foreground on $PORT (default 8000) with $REDIS_URL (default
# redis://127.0.0.1:6379). Idempotent: the first run makes .venv here, installs FastAPI and uvicorn, and
# installs stratacache from this repository (the wheel in $STRATACACHE_WHEEL, else the newest one the repo
# built in target/wheels or target/dist, else it builds one: a release build, a few minutes); later runs
# reinstall only what changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f .venv/.requirements ] || ! cmp -s requirements.txt .venv/.requirements; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/.requirements
fi

wheel="${STRATACACHE_WHEEL:-}"
if [ -z "$wheel" ]; then
  wheel="$(ls -t "$repo"/target/wheels/stratacache-*.whl "$repo"/target/dist/stratacache-*.whl 2>/dev/null | head -1 || true)"
fi
if [ -z "$wheel" ]; then
  echo "start.sh: building the stratacache wheel from $repo (release; needs a Rust toolchain)" >&2
  .venv/bin/pip wheel -q --disable-pip-version-check --no-deps -w .wheels "$repo"
  wheel="$(ls -t .wheels/stratacache-*.whl | head -1)"
fi
stamp="$(sha256sum "$wheel" | cut -d' ' -f1)"
if [ ! -f .venv/.stratacache ] || [ "$(cat .venv/.stratacache)" != "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "$stamp" > .venv/.stratacache
fi

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
exec .venv/bin/uvicorn app:app --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" --log-level warning
