-- The buffer-local Insert-mode keys on ghost text (see quill.Keymaps).
local config = require('quill.config')
local ghost = require('quill.ghost')

local M = {}

--- Maps the configured keys in `buf` (when the quill client attaches).
function M.attach(buf)
  local km = config.options.keymaps or {}
  local function map(lhs, fn, desc)
    if not lhs or lhs == '' then
      return
    end
    -- Nothing to accept: the key does what it does without quill (<Tab> inserts a tab),
    -- except Alt keys, which would leave Insert mode (<M-x> unmapped is <Esc>x).
    local meta = lhs:match('^<[MmAa]%-') ~= nil
    vim.keymap.set('i', lhs, function()
      if not fn() and not meta then
        vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(lhs, true, false, true), 'n', false)
      end
    end, { buffer = buf, silent = true, desc = 'quill: ' .. desc })
  end
  map(km.accept, ghost.accept, 'accept the suggestion')
  map(km.accept_line, ghost.accept_line, 'accept a line of the suggestion')
  map(km.accept_word, ghost.accept_word, 'accept a word of the suggestion')
  map(km.dismiss, ghost.dismiss, 'dismiss the suggestion')
  map(km.next, ghost.next, 'show the next candidate')
  map(km.prev, ghost.prev, 'show the previous candidate')
  if km.suggest and km.suggest ~= '' then
    vim.keymap.set('i', km.suggest, function()
      ghost.request(buf, true)
    end, { buffer = buf, silent = true, desc = 'quill: suggest now' })
  end
end

--- Removes them (when the client detaches).
function M.detach(buf)
  for _, lhs in pairs(config.options.keymaps or {}) do
    if lhs and lhs ~= '' then
      pcall(vim.keymap.del, 'i', lhs, { buffer = buf })
    end
  end
end

return M
