// The page of faults.browser.test.ts: abort and device loss in the browser, on the built engine. It
// reports plain data (codes, whether results matched bit for bit) for the test to check, and the
// backward's timings (printed by the test, not asserted: speed is for benchmarks).
import { backwardAborts, errorCode as code, sameBits } from '@recurrent/conformance/abort-trials';
import { createRnn, initStateDict, randomTensorData } from '@recurrent/core';
import { createBackend, type WebGpuBackend } from '../../dist/index.js';

const config = { inputSize: 64, hiddenSize: 64 };
const weights = initStateDict(config, 5);
const input = { data: randomTensorData(48 * 8 * 64, 1), shape: [48, 8, 64] };
// The backward's sequence: long enough that SwiftShader takes a few hundred ms over it.
const [L, N] = [128, 8];
const backwardInput = { data: randomTensorData(L * N * 64, 2), shape: [L, N, 64] };
const upstream = { output: { data: randomTensorData(L * N * 64, 3), shape: [L, N, 64] }, hN: { data: randomTensorData(N * 64, 4), shape: [1, N, 64] } };

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
  report.exactAfterAbort = sameBits(after.output.data, expected.output.data) && sameBits(after.hN.data, expected.hN.data);
  report.statsAfterAbort = JSON.stringify(gpu.stats!()) === JSON.stringify(baseline);

  // Backwards aborted a few ms after they start (with a signal a backward runs in blocks, one
  // submission each, and stops between them); each followed by one without a signal.
  report.backward = await backwardAborts(
    (signal) => rnn.backward(backwardInput, undefined, upstream, { signal }),
    () => gpu.stats!(),
    async () => sameBits((await rnn.forward(input)).output.data, expected.output.data),
  );

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
  report.newBackendExact = sameBits(result.output.data, expected.output.data);
  again.dispose();
  fresh.dispose();
  return report;
}
