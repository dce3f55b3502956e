// Finding the server binary (quill.path → bundled → PATH → downloaded) and downloading a
// release archive checked against SHA256SUMS.
import * as assert from 'assert';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import {
  SERVER_VERSION,
  archiveName,
  bundledPath,
  downloadServer,
  downloadedPath,
  extractFromTarGz,
  fetchBytes,
  findServer,
  parseSha256Sums,
  releaseTarget,
  releaseUrl,
  sha256,
  verifyChecksum,
} from '../../src/binary';
import { QuillServer } from '../../src/server';
import { StatusBar } from '../../src/status';
import { test as vs, window } from '../mock/vscode';
import { EXTENSION_ROOT, REPO_ROOT } from './manifest';
import { makeRelease } from './release';

describe('binary: which quill the extension starts', () => {
  const ext = '/ext/quill-vscode';
  const storage = '/storage/quill';
  const bundled = bundledPath(ext);
  const downloaded = downloadedPath(storage);
  const onPath = '/usr/local/bin/quill';
  const find = (present: string[], configured = 'quill', envPath = '/usr/bin:/usr/local/bin') =>
    findServer({
      configured,
      extensionDir: ext,
      storageDir: storage,
      envPath,
      isExecutable: (p) => present.includes(p),
    });

  it('quill.path, when set, wins, and is not replaced by another when it is wrong', () => {
    const all = ['/opt/quill', bundled, onPath, downloaded];
    assert.deepStrictEqual(find(all, '/opt/quill'), { path: '/opt/quill', source: 'setting' });
    assert.strictEqual(find([bundled, onPath, downloaded], '/opt/quill'), undefined);
    // A name other than the default is looked up on PATH.
    assert.deepStrictEqual(find(['/usr/bin/quill-dev'], 'quill-dev'), { path: '/usr/bin/quill-dev', source: 'setting' });
  });

  it('unset: the bundled binary, then PATH, then a downloaded one', () => {
    assert.deepStrictEqual(find([bundled, onPath, downloaded]), { path: bundled, source: 'bundled' });
    assert.deepStrictEqual(find([onPath, downloaded]), { path: onPath, source: 'path' });
    assert.deepStrictEqual(find([downloaded]), { path: downloaded, source: 'downloaded' });
    assert.strictEqual(find([]), undefined);
    assert.strictEqual(find([onPath], 'quill', '/usr/bin'), undefined, 'PATH is searched, not guessed');
  });

  it('where the bundled and downloaded binaries live', () => {
    assert.strictEqual(bundled, path.join(ext, 'server', 'quill'));
    assert.strictEqual(downloaded, path.join(storage, 'server', `quill-${SERVER_VERSION}`, 'quill'));
    assert.strictEqual(downloadedPath(storage, '9.9.9'), path.join(storage, 'server', 'quill-9.9.9', 'quill'));
  });

  it('without extension or storage folders (a bare context) only quill.path and PATH count', () => {
    const r = findServer({ configured: 'quill', envPath: '/usr/local/bin', isExecutable: (p) => p === onPath });
    assert.deepStrictEqual(r, { path: onPath, source: 'path' });
    assert.strictEqual(findServer({ configured: 'quill', envPath: '', isExecutable: () => true }), undefined);
  });

  it('release targets and names match scripts/release.sh', () => {
    assert.strictEqual(releaseTarget('linux', 'x64'), 'x86_64-linux');
    assert.strictEqual(releaseTarget('linux', 'arm64'), 'aarch64-linux');
    assert.strictEqual(releaseTarget('darwin', 'arm64'), undefined);
    assert.strictEqual(releaseTarget('win32', 'x64'), undefined);
    assert.strictEqual(archiveName('0.1.0', 'x86_64-linux'), 'quill-0.1.0-x86_64-linux.tar.gz');
    const script = fs.readFileSync(path.join(REPO_ROOT, 'scripts', 'release.sh'), 'utf8');
    assert.match(script, /quill-\$version-x86_64-linux"/);
    assert.match(script, /quill-\$version-aarch64-linux"/);
  });

  it('SERVER_VERSION is the version of Cargo.toml and of the extension', () => {
    const cargo = fs.readFileSync(path.join(REPO_ROOT, 'Cargo.toml'), 'utf8');
    assert.strictEqual(/^version = "(.*)"/m.exec(cargo)?.[1], SERVER_VERSION);
    const pkg = JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.strictEqual(pkg.version, SERVER_VERSION);
  });

  it('the release URL: the release of this version, or QUILL_RELEASE_URL', () => {
    assert.strictEqual(releaseUrl({}), `https://github.com/quill-lsp/quill/releases/download/v${SERVER_VERSION}`);
    assert.strictEqual(releaseUrl({ QUILL_RELEASE_URL: 'file:///tmp/dist/' }), 'file:///tmp/dist');
    assert.strictEqual(releaseUrl({ QUILL_RELEASE_URL: '  ' }), releaseUrl({}));
  });
});

describe('binary: checksums and archives', () => {
  it('parses sha256sum output (text and binary mode), skipping other lines', () => {
    const a = 'a'.repeat(64);
    const b = 'B'.repeat(64);
    const sums = parseSha256Sums(`${a}  quill-0.1.0-x86_64-linux.tar.gz\r\n${b} *./other.tar.gz\n\nnot a line\n${'c'.repeat(63)}  short\n`);
    assert.deepStrictEqual([...sums.entries()], [
      ['quill-0.1.0-x86_64-linux.tar.gz', a],
      ['other.tar.gz', 'b'.repeat(64)],
    ]);
  });

  it('verifies a checksum: missing and mismatching entries are errors', () => {
    const data = Buffer.from('hello\n');
    // sha256sum of "hello\n"
    const hex = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';
    assert.strictEqual(sha256(data), hex);
    verifyChecksum('f', data, new Map([['f', hex]]));
    assert.throws(() => verifyChecksum('f', Buffer.from('hellO\n'), new Map([['f', hex]])), /checksum mismatch for f/);
    assert.throws(() => verifyChecksum('g', data, new Map([['f', hex]])), /SHA256SUMS lists no g/);
  });
});

describe('binary: downloading a release', () => {
  let tmp: string;
  const BIN = '#!/bin/sh\necho quill 0.1.0\n';
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-dl-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reads quill out of a tar.gz', () => {
    const archive = makeRelease(path.join(tmp, 'rel'), BIN, 'x86_64-linux', '0.1.0');
    const gz = fs.readFileSync(archive);
    assert.strictEqual(extractFromTarGz(gz, (n) => n === 'quill-0.1.0-x86_64-linux/quill')?.toString(), BIN);
    assert.strictEqual(extractFromTarGz(gz, (n) => n.endsWith('README.md'))?.toString(), '# quill\n');
    assert.strictEqual(extractFromTarGz(gz, (n) => n === 'nothing'), undefined);
  });

  it('a file:// release: checked, installed executable in storage, older downloads removed', async () => {
    const rel = path.join(tmp, 'rel');
    makeRelease(rel, BIN, 'x86_64-linux');
    const storage = path.join(tmp, 'storage');
    const old = path.join(storage, 'server', 'quill-0.0.1');
    fs.mkdirSync(old, { recursive: true });
    const steps: string[] = [];
    const dest = await downloadServer({
      baseUrl: pathToFileURL(rel).href,
      target: 'x86_64-linux',
      storageDir: storage,
      progress: (m) => steps.push(m),
    });
    assert.strictEqual(dest, downloadedPath(storage));
    assert.strictEqual(fs.readFileSync(dest, 'utf8'), BIN);
    assert.ok(fs.statSync(dest).mode & 0o100, 'executable');
    assert.ok(!fs.existsSync(old), 'the older download is removed');
    assert.deepStrictEqual(steps, ['SHA256SUMS', `quill-${SERVER_VERSION}-x86_64-linux.tar.gz`]);
    assert.deepStrictEqual(fs.readdirSync(path.dirname(dest)), ['quill'], 'no partial file left');
    assert.deepStrictEqual(findServer({ configured: 'quill', storageDir: storage, envPath: '' }), { path: dest, source: 'downloaded' });
  });

  it('a corrupt archive or one SHA256SUMS does not list installs nothing', async () => {
    const rel = path.join(tmp, 'rel');
    const archive = makeRelease(rel, BIN, 'x86_64-linux');
    const storage = path.join(tmp, 'storage');
    const bytes = fs.readFileSync(archive);
    bytes[bytes.length - 20] ^= 0xff;
    fs.writeFileSync(archive, bytes);
    const base = pathToFileURL(rel).href;
    await assert.rejects(downloadServer({ baseUrl: base, target: 'x86_64-linux', storageDir: storage }), /checksum mismatch/);
    assert.ok(!fs.existsSync(downloadedPath(storage)));
    await assert.rejects(downloadServer({ baseUrl: base, target: 'aarch64-linux', storageDir: storage }), /lists no quill-.*-aarch64-linux\.tar\.gz/);
    await assert.rejects(downloadServer({ baseUrl: pathToFileURL(path.join(tmp, 'none')).href, target: 'x86_64-linux', storageDir: storage }), /ENOENT/);
    assert.ok(!fs.existsSync(path.join(storage, 'server')));
  });

  it('over HTTP, following a redirect as GitHub release downloads do', async () => {
    const rel = path.join(tmp, 'rel');
    makeRelease(rel, BIN, 'aarch64-linux');
    const server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      if (url.startsWith('/latest/')) {
        res.writeHead(302, { location: url.replace('/latest/', '/files/') }).end();
        return;
      }
      const file = path.join(rel, path.basename(url));
      if (url.startsWith('/files/') && fs.existsSync(file)) {
        res.writeHead(200).end(fs.readFileSync(file));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const dest = await downloadServer({ baseUrl: `${base}/latest`, target: 'aarch64-linux', storageDir: path.join(tmp, 's') });
      assert.strictEqual(fs.readFileSync(dest, 'utf8'), BIN);
      await assert.rejects(fetchBytes(`${base}/files/missing`), /HTTP 404/);
    } finally {
      server.close();
    }
  });
});

