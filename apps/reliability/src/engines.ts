import type { Backend } from '@recurrent/core';
import { createBackend as createCpuBackend } from '@recurrent/cpu';

export interface EngineUnderTest {
  name: string;
  createBackend: () => Promise<Backend>;
}

/** Every engine of ours, driven only through its public createBackend(). */
export const engines: EngineUnderTest[] = [{ name: 'cpu', createBackend: () => createCpuBackend() }];
