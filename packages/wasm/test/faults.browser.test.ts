import { runInChromium } from '@recurrent/conformance/browser-host';
import { expect, it } from 'vitest';

// Headless Chromium: the built engine bundled into one crossOriginIsolated page that aborts forwards
// (one thread and two) and kills a worker in the middle of a threaded one.
it('in Chromium: abort() mid-forward rejects with aborted and leaves the model exact; a worker killed mid-forward gives internal, and the next call is exact', async () => {
  // A run() that rejects fails here, with the page's error.
  const report = await runInChromium<Record<string, any>>(new URL('./entries/faults-page.ts', import.meta.url));
  console.log(`Chromium abort latencies (ms after the scheduled abort): 1 thread ${report.threads1?.latencies}; 2 threads ${report.threads2?.latencies}; killed worker detected in ${report.killedWithinMs} ms`);
  expect(report.crossOriginIsolated).toBe(true);
  for (const [key, threads] of [['threads1', ''], ['threads2', '-threads-2']] as const) {
    expect(report[key]).toMatchObject({ codes: ['aborted'], exactAfterAbort: true, statsAfterAbort: true });
    expect(report[key].variant).toMatch(new RegExp(`^wasm-(relaxed-)?simd${threads}$`));
  }
  expect(report).toMatchObject({ killed: 'internal', exactAfterKill: true });
  expect(report.variantAfterKill).toMatch(/-threads-2$/);
}, 180_000);
