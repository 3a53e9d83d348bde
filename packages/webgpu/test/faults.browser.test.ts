import { runInChromium } from '@recurrent/conformance/browser-host';
import { expect, it } from 'vitest';

// Headless Chromium (SwiftShader without a GPU): the built engine bundled into one page that aborts a
// forward between its submissions and destroys the device in the middle of another.
it('in Chromium: abort() mid-forward rejects with aborted and leaves the model exact; a device destroyed mid-forward rejects with device-lost, later calls too; a new backend works', async () => {
  const report = await runInChromium(new URL('./entries/faults-page.ts', import.meta.url));
  expect(report).toEqual({
    aborted: 'aborted',
    submissionsOfAbortedCall: 2,
    exactAfterAbort: true,
    statsAfterAbort: true,
    lost: 'device-lost',
    later: 'device-lost',
    newBackendExact: true,
  });
}, 180_000);
