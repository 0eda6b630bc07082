#!/usr/bin/env bash
# Install the Node.js tools the test suite uses (official Teams manifest schema and Adaptive
# Cards renderer under tests/node/, the Agents Playground end-to-end kit under e2e/), from
# the npm registry, once per change of their lock files. Needs node and npm; without them
# the tests that use these tools report themselves skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  echo "npm not found: the Node.js checks (manifest, cards, end to end) will be skipped" >&2
  exit 0
fi
for dir in tests/node e2e; do
  [ -f "$dir/package.json" ] || continue
  lock="$dir/package-lock.json"
  want=$(cat "$dir/package.json" "$lock" 2>/dev/null | sha256sum | cut -d' ' -f1)
  stamp="$dir/node_modules/.installed.sha"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing Node.js packages in $dir" >&2
    if [ -f "$lock" ]; then
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    else
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
    fi
    want=$(cat "$dir/package.json" "$lock" 2>/dev/null | sha256sum | cut -d' ' -f1)
    echo "$want" > "$stamp"
  fi
done
