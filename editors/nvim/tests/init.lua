-- Startup file of the Neovim instances the tests drive (nvim --embed -u tests/init.lua).
local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
vim.opt.rtp:prepend(root)
vim.opt.swapfile = false
vim.opt.columns = 120
vim.opt.lines = 40
vim.cmd('filetype plugin indent on')

-- Messages shown with vim.notify, for the driver to check.
_G.quill_test_messages = {}
local notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(_G.quill_test_messages, { msg = tostring(msg), level = level or vim.log.levels.INFO })
  return notify(msg, level, opts)
end
