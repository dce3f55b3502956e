// `$/progress` from the server. The language client's own progress feature shows every bar
// as a notification; this one, registered after it, takes over `window/workDoneProgress/create`
// so that the model's loading ("quill/load/<model>") drives the status bar instead, while
// long work (explanations, reviews, refactors) still gets a notification with a cancel button
// that sends `window/workDoneProgress/cancel`.

import * as vscode from 'vscode';
import {
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
  type ClientCapabilities,
  type ProgressToken,
  type ProgressType,
} from 'vscode-languageserver-protocol';

export const LOAD_TOKEN_PREFIX = 'quill/load/';

type Value = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

/** The parts of the language client this feature uses. */
export interface ProgressClient {
  onRequest(type: typeof WorkDoneProgressCreateRequest.type, handler: (params: { token: ProgressToken }) => void): vscode.Disposable;
  onProgress(type: ProgressType<Value>, token: ProgressToken, handler: (value: Value) => void): vscode.Disposable;
  sendNotification(type: typeof WorkDoneProgressCancelNotification.type, params: { token: ProgressToken }): Promise<void>;
}

export interface ProgressListener {
  /** The model `model` is loading (percent when known). */
  loading(model: string, percent: number | undefined): void;
  /** Its loading bar ended (ready or failed: ask quill/status). */
  loaded(model: string): void;
  /** Long work began or ended (the status bar's busy spinner). */
  work?(title: string): () => void;
}

interface Part {
  /** Ends the bar; `notify` false when the connection went away. */
  done(notify?: boolean): void;
}

export class QuillProgressFeature {
  private readonly parts = new Set<Part>();
  private disposables: vscode.Disposable[] = [];

  constructor(
    private readonly client: ProgressClient,
    private readonly listener: ProgressListener,
  ) {}

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = capabilities.window ?? {};
    capabilities.window.workDoneProgress = true;
  }

  getState(): { kind: 'static' } {
    return { kind: 'static' };
  }

  initialize(): void {
    this.disposables.push(
      this.client.onRequest(WorkDoneProgressCreateRequest.type, (params) => this.create(params.token)),
    );
  }

  /** A bar the server created. */
  create(token: ProgressToken): void {
    const key = String(token);
    const part = key.startsWith(LOAD_TOKEN_PREFIX)
      ? this.loadPart(token, key.slice(LOAD_TOKEN_PREFIX.length))
      : this.workPart(token);
    this.parts.add(part);
  }

  private loadPart(token: ProgressToken, model: string): Part {
    let ended = false;
    const part: Part = {
      done: (notify = true) => {
        if (ended) {
          return;
        }
        ended = true;
        sub.dispose();
        this.parts.delete(part);
        if (notify) {
          this.listener.loaded(model);
        }
      },
    };
    const sub = this.client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === 'begin' || value.kind === 'report') {
        this.listener.loading(model, value.percentage);
      } else {
        part.done();
      }
    });
    return part;
  }

  private workPart(token: ProgressToken): Part {
    let finish: (() => void) | undefined;
    let ended = false;
    let endBusy: (() => void) | undefined;
    let reporter: vscode.Progress<{ message?: string; increment?: number }> | undefined;
    let lastPercent = 0;
    let pending: { message?: string; percentage?: number } | undefined;
    const report = (message: string | undefined, percentage: number | undefined) => {
      if (!reporter) {
        pending = { message, percentage };
        return;
      }
      let increment: number | undefined;
      if (percentage !== undefined) {
        increment = Math.max(0, percentage - lastPercent);
        lastPercent = Math.max(lastPercent, percentage);
      }
      reporter.report({ message, increment });
    };
    const part: Part = {
      done: () => {
        if (ended) {
          return;
        }
        ended = true;
        sub.dispose();
        endBusy?.();
        this.parts.delete(part);
        finish?.();
      },
    };
    const sub = this.client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (ended) {
        return;
      }
      if (value.kind === 'begin') {
        endBusy = this.listener.work?.(value.title);
        void vscode.window.withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title: value.title,
            cancellable: value.cancellable === true,
          },
          (progress, cancel) => {
            reporter = progress;
            cancel.onCancellationRequested(() => {
              void this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
            });
            if (pending) {
              report(pending.message, pending.percentage);
              pending = undefined;
            } else if (value.message || value.percentage !== undefined) {
              report(value.message, value.percentage);
            }
            return new Promise<void>((resolve) => {
              finish = resolve;
              if (ended) {
                resolve();
              }
            });
          },
        );
      } else if (value.kind === 'report') {
        report(value.message, value.percentage);
      } else {
        part.done();
      }
    });
    return part;
  }

  clear(): void {
    for (const part of [...this.parts]) {
      part.done(false);
    }
    this.parts.clear();
    for (const d of this.disposables) {
      d.dispose();
    }
    this.disposables = [];
  }

  dispose(): void {
    this.clear();
  }
}
