// The page of faults.browser.test.ts: abort and a dead worker in Chromium, on the built engine (a
// crossOriginIsolated page, so the threaded variant runs). It reports plain data for the test to check,
// and the timings it measured (printed by the test, not asserted: speed is for benchmarks).
import { abortTrials, backwardAborts, errorCode as code, sameBits } from '@recurrent/conformance/abort-trials';
import { createRnn, initStateDict, randomTensorData } from '@recurrent/core';
import { RUNTIME } from '../../dist/blocks.js';
import { createBackend } from '../../dist/index.js';
import type { Runtime } from '../../dist/model.js';

const config = { inputSize: 128, hiddenSize: 256 };
const weights = initStateDict(config, 5);
const input = { data: randomTensorData(600 * 32 * 128, 1), shape: [600, 32, 128] };
// The backward's sequence: shorter, as a backward costs about three forwards.
const backwardInput = { data: randomTensorData(200 * 32 * 128, 2), shape: [200, 32, 128] };
const upstream = { output: { data: randomTensorData(200 * 32 * 256, 3), shape: [200, 32, 256] }, hN: { data: randomTensorData(32 * 256, 4), shape: [1, 32, 256] } };


export async function run(): Promise<Record<string, unknown>> {
  const report: Record<string, unknown> = { crossOriginIsolated: globalThis.crossOriginIsolated };
  for (const threads of [1, 2]) {
    const backend = await createBackend({ threads });
    const rnn = await createRnn(config, weights, backend);
    const expected = (await rnn.forward(input)).output;
    const stats = JSON.stringify(backend.stats());
    const forward = await abortTrials(
      (signal) => rnn.forward(input, undefined, { signal }),
      async () => sameBits((await rnn.forward(input)).output.data, expected.data),
    );
    report[`threads${threads}`] = { variant: backend.variant, ...forward, statsAfterAbort: JSON.stringify(backend.stats()) === stats };

    report[`backward${threads}`] = await backwardAborts(
      (signal) => rnn.backward(backwardInput, undefined, upstream, { signal }),
      () => backend.stats(),
      async () => sameBits((await rnn.forward(input)).output.data, expected.data),
    );

    if (threads === 2) {
      // A worker killed mid-forward (no exit event in a browser: the barrier's watchdog sees it).
      const runtime = (backend as unknown as { [RUNTIME]: Runtime })[RUNTIME];
      runtime.pool!.watchdogMs = 300;
      const workers = (runtime.pool as unknown as { workers: Worker[] }).workers;
      setTimeout(() => workers[0]!.terminate(), 5);
      const start = performance.now();
      report.killed = await rnn.forward(input, undefined, { signal: new AbortController().signal }).then(() => 'resolved', code);
      report.killedWithinMs = Math.round(performance.now() - start);
      report.exactAfterKill = sameBits((await rnn.forward(input)).output.data, expected.data);
      report.variantAfterKill = backend.variant;
    }
    backend.dispose();
  }
  return report;
}
