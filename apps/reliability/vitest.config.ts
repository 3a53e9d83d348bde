import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    // The leak test needs global.gc to measure the heap after a real collection; the determinism test
    // runs WASM's relaxed-SIMD variants, which Node 20 has behind a flag.
    execArgv: ['--expose-gc', '--experimental-wasm-relaxed-simd'],
    setupFiles: ['./src/software-gpu.ts'],
  },
});
