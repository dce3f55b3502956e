// The extension's protocol against a real `quill serve` (QUILL_BIN, default
// /work/main/target/debug/quill) with the fast 0.5B model.
import * as assert from 'assert';
import { CancellationTokenSource } from 'vscode-languageserver-protocol';
import { CLIENT_ONLY_KEYS, SERVER_KEYS, serverSettings, settingsChange, clientSettings } from '../../src/settings';
import { parseState } from '../../src/quillStatus';
import { manifestSettings, readmeSettings } from '../unit/manifest';
import { Quill, TEST_MODEL, TEST_THREADS, type QuillStatus } from './quill';

const PY_URI = 'file:///tmp/quill-vscode-test/fib.py';
const PY_TEXT = [
  'def fibonacci(n):',
  '    """Return the n-th Fibonacci number."""',
  '    if n < 2:',
  '        return n',
  '    return ',
  '',
  '',
  'def greet(name):',
  '    return "Hello, " + name',
  '',
].join('\n');
const AT_RETURN = { line: 4, character: 11 };

interface InlineList {
  items: { insertText: string | { value: string }; range?: unknown }[];
}

/** The initializationOptions the extension sends on a fresh install, with the test model. */
function extensionInitOptions(): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, prop] of manifestSettings()) {
    values[key] = prop.default;
  }
  values.model = TEST_MODEL;
  values.threads = TEST_THREADS;
  return serverSettings({ get: <T>(k: string) => values[k] as T | undefined });
}

function inline(q: Quill, position = AT_RETURN, token?: CancellationTokenSource['token']) {
  const params = { textDocument: { uri: PY_URI }, position, context: { triggerKind: 2 } };
  return token
    ? q.conn.sendRequest<InlineList | null>('textDocument/inlineCompletion', params, token)
    : q.conn.sendRequest<InlineList | null>('textDocument/inlineCompletion', params);
}

