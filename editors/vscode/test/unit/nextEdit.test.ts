/* eslint-disable @typescript-eslint/no-explicit-any */
import * as assert from 'assert';
import type * as vscode from 'vscode';
import type { QuillApi } from '../../src/commands';
import {
  DISMISS_COMMAND,
  JUMP_OR_ACCEPT_COMMAND,
  NEXT_EDIT,
  NextEdits,
  PENDING_CONTEXT,
  SUGGEST_COMMAND,
  TAB_COMMAND,
  hintText,
  parseNextEdit,
  short,
  tabAction,
  targetText,
  type NextEdit,
} from '../../src/nextEdit';
import { Position, TextDocument, TextEditor, Uri, activateEditor, commands, test as vs, window } from '../mock/vscode';
import { manifest } from './manifest';

const TEXT = [
  'def mean(values):',
  '    total = 0',
  '    for v in values:',
  '        total += v',
  '    return total / len(values)',
  '',
].join('\n');
const PATH = '/w/stats.py';
const URI = Uri.file(PATH).toString();

/** The proposal after `values` → `nums` at the definition (the document at `version`). */
function proposal(version: number, line = 2, start = 13, remaining = 1): NextEdit {
  return {
    uri: URI,
    version,
    range: { start: { line, character: start }, end: { line, character: start + 6 } },
    newText: 'nums',
    kind: 'rename',
    label: `rename values → nums${remaining ? ` (${remaining} more)` : ''}`,
    remaining,
  };
}

const identity = (u: string) => Uri.parse(u).toString();

function pending(): unknown {
  const set = vs.executed.filter((e) => e.command === 'setContext' && e.args[0] === PENDING_CONTEXT);
  return set.length > 0 ? set[set.length - 1].args[1] : undefined;
}

class FakeApi implements QuillApi {
  requests: { method: string; params: any }[] = [];
  answer: unknown = null;
  request<R>(method: string, params: unknown): Promise<R> {
    this.requests.push({ method, params });
    return Promise.resolve(this.answer as R);
  }
  uri(uri: vscode.Uri): string {
    return uri.toString();
  }
}

describe('next edits: the protocol object', () => {
  it('parseNextEdit takes the documented object, with defaults for the label and remaining', () => {
    const p = proposal(7);
    assert.deepStrictEqual(parseNextEdit(p), p);
    assert.deepStrictEqual(parseNextEdit({ ...p, label: undefined, remaining: undefined }), { ...p, label: 'rename', remaining: 0 });
    for (const bad of [
      null,
      undefined,
      'x',
      {},
      { ...p, uri: 3 },
      { ...p, version: '7' },
      { ...p, version: -1 },
      { ...p, newText: undefined },
      { ...p, range: undefined },
      { ...p, range: { start: { line: 2, character: 13 } } },
      { ...p, range: { start: { line: 2, character: 13 }, end: { line: 2, character: 1.5 } } },
      { ...p, range: { start: { line: 2, character: 13 }, end: { line: 2, character: 12 } } },
      { ...p, range: { start: { line: 3, character: 0 }, end: { line: 2, character: 20 } } },
    ]) {
      assert.strictEqual(parseNextEdit(bad), undefined, JSON.stringify(bad));
    }
  });

  it('Tab on the target line applies it (an inline edit), elsewhere it goes there', () => {
    const p = proposal(7);
    assert.strictEqual(tabAction(p, { line: 0, character: 15 }), 'jump');
    assert.strictEqual(tabAction(p, { line: 3, character: 13 }), 'jump');
    assert.strictEqual(tabAction(p, { line: 2, character: 13 }), 'accept');
    assert.strictEqual(tabAction(p, { line: 2, character: 0 }), 'accept', 'anywhere on its line');
  });

  it('what the decorations say', () => {
    assert.strictEqual(targetText(proposal(7)), ' → nums  ⇥ Tab');
    const insertion = { ...proposal(7), range: { start: { line: 9, character: 12 }, end: { line: 9, character: 12 } }, newText: ', 2' };
    assert.strictEqual(targetText(insertion), ', 2  ⇥ Tab', 'an insertion shows what it inserts');
    assert.strictEqual(hintText(proposal(7)), '⇥ Tab: rename values → nums (1 more), line 3');
    assert.strictEqual(short('a\nb'), 'a…');
    assert.strictEqual(short('x'.repeat(50), 40), `${'x'.repeat(40)}…`);
  });
});

