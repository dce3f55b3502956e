// `quill/status`: what the server says about itself, and what the status bar makes of it.

/** What the last completion cost (the server's `Timings`, snake_case as it sends them). */
export interface LastCompletion {
  prompt_tokens?: number;
  reused_tokens?: number;
  evaluated_tokens?: number;
  generated_tokens?: number;
  drafted_tokens?: number;
  accepted_tokens?: number;
  queue_ms?: number;
  prompt_ms?: number;
  generate_ms?: number;
}

/** The answer to `quill/status` (params null). */
export interface QuillStatus {
  version?: string;
  model?: { name?: string; info?: unknown } | null;
  state?: string;
  documents?: number;
  positionEncoding?: string;
  lastCompletion?: LastCompletion | null;
  settingKeys?: string[];
  commands?: string[];
}

/** The status bar's state for a `quill/status` state string. */
export function parseState(state: string | undefined):
  | { kind: 'loading'; percent?: number }
  | { kind: 'ready' }
  | { kind: 'failed'; reason: string }
  | { kind: 'backend'; reason: string } {
  const s = state ?? '';
  if (s === 'ready') {
    return { kind: 'ready' };
  }
  const loading = /^loading(?:\s+(\d+(?:\.\d+)?)%)?/.exec(s);
  if (loading) {
    return { kind: 'loading', percent: loading[1] === undefined ? undefined : Number(loading[1]) };
  }
  if (s.startsWith('failed')) {
    const reason = s.replace(/^failed:?\s*/, '') || 'unknown error';
    // With a `backend` set, a model that is loaded but whose inference server does not
    // answer: completions come back by themselves when it does.
    return /inference server/i.test(reason) ? { kind: 'backend', reason } : { kind: 'failed', reason };
  }
  if (s === 'none') {
    return { kind: 'failed', reason: 'no model loaded (is it downloaded? run "quill: Download (Pull) a Model")' };
  }
  return { kind: 'failed', reason: s || 'unknown state' };
}

function num(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : 0;
}

/** The tooltip lines for the last completion: latency and speed, then where the time went.
 *  Empty when there has been none. */
export function describeLastCompletion(lc: LastCompletion | null | undefined): string[] {
  if (!lc || typeof lc !== 'object') {
    return [];
  }
  const queue = num(lc.queue_ms);
  const prompt = num(lc.prompt_ms);
  const generate = num(lc.generate_ms);
  const generated = num(lc.generated_tokens);
  const total = queue + prompt + generate;
  let head = `Last completion: ${Math.round(total)} ms, ${generated} token${generated === 1 ? '' : 's'}`;
  if (generate > 0 && generated > 0) {
    head += ` at ${(generated * 1000 / generate).toFixed(1)} tokens/s`;
  }
  const promptTokens = num(lc.prompt_tokens);
  const evaluated = num(lc.evaluated_tokens);
  let detail = `prompt ${promptTokens} tokens (${num(lc.reused_tokens)} reused, ${evaluated} evaluated in ${Math.round(prompt)} ms`;
  if (prompt > 0 && evaluated > 0) {
    detail += `, ${Math.round(evaluated * 1000 / prompt)} tokens/s`;
  }
  detail += `); generating ${Math.round(generate)} ms; queued ${Math.round(queue)} ms`;
  return [head, detail];
}
