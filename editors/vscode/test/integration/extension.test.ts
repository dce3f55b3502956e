// The whole extension (activate → vscode-languageclient → a real `quill serve`) inside the
// hand-written VS Code mock: ghost text through the registered provider, typing on, code
// actions through the client's command registration and our middleware, the status bar, a
// crash and its restart, settings changes.
/* eslint-disable @typescript-eslint/no-explicit-any */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import * as vscode from 'vscode';
import { downloadedPath } from '../../src/binary';
import { activate, deactivate } from '../../src/extension';
import {
  CancellationTokenSource,
  InlineCompletionTriggerKind,
  Position,
  Range,
  Selection,
  TextDocument,
  TextEditor,
  Uri,
  activateEditor,
  commands,
  test as vs,
  window,
} from '../mock/vscode';
import { QUILL_BIN, TEST_MODEL, TEST_THREADS } from '../server/quill';
import { EXTENSION_ROOT, manifestSettings } from '../unit/manifest';
import { makeRelease } from '../unit/release';

const TEXT = [
  'def fibonacci(n):',
  '    """Return the n-th Fibonacci number."""',
  '    if n < 2:',
  '        return n',
  '    return ',
  '',
].join('\n');

function document(path: string, text: string, languageId = 'python') {
  const lines = text.split('\n');
  const offsetAt = (p: Position) => lines.slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
  return {
    uri: Uri.file(path),
    fileName: path,
    languageId,
    version: 1,
    isUntitled: false,
    isClosed: false,
    isDirty: false,
    eol: 1,
    lineCount: lines.length,
    getText: (range?: Range) => (range ? text.slice(offsetAt(range.start), offsetAt(range.end)) : text),
    offsetAt,
    lineAt: (line: number) => ({ text: lines[line], range: new Range(line, 0, line, lines[line].length) }),
  };
}

