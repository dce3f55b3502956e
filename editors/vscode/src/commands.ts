// The extension's commands, and the server commands it runs or intercepts. Everything here
// talks to the server through `QuillApi`, so tests can drive it without a language client.

import { execFile } from 'child_process';
import * as path from 'path';
import * as vscode from 'vscode';
import type { MarkdownPanel } from './panel';
import type { StatusBar } from './status';

/** JSON-RPC error codes the commands treat specially. */
export const REQUEST_CANCELLED = -32800;
export const SERVER_CANCELLED = -32802;

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface Problem {
  /** 1-based line. */
  line: number;
  message: string;
}

/** What a server command is about (the server's `Work`). */
export interface Work {
  action: string;
  uri: string;
  range: Range;
  version?: number;
  instruction?: string;
  problems?: Problem[];
}

/** The server, as the commands see it. */
export interface QuillApi {
  /** A request (custom or standard); rejects when the server is not running. */
  request<R>(method: string, params: unknown, token?: vscode.CancellationToken): Promise<R>;
  /** The URI string the server knows `uri` by. */
  uri(uri: vscode.Uri): string;
}

export interface CommandsHost {
  api(): QuillApi | undefined;
  panel: MarkdownPanel;
  status: StatusBar;
  /** The configured `quill` executable and model. */
  quillPath(): string;
  model(): string;
  restartServer(): Promise<void>;
  showLog(): void;
}

export function toPosition(p: vscode.Position): Position {
  return { line: p.line, character: p.character };
}

export function toRange(r: vscode.Range): Range {
  return { start: toPosition(r.start), end: toPosition(r.end) };
}

/** A diagnostic as the server's `problems` entry. */
export function toProblem(d: vscode.Diagnostic): Problem {
  const source = d.source ? `${d.source}: ` : '';
  const code =
    d.code === undefined
      ? ''
      : ` [${typeof d.code === 'object' ? String(d.code.value) : String(d.code)}]`;
  return { line: d.range.start.line + 1, message: `${source}${d.message}${code}` };
}

/** The diagnostics "under the cursor": those whose range holds it, else those on its line. */
export function diagnosticsAt(diagnostics: readonly vscode.Diagnostic[], at: vscode.Position): vscode.Diagnostic[] {
  const holding = diagnostics.filter((d) => d.range.contains(at));
  if (holding.length > 0) {
    return holding;
  }
  return diagnostics.filter((d) => d.range.start.line <= at.line && at.line <= d.range.end.line);
}

/** Whether `e` is a cancellation (the user pressed cancel, or typed on). */
export function isCancellation(e: unknown): boolean {
  if (e instanceof vscode.CancellationError) {
    return true;
  }
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === REQUEST_CANCELLED || code === SERVER_CANCELLED || (e as Error | undefined)?.name === 'Canceled';
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    return e.message;
  }
  const m = (e as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : String(e);
}

/** Model names from `quill models list` output (lines that start with a name). */
export function parseModelList(output: string): string[] {
  const names: string[] = [];
  for (const line of output.split(/\r?\n/)) {
    if (!line || /^\s/.test(line) || line.startsWith('models in ')) {
      continue;
    }
    const name = line.split(/\s+/)[0];
    if (name && /^[\w.-]+$/.test(name) && !names.includes(name)) {
      names.push(name);
    }
  }
  return names;
}

export class Commands {
  constructor(private readonly host: CommandsHost) {}

  /** Registers the palette commands. */
  register(): vscode.Disposable[] {
    const reg = (name: string, fn: () => Promise<unknown>) => vscode.commands.registerCommand(name, fn);
    return [
      reg('quill.explainFunction', () => this.explainFunction()),
      reg('quill.explainDiagnostic', () => this.explainDiagnostic()),
      reg('quill.refactorWithInstruction', () => this.refactorWithInstruction()),
      reg('quill.reviewFunction', () => this.reviewFunction()),
      reg('quill.pullModel', () => this.pullModel()),
      reg('quill.restartServer', () => this.host.restartServer()),
      reg('quill.showMenu', () => this.showMenu()),
    ];
  }

