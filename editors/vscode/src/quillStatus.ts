// `quill/status`: what the server says about itself, and what the status bar makes of it.

/** The answer to `quill/status` (params null). */
export interface QuillStatus {
  version?: string;
  model?: { name?: string; info?: unknown } | null;
  state?: string;
  documents?: number;
  positionEncoding?: string;
  lastCompletion?: unknown;
  settingKeys?: string[];
  commands?: string[];
}

/** The status bar's state for a `quill/status` state string. */
export function parseState(state: string | undefined):
  | { kind: 'loading'; percent?: number }
  | { kind: 'ready' }
  | { kind: 'failed'; reason: string } {
  const s = state ?? '';
  if (s === 'ready') {
    return { kind: 'ready' };
  }
  const loading = /^loading(?:\s+(\d+(?:\.\d+)?)%)?/.exec(s);
  if (loading) {
    return { kind: 'loading', percent: loading[1] === undefined ? undefined : Number(loading[1]) };
  }
  if (s.startsWith('failed')) {
    return { kind: 'failed', reason: s.replace(/^failed:?\s*/, '') || 'unknown error' };
  }
  if (s === 'none') {
    return { kind: 'failed', reason: 'no model loaded (is it downloaded? run "quill: Download (Pull) a Model")' };
  }
  return { kind: 'failed', reason: s || 'unknown state' };
}
