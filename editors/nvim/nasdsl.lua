-- Neovim (0.7 or later): `.nas` files get the filetype `nas` and the language server
-- `nasdsl lsp` (diagnostics, hover, go to definition, symbols, completion, formatting).
-- Use it from init.lua with `dofile("/path/to/nasdsl/editors/nvim/nasdsl.lua")`; set
-- `vim.g.nasdsl_lsp_cmd` first to run another command (default: { "nasdsl", "lsp" }).
local group = vim.api.nvim_create_augroup("nasdsl", { clear = true })

vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
  group = group,
  pattern = "*.nas",
  command = "setfiletype nas",
})

local clients = {} -- one server per root directory (Neovim 0.7 has no vim.lsp.start)

vim.api.nvim_create_autocmd("FileType", {
  group = group,
  pattern = "nas",
  callback = function(args)
    vim.bo[args.buf].commentstring = "# %s"
    local config = {
      name = "nasdsl",
      cmd = vim.g.nasdsl_lsp_cmd or { "nasdsl", "lsp" },
      root_dir = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(args.buf), ":p:h"),
    }
    if vim.lsp.start then
      vim.lsp.start(config, { bufnr = args.buf })
      return
    end
    local id = clients[config.root_dir]
    if id == nil or vim.lsp.get_client_by_id(id) == nil then
      id = vim.lsp.start_client(config)
      clients[config.root_dir] = id
    end
    vim.lsp.buf_attach_client(args.buf, id)
  end,
})
