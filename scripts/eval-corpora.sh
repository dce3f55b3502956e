#!/usr/bin/env bash
# Source trees for `quill eval` in the languages without a default source, from the
# registries, pinned by version: npm packages published in 2025-2026 (after the models'
# training data) with Kotlin, Java, Swift and TypeScript sources, and llama.cpp's C and
# C++ from the llama-cpp-sys-2 crate the build already fetched. Unpacked once into
# ~/.cache/quill/corpora/NAME; prints the folder to pass as --source.
#
#   scripts/eval-corpora.sh            # fetch all, print the root
#   quill eval --language kotlin --source "$(scripts/eval-corpora.sh)/mobile" …
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/quill/corpora
mkdir -p "$ROOT"
# Android and iOS sources of React Native and Capacitor plugins (Kotlin, Java, Swift) and
# their TypeScript.
MOBILE=(react-native-screens@4.30.1 expo-camera@58.0.10 react-native-gesture-handler@3.5.0
        @capacitor/android@8.6.0 @capacitor/ios@8.6.0 @capacitor/camera@8.2.4)
if [ ! -f "$ROOT/mobile/.complete" ]; then
  rm -rf "$ROOT/mobile" "$ROOT/.mobile-staging"
  mkdir -p "$ROOT/.mobile-staging"
  for p in "${MOBILE[@]}"; do
    tgz=$(cd "$ROOT/.mobile-staging" && npm pack "$p" --silent)
    dir="$ROOT/.mobile-staging/${tgz%.tgz}"
    mkdir -p "$dir" && tar xzf "$ROOT/.mobile-staging/$tgz" -C "$dir" && rm "$ROOT/.mobile-staging/$tgz"
  done
  touch "$ROOT/.mobile-staging/.complete"
  mv "$ROOT/.mobile-staging" "$ROOT/mobile"
fi
# llama.cpp (C and C++), as vendored by the llama-cpp-sys-2 crate in Cargo.lock.
ver=$(awk '/^name = "llama-cpp-sys-2"/{getline; print $3}' Cargo.lock | tr -d '"')
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-"$ver" 2>/dev/null | head -1)
if [ -n "$src" ] && [ ! -e "$ROOT/llama.cpp" ]; then
  ln -s "$src/llama.cpp" "$ROOT/llama.cpp"
fi
echo "$ROOT"
