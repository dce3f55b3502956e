-- A window that shows Markdown (explanations, answers the model gave instead of an edit).
local M = {}

M.config = { window = 'float', border = 'rounded', max_width = 100 }

---@class quill.MarkdownView
---@field buf integer
---@field win integer
---@field set fun(markdown: string)
---@field close fun()
---@field valid fun(): boolean

local function float_geometry(lines)
  local cols, rows = vim.o.columns, vim.o.lines
  local width = math.max(20, math.min(M.config.max_width, cols - 4))
  local height = 0
  for _, l in ipairs(lines) do
    height = height + math.max(1, math.ceil(vim.fn.strdisplaywidth(l) / width))
  end
  height = math.max(3, math.min(height, rows - 6))
  return {
    relative = 'editor',
    width = width,
    height = height,
    row = math.max(0, math.floor((rows - height) / 2) - 1),
    col = math.max(0, math.floor((cols - width) / 2)),
  }
end

--- Opens a Markdown window titled `title` showing `text` (a placeholder until `set`).
---@param title string
---@param text? string
---@param on_close? fun() called when the user closes the window before `set`
---@return quill.MarkdownView
function M.open(title, text, on_close)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].swapfile = false
  vim.b[buf].quill_markdown = true
  vim.b[buf].quill_title = title
  local lines = vim.split(text or '_quill is thinking…_', '\n', { plain = true })
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'markdown'
  pcall(vim.api.nvim_buf_set_name, buf, 'quill://' .. title:gsub('[^%w%-_ ]', '') .. '/' .. buf)

  local win
  local kind = M.config.window
  if kind == 'split' or kind == 'vsplit' then
    vim.cmd((kind == 'vsplit' and 'vertical ' or '') .. 'botright split')
    win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, buf)
  else
    local cfg = float_geometry(lines)
    cfg.style = 'minimal'
    cfg.border = M.config.border
    if vim.fn.has('nvim-0.9') == 1 then
      cfg.title = ' ' .. title .. ' '
      cfg.title_pos = 'center'
    end
    win = vim.api.nvim_open_win(buf, true, cfg)
  end
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].conceallevel = 2
  vim.wo[win].cursorline = false

  local done = false
  local view = { buf = buf, win = win }
  local function close()
    if vim.api.nvim_win_is_valid(win) then
      pcall(vim.api.nvim_win_close, win, true)
    end
  end
  for _, key in ipairs({ 'q', '<Esc>' }) do
    vim.keymap.set('n', key, close, { buffer = buf, nowait = true, desc = 'quill: close' })
  end
  vim.api.nvim_create_autocmd('WinClosed', {
    pattern = tostring(win),
    once = true,
    callback = function()
      if not done and on_close then
        on_close()
      end
    end,
  })

  function view.valid()
    return vim.api.nvim_buf_is_valid(buf) and vim.api.nvim_win_is_valid(win)
  end
  function view.set(markdown)
    done = true
    if not vim.api.nvim_buf_is_valid(buf) then
      return
    end
    local new = vim.split(markdown, '\n', { plain = true })
    vim.bo[buf].modifiable = true
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, new)
    vim.bo[buf].modifiable = false
    vim.b[buf].quill_done = true
    if vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_config(win).relative ~= '' then
      local g = float_geometry(new)
      pcall(vim.api.nvim_win_set_config, win, g)
    end
  end
  view.close = close
  return view
end

--- Shows finished Markdown at once.
function M.show(title, markdown)
  local v = M.open(title, markdown)
  v.set(markdown)
  return v
end

return M
