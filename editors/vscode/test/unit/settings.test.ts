import * as assert from 'assert';
import {
  CLIENT_ONLY_KEYS,
  NULLABLE_KEYS,
  SERVER_KEYS,
  clientSettings,
  expandHome,
  findExecutable,
  modelLabel,
  serverSettings,
  settingsChange,
} from '../../src/settings';
import { manifestSettings, readmeDefault, readmeSettings } from './manifest';

function source(values: Record<string, unknown>) {
  return { get: <T>(key: string) => values[key] as T | undefined };
}

/** The values VS Code would give for a fresh install: package.json's defaults. */
function defaults(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, prop] of manifestSettings()) {
    out[key] = prop.default;
  }
  return out;
}

describe('settings: package.json, README and the extension agree', () => {
  it('package.json server settings are exactly SERVER_KEYS, in a separate section from the client-only ones', () => {
    const settings = manifestSettings();
    const server = [...settings.keys()].filter((k) => !(CLIENT_ONLY_KEYS as readonly string[]).includes(k));
    assert.deepStrictEqual([...server].sort(), [...SERVER_KEYS].sort());
    for (const key of CLIENT_ONLY_KEYS) {
      const prop = settings.get(key);
      assert.ok(prop, `package.json lacks quill.${key}`);
      assert.match(prop.section, /client/i, `quill.${key} must be in the client-only section`);
      if (key !== 'trace.server') {
        assert.match(prop.markdownDescription ?? '', /Client only/, `quill.${key} must say it is client only`);
      }
    }
    for (const key of SERVER_KEYS) {
      assert.match(settings.get(key)!.section, /server/i, `quill.${key} must be in the server section`);
    }
  });

  it('the README settings table lists the same keys as package.json', () => {
    const readme = readmeSettings();
    assert.deepStrictEqual([...readme.keys()].sort(), [...SERVER_KEYS].sort());
  });

  it('package.json defaults match the README defaults', () => {
    const readme = readmeSettings();
    const settings = manifestSettings();
    for (const key of SERVER_KEYS) {
      assert.deepStrictEqual(settings.get(key)!.default, readmeDefault(readme.get(key)!), `default of quill.${key}`);
    }
  });

  it('types: nullable exactly where the default is null', () => {
    for (const [key, prop] of manifestSettings()) {
      const types = Array.isArray(prop.type) ? prop.type : [prop.type];
      assert.strictEqual(types.includes('null'), prop.default === null, `quill.${key}: ${JSON.stringify(prop.type)}`);
    }
  });

  it('parses a README table', () => {
    const table = readmeSettings('# x\n### Settings\n\n| setting | default | what |\n|---|---|---|\n| `a` | 1 | x |\n| `b` | all | y |\n\n## Next\n| `c` | 2 | z |\n');
    assert.deepStrictEqual([...table.entries()], [['a', '1'], ['b', 'all']]);
    assert.strictEqual(readmeDefault('`qwen`'), 'qwen');
    assert.strictEqual(readmeDefault('all on a GPU build, else 0'), null);
  });
});

