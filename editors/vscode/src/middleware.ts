// Server commands that reach VS Code through code actions (the language client registers
// each server command as a VS Code command and runs it through this middleware):
// - quill.refactor without an instruction ("quill: Refactor with instruction…") asks for
//   one with an input box first;
// - quill.showMarkdown (answers that are not edits) is rendered in the side panel instead of
//   going back to the server;
// - quill.explain goes out as the `quill/explain` request so the answer lands in the panel.
// And window/showDocument for the server's Markdown files (its fallback for showing long
// answers) opens them in the panel too.

import { promises as fs } from 'fs';
import * as vscode from 'vscode';
import {
  CancellationToken,
  ResponseError,
  type ShowDocumentParams,
  type ShowDocumentRequest,
  type ShowDocumentResult,
} from 'vscode-languageserver-protocol';
import type { Commands, Work } from './commands';
import type { MarkdownPanel } from './panel';

export type NextCommand = (command: string, args: unknown[]) => vscode.ProviderResult<unknown>;


export function executeCommandMiddleware(commands: Commands, panel: MarkdownPanel) {
  return async function executeCommand(command: string, args: unknown[], next: NextCommand): Promise<unknown> {
    const first = (args[0] ?? {}) as Record<string, unknown>;
    switch (command) {
      case 'quill.refactor':
        return commands.refactor(first as unknown as Work, (work) =>
          Promise.resolve(next(command, [work, ...args.slice(1)])),
        );
      case 'quill.showMarkdown': {
        const title = typeof first.title === 'string' ? first.title : 'quill';
        const markdown = typeof first.markdown === 'string' ? first.markdown : '';
        panel.show(title, markdown);
        return undefined;
      }
      case 'quill.explain': {
        const work = first as unknown as Work;
        if (typeof work.uri !== 'string' || !work.range) {
          return next(command, args);
        }
        return commands.explain(work.uri, work.range, work.problems, 'quill: explanation');
      }
      default:
        return next(command, args);
    }
  };
}

/** The title and body of a Markdown file the server wrote ("# title\n\nbody"). */
export function splitMarkdownFile(text: string): { title: string; markdown: string } {
  const m = /^# (.*)\r?\n(?:\r?\n)?([\s\S]*)$/.exec(text);
  if (m) {
    return { title: m[1].trim() || 'quill', markdown: m[2] };
  }
  return { title: 'quill', markdown: text };
}

/** Whether `uri` is one of the server's answer files (…/quill/explanations/*.md). */
export function isServerAnswer(uri: string): boolean {
  return /^file:.*\/explanations\/[^/]+\.md$/.test(uri);
}

export function showDocumentMiddleware(panel: MarkdownPanel) {
  return async function showDocument(
    params: ShowDocumentParams,
    token: CancellationToken,
    next: ShowDocumentRequest.HandlerSignature,
  ): Promise<ShowDocumentResult> {
    if (params.external !== true && isServerAnswer(params.uri)) {
      try {
        const text = await fs.readFile(vscode.Uri.parse(params.uri).fsPath, 'utf8');
        const { title, markdown } = splitMarkdownFile(text);
        panel.show(title, markdown);
        return { success: true };
      } catch {
        // fall through: let VS Code open it as a file
      }
    }
    const result = await next(params, token);
    return result instanceof ResponseError ? { success: false } : result;
  };
}
