// The status-bar item: the model, its loading progress, a spinner while quill works, "down"
// when the server is not running and "backend down" when its inference server does not
// answer; the tooltip tells what the last completion cost.

import * as vscode from 'vscode';

export type ServerState =
  | { kind: 'starting' }
  | { kind: 'loading'; percent?: number }
  | { kind: 'ready' }
  | { kind: 'failed'; reason: string }
  | { kind: 'backend'; reason: string }
  | { kind: 'down'; reason: string; retryInMs?: number };

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: ServerState = { kind: 'starting' };
  private model = '';
  private busyCount = 0;
  private busyWhat = '';
  private generation = 0;
  private detail = '';

  constructor(command = 'quill.showMenu') {
    this.item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'quill';
    this.item.command = command;
    this.render();
    this.item.show();
  }

  setModel(model: string): void {
    this.model = model;
    this.render();
  }

  setState(state: ServerState): void {
    this.state = state;
    if (state.kind === 'down' || state.kind === 'starting') {
      // Requests die with the server; so does their busy mark.
      this.busyCount = 0;
      this.generation += 1;
    }
    if (state.kind === 'starting') {
      this.detail = ''; // a new server has completed nothing yet
    }
    this.render();
  }

  getState(): ServerState {
    return this.state;
  }

  /** Extra tooltip text: the last completion's timings (see describeLastCompletion). */
  setDetail(detail: string): void {
    this.detail = detail;
    this.render();
  }

  /** Marks quill busy until the returned function is called (once). */
  busy(what = 'completing'): () => void {
    this.busyCount += 1;
    this.busyWhat = what;
    this.render();
    let done = false;
    const generation = this.generation;
    return () => {
      if (done || generation !== this.generation) {
        return;
      }
      done = true;
      this.busyCount = Math.max(0, this.busyCount - 1);
      this.render();
    };
  }

  get isBusy(): boolean {
    return this.busyCount > 0;
  }

  /** The text now shown (for tests and the menu). */
  get text(): string {
    return this.item.text;
  }

  get tooltip(): string {
    return typeof this.item.tooltip === 'string' ? this.item.tooltip : String(this.item.tooltip ?? '');
  }

  private render(): void {
    const model = this.model || 'quill';
    const lines: string[] = [];
    let text: string;
    let background: vscode.ThemeColor | undefined;
    switch (this.state.kind) {
      case 'starting':
        text = '$(loading~spin) quill: starting';
        lines.push('quill: starting the server');
        break;
      case 'loading': {
        const pct = this.state.percent === undefined ? '' : ` ${Math.round(this.state.percent)}%`;
        text = `$(loading~spin) quill: loading${pct}`;
        lines.push(`quill: loading ${model}${pct}`);
        break;
      }
      case 'ready':
        if (this.busyCount > 0) {
          text = `$(sync~spin) ${model}`;
          lines.push(`quill: ${this.busyWhat}… (${model})`);
        } else {
          text = `$(sparkle) ${model}`;
          lines.push(`quill: ${model} ready`);
        }
        break;
      case 'failed':
        text = '$(error) quill: failed';
        lines.push(`quill: the model ${model} failed: ${this.state.reason}`);
        background = new vscode.ThemeColor('statusBarItem.errorBackground');
        break;
      case 'backend':
        text = '$(debug-disconnect) quill: backend down';
        lines.push(`quill: ${this.state.reason}`);
        lines.push(`Completions (${model}) come back when the inference server answers.`);
        background = new vscode.ThemeColor('statusBarItem.warningBackground');
        break;
      case 'down': {
        text = '$(debug-disconnect) quill: down';
        lines.push(`quill: the server is down: ${this.state.reason}`);
        if (this.state.retryInMs !== undefined) {
          lines.push(`restarting in ${Math.ceil(this.state.retryInMs / 1000)} s`);
        }
        background = new vscode.ThemeColor('statusBarItem.warningBackground');
        break;
      }
    }
    if (this.detail) {
      lines.push(this.detail);
    }
    lines.push('Click for actions');
    this.item.text = text;
    this.item.tooltip = lines.join('\n');
    this.item.backgroundColor = background;
  }

  dispose(): void {
    this.item.dispose();
  }
}
