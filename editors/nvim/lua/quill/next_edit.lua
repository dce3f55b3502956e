-- Next edits: the change the last edit implies somewhere else (after renaming `count` to
-- `total` at one place, the next place that still says `count`). The server pushes them as
-- `quill/nextEdit` notifications when typing pauses, or answers the `quill/nextEdit` request
-- (:QuillNextEdit). One proposal per buffer is shown at its place: the text it replaces
-- highlighted, the new text and the server's label after the line. A key jumps there and
-- applies it; applying is an ordinary edit, after which the server proposes the next place.
local config = require('quill.config')
local util = require('quill.util')

local M = {}

M.ns = vim.api.nvim_create_namespace('quill_next_edit')

---@class quill.NextEdit
---@field version integer LSP document version it was made for: it applies only at that one
---@field range lsp.Range what it replaces, in the client's position encoding
---@field new_text string
---@field label string the server's words for it: `rename count → total (1 more)`
---@field remaining integer places that need the same change after this one
---@field client_id integer
---@field row integer 0-based; `row`, `col` .. `end_row`, `end_col` is `range` in bytes
---@field col integer
---@field end_row integer
---@field end_col integer

---@type table<integer, quill.NextEdit>
local pending = {}

local function bufnr(buf)
  return (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
end

--- The proposal of `buf` while it still applies (the document has not changed since), or
--- nil. Changes nothing, so it is safe in an <expr> mapping.
---@param buf? integer
---@return quill.NextEdit?
function M.get(buf)
  buf = bufnr(buf)
  local p = pending[buf]
  if p and util.doc_version(buf) == p.version and vim.lsp.get_client_by_id(p.client_id) then
    return p
  end
  return nil
end

--- Removes the proposal of `buf`. Returns true when there was one.
function M.clear(buf)
  buf = bufnr(buf)
  local had = pending[buf] ~= nil
  pending[buf] = nil
  if vim.api.nvim_buf_is_valid(buf) then
    vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  end
  return had
end

--- What the key(s) do, for the text after the line: `<Tab>`, or `jump <X> · accept <Y>`.
local function key_hint()
  local km = config.options.keymaps or {}
  local function key(lhs)
    return lhs and lhs ~= '' and lhs or nil
  end
  local jump, accept = key(km.next_edit_jump), key(km.next_edit_accept)
  if jump and accept and jump ~= accept then
    return 'jump ' .. jump .. ' · accept ' .. accept
  end
  return jump or accept
end

local function render(buf, p)
  vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  local new = vim.split(p.new_text, '\n', { plain = true })
  local after = '→ ' .. new[1] .. (#new > 1 and ' …' or '')
  if p.label ~= '' then
    after = after .. '  ' .. p.label
  end
  local key = key_hint()
  if key then
    after = after .. '  ' .. key
  end
  vim.api.nvim_buf_set_extmark(buf, M.ns, p.row, p.col, {
    end_row = p.end_row,
    end_col = p.end_col,
    hl_group = 'QuillNextEdit',
    virt_text = { { '    ' .. after, 'QuillNextEditHint' } },
    virt_text_pos = 'eol',
    hl_mode = 'combine',
    priority = 4096,
  })
end

--- `range` (LSP positions in `enc`) as 0-based byte positions of `buf`, or nil when it
--- lies outside the buffer.
local function byte_range(buf, range, enc)
  local s, e = range.start, range['end']
  local count = vim.api.nvim_buf_line_count(buf)
  if s.line >= count or e.line >= count or s.line > e.line then
    return nil
  end
  local function col(pos)
    local line = vim.api.nvim_buf_get_lines(buf, pos.line, pos.line + 1, false)[1]
    return util.byte_index(line, pos.character, enc)
  end
  local col1, col2 = col(s), col(e)
  if s.line == e.line and col1 > col2 then
    return nil
  end
  return s.line, col1, e.line, col2
end

local function valid_position(p)
  return type(p) == 'table' and type(p.line) == 'number' and type(p.character) == 'number'
end

--- Shows the proposal `params` (a `quill/nextEdit` answer) in `buf`, replacing the one
--- shown. Returns true when shown, else false and why.
---@param client vim.lsp.Client
---@return boolean shown
---@return string? why_not
function M.show(buf, params, client)
  buf = bufnr(buf)
  local p = type(params) == 'table' and params or {}
  local range = type(p.range) == 'table' and p.range or {}
  if type(p.uri) ~= 'string' or type(p.version) ~= 'number' or type(p.newText) ~= 'string'
    or not valid_position(range.start) or not valid_position(range['end']) then
    vim.lsp.log.warn('quill: ignored a malformed quill/nextEdit: ' .. vim.inspect(params))
    return false, 'malformed'
  end
  if not util.names_buffer(p.uri, buf) then
    return false, 'another buffer'
  end
  if util.doc_version(buf) ~= p.version then
    return false, 'the buffer has changed'
  end
  local row, col, end_row, end_col = byte_range(buf, range, util.encoding(client))
  if not row then
    return false, 'outside the buffer'
  end
  M.clear(buf)
  local proposal = {
    version = p.version,
    range = range,
    new_text = p.newText,
    label = type(p.label) == 'string' and p.label or '',
    remaining = type(p.remaining) == 'number' and p.remaining or 0,
    client_id = client.id,
    row = row,
    col = col,
    end_row = end_row,
    end_col = end_col,
  }
  pending[buf] = proposal
  render(buf, proposal)
  return true
end

--- The `quill/nextEdit` notification: the server's proposal after a pause in typing, shown
--- when it is for the current buffer as it is now. Returns true when shown, else false and
--- why (for tests; Neovim ignores what notification handlers return).
---@return boolean shown
---@return string? why_not
function M.on_notification(_, params, ctx)
  if config.setting('nextEdits') == false then
    return false, 'next edits are off' -- sent before the server heard of it
  end
  local buf = vim.api.nvim_get_current_buf()
  local client = util.client(buf)
  if not client or (ctx and ctx.client_id and ctx.client_id ~= client.id) then
    return false, 'another client'
  end
  return M.show(buf, params, client)
end

--- Asks the server for the next edit of `buf` now (:QuillNextEdit) and shows it, or says
--- there is none.
---@param buf? integer
---@param on_done? fun(shown: boolean, why_not: string?)
function M.request(buf, on_done)
  buf = bufnr(buf)
  on_done = on_done or function() end
  local client = util.client(buf)
  if not client then
    util.notify('no quill server is attached to this buffer', vim.log.levels.WARN)
    return on_done(false, 'no client')
  end
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) } }
  util.request(client, 'quill/nextEdit', params, function(err, result)
    if err then
      util.notify('next edit failed: ' .. util.errmsg(err), vim.log.levels.ERROR)
      return on_done(false, 'error')
    end
    if type(result) ~= 'table' then
      util.notify('no next edit here')
      return on_done(false, 'none')
    end
    if not vim.api.nvim_buf_is_valid(buf) then
      return on_done(false, 'buffer gone')
    end
    on_done(M.show(buf, result, client))
  end, buf)
