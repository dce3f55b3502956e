// Ghost text: the language client's InlineCompletionItemFeature sends
// `textDocument/inlineCompletion` (LSP 3.18); this middleware waits a little after each
// keystroke (typing on cancels the wait, so no request goes out) and marks quill busy while a
// request runs. VS Code cancels the token when the user types on; the language client then
// sends `$/cancelRequest`, which stops decoding on the server. With the manual trigger only
// explicit requests (Alt+\, `editor.action.inlineSuggest.trigger`) reach the server.

import type * as vscode from 'vscode';

/** The VS Code value of `InlineCompletionTriggerKind.Invoke` (an explicit request). */
const TRIGGER_INVOKE = 0;

type Result = vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined;

export type ProvideInlineCompletions = (
  document: vscode.TextDocument,
  position: vscode.Position,
  context: vscode.InlineCompletionContext,
  token: vscode.CancellationToken,
) => vscode.ProviderResult<Result>;

/** When ghost text is asked for: as you type, or only on an explicit request. */
export type InlineTrigger = 'automatic' | 'manual';

export interface InlineOptions {
  /** Milliseconds to wait after a keystroke (read on every request). */
  debounceMs(): number;
  /** False turns ghost text off, explicit requests included. */
  enabled(): boolean;
  /** 'manual': automatic requests (typing) get nothing; explicit ones are answered. Read on
   *  every request; absent means 'automatic'. */
  trigger?(): InlineTrigger;
  /** Marks quill busy; returns the function that ends it. */
  busy(): () => void;
  /** Called when a request that reached the server has ended (answered, failed or cancelled
   *  in flight): the server's `lastCompletion` and health may have changed. */
  settled?(): void;
  /** Called with each answer that is still current (not cancelled, the document unchanged):
   *  the state it was asked at and whether it had ghost text (see grow.ts). */
  answered?(document: vscode.TextDocument, version: number, position: vscode.Position, shown: boolean): void;
}

/** Whether an answer has any item to show. */
export function hasItems(result: Result): boolean {
  if (!result) {
    return false;
  }
  const items = Array.isArray(result) ? result : result.items;
  return Array.isArray(items) && items.length > 0;
}

/** Whether a request of `triggerKind` goes to the server at all. */
export function wanted(triggerKind: number, enabled: boolean, trigger: InlineTrigger): boolean {
  if (!enabled) {
    return false;
  }
  return triggerKind === TRIGGER_INVOKE || trigger !== 'manual';
}

/** Resolves true after `ms`, or false as soon as `token` is cancelled. */
export function delay(ms: number, token: vscode.CancellationToken): Promise<boolean> {
  if (token.isCancellationRequested) {
    return Promise.resolve(false);
  }
  if (ms <= 0) {
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const sub = token.onCancellationRequested(() => {
      clearTimeout(timer);
      sub.dispose();
      resolve(false);
    });
    const timer = setTimeout(() => {
      sub.dispose();
      resolve(true);
    }, ms);
  });
}

export function inlineMiddleware(options: InlineOptions) {
  return async function provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: ProvideInlineCompletions,
  ): Promise<Result> {
    if (!wanted(context.triggerKind, options.enabled(), options.trigger?.() ?? 'automatic')) {
      return null;
    }
    if (context.triggerKind !== TRIGGER_INVOKE) {
      if (!(await delay(options.debounceMs(), token))) {
        return null;
      }
    }
    if (token.isCancellationRequested) {
      return null;
    }
    const done = options.busy();
    const version = document.version;
    try {
      const result = await next(document, position, context, token);
      if (token.isCancellationRequested) {
        return null;
      }
      if (document.version === version) {
        options.answered?.(document, version, position, hasItems(result));
      }
      return result;
    } finally {
      done();
      options.settled?.();
    }
  };
}
