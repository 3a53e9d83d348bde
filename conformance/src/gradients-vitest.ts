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
  const exclusions: GradientExclusion[] = loadGradientExclusions();
  const results: GradientResult[] = [];
  describe(`gradients: backward equals PyTorch autograd (${manifest.cases.length} cases; exclusions in gradients/exclusions.json)`, () => {
    afterAll(() => {
      if (results.length > 0) console.log(formatGradientTable(title, results, exclusions));
    });
    for (const entry of manifest.cases) {
      it(entry.id, { timeout: timeoutMs }, async () => {
        const result = await run(entry);
        results.push(result);
        const excluded = exclusionFor(exclusions, result);
        if (excluded !== undefined) {
          if (result.passed) expect.fail(`${title} passes ${entry.id} now: remove {engine: "${excluded.engine}", family: "${excluded.family}"} from conformance/gradients/exclusions.json`);
          return;
        }
        if (!result.passed) {
          expect.fail(`${title} fails the gradients of ${entry.id}: ${result.reason}\n  max error vs float64 ${result.errorVsRef64.toExponential(3)}, vs torch float32 ${result.errorVsTorch32.toExponential(3)}, tolerance ${result.tolerance.toExponential(3)}`);
        }
      });
    }
  });
}

/** Node: the suite's backend (null while createBackend() failed: every case then fails saying so). */
export function gradientCases(name: string, backend: () => Backend | null, unavailable: () => string, timeoutMs = 120_000): void {
  describeGradientCases(name, async (entry) => {
    const b = backend();
    if (b === null) throw new Error(`engine ${name} is not available: createBackend() failed with ${unavailable()}`);
    return runGradientCase(b, loadGradientCase(entry));
  }, timeoutMs);
}

/** Chromium: each case runs in the page (window.__recurrentConformance.runGradientCase); page errors fail it. */
export function browserGradientCases(name: string, session: () => BrowserSession, timeoutMs = 120_000): void {
  type Window = { __recurrentConformance: { runGradientCase(id: string): Promise<GradientResult> } };
  describeGradientCases(`${name} (Chromium)`, async (entry) => {
    const s = session();
    const result = await s.page.evaluate((caseId) => (globalThis as unknown as Window).__recurrentConformance.runGradientCase(caseId), entry.id);
    const pageErrors = s.takeConsoleErrors();
    if (pageErrors.length > 0) return { ...result, passed: false, reason: `the page logged errors:\n${pageErrors.join('\n')}` };
    return result;
  }, timeoutMs);
}
