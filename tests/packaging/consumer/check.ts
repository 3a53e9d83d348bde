// Type-checked, never run: the public types as a TypeScript user meets them (skipLibCheck: false).
import { createLstm, initStateDict, RnnError, type LstmConfig, type Tensor } from '@recurrent/core';
import { createBackend as cpu } from '@recurrent/cpu';
import { createBackend as wasm, type WasmBackend } from '@recurrent/wasm';
import { createBackend as webgpu, type WebGpuBackend } from '@recurrent/webgpu';
import { runCase, type CaseResult } from '@recurrent/conformance';

export async function main(): Promise<void> {
  const config: LstmConfig = { inputSize: 5, hiddenSize: 8, projSize: 3 };
  const gpu: WebGpuBackend = await webgpu();
  const device: GPUDevice = gpu.device;
  const simd: WasmBackend = await wasm({ threads: 'auto' });
  const lstm = await createLstm(config, initStateDict(config, 0, 'lstm'), await cpu());
  const input: Tensor = { data: new Float32Array(15), shape: [3, 5] };
  const { output, hN, cN } = await lstm.forward(input);
  const result: CaseResult | null = null;
  console.log(device, simd.variant, output.shape, hN.shape, cN.shape, result, runCase, new RnnError('shape', 'x').code);
}
