-- quill for Neovim: ghost-text completions, explanations, reviews and refactors from a
-- local code model, through the `quill serve` language server.
--
-- This module is the public API; the work is done in:
--   config    the options of setup() and their defaults
--   server    starting `quill serve` for a buffer, restarts, settings changes
--   ghost     ghost text (requests, drawing, accepting) and its switches
--   next_edit next edits (a rename's next place): showing, jumping, applying
--   keymaps   the Insert-mode keys on ghost text, the Normal-mode keys on next edits
--   actions   explain / review / refactor and the code actions' client-side commands
--   status    quill/status: :QuillStatus, waiting for the model, the status line
--   progress  the server's progress in the command line, :QuillCancel
--   pull      :QuillPull (quill models pull as a job)
--   commands  the :Quill… commands
local config = require('quill.config')
local ghost = require('quill.ghost')
local next_edit = require('quill.next_edit')
local server = require('quill.server')
local status = require('quill.status')
local actions = require('quill.actions')
local progress = require('quill.progress')

local M = {}

M.defaults = config.defaults

-- `require('quill').config`: the options in effect (setup() replaces the table).
setmetatable(M, {
  __index = function(_, key)
    if key == 'config' then
      return config.options
    end
  end,
})

--- The binary the server command runs (for :checkhealth).
M.binary = config.binary

local function set_highlight()
  vim.api.nvim_set_hl(0, 'QuillGhost', { link = 'Comment', default = true })
  vim.api.nvim_set_hl(0, 'QuillGhostCount', { link = 'NonText', default = true })
  vim.api.nvim_set_hl(0, 'QuillNextEdit', { link = 'DiffText', default = true })
  vim.api.nvim_set_hl(0, 'QuillNextEditHint', { link = 'Comment', default = true })
end

---@param opts? quill.Config
function M.setup(opts)
  local options = config.apply(opts)
  ghost.config.debounce_ms = options.debounce_ms
  ghost.config.trigger = options.trigger
  ghost.config.virt_text_pos = options.virt_text_pos
  require('quill.ui').config.window = options.window

  set_highlight()
  require('quill.commands').define()
  actions.register_handlers()

  local group = vim.api.nvim_create_augroup('quill', { clear = true })
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = set_highlight })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = options.filetypes,
    callback = function(ev)
      server.start(ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd('LspProgress', { group = group, callback = progress.on_progress })
  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(ev)
      local c = vim.lsp.get_client_by_id(ev.data.client_id)
      if c and c.name == 'quill' then
        status.attached(c.id)
      end
    end,
  })
  vim.api.nvim_create_autocmd('LspDetach', { group = group, callback = server.on_detach })
  -- Buffers already open when setup runs (lazy loading).
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(options.filetypes, vim.bo[b].filetype) then
      server.start(b)
    end
  end
end

-- Servers, commands and status.
M.start = server.start
M.update_settings = server.update_settings
M.explain = actions.explain
M.review = actions.review
M.refactor = actions.refactor
M.when_ready = status.when_ready
M.status = status.status
M.format_status = status.format_status
M.show_status = status.show_status
M.statusline = status.statusline
M.cancel_work = progress.cancel_work
M.toggle = ghost.toggle
M.set_trigger = ghost.set_trigger
function M.pull(model, on_done)
  return require('quill.pull').pull(model, on_done)
end

-- Ghost text, for mappings of your own.
M.accept = ghost.accept
M.accept_line = ghost.accept_line
M.accept_word = ghost.accept_word
M.dismiss = ghost.dismiss
M.next = ghost.next
M.prev = ghost.prev
M.visible = ghost.visible
M.suggest = function()
  ghost.request(0, true)
end
--- The ghost text shown in the current buffer: {text, row, col} or nil.
M.get_suggestion = ghost.get

-- Next edits, for mappings of your own (jump, accept and dismiss return true when there was
-- one); next_edit() asks now, as :QuillNextEdit.
M.next_edit = function()
  next_edit.request(0)
end
M.jump_to_next_edit = next_edit.jump
M.accept_next_edit = next_edit.accept
M.dismiss_next_edit = next_edit.dismiss
--- The next edit shown in the current buffer (while it applies): {new_text, label, row, col, …} or nil.
M.get_next_edit = next_edit.get

return M
