// The engines the page offers. Each is a package loaded on first use by a dynamic import(); one that
// is missing from the build or cannot run here (no WebGPU adapter, no WebAssembly) is shown disabled
// with the reason its createBackend() gave.
import { isRnnError } from '@recurrent/core';
import type { Backend } from '@recurrent/core';

export type EngineId = 'cpu' | 'wasm' | 'webgpu';

interface EngineModule {
  createBackend(options?: object): Promise<Backend>;
}

export interface Engine {
  id: EngineId;
  label: string;
  load(): Promise<EngineModule>;
}

export const ENGINES: Engine[] = [
  { id: 'cpu', label: 'CPU-JS', load: () => import('@recurrent/cpu') },
  // @ts-ignore -- may be missing from this build: vite.config.ts then supplies a stub that says so
  { id: 'wasm', label: 'WASM', load: () => import('@recurrent/wasm') as Promise<EngineModule> },
  // @ts-ignore -- as above
  { id: 'webgpu', label: 'WebGPU', load: () => import('@recurrent/webgpu') as Promise<EngineModule> },
];

export type EngineState = { engine: Engine; backend: Backend; error?: undefined } | { engine: Engine; backend?: undefined; error: string };

/** A readable reason, whatever was thrown. */
export function describeError(error: unknown): string {
  if (isRnnError(error)) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Loads one engine and creates its backend; never rejects. */
export async function startEngine(engine: Engine): Promise<EngineState> {
  try {
    const module = await engine.load();
    return { engine, backend: await module.createBackend() };
  } catch (error) {
    return { engine, error: describeError(error) };
  }
}
