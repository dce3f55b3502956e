-- :checkhealth quill
local M = {}

local health = vim.health

local function run(cmd)
  local ok, res = pcall(function()
    return vim.system(cmd, { text = true }):wait(15000)
  end)
  if not ok then
    return nil, tostring(res)
  end
  return res
end

local function model_setting()
  local ok, quill = pcall(require, 'quill')
  local settings = ok and quill.config and quill.config.settings or {}
  local s = settings.quill or settings
  return s.model
end

function M.check()
  local ok, quill = pcall(require, 'quill')
  health.start('quill: Neovim')
  if vim.fn.has('nvim-0.10') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.10 or later is needed (inline virtual text)')
  end
  if not ok then
    health.error('require("quill") failed: ' .. tostring(quill))
    return
  end
  if vim.fn.exists(':QuillExplain') == 2 then
    health.ok('setup() has run (commands defined; filetypes: ' .. table.concat(quill.config.filetypes, ', ') .. ')')
  else
    health.warn('require("quill").setup{} has not run', { 'Add require("quill").setup{} to your config' })
  end

  health.start('quill: binary')
  local bin = quill.binary()
  local path = vim.fn.exepath(bin)
  if path == '' then
    health.error('`' .. bin .. '` not found', {
      'Build it: cargo build --release (in the quill repository), then put target/release on PATH',
      'or set cmd = { "/path/to/quill", "serve" } in require("quill").setup{}',
    })
    return
  end
  local res, err = run({ path, '--version' })
  if res and res.code == 0 then
    health.ok(vim.trim(res.stdout) .. ' (' .. path .. ')')
  else
    health.error('`' .. path .. ' --version` failed: ' .. (err or vim.trim((res.stderr or '') .. (res.stdout or ''))))
    return
  end

  health.start('quill: model')
  local model = model_setting()
  if model and (model:find('/', 1, true) or model:match('%.gguf$')) then
    if vim.fn.filereadable(vim.fn.expand(model)) == 1 then
      health.ok('model file ' .. model)
    else
      health.error('model file not found: ' .. model)
    end
  else
    local args = { path, 'models', 'path' }
    if model then
      args[#args + 1] = model
    end
    local r = run(args)
    local label = model or 'the default model'
    if r and r.code == 0 then
      local file = vim.trim(r.stdout)
      if vim.fn.filereadable(file) == 1 then
        health.ok(label .. ': ' .. file)
      else
        health.error(label .. ' is not downloaded (' .. file .. ')', { 'Run: quill models pull ' .. (model or '') })
      end
    else
      health.error('`quill models path ' .. (model or '') .. '` failed: ' .. vim.trim(r and (r.stderr or '') or ''))
    end
  end
  local list = run({ path, 'models', 'list' })
  if list and list.code == 0 then
    local present = {}
    local name
    for _, l in ipairs(vim.split(list.stdout, '\n')) do
      local n = l:match('^(%S+)')
      if n and not l:match('^models in') then
        name = n
      elseif name and l:match('present') then
        present[#present + 1] = name
      end
    end
    health.info('downloaded models: ' .. (#present > 0 and table.concat(present, ', ') or 'none'))
  end

  health.start('quill: server')
  local clients = vim.lsp.get_clients({ name = 'quill' })
  if #clients == 0 then
    health.info('no quill server is running (open a file of a configured filetype to start one)')
    return
  end
  local util = require('quill.util')
  for _, c in ipairs(clients) do
    local bufs = {}
    for b in pairs(c.attached_buffers or {}) do
      bufs[#bufs + 1] = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(b), ':~:.')
    end
    health.ok(string.format('client %d (%s), attached to: %s', c.id, table.concat(c.config.cmd or {}, ' '),
      #bufs > 0 and table.concat(bufs, ', ') or 'no buffers'))
    local resp, err = util.request_sync(c, 'quill/status', vim.NIL, 3000)
    if resp and resp.result then
      local st = resp.result
      local line = table.concat(quill.format_status(st), '; ')
      local state = tostring(st.state)
      if state == 'ready' or state:match('^loading') then
        health.ok(line)
      elseif state == 'none' then
        health.warn(line, { 'The server starts the model after initialization: check again in a moment' })
      else
        health.error(line)
      end
    else
      health.error('quill/status failed: ' .. util.errmsg(err or (resp and resp.err) or 'no answer'))
    end
  end
end

return M
