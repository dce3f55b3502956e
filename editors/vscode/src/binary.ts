// Which `quill` executable the extension starts, the way rust-analyzer's extension finds its
// server: the `quill.path` setting when the user set one; else a binary bundled in the
// extension (`server/quill`, in a platform-specific .vsix); else `quill` on PATH; else one
// this extension downloaded earlier (globalStorage); else it offers to download the release
// archive scripts/release.sh builds, checked against the release's SHA256SUMS.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';
import * as zlib from 'zlib';
import { findExecutable } from './settings';

/** `quill.path`'s default: a bare name means "not set", and the search below applies. */
export const DEFAULT_PATH = 'quill';

/** The server release this extension goes with: Cargo.toml's version (a test checks). */
export const SERVER_VERSION = '0.1.0';

/** Where release archives are published, one folder per release holding SHA256SUMS and
 *  quill-<version>-<target>.tar.gz. A placeholder until the project has a public home:
 *  nothing is published yet. `QUILL_RELEASE_URL` (as for scripts/install.sh) overrides it,
 *  also with a file:// folder. */
export const RELEASE_BASE = 'https://github.com/quill-lsp/quill/releases/download';

export function releaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.QUILL_RELEASE_URL?.trim();
  return (url || `${RELEASE_BASE}/v${SERVER_VERSION}`).replace(/\/+$/, '');
}

/** The release target for this platform, as in the archive names; undefined where no
 *  release binary is built. */
export function releaseTarget(platform: string = process.platform, arch: string = process.arch): string | undefined {
  if (platform === 'linux' && arch === 'x64') {
    return 'x86_64-linux';
  }
  if (platform === 'linux' && arch === 'arm64') {
    return 'aarch64-linux';
  }
  return undefined;
}

export function archiveName(version: string, target: string): string {
  return `quill-${version}-${target}.tar.gz`;
}

const EXE = process.platform === 'win32' ? 'quill.exe' : 'quill';

/** The binary a platform-specific .vsix carries. */
export function bundledPath(extensionDir: string): string {
  return path.join(extensionDir, 'server', EXE);
}

/** Where a downloaded server of `version` lives. */
export function downloadedPath(storageDir: string, version = SERVER_VERSION): string {
  return path.join(storageDir, 'server', `quill-${version}`, EXE);
}

export type ServerSource = 'setting' | 'bundled' | 'path' | 'downloaded';

export interface ServerLookup {
  /** `quill.path`, `~` expanded. */
  configured: string;
  /** The extension's folder (context.extensionPath). */
  extensionDir?: string;
  /** The extension's global storage folder (context.globalStorageUri.fsPath). */
  storageDir?: string;
  envPath?: string;
  isExecutable?: (p: string) => boolean;
}

export interface FoundServer {
  path: string;
  source: ServerSource;
}

/** The first of: quill.path (when set; no fallback when it is wrong), the bundled binary,
 *  `quill` on PATH, the downloaded one. Undefined when there is none. */
export function findServer(lookup: ServerLookup): FoundServer | undefined {
  const isExe = lookup.isExecutable ?? isExecutableFile;
  const envPath = lookup.envPath ?? process.env.PATH ?? '';
  if (explicitPath(lookup.configured)) {
    const p = findExecutable(lookup.configured, envPath, isExe);
    return p ? { path: p, source: 'setting' } : undefined;
  }
  if (lookup.extensionDir) {
    const p = bundledPath(lookup.extensionDir);
    if (isExe(p)) {
      return { path: p, source: 'bundled' };
    }
  }
  const onPath = findExecutable(DEFAULT_PATH, envPath, isExe);
  if (onPath) {
    return { path: onPath, source: 'path' };
  }
  if (lookup.storageDir) {
    const p = downloadedPath(lookup.storageDir);
    if (isExe(p)) {
      return { path: p, source: 'downloaded' };
    }
  }
  return undefined;
}

/** The user set quill.path to something other than its default. */
export function explicitPath(configured: string): boolean {
  return configured !== DEFAULT_PATH;
}

/** A bundled binary whose mode was lost in packaging is made executable (best effort). */
export function makeExecutable(p: string): void {
  try {
    const st = fs.statSync(p);
    if (st.isFile() && (st.mode & 0o111) === 0) {
      fs.chmodSync(p, st.mode | 0o755);
    }
  } catch {
    // absent or read-only: findServer() passes over it
  }
}

export function isExecutableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

// ---- checksums and archives ----

/** `sha256sum` output: "<64 hex>  <name>" (or " *<name>", binary mode) per line. */
export function parseSha256Sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.trim());
    if (m) {
      out.set(m[2].replace(/^\.\//, ''), m[1].toLowerCase());
    }
  }
  return out;
}

