import { isRnnError } from '@recurrent/core';
import { it } from 'vitest';
import { createBackend, type WebGpuBackend, type WebGpuBackendOptions } from '../src/index.js';

/**
 * A WebGPU backend, or the reason there is none. In CI (CI=true) no adapter is a failure; elsewhere
 * the suite says plainly that it did not run and why, instead of skipping silently.
 */
export async function backendOrReason(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend | string> {
  try {
    return await createBackend(options);
  } catch (error) {
    if (process.env.CI === 'true' || !isRnnError(error, 'unavailable')) throw error;
    return error.message;
  }
}

export function reportNotRun(reason: string): void {
  it(`did NOT run: no WebGPU adapter here (${reason}); set VK_ICD_FILENAMES to a Vulkan driver, CI=true makes this fail`, () => {
    console.warn(`@recurrent/webgpu tests did not run: ${reason}`);
  });
}
