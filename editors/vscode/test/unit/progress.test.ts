import * as assert from 'assert';
import { WorkDoneProgressCancelNotification, WorkDoneProgressCreateRequest } from 'vscode-languageserver-protocol';
import { QuillProgressFeature, type ProgressClient } from '../../src/progress';
import { test as vs } from '../mock/vscode';

/* eslint-disable @typescript-eslint/no-explicit-any */
class FakeClient {
  createHandler: ((p: { token: string }) => void) | undefined;
  progress = new Map<string, (v: any) => void>();
  notifications: { method: string; params: any }[] = [];
  onRequest(type: any, handler: any) {
    assert.strictEqual(type.method, WorkDoneProgressCreateRequest.type.method);
    this.createHandler = handler;
    return { dispose: () => (this.createHandler = undefined) };
  }
  onProgress(_type: any, token: string, handler: (v: any) => void) {
    this.progress.set(token, handler);
    return { dispose: () => this.progress.delete(token) };
  }
  sendNotification(type: any, params: any) {
    this.notifications.push({ method: type.method, params });
    return Promise.resolve();
  }
  send(token: string, value: any) {
    const h = this.progress.get(token);
    assert.ok(h, `no handler for ${token}`);
    h(value);
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('progress', () => {
  beforeEach(() => vs.reset());

  function setup() {
    const client = new FakeClient();
    const events: string[] = [];
    const feature = new QuillProgressFeature(client as unknown as ProgressClient, {
      loading: (model, pct) => events.push(`loading ${model} ${pct}`),
      loaded: (model) => events.push(`loaded ${model}`),
      work: (title) => {
        events.push(`work ${title}`);
        return () => events.push(`work done ${title}`);
      },
    });
    const caps: any = {};
    feature.fillClientCapabilities(caps);
    assert.strictEqual(caps.window.workDoneProgress, true);
    feature.initialize();
    return { client, feature, events };
  }

  it('the model loading bar drives the status bar, not a notification', () => {
    const { client, events } = setup();
    client.createHandler!({ token: 'quill/load/qwen' });
    client.send('quill/load/qwen', { kind: 'begin', title: 'quill: loading qwen', percentage: 0 });
    client.send('quill/load/qwen', { kind: 'report', percentage: 40 });
    client.send('quill/load/qwen', { kind: 'end' });
    assert.deepStrictEqual(events, ['loading qwen 0', 'loading qwen 40', 'loaded qwen']);
    assert.strictEqual(vs.progress.length, 0);
    assert.strictEqual(client.progress.size, 0, 'the handler is gone after end');
  });

  it('long work shows a cancellable notification; cancel sends window/workDoneProgress/cancel', async () => {
    const { client, events } = setup();
    client.createHandler!({ token: 'quill/work/1' });
    client.send('quill/work/1', { kind: 'begin', title: 'quill: Explain', cancellable: true, message: 'thinking…' });
    await tick();
    assert.strictEqual(vs.progress.length, 1);
    const bar = vs.progress[0];
    assert.strictEqual(bar.options.title, 'quill: Explain');
    assert.strictEqual(bar.options.cancellable, true);
    assert.deepStrictEqual(bar.reports[0], { message: 'thinking…', increment: undefined });
    client.send('quill/work/1', { kind: 'report', message: 'writing… 40 characters' });
    assert.strictEqual(bar.reports[1].message, 'writing… 40 characters');
    bar.cancel.cancel();
    assert.deepStrictEqual(client.notifications, [
      { method: WorkDoneProgressCancelNotification.type.method, params: { token: 'quill/work/1' } },
    ]);
    client.send('quill/work/1', { kind: 'end' });
    await tick();
    assert.ok(bar.done, 'the notification closes at end');
    assert.deepStrictEqual(events, ['work quill: Explain', 'work done quill: Explain']);
  });

  it('percentages become increments', async () => {
    const { client } = setup();
    client.createHandler!({ token: 7 as unknown as string });
    client.send(7 as unknown as string, { kind: 'begin', title: 't', percentage: 10 });
    await tick();
    client.send(7 as unknown as string, { kind: 'report', percentage: 30 });
    client.send(7 as unknown as string, { kind: 'report', percentage: 25 });
    const reports = vs.progress[0].reports.map((r: any) => r.increment);
    assert.deepStrictEqual(reports, [10, 20, 0]);
  });

  it('clear() ends open bars without asking for status', async () => {
    const { client, feature, events } = setup();
    client.createHandler!({ token: 'quill/load/m' });
    client.createHandler!({ token: 'quill/work/2' });
    client.send('quill/work/2', { kind: 'begin', title: 'w' });
    await tick();
    feature.clear();
    await tick();
    assert.ok(vs.progress[0].done);
    assert.ok(!events.includes('loaded m'));
    assert.strictEqual(client.createHandler, undefined);
  });
});
