// Markdown to safe HTML for the explanation panel. Raw HTML in the model's answer is
// escaped, never rendered; the page allows no scripts.

import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: true, breaks: false });

export function renderMarkdown(markdown: string): string {
  return md.render(markdown);
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** The whole page: a strict CSP (no scripts, inline styles only) and VS Code's colours. */
export function markdownPage(title: string, markdown: string, cspSource: string): string {
  const body = renderMarkdown(markdown);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${cspSource} https: data:; style-src 'unsafe-inline';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style>
  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 1.2em 1.2em; line-height: 1.5; }
  h1.quill-title { font-size: 1.2em; border-bottom: 1px solid var(--vscode-panel-border); padding-bottom: .3em; }
  code { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  pre { background: var(--vscode-textCodeBlock-background); padding: .6em .8em; overflow-x: auto; border-radius: 3px; }
  :not(pre) > code { background: var(--vscode-textCodeBlock-background); padding: 0 .25em; border-radius: 3px; }
  a { color: var(--vscode-textLink-foreground); }
  blockquote { border-left: 3px solid var(--vscode-textBlockQuote-border); margin: 0; padding-left: 1em; color: var(--vscode-textBlockQuote-foreground, inherit); }
  table { border-collapse: collapse; } th, td { border: 1px solid var(--vscode-panel-border); padding: .2em .5em; }
</style>
</head>
<body>
<h1 class="quill-title">${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}
