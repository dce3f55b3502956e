// Reading package.json and quill's README for the agreement tests (shared with the server
// tests).
import * as fs from 'fs';
import * as path from 'path';

export const EXTENSION_ROOT = path.resolve(__dirname, '..', '..', '..');
export const REPO_ROOT = path.resolve(EXTENSION_ROOT, '..', '..');

export interface ConfigProperty {
  type?: string | string[];
  default?: unknown;
  markdownDescription?: string;
}

export interface Manifest {
  main: string;
  contributes: {
    commands: { command: string; title: string }[];
    configuration: { title: string; properties: Record<string, ConfigProperty> }[];
  };
}

export function manifest(): Manifest {
  return JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, 'package.json'), 'utf8')) as Manifest;
}

/** Every `quill.*` setting in package.json, by key without the prefix. */
export function manifestSettings(): Map<string, ConfigProperty & { section: string }> {
  const out = new Map<string, ConfigProperty & { section: string }>();
  for (const section of manifest().contributes.configuration) {
    for (const [key, prop] of Object.entries(section.properties)) {
      out.set(key.replace(/^quill\./, ''), { ...prop, section: section.title });
    }
  }
  return out;
}

/** The rows of the "### Settings" table in quill's README: key → default column. */
export function readmeSettings(readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')): Map<string, string> {
  const start = readme.indexOf('### Settings');
  if (start < 0) {
    throw new Error('README.md has no "### Settings" section');
  }
  const rest = readme.slice(start + '### Settings'.length);
  const end = rest.search(/\n#{1,3} /);
  const section = end < 0 ? rest : rest.slice(0, end);
  const out = new Map<string, string>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|\s*([^|]*)\|/.exec(line);
    if (m) {
      out.set(m[1], m[2].trim());
    }
  }
  return out;
}

/** A README default, as the JSON value package.json should have (null: machine-dependent
 *  or "all"). */
export function readmeDefault(text: string): unknown {
  const t = text.replace(/`/g, '').trim();
  if (/^-?\d+$/.test(t)) {
    return Number(t);
  }
  if (t === 'null') {
    return null;
  }
  if (t === 'true' || t === 'false') {
    return t === 'true';
  }
  if (/^(all|physical cores|by build)\b/.test(t)) {
    return null;
  }
  return t;
}
