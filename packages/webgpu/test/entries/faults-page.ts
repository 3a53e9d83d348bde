// The page of faults.browser.test.ts: abort and device loss in the browser, on the built engine. It
// reports plain data (codes, whether results matched bit for bit) for the test to check.
import { createRnn, initStateDict, isRnnError, randomTensorData } from '@recurrent/core';
import { createBackend, type WebGpuBackend } from '../../dist/index.js';

const config = { inputSize: 64, hiddenSize: 64 };
const weights = initStateDict(config, 5);
const input = { data: randomTensorData(48 * 8 * 64, 1), shape: [48, 8, 64] };

/** Runs `onSubmit(n)` after the backend's n-th submission from now. */
function onSubmission(gpu: WebGpuBackend, onSubmit: (n: number) => void): () => void {
  const { queue } = gpu.device;
  const submit = queue.submit.bind(queue);
  let n = 0;
  queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
    submit(buffers);
    onSubmit(++n);
  };
  return () => {
    queue.submit = submit;
  };
}

const code = (error: unknown): string => (isRnnError(error) ? error.code : `not an RnnError: ${String(error)}`);
const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

export async function run(): Promise<Record<string, unknown>> {
  const report: Record<string, unknown> = {};
  const gpu = await createBackend();
  const rnn = await createRnn(config, weights, gpu);
  const expected = await rnn.forward(input);
  const baseline = gpu.stats!();

  const controller = new AbortController();
  let submissions = 0;
  let restore = onSubmission(gpu, (n) => {
    submissions = n;
    if (n === 2) controller.abort();
  });
  report.aborted = await rnn.forward(input, undefined, { signal: controller.signal }).then(() => 'resolved', code);
  restore();
  const after = await rnn.forward(input);
  report.submissionsOfAbortedCall = submissions;
  report.exactAfterAbort = same(after.output.data, expected.output.data) && same(after.hN.data, expected.hN.data);
  report.statsAfterAbort = JSON.stringify(gpu.stats!()) === JSON.stringify(baseline);

  restore = onSubmission(gpu, (n) => {
    if (n === 2) gpu.device.destroy();
  });
  report.lost = await rnn.forward(input, undefined, { signal: new AbortController().signal }).then(() => 'resolved', code);
  restore();
  report.later = await rnn.forward(input).then(() => 'resolved', code);
  rnn.dispose();
  gpu.dispose();

  const fresh = await createBackend();
  const again = await createRnn(config, weights, fresh);
  const result = await again.forward(input);
  report.newBackendExact = same(result.output.data, expected.output.data);
  again.dispose();
  fresh.dispose();
  return report;
}
