#!/usr/bin/env bash
# Runs ON the lent GPU machine (device tool), from the repository root, with .gpu/ carried
# (see scripts/prepare-gpu-check.sh). Rebuilds synthetic models of the real shapes, then
# measures the engine (pp512/tg128, end-of-generation ignored), the in-process typing
# replay (cold and warm completions) and an LSP typing replay through `quill serve`, and
# checks the CPU fallback when no GPU is visible. Results go to $OUT (or ./gpu-results).
set -uo pipefail
out=${OUT:-gpu-results}
mkdir -p "$out"
log() { echo "== $*" | tee -a "$out/summary.txt"; }
xz -dc .gpu/quill-cuda.xz > /tmp/quill && chmod +x /tmp/quill
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
if ldd /tmp/quill | grep -q "not found"; then
  # cuBLAS from a Python wheel when the CUDA install has none.
  lib=$(find / -xdev -name 'libcublas.so.13' 2>/dev/null | head -1)
  [ -n "$lib" ] && export LD_LIBRARY_PATH="$(dirname "$lib"):$LD_LIBRARY_PATH"
fi
ldd /tmp/quill | grep -E "cu|not found" | tee -a "$out/summary.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$out/summary.txt"
/tmp/quill --version | tee -a "$out/summary.txt"
t() { timeout "$@"; local rc=$?; [ $rc -ne 0 ] && log "exit status $rc"; return 0; }
for m in qwen2.5-coder-1.5b-instruct-q4_k_m qwen2.5-coder-0.5b-instruct-q4_k_m; do
  python3 .gpu/synth_gguf.py ".gpu/$m.header" "/tmp/$m.gguf" >/dev/null || { log "synth failed for $m"; continue; }
  log "engine $m (pp512/tg128, all layers on the GPU)"
  QUILL_LOG=quill=info t 120 /tmp/quill bench --engine-only --model "/tmp/$m.gguf" --repetitions 5 2>>"$out/engine-$m.log" | tee -a "$out/summary.txt"
  grep -h "model on the GPU\|GPU device\|model loaded" "$out/engine-$m.log" | head -3 | tee -a "$out/summary.txt"
  log "typing replay in-process, $m: cold and warm completions (synthetic text)"
  t 180 /tmp/quill bench --model "/tmp/$m.gguf" --cold-requests 5 2>>"$out/bench-$m.log" | tee -a "$out/summary.txt"
  log "LSP replay through quill serve, $m"
  t 180 /tmp/quill bench --lsp --model "/tmp/$m.gguf" 2>>"$out/lsp-$m.log" | tee -a "$out/summary.txt"
  # Noise rarely stops early: cap generation at 16 tokens, about what the real 0.5B model
  # generates per completion in the same replay on a CPU (15.3), for latencies a user sees.
  log "typing replay in-process, $m, at most 16 generated tokens"
  t 180 /tmp/quill bench --model "/tmp/$m.gguf" --cold-requests 5 --max-tokens 16 2>>"$out/bench-$m.log" | tee -a "$out/summary.txt"
  log "LSP replay through quill serve, $m, at most 16 generated tokens"
  t 180 /tmp/quill bench --lsp --model "/tmp/$m.gguf" --max-tokens 16 2>>"$out/lsp-$m.log" | tee -a "$out/summary.txt"
done
log "no GPU visible (CUDA_VISIBLE_DEVICES=''): warning and CPU fallback expected"
m=qwen2.5-coder-0.5b-instruct-q4_k_m
printf 'def add(a, b):\n    return ' > /tmp/fallback.py
CUDA_VISIBLE_DEVICES= QUILL_LOG=quill=info t 120 /tmp/quill complete --json --model "/tmp/$m.gguf" --threads 8 /tmp/fallback.py:2 2>"$out/fallback.log" | head -c 300 | tee -a "$out/summary.txt"
echo | tee -a "$out/summary.txt"
grep -h "WARN\|gpu_layers\|GPU" "$out/fallback.log" | head -5 | tee -a "$out/summary.txt"
nvidia-smi | tee -a "$out/summary.txt"