export function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** Throws unless `sums` lists `name` with the sha256 of `data`. */
export function verifyChecksum(name: string, data: Buffer, sums: Map<string, string>): void {
  const expected = sums.get(name);
  if (!expected) {
    throw new Error(`SHA256SUMS lists no ${name}`);
  }
  const actual = sha256(data);
  if (actual !== expected) {
    throw new Error(`checksum mismatch for ${name}: expected ${expected}, got ${actual}`);
  }
}

/** The contents of the first regular file in a .tar.gz whose name `want` accepts (ustar
 *  and GNU long names; enough for the archives scripts/release.sh makes). */
export function extractFromTarGz(gz: Buffer, want: (name: string) => boolean): Buffer | undefined {
  const tar = zlib.gunzipSync(gz);
  let offset = 0;
  let longName: string | undefined;
  const text = (start: number, len: number) => {
    const b = tar.subarray(start, start + len);
    const nul = b.indexOf(0);
    return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
  };
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) {
      break;
    }
    const size = parseInt(text(offset + 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 0x30);
    const prefix = text(offset + 345, 155);
    let name = longName ?? (prefix ? `${prefix}/${text(offset, 100)}` : text(offset, 100));
    longName = undefined;
    const body = offset + 512;
    if (body + size > tar.length) {
      throw new Error('truncated tar archive');
    }
    if (type === 'L') {
      longName = text(body, size);
    } else if (type === '0' || type === '7') {
      name = name.replace(/^\.\//, '');
      if (want(name)) {
        return Buffer.from(tar.subarray(body, body + size));
      }
    }
    offset = body + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

// ---- download ----

/** GETs a URL's bytes (http(s) with redirects, or file://). */
export async function fetchBytes(url: string, timeoutMs?: number): Promise<Buffer> {
  if (url.startsWith('file://')) {
    return fs.promises.readFile(fileURLToPath(url));
  }
  const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, { redirect: 'follow', signal });
  if (!res.ok) {
    throw new Error(`${url}: HTTP ${res.status}`);
  }
  return Buffer.from(await res.arrayBuffer());
}

/** Whether `baseUrl` holds a release for `target`: its SHA256SUMS can be read and lists
 *  the archive. `why` says what is missing otherwise (nothing published there yet, no
 *  network, an archive for other platforms only). Asked before offering a download, so the
 *  offer is made only when there is something to download. */
export async function releaseAvailable(
  baseUrl: string,
  target: string,
  get: (url: string) => Promise<Buffer> = (url) => fetchBytes(url, 15_000),
  version = SERVER_VERSION,
): Promise<{ ok: true } | { ok: false; why: string }> {
  const name = archiveName(version, target);
  let text: string;
  try {
    text = (await get(`${baseUrl}/SHA256SUMS`)).toString('utf8');
  } catch (e) {
    return { ok: false, why: e instanceof Error ? e.message : String(e) };
  }
  return parseSha256Sums(text).has(name) ? { ok: true } : { ok: false, why: `its SHA256SUMS lists no ${name}` };
}

export interface DownloadOptions {
  /** The release folder (releaseUrl()). */
  baseUrl: string;
  version?: string;
  /** releaseTarget() */
  target: string;
  storageDir: string;
  fetch?: (url: string) => Promise<Buffer>;
  progress?: (message: string) => void;
}

/** Downloads the release archive for `target`, checks it against the release's SHA256SUMS,
 *  and installs its `quill` at downloadedPath(storageDir). Returns that path. Nothing is
 *  written unless the checksum matches. */
export async function downloadServer(o: DownloadOptions): Promise<string> {
  const version = o.version ?? SERVER_VERSION;
  const get = o.fetch ?? fetchBytes;
  const name = archiveName(version, o.target);
  o.progress?.('SHA256SUMS');
  const sums = parseSha256Sums((await get(`${o.baseUrl}/SHA256SUMS`)).toString('utf8'));
  if (!sums.has(name)) {
    throw new Error(`${o.baseUrl}/SHA256SUMS lists no ${name}`);
  }
  o.progress?.(name);
  const archive = await get(`${o.baseUrl}/${name}`);
  verifyChecksum(name, archive, sums);
  const stem = name.replace(/\.tar\.gz$/, '');
  const binary = extractFromTarGz(archive, (n) => n === `${stem}/quill` || n === 'quill');
  if (!binary) {
    throw new Error(`${name} holds no ${stem}/quill`);
  }
  const dest = downloadedPath(o.storageDir, version);
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.part-${process.pid}`;
  await fs.promises.writeFile(tmp, binary, { mode: 0o755 });
  await fs.promises.rename(tmp, dest);
  // Older downloads are no longer used.
  const serverDir = path.dirname(path.dirname(dest));
  for (const entry of await fs.promises.readdir(serverDir)) {
    if (entry.startsWith('quill-') && entry !== `quill-${version}`) {
      await fs.promises.rm(path.join(serverDir, entry), { recursive: true, force: true });
    }
  }
  return dest;
}
