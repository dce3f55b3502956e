-- Ghost text: inline completions from `textDocument/inlineCompletion`, shown as virtual text
-- at the cursor while typing in Insert mode (or only when asked, with the manual trigger),
-- accepted in full, by line or by word.
local util = require('quill.util')

local M = {}

M.ns = vim.api.nvim_create_namespace('quill_ghost')
--- `enabled`: any ghost text at all (:QuillToggle); `trigger`: 'auto' asks after each change,
--- 'manual' only on the `suggest` key (M.request).
M.config = { debounce_ms = 150, enabled = true, trigger = 'auto', virt_text_pos = 'overlay' }

-- LSP InlineCompletionTriggerKind.
local INVOKED, AUTOMATIC = 1, 2

---@class quill.Suggestion
---@field text string what is still to insert at `row`, `col`
---@field row integer 0-based
---@field col integer 0-based byte column
---@field tick integer b:changedtick it was made for
---@field items? string[] the server's ranked candidates, when it gave more than one
---@field index? integer which of `items` is shown

---@class quill.BufState
---@field timer? uv.uv_timer_t
---@field client? vim.lsp.Client
---@field request_id? integer
---@field suggestion? quill.Suggestion
---@field skip_tick? integer a change made by accepting: show the rest, do not ask again
---@field asked? quill.Asked the state of the ghost text quill answered (until dismissed)
---@field seq integer

--- Where quill answered with ghost text, for `quill/suggestionReady` (growing ghost text).
---@class quill.Asked
---@field version integer the LSP document version the request was made at
---@field row integer 0-based
---@field col integer 0-based byte column
---@field invoked boolean asked for with the `suggest` key

---@type table<integer, quill.BufState>
local states = {}

local function state(buf)
  local s = states[buf]
  if not s then
    s = { seq = 0 }
    states[buf] = s
  end
  return s
end

local function in_insert()
  local m = vim.api.nvim_get_mode().mode
  return m:sub(1, 1) == 'i'
end

local function cursor(win)
  local r, c = unpack(vim.api.nvim_win_get_cursor(win or 0))
  return r - 1, c
end

--- Tabs are drawn as one cell in virtual text: expand them to the buffer's tabstop.
local function expand_tabs(s, buf)
  if not s:find('\t', 1, true) then
    return s
  end
  local ts = vim.bo[buf].tabstop
  return (s:gsub('\t', string.rep(' ', ts)))
end

local function clear_marks(buf)
  if vim.api.nvim_buf_is_valid(buf) then
    vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  end
end

local function cancel_inflight(s)
  if s.request_id then
    util.cancel(s.client, s.request_id)
    s.request_id = nil
  end
end

local function stop_timer(s)
  if s.timer then
    s.timer:stop()
    if not s.timer:is_closing() then
      s.timer:close()
    end
    s.timer = nil
  end
end

--- Removes the ghost text of `buf` and cancels what is pending for it.
function M.clear(buf)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  local s = states[buf]
  if not s then
    return
  end
  s.seq = s.seq + 1
  stop_timer(s)
  cancel_inflight(s)
  s.suggestion = nil
  s.asked = nil
  clear_marks(buf)
end

local function hl_chunk(text, hl)
  return { text, hl }
end