describe('settings: what is sent', () => {
  it('sends every server key with a value, never a client-only key or a null', () => {
    const sent = serverSettings(source(defaults()));
    assert.deepStrictEqual(Object.keys(sent).sort(), [...SERVER_KEYS].filter((k) => !['backend', 'threads', 'gpuLayers', 'languages'].includes(k)).sort());
    assert.strictEqual(sent.model, 'qwen2.5-coder-1.5b-instruct-q4_k_m');
    assert.strictEqual(sent.contextSize, 4096);
    assert.strictEqual(sent.warmup, true);
    assert.ok(!('path' in sent));
    const set = serverSettings(source({ ...defaults(), threads: 3, languages: ['python'], model: '  ' }));
    assert.strictEqual(set.threads, 3);
    assert.deepStrictEqual(set.languages, ['python']);
    assert.ok(!('model' in set), 'a blank model means the server default');
  });

  it('client settings: defaults and clamping', () => {
    assert.deepStrictEqual(clientSettings(source({})), {
      path: 'quill',
      serverArgs: [],
      clientDebounceMs: 75,
      inlineCompletions: true,
      inlineTrigger: 'automatic',
    });
    const c = clientSettings(
      source({ path: ' /opt/quill ', serverArgs: ['-v', 3], clientDebounceMs: 99999, inlineCompletions: false, inlineTrigger: 'manual' }),
    );
    assert.deepStrictEqual(c, {
      path: '/opt/quill',
      serverArgs: ['-v'],
      clientDebounceMs: 5000,
      inlineCompletions: false,
      inlineTrigger: 'manual',
    });
    assert.strictEqual(clientSettings(source({ inlineTrigger: 'sometimes' })).inlineTrigger, 'automatic');
  });

  it('quill.inlineTrigger: package.json offers exactly the values the extension reads', () => {
    const prop = manifestSettings().get('inlineTrigger') as { enum?: string[]; default?: unknown } | undefined;
    assert.deepStrictEqual(prop?.enum, ['automatic', 'manual']);
    assert.strictEqual(prop?.default, 'automatic');
  });

  it('a change sends only the changed keys; engine keys reload; path and unset threads restart', () => {
    const client = clientSettings(source({}));
    const before = serverSettings(source(defaults()));
    assert.deepStrictEqual(settingsChange(before, before, client, client), { send: undefined, restart: false, reload: false });
    const more = { ...before, maxTokens: 64 };
    assert.deepStrictEqual(settingsChange(before, more, client, client), { send: { maxTokens: 64 }, restart: false, reload: false });
    const model = { ...before, model: 'qwen2.5-coder-0.5b-instruct-q4_k_m' };
    assert.deepStrictEqual(settingsChange(before, model, client, client).reload, true);
    const threads = { ...before, threads: 2 };
    assert.deepStrictEqual(settingsChange(before, threads, client, client), { send: { threads: 2 }, restart: false, reload: true });
    assert.strictEqual(settingsChange(threads, before, client, client).restart, true, 'threads back to unset');
    const langs = { ...before, languages: ['python'] };
    assert.deepStrictEqual(settingsChange(langs, before, client, client).send, { languages: null });
    assert.ok(NULLABLE_KEYS.includes('languages'));
    const moved = { ...client, path: '/elsewhere/quill' };
    assert.strictEqual(settingsChange(before, before, client, moved).restart, true);
  });

  it('labels and paths', () => {
    assert.strictEqual(modelLabel('/models/My-Model.Q4.gguf'), 'My-Model.Q4');
    assert.strictEqual(modelLabel('qwen2.5-coder-0.5b-instruct-q4_k_m'), 'qwen2.5-coder-0.5b-instruct-q4_k_m');
    assert.strictEqual(modelLabel(undefined), 'quill');
    assert.ok(!expandHome('~/bin/quill').startsWith('~'));
    assert.strictEqual(expandHome('/usr/bin/quill'), '/usr/bin/quill');
  });

  it('finds the quill executable: a path as is, a name on PATH', () => {
    const present = new Set(['/opt/quill/bin/quill', '/usr/local/bin/quill']);
    const isExe = (p: string) => present.has(p);
    assert.strictEqual(findExecutable('/opt/quill/bin/quill', '', isExe), '/opt/quill/bin/quill');
    assert.strictEqual(findExecutable('/nowhere/quill', '/usr/local/bin', isExe), undefined);
    assert.strictEqual(findExecutable('quill', '/usr/bin::/usr/local/bin', isExe), '/usr/local/bin/quill');
    assert.strictEqual(findExecutable('quill', '/usr/bin', isExe), undefined);
    assert.strictEqual(findExecutable(process.execPath), process.execPath, 'the real check accepts node itself');
    assert.strictEqual(findExecutable('/etc'), undefined, 'a directory is not an executable');
  });
});
