import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The built CLI (turbo builds this package before testing it), run on test-only engine packages.
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const engine = (name: string) => fileURLToPath(new URL(`./fixtures/engines/${name}`, import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000 });

describe('the conformance CLI', () => {
  it('--json reports each engine: passed, or not available with the reason', () => {
    const { status, stdout, stderr } = run('--json', engine('textbook'), engine('rejects'), engine('unbuilt'));
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.features.product).toBe(96 + 32 + 32 + 16 + 8 + 8);
    expect(report.modules).toMatchObject({ rnn: 143, lstm: expect.any(Number), 'lstm-proj': expect.any(Number), gru: expect.any(Number), 'rnn-cell': 29, 'lstm-cell': 21, 'gru-cell': 21 });
    const streams = Object.values(report.streams as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(streams).toBe(report.features.unidirectional);
    expect(report.streams['rnn-cell']).toBe(0);
    const [textbook, rejects, unbuilt] = report.engines;
    expect(textbook.modules.gru).toEqual({ passed: report.modules.gru, failed: 0 });
    expect(textbook.modules['lstm-cell']).toEqual({ passed: report.modules['lstm-cell'], failed: 0 });
    expect(textbook.streams.lstm).toEqual({ passed: report.streams.lstm, failed: 0 });
    expect(textbook).toMatchObject({ package: 'textbook-engine', available: true, passed: report.cases + streams, failed: 0, backend: 'textbook' });
    expect(rejects).toMatchObject({ available: false, reason: 'createBackend() failed: RnnError(unavailable): no adapter on this machine' });
    expect(unbuilt.available).toBe(false);
    expect(unbuilt.reason).toMatch(/^not built: .*dist\/index\.js is missing/);
  }, 300_000);

  it('prints the table, the cases per feature and each failure, and exits 1 when an engine fails', () => {
    const { status, stdout, stderr } = run(engine('broken'), engine('rejects'));
    expect(status).toBe(1);
    expect(stdout).toMatch(/cases per module: RNN 143, LSTM \d+, LSTM-proj \d+, GRU \d+, RNNCell 29, LSTMCell 21, GRUCell 21/);
    expect(stdout).toMatch(/stream checks per module \(every unidirectional case, pushed in chunks\): RNN \d+, LSTM \d+, LSTM-proj \d+, GRU \d+\n/);
    expect(stdout).toMatch(/cases per feature: .*product 192/);
    expect(stdout).toMatch(/engine\s+backend\s+RNN\s+LSTM\s+LSTM-proj\s+GRU\s+RNNCell\s+LSTMCell\s+GRUCell\s+streams\s+passed\s+failed/);
    expect(stdout).toMatch(/broken-engine\s+textbook-bias-twice\s+\d+\/143(\s+\d+\/\d+){7}\s+\d+\s+\d+/);
    expect(stdout).toMatch(/broken-engine stream product-uni-l1-tm-tanh-bias-zero-h0: pushed one step per push .*: max \|engine − float64 reference\|/);
    expect(stdout).toContain('rejecting-engine: not available: createBackend() failed');
    expect(stdout).toMatch(/broken-engine product-uni-l1-tm-tanh-bias-zero-h0: max \|engine − float64 reference\| = .* exceeds/);
    expect(stderr).toMatch(/\[#+\] (\d+)\/\1 broken-engine/); // the progress bar, full
  }, 300_000);

  it('exits 2 when no engine is available, and on an unknown option', () => {
    expect(run(engine('unbuilt')).status).toBe(2);
    expect(run('--frobnicate').status).toBe(2);
  });
});

