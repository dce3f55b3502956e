-- quill for Neovim: ghost-text completions, explanations, reviews and refactors from a
-- local code model, through the `quill serve` language server.
local util = require('quill.util')
local ghost = require('quill.ghost')
local ui = require('quill.ui')

local M = {}

---@class quill.Keymaps
---@field accept string|false       accept the whole suggestion
---@field accept_line string|false  accept the rest of the current line of it
---@field accept_word string|false  accept the next word
---@field dismiss string|false      hide it
---@field next string|false         show the next of the server's ranked candidates
---@field prev string|false         show the previous one
---@field suggest string|false      ask now (without waiting for a change)

---@class quill.Config
---@field cmd string[]|string        the server command (a string: the binary; `serve` is added)
---@field filetypes string[]         filetypes that start the server
---@field settings table             sent as initializationOptions (see :h quill-settings)
---@field debounce_ms integer        wait after a keystroke before asking for ghost text
---@field keymaps quill.Keymaps      Insert-mode keys; false turns one off
---@field window 'float'|'split'|'vsplit'  where explanations open
---@field progress boolean           echo the server's progress (model loading, long work)
---@field virt_text_pos 'overlay'|'inline'  how the first line of ghost text is drawn
---@field root_markers string[]      files that mark a project root
M.defaults = {
  cmd = { 'quill', 'serve' },
  filetypes = { 'python', 'rust', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go' },
  settings = {},
  debounce_ms = 150,
  keymaps = {
    accept = '<M-l>',
    accept_line = '<M-j>',
    accept_word = '<M-w>',
    dismiss = '<C-]>',
    next = '<M-]>',
    prev = '<M-[>',
    suggest = '<M-\\>',
  },
  window = 'float',
  progress = true,
  virt_text_pos = 'overlay',
  root_markers = { '.git', 'Cargo.toml', 'pyproject.toml', 'setup.py', 'package.json', 'go.mod' },
}

---@type quill.Config
M.config = vim.deepcopy(M.defaults)

local function server_cmd()
  local cmd = M.config.cmd
  if type(cmd) == 'string' then
    return { cmd, 'serve' }
  end
  return cmd
end

--- The binary the server command runs (for :checkhealth).
function M.binary()
  return server_cmd()[1]
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  -- A non-empty table: an empty Lua table would be sent as a JSON array.
  caps.textDocument.inlineCompletion = { dynamicRegistration = false }
  caps.window = caps.window or {}
  caps.window.workDoneProgress = true
  return caps
end

-- Server requests and notifications --------------------------------------------------------

--- window/showDocument: the server writes long answers to a Markdown file and asks the
--- editor to open it; quill shows those in its own window instead of replacing the buffer.
local function show_document(err, params, ctx, config)
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
  return vim.lsp.handlers['window/showDocument'](err, params, ctx, config)
end

-- Long work the server shows with a progress bar (and a cancel button): token → title.
local active_work = {}

local function on_progress(ev)
  local data = ev.data or {}
  local client = vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= 'quill' then
    return
  end
  local p = data.params or data.result or {}
  local value = p.value or {}
  local token = p.token
  if value.kind == 'begin' then
    active_work[token] = { client_id = client.id, title = value.title or 'quill' }
  end
  local work = active_work[token]
  if value.kind == 'end' then
    active_work[token] = nil
  end
  if not M.config.progress then
    return
  end
  local title = (work and work.title) or value.title or 'quill'
  local msg = title
  if value.message and value.message ~= '' then
    msg = msg .. ': ' .. value.message
  end
  if value.percentage then
    msg = msg .. string.format(' (%d%%)', value.percentage)
  end
  if value.kind == 'end' and not value.message then
    msg = msg .. ': done'
  end
  msg = msg:sub(1, math.max(10, vim.o.columns - 15))
  vim.api.nvim_echo({ { msg, 'Comment' } }, false, {})
end

--- Calls `fn(client)` once the model of `client` is ready (at once if it is), or reports
--- why not. Completions answer nothing while the model loads; the chat features fail.
function M.when_ready(client, fn, timeout_ms)
  local deadline = vim.uv.now() + (timeout_ms or 180000)
  local function poll()
    util.request(client, 'quill/status', vim.NIL, function(err, st)
      if err or type(st) ~= 'table' then
        util.notify('no status from the server: ' .. util.errmsg(err), vim.log.levels.ERROR)
        return
      end
      local state = tostring(st.state)
      if state == 'ready' then
        fn(client)
      elseif state:match('^failed') or state == 'stopped' then
        util.notify('the model is not available: ' .. state, vim.log.levels.ERROR)
      elseif vim.uv.now() > deadline then
        util.notify('the model is still ' .. state .. '; try again later', vim.log.levels.WARN)
      else
        vim.defer_fn(poll, 500)
      end
    end)
  end
  poll()
end

-- Work on the current buffer ----------------------------------------------------------------

local function need_client(buf)
  local client = util.client(buf)
  if not client then
    util.notify('no quill server is attached to this buffer (filetypes: '
      .. table.concat(M.config.filetypes, ', ') .. ')', vim.log.levels.WARN)
  end
  return client
end

--- The range a command is about: the lines given (`:'<,'>Quill…`) or the cursor (the
--- server takes the function around it).
local function target_range(buf, client, opts)
  local enc = util.encoding(client)
  if opts and opts.range and opts.range > 0 then
    return util.line_range(buf, opts.line1, opts.line2, enc)
  end
  local pos = util.cursor_position(0, enc)
  return { start = pos, ['end'] = pos }
end

--- Diagnostics from other tools in `range`, for the model to explain.
local function problems_in(buf, range)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.lnum >= range.start.line and d.lnum <= range['end'].line and d.source ~= 'quill' then
      out[#out + 1] = { line = d.lnum + 1, message = d.message }
    end
  end
  return out
end

--- Explains `params` ({textDocument, range|position, problems?}) in a Markdown window.
local function explain_params(client, buf, params)
  local id
  local view = ui.open('quill: explanation', '_quill is thinking… (the model runs on this machine: 10–60 s)_', function()
    util.cancel(client, id)
  end)
  M.when_ready(client, function()
    if not view.valid() then
      return
    end
    local ok
    ok, id = util.request(client, 'quill/explain', params, function(err, result)
      if err then
        if err.code == -32800 then
          return
        end
        local msg = 'quill could not explain this: ' .. util.errmsg(err)
        if view.valid() then
          view.set('**' .. msg .. '**')
        else
          util.notify(msg, vim.log.levels.ERROR)
        end
        return
      end
      local md = type(result) == 'table' and result.markdown or ''
      if view.valid() then
        view.set(md ~= '' and md or '_(no explanation)_')
      else
        ui.show('quill: explanation', md)
      end
    end, buf)
    if not ok then
      view.set('**quill: the request could not be sent (has the server stopped?)**')
    end
  end)
  return view
end

--- `:QuillExplain`: the function at the cursor, or the lines of the range.
function M.explain(opts)
  local buf = vim.api.nvim_get_current_buf()
  local client = need_client(buf)
  if not client then
    return
  end
  local range = target_range(buf, client, opts)
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) } }
  if opts and opts.range and opts.range > 0 then
    params.range = range
  else
    params.position = range.start
  end
  local problems = problems_in(buf, range)
  if #problems > 0 then
    params.problems = problems
  end
  return explain_params(client, buf, params)
