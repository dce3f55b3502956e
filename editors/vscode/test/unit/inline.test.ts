import * as assert from 'assert';
import type * as vscode from 'vscode';
import { delay, inlineMiddleware, wanted, type InlineTrigger } from '../../src/inline';
import { CancellationTokenSource, InlineCompletionTriggerKind, Position } from '../mock/vscode';

const doc = {} as vscode.TextDocument;
const pos = new Position(0, 0) as unknown as vscode.Position;
const automatic = { triggerKind: InlineCompletionTriggerKind.Automatic } as unknown as vscode.InlineCompletionContext;
const invoke = { triggerKind: InlineCompletionTriggerKind.Invoke } as unknown as vscode.InlineCompletionContext;

function setup(debounceMs: number, enabled = true, trigger: InlineTrigger = 'automatic') {
  let busy = 0;
  let maxBusy = 0;
  let settled = 0;
  const mw = inlineMiddleware({
    debounceMs: () => debounceMs,
    enabled: () => enabled,
    trigger: () => trigger,
    settled: () => {
      settled += 1;
    },
    busy: () => {
      busy += 1;
      maxBusy = Math.max(maxBusy, busy);
      return () => {
        busy -= 1;
      };
    },
  });
  return { mw, busy: () => busy, maxBusy: () => maxBusy, settled: () => settled };
}

