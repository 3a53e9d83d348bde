import type { Backend } from '@recurrent/core';
import { decodeCase, decodeManifest, type Manifest } from './format.js';
import { decodeGradientCase, decodeGradientManifest, runGradientCase, type GradientManifest, type GradientResult } from './gradients.js';
import { runCase, runStreamCase, type CaseResult, type Check } from './run.js';
import { decodeTrajectoryCase, decodeTrajectoryManifest, runTrajectoryCase, type TrajectoryManifest, type TrajectoryResult } from './trajectories.js';

/** What the page exposes as `globalThis.__recurrentConformance` for the Node side to drive. */
export interface BrowserRunner {
  /** Creates the backend; resolves to null, or to why createBackend() failed. */
  init(): Promise<string | null>;
  caseIds(): Promise<string[]>;
  /** The case's forward check, or (`stream`) its stream check. */
  runCase(id: string, check?: Check): Promise<CaseResult>;
  /** The gradient case's backward check (vectors from /gradient-vectors/, beside `vectorsUrl`). */
  runGradientCase(id: string): Promise<GradientResult>;
  /** The trajectory case's training check (vectors from /trajectory-vectors/, beside `vectorsUrl`). */
  runTrajectoryCase(id: string): Promise<TrajectoryResult>;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}${'code' in error ? `(${String(error.code)})` : ''}: ${error.message}` : String(error);
}

/**
 * The in-page half of the browser run: fetches the vectors from `vectorsUrl` and runs them on the
 * engine module's createBackend, one case per call, so each becomes one test on the Node side.
 */
export function installBrowserRunner(engine: { createBackend: () => Promise<Backend> }, vectorsUrl: string): BrowserRunner {
  let backend: Backend | null = null;
  let manifest: Promise<Manifest> | null = null;
  const fetchBytes = async (file: string): Promise<Uint8Array> => {
    const response = await fetch(new URL(file, vectorsUrl));
    if (!response.ok) throw new Error(`GET ${file}: ${response.status} ${response.statusText}`);
    return new Uint8Array(await response.arrayBuffer());
  };
  let gradientManifest: Promise<GradientManifest> | null = null;
  const gradientsUrl = new URL('../gradient-vectors/', vectorsUrl).href;
  const loadGradientManifest = () =>
    (gradientManifest ??= fetchBytes(new URL('manifest.json', gradientsUrl).href).then((bytes) => decodeGradientManifest(new TextDecoder().decode(bytes), 'gradients/vectors/manifest.json')));
  let trajectoryManifest: Promise<TrajectoryManifest> | null = null;
  const trajectoriesUrl = new URL('../trajectory-vectors/', vectorsUrl).href;
  const loadTrajectoryManifest = () =>
    (trajectoryManifest ??= fetchBytes(new URL('manifest.json', trajectoriesUrl).href).then((bytes) => decodeTrajectoryManifest(new TextDecoder().decode(bytes), 'trajectories/vectors/manifest.json')));
  const loadManifest = () =>
    (manifest ??= fetchBytes('manifest.json').then((bytes) => decodeManifest(new TextDecoder().decode(bytes), 'vectors/manifest.json')));
  const runner: BrowserRunner = {
    async init() {
      try {
        backend = await engine.createBackend();
        return null;
      } catch (error) {
        return describeError(error);
      }
    },
    async caseIds() {
      return (await loadManifest()).cases.map((c) => c.id);
    },
    async runCase(id, check = 'forward') {
      const entry = (await loadManifest()).cases.find((c) => c.id === id);
      if (entry === undefined) throw new Error(`no case ${id} in vectors/manifest.json`);
      if (backend === null) throw new Error('init() has not created a backend');
      const c = decodeCase(await fetchBytes(entry.file), `vectors/${entry.file}`);
      return check === 'stream' ? runStreamCase(backend, c) : runCase(backend, c);
    },
    async runGradientCase(id) {
      const entry = (await loadGradientManifest()).cases.find((c) => c.id === id);
      if (entry === undefined) throw new Error(`no case ${id} in gradients/vectors/manifest.json`);
      if (backend === null) throw new Error('init() has not created a backend');
      return runGradientCase(backend, decodeGradientCase(await fetchBytes(new URL(entry.file, gradientsUrl).href), `gradients/vectors/${entry.file}`));
    },
    async runTrajectoryCase(id) {
      const entry = (await loadTrajectoryManifest()).cases.find((c) => c.id === id);
      if (entry === undefined) throw new Error(`no case ${id} in trajectories/vectors/manifest.json`);
      if (backend === null) throw new Error('init() has not created a backend');
      return runTrajectoryCase(backend, decodeTrajectoryCase(await fetchBytes(new URL(entry.file, trajectoriesUrl).href), `trajectories/vectors/${entry.file}`));
    },
  };
  (globalThis as { __recurrentConformance?: BrowserRunner }).__recurrentConformance = runner;
  return runner;
}
