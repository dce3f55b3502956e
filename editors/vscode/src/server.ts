// Starts `quill serve` with vscode-languageclient, keeps the status bar in step with it, and
// restarts it with a backoff when it dies.

import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  LanguageClient,
  State,
  TransportKind,
  type CloseHandlerResult,
  type ErrorHandlerResult,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { Backoff } from './backoff';
import {
  SERVER_VERSION,
  bundledPath,
  downloadServer,
  explicitPath,
  findServer,
  makeExecutable,
  releaseAvailable,
  releaseTarget,
  releaseUrl,
  type FoundServer,
} from './binary';
import type { QuillApi } from './commands';
import { Grow, SUGGESTION_READY } from './grow';
import { inlineMiddleware } from './inline';
import { NEXT_EDIT, NextEdits } from './nextEdit';
import { QuillProgressFeature, type ProgressClient } from './progress';
import {
  clientSettings,
  expandHome,
  modelLabel,
  serverSettings,
  settingsChange,
  type ClientSettings,
  type ServerSettings,
} from './settings';
import { describeLastCompletion, parseState, type QuillStatus } from './quillStatus';
import type { StatusBar } from './status';

export interface ServerHooks {
  /** executeCommand / window.showDocument middleware (see middleware.ts). */
  executeCommand: NonNullable<LanguageClientOptions['middleware']>['executeCommand'];
  showDocument: NonNullable<NonNullable<LanguageClientOptions['middleware']>['window']>['showDocument'];
  /** The server runs without a model (not downloaded, bad name or path). */
  noModel?: (configured: string) => void;
}

/** Where the extension may find or put a server binary (see binary.ts). */
export interface ServerDirs {
  /** The extension's folder: a platform-specific .vsix carries `server/quill` there. */
  extensionDir?: string;
  /** The extension's global storage: a downloaded server goes there. */
  storageDir?: string;
}

/** How long after completions the status is asked again while their timings have not come. */
const AWAIT_TIMINGS_MS = 30_000;

const SOURCE_LABEL: Record<FoundServer['source'], string> = {
  setting: 'quill.path',
  bundled: 'bundled with the extension',
  path: 'on PATH',
  downloaded: 'downloaded by the extension',
};

