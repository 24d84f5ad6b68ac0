// One jest run for the whole repo. Unit tests sit beside the code (*.spec.ts); integration
// tests (*.int.ts) talk to real Postgres, RabbitMQ and Redis. Type checking is `tsc -b`'s job
// (npm test runs it first), so ts-jest only transpiles (isolatedModules in tsconfig).
//
// Two projects: every test with the workers' defaults (BATCH_SIZE 50, group commit), and the
// foundation and inventory guarantees once more with one transaction per message
// (STOCKFLOW_TEST_BATCH_SIZE=1), so both code paths are proven. Files that choose their batch
// size themselves (ordering, connection loss, isolation) already cover both and run once.
const base = {
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/packages/client/src', '<rootDir>/packages/ops/src', '<rootDir>/packages/testkit/src', '<rootDir>/shared/src', '<rootDir>/services', '<rootDir>/test/src'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // A flood a timed-out test abandoned is cancelled and removed before the next test.
  setupFilesAfterEnv: ['<rootDir>/test/src/support/abandoned-floods.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] },
  moduleNameMapper: {
    '^@stockflow/client$': '<rootDir>/packages/client/src',
    '^@stockflow/client/internal$': '<rootDir>/packages/client/src/internal',
    '^@stockflow/ops$': '<rootDir>/packages/ops/src',
    '^@stockflow/testkit/(.*)$': '<rootDir>/packages/testkit/src/$1',
    '^@stockflow/(shared|test)$': '<rootDir>/$1/src',
    '^@stockflow/(shared|test)/(.*)$': '<rootDir>/$1/src/$2',
    '^@stockflow/(inventory-worker|order-worker|payment-worker|gateway)$': '<rootDir>/services/$1/src',
    '^@stockflow/(inventory-worker|order-worker|payment-worker|gateway)/(.*)$': '<rootDir>/services/$1/src/$2',
  },
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...base, displayName: 'batched', testMatch: ['**/*.spec.ts', '**/*.int.ts'] },
    {
      ...base,
      displayName: 'one-per-tx',
      testMatch: ['<rootDir>/test/src/inventory/*.int.ts', '<rootDir>/test/src/foundation/{duplicates,outbox,poison}.int.ts'],
      setupFiles: ['<rootDir>/test/src/support/one-per-tx.ts'],
    },
  ],
  globalSetup: '<rootDir>/test/src/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/src/support/global-teardown.ts',
  testTimeout: 120_000,
  maxWorkers: 2,
  verbose: true,
};