describe('next edits: NextEdits in the editor', () => {
  let nextEdits: NextEdits;
  let enabled: boolean;
  let api: FakeApi | undefined;
  let doc: TextDocument;
  let editor: TextEditor;
  const log: string[] = [];
  const target = () => editor.decorationsOf(0);
  const hint = () => editor.decorationsOf(1);

  /** The user renames `values` at the definition: six Backspaces, then `nums`. */
  function rename(): void {
    const at = doc.backspace(new Position(0, 15), 6);
    editor.moveTo(doc.type(at, 'nums'));
  }

  beforeEach(() => {
    vs.reset();
    enabled = true;
    api = new FakeApi();
    log.length = 0;
    nextEdits = new NextEdits({ enabled: () => enabled, api: () => api, log: (l) => log.push(l) });
    doc = new TextDocument(PATH, TEXT);
    vs.documents.push(doc);
    editor = new TextEditor(doc, new Position(0, 15));
    activateEditor(editor);
  });
  afterEach(() => nextEdits.dispose());

  it('shows a pushed proposal at its place, with the hint on the cursor line and the Tab context key', () => {
    rename();
    assert.strictEqual(doc.version, 11);
    assert.strictEqual(nextEdits.received(proposal(11), identity), true);
    const [t] = target();
    assert.deepStrictEqual([t.range.start, t.range.end], [new Position(2, 13), new Position(2, 19)]);
    assert.strictEqual(doc.getText(t.range), 'values');
    assert.strictEqual(t.renderOptions.after.contentText, ' → nums  ⇥ Tab');
    assert.match(t.hoverMessage.value, /rename values → nums \(1 more\)/);
    const [h] = hint();
    assert.deepStrictEqual(h.range.start, new Position(0, 15), 'at the end of the cursor line');
    assert.match(h.renderOptions.after.contentText, /Tab.*line 3/);
    assert.strictEqual(pending(), true);
    const style = vs.decorationTypes[0].options;
    assert.strictEqual(style.textDecoration, 'line-through');
    assert.ok(style.overviewRulerColor, 'a mark in the overview ruler');
  });

  it('Tab goes to the target, Tab again applies it there (one undo step), and the cursor ends after it', async () => {
    rename();
    nextEdits.received(proposal(11), identity);
    assert.strictEqual(await commands.executeCommand(JUMP_OR_ACCEPT_COMMAND), 'jump');
    assert.deepStrictEqual(editor.selection.active, new Position(2, 13));
    assert.strictEqual(editor.revealed.length, 1, 'revealed');
    assert.strictEqual(doc.getText(), TEXT.replace('(values)', '(nums)'), 'nothing changed yet');
    assert.strictEqual(target().length, 1, 'still shown');
    assert.deepStrictEqual(hint(), [], 'no hint on the target line');
    assert.strictEqual(await commands.executeCommand(JUMP_OR_ACCEPT_COMMAND), 'accept');
    assert.strictEqual(doc.getText().split('\n')[2], '    for v in nums:');
    assert.deepStrictEqual(editor.edits[0].options, { undoStopBefore: true, undoStopAfter: true });
    assert.deepStrictEqual(editor.selection.active, new Position(2, 17));
    assert.deepStrictEqual(target(), [], 'gone once applied');
    assert.strictEqual(pending(), false);
    // The server proposes the next place; it is on another line: Tab, Tab.
    nextEdits.received(proposal(doc.version, 4, 23, 0), identity);
    assert.strictEqual(await commands.executeCommand(JUMP_OR_ACCEPT_COMMAND), 'jump');
    assert.strictEqual(await commands.executeCommand(JUMP_OR_ACCEPT_COMMAND), 'accept');
    assert.strictEqual(doc.getText(), TEXT.replace(/values/g, 'nums'));
    assert.ok(!vs.executed.some((e) => e.command === TAB_COMMAND), 'Tab never fell through');
  });

  it('a proposal on the cursor line is applied by the first Tab', async () => {
    editor.moveTo(new Position(2, 0));
    nextEdits.received(proposal(doc.version), identity);
    assert.deepStrictEqual(hint(), []);
    assert.strictEqual(await nextEdits.jumpOrAccept(), 'accept');
    assert.strictEqual(doc.lineAt(2).text, '    for v in nums:');
  });

  it('ignores a stale, malformed, foreign or unwanted proposal, and says why in the log', () => {
    rename();
    assert.strictEqual(nextEdits.received(proposal(10), identity), false, 'an older version');
    assert.strictEqual(nextEdits.received({ uri: URI }, identity), false, 'malformed');
    assert.strictEqual(nextEdits.received({ ...proposal(11), uri: 'file:///w/other.py' }, identity), false, 'another document');
    assert.strictEqual(nextEdits.received(proposal(11), () => {
      throw new Error('bad uri');
    }), false);
    enabled = false;
    assert.strictEqual(nextEdits.received(proposal(11), identity), false, 'quill.nextEdits off');
    assert.deepStrictEqual(target(), []);
    assert.notStrictEqual(pending(), true);
    assert.ok(log.some((l) => /changed since/.test(l)), log.join('\n'));
    assert.ok(log.some((l) => /malformed/.test(l)));
    assert.ok(log.some((l) => /not in the active editor/.test(l)));
    assert.ok(log.some((l) => /nextEdits is off/.test(l)));
  });

  it('normalises the server URI with the client converter before comparing', () => {
    assert.strictEqual(nextEdits.received({ ...proposal(doc.version), uri: 'file:///w/stats%2Epy' }, identity), true);
  });

  it('any edit of the document, another editor, closing it or turning the setting off clears it', () => {
    const show = () => assert.strictEqual(nextEdits.received(proposal(doc.version), identity), true);
    show();
    doc.type(new Position(5, 0), '#');
    assert.deepStrictEqual(target(), [], 'typed elsewhere');
    assert.strictEqual(pending(), false);
    show();
    vs.changeDocument.fire({ document: new TextDocument('/w/other.py', ''), contentChanges: [{}] });
    vs.changeDocument.fire({ document: doc, contentChanges: [] });
    assert.strictEqual(target().length, 1, 'another file edited, or no change to the text');
    const other = new TextEditor(new TextDocument('/w/other.py', 'x = 1\n'));
    activateEditor(other);
    assert.deepStrictEqual(target(), [], 'another editor');
    assert.strictEqual(pending(), false);
    activateEditor(editor);
    assert.deepStrictEqual(target(), [], 'coming back does not bring it back');
    show();
    vs.closeDocument.fire(doc);
    assert.deepStrictEqual(target(), [], 'closed');
    show();
    enabled = false;
    vs.configChange.fire({ affectsConfiguration: (s: string) => s === 'quill' || s === 'quill.nextEdits' });
    assert.deepStrictEqual(target(), [], 'quill.nextEdits turned off');
  });

  it('the hint follows the cursor; a stale proposal is never applied, and Tab then is a plain Tab', async () => {
    nextEdits.received(proposal(doc.version), identity);
    editor.moveTo(new Position(4, 3));
    assert.deepStrictEqual(hint()[0].range.start, new Position(4, 30), 'end of line 5');
    // The version moved on without a change event reaching us (the event is on its way).
    doc.version += 1;
    const before = doc.getText();
    assert.strictEqual(await nextEdits.jumpOrAccept(), 'none');
    assert.strictEqual(doc.getText(), before);
    assert.ok(vs.executed.some((e) => e.command === TAB_COMMAND), "VS Code's own Tab instead");
    assert.strictEqual(pending(), false);
  });

  it('Escape (quill.nextEdit.dismiss) clears it', async () => {
    nextEdits.received(proposal(doc.version), identity);
    await commands.executeCommand(DISMISS_COMMAND);
    assert.deepStrictEqual(target(), []);
    assert.deepStrictEqual(hint(), []);
    assert.strictEqual(pending(), false);
  });

  it('quill: Suggest Next Edit asks the server and shows the answer, even with quill.nextEdits off', async () => {
    enabled = false;
    rename();
    api!.answer = proposal(doc.version);
    const shown = await commands.executeCommand(SUGGEST_COMMAND);
    assert.deepStrictEqual(api!.requests, [{ method: NEXT_EDIT, params: { textDocument: { uri: URI } } }]);
    assert.deepStrictEqual(shown, proposal(doc.version));
    assert.strictEqual(target().length, 1);
    assert.strictEqual(pending(), true);
  });

  it('quill: Suggest Next Edit with nothing to propose, an answer for an older version, no server', async () => {
    api!.answer = null;
    assert.strictEqual(await nextEdits.suggest(), undefined);
    assert.match(vs.shown.at(-1)?.message ?? '', /no next edit here/);
    doc.type(new Position(5, 0), '#');
    api!.answer = proposal(doc.version - 1);
    assert.strictEqual(await nextEdits.suggest(), undefined, 'typed while it was asked');
    assert.deepStrictEqual(target(), []);
    api = undefined;
    assert.strictEqual(await nextEdits.suggest(), undefined);
    assert.match(vs.shown.at(-1)?.message ?? '', /not running/);
  });

  it('decorates every visible editor of the document, and clears the ones that no longer show it', () => {
    const side = new TextEditor(doc, new Position(4, 0));
    window.visibleTextEditors = [editor, side];
    nextEdits.received(proposal(doc.version), identity);
    assert.strictEqual(side.decorationsOf(0).length, 1, 'the split editor shows the target');
    assert.deepStrictEqual(side.decorationsOf(1), [], 'the hint is for the active editor only');
    window.visibleTextEditors = [editor];
    vs.changeVisibleEditors.fire([editor]);
    assert.deepStrictEqual(side.decorationsOf(0), []);
    assert.strictEqual(target().length, 1);
  });
});

