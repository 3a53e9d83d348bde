import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    // The leak test needs global.gc to measure the heap after a real collection.
    execArgv: ['--expose-gc'],
    setupFiles: ['./src/software-gpu.ts'],
  },
});
