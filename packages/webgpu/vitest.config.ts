import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // SwiftShader runs WGSL on the CPU: a forward takes milliseconds to seconds.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One file at a time: the machine has two cores and each file drives its own GPU device.
    fileParallelism: false,
  },
});
