// quill for VS Code: starts `quill serve` and wires ghost text, next edits, commands, the
// status bar and the explanation panel to it.

import * as vscode from 'vscode';
import { Commands } from './commands';
import { executeCommandMiddleware, showDocumentMiddleware } from './middleware';
import { MarkdownPanel } from './panel';
import { QuillServer, type ServerHooks } from './server';
import { StatusBar } from './status';

let server: QuillServer | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('quill', { log: true });
  const status = new StatusBar('quill.showMenu');
  const panel = new MarkdownPanel();
  // The commands reach the server lazily: it is created just below and may restart.
  const commands = new Commands({
    api: () => server?.api(),
    panel,
    status,
    quillPath: () => server?.quillPath() ?? 'quill',
    model: () => server?.configuredModel() ?? '',
    restartServer: async () => server?.restart(),
    showLog: () => output.show(true),
  });
  const hooks: ServerHooks = {
    executeCommand: executeCommandMiddleware(commands, panel),
    showDocument: showDocumentMiddleware(panel),
    noModel: (model) => {
      void vscode.window
        .showWarningMessage(`quill: no model is loaded (quill.model is "${model}").`, 'Download a Model', 'Open Settings')
        .then((choice) => {
          if (choice === 'Download a Model') {
            void commands.pullModel();
          } else if (choice === 'Open Settings') {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'quill.model');
          }
        });
    },
  };
  // Where a bundled or downloaded server is (binary.ts); a test's bare context has neither.
  const dirs = { extensionDir: context.extensionPath, storageDir: context.globalStorageUri?.fsPath };
  const srv = new QuillServer(status, output, hooks, dirs);
  server = srv;
  context.subscriptions.push(output, status, panel, srv, ...commands.register());
  await srv.start();
}

export async function deactivate(): Promise<void> {
  const s = server;
  server = undefined;
  await s?.stop();
}
