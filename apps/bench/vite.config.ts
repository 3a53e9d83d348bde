import { defineConfig } from 'vite';

// The browser benchmark page, served by src/browser-run.ts from dist/browser.
export default defineConfig({
  root: 'src/browser',
  base: './',
  build: { outDir: '../../dist/browser', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8000 },
  worker: { format: 'es' },
});
