import { runInChromium } from '@recurrent/conformance/browser-host';
import { expect, it } from 'vitest';

// Headless Chromium: the built engine bundled into one crossOriginIsolated page that aborts forwards and
// backwards (one thread and two) and kills a worker in the middle of a threaded forward.
it('in Chromium: abort() mid-forward or mid-backward rejects with aborted and leaves the model exact; a worker killed mid-forward gives internal, and the next call is exact', async () => {
  // A run() that rejects fails here, with the page's error.
  const report = await runInChromium<Record<string, any>>(new URL('./entries/faults-page.ts', import.meta.url));
  console.log(`Chromium forward abort latencies (ms after the scheduled abort): 1 thread ${report.threads1?.latencies}; 2 threads ${report.threads2?.latencies}; killed worker detected in ${report.killedWithinMs} ms`);
  for (const threads of [1, 2]) {
    const backward = report[`backward${threads}`];
    console.log(`Chromium backward, ${threads} thread(s): ${backward?.backwardMs} ms, ${backward?.signalledMs} ms with a signal; abort latencies ${backward?.latencies} ms; an already aborted signal rejected in ${backward?.alreadyAbortedMs} ms`);
  }
  expect(report.crossOriginIsolated).toBe(true);
  for (const [threads, suffix] of [[1, ''], [2, '-threads-2']] as const) {
    expect(report[`threads${threads}`]).toMatchObject({ codes: ['aborted'], exactAfterAbort: true, statsAfterAbort: true });
    expect(report[`threads${threads}`].variant).toMatch(new RegExp(`^wasm-(relaxed-)?simd${suffix}$`));
    expect(report[`backward${threads}`]).toMatchObject({ codes: ['aborted'], exactAfterAbort: true, forwardExactAfterAbort: true, statsAfterAbort: true, alreadyAborted: 'aborted' });
  }
  expect(report).toMatchObject({ killed: 'internal', exactAfterKill: true });
  expect(report.variantAfterKill).toMatch(/-threads-2$/);
}, 180_000);
