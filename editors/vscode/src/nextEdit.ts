// Next-edit suggestions. After an edit that implies another one (e.g. a name renamed at its
// definition or at one use), `quill serve` proposes the change it implies at the next place
// (the next use that still has the old name): `quill/nextEdit` { uri, version, range,
// newText, kind, label, remaining }, as the answer to the `quill/nextEdit` request and as a
// notification pushed when typing pauses (server setting `nextEdits`).
//
// One pending proposal per document, for the document it names at the version it names. It
// is shown with a decoration at its range (the old text struck through, ` → new  ⇥ Tab`
// after it, or for an insertion the text it inserts; a mark in the overview ruler) and,
// when the cursor is on another line, a hint at the end of the cursor's line. While the
// active editor's document has one, the context key `quill.nextEditPending` is set and
// package.json binds:
// - Tab to `quill.nextEdit.jumpOrAccept`: with the cursor on another line, move it to the
//   target (revealed); on the target's line (an inline edit, or after the jump), apply the
//   edit, only while the document is still at the proposal's version. Applying it is an
//   ordinary edit: the server then proposes the next place. The `when` clause leaves Tab to
//   VS Code wherever it already means something (suggest widget, ghost text, snippet
//   tab stops, a selection to indent, Tab moving focus);
// - Escape to `quill.nextEdit.dismiss` (under the same conditions, and not with VSCodeVim).
// Any other edit of the document, another active editor, the document closed or
// `quill.nextEdits` turned off clears it; a proposal whose version is not the document's is
// never shown or applied.
//
// `quill: Suggest Next Edit` (`quill.nextEdit.suggest`, Alt+Shift+\) sends the request for
// the active document and shows the answer: the manual trigger, which works with
// `quill.nextEdits` off as an explicit request for ghost text does with the manual trigger.
// With it off, pushed proposals are not shown (the server sends none then anyway).

import * as vscode from 'vscode';
import type { QuillApi } from './commands';

export const NEXT_EDIT = 'quill/nextEdit';
/** The context key of the Tab and Escape bindings in package.json. */
export const PENDING_CONTEXT = 'quill.nextEditPending';
export const JUMP_OR_ACCEPT_COMMAND = 'quill.nextEdit.jumpOrAccept';
export const DISMISS_COMMAND = 'quill.nextEdit.dismiss';
export const SUGGEST_COMMAND = 'quill.nextEdit.suggest';
/** VS Code's own Tab (indent / insert a tab), for a Tab that finds nothing to do. */
export const TAB_COMMAND = 'tab';

export interface Pos {
  line: number;
  character: number;
}

/** A proposal as the server sends it, checked. `uri` is as the server wrote it. */
export interface NextEdit {
  uri: string;
  version: number;
  range: { start: Pos; end: Pos };
  newText: string;
  kind: string;
  label: string;
  /** Places that still need the same change after this one. */
  remaining: number;
}

const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function pos(v: unknown): Pos | undefined {
  if (typeof v !== 'object' || v === null) {
    return undefined;
  }
  const p = v as Record<string, unknown>;
  return int(p.line) && int(p.character) ? { line: p.line, character: p.character } : undefined;
}

/** The params of `quill/nextEdit` (or the request's answer), checked; undefined when null or
 *  malformed. */
export function parseNextEdit(params: unknown): NextEdit | undefined {
  if (typeof params !== 'object' || params === null) {
    return undefined;
  }
  const p = params as Record<string, unknown>;
  const r = p.range as Record<string, unknown> | undefined;
  if (typeof p.uri !== 'string' || !int(p.version) || typeof p.newText !== 'string' || typeof r !== 'object' || r === null) {
    return undefined;
  }
  const start = pos(r.start);
  const end = pos(r.end);
  if (!start || !end || end.line < start.line || (end.line === start.line && end.character < start.character)) {
    return undefined;
  }
  const kind = typeof p.kind === 'string' ? p.kind : 'edit';
  return {
    uri: p.uri,
    version: p.version,
    range: { start, end },
    newText: p.newText,
    kind,
    label: typeof p.label === 'string' && p.label.trim() !== '' ? p.label : kind,
    remaining: int(p.remaining) ? p.remaining : 0,
  };
}

/** What Tab does with the cursor at `cursor`: on a line of the target, apply the edit (the
 *  inline edit, or the second Tab after the jump); elsewhere, go there. */
export function tabAction(edit: NextEdit, cursor: Pos): 'jump' | 'accept' {
  return cursor.line >= edit.range.start.line && cursor.line <= edit.range.end.line ? 'accept' : 'jump';
}

/** At most `max` characters of the first line of `text`, `…` marking what is left out. */
export function short(text: string, max = 40): string {
  const first = text.split(/\r?\n/)[0];
  return first.length > max || first.length < text.length ? `${first.slice(0, max)}…` : first;
}

/** The text after the target: what it becomes (an insertion: the text it inserts), and the
 *  key. */
