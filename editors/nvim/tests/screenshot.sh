#!/usr/bin/env bash
# Screenshot of ghost text in a real terminal: Neovim with the plugin inside tmux, a Python
# function typed in, the ghost text captured with colours (tmux capture-pane -e) and drawn
# into doc/ghost-text.png (Pillow, DejaVu Sans Mono); the plain capture goes to
# doc/ghost-text.txt.
#
#   editors/nvim/tests/screenshot.sh     (QUILL_BIN and NVIM as in run.sh; QUILL_SHOT_MODEL,
#                                         default: the default model, 1.5B)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

model=${QUILL_SHOT_MODEL:-qwen2.5-coder-1.5b-instruct-q4_k_m}
command -v tmux >/dev/null || die "tmux is needed (apt-get install tmux)"
find_nvim
find_quill
need_model "$model"
py=$plugin/.deps/py
if ! PYTHONPATH=$py python3 -c 'import PIL' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$py" pillow || die "pip install pillow failed"
fi

work=$here/.tmp/shot
rm -rf "$work"
mkdir -p "$work"
isolate_nvim "$work"
sock=$work/nvim.sock
tmux_=(tmux -L quill-shot -f /dev/null)
cleanup() {
  "${tmux_[@]}" kill-server 2>/dev/null || true
  rm -rf "$bindir"
}
trap cleanup EXIT

cp "$here/fixtures/sample.py" "$work/stats.py"
cat > "$work/init.lua" <<LUA
vim.opt.rtp:prepend('$plugin')
vim.o.termguicolors = true
vim.o.number = true
vim.o.swapfile = false
vim.o.shortmess = vim.o.shortmess .. 'I'
vim.cmd('filetype plugin indent on | syntax on')
require('quill').setup({ settings = { model = '$model' } })
LUA

cols=96 rows=30
"${tmux_[@]}" new-session -d -s shot -x $cols -y $rows -c "$work" \
  "env PATH='$PATH' XDG_CONFIG_HOME='$XDG_CONFIG_HOME' XDG_DATA_HOME='$XDG_DATA_HOME' XDG_STATE_HOME='$XDG_STATE_HOME' TERM=tmux-256color COLORTERM=truecolor '$nvim' -u init.lua -i NONE --listen '$sock' stats.py"
"${tmux_[@]}" set -g default-terminal tmux-256color >/dev/null
"${tmux_[@]}" set -ga terminal-overrides ',*:RGB' >/dev/null

ask() { "$nvim" --headless --clean --server "$sock" --remote-expr "$1" 2>/dev/null; }
wait_until() { # what, seconds, expression that must print 1
  local i
  for i in $(seq 1 $(( $2 * 2 ))); do
    [[ "$(ask "$3" || true)" == 1 ]] && return 0
    sleep 0.5
  done
  die "timed out waiting for $1"
}

wait_until "nvim" 20 '1'
wait_until "the model" 180 "luaeval('(function() local c = vim.lsp.get_clients({ name = \"quill\" })[1]; local r = c and c:request_sync(\"quill/status\", vim.NIL, 3000); return (r and r.result and r.result.state == \"ready\") and 1 or 0 end)()')"

type_keys() { # types like a person, a character at a time
  local s=$1 i
  for (( i = 0; i < ${#s}; i++ )); do
    local c=${s:i:1}
    [[ "$c" == ";" ]] && c='\;' # a lone ; separates tmux commands
    "${tmux_[@]}" send-keys -t shot -l -- "$c"
    sleep 0.04
  done
}
# A new function after mean(): its header, then typed in Insert mode: the docstring and a
# line break; quill writes the body.
"${tmux_[@]}" send-keys -t shot ":call append(15, ['', '', 'def median(values):'])" Enter
sleep 0.3
"${tmux_[@]}" send-keys -t shot ':18' Enter
sleep 0.3
"${tmux_[@]}" send-keys -t shot 'A' Enter
type_keys '"""The middle value; the mean of the two middle ones for an even count."""'
"${tmux_[@]}" send-keys -t shot Enter
start=$(date +%s)
wait_until "ghost text" 180 "luaeval('require(\"quill\").get_suggestion() ~= nil and 1 or 0')"
echo "ghost text after $(( $(date +%s) - start )) s"
sleep 1 # let the screen settle
"${tmux_[@]}" capture-pane -t shot -e -p > "$work/ghost.ansi"
"${tmux_[@]}" capture-pane -t shot -p > "$plugin/doc/ghost-text.txt"
cursor=$("${tmux_[@]}" display -p -t shot '#{cursor_x},#{cursor_y}')
ask "luaeval('require(\"quill\").get_suggestion().text')" > "$work/suggestion.txt" || true
echo "suggestion:"; cat "$work/suggestion.txt"; echo
PYTHONPATH=$py python3 "$here/ansi2png.py" "$work/ghost.ansi" "$plugin/doc/ghost-text.png" --cursor "$cursor" --cols $cols