  private editor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('quill: open a file and put the cursor in a function first.');
    }
    return editor;
  }

  private apiOrWarn(): QuillApi | undefined {
    const api = this.host.api();
    if (!api) {
      void vscode.window
        .showWarningMessage('quill: the server is not running.', 'Restart Server', 'Show Log')
        .then((choice) => this.onChoice(choice));
    }
    return api;
  }

  private onChoice(choice: string | undefined): void {
    if (choice === 'Restart Server') {
      void this.host.restartServer();
    } else if (choice === 'Show Log') {
      this.host.showLog();
    }
  }

  /** Runs `work` with the status bar busy; reports failures (not cancellations). */
  private async run<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
    const done = this.host.status.busy(what);
    try {
      return await work();
    } catch (e) {
      if (!isCancellation(e)) {
        void vscode.window.showErrorMessage(`quill: ${what} failed: ${errorMessage(e)}`);
      }
      return undefined;
    } finally {
      done();
    }
  }

  /** Explains `range` (or the function at its start) and shows the answer in the panel. */
  async explain(
    uri: string,
    range: Range,
    problems: Problem[] | undefined,
    title: string,
  ): Promise<{ markdown: string } | undefined> {
    const api = this.apiOrWarn();
    if (!api) {
      return undefined;
    }
    const params: Record<string, unknown> = { textDocument: { uri }, range };
    if (problems && problems.length > 0) {
      params.problems = problems;
    }
    const answer = await this.run('explaining', () => api.request<{ markdown: string } | null>('quill/explain', params));
    if (answer && typeof answer.markdown === 'string') {
      this.host.panel.show(title, answer.markdown);
      return answer;
    }
    return undefined;
  }

  async explainFunction(): Promise<unknown> {
    const editor = this.editor();
    const api = editor && this.apiOrWarn();
    if (!editor || !api) {
      return undefined;
    }
    const doc = editor.document;
    const sel = editor.selection;
    const range = sel.isEmpty ? { start: toPosition(sel.active), end: toPosition(sel.active) } : toRange(sel);
    const where = `${path.basename(doc.uri.fsPath || doc.uri.path)}:${sel.active.line + 1}`;
    return this.explain(api.uri(doc.uri), range, undefined, `quill: explanation of ${where}`);
  }

  async explainDiagnostic(): Promise<unknown> {
    const editor = this.editor();
    const api = editor && this.apiOrWarn();
    if (!editor || !api) {
      return undefined;
    }
    const doc = editor.document;
    const at = editor.selection.active;
    const found = diagnosticsAt(vscode.languages.getDiagnostics(doc.uri), at);
    if (found.length === 0) {
      void vscode.window.showInformationMessage('quill: there is no problem (diagnostic) under the cursor.');
      return undefined;
    }
    const first = found[0];
    const where = `${path.basename(doc.uri.fsPath || doc.uri.path)}:${first.range.start.line + 1}`;
    return this.explain(api.uri(doc.uri), toRange(first.range), found.map(toProblem), `quill: the problem at ${where}`);
  }

  /** Asks for a refactoring instruction; undefined when the user cancels. */
  async askInstruction(): Promise<string | undefined> {
    const answer = await vscode.window.showInputBox({
      title: 'quill: refactor with instruction',
      prompt: 'How should quill rewrite this code? (the function under the cursor, or the selection)',
      placeHolder: 'e.g. use a dict instead of the if/elif chain',
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() === '' ? 'Type an instruction, or press Escape.' : undefined),
    });
    const trimmed = answer?.trim();
    return trimmed ? trimmed : undefined;
  }

  /** Runs `quill.refactor` for `work` (asking for the instruction when it has none). The
   *  server applies the edit with workspace/applyEdit. `send` runs the server command. */
  async refactor(
    work: Work,
    send: (work: Work) => Promise<unknown>,
  ): Promise<unknown> {
    let instruction = work.instruction?.trim();
    if (!instruction) {
      instruction = await this.askInstruction();
      if (!instruction) {
        return undefined;
      }
    }
    const result = (await this.run('refactoring', () => send({ ...work, action: 'instruction', instruction }))) as
      | { applied?: boolean; summary?: string; reason?: string }
      | null
      | undefined;
    if (result && typeof result === 'object') {
      if (result.applied) {
        void vscode.window.showInformationMessage(`quill: ${result.summary || 'refactored'}`);
      } else if (result.reason) {
        void vscode.window.showWarningMessage(`quill: the refactor was not applied: ${result.reason}`);
      }
    }
    return result;
  }

  async refactorWithInstruction(): Promise<unknown> {
    const editor = this.editor();
    const api = editor && this.apiOrWarn();
    if (!editor || !api) {
      return undefined;
    }
    const sel = editor.selection;
    const work: Work = {
      action: 'instruction',
      uri: api.uri(editor.document.uri),
      range: toRange(sel),
    };
    return this.refactor(work, (w) => api.request('workspace/executeCommand', { command: 'quill.refactor', arguments: [w] }));
  }

  async reviewFunction(): Promise<unknown> {
    const editor = this.editor();
    const api = editor && this.apiOrWarn();
    if (!editor || !api) {
      return undefined;
    }
    const at = toPosition(editor.selection.active);
    const work: Work = { action: 'review', uri: api.uri(editor.document.uri), range: { start: at, end: at } };
    const result = await this.run('reviewing', () =>
      api.request<{ findings?: number } | null>('workspace/executeCommand', { command: 'quill.review', arguments: [work] }),
    );
    const n = result?.findings ?? 0;
    if (n > 0) {
      void vscode.window
        .showInformationMessage(`quill: ${n} possible bug${n === 1 ? '' : 's'} in this function (see Problems).`, 'Show Problems')
        .then((choice) => {
          if (choice) {
            void vscode.commands.executeCommand('workbench.actions.view.problems');
          }
        });
    }
    return result;
  }

  /** `quill models pull <model>` in a terminal; restarts the server when it succeeds and the
   *  model is the one configured. */
  async pullModel(listModels?: () => Promise<string[]>): Promise<vscode.Terminal | undefined> {
    const configured = this.host.model();
    let names: string[] = [];
    try {
      names = listModels ? await listModels() : await this.listModels();
    } catch {
      names = [];
    }
    const items: vscode.QuickPickItem[] = [configured, ...names.filter((n) => n !== configured)].map((n) => ({
      label: n,
      description: n === configured ? 'configured (quill.model)' : undefined,
    }));
    const pick = await vscode.window.showQuickPick(items, {
      title: 'quill: download a model',
      placeHolder: 'the model to download (quill models pull)',
    });
    if (!pick) {
      return undefined;
    }
    const model = pick.label;
    const terminal = vscode.window.createTerminal({
      name: `quill: pull ${model}`,
      shellPath: this.host.quillPath(),
      shellArgs: ['models', 'pull', model],
    });
    terminal.show();
    const sub = vscode.window.onDidCloseTerminal((t) => {
      if (t !== terminal) {
        return;
      }
      sub.dispose();
      const code = t.exitStatus?.code;
      if (code === 0) {
        const kind = this.host.status.getState().kind;
        if (model === this.host.model() && kind !== 'ready' && kind !== 'backend') {
          void vscode.window.showInformationMessage(`quill: ${model} is downloaded; restarting the server.`);
          void this.host.restartServer();
        } else {
          void vscode.window.showInformationMessage(`quill: ${model} is downloaded.`);
        }
      } else if (code !== undefined) {
        void vscode.window.showErrorMessage(`quill: downloading ${model} failed (exit code ${code}); see the terminal.`);
      }
    });
    return terminal;
  }

  private listModels(): Promise<string[]> {
    return new Promise((resolve) => {
      execFile(this.host.quillPath(), ['models', 'list'], { timeout: 10_000 }, (err, stdout) => {
        resolve(err ? [] : parseModelList(String(stdout)));
      });
    });
  }

  async showMenu(): Promise<void> {
    const status = this.host.status;
    let detail = status.tooltip.split('\n')[0];
    const api = this.host.api();
    if (api) {
      try {
        const s = await api.request<{ version?: string; state?: string; model?: { name?: string } | null }>('quill/status', null);
        detail = `quill ${s.version ?? ''}: ${s.model?.name ?? 'no model'}, ${s.state ?? '?'}`;
      } catch {
        // not running: keep the status bar's words
      }
    }
    const actions: Array<vscode.QuickPickItem & { run: () => unknown }> = [
      { label: '$(debug-restart) Restart Server', run: () => this.host.restartServer() },
      { label: '$(cloud-download) Download (Pull) a Model', run: () => this.pullModel() },
      { label: '$(output) Show Log', run: () => this.host.showLog() },
      {
        label: '$(settings-gear) Open Settings',
        run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'quill.'),
      },
    ];
    const pick = await vscode.window.showQuickPick(actions, { title: detail, placeHolder: detail });
    await pick?.run();
  }
}
