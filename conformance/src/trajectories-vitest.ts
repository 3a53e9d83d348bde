import type { Backend } from '@recurrent/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { BrowserSession } from './browser-host.js';
import { exclusionFor, type GradientExclusion } from './gradients.js';
import { loadGradientExclusions } from './gradients-node.js';
import { formatTrajectoryTable, runTrajectoryCase, type TrajectoryManifestEntry, type TrajectoryResult } from './trajectories.js';
import { loadTrajectoryCase, loadTrajectoryManifest } from './trajectories-node.js';

/**
 * The trajectory cases as one `it` each, inside conformanceSuite (Node) or browserConformanceSuite
 * (Chromium). Training needs backward, so gradients/exclusions.json excuses them exactly as it excuses
 * the gradient cases (same engine and module family): an excluded case must fail, one that passes fails
 * naming the entry to remove.
 */
function describeTrajectoryCases(title: string, run: (entry: TrajectoryManifestEntry) => Promise<TrajectoryResult>, timeoutMs: number): void {
  const manifest = loadTrajectoryManifest();
  const exclusions: GradientExclusion[] = loadGradientExclusions();
  const results: TrajectoryResult[] = [];
  describe(`trajectories: ${manifest.cases[0]?.steps ?? 0} steps of torch.optim through backward, @recurrent/optim and loadStateDict (${manifest.cases.length} cases; exclusions in gradients/exclusions.json)`, () => {
    afterAll(() => {
      if (results.length > 0) console.log(formatTrajectoryTable(title, results, exclusions));
    });
    for (const entry of manifest.cases) {
      it(entry.id, { timeout: timeoutMs }, async () => {
        const result = await run(entry);
        results.push(result);
        const excluded = exclusionFor(exclusions, result);
        if (excluded !== undefined) {
          if (result.passed) expect.fail(`${title} passes the trajectory ${entry.id} now: remove {engine: "${excluded.engine}", family: "${excluded.family}"} from conformance/gradients/exclusions.json`);
          return;
        }
        if (!result.passed) {
          expect.fail(`${title} fails the trajectory ${entry.id}: ${result.reason}\n  max error vs float64 ${result.errorVsRef64.toExponential(3)}, PyTorch float32 ${result.torchErrorVsRef64.toExponential(3)}`);
        }
      });
    }
  });
}

/** Node: the suite's backend (null while createBackend() failed: every case then fails saying so). */
export function trajectoryCases(name: string, backend: () => Backend | null, unavailable: () => string, timeoutMs = 120_000): void {
  describeTrajectoryCases(name, async (entry) => {
    const b = backend();
    if (b === null) throw new Error(`engine ${name} is not available: createBackend() failed with ${unavailable()}`);
    return runTrajectoryCase(b, loadTrajectoryCase(entry));
  }, timeoutMs);
}

/** Chromium: each case runs in the page (window.__recurrentConformance.runTrajectoryCase); page errors fail it. */
export function browserTrajectoryCases(name: string, session: () => BrowserSession, timeoutMs = 120_000): void {
  type Window = { __recurrentConformance: { runTrajectoryCase(id: string): Promise<TrajectoryResult> } };
  describeTrajectoryCases(`${name} (Chromium)`, async (entry) => {
    const s = session();
    const result = await s.page.evaluate((caseId) => (globalThis as unknown as Window).__recurrentConformance.runTrajectoryCase(caseId), entry.id);
    const pageErrors = s.takeConsoleErrors();
    if (pageErrors.length > 0) return { ...result, passed: false, reason: `the page logged errors:\n${pageErrors.join('\n')}` };
    return result;
  }, timeoutMs);
}
