// Settings: which `quill.*` keys go to the server (as initializationOptions and with
// workspace/didChangeConfiguration) and which only this extension reads.
//
// The server's keys must agree with `quill serve`'s `settingKeys` (quill/status), with
// package.json's `contributes.configuration` and with the table in quill's README; tests
// check all three.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { InlineTrigger } from './inline';

/** Every server setting, as the server names it (`quill.<key>` in VS Code). */
export const SERVER_KEYS = [
  'model',
  'backend',
  'threads',
  'gpuLayers',
  'contextSize',
  'flashAttention',
  'maxTokens',
  'prefixTokens',
  'suffixTokens',
  'contextTokens',
  'debounceMs',
  'languages',
  'warmup',
  'reviewOnSave',
  'nextEdits',
  'firstLine',
  'prefetch',
  'timeBudgetMs',
  'draftTokens',
  'candidates',
  'rankBy',
] as const;

export type ServerKey = (typeof SERVER_KEYS)[number];

/** Settings only the extension reads; never sent to the server. */
export const CLIENT_ONLY_KEYS = [
  'path',
  'serverArgs',
  'clientDebounceMs',
  'inlineCompletions',
  'inlineTrigger',
  'trace.server',
] as const;

/** Server keys that accept `null` (back to the server's default). For the others (e.g.
 *  `threads`, whose default depends on the machine) an unset value is left out, and going
 *  back to unset needs a new server process. */
export const NULLABLE_KEYS: readonly ServerKey[] = ['model', 'backend', 'languages'];

/** Keys whose change makes the server reload the model. */
export const RELOAD_KEYS: readonly ServerKey[] = ['model', 'backend', 'threads', 'gpuLayers', 'contextSize'];

/** Client keys whose change needs a new server process. */
export const RESTART_KEYS = ['path', 'serverArgs'] as const;

/** What reads a setting: `vscode.workspace.getConfiguration('quill')` or a plain map. */
export interface SettingsSource {
  get<T>(key: string): T | undefined;
}

export type ServerSettings = Partial<Record<ServerKey, unknown>>;

/** The server settings to send: every key with a value; `null`/unset keys are left out so
 *  the server keeps its own default. */
export function serverSettings(source: SettingsSource): ServerSettings {
  const out: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    const value = source.get<unknown>(key);
    if (value === null || value === undefined) {
      continue;
    }
    if (key === 'model' && typeof value === 'string' && value.trim() === '') {
      continue;
    }
    out[key] = value;
  }
  return out;
}

/** The extension's own settings. */
export interface ClientSettings {
  path: string;
  serverArgs: string[];
  clientDebounceMs: number;
  inlineCompletions: boolean;
  /** 'manual': ghost text only when asked for (Alt+\). */
  inlineTrigger: InlineTrigger;
}

export function clientSettings(source: SettingsSource): ClientSettings {
  const path = source.get<string>('path');
  const args = source.get<unknown>('serverArgs');
  const debounce = source.get<unknown>('clientDebounceMs');
  return {
    path: typeof path === 'string' && path.trim() !== '' ? path.trim() : 'quill',
    serverArgs: Array.isArray(args) ? args.filter((a): a is string => typeof a === 'string') : [],
    clientDebounceMs:
      typeof debounce === 'number' && Number.isFinite(debounce) ? Math.max(0, Math.min(5000, debounce)) : 75,
    inlineCompletions: source.get<boolean>('inlineCompletions') !== false,
    inlineTrigger: source.get<unknown>('inlineTrigger') === 'manual' ? 'manual' : 'automatic',
  };
}

/** What a settings change needs. */
export interface SettingsChange {
  /** The server settings to send with didChangeConfiguration (only the changed keys), or
   *  undefined when no server setting changed. */
  send?: ServerSettings;
  /** The server must be restarted: its command line changed, or a key the server takes no
   *  `null` for went back to unset. */
  restart: boolean;
  /** The model will reload. */
  reload: boolean;
}

export function settingsChange(
  before: ServerSettings,
  after: ServerSettings,
  clientBefore: ClientSettings,
  clientAfter: ClientSettings,
): SettingsChange {
  const changed: ServerSettings = {};
  let restart = false;
  let reload = false;
  for (const key of SERVER_KEYS) {
    const a = before[key];
    const b = after[key];
    if (JSON.stringify(a) === JSON.stringify(b)) {
      continue;
    }
    if (b === undefined) {
      if (!NULLABLE_KEYS.includes(key)) {
        restart = true;
        continue;
      }
      changed[key] = null;
    } else {
      changed[key] = b;
    }
    if (RELOAD_KEYS.includes(key)) {
      reload = true;
    }
  }
  if (
    clientBefore.path !== clientAfter.path ||
    JSON.stringify(clientBefore.serverArgs) !== JSON.stringify(clientAfter.serverArgs)
  ) {
    restart = true;
  }
  return {
    send: Object.keys(changed).length > 0 ? changed : undefined,
    restart,
    reload,
  };
}

/** A short display name for a model: a manifest name as is, a GGUF path by its file name. */
export function modelLabel(model: string | undefined | null): string {
  if (!model) {
    return 'quill';
  }
  const base = model.split(/[\\/]/).pop() ?? model;
  return base.replace(/\.gguf$/i, '');
}

/** Expands `~` at the start of a path. */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? os.homedir() + p.slice(1) : p;
}

/** Where `command` runs from: a path as is (when executable), a bare name looked up on
 *  `PATH`. Undefined when there is no such executable. */
export function findExecutable(
  command: string,
  envPath = process.env.PATH ?? '',
  isExecutable: (p: string) => boolean = defaultIsExecutable,
): string | undefined {
  if (command.includes('/') || command.includes('\\')) {
    return isExecutable(command) ? command : undefined;
  }
  const exts = process.platform === 'win32' ? ['', '.exe', '.cmd'] : [''];
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    for (const ext of exts) {
      const candidate = path.join(dir, command + ext);
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

function defaultIsExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
