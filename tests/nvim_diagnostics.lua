-- Run by tests/test_lsp_nvim.py inside headless Neovim, after editors/nvim/nasdsl.lua and the
-- `.nas` file are loaded: wait for the server's diagnostics on the buffer and write them, one
-- per line as LINE:COL:SEVERITY:MESSAGE (0-based, as Neovim holds them), to $NASDSL_NVIM_OUT.
local buf = vim.api.nvim_get_current_buf()
local got = vim.wait(60000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local out = assert(io.open(os.getenv("NASDSL_NVIM_OUT"), "w"))
if not got then
  out:write("no diagnostics; filetype=" .. vim.bo[buf].filetype .. " clients=" .. #vim.lsp.get_active_clients() .. "\n")
end
for _, d in ipairs(vim.diagnostic.get(buf)) do
  out:write(string.format("%d:%d:%d:%s\n", d.lnum, d.col, d.severity, (d.message:gsub("\n", "\\n"))))
end
out:close()
for _, client in ipairs(vim.lsp.get_active_clients()) do client.stop() end
vim.wait(10000, function() return #vim.lsp.get_active_clients() == 0 end, 50)
vim.cmd("qall!")
