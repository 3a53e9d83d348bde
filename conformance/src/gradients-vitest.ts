import type { Backend } from '@recurrent/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { BrowserSession } from './browser-host.js';
import { exclusionFor, formatGradientTable, runGradientCase, type GradientExclusion, type GradientManifestEntry, type GradientResult } from './gradients.js';
import { loadGradientCase, loadGradientExclusions, loadGradientManifest } from './gradients-node.js';

/**
 * The gradient cases as one `it` each, inside conformanceSuite (Node) or browserConformanceSuite
 * (Chromium): `run` gives the engine's result for a case id. A case fails when the engine's gradients
 * are not PyTorch's, unless gradients/exclusions.json excludes its engine and module family: then it
 * must fail (an excluded case that passes fails, naming the entry to remove), and the report says
 * why it is excluded.
 */
function describeGradientCases(title: string, run: (entry: GradientManifestEntry) => Promise<GradientResult>, timeoutMs: number): void {
  const manifest = loadGradientManifest();
  describeExcludedCases({
    heading: `gradients: backward equals PyTorch autograd (${manifest.cases.length} cases; exclusions in gradients/exclusions.json)`,
    entries: manifest.cases,
    title,
    run,
    timeoutMs,
    table: formatGradientTable,
    passesNow: (id) => `${title} passes ${id} now`,
    fails: (id, r) => `${title} fails the gradients of ${id}: ${r.reason}\n  max error vs float64 ${r.errorVsRef64.toExponential(3)}, vs torch float32 ${r.errorVsTorch32.toExponential(3)}, tolerance ${r.tolerance.toExponential(3)}`,
  });
}

/** A result that gradients/exclusions.json can excuse. */
type Excusable = { passed: boolean } & Pick<GradientResult, 'engine' | 'module'>;

/**
 * One `it` per entry under `heading`, the table printed after them. A case fails when its result did
 * not pass, unless gradients/exclusions.json excludes its engine and module family: then it must fail
 * (an excluded case that passes fails, naming the entry to remove). Gradient and trajectory cases.
 */
export function describeExcludedCases<E extends { id: string }, R extends Excusable>(suite: {
  heading: string;
  entries: readonly E[];
  title: string;
  run: (entry: E) => Promise<R>;
  timeoutMs: number;
  table: (title: string, results: readonly R[], exclusions: readonly GradientExclusion[]) => string;
  passesNow: (id: string) => string;
  fails: (id: string, result: R) => string;
}): void {
  const exclusions: GradientExclusion[] = loadGradientExclusions();
  const results: R[] = [];
  describe(suite.heading, () => {
    afterAll(() => {
      if (results.length > 0) console.log(suite.table(suite.title, results, exclusions));
    });
    for (const entry of suite.entries) {
      it(entry.id, { timeout: suite.timeoutMs }, async () => {
        const result = await suite.run(entry);
        results.push(result);
        const excluded = exclusionFor(exclusions, result);
        if (excluded !== undefined) {
          if (result.passed) expect.fail(`${suite.passesNow(entry.id)}: remove {engine: "${excluded.engine}", family: "${excluded.family}"} from conformance/gradients/exclusions.json`);
          return;
        }
        if (!result.passed) expect.fail(suite.fails(entry.id, result));
      });
    }
  });
}

/** Node: a case run on the suite's backend (null while createBackend() failed: every case then fails saying so). */
export function onBackend<E, C, R>(
  name: string, backend: () => Backend | null, unavailable: () => string, run: (backend: Backend, c: C) => Promise<R>, load: (entry: E) => C,
): (entry: E) => Promise<R> {
  return async (entry) => {
    const b = backend();
    if (b === null) throw new Error(`engine ${name} is not available: createBackend() failed with ${unavailable()}`);
    return run(b, load(entry));
  };
}

/** Chromium: a case run in the page (window.__recurrentConformance[method]); page errors fail it. */
export async function inPage<R extends { passed: boolean; reason: string | null }>(session: BrowserSession, method: 'runGradientCase' | 'runTrajectoryCase', id: string): Promise<R> {
  type Window = { __recurrentConformance: Record<typeof method, (id: string) => Promise<R>> };
  const result = await session.page.evaluate(([m, caseId]) => (globalThis as unknown as Window).__recurrentConformance[m](caseId), [method, id] as const);
  const pageErrors = session.takeConsoleErrors();
  if (pageErrors.length > 0) return { ...result, passed: false, reason: `the page logged errors:\n${pageErrors.join('\n')}` };
  return result;
}

/** Node: the suite's backend (null while createBackend() failed: every case then fails saying so). */
export function gradientCases(name: string, backend: () => Backend | null, unavailable: () => string, timeoutMs = 120_000): void {
  describeGradientCases(name, onBackend(name, backend, unavailable, runGradientCase, loadGradientCase), timeoutMs);
}

/** Chromium: each case runs in the page (window.__recurrentConformance.runGradientCase); page errors fail it. */
export function browserGradientCases(name: string, session: () => BrowserSession, timeoutMs = 120_000): void {
  describeGradientCases(`${name} (Chromium)`, (entry) => inPage<GradientResult>(session(), 'runGradientCase', entry.id), timeoutMs);
}
