import * as assert from 'assert';
import { escapeHtml, markdownPage, renderMarkdown } from '../../src/markdown';

describe('markdown page', () => {
  it('renders Markdown, escapes HTML and allows no scripts', () => {
    const html = markdownPage('quill: <x>', '# T\n\n```python\nprint(1 < 2)\n```\n\n<script>alert(1)</script>', 'vscode-webview://csp');
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.doesNotMatch(html, /script-src/);
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /&lt;script&gt;/);
    assert.match(html, /<title>quill: &lt;x&gt;<\/title>/);
    assert.match(html, /<pre><code class="language-python">print\(1 &lt; 2\)/);
    assert.match(renderMarkdown('see https://example.com'), /<a href="https:\/\/example.com">/);
    assert.strictEqual(escapeHtml(`"'&`), '&quot;&#39;&amp;');
  });
});
