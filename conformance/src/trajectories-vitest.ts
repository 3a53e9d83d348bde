import type { Backend } from '@recurrent/core';
import type { BrowserSession } from './browser-host.js';
import { describeExcludedCases, inPage, onBackend } from './gradients-vitest.js';
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
  describeExcludedCases({
    heading: `trajectories: ${manifest.cases[0]?.steps ?? 0} steps of torch.optim through backward, @recurrent/optim and loadStateDict (${manifest.cases.length} cases; exclusions in gradients/exclusions.json)`,
    entries: manifest.cases,
    title,
    run,
    timeoutMs,
    table: formatTrajectoryTable,
    passesNow: (id) => `${title} passes the trajectory ${id} now`,
    fails: (id, r) => `${title} fails the trajectory ${id}: ${r.reason}\n  max error vs float64 ${r.errorVsRef64.toExponential(3)}, PyTorch float32 ${r.torchErrorVsRef64.toExponential(3)}`,
  });
}

/** Node: the suite's backend (null while createBackend() failed: every case then fails saying so). */
export function trajectoryCases(name: string, backend: () => Backend | null, unavailable: () => string, timeoutMs = 120_000): void {
  describeTrajectoryCases(name, onBackend(name, backend, unavailable, runTrajectoryCase, loadTrajectoryCase), timeoutMs);
}

/** Chromium: each case runs in the page (window.__recurrentConformance.runTrajectoryCase); page errors fail it. */
export function browserTrajectoryCases(name: string, session: () => BrowserSession, timeoutMs = 120_000): void {
  describeTrajectoryCases(`${name} (Chromium)`, (entry) => inPage<TrajectoryResult>(session(), 'runTrajectoryCase', entry.id), timeoutMs);
}
