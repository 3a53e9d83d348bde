import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { expect, it } from 'vitest';

it('a browser bundle (Vite, no externals) never includes Dawn: the Node-only import is left unresolved', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'recurrent-webgpu-bundle-'));
  try {
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    await writeFile(join(dir, 'main.js'), `import { createBackend } from ${JSON.stringify(entry)};\nglobalThis.createBackend = createBackend;\n`);
    await build({
      configFile: false,
      root: dir,
      logLevel: 'silent',
      build: { outDir: join(dir, 'out'), minify: false, target: 'esnext', lib: { entry: join(dir, 'main.js'), formats: ['es'], fileName: () => 'bundle.js' } },
    });
    const files = await readdir(join(dir, 'out'));
    expect(files).toEqual(['bundle.js']);
    const code = await readFile(join(dir, 'out', 'bundle.js'), 'utf8');
    expect(code).toContain('navigator'); // the engine itself is there
    expect(code).not.toMatch(/dawn\.node|createRequire|node:path/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
