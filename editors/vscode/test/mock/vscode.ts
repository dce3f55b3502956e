// A hand-written stand-in for the `vscode` module: just what the extension's logic touches,
// with hooks for tests to script the user (input boxes, quick picks) and read what was shown.
/* eslint-disable @typescript-eslint/no-explicit-any */

export class Disposable {
  constructor(private readonly fn: () => void = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.fn();
  }
}

export class EventEmitter<T> {
  private listeners = new Set<(e: T) => void>();
  /** As VS Code's: the listener is called with `thisArgs` as `this` (vscode-languageclient
   *  passes its features' methods so). */
  event = (listener: (e: T) => void, thisArgs?: unknown): Disposable => {
    const bound = thisArgs === undefined ? listener : listener.bind(thisArgs);
    this.listeners.add(bound);
    return new Disposable(() => this.listeners.delete(bound));
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) {
      l(e);
    }
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class CancellationError extends Error {
  constructor() {
    super('Canceled');
    this.name = 'Canceled';
  }
}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  private cancelled = false;
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: this.emitter.event,
  };
  cancel(): void {
    if (!this.cancelled) {
      this.cancelled = true;
      this.token.isCancellationRequested = true;
      this.emitter.fire();
    }
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
  isBefore(o: Position): boolean {
    return this.line < o.line || (this.line === o.line && this.character < o.character);
  }
  isAfter(o: Position): boolean {
    return o.isBefore(this);
  }
  isEqual(o: Position): boolean {
    return this.line === o.line && this.character === o.character;
  }
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    if (typeof a === 'number') {
      this.start = new Position(a, b as number);
      this.end = new Position(c as number, d as number);
    } else {
      this.start = a;
      this.end = b as Position;
    }
  }
  get isEmpty(): boolean {
    return this.start.isEqual(this.end);
  }
  contains(p: Position): boolean {
    return !p.isBefore(this.start) && !p.isAfter(this.end);
  }
}

