// Runs a real `quill serve` and talks LSP to it over stdio with vscode-languageserver-protocol,
// as the extension's language client does.
import { spawn, type ChildProcessWithoutNullStreams } from 'child_process';
import * as fs from 'fs';
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol/node';
import type { InitializeResult } from 'vscode-languageserver-protocol';

export const QUILL_BIN = process.env.QUILL_BIN || '/work/main/target/debug/quill';
/** The fast model the tests use. */
export const TEST_MODEL = process.env.QUILL_TEST_MODEL || 'qwen2.5-coder-0.5b-instruct-q4_k_m';

export interface Progress {
  token: string | number;
  value: { kind: string; title?: string; percentage?: number; message?: string; cancellable?: boolean };
}

export class Quill {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly conn: ProtocolConnection;
  readonly messages: { type: number; message: string }[] = [];
  readonly progress: Progress[] = [];
  readonly created: (string | number)[] = [];
  readonly diagnostics: { uri: string; diagnostics: unknown[] }[] = [];
  readonly applied: unknown[] = [];
  stderr = '';
  private progressListeners: ((p: Progress) => void)[] = [];

  constructor(args: string[] = []) {
    if (!fs.existsSync(QUILL_BIN)) {
      throw new Error(`no quill binary at ${QUILL_BIN} (set QUILL_BIN)`);
    }
    this.proc = spawn(QUILL_BIN, ['serve', '--stdio', ...args], { stdio: 'pipe' });
    this.proc.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 200_000) {
        this.stderr = this.stderr.slice(-100_000);
      }
    });
    this.conn = createProtocolConnection(new StreamMessageReader(this.proc.stdout), new StreamMessageWriter(this.proc.stdin));
    this.conn.onNotification('window/showMessage', (p: { type: number; message: string }) => {
      this.messages.push(p);
    });
    this.conn.onNotification('window/logMessage', () => undefined);
    this.conn.onNotification('textDocument/publishDiagnostics', (p: { uri: string; diagnostics: unknown[] }) => {
      this.diagnostics.push(p);
    });
    this.conn.onRequest('window/workDoneProgress/create', (p: { token: string | number }) => {
      this.created.push(p.token);
      return null;
    });
    this.conn.onRequest('workspace/applyEdit', (p: unknown) => {
      this.applied.push(p);
      return { applied: true };
    });
    this.conn.onRequest('window/showDocument', () => ({ success: true }));
    this.conn.onNotification('$/progress', (p: Progress) => {
      this.progress.push(p);
      for (const l of this.progressListeners) {
        l(p);
      }
    });
    this.conn.listen();
  }

  onProgress(listener: (p: Progress) => void): void {
    this.progressListeners.push(listener);
  }

  async initialize(initializationOptions: unknown): Promise<InitializeResult> {
    const result = await this.conn.sendRequest<InitializeResult>('initialize', {
      processId: process.pid,
      rootUri: null,
      workspaceFolders: null,
      clientInfo: { name: 'quill-vscode-tests' },
      // What vscode-languageclient 9 declares (the parts quill reads), with its proposed
      // inline completion feature registered.
      capabilities: {
        general: { positionEncodings: ['utf-16'] },
        window: { workDoneProgress: true, showDocument: { support: true } },
        workspace: { applyEdit: true, executeCommand: { dynamicRegistration: true } },
        textDocument: {
          inlineCompletion: { dynamicRegistration: true },
          codeAction: { dynamicRegistration: true, resolveSupport: { properties: ['edit', 'command'] } },
          synchronization: { dynamicRegistration: true, didSave: true },
        },
      },
      initializationOptions,
    });
    await this.conn.sendNotification('initialized', {});
    return result;
  }

  status(): Promise<QuillStatus> {
    return this.conn.sendRequest<QuillStatus>('quill/status', null);
  }

  /** Polls quill/status until the model is ready (or failed). */
  async waitReady(timeoutMs = 90_000): Promise<QuillStatus> {
    const t0 = Date.now();
    for (;;) {
      const s = await this.status();
      if (s.state === 'ready') {
        return s;
      }
      if (s.state.startsWith('failed') || (s.state === 'none' && Date.now() - t0 > 10_000)) {
        throw new Error(`the model did not load: ${s.state}\n${this.stderr.slice(-2000)}`);
      }
      if (Date.now() - t0 > timeoutMs) {
        throw new Error(`the model is still ${s.state} after ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async open(uri: string, languageId: string, text: string, version = 1): Promise<void> {
    await this.conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version, text } });
  }

  async stop(): Promise<void> {
    try {
      await Promise.race([this.conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 3000))]);
      await this.conn.sendNotification('exit');
    } catch {
      // already gone
    }
    await new Promise<void>((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.proc.kill('SIGKILL');
      }, 5000);
      this.proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.conn.dispose();
  }
}

export interface QuillStatus {
  version: string;
  model: { name: string; info: unknown } | null;
  state: string;
  documents: number;
  positionEncoding: string;
  lastCompletion: unknown;
  settingKeys: string[];
  commands: string[];
}

/** Threads for the test model. One by default: on a small shared machine llama.cpp's
 *  threads wait on each other when another process takes a core, and latencies jump tenfold. */
export const TEST_THREADS = Number(process.env.QUILL_TEST_THREADS || 1);
