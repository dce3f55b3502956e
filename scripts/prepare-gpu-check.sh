#!/usr/bin/env bash
# Prepares .gpu/, the folder a GPU check carries to the lent GPU machine (run
# scripts/build-cuda.sh first): the compressed CUDA binary, the 6 MB headers of the real
# models (weights cannot travel; the machine rebuilds files of the same shape), the script
# that rebuilds them, and the benchmark inputs.
#
#   scripts/prepare-gpu-check.sh ../shared/tools/synth_gguf.py
set -euo pipefail
cd "$(dirname "$0")/.."
synth=${1:-../shared/tools/synth_gguf.py}
[ -f dist/quill-cuda.xz ] || { echo "run scripts/build-cuda.sh first" >&2; exit 1; }
[ -f "$synth" ] || { echo "synth_gguf.py not found at $synth" >&2; exit 1; }
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu
cp dist/quill-cuda.xz "$synth" .gpu/
for m in qwen2.5-coder-1.5b-instruct-q4_k_m qwen2.5-coder-0.5b-instruct-q4_k_m; do
  python3 "$synth" --header "$(target/debug/quill models path "$m" 2>/dev/null || ./target/release/quill models path "$m")" ".gpu/$m.header"
done
du -sh .gpu
echo "now: device run, carry [\".gpu\"], command: bash scripts/gpu-check.sh"
