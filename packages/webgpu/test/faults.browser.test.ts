import { runInChromium } from '@recurrent/conformance/browser-host';
import { expect, it } from 'vitest';

// Headless Chromium (SwiftShader without a GPU): the built engine bundled into one page that aborts a
// forward between its submissions, aborts backwards a few ms after they start, and destroys the device
// in the middle of a forward.
it('in Chromium: abort() mid-forward or mid-backward rejects with aborted and leaves the model exact; a device destroyed mid-forward rejects with device-lost, later calls too; a new backend works', async () => {
  const report = await runInChromium<Record<string, any>>(new URL('./entries/faults-page.ts', import.meta.url));
  const { backwardMs, signalledMs, latencies, alreadyAbortedMs, ...backward } = report.backward ?? {};
  console.log(`Chromium backward: ${backwardMs} ms, ${signalledMs} ms with a signal; abort latencies ${latencies} ms; an already aborted signal rejected in ${alreadyAbortedMs} ms`);
  expect({ ...report, backward }).toEqual({
    aborted: 'aborted',
    submissionsOfAbortedCall: 2,
    exactAfterAbort: true,
    statsAfterAbort: true,
    backward: { codes: ['aborted'], exactAfterAbort: true, forwardExactAfterAbort: true, statsAfterAbort: true, alreadyAborted: 'aborted' },
    lost: 'device-lost',
    later: 'device-lost',
    newBackendExact: true,
  });
}, 180_000);
