// Three tiers, one command: `npm test` runs them all, `npm run test:fast` the first two, and
// `npx vitest run <file>` runs one file in whichever tier holds it.
//   unit         pure functions, tested beside them (src/**/X.test.ts, connectors/**/X.test.ts): seconds
//   contract     behaviour through the real CLI or an in-process workspace, against the emulators
//   reliability  the crash and fault suites: SIGKILLs, shutdowns, damaged state, dropped sources
import { defineConfig } from 'vitest/config';

/** The crash and fault suites: slow by nature (each kills and reruns the CLI many times). */
const reliability = ['test/reliability/**/*.test.ts', 'test/crash.test.ts', 'test/ingest-crash.test.ts', 'test/daemon/shutdown.test.ts'];

export default defineConfig({
  test: {
    // Two cores: run files in parallel but keep the machine responsive for the emulators.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'connectors/**/*.test.ts', 'test/mapping.test.ts'],
          // A unit test that needs more than this is not a unit test.
          testTimeout: 5_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'contract',
          include: ['test/**/*.test.ts'],
          exclude: ['test/mapping.test.ts', ...reliability],
          // Tests spawn the built CLI and its worker: build once before any of them (tsc, not tsx).
          globalSetup: ['test/global-setup.ts'],
          // A backstop, not a budget: every wait in these tests ends on an event (a log line, the
          // emulator, a lock, a child's exit), so only a hang reaches it. The slowest test (the demo)
          // takes about a minute on a 2-core machine running two suites at once.
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'reliability',
          include: reliability,
          globalSetup: ['test/global-setup.ts'],
          // The same backstop; the longest tests (crash rounds, the secrets sweep) set a larger one.
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
