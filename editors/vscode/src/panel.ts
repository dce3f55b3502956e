// The side panel where explanations (and answers that are not edits) are shown.

import * as vscode from 'vscode';
import { markdownPage } from './markdown';

export class MarkdownPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private last: { title: string; markdown: string } | undefined;

  /** Shows `markdown` beside the editor, reusing the panel if it is open. */
  show(title: string, markdown: string): void {
    this.last = { title, markdown };
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(
        'quill.markdown',
        title,
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: false, enableFindWidget: true, retainContextWhenHidden: false },
      );
      this.panel.onDidDispose(() => {
        this.panel = undefined;
      });
    } else {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    this.panel.title = title;
    this.panel.webview.html = markdownPage(title, markdown, this.panel.webview.cspSource);
  }

  /** What was shown last (tests, and reopening). */
  get shown(): { title: string; markdown: string } | undefined {
    return this.last;
  }

  dispose(): void {
    this.panel?.dispose();
    this.panel = undefined;
  }
}
