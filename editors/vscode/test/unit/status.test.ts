import * as assert from 'assert';
import { parseState } from '../../src/quillStatus';
import { StatusBar } from '../../src/status';
import { test as vs } from '../mock/vscode';

describe('status bar', () => {
  beforeEach(() => vs.reset());

  it('shows starting, loading progress, the model, busy and down', () => {
    const bar = new StatusBar('quill.showMenu');
    const item = vs.statusItems[0];
    assert.ok(item.visible);
    assert.strictEqual(item.command, 'quill.showMenu');
    assert.match(bar.text, /starting/);
    bar.setModel('qwen2.5-coder-0.5b-instruct-q4_k_m');
    bar.setState({ kind: 'loading', percent: 42.4 });
    assert.match(bar.text, /loading 42%/);
    assert.match(bar.tooltip, /qwen2\.5-coder-0\.5b/);
    bar.setState({ kind: 'ready' });
    assert.match(bar.text, /\$\(sparkle\) qwen2\.5-coder-0\.5b-instruct-q4_k_m/);
    const done = bar.busy('completing');
    const done2 = bar.busy('completing');
    assert.match(bar.text, /sync~spin/);
    done();
    done();
    assert.ok(bar.isBusy, 'each mark ends once');
    done2();
    assert.ok(!bar.isBusy);
    assert.match(bar.text, /sparkle/);
    bar.setState({ kind: 'down', reason: 'the server stopped', retryInMs: 4000 });
    assert.match(bar.text, /quill: down/);
    assert.match(bar.tooltip, /restarting in 4 s/);
    assert.ok(item.backgroundColor);
    bar.setState({ kind: 'failed', reason: 'no such file' });
    assert.match(bar.text, /failed/);
    assert.match(bar.tooltip, /no such file/);
  });

  it('a restart drops busy marks of requests that died with the server', () => {
    const bar = new StatusBar();
    bar.setState({ kind: 'ready' });
    const done = bar.busy();
    bar.setState({ kind: 'starting' });
    bar.setState({ kind: 'ready' });
    assert.ok(!bar.isBusy);
    const other = bar.busy();
    done(); // the old request's mark must not end the new one
    assert.ok(bar.isBusy);
    other();
    assert.ok(!bar.isBusy);
  });

  it('parses quill/status states', () => {
    assert.deepStrictEqual(parseState('ready'), { kind: 'ready' });
    assert.deepStrictEqual(parseState('loading 40%'), { kind: 'loading', percent: 40 });
    assert.deepStrictEqual(parseState('loading'), { kind: 'loading', percent: undefined });
    assert.deepStrictEqual(parseState('failed: no such model'), { kind: 'failed', reason: 'no such model' });
    assert.strictEqual(parseState('none').kind, 'failed');
    assert.match((parseState('none') as { reason: string }).reason, /Pull/);
  });
});
