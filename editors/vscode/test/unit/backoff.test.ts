import * as assert from 'assert';
import { Backoff } from '../../src/backoff';

describe('backoff', () => {
  it('doubles up to the cap, tells the user once, and gives up after too many crashes', () => {
    let now = 0;
    const b = new Backoff({ initialMs: 1000, maxMs: 8000, stableMs: 60_000, maxCrashes: 5 }, () => now);
    const delays: number[] = [];
    const firsts: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      b.started();
      now += 10;
      const d = b.crashed();
      assert.ok(d.restart);
      delays.push(d.delayMs);
      firsts.push(d.first);
    }
    assert.deepStrictEqual(delays, [1000, 2000, 4000, 8000, 8000]);
    assert.deepStrictEqual(firsts, [true, false, false, false, false]);
    b.started();
    const last = b.crashed();
    assert.strictEqual(last.restart, false);
    assert.strictEqual(last.crashes, 6);
  });

  it('a server that stayed up long enough starts the delays afresh; so does a manual restart', () => {
    let now = 0;
    const b = new Backoff({ initialMs: 500, maxMs: 60_000, stableMs: 1000, maxCrashes: 10 }, () => now);
    b.started();
    b.crashed();
    b.started();
    const second = b.crashed();
    assert.ok(second.restart && second.delayMs === 1000);
    b.started();
    now += 5000;
    const afterStable = b.crashed();
    assert.ok(afterStable.restart && afterStable.delayMs === 500);
    b.crashed();
    b.reset();
    const afterReset = b.crashed();
    assert.ok(afterReset.restart && afterReset.delayMs === 500);
  });
});
