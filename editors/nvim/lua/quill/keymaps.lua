-- The buffer-local keys (see quill.Keymaps): Insert-mode keys on ghost text, Normal-mode
-- keys on next edits.
local config = require('quill.config')
local ghost = require('quill.ghost')
local next_edit = require('quill.next_edit')

local M = {}

local function set(lhs)
  return lhs and lhs ~= ''
end

--- The Normal-mode keys on next edits. One key may both jump and accept (the default, <Tab>:
--- it jumps to the proposal, and applies it when the cursor is on it). They are <expr>
--- mappings: with nothing to do the key is passed on as typed, count included (<Tab> is
--- CTRL-I, forward in the jump list).
local function map_next_edit(buf, km)
  local keys = {} ---@type table<string, { jump: boolean, accept: boolean }>
  if set(km.next_edit_jump) then
    keys[km.next_edit_jump] = { jump = true, accept = false }
  end
  if set(km.next_edit_accept) then
    keys[km.next_edit_accept] = keys[km.next_edit_accept] or { jump = false, accept = false }
    keys[km.next_edit_accept].accept = true
  end
  for lhs, does in pairs(keys) do
    local desc = does.jump and does.accept and 'go to the next edit, apply it'
      or does.jump and 'go to the next edit' or 'apply the next edit'
    vim.keymap.set('n', lhs, function()
      local action = next_edit.action(does.jump, does.accept)
      if action then
        return '<Cmd>lua require("quill.next_edit").' .. action .. '()<CR>'
      end
      return lhs
    end, { buffer = buf, expr = true, silent = true, desc = 'quill: ' .. desc })
  end
end

--- Maps the configured keys in `buf` (when the quill client attaches).
function M.attach(buf)
  local km = config.options.keymaps or {}
  local function map(lhs, fn, desc)
    if not set(lhs) then
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
  if set(km.suggest) then
    vim.keymap.set('i', km.suggest, function()
      ghost.request(buf, true)
    end, { buffer = buf, silent = true, desc = 'quill: suggest now' })
  end
  map_next_edit(buf, km)
end

--- Removes them (when the client detaches).
function M.detach(buf)
  for name, lhs in pairs(config.options.keymaps or {}) do
    if set(lhs) then
      local mode = name:match('^next_edit_') and 'n' or 'i'
      pcall(vim.keymap.del, mode, lhs, { buffer = buf })
    end
  end
end

return M