export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    super(anchor.isBefore(active) ? anchor : active, anchor.isBefore(active) ? active : anchor);
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}
  static file(p: string): Uri {
    return new Uri('file', p);
  }
  static parse(s: string): Uri {
    const m = /^([a-z]+):\/\/(.*)$/.exec(s);
    return m ? new Uri(m[1], decodeURIComponent(m[2])) : new Uri('file', s);
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class Diagnostic {
  source?: string;
  code?: string | number | { value: string | number };
  constructor(
    readonly range: Range,
    readonly message: string,
    readonly severity = 0,
  ) {}
}

// Classes vscode-languageclient extends or builds (only constructed, never inspected here).
export class CompletionItem {
  constructor(public label: unknown) {}
}
export class CodeLens {}
export class DocumentLink {}
export class CodeAction {
  constructor(public title: string) {}
}
export class CallHierarchyItem {}
export class TypeHierarchyItem {}
export class SymbolInformation {}
export class InlayHint {}
export class InlineCompletionItem {
  constructor(
    public insertText: string | { value: string },
    public range?: Range,
    public command?: unknown,
  ) {}
}
export class InlineCompletionList {
  constructor(public items: InlineCompletionItem[]) {}
}
export class MarkdownString {
  constructor(public value = '') {}
}
export class TextEdit {
  constructor(
    public range: Range,
    public newText: string,
  ) {}
}
export class WorkspaceEdit {
  readonly edits: { uri: Uri; edit: TextEdit }[] = [];
  replace(uri: Uri, range: Range, newText: string): void {
    this.edits.push({ uri, edit: new TextEdit(range, newText) });
  }
  set(uri: Uri, edits: TextEdit[]): void {
    for (const edit of edits) {
      this.edits.push({ uri, edit });
    }
  }
}
export class CodeActionKind {
  static readonly Empty = new CodeActionKind('');
  static readonly QuickFix = new CodeActionKind('quickfix');
  static readonly Refactor = new CodeActionKind('refactor');
  static readonly RefactorRewrite = new CodeActionKind('refactor.rewrite');
  static readonly RefactorExtract = new CodeActionKind('refactor.extract');
  static readonly Source = new CodeActionKind('source');
  constructor(readonly value: string) {}
  append(part: string): CodeActionKind {
    return new CodeActionKind(this.value ? `${this.value}.${part}` : part);
  }
}

export enum OverviewRulerLane {
  Left = 1,
  Center = 2,
  Right = 4,
  Full = 7,
}
export enum DecorationRangeBehavior {
  OpenOpen = 0,
  ClosedClosed = 1,
  OpenClosed = 2,
  ClosedOpen = 3,
}
export enum TextEditorRevealType {
  Default = 0,
  InCenter = 1,
  InCenterIfOutsideViewport = 2,
  AtTop = 3,
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}
export enum LogLevel {
  Off = 0,
  Trace = 1,
  Debug = 2,
  Info = 3,
  Warning = 4,
  Error = 5,
}
export enum InlineCompletionTriggerKind {
  Invoke = 0,
  Automatic = 1,
}
export enum CodeActionTriggerKind {
  Invoke = 1,
  Automatic = 2,
}
export enum DiagnosticSeverity {
  Error = 0,
  Warning = 1,
}

// ---- what tests script and read ----

export interface Shown {
  kind: 'info' | 'warning' | 'error';
  message: string;
  items: string[];
}

export const test = {
  shown: [] as Shown[],
  /** Answers for the next input boxes (undefined = Escape). */
  inputAnswers: [] as (string | undefined)[],
  inputOptions: [] as any[],
  /** Picks the quick-pick item with this label (undefined = Escape). */
  quickPickAnswers: [] as (string | undefined)[],
  quickPickItems: [] as any[][],
  /** Which button a message answers with. */
  messageAnswer: undefined as string | undefined,
  executed: [] as { command: string; args: unknown[] }[],
  commands: new Map<string, (...args: any[]) => any>(),
  statusItems: [] as any[],
  panels: [] as any[],
  terminals: [] as any[],
  progress: [] as { options: any; reports: any[]; cancel: CancellationTokenSource; done: boolean }[],
  diagnostics: new Map<string, Diagnostic[]>(),
  config: new Map<string, unknown>(),
  closeTerminal: new EventEmitter<any>(),
  configChange: new EventEmitter<any>(),
  /** Open documents (workspace.textDocuments) and their events. */
  documents: [] as any[],
  openDocument: new EventEmitter<any>(),
  changeDocument: new EventEmitter<any>(),
  closeDocument: new EventEmitter<any>(),
  /** window.onDidChangeTextEditorSelection / onDidChangeActiveTextEditor / onDidChangeVisibleTextEditors. */
  changeSelection: new EventEmitter<any>(),
  changeActiveEditor: new EventEmitter<any>(),
  changeVisibleEditors: new EventEmitter<any>(),
  /** window.createTextEditorDecorationType's types, in order. */
  decorationTypes: [] as any[],
  /** window.createOutputChannel's channels (their `lines`), in order. */
  outputs: [] as any[],
  inlineProviders: [] as { selector: any; provider: any }[],
  codeActionProviders: [] as { selector: any; provider: any }[],
  appliedEdits: [] as any[],
  reset(): void {
    this.shown = [];
    this.inputAnswers = [];
    this.inputOptions = [];
    this.quickPickAnswers = [];
    this.quickPickItems = [];
    this.messageAnswer = undefined;
    this.executed = [];
    this.commands.clear();
    this.statusItems = [];
    this.panels = [];
    this.terminals = [];
    this.progress = [];
    this.diagnostics.clear();
    this.config.clear();
    this.documents = [];
    this.inlineProviders = [];
    this.codeActionProviders = [];
    this.appliedEdits = [];
    this.decorationTypes = [];
    this.outputs = [];
    window.activeTextEditor = undefined;
    window.visibleTextEditors = [];
  },
};

function message(kind: Shown['kind']) {
  return (msg: string, ...items: any[]): Promise<string | undefined> => {
    const labels = items.filter((i) => typeof i === 'string');
    test.shown.push({ kind, message: msg, items: labels });
    return Promise.resolve(test.messageAnswer && labels.includes(test.messageAnswer) ? test.messageAnswer : undefined);
  };
}

export const window = {
  activeTextEditor: undefined as any,
  showInformationMessage: message('info'),
  showWarningMessage: message('warning'),
  showErrorMessage: message('error'),
  showInputBox(options: any): Promise<string | undefined> {
    test.inputOptions.push(options);
    return Promise.resolve(test.inputAnswers.shift());
  },
  showQuickPick(items: any[] | Promise<any[]>): Promise<any> {
    return Promise.resolve(items).then((list) => {
      test.quickPickItems.push(list);
      const want = test.quickPickAnswers.shift();
      return list.find((i: any) => (typeof i === 'string' ? i : i.label) === want);
    });
  },
  createStatusBarItem(alignment?: StatusBarAlignment, priority?: number): any {
    const item = {
      alignment,
      priority,
      text: '',
      tooltip: '' as any,
      command: undefined as any,
      name: undefined as any,
      backgroundColor: undefined as any,
      visible: false,
      disposed: false,
      show() {
        this.visible = true;
      },
      hide() {
        this.visible = false;
      },
      dispose() {
        this.disposed = true;
      },
    };
    test.statusItems.push(item);
    return item;
  },
  createWebviewPanel(viewType: string, title: string, showOptions: any, options: any): any {
    const disposeEmitter = new EventEmitter<void>();
    const panel = {
      viewType,
      title,
      showOptions,
      options,
      revealed: 0,
      disposed: false,
      webview: { html: '', cspSource: 'vscode-webview://test' },
      reveal() {
        panel.revealed += 1;
      },
      onDidDispose: disposeEmitter.event,
      dispose() {
        panel.disposed = true;
        disposeEmitter.fire();
      },
    };
    test.panels.push(panel);
    return panel;
  },
  withProgress(options: any, task: (progress: any, token: any) => Promise<unknown>): Promise<unknown> {
    const cancel = new CancellationTokenSource();
    const entry = { options, reports: [] as any[], cancel, done: false };
    test.progress.push(entry);
    return task({ report: (v: any) => entry.reports.push(v) }, cancel.token).then((r) => {
      entry.done = true;
      return r;
    });
  },
  createTerminal(options: any): any {
    const terminal = { options, shown: false, exitStatus: undefined as any, show() { terminal.shown = true; }, dispose() {} };
    test.terminals.push(terminal);
    return terminal;
  },
  onDidCloseTerminal: (l: (e: any) => void, thisArgs?: unknown) => test.closeTerminal.event(l, thisArgs),
  onDidChangeActiveTextEditor: (l: (e: any) => void, thisArgs?: unknown) => test.changeActiveEditor.event(l, thisArgs),
  onDidChangeTextEditorSelection: (l: (e: any) => void, thisArgs?: unknown) => test.changeSelection.event(l, thisArgs),
  onDidChangeVisibleTextEditors: (l: (e: any) => void, thisArgs?: unknown) => test.changeVisibleEditors.event(l, thisArgs),
  createTextEditorDecorationType(options: any): any {
    const type = { key: `decoration-${test.decorationTypes.length}`, options, disposed: false, dispose() { type.disposed = true; } };
    test.decorationTypes.push(type);
    return type;
  },
  visibleTextEditors: [] as any[],
  tabGroups: { all: [] as any[], onDidChangeTabs: new EventEmitter<any>().event, onDidChangeTabGroups: new EventEmitter<any>().event },
  showTextDocument: () => Promise.resolve(undefined),
  createOutputChannel(name: string, _options?: { log: true }): any {
    const lines: string[] = [];
    // QUILL_MOCK_LOG=1 prints the channel on stderr (what the extension and its client log).
    const log = (l: string) => {
      lines.push(l);
      if (process.env.QUILL_MOCK_LOG === '1') {
        process.stderr.write(`[${name}] ${l}\n`);
      }
    };
    const channel = { name, lines, appendLine: log, append: () => undefined, trace: log, debug: log, info: log, warn: log, error: log, logLevel: LogLevel.Info, onDidChangeLogLevel: () => new Disposable(() => undefined), show: () => undefined, dispose: () => undefined };
    test.outputs.push(channel);
    return channel;
  },
};

export const commands = {
  registerCommand(command: string, fn: (...args: any[]) => any): Disposable {
    test.commands.set(command, fn);
    return new Disposable(() => test.commands.delete(command));
  },
  executeCommand(command: string, ...args: unknown[]): Promise<unknown> {
    test.executed.push({ command, args });
    const fn = test.commands.get(command);
    return Promise.resolve(fn ? fn(...args) : undefined);
  },
};

function matchOne(selector: any, doc: any): number {
  if (typeof selector === 'string') {
    return selector === '*' || selector === doc.languageId ? 10 : 0;
  }
  if (selector.scheme && selector.scheme !== doc.uri.scheme) {
    return 0;
  }
  if (selector.language && selector.language !== '*' && selector.language !== doc.languageId) {
    return 0;
  }
  return selector.language ? 10 : 5;
}

const noProvider = () => new Disposable();

export const languages = {
  getDiagnostics(uri: Uri): Diagnostic[] {
    return test.diagnostics.get(uri.toString()) ?? [];
  },
  match(selector: any, doc: any): number {
    const list = Array.isArray(selector) ? selector : [selector];
    return Math.max(0, ...list.map((s) => matchOne(s, doc)));
  },
  createDiagnosticCollection(name?: string): any {
    const map = new Map<string, unknown[]>();
    return {
      name,
      set: (uri: Uri, diags: unknown[]) => map.set(uri.toString(), diags),
      delete: (uri: Uri) => map.delete(uri.toString()),
      get: (uri: Uri) => map.get(uri.toString()),
      has: (uri: Uri) => map.has(uri.toString()),
      clear: () => map.clear(),
      forEach: () => undefined,
      dispose: () => map.clear(),
      entries: map,
    };
  },
  registerInlineCompletionItemProvider(selector: any, provider: any): Disposable {
    const entry = { selector, provider };
    test.inlineProviders.push(entry);
    return new Disposable(() => {
      test.inlineProviders = test.inlineProviders.filter((e) => e !== entry);
    });
  },
  registerCodeActionsProvider(selector: any, provider: any): Disposable {
    const entry = { selector, provider };
    test.codeActionProviders.push(entry);
    return new Disposable(() => {
      test.codeActionProviders = test.codeActionProviders.filter((e) => e !== entry);
    });
  },
  registerCompletionItemProvider: noProvider,
  registerHoverProvider: noProvider,
};

export const env = {
  language: 'en',
  appName: 'vscode-mock',
  openExternal: () => Promise.resolve(false),
};

export const version = '1.91.0';

export const workspace = {
  getConfiguration(section?: string): any {
    const prefix = section ? `${section}.` : '';
    return {
      get: (key: string, fallback?: unknown) => {
        const k = prefix + key;
        return test.config.has(k) ? test.config.get(k) : fallback;
      },
      has: (key: string) => test.config.has(prefix + key),
    };
  },
  onDidChangeConfiguration: (l: (e: any) => void, thisArgs?: unknown) => test.configChange.event(l, thisArgs),
  workspaceFolders: undefined as any,
  get textDocuments(): any[] {
    return test.documents;
  },
  notebookDocuments: [] as any[],
  onDidOpenTextDocument: (l: (e: any) => void, thisArgs?: unknown) => test.openDocument.event(l, thisArgs),
  onDidChangeTextDocument: (l: (e: any) => void, thisArgs?: unknown) => test.changeDocument.event(l, thisArgs),
  onDidCloseTextDocument: (l: (e: any) => void, thisArgs?: unknown) => test.closeDocument.event(l, thisArgs),
  onDidSaveTextDocument: new EventEmitter<any>().event,
  onWillSaveTextDocument: new EventEmitter<any>().event,
  onDidChangeWorkspaceFolders: new EventEmitter<any>().event,
  applyEdit(edit: any): Promise<boolean> {
    test.appliedEdits.push(edit);
    return Promise.resolve(true);
  },
};

// ---- documents and editors with text that changes ----

/** A text document whose edits change its text and version and fire
 *  workspace.onDidChangeTextDocument as VS Code does (the language client sends them as
 *  didChange). */
export class TextDocument {
  readonly uri: Uri;
  readonly fileName: string;
  version = 1;
  isUntitled = false;
  isClosed = false;
  isDirty = false;
  readonly eol = 1;
  constructor(
    path: string,
    private text: string,
    readonly languageId = 'python',
  ) {
    this.uri = Uri.file(path);
    this.fileName = path;
  }
  private lines(): string[] {
    return this.text.split('\n');
  }
  get lineCount(): number {
    return this.lines().length;
  }
  getText(range?: Range): string {
    return range ? this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end)) : this.text;
  }
  offsetAt(p: Position): number {
    return this.lines().slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
  }
  positionAt(offset: number): Position {
    const before = this.text.slice(0, offset).split('\n');
    return new Position(before.length - 1, before[before.length - 1].length);
  }
  lineAt(line: number): { text: string; range: Range } {
    const text = this.lines()[line];
    return { text, range: new Range(line, 0, line, text.length) };
  }
  /** Replaces `range` with `text` (a keystroke, a paste, an extension's edit). */
  edit(range: Range, text: string): void {
    const start = this.offsetAt(range.start);
    const end = this.offsetAt(range.end);
    this.text = this.text.slice(0, start) + text + this.text.slice(end);
    this.version += 1;
    this.isDirty = true;
    test.changeDocument.fire({
      document: this,
      contentChanges: [{ range, rangeOffset: start, rangeLength: end - start, text }],
      reason: undefined,
    });
  }
  /** Types `text` at `at`, one character (one change, one version) at a time; returns where
   *  the cursor ends. */
  type(at: Position, text: string): Position {
    let p = at;
    for (const c of text) {
      this.edit(new Range(p, p), c);
      p = new Position(p.line, p.character + 1);
    }
    return p;
  }
  /** Backspace `n` times from `at`; returns where the cursor ends. */
  backspace(at: Position, n: number): Position {
    let p = at;
    for (let i = 0; i < n; i++) {
      const before = new Position(p.line, p.character - 1);
      this.edit(new Range(before, p), '');
      p = before;
    }
    return p;
  }
}

