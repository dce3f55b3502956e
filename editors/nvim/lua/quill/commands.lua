-- The :Quill… user commands.
local M = {}

function M.define()
  local cmd = vim.api.nvim_create_user_command
  local actions = require('quill.actions')
  cmd('QuillExplain', function(o)
    actions.explain(o)
  end, { range = true, desc = 'quill: explain the function at the cursor or the range' })
  cmd('QuillReview', function(o)
    actions.review(o)
  end, { range = true, desc = 'quill: review the function at the cursor for bugs' })
  cmd('QuillRefactor', function(o)
    actions.refactor(o.args, o)
  end, { range = true, nargs = '*', desc = 'quill: rewrite the function at the cursor as instructed' })
  cmd('QuillStatus', function()
    require('quill.status').show_status()
  end, { desc = 'quill: model, state, last completion' })
  cmd('QuillToggle', function()
    require('quill.ghost').toggle()
  end, { desc = 'quill: ghost text on/off' })
  cmd('QuillTrigger', function(o)
    require('quill.ghost').set_trigger(o.args)
  end, {
    nargs = '?',
    complete = function()
      return { 'auto', 'manual' }
    end,
    desc = 'quill: ghost text as you type (auto) or only on the suggest key (manual)',
  })
  cmd('QuillNextEdit', function()
    require('quill.next_edit').request(0)
  end, { desc = 'quill: ask for the next edit your last edit implies, and show it' })
  cmd('QuillCancel', function()
    require('quill.progress').cancel_work()
  end, { desc = 'quill: stop a running explanation/review/refactor' })
  cmd('QuillPull', function(o)
    require('quill.pull').pull(o.args)
  end, {
    nargs = '?',
    complete = function(lead)
      return vim.tbl_filter(function(n)
        return vim.startswith(n, lead)
      end, require('quill.pull').names())
    end,
    desc = 'quill: download the configured (or named) model: quill models pull',
  })
end

return M
