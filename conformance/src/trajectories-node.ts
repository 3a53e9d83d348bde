import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeTrajectoryCase, decodeTrajectoryManifest, type TrajectoryCase, type TrajectoryManifest, type TrajectoryManifestEntry } from './trajectories.js';
import { readConformanceFile, specHash } from './node.js';

/** conformance/trajectories/: spec/ and vectors/, found next to this file (src/ or dist/). */
export const TRAJECTORIES_DIR = fileURLToPath(new URL('../trajectories/', import.meta.url));
export const TRAJECTORY_VECTORS_DIR = join(TRAJECTORIES_DIR, 'vectors');
export const TRAJECTORY_SPEC_DIR = join(TRAJECTORIES_DIR, 'spec');

const read = (path: string): Buffer => readConformanceFile(path, 'Trajectory conformance');

export function loadTrajectoryManifest(dir = TRAJECTORY_VECTORS_DIR): TrajectoryManifest {
  const file = join(dir, 'manifest.json');
  return decodeTrajectoryManifest(read(file).toString('utf8'), file);
}

export function loadTrajectoryCase(entry: Pick<TrajectoryManifestEntry, 'file'>, dir = TRAJECTORY_VECTORS_DIR): TrajectoryCase {
  const file = join(dir, entry.file);
  return decodeTrajectoryCase(read(file), file);
}

/** sha256 over trajectories/spec/*.json in name order (name, NUL, bytes, NUL), as generator/trajectories.py records it. */
export function trajectorySpecHash(dir = TRAJECTORY_SPEC_DIR): string {
  return specHash(dir);
}
