#!/usr/bin/env bash
# The test command: lint (ruff) and types (mypy, strict; settings in pyproject.toml), the
# Python suite (unit and end-to-end through a real LSP client, git, PDFs and, where an engine
# answers, Docker), then the VS Code extension's unit tests and its end-to-end tests in
# code-server (.ci/vscode.sh installs what those need on first use). Lint and types that are
# not clean count as one failure each. MLR_SKIP_VSCODE=1 runs the Python side only. Extra
# arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
log_dir="$(mktemp -d)"

lint_failed=0
check() {  # one static check: its output, and one failure when it is not clean
  echo "== $*"
  if ! python -m "$@"; then
    echo "$* is not clean (or could not run): counted as one failure"
    lint_failed=$((lint_failed + 1))
  fi
}
check ruff check server tests bench
check mypy

# -rs: every skipped test prints its reason (no engine, no network, ...)
python -m pytest -q -rs -p no:cacheprovider "$@" 2>&1 | tee "$log_dir/pytest.log"
py_status=${PIPESTATUS[0]}
summary=$(grep -E "^=*.*(passed|failed|error|skipped).* in [0-9.]+s" "$log_dir/pytest.log" | tail -n 1)
count() { echo "$summary" | grep -oE "[0-9]+ $1" | awk '{s+=$1} END {print s+0}'; }
passed=$(count passed) failed=$(( $(count failed) + $(count error) )) skipped=$(count skipped)
if [[ $py_status -ne 0 && $failed -eq 0 ]]; then
  failed=1  # pytest stopped before reporting (or ran no test)
fi

vs_status=0
if [[ "${MLR_SKIP_VSCODE:-0}" != "1" ]]; then
  bash .ci/vscode.sh 2>&1 | tee "$log_dir/vscode.log"
  vs_status=${PIPESTATUS[0]}
  line=$(grep -E "^[0-9]+ passed, [0-9]+ failed" "$log_dir/vscode.log" | tail -n 1)
  passed=$(( passed + $(echo "$line" | awk '{print $1+0}') ))
  failed=$(( failed + $(echo "$line" | awk '{print $3+0}') ))
  skipped=$(( skipped + $(echo "$line" | awk '{print $5+0}') ))
  if [[ $vs_status -ne 0 && -z "$line" ]]; then failed=$((failed + 1)); fi
fi

failed=$((failed + lint_failed))
echo "$passed passed, $failed failed, $skipped skipped"
[[ $py_status -eq 0 && $vs_status -eq 0 && $lint_failed -eq 0 ]]
