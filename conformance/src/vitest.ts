import type { Backend } from '@recurrent/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareWithReference, fuzzCase } from './fuzz.js';
import { browserGradientCases, gradientCases } from './gradients-vitest.js';
import { browserTrajectoryCases, trajectoryCases } from './trajectories-vitest.js';
import { loadCase, loadManifest } from './node.js';
import { formatResultTable } from './report.js';
import { createCaseModel, runCase, runStreamCase, streamsCase, type CaseResult } from './run.js';

export interface ConformanceSuiteOptions {
  /** The engine's name in test titles and reports, e.g. `cpu`. */
  name: string;
  /** The engine's own createBackend (from its package). Called once for the whole suite. */
  createBackend: () => Promise<Backend>;
  /** Per-case time limit in ms (a guard against hangs, not a speed test). Default 120 000. */
  timeoutMs?: number;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}${'code' in error ? `(${String(error.code)})` : ''}: ${error.message}` : String(error);
}

function failureMessage(engine: string, r: CaseResult): string {
  return `${engine} fails ${r.check === 'stream' ? 'the stream check of ' : ''}${r.id}: ${r.reason}\n  max error vs float64 ${r.errorVsRef64.toExponential(3)}, vs torch float32 ${r.errorVsTorch32.toExponential(3)}, tolerance ${r.tolerance.toExponential(3)}`;
}

/**
 * Every golden vector as one `it`: the model is built through createRnn, createLstm or createGru (a cell
 * through createRnnCell, createLstmCell or createGruCell) on the engine and its output, h_n and (LSTM)
 * c_n (a cell's h′ and c′) are compared with PyTorch's float64 reference under the one tolerance policy.
 * Then every unidirectional module case once more as a stream check (`streams > <id>`): the same input
 * pushed through model.stream() in chunks, judged against the same reference. A case the engine cannot
 * run fails with the reason; there is no way to skip one.
 *
 *     conformanceSuite({ name: 'cpu', createBackend });
 */
export function conformanceSuite(options: ConformanceSuiteOptions): void {
  const manifest = loadManifest();
  const results: CaseResult[] = [];
  describe(`conformance: ${options.name} (PyTorch ${manifest.torch} vectors)`, () => {
    let backend: Backend | null = null;
    let unavailable = '';
    beforeAll(async () => {
      try {
        backend = await options.createBackend();
      } catch (error) {
        unavailable = describeError(error);
      }
    });
    afterAll(() => {
      backend?.dispose();
      if (results.length > 0) console.log(formatResultTable(options.name, results));
    });
    const check = (run: typeof runCase) => async (entry: (typeof manifest.cases)[number]) => {
      if (backend === null) throw new Error(`engine ${options.name} is not available: createBackend() failed with ${unavailable}`);
      const result = await run(backend, loadCase(entry));
      results.push(result);
      if (!result.passed) expect.fail(failureMessage(options.name, result));
    };
    for (const entry of manifest.cases) it(entry.id, { timeout: options.timeoutMs ?? 120_000 }, () => check(runCase)(entry));
    describe('streams: each unidirectional case pushed through model.stream() in chunks', () => {
      for (const entry of manifest.cases.filter(streamsCase)) it(entry.id, { timeout: options.timeoutMs ?? 120_000 }, () => check(runStreamCase)(entry));
    });
    gradientCases(options.name, () => backend, () => unavailable, options.timeoutMs);
    trajectoryCases(options.name, () => backend, () => unavailable, options.timeoutMs);
  });
}

export interface FuzzSuiteOptions {
  name: string;
  createBackend: () => Promise<Backend>;
  /** The engine to compare with: @recurrent/cpu's createBackend. */
  reference: () => Promise<Backend>;
  /** How many random cases (default 300). */
  count?: number;
  /** First seed; case i uses seed + i. Default: $RECURRENT_FUZZ_SEED, else 20260301 (fixed, so CI is reproducible). */
  seed?: number;
}

/** The seed a fuzz run starts from: an explicit one, $RECURRENT_FUZZ_SEED (a number or `random`), or the fixed default. */
export function fuzzSeed(explicit?: number): number {
  if (explicit !== undefined) return explicit >>> 0;
  const fromEnv = process.env.RECURRENT_FUZZ_SEED;
  if (fromEnv === 'random') return Math.floor(Math.random() * 2 ** 32);
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`RECURRENT_FUZZ_SEED must be a non-negative integer or "random", got ${JSON.stringify(fromEnv)}`);
    return seed >>> 0;
  }
  return 20260301;
}

/**
 * Differential fuzzing: `count` seeded random nn.RNN, nn.LSTM and nn.GRU calls (every option, small sizes), each run on the
 * engine and on the reference engine and compared. A failure names the seed that reproduces it.
 *
 *     fuzzSuite({ name: 'wasm', createBackend, reference: cpu.createBackend });
 */
export function fuzzSuite(options: FuzzSuiteOptions): void {
  const base = fuzzSeed(options.seed);
  const count = options.count ?? 300;
  describe(`fuzz: ${options.name} vs reference (${count} cases from seed ${base})`, () => {
    let engine: Backend | null = null;
    let reference: Backend | null = null;
    let unavailable = '';
    beforeAll(async () => {
      try {
        reference = await options.reference();
        engine = await options.createBackend();
      } catch (error) {
        unavailable = describeError(error);
      }
    });
    afterAll(() => {
      engine?.dispose();
      reference?.dispose();
    });
    for (let i = 0; i < count; i++) {
      const seed = (base + i) >>> 0;
      const c = fuzzCase(seed);
      it(`#${i} seed ${seed}: ${c.summary}`, async () => {
        const reproduce = `(seed ${seed}: RECURRENT_FUZZ_SEED=${seed} makes it case #0; fuzzCase(${seed}) from @recurrent/conformance rebuilds it)`;
        if (engine === null || reference === null) throw new Error(`engine ${options.name} is not available: ${unavailable}`);
        const options_ = c.lengths === undefined ? undefined : { lengths: c.lengths };
        const referenceModel = await createCaseModel(c.config, c.weights, reference);
        const want = await referenceModel.forward(c.input, c.h0 ?? null, c.c0 ?? null, options_);
        referenceModel.dispose();
        let got;
        try {
          const model = await createCaseModel(c.config, c.weights, engine);
          try {
            got = await model.forward(c.input, c.h0 ?? null, c.c0 ?? null, options_);
          } finally {
            model.dispose();
          }
        } catch (error) {
          throw new Error(`${options.name} threw ${describeError(error)} on ${c.summary} ${reproduce}`);
        }
        const { problem } = compareWithReference(got, want);
        if (problem !== null) expect.fail(`${options.name} differs from the reference on ${c.summary}: ${problem} ${reproduce}`);
      });
    }
  });
}

