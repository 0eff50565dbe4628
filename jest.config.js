/**
 * Three projects: `unit` (cores, replay, contract tests over in-process HTTP: no emulator, no
 * Google Cloud CLI), `integration` (the real Pub/Sub and Firestore emulators, started once by
 * its global setup) and `faults` (the fault-injection suite: the whole local stack with its own
 * emulators, about 3 minutes). `npm test` runs `unit` and `integration` together, then `faults`
 * alone (`npm run test:faults`), so that its stack never shares the two cores with the other
 * emulators; `npm run test:unit` runs the first alone, in seconds.
 */
const base = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
};

/** @type {import('jest').Config} */
module.exports = {
  maxWorkers: 2,
  // A global option: jest ignores it inside a project.
  testTimeout: 60_000,
  projects: [
    {
      ...base,
      displayName: 'unit',
      roots: ['<rootDir>/test/unit', '<rootDir>/test/replay', '<rootDir>/test/contract'],
      globalSetup: '<rootDir>/test/support/tmp-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    {
      // The fault-injection suite: one local stack, every function killed at each of its effect boundaries in turn (about 3 minutes); `npm test` runs it last, alone.
      ...base,
      displayName: 'faults',
      roots: ['<rootDir>/test/faults'],
      globalSetup: '<rootDir>/test/support/tmp-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    {
      ...base,
      displayName: 'integration',
      roots: ['<rootDir>/test/integration'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
