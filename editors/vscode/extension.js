// The VS Code side of `nasdsl lsp`: for `.nas` documents, start the server (the command in the
// setting `nasdsl.server.command`) over stdio, and stop it when the extension is deactivated.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("nasdsl").get("server.command");
  client = new LanguageClient("nasdsl", "nasdsl", { command, args }, { documentSelector: [{ language: "nas" }] });
  context.subscriptions.push({ dispose: () => client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