export function targetText(edit: NextEdit): string {
  const { start, end } = edit.range;
  const insertion = start.line === end.line && start.character === end.character;
  return `${insertion ? '' : ' → '}${short(edit.newText)}  ⇥ Tab`;
}

/** The hint at the end of the cursor's line when the target is on another line. */
export function hintText(edit: NextEdit): string {
  return `⇥ Tab: ${edit.label}, line ${edit.range.start.line + 1}`;
}

/** The hover on the target. */
export function hoverText(edit: NextEdit): string {
  return `**quill**: ${edit.label}\n\n\`Tab\` goes there, \`Tab\` again applies it; \`Escape\` dismisses it.`;
}

export interface NextEditHost {
  /** `quill.nextEdits`: show pushed proposals. */
  enabled(): boolean;
  /** The server, while it runs (the manual trigger). */
  api(): QuillApi | undefined;
  /** A log line (the quill output channel). */
  log?(line: string): void;
}

/** Shows quill's next-edit proposals and applies them. */
export class NextEdits implements vscode.Disposable {
  /** By `vscode.Uri.toString()` of the document. */
  private readonly pending = new Map<string, NextEdit>();
  private readonly target: vscode.TextEditorDecorationType;
  private readonly hint: vscode.TextEditorDecorationType;
  private context = false;
  /** The editors that show a decoration now (to clear them). */
  private decorated = new Set<vscode.TextEditor>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: NextEditHost) {
    this.target = vscode.window.createTextEditorDecorationType({
      textDecoration: 'line-through',
      backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
      overviewRulerColor: new vscode.ThemeColor('editorOverviewRuler.modifiedForeground'),
      overviewRulerLane: vscode.OverviewRulerLane.Center,
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
      after: {
        backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
        margin: '0 0 0 0.2em',
      },
    });
    this.hint = vscode.window.createTextEditorDecorationType({
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
      after: {
        color: new vscode.ThemeColor('editorCodeLens.foreground'),
        fontStyle: 'italic',
        margin: '0 0 0 2em',
      },
    });
    this.disposables.push(
      this.target,
      this.hint,
      vscode.commands.registerCommand(JUMP_OR_ACCEPT_COMMAND, () => this.jumpOrAccept()),
      vscode.commands.registerCommand(DISMISS_COMMAND, () => this.dismiss()),
      vscode.commands.registerCommand(SUGGEST_COMMAND, () => this.suggest()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length > 0) {
          this.drop(e.document.uri.toString(), 'the document changed');
        }
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.drop(d.uri.toString(), 'the document was closed')),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        const keep = editor?.document.uri.toString();
        for (const uri of [...this.pending.keys()]) {
          if (uri !== keep) {
            this.drop(uri, 'another editor is active');
          }
        }
        this.render();
      }),
      vscode.window.onDidChangeTextEditorSelection(() => {
        if (this.pending.size > 0) {
          this.render();
        }
      }),
      vscode.window.onDidChangeVisibleTextEditors(() => this.render()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('quill.nextEdits') && !this.host.enabled()) {
          this.clear('quill.nextEdits is off');
        }
      }),
    );
  }

  /** The proposal pending for `document` (at its version), if any. */
  current(document: vscode.TextDocument | undefined): NextEdit | undefined {
    if (!document) {
      return undefined;
    }
    const edit = this.pending.get(document.uri.toString());
    if (edit && edit.version !== document.version) {
      this.drop(document.uri.toString(), 'stale');
      return undefined;
    }
    return edit;
  }

  /** A `quill/nextEdit` notification. `toUri` turns the server's URI into
   *  `vscode.Uri.toString()`'s form (the client's protocol converter). Returns true when it
   *  is shown. */
  received(params: unknown, toUri: (uri: string) => string): boolean {
    const edit = parseNextEdit(params);
    if (!edit) {
      this.host.log?.(`quill: ignored a malformed ${NEXT_EDIT}: ${JSON.stringify(params)}`);
      return false;
    }
    if (!this.host.enabled()) {
      this.host.log?.(`quill: next edit not shown: quill.nextEdits is off (${edit.label})`);
      return false;
    }
    let uri: string;
    try {
      uri = toUri(edit.uri);
    } catch {
      return false;
    }
    return this.offer(uri, edit);
  }

  /** Shows `edit` for the document `uri` when that document is still at its version and is
   *  the active editor's; says why not otherwise. */
  private offer(uri: string, edit: NextEdit): boolean {
    const active = vscode.window.activeTextEditor;
    const document = active?.document.uri.toString() === uri ? active.document : undefined;
    const why = !document
      ? 'its document is not in the active editor'
      : document.version !== edit.version
        ? `the document changed since (version ${document.version}, the proposal's ${edit.version})`
        : undefined;
    if (why !== undefined) {
      this.host.log?.(`quill: next edit not shown: ${why} (${edit.label})`);
      return false;
    }
    this.pending.set(uri, edit);
    this.render();
    return true;
  }

  /** Tab (package.json keybinding): go to the target, or apply the edit there. With nothing
   *  to do (the context key was behind), Tab does what it does without quill. */
  async jumpOrAccept(): Promise<'jump' | 'accept' | 'none'> {
    const editor = vscode.window.activeTextEditor;
    const edit = this.current(editor?.document);
    if (!editor || !edit) {
      this.render();
      await vscode.commands.executeCommand(TAB_COMMAND);
      return 'none';
    }
    const range = new vscode.Range(
      edit.range.start.line,
      edit.range.start.character,
      edit.range.end.line,
      edit.range.end.character,
    );
    if (tabAction(edit, editor.selection.active) === 'jump') {
      editor.selection = new vscode.Selection(range.start, range.start);
      editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      this.render();
      return 'jump';
    }
    const uri = editor.document.uri.toString();
    this.pending.delete(uri);
    this.render();
    const applied = await editor.edit((b) => b.replace(range, edit.newText), { undoStopBefore: true, undoStopAfter: true });
    if (!applied) {
      this.host.log?.(`quill: the next edit could not be applied (${edit.label})`);
      return 'none';
    }
    if (!edit.newText.includes('\n')) {
      const end = new vscode.Position(range.start.line, range.start.character + edit.newText.length);
      editor.selection = new vscode.Selection(end, end);
    }
    return 'accept';
  }

  /** Escape (package.json keybinding): no proposal for the active document until the next
   *  edit implies one, or the user asks for one. */
  dismiss(): void {
    const uri = vscode.window.activeTextEditor?.document.uri.toString();
    if (uri) {
      this.drop(uri, 'dismissed');
    }
    this.render();
  }

  /** `quill: Suggest Next Edit`: asks the server now for the active document and shows the
   *  answer (whatever `quill.nextEdits` says). */
  async suggest(): Promise<NextEdit | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('quill: open a file first.');
      return undefined;
    }
    const api = this.host.api();
    if (!api) {
      void vscode.window.showWarningMessage('quill: the server is not running.');
      return undefined;
    }
    const document = editor.document;
    let answer: unknown;
    try {
      answer = await api.request<unknown>(NEXT_EDIT, { textDocument: { uri: api.uri(document.uri) } });
    } catch (e) {
      void vscode.window.showErrorMessage(`quill: asking for a next edit failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    const edit = parseNextEdit(answer);
    if (!edit) {
      if (answer !== null && answer !== undefined) {
        this.host.log?.(`quill: ignored a malformed ${NEXT_EDIT} answer: ${JSON.stringify(answer)}`);
      }
      void vscode.window.showInformationMessage(
        'quill: no next edit here (quill proposes one after you rename a name: the other places that still have the old name).',
      );
      return undefined;
    }
    return this.offer(document.uri.toString(), edit) ? edit : undefined;
  }

  private drop(uri: string, why: string): void {
    const edit = this.pending.get(uri);
    if (edit) {
      this.pending.delete(uri);
      this.host.log?.(`quill: next edit cleared: ${why} (${edit.label})`);
      this.render();
    }
  }

  private clear(why: string): void {
    for (const uri of [...this.pending.keys()]) {
      this.drop(uri, why);
    }
    this.render();
  }

  /** Draws the pending proposals in the editors that show their documents, the hint at the
   *  active editor's cursor line, and sets the context key. */
  private render(): void {
    const active = vscode.window.activeTextEditor;
    const editors = [...vscode.window.visibleTextEditors];
    if (active && !editors.includes(active)) {
      editors.push(active);
    }
    const now = new Set<vscode.TextEditor>();
    for (const editor of editors) {
      const edit = this.pending.get(editor.document.uri.toString());
      if (!edit || edit.version !== editor.document.version) {
        continue;
      }
      const { start, end } = edit.range;
      const range = new vscode.Range(start.line, start.character, end.line, end.character);
      editor.setDecorations(this.target, [
        {
          range,
          hoverMessage: new vscode.MarkdownString(hoverText(edit)),
          renderOptions: { after: { contentText: targetText(edit) } },
        },
      ]);
      const cursor = editor.selection.active;
      if (editor === active && tabAction(edit, cursor) === 'jump') {
        const eol = editor.document.lineAt(cursor.line).range.end;
        editor.setDecorations(this.hint, [
          { range: new vscode.Range(eol, eol), renderOptions: { after: { contentText: hintText(edit) } } },
        ]);
      } else {
        editor.setDecorations(this.hint, []);
      }
      now.add(editor);
    }
    for (const editor of this.decorated) {
      if (!now.has(editor)) {
        editor.setDecorations(this.target, []);
        editor.setDecorations(this.hint, []);
      }
    }
    this.decorated = now;
    this.setContext(active !== undefined && now.has(active));
  }

  private setContext(on: boolean): void {
    if (this.context !== on) {
      this.context = on;
      void vscode.commands.executeCommand('setContext', PENDING_CONTEXT, on);
    }
  }

  dispose(): void {
    this.pending.clear();
    this.setContext(false);
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
