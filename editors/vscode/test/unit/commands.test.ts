import * as assert from 'assert';
import type * as vscode from 'vscode';
import { Commands, diagnosticsAt, parseModelList, toProblem, type QuillApi } from '../../src/commands';
import { DISMISS_COMMAND as NEXT_EDIT_DISMISS, JUMP_OR_ACCEPT_COMMAND, NextEdits, SUGGEST_COMMAND } from '../../src/nextEdit';
import { MarkdownPanel } from '../../src/panel';
import { StatusBar } from '../../src/status';
import { Diagnostic, Position, Range, Selection, Uri, test as vs, window } from '../mock/vscode';
import { manifest } from './manifest';

/* eslint-disable @typescript-eslint/no-explicit-any */
export class FakeApi implements QuillApi {
  requests: { method: string; params: any }[] = [];
  answers: ((method: string, params: any) => any)[] = [];
  busyDuring: boolean[] = [];
  constructor(private readonly status?: StatusBar) {}
  request<R>(method: string, params: unknown): Promise<R> {
    this.requests.push({ method, params });
    this.busyDuring.push(this.status?.isBusy ?? false);
    const answer = this.answers.shift();
    try {
      return Promise.resolve(answer ? answer(method, params) : null);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  uri(uri: vscode.Uri): string {
    return uri.toString();
  }
}

export function setup(opts: { running?: boolean } = {}) {
  vs.reset();
  const status = new StatusBar();
  status.setState({ kind: 'ready' });
  const panel = new MarkdownPanel();
  const api = new FakeApi(status);
  const restarts: number[] = [];
  const commands = new Commands({
    api: () => (opts.running === false ? undefined : api),
    panel,
    status,
    quillPath: () => '/opt/quill',
    model: () => 'qwen2.5-coder-0.5b-instruct-q4_k_m',
    restartServer: async () => {
      restarts.push(1);
    },
    showLog: () => undefined,
  });
  return { status, panel, api, commands, restarts };
}

export function openEditor(path: string, anchor: [number, number], active = anchor) {
  const uri = Uri.file(path);
  window.activeTextEditor = {
    document: { uri, languageId: 'python', version: 3 },
    selection: new Selection(new Position(...anchor), new Position(...active)),
  };
  return uri;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('commands', () => {
  it('registers every command package.json contributes, and no other (besides those only keys run)', () => {
    const { commands, api } = setup();
    commands.register();
    // Next edits register their own: the palette's Suggest Next Edit, and Tab's and Escape's.
    const nextEdits = new NextEdits({ enabled: () => true, api: () => api });
    const keysOnly = [JUMP_OR_ACCEPT_COMMAND, NEXT_EDIT_DISMISS];
    const contributed = manifest().contributes.commands.map((c) => c.command).sort();
    assert.deepStrictEqual([...vs.commands.keys()].filter((c) => !keysOnly.includes(c)).sort(), contributed);
    assert.ok(contributed.includes(SUGGEST_COMMAND));
    nextEdits.dispose();
    for (const name of ['quill.explainFunction', 'quill.explainDiagnostic', 'quill.refactorWithInstruction', 'quill.reviewFunction', 'quill.pullModel', 'quill.restartServer']) {
      assert.ok(contributed.includes(name), name);
    }
  });

  it('explainFunction asks quill/explain at the cursor and shows the Markdown in the panel', async () => {
    const { api, commands, panel } = setup();
    openEditor('/w/app.py', [4, 2]);
    api.answers.push(() => ({ markdown: '## What it does\n\nAdds `a` and <b>b</b>.' }));
    await commands.explainFunction();
    assert.deepStrictEqual(api.requests, [
      {
        method: 'quill/explain',
        params: { textDocument: { uri: 'file:///w/app.py' }, range: { start: { line: 4, character: 2 }, end: { line: 4, character: 2 } } },
      },
    ]);
    assert.deepStrictEqual(api.busyDuring, [true], 'busy while explaining');
    assert.strictEqual(panel.shown?.title, 'quill: explanation of app.py:5');
    const html = vs.panels[0].webview.html as string;
    assert.match(html, /<h2>What it does<\/h2>/);
    assert.match(html, /&lt;b&gt;b&lt;\/b&gt;/, 'HTML from the model is escaped');
    assert.doesNotMatch(html, /<script/);
  });

  it('explainFunction with a selection sends the range; a second answer reuses the panel', async () => {
    const { api, commands } = setup();
    openEditor('/w/app.py', [6, 0], [2, 0]);
    api.answers.push(() => ({ markdown: 'one' }), () => ({ markdown: 'two' }));
    await commands.explainFunction();
    await commands.explainFunction();
    assert.deepStrictEqual(api.requests[0].params.range, { start: { line: 2, character: 0 }, end: { line: 6, character: 0 } });
    assert.strictEqual(vs.panels.length, 1);
    assert.match(vs.panels[0].webview.html, /two/);
  });

  it('explainDiagnostic passes the problems under the cursor (1-based lines)', async () => {
    const { api, commands } = setup();
    const uri = openEditor('/w/app.py', [3, 5]);
    const d1 = new Diagnostic(new Range(3, 0, 3, 10), "undefined name 'x'");
    d1.source = 'pyflakes';
    d1.code = 'F821';
    const elsewhere = new Diagnostic(new Range(9, 0, 9, 1), 'other');
    vs.diagnostics.set(uri.toString(), [elsewhere, d1]);
    api.answers.push(() => ({ markdown: 'x is never defined' }));
    await commands.explainDiagnostic();
    assert.strictEqual(api.requests.length, 1);
    assert.deepStrictEqual(api.requests[0].params, {
      textDocument: { uri: 'file:///w/app.py' },
      range: { start: { line: 3, character: 0 }, end: { line: 3, character: 10 } },
      problems: [{ line: 4, message: "pyflakes: undefined name 'x' [F821]" }],
    });
  });

  it('explainDiagnostic with nothing under the cursor says so and asks nothing', async () => {
    const { api, commands } = setup();
    openEditor('/w/app.py', [3, 5]);
    await commands.explainDiagnostic();
    assert.strictEqual(api.requests.length, 0);
    assert.match(vs.shown[0].message, /no problem/);
  });

  it('refactorWithInstruction asks for the instruction and runs quill.refactor', async () => {
    const { api, commands } = setup();
    openEditor('/w/app.py', [1, 0], [5, 3]);
    vs.inputAnswers.push('  use a dict  ');
    api.answers.push(() => ({ applied: true, summary: 'used a dict' }));
    await commands.refactorWithInstruction();
    assert.deepStrictEqual(api.requests, [
      {
        method: 'workspace/executeCommand',
        params: {
          command: 'quill.refactor',
          arguments: [
            {
              action: 'instruction',
              uri: 'file:///w/app.py',
              range: { start: { line: 1, character: 0 }, end: { line: 5, character: 3 } },
              instruction: 'use a dict',
            },
          ],
        },
      },
    ]);
    assert.strictEqual(vs.shown.at(-1)?.message, 'quill: used a dict');
    assert.strictEqual(vs.inputOptions[0].validateInput('   '), 'Type an instruction, or press Escape.');
  });

  it('refactorWithInstruction: Escape sends nothing; a refused refactor is reported', async () => {
    const { api, commands } = setup();
    openEditor('/w/app.py', [1, 0]);
    vs.inputAnswers.push(undefined);
    await commands.refactorWithInstruction();
    assert.strictEqual(api.requests.length, 0);
    vs.inputAnswers.push('rename x');
    api.answers.push(() => ({ applied: false, reason: 'the code does not parse' }));
    await commands.refactorWithInstruction();
    assert.strictEqual(vs.shown.at(-1)?.kind, 'warning');
    assert.match(vs.shown.at(-1)!.message, /does not parse/);
  });

  it('reviewFunction runs quill.review at the cursor and points at Problems', async () => {
    const { api, commands } = setup();
    openEditor('/w/app.py', [7, 4]);
    api.answers.push(() => ({ findings: 2 }));
    await commands.reviewFunction();
    assert.deepStrictEqual(api.requests[0].params, {
      command: 'quill.review',
      arguments: [{ action: 'review', uri: 'file:///w/app.py', range: { start: { line: 7, character: 4 }, end: { line: 7, character: 4 } } }],
    });
    assert.match(vs.shown.at(-1)!.message, /2 possible bugs/);
  });

  it('errors are shown, cancellations are not; no editor or no server is explained', async () => {
    const { api, commands } = setup();
    await commands.explainFunction();
    assert.match(vs.shown.at(-1)!.message, /open a file/);
    openEditor('/w/app.py', [0, 0]);
    api.answers.push(() => {
      throw Object.assign(new Error('quill cannot answer yet: the model is still loading'), { code: -32803 });
    });
    await commands.explainFunction();
    assert.strictEqual(vs.shown.at(-1)!.kind, 'error');
    assert.match(vs.shown.at(-1)!.message, /still loading/);
    const before = vs.shown.length;
    api.answers.push(() => {
      throw Object.assign(new Error('cancelled'), { code: -32800 });
    });
    await commands.explainFunction();
    assert.strictEqual(vs.shown.length, before, 'a cancelled request shows nothing');

    const down = setup({ running: false });
    openEditor('/w/app.py', [0, 0]);
    vs.messageAnswer = 'Restart Server';
    await down.commands.reviewFunction();
    await tick();
    assert.match(vs.shown.at(-1)!.message, /not running/);
    assert.strictEqual(down.restarts.length, 1);
  });

  it('pullModel runs `quill models pull` in a terminal and restarts the server when it succeeds', async () => {
    const { commands, restarts, status } = setup();
    status.setState({ kind: 'failed', reason: 'model file not found' });
    vs.quickPickAnswers.push('qwen2.5-coder-0.5b-instruct-q4_k_m');
    const terminal = await commands.pullModel(async () => ['qwen2.5-coder-1.5b-instruct-q4_k_m', 'qwen2.5-coder-0.5b-instruct-q4_k_m']);
    assert.ok(terminal);
    assert.deepStrictEqual(vs.quickPickItems[0].map((i: any) => i.label), [
      'qwen2.5-coder-0.5b-instruct-q4_k_m',
      'qwen2.5-coder-1.5b-instruct-q4_k_m',
    ]);
    const t = vs.terminals[0];
    assert.strictEqual(t.options.shellPath, '/opt/quill');
    assert.deepStrictEqual(t.options.shellArgs, ['models', 'pull', 'qwen2.5-coder-0.5b-instruct-q4_k_m']);
    assert.ok(t.shown);
    t.exitStatus = { code: 0 };
    vs.closeTerminal.fire(t);
    assert.strictEqual(restarts.length, 1);

    vs.quickPickAnswers.push('qwen2.5-coder-1.5b-instruct-q4_k_m');
    await commands.pullModel(async () => ['qwen2.5-coder-1.5b-instruct-q4_k_m']);
    const t2 = vs.terminals[1];
    t2.exitStatus = { code: 1 };
    vs.closeTerminal.fire(t2);
    assert.match(vs.shown.at(-1)!.message, /failed \(exit code 1\)/);
    assert.strictEqual(restarts.length, 1);
  });

  it('helpers: problems, diagnostics at the cursor, model list', () => {
    const d = new Diagnostic(new Range(0, 0, 0, 3), 'bad');
    assert.deepStrictEqual(toProblem(d as unknown as vscode.Diagnostic), { line: 1, message: 'bad' });
    const onLine = new Diagnostic(new Range(2, 8, 2, 9), 'later on the line');
    const found = diagnosticsAt([onLine] as unknown as vscode.Diagnostic[], new Position(2, 0) as unknown as vscode.Position);
    assert.strictEqual(found.length, 1, 'falls back to the line');
    const list = 'models in /root/.cache/quill/models\nqwen-a (default)\n    1117 MB, present\n    about\nsmol-b\n    98 MB\n';
    assert.deepStrictEqual(parseModelList(list), ['qwen-a', 'smol-b']);
  });
});