describe('next edits: package.json', () => {
  const bindings = () =>
    (manifest() as unknown as { contributes: { keybindings?: { key: string; command: string; when?: string }[] } }).contributes
      .keybindings ?? [];
  const clauses = (when: string | undefined) => (when ?? '').split('&&').map((c) => c.trim());

  it('Tab runs quill.nextEdit.jumpOrAccept only while a proposal is pending and Tab means nothing else', () => {
    const kb = bindings().find((k) => k.command === JUMP_OR_ACCEPT_COMMAND);
    assert.ok(kb, 'no keybinding for quill.nextEdit.jumpOrAccept');
    assert.strictEqual(kb.key, 'tab');
    const when = clauses(kb.when);
    for (const c of [
      'editorTextFocus',
      PENDING_CONTEXT,
      '!editorReadonly',
      '!editorTabMovesFocus',
      '!editorHasSelection',
      '!editorHasMultipleSelections',
      '!inlineSuggestionVisible',
      '!inlineEditIsVisible',
      '!suggestWidgetVisible',
      '!inSnippetMode',
    ]) {
      assert.ok(when.includes(c), `the when clause lacks ${c}: ${kb.when}`);
    }
  });

  it('Escape runs quill.nextEdit.dismiss only while a proposal is pending and nothing else takes Escape', () => {
    const kb = bindings().find((k) => k.command === DISMISS_COMMAND);
    assert.ok(kb, 'no keybinding for quill.nextEdit.dismiss');
    assert.strictEqual(kb.key, 'escape');
    const when = clauses(kb.when);
    for (const c of [
      'editorTextFocus',
      PENDING_CONTEXT,
      '!inlineSuggestionVisible',
      '!suggestWidgetVisible',
      '!parameterHintsVisible',
      '!findWidgetVisible',
      '!inSnippetMode',
      '!editorHasSelection',
      '!editorHasMultipleSelections',
      '!vim.active',
    ]) {
      assert.ok(when.includes(c), `the when clause lacks ${c}: ${kb.when}`);
    }
  });

  it('quill: Suggest Next Edit is in the palette, on Alt+Shift+\\', () => {
    const cmd = manifest().contributes.commands.find((c) => c.command === SUGGEST_COMMAND);
    assert.strictEqual(cmd?.title, 'Suggest Next Edit');
    const kb = bindings().find((k) => k.command === SUGGEST_COMMAND);
    assert.strictEqual(kb?.key, 'alt+shift+\\');
  });
});
