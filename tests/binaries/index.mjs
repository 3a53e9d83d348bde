// Where the runtime binaries of this package's dependencies are. deno and bun ship each platform's binary
// in an optional dependency and would copy it in a postinstall, which pnpm does not run: use it directly.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const packageDir = (name, from = require) => dirname(from.resolve(`${name}/package.json`));

function platformBinary(wrapper, platformPackage, file) {
  try {
    return join(packageDir(platformPackage, createRequire(join(packageDir(wrapper), 'package.json'))), file);
  } catch {
    return null; // another platform: its optional dependency is not installed
  }
}

/** Absolute paths, or null where this platform has no binary (the binaries are linux-x64's). */
export const BINARIES = {
  node20: process.versions.node.startsWith('20.') ? process.execPath : null,
  node22: join(packageDir('node22'), 'bin', 'node'),
  node24: join(packageDir('node24'), 'bin', 'node'),
  deno: platformBinary('deno', '@deno/linux-x64-glibc', 'deno'),
  bun: platformBinary('bun', '@oven/bun-linux-x64', join('bin', 'bun')),
};
for (const [name, path] of Object.entries(BINARIES)) if (path !== null && !existsSync(path)) BINARIES[name] = null;
