-- What the server is doing: `quill/status` on demand (:QuillStatus, :checkhealth, waiting for
-- the model before a command) and a cached one-line summary for the status line, refreshed
-- on the events the client gets anyway (attach, progress, the end of a completion, exit).
local util = require('quill.util')

local M = {}

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

local function fmt_ms(x)
  return string.format('%.0f ms', tonumber(x) or 0)
end

--- Milliseconds the completion `lc` (quill/status `lastCompletion`) took in all.
local function total_ms(lc)
  return (tonumber(lc.queue_ms) or 0) + (tonumber(lc.prompt_ms) or 0) + (tonumber(lc.generate_ms) or 0)
end

--- The lines `:QuillStatus` prints.
function M.format_status(st)
  local ghost = require('quill.ghost')
  local lines = {}
  local model = type(st.model) == 'table' and st.model.name or 'none'
  lines[#lines + 1] = string.format('quill %s — model %s: %s', tostring(st.version), tostring(model), tostring(st.state))
  lines[#lines + 1] = string.format('open documents: %s, position encoding: %s', tostring(st.documents), tostring(st.positionEncoding))
  local lc = st.lastCompletion
  if type(lc) == 'table' then
    local tps = ''
    if (tonumber(lc.generate_ms) or 0) > 0 and (lc.generated_tokens or 0) > 0 then
      tps = string.format(' (%.0f tokens/s)', lc.generated_tokens * 1000 / lc.generate_ms)
    end
    lines[#lines + 1] = string.format(
      'last completion: %s ms total — prompt %d tokens (%d reused, %d evaluated) in %s, %d generated in %s%s, queued %s',
      string.format('%.0f', total_ms(lc)),
      lc.prompt_tokens or 0, lc.reused_tokens or 0, lc.evaluated_tokens or 0, fmt_ms(lc.prompt_ms),
      lc.generated_tokens or 0, fmt_ms(lc.generate_ms), tps, fmt_ms(lc.queue_ms))
  else
    lines[#lines + 1] = 'last completion: none yet'
  end
  local ghost_line = 'ghost text: ' .. (ghost.config.enabled and 'on' or 'off')
  if ghost.trigger(0) == 'manual' then
    local key = require('quill.config').options.keymaps.suggest
    ghost_line = ghost_line .. ', only when asked' .. (key and (' (' .. key .. ')') or '')
  else
    ghost_line = ghost_line .. string.format(' (debounce %d ms)', ghost.config.debounce_ms)
  end
  lines[#lines + 1] = ghost_line
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

-- The status line ----------------------------------------------------------------------

--- The summary of a quill/status answer `st` (nil: none yet): `quill: ready 212 ms`,
--- `quill: loading 40%`, `quill: failed`, `quill: backend down`, `quill: no model`.
function M.line(st)
  if type(st) ~= 'table' then
    return 'quill: starting'
  end
  local state = tostring(st.state or '?')
  if state == 'ready' then
    if type(st.lastCompletion) == 'table' then
      return string.format('quill: ready %.0f ms', total_ms(st.lastCompletion))
    end
    return 'quill: ready'
  elseif state:match('^loading') then
    return 'quill: ' .. state
  elseif state:match('^failed') then
    -- With a `backend` set: the model is loaded but its inference server does not answer.
    return state:find('inference server', 1, true) and 'quill: backend down' or 'quill: failed'
  elseif state == 'none' then
    return 'quill: no model'
  end
  return 'quill: ' .. state
end

local cache = {
  st = nil, ---@type table? the last quill/status answer
  attached = false, -- a quill client has attached (and not exited since)
  attached_at = 0,
  exit = nil, ---@type string? how the last client ended, while none runs
  text = '',
}
local inflight, again = false, false
local timer ---@type uv.uv_timer_t?
local due ---@type integer? when the timer fires
--- After a completion: the `lastCompletion` seen before it, and until when to ask again
--- while it stays the same (a generation answered early records its timings at its end).
local awaiting ---@type { before: table?, until_ms: integer }?
local AWAIT_TIMINGS_MS = 30000

local function compose()
  if cache.exit then
    return cache.exit
  end
  if not cache.attached then
    return ''
  end
  local ghost = require('quill.ghost')
  local st = cache.st
  if type(st) == 'table' and st.state == 'none' and vim.uv.now() - cache.attached_at < 3000 then
    st = nil -- the model starts just after `initialized`: not "no model" yet
  end
  local text = M.line(st)
  if not ghost.config.enabled then
    text = text .. ' (off)'
  elseif ghost.config.trigger == 'manual' then
    text = text .. ' (manual)'
  end
  return text
end

--- Recomputes the status line text from what is cached; redraws when it changed.
function M.redraw()
  local text = compose()
  if text == cache.text then
    return
  end
  cache.text = text
  pcall(vim.cmd.redrawstatus)
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'QuillStatus', modeline = false })
end

--- Refreshes the cache in `ms` (at the latest; an earlier refresh already planned stays).
local function refresh_in(ms)
  local at = vim.uv.now() + ms
  if due and due <= at then
    return
  end
  timer = timer or vim.uv.new_timer()
  due = at
  timer:stop()
  timer:start(ms, 0, vim.schedule_wrap(function()
    due = nil
    M.refresh()
  end))
end

--- Asks the server for quill/status (asynchronously) and updates the status line. While
--- the model loads it asks again every second.
function M.refresh()
  local client = util.any_client()
  if not client then
    M.redraw()
    return
  end
  if inflight then
    again = true
    return
  end
  inflight = true
  local ok = util.request(client, 'quill/status', vim.NIL, function(err, st)
    inflight = false
    if not err and type(st) == 'table' then
      cache.st = st
    end
    M.redraw()
    if again then
      again = false
      refresh_in(0)
      return
    end
    local state = type(st) == 'table' and tostring(st.state) or ''
    -- The model starts just after `initialized` ("none" until then) and then loads.
    if state:match('^loading') or (state == 'none' and vim.uv.now() - cache.attached_at < 15000) then
      refresh_in(1000)
    elseif awaiting and type(st) == 'table' then
      -- A completion answered early (first line, time budget) records its timings when its
      -- generation ends: ask again until they change, for a while.
      if vim.deep_equal(st.lastCompletion, awaiting.before) and vim.uv.now() < awaiting.until_ms then
        refresh_in(1000)
      else
        awaiting = nil
      end
    end
  end)
  if not ok then
    inflight = false
  end
end

--- A completion request has ended: its timings (and the backend's health) are news.
function M.completed()
  if not awaiting then
    awaiting = { before = cache.st and cache.st.lastCompletion, until_ms = 0 }
  end
  awaiting.until_ms = vim.uv.now() + AWAIT_TIMINGS_MS
  refresh_in(200)
end

--- The quill client `client_id` attached to a buffer.
function M.attached(_client_id)
  if not cache.attached or cache.exit then
    cache.attached_at = vim.uv.now()
  end
  cache.attached = true
  cache.exit = nil
  refresh_in(0)
end

--- Model loading and other progress of the server.
function M.progress()
  refresh_in(250)
end

--- A quill client exited (vim.lsp.start's on_exit).
function M.exited(code, signal, client_id)
  for _, c in ipairs(vim.lsp.get_clients({ name = 'quill' })) do
    if c.id ~= client_id then
      refresh_in(0) -- another one still runs
      return
    end
  end
  cache.st = nil
  cache.attached = false
  if signal and signal ~= 0 then
    cache.exit = string.format('quill: killed (signal %d)', signal)
  elseif code and code ~= 0 then
    cache.exit = string.format('quill: exited (code %d)', code)
  else
    cache.exit = 'quill: stopped'
  end
  M.redraw()
end

--- The status line text: '' before a quill server has started, then e.g. `quill: ready
--- 212 ms`, `quill: loading 40%`, `quill: failed`, `quill: backend down`, `quill: stopped`,
--- with ` (manual)` or ` (off)` after it when ghost text only comes when asked or not at
--- all. Cheap: it returns what is cached and never waits for the server.
function M.statusline()
  if not cache.attached and not cache.exit and not due and util.any_client() then
    -- Set up after the server started (lazy loading): learn about it in the background.
    cache.attached = true
    cache.attached_at = vim.uv.now()
    refresh_in(0)
  end
  return cache.text
end

return M
