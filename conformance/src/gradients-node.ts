import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RnnError } from '@recurrent/core';
import { MODULE_FAMILIES } from './format.js';
import { readConformanceFile, specHash } from './node.js';
import { decodeGradientCase, decodeGradientManifest, type GradientCase, type GradientExclusion, type GradientManifest, type GradientManifestEntry } from './gradients.js';

/** conformance/gradients/: spec/, vectors/ and exclusions.json, found next to this file (src/ or dist/). */
export const GRADIENTS_DIR = fileURLToPath(new URL('../gradients/', import.meta.url));
export const GRADIENT_VECTORS_DIR = join(GRADIENTS_DIR, 'vectors');
export const GRADIENT_SPEC_DIR = join(GRADIENTS_DIR, 'spec');
export const GRADIENT_EXCLUSIONS_FILE = join(GRADIENTS_DIR, 'exclusions.json');

const read = (path: string): Buffer => readConformanceFile(path, 'Gradient conformance');

export function loadGradientManifest(dir = GRADIENT_VECTORS_DIR): GradientManifest {
  const file = join(dir, 'manifest.json');
  return decodeGradientManifest(read(file).toString('utf8'), file);
}

export function loadGradientCase(entry: Pick<GradientManifestEntry, 'file'>, dir = GRADIENT_VECTORS_DIR): GradientCase {
  const file = join(dir, entry.file);
  return decodeGradientCase(read(file), file);
}

/**
 * gradients/exclusions.json: the engines that cannot compute some family's gradients yet, each with a
 * reason. Data, printed in every report; an excluded case that passes fails, so the list only shrinks.
 */
export function loadGradientExclusions(file = GRADIENT_EXCLUSIONS_FILE): GradientExclusion[] {
  const raw = JSON.parse(read(file).toString('utf8')) as { exclusions?: unknown };
  const list = raw.exclusions;
  if (!Array.isArray(list)) throw new RnnError('format', `${file}: expected {"exclusions": [{engine, family, reason}, …]}`);
  for (const e of list as GradientExclusion[]) {
    if (typeof e?.engine !== 'string' || !MODULE_FAMILIES.includes(e.family) || typeof e.reason !== 'string' || e.reason.trim() === '') {
      throw new RnnError('format', `${file}: every exclusion needs engine, family (${MODULE_FAMILIES.join(', ')}) and a reason, got ${JSON.stringify(e)}`);
    }
  }
  return list as GradientExclusion[];
}

/** sha256 over gradients/spec/*.json in name order (name, NUL, bytes, NUL), as generator/gradients.py records it. */
export function gradientSpecHash(dir = GRADIENT_SPEC_DIR): string {
  return specHash(dir);
}
