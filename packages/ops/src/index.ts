// The ops CLI as a library: what the tests and the flood use to run it in-process and to read
// the broker's management API.
export { runOps, USAGE, type OpsIo } from './cli';
export type { DeadLetter, DeadLetterFilter, ReplayResult } from './dlq';
export type { Health } from './health';
export { ManagementApi, managementUrlOf, ServiceUnreachableError, type ConsumerInfo, type QueueStats } from './management';
export type { PartitionRow, StatusReport, WorkerStatus } from './status';
