import type { Backend } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';
import { createBackend as createWasmBackend } from '@recurrent/wasm';
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
