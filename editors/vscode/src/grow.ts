// Growing ghost text. With `quill.timeBudgetMs` the server answers an inline completion whose
// line is still being generated with the words ready so far, lets the generation go on, and
// sends `quill/suggestionReady` { uri, version, position } once the whole suggestion is in its
// cache. If the user is still where that answer was made (the active editor, the document
// version, the cursor), has not hidden the ghost text and has not turned quill's ghost text
// off, the extension hides the partial ghost text and asks again with
// `editor.action.inlineSuggest.trigger` (VS Code would take the request as answered
// otherwise): the server answers at once from its cache and the whole suggestion shows.
//
// The manual trigger (`quill.inlineTrigger: manual`) re-asks too: only an explicit request
// (Alt+\) reaches the server there, so a partial answer is always one the user asked for,
// and the fuller text is what they asked for. The re-ask is an explicit request as well (the
// only kind an extension can make), so it skips the client's debounce in either mode.
//
// Hidden (Escape): VS Code tells extensions nothing when ghost text is hidden. While a partial
// answer may still grow (`quill.ghostTextGrowing`, set after an answer when timeBudgetMs > 0
// and cleared when the cursor or the text moves on), package.json binds Escape (with ghost
// text visible) to `quill.dismissGhostText`, which notes it and runs VS Code's own
// `editor.action.inlineSuggest.hide`. Not with VSCodeVim active (`vim.active`), whose Escape
// leaves Insert mode and moves the cursor, which the position check covers.

import * as vscode from 'vscode';

export const SUGGESTION_READY = 'quill/suggestionReady';
/** The context key of the Escape binding in package.json. */
export const GROWING_CONTEXT = 'quill.ghostTextGrowing';
/** Escape while ghost text that may grow is shown (package.json keybinding). */
export const DISMISS_COMMAND = 'quill.dismissGhostText';
export const TRIGGER_COMMAND = 'editor.action.inlineSuggest.trigger';
export const HIDE_COMMAND = 'editor.action.inlineSuggest.hide';

/** A document state and cursor: `uri` as `vscode.Uri.toString()` gives it. */
export interface At {
  uri: string;
  version: number;
  line: number;
  character: number;
}

/** The params of `quill/suggestionReady`, checked; undefined when malformed. The URI is as
 *  the server sent it. */
export function parseReady(params: unknown): At | undefined {
  if (typeof params !== 'object' || params === null) {
    return undefined;
  }
  const p = params as Record<string, unknown>;
  const pos = p.position as Record<string, unknown> | undefined;
  const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (typeof p.uri !== 'string' || !int(p.version) || typeof pos !== 'object' || pos === null) {
    return undefined;
  }
  if (!int(pos.line) || !int(pos.character)) {
    return undefined;
  }
  return { uri: p.uri, version: p.version, line: pos.line, character: pos.character };
}

export interface ReaskInput {
  /** The notification (its URI normalised as the editor's is). */
  ready: At;
  /** The active editor's document and cursor; undefined without one. */
  editor?: At & { emptySelection: boolean };
  /** The last inline completion quill answered (at the state it was asked for), unless the
   *  user hid its ghost text since. */
  answered?: At;
  /** `quill.inlineCompletions`. */
  enabled: boolean;
}

function same(a: At, b: At): boolean {
  return a.uri === b.uri && a.version === b.version && a.line === b.line && a.character === b.character;
}

/** Whether to ask for the inline completion again, or why not. */
export function reask(input: ReaskInput): true | string {
  const { ready, editor, answered } = input;
  if (!input.enabled) {
    return 'quill.inlineCompletions is off';
  }
  if (!editor) {
    return 'no active editor';
  }
  if (editor.uri !== ready.uri) {
    return 'another document is active';
  }
  if (editor.version !== ready.version) {
    return 'the document has changed';
  }
  if (editor.line !== ready.line || editor.character !== ready.character || !editor.emptySelection) {
    return 'the cursor has moved';
  }
  if (!answered || !same(answered, ready)) {
    return 'no ghost text from quill there (hidden, or answered elsewhere)';
  }
  return true;
}

