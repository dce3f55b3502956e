-- Starting `quill serve` for a buffer (one server, one model in memory, for every project),
-- the editor side of its requests (window/showDocument), restarts and settings changes.
local util = require('quill.util')
local config = require('quill.config')
local ghost = require('quill.ghost')
local keymaps = require('quill.keymaps')
local next_edit = require('quill.next_edit')
local status = require('quill.status')
local ui = require('quill.ui')

local M = {}

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  -- A non-empty table: an empty Lua table would be sent as a JSON array.
  caps.textDocument.inlineCompletion = { dynamicRegistration = false }
  caps.window = caps.window or {}
  caps.window.workDoneProgress = true
  return caps
end

--- window/showDocument: the server writes long answers to a Markdown file and asks the
--- editor to open it; quill shows those in its own window instead of replacing the buffer.
local function show_document(err, params, ctx, cfg)
  local uri = params and params.uri or ''
  local path = uri:match('^file://') and vim.uri_to_fname(uri) or nil
  if path and path:match('[/\\]explanations[/\\][^/\\]+%.md$') and not params.external then
    local ok, lines = pcall(vim.fn.readfile, path)
    if ok then
      local title = 'quill'
      if lines[1] and lines[1]:match('^# ') then
        title = lines[1]:sub(3)
        table.remove(lines, 1)
        while lines[1] == '' do
          table.remove(lines, 1)
        end
      end
      vim.schedule(function()
        ui.show(title, table.concat(lines, '\n'))
      end)
      return { success = true }
    end
  end
  return vim.lsp.handlers['window/showDocument'](err, params, ctx, cfg)
end

local function on_attach(_client, buf)
  ghost.attach(buf)
  next_edit.attach(buf)
  keymaps.attach(buf)
end

--- The LspDetach autocommand: ghost text, next edits and keys go with the client.
function M.on_detach(ev)
  local c = vim.lsp.get_client_by_id(ev.data.client_id)
  if c and c.name == 'quill' then
    ghost.detach(ev.buf)
    next_edit.detach(ev.buf)
    keymaps.detach(ev.buf)
  end
end

local function on_exit(code, signal, client_id)
  vim.schedule(function()
    status.exited(code, signal, client_id)
  end)
end

local function root_dir(buf)
  if vim.fs.root then
    local r = vim.fs.root(buf, config.options.root_markers)
    if r then
      return r
    end
  end
  return vim.fn.getcwd()
end

--- Starts (or reuses) the quill server for `buf`.
function M.start(buf)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  if vim.bo[buf].buftype ~= '' or vim.api.nvim_buf_get_name(buf) == '' then
    return nil
  end
  local cmd = config.server_cmd()
  if vim.fn.executable(cmd[1]) ~= 1 then
    if not M._warned_missing then
      M._warned_missing = true
      util.notify('`' .. cmd[1] .. '` not found: set `cmd` in require("quill").setup{} or put quill on PATH (:checkhealth quill)', vim.log.levels.ERROR)
    end
    return nil
  end
  return vim.lsp.start({
    name = 'quill',
    cmd = cmd,
    root_dir = root_dir(buf),
    init_options = config.options.settings or {},
    capabilities = capabilities(),
    handlers = {
      ['window/showDocument'] = show_document,
      -- Growing ghost text: the rest of a partly answered suggestion is ready.
      ['quill/suggestionReady'] = ghost.suggestion_ready,
      -- The edit the last one implies elsewhere (a rename's next place), after a pause.
      ['quill/nextEdit'] = next_edit.on_notification,
    },
    on_attach = on_attach,
    on_exit = on_exit,
  }, {
    bufnr = buf,
    -- One server (one model in memory) for every project.
    reuse_client = function(client, cfg)
      return client.name == cfg.name and vim.deep_equal(client.config.cmd, cfg.cmd)
    end,
  })
end

--- Stops the running quill server(s) and starts a new one for the buffers they served
--- (e.g. after `:QuillPull` downloaded the model it lacked).
function M.restart()
  local bufs = {}
  local clients = vim.lsp.get_clients({ name = 'quill' })
  for _, c in ipairs(clients) do
    for b in pairs(c.attached_buffers or {}) do
      bufs[#bufs + 1] = b
    end
    if util.has_011 then
      c:stop()
    else
      c.stop()
    end
  end
  local deadline = vim.uv.now() + 10000
  local function again()
    for _, c in ipairs(clients) do
      local stopped
      if util.has_011 then
        stopped = c:is_stopped()
      else
        stopped = c.is_stopped()
      end
      if not stopped and vim.uv.now() < deadline then
        vim.defer_fn(again, 100)
        return
      end
    end
    for _, b in ipairs(bufs) do
      if vim.api.nvim_buf_is_valid(b) then
        M.start(b)
      end
    end
  end
  again()
end

--- Sends new settings to the running server(s) (workspace/didChangeConfiguration).
function M.update_settings(settings)
  config.options.settings = vim.tbl_deep_extend('force', config.options.settings or {}, settings or {})
  for _, c in ipairs(vim.lsp.get_clients({ name = 'quill' })) do
    util.notify_server(c, 'workspace/didChangeConfiguration', { settings = config.options.settings })
  end
end

return M