describe('quill serve (real server, real model)', function () {
  this.timeout(120_000);
  let q: Quill;
  let init: Awaited<ReturnType<Quill['initialize']>>;
  let ready: QuillStatus;
  let loadMs = 0;

  before(async () => {
    q = new Quill();
    const t0 = Date.now();
    init = await q.initialize(extensionInitOptions());
    ready = await q.waitReady();
    loadMs = Date.now() - t0;
  });

  after(async () => {
    await q?.stop();
  });

  it('initializes with ghost text only (no classic completion), commands and UTF-16 positions', () => {
    const caps = init.capabilities as Record<string, unknown>;
    assert.ok(caps.inlineCompletionProvider, 'inlineCompletionProvider');
    assert.strictEqual(caps.completionProvider, undefined, 'no classic completion next to ghost text');
    assert.deepStrictEqual(
      [...((caps.executeCommandProvider as { commands: string[] }).commands)].sort(),
      ['quill.explain', 'quill.refactor', 'quill.review', 'quill.showMarkdown'],
    );
    assert.strictEqual(caps.positionEncoding, 'utf-16');
  });

  it("accepts the extension's default settings without a warning, and loads the model with $/progress", () => {
    assert.deepStrictEqual(q.messages.filter((m) => m.type <= 2), [], 'no error or warning');
    assert.strictEqual(ready.model?.name, TEST_MODEL);
    assert.deepStrictEqual(parseState(ready.state), { kind: 'ready' });
    const token = `quill/load/${TEST_MODEL}`;
    assert.ok(q.created.includes(token), `window/workDoneProgress/create for ${token}: ${JSON.stringify(q.created)}`);
    const kinds = q.progress.filter((p) => p.token === token).map((p) => p.value.kind);
    assert.strictEqual(kinds[0], 'begin');
    assert.strictEqual(kinds.at(-1), 'end');
    console.log(`      (model ready ${loadMs} ms after initialize)`);
  });

  it("settingKeys agree with package.json (minus client-only keys) and the README's table", () => {
    const manifest = [...manifestSettings().keys()].filter((k) => !(CLIENT_ONLY_KEYS as readonly string[]).includes(k));
    assert.deepStrictEqual([...ready.settingKeys].sort(), [...manifest].sort(), 'package.json vs quill/status settingKeys');
    assert.deepStrictEqual([...ready.settingKeys].sort(), [...readmeSettings().keys()].sort(), 'README vs settingKeys');
    assert.deepStrictEqual([...ready.settingKeys].sort(), [...SERVER_KEYS].sort(), 'src/settings.ts vs settingKeys');
    assert.deepStrictEqual([...ready.commands].sort(), ['quill.explain', 'quill.refactor', 'quill.review', 'quill.showMarkdown']);
  });

  it('gives ghost text in a Python document', async () => {
    await q.open(PY_URI, 'python', PY_TEXT);
    const t0 = Date.now();
    const result = await inline(q);
    const ms = Date.now() - t0;
    assert.ok(result && result.items.length > 0, `no completion: ${JSON.stringify(result)}`);
    const item = result.items[0];
    const text = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
    assert.ok(text.trim().length > 0, 'empty completion');
    assert.match(text, /fibonacci|n\s*-\s*1/, `unexpected completion: ${JSON.stringify(text)}`);
    console.log(`      (${ms} ms: ${JSON.stringify(text)})`);
    const s = await q.status();
    assert.strictEqual(s.documents, 1);
  });

  it('$/cancelRequest stops an in-flight completion, and the server answers the next one', async () => {
    // A change so the prompt is not cached from the last test.
    await q.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: PY_URI, version: 2 },
      contentChanges: [{ range: { start: { line: 8, character: 27 }, end: { line: 8, character: 27 } }, text: ' + "!"' }],
    });
    const cts = new CancellationTokenSource();
    const t0 = Date.now();
    const pending = inline(q, { line: 9, character: 0 }, cts.token);
    setTimeout(() => cts.cancel(), 20);
    let outcome: string;
    try {
      const r = await pending;
      outcome = r === null ? 'null' : `items ${JSON.stringify(r)}`;
    } catch (e) {
      outcome = `error ${(e as { code?: number }).code}`;
    }
    const ms = Date.now() - t0;
    // -32800: RequestCancelled (what the language client turns into "no suggestion").
    assert.ok(outcome === 'error -32800' || outcome === 'null', `a cancelled request answered ${outcome}`);
    assert.ok(ms < 10_000, `the cancelled request took ${ms} ms`);
    const next = await inline(q);
    assert.ok(next && next.items.length > 0, 'the server still completes after a cancellation');
    console.log(`      (cancelled request answered "${outcome}" after ${ms} ms)`);
  });

  it('a newer request for the document supersedes an older one (answered null)', async () => {
    await q.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: PY_URI, version: 3 },
      contentChanges: [{ range: { start: { line: 9, character: 0 }, end: { line: 9, character: 0 } }, text: '\n' }],
    });
    const t0 = Date.now();
    const first = inline(q, { line: 10, character: 0 });
    const stamps: string[] = [];
    void first.then(() => stamps.push(`first ${Date.now() - t0} ms`), () => stamps.push(`first failed ${Date.now() - t0} ms`));
    await new Promise((r) => setTimeout(r, 10));
    const second = inline(q);
    const [a, b] = await Promise.allSettled([first, second]);
    console.log(`      (${stamps.join(', ')}; second ${Date.now() - t0} ms)`);
    assert.ok(a.status === 'fulfilled' ? a.value === null : (a.reason as { code?: number }).code === -32800, `first: ${JSON.stringify(a)}`);
    assert.ok(b.status === 'fulfilled' && b.value && b.value.items.length > 0, `second: ${JSON.stringify(b)}`);
  });

  it('didChangeConfiguration as the extension sends it: a good change is silent, a bad value is reported', async () => {
    const client = clientSettings({ get: () => undefined });
    const before = extensionInitOptions();
    const change = settingsChange(before, { ...before, maxTokens: 32, warmup: false }, client, client);
    assert.deepStrictEqual(change.send, { maxTokens: 32, warmup: false });
    const messages = q.messages.length;
    await q.conn.sendNotification('workspace/didChangeConfiguration', { settings: { quill: change.send } });
    await q.status(); // processed in order
    assert.strictEqual(q.messages.length, messages, `unexpected: ${JSON.stringify(q.messages.slice(messages))}`);
    await q.conn.sendNotification('workspace/didChangeConfiguration', { settings: { quill: { maxTokens: -3 } } });
    const t0 = Date.now();
    while (q.messages.length === messages && Date.now() - t0 < 5000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.strictEqual(q.messages[messages]?.type, 2, 'a warning');
    assert.match(q.messages[messages].message, /maxTokens/);
    await q.conn.sendNotification('workspace/didChangeConfiguration', { settings: { quill: { maxTokens: 192, warmup: true } } });
  });

  it('"Refactor with instruction…" comes without an instruction, and the server needs one (the extension asks)', async () => {
    const actions = await q.conn.sendRequest<{ title: string; command?: { command: string; arguments: { instruction?: string | null }[] } }[]>(
      'textDocument/codeAction',
      {
        textDocument: { uri: PY_URI },
        range: { start: AT_RETURN, end: AT_RETURN },
        context: { diagnostics: [] },
      },
    );
    const refactor = actions.find((a) => a.title.startsWith('quill: Refactor with instruction'));
    assert.ok(refactor?.command, JSON.stringify(actions.map((a) => a.title)));
    assert.strictEqual(refactor.command.command, 'quill.refactor');
    assert.ok(!refactor.command.arguments[0].instruction, 'no instruction in the action');
    await assert.rejects(
      q.conn.sendRequest('workspace/executeCommand', { command: 'quill.refactor', arguments: refactor.command.arguments }),
      (e: { code?: number; message?: string }) => e.code === -32602 && /instruction/.test(e.message ?? ''),
    );
  });

  it("quill/explain runs under a cancellable $/progress bar; its cancel button stops it", async () => {
    let cancelled: string | number | undefined;
    q.onProgress((p) => {
      if (p.value.kind === 'begin' && String(p.token).startsWith('quill/work/') && cancelled === undefined) {
        assert.strictEqual(p.value.cancellable, true);
        cancelled = p.token;
        void q.conn.sendNotification('window/workDoneProgress/cancel', { token: p.token });
      }
    });
    const t0 = Date.now();
    await assert.rejects(
      q.conn.sendRequest('quill/explain', { textDocument: { uri: PY_URI }, position: AT_RETURN }),
      (e: { code?: number }) => e.code === -32800,
    );
    assert.ok(cancelled !== undefined, 'a progress bar was shown');
    console.log(`      (explanation cancelled after ${Date.now() - t0} ms)`);
  });
});
