import type { Backend } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { createBackend as createWasmBackend, detectFeatures } from '@recurrent/wasm';
import { createBackend as createWebGpuBackend } from '@recurrent/webgpu';

export interface EngineUnderTest {
  name: string;
  createBackend: () => Promise<Backend>;
}

/** Every engine of ours, driven only through its public createBackend(). */
export const engines: EngineUnderTest[] = [
  { name: 'cpu', createBackend: () => createCpuBackend() },
  { name: 'wasm', createBackend: () => createWasmBackend({ threads: 1 }) },
  { name: 'wasm, 2 threads', createBackend: () => createWasmBackend({ threads: 2 }) },
  { name: 'webgpu', createBackend: () => createWebGpuBackend() },
];

/**
 * Every variant an engine can run, as its options select it: the WASM kernels with and without relaxed
 * SIMD's fused multiply-add, on one thread and on two (fixed reduction order: the same bits as one, by
 * design), and WebGPU's two recurrence kernels. Relaxed SIMD needs Node ≥ 22, or Node 20 with
 * --experimental-wasm-relaxed-simd (the tests and scripts pass it); where it is missing, those variants
 * are left out and `missing` says so.
 */
export function engineVariants(): { variants: EngineUnderTest[]; missing: string[] } {
  const relaxed = detectFeatures().relaxedSimd;
  const wasm = (relaxedSimd: boolean, threads: number): EngineUnderTest => ({
    name: `${relaxedSimd ? 'wasm-relaxed-simd' : 'wasm-simd'}${threads > 1 ? `-threads-${threads}` : ''}`,
    createBackend: () => createWasmBackend({ relaxedSimd, threads }),
  });
  return {
    variants: [
      { name: 'cpu', createBackend: () => createCpuBackend() },
      wasm(false, 1),
      wasm(false, 2),
      ...(relaxed ? [wasm(true, 1), wasm(true, 2)] : []),
      { name: 'webgpu persistent', createBackend: () => createWebGpuBackend({ recurrence: 'persistent' }) },
      { name: 'webgpu per-step', createBackend: () => createWebGpuBackend({ recurrence: 'per-step' }) },
    ],
    missing: relaxed ? [] : ['wasm-relaxed-simd (this runtime has no WebAssembly relaxed SIMD)'],
  };
}
