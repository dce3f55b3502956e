-- :QuillPull [model]: `quill models pull` as a background job; what it prints and how much
-- of the file has arrived become notifications.
local util = require('quill.util')
local config = require('quill.config')

local M = {}

local pulling = {} -- label → true while a job runs

local function is_path(model)
  if model:match('^hf:') then
    return false -- `hf:OWNER/REPO/FILE.gguf`: a name `quill models pull` downloads
  end
  return model:find('/', 1, true) ~= nil or model:match('%.gguf$') ~= nil
end

--- `quill models list`: { name = size_in_bytes } and the names in order (for completion).
local function parse_list(out)
  local sizes, names, name = {}, {}, nil
  for _, l in ipairs(vim.split(out or '', '\n')) do
    local n = l:match('^(%S+)')
    if n and not l:match('^models in') then
      name = n
      names[#names + 1] = n
    elseif name and not sizes[name] then
      local mb = l:match('^%s+(%d+) MB')
      if mb then
        sizes[name] = tonumber(mb) * 1e6
      end
    end
  end
  return sizes, names
end

--- Model names `quill models list` knows (completion of :QuillPull).
function M.names()
  local ok, res = pcall(function()
    return vim.system({ config.binary(), 'models', 'list' }, { text = true }):wait(5000)
  end)
  if not ok or not res or res.code ~= 0 then
    return {}
  end
  local _, names = parse_list(res.stdout)
  return names
end

--- Bytes in the staging files of `dest` (`.FILE.*.partial` next to it) while it downloads.
local function staged_bytes(dest)
  local dir, file = vim.fs.dirname(dest), vim.fs.basename(dest)
  local n = 0
  for name, kind in vim.fs.dir(dir) do
    if kind == 'file' and vim.startswith(name, '.' .. file .. '.') and vim.endswith(name, '.partial') then
      local st = vim.uv.fs_stat(dir .. '/' .. name)
      n = n + (st and st.size or 0)
    end
  end
  return n
end

--- Runs `quill models pull [model]` in the background (the configured model when `model` is
--- nil or ''). When it succeeds and the server is waiting for that model, restarts the
--- server. `on_done(ok, path_or_error)` is called at the end. Returns the vim.SystemObj.
---@param model? string
---@param on_done? fun(ok: boolean, result: string)
function M.pull(model, on_done)
  model = model and vim.trim(model) or ''
  local configured = config.model()
  if model == '' then
    model = configured
  end
  local function done(ok, result)
    if on_done then
      on_done(ok, result)
    end
  end
  if model and is_path(model) then
    util.notify('the model is a file (' .. model .. '): there is nothing to pull', vim.log.levels.WARN)
    return done(false, 'a file path')
  end
  local label = model or 'the default model'
  if pulling[label] then
    util.notify('already pulling ' .. label)
    return done(false, 'already pulling')
  end
  local bin = config.binary()
  if vim.fn.executable(bin) ~= 1 then
    util.notify('`' .. bin .. '` not found: set `cmd` in require("quill").setup{} (:checkhealth quill)', vim.log.levels.ERROR)
    return done(false, 'no quill binary')
  end
  local name_args = model and { model } or {}

  pulling[label] = true
  util.notify('pulling ' .. label .. ' …')
  local dest, size, part
  local errors, rest = {}, ''

  -- Where the file goes and how big it is, to tell how much has arrived.
  vim.system(vim.list_extend({ bin, 'models', 'path' }, name_args), { text = true }, function(r)
    if r.code == 0 then
      dest = vim.trim(r.stdout)
    end
  end)
  vim.system({ bin, 'models', 'list' }, { text = true }, function(r)
    if r.code == 0 then
      local name = model or r.stdout:match('\n(%S+) %(default%)')
      size = name and parse_list(r.stdout)[name]
    end
  end)
  local timer = vim.uv.new_timer()
  timer:start(1000, 1000, vim.schedule_wrap(function()
    if not dest then
      return
    end
    local have = staged_bytes(dest)
    if have == 0 then
      return
    end
    local msg = string.format('quill: pulling %s: %.0f MB', label, have / 1e6)
    if size and size > 0 then
      msg = msg .. string.format(' of %.0f MB (%d%%)', size / 1e6, math.min(100, math.floor(100 * have / size)))
    end
    if part then
      msg = msg .. ', ' .. part
    end
    vim.api.nvim_echo({ { msg:sub(1, math.max(10, vim.o.columns - 15)), 'Comment' } }, false, {})
  end))

  local function line(l)
    l = vim.trim(l)
    if l == '' then
      return
    end
    local p = l:match('^(part %d+/%d+)')
    if p then
      part = p
      vim.api.nvim_echo({ { 'quill: ' .. label .. ': ' .. l, 'Comment' } }, false, {})
    elseif l:match('^Error') or l:match('^error') then
      errors[#errors + 1] = l
    else
      util.notify(l)
    end
  end

  local function finish(res)
    timer:stop()
    timer:close()
    pulling[label] = nil
    if rest ~= '' then
      line(rest)
      rest = ''
    end
    if res.code ~= 0 then
      local why = #errors > 0 and table.concat(errors, ' ') or ('exit code ' .. tostring(res.code))
      util.notify('pulling ' .. label .. ' failed: ' .. why, vim.log.levels.ERROR)
      return done(false, why)
    end
    local path = vim.trim(res.stdout or '')
    util.notify(label .. ' is downloaded: ' .. path)
    done(true, path)
    -- A server that started without this model (not downloaded) gets it now.
    if model == configured then
      require('quill.status').status(function(st)
        local state = type(st) == 'table' and tostring(st.state) or ''
        if state == 'none' or (state:match('^failed') and not state:find('inference server', 1, true)) then
          util.notify('restarting the server with ' .. label)
          require('quill.server').restart()
        end
      end)
    end
  end

  return vim.system(vim.list_extend({ bin, 'models', 'pull' }, name_args), {
    text = true,
    stderr = function(_, data)
      if not data then
        return
      end
      vim.schedule(function()
        local chunk = rest .. data:gsub('\r', '\n')
        local lines = vim.split(chunk, '\n', { plain = true })
        rest = table.remove(lines)
        for _, l in ipairs(lines) do
          line(l)
        end
      end)
    end,
  }, function(res)
    vim.schedule(function()
      finish(res)
    end)
  end)
end

return M
