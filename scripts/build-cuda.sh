#!/usr/bin/env bash
# Builds quill with CUDA on a machine without a CUDA toolkit: the toolkit comes from
# NVIDIA's PyPI wheels, assembled once in a cache folder. Run by hand (ggml's CUDA kernels
# take about 20 minutes on 2 cores); nothing of it runs in CI.
#
#   scripts/build-cuda.sh                    # GPUs from Turing to Hopper (75;80;86;89;90)
#   CUDA_ARCHS=90 scripts/build-cuda.sh      # H100/H200 only (faster to build)
#   QUILL_CPU=native scripts/build-cuda.sh   # tune the CPU code to this machine
#
# Result: target/cuda/release/quill, and dist/quill-cuda.xz (stripped, xz-compressed) to
# carry to a GPU machine. At run time the binary needs the NVIDIA driver (libcuda.so.1)
# and CUDA 13's cuBLAS (libcublas.so.13, libcublasLt.so.13) on the library path, e.g.
# LD_LIBRARY_PATH=/usr/local/cuda/lib64 (the CUDA runtime is linked in).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_system_deps
command -v unzip >/dev/null 2>&1 || { as_root apt-get update -qq; as_root apt-get install -y -qq unzip >/dev/null; }

toolkit=${QUILL_CUDA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/quill/cuda13}
wheels=(
  nvidia-cuda-nvcc==13.5.37
  nvidia-cuda-runtime==13.5.37
  nvidia-cuda-crt==13.5.37
  nvidia-nvvm==13.5.37
  nvidia-cuda-cccl==13.3.5.0.6
  nvidia-cublas==13.10.0.20
)

if [ ! -x "$toolkit/bin/nvcc" ]; then
  say "assembling the CUDA 13 toolkit from PyPI wheels in $toolkit"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --no-deps --disable-pip-version-check -q -d "$tmp/wheels" "${wheels[@]}"
  for w in "$tmp"/wheels/*.whl; do
    unzip -q -o "$w" 'nvidia/*' -d "$tmp/x"
  done
  rm -rf "$toolkit"
  mkdir -p "$(dirname "$toolkit")"
  mv "$tmp/x/nvidia/cu13" "$toolkit"
  chmod +x "$toolkit"/bin/* "$toolkit"/nvvm/bin/* 2>/dev/null || true
  # CMake's FindCUDAToolkit looks in lib64 and for unversioned library names.
  ln -sfn lib "$toolkit/lib64"
  for l in cudart cublas cublasLt; do
    ln -sf "lib$l.so.13" "$toolkit/lib/lib$l.so"
  done
  # Link-time stand-in for the driver library (the real one is used at run time).
  mkdir -p "$toolkit/lib/stubs"
  cat > "$tmp/cuda_stub.c" <<'EOF'
int cuDeviceGet(void) { return 999; }
int cuDeviceGetAttribute(void) { return 999; }
int cuGetErrorString(void) { return 999; }
int cuMemAddressFree(void) { return 999; }
int cuMemAddressReserve(void) { return 999; }
int cuMemCreate(void) { return 999; }
int cuMemGetAllocationGranularity(void) { return 999; }
int cuMemMap(void) { return 999; }
int cuMemRelease(void) { return 999; }
int cuMemSetAccess(void) { return 999; }
int cuMemUnmap(void) { return 999; }
EOF
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$toolkit/lib/stubs/libcuda.so" "$tmp/cuda_stub.c"
  "$toolkit/bin/nvcc" --version | tail -1
fi

# llama-cpp-sys-2 links the runtime, cuBLAS and culibos statically on Linux. The runtime's
# static archive is in the wheel (and CMake's compiler check needs it); cuBLAS comes only
# as shared libraries and culibos not at all. Empty archives satisfy the -l flags of the
# other three; the shared cuBLAS is linked below instead. Idempotent, so an older cache
# (which had emptied the runtime too) is mended.
[ -f "$toolkit/lib/libcudart_static.a.unused" ] && mv "$toolkit/lib/libcudart_static.a.unused" "$toolkit/lib/libcudart_static.a"
rm -f "$toolkit/lib/stubs/libcudart_static.a"
for l in cublas_static cublasLt_static culibos; do
  [ -f "$toolkit/lib/stubs/lib$l.a" ] || ar rcs "$toolkit/lib/stubs/lib$l.a"
done

export CUDA_PATH="$toolkit" CUDAToolkit_ROOT="$toolkit"
export CMAKE_CUDA_COMPILER="$toolkit/bin/nvcc"
export CMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-75;80;86;89;90}"
export LIBRARY_PATH="$toolkit/lib/stubs:$toolkit/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
# The GPU machine's CPU may lack this one's instructions: a portable baseline by default.
cpu=${QUILL_CPU:-x86-64-v3}
export RUSTFLAGS="-C target-cpu=$cpu -L native=$toolkit/lib/stubs -L native=$toolkit/lib \
-C link-arg=-L$toolkit/lib -C link-arg=-l:libcublas.so.13 -C link-arg=-l:libcublasLt.so.13 \
-C link-arg=-Wl,-rpath,/usr/local/cuda/lib64"

say "building quill --features cuda (CUDA architectures $CMAKE_CUDA_ARCHITECTURES, CPU $cpu)"
cargo build --release --locked --features cuda --target-dir target/cuda
mkdir -p dist
strip -o dist/quill-cuda target/cuda/release/quill
xz -T0 -6 -f dist/quill-cuda
ls -l target/cuda/release/quill dist/quill-cuda.xz
