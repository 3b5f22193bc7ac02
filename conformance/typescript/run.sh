#!/usr/bin/env bash
# The TypeScript-SDK check (called by conformance/run.py with the engine's port): v3 and v4, each with its defaults.
set -euo pipefail
cd "$(dirname "$0")"
port="$1"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.lock-copy; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.lock-copy
fi
status=0
for version in v3 v4; do
  timeout 300 node check.mjs "$version" "$port" || status=1
done
exit "$status"
