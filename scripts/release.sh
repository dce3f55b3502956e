#!/usr/bin/env bash
# Builds portable quill release archives, with checksums, into dist/:
#
#   scripts/release.sh                  # x86-64 Linux (x86-64-v3: AVX2/FMA/F16C, no AVX-512)
#   scripts/release.sh arm64            # aarch64 Linux, cross-built (armv8-a baseline; ~25 min on 2 cores)
#   scripts/release.sh x86_64 arm64 cuda   # several; `cuda` runs scripts/build-cuda.sh (~20 min)
#   QUILL_SKIP_SMOKE=1 scripts/release.sh  # skip the completion check (needs no model then)
#
# Result: dist/quill-<version>-<arch>-linux[-cuda].tar.gz, each holding
# quill-<version>-<arch>-linux[-cuda]/{quill,README.md,LICENSE}, and dist/SHA256SUMS over
# every archive of this version in dist/. scripts/install.sh downloads and checks them.
# Publishing (a GitHub release with these files) is done by hand, not by this script.
#
# Portability: Rust and llama.cpp/ggml are compiled for a fixed CPU level, never `native`
# (RUSTFLAGS overrides the `target-cpu=native` of .cargo/config.toml; llama-cpp-sys-2 then
# turns GGML_NATIVE off and passes the same -march plus GGML_AVX2/FMA/F16C/BMI2 to CMake).
# ggml's AMX kernels stay off as in every build (CMAKE_PROJECT_INCLUDE in .cargo/config.toml).
# OpenMP is linked statically (llama-cpp-2's static-openmp feature): libgomp is not on
# every machine. libstdc++ stays shared: it is on every Debian/Ubuntu (apt needs it), and a
# static one would call glibc 2.36's arc4random. The binary needs glibc 2.34 and
# libstdc++ of GCC 11 or newer (checked below: Debian 12, Ubuntu 22.04, RHEL 9 and later).
# Builds go to target/dist/<triple>, a target dir away from the dev builds.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64)
features=llama-cpp-2/static-openmp
# The newest symbol versions the binaries may need (docs/install.md's promise).
max_glibc=${QUILL_MAX_GLIBC:-2.34}
max_glibcxx=${QUILL_MAX_GLIBCXX:-3.4.29}
mkdir -p dist

