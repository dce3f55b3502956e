#!/usr/bin/env bash
# Runs ON the lent GPU machine (device tool), from the repository root, with .gpu/ carried
# (see scripts/prepare-gpu-check.sh). Rebuilds synthetic models of the real shapes, then
# measures the engine (pp512/tg128, end-of-generation ignored) and an LSP typing replay
# through `quill serve`. Results go to $OUT (or ./gpu-results).
set -uo pipefail
out=${OUT:-gpu-results}
mkdir -p "$out"
log() { echo "== $*" | tee -a "$out/summary.txt"; }
xz -dc .gpu/quill-cuda.xz > /tmp/quill && chmod +x /tmp/quill
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$out/summary.txt"
pip_np=$(python3 -c 'import numpy' 2>&1) || log "numpy missing: $pip_np"
for m in qwen2.5-coder-1.5b-instruct-q4_k_m qwen2.5-coder-0.5b-instruct-q4_k_m; do
  python3 .gpu/synth_gguf.py ".gpu/$m.header" "/tmp/$m.gguf" || { log "synth failed for $m"; continue; }
  log "engine $m"
  QUILL_LOG=quill=info /tmp/quill bench --engine-only --model "/tmp/$m.gguf" --repetitions 5 2>>"$out/engine-$m.log" | tee -a "$out/summary.txt"
  log "cold first + warm completions, $m (bench typing replay, synthetic text)"
  /tmp/quill bench --model "/tmp/$m.gguf" --cold-requests 3 2>>"$out/bench-$m.log" | tee -a "$out/summary.txt"
  log "LSP replay, $m"
  /tmp/quill bench --lsp --model "/tmp/$m.gguf" 2>>"$out/lsp-$m.log" | tee -a "$out/summary.txt"
  grep -h "model on the GPU\|GPU device" "$out"/*-"$m".log | head -3 | tee -a "$out/summary.txt"
done
nvidia-smi | tee -a "$out/summary.txt"