end

local function execute(client, buf, command, arg, on_result)
  M.when_ready(client, function()
    util.request(client, 'workspace/executeCommand', { command = command, arguments = { arg } }, function(err, result)
      if err then
        if err.code ~= -32800 then
          util.notify(command .. ' failed: ' .. util.errmsg(err), vim.log.levels.ERROR)
        end
        return
      end
      if on_result then
        on_result(result)
      end
    end, buf)
  end)
end

--- `:QuillReview`: findings become diagnostics (source "quill").
function M.review(opts)
  local buf = vim.api.nvim_get_current_buf()
  local client = need_client(buf)
  if not client then
    return
  end
  local arg = { action = 'review', uri = vim.uri_from_bufnr(buf), range = target_range(buf, client, opts) }
  util.notify('reviewing…')
  execute(client, buf, 'quill.review', arg, function(result)
    local n = type(result) == 'table' and result.findings or 0
    if n > 0 then
      util.notify(string.format('%d finding%s (see the diagnostics)', n, n == 1 and '' or 's'))
    end
  end)
end

local function run_refactor(client, buf, arg)
  util.notify('refactoring: ' .. arg.instruction .. ' …')
  execute(client, buf, 'quill.refactor', arg, function(result)
    if type(result) ~= 'table' then
      return
    end
    if result.applied then
      util.notify('refactored' .. (result.summary and result.summary ~= '' and (': ' .. result.summary) or ''))
    elseif result.reason then
      util.notify('not applied: ' .. tostring(result.reason), vim.log.levels.WARN)
    end
  end)
end

local function ask_instruction(cb)
  vim.ui.input({ prompt = 'quill: refactor instruction: ' }, function(input)
    if input and vim.trim(input) ~= '' then
      cb(vim.trim(input))
    end
  end)