export interface GrowHost {
  /** `quill.inlineCompletions`. */
  enabled(): boolean;
  /** `quill.timeBudgetMs` (0: answers never grow). */
  budgetMs(): number;
  /** A log line (the quill output channel). */
  log?(line: string): void;
}

/** Follows the ghost text quill answered and re-asks on `quill/suggestionReady`. */
export class Grow implements vscode.Disposable {
  private answered: At | undefined;
  private growing = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: GrowHost) {
    this.disposables.push(
      vscode.commands.registerCommand(DISMISS_COMMAND, () => this.dismiss()),
      vscode.window.onDidChangeTextEditorSelection((e) =>
        this.moved(e.textEditor.document.uri.toString(), e.selections[0]?.active),
      ),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length > 0) {
          this.moved(e.document.uri.toString());
        }
      }),
      vscode.window.onDidChangeActiveTextEditor(() => this.moved(undefined)),
    );
  }

  /** The inline middleware's hook: quill answered `document` at `position` (asked at
   *  `version`), with ghost text or none. */
  onAnswered(document: vscode.TextDocument, version: number, position: vscode.Position, shown: boolean): void {
    if (!shown) {
      this.forget();
      return;
    }
    this.answered = { uri: document.uri.toString(), version, line: position.line, character: position.character };
    this.setGrowing(this.host.budgetMs() > 0);
  }

  /** Escape on ghost text (the package.json keybinding): hide it, and re-ask no more. */
  async dismiss(): Promise<void> {
    this.forget();
    await vscode.commands.executeCommand(HIDE_COMMAND);
  }

  /** `quill/suggestionReady`. `toUri` turns the server's URI into `vscode.Uri.toString()`'s
   *  form (the client's protocol converter). Returns true when it asked again. Positions are
   *  UTF-16, the only encoding vscode-languageclient offers, as VS Code counts them. */
  async ready(params: unknown, toUri: (uri: string) => string): Promise<boolean> {
    const parsed = parseReady(params);
    if (!parsed) {
      this.host.log?.(`quill: ignored a malformed ${SUGGESTION_READY}: ${JSON.stringify(params)}`);
      return false;
    }
    let uri: string;
    try {
      uri = toUri(parsed.uri);
    } catch {
      return false;
    }
    const ready = { ...parsed, uri };
    const active = vscode.window.activeTextEditor;
    const editor = active && {
      uri: active.document.uri.toString(),
      version: active.document.version,
      line: active.selection.active.line,
      character: active.selection.active.character,
      emptySelection: active.selection.isEmpty,
    };
    const decision = reask({ ready, editor, answered: this.answered, enabled: this.host.enabled() });
    if (decision !== true) {
      this.host.log?.(`quill: the suggestion grew; not asking again: ${decision}`);
      return false;
    }
    // Asked once for this state; the answer (from the cache) records it anew. VS Code
    // takes an explicit request at the state of the inline suggestions it already has
    // from an explicit request (its toolbar asks for them all) as answered, and asks the
    // provider nothing: hide them first, so that the trigger really asks.
    this.forget();
    await vscode.commands.executeCommand(HIDE_COMMAND);
    await vscode.commands.executeCommand(TRIGGER_COMMAND);
    return true;
  }

  /** The text of `uri` changed, its cursor moved (to `to`), or (no `uri`) another editor
   *  became active: the ghost text there is gone, and coming back does not bring it back. */
  private moved(uri: string | undefined, to?: vscode.Position): void {
    const a = this.answered;
    if (!a || (uri !== undefined && uri !== a.uri)) {
      return;
    }
    if (to && to.line === a.line && to.character === a.character) {
      return;
    }
    this.forget();
  }

  private forget(): void {
    this.answered = undefined;
    this.setGrowing(false);
  }

  private setGrowing(on: boolean): void {
    if (this.growing !== on) {
      this.growing = on;
      void vscode.commands.executeCommand('setContext', GROWING_CONTEXT, on);
    }
  }

  dispose(): void {
    this.forget();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
