import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CancellationToken } from 'vscode-languageserver-protocol';
import { executeCommandMiddleware, isServerAnswer, showDocumentMiddleware, splitMarkdownFile } from '../../src/middleware';
import { test as vs } from '../mock/vscode';
import { setup } from './commands.test';

/* eslint-disable @typescript-eslint/no-explicit-any */
describe('server command middleware', () => {
  const range = { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } };

  it('"Refactor with instruction…" (quill.refactor without one) asks, then sends it', async () => {
    const { commands, panel } = setup();
    const mw = executeCommandMiddleware(commands, panel);
    const sent: any[] = [];
    vs.inputAnswers.push('add type hints');
    const result = await mw('quill.refactor', [{ action: 'instruction', uri: 'file:///w/a.py', version: 4, range }], async (command, args) => {
      sent.push({ command, args });
      return { applied: true, summary: 'added hints' };
    });
    assert.deepStrictEqual(sent, [
      { command: 'quill.refactor', args: [{ action: 'instruction', uri: 'file:///w/a.py', version: 4, range, instruction: 'add type hints' }] },
    ]);
    assert.deepStrictEqual(result, { applied: true, summary: 'added hints' });
    assert.strictEqual(vs.inputOptions.length, 1);
  });

  it('quill.refactor: Escape sends nothing; an instruction already given is not asked again', async () => {
    const { commands, panel } = setup();
    const mw = executeCommandMiddleware(commands, panel);
    let calls = 0;
    vs.inputAnswers.push(undefined);
    await mw('quill.refactor', [{ action: 'instruction', uri: 'u', range }], async () => calls++);
    assert.strictEqual(calls, 0);
    await mw('quill.refactor', [{ action: 'instruction', uri: 'u', range, instruction: 'x' }], async () => calls++);
    assert.strictEqual(calls, 1);
    assert.strictEqual(vs.inputOptions.length, 1);
  });

  it('quill.showMarkdown renders in the panel and does not go to the server', async () => {
    const { commands, panel } = setup();
    const mw = executeCommandMiddleware(commands, panel);
    let forwarded = false;
    await mw('quill.showMarkdown', [{ title: 'quill: Fix', markdown: 'The model answered **this**.' }], async () => (forwarded = true));
    assert.strictEqual(forwarded, false);
    assert.strictEqual(panel.shown?.title, 'quill: Fix');
    assert.match(vs.panels[0].webview.html, /<strong>this<\/strong>/);
  });

  it('quill.explain (Explain and fix) becomes quill/explain with the problems, shown in the panel', async () => {
    const { commands, panel, api } = setup();
    const mw = executeCommandMiddleware(commands, panel);
    api.answers.push(() => ({ markdown: 'because' }));
    let forwarded = false;
    await mw('quill.explain', [{ action: 'explain', uri: 'file:///w/a.py', range, problems: [{ line: 3, message: 'boom' }] }], async () => (forwarded = true));
    assert.strictEqual(forwarded, false);
    assert.deepStrictEqual(api.requests[0], {
      method: 'quill/explain',
      params: { textDocument: { uri: 'file:///w/a.py' }, range, problems: [{ line: 3, message: 'boom' }] },
    });
    assert.strictEqual(panel.shown?.markdown, 'because');
  });

  it('other commands pass through', async () => {
    const { commands, panel } = setup();
    const mw = executeCommandMiddleware(commands, panel);
    const r = await mw('quill.review', [{ action: 'review' }], async (c, a) => ({ c, a }));
    assert.deepStrictEqual(r, { c: 'quill.review', a: [{ action: 'review' }] });
  });

  it("the server's answer files open in the panel; other documents open normally", async () => {
    const { panel } = setup();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-')) + '/explanations';
    fs.mkdirSync(dir);
    const file = path.join(dir, 'explanation-1-0.md');
    fs.writeFileSync(file, '# quill: refactor not applied\n\nThe edit broke the **syntax**.\n');
    const mw = showDocumentMiddleware(panel);
    const next = async () => ({ success: false });
    const r = await mw({ uri: `file://${file}` }, CancellationToken.None, next as any);
    assert.deepStrictEqual(r, { success: true });
    assert.strictEqual(panel.shown?.title, 'quill: refactor not applied');
    assert.strictEqual(panel.shown?.markdown, 'The edit broke the **syntax**.\n');
    let passed = 0;
    await mw({ uri: 'file:///w/a.py' }, CancellationToken.None, (async (_p: unknown, token: unknown) => {
      assert.strictEqual(token, CancellationToken.None);
      passed++;
      return { success: true };
    }) as any);
    assert.strictEqual(passed, 1);
    assert.ok(!isServerAnswer('file:///w/notes.md'));
    assert.deepStrictEqual(splitMarkdownFile('no title'), { title: 'quill', markdown: 'no title' });
  });
});
