-- The options of require('quill').setup(), their defaults, and the server command they give.
local M = {}

---@class quill.Keymaps
---@field accept string|false       accept the whole suggestion
---@field accept_line string|false  accept the rest of the current line of it
---@field accept_word string|false  accept the next word
---@field dismiss string|false      hide it
---@field next string|false         show the next of the server's ranked candidates
---@field prev string|false         show the previous one
---@field suggest string|false      ask now (without waiting for a change)
---@field next_edit_jump string|false    Normal mode: go to the next edit quill proposes
---@field next_edit_accept string|false  Normal mode: apply it (one key may do both)

---@class quill.Config
---@field cmd string[]|string        the server command (a string: the binary; `serve` is added)
---@field filetypes string[]         filetypes that start the server
---@field settings table             sent as initializationOptions (see :h quill-settings)
---@field trigger 'auto'|'manual'    ghost text as you type, or only on the `suggest` key
---@field debounce_ms integer        wait after a keystroke before asking for ghost text
---@field keymaps quill.Keymaps      keys on ghost text and next edits; false turns one off
---@field window 'float'|'split'|'vsplit'  where explanations open
---@field progress boolean           echo the server's progress (model loading, long work)
---@field virt_text_pos 'overlay'|'inline'  how the first line of ghost text is drawn
---@field root_markers string[]      files that mark a project root
M.defaults = {
  cmd = { 'quill', 'serve' },
  -- Every language quill checks and reads context for (its README's table), by Neovim's
  -- filetype names; other filetypes can be added and get plain fill-in-the-middle.
  filetypes = {
    'python', 'rust', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go',
    'c', 'cpp', 'java', 'cs', 'kotlin', 'php', 'ruby', 'sh', 'bash', 'zsh', 'lua', 'scala',
    'swift', 'json', 'jsonc', 'yaml', 'toml', 'html', 'css',
  },
  settings = {},
  trigger = 'auto',
  debounce_ms = 150,
  keymaps = {
    accept = '<M-l>',
    accept_line = '<M-j>',
    accept_word = '<M-w>',
    dismiss = '<C-]>',
    next = '<M-]>',
    prev = '<M-[>',
    suggest = '<M-\\>',
    -- Normal mode, while a next edit is shown: jump to it, and on it apply it.
    next_edit_jump = '<Tab>',
    next_edit_accept = '<Tab>',
  },
  window = 'float',
  progress = true,
  virt_text_pos = 'overlay',
  root_markers = { '.git', 'Cargo.toml', 'pyproject.toml', 'setup.py', 'package.json', 'go.mod' },
}

--- The options in effect (the defaults until setup() runs).
---@type quill.Config
M.options = vim.deepcopy(M.defaults)

--- Merges `opts` into the defaults and makes the result the options in effect.
---@param opts? quill.Config
---@return quill.Config
function M.apply(opts)
  opts = opts or {}
  local options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  if opts.filetypes then
    options.filetypes = opts.filetypes -- a list replaces, not merges
  end
  if opts.cmd then
    options.cmd = opts.cmd
  end
  if options.trigger ~= 'auto' and options.trigger ~= 'manual' then
    require('quill.util').notify("trigger must be 'auto' or 'manual', not " .. vim.inspect(options.trigger)
      .. "; using 'auto'", vim.log.levels.WARN)
    options.trigger = 'auto'
  end
  M.options = options
  return options
end

--- The server command as a list (a string option is the binary; `serve` is added).
---@return string[]
function M.server_cmd()
  local cmd = M.options.cmd
  if type(cmd) == 'string' then
    return { cmd, 'serve' }
  end
  return cmd
end

--- The binary the server command runs (for :checkhealth and :QuillPull).
function M.binary()
  return M.server_cmd()[1]
end

--- The server setting `name` as `settings` has it (flat or under a `quill` key), or nil.
---@param name string
function M.setting(name)
  local settings = M.options.settings or {}
  local s = type(settings.quill) == 'table' and settings.quill or settings
  return s[name]
end

--- The `model` server setting (a name or a GGUF path), or nil for the server's default.
---@return string?
function M.model()
  local model = M.setting('model')
  if type(model) == 'string' and vim.trim(model) ~= '' then
    return vim.trim(model)
  end
  return nil
end

return M
