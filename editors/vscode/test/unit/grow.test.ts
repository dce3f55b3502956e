/* eslint-disable @typescript-eslint/no-explicit-any */
import * as assert from 'assert';
import type * as vscode from 'vscode';
import {
  DISMISS_COMMAND,
  GROWING_CONTEXT,
  Grow,
  HIDE_COMMAND,
  TRIGGER_COMMAND,
  parseReady,
  reask,
  type At,
} from '../../src/grow';
import { hasItems, inlineMiddleware } from '../../src/inline';
import { manifest } from './manifest';
import {
  CancellationTokenSource,
  InlineCompletionTriggerKind,
  Position,
  Selection,
  Uri,
  commands,
  test as vs,
  window,
} from '../mock/vscode';

const URI = 'file:///w/app.py';
const at: At = { uri: URI, version: 7, line: 4, character: 11 };
const here = { ...at, emptySelection: true };

describe('growing ghost text: reask', () => {
  it('re-asks when the active editor is still at the version and cursor of the partial answer', () => {
    assert.strictEqual(reask({ ready: at, editor: here, answered: at, enabled: true }), true);
  });

  it('ignores it otherwise, and says why', () => {
    const cases: [string, Parameters<typeof reask>[0], RegExp][] = [
      ['off', { ready: at, editor: here, answered: at, enabled: false }, /inlineCompletions is off/],
      ['no editor', { ready: at, editor: undefined, answered: at, enabled: true }, /no active editor/],
      ['other document', { ready: at, editor: { ...here, uri: 'file:///w/other.py' }, answered: at, enabled: true }, /another document/],
      ['edited since', { ready: at, editor: { ...here, version: 8 }, answered: at, enabled: true }, /changed/],
      ['older version in the editor', { ready: at, editor: { ...here, version: 6 }, answered: at, enabled: true }, /changed/],
      ['cursor moved (column)', { ready: at, editor: { ...here, character: 12 }, answered: at, enabled: true }, /cursor/],
      ['cursor moved (line)', { ready: at, editor: { ...here, line: 5 }, answered: at, enabled: true }, /cursor/],
      ['a selection', { ready: at, editor: { ...here, emptySelection: false }, answered: at, enabled: true }, /cursor/],
      ['hidden (nothing answered)', { ready: at, editor: here, answered: undefined, enabled: true }, /no ghost text/],
      ['answered at another state', { ready: at, editor: here, answered: { ...at, version: 6 }, enabled: true }, /no ghost text/],
    ];
    for (const [name, input, why] of cases) {
      const r = reask(input);
      assert.notStrictEqual(r, true, name);
      assert.match(r as string, why, name);
    }
  });

  it('parseReady takes the documented params and nothing else', () => {
    assert.deepStrictEqual(parseReady({ uri: URI, version: 7, position: { line: 4, character: 11 } }), at);
    for (const bad of [
      null,
      'x',
      {},
      { uri: URI, version: '7', position: { line: 4, character: 11 } },
      { uri: URI, version: 7 },
      { uri: URI, version: 7, position: { line: -1, character: 0 } },
      { uri: URI, version: 7, position: { line: 1.5, character: 0 } },
      { uri: 3, version: 7, position: { line: 1, character: 0 } },
    ]) {
      assert.strictEqual(parseReady(bad), undefined, JSON.stringify(bad));
    }
  });
});

function editorAt(uri: string, version: number, line: number, character: number) {
  const document = { uri: Uri.parse(uri), version, languageId: 'python' };
  window.activeTextEditor = { document, selection: new Selection(new Position(line, character), new Position(line, character)) };
  return document as unknown as vscode.TextDocument;
}

const params = (p: Partial<At> = {}) => {
  const a = { ...at, ...p };
  return { uri: a.uri, version: a.version, position: { line: a.line, character: a.character } };
};
const identity = (u: string) => Uri.parse(u).toString();
const triggers = () => vs.executed.filter((e) => e.command === TRIGGER_COMMAND).length;
const growing = () => {
  const set = vs.executed.filter((e) => e.command === 'setContext' && e.args[0] === GROWING_CONTEXT);
  return set.length > 0 ? set[set.length - 1].args[1] : undefined;
};