describe('inline completions middleware', () => {
  it('waits the debounce, then asks the server and marks quill busy meanwhile', async () => {
    const s = setup(30);
    const cts = new CancellationTokenSource();
    const calls: number[] = [];
    const t0 = Date.now();
    const result = await s.mw(doc, pos, automatic, cts.token as unknown as vscode.CancellationToken, async () => {
      calls.push(Date.now() - t0);
      assert.strictEqual(s.busy(), 1, 'busy while the request runs');
      return [{ insertText: 'x' } as vscode.InlineCompletionItem];
    });
    assert.strictEqual(calls.length, 1);
    assert.ok(calls[0] >= 25, `asked after ${calls[0]} ms`);
    assert.deepStrictEqual(result, [{ insertText: 'x' }]);
    assert.strictEqual(s.busy(), 0);
  });

  it('typing on during the debounce sends no request', async () => {
    const s = setup(200);
    const cts = new CancellationTokenSource();
    let asked = false;
    const pending = s.mw(doc, pos, automatic, cts.token as unknown as vscode.CancellationToken, async () => {
      asked = true;
      return [];
    });
    setTimeout(() => cts.cancel(), 10);
    const t0 = Date.now();
    assert.strictEqual(await pending, null);
    assert.ok(Date.now() - t0 < 150, 'the wait ends at once when cancelled');
    assert.strictEqual(asked, false);
    assert.strictEqual(s.maxBusy(), 0);
  });

  it('a request cancelled in flight answers null and clears busy', async () => {
    const s = setup(0);
    const cts = new CancellationTokenSource();
    const result = await s.mw(doc, pos, automatic, cts.token as unknown as vscode.CancellationToken, async (_d, _p, _c, token) => {
      cts.cancel();
      assert.ok(token.isCancellationRequested, 'the same token reaches the language client');
      return [{ insertText: 'late' } as vscode.InlineCompletionItem];
    });
    assert.strictEqual(result, null);
    assert.strictEqual(s.busy(), 0);
  });

  it('an explicit request (Alt+\\) does not wait; errors still clear busy', async () => {
    const s = setup(10_000);
    const cts = new CancellationTokenSource();
    const t0 = Date.now();
    await s.mw(doc, pos, invoke, cts.token as unknown as vscode.CancellationToken, async () => []);
    assert.ok(Date.now() - t0 < 1000);
    await assert.rejects(
      Promise.resolve(
        s.mw(doc, pos, invoke, cts.token as unknown as vscode.CancellationToken, async () => {
          throw new Error('boom');
        }),
      ),
      /boom/,
    );
    assert.strictEqual(s.busy(), 0);
  });

  it('turned off: no request', async () => {
    const s = setup(0, false);
    const cts = new CancellationTokenSource();
    let asked = false;
    const r = await s.mw(doc, pos, invoke, cts.token as unknown as vscode.CancellationToken, async () => {
      asked = true;
      return [];
    });
    assert.strictEqual(r, null);
    assert.strictEqual(asked, false);
  });

  it('manual trigger: typing (Automatic) asks nothing, Alt+\\ (Invoke) is answered at once', async () => {
    const s = setup(10_000, true, 'manual');
    const cts = new CancellationTokenSource();
    const asked: number[] = [];
    const next = async (_d: unknown, _p: unknown, c: vscode.InlineCompletionContext) => {
      asked.push(c.triggerKind as number);
      return [{ insertText: 'x' } as vscode.InlineCompletionItem];
    };
    const t0 = Date.now();
    assert.strictEqual(await s.mw(doc, pos, automatic, cts.token as unknown as vscode.CancellationToken, next), null);
    assert.ok(Date.now() - t0 < 1000, 'no debounce wait for a request that is not sent');
    assert.deepStrictEqual(asked, []);
    assert.strictEqual(s.maxBusy(), 0, 'never busy');
    assert.strictEqual(s.settled(), 0, 'nothing reached the server');
    const r = await s.mw(doc, pos, invoke, cts.token as unknown as vscode.CancellationToken, next);
    assert.ok(Date.now() - t0 < 1000, 'an explicit request does not wait');
    assert.deepStrictEqual(r, [{ insertText: 'x' }]);
    assert.deepStrictEqual(asked, [InlineCompletionTriggerKind.Invoke]);
    assert.strictEqual(s.settled(), 1, 'settled once the answer came');
  });

  it('wanted: which trigger kinds reach the server', () => {
    const { Invoke, Automatic } = InlineCompletionTriggerKind;
    assert.strictEqual(wanted(Automatic, true, 'automatic'), true);
    assert.strictEqual(wanted(Invoke, true, 'automatic'), true);
    assert.strictEqual(wanted(Automatic, true, 'manual'), false);
    assert.strictEqual(wanted(Invoke, true, 'manual'), true);
    assert.strictEqual(wanted(Invoke, false, 'automatic'), false, 'quill.inlineCompletions off: nothing at all');
    assert.strictEqual(wanted(Invoke, false, 'manual'), false);
  });

  it('settled: after an answer, an error and a cancellation in flight; not for a request never sent', async () => {
    const s = setup(0);
    const ok = new CancellationTokenSource();
    await s.mw(doc, pos, automatic, ok.token as unknown as vscode.CancellationToken, async () => []);
    assert.strictEqual(s.settled(), 1);
    await assert.rejects(
      Promise.resolve(
        s.mw(doc, pos, invoke, ok.token as unknown as vscode.CancellationToken, async () => {
          throw new Error('boom');
        }),
      ),
    );
    assert.strictEqual(s.settled(), 2);
    const cts = new CancellationTokenSource();
    await s.mw(doc, pos, automatic, cts.token as unknown as vscode.CancellationToken, async () => {
      cts.cancel();
      return [];
    });
    assert.strictEqual(s.settled(), 3);
    const slow = setup(200);
    const early = new CancellationTokenSource();
    const pending = slow.mw(doc, pos, automatic, early.token as unknown as vscode.CancellationToken, async () => []);
    early.cancel();
    await pending;
    assert.strictEqual(slow.settled(), 0);
  });

  it('delay: already cancelled, zero, and elapsed', async () => {
    const cts = new CancellationTokenSource();
    assert.strictEqual(await delay(0, cts.token as unknown as vscode.CancellationToken), true);
    assert.strictEqual(await delay(5, cts.token as unknown as vscode.CancellationToken), true);
    cts.cancel();
    assert.strictEqual(await delay(5, cts.token as unknown as vscode.CancellationToken), false);
  });
});