export interface BrowserConformanceSuiteOptions {
  /** The engine's name in titles and reports. */
  name: string;
  /** The engine's built browser entry (an ES module exporting createBackend), e.g. new URL('../dist/index.js', import.meta.url). */
  entry: URL | string;
  /** Per-case time limit in ms (a guard against hangs). Default 120 000. */
  timeoutMs?: number;
}

/**
 * The conformance suite in headless Chromium: the engine's entry and the in-page runner are bundled
 * with Vite, served on 127.0.0.1 with COOP/COEP (crossOriginIsolated, for WASM threads), and every
 * case runs in the page as one `it`. A console error or uncaught exception in the page fails the case
 * during which it appeared.
 *
 *     browserConformanceSuite({ name: 'cpu', entry: new URL('../dist/index.js', import.meta.url) });
 */
export function browserConformanceSuite(options: BrowserConformanceSuiteOptions): void {
  const manifest = loadManifest();
  const results: CaseResult[] = [];
  describe(`conformance in Chromium: ${options.name}`, () => {
    let session: import('./browser-host.js').BrowserSession | null = null;
    let startFailure = '';
    const started = () => {
      if (session === null || startFailure !== '') throw new Error(`engine ${options.name} is not available in Chromium: ${startFailure}`);
      return session;
    };
    // A page that cannot start fails every case with the reason (rather than vitest skipping them).
    beforeAll(async () => {
      try {
        const { startBrowserSession } = await import('./browser-host.js');
        session = await startBrowserSession({ entry: options.entry });
      } catch (error) {
        startFailure = describeError(error);
        return;
      }
      const reason = await session.init();
      if (reason !== null) startFailure = `createBackend() failed in the page with ${reason}`;
    }, 180_000);
    afterAll(async () => {
      await session?.close();
      if (results.length > 0) console.log(formatResultTable(`${options.name} (Chromium)`, results));
    }, 60_000);

    it('the page is cross-origin isolated (SharedArrayBuffer for WASM threads)', async () => {
      expect(await started().page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    });
    const check = (kind: 'forward' | 'stream') => async (entry: (typeof manifest.cases)[number]) => {
      const s = started();
      const result = await s.runCase(entry.id, kind);
      results.push(result);
      const pageErrors = s.takeConsoleErrors();
      if (pageErrors.length > 0) expect.fail(`the page logged errors during ${kind === 'stream' ? 'the stream check of ' : ''}${entry.id}:\n${pageErrors.join('\n')}`);
      if (!result.passed) expect.fail(failureMessage(`${options.name} (Chromium)`, result));
    };
    for (const entry of manifest.cases) it(entry.id, { timeout: options.timeoutMs ?? 120_000 }, () => check('forward')(entry));
    describe('streams: each unidirectional case pushed through model.stream() in chunks', () => {
      for (const entry of manifest.cases.filter(streamsCase)) it(entry.id, { timeout: options.timeoutMs ?? 120_000 }, () => check('stream')(entry));
    });
    browserGradientCases(options.name, started, options.timeoutMs);
    browserTrajectoryCases(options.name, started, options.timeoutMs);
    it('the page logged no console errors after the last case', () => {
      expect(started().takeConsoleErrors()).toEqual([]);
    });
  });
}