end

--- `:QuillRefactor {instruction}`: rewrites the function at the cursor or the range.
function M.refactor(instruction, opts)
  local buf = vim.api.nvim_get_current_buf()
  local client = need_client(buf)
  if not client then
    return
  end
  local arg = {
    action = 'instruction',
    uri = vim.uri_from_bufnr(buf),
    range = target_range(buf, client, opts),
    version = vim.lsp.util.buf_versions[buf],
  }
  if instruction and vim.trim(instruction) ~= '' then
    arg.instruction = vim.trim(instruction)
    run_refactor(client, buf, arg)
  else
    ask_instruction(function(i)
      arg.instruction = i
      run_refactor(client, buf, arg)
    end)
  end
end

--- quill/status of the server attached to the current buffer (or any), as a table, to `cb`.
function M.status(cb)
  local client = util.any_client()
  if not client then
    cb(nil, 'no quill server is running')
    return
  end
  util.request(client, 'quill/status', vim.NIL, function(err, st)
    cb(st, err and util.errmsg(err) or nil)
  end)
end

local function fmt_ms(x)
  return string.format('%.0f ms', tonumber(x) or 0)
end

--- The lines `:QuillStatus` prints.
function M.format_status(st)
  local lines = {}
  local model = type(st.model) == 'table' and st.model.name or 'none'
  lines[#lines + 1] = string.format('quill %s — model %s: %s', tostring(st.version), tostring(model), tostring(st.state))
  lines[#lines + 1] = string.format('open documents: %s, position encoding: %s', tostring(st.documents), tostring(st.positionEncoding))
  local lc = st.lastCompletion
  if type(lc) == 'table' then
    lines[#lines + 1] = string.format(
      'last completion: %s ms total — prompt %d tokens (%d reused, %d evaluated) in %s, %d generated in %s, queued %s',
      string.format('%.0f', (lc.queue_ms or 0) + (lc.prompt_ms or 0) + (lc.generate_ms or 0)),
      lc.prompt_tokens or 0, lc.reused_tokens or 0, lc.evaluated_tokens or 0, fmt_ms(lc.prompt_ms),
      lc.generated_tokens or 0, fmt_ms(lc.generate_ms), fmt_ms(lc.queue_ms))
  else
    lines[#lines + 1] = 'last completion: none yet'
  end
  lines[#lines + 1] = 'ghost text: ' .. (ghost.config.enabled and 'on' or 'off')
    .. string.format(' (debounce %d ms)', ghost.config.debounce_ms)
  return lines
end

function M.show_status()
  M.status(function(st, err)
    if not st then
      util.notify(err or 'no status', vim.log.levels.WARN)
      return
    end
    local chunks = {}
    for i, l in ipairs(M.format_status(st)) do
      chunks[#chunks + 1] = { (i > 1 and '\n' or '') .. l }
    end
    vim.api.nvim_echo(chunks, true, {})
  end)
end

--- Sends new settings to the running server(s) (workspace/didChangeConfiguration).
function M.update_settings(settings)
  M.config.settings = vim.tbl_deep_extend('force', M.config.settings or {}, settings or {})
  for _, c in ipairs(vim.lsp.get_clients({ name = 'quill' })) do
    util.notify_server(c, 'workspace/didChangeConfiguration', { settings = M.config.settings })
  end
end

--- Stops the long work the server shows a progress bar for (explanations, reviews, …).
function M.cancel_work()
  local n = 0
  for token, w in pairs(active_work) do
    local c = vim.lsp.get_client_by_id(w.client_id)
    if c then
      util.notify_server(c, 'window/workDoneProgress/cancel', { token = token })
      n = n + 1
    end
    active_work[token] = nil
  end
  util.notify(n > 0 and ('cancelled ' .. n .. ' task(s)') or 'nothing to cancel')
end

function M.toggle()
  ghost.config.enabled = not ghost.config.enabled
  if not ghost.config.enabled then
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      ghost.clear(b)
    end
  end
  util.notify('ghost text ' .. (ghost.config.enabled and 'on' or 'off'))
end

-- Client-side command handlers (code actions) -------------------------------------------

local function register_commands()
  -- "Refactor with instruction…" carries no instruction: ask for it, then run it.
  vim.lsp.commands['quill.refactor'] = function(command, ctx)
    local arg = vim.deepcopy((command.arguments or {})[1] or {})
    local client = vim.lsp.get_client_by_id(ctx.client_id) or util.client(ctx.bufnr)
    if not client then
      return
    end
    local buf = ctx.bufnr or vim.uri_to_bufnr(arg.uri)
    if arg.instruction and vim.trim(arg.instruction) ~= '' then
      run_refactor(client, buf, arg)
    else
      ask_instruction(function(i)
        arg.instruction = i
        run_refactor(client, buf, arg)
      end)
    end
  end
  -- An answer the model gave instead of an edit.
  vim.lsp.commands['quill.showMarkdown'] = function(command)
    local arg = (command.arguments or {})[1] or {}
    ui.show(arg.title or 'quill', arg.markdown or '')
  end
  -- "Explain this code": in a float, through quill/explain (not a file opened in place).
  vim.lsp.commands['quill.explain'] = function(command, ctx)
    local arg = (command.arguments or {})[1] or {}
    local client = vim.lsp.get_client_by_id(ctx.client_id) or util.client(ctx.bufnr)
    if not client or not arg.uri then
      return
    end
    explain_params(client, ctx.bufnr or vim.uri_to_bufnr(arg.uri), {
      textDocument = { uri = arg.uri },
      range = arg.range,
      problems = arg.problems and #arg.problems > 0 and arg.problems or nil,
    })
  end
end

-- Buffers -------------------------------------------------------------------------------

local function map_keys(buf)
  local km = M.config.keymaps or {}
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
      ghost.request(buf)
    end, { buffer = buf, silent = true, desc = 'quill: suggest now' })
  end
end

local function on_attach(client, buf)
  ghost.attach(buf)
  map_keys(buf)
end

local function root_dir(buf)
  if vim.fs.root then
    local r = vim.fs.root(buf, M.config.root_markers)
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
  local cmd = server_cmd()
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
    init_options = M.config.settings or {},
    capabilities = capabilities(),
    handlers = { ['window/showDocument'] = show_document },
    on_attach = on_attach,
  }, {
    bufnr = buf,
    -- One server (one model in memory) for every project.
    reuse_client = function(client, config)
      return client.name == config.name and vim.deep_equal(client.config.cmd, config.cmd)
    end,
  })
end

local function define_commands()
  local cmd = vim.api.nvim_create_user_command
  cmd('QuillExplain', function(o)
    M.explain(o)
  end, { range = true, desc = 'quill: explain the function at the cursor or the range' })
  cmd('QuillReview', function(o)
    M.review(o)
  end, { range = true, desc = 'quill: review the function at the cursor for bugs' })
  cmd('QuillRefactor', function(o)
    M.refactor(o.args, o)
  end, { range = true, nargs = '*', desc = 'quill: rewrite the function at the cursor as instructed' })
  cmd('QuillStatus', function()
    M.show_status()
  end, { desc = 'quill: model, state, last completion' })
  cmd('QuillToggle', function()
    M.toggle()
  end, { desc = 'quill: ghost text on/off' })
  cmd('QuillCancel', function()
    M.cancel_work()
  end, { desc = 'quill: stop a running explanation/review/refactor' })
end

local function set_highlight()
  vim.api.nvim_set_hl(0, 'QuillGhost', { link = 'Comment', default = true })
  vim.api.nvim_set_hl(0, 'QuillGhostCount', { link = 'NonText', default = true })
end

---@param opts? quill.Config
function M.setup(opts)
  opts = opts or {}
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  if opts.filetypes then
    M.config.filetypes = opts.filetypes -- a list replaces, not merges
  end
  if opts.cmd then
    M.config.cmd = opts.cmd
  end
  ghost.config.debounce_ms = M.config.debounce_ms
  ghost.config.virt_text_pos = M.config.virt_text_pos
  ui.config.window = M.config.window

  set_highlight()
  define_commands()
  register_commands()

  local group = vim.api.nvim_create_augroup('quill', { clear = true })
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = set_highlight })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.start(ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd('LspProgress', { group = group, callback = on_progress })
  vim.api.nvim_create_autocmd('LspDetach', {
    group = group,
    callback = function(ev)
      local c = vim.lsp.get_client_by_id(ev.data.client_id)
      if c and c.name == 'quill' then
        ghost.detach(ev.buf)
        for _, lhs in pairs(M.config.keymaps or {}) do
          if lhs and lhs ~= '' then
            pcall(vim.keymap.del, 'i', lhs, { buffer = ev.buf })
          end
        end
      end
    end,
  })
  -- Buffers already open when setup runs (lazy loading).
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(M.config.filetypes, vim.bo[b].filetype) then
      M.start(b)
    end
  end
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
  ghost.request(0)
end
--- The ghost text shown in the current buffer: {text, row, col} or nil.
M.get_suggestion = ghost.get

return M
