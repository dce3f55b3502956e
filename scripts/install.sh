#!/bin/sh
# Installs a prebuilt quill (no Rust, no compiler): downloads the release archive for this
# machine, checks its sha256 against the release's SHA256SUMS, and puts `quill` in
# ~/.local/bin (or $QUILL_INSTALL_DIR).
#
#   curl -fsSL https://github.com/quill-lsp/quill/releases/latest/download/install.sh | sh
#   sh install.sh --cuda                  # the CUDA build (x86-64 Linux, NVIDIA driver + cuBLAS 13)
#   sh install.sh dist/                   # a release folder (path, file:// or https:// URL)
#   sh install.sh dist/quill-0.1.0-x86_64-linux.tar.gz   # one archive; SHA256SUMS beside it
#
#   QUILL_RELEASE_URL   the release folder (holds SHA256SUMS and quill-<version>-<target>.tar.gz)
#   QUILL_VERSION       a version to pick from SHA256SUMS (default: the newest listed)
#   QUILL_INSTALL_DIR   where `quill` goes (default ~/.local/bin)
#
# scripts/release.sh builds the archives and SHA256SUMS; publishing them is done by hand.
set -eu

# PLACEHOLDER: the project has no public repository yet, so nothing is published at this
# address; set QUILL_RELEASE_URL (or pass a folder or archive) until there is one.
QUILL_RELEASE_URL=${QUILL_RELEASE_URL:-https://github.com/quill-lsp/quill/releases/latest/download}
QUILL_INSTALL_DIR=${QUILL_INSTALL_DIR:-$HOME/.local/bin}

say() { printf '%s\n' "quill-install: $*" >&2; }
die() { say "$*"; exit 1; }

variant=
source=
for arg in "$@"; do
  case "$arg" in
    --cuda) variant=-cuda ;;
    -h | --help)
      echo "usage: install.sh [--cuda] [RELEASE-FOLDER | ARCHIVE.tar.gz]  (path, file:// or https:// URL)"
      echo "env: QUILL_RELEASE_URL, QUILL_VERSION, QUILL_INSTALL_DIR (default ~/.local/bin)"
      exit 0
      ;;
    -*) die "unknown option $arg" ;;
    *) source=$arg ;;
  esac
done

# ---- which archive ----
os=$(uname -s)
[ "$os" = Linux ] || die "prebuilt binaries are for Linux only ($os here): build from source (README, \"Building\")"
case "$(uname -m)" in
  x86_64 | amd64)
    target=x86_64-linux
    # The x86-64 build needs x86-64-v3 (AVX2, FMA, F16C, BMI2: Intel Haswell, AMD Excavator/Zen or newer).
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
    for f in avx2 fma f16c bmi2; do
      case " $flags " in
        *" $f "*) ;;
        *) die "this CPU lacks $f, which the prebuilt x86-64 binary needs: build from source (README, \"Building\")" ;;
      esac
    done
    ;;
  aarch64 | arm64) target=aarch64-linux ;;
  *) die "no prebuilt binary for $(uname -m): build from source (README, \"Building\")" ;;
esac
[ -z "$variant" ] || [ "$target" = x86_64-linux ] || die "the CUDA build is for x86-64 only"
target=$target$variant

# ---- fetching: https/http (curl or wget), file:// and plain paths ----
fetch() { # fetch URL-or-path DEST
  case "$1" in
    file://*) cp "${1#file://}" "$2" ;;
    http://* | https://*)
      if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 2 -o "$2" "$1"
      elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"
      else die "need curl or wget to download $1"
      fi
      ;;
    *) cp "$1" "$2" ;;
  esac
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else die "need sha256sum or shasum to check the download"
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

base=${source:-$QUILL_RELEASE_URL}
archive=
case "$base" in
  *.tar.gz) archive=${base##*/}; base=${base%/*}; [ "$base" != "$archive" ] || base=. ;;
esac
base=${base%/}

say "release: $base"
fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS" || die "cannot read $base/SHA256SUMS"
if [ -z "$archive" ]; then
  # The archive for this target, of QUILL_VERSION or else the newest version listed.
  names=$(awk '{ sub(/^\*/, "", $2); print $2 }' "$tmp/SHA256SUMS" | grep -E "^quill-[0-9][^ /]*-$target\\.tar\\.gz\$" || true)
  if [ -n "${QUILL_VERSION:-}" ]; then
    names=$(printf '%s\n' "$names" | grep -F "quill-$QUILL_VERSION-$target.tar.gz" || true)
  fi
  archive=$(printf '%s\n' "$names" | { sort -V 2>/dev/null || sort; } | tail -1)
  [ -n "$archive" ] || die "$base/SHA256SUMS lists no quill archive for $target${QUILL_VERSION:+ version $QUILL_VERSION}"
fi
expected=$(awk -v n="$archive" '{ f = $2; sub(/^\*/, "", f) } f == n { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || die "$base/SHA256SUMS does not list $archive"

say "downloading $archive"
fetch "$base/$archive" "$tmp/$archive" || die "cannot download $base/$archive"
actual=$(sha256_of "$tmp/$archive")
[ "$actual" = "$expected" ] || die "checksum mismatch for $archive: expected $expected, got $actual (nothing installed)"
say "sha256 ok ($actual)"

stem=${archive%.tar.gz}
tar -xzf "$tmp/$archive" -C "$tmp"
[ -f "$tmp/$stem/quill" ] || die "$archive holds no $stem/quill"
chmod 755 "$tmp/$stem/quill"
version=$("$tmp/$stem/quill" --version 2>&1) || die "the downloaded quill does not run here: $version"

mkdir -p "$QUILL_INSTALL_DIR"
cp "$tmp/$stem/quill" "$QUILL_INSTALL_DIR/.quill.part.$$"
mv -f "$QUILL_INSTALL_DIR/.quill.part.$$" "$QUILL_INSTALL_DIR/quill"
say "installed $version at $QUILL_INSTALL_DIR/quill"

case ":$PATH:" in
  *":$QUILL_INSTALL_DIR:"*) quill=quill ;;
  *)
    quill=$QUILL_INSTALL_DIR/quill
    say "$QUILL_INSTALL_DIR is not on your PATH; add it, e.g.: export PATH=\"$QUILL_INSTALL_DIR:\$PATH\""
    ;;
esac
[ -z "$variant" ] || say "the CUDA build needs the NVIDIA driver and CUDA 13's cuBLAS (libcublas.so.13) on the library path"
{
  echo
  echo "Next:"
  printf '  %-58s # %s\n' \
    "$quill models pull" "the default model (1.1 GB)" \
    "$quill models pull qwen2.5-coder-0.5b-instruct-q4_k_m" "or the smaller, faster one" \
    "$quill fill FILE.py" "fill its \`quill: fill\` holes"
  echo "Editors: the VS Code extension finds quill on your PATH (or set quill.path); Neovim: see the README."
} >&2
