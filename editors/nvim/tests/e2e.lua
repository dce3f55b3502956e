-- End-to-end tests of the quill Neovim client against the real `quill serve`.
--
-- Run by tests/run.sh as `nvim -l tests/e2e.lua [test…]`. Each test session is a separate
-- Neovim (`nvim --embed --headless -u tests/init.lua`) driven over RPC: keys go in with
-- nvim_input, as a user types them, so insert mode, autocommands, timers and the LSP
-- client all run as they do in a terminal.
local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
local tmp = root .. '/tests/.tmp'
vim.fn.mkdir(tmp, 'p')
local model = os.getenv('QUILL_TEST_MODEL') or 'qwen2.5-coder-0.5b-instruct-q4_k_m'
local verbose = os.getenv('QUILL_TEST_VERBOSE') == '1'

local t0 = vim.uv.hrtime()
local function now_s()
  return (vim.uv.hrtime() - t0) / 1e9
end
local function log(fmt, ...)
  io.stdout:write(string.format('[%6.1fs] ' .. fmt .. '\n', now_s(), ...))
  io.stdout:flush()
end

-- The Neovim under test ------------------------------------------------------------------

local Child = {}
Child.__index = Child

function Child.spawn()
  local chan = vim.fn.jobstart({
    vim.v.progpath, '--embed', '--headless', '-n', '-i', 'NONE', '-u', root .. '/tests/init.lua',
  }, { rpc = true, cwd = tmp })
  assert(chan > 0, 'could not start nvim --embed')
  return setmetatable({ chan = chan }, Child)
end

function Child:lua(code, ...)
  return vim.rpcrequest(self.chan, 'nvim_exec_lua', code, { ... })
end

function Child:input(keys)
  vim.rpcrequest(self.chan, 'nvim_input', keys)
end

--- Types `text` a character at a time, `delay_ms` apart, like a person.
function Child:type(text, delay_ms)
  for ch in text:gmatch('.') do
    self:input(ch == '<' and '<lt>' or ch)
    vim.wait(delay_ms or 40)
  end
end

function Child:cmd(c)
  vim.rpcrequest(self.chan, 'nvim_command', c)
end

function Child:mode()
  return vim.rpcrequest(self.chan, 'nvim_get_mode').mode
end

function Child:stop()
  pcall(vim.rpcrequest, self.chan, 'nvim_exec_lua', [[
    for _, c in ipairs(vim.lsp.get_clients({ name = 'quill' })) do c:stop(true) end
  ]], {})
  vim.wait(300)
  pcall(vim.fn.jobstop, self.chan)
end

--- Polls `cond` (which asks the child) until it returns a truthy value.
local function wait_for(what, timeout_s, cond)
  local deadline = vim.uv.now() + timeout_s * 1000
  while true do
    local v = cond()
    if v and v ~= vim.NIL then
      return v
    end
    if vim.uv.now() > deadline then
      error(string.format('timed out after %d s waiting for %s', timeout_s, what), 0)
    end
    vim.wait(200)
  end
end

local function check(cond, msg, ...)
  if not cond then
    error(string.format(msg, ...), 0)
  end
end

