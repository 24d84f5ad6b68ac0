// Setup file of the `one-per-tx` jest project: every worker a test starts applies one message
// per transaction (no batching, no group commit) unless the test picks a batch size itself
// (see TestEnv.env).
process.env.STOCKFLOW_TEST_BATCH_SIZE = '1';