export class QuillServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly backoff = new Backoff();
  private sent: ServerSettings = {};
  private clientCfg: ClientSettings;
  private stopping = false;
  private wake: (() => void) | undefined;
  private poll: NodeJS.Timeout | undefined;
  /** After completions: the `lastCompletion` seen before them, and until when to ask again
   *  while it stays the same (a generation answered early records its timings at its end). */
  private awaitingTimings: { before: string; until: number } | undefined;
  private lastTimings = 'null';
  private runningSince = 0;
  private toldNoModel = false;
  private found: FoundServer | undefined;
  private downloading = false;
  private readonly disposables: vscode.Disposable[] = [];
  /** Growing ghost text: re-asks on quill/suggestionReady (grow.ts). */
  private readonly grow: Grow;
  /** Next-edit suggestions: quill/nextEdit shown, Tab to go there and apply (nextEdit.ts). */
  private readonly nextEdits: NextEdits;

  constructor(
    private readonly status: StatusBar,
    private readonly output: vscode.LogOutputChannel,
    private readonly hooks: ServerHooks,
    private readonly dirs: ServerDirs = {},
  ) {
    this.clientCfg = clientSettings(this.config());
    this.grow = new Grow({
      enabled: () => this.clientCfg.inlineCompletions,
      budgetMs: () => {
        const ms = this.config().get<unknown>('timeBudgetMs');
        return typeof ms === 'number' ? ms : 0;
      },
      log: (line) => this.output.appendLine(line),
    });
    this.nextEdits = new NextEdits({
      enabled: () => this.config().get<unknown>('nextEdits') !== false,
      api: () => this.api(),
      log: (line) => this.output.appendLine(line),
    });
    this.disposables.push(
      this.grow,
      this.nextEdits,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('quill')) {
          void this.configurationChanged();
        }
      }),
    );
  }

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration('quill');
  }

  /** The server as the commands see it, while it runs. */
  api(): QuillApi | undefined {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      return undefined;
    }
    return {
      request: <R>(method: string, params: unknown, token?: vscode.CancellationToken) =>
        token ? client.sendRequest<R>(method, params, token) : client.sendRequest<R>(method, params),
      uri: (uri: vscode.Uri) => client.code2ProtocolConverter.asUri(uri),
    };
  }

  configuredModel(): string {
    return this.config().get<string>('model') || 'qwen2.5-coder-1.5b-instruct-q4_k_m';
  }

  /** The executable in use (or about to be): the one found, else what quill.path says. */
  quillPath(): string {
    return this.found?.path ?? expandHome(this.clientCfg.path);
  }

  /** Finds the executable: quill.path when set, else the bundled one, `quill` on PATH, a
   *  downloaded one (binary.ts). */
  private findServer(): FoundServer | undefined {
    if (this.dirs.extensionDir) {
      makeExecutable(bundledPath(this.dirs.extensionDir));
    }
    return findServer({
      configured: expandHome(this.clientCfg.path),
      extensionDir: this.dirs.extensionDir,
      storageDir: this.dirs.storageDir,
    });
  }

  async start(): Promise<void> {
    this.clientCfg = clientSettings(this.config());
    this.sent = serverSettings(this.config());
    this.status.setModel(modelLabel(this.configuredModel()));
    this.status.setState({ kind: 'starting' });
    this.stopping = false;
    this.found = this.findServer();
    if (!this.found) {
      await this.notFound();
      return;
    }
    this.output.appendLine(`quill: starting ${this.found.path} (${SOURCE_LABEL[this.found.source]})`);
    const client = this.createClient();
    this.client = client;
    try {
      await client.start();
    } catch (e) {
      if (this.client !== client) {
        return;
      }
      const message = e instanceof Error ? e.message : String(e);
      this.cannotStart(
        /ENOENT/.test(message)
          ? `cannot find "${this.clientCfg.path}". Install quill or set quill.path.`
          : `the server did not start: ${message}`,
      );
    }
  }

  /** No executable: say so, or offer to download a release binary when the user has not
   *  named one, this platform has releases and the release folder holds one. Until quill is
   *  published (the default release address is a placeholder), there is nothing to
   *  download: the user is told so and pointed at the install instructions instead of an
   *  offer that fails after the click. */
  private async notFound(): Promise<void> {
    const target = releaseTarget();
    if (explicitPath(this.clientCfg.path) || !target || !this.dirs.storageDir) {
      this.cannotStart(`cannot find "${this.clientCfg.path}". Install quill or set quill.path.`);
      return;
    }
    const url = releaseUrl();
    this.status.setState({ kind: 'down', reason: 'quill is not installed' });
    const release = await releaseAvailable(url, target);
    if (!release.ok) {
      this.output.appendLine(
        `quill: no quill executable (bundled, on PATH or downloaded), and no release to download at ${url}: ${release.why}`,
      );
      void vscode.window
        .showWarningMessage(
          `quill: the quill server is not installed (not on PATH), and there is no quill ${SERVER_VERSION} release ` +
            `for ${target} to download yet. Build it from source and put it on PATH, or set quill.path.`,
          'How to Install',
          'Open Settings',
        )
        .then((choice) => {
          if (choice === 'How to Install') {
            void this.showInstructions();
          } else if (choice === 'Open Settings') {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'quill.path');
          }
        });
      return;
    }
    this.output.appendLine(`quill: no quill executable (bundled, on PATH or downloaded); offering ${url}`);
    void vscode.window
      .showInformationMessage(
        `quill: the quill server is not installed (not on PATH). Download quill ${SERVER_VERSION} for ${target}?`,
        'Download',
        'Open Settings',
      )
      .then((choice) => {
        if (choice === 'Download') {
          void this.download(url, target);
        } else if (choice === 'Open Settings') {
          void vscode.commands.executeCommand('workbench.action.openSettings', 'quill.path');
        }
      });
  }

  /** The extension's README (its Install section says how to build and install the
   *  server), rendered; the extension's page where the Markdown preview is missing. vsce
   *  packs README.md as `readme.md`; a checkout (the development host) has `README.md`. */
  private async showInstructions(): Promise<void> {
    const dir = this.dirs.extensionDir;
    const readme = dir && ['readme.md', 'README.md'].map((name) => path.join(dir, name)).find((p) => fs.existsSync(p));
    if (readme) {
      try {
        await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(readme));
        return;
      } catch {
        // no Markdown preview: the extension's page shows the README too
      }
    }
    await vscode.commands.executeCommand('extension.open', 'quill.quill-vscode');
  }

  /** Downloads the release binary into global storage (checked against SHA256SUMS), then
   *  starts it. */
  async download(url = releaseUrl(), target = releaseTarget()): Promise<void> {
    const storageDir = this.dirs.storageDir;
    if (this.downloading || !storageDir || !target) {
      return;
    }
    this.downloading = true;
    this.status.setState({ kind: 'starting' });
    try {
      const dest = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'quill: downloading the server' },
        (progress) =>
          downloadServer({ baseUrl: url, target, storageDir, progress: (message) => progress.report({ message }) }),
      );
      this.output.appendLine(`quill: downloaded ${url} → ${dest} (sha256 checked)`);
    } catch (e) {
      this.cannotStart(`downloading the server from ${url} failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    } finally {
      this.downloading = false;
    }
    if (!this.stopping) {
      await this.start();
    }
  }

  private cannotStart(why: string): void {
    this.status.setState({ kind: 'down', reason: why });
    this.output.appendLine(`quill: ${why}`);
    void vscode.window.showErrorMessage(`quill: ${why}`, 'Open Settings', 'Show Log').then((choice) => {
      if (choice === 'Open Settings') {
        void vscode.commands.executeCommand('workbench.action.openSettings', 'quill.path');
      } else if (choice === 'Show Log') {
        this.output.show(true);
      }
    });
  }

  private createClient(): LanguageClient {
    const cfg = this.clientCfg;
    const command = this.quillPath();
    const args = ['serve', ...cfg.serverArgs];
    const serverOptions: ServerOptions = {
      run: { command, args, transport: TransportKind.stdio },
      debug: { command, args, transport: TransportKind.stdio },
    };
    const inline = inlineMiddleware({
      debounceMs: () => this.clientCfg.clientDebounceMs,
      enabled: () => this.clientCfg.inlineCompletions,
      trigger: () => this.clientCfg.inlineTrigger,
      busy: () => this.status.busy('completing'),
      // The timings of the completion just made (and whether a backend answered) for the
      // tooltip: one quill/status shortly after a burst of completions.
      settled: () => {
        this.awaitingTimings = { before: this.lastTimings, until: Date.now() + AWAIT_TIMINGS_MS };
        this.refreshStatusSoon();
      },
      answered: (document, version, position, shown) => this.grow.onAnswered(document, version, position, shown),
    });
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      traceOutputChannel: this.output,
      initializationOptions: () => serverSettings(this.config()),
      initializationFailedHandler: () => false,
      errorHandler: {
        error: (): ErrorHandlerResult => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => this.closed(),
      },
      middleware: {
        provideInlineCompletionItems: inline,
        executeCommand: this.hooks.executeCommand,
        window: { showDocument: this.hooks.showDocument },
      },
    };
    const client = new LanguageClient('quill', 'quill', serverOptions, clientOptions);
    // Ghost text: the client's own InlineCompletionItemFeature (textDocument/inlineCompletion,
    // LSP 3.18), a proposed feature in vscode-languageclient 9. It declares the
    // `textDocument.inlineCompletion` capability, so the server offers no classic completion,
    // and it is the only inline provider this extension registers.
    client.registerProposedFeatures();
    // Growing ghost text: the whole suggestion is ready where a partial one was shown.
    client.onNotification(SUGGESTION_READY, (params: unknown) => {
      if (this.client === client) {
        void this.grow.ready(params, (uri) => client.protocol2CodeConverter.asUri(uri).toString());
        // The generation behind a partial answer has ended: its timings are the server's
        // lastCompletion now (the tooltip).
        this.refreshStatusSoon();
      }
    });
    // Next-edit suggestions pushed when typing pauses.
    client.onNotification(NEXT_EDIT, (params: unknown) => {
      if (this.client === client) {
        this.nextEdits.received(params, (uri) => client.protocol2CodeConverter.asUri(uri).toString());
      }
    });
    // After the built-in progress feature: the model's loading goes to the status bar.
    client.registerFeature(
      new QuillProgressFeature(client as unknown as ProgressClient, {
        loading: (model, percent) => {
          if (this.client === client) {
            this.status.setModel(modelLabel(model));
            this.status.setState({ kind: 'loading', percent });
          }
        },
        loaded: () => {
          if (this.client === client) {
            void this.refreshStatus();
          }
        },
        work: (title) => this.status.busy(title.replace(/^quill:\s*/i, '').toLowerCase() || 'working'),
      }),
    );
    client.onDidChangeState((e) => {
      if (this.client !== client) {
        return;
      }
      if (e.newState === State.Running) {
        this.backoff.started();
        this.runningSince = Date.now();
        this.toldNoModel = false;
        void this.refreshStatus();
      } else if (e.newState === State.Stopped && this.stopping) {
        this.status.setState({ kind: 'down', reason: 'stopped' });
      }
    });
    return client;
  }

  /** The connection closed without a stop: restart after a backoff (awaited by the client). */
  private async closed(): Promise<CloseHandlerResult> {
    if (this.stopping) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const decision = this.backoff.crashed();
    if (decision.first) {
      void vscode.window
        .showWarningMessage(
          'quill: the server stopped unexpectedly. It will be restarted automatically (see the quill output for why).',
          'Show Log',
        )
        .then((choice) => {
          if (choice) {
            this.output.show(true);
          }
        });
    }
    if (!decision.restart) {
      const reason = `it crashed ${decision.crashes} times in a row`;
      this.status.setState({ kind: 'down', reason: `${reason}; run "quill: Restart Server"` });
      void vscode.window.showErrorMessage(`quill: the server is down (${reason}).`, 'Restart Server').then((c) => {
        if (c) {
          void this.restart();
        }
      });
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    this.output.appendLine(`quill: the server stopped; restarting in ${decision.delayMs} ms (crash ${decision.crashes})`);
    this.status.setState({ kind: 'down', reason: 'the server stopped', retryInMs: decision.delayMs });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, decision.delayMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
    if (this.stopping) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    this.status.setState({ kind: 'starting' });
    return { action: CloseAction.Restart, handled: true };
  }

  /** refreshStatus in a moment; requests in the meantime push it back. */
  private refreshStatusSoon(delayMs = 300): void {
    if (!this.client || this.client.state !== State.Running) {
      return;
    }
    clearTimeout(this.poll);
    this.poll = setTimeout(() => void this.refreshStatus(), delayMs);
  }

  /** Asks the server how it is, and shows it (state, last completion). Polls while the
   *  model loads. */
  async refreshStatus(): Promise<QuillStatus | undefined> {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      return undefined;
    }
    clearTimeout(this.poll);
    try {
      const s = await client.sendRequest<QuillStatus>('quill/status', null);
      if (this.client !== client) {
        return s;
      }
      if (s.model?.name) {
        this.status.setModel(modelLabel(s.model.name));
      }
      if (s.state === 'none' && Date.now() - this.runningSince < 3000) {
        // The model starts just after `initialized`: give it a moment.
        this.poll = setTimeout(() => void this.refreshStatus(), 500);
        return s;
      }
      const state = parseState(s.state);
      this.status.setDetail(describeLastCompletion(s.lastCompletion).join('\n'));
      this.status.setState(state);
      this.lastTimings = JSON.stringify(s.lastCompletion ?? null);
      if (state.kind === 'loading') {
        this.poll = setTimeout(() => void this.refreshStatus(), 1000);
      } else if (this.awaitingTimings) {
        if (this.lastTimings === this.awaitingTimings.before && Date.now() < this.awaitingTimings.until) {
          this.poll = setTimeout(() => void this.refreshStatus(), 1000);
        } else {
          this.awaitingTimings = undefined;
        }
      }
      if (s.state === 'none' && !this.toldNoModel) {
        // The server said why (window/showMessage); offer the way out once per server.
        this.toldNoModel = true;
        this.hooks.noModel?.(this.configuredModel());
      }
      return s;
    } catch (e) {
      this.output.appendLine(`quill: quill/status failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  private async configurationChanged(): Promise<void> {
    const nextServer = serverSettings(this.config());
    const nextClient = clientSettings(this.config());
    const change = settingsChange(this.sent, nextServer, this.clientCfg, nextClient);
    this.clientCfg = nextClient;
    if (change.restart) {
      await this.restart();
      return;
    }
    if (!change.send) {
      return;
    }
    this.sent = nextServer;
    const client = this.client;
    if (client && client.state === State.Running) {
      await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { quill: change.send } });
      if (change.reload) {
        this.status.setModel(modelLabel(this.configuredModel()));
        this.status.setState({ kind: 'loading' });
        setTimeout(() => void this.refreshStatus(), 500);
      }
    }
  }

  /** Stops the server (if running) and starts a new one. */
  async restart(): Promise<void> {
    this.backoff.reset();
    if (this.wake) {
      // Waiting out a backoff: restart now.
      this.wake();
      return;
    }
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.poll);
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        if (client.state === State.Running || client.state === State.Starting) {
          await client.stop(3000);
        }
      } catch (e) {
        this.output.appendLine(`quill: stopping the server: ${e instanceof Error ? e.message : String(e)}`);
      }
      try {
        await client.dispose(1000);
      } catch {
        // already stopped
      }
    }
    this.status.setState({ kind: 'down', reason: 'stopped' });
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
    void this.stop();
  }
}
