// The packaged quill.vsix is self-contained: unpacked, its main module loads (with the
// vscode mock) using only the dependencies inside the package, and it has no test or
// TypeScript sources; it carries what a Marketplace / Open VSX listing shows.
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EXTENSION_ROOT } from '../unit/manifest';

function unzip(file: string, dir: string): void {
  try {
    execFileSync('unzip', ['-q', file, '-d', dir]);
  } catch {
    execFileSync('python3', ['-m', 'zipfile', '-e', file, dir]);
  }
}

function listFiles(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p, base) : [path.relative(base, p)];
  });
}

describe('quill.vsix', () => {
  const vsix = path.join(EXTENSION_ROOT, 'quill.vsix');

  it('unpacks to a loadable extension with its runtime dependencies and nothing else', function () {
    if (!fs.existsSync(vsix)) {
      this.skip();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-vsix-'));
    try {
      unzip(vsix, dir);
      const root = path.join(dir, 'extension');
      const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
      const files = listFiles(root);
      assert.ok(files.includes('README.md') || files.includes('readme.md'));
      assert.deepStrictEqual(files.filter((f) => /^(src|test|out\/test)\//.test(f) || (f.endsWith('.ts') && !f.startsWith('node_modules'))), []);
      assert.deepStrictEqual(files.filter((f) => f.startsWith('server/')), [], 'the universal package carries no server');
      for (const dev of ['mocha', 'typescript', 'eslint', '@vscode/vsce']) {
        assert.ok(!fs.existsSync(path.join(root, 'node_modules', dev)), `dev dependency ${dev} packaged`);
      }
      for (const dep of Object.keys(manifest.dependencies)) {
        assert.ok(fs.existsSync(path.join(root, 'node_modules', dep)), `dependency ${dep} missing`);
      }
      // Load the packaged main module; `require` resolves inside the unpacked folder.
      const main = require.resolve(path.join(root, manifest.main));
      assert.ok(main.startsWith(root));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const ext = require(main) as { activate?: unknown; deactivate?: unknown };
      assert.strictEqual(typeof ext.activate, 'function');
      assert.strictEqual(typeof ext.deactivate, 'function');
      const loaded = Object.keys(require.cache).filter((k) => k.startsWith(root) && k.includes('vscode-languageclient'));
      assert.ok(loaded.length > 0, 'the packaged vscode-languageclient was used');
      // What the Marketplace and Open VSX show: icon, changelog, licence, listing metadata.
      assert.ok(files.includes(manifest.icon), `icon ${manifest.icon} not packaged`);
      const png = fs.readFileSync(path.join(root, manifest.icon));
      assert.strictEqual(png.subarray(1, 4).toString(), 'PNG');
      assert.deepStrictEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [128, 128], 'a 128x128 icon');
      assert.ok(files.some((f) => /^changelog\.md$/i.test(f)), 'CHANGELOG.md not packaged');
      assert.ok(files.some((f) => /^license(\.txt|\.md)?$/i.test(f)), 'LICENSE not packaged');
      for (const key of ['publisher', 'license', 'categories', 'keywords', 'displayName', 'description']) {
        assert.ok(manifest[key] && manifest[key].length > 0, `package.json lacks ${key}`);
      }
      const vsixManifest = fs.readFileSync(path.join(dir, 'extension.vsixmanifest'), 'utf8');
      assert.match(vsixManifest, /<Icon>extension\/images\/icon\.png<\/Icon>/);
      assert.match(vsixManifest, /Content\.Changelog/);
      // The listing links to the repository (package.json `repository`, `bugs`, `homepage`).
      assert.strictEqual(manifest.repository?.url, 'https://github.com/quill-lsp/quill');
      assert.match(vsixManifest, /Links\.Source" Value="https:\/\/github\.com\/quill-lsp\/quill(\.git)?"/);
      assert.match(vsixManifest, /Links\.Support" Value="https:\/\/github\.com\/quill-lsp\/quill\/issues"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('platform-specific packages (package-platform.sh)', function () {
  this.timeout(60_000); // unpacking and running a 20 MB binary
  for (const target of ['linux-x64', 'linux-arm64']) {
    it(`quill-${target}.vsix carries an executable server/quill and says its platform`, function () {
      const vsix = path.join(EXTENSION_ROOT, `quill-${target}.vsix`);
      if (!fs.existsSync(vsix)) {
        this.skip();
      }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-vsix-'));
      try {
        unzip(vsix, dir);
        const server = path.join(dir, 'extension', 'server', 'quill');
        assert.ok(fs.statSync(server).size > 1_000_000, 'a real binary');
        const elf = fs.readFileSync(server).subarray(0, 20);
        assert.strictEqual(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
        const machine = elf.readUInt16LE(18);
        assert.strictEqual(machine, target === 'linux-x64' ? 62 : 183, 'x86-64 (62) or aarch64 (183)');
        if (`${process.platform}-${process.arch}` === target) {
          // Unpacked as VS Code does, it is executable and runs.
          assert.match(execFileSync(server, ['--version'], { encoding: 'utf8' }), /^quill \d/);
        }
        const vsixManifest = fs.readFileSync(path.join(dir, 'extension.vsixmanifest'), 'utf8');
        assert.match(vsixManifest, new RegExp(`TargetPlatform="${target}"`));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
