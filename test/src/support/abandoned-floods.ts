import { cancelRunningFloods } from '@stockflow/testkit/flood/run/active-runs';

/**
 * Set up for every test file (jest.config.js, setupFilesAfterEnv). A test that times out is
 * abandoned while its flood still runs; without this the flood would go on beside the next
 * tests and leave its database, queues and Redis keys behind once the jest worker exits. Here
 * it is cancelled and torn down before the next test starts.
 */
afterEach(async () => {
  const n = await cancelRunningFloods();
  if (n > 0) process.stderr.write(`[stockflow tests] cancelled ${n} flood(s) a test left running, and removed what they created\n`);
}, 120_000);
