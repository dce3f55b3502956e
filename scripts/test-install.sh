#!/usr/bin/env bash
# Tests scripts/install.sh end to end against the release folder scripts/release.sh wrote
# (dist/ by default), into temporary folders: served over HTTP the way docs/install.md's
# `curl … | sh` line runs it, as a plain path, as a file:// archive URL; a tampered archive
# and an unlisted version must install nothing. Then runs the installed quill (a
# completion when the 0.5B model is present).
#
#   scripts/test-install.sh [RELEASE-FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
rel=$(realpath "${1:-dist}")
[ -f "$rel/SHA256SUMS" ] || { echo "no $rel/SHA256SUMS: run scripts/release.sh first" >&2; exit 1; }
tmp=$(mktemp -d)
server=
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
ok() { echo "PASS  $*"; pass=$((pass + 1)); }
fail() { echo "FAIL  $*" >&2; exit 1; }

# 1. Over HTTP, as `curl -fsSL URL/install.sh | sh` (dash, Debian's sh).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$rel" >"$tmp/http.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/SHA256SUMS" >/dev/null 2>&1 && break; sleep 0.1; done
url=http://127.0.0.1:$port
curl -fsSL "$url/install.sh" | QUILL_RELEASE_URL=$url QUILL_INSTALL_DIR=$tmp/http/bin sh 2>"$tmp/http.out" ||
  { cat "$tmp/http.out" >&2; fail "install over HTTP"; }
"$tmp/http/bin/quill" --version | grep -q '^quill ' || fail "the installed quill runs"
grep -q 'sha256 ok' "$tmp/http.out" && grep -q 'quill models pull' "$tmp/http.out" || fail "install output"
ok "curl $url/install.sh | sh  → $tmp/http/bin/quill ($("$tmp/http/bin/quill" --version))"

# 2. A plain folder path, and 3. a file:// URL of one archive.
archive=$(awk '$2 ~ /^quill-.*-x86_64-linux\.tar\.gz$/ { print $2 }' "$rel/SHA256SUMS" | sort -V | tail -1)
[ "$(uname -m)" = x86_64 ] || archive=$(awk '$2 ~ /^quill-.*-aarch64-linux\.tar\.gz$/ { print $2 }' "$rel/SHA256SUMS" | sort -V | tail -1)
QUILL_INSTALL_DIR=$tmp/path/bin sh scripts/install.sh "$rel" 2>/dev/null && [ -x "$tmp/path/bin/quill" ] || fail "install from a folder path"
ok "install.sh $rel"
QUILL_INSTALL_DIR=$tmp/file/bin sh scripts/install.sh "file://$rel/$archive" 2>/dev/null && [ -x "$tmp/file/bin/quill" ] || fail "install from file://"
cmp -s "$tmp/path/bin/quill" "$tmp/file/bin/quill" || fail "the same binary either way"
ok "install.sh file://$rel/$archive"

# 4. A tampered archive is refused and installs nothing; 5. so is an unlisted version.
mkdir "$tmp/bad"
cp "$rel/SHA256SUMS" "$tmp/bad/"
cp "$rel/$archive" "$tmp/bad/"
printf 'x' | dd of="$tmp/bad/$archive" bs=1 seek=1000 conv=notrunc 2>/dev/null
if QUILL_INSTALL_DIR=$tmp/bad/bin sh scripts/install.sh "$tmp/bad" 2>"$tmp/bad.out"; then fail "a tampered archive was installed"; fi
grep -q 'checksum mismatch' "$tmp/bad.out" && [ ! -e "$tmp/bad/bin/quill" ] || { cat "$tmp/bad.out" >&2; fail "tampered archive"; }
ok "a tampered archive: $(tail -1 "$tmp/bad.out")"
if QUILL_VERSION=9.9.9 QUILL_INSTALL_DIR=$tmp/none/bin sh scripts/install.sh "$rel" 2>"$tmp/none.out"; then fail "an unlisted version was installed"; fi
[ ! -e "$tmp/none/bin/quill" ] || fail "unlisted version"
ok "an unlisted version: $(tail -1 "$tmp/none.out")"

# 6. The installed binary completes code (with the 0.5B model, if it is here).
model=qwen2.5-coder-0.5b-instruct-q4_k_m
if [ -f "$("$tmp/http/bin/quill" models path "$model" 2>/dev/null || echo /nonexistent)" ]; then
  printf 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    \n' >"$tmp/fib.py"
  out=$("$tmp/http/bin/quill" complete "$tmp/fib.py:3:5" --model "$model" --threads 2 2>/dev/null)
  [ -n "$out" ] || fail "empty completion"
  printf '%s\n' "$out" | sed 's/^/      /'
  ok "the installed quill completes with $model"
else
  echo "SKIP  completion ($model not downloaded)"
fi
echo "$pass passed"
