import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RnnError } from '@recurrent/core';
import { decodeCase, decodeManifest, type ConformanceCase, type Manifest, type ManifestEntry } from './format.js';

/** conformance/vectors and conformance/spec, found next to this file (src/ or dist/). */
/** Debian's chromium (see shared/TOOLCHAIN.md); $CHROMIUM_PATH overrides it. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** The flags headless WebGPU needs (used by every browser run: conformance, demo, bench) on a machine without a GPU (SwiftShader), and no traffic leaving the machine. */
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export const VECTORS_DIR = fileURLToPath(new URL('../vectors/', import.meta.url));
export const SPEC_DIR = fileURLToPath(new URL('../spec/', import.meta.url));

/** A conformance file's bytes; one that cannot be read is an RnnError('format') that says which kind of file (`label`) and where. */
export function readConformanceFile(path: string, label = 'Conformance vector'): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new RnnError('format', `${label} file ${path} cannot be read (${(cause as Error).message})`, { file: path }, { cause });
  }
}

export function loadManifest(dir = VECTORS_DIR): Manifest {
  const file = join(dir, 'manifest.json');
  return decodeManifest(readConformanceFile(file).toString('utf8'), file);
}

export function loadCase(entry: Pick<ManifestEntry, 'file'>, dir = VECTORS_DIR): ConformanceCase {
  const file = join(dir, entry.file);
  return decodeCase(readConformanceFile(file), file);
}

/**
 * sha256 over every spec/*.json in name order: name, NUL, bytes, NUL. generator/generate.py computes the
 * same and records it in manifest.json, so a spec edited without regenerating is caught.
 */
export function specHash(dir = SPEC_DIR): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    hash.update(Buffer.concat([Buffer.from(name), Buffer.from([0]), readFileSync(join(dir, name)), Buffer.from([0])]));
  }
  return hash.digest('hex');
}

/** Cases per feature tag, in a stable order, for the CLI and reports. */
export function countFeatures(entries: readonly Pick<ManifestEntry, 'features'>[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of entries) for (const feature of entry.features) counts.set(feature, (counts.get(feature) ?? 0) + 1);
  return new Map([...counts].sort(([a], [b]) => a.localeCompare(b)));
}