function statusText(): string {
  return vs.statusItems[0]?.text ?? '';
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`timed out waiting for ${what} (status bar: ${statusText()})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const READY = () => statusText() === `$(sparkle) ${TEST_MODEL}`;

/** The pids of `quill` processes this test started. */
function quillChildren(): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-x', 'quill'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The pids of the inject.js wrappers (test/integration/inject.ts) this test started: they
 *  write into their folder until the server behind them has exited. */
function injectChildren(): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-f', 'inject\\.js'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe('the extension in a mocked VS Code, with a real quill serve', function () {
  this.timeout(120_000);
  const context = { subscriptions: [] as { dispose(): unknown }[] };
  const doc = document('/tmp/quill-vscode-test/ext.py', TEXT);

  before(async () => {
    vs.reset();
    for (const [key, prop] of manifestSettings()) {
      vs.config.set(`quill.${key}`, prop.default);
    }
    vs.config.set('quill.path', QUILL_BIN);
    vs.config.set('quill.model', TEST_MODEL);
    vs.config.set('quill.threads', TEST_THREADS);
    vs.config.set('quill.clientDebounceMs', 20);
    await activate(context as unknown as vscode.ExtensionContext);
    await until('the model to be ready', READY);
  });

  after(async () => {
    await deactivate();
    for (const d of context.subscriptions) {
      d.dispose();
    }
    await until('the server to exit', () => quillChildren().length === 0, 10_000);
  });

  it('starts quill serve, shows the model in the status bar, registers one inline provider', () => {
    assert.strictEqual(quillChildren().length, 1);
    assert.strictEqual(vs.inlineProviders.length, 1, 'exactly one inline completion provider');
    assert.ok(vs.commands.has('quill.refactor'), 'the client registered the server commands');
    assert.ok(vs.commands.has('quill.explainFunction'));
    assert.deepStrictEqual(vs.progress, [], 'model loading is not a notification');
    assert.deepStrictEqual(vs.shown.filter((m) => m.kind !== 'info'), []);
  });

  it('ghost text through the registered provider (debounce, busy status bar)', async () => {
    vs.documents.push(doc);
    vs.openDocument.fire(doc);
    const provider = vs.inlineProviders[0].provider;
    const cts = new CancellationTokenSource();
    let sawBusy = false;
    const timer = setInterval(() => {
      sawBusy ||= statusText().includes('sync~spin');
    }, 5);
    const result = await provider.provideInlineCompletionItems(
      doc,
      new Position(4, 11),
      { triggerKind: InlineCompletionTriggerKind.Automatic },
      cts.token,
    );
    clearInterval(timer);
    const items = Array.isArray(result) ? result : result?.items;
    assert.ok(items && items.length > 0, `no ghost text: ${JSON.stringify(result)}`);
    const text = typeof items[0].insertText === 'string' ? items[0].insertText : items[0].insertText.value;
    assert.match(text, /fibonacci|n\s*-\s*1/);
    assert.ok(items[0].range instanceof Range);
    assert.ok(sawBusy, 'the status bar showed quill busy');
    assert.ok(READY(), 'and back to idle');
  });

  it('typing on cancels the request (no ghost text, the server keeps working)', async () => {
    const provider = vs.inlineProviders[0].provider;
    const cts = new CancellationTokenSource();
    const pending = provider.provideInlineCompletionItems(
      doc,
      new Position(5, 0),
      { triggerKind: InlineCompletionTriggerKind.Automatic },
      cts.token,
    );
    setTimeout(() => cts.cancel(), 40);
    const t0 = Date.now();
    const result = await pending;
    assert.ok(result === null || result === undefined, JSON.stringify(result));
    assert.ok(Date.now() - t0 < 5000);
    const again = await provider.provideInlineCompletionItems(
      doc,
      new Position(4, 11),
      { triggerKind: InlineCompletionTriggerKind.Invoke },
      new CancellationTokenSource().token,
    );
    const items = Array.isArray(again) ? again : again?.items;
    assert.ok(items && items.length > 0);
  });

  it("the status bar tooltip shows the last completion's latency and tokens/s (from quill/status)", async () => {
    await until(
      'timings in the tooltip',
      () => /Last completion: \d+ ms, \d+ tokens? at [\d.]+ tokens\/s/.test(vs.statusItems[0].tooltip),
      10_000,
    );
    assert.match(vs.statusItems[0].tooltip, /prompt \d+ tokens \(\d+ reused, \d+ evaluated in \d+ ms/);
    assert.ok(READY(), 'the text stays the model name');
  });

  it('quill.inlineTrigger "manual": typing asks nothing, an explicit request (Alt+\\) is answered', async () => {
    const change = () => vs.configChange.fire({ affectsConfiguration: (s: string) => s === 'quill' || s.startsWith('quill.') });
    vs.config.set('quill.inlineTrigger', 'manual');
    change();
    try {
      const provider = vs.inlineProviders[0].provider;
      let sawBusy = false;
      const timer = setInterval(() => {
        sawBusy ||= statusText().includes('sync~spin');
      }, 5);
      const typed = await provider.provideInlineCompletionItems(
        doc,
        new Position(4, 11),
        { triggerKind: InlineCompletionTriggerKind.Automatic },
        new CancellationTokenSource().token,
      );
      await new Promise((r) => setTimeout(r, 100));
      clearInterval(timer);
      assert.ok(typed === null || typed === undefined, JSON.stringify(typed));
      assert.ok(!sawBusy, 'no request went to the server');
      const asked = await provider.provideInlineCompletionItems(
        doc,
        new Position(4, 11),
        { triggerKind: InlineCompletionTriggerKind.Invoke },
        new CancellationTokenSource().token,
      );
      const items = Array.isArray(asked) ? asked : asked?.items;
      assert.ok(items && items.length > 0, `no ghost text on an explicit request: ${JSON.stringify(asked)}`);
    } finally {
      vs.config.set('quill.inlineTrigger', 'automatic');
      change();
    }
  });

  it('"Refactor with instruction…" from the code action menu asks for the instruction', async () => {
    const provider = vs.codeActionProviders[0].provider;
    const actions = await provider.provideCodeActions(
      doc,
      new Range(4, 11, 4, 11),
      { diagnostics: [], triggerKind: 1, only: undefined },
      new CancellationTokenSource().token,
    );
    const refactor = actions.find((a: any) => a.title.startsWith('quill: Refactor with instruction'));
    assert.ok(refactor?.command, JSON.stringify(actions.map((a: any) => a.title)));
    vs.inputAnswers.push(undefined); // Escape
    const before = vs.shown.length;
    await commands.executeCommand(refactor.command.command, ...refactor.command.arguments);
    assert.strictEqual(vs.inputOptions.length, 1, 'asked for the instruction');
    assert.strictEqual(vs.shown.length, before, 'nothing sent, nothing reported');
  });

  it('quill.showMarkdown (a resolved action that is not an edit) opens the side panel', async () => {
    await commands.executeCommand('quill.showMarkdown', { title: 'quill: Fix', markdown: 'Kept the code: **why**.' });
    assert.strictEqual(vs.panels.length, 1);
    assert.match(vs.panels[0].webview.html, /<strong>why<\/strong>/);
  });

  it('settings changes go to the server; a bad value comes back as a warning', async () => {
    vs.config.set('quill.maxTokens', 64);
    vs.configChange.fire({ affectsConfiguration: (s: string) => s === 'quill' || s.startsWith('quill.') });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepStrictEqual(vs.shown.filter((m) => m.kind === 'warning'), []);
    vs.config.set('quill.maxTokens', -1);
    vs.configChange.fire({ affectsConfiguration: (s: string) => s === 'quill' || s.startsWith('quill.') });
    await until('a warning', () => vs.shown.some((m) => m.kind === 'warning' && /maxTokens/.test(m.message)), 10_000);
    vs.config.set('quill.maxTokens', 192);
    vs.configChange.fire({ affectsConfiguration: () => true });
  });

  it('a crashed server is restarted with a backoff, and the user is told once', async () => {
    const warnings = () => vs.shown.filter((m) => /stopped unexpectedly/.test(m.message)).length;
    const [pid] = quillChildren();
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    await until('the status bar to say down', () => statusText().includes('down'), 10_000);
    await until('the restarted model', READY, 60_000);
    const [pid2] = quillChildren();
    assert.ok(pid2 && pid2 !== pid, 'a new process');
    assert.strictEqual(warnings(), 1);
    process.kill(pid2, 'SIGKILL');
    await until('down again', () => statusText().includes('down'), 10_000);
    await until('ready again', READY, 60_000);
    assert.strictEqual(warnings(), 1, 'told once');
    // The document is open in the new server too: ghost text works.
    const result = await vs.inlineProviders[0].provider.provideInlineCompletionItems(
      doc,
      new Position(4, 11),
      { triggerKind: InlineCompletionTriggerKind.Invoke },
      new CancellationTokenSource().token,
    );
    assert.ok((Array.isArray(result) ? result : result?.items)?.length > 0);
  });

  it('quill.restartServer starts a new server', async () => {
    const [pid] = quillChildren();
    await commands.executeCommand('quill.restartServer');
    await until('ready after restart', READY, 60_000);
    const pids = quillChildren();
    assert.strictEqual(pids.length, 1);
    assert.notStrictEqual(pids[0], pid);
    assert.strictEqual(vs.inlineProviders.length, 1, 'still one inline provider');
  });
});

describe('growing ghost text: quill/suggestionReady through the language client', function () {
  // The real server sends quill/suggestionReady only when a generation outlives
  // quill.timeBudgetMs, which depends on the model's speed; so quill.path is a wrapper
  // (inject.ts) that runs the real server and writes the notifications this test gives it.
  this.timeout(120_000);
  const context = { subscriptions: [] as { dispose(): unknown }[] };
  const doc = document('/tmp/quill-vscode-test/grow.py', TEXT);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-vscode-grow-'));
  const injectDir = path.join(tmp, 'inject');
  const saved = { bin: process.env.QUILL_REAL_BIN, dir: process.env.QUILL_INJECT_DIR };
  let sent = 0;
  const send = (params: unknown) => {
    sent += 1;
    const name = path.join(injectDir, String(sent).padStart(4, '0'));
    fs.writeFileSync(`${name}.tmp`, JSON.stringify({ jsonrpc: '2.0', method: 'quill/suggestionReady', params }));
    fs.renameSync(`${name}.tmp`, `${name}.json`);
  };
  const triggers = () => vs.executed.filter((e) => e.command === 'editor.action.inlineSuggest.trigger').length;
  const ready = (version: number, line: number, character: number) => ({
    uri: doc.uri.toString(),
    version,
    position: { line, character },
  });

  before(async () => {
    fs.mkdirSync(injectDir);
    const wrapper = path.join(tmp, 'quill');
    const script = path.resolve(__dirname, 'inject.js');
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)} "$@"\n`, { mode: 0o755 });
    process.env.QUILL_REAL_BIN = QUILL_BIN;
    process.env.QUILL_INJECT_DIR = injectDir;
    vs.reset();
    for (const [key, prop] of manifestSettings()) {
      vs.config.set(`quill.${key}`, prop.default);
    }
    vs.config.set('quill.path', wrapper);
    vs.config.set('quill.model', TEST_MODEL);
    vs.config.set('quill.threads', TEST_THREADS);
    vs.config.set('quill.clientDebounceMs', 0);
    vs.config.set('quill.timeBudgetMs', 300);
    await activate(context as unknown as vscode.ExtensionContext);
    await until('the model to be ready', READY);
  });

  after(async () => {
    await deactivate();
    for (const d of context.subscriptions) {
      d.dispose();
    }
    for (const [key, value] of [['QUILL_REAL_BIN', saved.bin], ['QUILL_INJECT_DIR', saved.dir]] as const) {
      if (value === undefined) {
        delete process.env[key];
      } else {
        process.env[key] = value;
      }
    }
    await until('the wrapper to exit', () => injectChildren().length === 0, 10_000);
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
  });

  it('asks again (editor.action.inlineSuggest.trigger) only where quill answered and nothing changed', async () => {
    vs.documents.push(doc);
    vs.openDocument.fire(doc);
    window.activeTextEditor = { document: doc, selection: new Selection(new Position(4, 11), new Position(4, 11)) };
    const result = await vs.inlineProviders[0].provider.provideInlineCompletionItems(
      doc,
      new Position(4, 11),
      { triggerKind: InlineCompletionTriggerKind.Invoke },
      new CancellationTokenSource().token,
    );
    assert.ok((Array.isArray(result) ? result : result?.items)?.length > 0, `no ghost text: ${JSON.stringify(result)}`);
    assert.ok(
      vs.executed.some((e) => e.command === 'setContext' && e.args[0] === 'quill.ghostTextGrowing' && e.args[1] === true),
      'the Escape binding is on while the answer may grow',
    );
    send(ready(0, 4, 11)); // an older version
    send(ready(1, 4, 10)); // another cursor
    send({ uri: doc.uri.toString() }); // malformed
    send(ready(1, 4, 11)); // where it answered
    await until('the re-ask', () => triggers() > 0, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.strictEqual(triggers(), 1, 'asked once, for the matching notification only');
    // Escape on the new answer: a notification for it is ignored.
    await vs.inlineProviders[0].provider.provideInlineCompletionItems(
      doc,
      new Position(4, 11),
      { triggerKind: InlineCompletionTriggerKind.Invoke },
      new CancellationTokenSource().token,
    );
    await commands.executeCommand('quill.dismissGhostText');
    assert.ok(vs.executed.some((e) => e.command === 'editor.action.inlineSuggest.hide'));
    send(ready(1, 4, 11));
    await new Promise((r) => setTimeout(r, 500));
    assert.strictEqual(triggers(), 1, 'no re-ask after Escape');
    assert.ok(READY(), 'the server is fine');
  });

  it("requests reach the server with LSP 3.18's trigger kinds: an explicit one as Invoked (1), typing as Automatic (2)", async () => {
    // VS Code numbers them Invoke 0 / Automatic 1; vscode-languageclient before 10 sent
    // those numbers as they were, so the server took typing for an explicit request and
    // Alt+] (next suggestion: an explicit request) for typing.
    const kinds = () =>
      fs
        .readFileSync(path.join(injectDir, 'client.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((m) => m.method === 'textDocument/inlineCompletion')
        .map((m) => m.params.context.triggerKind);
    const before = kinds().length;
    for (const triggerKind of [InlineCompletionTriggerKind.Invoke, InlineCompletionTriggerKind.Automatic]) {
      await vs.inlineProviders[0].provider.provideInlineCompletionItems(
        doc,
        new Position(4, 11),
        { triggerKind },
        new CancellationTokenSource().token,
      );
    }
    assert.deepStrictEqual(kinds().slice(before), [1, 2]);
  });
});

describe('the extension without a model', function () {
  this.timeout(60_000);
  const context = { subscriptions: [] as { dispose(): unknown }[] };

  before(async () => {
    vs.reset();
    for (const [key, prop] of manifestSettings()) {
      vs.config.set(`quill.${key}`, prop.default);
    }
    vs.config.set('quill.path', QUILL_BIN);
    vs.config.set('quill.model', 'no-such-model');
    await activate(context as unknown as vscode.ExtensionContext);
  });

  after(async () => {
    await deactivate();
    for (const d of context.subscriptions) {
      d.dispose();
    }
    await until('the server to exit', () => quillChildren().length === 0, 10_000);
  });

  it("shows the server's reason, marks the status bar failed, and offers a download once", async () => {
    await until('failed', () => statusText().includes('failed'), 20_000);
    assert.ok(vs.shown.some((m) => m.kind === 'error' && /unknown model "no-such-model"/.test(m.message)), JSON.stringify(vs.shown));
    const offers = vs.shown.filter((m) => /no model is loaded/.test(m.message));
    assert.strictEqual(offers.length, 1);
    assert.deepStrictEqual(offers[0].items, ['Download a Model', 'Open Settings']);
    assert.match(vs.statusItems[0].tooltip, /Pull/);
  });

  it('a missing quill binary is reported with a pointer to quill.path', async () => {
    await deactivate();
    await until('the previous server to exit', () => quillChildren().length === 0, 10_000);
    vs.reset();
    vs.config.set('quill.path', '/nonexistent/quill');
    // The describe's context: its subscriptions (this QuillServer's settings listener among
    // them) are disposed after it, or a later describe's settings change would restart this
    // one with that describe's quill.path.
    await activate(context as unknown as vscode.ExtensionContext);
    assert.match(statusText(), /down/);
    assert.strictEqual(vs.shown.length, 1, JSON.stringify(vs.shown));
    assert.strictEqual(vs.shown[0].kind, 'error');
    assert.match(vs.shown[0].message, /cannot find "\/nonexistent\/quill".*quill\.path/);
    assert.deepStrictEqual(vs.shown[0].items, ['Open Settings', 'Show Log']);
    assert.deepStrictEqual(quillChildren(), []);
  });
});

describe('the extension with an inference server (quill.backend) that does not answer', function () {
  this.timeout(60_000);
  const context = { subscriptions: [] as { dispose(): unknown }[] };
  const doc = document('/tmp/quill-vscode-test/backend.py', TEXT);

  before(async () => {
    vs.reset();
    for (const [key, prop] of manifestSettings()) {
      vs.config.set(`quill.${key}`, prop.default);
    }
    vs.config.set('quill.path', QUILL_BIN);
    vs.config.set('quill.model', TEST_MODEL); // lends its vocabulary
    vs.config.set('quill.threads', TEST_THREADS);
    vs.config.set('quill.clientDebounceMs', 0);
    // Port 9 (discard): nothing listens there.
    vs.config.set('quill.backend', { url: 'http://127.0.0.1:9', api: 'llama-server', timeoutMs: 2000 });
    await activate(context as unknown as vscode.ExtensionContext);
  });

  after(async () => {
    await deactivate();
    for (const d of context.subscriptions) {
      d.dispose();
    }
    await until('the server to exit', () => quillChildren().length === 0, 10_000);
  });

  it('a failed completion turns the status bar to "backend down", with the reason in the tooltip', async () => {
    // The status bar names the backend; a warm-up may find it down first.
    await until('the model', () => /sparkle|backend down/.test(statusText()), 20_000);
    vs.documents.push(doc);
    vs.openDocument.fire(doc);
    const result = await vs.inlineProviders[0].provider.provideInlineCompletionItems(
      doc,
      new Position(4, 11),
      { triggerKind: InlineCompletionTriggerKind.Invoke },
      new CancellationTokenSource().token,
    ).catch(() => null);
    const items = Array.isArray(result) ? result : result?.items;
    assert.ok(!items || items.length === 0, `ghost text from a server that is down: ${JSON.stringify(result)}`);
    await until('backend down', () => statusText().includes('backend down'), 10_000);
    assert.match(vs.statusItems[0].tooltip, /inference server is unreachable/);
    assert.doesNotMatch(statusText(), /failed/);
  });
});

describe('the extension with no quill anywhere: downloads the release binary', function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-vscode-dl-'));
  const storage = path.join(tmp, 'storage');
  const context = {
    subscriptions: [] as { dispose(): unknown }[],
    extensionPath: path.join(tmp, 'extension'), // no server/quill bundled
    globalStorageUri: Uri.file(storage),
  };
  const saved = { PATH: process.env.PATH, QUILL_RELEASE_URL: process.env.QUILL_RELEASE_URL };

  before(() => {
    // The "release binary": a script that runs the quill under test (it keeps the name).
    makeRelease(path.join(tmp, 'release'), `#!/bin/sh\nexec ${JSON.stringify(QUILL_BIN)} "$@"\n`);
    process.env.QUILL_RELEASE_URL = pathToFileURL(path.join(tmp, 'release')).href;
    fs.mkdirSync(path.join(tmp, 'bin'));
    process.env.PATH = [path.join(tmp, 'bin'), '/usr/bin', '/bin'].join(path.delimiter);
    vs.reset();
    for (const [key, prop] of manifestSettings()) {
      vs.config.set(`quill.${key}`, prop.default); // quill.path: "quill", i.e. unset
    }
    vs.config.set('quill.model', TEST_MODEL);
    vs.config.set('quill.threads', TEST_THREADS);
  });

  after(async () => {
    await deactivate();
    for (const d of context.subscriptions) {
      d.dispose();
    }
    process.env.PATH = saved.PATH;
    if (saved.QUILL_RELEASE_URL === undefined) {
      delete process.env.QUILL_RELEASE_URL;
    } else {
      process.env.QUILL_RELEASE_URL = saved.QUILL_RELEASE_URL;
    }
    await until('the server to exit', () => quillChildren().length === 0, 10_000);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('offers the download, checks it against SHA256SUMS, stores it and starts it', async () => {
    vs.messageAnswer = 'Download';
    await activate(context as unknown as vscode.ExtensionContext);
    await until('the downloaded server to be ready', READY, 90_000);
    const offers = vs.shown.filter((m) => /not installed/.test(m.message));
    assert.strictEqual(offers.length, 1, JSON.stringify(vs.shown));
    assert.deepStrictEqual(offers[0].items, ['Download', 'Open Settings']);
    assert.deepStrictEqual(vs.shown.filter((m) => m.kind === 'error'), []);
    assert.strictEqual(vs.progress[0]?.options.title, 'quill: downloading the server');
    assert.ok(fs.existsSync(downloadedPath(storage)));
    assert.strictEqual(quillChildren().length, 1);
  });

  it('a restart finds the downloaded binary without asking again', async () => {
    vs.shown = [];
    await vs.commands.get('quill.restartServer')!();
    await until('ready again', READY, 90_000);
    assert.deepStrictEqual(vs.shown, []);
    assert.strictEqual(quillChildren().length, 1);
  });
});

describe('next edits: quill/nextEdit through the language client', function () {
  // A real server proposes the renames; quill.path is the inject.ts wrapper so that a test can
  // also slip in a notification of its own (with quill.nextEdits off the server sends none).
  this.timeout(120_000);
  const context = { subscriptions: [] as { dispose(): unknown }[] };
  const fixture = fs.readFileSync(path.join(EXTENSION_ROOT, 'e2e', 'fixtures', 'stats.py'), 'utf8');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-vscode-nextedit-'));
  const injectDir = path.join(tmp, 'inject');
  const saved = { bin: process.env.QUILL_REAL_BIN, dir: process.env.QUILL_INJECT_DIR };
  let sent = 0;
  const inject = (method: string, params: unknown) => {
    sent += 1;
    const name = path.join(injectDir, String(sent).padStart(4, '0'));
    fs.writeFileSync(`${name}.tmp`, JSON.stringify({ jsonrpc: '2.0', method, params }));
    fs.renameSync(`${name}.tmp`, `${name}.json`);
  };
  const wire = () =>
    fs
      .readFileSync(path.join(injectDir, 'client.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const log = () => vs.outputs.find((c) => c.name === 'quill')?.lines.join('\n') ?? '';
  const pendingKey = () => {
    const set = vs.executed.filter((e) => e.command === 'setContext' && e.args[0] === 'quill.nextEditPending');
    return set.length > 0 ? set[set.length - 1].args[1] : undefined;
  };
  /** The next-edit decorations of `editor`: the target (type 0) and the cursor-line hint (1). */
  const target = (editor: TextEditor) => editor.decorationsOf(0);
  const hint = (editor: TextEditor) => editor.decorationsOf(1);
  const at = (editor: TextEditor) => target(editor).map((d) => `${d.range.start.line}:${d.range.start.character}-${d.range.end.character}`)[0];
  const tab = () => commands.executeCommand('quill.nextEdit.jumpOrAccept');

  /** quill: Suggest Next Edit: the proposal shown, or undefined with "no next edit here"
   *  shown. Asked again while the answer is for an older version (a didChange still on its
   *  way), which the extension drops without a word. */
  async function suggest(): Promise<{ label?: string } | undefined> {
    for (let i = 0; ; i++) {
      vs.shown = [];
      const shown = (await commands.executeCommand('quill.nextEdit.suggest')) as { label?: string } | undefined;
      if (shown || vs.shown.length > 0) {
        return shown;
      }
      assert.ok(i < 100, `no answer for the current version: ${log().split('\n').slice(-3).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** `file` (a copy of the e2e fixture) open in the active editor, the cursor at `cursor`. */
  function open(file: string, cursor: Position): { doc: TextDocument; editor: TextEditor } {
    const doc = new TextDocument(path.join('/tmp/quill-vscode-test', file), fixture);
    vs.documents.push(doc);
    vs.openDocument.fire(doc);
    const editor = new TextEditor(doc, cursor);
    activateEditor(editor);
    return { doc, editor };
  }

  /** The user replaces the name that ends at `end` (`n` characters) with `name`, as typed. */
  function rename(doc: TextDocument, editor: TextEditor, end: Position, n: number, name: string): void {
    editor.moveTo(end);
    editor.moveTo(doc.type(doc.backspace(end, n), name));
  }

  before(async () => {
    fs.mkdirSync(injectDir);
    const wrapper = path.join(tmp, 'quill');
    const script = path.resolve(__dirname, 'inject.js');
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)} "$@"\n`, { mode: 0o755 });
    process.env.QUILL_REAL_BIN = QUILL_BIN;
    process.env.QUILL_INJECT_DIR = injectDir;
    vs.reset();
    for (const [key, prop] of manifestSettings()) {
      vs.config.set(`quill.${key}`, prop.default);
    }
    vs.config.set('quill.path', wrapper);
    vs.config.set('quill.model', TEST_MODEL);
    vs.config.set('quill.threads', TEST_THREADS);
    vs.config.set('quill.warmup', false); // nothing but next edits asked of the server
    await activate(context as unknown as vscode.ExtensionContext);
    await until('the model to be ready', READY);
    assert.strictEqual(injectChildren().length, 1, 'the server runs behind the wrapper');
  });

  after(async () => {
    await deactivate();
    for (const d of context.subscriptions) {
      d.dispose();
    }
    for (const [key, value] of [['QUILL_REAL_BIN', saved.bin], ['QUILL_INJECT_DIR', saved.dir]] as const) {
      if (value === undefined) {
        delete process.env[key];
      } else {
        process.env[key] = value;
      }
    }
    await until('the wrapper to exit', () => injectChildren().length === 0, 10_000);
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
  });

  it('a parameter renamed at its definition: the marker at the next use; Tab goes there, Tab applies it; then the last one', async () => {
    const { doc, editor } = open('nextedit.py', new Position(3, 15));
    assert.strictEqual(doc.lineAt(3).text, 'def mean(values):');
    rename(doc, editor, new Position(3, 15), 6, 'nums'); // "def mean(nums):"
    await until('the proposal at the next use (for v in values)', () => at(editor) === '6:13-19', 30_000);
    assert.strictEqual(target(editor)[0].renderOptions.after.contentText, ' → nums  ⇥ Tab');
    assert.match(target(editor)[0].hoverMessage.value, /rename values → nums \(1 more\)/);
    assert.match(hint(editor)[0]?.renderOptions.after.contentText ?? '', /Tab: rename values → nums \(1 more\), line 7/);
    assert.deepStrictEqual(hint(editor)[0].range.start, new Position(3, 15), 'the hint at the end of the cursor line');
    assert.strictEqual(pendingKey(), true, 'Tab is bound');
    assert.strictEqual(await tab(), 'jump');
    assert.deepStrictEqual(editor.selection.active, new Position(6, 13));
    assert.strictEqual(doc.lineAt(6).text, '    for v in values:', 'the jump changes no text');
    assert.strictEqual(await tab(), 'accept');
    assert.strictEqual(doc.lineAt(6).text, '    for v in nums:');
    assert.strictEqual(target(editor).length, 0);
    // The server has the accepted edit (a didChange) and proposes the last place.
    await until('the proposal at the last use (len(values))', () => at(editor) === '8:23-29', 30_000);
    assert.strictEqual(target(editor)[0].renderOptions.after.contentText, ' → nums  ⇥ Tab');
    assert.match(target(editor)[0].hoverMessage.value, /rename values → nums(?! \()/, 'no "more" on the last one');
    assert.strictEqual(await tab(), 'jump');
    assert.strictEqual(await tab(), 'accept');
    assert.strictEqual(doc.getText(), fixture.replace(/values/g, 'nums'));
    assert.ok(!vs.executed.some((e) => e.command === 'tab'), 'no Tab fell through to VS Code');
    // The accepted edits went to the server as ordinary didChange notifications.
    const changes = () => wire().filter((m) => m.method === 'textDocument/didChange' && m.params.textDocument.uri.endsWith('/nextedit.py'));
    await until('the last edit on the wire', () => changes().at(-1)?.params.textDocument.version === doc.version, 10_000);
    assert.deepStrictEqual(changes().at(-1).params.contentChanges.map((c: any) => [c.range.start, c.text]), [[{ line: 8, character: 23 }, 'nums']]);
    // Nothing is left: the manual trigger says so.
    assert.strictEqual(await suggest(), undefined);
    assert.match(vs.shown.at(-1)?.message ?? '', /no next edit here/);
    assert.strictEqual(target(editor).length, 0);
  });

  it('Escape clears it, quill: Suggest Next Edit brings it back, another edit clears it', async () => {
    const { doc, editor } = open('nextedit-escape.py', new Position(5, 9));
    assert.strictEqual(doc.lineAt(5).text, '    total = 0');
    rename(doc, editor, new Position(5, 9), 5, 'acc'); // "    acc = 0"
    await until('the proposal at "total += v"', () => at(editor) === '7:8-13', 30_000);
    await commands.executeCommand('quill.nextEdit.dismiss');
    assert.strictEqual(target(editor).length, 0, 'Escape');
    assert.strictEqual(pendingKey(), false);
    const asked = await suggest();
    assert.match(asked?.label ?? '', /rename total → acc \(1 more\)/);
    assert.strictEqual(at(editor), '7:8-13', 'shown again');
    assert.strictEqual(pendingKey(), true);
    doc.type(new Position(doc.lineCount - 1, 0), '#');
    assert.strictEqual(target(editor).length, 0, 'another edit');
    assert.strictEqual(pendingKey(), false);
  });

  it('quill.nextEdits off: sent to the server, a pushed proposal is not shown, the manual trigger still works', async () => {
    const change = () => vs.configChange.fire({ affectsConfiguration: (s: string) => s === 'quill' || s.startsWith('quill.') });
    vs.config.set('quill.nextEdits', false);
    change();
    try {
      await until('nextEdits false on the wire', () =>
        wire().some((m) => m.method === 'workspace/didChangeConfiguration' && m.params.settings?.quill?.nextEdits === false),
      10_000);
      const { doc, editor } = open('nextedit-off.py', new Position(16, 14));
      assert.strictEqual(doc.lineAt(16).text, 'def distance(a, b):');
      // A notification that comes anyway (sent before the server had the setting).
      inject('quill/nextEdit', {
        uri: pathToFileURL(doc.fileName).href,
        version: doc.version,
        range: { start: { line: 18, character: 9 }, end: { line: 18, character: 10 } },
        newText: 'p',
        kind: 'rename',
        label: 'rename a → p (2 more)',
        remaining: 2,
      });
      await until('the extension to note it', () => /next edit not shown: quill\.nextEdits is off \(rename a → p/.test(log()), 10_000);
      assert.strictEqual(target(editor).length, 0);
      rename(doc, editor, new Position(16, 14), 1, 'p'); // "def distance(p, b):"
      const asked = await suggest();
      assert.match(asked?.label ?? '', /rename a → p/);
      assert.strictEqual(at(editor), '18:9-10', 'dx = a[0] - b[0]');
      assert.strictEqual(await tab(), 'jump');
      assert.strictEqual(await tab(), 'accept');
      assert.strictEqual(doc.lineAt(18).text, '    dx = p[0] - b[0]');
    } finally {
      vs.config.set('quill.nextEdits', true);
      change();
    }
  });
});