--- Errors the child reported (vim.notify at ERROR level, v:errmsg).
local function child_errors(c)
  return c:lua([[
    local out = {}
    for _, m in ipairs(_G.quill_test_messages) do
      if m.level >= vim.log.levels.ERROR then out[#out + 1] = m.msg end
    end
    if vim.v.errmsg ~= '' then out[#out + 1] = 'v:errmsg: ' .. vim.v.errmsg end
    return out
  ]])
end

local function open_sample(c, name)
  local path = tmp .. '/' .. name
  vim.fn.writefile(vim.fn.readfile(root .. '/tests/fixtures/sample.py'), path)
  c:cmd('edit ' .. vim.fn.fnameescape(path))
  return path
end

local function wait_attached(c)
  wait_for('the quill client to attach', 30, function()
    return c:lua([[return #vim.lsp.get_clients({ name = 'quill', bufnr = 0 }) > 0]])
  end)
end

local function wait_ready(c, timeout_s)
  local state = ''
  wait_for('the model to load (last state: ' .. state .. ')', timeout_s, function()
    state = c:lua([[
      local c = vim.lsp.get_clients({ name = 'quill' })[1]
      local r = c and require('quill.util').request_sync(c, 'quill/status', vim.NIL, 5000)
      return r and r.result and r.result.state or '?'
    ]])
    if state:match('^failed') then
      error('the model failed to load: ' .. state, 0)
    end
    return state == 'ready'
  end)
end

local function find_line(c, pattern)
  local lines = c:lua([[return vim.api.nvim_buf_get_lines(0, 0, -1, false)]])
  for i, l in ipairs(lines) do
    if l:find(pattern, 1, true) then
      return i
    end
  end
  error('no line with ' .. pattern, 0)
end

local GHOST = [[
  local q = require('quill')
  local s = q.get_suggestion()
  if not s then return nil end
  local ns = vim.api.nvim_get_namespaces()['quill_ghost']
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if #marks == 0 then return nil end
  local d = marks[1][4]
  local first = d.virt_text and d.virt_text[1] or nil
  return {
    text = s.text, row = marks[1][2], col = marks[1][3],
    first = first and first[1] or '', hl = first and first[2] or (d.virt_lines and d.virt_lines[1][1][2]),
    pos = d.virt_text_pos, virt_lines = d.virt_lines and #d.virt_lines or 0,
    cursor = vim.api.nvim_win_get_cursor(0),
  }
]]

--- Records the requests the plugin sends (method, triggerKind) in _G.qreq of the child.
local RECORD = [[
  if not _G.qreq then
    _G.qreq = {}
    local client = vim.lsp.get_clients({ name = 'quill' })[1]
    local request = client.request
    client.request = function(self, method, params, handler, bufnr)
      local kind = type(params) == 'table' and params.context and params.context.triggerKind or nil
      table.insert(_G.qreq, { method = method, kind = kind })
      return request(self, method, params, handler, bufnr)
    end
  end
  return #_G.qreq
]]

--- The requests recorded since index `from` (RECORD's answer), of `method`.
local function requests_since(c, from, method)
  return c:lua([[
    local out = {}
    for i = ... + 1, #_G.qreq do
      if _G.qreq[i].method == select(2, ...) then out[#out + 1] = _G.qreq[i].kind or 0 end
    end
    return out
  ]], from, method)
end

local function statusline(c)
  return c:lua([[return require('quill').statusline()]])
end

-- Tests ------------------------------------------------------------------------------------

local tests = {}

--- setup{} with no options, a Python file, :checkhealth quill: no Lua errors.
tests.smoke = function()
  local c = Child.spawn()
  local ok, err = pcall(function()
    c:lua([[require('quill').setup{}]])
    check(c:lua([[return vim.fn.exists(':QuillExplain') == 2 and vim.fn.exists(':QuillStatus') == 2]]),
      'setup{} did not define the commands')
    open_sample(c, 'smoke.py')
    wait_attached(c)
    local enc = c:lua([[return vim.lsp.get_clients({ name = 'quill' })[1].offset_encoding]])
    log('  client attached (position encoding %s)', enc)
    wait_for('the server to start the model', 30, function()
      return c:lua([[
        local r = require('quill.util').request_sync(vim.lsp.get_clients({ name = 'quill' })[1], 'quill/status', vim.NIL, 5000)
        return r and r.result and r.result.state ~= 'none'
      ]])
    end)
    -- A command with no model yet, and one on a buffer without quill, must not throw.
    c:cmd('QuillStatus')
    c:cmd('enew')
    c:cmd('QuillExplain')
    c:cmd('bprevious')
    c:cmd('checkhealth quill')
    local report = c:lua([[return vim.api.nvim_buf_get_lines(0, 0, -1, false)]])
    local text = table.concat(report, '\n')
    if verbose then
      print(text)
    end
    check(text:find('quill: binary', 1, true), 'the health report has no "quill: binary" section:\n%s', text)
    for _, bad in ipairs({ 'Failed to run healthcheck', 'stack traceback', 'E5108', 'attempt to' }) do
      check(not text:find(bad, 1, true), 'Lua error in :checkhealth quill (%s):\n%s', bad, text)
    end
    check(text:find('quill %d+%.%d+'), 'the health report does not show `quill --version`:\n%s', text)
    check(text:find('client %d+'), 'the health report does not show the attached client:\n%s', text)
    check(not text:find('ERROR', 1, true), 'the health report has errors:\n%s', text)
    local errs = child_errors(c)
    -- "no quill server is attached" is a WARN; anything at ERROR level is a failure.
    check(#errs == 0, 'errors: %s', table.concat(errs, ' | '))
    local oks = select(2, text:gsub('OK ', ''))
    log('  :checkhealth quill: %d OK lines, no errors', oks)
    -- The help file: tags build without errors, every |link| leads somewhere.
    local helpdir = tmp .. '/helpcheck'
    vim.fn.mkdir(helpdir .. '/doc', 'p')
    vim.fn.writefile(vim.fn.readfile(root .. '/doc/quill.txt'), helpdir .. '/doc/quill.txt')
    c:cmd('set runtimepath+=' .. helpdir)
    c:cmd('helptags ' .. helpdir .. '/doc')
    local links, broken = {}, {}
    for l in io.lines(root .. '/doc/quill.txt') do
      for tag in l:gmatch('|([%w%.:_%-%(%)]+)|') do
        links[tag] = true
      end
    end
    local n = 0
    for tag in pairs(links) do
      n = n + 1
      local okh, e = pcall(c.cmd, c, 'help ' .. tag)
      if not okh then
        broken[#broken + 1] = tag .. ' (' .. tostring(e) .. ')'
      end
    end
    c:cmd('helpclose')
    check(#broken == 0, 'broken help links: %s', table.concat(broken, ', '))
    log('  doc/quill.txt: %d help links resolve', n)
  end)
  c:stop()
  if not ok then
    error(err, 0)
  end
end

--- The keys on ghost text set by hand (no model): accept word, line, all; dismiss;
--- drawing in the middle of a line; fallbacks when there is no ghost text.
tests.keys = function()
  local c = Child.spawn()
  local ok, err = pcall(function()
    c:lua([[require('quill').setup({ settings = { model = ... } })]], model)
    open_sample(c, 'keys.py')
    wait_attached(c)
    local row = find_line(c, 'total = 0')
    c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 12 })]], row) -- before the 0
    c:input('i')
    wait_for('insert mode', 5, function() return c:mode() == 'i' end)
    c:lua([[require('quill.ghost').show('sum(values) + ')]])
    local g = c:lua(GHOST)
    check(g ~= vim.NIL and g.pos == 'overlay', 'no overlay ghost text: %s', vim.inspect(g))
    local chunks = c:lua([[
      local m = vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_get_namespaces()['quill_ghost'], 0, -1, { details = true })[1]
      return m[4].virt_text
    ]])
    check(vim.deep_equal(chunks, { { 'sum(values) + ', 'QuillGhost' }, { '0', 'Normal' } }),
      'mid-line ghost text drawn as %s', vim.inspect(chunks))
    local function line()
      return c:lua([[return vim.api.nvim_get_current_line()]])
    end
    c:input('<M-w>')
    wait_for('a word', 5, function() return line() == '    total = sum0' end)
    c:input('<M-w>')
    wait_for('a symbol', 5, function() return line() == '    total = sum(0' end)
    check(c:lua([[return require('quill').get_suggestion().text]]) == 'values) + ', 'the rest is not shown')
    c:input('<M-l>')
    wait_for('the rest', 5, function() return line() == '    total = sum(values) + 0' end)
    local cur = c:lua([[return vim.api.nvim_win_get_cursor(0)]])
    check(cur[2] == #'    total = sum(values) + ', 'cursor at %d after accepting', cur[2])
    check(c:lua([[return require('quill').get_suggestion() == nil]]), 'ghost text left after accepting')
    -- Multi-line, at the end of a line: <M-j> takes a line at a time; <C-]> dismisses.
    c:input('<End>')
    c:lua([[require('quill.ghost').show('  # a\n    x = 1\n    y = 2')]])
    g = c:lua(GHOST)
    check(g.virt_lines == 2 and g.first == '  # a', 'multi-line ghost text drawn as %s', vim.inspect(g))
    c:input('<M-j>')
    wait_for('a line', 5, function() return line() == '    total = sum(values) + 0  # a' end)
    c:input('<M-j>')
    wait_for('the next line', 5, function() return line() == '    x = 1' end)
    check(c:lua([[return require('quill').get_suggestion().text]]) == '\n    y = 2', 'the last line is not left')
    c:input('<C-]>')
    wait_for('dismissed', 5, function() return c:lua([[return require('quill').get_suggestion() == nil]]) end)
    check(line() == '    x = 1', 'dismiss changed the line')
    -- No ghost text: Alt keys do nothing, <C-]> is passed on; still in insert mode.
    c:input('<M-l><M-w><C-]>z')
    wait_for('typed z', 5, function() return line() == '    x = 1z' end)
    check(c:mode() == 'i', 'left insert mode (mode %s)', c:mode())
    c:lua([[require('quill.ghost').show('abc')]])
    c:input('<Esc>')
    wait_for('normal mode', 5, function() return c:mode() == 'n' end)
    check(c:lua([[return require('quill').get_suggestion() == nil]]), 'ghost text left after <Esc>')
    -- window/showDocument of an answer file: shown in a Markdown float, not in place.
    local dir = tmp .. '/explanations'
    vim.fn.mkdir(dir, 'p')
    vim.fn.writefile({ '# quill: explanation', '', 'Line one.', '', '- a point' }, dir .. '/explanation-1-0.md')
    local res = c:lua([[
      local client = vim.lsp.get_clients({ name = 'quill' })[1]
      local h = client.handlers['window/showDocument']
      local r = h(nil, { uri = vim.uri_from_fname(...), takeFocus = true }, { client_id = client.id, method = 'window/showDocument' })
      return r
    ]], dir .. '/explanation-1-0.md')
    check(type(res) == 'table' and res.success == true, 'showDocument answered %s', vim.inspect(res))
    local shown = wait_for('the answer float', 5, function()
      return c:lua([[
        if vim.b.quill_done and vim.bo.filetype == 'markdown' then
          return { title = vim.b.quill_title, lines = vim.api.nvim_buf_get_lines(0, 0, -1, false) }
        end
      ]])
    end)
    check(shown.title == 'quill: explanation' and shown.lines[1] == 'Line one.', 'answer float: %s', vim.inspect(shown))
    c:input('q')
    local errs = child_errors(c)
    check(#errs == 0, 'errors: %s', table.concat(errs, ' | '))
  end)
  c:stop()
  if not ok then
    error(err, 0)
  end
end

--- The shared session of the real-model tests.
local session
local session_completed = false

local function real_session()
  if session then
    return session
  end
  local c = Child.spawn()
  c:lua([[require('quill').setup({ settings = { model = ... }, debounce_ms = 100 })]], model)
  open_sample(c, 'sample.py')
  wait_attached(c)
  local t = now_s()
  wait_ready(c, 180)
  log('  model %s ready after %.1f s', model, now_s() - t)
  session = c
  return c
end

--- Typing in a function body shows ghost text; <M-l> inserts it.
tests.ghost = function()
  local c = real_session()
  local row = find_line(c, 'return n')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 0 })]], row)
  -- Record the inlineCompletion requests the plugin sends and cancels.
  c:lua([[
    local client = vim.lsp.get_clients({ name = 'quill' })[1]
    _G.qlog = {}
    local request, cancel = client.request, client.cancel_request
    client.request = function(self, method, params, handler, bufnr)
      if method ~= 'textDocument/inlineCompletion' then
        return request(self, method, params, handler, bufnr)
      end
      local e = { t = vim.uv.now() }
      table.insert(_G.qlog, e)
      local ok, id = request(self, method, params, function(...)
        e.answered = true
        return handler(...)
      end, bufnr)
      e.id = id
      return ok, id
    end
    client.cancel_request = function(self, id)
      for _, e in ipairs(_G.qlog) do
        if e.id == id and not e.answered then e.cancelled = true end
      end
      return cancel(self, id)
    end
  ]])
  c:input('o') -- a new line in fibonacci's body, indented by the ftplugin
  c:type('return f')
  vim.wait(800) -- a pause: a request goes out; typing on makes it stale
  c:type('ib')
  check(c:mode() == 'i', 'not in insert mode (mode %s)', c:mode())
  local t = now_s()
  local g = wait_for('ghost text', 120, function()
    return c:lua(GHOST)
  end)
  log('  ghost text after %.1f s: %q (%s, %d virtual lines, hl %s)', now_s() - t, g.text, tostring(g.pos),
    g.virt_lines, tostring(g.hl))
  local q = c:lua([[return _G.qlog]])
  local stale, cancelled = 0, 0
  for i = 1, #q - 1 do
    if q[i].cancelled then
      cancelled = cancelled + 1
    elseif not q[i].answered then
      stale = stale + 1
    end
  end
  log('  %d requests, %d cancelled when superseded', #q, cancelled)
  check(stale == 0, '%d superseded requests were neither answered nor cancelled', stale)
  check(#q >= 2, 'expected a request during the pause and one after (got %d)', #q)
  check(g.hl == 'QuillGhost', 'ghost text highlight is %s, not QuillGhost', tostring(g.hl))
  check(g.row == row and g.col == #'    return fib', 'ghost text at %d:%d, not at the cursor', g.row, g.col)
  check(g.cursor[1] == row + 1 and g.cursor[2] == g.col, 'cursor moved')
  local before = c:lua([[return vim.api.nvim_buf_get_lines(0, 0, -1, false)]])
  c:input('<M-l>')
  local expected = '    return fib' .. g.text
  local got = wait_for('the accepted text in the buffer', 10, function()
    local lines = c:lua([[return vim.api.nvim_buf_get_lines(0, ...)]], row, row + select(2, g.text:gsub('\n', '')) + 1, false)
    local s = table.concat(lines, '\n')
    return s == expected and s or nil
  end)
  check(c:mode() == 'i', 'accepting left insert mode')
  local after_lines = c:lua([[return #vim.api.nvim_buf_get_lines(0, 0, -1, false)]])
  check(after_lines == #before + select(2, g.text:gsub('\n', '')), 'line count after accepting is %d', after_lines)
  check(c:lua([[return require('quill').get_suggestion() == nil]]), 'ghost text still shown after accepting')
  local marks = c:lua([[return #vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_get_namespaces()['quill_ghost'], 0, -1, {})]])
  check(marks == 0, 'ghost extmark left after accepting')
  local cur = c:lua([[return vim.api.nvim_win_get_cursor(0)]])
  local last = vim.split(got, '\n')
  check(cur[1] == row + #last and cur[2] == #last[#last], 'cursor not at the end of the accepted text: %s',
    vim.inspect(cur))
  session_completed = true
  log('  accepted: %q', got)
  c:input('<Esc>')
end

--- Accept a word: part goes in, the rest stays; <C-]> dismisses; leaving insert clears.
tests.word = function()
  local c = real_session()
  local row = find_line(c, 'return math.hypot')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 0 })]], row)
  c:input('O') -- above the return in distance()
  c:type('dx = ')
  local g = wait_for('ghost text', 120, function()
    return c:lua(GHOST)
  end)
  log('  ghost text: %q', g.text)
  local line_before = c:lua([[return vim.api.nvim_get_current_line()]])
  c:input('<M-w>')
  local word = wait_for('a word accepted', 10, function()
    local l = c:lua([[return vim.api.nvim_get_current_line()]])
    return l ~= line_before and l:sub(#line_before + 1) or nil
  end)
  check(g.text:sub(1, #word) == word, 'accepted %q, not a prefix of %q', word, g.text)
  local rest = g.text:sub(#word + 1)
  if rest ~= '' then
    local g2 = c:lua(GHOST)
    check(g2 and g2.text == rest, 'the rest %q is not shown after accepting a word (got %s)', rest, vim.inspect(g2))
    c:input('<C-]>')
    wait_for('dismissed ghost text', 5, function()
      return c:lua([[return require('quill').get_suggestion() == nil]])
    end)
  end
  log('  accepted word %q, rest %q dismissed', word, rest)
  c:input('<Esc>')
  wait_for('normal mode', 5, function()
    return c:mode() == 'n'
  end)
  check(c:lua([[return #vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_get_namespaces()['quill_ghost'], 0, -1, {})]]) == 0,
    'ghost text left after <Esc>')
  c:cmd('undo')
end

--- With ranked candidates (setting `candidates`), <M-]> and <M-[> cycle through them and
--- the count shows after the line; <M-l> accepts the one shown.
tests.cycle = function()
  local c = real_session()
  local function candidates(n)
    c:lua([[
      local client = vim.lsp.get_clients({ name = 'quill' })[1]
      client:notify('workspace/didChangeConfiguration', { settings = { candidates = ... } })
    ]], n)
  end
  candidates(3)
  local row = find_line(c, 'return math.hypot')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 0 })]], row)
  c:input('O')
  c:type('dy = ')
  local shown = [[
    local s = require('quill').get_suggestion()
    if not s or not s.items or #s.items < 2 then return nil end
    local ns = vim.api.nvim_get_namespaces()['quill_ghost']
    local count
    for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
      if m[4].virt_text_pos == 'eol' then count = m[4].virt_text[1][1] end
    end
    return { text = s.text, items = s.items, index = s.index, count = count }
  ]]
  local g = wait_for('ghost text with several candidates', 120, function()
    return c:lua(shown)
  end)
  log('  %d candidates: %s', #g.items, vim.inspect(g.items))
  check(g.index == 1 and g.text == g.items[1], 'the first candidate is not the one shown')
  check(g.count == ' 1/' .. #g.items, 'count %s, not 1/%d', tostring(g.count), #g.items)
  c:input('<M-]>')
  local g2 = wait_for('the second candidate', 10, function()
    local s = c:lua(shown)
    return s and s.index == 2 and s or nil
  end)
  check(g2.text == g.items[2] and g2.count == ' 2/' .. #g.items, 'the second candidate is not shown: %s',
    vim.inspect(g2))
  c:input('<M-[>')
  wait_for('the first candidate again', 10, function()
    local s = c:lua(shown)
    return s and s.index == 1
  end)
  c:input('<M-]>')
  wait_for('the second candidate again', 10, function()
    local s = c:lua(shown)
    return s and s.index == 2
  end)
  c:input('<M-l>')
  local expected = 'dy = ' .. vim.split(g.items[2], '\n')[1]
  wait_for('the second candidate accepted', 10, function()
    return vim.trim(c:lua([[return vim.api.nvim_buf_get_lines(0, ..., ... + 1, false)[1] ]], row - 1)) == expected
  end)
  check(c:mode() == 'i', 'accepting left insert mode')
  c:input('<Esc>')
  wait_for('normal mode', 5, function()
    return c:mode() == 'n'
  end)
  c:cmd('undo')
  candidates(1)
end

--- The manual trigger: typing asks nothing; the ask-now key (<M-\>) does, as an invoked
--- request; :QuillToggle off silences the key too; :QuillTrigger switches back.
tests.manual = function()
  local c = real_session()
  local n0 = c:lua(RECORD)
  c:cmd('QuillTrigger manual')
  check(c:lua([[return require('quill.ghost').config.trigger]]) == 'manual', 'trigger not manual')
  local row = find_line(c, 'return total / len')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 0 })]], row)
  c:input('O') -- above the return in mean()
  c:type('count = ')
  vim.wait(1500) -- ten times the debounce: in auto mode a request would have gone out
  local sent = requests_since(c, n0, 'textDocument/inlineCompletion')
  check(#sent == 0, 'typing sent %d inlineCompletion requests in manual mode', #sent)
  check(c:lua(GHOST) == vim.NIL, 'ghost text without asking')
  check(c:mode() == 'i', 'not in insert mode (mode %s)', c:mode())
  local t = now_s()
  c:input('<M-\\>')
  local g = wait_for('ghost text after the ask-now key', 120, function()
    return c:lua(GHOST)
  end)
  sent = requests_since(c, n0, 'textDocument/inlineCompletion')
  log('  typing: no request; <M-\\>: %d request(s) (triggerKind %s), ghost text after %.1f s: %q', #sent,
    table.concat(sent, ','), now_s() - t, g.text)
  check(#sent == 1 and sent[1] == 1, 'expected one invoked request (triggerKind 1), got %s', vim.inspect(sent))
  -- Typing on removes it and asks nothing.
  c:type('n')
  vim.wait(800)
  check(c:lua(GHOST) == vim.NIL, 'ghost text left after typing on')
  check(#requests_since(c, n0, 'textDocument/inlineCompletion') == 1, 'typing on sent a request in manual mode')
  -- :QuillToggle (off) silences the key as well; on again, still manual.
  c:cmd('QuillToggle')
  c:input('<M-\\>')
  vim.wait(500)
  check(#requests_since(c, n0, 'textDocument/inlineCompletion') == 1, 'the key asked with ghost text off')
  check(statusline(c):match(' %(off%)$'), 'status line with ghost text off: %s', statusline(c))
  c:cmd('QuillToggle')
  check(statusline(c):match(' %(manual%)$'), 'status line in manual mode: %s', statusline(c))
  c:cmd('QuillTrigger') -- no argument: the other mode
  check(c:lua([[return require('quill.ghost').config.trigger]]) == 'auto', ':QuillTrigger did not switch back to auto')
  check(not statusline(c):find('manual', 1, true), 'status line still says manual: %s', statusline(c))
  c:input('<Esc>')
  wait_for('normal mode', 5, function()
    return c:mode() == 'n'
  end)
  c:cmd('undo')
  local errs = child_errors(c)
  check(#errs == 0, 'errors: %s', table.concat(errs, ' | '))
end

--- Growing ghost text (`quill/suggestionReady`): a notification for the state of the ghost
--- text quill answered asks again, the way typing asks; one for another version, cursor or
--- buffer, after <C-]>, with ghost text off or outside Insert mode does not. The server sends
--- it only when a generation outlives `timeBudgetMs`, which depends on the model's speed, so
--- the test hands notifications to the client's handler as Neovim dispatches one from the
--- server (client.handlers[method](nil, params, ctx)), made from the state of real ghost text.
tests.grow = function()
  local c = real_session()
  -- Only the notifications this test hands over: the server's own (the default budget
  -- makes it send real ones on this slow build) would ask again too.
  local function budget(ms)
    c:lua([[
      local client = vim.lsp.get_clients({ name = 'quill' })[1]
      client:notify('workspace/didChangeConfiguration', { settings = { timeBudgetMs = ... } })
    ]], ms)
  end
  budget(0)
  local saved = c:lua([[return vim.api.nvim_buf_get_lines(0, 0, -1, false)]])
  check(c:lua([[
    return type(vim.lsp.get_clients({ name = 'quill' })[1].handlers['quill/suggestionReady']) == 'function'
  ]]), 'no quill/suggestionReady handler on the client')
  --- Calls the handler with params for the current buffer, version and cursor, changed by
  --- `change` (version/line/character offsets, another uri, or malformed).
  local function ready(change)
    local r = c:lua([[
      local change = ...
      local client = vim.lsp.get_clients({ name = 'quill', bufnr = 0 })[1]
      local buf = vim.api.nvim_get_current_buf()
      local pos = require('quill.util').cursor_position(0, client.offset_encoding)
      local params = { uri = vim.uri_from_bufnr(buf), version = vim.lsp.util.buf_versions[buf], position = pos }
      params.version = params.version + (change.version or 0)
      pos.line = pos.line + (change.line or 0)
      pos.character = pos.character + (change.character or 0)
      params.uri = change.uri or params.uri
      if change.malformed then
        params = { uri = params.uri, version = tostring(params.version) }
      end
      local asked, why = client.handlers['quill/suggestionReady'](nil, params,
        { client_id = client.id, method = 'quill/suggestionReady' })
      return { asked = asked, why = why or '' }
    ]], change or { none = true })
    return r.asked, r.why
  end
  --- Marks the ghost text shown now, then (new_ghost) waits for that of a later answer:
  --- marked before what asks, as an answer from the server's cache comes at once.
  local function mark()
    c:lua([[local s = require('quill').get_suggestion(); if s then s.seen = true end]])
  end
  local function new_ghost(what)
    return wait_for(what, 120, function()
      return c:lua([[local s = require('quill').get_suggestion(); return s and not s.seen and s.text]])
    end)
  end
  local function expect_not(change, why_pattern, label)
    local asked, why = ready(change)
    check(asked == false and why:find(why_pattern), '%s: asked=%s why=%q', label, tostring(asked), why)
  end
  local method = 'textDocument/inlineCompletion'
  local row = find_line(c, 'return total / len')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 0 })]], row)
  c:input('O') -- above the return in mean()
  c:type('avg = ')
  local text = new_ghost('ghost text')
  mark()
  local n1 = c:lua(RECORD)
  vim.wait(300)
  n1 = c:lua(RECORD) -- no request may be on its way now
  expect_not({ version = -1 }, 'changed', 'an older version')
  expect_not({ character = 1 }, 'cursor', 'another column')
  expect_not({ line = -1 }, 'cursor', 'another line')
  expect_not({ uri = vim.uri_from_fname(tmp .. '/elsewhere.py') }, 'another buffer', 'another file')
  expect_not({ malformed = true }, 'malformed', 'malformed params')
  vim.wait(300)
  check(#requests_since(c, n1, method) == 0, 'a notification that does not match sent a request')
  -- Matching: one automatic request (as typing sends), answered with ghost text again.
  mark()
  local asked, why = ready()
  check(asked == true, 'a matching notification was ignored: %s', why)
  local again = new_ghost('ghost text after the re-ask')
  local sent = requests_since(c, n1, method)
  check(#sent == 1 and sent[1] == 2, 'expected one automatic request (triggerKind 2), got %s', vim.inspect(sent))
  log('  ghost text %q; matching notification: asked again, answered %q', text, again)
  -- Dismissed with <C-]>: ignored.
  c:input('<C-]>')
  wait_for('dismissed', 5, function() return c:lua([[return require('quill').get_suggestion() == nil]]) end)
  expect_not(nil, 'dismissed', 'after <C-]>')
  -- Answered as you type, then the trigger made manual: ignored. Asked with the key in
  -- manual mode: asked again, as an invoked request.
  mark()
  c:type('t')
  new_ghost('ghost text after typing on')
  c:cmd('QuillTrigger manual')
  expect_not(nil, 'manual', 'an automatic answer in manual mode')
  local n2 = c:lua(RECORD)
  mark()
  c:input('<M-\\>')
  new_ghost('ghost text from the ask-now key')
  mark()
  asked, why = ready()
  check(asked == true, 'manual mode: the notification for the asked suggestion was ignored: %s', why)
  wait_for('the re-ask', 10, function() return #requests_since(c, n2, method) == 2 end)
  sent = requests_since(c, n2, method)
  check(sent[1] == 1 and sent[2] == 1, 'manual mode: expected two invoked requests, got %s', vim.inspect(sent))
  new_ghost('ghost text after the manual re-ask')
  c:cmd('QuillTrigger auto')
  -- Ghost text off (:QuillToggle), and Normal mode: ignored.
  c:cmd('QuillToggle')
  expect_not(nil, 'off', 'ghost text off')
  c:cmd('QuillToggle')
  c:input('<Esc>')
  wait_for('normal mode', 5, function() return c:mode() == 'n' end)
  expect_not(nil, 'Insert', 'Normal mode')
  log('  ignored: older version, other cursor/buffer, malformed, dismissed, manual mode, off, Normal mode')
  c:lua([[vim.api.nvim_buf_set_lines(0, 0, -1, false, ...)]], saved)
  budget(250)
  local errs = child_errors(c)
  check(#errs == 0, 'errors: %s', table.concat(errs, ' | '))
end

--- :QuillExplain on a function opens a Markdown window with the explanation.
tests.explain = function()
  local c = real_session()
  c:input('<Esc>')
  local row = find_line(c, 'total += v')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 4 })]], row)
  local src_win = c:lua([[return vim.api.nvim_get_current_win()]])
  c:cmd('QuillExplain')
  local t = now_s()
  local info = wait_for('the explanation window', 300, function()
    return c:lua([[
      for _, w in ipairs(vim.api.nvim_list_wins()) do
        local b = vim.api.nvim_win_get_buf(w)
        if vim.b[b].quill_done then
          return { win = w, ft = vim.bo[b].filetype, float = vim.api.nvim_win_get_config(w).relative ~= '',
            lines = vim.api.nvim_buf_get_lines(b, 0, -1, false) }
        end
      end
    ]])
  end)
  local md = table.concat(info.lines, '\n')
  log('  explanation after %.1f s (%d lines, %d chars, filetype %s, %s)', now_s() - t, #info.lines, #md, info.ft,
    info.float and 'float' or 'split')
  for i = 1, math.min(#info.lines, verbose and #info.lines or 4) do
    log('    | %s', info.lines[i])
  end
  check(info.win ~= src_win, 'the explanation is not in its own window')
  check(info.ft == 'markdown', 'filetype %s, not markdown', info.ft)
  check(vim.trim(md) ~= '' and not md:find('could not explain', 1, true), 'empty or failed explanation: %s', md)
  c:input('q')
  wait_for('the window to close', 5, function()
    return not c:lua([[return vim.api.nvim_win_is_valid(...)]], info.win)
  end)
end

--- :QuillStatus and quill/status after the completions: timings of the last one.
tests.status = function()
  local c = real_session()
  local lines = c:lua([[
    local done
    require('quill').status(function(st) done = st end)
    vim.wait(5000, function() return done ~= nil end)
    return done and require('quill').format_status(done) or nil
  ]])
  check(lines, 'no quill/status answer')
  for _, l in ipairs(lines) do
    log('  %s', l)
  end
  check(lines[1]:find(model, 1, true) and lines[1]:find('ready', 1, true), 'status: %s', lines[1])
  if session_completed then
    check(lines[3]:find('last completion: %d+ ms'), 'no last completion timings: %s', lines[3])
  end
  c:cmd('QuillStatus')
  local errs = child_errors(c)
  check(#errs == 0, 'errors: %s', table.concat(errs, ' | '))
  if session_completed then
    local line = wait_for('the status line with timings', 5, function()
      local l = statusline(c)
      return l:match('^quill: ready %d+ ms$') and l
    end)
    log('  statusline(): %s', line)
  end
end

--- require('quill').statusline() against a fresh server: '' before one starts, starting or
--- loading, ready, the last completion's latency after one, stopped; setup{ trigger =
--- 'manual' } shows; calling it sends nothing.
tests.statusline = function()
  local c = Child.spawn()
  local ok, err = pcall(function()
    c:lua([[require('quill').setup({ settings = { model = ... }, trigger = 'manual' })]], model)
    check(statusline(c) == '', 'before a server starts: %q', statusline(c))
    -- What a status line would show, sampled every 20 ms from the start.
    c:lua([[
      _G.qlines = {}
      local timer = vim.uv.new_timer()
      _G.qtimer = timer
      timer:start(0, 20, vim.schedule_wrap(function()
        local l = require('quill').statusline()
        if _G.qlines[#_G.qlines] ~= l then table.insert(_G.qlines, l) end
      end))
    ]])
    open_sample(c, 'statusline.py')
    wait_attached(c)
    wait_for('quill: ready in the status line', 180, function()
      return statusline(c):match('^quill: ready')
    end)
    local seen = c:lua([[_G.qtimer:stop(); return _G.qlines]])
    log('  status lines while starting: %s', table.concat(vim.tbl_map(function(l)
      return l == '' and "''" or l
    end, seen), ' → '))
    check(statusline(c) == 'quill: ready (manual)', 'ready, no completion yet: %q', statusline(c))
    local before_ready = vim.tbl_filter(function(l)
      return l:match('^quill: starting') or l:match('^quill: loading')
    end, seen)
    check(#before_ready > 0, 'no starting/loading state before ready: %s', vim.inspect(seen))
    for _, l in ipairs(seen) do
      check(not l:match('no model') and not l:match('failed'), 'status line said %q while starting', l)
    end
    -- A completion (asked for: manual trigger) puts its latency in the status line.
    local row = find_line(c, 'return n')
    c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 0 })]], row)
    c:input('o')
    c:type('return f')
    c:input('<M-\\>')
    wait_for('ghost text', 120, function()
      return c:lua(GHOST)
    end)
    local line = wait_for('the latency in the status line', 30, function()
      local l = statusline(c)
      return l:match('^quill: ready %d+ ms %(manual%)$') and l
    end)
    local lc = c:lua([[
      local r = require('quill.util').request_sync(vim.lsp.get_clients({ name = 'quill' })[1], 'quill/status', vim.NIL, 5000)
      local lc = r.result.lastCompletion
      return (lc.queue_ms or 0) + (lc.prompt_ms or 0) + (lc.generate_ms or 0)
    ]])
    check(line == string.format('quill: ready %.0f ms (manual)', lc), '%q, but quill/status says %.0f ms', line, lc)
    log('  after a completion: %s', line)
    -- Cheap: a status line redraws often; calling it sends no request and takes no time.
    local n0 = c:lua(RECORD)
    local ms = c:lua([[
      local t = vim.uv.hrtime()
      for _ = 1, 2000 do require('quill').statusline() end
      return (vim.uv.hrtime() - t) / 1e6
    ]])
    vim.wait(300)
    local asked = requests_since(c, n0, 'quill/status')
    check(#asked == 0, '2000 statusline() calls sent %d quill/status requests', #asked)
    check(ms < 200, '2000 statusline() calls took %.0f ms', ms)
    log('  2000 calls: %.1f ms, no requests', ms)
    -- The server stops: the status line says so.
    c:input('<Esc>')
    c:lua([[for _, cl in ipairs(vim.lsp.get_clients({ name = 'quill' })) do cl:stop() end]])
    wait_for('quill: stopped', 15, function()
      return statusline(c) == 'quill: stopped'
    end)
    local errs = child_errors(c)
    check(#errs == 0, 'errors: %s', table.concat(errs, ' | '))
  end)
  c:stop()
  if not ok then
    error(err, 0)
  end
end

--- A `backend` that does not answer: the status line says "backend down" (the model, which
--- only lends its vocabulary, is ready), and :QuillStatus the reason.
tests.backend = function()
  local c = Child.spawn()
  local ok, err = pcall(function()
    -- Port 9 (discard): nothing listens there.
    c:lua([[require('quill').setup({ settings = { model = ..., backend = { url = 'http://127.0.0.1:9', api = 'llama-server', timeoutMs = 2000 } } })]], model)
    open_sample(c, 'backend.py')
    wait_attached(c)
    -- (A warm-up may already have found the server down.)
    local first = wait_for('the model (vocabulary) to load', 180, function()
      local l = statusline(c)
      return (l:match('^quill: ready') or l == 'quill: backend down') and l
    end)
    log('  first: %s', first)
    local row = find_line(c, 'return n')
    c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 0 })]], row)
    c:input('o')
    c:type('return f')
    c:input('<M-\\>')
    wait_for('quill: backend down', 30, function()
      return statusline(c) == 'quill: backend down'
    end)
    local st = c:lua([[
      local r = require('quill.util').request_sync(vim.lsp.get_clients({ name = 'quill' })[1], 'quill/status', vim.NIL, 5000)
      return r.result.state
    ]])
    log('  statusline(): quill: backend down (state %q)', st)
    check(st:find('inference server', 1, true), 'quill/status state: %s', st)
    c:input('<Esc>')
  end)
  c:stop()
  if not ok then
    error(err, 0)
  end
