-- The server's progress ($/progress): model loading and long work (explanations, reviews,
-- refactors) echoed in the command line, and the work that :QuillCancel can stop.
local util = require('quill.util')
local config = require('quill.config')

local M = {}

-- Long work the server shows with a progress bar (and a cancel button): token → title.
local active_work = {}

--- The LspProgress autocommand.
function M.on_progress(ev)
  local data = ev.data or {}
  local client = vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= 'quill' then
    return
  end
  require('quill.status').progress()
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
  if not config.options.progress then
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

return M