end

--- Whether the cursor of the current window is on the proposal `p`.
local function on_target(p)
  local r, c = unpack(vim.api.nvim_win_get_cursor(0))
  local pos = { r - 1, c }
  local function before(a, b)
    return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2])
  end
  local s, e = { p.row, p.col }, { p.end_row, p.end_col }
  if not before(s, e) then
    return pos[1] == s[1] and pos[2] == s[2] -- an insertion: on its place
  end
  return not before(pos, s) and before(pos, e)
end

--- What a key that may `jump` and/or `accept` would do now in the current buffer: 'jump'
--- (a proposal elsewhere), 'accept' (the cursor on it, or a key that only accepts), or nil.
--- Changes nothing (the keys are <expr> mappings).
---@return 'jump'|'accept'|nil
function M.action(jump, accept)
  local p = M.get(0)
  if not p then
    return nil
  end
  if jump and not on_target(p) then
    return 'jump'
  end
  return accept and 'accept' or nil
end

--- Moves the cursor to the start of the proposal (a jump: <C-o> goes back). Returns true
--- when there was one to go to.
function M.jump()
  local p = M.get(0)
  if not p then
    return false
  end
  vim.cmd("normal! m'")
  vim.api.nvim_win_set_cursor(0, { p.row + 1, p.col })
  vim.cmd('normal! zv')
  return true
end

--- Applies the proposal of the current buffer (while the buffer is at its version) and puts
--- the cursor at its start. Returns true when there was one.
function M.accept()
  local buf = vim.api.nvim_get_current_buf()
  local p = M.get(buf)
  if not p then
    return false
  end
  local client = vim.lsp.get_client_by_id(p.client_id)
  M.clear(buf)
  local edit = { range = vim.deepcopy(p.range), newText = p.new_text }
  vim.lsp.util.apply_text_edits({ edit }, buf, util.encoding(client))
  vim.api.nvim_win_set_cursor(0, { p.row + 1, p.col })
  return true
end

--- Hides the proposal of the current buffer. Returns true when there was one.
function M.dismiss()
  return M.clear(0)
end

-- Autocommands ---------------------------------------------------------------------------

local group = vim.api.nvim_create_augroup('quill_next_edit', { clear = true })

--- Sets up the autocommands of `buf` (called when the quill client attaches): a proposal
--- goes with any further change of the buffer, and when you leave it.
function M.attach(buf)
  vim.api.nvim_clear_autocmds({ group = group, buffer = buf })
  vim.api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI', 'TextChangedP' }, {
    group = group,
    buffer = buf,
    callback = function(ev)
      if pending[ev.buf] and not M.get(ev.buf) then
        M.clear(ev.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufLeave', 'BufUnload' }, {
    group = group,
    buffer = buf,
    callback = function(ev)
      M.clear(ev.buf)
    end,
  })
end

function M.detach(buf)
  M.clear(buf)
  pcall(vim.api.nvim_clear_autocmds, { group = group, buffer = buf })
end

return M