describe('binary: the extension when no server is found', () => {
  let tmp: string;
  const saved = { PATH: process.env.PATH, QUILL_RELEASE_URL: process.env.QUILL_RELEASE_URL };
  const hooks = { executeCommand: undefined, showDocument: undefined };
  const server = (dirs: { extensionDir?: string; storageDir?: string }) =>
    new QuillServer(new StatusBar(), window.createOutputChannel('quill'), hooks, dirs);
  const settle = () => new Promise((r) => setTimeout(r, 20));

  beforeEach(() => {
    vs.reset();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-nf-'));
    process.env.PATH = tmp; // no quill on PATH
    process.env.QUILL_RELEASE_URL = pathToFileURL(path.join(tmp, 'no-release')).href;
  });
  afterEach(() => {
    process.env.PATH = saved.PATH;
    if (saved.QUILL_RELEASE_URL === undefined) {
      delete process.env.QUILL_RELEASE_URL;
    } else {
      process.env.QUILL_RELEASE_URL = saved.QUILL_RELEASE_URL;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('quill.path set but missing: an error pointing at the setting, no download offered', async () => {
    vs.config.set('quill.path', '/nonexistent/quill');
    const s = server({ extensionDir: tmp, storageDir: tmp });
    await s.start();
    assert.deepStrictEqual(vs.shown.map((m) => [m.kind, m.items]), [['error', ['Open Settings', 'Show Log']]]);
    assert.match(vs.shown[0].message, /cannot find "\/nonexistent\/quill"/);
    s.dispose();
  });

  it('unset and nowhere, no release published: says so and points at the install instructions', async function () {
    if (!releaseTarget()) {
      this.skip();
    }
    const s = server({ extensionDir: path.join(tmp, 'ext'), storageDir: path.join(tmp, 'storage') });
    await s.start();
    assert.strictEqual(vs.shown.length, 1);
    assert.strictEqual(vs.shown[0].kind, 'warning');
    assert.match(vs.shown[0].message, new RegExp(`not installed.*no quill ${SERVER_VERSION.replace(/\./g, '\\.')} release for ${releaseTarget()} to download yet`));
    assert.doesNotMatch(vs.shown[0].message, /Download quill/);
    assert.deepStrictEqual(vs.shown[0].items, ['How to Install', 'Open Settings']);
    assert.match(vs.statusItems[0].text, /down/);
    s.dispose();
  });

  /** A release folder whose SHA256SUMS lists this platform's archive (the archive itself
   *  is not there: a download fails). */
  const listedRelease = () => {
    const dir = path.join(tmp, 'listed-release');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'SHA256SUMS'), `${'0'.repeat(64)}  ${archiveName(SERVER_VERSION, releaseTarget()!)}\n`);
    process.env.QUILL_RELEASE_URL = pathToFileURL(dir).href;
  };

  it('unset and nowhere: offers the download where the release lists a binary for this platform', async function () {
    if (!releaseTarget()) {
      this.skip();
    }
    listedRelease();
    const s = server({ extensionDir: path.join(tmp, 'ext'), storageDir: path.join(tmp, 'storage') });
    await s.start();
    assert.strictEqual(vs.shown.length, 1);
    assert.strictEqual(vs.shown[0].kind, 'info');
    assert.match(vs.shown[0].message, new RegExp(`not installed.*Download quill ${SERVER_VERSION.replace(/\./g, '\\.')} for ${releaseTarget()}`));
    assert.deepStrictEqual(vs.shown[0].items, ['Download', 'Open Settings']);
    assert.match(vs.statusItems[0].text, /down/);
    s.dispose();
  });

  it('a download that fails is an error; nothing is installed', async function () {
    if (!releaseTarget()) {
      this.skip();
    }
    listedRelease();
    vs.messageAnswer = 'Download';
    const storage = path.join(tmp, 'storage');
    const s = server({ storageDir: storage });
    await s.start();
    for (let i = 0; i < 50 && !vs.shown.some((m) => m.kind === 'error'); i++) {
      await settle();
    }
    const error = vs.shown.find((m) => m.kind === 'error');
    assert.match(error?.message ?? '', /downloading the server from file:.*listed-release failed: .*ENOENT/);
    assert.strictEqual(vs.progress[0]?.options.title, 'quill: downloading the server');
    assert.ok(!fs.existsSync(downloadedPath(storage)));
    s.dispose();
  });

  it('without a storage folder (no download possible): an error', async () => {
    const s = server({});
    await s.start();
    assert.deepStrictEqual(vs.shown.map((m) => m.kind), ['error']);
    assert.match(vs.shown[0].message, /cannot find "quill"/);
    s.dispose();
  });
});
