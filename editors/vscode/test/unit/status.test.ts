import * as assert from 'assert';
import { describeLastCompletion, parseState } from '../../src/quillStatus';
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

  it('the tooltip tells the last completion\'s latency and speed; a restart clears it', () => {
    const bar = new StatusBar();
    bar.setModel('qwen2.5-coder-0.5b-instruct-q4_k_m');
    bar.setState({ kind: 'ready' });
    assert.doesNotMatch(bar.tooltip, /Last completion/);
    bar.setDetail(
      describeLastCompletion({
        prompt_tokens: 1240,
        reused_tokens: 1203,
        evaluated_tokens: 37,
        generated_tokens: 24,
        queue_ms: 2.4,
        prompt_ms: 140.2,
        generate_ms: 70,
      }).join('\n'),
    );
    assert.match(bar.tooltip, /Last completion: 213 ms, 24 tokens at 342\.9 tokens\/s/);
    assert.match(bar.tooltip, /prompt 1240 tokens \(1203 reused, 37 evaluated in 140 ms, 264 tokens\/s\); generating 70 ms; queued 2 ms/);
    assert.match(bar.text, /sparkle/, 'the text stays short');
    bar.setState({ kind: 'starting' });
    assert.doesNotMatch(bar.tooltip, /Last completion/);
  });

  it('describeLastCompletion: none yet, and nothing generated', () => {
    assert.deepStrictEqual(describeLastCompletion(null), []);
    assert.deepStrictEqual(describeLastCompletion(undefined), []);
    const [head] = describeLastCompletion({ prompt_tokens: 10, evaluated_tokens: 10, prompt_ms: 50, generated_tokens: 0, generate_ms: 0 });
    assert.strictEqual(head, 'Last completion: 50 ms, 0 tokens');
    assert.strictEqual(describeLastCompletion({ generated_tokens: 1, generate_ms: 10 })[0], 'Last completion: 10 ms, 1 token at 100.0 tokens/s');
  });

  it('an inference server that does not answer: "backend down", not a failed model', () => {
    const bar = new StatusBar();
    bar.setModel('qwen2.5-coder-0.5b-instruct-q4_k_m');
    const state = parseState('failed: the inference server is unreachable: connection refused');
    assert.deepStrictEqual(state, { kind: 'backend', reason: 'the inference server is unreachable: connection refused' });
    bar.setState(state);
    assert.match(bar.text, /backend down/);
    assert.match(bar.tooltip, /^quill: the inference server is unreachable: connection refused$/m);
    assert.match(bar.tooltip, /Completions \(qwen2\.5-coder-0\.5b-instruct-q4_k_m\) come back/);
    assert.ok(vs.statusItems[0].backgroundColor);
    assert.strictEqual(parseState('failed: the inference server refused the request: 401').kind, 'backend');
    bar.setState(parseState('ready'));
    assert.match(bar.text, /sparkle/);
    assert.strictEqual(vs.statusItems[0].backgroundColor, undefined);
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
