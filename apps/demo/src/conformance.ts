// The Conformance tab: not wired yet (the conformance package's browser runner was not ready).
import type { EngineState } from './engines.js';

export async function setupConformance(_app: { availableEngines: () => EngineState[] }): Promise<void> {}
