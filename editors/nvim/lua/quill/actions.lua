-- The work quill does on request: explain, review and refactor the function at the cursor
-- (or a range), and the client side of the server's commands that code actions run.
local util = require('quill.util')
local config = require('quill.config')
local status = require('quill.status')
local ui = require('quill.ui')

local M = {}

local function need_client(buf)
  local client = util.client(buf)
  if not client then
    util.notify('no quill server is attached to this buffer (filetypes: '
      .. table.concat(config.options.filetypes, ', ') .. ')', vim.log.levels.WARN)
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
  status.when_ready(client, function()
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
  status.when_ready(client, function()
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

--- Client-side handlers of the commands quill's code actions carry (vim.lsp.commands).
function M.register_handlers()
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

return M
