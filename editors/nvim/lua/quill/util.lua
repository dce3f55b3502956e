-- Small helpers shared by the quill modules, and the few places where Neovim 0.10 and
-- 0.11 differ (method-call style on LSP clients, vim.str_utfindex's signature).
local M = {}

M.has_011 = vim.fn.has('nvim-0.11') == 1

--- The quill client attached to `bufnr` (0 = current), or nil.
---@param bufnr? integer
---@return vim.lsp.Client?
function M.client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local clients = vim.lsp.get_clients({ name = 'quill', bufnr = bufnr })
  return clients[1]
end

--- Any running quill client (for commands that do not need a buffer).
---@return vim.lsp.Client?
function M.any_client()
  return M.client(0) or vim.lsp.get_clients({ name = 'quill' })[1]
end

--- The document version the LSP client has sent for `buf` (0 at didOpen, then
--- b:changedtick with each change; Neovim keeps it in vim.lsp.util.buf_versions).
---@param buf integer
---@return integer
function M.doc_version(buf)
  local v = vim.lsp.util.buf_versions[buf]
  return type(v) == 'number' and v or 0
end

--- Whether `uri` names `buf` (as the client sent it, or the same file).
---@param uri string
---@param buf integer
function M.names_buffer(uri, buf)
  if vim.uri_from_bufnr(buf) == uri then
    return true
  end
  local ok, fname = pcall(vim.uri_to_fname, uri)
  return ok and uri:match('^file:') ~= nil and fname == vim.api.nvim_buf_get_name(buf)
end

--- client:request(...) on 0.11, client.request(...) on 0.10.
function M.request(client, method, params, handler, bufnr)
  if M.has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  if M.has_011 then
    return client:request_sync(method, params, timeout_ms, bufnr)
  end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

function M.notify_server(client, method, params)
  if M.has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.cancel(client, id)
  if not (client and id) then
    return
  end
  pcall(function()
    if M.has_011 then
      client:cancel_request(id)
    else
      client.cancel_request(id)
    end
  end)
end

--- The column of byte offset `byte` in `line`, counted in the client's position encoding.
---@param line string
---@param byte integer 0-based byte offset
---@param enc string 'utf-8'|'utf-16'|'utf-32'
function M.char_index(line, byte, enc)
  byte = math.min(byte, #line)
  if enc == 'utf-8' then
    return byte
  end
  if M.has_011 then
    return vim.str_utfindex(line, enc, byte, false)
  end
  local u32, u16 = vim.str_utfindex(line, byte)
  return enc == 'utf-16' and u16 or u32
end

--- The byte offset of column `index` (counted in `enc`) in `line`.
function M.byte_index(line, index, enc)
  if enc == 'utf-8' then
    return math.min(index, #line)
  end
  local ok, b
  if M.has_011 then
    ok, b = pcall(vim.str_byteindex, line, enc, index, false)
  else
    ok, b = pcall(vim.str_byteindex, line, index, enc == 'utf-16')
  end
  return ok and b or #line
end

--- The LSP range covering lines `line1`..`line2` (1-based, inclusive) of `bufnr`.
function M.line_range(bufnr, line1, line2, enc)
  local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
  return {
    start = { line = line1 - 1, character = 0 },
    ['end'] = { line = line2 - 1, character = M.char_index(last, #last, enc) },
  }
end

--- The LSP position of the cursor in window `win` (0 = current).
function M.cursor_position(win, enc)
  win = win or 0
  local buf = vim.api.nvim_win_get_buf(win)
  local row, col = unpack(vim.api.nvim_win_get_cursor(win))
  local line = vim.api.nvim_buf_get_lines(buf, row - 1, row, false)[1] or ''
  return { line = row - 1, character = M.char_index(line, col, enc) }
end

function M.encoding(client)
  return client and client.offset_encoding or 'utf-16'
end

function M.notify(msg, level)
  vim.notify('quill: ' .. msg, level or vim.log.levels.INFO)
end

--- The message of an LSP error object (or anything else) as a string.
function M.errmsg(err)
  if type(err) == 'table' then
    return tostring(err.message or vim.inspect(err))
  end
  return tostring(err)
end

return M