--- Draws `sug` at its place. The first line goes over the cells from the cursor on
--- ('overlay', so the cursor stays in front of it; the rest of the buffer line is drawn
--- after it), or is inserted there ('inline': Neovim then shows the cursor after it).
local function render(buf, sug)
  clear_marks(buf)
  if sug.text == '' then
    return
  end
  local lines = vim.split(sug.text, '\n', { plain = true })
  for i, l in ipairs(lines) do
    lines[i] = expand_tabs(l, buf)
  end
  local opts = {
    hl_mode = 'combine',
    priority = 65535,
    right_gravity = false,
  }
  local rest = ''
  if M.config.virt_text_pos ~= 'inline' then
    local line = vim.api.nvim_buf_get_lines(buf, sug.row, sug.row + 1, false)[1] or ''
    rest = expand_tabs(line:sub(sug.col + 1), buf)
  end
  local first = { hl_chunk(lines[1], 'QuillGhost') }
  if rest ~= '' then
    if #lines == 1 then
      first[#first + 1] = hl_chunk(rest, 'Normal')
    else
      -- The rest of the line comes after the last line; blank it out here.
      local pad = vim.fn.strdisplaywidth(rest) - vim.fn.strdisplaywidth(lines[1])
      if pad > 0 then
        first[#first + 1] = hl_chunk(string.rep(' ', pad), 'Normal')
      end
    end
  end
  if lines[1] ~= '' or rest ~= '' then
    opts.virt_text = first
    opts.virt_text_pos = M.config.virt_text_pos == 'inline' and 'inline' or 'overlay'
  end
  if sug.items and #sug.items > 1 then
    -- Which of the ranked candidates this is: `1/3` after the line.
    vim.api.nvim_buf_set_extmark(buf, M.ns, sug.row, 0, {
      virt_text = { { string.format(' %d/%d', sug.index, #sug.items), 'QuillGhostCount' } },
      virt_text_pos = 'eol',
      hl_mode = 'combine',
      priority = 65535,
    })
  end
  if #lines > 1 then
    local vl = {}
    for i = 2, #lines do
      vl[#vl + 1] = { hl_chunk(lines[i], 'QuillGhost') }
    end
    if rest ~= '' then
      table.insert(vl[#vl], hl_chunk(rest, 'Normal'))
    end
    opts.virt_lines = vl
  end
  vim.api.nvim_buf_set_extmark(buf, M.ns, sug.row, sug.col, opts)
end

--- The text of the first item, less what the buffer already has between the item's range
--- start and the cursor (servers may answer with a range that starts before the cursor).
local function item_text(buf, item, row, col, enc)
  local text = item.insertText
  if type(text) == 'table' then
    text = text.value
  end
  if type(text) ~= 'string' or text == '' then
    return nil
  end
  local r = item.range
  if r and r.start and r.start.line == row then
    local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
    local start_byte = util.byte_index(line, r.start.character, enc)
    if start_byte < col then
      local typed = line:sub(start_byte + 1, col)
      if text:sub(1, #typed) ~= typed then
        return nil
      end
      text = text:sub(#typed + 1)
    end
  end
  text = text:gsub('\r\n', '\n')
  if text == '' then
    return nil
  end
  return text
end

--- The trigger in effect in `buf`: `b:quill_trigger` or the configured one.
---@return 'auto'|'manual'
function M.trigger(buf)
  local b = vim.b[(buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf].quill_trigger
  if b == 'auto' or b == 'manual' then
    return b
  end
  return M.config.trigger == 'manual' and 'manual' or 'auto'
end

--- Tells the status line that a completion has ended (its timings, the server's health).
local function settled()
  require('quill.status').completed()
end

--- Asks the server for a completion at the cursor of the current window now.
---@param buf? integer
---@param invoked? boolean asked for by the user (the `suggest` key), not by typing
function M.request(buf, invoked)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  if not M.config.enabled or vim.b[buf].quill_disabled then
    return
  end
  local client = util.client(buf)
  if not client or vim.api.nvim_get_current_buf() ~= buf or not in_insert() then
    return
  end
  local s = state(buf)
  cancel_inflight(s)
  s.seq = s.seq + 1
  local seq = s.seq
  local win = vim.api.nvim_get_current_win()
  local row, col = cursor(win)
  local tick = vim.b[buf].changedtick
  local version = util.doc_version(buf)
  local enc = util.encoding(client)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = util.cursor_position(win, enc),
    context = { triggerKind = invoked and INVOKED or AUTOMATIC },
  }
  s.client = client
  s.req_pos = { row, col }
  local ok, id = util.request(client, 'textDocument/inlineCompletion', params, function(err, result)
    if s.seq ~= seq then
      return -- superseded or cleared
    end
    s.request_id = nil
    if err then
      -- Cancelled requests answer with an error; anything else goes to the LSP log.
      if err.code ~= -32800 then
        vim.lsp.log.warn('quill: inlineCompletion failed: ' .. util.errmsg(err))
        settled()
      end
      return
    end
    settled()
    if type(result) ~= 'table' then
      return
    end
    local items = result.items or result
    if type(items) ~= 'table' or not items[1] then
      return
    end
    if not vim.api.nvim_buf_is_valid(buf) or vim.api.nvim_get_current_buf() ~= buf then
      return
    end
    if not in_insert() or vim.b[buf].changedtick ~= tick then
      return
    end
    local r2, c2 = cursor(0)
    if r2 ~= row or c2 ~= col then
      return
    end
    local texts = {}
    for _, item in ipairs(items) do
      texts[#texts + 1] = item_text(buf, item, row, col, enc)
    end
    if not texts[1] then
      return
    end
    s.suggestion = { text = texts[1], row = row, col = col, tick = tick, items = texts, index = 1 }
    -- With `timeBudgetMs` this may be the first words of a line still being generated:
    -- quill/suggestionReady says when the rest is there (M.suggestion_ready).
    s.asked = { version = version, row = row, col = col, invoked = invoked and true or false }
    render(buf, s.suggestion)
  end, buf)
  if ok then
    s.request_id = id
  end
end

--- Debounced request after a change in Insert mode.
function M.schedule(buf)
  local s = state(buf)
  -- A new keystroke: the old suggestion and request are stale now.
  stop_timer(s)
  cancel_inflight(s)
  s.seq = s.seq + 1
  s.suggestion = nil
  clear_marks(buf)
  if not M.config.enabled or vim.b[buf].quill_disabled or M.trigger(buf) == 'manual' then
    return
  end
  local timer = vim.uv.new_timer()
  s.timer = timer
  timer:start(
    math.max(0, M.config.debounce_ms or 0),
    0,
    vim.schedule_wrap(function()
      if s.timer ~= timer then
        return
      end
      stop_timer(s)
      if vim.api.nvim_buf_is_valid(buf) then
        M.request(buf)
      end
    end)
  )
end

--- The suggestion shown in `buf` (current buffer by default), or nil.
---@return quill.Suggestion?
function M.get(buf)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  local s = states[buf]
  return s and s.suggestion or nil
end

function M.visible(buf)
  local sug = M.get(buf)
  if not sug then
    return false
  end
  local r, c = cursor(0)
  return r == sug.row and c == sug.col
end

--- The next word of `text`: spaces and a run of word characters, or of other symbols; a
--- line break with the next line's indentation.
local function next_word(text)
  return text:match('^\n[ \t]*') or text:match('^[ \t]*[%w_]+') or text:match('^[ \t]*[^%w_%s]+')
    or text:match('^[ \t]+') or text:sub(1, 1)
end

--- The rest of the current line of `text`, or the line break and the next line.
local function next_line(text)
  if text:sub(1, 1) == '\n' then
    return '\n' .. (text:sub(2):match('^[^\n]*'))
  end
  return text:match('^[^\n]*')
end

--- Inserts `part` (a prefix of the suggestion) at the cursor and keeps the rest as ghost
--- text. Returns true when something was inserted.
local function accept_part(part_fn)
  local buf = vim.api.nvim_get_current_buf()
  if not M.visible(buf) then
    return false
  end
  local s = state(buf)
  local sug = s.suggestion
  local part = part_fn(sug.text)
  if not part or part == '' then
    return false
  end
  local rest = sug.text:sub(#part + 1)
  stop_timer(s)
  cancel_inflight(s)
  s.seq = s.seq + 1
  clear_marks(buf)
  local lines = vim.split(part, '\n', { plain = true })
  vim.api.nvim_buf_set_text(buf, sug.row, sug.col, sug.row, sug.col, lines)
  local row = sug.row + #lines - 1
  local col = (#lines == 1 and sug.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  s.skip_tick = vim.b[buf].changedtick
  if rest ~= '' then
    s.suggestion = { text = rest, row = row, col = col, tick = s.skip_tick }
    render(buf, s.suggestion)
  else
    s.suggestion = nil
  end
  return true
end

function M.accept()
  return accept_part(function(t)
    return t
  end)
end

function M.accept_line()
  return accept_part(next_line)
end

function M.accept_word()
  return accept_part(next_word)
end

--- Shows the next (`step` 1) or previous (-1) of the server's ranked candidates. Returns
--- true when there was another to show.
function M.cycle(step)
  local buf = vim.api.nvim_get_current_buf()
  if not M.visible(buf) then
    return false
  end
  local sug = state(buf).suggestion
  if not sug.items or #sug.items < 2 then
    return false
  end
  sug.index = (sug.index - 1 + step) % #sug.items + 1
  sug.text = sug.items[sug.index]
  render(buf, sug)
  return true
end

function M.next()
  return M.cycle(1)
end

function M.prev()
  return M.cycle(-1)
end

--- Hides the ghost text until the next change. Returns true when there was some.
function M.dismiss()
  local buf = vim.api.nvim_get_current_buf()
  local had = M.get(buf) ~= nil
  M.clear(buf)
  return had
end

--- Shows `text` as ghost text at the cursor, as if the server had suggested it (for tests
--- and for other sources of suggestions).
function M.show(text, buf)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  local s = state(buf)
  stop_timer(s)
  cancel_inflight(s)
  s.seq = s.seq + 1
  local row, col = cursor(0)
  s.suggestion = { text = text, row = row, col = col, tick = vim.b[buf].changedtick }
  s.asked = nil
  render(buf, s.suggestion)
end

--- `quill/suggestionReady` { uri, version, position } (a notification): with `timeBudgetMs`
--- the server answered with the words of a line that were ready in time and generated on;
--- now the whole suggestion is in its cache. When the user is still there — the current
--- buffer, its document version and cursor unchanged, Insert mode, ghost text on and the
--- ghost text quill answered there not dismissed (<C-]>, leaving Insert mode) — ask again
--- the way typing asks (M.request); the server answers at once and the fuller text replaces
--- the partial one. With the manual trigger too: the user asked for that suggestion (the
--- new request is an invoked one as well). Returns true when it asked, else false and why
--- (for tests; Neovim ignores what notification handlers return).
---@return boolean asked
---@return string? why_not
function M.suggestion_ready(_, params, ctx)
  local p = type(params) == 'table' and params or {}
  local pos = type(p.position) == 'table' and p.position or {}
  if type(p.uri) ~= 'string' or type(p.version) ~= 'number' or type(pos.line) ~= 'number'
    or type(pos.character) ~= 'number' then
    vim.lsp.log.warn('quill: ignored a malformed quill/suggestionReady: ' .. vim.inspect(params))
    return false, 'malformed'
  end
  local buf = vim.api.nvim_get_current_buf()
  if not util.names_buffer(p.uri, buf) then
    return false, 'another buffer'
  end
  local client = util.client(buf)
  if not client or (ctx and ctx.client_id and ctx.client_id ~= client.id) then
    return false, 'another client'
  end
  if not M.config.enabled or vim.b[buf].quill_disabled then
    return false, 'ghost text is off'
  end
  if not in_insert() then
    return false, 'not in Insert mode'
  end
  if util.doc_version(buf) ~= p.version then
    return false, 'the buffer has changed'
  end
  local here = util.cursor_position(0, util.encoding(client))
  if here.line ~= pos.line or here.character ~= pos.character then
    return false, 'the cursor has moved'
  end
  local s = states[buf]
  local asked = s and s.asked
  local row, col = cursor(0)
  if not asked or asked.version ~= p.version or asked.row ~= row or asked.col ~= col then
    return false, 'no ghost text from quill here (dismissed)'
  end
  if M.trigger(buf) == 'manual' and not asked.invoked then
    return false, 'manual trigger'
  end
  s.asked = nil -- once; the answer records it again
  M.request(buf, asked.invoked)
  return true
end

-- Autocommands ---------------------------------------------------------------------------

local group = vim.api.nvim_create_augroup('quill_ghost', { clear = true })

local function on_text_changed(ev)
  local buf = ev.buf
  local s = state(buf)
  if s.skip_tick and s.skip_tick == vim.b[buf].changedtick then
    s.skip_tick = nil -- our own insertion (an accepted part): keep showing the rest
    return
  end
  s.skip_tick = nil
  if not util.client(buf) then
    return
  end
  M.schedule(buf)
end

local function on_cursor_moved(ev)
  local s = states[ev.buf]
  if not s then
    return
  end
  if s.suggestion and not M.visible(ev.buf) then
    M.clear(ev.buf)
  elseif s.request_id and s.req_pos then
    -- The answer would be for another place: stop the model now (a change schedules anew).
    local r, c = cursor(0)
    if r ~= s.req_pos[1] or c ~= s.req_pos[2] then
      cancel_inflight(s)
    end
  end
end

--- Sets up the autocommands of `buf` (called when the quill client attaches).
function M.attach(buf)
  vim.api.nvim_clear_autocmds({ group = group, buffer = buf })
  vim.api.nvim_create_autocmd('TextChangedI', { group = group, buffer = buf, callback = on_text_changed })
  vim.api.nvim_create_autocmd('TextChangedP', { group = group, buffer = buf, callback = on_text_changed })
  vim.api.nvim_create_autocmd('CursorMovedI', { group = group, buffer = buf, callback = on_cursor_moved })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = buf,
    callback = function(ev)
      M.clear(ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd('BufUnload', {
    group = group,
    buffer = buf,
    callback = function(ev)
      M.clear(ev.buf)
      states[ev.buf] = nil
    end,
  })
end

function M.detach(buf)
  M.clear(buf)
  states[buf] = nil
  pcall(vim.api.nvim_clear_autocmds, { group = group, buffer = buf })
end

-- Switches -------------------------------------------------------------------------------

--- `:QuillToggle`: all ghost text off (the `suggest` key too) or on again.
function M.toggle()
  M.config.enabled = not M.config.enabled
  if not M.config.enabled then
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      M.clear(b)
    end
  end
  util.notify('ghost text ' .. (M.config.enabled and 'on' or 'off'))
  require('quill.status').redraw()
end

--- `:QuillTrigger [auto|manual]`: ghost text as you type, or only on the `suggest` key;
--- without `mode`, the other one.
---@param mode? 'auto'|'manual'|''
function M.set_trigger(mode)
  if mode == nil or mode == '' then
    mode = M.config.trigger == 'manual' and 'auto' or 'manual'
  end
  if mode ~= 'auto' and mode ~= 'manual' then
    util.notify("the trigger is 'auto' or 'manual', not " .. vim.inspect(mode), vim.log.levels.ERROR)
    return
  end
  M.config.trigger = mode
  if mode == 'manual' then
    for _, s in pairs(states) do
      stop_timer(s) -- a request typing scheduled
    end
  end
  local keys = require('quill.config').options.keymaps or {}
  util.notify(mode == 'manual'
    and ('ghost text only when asked (' .. (keys.suggest or 'require("quill").suggest()') .. ')')
    or 'ghost text as you type')
  require('quill.status').redraw()
end

return M