describe('growing ghost text: Grow', () => {
  let grow: Grow;
  let enabled: boolean;
  let budget: number;
  beforeEach(() => {
    vs.reset();
    enabled = true;
    budget = 300;
    grow = new Grow({ enabled: () => enabled, budgetMs: () => budget });
  });
  afterEach(() => grow.dispose());

  it('re-asks with editor.action.inlineSuggest.trigger once, for the state quill answered', async () => {
    const doc = editorAt(URI, 7, 4, 11);
    grow.onAnswered(doc, 7, new Position(4, 11) as unknown as vscode.Position, true);
    assert.strictEqual(growing(), true, 'the Escape binding is on while the answer may grow');
    assert.strictEqual(await grow.ready(params(), identity), true);
    assert.strictEqual(triggers(), 1);
    assert.strictEqual(growing(), false);
    // The same notification again (or a late duplicate): that state was asked for already.
    assert.strictEqual(await grow.ready(params(), identity), false);
    assert.strictEqual(triggers(), 1);
  });

  it('ignores a notification for another version, cursor, document, or a malformed one', async () => {
    const doc = editorAt(URI, 7, 4, 11);
    grow.onAnswered(doc, 7, new Position(4, 11) as unknown as vscode.Position, true);
    assert.strictEqual(await grow.ready(params({ version: 6 }), identity), false);
    assert.strictEqual(await grow.ready(params({ character: 10 }), identity), false);
    assert.strictEqual(await grow.ready(params({ uri: 'file:///w/other.py' }), identity), false);
    assert.strictEqual(await grow.ready({ uri: URI }, identity), false);
    assert.strictEqual(await grow.ready(params(), () => {
      throw new Error('bad uri');
    }), false);
    assert.strictEqual(triggers(), 0);
    // The user typed on: the editor's version moved past the notification's.
    editorAt(URI, 8, 4, 12);
    assert.strictEqual(await grow.ready(params(), identity), false);
    assert.strictEqual(triggers(), 0);
  });

  it('normalises the server URI with the client converter before comparing', async () => {
    const doc = editorAt(URI, 7, 4, 11);
    grow.onAnswered(doc, 7, new Position(4, 11) as unknown as vscode.Position, true);
    assert.strictEqual(await grow.ready(params({ uri: 'file:///w/app%2Epy' }), identity), true);
  });

  it('Escape (quill.dismissGhostText) hides the ghost text and stops the re-ask', async () => {
    const doc = editorAt(URI, 7, 4, 11);
    grow.onAnswered(doc, 7, new Position(4, 11) as unknown as vscode.Position, true);
    await commands.executeCommand(DISMISS_COMMAND);
    assert.ok(vs.executed.some((e) => e.command === HIDE_COMMAND), 'VS Code hides it as its own Escape does');
    assert.strictEqual(growing(), false);
    assert.strictEqual(await grow.ready(params(), identity), false);
    assert.strictEqual(triggers(), 0);
  });

  it('moving away and back, switching editors or editing forgets the answer', async () => {
    const doc = editorAt(URI, 7, 4, 11);
    const answer = () => grow.onAnswered(doc, 7, new Position(4, 11) as unknown as vscode.Position, true);
    answer();
    vs.changeSelection.fire({ textEditor: window.activeTextEditor, selections: [new Selection(new Position(4, 11), new Position(4, 11))] });
    assert.strictEqual(growing(), true, 'a selection event at the same place changes nothing');
    vs.changeSelection.fire({ textEditor: window.activeTextEditor, selections: [new Selection(new Position(2, 0), new Position(2, 0))] });
    assert.strictEqual(await grow.ready(params(), identity), false, 'moved away and back');
    answer();
    vs.changeActiveEditor.fire(undefined);
    assert.strictEqual(await grow.ready(params(), identity), false, 'another editor was active');
    answer();
    vs.changeDocument.fire({ document: { uri: Uri.parse('file:///w/other.py') }, contentChanges: [{}] });
    vs.changeDocument.fire({ document: doc, contentChanges: [] });
    assert.strictEqual(await grow.ready(params(), identity), true, 'another file edited, or no change to the text');
    answer();
    vs.changeDocument.fire({ document: doc, contentChanges: [{}] });
    assert.strictEqual(await grow.ready(params(), identity), false, 'edited (an undo can bring the text back, not the version)');
    assert.strictEqual(triggers(), 1);
  });

  it('nothing shown, ghost text turned off, or no time budget', async () => {
    const doc = editorAt(URI, 7, 4, 11);
    grow.onAnswered(doc, 7, new Position(4, 11) as unknown as vscode.Position, false);
    assert.strictEqual(await grow.ready(params(), identity), false, 'an empty answer grows nothing');
    grow.onAnswered(doc, 7, new Position(4, 11) as unknown as vscode.Position, true);
    enabled = false;
    assert.strictEqual(await grow.ready(params(), identity), false, 'quill.inlineCompletions off');
    enabled = true;
    budget = 0;
    vs.executed = [];
    grow.onAnswered(doc, 7, new Position(4, 11) as unknown as vscode.Position, true);
    assert.notStrictEqual(growing(), true, 'timeBudgetMs 0: Escape stays VS Code\'s');
  });

  it('the middleware reports the answers that are still current', async () => {
    const seen: [number, number, boolean][] = [];
    const mw = inlineMiddleware({
      debounceMs: () => 0,
      enabled: () => true,
      trigger: () => 'manual',
      busy: () => () => undefined,
      answered: (_d, version, position, shown) => seen.push([version, position.character, shown]),
    });
    const doc = { uri: Uri.parse(URI), version: 3 } as any;
    const pos = new Position(0, 5) as unknown as vscode.Position;
    const invoke = { triggerKind: InlineCompletionTriggerKind.Invoke } as unknown as vscode.InlineCompletionContext;
    const token = () => new CancellationTokenSource().token as unknown as vscode.CancellationToken;
    await mw(doc, pos, invoke, token(), async () => [{ insertText: 'x' } as vscode.InlineCompletionItem]);
    await mw(doc, pos, invoke, token(), async () => ({ items: [] }) as unknown as vscode.InlineCompletionList);
    await mw(doc, pos, invoke, token(), async () => {
      doc.version = 4; // typed while the request ran
      return [{ insertText: 'y' } as vscode.InlineCompletionItem];
    });
    const cts = new CancellationTokenSource();
    await mw(doc, pos, invoke, cts.token as unknown as vscode.CancellationToken, async () => {
      cts.cancel();
      return [{ insertText: 'z' } as vscode.InlineCompletionItem];
    });
    assert.deepStrictEqual(seen, [
      [3, 5, true],
      [3, 5, false],
    ]);
    assert.strictEqual(hasItems(null), false);
    assert.strictEqual(hasItems(undefined), false);
  });

  it('package.json binds Escape to quill.dismissGhostText only while an answer may grow', () => {
    const m = manifest() as unknown as { contributes: { keybindings?: { key: string; command: string; when?: string }[] } };
    const kb = (m.contributes.keybindings ?? []).find((k) => k.command === DISMISS_COMMAND);
    assert.ok(kb, 'no keybinding for quill.dismissGhostText');
    assert.strictEqual(kb.key, 'escape');
    for (const clause of ['inlineSuggestionVisible', GROWING_CONTEXT, 'editorTextFocus']) {
      assert.ok(kb.when?.includes(clause), `the when clause lacks ${clause}: ${kb.when}`);
    }
  });

  it('package.json binds Alt+\\ to Trigger Inline Suggestion (VS Code has no default key for it)', () => {
    const m = manifest() as unknown as { contributes: { keybindings?: { key: string; command: string; when?: string }[] } };
    const kb = (m.contributes.keybindings ?? []).find((k) => k.command === TRIGGER_COMMAND);
    assert.ok(kb, 'no keybinding for editor.action.inlineSuggest.trigger');
    assert.strictEqual(kb.key, 'alt+\\');
    assert.ok(kb.when?.includes('editorTextFocus'), `the when clause: ${kb.when}`);
  });
});