# AVX-512 (zmm, ymm/xmm16-31, opmask registers) and AMX (tile) instructions, by function.
# Prints the functions that use them and fails unless each is a run-time-dispatched
# variant: named for AVX-512 (Rust `#[target_feature]` functions called only after
# `is_x86_feature_detected!`, e.g. crc32fast's calculate_avx512) or ring's CPUID-dispatched
# assembly. ggml and llama.cpp code must have none.
check_no_avx512() {
  local bin=$1 hits
  hits=$(objdump -d --no-show-raw-insn "$bin" | awk '
    /^[0-9a-f]+ <.*>:$/ { fn = $2; next }
    /%zmm|%[xy]mm(1[6-9]|2[0-9]|3[01])\>|%k[0-7]\>|tmm[0-7]|ldtilecfg|tileload|tdpb/ { n[fn]++ }
    END { for (f in n) print n[f], f }' | sort -rn)
  if [ -z "$hits" ]; then
    say "no AVX-512 or AMX instructions in $bin"
    return 0
  fi
  local bad
  bad=$(grep -Eiv '<(ring_core_[0-9a-z_]*(aes|gcm|chacha|poly1305|ecp_nistz256|x25519)[a-z0-9_]*|[^>]*avx512[^>]*)>:?$' <<<"$hits" || true)
  echo "AVX-512/AMX instructions only in run-time-dispatched functions:" >&2
  sed 's/^/    /' <<<"$hits" | head -20 >&2
  if [ -n "$bad" ]; then
    echo "AVX-512/AMX instructions in functions that do not dispatch at run time:" >&2
    sed 's/^/    /' <<<"$bad" >&2
    return 1
  fi
}

# The flags CMake compiled ggml's CPU back-end with: the -march asked for, AMX off, no
# -march=native.
check_ggml_flags() {
  local dir=$1 march=$2 flags
  flags=$(find "$dir" -path '*/ggml-cpu.dir/flags.make' | head -1)
  [ -n "$flags" ] || { echo "no ggml-cpu flags.make under $dir" >&2; return 1; }
  grep -E '^(C|CXX)_FLAGS' "$flags" | sed 's/^/    /' >&2
  if grep -q -- '-march=native' "$flags"; then
    echo "ggml-cpu was built with -march=native" >&2
    return 1
  fi
  if [ -n "$march" ] && ! grep -q -- "-march=$march" "$flags"; then
    echo "ggml-cpu was not built with -march=$march" >&2
    return 1
  fi
}

# The shared libraries and the newest glibc/libstdc++ symbol versions the binary needs;
# fails when those are newer than max_glibc/max_glibcxx.
check_needs() {
  local bin=$1 objdump=${2:-objdump} glibc glibcxx
  glibc=$("$objdump" -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
  glibcxx=$("$objdump" -T "$bin" | grep -o 'GLIBCXX_[0-9.]*' | sort -Vu | tail -1)
  say "needs ${glibc:-no glibc version} and ${glibcxx:-no libstdc++ version}; shared libraries: $("$objdump" -p "$bin" | awk '/NEEDED/ {printf "%s ", $2}')"
  if [ "$(printf '%s\n' "GLIBC_$max_glibc" "$glibc" | sort -V | tail -1)" != "GLIBC_$max_glibc" ] ||
    [ "$(printf '%s\n' "GLIBCXX_$max_glibcxx" "${glibcxx:-GLIBCXX_0}" | sort -V | tail -1)" != "GLIBCXX_$max_glibcxx" ]; then
    echo "the binary needs $glibc / $glibcxx, newer than GLIBC_$max_glibc / GLIBCXX_$max_glibcxx" >&2
    "$objdump" -T "$bin" | grep -E "GLIBC_|GLIBCXX_" | sort -k5 -V | tail -5 >&2
    return 1
  fi
}

# Runs the binary: --version, and (unless QUILL_SKIP_SMOKE=1 or no model is there) one
# completion with the small model.
smoke() {
  local bin=$1
  "$bin" --version
  [ "${QUILL_SKIP_SMOKE:-0}" = 1 ] && return 0
  local model=qwen2.5-coder-0.5b-instruct-q4_k_m
  local path
  path=$("$bin" models path "$model" 2>/dev/null) || path=
  if [ -z "$path" ] || [ ! -f "$path" ]; then
    say "no $model here: completion check skipped (quill models pull $model)"
    return 0
  fi
  local tmp
  tmp=$(mktemp -d)
  printf 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    \n' >"$tmp/fib.py"
  say "a completion with $model"
  "$bin" complete "$tmp/fib.py:3:5" --model "$model" --threads 2 | tee "$tmp/out"
  local ok=0
  [ -s "$tmp/out" ] || ok=1
  rm -rf "$tmp"
  [ "$ok" = 0 ] || { echo "empty completion" >&2; return 1; }
}

# package NAME BINARY STRIP: dist/NAME.tar.gz with the stripped binary, README and licence.
package() {
  local name=$1 bin=$2 strip=$3 stage
  stage=$(mktemp -d)
  mkdir "$stage/$name"
  "$strip" -o "$stage/$name/quill" "$bin"
  chmod 755 "$stage/$name/quill"
  cp README.md "$stage/$name/README.md"
  cp editors/vscode/LICENSE "$stage/$name/LICENSE"   # Apache-2.0, as Cargo.toml says
  tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "dist/$name.tar.gz" "$name"
  rm -rf "$stage"
  say "dist/$name.tar.gz ($(du -h "dist/$name.tar.gz" | cut -f1); binary $(du -h "$bin" | cut -f1) before strip)"
}

build_x86_64() {
  local triple=x86_64-unknown-linux-gnu dir=target/dist
  [ "$(uname -m)" = x86_64 ] || { echo "the x86_64 build runs on an x86_64 machine" >&2; return 1; }
  say "building quill $version for x86-64-v3 ($dir)"
  # With --target, RUSTFLAGS reach only the target's code: build scripts stay generic.
  RUSTFLAGS="-C target-cpu=x86-64-v3" \
    cargo build --release --locked --target "$triple" --target-dir "$dir" --features "$features"
  local bin=$dir/$triple/release/quill
  check_ggml_flags "$dir/$triple/release/build" x86-64-v3
  check_no_avx512 "$bin"
  check_needs "$bin"
  smoke "$bin"
  package "quill-$version-x86_64-linux" "$bin" strip
}

build_arm64() {
  local triple=aarch64-unknown-linux-gnu dir=target/dist
  if ! command -v aarch64-linux-gnu-g++ >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || { echo "install an aarch64-linux-gnu cross gcc/g++" >&2; return 1; }
    say "installing the aarch64 cross compilers"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu >/dev/null
  fi
  rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
  say "cross-building quill $version for aarch64 (armv8-a; $dir)"
  # No target-cpu (llama-cpp-sys-2 would hand it to gcc as -march): ggml gets its armv8-a
  # baseline (GGML_CPU_ARM_ARCH), Rust the generic aarch64 target. RUSTFLAGS must be set
  # to replace the `native` of .cargo/config.toml.
  RUSTFLAGS="-C linker=aarch64-linux-gnu-gcc" \
  CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
  CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++ \
  AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=/usr/aarch64-linux-gnu" \
    cargo build --release --locked --target "$triple" --target-dir "$dir" --features "$features"
  local bin=$dir/$triple/release/quill
  check_ggml_flags "$dir/$triple/release/build" ""
  check_needs "$bin" aarch64-linux-gnu-objdump
  if [ "$(uname -m)" = aarch64 ]; then smoke "$bin"
  elif command -v qemu-aarch64 >/dev/null 2>&1; then
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" --version
  else say "not run (no arm64 machine or qemu-aarch64 here)"
  fi
  package "quill-$version-aarch64-linux" "$bin" aarch64-linux-gnu-strip
}

build_cuda() {
  say "building the CUDA variant with scripts/build-cuda.sh"
  scripts/build-cuda.sh
  local bin=target/cuda/release/quill
  check_no_avx512 "$bin"
  "$bin" --version
  # Needs the NVIDIA driver and CUDA 13's cuBLAS at run time (see scripts/build-cuda.sh).
  package "quill-$version-x86_64-linux-cuda" "$bin" strip
}

ensure_system_deps
for t in "${targets[@]}"; do
  case "$t" in
    x86_64 | x86-64 | amd64) build_x86_64 ;;
    arm64 | aarch64) build_arm64 ;;
    cuda) build_cuda ;;
    *) echo "unknown target $t (x86_64, arm64, cuda)" >&2; exit 2 ;;
  esac
done

# The install line's script goes with the archives; SHA256SUMS covers every archive of
# this version in dist/ (built now or earlier) and the script.
cp scripts/install.sh dist/install.sh
say "dist/SHA256SUMS"
(cd dist && sha256sum "quill-$version-"*.tar.gz install.sh >SHA256SUMS && cat SHA256SUMS)
