import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Node 20 has relaxed SIMD behind a flag: with it, the tests run both kernel variants
    // (relaxedSimd: false gives wasm-simd, 'auto' gives wasm-relaxed-simd).
    execArgv: ['--experimental-wasm-relaxed-simd'],
    testTimeout: 120_000,
  },
});