/** A text editor on a `TextDocument`: its decorations, reveals and edits are recorded; moving
 *  its selection fires window.onDidChangeTextEditorSelection. */
export class TextEditor {
  private sel: Selection;
  /** The last ranges/options set for each decoration type, by its key. */
  readonly decorations = new Map<string, any[]>();
  readonly revealed: Range[] = [];
  readonly edits: { range: Range; text: string; options: any }[] = [];
  constructor(
    readonly document: TextDocument,
    at = new Position(0, 0),
  ) {
    this.sel = new Selection(at, at);
  }
  get selection(): Selection {
    return this.sel;
  }
  set selection(s: Selection) {
    this.sel = s;
    test.changeSelection.fire({ textEditor: this, selections: [s] });
  }
  get selections(): Selection[] {
    return [this.sel];
  }
  /** Puts the cursor at `p` (a click, an arrow key). */
  moveTo(p: Position): void {
    this.selection = new Selection(p, p);
  }
  setDecorations(type: { key: string }, items: any[]): void {
    this.decorations.set(type.key, items);
  }
  /** The items of the decoration type created `index`-th (window.createTextEditorDecorationType). */
  decorationsOf(index: number): any[] {
    const type = test.decorationTypes[index];
    return (type && this.decorations.get(type.key)) ?? [];
  }
  revealRange(range: Range): void {
    this.revealed.push(range);
  }
  edit(callback: (builder: any) => void, options?: any): Promise<boolean> {
    const ops: { range: Range; text: string }[] = [];
    callback({
      replace: (range: Range, text: string) => ops.push({ range, text }),
      insert: (p: Position, text: string) => ops.push({ range: new Range(p, p), text }),
      delete: (range: Range) => ops.push({ range, text: '' }),
    });
    for (const op of ops) {
      this.edits.push({ ...op, options });
      this.document.edit(op.range, op.text);
    }
    return Promise.resolve(true);
  }
}

/** Makes `editor` the active (and only visible) editor, as VS Code reports it. */
export function activateEditor(editor: TextEditor | undefined): void {
  window.activeTextEditor = editor;
  window.visibleTextEditors = editor ? [editor] : [];
  test.changeActiveEditor.fire(editor);
  test.changeVisibleEditors.fire(window.visibleTextEditors);
}
