import { isRnnError } from '@recurrent/core';
import { describe, expect, it } from 'vitest';
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

/**
 * Declares `suites` (a file's describe blocks) where a WebGPU adapter is found; elsewhere one test named
 * `name` says that they did not run and why (backendOrReason).
 */
export async function describeWithGpu(name: string, suites: () => void): Promise<void> {
  const backend = await backendOrReason();
  if (typeof backend === 'string') {
    describe(name, () => reportNotRun(backend));
    return;
  }
  backend.dispose();
  suites();
}

/** The error a promise rejects with; a promise that resolves fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Counts the backend's submissions and runs `onSubmit(count)` after each (to abort or lose the device mid-call). */
export function watchSubmissions(gpu: WebGpuBackend): { count: () => number; onSubmit: ((count: number) => void) | null } {
  const watch = { submitted: 0, count: () => watch.submitted, onSubmit: null as ((count: number) => void) | null };
  const { queue } = gpu.device;
  const submit = queue.submit.bind(queue);
  queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
    submit(buffers);
    watch.submitted++;
    watch.onSubmit?.(watch.submitted);
  };
  return watch;
}

/**
 * Makes the device's next popErrorScope report an out-of-memory error with this message (Dawn reports a
 * real one only for sizes this machine cannot spare). Returns what puts the real popErrorScope back.
 */
export function simulateOutOfMemory(device: GPUDevice, message: string): () => void {
  const pop = device.popErrorScope.bind(device);
  let failNext = true;
  device.popErrorScope = async () => {
    const real = await pop();
    if (!failNext) return real;
    failNext = false;
    return new GPUOutOfMemoryError(message);
  };
  return () => {
    device.popErrorScope = pop;
  };
}

/** Stats as `baseline`, whatever the pipeline cache holds (compiled pipelines stay in the backend for later models). */
export const ignoringPipelineCache = <T extends object>(baseline: T) => ({ ...baseline, shaderModules: expect.any(Number), pipelines: expect.any(Number) });