end

--- :QuillPull runs `quill models pull` as a job: the configured model (already here: it
--- says so quickly), a named one that does not exist (an error), a file path (nothing to
--- pull); model names complete.
tests.pull = function()
  local c = Child.spawn()
  local ok, err = pcall(function()
    c:lua([[require('quill').setup({ settings = { model = ... } })]], model)
    local function messages(from)
      return c:lua([[
        local out = {}
        for i = ... + 1, #_G.quill_test_messages do
          local m = _G.quill_test_messages[i]
          out[#out + 1] = { msg = m.msg, level = m.level }
        end
        return out
      ]], from)
    end
    local function wait_message(from, pattern)
      return wait_for('a message matching ' .. pattern, 60, function()
        for _, m in ipairs(messages(from)) do
          if m.msg:find(pattern) then
            return m
          end
        end
      end)
    end
    local n0 = #c:lua([[return _G.quill_test_messages]])
    c:cmd('QuillPull')
    local m = wait_message(n0, 'is downloaded')
    check(m.msg:find(model, 1, true) and m.level == vim.log.levels.INFO, 'pull: %s', vim.inspect(m))
    local all = messages(n0)
    check(all[1].msg:find('pulling ' .. model, 1, true), 'first message: %s', all[1].msg)
    check(vim.iter(all):any(function(x) return x.msg:find('already present', 1, true) end),
      "no line from quill models pull: %s", vim.inspect(all))
    log('  :QuillPull → %s', table.concat(vim.tbl_map(function(x) return x.msg end, all), ' | '))
    local n1 = #c:lua([[return _G.quill_test_messages]])
    c:cmd('QuillPull no-such-model')
    m = wait_message(n1, 'failed')
    check(m.level == vim.log.levels.ERROR and m.msg:find('unknown model', 1, true), 'bad name: %s', vim.inspect(m))
    log('  :QuillPull no-such-model → %s', m.msg:sub(1, 100))
    local n2 = #c:lua([[return _G.quill_test_messages]])
    c:cmd('QuillPull /tmp/some/model.gguf')
    m = wait_message(n2, 'nothing to pull')
    check(m.level == vim.log.levels.WARN, 'a path: %s', vim.inspect(m))
    local names = c:lua([[return vim.fn.getcompletion('QuillPull qwen', 'cmdline')]])
    check(vim.tbl_contains(names, model), 'completion: %s', vim.inspect(names))
  end)
  c:stop()
  if not ok then
    error(err, 0)
  end
end

--- The proposal shown in the current buffer and its mark: where, what, the text after the line.
local NEXT_EDIT = [[
  local p = require('quill').get_next_edit()
  local ns = vim.api.nvim_get_namespaces()['quill_next_edit']
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if not p or #marks ~= 1 then return nil end
  local m = marks[1]
  return {
    row = m[2], col = m[3], end_row = m[4].end_row, end_col = m[4].end_col, hl = m[4].hl_group,
    hint = m[4].virt_text and m[4].virt_text[1][1] or '', new_text = p.new_text, label = p.label,
    remaining = p.remaining, version = p.version,
  }
]]

--- Next edits against the real server: rename a parameter at its definition as a user types
--- it; the proposal shows at the next use; <Tab> jumps there, <Tab> applies it; the next
--- one follows and is applied; the other function's `count` stays. An argument added to
--- one of three lines alike goes on to the next two, each with its own name. A parameter
--- added to `__init__` is stored, then passed where the class is constructed. An edit that is not a
--- rename shows nothing; <Tab> with nothing shown is CTRL-I; with `nextEdits = false` nothing
--- is pushed and :QuillNextEdit asks; leaving the buffer, an edit or a stale version clears.
tests.nextedit = function()
  local c = Child.spawn()
  local ok, err = pcall(function()
    c:lua([[require('quill').setup({ settings = { model = ... }, debounce_ms = 100 })]], model)
    local path = tmp .. '/nextedit.py'
    local source = {
      'def scale(values, count):',
      '    """Multiply each value by count."""',
      '    factor = count * 2',
      '    return [v * factor for v in values], count',
      '',
      '',
      'def tally(items):',
      '    count = 0',
      '    for _ in items:',
      '        count += 1',
      '    return count',
      '',
      '',
      'def report(out, a, bb, c):',
      '    out.write(a)',
      '    out.write(bb)',
      '    out.write(c)',
      '',
      '',
      'class Point:',
      '    def __init__(self, x, y):',
      '        self.x = x',
      '        self.y = y',
      '',
      '',
      'origin = Point(0, 0)',
    }
    vim.fn.writefile(source, path)
    c:cmd('edit ' .. vim.fn.fnameescape(path))
    wait_attached(c)
    check(c:lua([[
      return type(vim.lsp.get_clients({ name = 'quill' })[1].handlers['quill/nextEdit']) == 'function'
    ]]), 'no quill/nextEdit handler on the client')
    -- Count the proposals the server pushes.
    c:lua([[
      local client = vim.lsp.get_clients({ name = 'quill' })[1]
      local handler = client.handlers['quill/nextEdit']
      _G.qpushes = 0
      client.handlers['quill/nextEdit'] = function(...)
        _G.qpushes = _G.qpushes + 1
        return handler(...)
      end
    ]])
    local function pushes()
      return c:lua([[return _G.qpushes]])
    end
    local function lines()
      return c:lua([[return vim.api.nvim_buf_get_lines(0, 0, -1, false)]])
    end
    local function cursor()
      return c:lua([[return vim.api.nvim_win_get_cursor(0)]])
    end
    local function messages_since(n)
      return c:lua([[
        local out = {}
        for i = ... + 1, #_G.quill_test_messages do out[#out + 1] = _G.quill_test_messages[i].msg end
        return out
      ]], n)
    end
    --- :QuillNextEdit, when the server has none: it says so and shows nothing.
    local function ask_expect_none(what)
      local n0 = #c:lua([[return _G.quill_test_messages]])
      c:cmd('QuillNextEdit')
      wait_for('"no next edit" (' .. what .. ')', 30, function()
        return vim.tbl_contains(messages_since(n0), 'quill: no next edit here')
      end)
      check(c:lua(NEXT_EDIT) == vim.NIL, '%s: a proposal is shown: %s', what, vim.inspect(c:lua(NEXT_EDIT)))
    end
    --- Waits for the proposal at `row` (0-based) over the word `old` of `source`.
    local function wait_proposal(what, row, old, new)
      local col = source[row + 1]:find(old, 1, true) - 1
      local g = wait_for(what, 60, function()
        local g = c:lua(NEXT_EDIT)
        return g ~= vim.NIL and g.row == row and g or nil
      end)
      check(g.col == col and g.end_row == row and g.end_col == col + #old and g.new_text == new,
        '%s: %s, not %s at %d:%d-%d', what, vim.inspect(g), new, row, col, col + #old)
      check(g.hl == 'QuillNextEdit', '%s: highlight %s', what, tostring(g.hl))
      check(g.hint:find('→ ' .. new, 1, true) and g.hint:find(g.label, 1, true) and g.hint:find('<Tab>', 1, true),
        '%s: the text after the line is %q', what, g.hint)
      return g, col
    end
    --- <Tab> jumps to the proposal; <Tab> again applies it.
    local function jump_and_accept(what, g, col, expected_line)
      local before = lines()
      c:input('<Tab>')
      wait_for('the cursor at ' .. what, 10, function()
        local cur = cursor()
        return cur[1] == g.row + 1 and cur[2] == col
      end)
      check(vim.deep_equal(lines(), before), 'jumping to %s changed the buffer', what)
      c:input('<Tab>')
      wait_for(what .. ' applied', 10, function()
        return lines()[g.row + 1] == expected_line
      end)
      local cur = cursor()
      check(cur[1] == g.row + 1 and cur[2] == col, 'the cursor is at %s after applying %s', vim.inspect(cur), what)
      check(c:mode() == 'n', 'applying left Normal mode (%s)', c:mode())
    end

    -- Rename the parameter at its definition, as a user would: ciw, type, <Esc>.
    local def = find_line(c, 'def scale(')
    c:lua([[vim.api.nvim_win_set_cursor(0, { ..., select(2, ...) })]], def, source[def]:find('count', 1, true) - 1)
    c:input('ciw')
    c:type('total')
    c:input('<Esc>')
    wait_for('normal mode', 5, function() return c:mode() == 'n' end)
    local t = now_s()
    local g, col = wait_proposal('the first proposal', 2, 'count', 'total')
    log('  after %.1f s: %q at %d:%d (%d more)', now_s() - t, g.hint, g.row + 1, g.col, g.remaining)
    check(g.remaining == 1 and g.label:find('count → total', 1, true), 'label %q, remaining %d', g.label, g.remaining)
    jump_and_accept('the first use', g, col, '    factor = total * 2')
    g, col = wait_proposal('the second proposal', 3, 'count', 'total')
    log('  then: %q at %d:%d', g.hint, g.row + 1, g.col)
    check(g.remaining == 0, 'remaining %d at the last place', g.remaining)
    jump_and_accept('the second use', g, col, '    return [v * factor for v in values], total')
    local expected = vim.deepcopy(source)
    expected[1] = 'def scale(values, total):'
    expected[3] = '    factor = total * 2'
    expected[4] = '    return [v * factor for v in values], total'
    check(vim.deep_equal(lines(), expected), 'after the rename:\n%s', table.concat(lines(), '\n'))
    c:cmd('write')
    check(vim.deep_equal(vim.fn.readfile(path), expected), 'the file written: %s', vim.inspect(vim.fn.readfile(path)))
    ask_expect_none('every use renamed')

    -- A repeated pattern: an argument added to one line of three alike; the next line gets
    -- it with its own name, then the last.
    local w = find_line(c, 'out.write(a)')
    c:lua([[vim.api.nvim_win_set_cursor(0, { ..., select(2, ...) })]], w, #source[w] - 1)
    c:input('i')
    c:type(', len(a)')
    c:input('<Esc>')
    wait_for('normal mode', 5, function() return c:mode() == 'n' end)
    t = now_s()
    for k, name in ipairs({ 'bb', 'c' }) do
      local row = w + k - 1 -- 0-based row of the next line
      local at = #source[row + 1] - 1 -- before its `)`
      g = wait_for('the pattern proposal for ' .. name, 60, function()
        local p = c:lua(NEXT_EDIT)
        return p ~= vim.NIL and p.row == row and p or nil
      end)
      check(g.col == at and g.end_row == row and g.end_col == at and g.new_text == ', len(' .. name .. ')',
        'pattern proposal for %s: %s', name, vim.inspect(g))
      check(g.label:find('len(' .. name .. ')', 1, true) and g.remaining == 2 - k, 'pattern label %q, remaining %d',
        g.label, g.remaining)
      log('  pattern after %.1f s: %q at %d:%d', now_s() - t, g.hint, g.row + 1, g.col)
      jump_and_accept('the pattern in line ' .. (row + 1), g, at, '    out.write(' .. name .. ', len(' .. name .. '))')
      t = now_s()
    end
    ask_expect_none('every line of the pattern changed')
    for k, name in ipairs({ 'a', 'bb', 'c' }) do
      expected[w + k - 1] = '    out.write(' .. name .. ', len(' .. name .. '))'
    end

    -- Nothing shown: <Tab> is CTRL-I (forward in the jump list).
    c:input('gg')
    c:input('G')
    c:input('<C-o>')
    wait_for('back at the top', 5, function() return cursor()[1] == 1 end)
    c:input('<Tab>')
    wait_for('<Tab> as CTRL-I: forward to the last line', 5, function() return cursor()[1] == #source end)

    -- An edit that is not a rename: no proposal is pushed (the server pushes one ~300 ms
    -- after an edit that implies one; 3 s is plenty), and asking gives none.
    local n0 = pushes()
    local inc = find_line(c, 'count += 1')
    c:lua([[vim.api.nvim_win_set_cursor(0, { ..., select(2, ...) })]], inc, #source[inc] - 1)
    c:input('r2')
    wait_for('the edit', 5, function() return lines()[inc] == '        count += 2' end)
    vim.wait(3000)
    check(pushes() == n0 and c:lua(NEXT_EDIT) == vim.NIL, 'a proposal after `r2`: %d pushed, shown %s',
      pushes() - n0, vim.inspect(c:lua(NEXT_EDIT)))
    ask_expect_none('after an edit that is not a rename')
    log('  an edit that is not a rename: nothing pushed, nothing shown')

    -- nextEdits = false: the server pushes nothing; :QuillNextEdit still asks.
    c:lua([[require('quill').update_settings({ nextEdits = false })]])
    local param = find_line(c, 'def tally(')
    c:lua([[vim.api.nvim_win_set_cursor(0, { ..., select(2, ...) })]], param, source[param]:find('items', 1, true) - 1)
    n0 = pushes()
    c:input('ciw')
    c:type('things')
    c:input('<Esc>')
    wait_for('normal mode', 5, function() return c:mode() == 'n' end)
    vim.wait(3000)
    check(pushes() == n0 and c:lua(NEXT_EDIT) == vim.NIL, 'nextEdits = false: %d pushed, shown %s', pushes() - n0,
      vim.inspect(c:lua(NEXT_EDIT)))
    c:cmd('QuillNextEdit')
    g, col = wait_proposal(':QuillNextEdit', 8, 'items', 'things')
    check(pushes() == n0, 'nextEdits = false, but the server pushed a proposal')
    log('  nextEdits = false: nothing pushed; :QuillNextEdit shows %q', g.hint)
    -- Leaving the buffer clears it; asking again brings it back.
    local buf = c:lua([[return vim.api.nvim_get_current_buf()]])
    c:cmd('enew')
    check(c:lua([[
      return #vim.api.nvim_buf_get_extmarks(..., vim.api.nvim_get_namespaces()['quill_next_edit'], 0, -1, {}) == 0
    ]], buf), 'the proposal is still drawn after leaving the buffer')
    c:cmd('buffer ' .. buf)
    check(c:lua(NEXT_EDIT) == vim.NIL, 'the proposal is back without asking')
    c:cmd('QuillNextEdit')
    g, col = wait_proposal(':QuillNextEdit again', 8, 'items', 'things')
    -- The handler shows only what is for this buffer as it is now (and nothing while
    -- nextEdits is false: a notification sent before the server heard of it).
    local function handle(change)
      return c:lua([[
        local change = ...
        local client = vim.lsp.get_clients({ name = 'quill', bufnr = 0 })[1]
        local buf = vim.api.nvim_get_current_buf()
        local params = { uri = vim.uri_from_bufnr(buf), version = vim.lsp.util.buf_versions[buf] + (change.version or 0),
          range = { start = { line = 10, character = 11 }, ['end'] = { line = 10, character = 16 } },
          newText = 'n', kind = 'rename', label = 'rename count → n', remaining = 0 }
        if change.malformed then params.range = nil end
        params.uri = change.uri or params.uri
        local shown, why = client.handlers['quill/nextEdit'](nil, params, { client_id = client.id, method = 'quill/nextEdit' })
        return { shown = shown, why = why or '' }
      ]], change)
    end
    local r = handle({})
    check(r.shown == false and r.why:find('off', 1, true), 'nextEdits = false: %s', vim.inspect(r))
    c:lua([[require('quill').update_settings({ nextEdits = true })]])
    for _, case in ipairs({
      { change = { version = -1 }, why = 'changed' },
      { change = { uri = 'file:///elsewhere.py' }, why = 'another buffer' },
      { change = { malformed = true }, why = 'malformed' },
    }) do
      local r = handle(case.change)
      check(r.shown == false and r.why:find(case.why, 1, true), '%s: %s', vim.inspect(case.change), vim.inspect(r))
    end
    check(c:lua(NEXT_EDIT).row == 8, 'a refused notification replaced the proposal')
    jump_and_accept('the loop', g, col, '    for _ in things:')
    expected[7] = 'def tally(things):'
    expected[9] = '    for _ in things:'
    expected[10] = '        count += 2'
    check(vim.deep_equal(lines(), expected), 'after the second rename:\n%s', table.concat(lines(), '\n'))
    -- Any further edit clears a proposal (one handed to the handler: the server's next
    -- answer depends on the edit).
    r = handle({})
    check(r.shown == true and c:lua(NEXT_EDIT).row == 10, 'a proposal for this version was not shown: %s', vim.inspect(r))
    c:lua([[vim.api.nvim_win_set_cursor(0, { 1, 0 })]])
    c:input('A  # scaled<Esc>')
    wait_for('the proposal cleared by an edit', 10, function()
      return c:lua([[
        return #vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_get_namespaces()['quill_next_edit'], 0, -1, {}) == 0
      ]])
    end)
    check(lines()[11] == '    return count', 'the cleared proposal was applied')

    -- A constructor's new parameter: the store of it follows, then the argument at the
    -- construction (written by the model: any one argument).
    local init = find_line(c, 'def __init__(self, x, y):')
    c:lua([[vim.api.nvim_win_set_cursor(0, { ..., select(2, ...) })]], init, #source[init] - 2)
    c:input('i')
    c:type(', label')
    c:input('<Esc>')
    wait_for('normal mode', 5, function() return c:mode() == 'n' end)
    t = now_s()
    g = wait_for('the store proposal', 60, function()
      local p = c:lua(NEXT_EDIT)
      return p ~= vim.NIL and p.row == init + 2 and p or nil
    end)
    check(g.col == 0 and g.new_text == '        self.label = label\n' and g.label:find('self.label = label', 1, true),
      'store proposal: %s', vim.inspect(g))
    log('  store after %.1f s: %q at %d:%d', now_s() - t, g.hint, g.row + 1, g.col)
    jump_and_accept('the store', g, 0, '        self.label = label')
    local call = find_line(c, 'origin = Point(0, 0)')
    t = now_s()
    g = wait_for('the argument proposal', 120, function()
      local p = c:lua(NEXT_EDIT)
      return p ~= vim.NIL and p.row == call - 1 and p or nil
    end)
    local at = #'origin = Point(0, 0'
    check(g.col == at and g.end_col == at and g.new_text:sub(1, 2) == ', ' and g.label:find('Point', 1, true),
      'argument proposal: %s', vim.inspect(g))
    log('  argument after %.1f s: %q at %d:%d', now_s() - t, g.hint, g.row + 1, g.col)
    jump_and_accept('the argument', g, at, 'origin = Point(0, 0' .. g.new_text .. ')')
    check(lines()[init] == '    def __init__(self, x, y, label):' and lines()[init + 3] == '        self.label = label',
      'after the constructor:\n%s', table.concat(lines(), '\n'))
    local errs = child_errors(c)
    check(#errs == 0, 'errors: %s', table.concat(errs, ' | '))
  end)
  c:stop()
  if not ok then
    error(err, 0)
  end
end

--- (optional) :QuillReview publishes diagnostics with source quill, or says there are none.
tests.review = function()
  local c = real_session()
  c:input('<Esc>')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 4 })]], find_line(c, 'total += v'))
  local n0 = #c:lua([[return _G.quill_test_messages]])
  c:cmd('QuillReview')
  local t = now_s()
  local res = wait_for('review findings or a "no bugs" message', 300, function()
    return c:lua([[
      local d = vim.diagnostic.get(0)
      local out = {}
      for _, x in ipairs(d) do if x.source == 'quill' then out[#out + 1] = (x.lnum + 1) .. ': ' .. x.message end end
      if #out > 0 then return out end
      for i = ... + 1, #_G.quill_test_messages do
        local m = _G.quill_test_messages[i].msg
        if m:find('no bugs', 1, true) or m:find('failed', 1, true) then return { m } end
      end
    ]], n0)
  end)
  log('  after %.1f s: %s', now_s() - t, table.concat(res, ' | '))
  check(not res[1]:find('failed', 1, true), '%s', res[1])
end

--- (optional) :QuillRefactor {instruction} edits the function through workspace/applyEdit.
tests.refactor = function()
  local c = real_session()
  c:input('<Esc>')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 4 })]], find_line(c, 'total += v'))
  local before = c:lua([[return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')]])
  local n0 = #c:lua([[return _G.quill_test_messages]])
  c:cmd('QuillRefactor use the built-in sum()')
  local t = now_s()
  local res = wait_for('the edit or a message', 300, function()
    return c:lua([[
      for i = ... + 1, #_G.quill_test_messages do
        local m = _G.quill_test_messages[i].msg
        if m:find('refactored', 1, true) or m:find('not applied', 1, true) or m:find('failed', 1, true) then return m end
      end
    ]], n0)
  end)
  local after = c:lua([[return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')]])
  log('  after %.1f s: %s; buffer %s', now_s() - t, res, after ~= before and 'changed' or 'unchanged')
  if verbose then
    print(after)
  end
  check(not res:find('failed', 1, true), '%s', res)
  check(res:find('not applied', 1, true) or after ~= before, 'refactored, but the buffer did not change')
  c:cmd('silent! undo')
end

--- (optional) code actions: "Refactor with instruction…" asks (vim.ui.input) and runs.
tests.codeaction = function()
  local c = real_session()
  c:input('<Esc>')
  c:lua([[vim.api.nvim_win_set_cursor(0, { ..., 4 })]], find_line(c, 'total += v'))
  local titles = c:lua([[
    local client = vim.lsp.get_clients({ name = 'quill', bufnr = 0 })[1]
    local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
    params.context = { diagnostics = {} }
    local r = require('quill.util').request_sync(client, 'textDocument/codeAction', params, 5000, 0)
    local out = {}
    for _, a in ipairs(r and r.result or {}) do out[#out + 1] = a.title end
    return out
  ]])
  log('  actions: %s', table.concat(titles, ' | '))
  check(vim.tbl_contains(titles, 'quill: Refactor with instruction…'), 'no "Refactor with instruction…" action')
  local before = c:lua([[return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')]])
  local n0 = #c:lua([[return _G.quill_test_messages]])
  c:lua([[
    vim.ui.input = function(opts, on_confirm) _G.quill_asked = opts.prompt; on_confirm('use the built-in sum()') end
    vim.lsp.buf.code_action({ apply = true, filter = function(a) return a.title:find('Refactor with instruction', 1, true) ~= nil end })
  ]])
  local res = wait_for('the edit or a message', 300, function()
    return c:lua([[
      for i = ... + 1, #_G.quill_test_messages do
        local m = _G.quill_test_messages[i].msg
        if m:find('refactored', 1, true) or m:find('not applied', 1, true) or m:find('failed', 1, true) then return m end
      end
    ]], n0)
  end)
  check(c:lua([[return _G.quill_asked]]) ~= vim.NIL, 'the instruction was not asked for')
  local after = c:lua([[return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')]])
  log('  %s; buffer %s', res, after ~= before and 'changed' or 'unchanged')
  check(not res:find('failed', 1, true), '%s', res)
  c:cmd('silent! undo')
  -- "Explain this code" runs quill.explain here: the answer in a float, not a file.
  c:lua([[vim.lsp.buf.code_action({ apply = true, filter = function(a) return a.title:find('Explain this code', 1, true) ~= nil end })]])
  local md = wait_for('the explanation window', 300, function()
    return c:lua([[
      for _, w in ipairs(vim.api.nvim_list_wins()) do
        local b = vim.api.nvim_win_get_buf(w)
        if vim.b[b].quill_done and vim.bo[b].filetype == 'markdown' then
          return table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\n')
        end
      end
    ]])
  end)
  log('  explanation (code action): %d chars', #md)
  check(vim.trim(md) ~= '' and not md:find('could not explain', 1, true), 'explanation: %s', md)
  c:input('q')
  -- quill.showMarkdown is handled here, in a float.
  c:lua([[vim.lsp.commands['quill.showMarkdown']({ command = 'quill.showMarkdown',
    arguments = { { title = 'quill: test', markdown = '# Hello\n\nsome *markdown*' } } }, { bufnr = 0 })]])
  local ft = c:lua([[return vim.bo.filetype .. ':' .. tostring(vim.b.quill_done)]])
  check(ft == 'markdown:true', 'quill.showMarkdown did not open a Markdown window (%s)', ft)
  c:input('q')
end

-- Runner -----------------------------------------------------------------------------------

local order = { 'smoke', 'keys', 'ghost', 'word', 'cycle', 'manual', 'grow', 'nextedit', 'explain', 'status', 'statusline',
  'backend', 'pull' }
local optional = { 'review', 'refactor', 'codeaction' } -- slow (a model answer each): by name only
local selected = (#_G.arg > 0) and _G.arg or order
if #_G.arg == 1 and _G.arg[1] == 'all' then
  selected = vim.list_extend(vim.deepcopy(order), optional)
end
local failed, passed = {}, 0
for _, name in ipairs(selected) do
  local fn = tests[name]
  if not fn then
    log('unknown test %s (known: %s, all)', name, table.concat(order, ', ') .. ', ' .. table.concat(optional, ', '))
    os.exit(2)
  end
  log('RUN  %s', name)
  local start = now_s()
  local ok, err = pcall(fn)
  if ok then
    passed = passed + 1
    log('PASS %s (%.1f s)', name, now_s() - start)
  else
    failed[#failed + 1] = name
    log('FAIL %s (%.1f s): %s', name, now_s() - start, tostring(err))
  end
end
if session then
  session:stop()
end
log('%d passed, %d failed%s (%.1f s)', passed, #failed, #failed > 0 and (': ' .. table.concat(failed, ', ')) or '',
  now_s())
os.exit(#failed == 0 and 0 or 1)
