#!/usr/bin/env bash
# The VS Code extension: unit tests, then the end-to-end tests in code-server. Installs
# what it needs (apt: chromium, libkrb5-dev; npm: the extension's locked dependencies;
# code-server and node 24 into ~/.cache/mlr-vscode-e2e, reused by later runs).
# Ends with "N passed, N failed, N skipped" and exits non-zero when anything failed.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log_dir="$(mktemp -d)"
passed=0 failed=0 skipped=0

count() { # count TAP results of node's test runner in file $1
  local p f s
  p=$(grep -E '^# pass ' "$1" | awk '{s+=$3} END {print s+0}')
  f=$(grep -E '^# fail ' "$1" | awk '{s+=$3} END {print s+0}')
  s=$(grep -E '^# skipped ' "$1" | awk '{s+=$3} END {print s+0}')
  passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
}

finish() {
  echo "$passed passed, $failed failed, $skipped skipped"
  [[ $failed -eq 0 && ${1:-0} -eq 0 ]]
  exit $?
}

if ! command -v chromium >/dev/null || ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libkrb5-dev >/dev/null || {
    echo "apt-get install chromium libkrb5-dev failed" >&2
    failed=$((failed + 1))
    finish 1
  }
fi

cd "$repo/client-vscode"
if ! npm ci --no-audit --no-fund --loglevel=error; then
  echo "npm ci failed in client-vscode" >&2
  failed=$((failed + 1))
  finish 1
fi

if ! npm run --silent package >"$log_dir/package.log" 2>&1; then
  cat "$log_dir/package.log" >&2
  echo "building the .vsix failed" >&2
  failed=$((failed + 1))
  finish 1
fi

npm test 2>&1 | grep -v "Unknown .*config" | tee "$log_dir/unit.log"
unit_status=${PIPESTATUS[0]}
count "$log_dir/unit.log"

MLR_E2E_VSIX="$repo/client-vscode/dist/mlr-copilot.vsix" bash "$repo/scripts/e2e-vscode.sh" 2>&1 | tee "$log_dir/e2e.log"
e2e_status=${PIPESTATUS[0]}
count "$log_dir/e2e.log"
if [[ $e2e_status -ne 0 ]] && ! grep -qE '^# fail [1-9]' "$log_dir/e2e.log"; then
  echo "the end-to-end run failed before its tests reported" >&2
  failed=$((failed + 1))
fi

finish $(( unit_status | e2e_status ))
